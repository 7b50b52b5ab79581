"""Global settings, read once from the SYMDL_FLAGS environment variable and changeable in code.

>>> import symdl
>>> symdl.config.floatX
'float32'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

_DEFAULTS: dict[str, Any] = {
    "floatX": "float32",
    # "c" when a C compiler is found, otherwise "py"; resolved by symdl.backend.
    "mode": "auto",
    "device": "cpu",
    "optimizer": "fast_run",
    "optimizer_excluding": "",
    "optimizer_including": "",
    "compiledir": "",
    "num_threads": 0,
    "nan_guard": False,
    # seconds a process waits for a stopped one compiling the same module before compiling it itself
    # (for a running one, 5 times as long: symdl.backend.c.build.RUNNING_OWNER_FACTOR)
    "compile_lock_timeout": 120.0,
}


# The environment variables symdl reads; any other SYMDL_* is a typo, and is reported.
ENVIRONMENT = {
    "SYMDL_FLAGS": "settings, as key=value,key=value (symdl.config)",
    "SYMDL_CFLAGS": "more C compiler flags for every build",
    "SYMDL_CUBLAS": "the path of libcublas",
}


class Config:
    """Attribute bag of the settings above, with type checks on assignment."""

    def __init__(self) -> None:
        object.__setattr__(self, "_values", dict(_DEFAULTS))
        for key, value in _parse_flags(os.environ.get("SYMDL_FLAGS", "")).items():
            if key in _DEFAULTS:
                setattr(self, key, value)
            else:
                _warn(f"SYMDL_FLAGS sets {key!r}, which is no setting: ignored{_did_you_mean(key, _DEFAULTS)}")
        for name in sorted(os.environ):
            if name.startswith("SYMDL_") and name not in ENVIRONMENT:
                setting = next((key for key in _DEFAULTS if key.lower() == name[6:].lower()), None)
                hint = f" (settings go in SYMDL_FLAGS: SYMDL_FLAGS={setting}=...)" if setting else ""
                hint = hint or _did_you_mean(name, ENVIRONMENT)
                _warn(f"the environment variable {name} means nothing to symdl: ignored{hint}")

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"symdl.config has no setting {key!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key not in _DEFAULTS:
            raise AttributeError(f"symdl.config has no setting {key!r}; known: {sorted(_DEFAULTS)}")
        default = _DEFAULTS[key]
        if isinstance(default, bool) and isinstance(value, str):
            value = value.lower() in ("1", "true", "yes", "on")
        elif isinstance(default, int) and not isinstance(default, bool):
            value = int(value)
        elif isinstance(default, float):
            value = float(value)
        if key == "floatX" and value not in ("float16", "float32", "float64"):
            raise ValueError(f"symdl.config.floatX must be float16, float32 or float64, not {value!r}")
        self._values[key] = value

    @contextlib.contextmanager
    def change(self, **settings: Any) -> Iterator[None]:
        """Temporarily change settings inside a ``with`` block.

        >>> import symdl
        >>> with symdl.config.change(floatX='float64'):
        ...     symdl.config.floatX
        'float64'
        """
        old = {key: getattr(self, key) for key in settings}
        try:
            for key, value in settings.items():
                setattr(self, key, value)
            yield
        finally:
            for key, value in old.items():
                setattr(self, key, value)

    def show(self) -> str:
        """Return the current settings, one per line, with the BLAS and threads the C backend uses."""
        lines = [f"{key} = {value!r}" for key, value in sorted(self._values.items())]
        try:
            from symdl.backend.c import blas_info

            lines.append(f"blas = {blas_info()}")
        except ImportError:
            pass
        return "\n".join(lines)


def _warn(message: str) -> None:
    import warnings

    from symdl.errors import SymdlWarning

    warnings.warn(f"symdl: {message}", SymdlWarning, stacklevel=2)


def _did_you_mean(name: str, known: Any) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.85)
    return f" (did you mean {close[0]}?)" if close else f"; known: {', '.join(sorted(known))}"


def _parse_flags(text: str) -> dict[str, str]:
    flags = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"SYMDL_FLAGS entry {item!r} must look like key=value")
        flags[key.strip()] = value.strip()
    return flags


config = Config()
