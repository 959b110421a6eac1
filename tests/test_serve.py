"""``afterglow serve`` as it runs in production (uvicorn: one process, or a supervisor and its worker processes): a stop
signal ends it cleanly, a busy port is refused, responses do not name the server, and a supervisor killed
on its own takes its workers with it (no orphan keeps the port or the database)."""

from __future__ import annotations

import http.client
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.bench.live_server import HOST, LiveServer, _listening_inodes, run_cli


def _get(server: LiveServer, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def _wait_until(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_sigterm_stops_the_server_cleanly_and_closes_the_database(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "var")
    server.start()
    try:
        assert _get(server, "/healthz").status == 200
        assert server.process is not None
        # Served, the writes go to a writer process of the server's own (server/writer_process.py).
        writers = [pid for pid in _children(server.process.pid) if b"server.writer_process" in _cmdline(pid)]
        assert len(writers) == 1, writers
        os.killpg(server.process.pid, signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0, server.log_tail()
        server.process = None
    finally:
        server.kill()
    assert "Traceback" not in server.log_tail(200), server.log_tail(200)  # nothing failed on the way out
    assert _wait_until(lambda: not _alive(writers[0])), "the writer process outlived the server"
    database = tmp_path / "var" / "afterglow.db"
    assert database.exists()
    # The lifespan's shutdown closed every connection: SQLite removed the WAL and its index.
    assert not Path(f"{database}-wal").exists() and not Path(f"{database}-shm").exists()


def test_a_second_server_on_a_busy_port_is_refused(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "one") as first:
        env = {**first.env, "AFTERGLOW_VAR_DIR": str(tmp_path / "two"), "AFTERGLOW_DATABASE": str(tmp_path / "two.db")}
        second = run_cli("serve", env=env, check=False)
        assert second.returncode != 0
        assert "is another server running?" in second.stderr + second.stdout
        assert _get(first, "/healthz").status == 200


def test_responses_do_not_name_the_server_software(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "var") as server:
        for path in ("/healthz", "/sign-in", "/no-such-page"):
            server_header = _get(server, path).getheader("server") or ""
            assert "uvicorn" not in server_header.lower(), (path, server_header)


def test_a_supervisor_killed_alone_takes_its_workers_with_it(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "var", workers=2)
    server.start()
    try:
        workers = server.wait_for_workers()
        assert len(workers) == 2
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)  # the supervisor only, not its process group
        server.process.wait(timeout=30)

        def gone() -> bool:
            return not any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in workers)

        assert _wait_until(gone), "a worker outlived its supervisor"
        assert _wait_until(lambda: not _listening_inodes(server.port)), "the port is still held"
        server.process = None
    finally:
        server.kill()


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
