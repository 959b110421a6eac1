"""ASGI entry points: ``app_from_env`` for servers that import the app (``granian --interface asgi --factory
server.asgi:app_from_env``, ``uvicorn --factory …``), and ``worker_app`` for the worker processes of
``afterglow serve`` (server/__main__.py), which runs the app under granian."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import multiprocessing.util
import os
import signal
import sys
from logging.handlers import QueueListener

from litestar import Litestar

from server.app import create_app
from server.settings import load_settings

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _freeze_start_up_objects() -> None:
    # A served process keeps what start-up made (Litestar, the routes, Jinja, the app) until it exits:
    # moved out of the collector's reach, the collector's full passes no longer walk it, and their pauses
    # leave the requests' p99. Here rather than in create_app, so that tests making an app each do not
    # keep every one of them alive.
    gc.collect()
    gc.freeze()


def app_from_env() -> Litestar:
    # Served: the writer runs in a process of its own (server/writer_process.py). Tests that make an app
    # each keep it on a thread, which starts at once.
    app = create_app(load_settings(), writer_process=True)
    app.on_startup.append(_freeze_start_up_objects)
    return app


def worker_app(supervisor: int, _target: str = "") -> Litestar:
    """The app in a worker process that granian's supervisor (process ``supervisor``) has just started.

    Granian calls this in the worker before it installs the worker's own SIGTERM/SIGINT handlers (which end
    it gracefully: requests finish, then the lifespan's shutdown closes the database). Until then the worker
    has its supervisor's handlers, which would swallow a SIGTERM; with the default action instead, a signal
    in that window ends a worker that has not opened the database yet.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _handle_stop_signals_once()
    _end_with_parent(supervisor)
    # Run as the worker process ends (granian's workers are multiprocessing processes, which end with
    # os._exit: no atexit handlers).
    multiprocessing.util.Finalize(None, _stop_log_listeners, exitpriority=0)
    return app_from_env()


def _stop_log_listeners() -> None:
    """Write out what is still queued for Litestar's logging thread (the lifespan's shutdown logs last,
    "group commit: …" among it), as the atexit handler that stops that thread would."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    handlers = {h for lg in loggers if isinstance(lg, logging.Logger) for h in lg.handlers}
    for handler in handlers:
        listener = getattr(handler, "listener", None)
        if isinstance(listener, QueueListener) and getattr(listener, "_thread", None) is not None:
            listener.stop()


def _handle_stop_signals_once() -> None:
    """Have granian's worker act on the first SIGTERM/SIGINT only.

    Granian's handler sets the worker's shutdown signal on every one, and in granian 2.8 a second ``set()``
    before the worker serves blocks for ever (a ``WorkerSignal`` holds one unconsumed set). A worker still
    in its lifespan's start-up when both the process group (systemd's stop, Ctrl-C, ``kill -- -PGID``) and
    its supervisor signal it would hang, and the supervisor with it. Granian's worker imports
    ``set_loop_signals`` from ``granian._signals`` when it starts, after this has run.
    """
    import granian._signals

    if hasattr(granian._signals, "set_loop_signals"):
        granian._signals.set_loop_signals = _loop_signals_once


def _loop_signals_once(loop: asyncio.AbstractEventLoop) -> object:
    from granian._granian import WorkerSignal

    shutdown = WorkerSignal()
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        if not received:
            received.append(signum)
            shutdown.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, handler, signum, None)
    return shutdown


def _end_with_parent(parent: int) -> None:
    """SIGTERM this process when its parent dies (Linux), so that a supervisor killed on its own (SIGKILL,
    the OOM killer) leaves no worker behind to hold the port: granian's workers each listen on the port
    (SO_REUSEPORT), and an orphan would go on taking a share of the connections of the next server."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the supervisor died before the line above: no signal will come
        os.kill(os.getpid(), signal.SIGTERM)
