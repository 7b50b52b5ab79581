"""No op without a gradient test: every Op subclass defined in symdl, and every entry of the
elementwise table (``SCALAR_OPS``), is either registered here with a test function that checks
its gradient with ``verify_grad``, or listed as having no gradient, with the reason.

Adding an op means adding it to one of the tables below (and writing its test).
"""

import ast
import importlib
import pkgutil
import sys
from functools import cache
from pathlib import Path

import pytest

import symdl
from symdl.graph.basic import Op
from symdl.tensor import elemwise as ew
from symdl.tensor.type import DTYPES

ROOT = Path(__file__).resolve().parents[1]
GRADS = "tests/tensor/test_grads.py"
NNET = "tests/tensor/nnet"
NLINALG = "tests/tensor/test_nlinalg.py"
SLINALG = "tests/tensor/test_slinalg.py"
EXTRA = "tests/tensor/test_extra_ops.py"
SPARSE = "tests/sparse/test_sparse.py"

# Op class ("module.QualName") -> "file::test function" whose body calls verify_grad on it.
OP_GRAD_TESTS = {
    "symdl.ifelse.IfElse": "tests/test_ifelse.py::test_gradients_flow_through_the_branch_taken",
    "symdl.scan_module.op.Scan": "tests/scan/test_scan.py::test_bptt_matches_finite_differences",
    "symdl.compile.builders.OpFromGraph": "tests/compile/test_builders.py::test_gradients_reach_inputs_and_shared_variables_and_check_numerically",
    "symdl.distributed.ops.AllreduceStart": "tests/distributed/test_single_process.py::test_allreduce_gradient_checks_numerically",
    "symdl.distributed.ops.AllreduceWait": "tests/distributed/test_single_process.py::test_allreduce_gradient_checks_numerically",
    "symdl.gradient._GradControl": f"{GRADS}::test_grad_clip_passes_gradients_within_its_bounds",
    "symdl.tensor.blas.Gemm": "tests/rewrite/test_specialize.py::test_gemm_op_computes_and_differentiates",
    "symdl.tensor.blas.Gemv": f"{GRADS}::test_gemv_gradient",
    "symdl.tensor.blas.Dot": f"{GRADS}::test_linear_algebra_gradient",
    "symdl.tensor.blas.MatMul": f"{GRADS}::test_linear_algebra_gradient",
    "symdl.sparse.ops.CSRFromDense": f"{SPARSE}::test_gradient",
    "symdl.sparse.ops.CSRMatMul": f"{SPARSE}::test_gradient",
    "symdl.sparse.ops.DenseFromSparse": f"{SPARSE}::test_gradient",
    "symdl.sparse.ops.SampledDot": f"{SPARSE}::test_gradient",
    "symdl.tensor.composite.Composite": f"{GRADS}::test_composite_gradient",
    "symdl.tensor.composite.CompositeReduce": "tests/rewrite/test_fusion.py::test_composite_nodes_run_and_differentiate",
    "symdl.tensor.creation.ARange": f"{GRADS}::test_arange_with_float_bounds_has_a_gradient_for_start_and_step",
    "symdl.tensor.creation.Alloc": f"{GRADS}::test_shape_op_gradient",
    "symdl.tensor.elemwise.Elemwise": f"{GRADS}::test_scalar_op_gradient",
    "symdl.tensor.extra_ops.BinCount": f"{EXTRA}::test_gradient",
    "symdl.tensor.extra_ops.CumOp": f"{EXTRA}::test_gradient",
    "symdl.tensor.extra_ops.FillDiagonal": f"{EXTRA}::test_gradient",
    "symdl.tensor.nlinalg.AllocDiag": f"{NLINALG}::test_gradient",
    "symdl.tensor.nlinalg.Det": f"{NLINALG}::test_gradient",
    "symdl.tensor.nlinalg.Eigh": f"{NLINALG}::test_gradient",
    "symdl.tensor.nlinalg.ExtractDiag": f"{NLINALG}::test_gradient",
    "symdl.tensor.nlinalg.MatrixInverse": f"{NLINALG}::test_gradient",
    "symdl.tensor.nlinalg.PInv": f"{NLINALG}::test_gradient",
    "symdl.tensor.nlinalg.QRFull": f"{NLINALG}::test_gradient",
    "symdl.tensor.nlinalg.SLogDet": f"{NLINALG}::test_gradient",
    "symdl.tensor.nlinalg.SVD": f"{NLINALG}::test_gradient",
    "symdl.tensor.nnet.basic.CategoricalCrossentropy": f"{NNET}/test_basic.py::test_categorical_crossentropy_gradients",
    "symdl.tensor.nnet.basic.LogSoftmax": f"{NNET}/test_basic.py::test_softmax_and_log_softmax_match_numpy",
    "symdl.tensor.nnet.basic.Softmax": f"{NNET}/test_basic.py::test_softmax_and_log_softmax_match_numpy",
    "symdl.tensor.nnet.basic.SoftmaxCrossentropyWithLogits": (
        f"{NNET}/test_basic.py::test_softmax_crossentropy_with_logits_matches_numpy_and_its_gradient_checks"
    ),
    "symdl.tensor.nnet.conv.Conv2d": f"{NNET}/test_conv.py::test_conv2d_gradient",
    "symdl.tensor.nnet.conv.Conv2dGradInputs": f"{NNET}/test_conv.py::test_conv2d_gradient_ops_have_gradients",
    "symdl.tensor.nnet.conv.Conv2dGradWeights": f"{NNET}/test_conv.py::test_conv2d_gradient_ops_have_gradients",
    "symdl.tensor.nnet.conv.ShapeHint": f"{GRADS}::test_conv_shape_hint_passes_the_gradient",
    "symdl.tensor.checks.ShapeCheck": "tests/tensor/test_checks.py::test_shape_check_passes_the_gradient",
    "symdl.tensor.nnet.conv_nd.Conv3d": f"{NNET}/test_conv_nd.py::test_conv3d_gradient",
    "symdl.tensor.nnet.conv_nd.Conv3dGradInputs": f"{NNET}/test_conv_nd.py::test_conv3d_gradient_ops_have_gradients",
    "symdl.tensor.nnet.conv_nd.Conv3dGradWeights": f"{NNET}/test_conv_nd.py::test_conv3d_gradient_ops_have_gradients",
    "symdl.tensor.nnet.lrn.WindowSum": f"{NNET}/test_lrn.py::test_window_sum_gradient",
    "symdl.tensor.nnet.pool.MaxPool2dGradGrad": f"{GRADS}::test_max_pool_gradient_is_differentiable_twice",
    "symdl.tensor.nnet.pool.Pool2d": f"{NNET}/test_pool.py::test_pool_2d_gradient",
    "symdl.tensor.nnet.pool.Pool2dGrad": f"{GRADS}::test_max_pool_gradient_is_differentiable_twice",
    "symdl.tensor.nnet.pool_nd.MaxPoolGradGrad": (
        f"{NNET}/test_pool_nd.py::test_pool_grad_and_its_gradient_ops_have_gradients"
    ),
    "symdl.tensor.nnet.pool_nd.Pool": f"{NNET}/test_pool_nd.py::test_pool_3d_gradient",
    "symdl.tensor.nnet.pool_nd.PoolGrad": f"{NNET}/test_pool_nd.py::test_pool_grad_and_its_gradient_ops_have_gradients",
    "symdl.tensor.nnet.sampling.BatchGather": f"{NNET}/test_sampling.py::test_batch_gather_and_scatter_add_gradients",
    "symdl.tensor.nnet.sampling.BatchScatterAdd": (
        f"{NNET}/test_sampling.py::test_batch_gather_and_scatter_add_gradients"
    ),
    "symdl.tensor.reduction.Reduce": f"{GRADS}::test_reduction_gradient",
    "symdl.tensor.shape.DimShuffle": f"{GRADS}::test_shape_op_gradient",
    "symdl.tensor.shape.Join": f"{GRADS}::test_shape_op_gradient",
    "symdl.tensor.shape.ReduceToShape": f"{GRADS}::test_reduce_to_shape_gradient",
    "symdl.tensor.shape.Repeat": f"{GRADS}::test_shape_op_gradient",
    "symdl.tensor.shape.Reshape": f"{GRADS}::test_shape_op_gradient",
    "symdl.tensor.shape.Split": f"{GRADS}::test_shape_op_gradient",
    "symdl.tensor.slinalg.Cholesky": f"{SLINALG}::test_gradient",
    "symdl.tensor.slinalg.CholeskySolve": f"{SLINALG}::test_gradient",
    "symdl.tensor.slinalg.Expm": f"{SLINALG}::test_gradient",
    "symdl.tensor.slinalg.Solve": f"{SLINALG}::test_gradient",
    "symdl.tensor.slinalg.SolveTriangular": f"{SLINALG}::test_gradient",
    "symdl.tensor.subtensor.IncSubtensor": f"{GRADS}::test_set_and_inc_subtensor_gradient",
    "symdl.tensor.subtensor.Subtensor": f"{GRADS}::test_indexing_gradient",
}

# Op classes with no gradient, and why.
OPS_WITHOUT_GRADIENT = {
    "symdl.compile.builders.InnerGraphOp": "a base class: each op holding a graph (OpFromGraph, Scan) has its own",
    "symdl.tensor.creation.Eye": "its inputs are integer sizes and its output a constant pattern",
    "symdl.tensor.checks.CheckLabels": "integer labels in and out (a run-time range check)",
    "symdl.tensor.checks._Check": "a base class: the label and shape checks are registered",
    "symdl.tensor.extra_ops.RavelMultiIndex": "integer inputs and output (indices)",
    "symdl.tensor.extra_ops.SearchSorted": "integer output (insertion indices)",
    "symdl.tensor.extra_ops.Unique": (
        "not implemented (as in Theano): which elements survive is a discrete choice, and the values "
        "are not differentiable where two of them meet"
    ),
    "symdl.tensor.extra_ops.UnravelIndex": "integer inputs and outputs (coordinates)",
    "symdl.tensor.nnet.conv._ConvBase": "abstract base of the conv ops, which are registered",
    "symdl.tensor.nnet.conv_nd._ConvNdBase": "abstract base of the 3-d conv ops, which are registered",
    "symdl.tensor.nnet.pool._PoolBase": "abstract base of the pooling ops, which are registered",
    "symdl.tensor.nnet.pool_nd._PoolNdBase": "abstract base of the N-d pooling ops, which are registered",
    "symdl.tensor.random.RandomVariable": (
        "a random draw has no gradient with respect to its distribution's parameters (as Theano); "
        "write loc + scale * normal(0, 1) to differentiate a sample"
    ),
    "symdl.tensor.reduction.ArgReduce": "integer output (indices)",
    "symdl.tensor.shape.Shape": "integer output (the shape)",
}

# Every differentiable entry of SCALAR_OPS is a case of this parametrized test.
SCALAR_GRAD_TEST = f"{GRADS}::test_scalar_op_gradient"

_BOOLEAN = "boolean output: disconnected"
_BITS = "integer or boolean operands and output: disconnected"
_TO_DISCRETE = (
    "integer or boolean output: disconnected (test_grads.py::test_cast_to_an_integer_or_boolean_is_disconnected)"
)
SCALAR_OPS_WITHOUT_GRADIENT = {
    "lt": _BOOLEAN,
    "le": _BOOLEAN,
    "gt": _BOOLEAN,
    "ge": _BOOLEAN,
    "eq": _BOOLEAN,
    "neq": _BOOLEAN,
    "isnan": _BOOLEAN,
    "isinf": _BOOLEAN,
    "isfinite": _BOOLEAN,
    "bitwise_and": _BITS,
    "bitwise_or": _BITS,
    "bitwise_xor": _BITS,
    "invert": _BITS,
    "cast_bool": _TO_DISCRETE,
    "cast_int8": _TO_DISCRETE,
    "cast_int16": _TO_DISCRETE,
    "cast_int32": _TO_DISCRETE,
    "cast_int64": _TO_DISCRETE,
    "cast_uint8": _TO_DISCRETE,
    "cast_uint16": _TO_DISCRETE,
    "cast_uint32": _TO_DISCRETE,
    "cast_uint64": _TO_DISCRETE,
    "cast_complex64": "complex output: symdl differentiates real floats only",
    "cast_complex128": "complex output: symdl differentiates real floats only",
}


@cache
def all_symdl_ops() -> dict[str, type]:
    """Every Op subclass defined in a symdl module, after importing all of them."""
    for info in pkgutil.walk_packages(symdl.__path__, "symdl."):
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as exc:  # an optional dependency (e.g. PyCUDA) that is absent
            if exc.name is None or exc.name.startswith("symdl"):
                raise
    found: dict[str, type] = {}
    stack = list(Op.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("symdl.") and _defined_in_its_module(cls):
            found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def _defined_in_its_module(cls: type) -> bool:
    """Whether ``cls`` is reachable by its name from its module: an op a doctest defines (whose
    module is the one the doctest belongs to) is not symdl's, and exists only once that doctest
    ran, earlier in the same worker or not."""
    owner: object = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        owner = getattr(owner, part, None)
    return owner is cls


def all_scalar_ops() -> dict:
    for dtype in DTYPES:  # casts are made on demand: make them all
        ew.cast_scalar_op(dtype)
    return dict(ew.SCALAR_OPS)


@cache
def _parse(path: str) -> ast.Module:
    return ast.parse((ROOT / path).read_text(encoding="utf-8"))


def calls_verify_grad(target: str) -> bool:
    """Whether the test function ``file::name`` exists and calls verify_grad in its body."""
    path, _, name = target.partition("::")
    if not (ROOT / path).is_file():
        return False
    for node in _parse(path).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return any(
                isinstance(call, ast.Call)
                and (
                    getattr(call.func, "id", None) == "verify_grad" or getattr(call.func, "attr", None) == "verify_grad"
                )
                for call in ast.walk(node)
            )
    return False


def test_every_symdl_op_has_a_gradient_test_or_a_reason():
    ops = all_symdl_ops()
    missing = sorted(set(ops) - set(OP_GRAD_TESTS) - set(OPS_WITHOUT_GRADIENT))
    assert not missing, (
        f"ops with neither a gradient test nor a reason for having none: {missing}; add each to "
        "OP_GRAD_TESTS (with a test calling verify_grad) or to OPS_WITHOUT_GRADIENT in tests/test_grad_coverage.py"
    )


def test_the_registry_names_only_existing_ops_once():
    ops = all_symdl_ops()
    assert not set(OP_GRAD_TESTS) & set(OPS_WITHOUT_GRADIENT)
    stale = sorted((set(OP_GRAD_TESTS) | set(OPS_WITHOUT_GRADIENT)) - set(ops))
    assert not stale, f"registered ops that symdl no longer defines: {stale}"


@pytest.mark.parametrize("op_name", sorted(OP_GRAD_TESTS))
def test_registered_gradient_test_exists_and_calls_verify_grad(op_name):
    target = OP_GRAD_TESTS[op_name]
    assert calls_verify_grad(target), f"{op_name}: {target} is not a test function that calls verify_grad"


def test_ops_without_gradient_say_why():
    for name, reason in {**OPS_WITHOUT_GRADIENT, **SCALAR_OPS_WITHOUT_GRADIENT}.items():
        assert isinstance(reason, str) and len(reason) > 10, name


def test_every_differentiable_scalar_op_is_a_case_of_the_scalar_gradient_test():
    assert calls_verify_grad(SCALAR_GRAD_TEST)
    cases = _scalar_case_names()
    scalar_ops = all_scalar_ops()
    missing = sorted(set(scalar_ops) - cases - set(SCALAR_OPS_WITHOUT_GRADIENT))
    assert not missing, (
        f"scalar ops with neither a case in SCALAR_CASES ({GRADS}) nor an entry in SCALAR_OPS_WITHOUT_GRADIENT: {missing}"
    )
    assert not cases & set(SCALAR_OPS_WITHOUT_GRADIENT)
    stale = sorted((cases | set(SCALAR_OPS_WITHOUT_GRADIENT)) - set(scalar_ops))
    assert not stale, f"registered scalar ops that SCALAR_OPS does not hold: {stale}"


def test_scalar_ops_listed_without_gradient_really_have_none():
    scalar_ops = all_scalar_ops()
    for name in SCALAR_OPS_WITHOUT_GRADIENT:
        op = scalar_ops[name]
        if name.startswith("cast_"):
            assert op.params[0] not in ("float16", "float32", "float64"), name
        else:
            assert op.grad is None, f"{name} has a gradient: give it a case in SCALAR_CASES"


def _scalar_case_names() -> set[str]:
    """The keys of SCALAR_CASES in tests/tensor/test_grads.py (read from its source)."""
    for node in _parse(GRADS).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SCALAR_CASES" for t in node.targets):
            return {key.value for key in node.value.keys}
    raise AssertionError(f"{GRADS} has no SCALAR_CASES table")
