"""Compiling graphs into callable functions."""

from symdl.compile.function import Function, In, Out, function

__all__ = ["Function", "In", "Out", "function"]
