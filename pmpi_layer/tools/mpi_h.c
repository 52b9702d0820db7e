/* What gen_wrappers.py reads: mpi.h as the C compiler sees it.  CMake runs
   the C preprocessor on this file (-E -dD, OMPI_OMIT_MPI1_COMPAT_DECLS=0 so
   the removed MPI-1 functions are declared too). */
#include <mpi.h>
