"""Sparse logistic regression on a generated bag-of-words matrix (1 % of the entries stored): the
training step of the model on the CSR matrix against the same model on the dense matrix.

    python -m benchmarks.sparse_logreg [--quick] [--vocab 20000] [--batch 512]

Two hundred informative words each occur in half of the documents and carry a hidden weight; a
document's label is the sign of the sum of the weights of those it holds; the other words of a
document are drawn uniformly from the rest of the vocabulary.
Both models start from zero and take the same SGD steps on the same minibatches, so they reach
the same weights; only the step's cost differs. Each step is timed alone (the dense model's
minibatch is made dense before the clock starts); the figures are medians over the timed epochs.
Prints both step times, their ratio, and the test accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


INFORMATIVE = 200  # words that carry a hidden weight; each occurs in half of the documents
MARGIN = 0.2  # documents whose hidden score is within MARGIN standard deviations of 0 are left out


def make_data(n_docs: int, vocab: int, density: float, seed: int = 0):
    """A CSR bag-of-words matrix (float32, ``density`` of its entries stored, each 1/sqrt(words per
    document): the word is present) and its 0/1 labels. The first ``INFORMATIVE`` words each occur in half of the documents and
    carry a hidden weight; a document's label is the sign of the sum of the weights of those it
    holds (documents too close to 0 are left out). Other words, drawn uniformly from the rest of
    the vocabulary, fill each document up to ``density * vocab`` words."""
    import scipy.sparse

    rng = np.random.default_rng(seed)
    hidden = rng.standard_normal(INFORMATIVE)
    words_per_doc = max(INFORMATIVE, round(density * vocab))
    present = rng.random((2 * n_docs, INFORMATIVE)) < 0.5
    score = (present - 0.5) @ hidden  # centred: about as many positive documents as negative ones
    keep = np.abs(score) > MARGIN * score.std()
    present, labels = present[keep][:n_docs], (score[keep][:n_docs] > 0).astype(np.float32)
    doc_of_informative, informative = np.nonzero(present)
    n_noise = words_per_doc - present.sum(axis=1)
    doc_of_noise = np.repeat(np.arange(len(present)), n_noise)
    noise = rng.integers(INFORMATIVE, vocab, size=len(doc_of_noise))
    rows = np.concatenate([doc_of_informative, doc_of_noise])
    cols = np.concatenate([informative, noise])
    x = scipy.sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(present), vocab))
    x.sum_duplicates()
    x.data[:] = 1.0 / np.sqrt(words_per_doc)  # present (a word drawn twice too), rows of norm about 1
    return x, labels


def build_model(vocab: int, sparse: bool, learning_rate: float, weight_decay: float = 0.0):
    """(train step, predict) for logistic regression on a CSR (``sparse``) or dense input."""
    import symdl
    import symdl.sparse as sp
    import symdl.tensor as T
    from symdl.tensor.nnet import sigmoid_binary_crossentropy

    w = symdl.shared(np.zeros(vocab, dtype=np.float32), name="w")
    b = symdl.shared(np.float32(0.0), name="b")
    x = sp.csr_matrix("x", dtype="float32", shape=(None, vocab)) if sparse else T.fmatrix("x", shape=(None, vocab))
    y = T.fvector("y")
    logits = (sp.dot(x, w) if sparse else T.dot(x, w)) + b
    loss = T.mean(sigmoid_binary_crossentropy(logits, y)) + 0.5 * weight_decay * T.sum(w**2)
    gw, gb = symdl.grad(loss, [w, b])
    # The bias sees every document (curvature 1/4): a step of its own keeps SGD stable there.
    bias_rate = min(learning_rate, 1.0)
    train = symdl.function([x, y], loss, updates=[(w, w - learning_rate * gw), (b, b - bias_rate * gb)])
    predict = symdl.function([x], logits > 0)
    return train, predict


def train_and_time(x, labels, vocab: int, sparse: bool, epochs: int, batch: int, learning_rate: float):
    """Train for ``epochs``; return (median step seconds over epochs after the first, predict, losses)."""
    train, predict = build_model(vocab, sparse, learning_rate)
    times, losses = [], []
    for epoch in range(epochs):
        for start in range(0, x.shape[0], batch):
            xb = x[start : start + batch]
            xb = xb if sparse else xb.toarray()
            yb = labels[start : start + batch]
            began = time.perf_counter()
            losses.append(float(train(xb, yb)))
            if epoch > 0 or epochs == 1:
                times.append(time.perf_counter() - began)
    return float(np.median(times)), predict, losses


def accuracy(predict, x, labels, sparse: bool) -> float:
    return float(np.mean(predict(x if sparse else x.toarray()) == labels.astype(bool)))


def run(vocab: int, n_train: int, n_test: int, batch: int, epochs: int, learning_rate: float, density: float = 0.01):
    """Both models on the same data: a dict of step times, their ratio, accuracies and losses."""
    x, labels = make_data(n_train + n_test, vocab, density)
    x_train, y_train, x_test, y_test = x[:n_train], labels[:n_train], x[n_train:], labels[n_train:]
    result = {}
    for name, sparse in (("sparse", True), ("dense", False)):
        step, predict, losses = train_and_time(x_train, y_train, vocab, sparse, epochs, batch, learning_rate)
        result[f"{name}_step_s"] = step
        result[f"{name}_losses"] = losses
        result[f"{name}_test_accuracy"] = accuracy(predict, x_test, y_test, sparse)
        result[f"{name}_train_accuracy"] = accuracy(predict, x_train, y_train, sparse)
    result["speedup"] = result["dense_step_s"] / result["sparse_step_s"]
    result["nnz_per_row"] = x.nnz / x.shape[0]
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=20000, help="vocabulary size (columns; default 20000)")
    parser.add_argument("--train", type=int, default=8192, help="training documents (default 8192)")
    parser.add_argument("--test", type=int, default=2048, help="test documents (default 2048)")
    parser.add_argument("--batch", type=int, default=512, help="minibatch size (default 512)")
    parser.add_argument("--epochs", type=int, default=6, help="passes over the training set (default 6)")
    parser.add_argument("--learning-rate", type=float, default=10.0, help="SGD step size (default 10)")
    parser.add_argument("--quick", action="store_true", help="a small problem, to check that everything runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.train, args.test, args.epochs = 2048, 512, 2
    result = run(args.vocab, args.train, args.test, args.batch, args.epochs, args.learning_rate)
    print(
        f"bag of words: {args.train} training documents, vocabulary {args.vocab}, "
        f"{result['nnz_per_row']:.0f} stored words per document (1 %), minibatch {args.batch}"
    )
    print(f"dense  step: {1e3 * result['dense_step_s']:8.3f} ms")
    print(f"sparse step: {1e3 * result['sparse_step_s']:8.3f} ms")
    print(f"ratio (dense / sparse): {result['speedup']:.1f}x")
    print(
        f"test accuracy: sparse {100 * result['sparse_test_accuracy']:.1f} %, "
        f"dense {100 * result['dense_test_accuracy']:.1f} % "
        f"(training: {100 * result['sparse_train_accuracy']:.1f} %)"
    )
    return result


if __name__ == "__main__":
    main()
