"""The worked example of docs/extending.md, an op written outside symdl with its own C code through
the public registration API: its values against NumPy on every backend (odd shapes, non-contiguous
inputs, float32 and float64), its C in the module and in the profile, its gradient, DEBUG mode,
its errors raised from C, and what CEmitter.define refuses."""

import re
from pathlib import Path

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.backend.c import memo
from symdl.errors import CompileError, ShapeError
from symdl.graph.fg import FunctionGraph
from symdl.graph.impl import register_impl
from symdl.testing import compare_with_numpy, verify_grad

PAGE = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


@pytest.fixture(scope="module")
def page():
    """The namespace of the page's code blocks, run in order (as tests/test_docs.py runs them)."""
    namespace = {"__name__": "docs_extending"}
    for k, block in enumerate(re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), re.S | re.M)):
        exec(compile(block, f"extending.md block {k + 1}", "exec"), namespace)
    return namespace


def reference(x, start, decay):
    """y[t] = sum over i <= t of decay^(t - i) x[i], plus decay^(t + 1) start, in float64."""
    n = x.shape[-1]
    steps = np.arange(n)
    powers = np.where(steps[:, None] >= steps[None, :], decay ** (steps[:, None] - steps[None, :]), 0.0)
    y = x.astype("float64") @ powers.T + start.astype("float64")[..., None] * decay ** (steps + 1)
    return y.astype(x.dtype)


def reversed_columns(a):
    return np.ascontiguousarray(a[..., ::-1])[..., ::-1]


CASES = {
    "matrix": ((3, 5), (3,)),
    "one_step": ((1, 1), (1,)),
    "no_steps": ((3, 0), (3,)),
    "no_rows": ((0, 4), (0,)),
    "vector": ((6,), ()),
    "stack": ((2, 3, 4), (2, 3)),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_values_match_numpy_on_every_backend(page, backend, case, dtype):
    x_shape, start_shape = CASES[case]
    rng = np.random.default_rng(0)
    x, start = rng.normal(size=x_shape).astype(dtype), rng.normal(size=start_shape).astype(dtype)
    op = page["discounted_cumsum"]
    compare_with_numpy(lambda a, s: op(a, s, 0.8), lambda a, s: reference(a, s, 0.8), [x, start], [backend])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_non_contiguous_inputs_match_numpy(page, backend, dtype):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 7, 2)).astype(dtype)[:, ::2, 0]  # strided rows and columns
    start = reversed_columns(rng.normal(size=(4,)).astype(dtype))  # a negative stride
    assert not x.flags.c_contiguous and start.strides[0] < 0
    op = page["discounted_cumsum"]
    compare_with_numpy(lambda a, s: op(a, s, -0.5), lambda a, s: reference(a, s, -0.5), [x, start], [backend])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_it_runs_in_c_as_the_function_it_defined(page, dtype):
    x, start = T.matrix("x", dtype=dtype), T.vector("start", dtype=dtype)
    f = symdl.function([x, start], page["discounted_cumsum"](x, start, 0.9), mode="c")
    f(np.ones((2, 3), dtype), np.zeros(2, dtype))
    assert f"SD_KERNEL int discounted_cumsum_{dtype}(sd_ctx *ctx, int node," in f.source()
    assert re.search(rf"SD_TRY\(discounted_cumsum_{dtype}\(ctx, 0, ", f.source())
    assert "A->py(" not in f.source()
    assert [(op, backend) for op, backend, _, _ in f.profile().rows] == [("discounted_cumsum{decay=0.9}", "c")]


def test_a_dtype_without_c_code_runs_its_perform(page):
    x, start = T.matrix("x", dtype="float16"), T.vector("start", dtype="float16")
    f = symdl.function([x, start], page["discounted_cumsum"](x, start, 0.5), mode="c")
    got = f(np.ones((2, 3), "float16"), np.zeros(2, "float16"))
    np.testing.assert_array_equal(got, [[1, 1.5, 1.75]] * 2)
    assert [backend for _, backend, _, _ in f.profile().rows] == ["py"]


@pytest.mark.parametrize("mode", ["py", "c"])
def test_gradient(page, mode):
    rng = np.random.default_rng(2)
    op = page["discounted_cumsum"]
    verify_grad(lambda a, s: op(a, s, 0.9), [rng.normal(size=(2, 3, 5)), rng.normal(size=(2, 3))], mode=mode)
    verify_grad(lambda a, s: op(a, s, 0.7) ** 2, [rng.normal(size=(4,)), rng.normal(size=())], mode=mode)
    verify_grad(lambda a, s: op(a, s, 0.5), [rng.normal(size=(3, 0)), rng.normal(size=(3,))], mode=mode)


def test_the_c_code_agrees_with_perform_in_debug_mode(page):
    x, start = T.tensor3("x"), T.matrix("start")
    y = page["discounted_cumsum"](x, start, 0.99)
    f = symdl.function([x, start], [y, symdl.grad(y.sum(), x)], mode="DEBUG")
    rng = np.random.default_rng(3)
    f(rng.normal(size=(2, 3, 9)).astype("float32"), rng.normal(size=(2, 3)).astype("float32"))


def test_errors_raised_in_c_name_the_node(page):
    x, start = T.matrix("x"), T.vector("start")
    f = symdl.function([x, start], page["discounted_cumsum"](x, start, 0.9), mode="c")
    with pytest.raises(
        ShapeError, match=r"^discounted_cumsum\{decay=0.9\} \(output .*\): start has 4 rows along axis 0, x has 3$"
    ):
        f(np.ones((3, 5), "float32"), np.ones(4, "float32"))
    with pytest.raises(ShapeError, match="start has 4 rows along axis 0, x has 3"):
        symdl.function([x, start], page["discounted_cumsum"](x, start, 0.9), mode="py")(
            np.ones((3, 5), "float32"), np.ones(4, "float32")
        )


def test_a_module_split_into_parts_links_its_functions(page):
    # Large enough for build.py to compile kernels and driver as two units on two cores.
    x, start = T.matrix("x"), T.vector("start")
    y, outputs = x, []
    for k in range(12):
        y = page["discounted_cumsum"](T.tanh(y) + k, start, 0.5)
        outputs.append(y.sum())
    f = symdl.function([x, start], outputs, mode="c")
    definitions = re.findall(r"^SD_KERNEL int discounted_cumsum_float32\(.*\)\n\{", f.source(), re.M)
    assert len(definitions) == 1  # defined once for its 12 nodes
    got = f(np.ones((2, 3), "float32"), np.zeros(2, "float32"))
    want = symdl.function([x, start], outputs, mode="py")(np.ones((2, 3), "float32"), np.zeros(2, "float32"))
    np.testing.assert_allclose(got, want, rtol=1e-5)


class Doubled(symdl.graph.basic.Op):
    """A test op whose C code is given by each test (``Doubled.code``). ``variant`` names that
    code: graphs with other code are other graphs, so that the memo of a graph compiled by an
    earlier test (in any order) never stands in for this test's code."""

    __props__ = ("variant",)
    view_map = {}
    code = None

    def __init__(self, variant=""):
        self.variant = variant

    def __str__(self):
        return "Doubled"

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return symdl.graph.basic.Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        return [inputs[0] * 2]


@register_impl("c", Doubled)
def _doubled_in_c(node, c):
    return Doubled.code(node, c)


def _compile_doubled(code):
    Doubled.code = staticmethod(code)
    x = T.dvector("x")
    return symdl.function([x], Doubled(code.__qualname__)(x), mode="c")


def test_define_refuses_what_would_not_link_or_clash():
    def static(node, c):
        c.define("static int twice(sd_ctx *ctx, int node)", "{ return 0; }")

    with pytest.raises(ValueError, match="without static"):
        _compile_doubled(static)

    def clash(node, c):
        c.define("int twice(sd_ctx *ctx, int node)", "{ return 0; }")
        c.define("int twice(sd_ctx *ctx, int node)", "{ return 1; }")

    with pytest.raises(ValueError, match="two different C functions named 'twice'"):
        _compile_doubled(clash)


def test_a_compiler_error_in_defined_code_names_the_node():
    def broken(node, c):
        name = c.define("int broken_twice(sd_ctx *ctx, int node, int x)", "{ return undeclared_name; }")
        return c.call(name, c.slot(node.inputs[0]))

    with pytest.raises(CompileError, match=r"in the code of Doubled \(output"):
        _compile_doubled(broken)


def test_a_call_without_arguments_is_valid_c():
    def twice(node, c):
        x, y = c.slot(node.inputs[0]), c.slot(node.outputs[0])
        body = f"""{{
    const sd_arr *x = &ctx->v[{x}];
    if (ctx->api->value(ctx, node, {y}, x->dtype, x->ndim, x->shape))
        return -1;
    for (int64_t i = 0; i < x->shape[0]; i++)
        ((double *)ctx->v[{y}].data)[i] = 2 * ((const double *)x->data)[i * x->strides[0]];
    return 0;
}}"""
        return c.call(c.define(f"int twice_{x}_{y}(sd_ctx *ctx, int node)", body))

    f = _compile_doubled(twice)
    np.testing.assert_array_equal(f(np.arange(3.0)), [0.0, 2.0, 4.0])
    assert re.search(r"twice_\d+_\d+\(ctx, 0\)", f.source())


def test_the_memo_of_warm_starts_follows_the_files_of_ops_written_outside_symdl(page, tmp_path, monkeypatch):
    x, start = T.matrix("x"), T.vector("start")
    settings = ("fast_run", (), ())
    # an op defined in no file (here: the page's blocks) is never remembered: its code may change unseen
    assert memo.fingerprint(FunctionGraph([x, start], [page["discounted_cumsum"](x, start, 0.9)]), settings) is None
    source = tmp_path / "my_ops.py"
    source.write_text("from symdl.tensor.nnet.lrn import WindowSum\n\nclass MyWindowSum(WindowSum):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_ops

    graph = FunctionGraph([x], [my_ops.MyWindowSum(3, 1)(x)])
    before = memo.fingerprint(graph, settings)
    assert before is not None
    source.write_text(source.read_text() + "\n# edited\n")
    assert memo.fingerprint(graph, settings) != before
