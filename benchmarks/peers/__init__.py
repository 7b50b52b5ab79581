"""One module per framework, each with a function per benchmark.

A benchmark function takes the worker's settings (``benchmarks.peers.common.Settings``) and returns
a dict: ``version``, ``ms`` (the median time of one call, in milliseconds) or other metrics,
``check`` (numbers that must agree across frameworks), and optionally ``compile_s`` and ``notes``.
Frameworks are imported inside the functions, so listing the modules imports nothing heavy.
"""
