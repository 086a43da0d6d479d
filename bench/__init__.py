"""Benchmarks: each figure is a ratio against its physical reference measured in the same run."""
