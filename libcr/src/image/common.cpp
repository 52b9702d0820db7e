// common.cpp -- names and the checksum shared by writer, reader and tools.
#include <xxhash.h>

#include "format.h"

namespace crimg {

uint64_t checksum(const void* data, size_t len) {
  return XXH3_64bits(data, len);
}

uint64_t digest_start(uint64_t file_header_checksum) {
  return XXH3_64bits(&file_header_checksum, sizeof file_header_checksum);
}

uint64_t digest_step(uint64_t d, uint64_t section_header_checksum) {
  return XXH3_64bits_withSeed(&section_header_checksum, sizeof section_header_checksum, d);
}

const char* section_name(uint32_t type) {
  switch (type) {
    case kSecProcess:
      return "PROCESS";
    case kSecThreads:
      return "THREADS";
    case kSecSignals:
      return "SIGNALS";
    case kSecFds:
      return "FDS";
    case kSecRegions:
      return "REGIONS";
    case kSecPages:
      return "PAGES";
    case kSecEnd:
      return "END";
    default:
      return "UNKNOWN";
  }
}

const char* fd_kind_name(uint32_t kind) {
  switch (kind) {
    case kFdFile:
      return "file";
    case kFdDir:
      return "dir";
    case kFdDevice:
      return "device";
    case kFdPipe:
      return "pipe";
    case kFdSocket:
      return "socket";
    case kFdUnknown:
      return "unknown";
    case kFdPath:
      return "o_path";
    case kFdStdio:
      return "stdio";
    case kFdDeleted:
      return "deleted-file";
    default:
      return "?";
  }
}

const char* region_kind_name(uint32_t kind) {
  switch (kind) {
    case kRegAnon:
      return "anon";
    case kRegFilePrivate:
      return "file-private";
    case kRegFileShared:
      return "file-shared";
    case kRegSharedAnon:
      return "shared-anon";
    case kRegSpecial:
      return "special";
    default:
      return "?";
  }
}

}  // namespace crimg
