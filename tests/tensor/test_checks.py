"""symdl.tensor.checks: run-time checks that turn silent wrong answers into errors naming the op
and the user's line (issue 17)."""

import re

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError

MODES = ["py", "c"]


def _train_step(mode, crossentropy):
    x, y = T.dmatrix("x"), T.ivector("y")
    W = symdl.shared(np.zeros((2, 3)), name="W")
    loss = crossentropy(x, y, W).mean()  # the line the error names
    step = symdl.function([x, y], [], updates=[(W, W - 0.1 * symdl.grad(loss, W))], mode=mode)
    return step, W


CROSSENTROPIES = {
    "fused": lambda x, y, W: T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(x, W)), y),
    "plain": lambda x, y, W: T.nnet.categorical_crossentropy(T.nnet.sigmoid(T.dot(x, W)), y),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", sorted(CROSSENTROPIES))
@pytest.mark.parametrize("bad", [7, 3, -1])
def test_out_of_range_labels_stop_a_gradient_only_training_step(mode, kind, bad):
    step, W = _train_step(mode, CROSSENTROPIES[kind])
    with pytest.raises(IndexError, match=rf"label {bad} .*out of range for 3 classes") as info:
        step(np.ones((2, 2)), np.array([0, bad], dtype="int32"))
    text = str(info.value) + "".join(getattr(info.value, "__notes__", []))
    assert "crossentropy" in text and re.search(r"test_checks\.py:\d+", text)
    assert not W.get_value().any()  # nothing trained
    step(np.ones((2, 2)), np.array([0, 2], dtype="int32"))
    assert W.get_value().any()


@pytest.mark.parametrize("mode", MODES)
def test_one_hot_raises_for_a_label_out_of_range(mode):
    y = T.ivector("y")
    for make in (T.one_hot, T.extra_ops.to_one_hot):
        f = symdl.function([y], make(y, 4), mode=mode)
        np.testing.assert_array_equal(f(np.array([3, 0], dtype="int32")), np.eye(4, dtype="float32")[[3, 0]])
        for bad in (7, 4, -1):
            with pytest.raises(IndexError, match=rf"one_hot.*label {bad} .*out of range for 4 classes") as info:
                f(np.array([1, bad], dtype="int32"))
            assert "negative labels are errors" in str(info.value)
            text = str(info.value) + "".join(getattr(info.value, "__notes__", []))
            assert re.search(r"test_checks\.py:\d+", text)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int64", "uint32"])
def test_label_check_reads_every_integer_dtype_and_strided_labels(mode, dtype):
    y = T.tensor(dtype, shape=(None, None), name="y")
    f = symdl.function([y], T.one_hot(y.T, 5).sum(), mode=mode)
    good = np.array([[0, 4, 2], [1, 3, 4]], dtype=dtype)
    assert f(good) == 6
    bad = good.copy()
    bad[1, 2] = 5
    with pytest.raises(IndexError, match="label 5 "):
        f(bad)


def test_label_check_is_an_identity_with_no_gradient():
    y = T.ivector("y")
    checked = symdl.tensor.checks.check_labels(y, 3, "test")
    assert checked.type == y.type and checked.name == "y"
    assert checked.owner.op.L_op(checked.owner.inputs, [checked], [None]) == [None, None]


# ---------------------------------------------------------------- sizes (issue 17, defect 6)
@pytest.mark.parametrize("mode", MODES)
def test_repeat_with_a_huge_count_raises_memory_error_naming_op_shape_and_line(mode):
    v, n = T.dvector("v"), T.lscalar("n")
    f = symdl.function([v, n], T.repeat(v, n), mode=mode)
    np.testing.assert_array_equal(f(np.arange(2.0), 2), [0, 0, 1, 1])
    with pytest.raises(MemoryError, match=r"repeat.*shape \(13835058055282163712,\).*too large") as info:
        f(np.ones(3), 2**62)
    assert re.search(r"test_checks\.py:\d+", str(info.value))
    counts = T.lvector("counts")
    g = symdl.function([v, counts], T.repeat(v, counts), mode=mode)
    with pytest.raises(MemoryError, match="repeat"):
        g(np.ones(3), np.array([2**62, 2**62, 2**62]))


@pytest.mark.parametrize("mode", MODES)
def test_alloc_and_eye_whose_size_overflows_raise_memory_error_not_a_shape_mismatch(mode):
    a = T.lscalar("a")
    f = symdl.function([a], T.alloc(0.0, a, a), mode=mode)
    assert f(3).shape == (3, 3)
    with pytest.raises(MemoryError, match=r"alloc.*shape \(2147483648, 2147483648\).*too large") as info:
        f(2**31)
    assert re.search(r"test_checks\.py:\d+", str(info.value))
    with pytest.raises(MemoryError, match=r"eye.*too large"):
        symdl.function([a], T.eye(a), mode=mode)(2**40)


def test_shape_check_passes_the_gradient():
    from symdl.tensor.checks import ShapeCheck
    from symdl.testing import verify_grad

    x, y = T.constant(np.ones((2, 4))), T.constant(np.ones((4, 3)))
    dot = T.dot(x, y).owner.op
    verify_grad(lambda g: ShapeCheck(dot)(g, x, y) * 3, [np.random.default_rng(0).normal(size=(2, 3))], mode="py")
    with pytest.raises(ShapeError, match="dot"):
        g = T.dmatrix("g")
        ShapeCheck(dot)(g, x, T.constant(np.ones((5, 3)))).eval({g: np.ones((2, 3))})


@pytest.mark.parametrize("mode", MODES)
def test_shape_check_raises_what_each_forward_would(mode):
    from symdl.tensor.checks import ShapeCheck

    a, b, g = T.dmatrix("a"), T.dmatrix("b"), T.dmatrix("g")
    v = T.dvector("v")
    cases = [
        (T.dot(a, b), [a, b], (np.ones((2, 3)), np.ones((3, 4))), (np.ones((2, 3)), np.ones((4, 4))), "dot"),
        (a * v, [a, v], (np.ones((2, 3)), np.ones(3)), (np.ones((2, 3)), np.ones(4)), "broadcast"),
        (T.concatenate([a, b]), [a, b], (np.ones((2, 3)), np.ones((1, 3))), (np.ones((2, 3)), np.ones((2, 4))),
         "concatenate"),
        (T.reshape(a, (3, -1)), [a], (np.ones((2, 3)),), (np.ones((2, 4)),), "reshape"),
    ]  # fmt: skip
    for out, ins, good, bad, pattern in cases:
        checked = ShapeCheck(out.owner.op)(g, *out.owner.inputs)
        f = symdl.function([g, *ins], checked * 2, mode=mode)
        np.testing.assert_array_equal(f(np.ones((2, 2)), *good), np.full((2, 2), 2.0))
        with pytest.raises(ShapeError, match=pattern):
            f(np.ones((2, 2)), *bad)
