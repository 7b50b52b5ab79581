"""Transfer learning on the digits: pretrain a small CNN on the digits 0-4, then learn the digits
5-9 from only 20 examples of each, once from scratch and once on the pretrained convolutional
layers (frozen under a new head, then fine-tuned with a lower learning rate):

    python examples/transfer_digits.py [--plot transfer.png]

The last line compares the two on the held-out digits 5-9 (those outside the training split).
It is the talk's VGG workflow (examples/vgg_transfer.py) at the scale of 8x8 digits.
"""

import argparse
import os
import tempfile
import time
from functools import partial

import numpy as np
from _common import compile_classifier, evaluate, few_per_class, plot_accuracy_curves
from tqdm import tqdm

import symdl.tensor as T
from symdl import datasets, init, layers, nonlinearities, updates
from symdl.data import iterate_minibatches

LAST_EPOCHS = 10  # the accuracies compared are means over these last epochs


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-epochs", type=int, default=15, help="epochs on the digits 0-4 (default 15)")
    parser.add_argument("--epochs", type=int, default=60, help="epochs on the few 5-9 examples, per model (default 60)")
    parser.add_argument("--finetune-epochs", type=int, default=30, help="of those, fine-tuning all layers (default 30)")
    parser.add_argument("--per-class", type=int, default=20, help="training examples per digit 5-9 (default 20)")
    parser.add_argument("--batch-size", type=int, default=20, help="minibatch size (default 20)")
    parser.add_argument("--learning-rate", type=float, default=0.002, help="Adam's step size (default 0.002)")
    parser.add_argument("--finetune-factor", type=float, default=0.1, help="learning rate factor for fine-tuning")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the few examples and the order")
    parser.add_argument("--save", metavar="FILE.npz", help="where to keep the pretrained parameters")
    parser.add_argument("--plot", metavar="OUT.png", help="save the held-out accuracy curves to this PNG file")
    parser.add_argument("--quick", action="store_true", help="one epoch per phase, to check that everything runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.pretrain_epochs, args.epochs, args.finetune_epochs = 1, 2, 1
    if not 0 <= args.finetune_epochs <= args.epochs:
        parser.error("--finetune-epochs must be between 0 and --epochs")
    return args


def select(X, y, digits):
    """The examples of ``digits``, relabelled 0..len(digits)-1."""
    keep = np.isin(y, digits)
    return X[keep], (y[keep] - min(digits)).astype(np.int32)


def build_body(input_var):
    """The convolutional layers, named so that their parameters load by name into a new network."""
    relu = nonlinearities.rectify
    net = layers.InputLayer((None, 1, 8, 8), input_var=input_var, name="input")
    net = layers.Conv2DLayer(net, 32, 3, pad="same", nonlinearity=relu, name="conv1")  # 32 x 8 x 8
    net = layers.Conv2DLayer(net, 32, 3, pad="same", nonlinearity=relu, name="conv2")  # 32 x 8 x 8
    return layers.MaxPool2DLayer(net, 2, name="pool")  # 32 x 4 x 4


def build_head(body, classes, name):
    net = layers.DenseLayer(layers.dropout(body, p=0.5), 64, name=f"{name}_hidden")
    return layers.DenseLayer(layers.dropout(net, p=0.5), classes, nonlinearity=nonlinearities.softmax, name=name)


def compile_fns(net, x, y, learning_rate):
    """Adam steps on the parameters tagged trainable only, and an evaluation."""
    return compile_classifier(net, x, y, partial(updates.adam, learning_rate=learning_rate))


def train(train_fn, eval_fn, train_set, held_out, epochs, args, rng, label):
    """Train for ``epochs``; returns the held-out accuracy after each epoch."""
    curve = []
    for _ in tqdm(range(epochs), desc=label, leave=False, unit="epoch"):
        for Xb, yb in iterate_minibatches(*train_set, args.batch_size, seed=rng):
            train_fn(Xb, yb)
        curve.append(evaluate(eval_fn, *held_out)[1])
    print(f"{label}: held-out accuracy {100 * curve[-1]:.2f} % after {epochs} epochs", flush=True)
    return curve


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    init.set_rng(np.random.RandomState(args.seed))
    rng = np.random.default_rng(args.seed)
    X_train, y_train, X_val, y_val, X_test, y_test = datasets.load_digits()
    x, y = T.tensor4("x"), T.ivector("y")

    pretrain_set = select(X_train, y_train, [0, 1, 2, 3, 4])
    few = few_per_class(*select(X_train, y_train, [5, 6, 7, 8, 9]), args.per_class, rng)
    held_out = select(np.concatenate([X_val, X_test]), np.concatenate([y_val, y_test]), [5, 6, 7, 8, 9])
    print(
        f"digits 0-4: {len(pretrain_set[1])} training examples; digits 5-9: {len(few[1])} training examples, "
        f"{len(held_out[1])} held out"
    )

    print("1. pretrain on the digits 0-4")
    pretrained = build_head(build_body(x), 5, "digits_0_4")
    train_fn, eval_fn = compile_fns(pretrained, x, y, args.learning_rate)
    train(
        train_fn,
        eval_fn,
        pretrain_set,
        select(X_val, y_val, [0, 1, 2, 3, 4]),
        args.pretrain_epochs,
        args,
        rng,
        "digits 0-4",
    )
    path = args.save or os.path.join(tempfile.mkdtemp(), "digits_0_4.npz")
    layers.save_params(pretrained, path)
    print(f"saved the parameters to {path}")

    print("2. the digits 5-9 from scratch")
    scratch = build_head(build_body(x), 5, "digits_5_9")
    train_fn, eval_fn = compile_fns(scratch, x, y, args.learning_rate)
    scratch_curve = train(train_fn, eval_fn, few, held_out, args.epochs, args, rng, "from scratch")

    print("3. the digits 5-9 on the pretrained convolutional layers")
    transfer = build_head(build_body(x), 5, "digits_5_9")
    loaded = layers.load_params(transfer, path, strict=False)  # the body by name; the heads differ
    print(f"loaded all but {loaded.missing} (new), left {loaded.unexpected} (the old head)")
    body = transfer.input_layer.input_layer.input_layer.input_layer  # pool, under the head's dropouts
    layers.set_trainable(body, False)
    train_fn, eval_fn = compile_fns(transfer, x, y, args.learning_rate)
    head_epochs = args.epochs - args.finetune_epochs
    transfer_curve = train(train_fn, eval_fn, few, held_out, head_epochs, args, rng, "new head, body frozen")
    layers.set_trainable(body, True)
    train_fn, eval_fn = compile_fns(transfer, x, y, args.learning_rate * args.finetune_factor)
    transfer_curve += train(train_fn, eval_fn, few, held_out, args.finetune_epochs, args, rng, "fine-tuning all")

    if args.plot:
        curves = {"from scratch": scratch_curve, "pretrained on 0-4 (frozen, then fine-tuned)": transfer_curve}
        plot_accuracy_curves(curves, args.plot, "epoch on the digits 5-9", f"{args.per_class} examples per digit 5-9")
    print(f"total {time.perf_counter() - started:.1f} s")
    # The mean of the last epochs: a single epoch's accuracy on 286 digits moves by a digit or two.
    last = min(LAST_EPOCHS, args.epochs)
    transfer_acc, scratch_acc = 100 * np.mean(transfer_curve[-last:]), 100 * np.mean(scratch_curve[-last:])
    print(f"held-out accuracy, mean of the last {last} epochs of each:")
    print(f"transfer accuracy {transfer_acc:.2f} %, from scratch {scratch_acc:.2f} %")
    return transfer_acc, scratch_acc


if __name__ == "__main__":
    main()
