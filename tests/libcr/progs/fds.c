#define _GNU_SOURCE
/* fds.c -- open files (read, write, append), a pipe and a socket across a
 * checkpoint.  Phase 1 uses each fd part way; the program then steps until
 * the end, and phase 2 (after the checkpoint, possibly restarted) continues
 * with the same fds.  It prints what it reads and checksums of what it
 * wrote, so the output is the same with or without a restart.
 *
 * The socket is the exception by design: after a restart it must be a
 * placeholder failing with ECONNRESET (seed 004).  Set CR_EXPECT_RESTART=1
 * for a run that will be restarted; the program checks the behaviour that
 * is expected and prints the same line either way.
 * Usage: fds WORKDIR [STEPS [STOPFILE]]
 * (10 steps by default; with STOPFILE it steps until that file exists, so
 * a checkpoint test decides when phase 2 begins.) */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long sum_file(const char* p) {
  FILE* f = fopen(p, "r");
  unsigned long h = 5381;
  int c;
  while (f && (c = fgetc(f)) != EOF) h = h * 33 + (unsigned)c;
  if (f) fclose(f);
  return h;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const int steps = argc > 2 ? atoi(argv[2]) : 10;
  const char* stopfile = argc > 3 ? argv[3] : NULL;
  char in[512], out[512], app[512];
  snprintf(in, sizeof in, "%s/input.txt", argv[1]);
  snprintf(out, sizeof out, "%s/output.txt", argv[1]);
  snprintf(app, sizeof app, "%s/append.txt", argv[1]);
  mkdir(argv[1], 0755);
  FILE* f = fopen(in, "w");
  if (!f) {
    perror(in);
    return 1;
  }
  for (int i = 0; i < 200; ++i) fprintf(f, "input line %03d\n", i);
  fclose(f);
  f = fopen(app, "w");
  fprintf(f, "appended before start\n");
  fclose(f);

  int rfd = open(in, O_RDONLY);
  int wfd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int afd = open(app, O_WRONLY | O_APPEND);
  int nullfd = open("/dev/null", O_WRONLY);
  int p[2];
  if (pipe(p) != 0) return 1;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
  const int expect_restart = getenv("CR_EXPECT_RESTART") != NULL;
  /* hwloc keeps O_PATH fds under /sys (DMTCP asserted on those). */
  int pathfd = open("/sys/devices/system/cpu", O_PATH | O_DIRECTORY);
  /* A kind libcr does not restore: must come back as a placeholder. */
  int efd = eventfd(0, 0);
  /* An unlinked scratch file (tmpfile): its bytes must survive. */
  FILE* tmp = tmpfile();
  for (int i = 0; i < 1000; ++i) fprintf(tmp, "tmp line %d\n", i);
  fflush(tmp);

  char buf[64];
  for (int step = 0; stopfile ? access(stopfile, F_OK) != 0 : step < steps; ++step) {
    ssize_t n = read(rfd, buf, 15); /* one input line per step */
    if (n == 0 && lseek(rfd, 0, SEEK_SET) == 0) n = read(rfd, buf, 15); /* from the top */
    printf("step %d read %.*s", step, (int)(n > 0 ? n : 0), buf);
    char line[64];
    int len = snprintf(line, sizeof line, "out %d\n", step);
    if (write(wfd, line, len) != len || write(afd, line, len) != len ||
        write(nullfd, line, len) != len) {
      printf("write failed: %s\n", strerror(errno));
    }
    if (step % 2 == 0) { /* data that stays queued in the pipe across steps */
      len = snprintf(line, sizeof line, "pipe %d|", step);
      if (write(p[1], line, len) != len) printf("pipe write failed\n");
    } else {
      n = read(p[0], line, 7);
      printf("  from pipe: %.*s\n", (int)(n > 0 ? n : 0), line);
    }
    fflush(stdout);
    usleep(100000);
  }
  /* The socket: alive without restart, a placeholder after one. */
  errno = 0;
  ssize_t w = write(sv[0], "x", 1);
  int e = errno;
  int ok = expect_restart ? (w < 0 && e == ECONNRESET) : (w == 1);
  printf("socket %s\n", ok ? "behaves as expected" : "MISBEHAVES");
  if (!ok) fprintf(stderr, "socket write returned %zd errno %d (%s)\n", w, e, strerror(e));
  struct stat st;
  printf("O_PATH fd works: %s\n", fstatat(pathfd, "online", &st, 0) == 0 ? "yes" : "NO");
  uint64_t one = 1;
  errno = 0;
  w = write(efd, &one, sizeof one);
  e = errno;
  ok = expect_restart ? (w < 0 && e == ECONNRESET) : (w == sizeof one);
  printf("eventfd %s\n", ok ? "behaves as expected" : "MISBEHAVES");
  fprintf(tmp, "written after the steps\n");
  rewind(tmp);
  unsigned long th = 5381;
  int c, lines = 0;
  while ((c = fgetc(tmp)) != EOF) {
    th = th * 33 + (unsigned)c;
    lines += c == '\n';
  }
  printf("tmpfile: %d lines, hash %lx\n", lines, th);
  /* A new file must not land on the socket's number. */
  int nfd = open(in, O_RDONLY);
  printf("new fd distinct from socket: %s\n", (nfd != sv[0] && nfd != sv[1]) ? "yes" : "NO");
  close(wfd);
  close(afd);
  printf("output.txt %lx\nappend.txt %lx\n", sum_file(out), sum_file(app));
  return 0;
}
