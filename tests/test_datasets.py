"""The bundled digits, the MNIST IDX reader on generated files (good and corrupted), minibatches."""

import gzip

import numpy as np
import pytest

from symdl import datasets

NAMES = datasets.MNIST_FILES


def write_mnist(directory, n_train=60, n_test=20, gz=False, seed=0):
    """Learnable fake 28x28 digits (class k lights up row band k) as the four MNIST IDX files."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            images[i, 2 * k : 2 * k + 2] = 255
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    for key, data in arrays.items():
        datasets.write_idx(directory / (NAMES[key] + (".gz" if gz else "")), data)
    return arrays


def test_load_digits_is_a_fixed_float32_split_in_unit_range():
    X_train, y_train, X_val, y_val, X_test, y_test = datasets.load_digits()
    assert X_train.shape == (1197, 1, 8, 8) and X_val.shape == (300, 1, 8, 8) and X_test.shape == (300, 1, 8, 8)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int32
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    assert set(np.unique(y_test)) == set(range(10))
    again = datasets.load_digits()
    np.testing.assert_array_equal(again[5], y_test)


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_reads_raw_and_gzipped_idx_files(tmp_path, gz):
    arrays = write_mnist(tmp_path, n_train=60, n_test=20, gz=gz)
    X_train, y_train, X_val, y_val, X_test, y_test = datasets.load_mnist(tmp_path)
    assert X_train.shape == (50, 1, 28, 28) and X_val.shape == (10, 1, 28, 28) and X_test.shape == (20, 1, 28, 28)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int32
    np.testing.assert_allclose(X_test[:, 0], arrays["test_images"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(np.concatenate([y_train, y_val]), arrays["train_labels"])
    assert datasets.load_mnist(tmp_path, n_val=0)[2].shape[0] == 0


def test_load_mnist_says_what_to_download_when_the_directory_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz.*load_digits"):
        datasets.load_mnist(tmp_path / "nowhere")


def test_load_mnist_names_a_missing_file(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / NAMES["test_labels"]).unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        datasets.load_mnist(tmp_path)


def test_load_mnist_rejects_a_wrong_magic_number(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / NAMES["train_images"]
    path.write_bytes(path.read_bytes().replace(b"\x00\x00\x08\x03", b"\x00\x00\x08\x01", 1))
    with pytest.raises(ValueError, match="magic number 2049"):
        datasets.load_mnist(tmp_path)


def test_load_mnist_rejects_a_truncated_file(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / NAMES["train_images"]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated"):
        datasets.load_mnist(tmp_path)


def test_load_mnist_rejects_a_truncated_gzip_and_a_short_header(tmp_path):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / (NAMES["train_images"] + ".gz")
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match="complete download"):
        datasets.load_mnist(tmp_path)
    path.write_bytes(gzip.compress(b"\x00\x00"))
    with pytest.raises(ValueError, match="too short"):
        datasets.load_mnist(tmp_path)


def test_load_mnist_rejects_mismatched_counts_and_bad_labels(tmp_path):
    arrays = write_mnist(tmp_path)
    datasets.write_idx(tmp_path / NAMES["train_images"], arrays["train_images"][:-1])
    with pytest.raises(ValueError, match="59 images but train_labels has 60"):
        datasets.load_mnist(tmp_path)
    write_mnist(tmp_path)
    path = tmp_path / NAMES["test_labels"]
    data = bytearray(path.read_bytes())
    data[-1] = 42
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="label 42"):
        datasets.load_mnist(tmp_path)


def test_write_idx_refuses_what_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        datasets.write_idx(tmp_path / "x", np.zeros((2, 2), np.float32))


def test_iterate_minibatches_covers_every_example_once():
    X, y = np.arange(23)[:, None], np.arange(23)
    batches = list(datasets.iterate_minibatches(X, y, 5, rng=np.random.default_rng(0)))
    assert [len(b) for _, b in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([b for _, b in batches])
    assert sorted(seen) == list(range(23)) and list(seen) != list(range(23))
    for Xb, yb in batches:
        np.testing.assert_array_equal(Xb[:, 0], yb)
    with pytest.raises(ValueError, match="23 inputs but 3 targets"):
        list(datasets.iterate_minibatches(X, y[:3], 5))
