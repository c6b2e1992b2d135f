"""Run benchmarks/cluster/sharded_fit.py as N processes on this machine, as a cluster would run one per host.

    python benchmarks/cluster/launch_local.py --processes 2 -- --local-devices 2 --shards 2 --out draws.npz

Everything after ``--`` goes to every process; the launcher picks a free port for the coordinator, gives each
process its id, and returns the first non-zero exit status (a process that fails stops the others).
"""
from __future__ import annotations

import argparse
import pathlib
import socket
import subprocess
import sys

WORKER = pathlib.Path(__file__).with_name("sharded_fit.py")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def launch(processes: int, extra: list[str], timeout: float | None = None) -> int:
    coordinator = f"localhost:{_free_port()}"
    running = [subprocess.Popen([sys.executable, str(WORKER), "--coordinator", coordinator, "--processes",
                                 str(processes), "--process-id", str(i), *extra]) for i in range(processes)]
    status = 0
    try:
        for process in running:
            code = process.wait(timeout=timeout)
            status = status or code
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
    return status


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=None, help="seconds before the processes are stopped")
    args = parser.parse_args(own)
    return launch(args.processes, extra, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
