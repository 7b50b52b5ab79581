"""The logistic-regression program of the Theano tutorial, ported by changing its imports only
(the gradient is written out by hand), trains and its cost falls."""

import numpy
import pytest

import symdl as theano
import symdl.tensor as T


def run_tutorial(mode, dtype):
    """The tutorial's program (``dtype`` float64 as written there, or floatX), 100 steps."""
    rng = numpy.random.RandomState(1234)
    N, feats = 400, 784
    D = (rng.randn(N, feats), rng.randint(size=N, low=0, high=2))
    training_steps = 100

    if dtype == "float64":  # the tutorial as written
        x = T.dmatrix("x")
        y = T.dvector("y")
        w = theano.shared(rng.randn(feats), name="w")
    else:  # its floatX form
        x = T.matrix("x")
        y = T.vector("y")
        w = theano.shared(rng.randn(feats).astype(theano.config.floatX), name="w")
    b = theano.shared(0.0, name="b")

    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))  # probability that target = 1
    prediction = p_1 > 0.5  # the prediction thresholded
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)  # cross-entropy loss function
    cost = xent.mean() + 0.01 * (w**2).sum()  # the cost to minimize
    gw = T.dot(x.T, p_1 - y) / N + 0.02 * w  # its gradient, derived by hand
    gb = (p_1 - y).mean()

    train = theano.function(
        inputs=[x, y],
        outputs=[prediction, xent, cost],
        updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)),
        mode=mode,
    )
    predict = theano.function(inputs=[x], outputs=prediction, mode=mode)

    costs = []
    for _ in range(training_steps):
        pred, err, c = train(D[0], D[1])
        costs.append(float(c))
    assert w.get_value().dtype == b.get_value().dtype == numpy.dtype(dtype)
    accuracy = (predict(D[0]) == D[1]).mean()
    return costs, accuracy


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_theano_tutorial_logistic_regression_cost_falls(backend, dtype):
    # Theano's floatX was float64; symdl's is float32, and shared(0.) takes floatX in both.
    with theano.config.change(floatX=dtype):
        costs, accuracy = run_tutorial(backend, dtype)
    assert all(numpy.isfinite(costs))
    assert costs[-1] < 0.5 * costs[0]
    assert all(later < earlier for earlier, later in zip(costs, costs[1:]))
    assert accuracy > 0.65  # from about 0.5 at the random start


def test_tutorial_gradient_by_hand_matches_numpy(backend):
    rng = numpy.random.default_rng(0)
    X = rng.standard_normal((20, 5)).astype("float32")
    Y = (rng.random(20) > 0.5).astype("float32")
    W0 = rng.standard_normal(5).astype("float32")
    x, y = T.fmatrix("x"), T.fvector("y")
    w = theano.shared(W0, name="w")
    p = T.sigmoid(T.dot(x, w))
    gw = T.dot(x.T, p - y) / 20
    step = theano.function([x, y], gw, updates=[(w, w - 0.5 * gw)], mode=backend)
    g = step(X, Y)
    expected = X.T @ (1 / (1 + numpy.exp(-(X @ W0))) - Y) / 20
    assert g.dtype == numpy.float32
    numpy.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-6)
    numpy.testing.assert_allclose(w.get_value(), W0 - 0.5 * expected, rtol=1e-4, atol=1e-6)
