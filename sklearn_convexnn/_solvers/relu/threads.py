"""Coarse-grained parallel algebra on Python threads, one BLAS thread each.

BLAS threads wait for each other on spinning barriers: when another
process holds a core, every product stalls until the spinning thread is
scheduled again (measured on a loaded 2-core machine: a 2000 x 2000
Cholesky factor 40 ms on one BLAS thread, 160-250 ms on two). Here a
product is cut in two independent halves, one computed on the calling
thread and one on a helper thread; numpy and LAPACK release the GIL, so on
an idle machine the halves run on two cores, and on a busy one the caller
sleeps on a lock until the other half is done. Still, on a busy machine a
split costs CPU (measured on a loaded 2-core machine, n=2000, d=50, 500
gates, tol 1e-6: 1.05-1.21 s CPU against 0.86-1.05 s serial, wall no
better), so products are split only while a core is idle (``core_free``).

Measured, not kept: a blocked Cholesky factor with its panel solves and
trailing updates split this way (n=2000, float32, one BLAS thread each):
24 ms on the calling thread against 33 ms for LAPACK's serial factor, but
43-52 ms of CPU in all (the updates' temporaries): too little gain for the
risk on a busy machine.
"""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

__all__ = ["core_free", "split", "usable_cores"]

#: ``core_free`` looks at the run queue at most this often (seconds; a look
#: costs about 20 us).
LOOK_EVERY = 0.05

_LOOK = [-1.0, True]  # time of the last look, its answer

_POOL = []
_POOL_LOCK = threading.Lock()


def _forget_pool():
    """In a forked child: the helper thread did not survive the fork; start afresh."""
    global _POOL_LOCK
    _POOL.clear()
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def usable_cores():
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _running():
    """Tasks running or runnable now, the caller included (Linux), or None."""
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def core_free(cores):
    """Whether fewer than ``cores`` tasks, the caller included, are running now.

    Read from the kernel's run queue (``/proc/loadavg``) at most every
    ``LOOK_EVERY`` seconds; True where the OS does not tell (a split then
    costs a little CPU on a busy machine, nothing worse).
    """
    now = time.monotonic()
    if now - _LOOK[0] >= LOOK_EVERY:
        running = _running()
        _LOOK[:] = [now, running is None or running < cores]
    return _LOOK[1]


def split(fn, size, at=None):
    """``fn(0, at)`` on this thread and ``fn(at, size)`` on the helper thread.

    ``at`` defaults to ``size // 2``. Both halves have finished when this
    returns, also when one of them raised (the error is raised here).
    """
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="convexnn-half"))
    at = size // 2 if at is None else at
    other = _POOL[0].submit(fn, at, size)
    try:
        fn(0, at)
    finally:
        other.result()
