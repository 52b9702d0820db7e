/* ctorlib.c -- a library that registers its libcr callback from its own
 * constructor, as libcrpmpi does: before main, possibly before anything else
 * of the program has run. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "libcr.h"

static volatile int g_continued, g_restarted;
static unsigned long long g_digest; /* cr_get_checkpoint_info after a continue */
static int g_registered;

static int on_checkpoint(void* arg) {
  (void)arg;
  int rc = cr_checkpoint(0);
  if (rc > 0) ++g_restarted;
  else if (rc == 0) {
    cr_checkpoint_info_t info;
    if (cr_get_checkpoint_info(&info) == 0) g_digest = info.image_digest;
    ++g_continued;
  }
  return 0;
}

__attribute__((constructor)) static void ctorlib_init(void) {
  if (cr_init() < 0) return;
  g_registered = cr_register_callback(on_checkpoint, NULL, CR_THREAD_CONTEXT) >= 0;
}

/* "registered R continued C restarted S".  A thread-context callback
 * finishes after the application's threads are released (libcr.h), so the
 * report first waits (at most 10 s) for this checkpoint's callback. */
void ctorlib_report(char* buf, size_t n) {
  for (int i = 0; i < 1000 && g_continued + g_restarted == 0; ++i) usleep(10000);
  snprintf(buf, n, "registered %d continued %d restarted %d", g_registered, g_continued,
           g_restarted);
}

/* The digest cr_get_checkpoint_info gave after the continue (0: none). */
unsigned long long ctorlib_digest(void) {
  return g_digest;
}
