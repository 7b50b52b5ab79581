"""Transfer learning with frozen layers: train a network on the digits 0-4, save its parameters,
rebuild it, load them, freeze the lower layers and train a new output layer on the digits 5-9.
At the end it checks that the frozen parameters did not move:

    python examples/transfer_freeze.py
"""

import os
import tempfile
import time
from functools import partial

import numpy as np
from _common import compile_classifier, fit, make_parser, plot_history, report_test

import symdl.tensor as T
from symdl import datasets, init, layers, nonlinearities, updates


def subset(data, digits):
    """The examples of ``digits`` from each split, relabelled 0..len(digits)-1."""
    result = []
    for X, y in zip(data[0::2], data[1::2]):
        keep = np.isin(y, digits)
        result += [X[keep], (y[keep] - min(digits)).astype(np.int32)]
    return tuple(result)


def build_body(input_var):
    """The lower layers, shared by both tasks."""
    net = layers.InputLayer((None, 1, 8, 8), input_var=input_var)
    net = layers.DenseLayer(net, 128, nonlinearity=nonlinearities.rectify, name="hidden1")
    return layers.DenseLayer(net, 64, nonlinearity=nonlinearities.rectify, name="hidden2")


def compile_fns(net, x, y, learning_rate):
    """Training and evaluation functions; only parameters tagged trainable are updated."""
    return compile_classifier(net, x, y, partial(updates.nesterov_momentum, learning_rate=learning_rate))


def param_value(net, name):
    return next(p for p in layers.get_all_params(net) if p.name == name).get_value()


def main(argv=None):
    parser = make_parser(__doc__.splitlines()[0], epochs=15, batch_size=32, learning_rate=0.05)
    parser.add_argument("--save", metavar="FILE.npz", help="where to keep the first network's parameters")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    init.set_rng(np.random.RandomState(args.seed))
    digits = datasets.load_digits()
    x, y = T.tensor4("x"), T.ivector("y")

    print("1. train on the digits 0-4")
    first = subset(digits, [0, 1, 2, 3, 4])
    net = layers.DenseLayer(build_body(x), 5, nonlinearity=nonlinearities.softmax)
    train_fn, eval_fn = compile_fns(net, x, y, args.learning_rate)
    history = fit(train_fn, eval_fn, first, args)
    report_test(eval_fn, first[4], first[5], started)
    path = args.save or os.path.join(tempfile.mkdtemp(), "digits_0_4.npz")
    layers.save_params(net, path)
    print(f"saved the parameters to {path}")

    print("2. rebuild, load, freeze the body, train a new head on the digits 5-9")
    second = subset(digits, [5, 6, 7, 8, 9])
    old_head = layers.DenseLayer(build_body(x), 5, nonlinearity=nonlinearities.softmax)
    layers.load_params(old_head, path)
    body = old_head.input_layer
    layers.set_trainable(body, False)  # removes the 'trainable' tag from body's parameters
    frozen = {p.name: p.get_value() for p in layers.get_all_params(body)}
    new_head = layers.DenseLayer(body, 5, nonlinearity=nonlinearities.softmax, name="new_head")
    print("trainable now:", [p.name for p in layers.get_all_params(new_head, trainable=True)])
    train_fn, eval_fn = compile_fns(new_head, x, y, args.learning_rate)
    history2 = fit(train_fn, eval_fn, second, args)
    accuracy = report_test(eval_fn, second[4], second[5], started)

    moved = [name for name, value in frozen.items() if not np.array_equal(value, param_value(body, name))]
    print("frozen parameters unchanged:", not moved)
    if moved:
        raise SystemExit(f"frozen parameters changed: {moved}")
    if args.plot:
        joined = {key: history[key] + history2[key] for key in history}
        plot_history(joined, args.plot, "digits 0-4, then a new head on 5-9 (frozen body)")
    return accuracy


if __name__ == "__main__":
    main()
