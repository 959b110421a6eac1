"""Where the CPU goes under load: the bare route and the app, each under wrk, with the CPU time of every
thread of the server's processes (the worker's event loop, its reader threads, granian's threads, the
writer process) and of wrk, per request, and how idle the machine stayed.

    .venv/bin/python -m tests.bench.cpu_split [checkin.lua|get.lua|mix.lua] [--path /clinic/|BRIEF]
        [--patients 100] [--seconds 5] [--runs 2] [--app-root /tmp/before]

On this 2-core machine a figure that run.py gives as a ratio is, underneath, a share of the same two cores:
when the server's CPU per request is four times the bare route's, the rate is about a quarter of it, unless
one thread (the event loop, holding the GIL) or a wait (a COMMIT's fsync) is the limit instead, which the
per-thread figures and the idle share tell apart.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.bench import run


def _thread_seconds(pids: list[int]) -> dict[tuple[int, int, str], float]:
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                name = (task / "comm").read_text().strip()
            except OSError:
                continue
            seconds[(pid, int(task.name), name)] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def _machine() -> tuple[int, int]:
    """(all jiffies, idle and I/O-wait jiffies) of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values), values[3] + values[4]


def measure(name: str, server: run.Server, script: str, env: dict[str, str], seconds: float) -> None:
    threads, children, machine = (
        _thread_seconds(server.pids()),
        resource.getrusage(resource.RUSAGE_CHILDREN),
        _machine(),
    )
    load = run.wrk(server.port, script, 16, seconds, env)
    threads_after = _thread_seconds(server.pids())
    children_after, machine_after = resource.getrusage(resource.RUSAGE_CHILDREN), _machine()
    requests = load.rps * seconds
    wrk_cpu = sum(getattr(children_after, f) - getattr(children, f) for f in ("ru_utime", "ru_stime"))
    server_cpu = sum(v - threads.get(k, 0.0) for k, v in threads_after.items())
    idle = (machine_after[1] - machine[1]) / (machine_after[0] - machine[0])
    print(
        f"{name:5} {load.rps:6.0f}/s p99 {load.p99_ms:6.1f} ms | server {server_cpu / requests * 1e6:5.0f} µs/req,"
        f" wrk {wrk_cpu / requests * 1e6:4.0f} µs/req | machine idle {idle:.0%}",
        flush=True,
    )
    busy = {k: v - threads.get(k, 0.0) for k, v in threads_after.items()}
    kind = {pid: ("writer" if run._is_writer(pid) else "proc") for pid, _, _ in busy}
    parts = [
        f"{kind[pid]} {pid} {thread_name} {spent / seconds:.2f} cores"
        for (pid, _, thread_name), spent in sorted(busy.items(), key=lambda item: -item[1])
        if spent / seconds >= 0.02
    ]
    print("      " + "; ".join(parts), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("script", nargs="?", default="checkin.lua")
    parser.add_argument("--path", default="/clinic/", help="get.lua's page; BRIEF for the brief patient's")
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--app-root", type=Path, default=None, help="run the app from this copy of the code")
    args = parser.parse_args()
    if args.app_root is not None:
        run.APP_ROOT = args.app_root.resolve()
    with (
        tempfile.TemporaryDirectory(dir=run.DATA_DIR, prefix="cpu-") as tmp,
        run.bench_database(args.patients, Path(tmp)) as (db, fx),
    ):
        run_dir = Path(tmp)
        writers = run.make_sessions(
            db, [fx.writer_patient_ids[i % len(fx.writer_patient_ids)] for i in range(16)], "patient"
        )
        therapist = run.make_sessions(db, [fx.therapist_id] * 16, "therapist")
        lines = [(cookie, csrf, "", therapist[i][0]) for i, (cookie, csrf) in enumerate(writers)]
        brief = f"/clinic/patients/{fx.brief_patient_id}"
        put_env = {
            "BENCH_SESSIONS": str(run.write_sessions_file(run_dir / "writers.tsv", lines)),
            "BENCH_BRIEF_PATH": brief,
        }
        env = put_env
        if args.script == "get.lua":
            env = {
                "BENCH_SESSIONS": str(run.write_sessions_file(run_dir / "therapist.tsv", therapist)),
                "BENCH_PATH": args.path.replace("BRIEF", brief),
            }
        subprocess.run(
            [sys.executable, "-m", "server", "migrate"],
            env=run.server_env(run_dir, db, run.free_port()),
            cwd=run.APP_ROOT,
            check=True,
            capture_output=True,
        )
        port = run.free_port()
        app = run.Server(
            run.server_command("production", "", port, factory=True),
            run.server_env(run_dir, db, port),
            port,
            run_dir / "app.log",
        )
        with run.started_bare("granian", run_dir) as bare, app:
            run.wait_until_idle(app)
            for _ in range(args.runs):
                measure("bare", bare, "checkin.lua", put_env, args.seconds)
                measure("app", app, args.script, env, args.seconds)


if __name__ == "__main__":
    main()
