"""paperbot's performance benchmarks: run ``python benchmarks/run.py [--quick]`` (see RESULTS.md)."""
