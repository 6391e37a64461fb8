"""A progress counter for loops of known length (path alphas, CV folds, rounds).

At ``verbose >= 1`` the long loops of the package print one line per step:
which step of how many, the time spent so far, an estimate of the time left
(mean time per step so far times the steps left) and what the step found::

    [ConvexPolyNetRegressorCV] fold 2/5  elapsed 1.3 s  left ~2.0 s  best alpha 0.0123

A plain counter rather than a bar: the lines read the same in a terminal, a
notebook, a log file and a CI transcript, and need no optional dependency.
"""

import time


class Progress:
    """Print ``[name] what k/total  elapsed  left  info`` at each step.

    Parameters
    ----------
    total : int
        Number of steps of the loop.
    name : str
        Who runs the loop (usually the estimator's class name).
    what : str
        What a step is ("alpha", "fold", "round").
    verbose : int
        Nothing is printed below 1.
    """

    def __init__(self, total, name, what, verbose):
        self.total = int(total)
        self.name = name
        self.what = what
        self.verbose = verbose
        self.done = 0
        self._start = time.perf_counter()

    def line(self, info=""):
        """The line of the step just finished (without printing it)."""
        elapsed = time.perf_counter() - self._start
        text = f"[{self.name}] {self.what} {self.done}/{self.total}  elapsed {elapsed:.1f} s"
        if 0 < self.done < self.total:
            left = elapsed / self.done * (self.total - self.done)
            text += f"  left ~{left:.1f} s"
        if info:
            text += f"  {info}"
        return text

    def step(self, info=""):
        """Count one finished step and print its line at ``verbose >= 1``."""
        self.done += 1
        if self.verbose >= 1:
            print(self.line(info), flush=True)
