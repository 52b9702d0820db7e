// crmpirun [crmpirun options] [mpirun options] PROG [ARGS...]
//
// Wraps Open MPI's mpirun so that every rank runs as `cr_agent PROG ARGS`
// (the real MPI process), with the application as the agent's child using
// libcrpmpi: LD_PRELOAD, unless PROG is relinked with libcrpmpi (its ELF
// dynamic section names it) or --crmpi-no-preload is given.
//
// Table of contents:
//   1. split the command line into crmpirun's options, mpirun's options and
//      the program (with --restart: the program and saved options come from
//      the manifest, validated before anything starts);
//   2. check the program exists, locate cr_agent and libcrpmpi.so;
//   3. start the checkpoint coordinator (job.cpp): the job secret, and
//      CRMPI_COORD / CRMPI_JOB_SECRET passed to every rank with -x;
//   4. run mpirun as our child (dies with us), forward signals to it;
//   5. serve checkpoints (job control socket, --checkpoint-every) until
//      mpirun exits (job.cpp run_loop);
//   6. reap: we are a child subreaper, so ranks orphaned by a dying mpirun or
//      agent become our children; kill and reap whatever is left;
//   7. exit with mpirun's status (or die of its signal).
#include <dirent.h>
#include <elf.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "crmpi/procstat.h"
#include "job.h"
#include "die_of_signal.h"
#include "paths.h"

namespace {

pid_t g_child = -1;

void forward(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

void usage(FILE* f) {
  fprintf(f,
          "usage: crmpirun [crmpirun options] [mpirun options...] PROG [ARGS...]\n"
          "       crmpirun --restart MANIFEST|DIR [mpirun options...]\n"
          "Runs an MPI program under crmpi: each rank is cr_agent (the real Open MPI\n"
          "process) and PROG runs as its child on libcrpmpi (LD_PRELOAD by default).\n"
          "mpirun options are passed through (-np, --oversubscribe, --host, -x, --mca, ...).\n"
          "Checkpoint the job with `cr_checkpoint <crmpirun PID>`.\n"
          "crmpirun options:\n"
          "  --checkpoint-every DURATION  checkpoint periodically (30s, 5m, 1h)\n"
          "  --checkpoint-dir DIR         where checkpoint folders go (default: the current\n"
          "                               folder); each is DIR/PROG.ckpt.EPOCH\n"
          "  --keep K                     after each checkpoint, remove older complete\n"
          "                               checkpoints of this job beyond the newest K\n"
          "  --restart MANIFEST|DIR       restart the job from a checkpoint; mpirun options\n"
          "                               given here replace or add to the saved ones\n"
          "  --crmpi-no-preload           do not LD_PRELOAD libcrpmpi\n");
}

// mpirun options that take one argument; --mca style options take two.
const std::set<std::string> kOneArg = {"-np",
                                       "--np",
                                       "-n",
                                       "-c",
                                       "-N",
                                       "-H",
                                       "--host",
                                       "-host",
                                       "-hostfile",
                                       "--hostfile",
                                       "-machinefile",
                                       "--machinefile",
                                       "-x",
                                       "-wdir",
                                       "--wdir",
                                       "-wd",
                                       "--wd",
                                       "--map-by",
                                       "-map-by",
                                       "--rank-by",
                                       "-rank-by",
                                       "--bind-to",
                                       "-bind-to",
                                       "-npernode",
                                       "--npernode",
                                       "-npersocket",
                                       "--npersocket",
                                       "--prefix",
                                       "-prefix",
                                       "--path",
                                       "-path",
                                       "--preload-files",
                                       "--output-filename",
                                       "-output-filename",
                                       "--timeout",
                                       "-timeout",
                                       "--rankfile",
                                       "-rf",
                                       "--cpus-per-proc",
                                       "--cpu-set",
                                       "--default-hostfile",
                                       "-s",
                                       "--stdin",
                                       "-stdin",
                                       "--merge-stderr-to-stdout",
                                       "--tune",
                                       "-tune",
                                       "--report-uri",
                                       "--ompi-server",
                                       "--personality",
                                       "--launch-agent",
                                       "--max-vm-size",
                                       "--xml-file",
                                       "-am",
                                       "--am",
                                       "--app",
                                       "-app",
                                       "--dvm",
                                       "--hnp"};
const std::set<std::string> kTwoArgs = {"--mca", "-mca", "--gmca", "-gmca"};
const std::set<std::string> kNoArgOverrides = {"--merge-stderr-to-stdout"};

using crtools::executable;
using crtools::self_dir;
using crtools::which;

// True if the ELF file names libcrpmpi in its dynamic section (relinked with
// -lcrpmpi / crmpicc). Scans the dynamic string table only.
bool relinked(const std::string& path) {
  FILE* f = fopen(path.c_str(), "rb");
  if (!f) return false;
  bool found = false;
  Elf64_Ehdr eh;
  if (fread(&eh, sizeof eh, 1, f) == 1 && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
      eh.e_ident[EI_CLASS] == ELFCLASS64) {
    std::vector<Elf64_Shdr> sh(eh.e_shnum);
    if (fseek(f, static_cast<long>(eh.e_shoff), SEEK_SET) == 0 &&
        fread(sh.data(), sizeof(Elf64_Shdr), sh.size(), f) == sh.size()) {
      for (const Elf64_Shdr& s : sh) {
        if (s.sh_type != SHT_DYNAMIC || s.sh_link >= sh.size()) continue;
        const Elf64_Shdr& str = sh[s.sh_link];
        std::vector<char> strtab(str.sh_size + 1, 0);
        std::vector<Elf64_Dyn> dyn(s.sh_size / sizeof(Elf64_Dyn));
        if (fseek(f, static_cast<long>(str.sh_offset), SEEK_SET) != 0 ||
            fread(strtab.data(), 1, str.sh_size, f) != str.sh_size ||
            fseek(f, static_cast<long>(s.sh_offset), SEEK_SET) != 0 ||
            fread(dyn.data(), sizeof(Elf64_Dyn), dyn.size(), f) != dyn.size())
          break;
        for (const Elf64_Dyn& d : dyn)
          if (d.d_tag == DT_NEEDED && d.d_un.d_val < str.sh_size &&
              strncmp(strtab.data() + d.d_un.d_val, "libcrpmpi.so", 12) == 0)
            found = true;
      }
    }
  }
  fclose(f);
  return found;
}

// Kill and reap every process that was reparented to us (we are a child
// subreaper): no agent or application outlives crmpirun.
void reap_orphans() {
  for (int round = 0; round < 50; ++round) {
    bool any = false;
    if (DIR* d = opendir("/proc")) {
      while (dirent* e = readdir(d)) {
        pid_t pid = atoi(e->d_name);
        if (pid <= 0) continue;
        char buf[512];
        uint64_t ppid = 0;
        if (crmpi::procstat::read(pid, buf, sizeof buf) && crmpi::procstat::field(buf, 4, &ppid) &&
            ppid == static_cast<uint64_t>(getpid())) {
          any = true;
          kill(pid, SIGKILL);
        }
      }
      closedir(d);
    }
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    if (!any) return;
    usleep(20000);
  }
}

// The command line, split: mpirun's options, then the program and its
// arguments (from argv[prog] on).
struct Args {
  std::vector<std::string> opts;
  bool preload = true;
  int prog = 0;  // 0 with --restart
  crmpirun::JobOptions job;
};

// crmpirun's own options that take a value.  Returns 1 if @o was one (its
// value consumed), 0 if not, or an exit status + 2 for a bad value.
int job_option(const std::string& o, int argc, char** argv, int* i, crmpirun::JobOptions* j) {
  static const char* kNames[] = {"--checkpoint-every", "--checkpoint-dir", "--keep", "--restart"};
  int which = -1;
  for (int k = 0; k < 4; ++k)
    if (o == kNames[k]) which = k;
  if (which < 0) return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "crmpirun: option %s needs an argument\n", o.c_str());
    return 2 + 2;
  }
  const std::string v = argv[++*i];
  if (which == 0 && (j->every_s = crmpirun::parse_duration(v)) < 0) {
    fprintf(stderr, "crmpirun: bad duration '%s' for --checkpoint-every (e.g. 30s, 5m, 1h)\n", v.c_str());
    return 2 + 2;
  }
  if (which == 1) j->dir = v;
  if (which == 2) {
    char* end;
    const long k = strtol(v.c_str(), &end, 10);
    if (v.empty() || *end || k < 1 || k > 1000000) {
      fprintf(stderr, "crmpirun: bad count '%s' for --keep (a number, 1 or more)\n", v.c_str());
      return 2 + 2;
    }
    j->keep = static_cast<int>(k);
  }
  if (which == 3) j->restart = v;
  return 1;
}

// Read crmpirun's and mpirun's options. Returns -1 to go on, else the exit
// status (--help, a missing option argument or program).
int parse_args(int argc, char** argv, Args& a) {
  int i = 1;
  for (; i < argc; ++i) {
    std::string o = argv[i];
    if (o == "--help" || o == "-h") {
      usage(stdout);
      return 0;
    }
    if (o == "--crmpi-no-preload") {
      a.preload = false;
      continue;
    }
    if (int rc = job_option(o, argc, argv, &i, &a.job)) {
      if (rc > 1) return rc - 2;
      continue;
    }
    if (o == "--") {
      ++i;
      break;
    }
    if (o.empty() || o[0] != '-') break;
    a.opts.push_back(o);
    int take = kTwoArgs.count(o) ? 2 : (kOneArg.count(o) && !kNoArgOverrides.count(o)) ? 1 : 0;
    for (int k = 0; k < take; ++k) {
      if (++i >= argc) {
        fprintf(stderr, "crmpirun: option %s needs %d argument(s)\n", o.c_str(), take);
        return 2;
      }
      a.opts.push_back(argv[i]);
    }
  }
  if (!a.job.restart.empty()) {
    if (i < argc) {
      fprintf(stderr, "crmpirun: --restart takes the program from the manifest; unexpected '%s'\n",
              argv[i]);
      return 2;
    }
    return -1;
  }
  if (i >= argc) {
    fprintf(stderr, "crmpirun: no program given\n");
    usage(stderr);
    return 2;
  }
  a.prog = i;
  return -1;
}

// Find the program, cr_agent and libcrpmpi, decide whether to preload, and
// export CRMPI_PRELOAD. Fills *agent. Returns -1 to go on, else the exit
// status.
int locate(const std::string& prog, bool preload, std::string* agent) {
  std::string prog_path = which(prog);
  if (prog_path.empty()) {
    fprintf(stderr, "crmpirun: %s: no such executable program\n", prog.c_str());
    return 127;
  }
  std::string dir = self_dir();
  *agent = getenv("CRMPI_AGENT") ? getenv("CRMPI_AGENT") : dir + "/cr_agent";
  std::string lib = getenv("CRMPI_LIB") ? getenv("CRMPI_LIB") : dir + "/../lib/libcrpmpi.so";
  if (!executable(*agent)) {
    fprintf(stderr, "crmpirun: cannot find cr_agent at %s\n", agent->c_str());
    return 2;
  }
  if (preload && access(lib.c_str(), R_OK) != 0) {
    fprintf(stderr, "crmpirun: cannot find libcrpmpi at %s\n", lib.c_str());
    return 2;
  }
  // A binary linked with -lcrpmpi needs no preload (it would be harmless).
  if (preload && relinked(prog_path)) {
    preload = false;
    if (getenv("CRMPI_VERBOSE"))
      fprintf(stderr, "crmpirun: %s is linked with libcrpmpi: no LD_PRELOAD\n", prog.c_str());
  }
  char real[PATH_MAX];
  if (preload && realpath(lib.c_str(), real)) lib = real;
  setenv("CRMPI_PRELOAD", preload ? lib.c_str() : "", 1);
  return -1;
}

// mpirun [options] -x CRMPI_PRELOAD -x CRMPI_COORD -x CRMPI_JOB_SECRET
//   cr_agent [--restore MANIFEST] PROG ARGS
std::vector<std::string> mpirun_command(const std::vector<std::string>& opts,
                                        const std::string& agent, const std::string& restore,
                                        const std::vector<std::string>& program) {
  std::vector<std::string> cmd = {getenv("CRMPI_MPIRUN") ? getenv("CRMPI_MPIRUN") : CRMPI_MPIRUN};
  cmd.insert(cmd.end(), opts.begin(), opts.end());
  cmd.insert(cmd.end(), {"-x", "CRMPI_PRELOAD", "-x", "CRMPI_COORD", "-x", "CRMPI_JOB_SECRET", agent});
  if (!restore.empty()) cmd.insert(cmd.end(), {"--restore", restore});
  cmd.insert(cmd.end(), program.begin(), program.end());
  if (getenv("CRMPI_VERBOSE")) {
    fprintf(stderr, "crmpirun:");
    for (auto& c : cmd) fprintf(stderr, " %s", c.c_str());
    fprintf(stderr, "\n");
  }
  return cmd;
}

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// Become a child subreaper, forward signals to mpirun and start it.
// Returns false (with a message) if it cannot be forked.
bool start_mpirun(std::vector<std::string>& cmd) {
  struct sigaction sa {};
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  for (int s : kForwarded) sigaction(s, &sa, nullptr);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_t parent = getpid();
  g_child = fork();
  if (g_child < 0) {
    perror("crmpirun: fork");
    return false;
  }
  if (g_child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    for (int s : kForwarded) signal(s, SIG_DFL);
    std::vector<char*> av;
    for (auto& c : cmd) av.push_back(c.data());
    av.push_back(nullptr);
    execvp(av[0], av.data());
    fprintf(stderr, "crmpirun: cannot execute %s: %s\n", av[0], strerror(errno));
    _exit(127);
  }
  return true;
}

// mpirun has exited with wait status @st: kill and reap whatever it left
// behind, and exit as it did (re-raising its signal).
int mirror_mpirun(int st) {
  reap_orphans();
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    fprintf(stderr, "crmpirun: mpirun killed by signal %d (%s)\n", sig, strsignal(sig));
    crtools::die_of_signal(sig);
  }
  return WEXITSTATUS(st);
}


// The job: from the command line, or (--restart) from a validated
// manifest.  Fills the program, the mpirun options, and the coordinator's
// config.  Returns -1 to go on, else the exit status.
int describe_job(const Args& a, int argc, char** argv, std::vector<std::string>* program,
                 std::vector<std::string>* opts, std::string* restore,
                 crmpi::coord::CoordinatorConfig* cfg) {
  if (a.job.restart.empty()) {
    program->assign(argv + a.prog, argv + argc);
    *opts = a.opts;
  } else {
    crmpi::manifest::Manifest m;
    // A restarted job has the checkpoint's ranks: an -np that says
    // otherwise is refused (the images cannot be spread over more or
    // fewer ranks), before anything starts.
    if (!crmpirun::load_restart(a.job.restart, crmpirun::ranks_from_options(a.opts), &m, restore))
      return 1;
    *program = m.command;
    *opts = crmpirun::merge_options(m.mpirun_options, a.opts);
    crmpirun::restore_environment(m);
    cfg->first_epoch = m.epoch + 1;
    cfg->nranks = static_cast<int>(m.ranks.size());
  }
  cfg->job = crmpirun::job_description(*program, *opts, a.preload);
  if (!cfg->nranks) cfg->nranks = crmpirun::ranks_from_options(*opts);
  char cwd[PATH_MAX];
  std::string parent = a.job.dir.empty() ? (getcwd(cwd, sizeof cwd) ? cwd : ".") : a.job.dir;
  if (!a.job.dir.empty()) {
    if (mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST) {
      fprintf(stderr, "crmpirun: cannot create --checkpoint-dir %s: %s\n", parent.c_str(),
              strerror(errno));
      return 1;
    }
    if (!realpath(parent.c_str(), cwd)) {
      fprintf(stderr, "crmpirun: --checkpoint-dir %s: %s\n", parent.c_str(), strerror(errno));
      return 1;
    }
    parent = cwd;
  }
  cfg->checkpoint_parent = parent;
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (int rc = parse_args(argc, argv, a); rc >= 0) return rc;
  std::vector<std::string> program, opts;
  std::string restore;
  crmpi::coord::CoordinatorConfig cfg;
  if (int rc = describe_job(a, argc, argv, &program, &opts, &restore, &cfg); rc >= 0) return rc;
  std::string agent;
  if (int rc = locate(program[0], a.preload, &agent); rc >= 0) return rc;
  crmpi::coord::Coordinator coordinator;
  if (!crmpirun::start_coordinator(&coordinator, cfg, a.job)) return 1;
  std::vector<std::string> cmd = mpirun_command(opts, agent, restore, program);
  if (!start_mpirun(cmd)) return 1;
  const int st = crmpirun::run_loop(g_child, &coordinator, a.job);
  return mirror_mpirun(st);
}
