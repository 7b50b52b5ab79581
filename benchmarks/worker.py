"""One benchmark for one framework, in a process of its own; the harness starts it and reads its last line.

``python -m benchmarks.worker MODULE FUNCTION [--options JSON] [--quick] [--phase cold|warm]`` runs
``benchmarks.peers.MODULE.FUNCTION(settings, **options)`` and prints ``@@RESULT {json}``: the
function's dict plus ``status`` ("ok", "not installed", "op missing", "unsupported" or "error").
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
import warnings

MARKER = "@@RESULT "


def run(module: str, function: str, options: dict, quick: bool, phase: str) -> dict:
    from benchmarks.peers.common import OpMissing, Settings, Unsupported

    settings = Settings(quick=quick, phase=phase)
    try:
        fn = getattr(importlib.import_module(f"benchmarks.peers.{module}"), function)
        return {"status": "ok", **fn(settings, **options)}
    except OpMissing as exc:
        return {"status": "op missing", "detail": str(exc)}
    except Unsupported as exc:
        return {"status": "unsupported", "detail": str(exc)}
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("jax", "jaxlib", "torch", "pytensor", "numba", "symdl"):
            return {"status": "not installed", "detail": str(exc)}
        traceback.print_exc()
        return {"status": "error", "detail": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:  # any failure is reported in the table, not raised
        traceback.print_exc()
        return {"status": "error", "detail": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("module")
    parser.add_argument("function")
    parser.add_argument("--options", default="{}")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--phase", default="")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    result = run(args.module, args.function, json.loads(args.options), args.quick, args.phase)
    sys.stdout.flush()
    print(MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
