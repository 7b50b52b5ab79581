"""The compile cache's lock and temporaries when a compiling process is stopped or killed: a
waiter says whom it waits for, compiles the module itself once the owner has held the lock past
``config.compile_lock_timeout``, and temporaries of killed processes are removed."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import pytest

import symdl
from symdl.backend.c import build
from symdl.errors import SymdlWarning

SOURCE = "int symdl_lock_test(void) { return 7; }\n"
FLAGS = ["-shared", "-fPIC"]
KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def compiledir(tmp_path):
    with symdl.config.change(compiledir=str(tmp_path / "cache")):
        yield tmp_path / "cache"


def _start_slow_compile(tmp_path, compiledir, key):
    """A process compiling ``key`` whose compiler stops in the middle (it waits for a file that
    never comes); returns it once it holds the lock and its temporary directory exists."""
    marker = tmp_path / "compiling"
    slow_cc = tmp_path / "slow-cc"
    slow_cc.write_text(f"#!/bin/sh\ntouch {marker}\nwhile [ ! -e {tmp_path / 'never'} ]; do sleep 0.05; done\n")
    slow_cc.chmod(0o755)
    script = textwrap.dedent(
        f"""
        import symdl
        from symdl.backend.c import build
        symdl.config.compiledir = {str(compiledir)!r}
        build.build({key!r}, {SOURCE!r}, {FLAGS!r}, [])
        """
    )
    root = Path(symdl.__file__).resolve().parents[1]
    env = dict(os.environ, CC=str(slow_cc), PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, "the compiling process ended early"
        assert time.monotonic() < deadline, "the compiling process never started its compiler"
        time.sleep(0.02)
    return proc


def _kill(proc):
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_a_stopped_compiling_process_is_waited_for_with_a_message_then_taken_over(tmp_path, compiledir, monkeypatch):
    owner = _start_slow_compile(tmp_path, compiledir, KEY)
    result, caught = {}, []
    try:
        os.kill(owner.pid, signal.SIGSTOP)
        monkeypatch.setattr(build, "LOCK_NOTICE_S", 0.2)

        def compile_here():
            with symdl.config.change(compile_lock_timeout=1.5), warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                result["path"] = build.build(KEY, SOURCE, FLAGS, [])
            caught.extend(seen)

        waiter = threading.Thread(target=compile_here, daemon=True)
        waiter.start()
        waiter.join(timeout=30)
        assert not waiter.is_alive(), "the waiter still waits for the stopped process"
    finally:
        _kill(owner)
    messages = [str(w.message) for w in caught if issubclass(w.category, SymdlWarning)]
    assert len(messages) == 2, messages
    waiting, taking_over = messages
    assert f"process {owner.pid} (stopped)" in waiting and f"{KEY}.lock" in waiting
    assert "compile_lock_timeout" in waiting
    assert f"process {owner.pid}" in taking_over and "(stopped)" in taking_over
    assert "compiles the module itself" in taking_over
    assert result["path"].exists() and build._valid(result["path"], result["path"].with_suffix(".sha256"))


def test_a_running_owner_gets_longer_than_a_stopped_one_before_it_is_taken_over(tmp_path, compiledir):
    owner = _start_slow_compile(tmp_path, compiledir, KEY)  # running (its compiler waits), not stopped
    try:
        with symdl.config.change(compile_lock_timeout=0.3), pytest.warns(SymdlWarning) as caught:
            path = build.build(KEY, SOURCE, FLAGS, [])
    finally:
        _kill(owner)
    assert path.exists()
    taking_over = str(caught[-1].message)
    assert f"process {owner.pid}" in taking_over and "(stopped)" not in taking_over
    held = float(taking_over.split("has held it for ")[1].split()[0])
    assert held >= 0.3 * build.RUNNING_OWNER_FACTOR - 0.5  # it printed whole seconds: 1.5 s shows as 1 or 2


def test_temporaries_of_a_process_killed_while_compiling_are_removed(tmp_path, compiledir):
    owner = _start_slow_compile(tmp_path, compiledir, KEY)
    _kill(owner)
    left = list((compiledir / KEY[:2]).glob(f".{KEY}-*"))
    assert len(left) == 1 and left[0].is_dir()  # what kill -9 leaves behind
    mine = compiledir / KEY[:2] / f".{KEY}-{build._host()}-{os.getpid()}-inuse"
    mine.mkdir()  # a live process's temporary stays
    other_key = "fedcba9876543210fedcba9876543210"
    path = build.build(other_key, SOURCE, FLAGS, [])  # the next compile into the cache cleans up
    assert path.exists()
    assert not left[0].exists()
    assert mine.exists()
    # and the killed process's module compiles normally afterwards, its lock free
    assert build.build(KEY, SOURCE, FLAGS, []).exists()


def test_a_waiter_takes_the_lock_as_soon_as_the_owner_finishes(compiledir):
    # the ordinary case stays quiet: the lock is free, no message, the entry is built once
    with warnings.catch_warnings():
        warnings.simplefilter("error", SymdlWarning)
        first = build.build(KEY, SOURCE, FLAGS, [])
        before = build.compile_count
        assert build.build(KEY, SOURCE, FLAGS, []) == first
    assert build.compile_count == before
    assert (first.parent / f"{KEY}.lock").read_text() == ""  # the owner's record is cleared on release
