/* Struct datatypes honour alignment padding (MPI-3.1 4.1: the extent of a
 * typemap is padded up to the alignment of its most strictly aligned basic
 * member, so it matches sizeof of the C struct): arrays of structs travel
 * intact through point-to-point, broadcast and pack/unpack. Also the size
 * and extent of the predefined pair types, and structs made of them. */
#include <stddef.h>
#include <string.h>

#include "check.h"

struct dc {
  double d;
  char c;
};
struct ic {
  int i;
  char c;
};
struct nested {
  char tag;
  struct dc inner;
};

static MPI_Datatype make2(MPI_Datatype a, MPI_Aint da, MPI_Datatype b, MPI_Aint db) {
  int bl[2] = {1, 1};
  MPI_Aint d[2] = {da, db};
  MPI_Datatype ts[2] = {a, b}, t;
  MPI_Type_create_struct(2, bl, d, ts, &t);
  MPI_Type_commit(&t);
  return t;
}

static void bounds(const char* what, MPI_Datatype t) {
  int size;
  MPI_Aint lb, ext, tlb, text;
  MPI_Type_size(t, &size);
  MPI_Type_get_extent(t, &lb, &ext);
  MPI_Type_get_true_extent(t, &tlb, &text);
  printf("%s: size %d lb %ld extent %ld true lb %ld true extent %ld\n", what, size, (long)lb,
         (long)ext, (long)tlb, (long)text);
}

int main(int argc, char** argv) {
  int rank, size;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int right = (rank + 1) % size, left = (rank + size - 1) % size;
  MPI_Aint lb, ext;

  MPI_Datatype tdc = make2(MPI_DOUBLE, offsetof(struct dc, d), MPI_CHAR, offsetof(struct dc, c));
  MPI_Datatype tic = make2(MPI_INT, offsetof(struct ic, i), MPI_CHAR, offsetof(struct ic, c));
  MPI_Type_get_extent(tdc, &lb, &ext);
  CHECK(ext == sizeof(struct dc), "{double,char} extent is sizeof");
  MPI_Type_get_extent(tic, &lb, &ext);
  CHECK(ext == sizeof(struct ic), "{int,char} extent is sizeof");
  MPI_Datatype tn =
      make2(MPI_CHAR, offsetof(struct nested, tag), tdc, offsetof(struct nested, inner));
  MPI_Type_get_extent(tn, &lb, &ext);
  CHECK(ext == sizeof(struct nested), "nested struct extent is sizeof");

  /* Arrays of structs around a ring. */
  enum { N = 7 };
  struct dc a[N], b[N];
  struct ic x[N], y[N];
  struct nested p[N], q[N];
  for (int i = 0; i < N; ++i) {
    a[i].d = rank * 100 + i + 0.5, a[i].c = (char)('a' + i + rank);
    x[i].i = rank * 1000 + i, x[i].c = (char)('A' + i);
    p[i].tag = (char)('0' + i), p[i].inner.d = -i - rank, p[i].inner.c = (char)('k' + rank);
  }
  memset(b, 0, sizeof b), memset(y, 0, sizeof y), memset(q, 0, sizeof q);
  MPI_Sendrecv(a, N, tdc, right, 1, b, N, tdc, left, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  MPI_Sendrecv(x, N, tic, right, 2, y, N, tic, left, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  MPI_Sendrecv(p, N, tn, right, 3, q, N, tn, left, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  for (int i = 0; i < N; ++i) {
    CHECK(b[i].d == left * 100 + i + 0.5 && b[i].c == 'a' + i + left, "{double,char} array");
    CHECK(y[i].i == left * 1000 + i && y[i].c == 'A' + i, "{int,char} array");
    CHECK(q[i].tag == '0' + i && q[i].inner.d == -i - left && q[i].inner.c == 'k' + left,
          "nested struct array");
  }

  /* Nonblocking, and a broadcast of an array of structs. */
  MPI_Request r[2];
  memset(y, 0, sizeof y);
  MPI_Irecv(y, N, tic, left, 4, MPI_COMM_WORLD, &r[0]);
  MPI_Isend(x, N, tic, right, 4, MPI_COMM_WORLD, &r[1]);
  MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
  for (int i = 0; i < N; ++i) CHECK(y[i].i == left * 1000 + i && y[i].c == 'A' + i, "isend/irecv");
  MPI_Bcast(a, N, tdc, size - 1, MPI_COMM_WORLD);
  for (int i = 0; i < N; ++i) CHECK(a[i].d == (size - 1) * 100 + i + 0.5, "bcast of structs");

  /* Pack and unpack an array of structs: packed size is count * size. */
  int psize, pos = 0;
  MPI_Pack_size(N, tdc, MPI_COMM_WORLD, &psize);
  CHECK(psize >= N * 9, "pack size");
  char buf[256];
  MPI_Pack(b, N, tdc, buf, sizeof buf, &pos, MPI_COMM_WORLD);
  CHECK(pos == N * 9, "packed bytes");
  struct dc back[N];
  memset(back, 0, sizeof back);
  int upos = 0;
  MPI_Unpack(buf, pos, &upos, back, N, tdc, MPI_COMM_WORLD);
  CHECK(upos == pos, "unpacked bytes");
  for (int i = 0; i < N; ++i) CHECK(back[i].d == b[i].d && back[i].c == b[i].c, "unpack structs");
  /* Packed data of structs sent as MPI_PACKED and unpacked at the receiver. */
  char rbuf[256];
  MPI_Sendrecv(buf, pos, MPI_PACKED, right, 5, rbuf, sizeof rbuf, MPI_PACKED, left, 5,
               MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  upos = 0;
  MPI_Unpack(rbuf, pos, &upos, back, N, tdc, MPI_COMM_WORLD);
  int l2 = (left + size - 1) % size;
  for (int i = 0; i < N; ++i) CHECK(back[i].d == l2 * 100 + i + 0.5, "packed struct exchange");

  /* Pair types, and structs built of them. */
  if (rank == 0) {
    bounds("FLOAT_INT", MPI_FLOAT_INT);
    bounds("DOUBLE_INT", MPI_DOUBLE_INT);
    bounds("LONG_INT", MPI_LONG_INT);
    bounds("SHORT_INT", MPI_SHORT_INT);
    bounds("2INT", MPI_2INT);
    bounds("LONG_DOUBLE_INT", MPI_LONG_DOUBLE_INT);
    bounds("{double,char}", tdc);
    bounds("{int,char}", tic);
    bounds("{char,{double,char}}", tn);
    bounds("{DOUBLE_INT,char}", make2(MPI_DOUBLE_INT, 0, MPI_CHAR, 16));
    bounds("{SHORT_INT,char}", make2(MPI_SHORT_INT, 0, MPI_CHAR, 8));
    bounds("{char,LONG_DOUBLE_INT}", make2(MPI_CHAR, 0, MPI_LONG_DOUBLE_INT, 16));
    bounds("{char,short}", make2(MPI_CHAR, 0, MPI_SHORT, 2));
    bounds("{char@-3,int}", make2(MPI_CHAR, -3, MPI_INT, 0));
    bounds("{c_double_complex,char}", make2(MPI_C_DOUBLE_COMPLEX, 0, MPI_CHAR, 16));
    MPI_Datatype v;
    MPI_Type_create_hvector(2, 1, 5, MPI_INT, &v);
    bounds("hvector(2,1,5,int)", v);
    MPI_Datatype r5;
    MPI_Type_create_resized(MPI_INT, 0, 5, &r5);
    bounds("{resized(int,0,5),char@5}", make2(r5, 0, MPI_CHAR, 5));
    bounds("{char,resized(int,0,5)@1}", make2(MPI_CHAR, 0, r5, 1));
  }
  struct {
    double v;
    int i;
  } di[3], dj[3];
  for (int i = 0; i < 3; ++i) di[i].v = rank + i * 0.25, di[i].i = rank * 10 + i;
  memset(dj, 0, sizeof dj);
  MPI_Sendrecv(di, 3, MPI_DOUBLE_INT, right, 6, dj, 3, MPI_DOUBLE_INT, left, 6, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
  for (int i = 0; i < 3; ++i)
    CHECK(dj[i].v == left + i * 0.25 && dj[i].i == left * 10 + i, "DOUBLE_INT array");
  printf("rank %d: structs ok\n", rank);
  MPI_Finalize();
  return 0;
}
