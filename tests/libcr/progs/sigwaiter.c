/* sigwaiter.c -- a thread that waits for "every signal" with sigwait(), as
 * signal-handling threads do.  It must neither swallow libcr's checkpoint
 * signal nor keep the checkpoint from stopping it, and must still get the
 * signal meant for it after a restart. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static void* waiter(void* arg) {
  sigset_t all;
  sigfillset(&all);
  int sig = 0;
  sigwait(&all, &sig);
  printf("waiter got signal %d\n", sig);
  fflush(stdout);
  return arg;
}

int main(void) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  pthread_t t;
  pthread_create(&t, NULL, waiter, NULL);
  for (int i = 0; i < 14; i++) {
    printf("step %d\n", i);
    fflush(stdout);
    usleep(100000);
    if (i == 10) {
      kill(getpid(), SIGUSR1);
      pthread_join(t, NULL);
    }
  }
  return 0;
}
