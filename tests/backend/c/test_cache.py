"""The on-disk cache of compiled modules: warm starts never call the compiler, corrupted entries
are rebuilt, two processes compiling the same graph at once both succeed, and a compiler failure
is a CompileError naming the node, the user's line and the saved log."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.backend.c import build, codegen
from symdl.errors import CompileError


@pytest.fixture
def compiledir(tmp_path):
    with symdl.config.change(compiledir=str(tmp_path)):
        yield tmp_path


def _graph(offset):
    x = T.fvector("x")
    return x, T.tanh(x * 2) + offset


def _corrupt(library, data):
    # A new file renamed over the entry: the loaded library keeps its own (old) file, as a process
    # that loaded an entry before it was damaged would.
    tmp = library.with_suffix(".damaged")
    tmp.write_bytes(data)
    os.replace(tmp, library)


def test_warm_start_loads_from_the_cache_without_calling_the_compiler(compiledir, monkeypatch):
    x, y = _graph(0.25)
    cold = symdl.function([x], y, mode="c")
    value = np.linspace(-1, 1, 7).astype("float32")

    def no_compiler(*args, **kwargs):
        raise AssertionError("the compiler was called on a warm start")

    monkeypatch.setattr(build, "_run_compiler", no_compiler)
    x2, y2 = _graph(0.25)  # the same graph built again, at another line of user code
    warm = symdl.function([x2], y2, mode="c")
    np.testing.assert_allclose(warm(value), cold(value))
    np.testing.assert_allclose(warm(value), np.tanh(value * 2) + np.float32(0.25), rtol=1e-6)


def test_a_corrupted_cache_entry_is_detected_and_rebuilt(compiledir):
    x, y = _graph(0.5)
    f = symdl.function([x], y, mode="c")
    library = Path(f.thunk.library)
    assert library.is_relative_to(compiledir)
    _corrupt(library, library.read_bytes()[: len(library.read_bytes()) // 3])  # truncated
    before = build.compile_count
    x2, y2 = _graph(0.5)
    g = symdl.function([x2], y2, mode="c")
    assert build.compile_count == before + 1
    value = np.arange(5, dtype="float32")
    np.testing.assert_allclose(g(value), np.tanh(value * 2) + np.float32(0.5), rtol=1e-6)


def test_a_cache_entry_with_garbage_bytes_is_rebuilt(compiledir):
    x, y = _graph(0.75)
    f = symdl.function([x], y, mode="c")
    library = Path(f.thunk.library)
    data = bytearray(library.read_bytes())
    data[100:200] = b"\xff" * 100
    _corrupt(library, bytes(data))
    before = build.compile_count
    x2, y2 = _graph(0.75)
    g = symdl.function([x2], y2, mode="c")
    assert build.compile_count == before + 1
    np.testing.assert_allclose(g(np.ones(3, "float32")), np.tanh(2.0) + 0.75, rtol=1e-6)


def test_two_processes_compiling_the_same_graph_at_once_both_get_a_correct_function(compiledir):
    script = textwrap.dedent(
        """
        import sys, time, numpy as np, symdl, symdl.tensor as T
        symdl.config.compiledir = sys.argv[1]
        from symdl.backend.c import build
        build.runtime()
        while time.time() < float(sys.argv[2]):
            time.sleep(0.001)
        x = T.fmatrix('x')
        f = symdl.function([x], (T.exp(x) * 3 - x).sum(axis=1), mode='c')
        v = np.arange(12, dtype='float32').reshape(3, 4) / 10
        np.testing.assert_allclose(f(v), (np.exp(v) * 3 - v).sum(axis=1), rtol=1e-5)
        print('ok', build.compile_count)
        """
    )
    import time

    env = dict(os.environ)
    procs = []
    start_at = time.time() + 30
    root = Path(symdl.__file__).resolve().parents[1]
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    # Build the runtime once first so both children race on the function itself.
    subprocess.run([sys.executable, "-c", script.replace("while", "sys.exit(0)\nwhile"), str(compiledir), "0"],
                   check=True, env=env, timeout=300)  # fmt: skip
    start_at = time.time() + 3
    for _ in range(2):
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", script, str(compiledir), str(start_at)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert out.startswith("ok")
    # the lock makes one of them wait for the other's result
    assert sorted(int(out.split()[1]) for out, _ in results) in ([0, 1], [1, 1])


def test_a_compiler_failure_names_the_node_and_the_users_line_and_keeps_the_log(compiledir, monkeypatch):
    original = codegen.scalar_expr

    def broken(scalar_op, code):
        if scalar_op.name == "sinh":
            return f"({code.args[0]} +)"
        return original(scalar_op, code)

    monkeypatch.setattr(codegen, "scalar_expr", broken)
    x = T.dvector("x")
    y = T.sinh(x) * 3  # the user's line
    with pytest.raises(CompileError) as info:
        symdl.function([x], y, mode="c")
    message = str(info.value)
    assert "sinh" in message
    assert "test_cache.py" in message
    log = message.split("full log: ")[1].split()[0]
    assert Path(log).exists() and "error" in Path(log).read_text()


@pytest.mark.parametrize("cores", [1, 2])
def test_a_module_compiled_in_parallel_parts_runs_and_its_errors_name_the_node(compiledir, monkeypatch, cores):
    # parts are compiled on separate cores when there are several (the cold compile of a training
    # step: 0.30-0.34 -> 0.18-0.26 s of gcc); the one-unit build is what one core gets
    monkeypatch.setattr(build, "SPLIT_MIN_LINES", 0)
    monkeypatch.setattr(build.os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    commands = []
    original = build._run_compilers
    monkeypatch.setattr(build, "_run_compilers", lambda cmds, log: commands.append(cmds) or original(cmds, log))
    x, y = T.dvector("x"), T.dvector("y")
    f = symdl.function([x, y], [T.exp(x) * y, T.tanh(x - y) + 1], mode="c")
    a, b = np.linspace(-1, 1, 5), np.linspace(2, 3, 5)
    got = f(a, b)
    np.testing.assert_allclose(got[0], np.exp(a) * b)
    np.testing.assert_allclose(got[1], np.tanh(a - b) + 1)
    assert [len(c) for c in commands] == ([2, 1] if cores == 2 else [1])  # two parts at once, then the link

    original_expr = codegen.scalar_expr

    def broken(scalar_op, code):
        return f"({code.args[0]} +)" if scalar_op.name == "sinh" else original_expr(scalar_op, code)

    monkeypatch.setattr(codegen, "scalar_expr", broken)
    with pytest.raises(CompileError) as info:
        symdl.function([x], T.sinh(x) * 3 + T.exp(x), mode="c")  # the user's line
    assert "sinh" in str(info.value) and "test_cache.py" in str(info.value)


def test_the_runtime_built_at_install_time_is_used_only_while_its_sources_match(monkeypatch):
    import importlib

    from symdl.backend.c import build
    from symdl.backend.c.runtime_sources import runtime_digest

    try:
        prebuilt = importlib.import_module("symdl.backend.c.prebuilt.symdl_crt")
    except ImportError:
        pytest.skip("installed without the runtime extension (setup.py found no compiler)")
    monkeypatch.delenv("SYMDL_CFLAGS", raising=False)  # a sanitizer run sets it (tested last)
    kdir = build.kernels_dir()
    if prebuilt.SOURCES_DIGEST == runtime_digest(kdir):
        assert build._installed_runtime(kdir) is prebuilt
    else:  # an editable install whose kernels were edited since
        assert build._installed_runtime(kdir) is None
    monkeypatch.setattr(build, "runtime_digest", lambda kdir: prebuilt.SOURCES_DIGEST)
    assert build._installed_runtime(kdir) is prebuilt
    monkeypatch.setattr(build, "runtime_digest", lambda kdir: "0123456789abcdef")
    assert build._installed_runtime(kdir) is None  # other sources, flags or CPU
    monkeypatch.undo()
    monkeypatch.setenv("SYMDL_CFLAGS", "-g")
    assert build._installed_runtime(kdir) is None  # extra flags ask for a build of their own
