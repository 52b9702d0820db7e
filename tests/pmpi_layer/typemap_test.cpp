// Unit tests of the typemap engine (pmpi_layer/src/typemap.*): flattening of
// every constructor, bounds, merging, pack/unpack round trips.
#include "typemap.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <stdexcept>
#include <vector>

using crmpi::Block;
using crmpi::TypeMap;

namespace {

const TypeMap kInt = TypeMap::primitive(1, 4, 4);
const TypeMap kDouble = TypeMap::primitive(2, 8, 8);
const TypeMap kChar = TypeMap::primitive(3, 1, 1);

std::vector<std::pair<int64_t, int64_t>> blocks(const TypeMap& t) {
  std::vector<std::pair<int64_t, int64_t>> r;
  for (const Block& b : t.blocks) r.push_back({b.off, b.len});
  return r;
}

TEST(TypeMap, ContiguousMergesIntoOneBlock) {
  TypeMap t = TypeMap::contiguous(5, kInt);
  EXPECT_EQ(blocks(t), (std::vector<std::pair<int64_t, int64_t>>{{0, 20}}));
  EXPECT_EQ(t.size, 20);
  EXPECT_EQ(t.extent(), 20);
  EXPECT_TRUE(t.contiguous());
  EXPECT_EQ(t.base, 1u);
  EXPECT_EQ(t.nprims, 5);
}

TEST(TypeMap, VectorHasStridedBlocksAndMpiExtent) {
  TypeMap t = TypeMap::hvector(3, 2, 5 * 8, kDouble);  // MPI_Type_vector(3, 2, 5, DOUBLE)
  EXPECT_EQ(blocks(t), (std::vector<std::pair<int64_t, int64_t>>{{0, 16}, {40, 16}, {80, 16}}));
  EXPECT_EQ(t.size, 48);
  EXPECT_EQ(t.extent(), 96);  // (count-1)*stride + blocklen*extent
  EXPECT_FALSE(t.contiguous());
}

TEST(TypeMap, NegativeStrideBounds) {
  TypeMap t = TypeMap::hvector(2, 1, -8, kDouble);
  EXPECT_EQ(t.lb, -8);
  EXPECT_EQ(t.ub, 8);
  EXPECT_EQ(t.true_lb, -8);
}

TEST(TypeMap, IndexedKeepsTypemapOrder) {
  TypeMap t = TypeMap::hindexed({1, 2}, {12, 0}, kInt);
  EXPECT_EQ(blocks(t), (std::vector<std::pair<int64_t, int64_t>>{{12, 4}, {0, 8}}));
  EXPECT_EQ(t.lb, 0);
  EXPECT_EQ(t.ub, 16);
  int src[4] = {10, 11, 12, 13}, packed[3] = {};
  t.pack(src, 1, packed);
  EXPECT_EQ(packed[0], 13);
  EXPECT_EQ(packed[1], 10);
  EXPECT_EQ(packed[2], 11);
}

TEST(TypeMap, StructWithPaddingAndMixedBase) {
  struct S {
    double d;
    int i;
    char c;
  };
  TypeMap t = TypeMap::structure({1, 1, 1}, {0, 8, 12}, {&kDouble, &kInt, &kChar});
  EXPECT_EQ(t.size, 13);
  EXPECT_EQ(t.extent(), static_cast<int64_t>(sizeof(S)));  // epsilon: padded to the double
  EXPECT_EQ(t.base, TypeMap::kMixed);
  TypeMap r = TypeMap::resized(t, 0, sizeof(S));
  EXPECT_EQ(r.extent(), static_cast<int64_t>(sizeof(S)));
  EXPECT_EQ(blocks(r), (std::vector<std::pair<int64_t, int64_t>>{{0, 13}}));
  S in[2] = {{1.5, 7, 'x'}, {2.5, 8, 'y'}}, out[2] = {};
  std::vector<char> buf(26);
  EXPECT_EQ(r.pack(in, 2, buf.data()), 26u);
  EXPECT_EQ(r.unpack(buf.data(), 26, 2, out), 26u);
  EXPECT_EQ(out[1].d, 2.5);
  EXPECT_EQ(out[1].i, 8);
  EXPECT_EQ(out[1].c, 'y');
}

TEST(TypeMap, SubarrayCOrder) {
  TypeMap t = TypeMap::subarray({4, 5}, {2, 3}, {1, 1}, 0, kInt);
  EXPECT_EQ(blocks(t), (std::vector<std::pair<int64_t, int64_t>>{{24, 12}, {44, 12}}));
  EXPECT_EQ(t.extent(), 80);
  EXPECT_EQ(t.size, 24);
}

TEST(TypeMap, SubarrayFortranOrder) {
  // 4x5 column-major: element (i,j) at (i + 4j); sub 2x3 at (1,1).
  TypeMap t = TypeMap::subarray({4, 5}, {2, 3}, {1, 1}, 1, kInt);
  EXPECT_EQ(blocks(t), (std::vector<std::pair<int64_t, int64_t>>{{20, 8}, {36, 8}, {52, 8}}));
  EXPECT_EQ(t.extent(), 80);
}

TEST(TypeMap, ResizedChangesOnlyBounds) {
  TypeMap col = TypeMap::hvector(3, 1, 32, kDouble);
  TypeMap r = TypeMap::resized(col, 0, 8);
  EXPECT_EQ(r.extent(), 8);
  EXPECT_EQ(r.true_extent(), 72);
  // Two consecutive elements interleave: columns 0 and 1 of a 3x4 matrix.
  double m[12];
  std::iota(m, m + 12, 0);
  double out[6];
  r.pack(m, 2, out);
  EXPECT_EQ(std::vector<double>(out, out + 6), (std::vector<double>{0, 4, 8, 1, 5, 9}));
}

TEST(TypeMap, NestedVectorOfStructs) {
  TypeMap pair = TypeMap::structure({1, 1}, {0, 8}, {&kDouble, &kInt});
  TypeMap v = TypeMap::hvector(2, 2, 64, pair);
  EXPECT_EQ(v.size, 2 * 2 * 12);
  EXPECT_EQ(v.nprims, 8);
  EXPECT_EQ(v.extent(), 64 + 2 * 16);  // pair's extent is padded to 16 (its double)
  EXPECT_EQ(v.blocks.size(), 4u);      // so a blocklen-2 run is two blocks
}

TEST(TypeMap, UnpackStopsAtReceivedBytes) {
  TypeMap t = TypeMap::hvector(4, 1, 8, kInt);
  int dst[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int src[4] = {1, 2, 3, 4};
  EXPECT_EQ(t.unpack(src, 8, 1, dst), 8u);
  EXPECT_EQ(dst[0], 1);
  EXPECT_EQ(dst[2], 2);
  EXPECT_EQ(dst[4], 0);
}

TEST(TypeMap, ZeroCountIsEmpty) {
  TypeMap t = TypeMap::contiguous(0, kInt);
  EXPECT_EQ(t.size, 0);
  EXPECT_EQ(t.extent(), 0);
  EXPECT_TRUE(t.blocks.empty());
}

TEST(TypeMap, PairTypeLayout) {
  TypeMap di = TypeMap::pair(7, 8, 8, 16, 8);  // MPI_DOUBLE_INT
  EXPECT_EQ(di.size, 12);
  EXPECT_EQ(di.extent(), 16);
  EXPECT_EQ(di.base, TypeMap::kMixed);
  TypeMap arr = TypeMap::contiguous(2, di);
  EXPECT_EQ(blocks(arr), (std::vector<std::pair<int64_t, int64_t>>{{0, 12}, {16, 12}}));
  // Inside a derived type a pair is two basic elements (double, int).
  EXPECT_EQ(arr.elements(24), 4);
  EXPECT_EQ(arr.elements(12), 2);
  EXPECT_EQ(arr.elements(8), 1);
  EXPECT_EQ(arr.elements(10), -1);
  TypeMap fi = TypeMap::pair(9, 4, 4, 8, 4);  // MPI_FLOAT_INT: dense, one block
  EXPECT_EQ(blocks(fi), (std::vector<std::pair<int64_t, int64_t>>{{0, 8}}));
  EXPECT_EQ(fi.base, 9u);
}

// MPI-3.1 4.1: the extent of a typemap without explicit bounds is padded
// up to the strictest alignment of its primitives.
TEST(TypeMap, StructAlignmentEpsilon) {
  EXPECT_EQ(TypeMap::structure({1, 1}, {0, 8}, {&kDouble, &kChar}).extent(), 16);
  EXPECT_EQ(TypeMap::structure({1, 1}, {0, 4}, {&kInt, &kChar}).extent(), 8);
  EXPECT_EQ(TypeMap::structure({1, 1}, {0, 1}, {&kChar, &kInt}).extent(), 8);
  TypeMap neg = TypeMap::structure({1, 1}, {-3, 0}, {&kChar, &kInt});
  EXPECT_EQ(neg.lb, -3);
  EXPECT_EQ(neg.extent(), 8);
  TypeMap dc = TypeMap::structure({1, 1}, {0, 8}, {&kDouble, &kChar});
  EXPECT_EQ(dc.align, 8);
  TypeMap outer = TypeMap::structure({1, 1}, {0, 1}, {&kChar, &dc});  // ub 17 -> 24
  EXPECT_EQ(outer.extent(), 24);
  EXPECT_EQ(TypeMap::contiguous(2, dc).extent(), 32);
  EXPECT_EQ(TypeMap::hvector(2, 1, 5, kInt).extent(), 12);  // any constructor pads
  // Arrays of the struct round-trip at the padded stride.
  struct S {
    double d;
    char c;
  } in[3] = {{1, 'a'}, {2, 'b'}, {3, 'c'}}, out[3] = {};
  char buf[27];
  EXPECT_EQ(dc.pack(in, 3, buf), 27u);
  dc.unpack(buf, 27, 3, out);
  EXPECT_EQ(out[2].d, 3);
  EXPECT_EQ(out[2].c, 'c');
}

TEST(TypeMap, ExplicitBoundsOverrideData) {
  TypeMap r5 = TypeMap::resized(kInt, 0, 5);
  TypeMap a = TypeMap::structure({1, 1}, {0, 5}, {&r5, &kChar});
  EXPECT_EQ(a.lb, 0);
  EXPECT_EQ(a.extent(), 5);  // the marker's ub, not the char's, no epsilon
  TypeMap b = TypeMap::structure({1, 1}, {0, 1}, {&kChar, &r5});
  EXPECT_EQ(b.lb, 1);
  EXPECT_EQ(b.extent(), 5);
  TypeMap ic = TypeMap::resized(TypeMap::structure({1, 1}, {0, 4}, {&kInt, &kChar}), 0, 5);
  EXPECT_EQ(TypeMap::contiguous(3, ic).extent(), 15);
}

TEST(TypeMap, ZeroSizeTypes) {
  TypeMap z = TypeMap::structure({0, 0}, {0, 8}, {&kDouble, &kChar});
  EXPECT_EQ(z.size, 0);
  EXPECT_EQ(z.extent(), 0);
  EXPECT_EQ(z.elements(0), 0);
  // A zero-count block adds neither data nor bounds.
  TypeMap c = TypeMap::structure({0, 1}, {0, 8}, {&kDouble, &kChar});
  EXPECT_EQ(c.lb, 8);
  EXPECT_EQ(c.extent(), 1);
  TypeMap v = TypeMap::hvector(3, 2, 8, z);
  EXPECT_EQ(v.size, 0);
  EXPECT_TRUE(v.blocks.empty());
}

TEST(TypeMap, PartialGetElements) {
  TypeMap dc = TypeMap::structure({1, 1}, {0, 8}, {&kDouble, &kChar});
  EXPECT_EQ(dc.elements(0), 0);
  EXPECT_EQ(dc.elements(8), 1);
  EXPECT_EQ(dc.elements(9), 2);
  EXPECT_EQ(dc.elements(17), 3);
  EXPECT_EQ(dc.elements(18), 4);
  EXPECT_EQ(dc.elements(4), -1);   // ends inside the double
  EXPECT_EQ(dc.elements(16), -1);  // inside the second double
  EXPECT_EQ(dc.bytes_of_elements(3), 17);
  TypeMap v = TypeMap::hvector(5, 1, 16, kInt);
  EXPECT_EQ(v.elements(12), 3);
  EXPECT_EQ(v.bytes_of_elements(7), 28);
}

TEST(TypeMap, DarrayBlockAndCyclic) {
  // 10 ints over 3 processes: BLOCK gives blocks of 4 (rank 2: 8..9).
  TypeMap b = TypeMap::darray(2, {10}, {0}, {0}, {3}, 0, kInt);
  EXPECT_EQ(blocks(b), (std::vector<std::pair<int64_t, int64_t>>{{32, 8}}));
  EXPECT_EQ(b.extent(), 40);
  // CYCLIC(2): rank 1 owns 2,3 and 8,9.
  TypeMap c = TypeMap::darray(1, {10}, {1}, {2}, {3}, 0, kInt);
  EXPECT_EQ(blocks(c), (std::vector<std::pair<int64_t, int64_t>>{{8, 8}, {32, 8}}));
  // 4x6, 2x2 grid, C order, BLOCK x CYCLIC(1); rank 3 = coords (1, 1):
  // rows 2,3 and columns 1,3,5.
  TypeMap m = TypeMap::darray(3, {4, 6}, {0, 1}, {0, 1}, {2, 2}, 0, kInt);
  std::vector<std::pair<int64_t, int64_t>> want;
  for (int r = 2; r < 4; ++r)
    for (int col = 1; col < 6; col += 2) want.push_back({(r * 6 + col) * 4, 4});
  EXPECT_EQ(blocks(m), want);
  EXPECT_EQ(m.extent(), 96);
  // A process past the last block owns nothing.
  TypeMap e = TypeMap::darray(2, {5}, {0}, {0}, {3}, 0, kInt);  // blocks of 2: 4..4
  EXPECT_EQ(e.size, 4);
  TypeMap none = TypeMap::darray(2, {4}, {0}, {0}, {3}, 0, kInt);  // 4..3: empty
  EXPECT_EQ(none.size, 0);
  EXPECT_EQ(none.extent(), 16);
}

TEST(TypeMap, External32IsBigEndianPerWord) {
  TypeMap ic = TypeMap::structure({1, 1}, {0, 4}, {&kInt, &kChar});
  char n[5] = {1, 2, 3, 4, 9}, x[5], back[5];
  EXPECT_EQ(ic.external_size(), 5);
  ic.to_external(n, 1, x);
  EXPECT_EQ(std::vector<int>(x, x + 5), (std::vector<int>{4, 3, 2, 1, 9}));
  ic.from_external(x, 1, back);
  EXPECT_EQ(std::memcmp(back, n, 5), 0);
  TypeMap cplx = TypeMap::primitive(5, 8, 8);
  cplx.prims[0].word = cplx.prims[0].xword = 4;  // a float complex: two floats
  char c[8] = {1, 2, 3, 4, 5, 6, 7, 8}, cx[8];
  cplx.to_external(c, 1, cx);
  EXPECT_EQ(std::vector<int>(cx, cx + 8), (std::vector<int>{4, 3, 2, 1, 8, 7, 6, 5}));
  // A long: 8 bytes here, 4 in external32, sign-extended back.
  TypeMap lng = TypeMap::primitive(6, 8, 8);
  lng.prims[0].xword = 4;
  lng.prims[0].sign = true;
  TypeMap two = TypeMap::contiguous(2, lng);
  EXPECT_EQ(two.external_size(), 8);
  int64_t v[2] = {-3, 0x01020304}, w[2] = {0, 0};
  char lx[8];
  two.to_external(reinterpret_cast<char*>(v), 1, lx);
  EXPECT_EQ(std::vector<int>(lx, lx + 8), (std::vector<int>{-1, -1, -1, -3, 1, 2, 3, 4}));
  two.from_external(lx, 1, reinterpret_cast<char*>(w));
  EXPECT_EQ(w[0], -3);
  EXPECT_EQ(w[1], 0x01020304);
}

}  // namespace

// A type the engine would flatten into more than max_blocks blocks (or
// primitive runs) is refused -- the API turns it into a loud error --
// instead of eating memory and time; up to the limit it is built.
TEST(TypeMap, RefusesMoreBlocksThanItKeeps) {
  const size_t saved = TypeMap::max_blocks;
  TypeMap::max_blocks = 1000;
  EXPECT_THROW(TypeMap::hvector(1001, 1, 8, kInt), std::length_error);
  TypeMap ok = TypeMap::hvector(1000, 1, 8, kInt);
  EXPECT_EQ(ok.blocks.size(), 1000u);
  EXPECT_EQ(ok.size, 4000);
  TypeMap s = TypeMap::structure({1, 1}, {0, 8}, {&kInt, &kDouble});  // two runs
  EXPECT_THROW(TypeMap::contiguous(501, s), std::length_error);
  TypeMap::max_blocks = saved;
}

// A long double (x87 extended in 16 bytes here) is an IEEE binary128 in
// external32 (MPI-3.1 13.5.2): 1.5 is 3fff 8000 0...0, -2 is c000 0...0;
// values, infinities and the smallest denormal come back unchanged.
TEST(TypeMap, External32LongDoubleIsBinary128) {
  TypeMap ld = TypeMap::primitive(7, 16, 16);
  ld.prims[0].x87 = true;
  long double v[5] = {1.5L, -2.0L, -3.25e10L, __builtin_infl(), __LDBL_DENORM_MIN__};
  unsigned char x[80];
  TypeMap five = TypeMap::contiguous(5, ld);
  EXPECT_EQ(five.external_size(), 80);
  five.to_external(reinterpret_cast<const char*>(v), 1, reinterpret_cast<char*>(x));
  const unsigned char one_half[16] = {0x3f, 0xff, 0x80};
  const unsigned char minus_two[16] = {0xc0, 0x00};
  EXPECT_EQ(std::memcmp(x, one_half, 16), 0);
  EXPECT_EQ(std::memcmp(x + 16, minus_two, 16), 0);
  EXPECT_EQ(x[64], 0);         // denormal: exponent 0 ...
  EXPECT_EQ(x[64 + 9], 0x02);  // ... and fraction bit 49: 2^49 * 2^-16494 = 2^-16445
  long double back[5] = {0, 0, 0, 0, 0};
  five.from_external(reinterpret_cast<const char*>(x), 1, reinterpret_cast<char*>(back));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(back[i], v[i]) << i;
}
