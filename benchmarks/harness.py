"""The benchmark harness: every benchmark for every framework, each in a subprocess, in one table each.

Method
------
- Each (benchmark, framework) pair runs in a fresh ``python -m benchmarks.worker`` process, so one
  framework's imports, thread pools and allocator never touch another's timings.
- Times are medians of several samples after warm-up (``benchmarks.peers.common.measure``); a
  sample is one call for slow benchmarks and a loop of many calls for the per-call overhead.
  Every framework's timed loop keeps its last three results referenced, as a program keeps what it
  computes, so a runtime that recycles the memory of a dropped result gets no advantage from it.
- Every framework runs on its normal fast path: PyTensor's C linker is given a BLAS (the OpenBLAS
  of the ``bench`` extra, see ``benchmarks.peers.pytensor_bench``); a row that could not be given
  one is printed as not comparable and left out of the targets. ``torch.compile`` is a peer
  wherever it applies (elementwise, MLPs, CNN, compile times) and counts as one for "best peer".
- Compile times are seconds from an empty graph to the first result (build, grad, compile, first
  call), imports excluded, in three benchmarks ("compile": the MLP training function,
  "compile_elementwise": the elementwise expression, "compile_lstm": the LSTM training function;
  eager PyTorch compiles nothing and reports its first step), for every framework on the same terms:
  "cold" runs with empty cache directories (symdl's compile dir, PyTensor's compiledir, JAX's
  persistent compilation cache, TorchInductor's cache), and symdl without the runtime that
  ``pip install`` built, so it builds its C runtime into its compile dir as PyTensor builds its
  own; "warm" runs in a second process with the same directories. A second symdl row shows the
  same with the runtime built at install (what a user who installed symdl gets).
- Oversubscription: symdl's and PyTorch's MLP step timed alone and beside one other process
  spinning on the same cores, in one process each; the slowdown is busy / alone.
- Every framework starts from the same data and parameters, and the "check" column compares the
  numbers it reports (mean of the output, losses of steps 1 and 3) with a reference framework's.
- ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are removed from the subprocesses' environment
  (they pin NumPy's OpenBLAS to slower kernels on some machines); the header says if they were set.
- The ratio column is symdl's metric divided by that row's: below 1 means symdl is faster.
- ``--rounds N`` runs the rows of each benchmark N times, round-robin (every framework once, then
  again), and reports each row's median round: on a machine whose speed drifts over minutes, every
  framework then meets the same fast and slow minutes.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from benchmarks.peers.common import ELEMENTWISE_EXPR, LSTM_SHAPES, LSTM_STEPS, MLP_SHAPES, OVERHEAD_KINDS
from benchmarks.worker import MARKER

REPO = Path(__file__).resolve().parent.parent
SYMDL = "symdl"
SYMDL_INSTALLED_RUNTIME = "symdl, runtime built at install"


@dataclass(frozen=True)
class Metric:
    key: str
    header: str
    fmt: str = "{:.2f}"
    ratio: bool = True  # print symdl's ratio to each row for this metric
    short: str = ""  # its name in the ratio column's header when a table has several ratio columns


@dataclass(frozen=True)
class Row:
    label: str
    module: str
    function: str = ""  # default: the benchmark's function
    options: dict[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    cache: str = ""  # for the compile benchmarks: whose cache directory the cold/warm pair shares
    reference: bool = False  # the row whose check values the others must match


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    function: str
    metrics: tuple[Metric, ...]
    rows: tuple[Row, ...]
    phases: tuple[str, ...] = ()  # ("cold", "warm"): each row runs once per phase, sharing a cache

    @property
    def symdl_row(self) -> Row:
        return next(row for row in self.rows if row.module == "symdl_bench")


MS = Metric("ms", "median ms")
SYMDL_ROW = Row(SYMDL, "symdl_bench")
PYTENSOR_C = Row("PyTensor C", "pytensor_bench", options={"linker": "cvm"}, requires=("pytensor",))
PYTENSOR_NUMBA = Row("PyTensor Numba", "pytensor_bench", options={"linker": "numba"}, requires=("pytensor", "numba"))
JAX = Row("JAX jit", "jax_bench", requires=("jax",))
TORCH = Row("PyTorch", "torch_bench", requires=("torch",))
TORCH_COMPILE = Row("torch.compile", "torch_bench", options={"compile": True}, requires=("torch",))
NUMPY_ADD = "NumPy (0-d add; np.add of floats)"


def _with(row: Row, **changes: Any) -> Row:
    """``row`` with other options merged in and/or other fields."""
    options = {**row.options, **changes.pop("options", {})}
    return Row(**{**row.__dict__, "options": options, **changes})


def _mlp_title(sizes: tuple[int, ...], batch: int) -> str:
    return (
        f"MLP {'-'.join(map(str, sizes))} ReLU, batch {batch}, softmax cross-entropy, SGD momentum: one training step"
    )


def _mlp_benchmark(name: str) -> Benchmark:
    """One MLP shape of ``MLP_SHAPES``: the main one with every peer, the others with symdl,
    PyTorch (eager and compiled), JAX and NumPy."""
    sizes, batch = MLP_SHAPES[name]
    numpy = Row("NumPy (hand-written)", "numpy_bench", reference=True)
    if name == "mlp":
        return Benchmark(
            name,
            _mlp_title(sizes, batch),
            "mlp",
            (MS,),
            (SYMDL_ROW, PYTENSOR_C, PYTENSOR_NUMBA, JAX, TORCH, TORCH_COMPILE, numpy),
        )
    shape = {"sizes": list(sizes), "batch": batch}
    rows = tuple(_with(row, options=shape) for row in (SYMDL_ROW, JAX, TORCH, TORCH_COMPILE, numpy))
    return Benchmark(name, _mlp_title(sizes, batch), "mlp", (MS,), rows)


def _compile_benchmark(name: str, title: str, function: str) -> Benchmark:
    return Benchmark(
        name,
        title,
        function,
        (
            Metric("cold_s", "cold s", "{:.3f}"),
            Metric("warm_s", "warm s", "{:.3f}"),
            Metric("cold_runtime_s", "of cold: runtime s", "{:.3f}", ratio=False),
        ),
        (
            Row(SYMDL, "symdl_bench", cache="symdl"),
            Row(SYMDL_INSTALLED_RUNTIME, "symdl_bench", options={"installed_runtime": True}, cache="symdl"),
            _with(PYTENSOR_C, cache="pytensor"),
            Row("JAX jit (persistent cache)", "jax_bench", requires=("jax",), cache="jax", reference=True),
            Row("torch.compile", "torch_bench", requires=("torch",), cache="torch"),
        ),
        phases=("cold", "warm"),
    )


TORCH_LSTM = "PyTorch (nn.LSTM)"
JAX_SCAN = "JAX jit (lax.scan)"


def _lstm_benchmark(name: str) -> Benchmark:
    """One LSTM shape of ``LSTM_SHAPES``: symdl (``LSTMLayer``), PyTorch, JAX and PyTensor (scan)."""
    batch, hidden = LSTM_SHAPES[name]
    shape = {"batch": batch, "hidden": hidden}
    rows = (
        SYMDL_ROW,
        Row(TORCH_LSTM, "torch_bench", requires=("torch",), reference=True),
        Row(JAX_SCAN, "jax_bench", requires=("jax",)),
        PYTENSOR_C,
    )
    return Benchmark(
        name,
        f"LSTM {LSTM_STEPS} steps, batch {batch}, {hidden} units (inputs of {hidden}), squared error at every "
        "step, SGD: one training step",
        "lstm",
        (MS,),
        tuple(_with(row, options=shape) for row in rows),
    )


BENCHMARKS = {
    b.name: b
    for b in [
        Benchmark(
            "elementwise",
            f"Elementwise {ELEMENTWISE_EXPR}, 1e7 float32",
            "elementwise",
            (MS,),
            (
                SYMDL_ROW,
                Row("NumPy", "numpy_bench", reference=True),
                PYTENSOR_C,
                PYTENSOR_NUMBA,
                JAX,
                Row("PyTorch eager", "torch_bench", requires=("torch",)),
                TORCH_COMPILE,
                Row("floor: copy (NumPy)", "numpy_bench", "copy_floor"),
                Row("floor: x+y into a buffer (NumPy)", "numpy_bench", "add_floor"),
            ),
        ),
        *(_mlp_benchmark(name) for name in MLP_SHAPES),
        Benchmark(
            "oversubscribed",
            "MLP 784-512-512-10 step alone and beside one busy process on the same cores",
            "mlp_oversubscribed",
            (
                Metric("alone_ms", "alone ms", ratio=False),
                Metric("busy_ms", "busy ms", ratio=False),
                Metric("slowdown", "slowdown", "{:.2f}x"),
            ),
            (SYMDL_ROW, _with(TORCH, reference=True)),
        ),
        _compile_benchmark(
            "compile",
            "Compile time of the MLP training function (s): build + grad + compile + first call",
            "compile_mlp",
        ),
        _compile_benchmark(
            "compile_elementwise",
            f"Compile time of the elementwise {ELEMENTWISE_EXPR} (s): build + compile + first call",
            "compile_elementwise",
        ),
        Benchmark(
            "cnn",
            "CNN step: batch 64, 1x28x28, conv32 5x5, pool 2, conv64 5x5, pool 2, dense 256, dense 10, SGD momentum",
            "cnn",
            (MS,),
            (SYMDL_ROW, _with(TORCH, reference=True), TORCH_COMPILE, JAX, PYTENSOR_C),
        ),
        Benchmark(
            "conv2d",
            "conv2d forward 8x64x56x56, 64 filters 3x3, pad 1 (1.85 GFLOP)",
            "conv2d",
            (MS,),
            (SYMDL_ROW, _with(TORCH, reference=True), JAX, PYTENSOR_C),
        ),
        *(_lstm_benchmark(name) for name in LSTM_SHAPES),
        Benchmark(
            "compile_lstm",
            f"Compile time of the LSTM training function (s), {LSTM_STEPS} steps, batch {LSTM_SHAPES['lstm'][0]}, "
            f"{LSTM_SHAPES['lstm'][1]} units: build + grad + compile + first step",
            "compile_lstm",
            (
                Metric("cold_s", "cold s", "{:.3f}"),
                Metric("warm_s", "warm s", "{:.3f}"),
                Metric("cold_runtime_s", "of cold: runtime s", "{:.3f}", ratio=False),
            ),
            (
                Row(SYMDL, "symdl_bench", cache="symdl"),
                Row(SYMDL_INSTALLED_RUNTIME, "symdl_bench", options={"installed_runtime": True}, cache="symdl"),
                _with(PYTENSOR_C, cache="pytensor"),
                Row("JAX jit (persistent cache)", "jax_bench", requires=("jax",), cache="jax", reference=True),
                Row("PyTorch eager (first step)", "torch_bench", requires=("torch",), cache="torch"),
            ),
            phases=("cold", "warm"),
        ),
        Benchmark(
            "distributed",
            "Data-parallel MLP 784-512-512-10 step, global batch 128, on 1 and 2 ranks under mpiexec (1 thread each)",
            "distributed",
            (
                Metric("ms_1", "1 rank ms", ratio=False),
                Metric("ms_2", "2 ranks ms"),
                Metric("local_ms", "2 ranks, no all-reduce ms", ratio=False),
                Metric("comm_share", "comm %", "{:.0f}", ratio=False),
                Metric("wait_share", "wait %", "{:.0f}", ratio=False),
                Metric("mb_per_step", "MB/step", ratio=False),
            ),
            (SYMDL_ROW, Row("PyTorch DDP (gloo)", "torch_bench", requires=("torch",), reference=True)),
        ),
        Benchmark(
            "overhead",
            "Per-call overhead: compiled scalar a+b called with each kind of argument (us)",
            "overhead",
            tuple(Metric(f"{kind}_us", f"{name} us", short=name) for kind, name in OVERHEAD_KINDS.items()),
            (
                SYMDL_ROW,
                Row(NUMPY_ADD, "numpy_bench", reference=True),
                PYTENSOR_C,
                JAX,
                Row("PyTorch 0-d add", "torch_bench", requires=("torch",)),
            ),
        ),
    ]
}
Check = Callable[[dict], tuple[str, bool | None]]


def _value(results: dict, bench: str, label: str, key: str | None = None) -> float | None:
    """A row's metric (the benchmark's first by default); None when it did not run, failed, or is
    not comparable."""
    result = results.get(bench, {}).get(label)
    if not result or result.get("status") != "ok" or result.get("not_comparable"):
        return None
    key = key or BENCHMARKS[bench].metrics[0].key
    value = result.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _target_ratio(bench: str, peers: tuple[str, ...] | None, limit: float, key: str = "", peer_key: str = "") -> Check:
    """symdl's ``key`` over the best (lowest) ``peer_key`` of the rows ``peers`` (None: every row
    other than symdl's) must be at most ``limit``."""

    def check(results: dict) -> tuple[str, bool | None]:
        mine = _value(results, bench, SYMDL, key or None)
        labels = peers or [label for label in results.get(bench, {}) if not label.startswith(SYMDL)]
        found = {label: v for label in labels if (v := _value(results, bench, label, peer_key or key or None))}
        if mine is None or not found:
            return "not measured", None
        best = min(found, key=found.get)
        which = f" (best peer: {best})" if len(labels) > 1 else ""
        return f"{mine / found[best]:.2f}x{which}", mine / found[best] <= limit

    return check


def _target_seconds(bench: str, key: str, limit: float) -> Check:
    def check(results: dict) -> tuple[str, bool | None]:
        value = _value(results, bench, SYMDL, key)
        if value is None:
            return "not measured", None
        return f"{value:.3f} s", value <= limit

    return check


def _target_slowdown(peer: str) -> Check:
    """symdl's slowdown beside a busy process must be at most ``peer``'s."""

    def check(results: dict) -> tuple[str, bool | None]:
        mine, theirs = (_value(results, "oversubscribed", label, "slowdown") for label in (SYMDL, peer))
        if mine is None or theirs is None:
            return "not measured", None
        return f"{mine:.2f}x ({peer}: {theirs:.2f}x)", mine <= theirs

    return check


TARGETS: list[tuple[str, str, Check]] = [
    ("elementwise", "elementwise <= 0.8x JAX jit", _target_ratio("elementwise", ("JAX jit",), 0.8)),
    ("mlp", "MLP step <= 0.9x the best peer (torch.compile included)", _target_ratio("mlp", None, 0.9)),
    *(
        (name, f"MLP {'-'.join(map(str, sizes))} batch {batch} <= 1.0x PyTorch", _target_ratio(name, ("PyTorch",), 1.0))
        for name, (sizes, batch) in MLP_SHAPES.items()
        if name != "mlp"
    ),
    (
        "cnn",
        "CNN step <= 1.0x PyTorch (the better of eager and torch.compile)",
        _target_ratio("cnn", ("PyTorch", "torch.compile"), 1.0),
    ),
    *(
        (
            "overhead",
            f"call overhead, {name}s <= 5x NumPy's 0-d add",
            _target_ratio("overhead", (NUMPY_ADD,), 5.0, f"{kind}_us", "array_us"),
        )
        for kind, name in OVERHEAD_KINDS.items()
    ),
    *(
        (
            name,
            f"LSTM step batch {batch}/{hidden} units <= 1.0x the best of PyTorch and JAX",
            _target_ratio(name, (TORCH_LSTM, JAX_SCAN), 1.0),
        )
        for name, (batch, hidden) in LSTM_SHAPES.items()
    ),
    ("compile_lstm", "LSTM compile cold <= 1 s", _target_seconds("compile_lstm", "cold_s", 1.0)),
    ("compile", "MLP compile cold <= 0.5 s", _target_seconds("compile", "cold_s", 0.5)),
    ("compile", "MLP compile warm <= 0.05 s", _target_seconds("compile", "warm_s", 0.05)),
    ("oversubscribed", "MLP slowdown beside a busy process <= PyTorch's", _target_slowdown("PyTorch")),
]


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class RunOptions:
    quick: bool = False
    timeout: float = 300.0  # seconds per worker process
    threads: int = 0  # 0: every framework uses all cores (its default); N: all limited to N cores
    rows: tuple[str, ...] = ()  # run only rows whose label contains one of these (symdl always runs)
    cache_root: str = ""  # the run's cache directories (one per framework) outside the compile benchmarks
    rounds: int = 1  # round-robin repetitions of each timed benchmark's rows


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
CACHE_KINDS = ("symdl", "pytensor", "jax", "torch")


def _symdl_flags(compiledir: str, threads: int) -> str:
    mine = ("compiledir", "num_threads") if threads else ("compiledir",)
    flags = [f.strip() for f in os.environ.get("SYMDL_FLAGS", "").split(",") if f.strip()]
    flags = [f for f in flags if not f.startswith(mine)] + [f"compiledir={compiledir}"]
    return ",".join(flags + ([f"num_threads={threads}"] if threads else []))


def _pytensor_flags(compiledir: str) -> str:
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",") if f and not f.startswith("compiledir")]
    return ",".join([*flags, f"compiledir={compiledir}"])


def cache_dirs(options: RunOptions, cache_kind: str = "", cache_dir: str = "") -> dict[str, str]:
    """Each framework's cache directory: the run's (under ``options.cache_root``), except the
    framework ``cache_kind``'s, which is ``cache_dir`` (a compile benchmark's cold/warm pair).

    JAX has no cache directory of its own outside the compile benchmarks: its persistent
    compilation cache is off unless asked for, as for a user who did not turn it on.
    """
    dirs = {kind: os.path.join(options.cache_root, kind) for kind in CACHE_KINDS if kind != "jax"}
    if cache_kind:
        dirs[cache_kind] = cache_dir
    return dirs


def _environment(options: RunOptions, cache_kind: str = "", cache_dir: str = "") -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    dirs = cache_dirs(options, cache_kind, cache_dir)
    env["SYMDL_FLAGS"] = _symdl_flags(dirs["symdl"], options.threads)
    env["PYTENSOR_FLAGS"] = _pytensor_flags(dirs["pytensor"])
    env["TORCHINDUCTOR_CACHE_DIR"] = dirs["torch"]
    if "jax" in dirs:
        env["JAX_COMPILATION_CACHE_DIR"] = dirs["jax"]
    else:
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
    if options.threads:
        env.update({name: str(options.threads) for name in THREAD_VARIABLES})
        if options.threads == 1:
            xla = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            env["XLA_FLAGS"] = " ".join(filter(None, [env.get("XLA_FLAGS", ""), xla]))
    return env


def _pin(threads: int) -> Callable[[], None] | None:
    """A pre-exec hook that confines a worker to ``threads`` cores (what JAX/XLA obeys for N > 1)."""
    if not threads or not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))[:threads]
    return lambda: os.sched_setaffinity(0, cores)


def run_worker(row: Row, function: str, options: RunOptions, env: dict[str, str], phase: str = "") -> dict:
    """Start one worker process and return its result dict (with ``status``; ``wall_s`` added)."""
    command = [sys.executable, "-m", "benchmarks.worker", row.module, function, "--options", json.dumps(row.options)]
    command += ["--quick"] if options.quick else []
    command += ["--phase", phase] if phase else []
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            command,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=options.timeout,
            preexec_fn=_pin(options.threads),
        )
    except subprocess.TimeoutExpired:
        return {"status": "error", "detail": f"timed out after {options.timeout:.0f} s", "wall_s": options.timeout}
    wall = time.perf_counter() - start
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            result = json.loads(line[len(MARKER) :])
            if result.get("status") == "error" and proc.stderr.strip():
                result["stderr"] = proc.stderr.strip().splitlines()[-20:]
            return {**result, "wall_s": wall}
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"status": "error", "detail": f"worker exited {proc.returncode}: {tail}", "wall_s": wall}


def run_row(bench: Benchmark, row: Row, options: RunOptions) -> dict:
    missing = [name for name in row.requires if find_spec(name) is None]
    if missing:
        return {"status": "not installed", "detail": ", ".join(missing)}
    function = row.function or bench.function
    if not bench.phases:
        return run_worker(row, function, options, _environment(options))
    # One cold/warm pair per repetition, each pair with a fresh cache directory.
    phases: list[dict] = []
    for _ in range(1 if options.quick else 3):
        with tempfile.TemporaryDirectory(prefix=f"bench-{row.cache}-") as cache_dir:
            pair = {}
            for phase in bench.phases:
                result = run_worker(row, function, options, _environment(options, row.cache, cache_dir), phase)
                if result.get("status") != "ok":
                    return result
                pair[phase] = result
            phases.append(pair)
    return merge_phases(phases)


def merge_phases(pairs: list[dict[str, dict]]) -> dict:
    """One result from repetitions of a cold/warm pair: each number a phase reports, as
    ``<phase>_<name>`` (``s`` as ``<phase>_s``), is the median over the repetitions (their values
    kept under ``samples``); the notes of every phase are kept; other fields are the last phase's."""
    merged: dict[str, Any] = {"status": "ok"}
    values: dict[str, list[float]] = {}
    notes: list[str] = []
    for pair in pairs:
        for phase, result in pair.items():
            for key, value in result.items():
                if key in ("status", "wall_s"):
                    continue
                if isinstance(value, int | float) and not isinstance(value, bool):
                    values.setdefault(f"{phase}_s" if key == "s" else f"{phase}_{key}", []).append(value)
                elif key == "notes":
                    notes += [note for note in value if note not in notes]
                else:
                    merged[key] = value
    merged.update({key: sorted(v)[len(v) // 2] for key, v in values.items()})
    merged["notes"] = notes
    merged["samples"] = values
    return merged


def median_round(rounds: list[dict]) -> dict:
    """One result from several rounds of a row: the median of every number all of them report
    (their values kept under ``rounds``); the first failure if any round failed."""
    failed = [r for r in rounds if r.get("status") != "ok"]
    if failed or len(rounds) == 1:
        return (failed or rounds)[0]
    merged = dict(rounds[-1])
    kept: dict[str, list[float]] = {}
    for key in list(merged):
        values = [r.get(key) for r in rounds]
        if key != "wall_s" and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            merged[key] = sorted(values)[len(values) // 2]
            kept[key] = values
    merged["rounds"] = kept
    return merged


def run_all(names: list[str], options: RunOptions, log: Callable[[str], None]) -> dict:
    results: dict[str, dict[str, dict]] = {}
    options.cache_root = tempfile.mkdtemp(prefix="bench-caches-")
    failed = False
    for name in names:
        bench = BENCHMARKS[name]
        results[name] = {}
        rows = [
            row
            for row in bench.rows
            if not options.rows or row.module == "symdl_bench" or any(s in row.label.lower() for s in options.rows)
        ]
        rounds: dict[str, list[dict]] = {row.label: [] for row in rows}
        for k in range(1 if bench.phases else options.rounds):
            for row in rows:
                start = time.perf_counter()
                result = run_row(bench, row, options)
                rounds[row.label].append(result)
                failed |= row.module == "symdl_bench" and result["status"] == "error"
                which = f" (round {k + 1})" if options.rounds > 1 and not bench.phases else ""
                log(f"  {name:<20} {row.label:<34} {result['status']:<14} {time.perf_counter() - start:6.1f} s{which}")
        for row in rows:
            results[name][row.label] = median_round(rounds[row.label])
    if failed:
        log(f"symdl failed somewhere: its compile cache and logs are kept in {options.cache_root}/symdl")
    else:
        shutil.rmtree(options.cache_root, ignore_errors=True)
    return results


# ---------------------------------------------------------------------------------------------
# Reporting


def machine() -> dict[str, str]:
    info = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    fields = dict(line.split(":", 1) for line in cpuinfo.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    simd = [f for f in ("avx2", "avx512f", "fma") if f in flags]
    info["cpu"] = f"{fields.get('model name', platform.processor() or 'unknown')}"
    if "cpu family" in fields:
        family, model = int(fields["cpu family"]), int(fields.get("model", "0"))
        info["cpu"] += f" (family {family}, model {model}{_amd_core(fields.get('vendor_id', ''), family, model)})"
    info["cpu"] += f"; {', '.join(simd) or 'no AVX2'}"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info["cores"] = f"{cores} usable of {os.cpu_count()}"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split()[1])
        info["memory"] = f"{total_kb / 2**20:.1f} GiB"
    if hasattr(os, "getloadavg"):
        info["load average at start"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    info["os"] = platform.platform()
    info["python"] = platform.python_version()
    compiler = shutil.which(os.environ.get("CC", "gcc"))
    if compiler:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout.splitlines()
        info["C compiler"] = out[0] if out else compiler
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True)
        if rev.returncode == 0:
            info["symdl commit"] = rev.stdout.strip()
    except OSError:
        pass
    blas_env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    info["OpenBLAS env"] = (
        f"{blas_env} set here, unset in the benchmark processes" if blas_env else "OPENBLAS_CORETYPE/L2_SIZE not set"
    )
    return info


def _amd_core(vendor: str, family: int, model: int) -> str:
    """The Zen generation of an AMD CPU (machines of one kind differ: Zen 1 vs Zen 4 changes NumPy 6x)."""
    if vendor != "AuthenticAMD":
        return ""
    if family == 23:
        return ", Zen 2" if model >= 0x30 else ", Zen 1"
    if family == 25:
        return ", Zen 4" if 0x10 <= model <= 0x1F or 0x60 <= model <= 0x7F or 0xA0 <= model <= 0xAF else ", Zen 3"
    return ", Zen 5" if family == 26 else ""


def versions(results: dict) -> str:
    """One line naming each framework's version as its workers reported it."""
    names = {
        "symdl_bench": "symdl",
        "numpy_bench": "NumPy",
        "pytensor_bench": "PyTensor",
        "jax_bench": "JAX",
        "torch_bench": "PyTorch",
    }
    found: dict[str, str] = {}
    for name, bench_results in results.items():
        for row in BENCHMARKS[name].rows:
            version = bench_results.get(row.label, {}).get("version")
            if version:
                found.setdefault(names[row.module], version)
    return ", ".join(f"{k} {v}" for k, v in found.items())


def _label(row: Row, result: dict) -> str:
    label = row.label
    if row.module == "symdl_bench" and result.get("backend"):
        label += f" [{result['backend']}]"
    if result.get("not_comparable"):
        label += " (not comparable)"
    return label


def _check(result: dict, reference: dict | None) -> str:
    mine = result.get("check")
    if not mine or result.get("status") != "ok":
        return ""
    if reference is None or reference.get("status") != "ok" or not reference.get("check"):
        return "-"
    theirs = reference["check"]
    if result is reference:
        return "reference"
    scale = max(1e-6, *(abs(v) for v in theirs))
    ok = len(mine) == len(theirs) and all(abs(a - b) <= 2e-3 * scale for a, b in zip(mine, theirs))
    return "ok" if ok else "MISMATCH " + ", ".join(f"{v:.5g}" for v in mine)


def table(bench: Benchmark, results: dict[str, dict]) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, rows and notes of one benchmark's table."""
    symdl = results.get(SYMDL, {})
    reference = next((results.get(r.label) for r in bench.rows if r.reference), None)
    header = ["framework", "version"]
    for metric in bench.metrics:
        header.append(metric.header)
    ratio_metrics = [m for m in bench.metrics if m.ratio]
    for metric in ratio_metrics:
        header.append(
            "symdl ratio" if len(ratio_metrics) == 1 else f"symdl ratio ({metric.short or metric.header.split()[0]})"
        )
    header.append("check")
    rows, notes = [], []
    for row in bench.rows:
        if row.label not in results:
            continue
        result = results[row.label]
        status = result.get("status")
        cells = [_label(row, result), result.get("version", "")]
        for metric in bench.metrics:
            value = result.get(metric.key)
            if status != "ok":
                text = "symdl: op missing" if status == "op missing" and row.module == "symdl_bench" else status
                cells.append(text if metric is bench.metrics[0] else "")
            else:
                cells.append(metric.fmt.format(value) if isinstance(value, int | float) else "")
        for metric in bench.metrics:
            if not metric.ratio:
                continue
            mine, theirs = symdl.get(metric.key), result.get(metric.key)
            if row.module == "symdl_bench" or status != "ok" or not isinstance(theirs, int | float):
                cells.append("")
            elif (
                symdl.get("status") == "ok"
                and isinstance(mine, int | float)
                and isinstance(theirs, int | float)
                and theirs
            ):
                cells.append(f"{mine / theirs:.2f}x")
            else:
                cells.append("n/a")
        cells.append(_check(result, reference))
        rows.append(cells)
        for note in result.get("notes", []):
            if note not in notes:
                notes.append(note)
        if result.get("not_comparable"):
            notes.append(f"{row.label}: not comparable ({result['not_comparable']}), left out of the targets")
        if status != "ok" and result.get("detail"):
            notes.append(f"{row.label}: {status}: {' '.join(str(result['detail']).split())}")
    return header, rows, notes


def format_text(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = []
    for cells in [header, *rows]:
        parts = [str(c).rjust(w) if _is_number(str(c)) else str(c).ljust(w) for c, w in zip(cells, widths)]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in cells) + " |" for cells in rows]
    return "\n".join(lines)


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("x"))
        return True
    except ValueError:
        return False


def report(results: dict, info: dict[str, str], quick: bool, markdown: bool) -> str:
    out = []
    if markdown:
        out.append("# Benchmark results\n")
        out.append(
            "Written by `python -m benchmarks"
            + (" --quick" if quick else "")
            + "` (see `benchmarks/harness.py` for the method).\n"
        )
        out += [f"- **{k}**: {v}" for k, v in info.items()]
        out.append(
            "\nEach framework runs each benchmark in a process of its own; times are medians after warm-up, "
            "every framework keeping its last three results alive. "
            "The ratio column is symdl's time divided by that row's (below 1: symdl is faster). "
            "Compile times: cold = empty cache directories for every framework (symdl also without the runtime "
            "built at install; the second symdl row has it), warm = a second process with the same directories. "
            "The check column compares each framework's output statistics, or its losses at steps 1 and 3, "
            "with the reference row's. Only ratios from one run on one machine are comparable; a load average "
            "above the core count means other processes shared the CPU and the numbers are noisy."
        )
    else:
        out.append("symdl benchmarks" + (" (--quick: few samples, rough numbers)" if quick else ""))
        out += [f"  {k}: {v}" for k, v in info.items()]
    for name, bench_results in results.items():
        bench = BENCHMARKS[name]
        header, rows, notes = table(bench, bench_results)
        out.append("")
        out.append(f"## {bench.title}\n" if markdown else f"== {bench.title} ==")
        out.append(format_markdown(header, rows) if markdown else format_text(header, rows))
        if notes:
            out.append("")
            out += [("- " if markdown else "  * ") + note for note in notes]
    targets = [(desc, *fn(results)) for bench, desc, fn in TARGETS if bench in results]
    if targets:
        out.append("")
        out.append("## Targets (ANCHORS.md)\n" if markdown else "== Targets (ANCHORS.md) ==")
        marks = {True: "met", False: "MISSED", None: "-"}
        header = ["target", "symdl", "result"]
        rows = [[desc, value, marks[ok]] for desc, value, ok in targets]
        out.append(format_markdown(header, rows) if markdown else format_text(header, rows))
    return "\n".join(out) + "\n"


def _compile_bytecode() -> None:
    """Write symdl's .pyc files, as ``pip install`` does for the peers' packages, so that a warm
    start is not charged for compiling Python source (an editable checkout, or
    PYTHONDONTWRITEBYTECODE, leaves them unwritten)."""
    import compileall

    import symdl

    compileall.compile_dir(os.path.dirname(symdl.__file__), quiet=1)


def select(only: list[str]) -> list[str]:
    """The benchmarks named by ``--only`` arguments (names or shell patterns, comma-separated), in
    the harness's order; all of them when there are none. ValueError for a name that matches none."""
    wanted = [n.strip() for item in only for n in item.split(",") if n.strip()]
    unknown = [n for n in wanted if not fnmatch.filter(BENCHMARKS, n)]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return [name for name in BENCHMARKS if not wanted or any(fnmatch.fnmatchcase(name, n) for n in wanted)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="symdl vs its peers, one table per benchmark."
    )
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only these benchmarks (repeatable or comma-separated; shell patterns such "
                             f"as 'mlp*' allowed): {', '.join(BENCHMARKS)}")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="few samples and one compile repetition (for development)")
    parser.add_argument("--frameworks", default="", metavar="A,B",
                        help="run only the rows whose label contains one of these words (symdl always runs)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=0, help="seconds per worker process (default 300, quick 150)")
    parser.add_argument(
        "--markdown", metavar="PATH", help="also write the report as Markdown (e.g. benchmarks/RESULTS.md)"
    )
    parser.add_argument("--threads", type=int, default=0, help="limit every framework to N threads (default: all)")
    parser.add_argument("--rounds", type=int, default=1, metavar="N",
                        help="run each timed benchmark's rows N times, round-robin, and report the median round")  # fmt: skip
    parser.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    parser.add_argument("--from-json", metavar="PATH", help="print the tables of a --json file instead of running")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and their rows, and exit")
    args = parser.parse_args(argv)

    if args.list:
        for bench in BENCHMARKS.values():
            print(f"{bench.name:<20} {bench.title}")
            print(f"{'':<20} rows: {', '.join(row.label for row in bench.rows)}")
        return 0
    try:
        names = select(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    options = RunOptions(
        quick=args.quick,
        timeout=args.timeout or (150 if args.quick else 300),
        threads=args.threads,
        rows=tuple(w.strip().lower() for w in args.frameworks.split(",") if w.strip()),
        rounds=max(1, args.rounds),
    )

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        info, results, quick = saved["machine"], saved["results"], saved["quick"]
        results = {name: value for name, value in results.items() if name in names}
        print(report(results, info, quick, markdown=False))
        if args.markdown:
            Path(args.markdown).write_text(report(results, info, quick, markdown=True))
        return 0
    info = machine()
    info["threads"] = (
        f"every framework limited to {args.threads} (thread variables, XLA flags, CPU affinity)"
        if args.threads
        else "each framework's default (all cores)"
    )
    if args.rounds > 1:
        info["rounds"] = f"{args.rounds}, round-robin over the frameworks; each row shows its median round"
    log(f"running {', '.join(names)}{' (quick)' if args.quick else ''}; each row in its own process")
    _compile_bytecode()
    results = run_all(names, options, log)
    if hasattr(os, "getloadavg"):
        info["load average at end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    info["versions"] = versions(results)
    print(report(results, info, args.quick, markdown=False))
    if args.markdown:
        Path(args.markdown).write_text(report(results, info, args.quick, markdown=True))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "quick": args.quick, "results": results}, indent=1))
    return 0
