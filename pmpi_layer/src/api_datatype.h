// Shared by the derived datatype files (api_datatype.cpp, api_datatype_more.cpp).
#pragma once

#include <stdexcept>
#include <vector>

#include "api.h"

namespace crmpi {

// A new derived type handle: its typemap and the constructor's arguments
// (what MPI_Type_get_envelope/get_contents return). Derived types in
// `types` gain a reference (see VType::refs).
int make_type(MPI_Datatype* out, TypeMap tm, int combiner, std::vector<int> ints,
              std::vector<MPI_Aint> aints, std::vector<MPI_Datatype> types);

// The typemap `f` builds, or a loud end of the job when the engine refuses
// the type (TypeMap::max_blocks, typemap.h): never a long hang.
template <typename F>
TypeMap build_type(F f, const char* fn) {
  try {
    return f();
  } catch (const std::length_error& e) {
    fatal("%s: %s", fn, e.what());
  }
}
#define BUILD(expr) build_type([&] { return expr; }, CRMPI_NAME)

}  // namespace crmpi
