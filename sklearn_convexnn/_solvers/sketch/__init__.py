"""Sketch operators and the distributed Newton sketch."""
