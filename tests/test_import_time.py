"""``import symdl`` stays fast: heavy parts load on first use."""

import resource
import subprocess
import sys
import time


def test_import_symdl_takes_under_half_a_second():
    # The one timing check the issue asks for: `python -c "import symdl"`, the best of three runs,
    # each in a fresh process. The CPU time the process used is what is compared, so that other
    # work on a loaded machine (the wall-clock time, also reported) does not decide the result.
    cpu, wall = [], []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import symdl"], check=True)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    assert min(cpu) < 0.5, f"import symdl used {min(cpu):.3f} s of CPU at best (wall: {[round(w, 3) for w in wall]})"


def test_import_symdl_does_not_load_optional_heavy_modules():
    code = "import sys, symdl; print(' '.join(m for m in ('sympy', 'networkx', 'scipy', 'pycuda', 'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    assert out == ""
