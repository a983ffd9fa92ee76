"""Load benchmarks of the HTTP API on loopback: ``python -m bench.load.run``.

See docs/reliability.md, section Load, for the commands and the figures.
"""
