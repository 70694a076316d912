"""Benchmarks as a product feature: every initializer side by side on the same data and budgets."""

from .init_bench import BenchConfig, run_init_bench

__all__ = ["BenchConfig", "run_init_bench"]
