"""Benchmark scripts (not tests): each prints one JSON line per measurement and a summary table."""
