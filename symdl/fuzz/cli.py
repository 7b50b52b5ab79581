"""The fuzzer's command line: draw graphs, check them in workers, shrink the failures, print tests."""

from __future__ import annotations

import argparse
import os
import time

from symdl.fuzz.check import Outcome
from symdl.fuzz.generate import generate
from symdl.fuzz.reproducer import reproducer
from symdl.fuzz.runner import Pool
from symdl.fuzz.shrink import shrink


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line's options (``argv`` None: sys.argv)."""
    p = argparse.ArgumentParser(prog="python -m symdl.fuzz", description=__doc__)
    p.add_argument("--graphs", type=int, default=100, help="how many graphs to draw (default 100)")
    p.add_argument("--seed", type=int, default=0, help="the run's seed: graph k of seed S is the same everywhere")
    p.add_argument("--start", type=int, default=0, help="the first graph's index (to replay one: --start K --graphs 1)")
    p.add_argument("--backends", default=None, help="comma-separated backends (default: py and, with gcc, c)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per graph before it counts as a hang")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (default 2)")
    p.add_argument("--no-shrink", action="store_true", help="report failures as drawn, without shrinking")
    p.add_argument("--max-shrink", type=int, default=10, help="shrink and print at most this many failures")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the fuzzer; print each failure, then each shrunk as a test, then a summary. Exit status 1 on failures."""
    args = parse_args(argv)
    if args.backends is None:
        from symdl.backend import available

        backends = tuple(b for b in ("py", "c") if b in available())
    else:
        backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    start = time.monotonic()
    programs, failures = {}, []

    def tasks():
        for k in range(args.start, args.start + args.graphs):
            try:
                programs[k] = generate(args.seed, k)
            except Exception as e:  # noqa: BLE001 - the fuzzer's own bug: reported, and the run goes on
                failures.append((k, None, Outcome("error", "fuzzer", f"drawing the graph failed: {e!r}")))
                print(f"graph {k} (seed {args.seed}): {failures[-1][2].detail}", flush=True)
                continue
            yield k, programs[k]

    pool = Pool(backends, args.jobs, args.timeout)
    try:
        for done, (k, outcome) in enumerate(pool.map(tasks()), 1):
            program = programs.pop(k)
            if done % 100 == 0:
                print(
                    f"symdl.fuzz: {done} graphs, {len(failures)} failures, {time.monotonic() - start:.0f} s", flush=True
                )
            if not outcome.failed:
                continue
            failures.append((k, program, outcome))
            print(f"graph {k} (seed {args.seed}): {outcome.kind} on {outcome.where}: {outcome.detail}", flush=True)
        for n, (k, program, outcome) in enumerate(failures):
            if program is None or args.no_shrink or n >= args.max_shrink:
                continue
            small = shrink(program, lambda q, key=outcome.key: pool.check(q).key == key)
            name = f"test_fuzz_seed{args.seed}_graph{k}_{outcome.kind}"
            doc = f"python -m symdl.fuzz --seed {args.seed} --start {k} --graphs 1: {outcome.detail}"
            print(f"\n# graph {k} (seed {args.seed}), shrunk from {len(program.nodes)} to {len(small.nodes)} nodes:")
            print(reproducer(small, backends, name, doc[:300]), flush=True)
    finally:
        pool.close()
    elapsed = time.monotonic() - start
    print(
        f"symdl.fuzz: {args.graphs} graphs run (seed {args.seed}, backends {','.join(backends)}, "
        f"{elapsed:.0f} s), {len(failures)} failures found"
    )
    return 1 if failures else 0
