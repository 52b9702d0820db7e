/* selfckpt.c -- a process checkpoints itself with cr_request_checkpoint /
 * cr_poll_checkpoint (seed 002, with named constants) and goes on.  Run it
 * once: it writes IMAGE at step 4 and finishes.  Restart IMAGE: the same
 * call returns again, now reporting the restart, and the program finishes
 * the same way.  Linked with -lcr.
 * With "exclude", a memfd is kept out of the image with cr_exclude_fd():
 * after the restart its number is free, while an ordinary fd is back.
 * Linked with ctorlib, whose constructor registers a callback: its report
 * shows the callback ran once, as a continue or as a restart.
 * Usage: selfckpt IMAGE [exclude] */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "libcr.h"

static void die(const char* m) {
  fprintf(stderr, "selfckpt: %s\n", m);
  exit(1);
}

static int checkpoint_self(const char* name) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) die("creat failed");
  cr_checkpoint_args_t args;
  cr_initialize_checkpoint_args_t(&args);
  args.cr_fd = fd;
  args.cr_scope = CR_SCOPE_PROC;
  cr_checkpoint_handle_t h;
  if (cr_request_checkpoint(&args, &h) < 0) die("cr_request_checkpoint failed");
  int err;
  do {
    err = cr_poll_checkpoint(&h, NULL);
    if (err == CR_POLL_CHKPT_ERR_POST && errno == CR_ERESTARTED) return 1; /* restarted */
    if (err < 0 && errno != EINTR) break;
    if (err == 0) die("cr_poll_checkpoint returned unexpected 0");
  } while (err < 0);
  if (err == CR_POLL_CHKPT_ERR_PRE) {
    fprintf(stderr, "selfckpt: checkpoint failed: %s\n", cr_strerror(errno));
    exit(1);
  }
  if (fsync(fd) != 0 || close(fd) != 0) die("fsync failed");
  if (rename(tmp, name) != 0) die("rename failed");
  return 0;
}

/* The fds of the "exclude" case: kept is saved, dropped is excluded; and
 * three pages of which the middle one is excluded. */
static int kept = -1, dropped = -1;
static unsigned char* pages;
static long pagesz;

void ctorlib_report(char* buf, size_t n); /* ctorlib.c */
unsigned long long ctorlib_digest(void);

static void exclude_setup(void) {
  kept = open("/dev/null", O_RDONLY);
  dropped = memfd_create("crtest-excluded", 0);
  if (kept < 0 || dropped < 0) die("cannot open the fds");
  if (cr_exclude_fd(-1) != -1 || errno != EBADF) die("cr_exclude_fd(-1) did not fail with EBADF");
  if (cr_include_fd(kept) != -1 || errno != ENOENT) die("cr_include_fd of a kept fd did not fail");
  if (cr_exclude_fd(dropped) != 0 || cr_exclude_fd(dropped) != 0) die("cr_exclude_fd failed");
  int spare = dup(kept); /* excluded, then included again: saved */
  if (cr_exclude_fd(spare) != 0 || cr_include_fd(spare) != 0) die("cr_include_fd failed");
  pagesz = sysconf(_SC_PAGESIZE);
  pages = mmap(NULL, 3 * pagesz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (pages == MAP_FAILED) die("mmap failed");
  for (long i = 0; i < 3 * pagesz; ++i) pages[i] = (unsigned char)(i % 251 + 1);
  if (cr_exclude_memory(pages + 1, 10) != -1 || errno != EINVAL) die("unaligned range accepted");
  if (cr_exclude_memory(pages + pagesz, (size_t)pagesz) != 0) die("cr_exclude_memory failed");
  if (cr_exclude_memory(pages, (size_t)pagesz) != 0 || cr_include_memory(pages, (size_t)pagesz) != 0)
    die("cr_include_memory failed");
}

/* 1 if page @k of `pages` is mapped (mincore fails with ENOMEM if not). */
static int mapped(int k) {
  unsigned char v;
  return mincore(pages + k * pagesz, (size_t)pagesz, &v) == 0;
}

/* 1 if page @k holds its pattern. */
static int intact(int k) {
  for (long i = k * pagesz; i < (k + 1) * pagesz; ++i)
    if (pages[i] != (unsigned char)(i % 251 + 1)) return 0;
  return 1;
}

static void exclude_report(int restarted) {
  int k = fcntl(kept, F_GETFD) >= 0;
  int d = fcntl(dropped, F_GETFD) >= 0;
  int ok = restarted ? (k && !d) : (k && d);
  printf("excluded fd %s, kept fd %s: %s\n", d ? "open" : "closed", k ? "open" : "closed",
         ok ? "ok" : "WRONG");
  int m = mapped(1);
  int pok = intact(0) && intact(2) && (restarted ? !m : m && intact(1));
  printf("excluded page %s, its neighbours %s: %s\n", m ? "mapped" : "unmapped",
         intact(0) && intact(2) ? "intact" : "DAMAGED", pok ? "ok" : "WRONG");
}

int main(int argc, char** argv) {
  if (argc < 2) die("usage: selfckpt IMAGE [exclude]");
  if (cr_init() < 0) die("cr_init failed");
  const int exclude = argc > 2 && !strcmp(argv[2], "exclude");
  if (exclude) exclude_setup();
  unsigned long acc = 1;
  for (int step = 0; step < 8; ++step) {
    acc = acc * 6364136223846793005UL + (unsigned long)step;
    printf("step %d acc %lx\n", step, acc);
    fflush(stdout);
    if (step == 4) {
      int restarted = checkpoint_self(argv[1]);
      printf("after checkpoint: %s (cr_is_restarted=%d)\n", restarted ? "restarted" : "continued",
             cr_is_restarted());
      if (exclude) exclude_report(restarted);
      char rep[128];
      ctorlib_report(rep, sizeof rep);
      printf("library callback: %s\n", rep);
      if (!restarted) fprintf(stderr, "image digest %016llx\n", ctorlib_digest());
    }
  }
  return 0;
}
