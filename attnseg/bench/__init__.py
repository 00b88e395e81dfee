"""Benchmarks: latency measurement and the records every benchmark writes."""
