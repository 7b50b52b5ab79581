"""The examples run from the command line: --help, one short epoch (--quick) with the printed epoch
line and the progress bar, --plot, mnist.py on small generated IDX files. The accuracy targets
of the full runs are checked by the tests marked slow."""

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from symdl import datasets

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DIGIT_EXAMPLES = ["mlp_digits.py", "cnn_digits.py", "custom_loss.py", "transfer_freeze.py"]
# The examples of transfer learning and augmentation (issue 18); examples/vgg_transfer.py runs in
# tests/models/test_vgg_transfer_example.py, next to the full-size VGG19 file it needs.
TRANSFER_EXAMPLES = ["transfer_digits.py", "augment_digits.py", "vgg_transfer.py"]


def run_example(name, *args, timeout=300, env=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {}))
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )
    return result


def load_example(name):
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location(name[:-3], EXAMPLES / name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(EXAMPLES))


@pytest.mark.parametrize(
    "name", [*DIGIT_EXAMPLES, "mnist.py", "theano_tutorial.py", "lstm_adding.py", "char_rnn.py", *TRANSFER_EXAMPLES]
)
def test_every_example_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_example(name).main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--plot" in out and "--quick" in out


@pytest.mark.parametrize("name", DIGIT_EXAMPLES)
def test_digit_examples_run_one_short_epoch(name):
    result = run_example(name, "--quick")
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"epoch +1/1 +train loss \d+\.\d+ +val loss \d+\.\d+ +val accuracy +\d+\.\d+ %", result.stdout)
    assert "test accuracy" in result.stdout
    assert "batch" in result.stderr  # the tqdm progress bar
    if name == "transfer_freeze.py":
        assert "frozen parameters unchanged: True" in result.stdout


def test_gaussian_likelihood_recovers_the_covariance_within_5_percent():
    true, fitted, sample = load_example("custom_loss.py").fit_gaussian(verbose=False)
    assert np.linalg.norm(fitted - true) / np.linalg.norm(true) < 0.05
    assert np.abs(fitted - true).max() < 0.05 * np.abs(true).max()
    # Gradient descent found the maximum-likelihood estimate: the sample covariance.
    np.testing.assert_allclose(fitted, sample, atol=1e-3)


def test_plot_writes_a_png(tmp_path):
    out = tmp_path / "curves.png"
    result = run_example("custom_loss.py", "--quick", "--plot", out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_theano_tutorial_runs(tmp_path):
    result = run_example("theano_tutorial.py", "--quick", "--plot", tmp_path / "cost.png")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "d(x^2)/dx at 4: 8.0" in result.stdout and "training accuracy" in result.stdout
    assert (tmp_path / "cost.png").exists()


# The recurrent examples loop over small matrix products, where BLAS threads only add waiting
# (and, beside other processes on the same cores, a lot of it); one thread also fixes the order
# of every sum, so the seeded runs take the same path on every run.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def test_lstm_solves_the_adding_problem_below_001_test_mse(tmp_path):
    plot = tmp_path / "adding.png"
    result = run_example("lstm_adding.py", "--steps", 600, "--stop-below", 0.01, "--plot", plot, env=ONE_THREAD)
    assert result.returncode == 0, result.stderr[-3000:]
    mse = float(re.search(r"^test MSE (\d+\.\d+) \(predicting the mean: 0\.167\)", result.stdout, re.M).group(1))
    assert mse < 0.01, result.stdout
    assert "step" in result.stderr  # the tqdm progress bar
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_adding_problem_targets_are_the_sums_of_the_marked_values():
    x, y = load_example("lstm_adding.py").adding_problem(200, 50, np.random.default_rng(0))
    assert x.shape == (200, 50, 2) and y.shape == (200,)
    markers = x[:, :, 1]
    assert np.all(markers[:, :25].sum(axis=1) == 1) and np.all(markers[:, 25:].sum(axis=1) == 1)
    np.testing.assert_allclose(y, (x[:, :, 0] * markers).sum(axis=1), rtol=1e-6)
    assert abs(np.var(y) - 1 / 6) < 0.03  # what predicting the mean scores


def test_char_rnn_learns_the_zen_of_python_and_samples_it(tmp_path):
    plot = tmp_path / "loss.png"
    result = run_example("char_rnn.py", "--steps", 300, "--stop-below", 0.5, "--sample-every", 50, "--plot", plot,
                         env=ONE_THREAD)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "856 characters" in result.stdout
    loss = float(re.search(r"^loss (\d+\.\d+) nats per character", result.stdout, re.M).group(1))
    assert loss < 0.5, result.stdout  # from ln(45) = 3.8 for a uniform guess
    samples = re.findall(r"^most likely: +'(.*)'$", result.stdout, re.M)
    assert len(samples) >= 2 and samples[-1].startswith("Beautiful")
    assert "is better than" in samples[-1], samples  # the samples print as it trains, and end in aphorisms
    assert plot.exists()


def test_char_rnn_stdlib_text_is_docstrings_of_the_standard_library():
    text = load_example("char_rnn.py").stdlib_docstrings()
    assert len(text) > 50_000 and "Return" in text


def write_fake_mnist(directory, n_train=120, n_test=40):
    """Learnable 28x28 fake digits (class k lights up a band of rows) as gzipped IDX files."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            images[i, 2 * k : 2 * k + 2] = 255
        datasets.write_idx(directory / f"{datasets.MNIST_FILES[split + '_images']}.gz", images)
        datasets.write_idx(directory / f"{datasets.MNIST_FILES[split + '_labels']}.gz", labels)


@pytest.mark.parametrize(("model", "optimizer"), [("mlp", "sgd"), ("cnn", "nesterov")])
def test_mnist_example_runs_end_to_end_on_generated_idx_files(tmp_path, model, optimizer):
    write_fake_mnist(tmp_path)
    result = run_example("mnist.py", "--data-dir", tmp_path, "--model", model, "--optimizer", optimizer, "--quick")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{model.upper()} with" in result.stdout and "test accuracy" in result.stdout


def test_mnist_example_says_what_to_download_when_the_directory_is_missing(tmp_path):
    result = run_example("mnist.py", "--data-dir", tmp_path / "missing")
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "t10k-images-idx3-ubyte.gz" in result.stderr


@pytest.mark.slow
def test_mlp_digits_reaches_97_percent_within_a_minute():
    start = time.perf_counter()
    result = run_example("mlp_digits.py")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-3000:]
    accuracy = float(re.search(r"test accuracy (\d+\.\d+) %", result.stdout).group(1))
    assert accuracy >= 97.0, result.stdout
    assert elapsed < 60, f"took {elapsed:.1f} s"


@pytest.mark.slow
def test_cnn_digits_reaches_98_percent():
    result = run_example("cnn_digits.py", timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    accuracy = float(re.search(r"test accuracy (\d+\.\d+) %", result.stdout).group(1))
    assert accuracy >= 98.0, result.stdout


def last_line_percentages(result, pattern):
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(pattern, last)
    assert match, result.stdout
    return [float(v) for v in match.groups()]


@pytest.mark.slow
def test_transfer_digits_pretrained_layers_beat_training_from_scratch(tmp_path):
    result = run_example("transfer_digits.py", "--plot", tmp_path / "transfer.png", "--save", tmp_path / "pre.npz")
    transfer, scratch = last_line_percentages(result, r"transfer accuracy (\d+\.\d+) %, from scratch (\d+\.\d+) %")
    assert transfer > scratch and transfer >= 97.0, result.stdout
    assert "loaded all but ['digits_5_9_hidden.W'" in result.stdout  # the body loaded by name
    assert (tmp_path / "transfer.png").read_bytes()[:4] == b"\x89PNG"
    with np.load(tmp_path / "pre.npz") as saved:
        assert saved.files[:2] == ["conv1.W", "conv1.b"]


@pytest.mark.slow
def test_augment_digits_augmentation_beats_the_plain_training_set(tmp_path):
    result = run_example("augment_digits.py", "--plot", tmp_path / "augment.png")
    augmented, plain = last_line_percentages(result, r"augmented accuracy (\d+\.\d+) %, plain (\d+\.\d+) %")
    assert augmented > plain, result.stdout
    assert "RandomAffine(rotation=(-8.0, 8.0)" in result.stdout
    assert (tmp_path / "augment.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("name", ["transfer_digits.py", "augment_digits.py"])
def test_transfer_examples_run_quickly_with_quick(name):
    result = run_example(name, "--quick")
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"(transfer|augmented) accuracy \d+\.\d+ %", result.stdout.splitlines()[-1])
