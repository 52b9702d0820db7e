/* edges.c -- process shapes that once broke checkpoints:
 *  - the main thread has called pthread_exit (a zombie leader stays listed);
 *  - a private mapping of a file deleted since, with pages never touched
 *    (their data lives only in the deleted file);
 *  - shared anonymous memory written only by a child that has exited
 *    (the pages are not mapped in this process's page tables);
 *  - RLIMIT_NOFILE raised and an fd above the default limit;
 *  - data in memory the program made PROT_NONE.
 * A worker thread steps; after the steps it checks everything.
 * Usage: edges WORKDIR [STEPS [STOPFILE]]
 * (10 steps by default; with STOPFILE it steps until that file exists.) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGES 256
static char* filemap;
static char* shared;
static int highfd = -1;
static char* guarded_area;
static int steps = 10;
static const char* stopfile;

static void* worker(void* arg) {
  (void)arg;
  for (int step = 0; stopfile ? access(stopfile, F_OK) != 0 : step < steps; ++step) {
    printf("step %d\n", step);
    fflush(stdout);
    usleep(100000);
  }
  long page = sysconf(_SC_PAGESIZE);
  int ok = 1;
  for (int p = 0; p < PAGES; ++p) ok &= filemap[p * page + 5] == (char)('a' + p % 26);
  printf("deleted file's untouched pages intact: %s\n", ok ? "yes" : "NO");
  printf("child's shared memory: %.16s\n", shared + 100 * page);
  mprotect(guarded_area, 4 * page, PROT_READ);
  printf("guarded page: %s\n", guarded_area + page);
  struct stat st;
  printf("fd 3000 open: %s\n", fstat(highfd, &st) == 0 && highfd == 3000 ? "yes" : "NO");
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  printf("nofile %lu\n", (unsigned long)rl.rlim_cur);
  exit(0);
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  if (argc > 2) steps = atoi(argv[2]);
  if (argc > 3) stopfile = argv[3];
  mkdir(argv[1], 0755);
  long page = sysconf(_SC_PAGESIZE);
  char path[4096];
  snprintf(path, sizeof path, "%s/mapped.dat", argv[1]);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  char* buf = malloc(PAGES * page);
  for (int p = 0; p < PAGES; ++p) memset(buf + p * page, 'a' + p % 26, page);
  if (write(fd, buf, PAGES * page) != PAGES * page) return 1;
  filemap = mmap(NULL, PAGES * page, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  unlink(path); /* gone: only the mapping knows its pages */
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);

  shared = mmap(NULL, PAGES * page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  pid_t c = fork();
  if (c == 0) {
    strcpy(shared + 100 * page, "written by child");
    _exit(0);
  }
  waitpid(c, NULL, 0);

  /* Data behind PROT_NONE (a guard the program set on its own data). */
  char* guarded = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  strcpy(guarded + page, "kept behind PROT_NONE");
  mprotect(guarded, 4 * page, PROT_NONE);
  guarded_area = guarded;

  struct rlimit rl = {4096, 4096};
  setrlimit(RLIMIT_NOFILE, &rl);
  highfd = dup2(1, 3000);

  pthread_t t;
  pthread_create(&t, NULL, worker, NULL);
  pthread_exit(NULL);
}
