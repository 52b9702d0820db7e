// MPI family: C <-> Fortran handle conversion (MPI_Xxx_c2f / MPI_Xxx_f2c),
// for C libraries that store handles as integers. A process-wide table per
// handle kind gives every handle it sees a stable index; MPI_COMM_WORLD,
// MPI_COMM_SELF and MPI_COMM_NULL get Open MPI's Fortran values 0, 1, 2, and
// every *_NULL handle is 0 for the other kinds. (There are no Fortran
// bindings; see docs/status-mpi.md.)
#include <cstring>
#include <unordered_map>
#include <vector>

#include "api.h"

namespace {

struct Table {
  std::vector<void*> handles;
  std::unordered_map<void*, MPI_Fint> index;
  explicit Table(std::initializer_list<void*> seed) {
    for (void* h : seed) c2f(h);
  }
  MPI_Fint c2f(void* h) {
    auto it = index.find(h);
    if (it != index.end()) return it->second;
    MPI_Fint i = static_cast<MPI_Fint>(handles.size());
    handles.push_back(h);
    index[h] = i;
    return i;
  }
  void* f2c(MPI_Fint i, void* null) const {
    return i >= 0 && static_cast<size_t>(i) < handles.size() ? handles[i] : null;
  }
};

template <class H>
Table& table(H null) {
  static Table t{static_cast<void*>(null)};
  return t;
}

Table& comm_table() {
  static Table t{static_cast<void*>(MPI_COMM_WORLD), static_cast<void*>(MPI_COMM_SELF),
                 static_cast<void*>(MPI_COMM_NULL)};
  return t;
}

}  // namespace

#define CONVERT(Kind, Type, Null, Tab)                              \
  CRMPI_API MPI_Fint PMPI_##Kind##_c2f(Type h) {                    \
    crmpi::Lock l;                                                  \
    return Tab.c2f(static_cast<void*>(h));                          \
  }                                                                 \
  CRMPI_API Type PMPI_##Kind##_f2c(MPI_Fint i) {                    \
    crmpi::Lock l;                                                  \
    return static_cast<Type>(Tab.f2c(i, static_cast<void*>(Null))); \
  }
CONVERT(Comm, MPI_Comm, MPI_COMM_NULL, comm_table())
CONVERT(Type, MPI_Datatype, MPI_DATATYPE_NULL, table(MPI_DATATYPE_NULL))
CONVERT(Group, MPI_Group, MPI_GROUP_NULL, table(MPI_GROUP_NULL))
CONVERT(Request, MPI_Request, MPI_REQUEST_NULL, table(MPI_REQUEST_NULL))
CONVERT(Op, MPI_Op, MPI_OP_NULL, table(MPI_OP_NULL))
CONVERT(Info, MPI_Info, MPI_INFO_NULL, table(MPI_INFO_NULL))
CONVERT(Errhandler, MPI_Errhandler, MPI_ERRHANDLER_NULL, table(MPI_ERRHANDLER_NULL))
CONVERT(Win, MPI_Win, MPI_WIN_NULL, table(MPI_WIN_NULL))
CONVERT(File, MPI_File, MPI_FILE_NULL, table(MPI_FILE_NULL))
CONVERT(Message, MPI_Message, MPI_MESSAGE_NULL, table(MPI_MESSAGE_NULL))

// Fortran status: MPI_SOURCE, MPI_TAG, MPI_ERROR, then the internal fields.
CRMPI_API int PMPI_Status_c2f(const MPI_Status* c, MPI_Fint* f) {
  static_assert(sizeof(MPI_Status) == 6 * sizeof(MPI_Fint), "Open MPI status layout");
  memcpy(f, c, sizeof(MPI_Status));
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Status_f2c(const MPI_Fint* f, MPI_Status* c) {
  memcpy(c, f, sizeof(MPI_Status));
  return MPI_SUCCESS;
}
