"""uvicorn's httptools protocol, with a response's head and body sent in one write.

uvicorn writes the status line and headers (at ``http.response.start``) and the body (at
``http.response.body``) as two ``transport.write`` calls, and asyncio sends each at once: two ``send``
system calls and two TCP segments per answer, and the client woken twice. On a check-in those sends were
13% of the event loop's samples (``python -m tests.bench.profile checkin.lua``), and in one write 10%; a
caseload page costs the server 5-13% less CPU (tests/bench/README.md, fifth pass). Here a write waits until
the next write on the same connection or the end of the event loop's pass, whichever comes first, so a
head and the body that follows it leave together; a streamed body keeps flowing, at most one chunk late.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeadWithBodyTransport(asyncio.Transport):
    """The connection's transport, holding back one write until the next one or the loop's next pass."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held is None:
            self._held = bytes(data)
            self._loop.call_soon(self._flush)
        else:
            held, self._held = self._held, None
            self._transport.write(held + data)

    def _flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.write(held)

    def close(self) -> None:
        self._flush()  # what is held goes out before the connection closes, as an asyncio transport's buffer
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + (len(self._held) if self._held is not None else 0)


class HttpToolsHeadWithBody(HttpToolsProtocol):
    """What ``afterglow serve`` gives uvicorn as its ``http`` protocol."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(HeadWithBodyTransport(transport, self.loop))  # type: ignore[arg-type]
