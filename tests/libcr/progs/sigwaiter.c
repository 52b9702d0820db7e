/* sigwaiter.c -- a thread that waits for "every signal" with sigwait(), as
 * signal-handling threads do.  It must neither swallow libcr's checkpoint
 * signal nor keep the checkpoint from stopping it, and must still get the
 * signal meant for it after a restart.  Another thread sleeps in ppoll()
 * with every signal blocked.
 *   sigwaiter [STEPS [STOPFILE]]
 * After the steps (11 by default; with STOPFILE until that file exists) the
 * main thread sends the waiter its signal and joins it. */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Sleeps for ever in ppoll() with every signal blocked. */
static void* poller(void* arg) {
  sigset_t all;
  sigfillset(&all);
  ppoll(NULL, 0, NULL, &all);
  return arg;
}

int main(int argc, char** argv) {
  const int steps = argc > 1 ? atoi(argv[1]) : 11;
  const char* stopfile = argc > 2 ? argv[2] : NULL;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  pthread_t t;
  pthread_create(&t, NULL, waiter, NULL);
  pthread_t p;
  pthread_create(&p, NULL, poller, NULL);
  for (int i = 0; stopfile ? access(stopfile, F_OK) != 0 : i < steps; i++) {
    printf("step %d\n", i);
    fflush(stdout);
    usleep(100000);
  }
  kill(getpid(), SIGUSR1);
  pthread_join(t, NULL);
  printf("waiter joined\n");
  return 0;
}
