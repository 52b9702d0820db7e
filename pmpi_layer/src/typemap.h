// Typemap engine: flattens MPI derived datatypes into (offset, length) blocks.
//
// Pure C++ with no MPI dependency, so it is unit tested on its own
// (tests/pmpi_layer/typemap_test.cpp). A TypeMap describes ONE element of a
// type: its blocks in typemap order (adjacent blocks merged), its size (bytes
// of data), lb/ub (extent = ub - lb, after MPI_Type_create_resized), true
// bounds, the number of primitive elements, and `base`, the id of the single
// primitive type it is made of (or kMixed). Pack/unpack walk `count`
// consecutive elements, element i starting at i * extent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace crmpi {

struct Block {
  int64_t off;
  int64_t len;
};

struct TypeMap {
  static constexpr uint64_t kMixed = ~0ull;
  std::vector<Block> blocks;
  int64_t size = 0;
  int64_t lb = 0, ub = 0;
  int64_t true_lb = 0, true_ub = 0;
  int64_t nprims = 0;      // primitive elements per element
  uint64_t base = kMixed;  // id of the only primitive type, if homogeneous
  int64_t base_size = 0;   // size of that primitive

  int64_t extent() const { return ub - lb; }
  int64_t true_extent() const { return true_ub - true_lb; }
  bool contiguous() const {
    return blocks.size() <= 1 && (blocks.empty() || blocks[0].off == 0) && extent() == size;
  }

  // Leaf: a predefined type of `size` bytes of data, extent `extent`, made of
  // `nprims` primitives of type `id` (for pair types such as MPI_DOUBLE_INT, the
  // caller passes its real block layout instead and base kMixed).
  static TypeMap primitive(uint64_t id, int64_t size, int64_t extent);
  static TypeMap from_blocks(std::vector<Block> blocks, int64_t extent, int64_t nprims);

  static TypeMap contiguous(int64_t count, const TypeMap& t);
  static TypeMap hvector(int64_t count, int64_t blocklen, int64_t stride_bytes, const TypeMap& t);
  static TypeMap hindexed(const std::vector<int64_t>& blocklens,
                          const std::vector<int64_t>& disps_bytes, const TypeMap& t);
  static TypeMap structure(const std::vector<int64_t>& blocklens,
                           const std::vector<int64_t>& disps_bytes,
                           const std::vector<const TypeMap*>& types);
  // order: 0 = C (row major), 1 = Fortran.
  static TypeMap subarray(const std::vector<int64_t>& sizes, const std::vector<int64_t>& subsizes,
                          const std::vector<int64_t>& starts, int order, const TypeMap& t);
  static TypeMap resized(const TypeMap& t, int64_t lb, int64_t extent);

  // Copy `count` elements at `base` to/from the dense byte stream `out`/`in`
  // (count * size bytes). Returns bytes moved. Unpack stops after `bytes`.
  size_t pack(const void* base, int64_t count, void* out) const;
  size_t unpack(const void* in, size_t bytes, int64_t count, void* base) const;
};

}  // namespace crmpi
