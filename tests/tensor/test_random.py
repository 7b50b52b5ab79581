"""Random streams: Philox-4x32-10 against the Random123 known answers and a pure-Python version
written here, the documented word-to-sample mappings, state advancing through default updates,
reproducibility for a seed, distribution statistics, and identical dropout masks on every backend."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.tensor.random import RandomStream, dropout, philox4x32

M32 = 0xFFFFFFFF


def py_philox(ctr, key, rounds=10):
    """Philox-4x32 with Python integers, straight from Salmon et al. (2011)."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & M32, (p0 >> 32) ^ c3 ^ k1, p0 & M32
    return [c0, c1, c2, c3]


def py_words(seed, stream, counter, n):
    """The documented word sequence of a draw: blocks (lo, hi of counter + j, lo, hi of stream)."""
    words = []
    j = 0
    while len(words) < n:
        block = counter + j
        words += py_philox((block & M32, block >> 32, stream & M32, stream >> 32), (seed & M32, seed >> 32))
        j += 1
    return words[:n]


KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((M32, M32, M32, M32), (M32, M32), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("ctr,key,expected", KNOWN_ANSWERS)
def test_philox_matches_random123_known_answers(ctr, key, expected):
    assert tuple(py_philox(ctr, key)) == expected
    assert tuple(philox4x32(np.array([ctr], dtype=np.uint32), key)[0].tolist()) == expected


def test_vectorized_philox_matches_python_on_random_counters():
    rng = np.random.default_rng(0)
    ctrs = rng.integers(0, 1 << 32, size=(50, 4), dtype=np.uint64).astype(np.uint32)
    key = (0x12345678, 0x9ABCDEF0)
    got = philox4x32(ctrs, key)
    for row, out in zip(ctrs.tolist(), got.tolist()):
        assert out == py_philox(row, key)


def test_uniform_follows_the_documented_mapping_and_advances_per_call(backend):
    seed = (7 << 32) | 5
    rng = RandomStream(seed)
    rng.uniform((3,))  # stream 0, unused: the next draw is stream 1
    u32 = rng.uniform((2, 3), low=-1.0, high=3.0, dtype="float32")
    u64 = rng.uniform((5,), dtype="float64")
    f = symdl.function([], [u32, u64], mode=backend)
    for call in range(2):
        a, b = f()
        words = py_words(seed, 1, 2 * call, 6)  # 6 words -> 2 blocks per call
        expected = np.float32(-1) + np.float32(4) * (np.array([w >> 8 for w in words], np.float32) * np.float32(2**-24))
        np.testing.assert_array_equal(a, expected.reshape(2, 3))
        words = py_words(seed, 2, 3 * call, 10)  # 10 words -> 3 blocks per call
        expected = [((words[2 * i] >> 5) * 2**26 + (words[2 * i + 1] >> 6)) * 2.0**-53 for i in range(5)]
        np.testing.assert_array_equal(b, expected)


def test_same_seed_same_numbers_other_seed_other_numbers(backend):
    def draw(seed):
        rng = RandomStream(seed)
        return symdl.function([], [rng.normal((4,)), rng.uniform((4,))], mode=backend)

    f, g, h = draw(1), draw(1), draw(2)
    first = f()
    np.testing.assert_array_equal(first[0], g()[0])
    assert not np.array_equal(first[0], h()[0])
    assert not np.array_equal(first[0], f()[0])  # the state advanced
    assert not np.array_equal(first[0][:2], first[1][:2])  # draws of one stream are independent


def test_no_default_updates_repeats_the_numbers_and_seed_restarts(backend):
    rng = RandomStream(3)
    u = rng.uniform((3,))
    frozen = symdl.function([], u, no_default_updates=True, mode=backend)
    np.testing.assert_array_equal(frozen(), frozen())
    f = symdl.function([], u, mode=backend)
    first = f()
    assert not np.array_equal(first, f())
    rng.seed(3)
    np.testing.assert_array_equal(first, f())
    assert len(rng.updates()) == 1


def test_distribution_statistics(backend):
    rng = RandomStream(11)
    n = 200_000
    draws = [
        rng.normal((n,), avg=1.0, std=2.0),
        rng.uniform((n,), low=2.0, high=5.0),
        rng.binomial((n,), n=4, p=0.25),
        rng.choice((n,), a=3, p=[0.2, 0.3, 0.5]),
        rng.choice((n,), a=5),
    ]
    normal, uniform, binomial, weighted, uniform_choice = symdl.function([], draws, mode=backend)()
    assert normal.dtype == "float32" and abs(normal.mean() - 1) < 0.02 and abs(normal.std() - 2) < 0.02
    assert uniform.min() >= 2 and uniform.max() < 5 and abs(uniform.mean() - 3.5) < 0.01
    assert binomial.dtype == "int64" and abs(binomial.mean() - 1.0) < 0.01 and binomial.max() <= 4
    np.testing.assert_allclose(np.bincount(weighted) / n, [0.2, 0.3, 0.5], atol=0.005)
    np.testing.assert_allclose(np.bincount(uniform_choice) / n, [0.2] * 5, atol=0.005)


def test_permutation_and_choice_without_replacement(backend):
    rng = RandomStream(5)
    perm = rng.permutation(10)
    pick = rng.choice((4,), a=T.constant(np.arange(10.0, 20.0)), replace=False)
    f = symdl.function([], [perm, pick], mode=backend)
    p1, c1 = f()
    p2, _ = f()
    assert sorted(p1.tolist()) == list(range(10)) and perm.type.shape == (10,)
    assert not np.array_equal(p1, p2)
    assert len(set(c1.tolist())) == 4 and set(c1.tolist()) <= set(np.arange(10.0, 20.0).tolist())
    # Documented: a stable arg-sort of 64-bit keys from word pairs.
    words = py_words(5, 0, 0, 20)
    keys = [(words[2 * i] << 32) | words[2 * i + 1] for i in range(10)]
    assert p1.tolist() == sorted(range(10), key=lambda i: keys[i])


def test_symbolic_size_gives_symbolic_shape(backend):
    x = T.matrix("x")
    mask = RandomStream(0).bernoulli(x.shape, p=0.3, dtype="float32")
    assert mask.type.shape == (None, None) and mask.dtype == "float32"
    out = symdl.function([x], mask, mode=backend)(np.zeros((50, 40), "float32"))
    assert out.shape == (50, 40) and set(np.unique(out).tolist()) <= {0.0, 1.0}
    static = RandomStream(0).normal((2, 3), dtype="float64")
    assert static.type.shape == (2, 3) and static.dtype == "float64"


def expected_mask(seed, stream, call, shape, retain):
    size = int(np.prod(shape))
    blocks = -(-size // 4)
    words = py_words(seed, stream, call * blocks, size)
    return np.array([(w >> 8) * 2.0**-24 < retain for w in words], dtype="float32").reshape(shape)


def test_dropout_masks_are_the_documented_bits_on_every_backend(backend):
    x = T.matrix("x")
    out = dropout(x, p=0.4, rng=RandomStream(2026))
    f = symdl.function([x], out, mode=backend)
    ones = np.ones((7, 9), "float32")
    for call in range(3):
        mask = expected_mask(2026, 0, call, (7, 9), 0.6)
        np.testing.assert_array_equal(f(ones), mask * np.float32(1 / 0.6))


def test_dropout_without_rescale_and_with_p_zero():
    x = T.vector("x")
    assert dropout(x, 0.0) is x
    out = symdl.function([x], dropout(x, 0.5, RandomStream(1), rescale=False))(np.full(64, 3.0, "float32"))
    assert set(out.tolist()) == {0.0, 3.0}
    with pytest.raises(ValueError):
        dropout(x, 1.0)
