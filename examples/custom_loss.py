"""A loss of your own, in plain symbolic maths, with no layer code: a two-layer network on the
digits trained with the focal loss (Lin et al., 2017), which down-weights examples the network
already gets right:

    python examples/custom_loss.py --gamma 2

The three lines a user writes are marked below: the loss, its gradient, the compiled step.

With ``--gaussian``, a loss that needs linear algebra instead: the negative log-likelihood of a
multivariate Gaussian whose covariance is learned through its Cholesky factor, fitted to
generated correlated data (it recovers the covariance the data was drawn from):

    python examples/custom_loss.py --gaussian
"""

import time

import numpy as np
from _common import fit, make_parser, plot_history, report_test

import symdl
import symdl.tensor as T
from symdl import datasets, updates
from symdl.tensor import nlinalg, slinalg

TRUE_COVARIANCE = np.array(
    [
        [2.0, 0.8, -0.5, 0.3],
        [0.8, 1.5, 0.2, -0.4],
        [-0.5, 0.2, 1.0, 0.25],
        [0.3, -0.4, 0.25, 0.8],
    ]
)


def fit_gaussian(n_samples=20000, steps=200, learning_rate=0.05, seed=0, verbose=True):
    """Fit a mean and a covariance to samples of N(mean, TRUE_COVARIANCE) by gradient descent on
    the Gaussian negative log-likelihood; return (true, fitted, sample) covariances."""
    rng = np.random.default_rng(seed)
    dim = len(TRUE_COVARIANCE)
    true_mean = np.linspace(-1.0, 1.0, dim)
    data = rng.multivariate_normal(true_mean, TRUE_COVARIANCE, size=n_samples)

    # The covariance is factor @ factor.T with factor lower triangular and a positive diagonal
    # (exp of a free parameter): any value of the parameters gives a valid covariance.
    free = symdl.shared(np.zeros((dim, dim)), name="free")
    mean = symdl.shared(np.zeros(dim), name="mean")
    factor = T.tril(free, -1) + T.diag(T.exp(T.diag(free)))
    covariance = T.dot(factor, factor.T)

    x = T.dmatrix("x")
    # 1. the loss: -log N(x; mean, covariance), averaged over the samples, written as a user
    #    would for any covariance; symdl computes log(det) through slogdet (no overflow)
    chol = slinalg.cholesky(covariance)
    z = slinalg.solve_triangular(chol, (x - mean).T, lower=True)  # whitened samples
    nll = 0.5 * (T.sum(z**2) / x.shape[0] + T.log(nlinalg.det(covariance)) + dim * np.log(2 * np.pi))
    # 2. its gradient (through cholesky, solve_triangular and det), 3. a compiled Adam step
    step = symdl.function([x], nll, updates=updates.adam(nll, [free, mean], learning_rate))
    for k in range(steps):
        loss = step(data)
        if verbose and (k % 100 == 0 or k == steps - 1):
            print(f"step {k:4d}: negative log-likelihood {float(loss):.5f}")
    fitted = symdl.function([], covariance)()
    sample = np.cov(data, rowvar=False, bias=True)
    if verbose:
        error = np.linalg.norm(fitted - TRUE_COVARIANCE) / np.linalg.norm(TRUE_COVARIANCE)
        print(f"fitted covariance (relative error {error:.2%} against the one the data was drawn from):")
        print(np.array2string(fitted, precision=3))
    return TRUE_COVARIANCE, fitted, sample


def main(argv=None):
    parser = make_parser(__doc__.splitlines()[0], epochs=30, batch_size=32, learning_rate=0.2)
    parser.add_argument("--gamma", type=float, default=2.0, help="focusing parameter; 0 is cross-entropy")
    parser.add_argument("--hidden", type=int, default=128, help="hidden units")
    parser.add_argument("--gaussian", action="store_true", help="fit a Gaussian's covariance by its likelihood instead")
    args = parser.parse_args(argv)
    if args.gaussian:
        return fit_gaussian(steps=20 if args.quick else 200, seed=args.seed)
    started = time.perf_counter()
    data = datasets.load_digits()
    rng = np.random.default_rng(args.seed)

    def weights(n_in, n_out):
        return symdl.shared(rng.normal(0, np.sqrt(2 / n_in), (n_in, n_out)).astype("float32"))

    W1, b1 = weights(64, args.hidden), symdl.shared(np.zeros(args.hidden, "float32"))
    W2, b2 = weights(args.hidden, 10), symdl.shared(np.zeros(10, "float32"))
    params = [W1, b1, W2, b2]

    x, y = T.tensor4("x"), T.ivector("y")
    hidden = T.tanh(T.dot(x.flatten(2), W1) + b1)
    probs = T.nnet.softmax(T.dot(hidden, W2) + b2)
    p_true = probs[T.arange(y.shape[0]), y]  # probability given to the right class

    # 1. the loss: focal loss, -(1 - p)^gamma * log(p), averaged over the batch
    loss = T.mean(-((1 - p_true) ** args.gamma) * T.log(p_true))
    # 2. its gradient with respect to every parameter, symbolically
    grads = symdl.grad(loss, params)
    # 3. a compiled training step applying plain SGD
    train_fn = symdl.function([x, y], loss, updates=[(p, p - args.learning_rate * g) for p, g in zip(params, grads)])

    accuracy = T.mean(T.eq(T.argmax(probs, axis=1), y))
    eval_fn = symdl.function([x, y], [loss, accuracy])
    history = fit(train_fn, eval_fn, data, args)
    test_acc = report_test(eval_fn, data[4], data[5], started)
    if args.plot:
        plot_history(history, args.plot, f"focal loss (gamma={args.gamma}) on the digits")
    return test_acc


if __name__ == "__main__":
    main()
