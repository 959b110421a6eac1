"""The real server in its own process (``python -m server serve``), for tests and scripts that need to kill
it, restart it, or run it with several worker processes. Loopback only; every wait has a deadline.

The server is uvicorn: one process that serves, or with ``workers`` a supervisor and the worker processes it
starts, all holding its one listening socket; each serving process has its writer process as a child. It
runs in a session of its own, so that one signal to its process group reaches all of them at once: SIGKILL
takes the whole server down (no worker lives on to hold the port), SIGTERM shuts every worker down cleanly.

Used by tests/test_crash_safety.py and tests/test_workers.py (through tests/bench/crash_cycles.py for the
former), and by the crash script on its own, so it depends on nothing from pytest.

``LiveServer(..., preloaded=True)`` (the crash cycles, which restart the server hundreds of times) starts
each server by forking it from a process that has already imported the server's code, the way
multiprocessing's forkserver does: the same ``python -m server serve`` code and environment in a process of
its own (its own session, killed the same way), without paying Python's imports on every restart. The fork
server is also the subreaper of what it forks: a worker that outlives its supervisor becomes its child and
is reaped there (some containers' init never reaps an orphan).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from types import TracebackType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
CSRF_COOKIE = "afterglow_csrf"
CSRF_HEADER = "X-CSRFToken"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_env(var_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """This machine's environment without any AFTERGLOW_* of the caller's, pointed at ``var_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERGLOW_")}
    env.update(AFTERGLOW_VAR_DIR=str(var_dir), AFTERGLOW_HOST=HOST, AFTERGLOW_PORT=str(port), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """``python -m server ARGS``; raises with its output if it fails (unless ``check`` is false)."""
    result = subprocess.run(
        [sys.executable, "-m", "server", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"`afterglow {' '.join(args)}` failed ({result.returncode}):\n{result.stderr}")
    return result


class LiveServer:
    """``afterglow serve`` on a fixed free port, restartable; its output goes to ``var_dir/server.log``.

    ``preloaded``: fork each start from a process that has imported the server already (see the top of this
    file); ``close()`` (or leaving the ``with`` block) ends that process.
    """

    def __init__(self, var_dir: Path, *, workers: int = 1, preloaded: bool = False, **env: str) -> None:
        self.var_dir = var_dir
        self.workers = workers
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.env = server_env(var_dir, self.port, **env)
        self.log_path = var_dir / "server.log"
        self.process: subprocess.Popen[bytes] | Forked | None = None
        # Started now, so that its imports overlap with whatever the caller does before the first start.
        self.forkserver = ForkServer() if preloaded else None

    def start(self) -> None:
        assert self.process is None, "already running"
        self.var_dir.mkdir(parents=True, exist_ok=True)
        args = ["serve", "--workers", str(self.workers)]
        if self.forkserver is not None:
            self.process = self.forkserver.fork(args, env=self.env, log_path=self.log_path)
        else:
            with self.log_path.open("ab") as log:
                # A session of its own, so stop() can end the worker processes with their parent.
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "server", *args],
                    env=self.env,
                    cwd=REPO_ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        self._wait_healthy()

    def run_cli(self, *args: str) -> None:
        """``python -m server ARGS`` with this server's environment (forked too if ``preloaded``); raises if
        it fails. Its output goes to the log."""
        if self.forkserver is None:
            run_cli(*args, env=self.env)
            return
        self.var_dir.mkdir(parents=True, exist_ok=True)
        code = self.forkserver.fork(list(args), env=self.env, log_path=self.log_path).wait(timeout=120)
        if code != 0:
            raise RuntimeError(f"`afterglow {' '.join(args)}` failed ({code}):\n{self.log_tail()}")

    def close(self) -> None:
        """Kill the server if it still runs, and end the fork server (if any)."""
        self.kill()
        if self.forkserver is not None:
            self.forkserver.close()

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                try:
                    conn.request("GET", "/healthz")
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            time.sleep(0.01)
        self.kill()
        raise RuntimeError(f"the server did not answer /healthz within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL to the supervisor and its workers at once: no shutdown, no cleanup, as in a power cut of
        the process (the OS's caches survive). Returns once no process of the server holds the port."""
        if self.process is None:
            return
        _signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None
        # The supervisor has been reaped; its workers, killed by the same signal, may take a moment more
        # to release their sockets.
        self._wait_port_released()

    def _wait_port_released(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while _listening_inodes(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"a process still listens on port {self.port} after the server was killed")
            time.sleep(0.002)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM to the server and its workers), SIGKILL if it does not end in time."""
        if self.process is None:
            return
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
        if self.forkserver is not None:
            self.forkserver.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    # --- which worker process serves a connection (Linux /proc) ------------------------------------

    def worker_pids(self) -> set[int]:
        """The server's worker processes: its children that hold a listening socket on the port.

        (With --workers N, uvicorn's supervisor has N such children, all holding the socket it bound; the
        kernel hands each new connection to whichever accepts it first.)
        """
        assert self.process is not None
        listening = {f"socket:[{inode}]" for inode in _listening_inodes(self.port)}
        return {pid for pid in self._children() if listening & _socket_links(pid)}

    def _children(self) -> set[int]:
        assert self.process is not None
        children = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    # Fields after the command name, which is in parentheses and may contain spaces.
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    if int(fields[1]) == self.process.pid:
                        children.add(int(entry.name))
        return children

    def wait_for_workers(self, timeout: float = START_TIMEOUT) -> list[int]:
        """Wait until every worker has answered /healthz itself; returns their process ids."""
        deadline = time.monotonic() + timeout
        answered: set[int] = set()
        while time.monotonic() < deadline:
            for pid in self.worker_pids() - answered:
                with contextlib.suppress(AssertionError, TimeoutError, OSError, http.client.HTTPException):
                    status, _, _ = Visitor().send(self.connect_to(pid, attempts=20), "GET", "/healthz")
                    if status == 200:
                        answered.add(pid)
            if len(answered) == self.workers:
                return sorted(answered)
            time.sleep(0.05)
        raise RuntimeError(f"only {len(answered)} of {self.workers} workers answered:\n{self.log_tail()}")

    def serving_pid(self, client: tuple[str, int], timeout: float = 5.0) -> int:
        """The process that accepted our connection from ``client`` (its address and port).

        The kernel lists the server's end of the connection in /proc/net/tcp; its inode becomes non-zero
        once a worker has accept()ed it, and that worker holds a file descriptor ``socket:[inode]``.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            inode = _server_side_inode(self.port, client)
            if inode:
                link = f"socket:[{inode}]"
                for pid in self._children():
                    if link in _socket_links(pid):
                        return pid
            time.sleep(0.005)
        raise TimeoutError(f"no worker accepted the connection from {client[0]}:{client[1]}")

    def connect_to(self, pid: int, *, source: str = HOST, attempts: int = 200) -> http.client.HTTPConnection:
        """A new connection that worker ``pid`` has accepted (others are closed unused and retried).

        ``source`` is the client's own address: any of 127.0.0.0/8 on Linux, to look like another client.
        """
        for _ in range(attempts):
            conn = http.client.HTTPConnection(HOST, self.port, timeout=15, source_address=(source, 0))
            conn.connect()
            assert conn.sock is not None
            if self.serving_pid(conn.sock.getsockname()[:2]) == pid:
                return conn
            conn.close()
        raise AssertionError(f"worker {pid} accepted none of {attempts} connections")


def _signal_group(pid: int, signum: int) -> None:
    """Signal the server's process group (its session); the process alone if it has not made one yet."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


# --- forking servers from a process that has imported the server already ----------------------------------

# What ``python -m server serve`` imports before it serves (anything missing here is imported by the
# server; uvicorn's worker processes are spawned, and import what they need themselves). Not server.__main__
# itself: runpy runs it afresh as __main__, as ``-m`` does.
PRELOAD = (
    "server.accounts.service",
    "server.asgi",
    "server.app",
    "uvicorn",
    "uvicorn.config",
    "uvicorn.main",
    "uvicorn.server",
    "uvicorn.lifespan.on",
    "uvicorn.loops.asyncio",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.supervisors.multiprocess",
)
PRELOAD_IF_INSTALLED = ("litestar.plugins.pydantic",)  # Litestar imports it while it builds the app


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
EXIT_UNKNOWN = 255  # a forked server ended after its fork server (which alone could tell how)


class ForkServer:
    """A process that imports the server once and then forks one server per request, like multiprocessing's
    forkserver; each forked server runs ``python -m server ARGS`` (``runpy``, as ``-m`` does) in a session
    of its own, with the environment and output file it was given. The fork server reports each server's
    process id and, when it ends, its exit status (as ``Popen.returncode`` gives it)."""

    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERGLOW_")}
        env["PYTHONUNBUFFERED"] = "1"  # what server_env() sets for the server, whose output this becomes
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from tests.bench.live_server import fork_server_main; fork_server_main()"],
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            text=True,
            start_new_session=True,
        )
        self.lock = threading.Condition()
        self.started: list[int] = []
        self.exits: dict[int, int] = {}
        self.ended = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            kind, *numbers = line.split()
            with self.lock:
                if kind == "started":
                    self.started.append(int(numbers[0]))
                elif kind == "exited":
                    self.exits[int(numbers[0])] = int(numbers[1])
                self.lock.notify_all()
        with self.lock:
            self.ended = True
            self.lock.notify_all()

    def fork(self, args: list[str], *, env: dict[str, str], log_path: Path) -> Forked:
        assert self.process.stdin is not None
        request = {"args": args, "env": env, "log": str(log_path), "cwd": str(REPO_ROOT)}
        with self.lock:
            try:
                self.process.stdin.write(json.dumps(request) + "\n")
                self.process.stdin.flush()
            except BrokenPipeError:
                pass  # reported below, with the fork server's own output
            # Its first answer waits for the imports; every wait has a deadline.
            if not self.lock.wait_for(lambda: self.started or self.ended, timeout=START_TIMEOUT):
                raise RuntimeError(f"the fork server did not fork within {START_TIMEOUT:.0f} s")
            if not self.started:
                raise RuntimeError(f"the fork server ended:\n{self._stderr()}")
            return Forked(self, self.started.pop(0))

    def exit_status(self, pid: int, timeout: float | None) -> int | None:
        """The exit status of server ``pid``, waiting up to ``timeout`` seconds (0: do not wait)."""
        with self.lock:
            self.lock.wait_for(lambda: pid in self.exits or self.ended, timeout=timeout)
            if pid in self.exits:
                return self.exits[pid]
        if self.ended:  # the fork server is gone and cannot say how its servers ended: is this one still there?
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return EXIT_UNKNOWN
        return None

    def _stderr(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace")

    def close(self) -> None:
        """End the fork server (servers it forked are not affected)."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.reader.join(timeout=10)
        self.errors.close()


class Forked:
    """A server forked by a ForkServer, with the part of ``subprocess.Popen``'s interface LiveServer uses."""

    def __init__(self, forkserver: ForkServer, pid: int) -> None:
        self.forkserver = forkserver
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.forkserver.exit_status(self.pid, timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self.forkserver.exit_status(self.pid, timeout=timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired(f"python -m server (pid {self.pid})", timeout or 0)
        return self.returncode


def fork_server_main() -> None:
    """The fork server's process: import the server, then for each request on stdin fork a server.

    Answers on stdout, one line each: ``started PID`` for each request, in order, and ``exited PID STATUS``
    when a server ends (or an orphaned worker of one: the fork server is their subreaper). Single-threaded
    (forking is only safe so), so it waits on stdin and on SIGCHLD with a selector. Ends when stdin is closed.
    """
    import ctypes
    import gc
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    for name in PRELOAD_IF_INSTALLED:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    assert threading.active_count() == 1, "importing the server started a thread; forking would not be safe"
    # What the server itself does once started (server/app.py): what is imported stays, out of the collector's
    # way. Here it also keeps the forked servers' collections from touching, and so copying, these pages.
    gc.collect()
    gc.freeze()
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    wake_read, wake_write = socket.socketpair()
    wake_read.setblocking(False)
    wake_write.setblocking(False)
    signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the selector through the wakeup fd
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)  # stdin, read unbuffered so that the selector sees every line
    selector.register(wake_read, selectors.EVENT_READ)
    out = sys.stdout
    pending = b""

    def reap() -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while wake_read.recv(512):
                pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            out.write(f"exited {pid} {os.waitstatus_to_exitcode(status)}\n")
            out.flush()

    while True:
        for key, _ in selector.select():
            if key.fileobj is wake_read:
                reap()
                continue
            data = os.read(0, 65536)
            if not data:
                return
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    wake_read.close()
                    wake_write.close()
                    _serve_forked(request)  # never returns
                out.write(f"started {pid}\n")
                out.flush()


def _serve_forked(request: dict[str, Any]) -> None:
    """In the forked process: become ``python -m server ARGS`` with the request's environment and output."""
    import runpy
    import traceback

    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # as start_new_session=True: the server and any workers it starts share a group to kill
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["-m", *request["args"]]
        runpy.run_module("server", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _tcp_rows() -> list[tuple[int, str, str, int]]:
    """(local port, remote "ADDR:PORT" as /proc writes it, state, inode) of every IPv4 TCP socket."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        rows.append((local_port, fields[2], fields[3], int(fields[9])))
    return rows


def _proc_endpoint(address: str, port: int) -> str:
    """An IPv4 endpoint as /proc/net/tcp writes it: the address as a little-endian word, both in hex."""
    return f"{socket.inet_aton(address)[::-1].hex().upper()}:{port:04X}"


def _listening_inodes(port: int) -> set[int]:
    """The sockets listening on ``port``."""
    listen_state = "0A"
    return {inode for local, _, state, inode in _tcp_rows() if local == port and state == listen_state}


def _server_side_inode(server_port: int, client: tuple[str, int]) -> int:
    """The server's end of the connection from ``client`` (address and port: the tests connect from several
    addresses of 127.0.0.0/8, so a port alone may also match a closed connection from another one)."""
    remote = _proc_endpoint(*client)
    return next((inode for local, peer, _, inode in _tcp_rows() if (local, peer) == (server_port, remote)), 0)


def _socket_links(pid: int) -> set[str]:
    """What the file descriptors of process ``pid`` point to (``socket:[inode]`` for sockets)."""
    links = set()
    with contextlib.suppress(OSError):
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in os.listdir(fd_dir):
            with contextlib.suppress(OSError):
                links.add(os.readlink(fd_dir / fd))
    return links


class Visitor:
    """One signed-in device for http.client connections: keeps cookies, sends the CSRF token like the app."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def send(
        self, conn: http.client.HTTPConnection, method: str, path: str, body: Any = None
    ) -> tuple[int, dict[str, str], Any]:
        """One request on ``conn`` (which is closed afterwards); returns (status, headers, decoded JSON or None)."""
        headers = {"Connection": "close"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method not in {"GET", "HEAD"} and CSRF_COOKIE in self.cookies:
            headers[CSRF_HEADER] = self.cookies[CSRF_COOKIE]
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                self._remember(header)
            data = json.loads(raw) if raw and response.headers.get_content_type() == "application/json" else None
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def _remember(self, header: str) -> None:
        for name, morsel in SimpleCookie(header).items():
            if morsel["max-age"] == "0" or not morsel.value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value
