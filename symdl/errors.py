"""symdl's own exceptions. Each message says what was expected, what came, and where in the
user's code the offending variables were created."""

from __future__ import annotations


class SymdlError(Exception):
    """Base class of every error symdl raises on purpose."""


class ShapeError(SymdlError, ValueError):
    """Shapes that cannot work together (at graph-build time when they are known statically)."""


class TypeMismatch(SymdlError, TypeError):
    """A dtype or ndim that an op, an input or an update cannot accept."""


class MissingInputError(SymdlError):
    """A graph needs a variable that is not among the function's inputs."""


class UnusedInputError(SymdlError):
    """A function input that the outputs do not depend on (on_unused_input='raise')."""


class DisconnectedInputError(SymdlError, ValueError):
    """grad was asked for a variable the cost does not depend on."""


class NullGradError(SymdlError, TypeError):
    """A gradient that is undefined or not implemented was needed."""


class CompileError(SymdlError):
    """A backend failed to build code for a graph."""


class InputError(SymdlError, TypeError):
    """A compiled function was called with a value that does not fit its input."""


class NanGuardError(SymdlError, FloatingPointError):
    """``config.nan_guard``: a node produced NaN or inf; the message names the node and the user's line."""


class DebugModeError(SymdlError, AssertionError):
    """``mode='DEBUG'``: a node's C result differs from its Python ``perform``."""


class SymdlWarning(UserWarning):
    """Something symdl works around but the user should know of (a slow fallback, a stuck compile
    lock, an unknown setting)."""
