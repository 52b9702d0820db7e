// process.cpp -- process-wide state: ids, cwd, umask, rlimits, command line,
// and the glibc facts the restorer needs (rseq offset, TID offset).
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "crmpi/procstat.h"
#include "internal.h"

extern "C" {
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
}

namespace crrt {

static size_t read_small(const char* path, char* out, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fd, out + len, cap - len);
    if (r <= 0) break;
    len += static_cast<size_t>(r);
    if (len == cap) break;
  }
  close(fd);
  return len;
}

int encode_process(crimg::Encoder* e) {
  Globals& G = g();
  crimg::ProcessRecord p;
  memset(&p, 0, sizeof p);
  p.pid = static_cast<uint32_t>(getpid());
  p.ppid = static_cast<uint32_t>(getppid());
  p.uid = getuid();
  p.gid = getgid();
  mode_t m = umask(022);  // every other thread is stopped
  umask(m);
  p.umask = m;
  p.nthreads = static_cast<uint32_t>(G.nslots.load());
  p.main_tid = p.pid;
  if (&__rseq_size && &__rseq_offset) {
    p.rseq_size = __rseq_size;
    p.rseq_offset = __rseq_offset;
  }
  p.tid_offset = G.tid_offset;
  p.mailbox_addr = reinterpret_cast<uint64_t>(&G.mailbox);
  p.brk_current = static_cast<uint64_t>(syscall(SYS_brk, 0));
  for (int i = 0; i < crimg::kNumRlimits; ++i) {
    struct rlimit rl;
    if (prlimit(0, static_cast<__rlimit_resource>(i), nullptr, &rl) == 0) {
      p.rlimits[i][0] = rl.rlim_cur;
      p.rlimits[i][1] = rl.rlim_max;
    } else {
      p.rlimits[i][0] = p.rlimits[i][1] = RLIM_INFINITY;
    }
  }
  p.cr_signal = static_cast<uint32_t>(G.cr_signal);
  for (int i = 0; i < 3; ++i) {
    struct itimerval it;
    if (getitimer(i, &it) != 0) continue;
    p.itimers[i][0] = static_cast<uint64_t>(it.it_interval.tv_sec);
    p.itimers[i][1] = static_cast<uint64_t>(it.it_interval.tv_usec);
    p.itimers[i][2] = static_cast<uint64_t>(it.it_value.tv_sec);
    p.itimers[i][3] = static_cast<uint64_t>(it.it_value.tv_usec);
  }
  {
    char st[2048];
    size_t n = read_small("/proc/thread-self/stat", st, sizeof st - 1);
    st[n] = '\0';
    static const int kFields[10] = {26, 27, 28, 45, 46, 47, 48, 49, 50, 51};
    for (int k = 0; k < 10; ++k) crmpi::procstat::field(st, kFields[k], &p.mm[k]);
    p.brk_start = p.mm[5];
  }
  e->pod(p);
  char buf[8192];
  e->str(getcwd(buf, sizeof buf) ? buf : "/");
  ssize_t n = readlink("/proc/thread-self/exe", buf, sizeof buf - 1);
  e->str(buf, n > 0 ? static_cast<size_t>(n) : 0);
  size_t cl = read_small("/proc/thread-self/cmdline", buf, sizeof buf);
  if (cl && buf[cl - 1] == '\0') --cl;  // separators only
  e->str(buf, cl);
  return e->overflow() ? -ENOMEM : 0;
}

}  // namespace crrt
