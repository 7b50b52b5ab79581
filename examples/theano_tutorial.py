"""The logistic regression and the gradient examples of the Theano tutorial, run by symdl with
only the imports changed (``import symdl as theano; import symdl.tensor as T``):

    python examples/theano_tutorial.py
"""

import argparse

import numpy

import symdl as theano
import symdl.tensor as T


def gradients():
    """'Computing gradients' of the tutorial: derivatives, Jacobian and Hessian."""
    x = T.dscalar("x")
    y = x**2
    gy = T.grad(y, x)
    f = theano.function([x], gy)
    print("d(x^2)/dx at 4:", f(4))

    x = T.dmatrix("x")
    s = T.sum(1 / (1 + T.exp(-x)))
    gs = T.grad(s, x)
    dlogistic = theano.function([x], gs)
    print("gradient of the logistic:\n", dlogistic([[0, 1], [-1, -2]]))

    x = T.dvector("x")
    y = x**2
    J = theano.gradient.jacobian(y, x)
    f = theano.function([x], J)
    print("Jacobian of x^2 at [4, 4]:\n", f([4, 4]))

    cost = y.sum()
    H = theano.gradient.hessian(cost, x)
    f = theano.function([x], H)
    print("Hessian of sum(x^2) at [4, 4]:\n", f([4, 4]))


def logistic_regression(training_steps, plot=None):
    """'A real example: logistic regression' of the tutorial."""
    rng = numpy.random.RandomState(0)
    N = 400  # training sample size
    feats = 784  # number of input variables
    D = (rng.randn(N, feats), rng.randint(size=N, low=0, high=2))

    # Declare Theano symbolic variables
    x = T.dmatrix("x")
    y = T.dvector("y")
    w = theano.shared(rng.randn(feats), name="w")
    b = theano.shared(0.0, name="b")

    # Construct Theano expression graph
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))  # Probability that target = 1
    prediction = p_1 > 0.5  # The prediction thresholded
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)  # Cross-entropy loss function
    cost = xent.mean() + 0.01 * (w**2).sum()  # The cost to minimize
    gw, gb = T.grad(cost, [w, b])  # Compute the gradient of the cost

    # Compile
    train = theano.function(inputs=[x, y], outputs=[prediction, xent], updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)))
    predict = theano.function(inputs=[x], outputs=prediction)

    # Train
    costs = []
    for _ in range(training_steps):
        pred, err = train(D[0], D[1])
        costs.append(float(err.mean()))
    accuracy = float((predict(D[0]) == D[1]).mean())
    print(f"after {training_steps} steps: mean cross-entropy {costs[-1]:.4f}, training accuracy {100 * accuracy:.1f} %")
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(costs)
        ax.set(xlabel="step", ylabel="mean cross-entropy", yscale="log", title="logistic regression")
        fig.tight_layout()
        fig.savefig(plot, dpi=100)
        print(f"saved {plot}")
    return accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="training steps (the tutorial uses 10000)")
    parser.add_argument("--plot", metavar="OUT.png", help="save the cost curve to this PNG file")
    parser.add_argument("--quick", action="store_true", help="a few steps, to check that everything runs")
    args = parser.parse_args(argv)
    gradients()
    return logistic_regression(10 if args.quick else args.steps, args.plot)


if __name__ == "__main__":
    main()
