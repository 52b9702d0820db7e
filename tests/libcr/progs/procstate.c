/* procstate.c -- process state across a checkpoint: signal handlers,
 * pending signals (with their siginfo payload), the signal mask, an
 * alternate signal stack, cwd, umask and rlimits.
 * Phase 1 sets everything up and queues three blocked signals; the program
 * steps; then it unblocks them and reports what arrived and the state it
 * sees.  The output is the same with or without a restart in between.
 * Usage: procstate WORKDIR [STEPS [STOPFILE]]
 * (8 steps by default; with STOPFILE it steps until that file exists.) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static volatile int got[65];
static volatile int payload = -1;
static volatile int on_alt = -1;
static char altstack[64 * 1024];

static void on_usr1(int sig) {
  got[sig]++;
  stack_t ss;
  sigaltstack(NULL, &ss);
  on_alt = (ss.ss_flags & SS_ONSTACK) != 0;
}
static void on_rt(int sig, siginfo_t* si, void* uc) {
  (void)uc;
  got[sig]++;
  payload = si->si_value.sival_int;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const int steps = argc > 2 ? atoi(argv[2]) : 8;
  const char* stopfile = argc > 3 ? argv[3] : NULL;
  mkdir(argv[1], 0755);
  if (chdir(argv[1]) != 0) return 1;
  umask(027);
  struct rlimit rl = {1000, 2000};
  setrlimit(RLIMIT_NOFILE, &rl);
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_ONSTACK;
  sigaction(SIGUSR1, &sa, NULL);
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_rt;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGRTMIN + 3, &sa, NULL);
  signal(SIGUSR2, SIG_IGN);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGRTMIN + 3);
  sigprocmask(SIG_BLOCK, &block, NULL);
  raise(SIGUSR1);
  union sigval v = {.sival_int = 4242};
  sigqueue(getpid(), SIGRTMIN + 3, v);

  struct itimerval it = {{0, 0}, {1000, 0}};
  setitimer(ITIMER_REAL, &it, NULL); /* armed, far in the future */

  for (int step = 0; stopfile ? access(stopfile, F_OK) != 0 : step < steps; ++step) {
    printf("step %d\n", step);
    fflush(stdout);
    usleep(100000);
  }
  sigset_t pending;
  sigpending(&pending);
  printf("pending before unblock: USR1=%d RT3=%d\n", sigismember(&pending, SIGUSR1),
         sigismember(&pending, SIGRTMIN + 3));
  sigset_t cur;
  sigprocmask(SIG_BLOCK, NULL, &cur);
  printf("mask still blocks USR1: %d\n", sigismember(&cur, SIGUSR1));
  sigprocmask(SIG_UNBLOCK, &block, NULL);
  printf("delivered: USR1=%d RT3=%d payload=%d on_altstack=%d\n", got[SIGUSR1], got[SIGRTMIN + 3],
         payload, on_alt);
  struct sigaction old;
  sigaction(SIGUSR2, NULL, &old);
  printf("SIGUSR2 ignored: %d\n", old.sa_handler == SIG_IGN);
  getitimer(ITIMER_REAL, &it);
  printf("alarm timer armed: %d\n", it.it_value.tv_sec > 900 && it.it_value.tv_sec < 1000);
  mode_t m = umask(0);
  printf("umask %03o\n", m);
  getrlimit(RLIMIT_NOFILE, &rl);
  printf("nofile %lu/%lu\n", (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max);
  char cwd[4096];
  printf("cwd ends with %s\n", strrchr(getcwd(cwd, sizeof cwd), '/'));
  return 0;
}
