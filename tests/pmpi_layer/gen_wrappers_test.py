#!/usr/bin/env python3
"""Checks of pmpi_layer/tools/gen_wrappers.py: its C declaration parser on
small inputs and on the real preprocessed mpi.h, and what it generated in
the build (hand-written functions recognised from the compiled objects).

Usage: gen_wrappers_test.py GEN_WRAPPERS_PY GEN_DIR NM OBJECTS(':'-joined)
"""
import importlib.util
import re
import sys
import unittest

GEN, GEN_DIR, NM, OBJECTS = sys.argv[1:5]
spec = importlib.util.spec_from_file_location("gen_wrappers", GEN)
gw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gw)


def read(path):
    with open(path) as f:
        return f.read()


def signatures(header):
    return {name: gw.signature(ret, name, params, variadic, "PMPI_")
            for ret, name, params, variadic in header.prototypes}


class Parser(unittest.TestCase):
    def test_attributes_whitespace_and_noise(self):
        text = """# 1 "x.h"
#define MPI_COMM_WORLD OMPI_PREDEFINED_GLOBAL( MPI_Comm, ompi_mpi_comm_world)
typedef struct ompi_communicator_t *MPI_Comm;
typedef int (MPI_Fn)(void *, int);
static inline int helper(int a) { if (a) { return 1; } return 0; }
struct s { int x; };
__attribute__((visibility("default"))) int
    PMPI_A ( MPI_Comm   comm ,
             int *
             flag ) __attribute__((__deprecated__("gone")));
extern __attribute__((visibility("default"))) double PMPI_B(void) __asm__("pmpi_b");
int PMPI_C(MPI_Comm, int [][3], MPI_Fn *fn, void (*cb)(int, char *), const int level, ...);
int PMPI_D(void (*)(int), MPI_Fn *);
int (*PMPI_pointer)(int);
"""
        h = gw.Header(text)
        sig = signatures(h)
        self.assertEqual(sig["A"], "int PMPI_A(MPI_Comm comm, int *flag)")
        self.assertEqual(sig["B"], "double PMPI_B(void)")
        self.assertEqual(sig["C"], "int PMPI_C(MPI_Comm arg0, int arg1[][3], MPI_Fn *fn, "
                                   "void(*cb)(int, char *), const int level, ...)")
        self.assertEqual(sig["D"], "int PMPI_D(void(*arg0)(int), MPI_Fn *arg1)")
        self.assertNotIn("pointer", sig)
        self.assertEqual([n for _, n in h.prototypes[2][2]], ["arg0", "arg1", "fn", "cb", "level"])
        self.assertEqual(h.predefined(), [("Comm", "MPI_COMM_WORLD", "ompi_mpi_comm_world")])


class RealHeader(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = gw.Header(read(f"{GEN_DIR}/mpi_h.i"))
        cls.sig = signatures(cls.h)

    def test_count(self):
        self.assertGreater(len(self.h.prototypes), 400)
        self.assertEqual(len(self.sig), len(self.h.prototypes))  # no duplicates

    def test_known_prototypes(self):
        expect = {
            "Send": "int PMPI_Send(const void *buf, int count, MPI_Datatype datatype, int dest, "
                    "int tag, MPI_Comm comm)",
            "Group_range_incl": "int PMPI_Group_range_incl(MPI_Group group, int n, int ranges[][3], "
                                "MPI_Group *newgroup)",
            "Pcontrol": "int PMPI_Pcontrol(const int level, ...)",
            "Wtime": "double PMPI_Wtime(void)",
            "Reduce_local": "int PMPI_Reduce_local(const void *inbuf, void *inoutbuf, int count, "
                            "MPI_Datatype datatype, MPI_Op arg4)",
            "Type_size_x": "int PMPI_Type_size_x(MPI_Datatype type, MPI_Count *size)",
            # Removed from MPI-3 (declared because OMPI_OMIT_MPI1_COMPAT_DECLS=0).
            "Address": "int PMPI_Address(void *location, MPI_Aint *address)",
        }
        for name, sig in expect.items():
            self.assertEqual(self.sig.get(name), sig)

    def test_predefined(self):
        names = [mpi for _, mpi, _ in self.h.predefined()]
        self.assertIn("MPI_COMM_WORLD", names)
        self.assertIn("MPI_DOUBLE_INT", names)
        self.assertEqual(len(names), len(set(names)))


class Generated(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = gw.Header(read(f"{GEN_DIR}/mpi_h.i"))
        cls.done = gw.defined_pmpi(NM, OBJECTS.split(":"))
        cls.gen = read(f"{GEN_DIR}/wrappers_gen.cpp")

    def test_hand_written_recognised(self):
        # Plain definitions and ones made by macros (MOVE, CONVERT).
        for name in ("Send", "Init", "Get_elements_x", "Type_size_x", "Pcontrol", "Gather",
                     "Ialltoall", "Comm_c2f", "Message_f2c"):
            self.assertIn(name, self.done)
        self.assertEqual(set(read(f"{GEN_DIR}/supported.txt").split()),
                         {f"MPI_{n}" for n in self.done})

    def test_each_function_once(self):
        stubs = set(re.findall(r"^CRMPI_API .*?\bPMPI_(\w+)\(", self.gen, re.M))
        entries = re.findall(r"^extern \"C\" .*?\bMPI_(\w+)\(", self.gen, re.M)
        names = {p[1] for p in self.h.prototypes}
        self.assertEqual(stubs & self.done, set())
        self.assertEqual(stubs | self.done, names)
        self.assertEqual(sorted(entries), sorted(names))

    def test_entries_forward(self):
        for line in self.gen.splitlines():
            if line.startswith('extern "C"'):
                name = re.search(r"\bMPI_(\w+)\(", line).group(1)
                self.assertIn(f"{{ return PMPI_{name}(", line)
        self.assertIn("{ return PMPI_Pcontrol(level); }", self.gen)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
