"""Without a C compiler, or with a compile directory symdl cannot write, the C backend says what
is missing and what to do: mode='c' is a CompileError, mode 'auto' runs on 'py' and warns once
that it is much slower, an unwritable compile directory is replaced by a temporary one."""

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

import symdl
from symdl.backend.c import build
from symdl.errors import CompileError, SymdlWarning

ROOT = Path(symdl.__file__).resolve().parents[1]


def _run_without_compiler(tmp_path, code):
    """Run ``code`` in a Python whose $PATH holds no compiler and whose $CC is unset."""
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CC"}
    env.update(PATH=str(empty), PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    env["SYMDL_FLAGS"] = f"compiledir={tmp_path / 'cache'}"
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def test_mode_c_without_a_compiler_says_gcc_is_missing_and_how_to_get_it(tmp_path):
    out, _ = _run_without_compiler(
        tmp_path,
        """
        import symdl, symdl.tensor as T
        from symdl.errors import CompileError
        x = T.fvector('x')
        try:
            symdl.function([x], x * 2, mode='c')
        except CompileError as exc:
            print(exc)
        """,
    )
    assert "the C compiler 'gcc'" in out and "was not found" in out
    assert "apt-get install gcc" in out and "$CC" in out
    assert "mode='py'" in out and "10-100x slower" in out


def test_mode_auto_without_a_compiler_warns_once_that_py_is_much_slower(tmp_path):
    out, err = _run_without_compiler(
        tmp_path,
        """
        import numpy as np, symdl, symdl.tensor as T
        x = T.fvector('x')
        f = symdl.function([x], x * 2)
        g = symdl.function([x], x + 1)
        print(f(np.ones(2, 'float32')), g(np.ones(2, 'float32')))
        """,
    )
    assert out.strip() == "[2. 2.] [2. 2.]"
    assert err.count("SymdlWarning") == 1, err
    assert "NumPy backend 'py'" in err and "10-100x slower" in err and "gcc" in err
    assert err.startswith("<string>:4:")  # the user's line that compiled first (f = ...)


def test_a_compiler_named_by_cc_that_does_not_exist_is_a_compile_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with symdl.config.change(compiledir=str(tmp_path / "cache")), pytest.raises(CompileError) as info:
        build.build("00" * 16, "int f(void) { return 1; }\n", ["-shared", "-fPIC"], [])
    message = str(info.value)
    assert "no-such-cc" in message and "named by $CC" in message and "mode='py'" in message


def test_a_compile_dir_that_cannot_be_written_is_replaced_by_a_temporary_one_with_a_warning(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unusable = blocker / "cache"  # a directory under a file cannot exist, even for root
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setattr(build, "_fallback_dirs", {})
    with symdl.config.change(compiledir=str(unusable)), pytest.warns(SymdlWarning) as caught:
        path = build.build("11" * 16, "int f(void) { return 1; }\n", ["-shared", "-fPIC"], [])
    assert path.is_relative_to(tmp_path / "tmp") and path.exists()
    message = str(caught[0].message)
    assert str(unusable) in message and "cannot be created" in message and "compiledir" in message
    with symdl.config.change(compiledir=str(unusable)):
        assert build.cache_dir() == path.parents[1]  # warned once, then used quietly


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_a_read_only_compile_dir_is_replaced_by_a_temporary_one(tmp_path, monkeypatch):
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setattr(build, "_fallback_dirs", {})
    try:
        with symdl.config.change(compiledir=str(readonly)), pytest.warns(SymdlWarning, match="is not writable"):
            path = build.build("22" * 16, "int f(void) { return 1; }\n", ["-shared", "-fPIC"], [])
        assert path.is_relative_to(tmp_path / "tmp")
    finally:
        readonly.chmod(0o700)


def test_the_numbers_come_out_the_same_on_the_fallback(tmp_path):
    out, _ = _run_without_compiler(
        tmp_path,
        """
        import warnings, numpy as np, symdl, symdl.tensor as T
        warnings.simplefilter('ignore')
        x = T.dvector('x')
        print(repr(symdl.function([x], T.tanh(x) * 3)(np.array([0.5, -1.0])).tolist()))
        """,
    )
    assert eval(out) == (np.tanh(np.array([0.5, -1.0])) * 3).tolist()
