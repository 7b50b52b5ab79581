"""A loss of your own, in plain symbolic maths, with no layer code: a two-layer network on the
digits trained with the focal loss (Lin et al., 2017), which down-weights examples the network
already gets right:

    python examples/custom_loss.py --gamma 2

The three lines a user writes are marked below: the loss, its gradient, the compiled step.
"""

import time

import numpy as np
from _common import fit, make_parser, plot_history, report_test

import symdl
import symdl.tensor as T
from symdl import datasets


def main(argv=None):
    parser = make_parser(__doc__.splitlines()[0], epochs=30, batch_size=32, learning_rate=0.2)
    parser.add_argument("--gamma", type=float, default=2.0, help="focusing parameter; 0 is cross-entropy")
    parser.add_argument("--hidden", type=int, default=128, help="hidden units")
    args = parser.parse_args(argv)
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
