"""Test-session setup shared by ``tests/`` and the doctests.

setup.cfg runs the suite on two pytest-xdist workers (``-n 2``). BLAS would
start one thread per core in each worker: two workers on two cores would run
four threads that wait on each other. With more than one worker, each gets
one BLAS thread (as the developers' guide asks of benchmarks:
``OMP_NUM_THREADS=1``) unless the environment already says otherwise. The
variables are set in the controlling process, before the workers start and
import numpy; the results do not depend on the number of BLAS threads.
"""

import os

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pytest_configure(config):
    workers = getattr(config.option, "numprocesses", None)
    if workers and not os.environ.get("PYTEST_XDIST_WORKER"):
        for name in _THREAD_VARIABLES:
            os.environ.setdefault(name, "1")
