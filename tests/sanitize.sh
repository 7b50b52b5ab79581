#!/usr/bin/env bash
# The C backend's tests under AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   tests/sanitize.sh                  # the default selection below
#   tests/sanitize.sh -n 2 tests/scan  # any pytest arguments instead (paths, -k, -n, -x ...)
#
# The runtime extension and every generated module are built with -fsanitize=address,undefined
# ($SYMDL_CFLAGS: the flags are part of every cache key, and the builds go to a compile directory
# of their own, $SANITIZE_COMPILEDIR or ~/.cache/symdl-sanitize, so they never mix with normal
# ones). Python itself is not instrumented: libasan is preloaded, leak detection is off (CPython
# keeps objects alive until exit by design), and any ASan or UBSan report stops the test process
# with its stack trace, failing the run. Environment: PYTHON (default python), CC (default gcc),
# SANITIZE_WORKERS (pytest-xdist workers for the default selection, 2).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python}
cc=${CC:-gcc}
libasan=$($cc -print-file-name=libasan.so)
if [ ! -e "$libasan" ]; then
    echo "tests/sanitize.sh: $cc has no libasan.so (Debian/Ubuntu: apt-get install libasan8 or gcc)" >&2
    exit 2
fi
cache=${SANITIZE_COMPILEDIR:-${XDG_CACHE_HOME:-$HOME/.cache}/symdl-sanitize}

export SYMDL_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -g ${SYMDL_CFLAGS:-}"
export SYMDL_FLAGS="${SYMDL_FLAGS:+$SYMDL_FLAGS,}compiledir=$cache"
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"

if [ $# -eq 0 ]; then
    # The C runtime and its calling convention (tests/backend/c), what compiles graphs
    # (tests/compile), loops (tests/scan), and the ops whose C touches memory most: elementwise
    # loops, reductions, indexing, dot, the conv/pool kernels (each op test runs on C too).
    set -- -q -p no:randomly -n "${SANITIZE_WORKERS:-2}" tests/backend/c tests/compile tests/scan \
        tests/tensor/test_elemwise.py tests/tensor/test_reduction.py tests/tensor/test_subtensor.py \
        tests/tensor/test_blas.py tests/tensor/nnet/test_c_kernels.py tests/tensor/nnet/test_pool.py \
        tests/tensor/nnet/test_conv.py
fi
LD_PRELOAD="$libasan${LD_PRELOAD:+:$LD_PRELOAD}" exec "$python" -m pytest "$@"
