/* blocker.c -- a thread that blocks every signal with the raw syscall (past
 * libcr's interposed sigprocmask), so it can never be stopped for a
 * checkpoint: cr_checkpoint --timeout must give up cleanly.
 *   blocker [STOPFILE]: steps until STOPFILE exists (600 steps without). */
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
  const char* stopfile = argc > 1 ? argv[1] : NULL;
  sigset_t all;
  sigfillset(&all);
  syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, 8);
  for (int step = 0; stopfile ? access(stopfile, F_OK) != 0 : step < 600; ++step) {
    printf("step %d\n", step);
    fflush(stdout);
    usleep(50000);
  }
  return 0;
}
