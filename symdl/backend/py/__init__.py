"""The NumPy reference backend: runs every op's ``perform``; the oracle for every test."""

from symdl.backend.py.vm import PyBackend, PyThunk

__all__ = ["PyBackend", "PyThunk"]
