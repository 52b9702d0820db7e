/* ptystamp CMD [ARGS...]: runs CMD with its stderr on a pseudo-terminal
 * (stdin and stdout inherited), so that cr_checkpoint shows its progress
 * line, and prints each piece of that stderr -- pieces end at '\r' or '\n',
 * terminal escapes removed -- on stdout as "SECONDS TEXT", SECONDS counted
 * (CLOCK_MONOTONIC) from just before CMD was started.  A last line "exit
 * SECONDS STATUS" gives CMD's end and exit status, which is also ptystamp's
 * (128 + signal if it was killed).
 *
 * Each piece is stamped when ptystamp reads it from the terminal, which is
 * within a scheduler wake-up of cr_checkpoint writing it, and cr_checkpoint
 * writes a progress line as soon as crmpirun's job socket reports one. */
#include <errno.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double t0;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char piece[8192];
static size_t len;

static void flush_piece(double t) {
  if (len) printf("%.6f %.*s\n", t - t0, (int)len, piece);
  len = 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: ptystamp CMD [ARGS...]\n");
    return 2;
  }
  int master, slave;
  if (openpty(&master, &slave, NULL, NULL, NULL) < 0) {
    perror("ptystamp: openpty");
    return 2;
  }
  t0 = now();
  const pid_t pid = fork();
  if (pid < 0) {
    perror("ptystamp: fork");
    return 2;
  }
  if (pid == 0) {
    close(master);
    dup2(slave, 2);
    close(slave);
    execvp(argv[1], argv + 1);
    perror("ptystamp: exec");
    _exit(127);
  }
  close(slave);
  char buf[4096];
  int esc = 0;
  for (;;) {
    const ssize_t n = read(master, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break; /* EIO once the last writer closed the terminal */
    const double t = now();
    for (ssize_t i = 0; i < n; ++i) {
      const char c = buf[i];
      if (esc) { /* skip an escape sequence: ESC [ params letter */
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) esc = 0;
        continue;
      }
      if (c == '\033') {
        esc = 1;
      } else if (c == '\r' || c == '\n') {
        flush_piece(t);
      } else if (len < sizeof piece) {
        piece[len++] = c;
      }
    }
    flush_piece(t); /* a piece not ended yet still gets this arrival time */
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  const int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  printf("exit %.6f %d\n", now() - t0, rc);
  return rc;
}
