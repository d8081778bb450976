"""Benchmarks of the hot paths, each measured against its physical reference in the same run."""
