"""Data augmentation on a small training set: a CNN learns the ten digits from 20 examples of
each, once on the examples as they are and once on randomly shifted and slightly rotated copies
(and slightly zoomed) made on the fly by a background loader:

    python examples/augment_digits.py [--plot augment.png]

No flips: a mirrored 2 or 7 is no digit, and a digit turned by more than ~15 degrees may become
another (6 and 9). The last line compares the two on the held-out digits.
"""

import argparse
import time
from functools import partial

import numpy as np
from _common import compile_classifier, evaluate, few_per_class, plot_accuracy_curves

import symdl.tensor as T
from symdl import datasets, init, layers, nonlinearities, updates
from symdl.data import BackgroundLoader, RandomAffine

LAST_EPOCHS = 10  # the accuracies compared are means over these last epochs


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=120, help="passes over the small training set (default 120)")
    parser.add_argument("--per-class", type=int, default=20, help="training examples per digit (default 20)")
    parser.add_argument("--batch-size", type=int, default=20, help="minibatch size (default 20)")
    parser.add_argument("--learning-rate", type=float, default=0.002, help="Adam's step size (default 0.002)")
    parser.add_argument("--max-shift", type=float, default=0.5, help="largest shift in pixels (default 0.5)")
    parser.add_argument("--max-rotation", type=float, default=8.0, help="largest rotation in degrees (default 8)")
    parser.add_argument("--max-zoom", type=float, default=0.05, help="largest change of scale (default 0.05)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the examples and the augmentation")
    parser.add_argument("--plot", metavar="OUT.png", help="save the held-out accuracy curves to this PNG file")
    parser.add_argument("--quick", action="store_true", help="two epochs, to check that everything runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = 2
    return args


def build_cnn(input_var):
    relu = nonlinearities.rectify
    net = layers.InputLayer((None, 1, 8, 8), input_var=input_var)
    net = layers.Conv2DLayer(net, 32, 3, pad="same", nonlinearity=relu)  # 32 x 8 x 8
    net = layers.Conv2DLayer(net, 32, 3, pad="same", nonlinearity=relu)  # 32 x 8 x 8
    net = layers.MaxPool2DLayer(net, 2)  # 32 x 4 x 4
    net = layers.DenseLayer(layers.dropout(net, p=0.5), 64)
    return layers.DenseLayer(layers.dropout(net, p=0.5), 10, nonlinearity=nonlinearities.softmax)


def train_and_evaluate(loader, held_out, args, label):
    """A new network trained on what ``loader`` delivers; the held-out accuracy after each epoch."""
    x, y = T.tensor4("x"), T.ivector("y")
    train_fn, eval_fn = compile_classifier(build_cnn(x), x, y, partial(updates.adam, learning_rate=args.learning_rate))
    curve = []
    for epoch in range(args.epochs):
        loader.progress = f"{label} {epoch + 1}/{args.epochs}"
        for Xb, yb in loader:
            train_fn(Xb, yb)
        curve.append(evaluate(eval_fn, *held_out)[1])
    print(f"{label}: held-out accuracy {100 * curve[-1]:.2f} % after {args.epochs} epochs", flush=True)
    return curve


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    X_train, y_train, X_val, y_val, X_test, y_test = datasets.load_digits()
    train_set = few_per_class(X_train, y_train, args.per_class, np.random.default_rng(args.seed))
    held_out = (np.concatenate([X_val, X_test]), np.concatenate([y_val, y_test]))
    print(f"{len(train_set[1])} training digits ({args.per_class} of each), {len(held_out[1])} held out")
    # One interpolation for the three: shifts by fractions of a pixel (a whole pixel is an eighth
    # of these images), rotations of a few degrees, slight zooms. Never flips.
    augment = RandomAffine(rotation=args.max_rotation, shift=args.max_shift, scale=args.max_zoom)
    print(f"augmentation: {augment}")

    curves = {}
    for label, transform in (("plain", None), ("augmented", augment)):
        init.set_rng(np.random.RandomState(args.seed))  # both start from the same weights
        loader = BackgroundLoader(*train_set, args.batch_size, transform=transform, seed=args.seed, prefetch=4)
        curves[label] = train_and_evaluate(loader, held_out, args, label)

    if args.plot:
        title = f"{len(train_set[1])} training digits, with and without augmentation"
        plot_accuracy_curves(curves, args.plot, "epoch", title)
    print(f"total {time.perf_counter() - started:.1f} s")
    # The mean of the last epochs: a single epoch's accuracy on 600 digits moves by a few digits.
    last = min(LAST_EPOCHS, args.epochs)
    augmented, plain = (100 * np.mean(curves[label][-last:]) for label in ("augmented", "plain"))
    print(f"held-out accuracy, mean of the last {last} epochs of each:")
    print(f"augmented accuracy {augmented:.2f} %, plain {plain:.2f} %")
    return augmented, plain


if __name__ == "__main__":
    main()
