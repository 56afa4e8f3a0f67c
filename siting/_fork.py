"""Work in a forked child process while this one goes on: :func:`background`.

A run has independent steps that are each bound to one CPU (service areas are GEOS unions,
patrols are Python); on a machine with two CPUs one of them can run in a child while the
others run here. A fork copies the process, so the child sees every input without pickling
it; only the result comes back (pickled through a pipe). Forking is used only when it is safe
and useful (:func:`can_fork`): two CPUs, the ``fork`` start method (Linux), and no other
thread alive (a fork copies no thread, and a lock another thread held would stay held in the
child). Otherwise the work runs here, when its result is asked for, with the same result.

>>> job = background(lambda: 6 * 7)
>>> job.result()
42
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Job", "background", "can_fork"]

_T = TypeVar("_T")


def _stop_tqdm_monitor() -> None:
    """Stop tqdm's monitor thread if it runs (tqdm starts it again with its next bar): it only
    tunes how often bars redraw, and a thread alive would rule out forking."""
    for thread in threading.enumerate():
        monitor: Any = thread
        if type(monitor).__name__ == "TMonitor" and hasattr(monitor, "tqdm_cls"):
            monitor.exit()
            monitor.tqdm_cls.monitor = None


def can_fork() -> bool:
    """Whether work may go to a forked child: two CPUs, the system can fork, no other thread
    runs, and ``SITING_WORKERS`` is not ``1``."""
    import multiprocessing as mp

    if os.environ.get("SITING_WORKERS", "").strip() == "1":
        return False
    _stop_tqdm_monitor()
    return (
        (os.cpu_count() or 1) >= 2
        and "fork" in mp.get_all_start_methods()
        and threading.active_count() == 1
    )


class Job(Generic[_T]):
    """Work started by :func:`background`; :meth:`result` waits for it (or does it here)."""

    def __init__(self, fn: Callable[[], _T], fork: bool) -> None:
        self._fn = fn
        self._proc: Any = None
        self._recv: Any = None
        self.seconds: float | None = None  #: how long the work itself took
        if fork:
            import multiprocessing as mp

            ctx = mp.get_context("fork")
            self._recv, send = ctx.Pipe(duplex=False)

            def child() -> None:
                t = time.perf_counter()
                try:
                    out = fn()
                    send.send(("ok", out, time.perf_counter() - t))
                except BaseException as exc:  # every error goes back to the parent
                    try:
                        send.send(("error", exc, 0.0))
                    except Exception:
                        send.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}"), 0.0))
                finally:
                    send.close()

            self._proc = ctx.Process(target=child, name="siting-background", daemon=True)
            sys.stdout.flush()  # what is buffered now must not be written twice
            sys.stderr.flush()
            self._proc.start()
            send.close()

    @property
    def forked(self) -> bool:
        """Whether the work runs in a child process."""
        return self._proc is not None

    def result(self) -> _T:
        """The work's result; its error raised as it was raised."""
        if self._proc is None:
            t = time.perf_counter()
            out = self._fn()
            self.seconds = time.perf_counter() - t
            return out
        try:
            status, payload, seconds = self._recv.recv()
        except EOFError:
            status, payload, seconds = (
                "error",
                RuntimeError("the background process ended without a result"),
                0.0,
            )
        finally:
            self._proc.join()
            self._recv.close()
            self._proc = None
            self._fn = _done
        self.seconds = seconds
        if status != "ok":
            raise payload
        got: _T = payload
        return got

    def cancel(self) -> None:
        """Stop the child, if any (the result is not wanted any more)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()
            self._recv.close()
            self._proc = None


def _done() -> Any:
    msg = "the result of this job was already taken"
    raise RuntimeError(msg)


def background(fn: Callable[[], _T]) -> Job[_T]:
    """Start ``fn`` in a forked child when :func:`can_fork`, else keep it for later; the
    :class:`Job`'s ``result()`` gives what ``fn()`` returns either way."""
    return Job(fn, fork=can_fork())
