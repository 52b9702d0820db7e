// Typemap engine (see typemap.h).
//
// Algorithm: every constructor is expressed through `append(t, disp, n)`,
// which appends n consecutive elements of t (element k displaced by
// disp + k * extent(t)) to the block list, merging a block into the previous
// one when it starts exactly where the previous one ends, and likewise to
// the run list of primitive sizes. Bounds follow MPI-3.1 4.1 and 4.1.7:
// lb/ub are the min/max over the displaced lb/ub of the pieces; pieces with
// explicit bounds (resized: the standard's markers) override the others;
// without markers the extent is padded up to the strictest alignment
// inside (epsilon). True bounds are over the data only.
#include "typemap.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace crmpi {

size_t TypeMap::max_blocks = size_t{1} << 25;
namespace {

struct Builder {
  TypeMap r;
  bool any = false, marked = false;
  static constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  static constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  int64_t lb = kMax, ub = kMin;    // over pieces without explicit bounds
  int64_t mlb = kMax, mub = kMin;  // over pieces with explicit bounds (markers)
  int64_t tlb = kMax, tub = kMin;
  bool base_set = false;

  void push(int64_t off, int64_t len) {
    if (len == 0) return;
    if (!r.blocks.empty() && r.blocks.back().off + r.blocks.back().len == off) {
      r.blocks.back().len += len;
    } else {
      if (r.blocks.size() >= TypeMap::max_blocks) too_large();
      r.blocks.push_back({off, len});
    }
  }
  [[noreturn]] static void too_large() {
    throw std::length_error("a datatype of more than " + std::to_string(TypeMap::max_blocks) +
                            " separate blocks or runs (the type engine keeps each one) is not "
                            "supported");
  }
  void push_prims(const std::vector<PrimRun>& p, int64_t n) {
    if (p.size() == 1) {  // homogeneous: one run however many copies
      PrimRun q = p[0];
      q.count *= n;
      push_prim(q);
      return;
    }
    for (int64_t k = 0; k < n; ++k)
      for (const PrimRun& q : p) push_prim(q);
  }
  void push_prim(PrimRun q) {
    if (q.count == 0) return;
    if (!r.prims.empty() && r.prims.back().same_kind(q))
      r.prims.back().count += q.count;
    else if (r.prims.size() >= TypeMap::max_blocks)
      too_large();
    else
      r.prims.push_back(q);
  }
  void append(const TypeMap& t, int64_t disp, int64_t n) {
    if (n <= 0) return;
    any = true;
    int64_t ext = t.extent();
    int64_t lo = disp + std::min<int64_t>(0, (n - 1) * ext),
            hi = disp + std::max<int64_t>(0, (n - 1) * ext);
    if (t.explicit_bounds) {
      marked = true;
      mlb = std::min(mlb, lo + t.lb);
      mub = std::max(mub, hi + t.ub);
    } else {
      lb = std::min(lb, lo + t.lb);
      ub = std::max(ub, hi + t.ub);
    }
    if (t.size > 0) {
      tlb = std::min(tlb, lo + t.true_lb);
      tub = std::max(tub, hi + t.true_ub);
    }
    r.align = std::max(r.align, t.align);
    if (t.contiguous() && ext >= 0) {
      push(disp, n * t.size);
    } else {
      for (int64_t k = 0; k < n; ++k)
        for (const Block& b : t.blocks) push(disp + k * ext + b.off, b.len);
    }
    push_prims(t.prims, n);
    r.size += n * t.size;
    r.nprims += n * t.nprims;
    if (t.size > 0) {
      if (!base_set) {
        r.base = t.base;
        r.base_size = t.base_size;
        base_set = true;
      } else if (r.base != t.base) {
        r.base = TypeMap::kMixed;
      }
    }
  }
  TypeMap done() {
    if (marked) {  // explicit bounds win over the data's
      r.lb = mlb;
      r.ub = mub;
      r.explicit_bounds = true;
    } else if (any) {
      r.lb = lb;
      r.ub = ub;
      int64_t rem = (ub - lb) % r.align;  // epsilon: pad the extent to the alignment
      if (rem > 0) r.ub += r.align - rem;
    }
    if (tlb > tub) tlb = tub = 0;
    r.true_lb = tlb;
    r.true_ub = tub;
    if (!base_set) r.base = TypeMap::kMixed;
    return r;
  }
};

int64_t natural_align(int64_t size) {
  int64_t a = 1;
  while (a < 16 && size > 0 && size % (a * 2) == 0) a *= 2;
  return a;
}

}  // namespace

TypeMap TypeMap::primitive(uint64_t id, int64_t size, int64_t extent, int64_t align) {
  TypeMap t;
  t.align = align > 0 ? align : natural_align(size);
  if (size > 0) t.prims.push_back({size, 1, size, size});
  if (size > 0) t.blocks.push_back({0, size});
  t.size = size;
  t.lb = 0;
  t.ub = extent;
  t.true_lb = 0;
  t.true_ub = size;
  t.nprims = 1;
  t.base = id;
  t.base_size = size;
  return t;
}

TypeMap TypeMap::pair(uint64_t id, int64_t first, int64_t second, int64_t extent, int64_t align) {
  TypeMap t;
  t.blocks = {{0, first}, {second, 4}};
  if (second == first) t.blocks = {{0, first + 4}};
  t.size = first + 4;
  t.ub = extent;
  t.true_ub = second + 4;
  t.prims = {{first, 1, first, first}, {4, 1, 4, 4}};
  if (first == 4) t.prims = {{4, 2, 4, 4}};
  t.align = align;
  // Without padding (MPI_FLOAT_INT, MPI_2INT) it is dense: a reduction may
  // treat a derived type of it as n pairs; with padding it stays mixed.
  if (t.size == extent) {
    t.base = id, t.base_size = t.size, t.nprims = 1;
  } else {
    t.nprims = 2;
  }
  return t;
}

TypeMap TypeMap::contiguous(int64_t count, const TypeMap& t) {
  Builder b;
  b.append(t, 0, count);
  return b.done();
}

TypeMap TypeMap::hvector(int64_t count, int64_t blocklen, int64_t stride, const TypeMap& t) {
  Builder b;
  for (int64_t i = 0; i < count; ++i) b.append(t, i * stride, blocklen);
  return b.done();
}

TypeMap TypeMap::hindexed(const std::vector<int64_t>& bl, const std::vector<int64_t>& d,
                          const TypeMap& t) {
  Builder b;
  for (size_t i = 0; i < bl.size(); ++i) b.append(t, d[i], bl[i]);
  return b.done();
}

TypeMap TypeMap::structure(const std::vector<int64_t>& bl, const std::vector<int64_t>& d,
                           const std::vector<const TypeMap*>& ts) {
  Builder b;
  for (size_t i = 0; i < bl.size(); ++i) b.append(*ts[i], d[i], bl[i]);
  TypeMap r = b.done();
  return r;
}

TypeMap TypeMap::subarray(const std::vector<int64_t>& sizes, const std::vector<int64_t>& subsizes,
                          const std::vector<int64_t>& starts, int order, const TypeMap& t) {
  // Build from the fastest-varying dimension outward as nested hvectors.
  size_t nd = sizes.size();
  std::vector<size_t> dims(nd);
  for (size_t i = 0; i < nd; ++i) dims[i] = order == 0 ? nd - 1 - i : i;  // fastest first
  TypeMap cur = t;
  int64_t stride = t.extent();
  int64_t disp = 0;
  for (size_t k = 0; k < nd; ++k) {
    size_t d = dims[k];
    TypeMap next = (k == 0) ? contiguous(subsizes[d], cur) : hvector(subsizes[d], 1, stride, cur);
    disp += starts[d] * stride;
    stride *= sizes[d];
    cur = next;
  }
  // Place at the start offset; the bounds are the full array's (markers).
  Builder b;
  b.append(cur, disp, 1);
  return resized(b.done(), 0, stride);
}

TypeMap TypeMap::darray(int rank, const std::vector<int64_t>& gsizes,
                        const std::vector<int>& distribs, const std::vector<int64_t>& dargs,
                        const std::vector<int64_t>& psizes, int order, const TypeMap& t) {
  // Algorithm: the process's grid coordinates come from its rank (row-major
  // over psizes, MPI-3.1 4.1.4). In each dimension it owns a set of index
  // runs: one block of ceil(g/p) (or darg) indices for BLOCK, every p-th
  // block of darg indices for CYCLIC, everything for NONE. The type is the
  // product of those runs over dimensions, built from the fastest-varying
  // one outward (each level an hindexed of the previous level resized to
  // the stride of one index), and resized to the whole array.
  size_t nd = gsizes.size();
  std::vector<int64_t> coord(nd);
  for (size_t i = nd, r = static_cast<size_t>(rank); i-- > 0;) {
    coord[i] = static_cast<int64_t>(r) % psizes[i];
    r /= static_cast<size_t>(psizes[i]);
  }
  TypeMap cur = t;
  int64_t stride = t.extent();
  for (size_t k = 0; k < nd; ++k) {
    size_t d = order == 0 ? nd - 1 - k : k;
    int64_t g = gsizes[d], p = psizes[d], c = coord[d];
    std::vector<int64_t> bl, disp;
    if (distribs[d] == 2) {  // NONE
      bl.push_back(g), disp.push_back(0);
    } else if (distribs[d] == 0) {  // BLOCK
      int64_t blk = dargs[d] > 0 ? dargs[d] : (g + p - 1) / p;
      int64_t lo = std::min(g, c * blk), hi = std::min(g, lo + blk);
      if (hi > lo) bl.push_back(hi - lo), disp.push_back(lo * stride);
    } else {  // CYCLIC(k)
      int64_t blk = dargs[d] > 0 ? dargs[d] : 1;
      for (int64_t lo = c * blk; lo < g; lo += p * blk)
        bl.push_back(std::min(blk, g - lo)), disp.push_back(lo * stride);
    }
    TypeMap unit = k == 0 ? cur : resized(cur, 0, stride);
    cur = hindexed(bl, disp, unit);
    stride *= g;
  }
  return resized(cur, 0, stride);
}

TypeMap TypeMap::resized(const TypeMap& t, int64_t lb, int64_t extent) {
  TypeMap r = t;
  r.lb = lb;
  r.ub = lb + extent;
  r.explicit_bounds = true;
  return r;
}

namespace {
int64_t prim_count(const std::vector<PrimRun>& p) {
  int64_t n = 0;
  for (const PrimRun& q : p) n += q.count;
  return n;
}
}  // namespace

int64_t TypeMap::elements(int64_t bytes) const {
  if (size == 0) return 0;
  int64_t n = bytes / size * prim_count(prims), rest = bytes % size;
  for (const PrimRun& q : prims) {
    if (rest == 0) break;
    int64_t k = std::min(q.count, rest / q.size);
    n += k;
    rest -= k * q.size;
    if (k < q.count) break;
  }
  return rest == 0 ? n : -1;
}

int64_t TypeMap::bytes_of_elements(int64_t n) const {
  int64_t per = prim_count(prims);
  if (per == 0) return 0;
  int64_t bytes = n / per * size, rest = n % per;
  for (const PrimRun& q : prims) {
    if (rest == 0) break;
    int64_t k = std::min(q.count, rest);
    bytes += k * q.size;
    rest -= k;
  }
  return bytes;
}

int64_t TypeMap::external_size() const {
  int64_t n = 0;
  for (const PrimRun& q : prims) n += q.count * (q.size / q.word) * q.xword;
  return n;
}

namespace {

// x87 extended (64-bit significand with an explicit integer bit, then
// sign and 15-bit exponent, little-endian in 16 bytes) <-> IEEE binary128
// big-endian (sign and exponent, same bias, then a 112-bit fraction).
// The fraction is the significand without its integer bit; the 49 low
// fraction bits of binary128 are zero here (dropped on the way back).
void x87_to_quad(const char* in, char* out) {
  uint64_t m;
  uint16_t se;
  std::memcpy(&m, in, 8);
  std::memcpy(&se, in + 8, 2);
  uint64_t f = m << 1;  // fraction bits 111..48
  out[0] = static_cast<char>(se >> 8);
  out[1] = static_cast<char>(se);
  for (int b = 0; b < 8; ++b) out[2 + b] = static_cast<char>(f >> (56 - 8 * b));
  std::memset(out + 10, 0, 6);
}

void quad_to_x87(const char* in, char* out) {
  uint16_t se = static_cast<uint16_t>((static_cast<unsigned char>(in[0]) << 8) |
                                      static_cast<unsigned char>(in[1]));
  uint64_t f = 0;
  for (int b = 0; b < 8; ++b) f = (f << 8) | static_cast<unsigned char>(in[2 + b]);
  uint64_t m = f >> 1;
  if ((se & 0x7fff) != 0) m |= 1ull << 63;  // normal, infinity, NaN: the integer bit
  std::memcpy(out, &m, 8);
  std::memcpy(out + 8, &se, 2);
  std::memset(out + 10, 0, 6);
}

}  // namespace

void TypeMap::to_external(const char* in, int64_t count, char* out) const {
  for (int64_t e = 0; e < count; ++e)
    for (const PrimRun& q : prims)
      for (int64_t k = 0; k < q.count * (q.size / q.word); ++k) {
        if (q.x87)
          x87_to_quad(in, out);
        else  // the low xword bytes of a little-endian word, most significant first
          for (int64_t b = 0; b < q.xword; ++b) out[b] = in[q.xword - 1 - b];
        in += q.word;
        out += q.xword;
      }
}

void TypeMap::from_external(const char* in, int64_t count, char* out) const {
  for (int64_t e = 0; e < count; ++e)
    for (const PrimRun& q : prims)
      for (int64_t k = 0; k < q.count * (q.size / q.word); ++k) {
        if (q.x87) {
          quad_to_x87(in, out);
        } else {
          for (int64_t b = 0; b < q.xword; ++b) out[b] = in[q.xword - 1 - b];
          bool neg = q.sign && q.xword > 0 && (in[0] & 0x80);
          std::memset(out + q.xword, neg ? 0xff : 0, q.word - q.xword);  // extend
        }
        in += q.xword;
        out += q.word;
      }
}

size_t TypeMap::pack(const void* base, int64_t count, void* out) const {
  const char* src = static_cast<const char*>(base);
  char* dst = static_cast<char*>(out);
  int64_t ext = extent();
  if (blocks.size() == 1 && blocks[0].len == ext) {  // dense
    std::memcpy(dst, src + blocks[0].off, count * size);
    return count * size;
  }
  for (int64_t i = 0; i < count; ++i)
    for (const Block& b : blocks) {
      std::memcpy(dst, src + i * ext + b.off, b.len);
      dst += b.len;
    }
  return dst - static_cast<char*>(out);
}

size_t TypeMap::unpack(const void* in, size_t bytes, int64_t count, void* base) const {
  const char* src = static_cast<const char*>(in);
  char* dst = static_cast<char*>(base);
  int64_t ext = extent();
  size_t left = bytes;
  for (int64_t i = 0; i < count && left; ++i)
    for (const Block& b : blocks) {
      size_t n = std::min<size_t>(left, b.len);
      std::memcpy(dst + i * ext + b.off, src, n);
      src += n;
      left -= n;
      if (!left) break;
    }
  return bytes - left;
}

}  // namespace crmpi
