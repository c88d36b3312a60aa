"""Benchmarks and fault drills for the two services (``python -m bench.run bench|faults``)."""
