"""Plans: a graph compiled before, as the user built it, loads its module without being rewritten
or having code generated; anything that changes the result changes the key; a damaged memo is
ignored; graphs that need Python callbacks, or that the key cannot describe, are not remembered."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.backend.c import memo
from symdl.graph.basic import Apply, Op
from symdl.graph.fg import FunctionGraph
from symdl.tensor.type import TensorType


@pytest.fixture
def compiledir(tmp_path):
    with symdl.config.change(compiledir=str(tmp_path)):
        yield tmp_path


def _compile(offset=0.25, dtype="float32"):
    x = T.vector("x", dtype=dtype)
    return symdl.function([x], (T.tanh(x * 2) + offset).sum(), mode="c")


def _memo_files(root):
    return sorted((Path(root) / "memo").rglob("*.pkl"))


def test_the_same_graph_again_skips_rewriting_and_code_generation(compiledir, monkeypatch):
    first = _compile()
    assert first.rewrite_seconds > 0
    assert len(_memo_files(compiledir)) == 1
    from symdl.backend.c import codegen

    def no_codegen(fgraph):
        raise AssertionError("code was generated for a remembered graph")

    monkeypatch.setattr(codegen, "generate", no_codegen)
    again = _compile()
    assert again.rewrite_seconds == 0
    value = np.linspace(-1, 1, 9).astype("float32")
    np.testing.assert_allclose(again(value), first(value), rtol=1e-6)
    np.testing.assert_allclose(again(value), (np.tanh(value * 2) + np.float32(0.25)).sum(), rtol=1e-5)
    assert again.source() == first.source()
    assert "composite" in str(again.profile())
    # the rewritten graph is still there for whoever asks (rewritten now, on demand)
    assert [str(n.op) for n in again.graph.toposort()] == [str(n.op) for n in first.graph.toposort()]
    assert again.rewrite_seconds > 0


def test_a_different_constant_or_dtype_is_a_different_graph(compiledir):
    value = np.linspace(-1, 1, 5)
    _compile(0.25)
    other = _compile(0.5)
    assert other.rewrite_seconds > 0
    np.testing.assert_allclose(other(value.astype("float32")), (np.tanh(2 * value) + 0.5).sum(), rtol=1e-5)
    wide = _compile(0.25, "float64")
    assert wide.rewrite_seconds > 0
    assert wide(value).dtype == np.float64
    assert len(_memo_files(compiledir)) == 3


def test_rewrite_settings_are_part_of_the_key(compiledir):
    x = T.fvector("x")
    _ = symdl.function([x], T.exp(x) * 2, mode="c")
    plain = symdl.function([x], T.exp(x) * 2, mode="c", optimizer="none")
    assert plain.rewrite_seconds > 0
    assert "composite" not in plain.source()


def test_a_damaged_memo_is_ignored(compiledir):
    _compile()
    (path,) = _memo_files(compiledir)
    path.write_bytes(b"\x80\x05not a pickle")
    again = _compile()
    assert again.rewrite_seconds > 0
    np.testing.assert_allclose(again(np.zeros(3, "float32")), 0.75, rtol=1e-6)
    assert memo.recall(path.stem) is not None  # rewritten in full, then remembered again


def test_debug_mode_and_python_callbacks_are_not_remembered(compiledir):
    x = T.fvector("x")
    with symdl.config.change(mode="DEBUG"):
        f = symdl.function([x], T.exp(x), mode="c")
        g = symdl.function([x], T.exp(x), mode="c")
    assert f.rewrite_seconds > 0 and g.rewrite_seconds > 0
    assert _memo_files(compiledir) == []
    n = T.dscalar("n")
    h = symdl.function([n], T.arange(0.0, n, 0.5) * 2, mode="c")  # a float range runs in Python
    assert not all(h.thunk.generated.in_c)
    assert _memo_files(compiledir) == []
    np.testing.assert_allclose(h(2.0), np.arange(0.0, 2.0, 0.5) * 2)


class _HoldsAFunction(Op):
    __props__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def make_node(self, x):
        return Apply(self, [x], [TensorType(x.dtype, x.type.shape)])

    def perform(self, node, inputs):
        return [self.fn(inputs[0])]


def test_a_graph_the_key_cannot_describe_has_no_key():
    x = T.fvector("x")
    y = _HoldsAFunction(lambda v: v + 1)(x)
    assert memo.fingerprint(FunctionGraph([x], [y]), ("fast_run", (), ())) is None
    z = T.exp(x)
    assert memo.fingerprint(FunctionGraph([x], [z]), ("fast_run", (), ())) is not None


def test_another_process_loads_the_memo_without_the_rewriter(compiledir):
    script = textwrap.dedent(
        """
        import sys, numpy as np, symdl, symdl.tensor as T
        symdl.config.compiledir = sys.argv[1]
        x = T.fmatrix('x')
        w = symdl.shared(np.ones((3, 2), 'float32'), name='w')
        f = symdl.function([x], T.nnet.relu(T.dot(x, w) + 1).sum(), updates=[(w, w * 0.5)], mode='c')
        v = np.arange(6, dtype='float32').reshape(2, 3)
        assert float(f(v)) == float(np.maximum(v @ np.ones((3, 2)) + 1, 0).sum())
        loaded = sorted(m for m in sys.modules if m.startswith(('symdl.rewrite', 'symdl.backend.c.codegen')))
        print(f.rewrite_seconds > 0, loaded)
        """
    )
    env = dict(os.environ)
    root = Path(symdl.__file__).resolve().parents[1]
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    script_path = compiledir / "user_script.py"
    script_path.write_text(script)

    def run():
        proc = subprocess.run([sys.executable, str(script_path), str(compiledir)], capture_output=True, text=True,
                              env=env, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    assert run().startswith("True")
    assert run() == "False []"
