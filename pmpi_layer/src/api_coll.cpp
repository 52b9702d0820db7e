// MPI family: collectives, blocking and nonblocking.
//
// Algorithm: every collective is described once (Coll) and shipped as one
// kOpColl call. Buffers are sized by "span", the number of elements a buffer
// covers on this rank for this kind (for v-variants max(displ + count)), so
// derived types are packed over the whole span and displacements keep their
// meaning in units of the packed element. Destinations that the operation
// only partly writes (in-place, v-variants) are prefilled with the app's
// current contents. Reductions with a predefined op on a derived type run on
// its single primitive base type; user ops call back into this process
// (api_op.cpp). Each collective increments its communicator's coll_seq.
#include <algorithm>
#include <cstring>
#include <memory>

#include "api.h"

using namespace crmpi;

namespace {

struct Coll {
  chan::CollKind kind;
  const char* fn;
  MPI_Comm c;
  const void* sbuf = nullptr;
  int scount = 0;
  MPI_Datatype stype = MPI_BYTE;
  void* rbuf = nullptr;
  int rcount = 0;
  MPI_Datatype rtype = MPI_BYTE;
  int root = 0;
  MPI_Op op = MPI_OP_NULL;
  const int *scounts = nullptr, *sdispls = nullptr, *rcounts = nullptr, *rdispls = nullptr;
  MPI_Request* req = nullptr;
};

// The elements a v-variant's blocks cover, [lo, hi) in units of the
// type's extent: lo is below 0 when a displacement is negative (MPI allows
// it), and the buffer is then described from that element on.
struct Range {
  int lo = 0, hi = 0;
};

Range range(const int* counts, const int* displs, int n) {
  Range r;
  if (!counts || !displs) return r;
  for (int i = 0; i < n; ++i)
    if (counts[i] > 0) {
      r.lo = std::min(r.lo, displs[i]);
      r.hi = std::max(r.hi, displs[i] + counts[i]);
    }
  return r;
}

int span(const int* counts, const int* displs, int n, int* lo) {
  Range r = range(counts, displs, n);
  *lo = r.lo;
  return r.hi - r.lo;
}

bool is_reduction(chan::CollKind k) {
  return k == chan::kReduceLocal || k == chan::kReduce || k == chan::kAllreduce ||
         k == chan::kScan || k == chan::kExscan || k == chan::kReduceScatterBlock ||
         k == chan::kReduceScatter;
}

// How many elements the send and receive buffers cover on this rank (see
// "span" above), and whether the destination starts from the app's contents.
struct Spans {
  int s = 0, r = 0;
  int slo = 0, rlo = 0;  // first element (v-variants with negative displacements)
  bool prefill = false, inplace = false;
};

Spans spans(const Coll& x, const VComm& vc) {
  if (vc.inter()) {  // api_intercomm.cpp
    InterSpans is = inter_spans(x.kind, vc, x.root, x.scount, x.rcount, x.scounts, x.sdispls,
                                x.rcounts, x.rdispls);
    Spans sp;  // (displacements counted from 0 on an intercommunicator)
    sp.s = is.s, sp.r = is.r, sp.prefill = is.prefill;
    return sp;
  }
  int n = vc.size, me = vc.rank;
  bool root = me == x.root, inplace = x.sbuf == MPI_IN_PLACE;
  if (x.kind == chan::kScatter || x.kind == chan::kScatterv) inplace = false;
  int sspan = 0, rspan = 0, slo = 0, rlo = 0;
  bool prefill = inplace;
  switch (x.kind) {
    case chan::kBarrier:
      break;
    case chan::kBcast:
      rspan = x.rcount;
      prefill = root;
      break;
    case chan::kReduce:
      sspan = x.rcount;
      rspan = root ? x.rcount : 0;
      break;
    case chan::kAllreduce:
    case chan::kScan:
      sspan = rspan = x.rcount;
      break;
    case chan::kExscan:  // rank 0's result is undefined: leave its buffer as it was
      sspan = rspan = x.rcount;
      prefill = true;
      break;
    case chan::kReduceScatterBlock:
      sspan = x.rcount * n;
      rspan = inplace ? x.rcount * n : x.rcount;
      break;
    case chan::kReduceScatter: {
      int tot = 0;
      for (int i = 0; i < n; ++i) tot += x.rcounts[i];
      sspan = tot;
      rspan = inplace ? tot : x.rcounts[me];
      break;
    }
    case chan::kGather:
      sspan = x.scount;
      rspan = root ? x.rcount * n : 0;
      break;
    case chan::kGatherv:
      sspan = x.scount;
      rspan = root ? span(x.rcounts, x.rdispls, n, &rlo) : 0;
      prefill = true;
      break;
    case chan::kScatter:
      sspan = root ? x.scount * n : 0;
      rspan = x.rcount;
      break;
    case chan::kScatterv:
      sspan = root ? span(x.scounts, x.sdispls, n, &slo) : 0;
      rspan = x.rcount;
      break;
    case chan::kAllgather:
      sspan = x.scount;
      rspan = x.rcount * n;
      break;
    case chan::kAllgatherv:
      sspan = x.scount;
      rspan = span(x.rcounts, x.rdispls, n, &rlo);
      prefill = true;
      break;
    case chan::kAlltoall:
      sspan = x.scount * n;
      rspan = x.rcount * n;
      break;
    case chan::kReduceLocal:
      sspan = rspan = x.rcount;
      prefill = true;
      break;
    case chan::kAlltoallv:
      sspan = inplace ? 0 : span(x.scounts, x.sdispls, n, &slo);  // in place: no send arrays
      rspan = span(x.rcounts, x.rdispls, n, &rlo);
      prefill = true;
      break;
    default:
      break;
  }
  if (x.kind == chan::kScatter || x.kind == chan::kScatterv) prefill = false;
  if ((x.kind == chan::kGather || x.kind == chan::kScatter) && inplace)
    prefill = x.kind == chan::kGather;
  return {sspan, rspan, slo, rlo, prefill, inplace};
}

// Element types on the wire. A reduction with a predefined op on a derived
// type runs on its primitive base: `mult` base elements per element.
struct WireTypes {
  uint64_t s, r;
  int64_t mult = 1;
  VOp* uop;
  bool sdead = false, rdead = false;  // the side moves nothing: counts 0, MPI_BYTE
  bool bad_op = false;  // a predefined op on a derived type not made of one basic type
};

// Whether a side of a data-moving collective moves no data on this rank:
// nothing is covered there, or its type has size 0 (MPI allows such types;
// every rank's signature is then empty, as the matching rule requires).
bool dead_side(int span, MPI_Datatype t) {
  if (span == 0) return true;
  const TypeMap* tm = typemap(t);
  return tm && tm->size == 0;
}

WireTypes wire_types(const Coll& x, const Spans& sp) {
  bool red = is_reduction(x.kind);
  // A side that moves nothing here may name any type, or none: the standard
  // says it is not significant (a scatter's send type at a non-root...).
  bool sdead = !red && !sp.inplace && dead_side(sp.s, x.stype);
  bool rdead = !red && dead_side(sp.r, x.rtype);
  WireTypes w{sdead ? wire_type(MPI_BYTE) : red ? wire_type(x.stype) : wire_type_packed(x.stype),
              rdead ? wire_type(MPI_BYTE) : red ? wire_type(x.rtype) : wire_type_packed(x.rtype), 1,
              is_virtual(x.op, kMagicOp) ? reinterpret_cast<VOp*>(x.op) : nullptr, sdead, rdead};
  if (red && !w.uop && type_derived(x.rtype)) {
    // MPI-3.1 5.9.1 defines predefined ops on basic types only; like Open
    // MPI we take a derived type made of one basic type, and answer
    // MPI_ERR_OP for the others (padded pair types included, as Open MPI).
    const TypeMap* tm = typemap(x.rtype);
    if (tm->base == TypeMap::kMixed || tm->base_size * tm->nprims != tm->size) {
      w.bad_op = true;
      return w;
    }
    w.mult = tm->nprims;
    w.r = w.s = g.predef[tm->base].agent;
  }
  return w;
}

// `buf` moved by `lo` elements of type t (lo <= 0: see Range).
const void* shifted(const void* buf, int lo, MPI_Datatype t) {
  if (lo == 0) return buf;
  const TypeMap* tm = typemap(t);
  return static_cast<const char*>(buf) + static_cast<int64_t>(lo) * (tm ? tm->extent() : 0);
}

// The send and receive buffers (into `d`, where the received data will be
// finished from). A scatter's in-place root receives nothing (sp.r = 0).
void describe_buffers(Call& m, const Coll& x, Spans& sp, Dest& d, std::vector<char>& tmp) {
  bool red = is_reduction(x.kind), nb = x.req != nullptr;
  if (x.kind == chan::kBcast || x.kind == chan::kBarrier)
    m.src = {};
  else if (sp.inplace)
    m.src = {0, 0, 0, chan::kInPlace, 0};
  else if (sp.s == 0)  // nothing to send, or the send side is not significant here
    m.src = {};
  else
    source(m.src, m.arena, shifted(x.sbuf, sp.slo, x.stype), sp.s, red ? x.rtype : x.stype, tmp,
           true, red);
  if ((x.kind == chan::kScatter || x.kind == chan::kScatterv) && x.rbuf == MPI_IN_PLACE) {
    m.dst = {0, 0, 0, chan::kInPlace, 0};
    d.wire = {};
    sp.r = 0;
  } else if (sp.r > 0) {
    dest(d, m.arena, const_cast<void*>(shifted(x.rbuf, sp.rlo, x.rtype)), sp.r, x.rtype,
         sp.prefill, !nb, red);
    m.dst = d.wire;
  } else {
    m.dst = {};
    d.wire = {};
  }
}

// The count/displacement arrays, inline (counts in base elements).
void describe_arrays(Call& m, const Coll& x, const Spans& sp, const WireTypes& w, int n) {
  m.extra = {};
  if (!x.scounts && !x.rcounts) return;
  size_t off = m.arena.alloc(4 * n * sizeof(int));
  if (off == SIZE_MAX) fatal("%s: communicator too large for the channel", x.fn);
  int* arr = reinterpret_cast<int*>(m.arena.at(off));
  for (int i = 0; i < n; ++i) {
    arr[i] = x.scounts && !w.sdead ? x.scounts[i] : 0;
    arr[n + i] = x.sdispls ? x.sdispls[i] - sp.slo : 0;
    arr[2 * n + i] = x.rcounts && !w.rdead ? static_cast<int>(x.rcounts[i] * w.mult) : 0;
    arr[3 * n + i] = x.rdispls ? x.rdispls[i] - sp.rlo : 0;
  }
  m.extra = {0, 4 * n * sizeof(int), off, chan::kInline, 0};
}

void describe_args(Call& m, const Coll& x, const VComm& vc, const WireTypes& w) {
  m.a.coll.kind = x.kind;
  m.a.coll.comm = vc.real;
  m.a.coll.stype = w.s;
  m.a.coll.scount =
      w.sdead ? 0 : static_cast<uint64_t>(x.scount * (is_reduction(x.kind) ? w.mult : 1));
  m.a.coll.rtype = w.r;
  m.a.coll.rcount = w.rdead ? 0 : static_cast<uint64_t>(x.rcount * w.mult);
  // Open MPI skips a zero-count (I)bcast altogether, and its nonblocking
  // collectives are numbered per call on each process: an
  // intercommunicator's MPI_PROC_NULL ranks (nothing to move) must still
  // make the call with the app's count, or their later nonblocking
  // collectives no longer match the other ranks'.
  if (x.kind == chan::kBcast && x.root == MPI_PROC_NULL && vc.inter())
    m.a.coll.rcount = static_cast<uint64_t>(x.rcount);
  m.a.coll.root = static_cast<uint64_t>(x.root);
  m.a.coll.op = x.op == MPI_OP_NULL ? 0 : wire_op(x.op);
  m.a.coll.nonblocking = x.req != nullptr;
  m.a.coll.user_op = w.uop ? reinterpret_cast<uint64_t>(w.uop) : 0;
  m.a.coll.app_type = reinterpret_cast<uint64_t>(x.rtype);
  m.a.coll.comm_size = static_cast<uint64_t>(coll_blocks(vc, x.kind));
}

// The replay record of a nonblocking collective (api.h).
void record(CollRecord& cr, const Coll& x, const VComm& vc) {
  int n = coll_blocks(vc, x.kind);
  cr.kind = x.kind, cr.seq = vc.coll_seq, cr.sbuf = x.sbuf, cr.rbuf = x.rbuf;
  cr.scount = x.scount, cr.rcount = x.rcount, cr.root = x.root;
  cr.stype = x.stype, cr.rtype = x.rtype, cr.op = x.op;
  auto copy = [n](const int* a) { return a ? std::vector<int>(a, a + n) : std::vector<int>(); };
  cr.scounts = copy(x.scounts), cr.sdispls = copy(x.sdispls);
  cr.rcounts = copy(x.rcounts), cr.rdispls = copy(x.rdispls);
}

int run(const Coll& x) {
  Lock l;
  VComm* vc = comm(x.c);
  if (!vc) return check_world(MPI_ERR_COMM, x.fn);
  Spans sp = spans(x, *vc);
  Call& m = begin(chan::kOpColl);  // a restart may park us here: wire handles after it
  WireTypes w = wire_types(x, sp);
  if (w.bad_op) return check(vc, x.c, MPI_ERR_OP, x.fn);  // the lent call is left unused
  VRequest* r = x.req ? new_request(VRequest::kColl, vc) : nullptr;
  Dest local;
  Dest& d = r ? r->dst : local;
  std::vector<char> tmp;
  // The arrays first: they must be inline, the buffers may go by address
  // when the channel is full (large counts on any communicator).
  describe_arrays(m, x, sp, w, coll_blocks(*vc, x.kind));
  describe_buffers(m, x, sp, d, tmp);
  if (r && d.tm) {  // MPI lets the app free the type before completion: unpack with a copy
    auto keep = std::make_shared<const TypeMap>(*d.tm);
    d.tm = keep.get();
    r->after = [keep]() {};
  }
  describe_args(m, x, *vc, w);
  if (r) record(r->coll, x, *vc);
  if (r && w.uop) ++(r->op = w.uop)->refs;  // MPI_Op_free may come before completion
  int rc = execute(m);
  if (rc == chan::kRcPaused) {  // a job checkpoint came first: make it again
    delete r;
    return run(x);
  }
  if (x.kind != chan::kReduceLocal) vc->coll_seq++;
  if (r) r->coll.seq = vc->coll_seq;
  if (r) {
    r->real = m.a.request.request;
    *x.req = reinterpret_cast<MPI_Request>(r);
  } else if (rc == MPI_SUCCESS && sp.r > 0) {
    finish(d, d.wire.bytes, m.arena);
  }
  return check(vc, x.c, rc, x.fn);
}

}  // namespace

#define C(kind, fn) Coll x{chan::kind, fn, comm};
CRMPI_API int PMPI_Barrier(MPI_Comm comm) {
  C(kBarrier, CRMPI_NAME);
  return run(x);
}
CRMPI_API int PMPI_Ibarrier(MPI_Comm comm, MPI_Request* req) {
  C(kBarrier, CRMPI_NAME);
  x.req = req;
  return run(x);
}

static Coll bcast(void* buf, int count, MPI_Datatype t, int root, MPI_Comm comm, MPI_Request* req,
                  const char* fn) {
  C(kBcast, fn);
  x.rbuf = buf, x.rcount = count, x.rtype = t, x.root = root, x.req = req;
  return x;
}
CRMPI_API int PMPI_Bcast(void* b, int n, MPI_Datatype t, int root, MPI_Comm c) {
  return run(bcast(b, n, t, root, c, nullptr, CRMPI_NAME));
}
CRMPI_API int PMPI_Ibcast(void* b, int n, MPI_Datatype t, int root, MPI_Comm c, MPI_Request* r) {
  return run(bcast(b, n, t, root, c, r, CRMPI_NAME));
}

static Coll red(chan::CollKind k, const char* fn, const void* s, void* r, int n, MPI_Datatype t,
                MPI_Op op, int root, MPI_Comm comm, MPI_Request* req) {
  Coll x{k, fn, comm};
  x.sbuf = s, x.rbuf = r, x.rcount = n, x.scount = n, x.rtype = x.stype = t, x.op = op,
  x.root = root, x.req = req;
  return x;
}
CRMPI_API int PMPI_Reduce(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, int root,
                          MPI_Comm c) {
  return run(red(chan::kReduce, CRMPI_NAME, s, r, n, t, op, root, c, nullptr));
}
CRMPI_API int PMPI_Ireduce(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, int root,
                           MPI_Comm c, MPI_Request* q) {
  return run(red(chan::kReduce, CRMPI_NAME, s, r, n, t, op, root, c, q));
}
CRMPI_API int PMPI_Allreduce(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  return run(red(chan::kAllreduce, CRMPI_NAME, s, r, n, t, op, 0, c, nullptr));
}
CRMPI_API int PMPI_Iallreduce(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c,
                              MPI_Request* q) {
  return run(red(chan::kAllreduce, CRMPI_NAME, s, r, n, t, op, 0, c, q));
}
CRMPI_API int PMPI_Scan(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  return run(red(chan::kScan, CRMPI_NAME, s, r, n, t, op, 0, c, nullptr));
}
CRMPI_API int PMPI_Iscan(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c,
                         MPI_Request* q) {
  return run(red(chan::kScan, CRMPI_NAME, s, r, n, t, op, 0, c, q));
}
CRMPI_API int PMPI_Exscan(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  return run(red(chan::kExscan, CRMPI_NAME, s, r, n, t, op, 0, c, nullptr));
}
CRMPI_API int PMPI_Iexscan(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c,
                           MPI_Request* q) {
  return run(red(chan::kExscan, CRMPI_NAME, s, r, n, t, op, 0, c, q));
}
CRMPI_API int PMPI_Reduce_scatter_block(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op,
                                        MPI_Comm c) {
  return run(red(chan::kReduceScatterBlock, CRMPI_NAME, s, r, n, t, op, 0, c, nullptr));
}
CRMPI_API int PMPI_Ireduce_scatter_block(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op,
                                         MPI_Comm c, MPI_Request* q) {
  return run(red(chan::kReduceScatterBlock, CRMPI_NAME, s, r, n, t, op, 0, c, q));
}
CRMPI_API int PMPI_Reduce_scatter(const void* s, void* r, const int* counts, MPI_Datatype t,
                                  MPI_Op op, MPI_Comm c) {
  Coll x = red(chan::kReduceScatter, CRMPI_NAME, s, r, 0, t, op, 0, c, nullptr);
  x.rcounts = counts;
  return run(x);
}
CRMPI_API int PMPI_Ireduce_scatter(const void* s, void* r, const int* counts, MPI_Datatype t,
                                   MPI_Op op, MPI_Comm c, MPI_Request* q) {
  Coll x = red(chan::kReduceScatter, CRMPI_NAME, s, r, 0, t, op, 0, c, q);
  x.rcounts = counts;
  return run(x);
}

static Coll mv(chan::CollKind k, const char* fn, const void* s, int sn, MPI_Datatype st, void* r,
               int rn, MPI_Datatype rt, int root, MPI_Comm comm, MPI_Request* req) {
  Coll x{k, fn, comm};
  x.sbuf = s, x.scount = sn, x.stype = st, x.rbuf = r, x.rcount = rn, x.rtype = rt, x.root = root,
  x.req = req;
  return x;
}
#define MOVE(Name, Lower, kind)                                                        \
  CRMPI_API int PMPI_##Name(const void* s, int sn, MPI_Datatype st, void* r, int rn,   \
                            MPI_Datatype rt, int root, MPI_Comm c) {                   \
    return run(mv(chan::kind, CRMPI_NAME, s, sn, st, r, rn, rt, root, c, nullptr));    \
  }                                                                                    \
  CRMPI_API int PMPI_I##Lower(const void* s, int sn, MPI_Datatype st, void* r, int rn, \
                              MPI_Datatype rt, int root, MPI_Comm c, MPI_Request* q) { \
    return run(mv(chan::kind, CRMPI_NAME, s, sn, st, r, rn, rt, root, c, q));          \
  }
#define MOVE_ALL(Name, Lower, kind)                                                    \
  CRMPI_API int PMPI_##Name(const void* s, int sn, MPI_Datatype st, void* r, int rn,   \
                            MPI_Datatype rt, MPI_Comm c) {                             \
    return run(mv(chan::kind, CRMPI_NAME, s, sn, st, r, rn, rt, 0, c, nullptr));       \
  }                                                                                    \
  CRMPI_API int PMPI_I##Lower(const void* s, int sn, MPI_Datatype st, void* r, int rn, \
                              MPI_Datatype rt, MPI_Comm c, MPI_Request* q) {           \
    return run(mv(chan::kind, CRMPI_NAME, s, sn, st, r, rn, rt, 0, c, q));             \
  }
MOVE(Gather, gather, kGather)
MOVE(Scatter, scatter, kScatter)
MOVE_ALL(Allgather, allgather, kAllgather)
MOVE_ALL(Alltoall, alltoall, kAlltoall)

CRMPI_API int PMPI_Gatherv(const void* s, int sn, MPI_Datatype st, void* r, const int* rc,
                           const int* rd, MPI_Datatype rt, int root, MPI_Comm c) {
  Coll x = mv(chan::kGatherv, CRMPI_NAME, s, sn, st, r, 0, rt, root, c, nullptr);
  x.rcounts = rc, x.rdispls = rd;
  return run(x);
}
CRMPI_API int PMPI_Igatherv(const void* s, int sn, MPI_Datatype st, void* r, const int* rc,
                            const int* rd, MPI_Datatype rt, int root, MPI_Comm c, MPI_Request* q) {
  Coll x = mv(chan::kGatherv, CRMPI_NAME, s, sn, st, r, 0, rt, root, c, q);
  x.rcounts = rc, x.rdispls = rd;
  return run(x);
}
CRMPI_API int PMPI_Scatterv(const void* s, const int* sc, const int* sd, MPI_Datatype st, void* r,
                            int rn, MPI_Datatype rt, int root, MPI_Comm c) {
  Coll x = mv(chan::kScatterv, CRMPI_NAME, s, 0, st, r, rn, rt, root, c, nullptr);
  x.scounts = sc, x.sdispls = sd;
  return run(x);
}
CRMPI_API int PMPI_Iscatterv(const void* s, const int* sc, const int* sd, MPI_Datatype st, void* r,
                             int rn, MPI_Datatype rt, int root, MPI_Comm c, MPI_Request* q) {
  Coll x = mv(chan::kScatterv, CRMPI_NAME, s, 0, st, r, rn, rt, root, c, q);
  x.scounts = sc, x.sdispls = sd;
  return run(x);
}
CRMPI_API int PMPI_Allgatherv(const void* s, int sn, MPI_Datatype st, void* r, const int* rc,
                              const int* rd, MPI_Datatype rt, MPI_Comm c) {
  Coll x = mv(chan::kAllgatherv, CRMPI_NAME, s, sn, st, r, 0, rt, 0, c, nullptr);
  x.rcounts = rc, x.rdispls = rd;
  return run(x);
}
CRMPI_API int PMPI_Iallgatherv(const void* s, int sn, MPI_Datatype st, void* r, const int* rc,
                               const int* rd, MPI_Datatype rt, MPI_Comm c, MPI_Request* q) {
  Coll x = mv(chan::kAllgatherv, CRMPI_NAME, s, sn, st, r, 0, rt, 0, c, q);
  x.rcounts = rc, x.rdispls = rd;
  return run(x);
}
CRMPI_API int PMPI_Alltoallv(const void* s, const int* sc, const int* sd, MPI_Datatype st, void* r,
                             const int* rc, const int* rd, MPI_Datatype rt, MPI_Comm c) {
  Coll x = mv(chan::kAlltoallv, CRMPI_NAME, s, 0, st, r, 0, rt, 0, c, nullptr);
  x.scounts = sc, x.sdispls = sd, x.rcounts = rc, x.rdispls = rd;
  return run(x);
}
CRMPI_API int PMPI_Ialltoallv(const void* s, const int* sc, const int* sd, MPI_Datatype st, void* r,
                              const int* rc, const int* rd, MPI_Datatype rt, MPI_Comm c,
                              MPI_Request* q) {
  Coll x = mv(chan::kAlltoallv, CRMPI_NAME, s, 0, st, r, 0, rt, 0, c, q);
  x.scounts = sc, x.sdispls = sd, x.rcounts = rc, x.rdispls = rd;
  return run(x);
}

// All-to-all of typed blocks: MPI_Alltoallw and the neighbourhood
// collectives (api_topo.cpp).
//
// Algorithm: the blocks for each peer are packed densely one after another
// (put_payload: derived and padded pair types by their type map, the others
// raw), so that every peer pair exchanges one run of bytes; the agent runs
// MPI_(I)alltoallw of MPI_BYTE with byte counts and displacements on the
// packed buffers, and the bytes from each peer are unpacked into its blocks
// in order. Blocks of count 0 are left out (their type is not looked at:
// MPI allows any type there). The receive blocks keep their own copy of
// their type map: the app may free a type before a nonblocking call
// completes.
namespace {

struct Unpack {
  char* user;
  int count;
  bool packed;
  std::shared_ptr<const TypeMap> tm;
  size_t off;
};

const TypeMap* block_map(const TypedBlock& b, const char* fn) {
  const TypeMap* tm = typemap(b.type);
  if (!tm) fatal("%s: invalid datatype handle %p", fn, static_cast<void*>(b.type));
  return tm;
}

// Byte count and offset of each peer's run; returns the total.
size_t runs(const std::vector<std::vector<TypedBlock>>& peers, std::vector<int>& cnt,
            std::vector<int>& off, const char* fn) {
  size_t tot = 0;
  for (size_t i = 0; i < peers.size(); ++i) {
    off[i] = static_cast<int>(tot);
    for (const TypedBlock& b : peers[i])
      if (b.count > 0) tot += payload_bytes(*block_map(b, fn), b.count, packs(b.type));
    cnt[i] = static_cast<int>(tot - static_cast<size_t>(off[i]));
  }
  if (tot > static_cast<size_t>(INT32_MAX)) fatal("%s: more than 2 GiB of data", fn);
  return tot;
}

void pack_runs(const std::vector<std::vector<TypedBlock>>& peers, char* out) {
  for (const auto& blocks : peers)
    for (const TypedBlock& b : blocks) {
      if (b.count <= 0) continue;
      const TypeMap* tm = typemap(b.type);
      put_payload(*tm, packs(b.type), b.buf, b.count, out);
      out += payload_bytes(*tm, b.count, packs(b.type));
    }
}

std::vector<Unpack> unpack_plan(const std::vector<std::vector<TypedBlock>>& peers) {
  std::vector<Unpack> u;
  size_t off = 0;
  for (const auto& blocks : peers)
    for (const TypedBlock& b : blocks) {
      if (b.count <= 0) continue;
      auto tm = std::make_shared<const TypeMap>(*typemap(b.type));
      u.push_back({b.buf, b.count, packs(b.type), tm, off});
      off += payload_bytes(*tm, b.count, u.back().packed);
    }
  return u;
}

void unpack_runs(const std::vector<Unpack>& plan, const char* packed) {
  for (const Unpack& u : plan) {
    size_t bytes = payload_bytes(*u.tm, u.count, u.packed);
    if (u.packed)
      u.tm->unpack(packed + u.off, bytes, u.count, u.user);
    else
      memcpy(u.user, packed + u.off, bytes);
  }
}

// The call's arguments: arrays scounts, sdispls, rcounts, rdispls (bytes),
// then 2n wire types, all MPI_BYTE.
void describe_w(Call& m, VComm& vc, const std::vector<int> (&a)[4], bool inplace, bool nb,
                const char* fn) {
  int n = static_cast<int>(a[0].size());
  size_t words = 8 * static_cast<size_t>(n);
  size_t off = m.arena.alloc(words * sizeof(int));
  if (off == SIZE_MAX) fatal("%s: communicator too large for the channel", fn);
  int* arr = reinterpret_cast<int*>(m.arena.data + off);
  for (int k = 0; k < 4; ++k) memcpy(arr + k * n, a[k].data(), n * sizeof(int));
  if (inplace) memset(arr, 0, n * sizeof(int));
  std::vector<uint64_t> wt(2 * n, wire_type(MPI_BYTE));
  memcpy(arr + 4 * n, wt.data(), 2 * n * sizeof(uint64_t));
  m.extra = {0, words * sizeof(int), off, chan::kInline, 0};
  m.a.coll.kind = chan::kAlltoallw;
  m.a.coll.comm = vc.real;
  m.a.coll.stype = m.a.coll.rtype = wire_type(MPI_BYTE);
  m.a.coll.scount = m.a.coll.rcount = 0;
  m.a.coll.root = 0;
  m.a.coll.op = 0;
  m.a.coll.nonblocking = nb;
  m.a.coll.user_op = 0;
  m.a.coll.app_type = 0;
  m.a.coll.comm_size = static_cast<uint64_t>(n);
}

}  // namespace

int crmpi::alltoall_blocks(MPI_Comm c, const BlockPlan& p, MPI_Request* req, const char* fn) {
  Lock l;
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, fn);
  size_t n = p.recv.size();  // peers: the group MPI exchanges with
  if (!p.inplace && p.send.size() != n) fatal("%s: send and receive peers differ", fn);
  std::vector<int> a[4] = {std::vector<int>(n), std::vector<int>(n), std::vector<int>(n),
                           std::vector<int>(n)};  // scounts, sdispls, rcounts, rdispls
  size_t stot = p.inplace ? 0 : runs(p.send, a[0], a[1], fn);
  size_t rtot = runs(p.recv, a[2], a[3], fn);
  bool nb = req != nullptr;
  VRequest* r = nb ? new_request(VRequest::kColl, vc) : nullptr;
  std::vector<char> local, spk(stot), tmp;
  std::vector<char>& rpk = r ? r->packed : local;
  rpk.resize(rtot);
  if (p.inplace) pack_runs(p.recv, rpk.data());  // the data to send are in the receive blocks
  if (!p.inplace) pack_runs(p.send, spk.data());
  std::vector<Unpack> plan = unpack_plan(p.recv);

  Call& m = begin(chan::kOpColl);
  describe_w(m, *vc, a, p.inplace, nb, fn);  // first: the arrays must be inline
  if (p.inplace)
    m.src = {0, 0, 0, chan::kInPlace, 0};
  else
    source(m.src, m.arena, spk.data(), static_cast<int>(stot), MPI_BYTE, tmp);
  Dest local_dest;
  Dest& d = r ? r->dst : local_dest;
  dest(d, m.arena, rpk.data(), static_cast<int>(rtot), MPI_BYTE, p.inplace, !nb);
  m.dst = d.wire;
  int rc = execute(m);
  if (rc == chan::kRcPaused) {  // a job checkpoint came first: make it again
    delete r;
    return alltoall_blocks(c, p, req, fn);
  }
  vc->coll_seq++;
  if (r) {
    CollRecord& cr = r->coll;  // the replay record (api.h): the call as the agent saw it
    cr.kind = chan::kAlltoallw, cr.seq = vc->coll_seq;
    cr.scounts = a[0], cr.sdispls = a[1], cr.rcounts = a[2], cr.rdispls = a[3];
    r->real = m.a.request.request;
    std::vector<char>* keep = &r->packed;
    r->after = [plan = std::move(plan), keep]() { unpack_runs(plan, keep->data()); };
    *req = reinterpret_cast<MPI_Request>(r);
  } else if (rc == MPI_SUCCESS) {
    finish(d, d.wire.bytes, m.arena);
    unpack_runs(plan, rpk.data());
  }
  return check(vc, c, rc, fn);
}

namespace {

int alltoallw(const void* sbuf, const int* sc, const int* sd, const MPI_Datatype* st, void* rbuf,
              const int* rc, const int* rd, const MPI_Datatype* rt, MPI_Comm c, MPI_Request* req,
              const char* fn) {
  Lock l;
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, fn);
  size_t n = static_cast<size_t>(vc->peer_size());  // an intercommunicator's: the remote group's
  BlockPlan p;
  p.inplace = sbuf == MPI_IN_PLACE;
  p.recv.resize(n);
  if (!p.inplace) p.send.resize(n);
  auto* s = static_cast<char*>(const_cast<void*>(sbuf));
  for (size_t i = 0; i < n; ++i) {
    p.recv[i] = {{static_cast<char*>(rbuf) + rd[i], rc[i], rt[i]}};
    if (!p.inplace) p.send[i] = {{s + sd[i], sc[i], st[i]}};
  }
  return alltoall_blocks(c, p, req, fn);
}

}  // namespace

CRMPI_API int PMPI_Alltoallw(const void* sbuf, const int* sc, const int* sd, const MPI_Datatype* st,
                             void* rbuf, const int* rc, const int* rd, const MPI_Datatype* rt,
                             MPI_Comm c) {
  return alltoallw(sbuf, sc, sd, st, rbuf, rc, rd, rt, c, nullptr, CRMPI_NAME);
}

CRMPI_API int PMPI_Ialltoallw(const void* sbuf, const int* sc, const int* sd,
                              const MPI_Datatype* st, void* rbuf, const int* rc, const int* rd,
                              const MPI_Datatype* rt, MPI_Comm c, MPI_Request* q) {
  return alltoallw(sbuf, sc, sd, st, rbuf, rc, rd, rt, c, q, CRMPI_NAME);
}

CRMPI_API int PMPI_Reduce_local(const void* in, void* inout, int n, MPI_Datatype t, MPI_Op op) {
  return run(red(chan::kReduceLocal, CRMPI_NAME, in, inout, n, t, op, 0, MPI_COMM_SELF, nullptr));
}
