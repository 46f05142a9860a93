"""Load benchmarks of the real service against the raw-SQL floor: `python -m bench` (see bench/README.md)."""
