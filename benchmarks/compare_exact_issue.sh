#!/bin/sh
# Alternate the issue-size exact fit between checkouts: compare_exact_issue.sh ROUNDS DIR...
# (one BLAS thread; one JSON line per fit, the load before each).
rounds=$1; shift
here=$(dirname "$0")
for r in $(seq "$rounds"); do
  for dir in "$@"; do
    uptime | sed 's/.*load/load/'
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH="$dir" python "$here/time_exact_issue.py"
  done
done
