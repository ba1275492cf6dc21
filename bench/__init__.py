"""Benchmarks run on demand (`make bench`); results go to docs/benchmarks.md."""
