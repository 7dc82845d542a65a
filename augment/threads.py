"""How many CPU threads torch may use: chosen for the user from the cores actually free.

torch starts one thread per core. On a small machine shared with other busy processes, threads
that wait for each other on contended cores make every step many times slower (measured on a
2-core machine by ``benchmarks/threads_bench.py``; figures in the README). So the library picks:

1. ``threads`` when the caller gives it (``--threads N`` on the command line);
2. else ``OMP_NUM_THREADS`` when set (the user's explicit choice for every library);
3. else the cores free now: the idle share of the CPUs this process may run on, measured over
   ``SAMPLE_SECONDS`` from ``/proc/stat`` (the 1-minute load average where that file is missing),
   rounded down, at least 1 and at most ``MAX_AUTO_THREADS``.
"""

from __future__ import annotations

import math
import os
import time

__all__ = ["MAX_AUTO_THREADS", "choose_threads", "free_cores", "set_threads", "usable_cores"]

SAMPLE_SECONDS = 0.2
MAX_AUTO_THREADS = 8  # the small models here gain little beyond this


def usable_cores() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies over all CPUs from /proc/stat; None where it cannot be read."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return idle, sum(fields[:8])


def free_cores(sample_seconds: float = SAMPLE_SECONDS) -> float:
    """How many of this process's CPUs were idle over the last ``sample_seconds`` (a float)."""
    cores, machine = usable_cores(), os.cpu_count() or 1
    before = _cpu_times()
    if before is not None:
        time.sleep(sample_seconds)
        after = _cpu_times()
        if after is not None and after[1] > before[1]:
            idle_share = (after[0] - before[0]) / (after[1] - before[1])
            return min(cores, idle_share * machine)
    if hasattr(os, "getloadavg"):
        return max(0.0, cores - os.getloadavg()[0])
    return float(cores)


def choose_threads(threads: int | None = None) -> int:
    """The thread count by the module's rule (``threads`` when given)."""
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an integer >= 1 (or None: chosen for you), got {threads!r}.")
        return threads
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) >= 1:
        return int(env)
    return max(1, min(MAX_AUTO_THREADS, math.floor(free_cores())))


def set_threads(threads: int | None = None) -> int:
    """Choose the thread count (`choose_threads`) and apply it to torch; returns it."""
    import torch

    chosen = choose_threads(threads)
    torch.set_num_threads(chosen)
    return chosen
