// Typemap engine: flattens MPI derived datatypes into (offset, length) blocks.
//
// Pure C++ with no MPI dependency, so it is unit tested on its own
// (tests/pmpi_layer/typemap_test.cpp). A TypeMap describes ONE element of a
// type: its blocks in typemap order (adjacent blocks merged), its size (bytes
// of data), lb/ub (extent = ub - lb, after MPI_Type_create_resized), true
// bounds, the number of primitive elements, and `base`, the id of the single
// primitive type it is made of (or kMixed). Pack/unpack walk `count`
// consecutive elements, element i starting at i * extent.
//
// Bounds follow MPI-3.1 4.1: without explicit bounds (MPI_Type_create_resized,
// subarray, darray: the standard's lb/ub markers), the extent is rounded up to
// a multiple of `align`, the strictest alignment of the primitives inside
// (the standard's epsilon; {double, char} has extent 16, as sizeof says).
// With explicit bounds anywhere inside, lb/ub come from those markers only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace crmpi {

struct Block {
  int64_t off;
  int64_t len;
};

// `count` consecutive primitives of `size` bytes each, in typemap order.
// external32 (MPI-3.1 13.5.2) stores each `word` of a primitive (a complex
// has two) big-endian in `xword` bytes: fewer for MPI_LONG (8 here, 4
// there), sign-extended back if `sign`.  An `x87` word is a long double
// (the x87 80-bit format in 16 bytes), an IEEE binary128 in external32.
struct PrimRun {
  int64_t size;
  int64_t count;
  int64_t word;
  int64_t xword;
  bool sign = false;
  bool x87 = false;
  bool same_kind(const PrimRun& o) const {
    return size == o.size && word == o.word && xword == o.xword && sign == o.sign && x87 == o.x87;
  }
};

struct TypeMap {
  static constexpr uint64_t kMixed = ~0ull;
  // Constructors throw std::length_error rather than flatten a type into
  // more blocks (or primitive runs) than this: 32 Mi blocks, 512 MiB by
  // default (unit tests lower it).
  static size_t max_blocks;
  std::vector<Block> blocks;
  int64_t size = 0;
  int64_t lb = 0, ub = 0;
  int64_t true_lb = 0, true_ub = 0;
  int64_t nprims = 0;            // elements of `base` per element (reductions)
  uint64_t base = kMixed;        // id of the only primitive type, if homogeneous
  int64_t base_size = 0;         // size of that primitive
  int64_t align = 1;             // strictest primitive alignment inside
  bool explicit_bounds = false;  // lb/ub are markers (resized, subarray, darray)
  std::vector<PrimRun> prims;    // the basic elements of one element, in order

  int64_t extent() const { return ub - lb; }
  int64_t true_extent() const { return true_ub - true_lb; }
  bool contiguous() const {
    return blocks.size() <= 1 && (blocks.empty() || blocks[0].off == 0) && extent() == size;
  }

  // Leaf: a predefined type of `size` bytes of data, extent `extent`, type id
  // `id`, aligned to `align` bytes (0: the largest power of two, at most 16,
  // that divides size, which is the x86-64 ABI rule for scalars).
  static TypeMap primitive(uint64_t id, int64_t size, int64_t extent, int64_t align = 0);
  // Leaf: a predefined pair type (MPI_DOUBLE_INT ...): a `first`-byte value
  // at 0 and an int at `second`; two primitives for MPI_Get_elements.
  static TypeMap pair(uint64_t id, int64_t first, int64_t second, int64_t extent, int64_t align);

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
  // MPI_Type_create_darray: the block of a gsizes array that process
  // `rank` of a psizes grid (row-major ranks) owns. distribs: 0 block,
  // 1 cyclic, 2 none; dargs: the block or cycle length, <= 0 for the
  // default. Empty (size 0) where the process owns nothing.
  static TypeMap darray(int rank, const std::vector<int64_t>& gsizes,
                        const std::vector<int>& distribs, const std::vector<int64_t>& dargs,
                        const std::vector<int64_t>& psizes, int order, const TypeMap& t);
  static TypeMap resized(const TypeMap& t, int64_t lb, int64_t extent);

  // MPI_Get_elements of a receive of `bytes` bytes of this type: the
  // primitives complete in them, or -1 if the bytes end inside one.
  int64_t elements(int64_t bytes) const;
  // MPI_Status_set_elements: bytes that the first `n` primitives take.
  int64_t bytes_of_elements(int64_t n) const;
  // external32: bytes of one element, and conversion of `count` packed
  // elements from native (little-endian) to external32 and back.
  int64_t external_size() const;
  void to_external(const char* native, int64_t count, char* out) const;
  void from_external(const char* in, int64_t count, char* native) const;

  // Copy `count` elements at `base` to/from the dense byte stream `out`/`in`
  // (count * size bytes). Returns bytes moved. Unpack stops after `bytes`.
  size_t pack(const void* base, int64_t count, void* out) const;
  size_t unpack(const void* in, size_t bytes, int64_t count, void* base) const;
};

}  // namespace crmpi
