"""Home of ``symdl_crt``, the C runtime extension that setup.py builds at install time.

The extension links to the OpenBLAS of the scipy-openblas32 wheel, which the dynamic loader
cannot find by itself (it was built against the build environment's copy): importing this
package loads that library first, under the same soname, so the extension always imports.
"""

import ctypes
import importlib.util
import os

_spec = importlib.util.find_spec("scipy_openblas32")
if _spec is not None and _spec.origin:
    _library = os.path.join(os.path.dirname(_spec.origin), "lib", "libscipy_openblas.so")
    if os.path.exists(_library):
        ctypes.CDLL(_library, mode=ctypes.RTLD_GLOBAL)
