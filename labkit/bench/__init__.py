"""Benchmarks (`labkit bench …`): speed and realism figures for data, models and the pipeline."""
