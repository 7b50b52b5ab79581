"""Errors raised by the C backend's checking modes."""

from __future__ import annotations

from symdl.errors import SymdlError


class NanGuardError(SymdlError, FloatingPointError):
    """``config.nan_guard``: a node produced NaN or inf; the message names the node and the user's line."""


class DebugModeError(SymdlError, AssertionError):
    """``mode='DEBUG'``: a node's C result differs from its Python ``perform``."""
