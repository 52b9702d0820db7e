// MPI family: deprecated and removed MPI-1/MPI-2 names that old binaries (and
// Open MPI 4.1's libmpi, for ABI compatibility) still carry, mapped onto
// their modern equivalents; plus MPI_Alloc_mem/MPI_Free_mem.
#include <cstdlib>

#include "api.h"

CRMPI_API int PMPI_Address(void* p, MPI_Aint* a) {
  return PMPI_Get_address(p, a);
}

CRMPI_API int PMPI_Type_extent(MPI_Datatype t, MPI_Aint* ext) {
  MPI_Aint lb;
  return PMPI_Type_get_extent(t, &lb, ext);
}

CRMPI_API int PMPI_Type_lb(MPI_Datatype t, MPI_Aint* lb) {
  MPI_Aint ext;
  return PMPI_Type_get_extent(t, lb, &ext);
}

CRMPI_API int PMPI_Type_ub(MPI_Datatype t, MPI_Aint* ub) {
  MPI_Aint lb, ext;
  int rc = PMPI_Type_get_extent(t, &lb, &ext);
  *ub = lb + ext;
  return rc;
}

CRMPI_API int PMPI_Type_hvector(int n, int bl, MPI_Aint stride, MPI_Datatype t, MPI_Datatype* out) {
  return PMPI_Type_create_hvector(n, bl, stride, t, out);
}

CRMPI_API int PMPI_Type_hindexed(int n, int* bl, MPI_Aint* d, MPI_Datatype t, MPI_Datatype* out) {
  return PMPI_Type_create_hindexed(n, bl, d, t, out);
}

CRMPI_API int PMPI_Type_struct(int n, int* bl, MPI_Aint* d, MPI_Datatype* ts, MPI_Datatype* out) {
  return PMPI_Type_create_struct(n, bl, d, ts, out);
}

CRMPI_API int PMPI_Errhandler_create(MPI_Handler_function* fn, MPI_Errhandler* e) {
  return PMPI_Comm_create_errhandler(fn, e);
}

CRMPI_API int PMPI_Errhandler_set(MPI_Comm c, MPI_Errhandler e) {
  return PMPI_Comm_set_errhandler(c, e);
}

CRMPI_API int PMPI_Errhandler_get(MPI_Comm c, MPI_Errhandler* e) {
  return PMPI_Comm_get_errhandler(c, e);
}

CRMPI_API int PMPI_Keyval_create(MPI_Copy_function* copy, MPI_Delete_function* del, int* key,
                                 void* extra) {
  return PMPI_Comm_create_keyval(copy, del, key, extra);
}

CRMPI_API int PMPI_Keyval_free(int* key) {
  return PMPI_Comm_free_keyval(key);
}

CRMPI_API int PMPI_Alloc_mem(MPI_Aint size, MPI_Info, void* base) {
  void* p = malloc(size > 0 ? static_cast<size_t>(size) : 1);
  if (!p) return crmpi::check_world(MPI_ERR_NO_MEM, CRMPI_NAME);
  *static_cast<void**>(base) = p;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Free_mem(void* base) {
  free(base);
  return MPI_SUCCESS;
}

// MPI-3.1 10.3.2: a process not started by MPI_Comm_spawn has no parent.
// (crmpirun starts every rank; spawning is not supported.)
CRMPI_API int PMPI_Comm_get_parent(MPI_Comm* parent) {
  *parent = MPI_COMM_NULL;
  return MPI_SUCCESS;
}
