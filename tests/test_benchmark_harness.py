"""The benchmark harness's logic, without running a benchmark: merging rounds (``--rounds``) and
cold/warm pairs, the targets, the cache directories each framework gets, keeping results alive,
the per-call overhead's kinds of argument, the MLP shapes, and PyTensor's BLAS flags."""

import types
import weakref

import numpy as np
import pytest

from benchmarks import harness
from benchmarks.harness import BENCHMARKS, NUMPY_ADD, SYMDL, SYMDL_INSTALLED_RUNTIME, RunOptions, median_round
from benchmarks.peers import common, numpy_bench, pytensor_bench

# Settings that time one call per sample with no warm-up, so that helpers built on
# ``common.measure`` run in microseconds here.
INSTANT = types.SimpleNamespace(warmup=1, warmup_s=0.0, samples=1, min_sample_s=0.0, quick=True, phase="")


def ok(**values):
    return {"status": "ok", **values}


def target(description_start: str):
    return next(check for _, description, check in harness.TARGETS if description.startswith(description_start))


def test_rounds_merge_into_the_median_of_each_number():
    rounds = [
        {"status": "ok", "ms": 3.0, "check": [1.0, 2.0], "version": "1", "wall_s": 4.0},
        {"status": "ok", "ms": 2.0, "check": [1.0, 2.0], "version": "1", "wall_s": 5.0},
        {"status": "ok", "ms": 9.0, "check": [1.0, 2.0], "version": "1", "wall_s": 6.0},
    ]
    merged = median_round(rounds)
    assert merged["ms"] == 3.0 and merged["rounds"]["ms"] == [3.0, 2.0, 9.0]
    assert merged["check"] == [1.0, 2.0] and merged["version"] == "1" and "wall_s" not in merged["rounds"]


def test_a_failed_round_is_reported_and_one_round_is_left_as_is():
    ok_round = {"status": "ok", "ms": 1.0}
    broken = {"status": "error", "detail": "boom"}
    assert median_round([ok_round, broken, ok_round]) is broken
    assert median_round([ok_round]) is ok_round


def test_cold_warm_pairs_merge_per_phase_with_their_notes():
    def pair(cold, warm, runtime):
        return {
            "cold": ok(s=cold, runtime_s=runtime, notes=["built the runtime"], check=[2.5], wall_s=9.0),
            "warm": ok(s=warm, runtime_s=0.01, notes=["loaded the runtime"], check=[2.5], wall_s=1.0),
        }

    merged = harness.merge_phases([pair(3.0, 0.2, 2.0), pair(1.0, 0.1, 0.5), pair(2.0, 0.3, 1.0)])
    assert merged["status"] == "ok" and merged["check"] == [2.5]
    assert (merged["cold_s"], merged["warm_s"], merged["cold_runtime_s"]) == (2.0, 0.2, 1.0)
    assert merged["samples"]["cold_s"] == [3.0, 1.0, 2.0] and "cold_wall_s" not in merged
    assert merged["notes"] == ["built the runtime", "loaded the runtime"]


def test_best_peer_includes_torch_compile_and_leaves_out_not_comparable_rows_and_symdl_variants():
    check = target("MLP step <= 0.9x the best peer")
    results = {
        "mlp": {
            SYMDL: ok(ms=2.0),
            SYMDL_INSTALLED_RUNTIME: ok(ms=0.1),  # symdl itself is no peer
            "PyTensor C": ok(ms=0.5, not_comparable="PyTensor C without a BLAS"),
            "PyTorch": ok(ms=4.0),
            "torch.compile": ok(ms=2.5),
            "JAX jit": {"status": "error", "detail": "boom"},
        }
    }
    assert check(results) == ("0.80x (best peer: torch.compile)", True)
    results["mlp"]["torch.compile"] = ok(ms=2.1)
    assert check(results) == ("0.95x (best peer: torch.compile)", False)
    assert check({"mlp": {SYMDL: ok(ms=1.0)}}) == ("not measured", None)


def test_every_new_mlp_shape_has_rows_with_its_shape_and_a_target_against_pytorch():
    for name, (sizes, batch) in common.MLP_SHAPES.items():
        bench = BENCHMARKS[name]
        assert "-".join(map(str, sizes)) in bench.title and f"batch {batch}" in bench.title
        if name == "mlp":
            assert {"torch.compile", "PyTensor C", "PyTorch"} <= {row.label for row in bench.rows}
            continue
        assert all(row.options["sizes"] == list(sizes) and row.options["batch"] == batch for row in bench.rows)
        check = next(check for bench_name, _, check in harness.TARGETS if bench_name == name)
        assert check({name: {SYMDL: ok(ms=1.0), "PyTorch": ok(ms=2.0), "torch.compile": ok(ms=0.5)}}) == (
            "0.50x",
            True,
        )


def test_lstm_shapes_have_rows_with_their_shape_and_targets_against_pytorch_and_jax():
    for name, (batch, hidden) in common.LSTM_SHAPES.items():
        bench = BENCHMARKS[name]
        assert f"batch {batch}, {hidden} units" in bench.title
        assert all(row.options["batch"] == batch and row.options["hidden"] == hidden for row in bench.rows)
        assert {harness.TORCH_LSTM, harness.JAX_SCAN, "PyTensor C"} <= {row.label for row in bench.rows}
        check = next(check for bench_name, _, check in harness.TARGETS if bench_name == name)
        results = {name: {SYMDL: ok(ms=3.0), harness.TORCH_LSTM: ok(ms=4.0), harness.JAX_SCAN: ok(ms=2.0),
                          "PyTensor C": ok(ms=1.0)}}  # fmt: skip
        assert check(results) == (f"1.50x (best peer: {harness.JAX_SCAN})", False)  # PyTensor is no target peer
    compile_check = target("LSTM compile cold")
    assert compile_check({"compile_lstm": {SYMDL: ok(cold_s=0.8)}}) == ("0.800 s", True)
    assert BENCHMARKS["compile_lstm"].phases == ("cold", "warm")


def test_lstm_data_gives_every_framework_the_same_problem():
    x, y, (W_in, W_hid, b) = common.lstm_data(4, 8)
    assert x.shape == y.shape == (4, common.LSTM_STEPS, 8) and x.dtype == np.float32
    assert W_in.shape == W_hid.shape == (8, 32) and b.shape == (32,)
    assert np.abs(W_hid).max() <= 1 / np.sqrt(8)
    assert common.lstm_shape() == common.LSTM_SHAPES["lstm"]


def test_the_symdl_lstm_step_reports_the_numpy_loss_and_lowers_it():
    from benchmarks.peers import symdl_bench

    result = symdl_bench.lstm(INSTANT, 4, 8)
    x, y, params = common.lstm_data(4, 8)
    assert result["check"][0] == pytest.approx(common.lstm_reference_loss(x, y, params), rel=1e-5)
    assert result["check"][1] < result["check"][0]  # two SGD steps lower the loss


def test_cnn_target_takes_the_better_of_eager_and_compiled_pytorch():
    check = target("CNN step")
    results = {"cnn": {SYMDL: ok(ms=20.0), "PyTorch": ok(ms=25.0), "torch.compile": ok(ms=19.0)}}
    assert check(results) == ("1.05x (best peer: torch.compile)", False)


def test_call_overhead_targets_compare_each_kind_with_numpys_0d_add():
    results = {
        "overhead": {
            SYMDL: ok(float_us=6.0, scalar_us=2.0, array_us=1.0),
            NUMPY_ADD: ok(float_us=0.5, scalar_us=0.05, array_us=1.0),
        }
    }
    found = {description: check(results) for _, description, check in harness.TARGETS if "call overhead" in description}
    assert found == {
        "call overhead, Python floats <= 5x NumPy's 0-d add": ("6.00x", False),
        "call overhead, NumPy scalars <= 5x NumPy's 0-d add": ("2.00x", True),
        "call overhead, 0-d arrays <= 5x NumPy's 0-d add": ("1.00x", True),
    }


def test_oversubscription_target_compares_slowdowns():
    check = target("MLP slowdown")
    results = {"oversubscribed": {SYMDL: ok(slowdown=1.5), "PyTorch": ok(slowdown=2.0)}}
    assert check(results) == ("1.50x (PyTorch: 2.00x)", True)


def test_compile_targets_read_the_row_without_the_installed_runtime():
    cold, warm = target("MLP compile cold"), target("MLP compile warm")
    results = {"compile": {SYMDL: ok(cold_s=5.0, warm_s=0.03), SYMDL_INSTALLED_RUNTIME: ok(cold_s=0.2, warm_s=0.02)}}
    assert cold(results) == ("5.000 s", False) and warm(results) == ("0.030 s", True)


@pytest.mark.parametrize("source, stale", [("installed", False), ("compile dir", True)])
def test_the_installed_runtime_row_says_when_it_had_to_build_one(monkeypatch, source, stale):
    # a runtime built at install from older kernels is not used: that row then measures a build
    import symdl
    import symdl.tensor as T
    from benchmarks.peers import symdl_bench

    monkeypatch.setattr(symdl_bench, "_runtime_info", lambda: {"runtime": source, "runtime_s": 0.5})
    x = T.dvector("x")
    result = symdl_bench._compile(lambda: symdl.function([x], x + 1, mode="py"), (np.ones(2),), True)
    np.testing.assert_array_equal(result["first"], [2.0, 2.0])
    assert any("was stale or missing" in note for note in result["notes"]) == stale


def test_compile_benchmarks_give_every_framework_a_cache_and_symdl_both_runtimes():
    for name in ("compile", "compile_elementwise"):
        bench = BENCHMARKS[name]
        assert bench.phases == ("cold", "warm")
        assert {row.cache for row in bench.rows} == {"symdl", "pytensor", "jax", "torch"}
        symdl_rows = {row.label: row.options for row in bench.rows if row.module == "symdl_bench"}
        assert symdl_rows == {SYMDL: {}, SYMDL_INSTALLED_RUNTIME: {"installed_runtime": True}}


@pytest.mark.parametrize("kind", ["symdl", "pytensor", "jax", "torch"])
def test_a_cold_warm_pair_gets_its_own_cache_and_the_others_the_runs(kind):
    options = RunOptions(cache_root="/run")
    env = harness._environment(options, kind, "/pair")
    expected = {
        "symdl": "compiledir=/run/symdl",
        "pytensor": "compiledir=/run/pytensor",
        "torch": "/run/torch",
        "jax": None,
    }
    expected[kind] = "/pair" if kind in ("torch", "jax") else "compiledir=/pair"
    assert env["SYMDL_FLAGS"].split(",")[-1] == expected["symdl"]
    assert env["PYTENSOR_FLAGS"].split(",")[-1] == expected["pytensor"]
    assert env["TORCHINDUCTOR_CACHE_DIR"] == expected["torch"]
    assert env.get("JAX_COMPILATION_CACHE_DIR") == expected["jax"]


def test_only_accepts_names_and_patterns_in_the_harness_order():
    assert harness.select([]) == list(BENCHMARKS)
    assert harness.select(["cnn,mlp"]) == ["mlp", "cnn"]
    assert harness.select(["mlp*"]) == ["mlp", "mlp_small", "mlp_wide", "mlp_deep"]
    with pytest.raises(ValueError, match="unknown benchmark"):
        harness.select(["nope"])


def test_not_comparable_rows_are_marked_in_the_table():
    bench = BENCHMARKS["mlp"]
    results = {
        SYMDL: ok(ms=1.0, backend="c"),
        "PyTensor C": ok(ms=2.0, not_comparable="PyTensor C without a BLAS"),
    }
    _, rows, notes = harness.table(bench, results)
    assert rows[1][0] == "PyTensor C (not comparable)"
    assert "PyTensor C: not comparable (PyTensor C without a BLAS), left out of the targets" in notes


def test_measure_keeps_the_last_three_results_alive():
    alive = weakref.WeakSet()
    seen = []

    class Result:
        pass

    def call():
        seen.append(len(alive))  # results still referenced when the next call starts
        result = Result()
        alive.add(result)
        return result

    common.measure(call, types.SimpleNamespace(**{**vars(INSTANT), "samples": 5}))
    assert len(seen) > common.KEPT_RESULTS and seen[: common.KEPT_RESULTS + 1] == [0, 1, 2, 3]
    assert max(seen) == common.KEPT_RESULTS


def test_overhead_by_kind_times_each_kind_that_means_something():
    kinds = []

    def make_call(kind):
        if kind == "float":
            return None
        a, b = common.overhead_data(kind)
        kinds.append((kind, type(a)))
        return np.add, (a, b)

    result = common.overhead_by_kind(INSTANT, make_call)
    assert kinds == [("scalar", np.float32), ("array", np.ndarray)]
    assert set(result) == {"scalar_us", "array_us", "check"} and result["check"] == [3.75]
    assert common.overhead_data("float") == (1.5, 2.25)


@pytest.mark.parametrize("name", list(common.MLP_SHAPES))
def test_mlp_data_follows_the_shape(name):
    sizes, batch = common.MLP_SHAPES[name]
    x, y, params = common.mlp_data(sizes, batch)
    assert x.shape == (batch, sizes[0]) and y.shape == (batch,) and y.max() < sizes[-1]
    assert [p.shape for p in params[::2]] == list(zip(sizes[:-1], sizes[1:]))
    assert [p.shape for p in params[1::2]] == [(n,) for n in sizes[1:]]


@pytest.mark.parametrize("name", ["mlp_small", "mlp_deep"])  # the small shapes: 2 and 5 layers
def test_the_numpy_step_follows_the_shape(name):
    sizes, batch = common.MLP_SHAPES[name]
    x, y, params = common.mlp_data(sizes, batch)
    h = x.astype(np.float64)
    for k in range(0, len(params), 2):
        h = h @ params[k] + params[k + 1]
        if k + 2 < len(params):
            h = np.maximum(h, 0)
    h -= h.max(1, keepdims=True)
    first_loss = -(h - np.log(np.exp(h).sum(1, keepdims=True)))[np.arange(batch), y].mean()
    result = numpy_bench.mlp(INSTANT, list(sizes), batch)
    assert result["check"][0] == pytest.approx(first_loss, rel=1e-4)
    assert result["check"][1] < result["check"][0]  # two momentum steps lower the loss


def test_the_busy_process_spins_during_the_block_only():
    with common.busy_process() as proc:
        assert proc.poll() is None
    assert proc.poll() is not None


def test_pytensor_is_linked_to_the_packaged_openblas_under_its_prefixed_names():
    flags = pytensor_bench.blas_ldflags("/lib dir", "scipy_openblas", {"scipy_sgemm_", "scipy_dgemv_"})
    assert flags == "'-L/lib dir' -lscipy_openblas -Dsgemm_=scipy_sgemm_ -Ddgemv_=scipy_dgemv_"
    packaged = pytensor_bench.packaged_openblas_ldflags()  # scipy-openblas32 is a symdl dependency
    assert "-lscipy_openblas" in packaged and "-Dsgemm_=scipy_sgemm_" in packaged
