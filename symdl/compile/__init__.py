"""Compiling graphs into callable functions."""

from symdl.compile.function import Function, In, function

__all__ = ["Function", "In", "function"]
