"""The fuzzer's command line: draw graphs, check them in workers, shrink the failures, print tests."""

from __future__ import annotations

import argparse
import os
import sys
import time

from symdl.fuzz.generate import generate
from symdl.fuzz.runner import Pool


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m symdl.fuzz", description=__doc__)
    p.add_argument("--graphs", type=int, default=100, help="how many graphs to draw (default 100)")
    p.add_argument("--seed", type=int, default=0, help="the run's seed: graph k of seed S is the same everywhere")
    p.add_argument("--start", type=int, default=0, help="the first graph's index (to replay one: --start K --graphs 1)")
    p.add_argument("--backends", default="py,c", help="comma-separated backends (default py,c)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per graph before it counts as a hang")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (default 2)")
    p.add_argument("--no-shrink", action="store_true", help="report failures as drawn, without shrinking")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    start = time.monotonic()
    tasks = ((k, generate(args.seed, k)) for k in range(args.start, args.start + args.graphs))
    pool = Pool(backends, args.jobs, args.timeout)
    failures = []
    try:
        for done, (k, outcome) in enumerate(pool.map(tasks), 1):
            if done % 100 == 0:
                print(
                    f"symdl.fuzz: {done} graphs, {len(failures)} failures, {time.monotonic() - start:.0f} s", flush=True
                )
            if outcome.failed:
                failures.append((k, outcome))
                print(f"graph {k} (seed {args.seed}): {outcome.kind} on {outcome.where}: {outcome.detail}", flush=True)
    finally:
        pool.close()
    elapsed = time.monotonic() - start
    print(
        f"symdl.fuzz: {args.graphs} graphs run (seed {args.seed}, backends {','.join(backends)}, "
        f"{elapsed:.0f} s), {len(failures)} failures found"
    )
    return 1 if failures else 0
