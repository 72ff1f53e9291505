"""Hash backends against plain argon2-cffi, on this machine: what ``xenblocks-miner bench``
measures, for every backend available here.

    .venv/bin/python bench/miner.py [--seconds 20] [--rounds 4] [--processes N] [--no-threads]

Difficulties 1727, 16000 and 100000: the ``cpu`` backend, and the ``cupy`` backend on each
GPU when CuPy sees one, against plain argon2-cffi (a bare ``hash_secret_raw`` loop) in
1..N processes and in 1..N threads of one process (the CFFI call releases the GIL, so
threads are the obvious alternative to a process pool). Prints one JSON object per
result, then a summary. ``--rounds`` cuts every measurement into slices
taken in turn, so background load on a shared machine weighs on all setups alike. Figures
only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

# This file is called miner.py: keep its folder off the path so ``miner`` is the package.
HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from miner.backends.registry import available_devices  # noqa: E402
from miner.bench import BenchResult, run_bench  # noqa: E402

DIFFICULTIES = [1727, 16000, 100000]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved slices per figure")
    parser.add_argument("--processes", type=int, help="CPU processes (default: every core)")
    parser.add_argument("--no-threads", action="store_true", help="skip the threads figures")
    parser.add_argument("--no-gpu", action="store_true", help="skip cupy even with a GPU")
    args = parser.parse_args()

    gpus = [] if args.no_gpu else available_devices("cupy")
    print(f"# python {platform.python_version()}, gpus: {gpus or 'none'}", file=sys.stderr)
    print(f"# {' '.join(sys.argv)}", file=sys.stderr)

    def progress(message: str) -> None:
        print(f"# measuring {message}", file=sys.stderr, flush=True)

    results: list[BenchResult] = []
    for result in run_bench(
        ["cpu", "cupy"] if gpus else ["cpu"],
        DIFFICULTIES,
        seconds=args.seconds,
        devices=gpus or None,
        processes=args.processes,
        compare_threads=not args.no_threads,
        rounds=args.rounds,
        progress=progress,
    ):
        print(json.dumps(result.to_json()), flush=True)
        results.append(result)

    print()
    print("summary (H/s)")
    for result in results:
        plain = ", ".join(
            f"{count}p {rate:,.1f}"
            for count, rate in sorted(result.plain_hashes_per_second.items())
        )
        threads = result.plain_threads_hashes_per_second or {}
        threaded = ", ".join(f"{count}t {rate:,.1f}" for count, rate in sorted(threads.items()))
        print(
            f"  {result.backend} m={result.difficulty} on {result.device}: "
            f"{result.hashes_per_second:,.1f} = {result.speedup:.2f}× 1 process, "
            f"{result.vs_best_plain:.3f}× the best plain argon2-cffi "
            f"({result.plain_best_processes} processes, "
            f"{result.plain_best_hashes_per_second:,.1f})"
        )
        print(f"    plain argon2-cffi: {plain}" + (f"; threads: {threaded}" if threaded else ""))


if __name__ == "__main__":
    main()
