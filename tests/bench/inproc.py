"""Where the event loop's time goes: the real app in this process, driven straight through ASGI (no
sockets, no HTTP parser) by C concurrent clients, with cProfile on the event loop's thread only.

    .venv/bin/python -m tests.bench.inproc [checkin|caseload|brief] [--requests 2000] [--clients 16]

Prints the functions with the most own time and the request rate (cProfile slows everything down:
compare the shares, not the rate, with wrk's figures). With ``--no-profile``: the rate and the process's
CPU time per request (event loop plus writer thread), steadier than wall time on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from server.app import create_app
from server.settings import load_settings
from tests.bench import bare_app, run


def scope(method: str, path: str, cookie: str, csrf: str, body: bytes) -> dict[str, Any]:
    path_only, _, query = path.partition("?")
    headers = [(b"host", b"127.0.0.1"), (b"cookie", cookie.encode())]
    if method != "GET":
        headers += [(b"content-type", b"application/json"), (b"x-csrftoken", csrf.encode())]
        headers.append((b"content-length", str(len(body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path_only,
        "raw_path": path_only.encode(),
        "query_string": query.encode(),
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def call(app: Any, sc: dict[str, Any], body: bytes) -> int:
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(sc, receive, send)
    return status


async def drive(
    app: Any, what: str, requests: int, clients: int, sessions: list[tuple[str, str]], path: str
) -> dict[int, int]:
    statuses: dict[int, int] = {}
    per_client = requests // clients

    async def client(index: int) -> None:
        cookie, csrf = sessions[index % len(sessions)]
        rng = random.Random(index)
        for _ in range(per_client):
            if what == "checkin":
                body = json.dumps(
                    {
                        "mood": rng.randint(2, 9),
                        "anxiety": 3,
                        "energy": 5,
                        "sleep_hours": 7.5,
                        "tags": ["calm", "work"],
                        "note": "Tired but okay.",
                        "sharing": "shared",
                    }
                ).encode()
                sc = scope("PUT", f"/api/v1/checkins/{uuid.uuid4()}", cookie, csrf, body)
            else:
                body = b""
                sc = scope("GET", path, cookie, csrf, body)
            code = await call(app, sc, body)
            statuses[code] = statuses.get(code, 0) + 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    return statuses


async def main_async(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(dir=run.DATA_DIR, prefix="inproc-") as tmp,
        run.bench_database(args.patients, Path(tmp)) as (db, fx),
    ):
        run_dir = Path(tmp)
        if args.what == "checkin":
            sessions = run.make_sessions(db, fx.writer_patient_ids[: args.clients], "patient")
            path = ""
        else:
            sessions = run.make_sessions(db, [fx.therapist_id] * args.clients, "therapist")
            path = "/clinic/" if args.what == "caseload" else f"/clinic/patients/{fx.brief_patient_id}"
        settings = load_settings(run.server_env(run_dir, db, 8000))
        # --bare: the baseline route (tests/bench/bare_app.py) driven the same way, for the ratio in-process.
        app = bare_app.app if args.bare else create_app(settings)
        async with app.lifespan():  # type: ignore[attr-defined]
            await asyncio.sleep(0.5)
            await drive(app, args.what, args.clients * 4, args.clients, sessions, path)  # warm up
            profiler = cProfile.Profile()
            started, cpu_started = time.perf_counter(), time.process_time()
            if args.profile:
                profiler.enable()
            statuses = await drive(app, args.what, args.requests, args.clients, sessions, path)
            profiler.disable()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        under = " under cProfile" if args.profile else ""
        print(
            f"{args.requests} requests in {elapsed:.2f} s ({args.requests / elapsed:.0f}/s{under}), "
            f"process CPU {cpu / args.requests * 1e6:.0f} µs per request (all threads): {statuses}"
        )
        if args.profile:
            stats = pstats.Stats(profiler).sort_stats(args.sort)
            stats.print_stats(args.top)
            if args.callers:
                stats.print_callers(args.callers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["checkin", "caseload", "brief"], default="checkin", nargs="?")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--callers", help="also print who calls the functions matching this pattern")
    parser.add_argument("--bare", action="store_true", help="drive the bare baseline route instead (checkin)")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="only the rate and CPU per request")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
