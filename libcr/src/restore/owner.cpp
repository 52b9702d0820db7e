// owner.cpp -- who may restart an image.
//
// cr_restart runs the image's program as whoever invokes it.  An image is
// code: whoever could write the file chose what runs, and an image recorded
// for another user was that user's process.  So, unless --foreign-image
// says the caller trusts it, the image must have been recorded for the
// caller's uid, and its file must be owned by the caller -- root included,
// who would otherwise run a user's (or an attacker's) program as uid 0.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

namespace crrestore {
namespace {

std::string user_name(uid_t uid) {
  const struct passwd* p = getpwuid(uid);
  return "uid " + std::to_string(uid) + (p ? " (" + std::string(p->pw_name) + ")" : "");
}

}  // namespace

void check_owner(State& s) {
  if (s.opt.foreign) return;
  const uid_t me = geteuid();
  struct stat st;
  if (fstat(s.img.fd(), &st) != 0) s.fail("cannot stat the image file");
  std::string why;
  const uid_t recorded = s.img.process.rec.uid;
  if (recorded != me)
    why += "it was recorded for " + user_name(recorded) + ", and restarting it would run that "
           "program as you (" + user_name(me) + ")";
  if (st.st_uid != me)
    why += std::string(why.empty() ? "" : "; and ") + "its file is owned by " +
           user_name(st.st_uid) + ", not by you (" + user_name(me) +
           "): whoever can write it chooses what runs";
  if (!why.empty())
    s.fail("refusing to restart it: " + why +
           ".  If you trust this image, restart it with --foreign-image");
}

}  // namespace crrestore
