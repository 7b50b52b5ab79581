"""The gcc flags symdl builds with: 256-bit vectors where the CPU has AVX2 and no AVX-512 (gcc's
tuning for AMD Zen 1 prefers 128-bit ones, and its fused loops then call libmvec's SSE maths)."""

import pytest

from symdl.backend.c import runtime_sources


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("avx avx2 fma sse4_2", ["-mprefer-vector-width=256"]),
        ("avx avx2 avx512f avx512vl fma", []),
        ("sse2 sse4_2", []),
        ("asimd fp neon", []),
    ],
)
def test_vectors_are_256_bits_wide_on_avx2_cpus_without_avx512(monkeypatch, flags, expected):
    monkeypatch.setattr(runtime_sources, "cpu_features", lambda: flags)
    assert runtime_sources.vector_width_flags() == expected


def test_every_build_gets_the_vector_width_flags():
    assert set(runtime_sources.vector_width_flags()) <= set(runtime_sources.OPT_FLAGS)
    assert set(runtime_sources.OPT_FLAGS) <= set(runtime_sources.RUNTIME_COMPILE_FLAGS)
