"""The transport under ``afterglow serve`` (server/http_protocol.py) sends an answer's head and body in one
write, and otherwise sends every byte, in order, no later than the event loop's next pass."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from server.__main__ import cmd_serve
from server.http_protocol import HeadWithBodyTransport, HttpToolsHeadWithBody
from server.settings import load_settings
from tests.bench.live_server import free_port


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed_after: int | None = None

    def write(self, data: Any) -> None:
        assert self.closed_after is None, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed_after = len(self.writes)

    def is_closing(self) -> bool:
        return self.closed_after is not None


async def next_pass() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def test_a_head_and_the_body_that_follows_it_leave_in_one_write() -> None:
    async def scenario() -> list[bytes]:
        real = RecordingTransport()
        transport = HeadWithBodyTransport(real, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")
        await next_pass()
        return real.writes

    assert asyncio.run(scenario()) == [b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}"]


def test_a_lone_write_leaves_at_the_next_pass_and_a_stream_keeps_its_order() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        real = RecordingTransport()
        transport = HeadWithBodyTransport(real, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await next_pass()
        alone = list(real.writes)
        for chunk in (b"head", b"1", b"2", b"3"):
            transport.write(chunk)
        await next_pass()
        transport.write(b"4")
        await next_pass()
        return alone, real.writes

    alone, writes = asyncio.run(scenario())
    assert alone == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    assert b"".join(writes) == b"HTTP/1.1 100 Continue\r\n\r\nhead1234"
    assert writes[-1] == b"4"


def test_closing_sends_what_is_held_first() -> None:
    async def scenario() -> RecordingTransport:
        real = RecordingTransport()
        transport = HeadWithBodyTransport(real, asyncio.get_running_loop())
        transport.write(b"last words")
        transport.close()
        await next_pass()
        return real

    real = asyncio.run(scenario())
    assert real.writes == [b"last words"] and real.closed_after == 1


def test_afterglow_serve_gives_uvicorn_this_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`afterglow serve` runs uvicorn with the protocol above; uvicorn itself is not started here."""
    settings = load_settings(
        {"AFTERGLOW_VAR_DIR": str(tmp_path), "AFTERGLOW_SECRET_KEY": "s" * 48, "AFTERGLOW_PORT": str(free_port())}
    )
    given: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: given.update(kwargs))
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        cmd_serve(settings, argparse.Namespace(workers=1))
    finally:
        for signum, handler in handlers.items():  # cmd_serve sets its own, for the process it serves in
            signal.signal(signum, handler)
    assert given["http"] is HttpToolsHeadWithBody
    assert given["ws"] == "none"
