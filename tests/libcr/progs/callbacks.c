/* callbacks.c -- callback order and cr_checkpoint() return values (seeds 000
 * and 003).  Two thread-context callbacks (A registered before B) and one
 * signal-context callback (S, in the main thread).  Each logs its
 * CHECKPOINT part and then CONTINUE, RESTART or FAILURE with the value
 * cr_checkpoint() returned.  The main thread waits until a checkpoint has
 * been taken (for ever: the test decides when, and bounds the wait), waits
 * for the callbacks to finish, and prints the log.
 * Linked with -lcr. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "libcr.h"

static char log_buf[4096];
static volatile int log_len = 0;
static volatile int done = 0;
static void logit(const char* s) {
  size_t n = strlen(s);
  int at = __atomic_fetch_add((int*)&log_len, (int)n, __ATOMIC_SEQ_CST);
  memcpy(log_buf + at, s, n);
}

static int handler(void* arg) {
  const char* name = arg;
  char line[128];
  snprintf(line, sizeof line, "%s: CHECKPOINT\n", name);
  logit(line);
  int rc = cr_checkpoint(CR_CHECKPOINT_READY);
  if (CR_IS_FAILURE(rc)) {
    snprintf(line, sizeof line, "%s: FAILURE rc<0\n", name);
  } else if (CR_IS_RESTART(rc)) {
    snprintf(line, sizeof line, "%s: RESTART rc>0 (restarted=%d)\n", name, cr_is_restarted());
  } else {
    snprintf(line, sizeof line, "%s: CONTINUE rc=0 (restarted=%d)\n", name, cr_is_restarted());
  }
  logit(line);
  if (name[0] == 'B') done = 1; /* B, the newest, unwinds last */
  return 0;
}

/* Signal context: only async-signal-safe work, so a fixed string. */
static int sig_handler(void* arg) {
  (void)arg;
  logit("S: CHECKPOINT (signal context)\n");
  int rc = cr_checkpoint(0);
  logit(rc > 0 ? "S: RESTART\n" : rc == 0 ? "S: CONTINUE\n" : "S: FAILURE\n");
  return 0;
}

int main(void) {
  if (cr_init() < 0) {
    perror("cr_init");
    return 1;
  }
  if (cr_register_callback(handler, "A", CR_THREAD_CONTEXT) < 0 ||
      cr_register_callback(handler, "B", CR_THREAD_CONTEXT) < 0 ||
      cr_register_callback(sig_handler, NULL, CR_SIGNAL_CONTEXT) < 0) {
    perror("cr_register_callback");
    return 1;
  }
  printf("step 0 registered\n");
  printf("cr_checkpoint outside a callback: %d\n", cr_checkpoint(0));
  fflush(stdout);
  while (!done) usleep(10000);
  fwrite(log_buf, 1, (size_t)log_len, stdout);
  printf("done\n");
  return 0;
}
