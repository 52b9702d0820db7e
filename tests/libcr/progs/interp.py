# interp.py -- a real interpreter as the checkpointed program: CPython with
# four threads hashing a 100k-entry dict, joined every step.  Run under
# cr_run by ckpt_test.sh (python3 itself knows nothing of libcr).
#   interp.py [STEPS [STOPFILE]]
# 10 steps by default; with STOPFILE it steps until that file exists.
import hashlib
import os
import sys
import threading
import time

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
stopfile = sys.argv[2] if len(sys.argv) > 2 else None

data = {i: str(i) * 10 for i in range(100000)}


def worker(n, out):
    h = hashlib.sha256()
    for i in range(n):
        h.update(data[i % 100000].encode())
        if i % 20000 == 0:
            time.sleep(0.01)
    out.append(h.hexdigest()[:16])


step = 0
while (not os.path.exists(stopfile)) if stopfile else step < steps:
    outs = []
    ts = [threading.Thread(target=worker, args=(150000 + step, outs)) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("step", step, sorted(outs)[0], flush=True)
    time.sleep(0.1)
    step += 1
