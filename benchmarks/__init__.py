"""Benchmarks of levpaper against the peers named in the issues. Run all with ``make bench``."""
