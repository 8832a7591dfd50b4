"""Benchmarks of cerebro against the tools users would pick instead (``make bench``)."""
