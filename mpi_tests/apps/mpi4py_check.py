# A python3-mpi4py program: pickled objects, buffers, collectives, split.
from mpi4py import MPI
import array

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
assert comm.allreduce(rank + 1) == size * (size + 1) // 2
obj = comm.bcast({"answer": 42, "list": list(range(5))} if rank == 0 else None, root=0)
assert obj["answer"] == 42
gathered = comm.gather(rank * rank, root=0)
if rank == 0:
    assert gathered == [r * r for r in range(size)]
buf = array.array("d", [rank] * 1000)
out = array.array("d", [0.0] * 1000)
comm.Allreduce([buf, MPI.DOUBLE], [out, MPI.DOUBLE], op=MPI.SUM)
assert out[999] == sum(range(size))
right, left = (rank + 1) % size, (rank - 1) % size
got = comm.sendrecv({"from": rank}, dest=right, source=left)
assert got["from"] == left
sub = comm.Split(rank % 2, rank)
assert sub.allreduce(1) == len(range(rank % 2, size, 2))
sub.Free()
req = comm.isend(rank, dest=right, tag=3)
assert comm.recv(source=left, tag=3) == left
req.wait()
print(f"rank {rank}: mpi4py ok, size {size}, name {MPI.Get_processor_name() != ''}", flush=True)
