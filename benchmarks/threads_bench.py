"""Fit steps per second with torch's default thread count and with the library's choice,
on a quiet machine and with one competing CPU-bound process.

Each measurement is a fresh process (thread settings are per process) that fits the embedded
default on the demo pills for ``--steps`` steps and prints its steps/s; conditions are interleaved
over ``--repeats`` rounds and the medians printed, since timings on a shared machine swing.

* ``torch default``: ``OMP_NUM_THREADS`` unset and nothing set, so torch uses one thread per core;
* ``chosen``: ``augment.threads.set_threads()`` with ``OMP_NUM_THREADS`` unset (the library's rule).

    python benchmarks/threads_bench.py --steps 40 --repeats 3 --out /tmp/threads_bench
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODES = ("torch default", "chosen")
LOADS = ("quiet", "1 busy process")
BUSY = "while True: pass"


def child(data: str, steps: int, mode: str) -> None:
    """Fit ``steps`` steps and print one JSON line: steps/s and the thread count used."""
    import torch

    from augment import DefectSynthesizer
    from augment.threads import set_threads

    torch.set_flush_denormal(True)
    if mode == "chosen":
        set_threads()
    synth = DefectSynthesizer(seed=0)
    t0 = time.perf_counter()
    synth.fit(data, defects=["crack"], steps=steps, seed=0, progress=False)
    seconds = time.perf_counter() - t0
    print(json.dumps({"steps_per_s": steps / seconds, "threads": torch.get_num_threads()}))


def measure(data: Path, steps: int, mode: str, busy: bool) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    rival = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        cmd = [sys.executable, __file__, "--child", mode, "--data", str(data), "--steps", str(steps)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    finally:
        if rival is not None:
            rival.kill()
            rival.wait()
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="/tmp/threads_bench")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.data, args.steps, args.child)
        return
    from augment.data.demo_data import make_demo_dataset

    data = make_demo_dataset(
        Path(args.out) / "data", n_good_train=20, n_good_test=4, n_per_defect=6, seed=0, progress=False
    )
    results: dict[tuple[str, str], list[float]] = {(load, mode): [] for load in LOADS for mode in MODES}
    threads: dict[tuple[str, str], set[int]] = {key: set() for key in results}
    for r in range(args.repeats):
        for load in LOADS:
            for mode in MODES:
                background = os.getloadavg()[0]  # other users' load on a shared machine
                got = measure(data, args.steps, mode, busy=load != "quiet")
                results[(load, mode)].append(got["steps_per_s"])
                threads[(load, mode)].add(int(got["threads"]))
                print(
                    f"round {r + 1}: {load:15s} {mode:14s} {got['steps_per_s']:.2f} steps/s "
                    f"({got['threads']} threads; 1-min load average before: {background:.1f})",
                    flush=True,
                )
    print(f"\nfit steps/s, median of {args.repeats} ({args.steps} steps each, {os.cpu_count()} CPUs):")
    print(f"| load | {' | '.join(MODES)} |\n|---|---|---|")
    for load in LOADS:
        cells = [
            f"{statistics.median(results[(load, m)]):.2f} ({'/'.join(map(str, sorted(threads[(load, m)])))} thr)"
            for m in MODES
        ]
        print(f"| {load} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
