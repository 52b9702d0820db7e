# A python3-mpi4py program for job checkpoint tests: work, a gate (rank 0
# waits for the file argv[1] without calling MPI, the others wait in a
# receive from it), more work; every rank prints a digest of all it received.
import hashlib
import os
import sys
import time

from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
right, left = (rank + 1) % size, (rank - 1) % size
digest = hashlib.sha256()


def work(rounds, salt):
    for k in range(rounds):
        got = comm.sendrecv({"from": rank, "k": k + salt}, dest=right, source=left)
        assert got == {"from": left, "k": k + salt}
        total = comm.allreduce(rank + k)
        assert total == size * (size - 1) // 2 + size * k
        digest.update(repr((got, total)).encode())


work(30, 0)
pending = comm.isend({"late": rank}, dest=right, tag=5)  # in flight across the gate
if rank == 0:
    print("GATE 1", flush=True)
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.002)
if rank == 0:
    for r in range(1, size):
        comm.send("open", dest=r, tag=9)
    opened = "open"
else:
    opened = comm.recv(source=0, tag=9)
late = comm.recv(source=left, tag=5)
pending.wait()
digest.update(repr((opened, late)).encode())
work(30, 1000)
print(f"rank {rank}: digest {digest.hexdigest()[:16]}", flush=True)
