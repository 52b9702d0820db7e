/* guarded.c -- a long-running libcr program for the security tests.  It runs
 * until STOPFILE exists, then checks its own state and prints a verdict.
 *   guarded plain STOPFILE            an ordinary process
 *   guarded undumpable STOPFILE       prctl(PR_SET_DUMPABLE, 0) first
 *   guarded secret STOPFILE SECRET    reads SECRET (a root-only file, when
 *                                     installed setuid root) into memory
 * Prints "ready" once set up, then "alive N" every 100 ms; at the end
 * "verdict ok" if its counter and checksum are consistent.
 * Linked with -lcr (a setuid program ignores LD_PRELOAD). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static char secret[256];
static uint64_t counter, check;

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const char* mode = argv[1];
  const char* stop = argv[2];
  if (!strcmp(mode, "undumpable")) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (!strcmp(mode, "secret") && argc > 3) {
    int fd = open(argv[3], O_RDONLY);
    if (fd >= 0) {
      ssize_t n = read(fd, secret, sizeof secret - 1);
      (void)n;
      close(fd);
    }
  }
  printf("ready\n");
  fflush(stdout);
  while (access(stop, F_OK) != 0) {
    ++counter;
    check = check * 31 + counter;
    if (counter % 10 == 0) {
      printf("alive %llu\n", (unsigned long long)counter);
      fflush(stdout);
    }
    usleep(10000);
  }
  uint64_t c = 0;
  for (uint64_t i = 1; i <= counter; ++i) c = c * 31 + i;
  printf(c == check ? "verdict ok\n" : "verdict BROKEN\n");
  return c == check ? 0 : 1;
}
