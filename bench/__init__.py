"""Benchmark configs and scripts; they import only the tinyfuse packages."""
