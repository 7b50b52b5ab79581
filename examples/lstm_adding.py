"""Train an LSTM on the adding problem (Hochreiter & Schmidhuber 1997), a test of long memory:

    python examples/lstm_adding.py

Each input is a sequence of 50 steps of two numbers: a random value in [0, 1], and a marker
that is 1 at two steps (one in each half of the sequence) and 0 elsewhere. The target is the sum
of the two marked values, to be given after the last step. Predicting the mean (1.0) scores a
mean squared error of 1/6 (about 0.167); getting below 0.01 means the network has learned to
find, hold and add the two values across up to 50 steps. It does so in a few hundred steps of
Adam; --help lists the options (--plot saves the loss curves).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import pyplot, save_figure
from tqdm import tqdm

import symdl
import symdl.tensor as T
from symdl import init, layers, updates

BASELINE_MSE = 1 / 6  # the variance of the sum of two uniform values: what predicting the mean scores


def adding_problem(n: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences (n, length, 2) of (value, marker) pairs and their targets (n,): the sum
    of the two values whose marker is 1, one in each half of the sequence."""
    values = rng.uniform(size=(n, length))
    markers = np.zeros((n, length))
    rows = np.arange(n)
    first = rng.integers(0, length // 2, n)
    second = rng.integers(length // 2, length, n)
    markers[rows, first] = markers[rows, second] = 1
    x = np.stack([values, markers], axis=-1).astype(symdl.config.floatX)
    y = (values[rows, first] + values[rows, second]).astype(symdl.config.floatX)
    return x, y


def build_network(length: int, hidden: int, input_var=None):
    """An LSTM reading the sequence, and a linear read-out of its last hidden state."""
    l_in = layers.InputLayer((None, length, 2), input_var=input_var)
    # A forget gate biased open keeps the cell's memory from the start of training (Gers et al. 2000).
    l_lstm = layers.LSTMLayer(
        l_in, hidden, forgetgate=layers.Gate(b=init.Constant(1.0)), only_return_final=True, grad_clipping=10
    )
    return layers.DenseLayer(l_lstm, 1, nonlinearity=None)


def train(args: argparse.Namespace, verbose: bool = True) -> dict[str, list[float]]:
    """Train on fresh batches for ``args.steps`` steps, evaluating on a fixed test set every
    ``args.eval_every`` steps; stop early once the test MSE is below ``args.stop_below``.
    Returns the history: the training loss of every step and the test MSEs with their steps."""
    rng = np.random.default_rng(args.seed)
    init.set_rng(np.random.RandomState(args.seed))
    x_test, y_test = adding_problem(args.test_size, args.length, rng)

    x, y = T.tensor3("x"), T.vector("y")
    net = build_network(args.length, args.hidden, x)
    prediction = layers.get_output(net).flatten()
    loss = T.mean((prediction - y) ** 2)
    params = layers.get_all_params(net, trainable=True)
    started = time.perf_counter()
    train_fn = symdl.function([x, y], loss, updates=updates.adam(loss, params, args.learning_rate))
    test_fn = symdl.function([x, y], loss)
    if verbose:
        print(f"LSTM with {layers.count_params(net)} parameters, sequences of {args.length} steps; "
              f"compiled in {time.perf_counter() - started:.1f} s")  # fmt: skip

    history: dict[str, list[float]] = {"train_loss": [], "test_step": [], "test_mse": []}
    bar = tqdm(range(1, args.steps + 1), desc="training", unit="step", leave=False, disable=not verbose)
    for step in bar:
        history["train_loss"].append(float(train_fn(*adding_problem(args.batch_size, args.length, rng))))
        if step % args.eval_every == 0 or step == args.steps:
            mse = float(test_fn(x_test, y_test))
            history["test_step"].append(step)
            history["test_mse"].append(mse)
            bar.set_postfix(test_mse=f"{mse:.4f}")
            if verbose:
                tqdm.write(f"step {step:5d}  train loss {np.mean(history['train_loss'][-args.eval_every:]):.4f}  "
                           f"test MSE {mse:.4f}  ({time.perf_counter() - started:.1f} s)")  # fmt: skip
            if mse < args.stop_below:
                break
    bar.close()
    if verbose:
        print(f"test MSE {history['test_mse'][-1]:.4f} (predicting the mean: {BASELINE_MSE:.3f}) after "
              f"{history['test_step'][-1]} steps, {time.perf_counter() - started:.1f} s")  # fmt: skip
    return history


def plot(history: dict[str, list[float]], path: str) -> None:
    """The training loss of every step and the test MSE, on a log scale, with the baseline."""
    fig, ax = pyplot().subplots(figsize=(7, 4))
    steps = np.arange(1, len(history["train_loss"]) + 1)
    ax.plot(steps, history["train_loss"], alpha=0.5, label="training loss (one batch)")
    ax.plot(history["test_step"], history["test_mse"], "o-", label="test MSE")
    ax.axhline(BASELINE_MSE, color="gray", linestyle="--", label="predicting the mean")
    ax.axhline(0.01, color="tab:green", linestyle=":", label="0.01")
    ax.set(xlabel="training step", ylabel="mean squared error", yscale="log", title="LSTM on the adding problem")
    ax.legend()
    save_figure(fig, path)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=50, help="sequence length (default 50)")
    parser.add_argument("--hidden", type=int, default=32, help="LSTM units (default 32)")
    parser.add_argument("--steps", type=int, default=1500, help="most training steps (default 1500)")
    parser.add_argument("--batch-size", type=int, default=64, help="sequences per step (default 64)")
    parser.add_argument("--learning-rate", type=float, default=0.03, help="Adam's step size (default 0.03)")
    parser.add_argument("--test-size", type=int, default=1000, help="test sequences (default 1000)")
    parser.add_argument("--eval-every", type=int, default=50, help="steps between test evaluations (default 50)")
    parser.add_argument("--stop-below", type=float, default=0.0, metavar="MSE",
                        help="stop once the test MSE is below this (default: train every step)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the initial weights")
    parser.add_argument("--plot", metavar="OUT.png", help="save the loss curves to this PNG file")
    parser.add_argument("--quick", action="store_true", help="a few steps, to check that everything runs")
    return parser


def main(argv: list[str] | None = None) -> float:
    args = make_parser().parse_args(argv)
    if args.quick:
        args.steps, args.eval_every, args.test_size = 5, 5, 100
    history = train(args)
    if args.plot:
        plot(history, args.plot)
    return history["test_mse"][-1]


if __name__ == "__main__":
    main()
