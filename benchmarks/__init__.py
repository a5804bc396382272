"""Benchmarks: ``python -m benchmarks [--quick]`` prints every figure as a ratio to a baseline
measured in the same run (docs/benchmarks.md)."""
