"""The real server in its own process (``python -m server serve``), for tests and scripts that need to kill
it, restart it, or run it with several worker processes. Loopback only; every wait has a deadline.

Used by tests/test_crash_safety.py and tests/test_workers.py (through tests/bench/crash_cycles.py for the
former), and by the crash script on its own, so it depends on nothing from pytest.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
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


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m server ARGS``; raises with its output if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "server", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"`afterglow {' '.join(args)}` failed ({result.returncode}):\n{result.stderr}")
    return result


class LiveServer:
    """``afterglow serve`` on a fixed free port, restartable; its output goes to ``var_dir/server.log``."""

    def __init__(self, var_dir: Path, *, workers: int = 1, **env: str) -> None:
        self.var_dir = var_dir
        self.workers = workers
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.env = server_env(var_dir, self.port, **env)
        self.log_path = var_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.process is None, "already running"
        self.var_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # A session of its own, so stop() can end the worker processes with their parent.
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--workers", str(self.workers)],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_healthy()

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
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"the server did not answer /healthz within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as in a power cut of the process (the OS's caches survive)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        """A clean shutdown (SIGTERM to the server and its workers), SIGKILL if it does not end in time."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
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

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    # --- which worker process serves a connection (Linux /proc) ------------------------------------

    def worker_pids(self) -> set[int]:
        """The server's worker processes: its children that hold the listening socket.

        (With --workers N, uvicorn's supervisor has N such children, besides multiprocessing's helper.)
        """
        assert self.process is not None
        listening = f"socket:[{_listening_inode(self.port)}]"
        return {pid for pid in self._children() if listening in _socket_links(pid)}

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

    def serving_pid(self, client_port: int, timeout: float = 5.0) -> int:
        """The process that accepted our connection from ``client_port``.

        The kernel lists the server's end of the connection in /proc/net/tcp; its inode becomes non-zero
        once a worker has accept()ed it, and that worker holds a file descriptor ``socket:[inode]``.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            inode = _server_side_inode(self.port, client_port)
            if inode:
                link = f"socket:[{inode}]"
                for pid in self._children():
                    if link in _socket_links(pid):
                        return pid
            time.sleep(0.005)
        raise TimeoutError(f"no worker accepted the connection from port {client_port}")

    def connect_to(self, pid: int, *, source: str = HOST, attempts: int = 200) -> http.client.HTTPConnection:
        """A new connection that worker ``pid`` has accepted (others are closed unused and retried).

        ``source`` is the client's own address: any of 127.0.0.0/8 on Linux, to look like another client.
        """
        for _ in range(attempts):
            conn = http.client.HTTPConnection(HOST, self.port, timeout=15, source_address=(source, 0))
            conn.connect()
            assert conn.sock is not None
            if self.serving_pid(conn.sock.getsockname()[1]) == pid:
                return conn
            conn.close()
        raise AssertionError(f"worker {pid} accepted none of {attempts} connections")


def _tcp_rows() -> list[tuple[int, int, str, int]]:
    """(local port, remote port, state, inode) of every IPv4 TCP socket, from /proc/net/tcp."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        rows.append((local_port, remote_port, fields[3], int(fields[9])))
    return rows


def _listening_inode(port: int) -> int:
    listen_state = "0A"
    return next((inode for local, _, state, inode in _tcp_rows() if local == port and state == listen_state), 0)


def _server_side_inode(server_port: int, client_port: int) -> int:
    return next((inode for local, remote, _, inode in _tcp_rows() if (local, remote) == (server_port, client_port)), 0)


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
