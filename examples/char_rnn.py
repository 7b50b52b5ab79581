"""Train a character-level LSTM language model and sample text from it as it learns:

    python examples/char_rnn.py                    # on the Zen of Python (``import this``)
    python examples/char_rnn.py --text stdlib      # on docstrings of Python's standard library
    python examples/char_rnn.py --file notes.txt   # on a text of your own

The network reads windows of characters (one-hot), an LSTM carries what it read, and a softmax
layer at every step predicts the next character. Every --sample-every steps it writes a line
starting from a prompt, one character at a time, each drawn from its prediction for the text so
far. Both texts come with Python (no download). On the Zen of Python (856 characters) the loss
falls from ln(vocabulary) to below 0.5 nats per character in about 150 steps and the samples
turn from noise into its aphorisms; the standard library's docstrings (about 100,000
characters) take thousands of steps to give plausible documentation. --help lists the options;
--plot saves the loss curve.
"""

from __future__ import annotations

import argparse
import codecs
import time

import numpy as np
from _common import pyplot, save_figure
from tqdm import tqdm

import symdl
import symdl.tensor as T
from symdl import init, layers, nonlinearities, objectives, updates

# Modules whose docstrings (the module's, its public functions' and classes') make the
# "stdlib" text: plain English about programming, the same in every recent Python.
DOC_MODULES = ("argparse", "bisect", "collections", "csv", "difflib", "fractions", "functools", "heapq",
               "itertools", "json", "logging", "pathlib", "random", "shutil", "statistics", "string",
               "tempfile", "textwrap", "unittest", "zipfile")  # fmt: skip
PROMPTS = {"zen": "Beautiful", "stdlib": "Return the"}


def zen_of_python() -> str:
    """The Zen of Python, as ``import this`` prints it (the module keeps it in rot13)."""
    import io
    from contextlib import redirect_stdout

    with redirect_stdout(io.StringIO()):  # importing `this` prints the text
        import this
    return codecs.decode(this.s, "rot13")


def stdlib_docstrings() -> str:
    """The docstrings of ``DOC_MODULES``, of their public functions and of their classes."""
    import importlib
    import inspect

    docs = []
    for name in DOC_MODULES:
        module = importlib.import_module(name)
        docs.append(inspect.getdoc(module) or "")
        for attr, value in sorted(vars(module).items()):
            if attr.startswith("_") or getattr(value, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(value) or inspect.isclass(value):
                docs.append(inspect.getdoc(value) or "")
    return "\n\n".join(doc for doc in docs if doc)


class Vocabulary:
    """The characters of a text and their indices."""

    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.index = {c: k for k, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        return np.array([self.index[c] for c in text], dtype=np.int32)

    def one_hot(self, codes: np.ndarray) -> np.ndarray:
        return np.eye(len(self), dtype=symdl.config.floatX)[codes]


def windows(codes: np.ndarray, length: int, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``batch`` random windows of ``length`` characters and, for each, the characters that
    follow each of them (the targets), both (batch, length)."""
    starts = rng.integers(0, len(codes) - length, batch)
    steps = starts[:, None] + np.arange(length)
    return codes[steps], codes[steps + 1]


def build_network(vocabulary: int, hidden: int, input_var=None):
    """One-hot characters -> LSTM -> a softmax over the vocabulary at every step."""
    l_in = layers.InputLayer((None, None, vocabulary), input_var=input_var)
    batch, steps, _ = l_in.input_var.shape
    l_lstm = layers.LSTMLayer(l_in, hidden, grad_clipping=5, forgetgate=layers.Gate(b=init.Constant(1.0)))
    # every step of every sequence through one dense layer: merge the batch and time axes
    l_steps = layers.ReshapeLayer(l_lstm, (-1, hidden))
    l_out = layers.DenseLayer(l_steps, vocabulary, nonlinearity=nonlinearities.softmax)
    return l_in, layers.ReshapeLayer(l_out, (batch, steps, vocabulary))


def sample(predict, vocabulary: Vocabulary, start: str, length: int, window: int, temperature: float,
           rng: np.random.Generator) -> str:  # fmt: skip
    """``start`` and ``length`` more characters, each drawn from the network's prediction given
    the last ``window`` characters (the most likely one at temperature 0)."""
    text = start
    for _ in range(length):
        x = vocabulary.one_hot(vocabulary.encode(text[-window:]))[None]
        probabilities = predict(x)[0, -1].astype(np.float64)
        if temperature == 0:
            code = int(np.argmax(probabilities))
        else:
            logits = np.log(probabilities + 1e-12) / temperature
            weights = np.exp(logits - logits.max())
            code = int(rng.choice(len(weights), p=weights / weights.sum()))
        text += vocabulary.chars[code]
    return text


def train(args: argparse.Namespace, text: str, verbose: bool = True) -> dict:
    """Train for ``args.steps`` steps (or until the mean loss of the last ``args.sample_every``
    steps is below ``args.stop_below``), printing samples along the way. Returns the history
    (every step's loss) and the final samples."""
    rng = np.random.default_rng(args.seed)
    init.set_rng(np.random.RandomState(args.seed))
    vocabulary = Vocabulary(text)
    codes = vocabulary.encode(text)
    if len(codes) <= args.window:
        raise SystemExit(f"the text has {len(codes)} characters; it needs more than --window {args.window}")

    x, targets = T.tensor3("x"), T.imatrix("targets")
    l_in, net = build_network(len(vocabulary), args.hidden, x)
    probabilities = layers.get_output(net)
    flat = probabilities.reshape((-1, len(vocabulary)))
    loss = objectives.categorical_crossentropy(flat, targets.flatten()).mean()
    params = layers.get_all_params(net, trainable=True)
    started = time.perf_counter()
    train_fn = symdl.function([x, targets], loss, updates=updates.adam(loss, params, args.learning_rate))
    predict = symdl.function([x], probabilities)
    if verbose:
        print(f"{len(text)} characters, {len(vocabulary)} distinct (uniform guess: {np.log(len(vocabulary)):.2f} "
              f"nats per character); LSTM with {layers.count_params(net)} parameters, compiled in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip

    def show(step: int) -> list[str]:
        temperatures = (0, args.temperature)
        lines = [
            sample(predict, vocabulary, args.prompt, args.sample_length, args.window, t, rng) for t in temperatures
        ]
        if verbose:
            tqdm.write(f"--- step {step}, loss {np.mean(history['loss'][-args.sample_every:]):.3f} nats per character "
                       f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
            tqdm.write(f"most likely:          {lines[0]!r}")
            tqdm.write(f"temperature {args.temperature:<9}{lines[1]!r}")
        return lines

    history: dict = {"loss": []}
    bar = tqdm(range(1, args.steps + 1), desc="training", unit="step", leave=False, disable=not verbose)
    for step in bar:
        inputs, following = windows(codes, args.window, args.batch_size, rng)
        history["loss"].append(float(train_fn(vocabulary.one_hot(inputs), following)))
        bar.set_postfix(loss=f"{history['loss'][-1]:.3f}")
        done = step == args.steps or np.mean(history["loss"][-args.sample_every :]) < args.stop_below
        if step % args.sample_every == 0 or done:
            history["samples"] = show(step)
        if done:
            break
    bar.close()
    history["final_loss"] = float(np.mean(history["loss"][-args.sample_every :]))
    if verbose:
        print(f"loss {history['final_loss']:.3f} nats per character (mean of the last {args.sample_every} steps) "
              f"after {len(history['loss'])} steps, {time.perf_counter() - started:.1f} s")  # fmt: skip
    return history


def plot(history: dict, path: str, vocabulary: int) -> None:
    fig, ax = pyplot().subplots(figsize=(7, 4))
    ax.plot(np.arange(1, len(history["loss"]) + 1), history["loss"], label="training loss (one batch)")
    ax.axhline(np.log(vocabulary), color="gray", linestyle="--", label="uniform guess")
    ax.set(xlabel="training step", ylabel="cross-entropy (nats per character)", title="character-level LSTM")
    ax.legend()
    save_figure(fig, path)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--text",
        choices=sorted(PROMPTS),
        default="zen",
        help="a text that comes with Python: the Zen of Python (default) or standard library docstrings",
    )
    parser.add_argument("--file", help="train on this UTF-8 text file instead")
    parser.add_argument("--hidden", type=int, default=128, help="LSTM units (default 128)")
    parser.add_argument("--window", type=int, default=40, help="characters per training sequence (default 40)")
    parser.add_argument("--steps", type=int, default=600, help="most training steps (default 600)")
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per step (default 32)")
    parser.add_argument("--learning-rate", type=float, default=0.01, help="Adam's step size (default 0.01)")
    parser.add_argument("--sample-every", type=int, default=100, help="steps between samples (default 100)")
    parser.add_argument("--sample-length", type=int, default=60, help="characters per sample (default 60)")
    parser.add_argument("--prompt", help="what samples start from (default: a phrase of the text)")
    parser.add_argument("--temperature", type=float, default=0.5, help="sampling temperature (default 0.5)")
    parser.add_argument("--stop-below", type=float, default=0.0, metavar="NATS",
                        help="stop once the mean loss of the last --sample-every steps is below this")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the windows, the weights and the samples")
    parser.add_argument("--plot", metavar="OUT.png", help="save the loss curve to this PNG file")
    parser.add_argument("--quick", action="store_true", help="a few steps, to check that everything runs")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = make_parser().parse_args(argv)
    if args.quick:
        args.steps, args.sample_every, args.sample_length = 4, 2, 10
    if args.file:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    else:
        text = zen_of_python() if args.text == "zen" else stdlib_docstrings()
    args.prompt = args.prompt or (text[:10] if args.file else PROMPTS[args.text])
    unknown = sorted(set(args.prompt) - set(text))
    if unknown:
        raise SystemExit(f"the prompt has characters the text lacks: {''.join(unknown)!r}")
    history = train(args, text)
    if args.plot:
        plot(history, args.plot, len(set(text)))
    return history


if __name__ == "__main__":
    main()
