"""What runs is visible: the generated C, the per-node profile, DEBUG mode and nan_guard."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.backend.c import DebugModeError, NanGuardError, codegen


def test_source_is_readable_c_with_a_comment_naming_each_node_and_the_users_line():
    x = T.fmatrix("x")
    y = T.exp(x).sum(axis=1)
    f = symdl.function([x], y, mode="c")
    src = f.source()
    assert "int sd_run(sd_ctx *ctx)" in src
    assert "/* node 0:" in src and "test_source_profile.py" in src
    assert "A->elemwise_reduce(" in src  # exp fused into the sum: one loop


def test_profile_reports_time_calls_and_backend_per_node_and_says_which_fell_back_to_python():
    x = T.fvector("x")
    i = T.lvector("i")
    y = T.inc_subtensor(x[i], 1.0) * 2  # advanced indexing has no C code
    f = symdl.function([x, i], y, mode="c")
    for _ in range(3):
        f(np.zeros(4, "float32"), np.array([0, 0, 2]))
    report = f.profile()
    assert report.calls == 3
    backends = {backend for _, backend, _, _ in report.rows}
    assert backends == {"c", "py"}
    assert all(seconds >= 0 for _, _, seconds, _ in report.rows)
    text = str(report)
    assert "inc_advanced_subtensor" in text and "py" in text


def test_debug_mode_runs_every_node_in_c_and_in_python():
    x = T.dmatrix("x")
    f = symdl.function([x], (T.tanh(x) * 2).sum(axis=0), mode="DEBUG")
    assert f.backend == "c-debug"
    v = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(f(v), (np.tanh(v) * 2).sum(axis=0))


def test_debug_mode_raises_on_the_first_node_whose_c_result_differs(monkeypatch):
    original = codegen.scalar_expr

    def wrong(scalar_op, code):
        if scalar_op.name == "cosh":
            return f"sinh({code.args[0]})"
        return original(scalar_op, code)

    monkeypatch.setattr(codegen, "scalar_expr", wrong)
    x = T.dvector("x")
    f = symdl.function([x], T.cosh(x) + T.sin(x), mode="DEBUG")
    with pytest.raises(DebugModeError, match="cosh"):
        f(np.array([0.5, 1.0]))


def test_nan_guard_stops_on_the_first_node_producing_nan_and_names_it():
    x = T.dvector("x")
    y = T.log(x - 2)  # NaN for x < 2
    with symdl.config.change(nan_guard=True):
        f = symdl.function([x], y * 2, mode="c")
    assert np.isfinite(f(np.array([3.0, 4.0]))).all()
    with pytest.raises(NanGuardError, match="test_source_profile.py"):
        f(np.array([1.0]))
