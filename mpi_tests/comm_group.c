/* Communicators and groups: dup, split, split_type, create, create_group,
 * free, compare, names, attributes/keyvals, groups. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int copies, deletes;
static int copy_fn(MPI_Comm c, int k, void* extra, void* in, void* out, int* flag) {
  (void)c, (void)k, (void)extra;
  copies++;
  *(void**)out = in;
  *flag = 1;
  return MPI_SUCCESS;
}
static int delete_fn(MPI_Comm c, int k, void* v, void* extra) {
  (void)c, (void)k, (void)v, (void)extra;
  deletes++;
  return MPI_SUCCESS;
}

int main(int argc, char** argv) {
  int rank, size, r, s, res;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  MPI_Comm dup, split, node, created, cg;
  MPI_Comm_dup(MPI_COMM_WORLD, &dup);
  MPI_Comm_compare(dup, MPI_COMM_WORLD, &res);
  CHECK(res == MPI_CONGRUENT, "dup congruent");
  MPI_Comm_compare(dup, dup, &res);
  CHECK(res == MPI_IDENT, "ident");
  int sum = 0, one = 1;
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, dup);
  CHECK(sum == size, "allreduce on dup");

  MPI_Comm_split(MPI_COMM_WORLD, rank % 2, -rank, &split);
  MPI_Comm_rank(split, &r);
  MPI_Comm_size(split, &s);
  CHECK(s == (size + 1 - rank % 2) / 2, "split size");
  int ranks_sum = 0;
  MPI_Allreduce(&rank, &ranks_sum, 1, MPI_INT, MPI_SUM, split);
  printf("rank %d: split color %d rank %d size %d sum %d\n", rank, rank % 2, r, s, ranks_sum);
  MPI_Comm_compare(split, MPI_COMM_WORLD, &res);
  CHECK(size == 1 || res == MPI_UNEQUAL, "split unequal");

  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &s);
  CHECK(s == size, "split_type shared (one host)");

  MPI_Comm undef;
  MPI_Comm_split(MPI_COMM_WORLD, rank == 0 ? 0 : MPI_UNDEFINED, 0, &undef);
  CHECK((rank == 0) == (undef != MPI_COMM_NULL), "split undefined");
  if (undef != MPI_COMM_NULL) MPI_Comm_free(&undef);

  /* Groups. */
  MPI_Group world, evens, odds, uni, inter, diff, rng;
  MPI_Comm_group(MPI_COMM_WORLD, &world);
  int n_even = (size + 1) / 2;
  int* ev = malloc(n_even * sizeof(int));
  for (int i = 0; i < n_even; ++i) ev[i] = 2 * i;
  MPI_Group_incl(world, n_even, ev, &evens);
  MPI_Group_excl(world, n_even, ev, &odds);
  MPI_Group_union(odds, evens, &uni);
  MPI_Group_size(uni, &s);
  CHECK(s == size, "union size");
  MPI_Group_compare(uni, world, &res);
  CHECK(res == (size > 2 ? MPI_SIMILAR : (size == 2 ? MPI_SIMILAR : MPI_IDENT)) || res == MPI_IDENT,
        "union similar");
  MPI_Group_intersection(evens, world, &inter);
  MPI_Group_compare(inter, evens, &res);
  CHECK(res == MPI_IDENT, "intersection");
  MPI_Group_difference(world, evens, &diff);
  MPI_Group_compare(diff, odds, &res);
  CHECK(res == MPI_IDENT, "difference");
  int range[1][3] = {{0, size - 1, 2}};
  MPI_Group_range_incl(world, 1, range, &rng);
  MPI_Group_compare(rng, evens, &res);
  CHECK(res == MPI_IDENT, "range_incl");
  int gr;
  MPI_Group_rank(evens, &gr);
  CHECK(rank % 2 ? gr == MPI_UNDEFINED : gr == rank / 2, "group rank");
  int tr[1] = {0}, out[1];
  MPI_Group_translate_ranks(odds, size > 1 ? 1 : 0, tr, world, out);
  if (size > 1) CHECK(out[0] == 1, "translate");

  MPI_Comm_create(MPI_COMM_WORLD, evens, &created);
  CHECK((rank % 2 == 0) == (created != MPI_COMM_NULL), "create membership");
  if (created != MPI_COMM_NULL) {
    MPI_Comm_size(created, &s);
    CHECK(s == n_even, "create size");
    int b = rank == 0 ? 99 : 0;
    MPI_Bcast(&b, 1, MPI_INT, 0, created);
    CHECK(b == 99, "bcast on created");
    MPI_Comm_free(&created);
  }
  if (rank % 2 == 0) {
    MPI_Comm_create_group(MPI_COMM_WORLD, evens, 5, &cg);
    MPI_Comm_size(cg, &s);
    CHECK(s == n_even, "create_group size");
    MPI_Barrier(cg);
    MPI_Comm_free(&cg);
  }

  /* Handle conversion to Fortran integers and back. */
  CHECK(MPI_Comm_f2c(MPI_Comm_c2f(MPI_COMM_WORLD)) == MPI_COMM_WORLD, "c2f world");
  CHECK(MPI_Comm_c2f(MPI_COMM_WORLD) == 0, "world is 0 in Fortran");
  CHECK(MPI_Comm_f2c(MPI_Comm_c2f(split)) == split, "c2f split");
  CHECK(MPI_Type_f2c(MPI_Type_c2f(MPI_DOUBLE)) == MPI_DOUBLE, "c2f type");

  /* Names. */
  char name[MPI_MAX_OBJECT_NAME];
  int len;
  MPI_Comm_get_name(MPI_COMM_WORLD, name, &len);
  CHECK(strcmp(name, "MPI_COMM_WORLD") == 0, "world name");
  MPI_Comm_set_name(dup, "my dup");
  MPI_Comm_get_name(dup, name, &len);
  CHECK(strcmp(name, "my dup") == 0 && len == 6, "set name");

  /* Attributes. */
  int key, flag, *tag_ub;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &tag_ub, &flag);
  CHECK(flag && *tag_ub >= 32767, "tag_ub");
  MPI_Comm_create_keyval(copy_fn, delete_fn, &key, NULL);
  static int value = 1234;
  MPI_Comm_set_attr(dup, key, &value);
  MPI_Comm dup2;
  MPI_Comm_dup(dup, &dup2);
  int* got;
  MPI_Comm_get_attr(dup2, key, &got, &flag);
  CHECK(flag && got == &value && copies == 1, "attr copied on dup");
  MPI_Comm_delete_attr(dup2, key);
  CHECK(deletes == 1, "attr delete");
  MPI_Comm_get_attr(dup2, key, &got, &flag);
  CHECK(!flag, "attr gone");
  MPI_Comm_free(&dup2);
  MPI_Comm_free(&dup);
  CHECK(deletes == 2, "attr deleted on free");
  MPI_Comm_free_keyval(&key);
  CHECK(dup == MPI_COMM_NULL, "free sets null");

  MPI_Group_free(&world), MPI_Group_free(&evens), MPI_Group_free(&odds), MPI_Group_free(&uni);
  MPI_Group_free(&inter), MPI_Group_free(&diff), MPI_Group_free(&rng);
  MPI_Comm_free(&split);
  MPI_Comm_free(&node);
  free(ev);
  printf("rank %d: communicators and groups ok\n", rank);
  MPI_Finalize();
  return 0;
}
