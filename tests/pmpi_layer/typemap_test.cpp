// Unit tests of the typemap engine (pmpi_layer/src/typemap.*): flattening of
// every constructor, bounds, merging, pack/unpack round trips.
#include "typemap.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
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
  EXPECT_EQ(t.extent(), 13);  // no implicit padding: MPI needs resized for that
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
  EXPECT_EQ(v.blocks.size(), 2u);  // pair is dense (extent 12): each blocklen-2 run merges
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

TEST(TypeMap, PairTypeLayoutFromBlocks) {
  TypeMap di = TypeMap::from_blocks({{0, 8}, {8, 4}}, 16, 2);
  EXPECT_EQ(di.size, 12);
  EXPECT_EQ(di.extent(), 16);
  TypeMap arr = TypeMap::contiguous(2, di);
  EXPECT_EQ(blocks(arr), (std::vector<std::pair<int64_t, int64_t>>{{0, 12}, {16, 12}}));
}

}  // namespace
