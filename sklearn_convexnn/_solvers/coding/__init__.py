"""Coded distributed computation: polar and baseline codes, decoders,
the anytime estimator and straggler simulation."""
