"""The database writer in a process of its own, and the worker's end of its socket.

Why a process: with the writer on a thread of the worker, every statement it ran handed the GIL back and
then waited to get it again from the event loop, which was busy answering the next requests. On the
check-in path the writer's thread spent more of each write waiting for the GIL than running. A process
has a GIL of its own, so the writes run beside the event loop instead of taking turns with it.

What crosses the socket: a write is a module-level function and its arguments, pickled (the function by
its name), and comes back as its result or its exception. The process reads every write that has arrived,
runs them as one transaction with one COMMIT (``db.run_writes``: group commit), and answers them all in
one message once the COMMIT has returned. Only our own worker holds the other end of the socket.

The socket is the process's whole life: the process exits when the worker's end closes, after finishing
the batch in hand, so a worker that ends (however it ends) takes its writer with it. Stop signals sent
to the whole process group are the worker's to act on; the writer ignores them and waits for that close.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import pickle
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

log = logging.getLogger("afterglow.db")
# A request: payload length and the write's number, then the pickled (function, arguments).
_REQUEST = struct.Struct("<IQ")
# An answer: payload length, then the pickled [(number, ok, result or exception), ...] of one COMMIT.
_ANSWER = struct.Struct("<I")
_PICKLE = pickle.HIGHEST_PROTOCOL
_READ_SIZE = 1 << 16
_STOP_WAIT_S = 30.0
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The modules whose functions ``Database.write`` is given: imported before the first write arrives, so the
# first check-ins after a start do not wait half a second for Litestar to load.
PRELOAD = ("server.journal.service", "server.security.audit", "server.security.sessions")


class WriterStopped(sqlite3.OperationalError):
    """The writer process went away before answering this write: it may or may not have been committed."""


def _take_frames(buffer: bytearray, header: struct.Struct) -> list[tuple[Any, ...]]:
    """Each whole frame at the front of ``buffer`` as (header fields after the length..., payload); the
    bytes of a partial frame stay in the buffer."""
    frames = []
    start = 0
    while len(buffer) - start >= header.size:
        size, *fields = header.unpack_from(buffer, start)
        end = start + header.size + size
        if len(buffer) < end:
            break
        frames.append((*fields, bytes(buffer[start + header.size : end])))
        start = end
    del buffer[:start]
    return frames


# --- the worker's end ---------------------------------------------------------------------------------


class WriterProcess(asyncio.Protocol):
    """The worker's end. ``submit`` sends a write; its future is settled once the COMMIT holding it has
    returned, with the write's result or exception, or with ``WriterStopped`` if the process goes first.

    ``on_commit(n)`` is called for each COMMIT that kept ``n`` writes.
    """

    def __init__(self, path: Path, on_commit: Callable[[int], None]) -> None:
        self.path = path.resolve()
        self._on_commit = on_commit
        self._process: subprocess.Popen[bytes] | None = None
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._outgoing = bytearray()
        self._number = 0
        self._in_flight: dict[int, asyncio.Future[Any]] = {}
        self._idle: asyncio.Future[None] | None = None
        self.alive = False

    async def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs:
            # Started once, when the database opens: a fork and exec, no waiting on the child.
            self._process = subprocess.Popen(  # noqa: S603, ASYNC220 - our own interpreter and module
                [sys.executable, "-m", "server.writer_process", str(self.path), str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                cwd=_PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
            )
        await asyncio.get_running_loop().create_unix_connection(lambda: self, sock=ours)
        self.alive = True

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass of asyncio's

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], future: asyncio.Future[Any]) -> None:
        """Send a write. Never raises: whatever goes wrong is the write's own error, set on its future."""
        if self._transport is None or not self.alive:
            future.set_exception(WriterStopped("the database writer is not running"))
            return
        try:
            payload = pickle.dumps((fn, args), _PICKLE)
        except Exception as exc:  # a closure, or an argument that does not pickle: a mistake in our code
            future.set_exception(TypeError(f"a write for the writer process must pickle ({type(exc).__name__})"))
            return
        self._number += 1
        self._in_flight[self._number] = future
        # Sent once the loop has run what is ready: the writes handed in meanwhile go in one send, so the
        # process reads them together (one batch, one COMMIT) and is woken once, not once a write.
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._send)
        self._outgoing += _REQUEST.pack(len(payload), self._number)
        self._outgoing += payload

    def _send(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(bytes(self._outgoing))
        self._outgoing.clear()

    async def idle(self) -> None:
        """Until every write sent has its answer."""
        if self._in_flight:
            if self._idle is None:
                self._idle = asyncio.get_running_loop().create_future()
            await self._idle

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        for (payload,) in _take_frames(self._buffer, _ANSWER):
            kept = 0
            for number, ok, value in pickle.loads(payload):  # noqa: S301 - from our own writer process
                kept += ok
                future = self._in_flight.pop(number)
                if future.done():  # its caller was cancelled: the write ran all the same
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            self._on_commit(kept)
        self._settle_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.alive:
            log.error("the database writer process stopped (%d writes unanswered)", len(self._in_flight))
        self.alive = False
        for future in self._in_flight.values():
            if not future.done():
                future.set_exception(WriterStopped("the database writer stopped before answering"))
        self._in_flight.clear()
        self._settle_idle()

    def _settle_idle(self) -> None:
        if not self._in_flight and self._idle is not None:
            if not self._idle.done():
                self._idle.set_result(None)
            self._idle = None

    async def close(self) -> None:
        """Let the process answer what it has, then end it (it exits when our end closes)."""
        await self.idle()
        self.alive = False
        if self._transport is not None:
            self._transport.close()
        if self._process is not None:
            try:
                await asyncio.to_thread(self._process.wait, _STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                log.error("the database writer process did not stop; killing it")
                self._process.kill()
                await asyncio.to_thread(self._process.wait)


# --- the process ------------------------------------------------------------------------------------


def bound_write(fn: Callable[..., Any], args: tuple[Any, ...]) -> Callable[[sqlite3.Connection], Any]:
    """A write as ``run_writes`` takes it, on the writer's thread or in this process: ``fn(conn, *args)``."""
    return lambda conn: fn(conn, *args)


def _call(payload: bytes) -> Callable[[sqlite3.Connection], Any]:
    try:
        fn, args = pickle.loads(payload)  # noqa: S301 - from the worker that started us
    except Exception as exc:  # a function this process cannot import: that write fails, alone
        error = sqlite3.InterfaceError(f"the writer could not load this write ({type(exc).__name__})")

        def refused(_: sqlite3.Connection) -> Any:
            raise error

        return refused
    return bound_write(fn, args)


def _answers(numbers: list[int], outcomes: list[tuple[bool, Any]]) -> bytes:
    answers = [(number, ok, value) for number, (ok, value) in zip(numbers, outcomes, strict=True)]
    try:
        payload = pickle.dumps(answers, _PICKLE)
    except Exception:
        # An exception (or a result) that does not pickle: say what kind of thing failed, never its text,
        # which may quote what a patient wrote.
        for i, (number, _, value) in enumerate(answers):
            try:
                pickle.dumps(value, _PICKLE)
            except Exception:
                error = sqlite3.InterfaceError(f"the write's outcome ({type(value).__name__}) did not pickle")
                answers[i] = (number, False, error)
        payload = pickle.dumps(answers, _PICKLE)
    return _ANSWER.pack(len(payload)) + payload


def _read_arrived(sock: socket.socket, buffer: bytearray) -> bool:
    """Add what has arrived to ``buffer`` without waiting; False once the worker's end is closed."""
    while True:
        try:
            data = sock.recv(_READ_SIZE, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        if not data:
            return False
        buffer += data


def serve(path: Path, sock: socket.socket) -> None:
    """Answer the worker's writes, batch after batch, until the worker closes its end."""
    from server.db import MAX_BATCH, connect_sync, run_writes

    for module in PRELOAD:
        importlib.import_module(module)
    conn = connect_sync(path)
    buffer = bytearray()
    waiting: list[tuple[int, bytes]] = []
    worker_there = True
    try:
        while worker_there or waiting:
            if not waiting:
                data = sock.recv(_READ_SIZE)  # sleeps until the worker sends
                worker_there = bool(data)
                buffer += data
            # Everything else that has already arrived joins this batch.
            worker_there = worker_there and _read_arrived(sock, buffer)
            waiting += _take_frames(buffer, _REQUEST)
            batch, waiting = waiting[:MAX_BATCH], waiting[MAX_BATCH:]
            if batch:
                outcomes = run_writes(conn, [_call(payload) for _, payload in batch])
                with contextlib.suppress(OSError):  # the worker is gone: its writes are committed all the same
                    sock.sendall(_answers([number for number, _ in batch], outcomes))
    finally:
        conn.close()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    serve(Path(sys.argv[1]), socket.socket(fileno=int(sys.argv[2])))
