"""``python -m benchmarks``: run the benchmark tables (see ``benchmarks.harness``)."""

from benchmarks.harness import main

raise SystemExit(main())
