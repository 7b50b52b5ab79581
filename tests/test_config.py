"""symdl.config: defaults, SYMDL_FLAGS, changes in code and in a ``with`` block."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import symdl
from symdl.config import ENVIRONMENT


def run_with_flags(flags, code):
    env = dict(os.environ, SYMDL_FLAGS=flags)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return done.returncode, done.stdout.strip(), done.stderr


def test_default_floatx_is_float32():
    assert symdl.config.floatX == "float32"


def test_symdl_flags_set_floatx_for_new_tensors():
    code = "import symdl, symdl.tensor as T; print(symdl.config.floatX, T.matrix().dtype, T.zeros(2).dtype)"
    rc, out, err = run_with_flags("floatX=float64", code)
    assert rc == 0, err
    assert out == "float64 float64 float64"
    rc, out, err = run_with_flags(
        " floatX = float64 , optimizer=fast_compile", "import symdl; print(symdl.config.optimizer)"
    )
    assert rc == 0 and out == "fast_compile", err


@pytest.mark.parametrize("flags", ["floatX=float128", "floatX"])
def test_bad_symdl_flags_fail_with_a_clear_message(flags):
    rc, out, err = run_with_flags(flags, "import symdl; print(symdl.config.floatX)")
    assert rc != 0
    assert "floatX" in err


def test_change_restores_the_settings_afterwards():
    with symdl.config.change(floatX="float64"):
        assert symdl.config.floatX == "float64"
    assert symdl.config.floatX == "float32"
    with pytest.raises(RuntimeError), symdl.config.change(floatX="float16"):
        raise RuntimeError
    assert symdl.config.floatX == "float32"


def test_settings_are_checked_on_assignment():
    with pytest.raises(ValueError, match="floatX"):
        symdl.config.floatX = "int32"
    with pytest.raises(AttributeError, match="no setting"):
        symdl.config.no_such_setting = 1
    with pytest.raises(AttributeError):
        symdl.config.no_such_setting  # noqa: B018
    old = symdl.config.nan_guard
    try:
        symdl.config.nan_guard = "yes"
        assert symdl.config.nan_guard is True
    finally:
        symdl.config.nan_guard = old


def test_show_lists_every_setting():
    text = symdl.config.show()
    for key in ("floatX", "mode", "device", "optimizer"):
        assert key in text


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("SYMDL_FLAGS", "compiledr=/tmp/x", "'compiledr', which is no setting: ignored (did you mean compiledir?)"),
        ("SYMDL_COMPILEDIR", "/tmp/x", "SYMDL_COMPILEDIR means nothing to symdl: ignored (settings go in SYMDL_FLAGS"),
        ("SYMDL_CFLAG", "-g", "SYMDL_CFLAG means nothing to symdl: ignored (did you mean SYMDL_CFLAGS?)"),
    ],
)
def test_unknown_settings_and_misspelled_environment_variables_warn(variable, value, hint):
    env = dict(os.environ, **{variable: value})
    if variable != "SYMDL_FLAGS":
        env.pop("SYMDL_FLAGS", None)
    code = "import symdl; print(symdl.config.compiledir)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""  # nothing was set
    assert "SymdlWarning" in done.stderr and hint in done.stderr


def test_every_environment_variable_symdl_reads_is_known_to_the_typo_check():
    root = Path(symdl.__file__).parent
    read = set()
    for path in root.rglob("*.py"):
        read |= set(re.findall(r"environ(?:\.get\(|\[)\"(SYMDL_\w+)\"", path.read_text()))
    assert read and read <= set(ENVIRONMENT)
