"""Pieces every family uses: losses, the cvxpy solve loop, dual-certificate plumbing."""
