"""Python greenlet doing the ping-pong case (bench/cases/ping-pong.ts), for comparison.

The same two workloads as the "fiber.switch" column there, timed the same way:
warm-up runs, then measured runs each after a full collection, timed with
time.perf_counter_ns() inside this process. Prints one JSON line:
{"round trip": [ns per round trip, one per run], "create + finish": [...], ...}

usage: python3 ping_pong.py <round trips per run> <creates per run> <runs> <warm-up runs>
"""
import gc
import json
import platform
import sys
import time

import greenlet
from greenlet import getcurrent


def round_trips(ops):
    """main <-> greenlet: switch(i) there, switch(i + 1) back; returns the sum of what came back."""
    main = getcurrent()

    def pong(v):
        while v is not None:
            v = main.switch(v + 1)
        return 0

    g = greenlet.greenlet(pong)
    total = 0
    for i in range(ops):
        total += g.switch(i)
    return total + g.switch(None)


def plus_one(x):
    return x + 1


def create_finish(ops):
    """A greenlet that returns its argument plus one, created and run to its end."""
    total = 0
    for i in range(ops):
        total += greenlet.greenlet(plus_one).switch(i)
    return total


def timed(workload, ops, runs, warmups):
    expected = ops * (ops + 1) // 2  # the same checksum as the JS implementations
    for _ in range(warmups):
        if workload(ops) != expected:
            raise SystemExit(f"{workload.__name__}: wrong checksum")
    samples = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter_ns()
        workload(ops)
        samples.append((time.perf_counter_ns() - start) / ops)
    return samples


def main():
    trips, creates, runs, warmups = (int(a) for a in sys.argv[1:5])
    print(json.dumps({
        "round trip": timed(round_trips, trips, runs, warmups),
        "create + finish": timed(create_finish, creates, runs, warmups),
        "python": platform.python_version(),
        "greenlet": greenlet.__version__,
    }))


if __name__ == "__main__":
    main()
