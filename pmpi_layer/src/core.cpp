// libcrpmpi core: handle translation, errors, buffer descriptors.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "api.h"

namespace crmpi {

Global g;

void fatal(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "crmpi: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  fflush(stderr);
  if (g.initialized && !g.finalized) {
    Call& c = begin(chan::kOpAbort);
    c.a.abort.comm = g.world.real;
    c.a.abort.code = 1;
    execute(c);
  }
  _exit(1);
}

void unsupported(const char* name) {
  fatal("%s is not supported", name);
}

// ---------------------------------------------------------------- translation

VComm* comm(MPI_Comm c) {
  if (c == MPI_COMM_WORLD) return &g.world;
  if (c == MPI_COMM_SELF) return &g.self;
  if (is_virtual(c, kMagicComm)) {
    auto* vc = reinterpret_cast<VComm*>(c);
    return vc->freed ? nullptr : vc;  // kept for its requests only
  }
  return nullptr;
}

const Predef* predef(const void* h) {
  auto it = g.predef_index.find(h);
  return it == g.predef_index.end() ? nullptr : &g.predef[it->second];
}

const TypeMap* typemap(MPI_Datatype t) {
  if (is_virtual(t, kMagicType)) return &reinterpret_cast<VType*>(t)->tm;
  const Predef* p = predef(t);
  return p && t != MPI_DATATYPE_NULL ? &p->tm : nullptr;
}

bool type_derived(MPI_Datatype t) {
  return is_virtual(t, kMagicType);
}

bool packs(MPI_Datatype t) {
  if (type_derived(t)) return true;
  const Predef* p = predef(t);
  return p && p->tm.size != p->tm.extent();  // MPI_DOUBLE_INT and its kin: padded
}

uint64_t wire_type_packed(MPI_Datatype t) {
  if (!packs(t)) return wire_type(t);
  return chan::kBytesType | static_cast<uint64_t>(typemap(t)->size);
}

uint64_t wire_type(MPI_Datatype t) {
  if (is_virtual(t, kMagicType)) return chan::kBytesType | reinterpret_cast<VType*>(t)->tm.size;
  const Predef* p = predef(t);
  if (!p) fatal("invalid datatype handle %p", static_cast<void*>(t));
  return p->agent;
}

uint64_t wire_op(MPI_Op op) {
  if (is_virtual(op, kMagicOp)) return reinterpret_cast<VOp*>(op)->real;
  const Predef* p = predef(op);
  if (!p) fatal("invalid op handle %p", static_cast<void*>(op));
  return p->agent;
}

uint64_t mix_id(uint64_t a, uint64_t b, uint64_t c) {
  return chan::comm_id(a, b, c);
}

// ---------------------------------------------------------------- errors

int check(VComm* c, MPI_Comm h, int rc, const char* fn) {
  if (rc == MPI_SUCCESS) return rc;
  MPI_Errhandler e = c ? c->errh : MPI_ERRORS_ARE_FATAL;
  if (e == MPI_ERRORS_RETURN) return rc;
  if (is_virtual(e, kMagicErrh)) {
    reinterpret_cast<VErrh*>(e)->fn(&h, &rc);
    return rc;
  }
  char s[MPI_MAX_ERROR_STRING];
  int len;
  PMPI_Error_string(rc, s, &len);
  fatal("rank %d: %s: %s (MPI_ERRORS_ARE_FATAL)", g.rank, fn, s);
}

int check_world(int rc, const char* fn) {
  return check(&g.world, MPI_COMM_WORLD, rc, fn);
}

// ---------------------------------------------------------------- buffers

size_t Arena::alloc(size_t n) {
  size_t off = (used + 63) & ~size_t{63};
  // One byte more than asked: the agent appends the point-to-point wire
  // trailer in place (docs/protocol.md, "Wire format").
  if (off + n + 1 > cap) return SIZE_MAX;
  used = off + n + 1;
  return off;
}

size_t payload_bytes(const TypeMap& tm, int count, bool packed) {
  return count > 0 ? static_cast<size_t>(count) * (packed ? tm.size : tm.extent()) : 0;
}

void put_payload(const TypeMap& tm, bool packed, const void* buf, int count, char* out) {
  if (packed)
    tm.pack(buf, count, out);
  else if (count > 0)
    memcpy(out, buf, payload_bytes(tm, count, false));
}

void Payload::write(char* out) const {
  put_payload(*tm, packed, buf, count, out);
}

void source(chan::Buf& b, Arena& a, const void* buf, int count, MPI_Datatype type,
            std::vector<char>& tmp, bool allow_inline, bool raw_pairs) {
  b = {};
  if (buf == MPI_IN_PLACE) {
    b.mode = chan::kInPlace;
    return;
  }
  const TypeMap* tm = typemap(type);
  if (!tm) fatal("invalid datatype handle %p", static_cast<void*>(type));
  bool derived = raw_pairs ? type_derived(type) : packs(type);
  size_t bytes = payload_bytes(*tm, count, derived);
  b.bytes = bytes;
  if (bytes == 0) {
    b.mode = chan::kNone;
    return;
  }
  size_t off = allow_inline ? a.alloc(bytes) : SIZE_MAX;
  if (off != SIZE_MAX) {
    b.mode = chan::kInline;
    b.off = off;
    put_payload(*tm, derived, buf, count, a.data + off);
    return;
  }
  b.mode = chan::kCma;
  if (derived) {
    tmp.resize(bytes);
    put_payload(*tm, true, buf, count, tmp.data());
    b.addr = reinterpret_cast<uint64_t>(tmp.data());
  } else {
    b.addr = reinterpret_cast<uint64_t>(buf);
  }
}

void dest(Dest& d, Arena& a, void* buf, int count, MPI_Datatype type, bool prefill,
          bool allow_inline, bool raw_pairs) {
  d.user = buf;
  d.count = count;
  d.wire = {};
  const TypeMap* tm = typemap(type);
  if (!tm) fatal("invalid datatype handle %p", static_cast<void*>(type));
  bool derived = raw_pairs ? type_derived(type) : packs(type);
  d.tm = derived ? tm : nullptr;
  size_t bytes = payload_bytes(*tm, count, derived);
  chan::Buf& b = d.wire;
  b.bytes = bytes;
  b.prefill = prefill;
  if (bytes == 0) {
    b.mode = chan::kNone;
    return;
  }
  size_t off = allow_inline ? a.alloc(bytes) : SIZE_MAX;
  if (off != SIZE_MAX) {
    b.mode = chan::kInline;
    b.off = off;
    if (prefill) put_payload(*tm, derived, buf, count, a.data + off);
    return;
  }
  b.mode = chan::kCma;
  if (derived) {
    d.tmp.resize(bytes);
    if (prefill) put_payload(*tm, true, buf, count, d.tmp.data());
    b.addr = reinterpret_cast<uint64_t>(d.tmp.data());
  } else {
    b.addr = reinterpret_cast<uint64_t>(buf);
  }
}

void finish(Dest& d, size_t bytes, const Arena& from, int64_t inline_off) {
  chan::Buf& b = d.wire;
  if (b.mode == chan::kNone) return;
  if (bytes > b.bytes) bytes = b.bytes;
  const char* src = nullptr;
  if (inline_off >= 0)
    src = from.at(static_cast<uint64_t>(inline_off));
  else if (inline_off == -2 && b.mode == chan::kInline)
    src = from.at(b.off);
  if (d.tm) {
    if (!src) src = d.tmp.data();
    d.tm->unpack(src, bytes, d.count, d.user);
  } else if (src) {
    char* dst = b.mode == chan::kCma ? reinterpret_cast<char*>(b.addr) : static_cast<char*>(d.user);
    memcpy(dst, src, bytes);
  }
}

// ---------------------------------------------------------------- lower half

Call& begin(uint32_t op) {
  ckpt_before_call();  // parks while a job checkpoint holds application threads
  return lower_half().begin(op);
}
int execute(Call& c) {
  pace_reset();
  return lower_half().execute(c);
}
int poll_execute(Call& c) {
  return lower_half().execute(c);
}

// Single-status calls (receive, probe, sendrecv): MPI_ERROR is left as the
// app set it (MPI-3.1 3.2.5: only the calls returning several statuses
// write it; the error is the call's return value).
void status_from_call(MPI_Status* st, const Call& m) {
  if (st == MPI_STATUS_IGNORE) return;
  st->MPI_SOURCE = static_cast<int>(m.a.recv.status.source);
  st->MPI_TAG = static_cast<int>(m.a.recv.status.tag);
  st->_ucount = m.a.recv.status.ucount;
  st->_cancelled = static_cast<int>(m.a.recv.status.cancelled);
}

}  // namespace crmpi
