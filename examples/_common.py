"""What every example shares: the command line (--epochs, --quick, --plot, ...), the training and
evaluation functions of a classifier, the epoch loop with a tqdm progress bar, evaluation, a few
examples per class, and the plots. The models live in the examples themselves."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from tqdm import tqdm

import symdl
from symdl import layers, objectives
from symdl.datasets import iterate_minibatches

QUICK_BATCHES = 5  # --quick: one epoch of this many minibatches, enough to see everything run


def make_parser(description: str, epochs: int, batch_size: int, learning_rate: float) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=epochs, help=f"passes over the training set (default {epochs})")
    parser.add_argument("--batch-size", type=int, default=batch_size, help=f"minibatch size (default {batch_size})")
    parser.add_argument(
        "--learning-rate", type=float, default=learning_rate, help=f"step size (default {learning_rate})"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the shuffling")
    parser.add_argument("--plot", metavar="OUT.png", help="save loss and accuracy curves to this PNG file")
    parser.add_argument("--quick", action="store_true", help="one short epoch, to check that everything runs")
    return parser


def compile_classifier(net: Any, x: Any, y: Any, update: Callable) -> tuple[Callable, Callable]:
    """``train_fn(X, y) -> loss``, one step of ``update(loss, params)`` (``updates.adam`` with its
    learning rate bound, say) on the parameters tagged trainable, with the training output
    (dropout on, batch statistics); and ``eval_fn(X, y) -> (loss, accuracy)`` with the
    deterministic one. The loss is the mean categorical cross-entropy."""
    loss = objectives.categorical_crossentropy(layers.get_output(net), y).mean()
    params = layers.get_all_params(net, trainable=True)
    train_fn = symdl.function([x, y], loss, updates=update(loss, params))
    out = layers.get_output(net, deterministic=True)
    eval_fn = symdl.function(
        [x, y], [objectives.categorical_crossentropy(out, y).mean(), objectives.categorical_accuracy(out, y).mean()]
    )
    return train_fn, eval_fn


def few_per_class(X: np.ndarray, y: np.ndarray, per_class: int, rng: np.random.Generator) -> tuple:
    """``per_class`` examples of every class in ``y``, drawn without replacement, class by class."""
    chosen = np.concatenate([rng.choice(np.flatnonzero(y == k), per_class, replace=False) for k in np.unique(y)])
    return X[chosen], y[chosen]


def evaluate(eval_fn: Callable, X: np.ndarray, y: np.ndarray, batch_size: int = 500) -> tuple[float, float]:
    """Mean loss and accuracy of ``eval_fn(X, y) -> (loss, accuracy)`` over the whole set."""
    loss = acc = 0.0
    for Xb, yb in iterate_minibatches(X, y, batch_size, shuffle=False):
        batch_loss, batch_acc = eval_fn(Xb, yb)
        loss += float(batch_loss) * len(yb)
        acc += float(batch_acc) * len(yb)
    return loss / len(y), acc / len(y)


def fit(
    train_fn: Callable,
    eval_fn: Callable,
    data: tuple[np.ndarray, ...],
    args: argparse.Namespace,
    on_epoch: Callable[[int], Any] | None = None,
) -> dict[str, list[float]]:
    """Train for ``args.epochs`` epochs (one short one with ``--quick``), printing after each epoch
    the training loss and the validation loss and accuracy. Returns the history."""
    X_train, y_train, X_val, y_val = data[:4]
    rng = np.random.default_rng(args.seed)
    epochs = 1 if args.quick else args.epochs
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_acc": []}
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        if on_epoch is not None:
            on_epoch(epoch)
        batches = iterate_minibatches(X_train, y_train, args.batch_size, shuffle=True, rng=rng)
        total = -(-len(X_train) // args.batch_size)
        if args.quick:
            batches = (b for _, b in zip(range(QUICK_BATCHES), batches))
            total = min(total, QUICK_BATCHES)
        losses = []
        bar = tqdm(batches, total=total, desc=f"epoch {epoch}/{epochs}", leave=False, unit="batch")
        for Xb, yb in bar:
            losses.append(float(train_fn(Xb, yb)))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        val_loss, val_acc = evaluate(eval_fn, X_val, y_val)
        history["train_loss"].append(float(np.mean(losses)))
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        print(
            f"epoch {epoch:3d}/{epochs}  train loss {np.mean(losses):.4f}  val loss {val_loss:.4f}  "
            f"val accuracy {100 * val_acc:6.2f} %  ({time.perf_counter() - start:.1f} s)",
            flush=True,
        )
    return history


def report_test(eval_fn: Callable, X_test: np.ndarray, y_test: np.ndarray, started: float) -> float:
    test_loss, test_acc = evaluate(eval_fn, X_test, y_test)
    print(
        f"test loss {test_loss:.4f}  test accuracy {100 * test_acc:.2f} %  (total {time.perf_counter() - started:.1f} s)"
    )
    return test_acc


def pyplot() -> Any:
    """``matplotlib.pyplot`` drawing to files (the Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str) -> None:
    """Save ``fig`` as a PNG at ``path`` (its directory made if missing), close it, say where."""
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    pyplot().close(fig)
    print(f"saved {path}")


def plot_history(history: dict[str, list[float]], path: str, title: str) -> None:
    """Save the loss curves and the validation accuracy side by side as a PNG."""
    plt = pyplot()
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, history["train_loss"], "o-", label="train")
    ax_loss.plot(epochs, history["val_loss"], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_loss.legend()
    ax_acc.plot(epochs, 100 * np.asarray(history["val_acc"]), "o-", color="tab:green")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="validation accuracy")
    fig.suptitle(title)
    save_figure(fig, path)


def plot_accuracy_curves(curves: dict[str, list[float]], path: str, xlabel: str, title: str) -> None:
    """Save one held-out accuracy curve per label of ``curves`` (accuracies per epoch) as a PNG."""
    fig, ax = pyplot().subplots(figsize=(7, 4))
    for label, curve in curves.items():
        ax.plot(np.arange(1, len(curve) + 1), 100 * np.asarray(curve), label=label)
    ax.set(xlabel=xlabel, ylabel="held-out accuracy (%)", title=title)
    ax.legend()
    save_figure(fig, path)
