# interp.py -- a real interpreter as the checkpointed program: CPython with
# four threads hashing a 100k-entry dict, joined every step.  Run under
# cr_run by ckpt_test.sh (python3 itself knows nothing of libcr).
import hashlib
import threading
import time

data = {i: str(i) * 10 for i in range(100000)}


def worker(n, out):
    h = hashlib.sha256()
    for i in range(n):
        h.update(data[i % 100000].encode())
        if i % 20000 == 0:
            time.sleep(0.01)
    out.append(h.hexdigest()[:16])


for step in range(10):
    outs = []
    ts = [threading.Thread(target=worker, args=(150000 + step, outs)) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("step", step, sorted(outs)[0], flush=True)
    time.sleep(0.1)
