"""Compiling C with gcc, and the on-disk cache of compiled modules.

Cache entries are content-addressed: the key hashes the source, the compiler's identity (path,
size and date of its binary: no process is started to ask), the flags and the CPU's feature
flags, so ``-march=native`` code never loads on a machine that lacks its instructions. Each
entry is written under a temporary name and renamed into place, followed by a small file with
its SHA-256; an entry whose checksum does not match (truncated, corrupted) is rebuilt. A lock
file per key lets two processes that compile the same function at once both succeed: the
second waits, then finds the first one's result. A waiter says whom it waits for after
``LOCK_NOTICE_S`` seconds, and compiles the module itself when the lock's owner has exited, has
been stopped (SIGSTOP, Ctrl-Z) for ``symdl.config.compile_lock_timeout`` seconds, or has run
``RUNNING_OWNER_FACTOR`` times that long (a hung compiler). Temporaries that a killed process left behind are removed by the next
process that compiles into the same cache.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.machinery
import importlib.util
import os
import re
import shlex
import shutil
import sys
import sysconfig
import time
import warnings
from pathlib import Path
from typing import Any

from symdl.backend.c.runtime_sources import (
    OPT_FLAGS,
    RUNTIME_COMPILE_FLAGS,
    RUNTIME_SOURCES,
    cpu_features,
    runtime_digest,
)
from symdl.config import config
from symdl.errors import CompileError, SymdlWarning

# Generated code needs only OpenMP's simd directives (the runtime runs the threads), and -O2:
# its loops are vectorized by their `omp simd` pragmas at either level (the elementwise benchmark
# runs as fast), and gcc takes a quarter less time than at -O3, most of a cold compile.
GEN_FLAGS = [flag for flag in OPT_FLAGS if flag != "-O3"] + ["-O2", "-fopenmp-simd", "-shared", "-w"]
RUNTIME_FLAGS = RUNTIME_COMPILE_FLAGS + ["-shared"]

compile_count = 0  # how many times gcc ran in this process (tests read it)
LOCK_NOTICE_S = 5.0  # a process waiting for another one's compile says so after this long
RUNNING_OWNER_FACTOR = 5  # a lock owner that runs is taken over after this many compile_lock_timeouts
STALE_AGE_S = 86400.0  # temporaries named without their owner (older symdl) are removed after this long


def compiler_command() -> list[str]:
    """The C compiler: ``$CC`` (which may carry arguments) or gcc."""
    return shlex.split(os.environ.get("CC") or "gcc")


def compiler_missing_message(cmd: list[str] | None = None) -> str:
    """Why the C backend cannot compile here when the compiler is not found, and what to do."""
    cmd = cmd or compiler_command()
    where = "named by $CC" if os.environ.get("CC") else "looked up on $PATH"
    return (
        f"the C compiler {cmd[0]!r} ({where}) was not found: install gcc (Debian/Ubuntu: apt-get install gcc, "
        "Fedora: dnf install gcc, conda: conda install -c conda-forge gcc) or set $CC to a C compiler"
    )


USE_PY = "; or use mode='py' (the NumPy backend, typically 10-100x slower)"


def extra_flags() -> list[str]:
    """``$SYMDL_CFLAGS``: more flags for every build (``-fsanitize=address`` for a checked run)."""
    return shlex.split(os.environ.get("SYMDL_CFLAGS", ""))


@functools.cache
def _compiler_identity(cmd: tuple[str, ...]) -> str:
    path = shutil.which(cmd[0])
    if path is None:
        return ""
    real = os.path.realpath(path)
    st = os.stat(real)
    return f"{' '.join(cmd)}|{real}|{st.st_size}|{int(st.st_mtime)}"


def compiler_identity() -> str:
    """A string that changes when the compiler does; empty when there is none."""
    return _compiler_identity(tuple(compiler_command()))


def kernels_dir() -> Path:
    """The hand-written C headers and sources (``kernels/c``), installed as ``symdl.kernels``."""
    spec = importlib.util.find_spec("symdl.kernels")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "c"
        if path.is_dir():
            return path
    return Path(__file__).resolve().parents[3] / "kernels" / "c"


def cache_dir() -> Path:
    """``symdl.config.compiledir``, or ``$XDG_CACHE_HOME/symdl`` (``~/.cache/symdl``)."""
    if config.compiledir:
        base = Path(config.compiledir).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = Path(xdg) / "symdl"
    if base in _fallback_dirs:
        return _fallback_dirs[base]
    try:
        base.mkdir(parents=True, exist_ok=True)
        if os.access(base, os.W_OK | os.X_OK):
            return base
        problem = "is not writable"
    except OSError as exc:
        problem = f"cannot be created ({exc.strerror or exc})"
    import tempfile

    fallback = Path(tempfile.gettempdir()) / f"symdl-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    fallback.mkdir(parents=True, exist_ok=True)
    warnings.warn(
        f"symdl: the compile cache directory {base} {problem}; compiled modules go to {fallback} instead "
        "(set symdl.config.compiledir, or SYMDL_FLAGS=compiledir=..., to a writable directory)",
        SymdlWarning,
        stacklevel=2,
    )
    _fallback_dirs[base] = fallback
    return fallback


_fallback_dirs: dict[Path, Path] = {}  # unusable cache directories -> the one used instead


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_key(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def _valid(so: Path, meta: Path) -> bool:
    try:
        want = meta.read_text().strip()
        return len(want) == 64 and _digest(so.read_bytes()) == want
    except OSError:
        return False


# A line of generated source that starts a part: build may compile the parts as separate units
# (each after the lines before the first marker: the includes) on separate cores, then link them.
PART_MARKER = "/* symdl: part */"
SPLIT_MIN_LINES = 120  # smaller sources: a second gcc and a link cost more than they save


def _run_compiler(args: list[str], log_path: Path) -> tuple[bool, str]:
    return _run_compilers([args], log_path)


def _run_compilers(commands: list[list[str]], log_path: Path) -> tuple[bool, str]:
    """Run the commands at once; (all succeeded, their logs)."""
    import subprocess  # here, not at the top: a warm start (a cache hit) never pays for importing it

    global compile_count
    compile_count += 1
    try:
        procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for args in commands]
    except FileNotFoundError:
        raise CompileError(compiler_missing_message(commands[0]) + USE_PY) from None
    ok, log = True, ""
    for args, proc in zip(commands, procs):
        out, err = proc.communicate()
        log += f"$ {shlex.join(args)}\n{out}{err}"
        ok &= proc.returncode == 0
    if not ok:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(log)
    return ok, log


def _units(source: str) -> list[str]:
    """The compilation units of ``source``: one, or one per part when splitting pays (the parts
    keep their line numbers in ``module.c`` through ``#line``, for the error messages)."""
    lines = source.split("\n")
    starts = [i for i, line in enumerate(lines) if line == PART_MARKER]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if len(starts) < 2 or cores < 2 or len(lines) < SPLIT_MIN_LINES:
        return [source]
    head = "\n".join(lines[: starts[0]])
    ends = [*starts[1:], len(lines)]
    return [
        f'{head}\n#line {start + 2} "module.c"\n' + "\n".join(lines[start + 1 : end])
        for start, end in zip(starts, ends)
    ]


def build(
    key: str,
    source: str,
    flags: list[str],
    libs: list[str],
    suffix: str = ".so",
    explain: Any = None,
) -> Path:
    """The shared object compiled from ``source`` (from the cache when present and intact).

    ``explain(log)`` turns a compiler failure into a message (naming the failing node);
    the full log is saved next to the cache entry and its path is in the CompileError.
    """
    root = cache_dir()
    sub = root / key[:2]
    sub.mkdir(exist_ok=True)
    so = sub / f"{key}{suffix}"
    meta = sub / f"{key}.sha256"
    if _valid(so, meta):
        return so
    clean_stale_temporaries(root)
    owner = f".{key}-{_host()}-{os.getpid()}"  # temporaries name their owner: clean_stale_temporaries
    lock_path = sub / f"{key}.lock"
    with open(lock_path, "a+") as lock:  # never truncated by a waiter: it holds the owner's record
        held = _acquire(lock, lock_path)
        try:
            if _valid(so, meta):  # another process built it while we waited
                return so
            import tempfile

            with tempfile.TemporaryDirectory(dir=sub, prefix=f"{owner}-") as tmp:
                src = Path(tmp) / "module.c"
                src.write_text(source)
                out = Path(tmp) / f"module{suffix}"
                log_path = root / "logs" / f"{key}.log"
                units = _units(source)
                cc, include = compiler_command(), ["-I", str(kernels_dir())]
                if len(units) == 1:
                    ok, log = _run_compiler([*cc, *flags, *include, str(src), "-o", str(out), *libs], log_path)
                else:
                    objects = [Path(tmp) / f"part{k}.o" for k in range(len(units))]
                    for k, unit in enumerate(units):
                        (Path(tmp) / f"part{k}.c").write_text(unit)
                    compile_only = [f for f in flags if f != "-shared"]
                    ok, log = _run_compilers(
                        [[*cc, *compile_only, *include, "-c", str(Path(tmp) / f"part{k}.c"), "-o", str(o)]
                         for k, o in enumerate(objects)],
                        log_path,
                    )  # fmt: skip
                    if ok:
                        ok, link_log = _run_compiler([*cc, *flags, *map(str, objects), "-o", str(out), *libs], log_path)
                        log += link_log
                if not ok:
                    (root / "logs" / f"{key}.c").write_text(source)
                    detail = explain(log) if explain else ""
                    raise CompileError(
                        f"the C compiler failed{': ' + detail if detail else ''}\n"
                        f"full log: {log_path} (source: {root / 'logs' / (key + '.c')})"
                    )
                data = out.read_bytes()
                tmp_so = sub / f"{owner}.tmp"
                tmp_meta = sub / f"{owner}.sha"
                tmp_so.write_bytes(data)
                os.replace(tmp_so, so)
                tmp_meta.write_text(_digest(data) + "\n")
                os.replace(tmp_meta, meta)
        finally:
            if held:
                lock.truncate(0)
                lock.flush()
                fcntl.flock(lock, fcntl.LOCK_UN)
    return so


# ---------------------------------------------------------------- the lock and its owner
@functools.cache
def _host() -> str:
    import socket

    return _digest(socket.gethostname().encode())[:8]


def _process(pid: int) -> tuple[str, str] | None:
    """(state, start time) of process ``pid`` on this machine, None when it has exited. The
    state is ``/proc``'s letter (``T``: stopped) or ``?`` where there is no ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?", ""
    except OSError:
        return "?", ""
    if len(fields) < 20:
        return "?", ""
    return None if fields[0] in ("Z", "X") else (fields[0], fields[19])  # a zombie has exited


def _owner_alive(pid: int, start: str) -> bool:
    """Whether process ``pid``, started at ``start`` (pids are reused), still runs here."""
    info = _process(pid)
    return info is not None and (not start or not info[1] or info[1] == start)


def _read_owner(lock: Any) -> tuple[int, str, str] | None:
    """(pid, start time, host) that the lock's holder wrote into it; None while it has not."""
    lock.seek(0)
    fields = lock.read().split()
    if len(fields) != 3 or not fields[0].isdigit():
        return None
    return int(fields[0]), fields[1].strip("-"), fields[2]


def _acquire(lock: Any, path: Path) -> bool:
    """Take the compile lock ``lock`` (the open file ``path``) and record this process in it;
    True once held. False when its owner has exited or has held it longer than
    ``config.compile_lock_timeout`` seconds: the caller then compiles without the lock (entries
    are renamed into place whole, so two processes compiling one module both succeed)."""
    start, delay, told = time.monotonic(), 0.01, False
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            me = _process(os.getpid())
            lock.truncate(0)
            lock.write(f"{os.getpid()} {(me[1] if me else '') or '-'} {_host()}\n")
            lock.flush()
            return True
        waited = time.monotonic() - start
        owner = _read_owner(lock)
        limit = float(config.compile_lock_timeout)
        state = _process(owner[0]) if owner and owner[2] == _host() else ("?", "")
        who = f"process {owner[0]}" if owner else "another process"
        stopped = " (stopped)" if state and state[0] in "Tt" else ""
        exited = owner is not None and owner[2] == _host() and not _owner_alive(owner[0], owner[1])
        # A stopped owner is stuck; a running one gets RUNNING_OWNER_FACTOR times longer (a cold
        # compile under a sanitizer on a loaded machine takes minutes), then counts as hung.
        if (exited and waited >= 1.0) or waited >= limit * (1 if stopped else RUNNING_OWNER_FACTOR):
            why = "has exited" if exited else f"has held it for {waited:.0f} s{stopped}"
            warnings.warn(
                f"symdl: {who}, which holds the compile lock {path}, {why}: this process compiles the module "
                f"itself (the limit is symdl.config.compile_lock_timeout = {limit:g} s)",
                SymdlWarning,
                stacklevel=3,
            )
            return False
        if not told and waited >= LOCK_NOTICE_S:
            warnings.warn(
                f"symdl: waiting for {who}{stopped}, which compiles the same module (lock {path}); after "
                f"{limit:g} s (symdl.config.compile_lock_timeout) if it is stopped, {limit * RUNNING_OWNER_FACTOR:g} s "
                "if it runs, this process compiles the module itself",
                SymdlWarning,
                stacklevel=3,
            )
            told = True
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


_TEMPORARY = re.compile(r"\.(?P<key>[0-9a-zA-Z_]+)-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)[-.]")
_OLD_TEMPORARY = re.compile(r"\.[0-9a-zA-Z_]+([-.]\w+|\.\d+\.(tmp|sha))$")
_cleaned: set[Path] = set()


def clean_stale_temporaries(root: Path) -> list[Path]:
    """Remove the temporary directories and files in the cache ``root`` whose owner process has
    exited (killed while compiling), once per process and cache; returns what was removed."""
    if root in _cleaned:
        return []
    _cleaned.add(root)
    removed, host, now = [], _host(), time.time()
    for sub in root.glob("[0-9a-f][0-9a-f]"):
        try:
            entries = list(os.scandir(sub))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.startswith("."):
                continue
            match = _TEMPORARY.match(entry.name)
            if match:
                stale = match["host"] == host and _process(int(match["pid"])) is None
            else:
                try:
                    stale = bool(_OLD_TEMPORARY.match(entry.name)) and now - entry.stat().st_mtime > STALE_AGE_S
                except OSError:
                    continue
            if not stale:
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed


# ---------------------------------------------------------------- the runtime extension
def _openblas() -> Any:
    import scipy_openblas32

    return scipy_openblas32


@functools.cache
def mvec_available() -> bool:
    """Whether glibc's vector maths library can be linked (x86-64 glibc >= 2.22)."""
    import platform

    if platform.machine() not in ("x86_64", "AMD64"):
        return False
    for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib"):
        if os.path.exists(os.path.join(d, "libmvec.so")):
            return True
    return False


@functools.cache
def headers_digest() -> str:
    """A digest of the headers generated code includes (part of every cache key)."""
    kdir = kernels_dir()
    return _digest(b"".join((kdir / name).read_bytes() for name in ("symdl_rt.h", "symdl_math.h")))


def generated_flags() -> tuple[list[str], list[str]]:
    """(compiler flags, link flags) for generated modules."""
    if mvec_available():
        return [*GEN_FLAGS, "-DSD_USE_MVEC", *extra_flags()], ["-lmvec", "-lm"]
    return [*GEN_FLAGS, *extra_flags()], ["-lm"]


_runtime: Any = None


def _installed_runtime(kdir: Path) -> Any:
    """The runtime extension that setup.py built at install time, if it was built from the sources
    in ``kdir`` and no extra flags (``$SYMDL_CFLAGS``) ask for another build; else None."""
    if extra_flags():
        return None
    try:
        module = importlib.import_module("symdl.backend.c.prebuilt.symdl_crt")
    except ImportError:  # installed without it (no compiler then), or built for another Python
        return None
    return module if getattr(module, "SOURCES_DIGEST", "") == runtime_digest(kdir) else None


def runtime() -> Any:
    """The compiled runtime extension ``symdl_crt``: the one built at install time, or else one
    built on first use and cached."""
    global _runtime
    if _runtime is not None:
        return _runtime
    import numpy as np

    from symdl.errors import ShapeError

    kdir = kernels_dir()
    start = time.perf_counter()
    # OpenMP threads that spin long after a loop steal the cores OpenBLAS's threads need next
    # (and those of other processes): wait briefly, then sleep. Read by libgomp when it loads.
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "10000")
    module = _installed_runtime(kdir) or _build_runtime(kdir, np)
    from symdl.errors import InputError, NanGuardError
    from symdl.tensor.nlinalg import LinAlgError

    module.configure(ShapeError, InputError, NanGuardError, LinAlgError)
    module.set_num_threads(config.num_threads)
    module.load_seconds = time.perf_counter() - start
    _runtime = module
    return module


def _build_runtime(kdir: Path, np: Any) -> Any:
    ob = _openblas()
    sources = "".join((kdir / name).read_text() for name in RUNTIME_SOURCES)
    source = (kdir / "symdl_runtime.c").read_text()
    py_inc = sysconfig.get_paths()["include"]
    flags = [*RUNTIME_FLAGS, *extra_flags(), "-I", py_inc, "-I", np.get_include(), "-I", ob.get_include_dir()]
    libdir = ob.get_lib_dir()
    libs = ["-L", libdir, "-lscipy_openblas", f"-Wl,-rpath,{libdir}", "-lm"]
    key = cache_key(
        "runtime",
        sources,
        compiler_identity(),
        " ".join(flags + libs),
        cpu_features(),
        sys.version,
        np.__version__,
        ob.__version__,
    )
    path = build(key, source, flags, libs, suffix=sysconfig.get_config_var("EXT_SUFFIX") or ".so")
    loader = importlib.machinery.ExtensionFileLoader("symdl_crt", str(path))
    spec = importlib.util.spec_from_file_location("symdl_crt", str(path), loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
