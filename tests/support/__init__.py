"""Helpers shared by the test suites and the benchmarks (no tests here)."""
