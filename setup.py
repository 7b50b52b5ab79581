"""Packaging for symdl: the package, its hand-written kernels as package data, and the extras."""

from setuptools import find_packages, setup

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
    install_requires=["numpy>=1.26", "sympy>=1.12", "networkx>=3.0", "scipy-openblas32>=0.3.27"],
    extras_require={
        "test": ["pytest>=8", "hypothesis>=6", "pytest-xdist>=3"],
        "examples": ["scikit-learn>=1.3", "tqdm>=4", "matplotlib>=3.7"],
        "cuda": ["pycuda>=2024.1"],
        "bench": ["jax", "pytensor", "torch"],
    },
)
