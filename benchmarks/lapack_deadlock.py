"""When jaxlib's CPU LAPACK kernels deadlock XLA's intra-op thread pool, in a few lines and no bayesmm.

jaxlib 0.10 splits a large batch of matrices (64, not 16) into tasks on the intra-op pool and blocks until
they finish. When two such calls run at once, every pool thread can end up waiting and the program never
returns (native stacks: each ``tf_XLAEigen`` thread in ``lapack_dtrsm_ffi`` -> ``ParallelBatchMap`` ->
``BlockingCounter::Wait``). bayesmm's marginalised models with several random-effect blocks replayed their
conditional draws 256 at a time, two solves per chunk, and hung now and then (teaching notebook 01,
pastes ``(1 | batch/cask)``). Unbatched calls, which is what bayesmm now makes, never hung here.

Each row runs one program of ``calls`` independent Cholesky + triangular solves, each over ``batch``
matrices of 40 x 40 (0: one unbatched matrix), ``--repeat`` times in a fresh process, and reports the
repetition it hung at (no progress for 20 s). ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` is no
cure: it hung at once.

    python benchmarks/lapack_deadlock.py [--repeat 20000]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

CHILD = r"""
import os, sys, threading, time
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
batch, calls, repeat = (int(a) for a in sys.argv[1:4])
progress = [time.time(), 0]
def watchdog():
    while True:
        time.sleep(1)
        if time.time() - progress[0] > 20:
            print(f"hung at repetition {progress[1]}", flush=True)
            os._exit(3)
threading.Thread(target=watchdog, daemon=True).start()
rng = np.random.default_rng(0)
shape = (calls, batch, 40, 40) if batch else (calls, 40, 40)
a = rng.normal(size=shape)
m = a @ np.swapaxes(a, -1, -2) + 40 * np.eye(40)
b = rng.normal(size=shape[:-1] + (1,))
program = jax.jit(lambda m, b: [jax.scipy.linalg.solve_triangular(jnp.linalg.cholesky(m[k]), b[k], lower=True)
                                for k in range(calls)])
for i in range(repeat):
    progress[1] = i
    jax.block_until_ready(program(m, b))
    progress[0] = time.time()
print(f"finished {repeat}", flush=True)
"""

CASES = [(0, 16), (16, 8), (64, 1), (64, 2), (64, 8)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20000)
    args = parser.parse_args()
    import jax
    print(f"jax {jax.__version__}, {os.cpu_count()} CPUs, XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    print(f"{'batch':>6} {'calls':>6} {'seconds':>8}  result")
    for batch, calls in CASES:
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", CHILD, str(batch), str(calls), str(args.repeat)],
                             capture_output=True, text=True, timeout=3600)
        result = (run.stdout.strip().splitlines() or [run.stderr.strip()[-200:]])[-1]
        print(f"{batch:>6} {calls:>6} {time.perf_counter() - start:>8.1f}  {result}", flush=True)


if __name__ == "__main__":
    main()
