"""Convex ReLU networks: gates, gated and exact solvers, certificates, recovery."""
