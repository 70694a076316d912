"""Benchmarks as a product feature: every initializer side by side on the same data and budgets."""

from .control import run_control_bench
from .init_bench import FAMILY_BENCHES, BenchConfig, run_init_bench

FAMILY_BENCHES["decision-transformer"] = run_control_bench

__all__ = ["BenchConfig", "run_init_bench"]
