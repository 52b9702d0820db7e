// cr_agent internals shared by agent_exec.cpp (calls, p2p, requests, user
// ops) and agent_coll.cpp (collectives, communicators).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "agent.h"

namespace crmpi::agent::internal {

using chan::Buf;
using chan::Msg;

// Growable agent scratch memory for blocking calls.
struct Scratch {
  char* p = nullptr;
  size_t cap = 0;
  char* get(size_t n) {
    if (n > cap) {
      free(p);
      cap = n + n / 4 + 4096;
      p = static_cast<char*>(malloc(cap));
      if (!p) {
        fprintf(stderr, "crmpi: agent out of memory (%zu bytes)\n", n);
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
    }
    return p;
  }
};
extern Scratch g_scratch[3];

// A call names something the agent does not know (a handle it never gave
// out, a buffer outside the channel): thrown before any MPI call is made,
// caught by execute(), answered with MPI_ERR_ARG.
struct BadCall {
  const char* what;
};

// Nonblocking operation owned by the agent until completion; every live
// one is registered, so that ids coming from the app can be checked.
struct AReq {
  AReq();
  ~AReq();
  MPI_Request r = MPI_REQUEST_NULL;
  char* sbuf = nullptr;
  char* rbuf = nullptr;
  Buf dst{};
  bool recv = false;  // deliver status._ucount bytes; else dst.bytes
  MPI_Datatype utype = MPI_DATATYPE_NULL;
  bool detached = false;    // buffered send or freed request: reap silently
  std::vector<int> arrays;  // counts/displacements of a nonblocking v-collective
};

// The live request with this id, or BadCall.
AReq* areq(uint64_t id);
// Handles the agent gave out (communicators, ops, messages), checked by
// wcomm/wop/wmsg; throw BadCall for anything else.
void remember_comm(MPI_Comm c);
void forget_comm(MPI_Comm c);
MPI_Message wmsg(uint64_t w);
void remember_msg(MPI_Message m);

// process_vm_readv/writev between the app and agent memory (aborts on failure).
void cma(bool write, uint64_t addr, char* local, size_t n);
// Pointers to a call's source/destination bytes; `priv` forces a private copy.
char* src_ptr(const Buf& b, Scratch& s, bool priv = false);
char* dst_ptr(const Buf& b, Scratch& s, bool priv = false);
// Deliver n received bytes of a destination to the app.
void dst_done(const Buf& b, char* p, size_t n);
// Agent-owned copies for nonblocking operations.
char* own_copy(const Buf& b);
char* own_dst(const Buf& b);
// Wire values to handles.
MPI_Datatype wtype(uint64_t w);
MPI_Comm wcomm(uint64_t w);
MPI_Op wop(uint64_t w);
template <class T>
uint64_t u(T h) {
  return reinterpret_cast<uint64_t>(h);
}

// Element type for a collective with a user op (see agent_exec.cpp).
MPI_Datatype userop_type(MPI_Datatype t, uint64_t app_op, uint64_t app_type);
void userop_type_free(MPI_Datatype d);

void op_coll(Msg& m);
void op_comm(Msg& m);

}  // namespace crmpi::agent::internal
