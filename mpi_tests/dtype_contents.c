/* MPI_Type_get_envelope / MPI_Type_get_contents on nested types (MPI-3.1
 * 4.1.13): the types returned are the very types the constructor was given,
 * with their own envelopes and contents, also after the app freed them;
 * the handles returned for derived types are freed by the caller. And a
 * type freed while operations using it are pending: they complete with it
 * (MPI-3.1 4.1.9). */
#include <stdlib.h>

#include "check.h"

static const char* combiner(int c) {
  switch (c) {
    case MPI_COMBINER_NAMED:
      return "named";
    case MPI_COMBINER_DUP:
      return "dup";
    case MPI_COMBINER_CONTIGUOUS:
      return "contiguous";
    case MPI_COMBINER_VECTOR:
      return "vector";
    case MPI_COMBINER_HVECTOR:
      return "hvector";
    case MPI_COMBINER_INDEXED:
      return "indexed";
    case MPI_COMBINER_HINDEXED:
      return "hindexed";
    case MPI_COMBINER_INDEXED_BLOCK:
      return "indexed_block";
    case MPI_COMBINER_HINDEXED_BLOCK:
      return "hindexed_block";
    case MPI_COMBINER_STRUCT:
      return "struct";
    case MPI_COMBINER_SUBARRAY:
      return "subarray";
    case MPI_COMBINER_DARRAY:
      return "darray";
    case MPI_COMBINER_RESIZED:
      return "resized";
    default:
      return "other";
  }
}

static const char* named(MPI_Datatype t) {
  if (t == MPI_INT) return "MPI_INT";
  if (t == MPI_DOUBLE) return "MPI_DOUBLE";
  if (t == MPI_CHAR) return "MPI_CHAR";
  return "?";
}

/* Print the constructor tree of t, freeing every derived handle returned. */
static void walk(MPI_Datatype t, int depth) {
  int ni, na, nt, comb;
  MPI_Type_get_envelope(t, &ni, &na, &nt, &comb);
  printf("%*s%s ints %d aints %d types %d", 2 * depth, "", combiner(comb), ni, na, nt);
  if (comb == MPI_COMBINER_NAMED) {
    printf(" %s\n", named(t));
    return;
  }
  int* ints = malloc((ni + 1) * sizeof(int));
  MPI_Aint* aints = malloc((na + 1) * sizeof(MPI_Aint));
  MPI_Datatype* types = malloc((nt + 1) * sizeof(MPI_Datatype));
  MPI_Type_get_contents(t, ni, na, nt, ints, aints, types);
  printf(" [");
  for (int i = 0; i < ni; ++i) printf(" %d", ints[i]);
  printf(" ] [");
  for (int i = 0; i < na; ++i) printf(" %ld", (long)aints[i]);
  printf(" ]\n");
  for (int i = 0; i < nt; ++i) {
    walk(types[i], depth + 1);
    int a, b, c, k;
    MPI_Type_get_envelope(types[i], &a, &b, &c, &k);
    if (k != MPI_COMBINER_NAMED) MPI_Type_free(&types[i]);
  }
  free(ints), free(aints), free(types);
}

int main(int argc, char** argv) {
  int rank;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Datatype v1, vv, iv, sv, res, sub, top;
  MPI_Type_vector(3, 2, 4, MPI_INT, &v1);
  MPI_Type_vector(2, 1, 5, v1, &vv); /* vector of vectors */
  int bl[3] = {1, 2, 1}, disp[3] = {0, 3, 9};
  MPI_Type_indexed(3, bl, disp, v1, &iv); /* indexed of vectors */
  MPI_Datatype hv;
  MPI_Type_create_hvector(2, 1, 100, MPI_DOUBLE, &hv);
  int sbl[3] = {1, 2, 3};
  MPI_Aint sd[3] = {0, 16, 200};
  MPI_Datatype st[3] = {hv, MPI_CHAR, vv};
  MPI_Type_create_struct(3, sbl, sd, st, &sv); /* struct of hvector, char, vector of vectors */
  int sizes[2] = {6, 8}, subs[2] = {2, 3}, starts[2] = {1, 2};
  MPI_Type_create_subarray(2, sizes, subs, starts, MPI_ORDER_C, iv, &sub);
  MPI_Type_create_resized(sub, 8, 20000, &res); /* copies must not overlap */
  MPI_Type_contiguous(2, res, &top);
  /* The app frees the parts; the whole must still describe them. */
  MPI_Type_free(&v1);
  MPI_Type_free(&hv);
  MPI_Type_free(&vv);
  MPI_Type_free(&iv);
  MPI_Type_free(&sub);
  MPI_Type_free(&res);
  MPI_Type_commit(&top);
  MPI_Type_commit(&sv);
  if (rank == 0) {
    walk(sv, 0);
    walk(top, 0);
  }
  /* A type rebuilt from its contents has the same layout. */
  int ni, na, nt, comb, ints[8];
  MPI_Aint aints[4];
  MPI_Datatype types[4], again;
  MPI_Type_get_envelope(top, &ni, &na, &nt, &comb);
  CHECK(comb == MPI_COMBINER_CONTIGUOUS && ni == 1 && nt == 1, "contiguous envelope");
  MPI_Type_get_contents(top, ni, na, nt, ints, aints, types);
  MPI_Type_contiguous(ints[0], types[0], &again);
  MPI_Type_free(&types[0]);
  MPI_Type_commit(&again);
  MPI_Aint lb1, e1, lb2, e2;
  int s1, s2;
  MPI_Type_get_extent(top, &lb1, &e1);
  MPI_Type_get_extent(again, &lb2, &e2);
  MPI_Type_size(top, &s1);
  MPI_Type_size(again, &s2);
  CHECK(lb1 == lb2 && e1 == e2 && s1 == s2, "rebuilt type has the same layout");
  /* And it moves the same data. */
  MPI_Aint tlb, text;
  MPI_Type_get_true_extent(top, &tlb, &text);
  int n = (int)((tlb + text) / sizeof(int)) + 16;
  int* a = malloc(n * sizeof(int));
  int* b = malloc(n * sizeof(int));
  for (int i = 0; i < n; ++i) a[i] = i + rank, b[i] = -1;
  MPI_Sendrecv(a, 1, top, rank, 0, b, 1, again, rank, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  long sum = 0, cnt = 0;
  for (int i = 0; i < n; ++i)
    if (b[i] != -1) {
      CHECK(b[i] == a[i], "moved data");
      sum += b[i], ++cnt;
    }
  printf("rank %d: moved %ld ints, sum %ld\n", rank, cnt, sum - cnt * rank);
  /* Free the types of a pending receive and a pending send, then reuse
   * the memory with other types before they complete. */
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int right = (rank + 1) % size, left = (rank + size - 1) % size;
  MPI_Datatype rv, sv2, other[8];
  MPI_Type_vector(127, 1, 3, MPI_INT, &rv);
  MPI_Type_create_resized(rv, 0, 4, &sv2);
  MPI_Type_commit(&rv);
  MPI_Type_commit(&sv2);
  int src[3 * 127], dst[3 * 127];
  for (int i = 0; i < 3 * 127; ++i) src[i] = rank * 1000 + i, dst[i] = -1;
  MPI_Request q[2];
  MPI_Irecv(dst, 1, rv, left, 9, MPI_COMM_WORLD, &q[0]);
  MPI_Type_free(&rv);
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Isend(src, 1, sv2, right, 9, MPI_COMM_WORLD, &q[1]);
  MPI_Type_free(&sv2);
  for (int i = 0; i < 8; ++i) MPI_Type_vector(2, 2, 7 + i, MPI_CHAR, &other[i]);
  MPI_Waitall(2, q, MPI_STATUSES_IGNORE);
  int wrong = 0;
  for (int i = 0; i < 3 * 127; ++i) wrong += dst[i] != (i % 3 ? -1 : left * 1000 + i);
  printf("rank %d: freed types while pending: %d wrong\n", rank, wrong);
  for (int i = 0; i < 8; ++i) MPI_Type_free(&other[i]);
  MPI_Type_free(&again);
  MPI_Type_free(&top);
  MPI_Type_free(&sv);
  free(a), free(b);
  MPI_Finalize();
  return 0;
}
