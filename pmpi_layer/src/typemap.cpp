// Typemap engine (see typemap.h).
//
// Algorithm: every constructor is expressed through `append(t, disp, n)`,
// which appends n consecutive elements of t (element k displaced by
// disp + k * extent(t)) to the block list, merging a block into the previous
// one when it starts exactly where the previous one ends. Bounds follow the
// MPI rules: lb/ub are the min/max over the displaced lb/ub of the pieces
// (explicit resized bounds propagate that way), true bounds over the data.
#include "typemap.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace crmpi {
namespace {

struct Builder {
  TypeMap r;
  bool any = false;
  int64_t lb = std::numeric_limits<int64_t>::max(), ub = std::numeric_limits<int64_t>::min();
  int64_t tlb = std::numeric_limits<int64_t>::max(), tub = std::numeric_limits<int64_t>::min();
  bool base_set = false;

  void push(int64_t off, int64_t len) {
    if (len == 0) return;
    if (!r.blocks.empty() && r.blocks.back().off + r.blocks.back().len == off) {
      r.blocks.back().len += len;
    } else {
      r.blocks.push_back({off, len});
    }
  }
  void append(const TypeMap& t, int64_t disp, int64_t n) {
    if (n <= 0) return;
    any = true;
    int64_t ext = t.extent();
    lb = std::min(lb, disp + std::min<int64_t>(0, (n - 1) * ext) + t.lb);
    ub = std::max(ub, disp + std::max<int64_t>(0, (n - 1) * ext) + t.ub);
    if (t.size > 0) {
      tlb = std::min(tlb, disp + std::min<int64_t>(0, (n - 1) * ext) + t.true_lb);
      tub = std::max(tub, disp + std::max<int64_t>(0, (n - 1) * ext) + t.true_ub);
    }
    if (t.contiguous() && ext >= 0) {
      push(disp, n * t.size);
    } else {
      for (int64_t k = 0; k < n; ++k)
        for (const Block& b : t.blocks) push(disp + k * ext + b.off, b.len);
    }
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
    if (!any) lb = ub = 0;
    if (tlb > tub) tlb = tub = 0;
    r.lb = lb;
    r.ub = ub;
    r.true_lb = tlb;
    r.true_ub = tub;
    if (!base_set) r.base = TypeMap::kMixed;
    return r;
  }
};

}  // namespace

TypeMap TypeMap::primitive(uint64_t id, int64_t size, int64_t extent) {
  TypeMap t;
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

TypeMap TypeMap::from_blocks(std::vector<Block> blocks, int64_t extent, int64_t nprims) {
  TypeMap t;
  t.blocks = std::move(blocks);
  t.ub = extent;
  t.true_lb = t.blocks.empty() ? 0 : t.blocks.front().off;
  for (auto& b : t.blocks) {
    t.size += b.len;
    t.true_ub = std::max(t.true_ub, b.off + b.len);
  }
  t.nprims = nprims;
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
  // Place at the start offset; extent is the full array.
  Builder b;
  b.append(cur, disp, 1);
  TypeMap r = b.done();
  r.lb = 0;
  r.ub = stride;
  return r;
}

TypeMap TypeMap::resized(const TypeMap& t, int64_t lb, int64_t extent) {
  TypeMap r = t;
  r.lb = lb;
  r.ub = lb + extent;
  return r;
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
