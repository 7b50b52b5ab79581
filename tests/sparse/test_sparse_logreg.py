"""The sparse logistic regression of benchmarks/sparse_logreg.py: it learns the generated
bag-of-words task (>= 95 % test accuracy) and takes the same steps as the dense model. Its
speed is measured by the benchmark itself (``python -m benchmarks.sparse_logreg``), never here."""

import numpy as np

from benchmarks import sparse_logreg


def test_the_generated_data_is_a_one_percent_bag_of_words():
    x, labels = sparse_logreg.make_data(1000, 20000, 0.01)
    assert x.shape == (1000, 20000) and x.format == "csr"
    assert 0.0095 < x.nnz / (1000 * 20000) <= 0.01
    assert 0.4 < labels.mean() < 0.6


def test_sparse_logistic_regression_reaches_95_percent_test_accuracy():
    x, labels = sparse_logreg.make_data(4096 + 1024, 20000, 0.01)
    _, predict, losses = sparse_logreg.train_and_time(x[:4096], labels[:4096], 20000, True, 6, 512, 10.0)
    assert losses[-1] < losses[0]
    assert sparse_logreg.accuracy(predict, x[4096:], labels[4096:], sparse=True) >= 0.95


def test_the_sparse_and_dense_models_take_the_same_steps():
    x, labels = sparse_logreg.make_data(1024, 20000, 0.01)
    runs = [sparse_logreg.train_and_time(x, labels, 20000, sparse, 1, 256, 10.0) for sparse in (True, False)]
    np.testing.assert_allclose(runs[0][2], runs[1][2], rtol=1e-5)
    np.testing.assert_array_equal(runs[0][1](x), runs[1][1](x.toarray()))
