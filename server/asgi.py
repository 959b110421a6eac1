"""The ASGI entry point: ``app_from_env``, which ``afterglow serve`` (server/__main__.py) gives uvicorn as its
factory, once in its own process or once in each worker process (``uvicorn --factory
server.asgi:app_from_env`` does the same)."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import multiprocessing
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
    supervisor = multiprocessing.parent_process()
    if supervisor is not None and supervisor.pid is not None:  # a worker process of `afterglow serve --workers N`
        _end_with_parent(supervisor.pid)
    # Served: the writer runs in a process of its own (server/writer_process.py). Tests that make an app
    # each keep it on a thread, which starts at once.
    app = create_app(load_settings(), writer_process=True)
    app.on_startup.append(_freeze_start_up_objects)
    # Run after the database has closed (Litestar runs these hooks last): a worker process then ends at the
    # stop signal uvicorn raises again, which runs no atexit handler.
    app.on_shutdown.append(_flush_log_queues)
    return app


def _flush_log_queues() -> None:
    """Wait until Litestar's logging thread has written out what is queued (the lifespan's shutdown logs
    last, "group commit: …" among it). Not stopped: in a single process the atexit handler stops it."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    handlers = {h for lg in loggers if isinstance(lg, logging.Logger) for h in lg.handlers}
    for handler in handlers:
        listener = getattr(handler, "listener", None)
        if isinstance(listener, QueueListener) and getattr(listener, "_thread", None) is not None:
            listener.queue.join()  # type: ignore[attr-defined]  # a queue.Queue: the listener marks each record done


def _end_with_parent(parent: int) -> None:
    """SIGTERM this process when its parent dies (Linux), so that a supervisor killed on its own (SIGKILL,
    the OOM killer) leaves no worker behind holding the port and serving on after it."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the supervisor died before the line above: no signal will come
        os.kill(os.getpid(), signal.SIGTERM)
