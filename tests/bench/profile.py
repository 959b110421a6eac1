"""Profile the worker under load: the server (one worker) under wrk, sampled by py-spy.

    .venv/bin/python -m tests.bench.profile checkin.lua [--patients 100] [--seconds 15] [--server uvicorn] [--writer]

``--writer`` samples the worker's writer process (server/writer_process.py) instead of the worker. Writes
collapsed stacks (py-spy's "raw" format) to var/bench/prof/<script>[-writer].txt and prints the functions
that hold the most samples, by own time and by total time.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from tests.bench import run


def summarize(path: Path, top: int = 30) -> None:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        samples += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    print(f"{samples} samples")
    print("-- own time")
    for frame, n in own.most_common(top):
        print(f"{n / samples:6.1%}  {frame}")
    print("-- total time")
    for frame, n in total.most_common(top):
        print(f"{n / samples:6.1%}  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("script")
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--server", default="production")
    parser.add_argument("--path", default="/clinic/")
    parser.add_argument("--idle", action="store_true", help="py-spy --idle: include waiting threads")
    parser.add_argument("--writer", action="store_true", help="sample the writer process instead of the worker")
    parser.add_argument("--native", action="store_true", help="py-spy --native: C frames too (SQLite's own)")
    parser.add_argument("--app-root", type=Path, default=None, help="run the app from this copy of the code")
    args = parser.parse_args()
    if args.app_root is not None:
        run.APP_ROOT = args.app_root.resolve()
    if not (run.VENV_BIN / "py-spy").exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    out_dir = run.DATA_DIR / "prof"
    out_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(dir=run.DATA_DIR, prefix="prof-") as tmp,
        run.bench_database(args.patients, Path(tmp)) as (db, fx),
    ):
        run_dir = Path(tmp)
        c = args.connections
        writers = run.make_sessions(
            db, [fx.writer_patient_ids[i % len(fx.writer_patient_ids)] for i in range(c)], "patient"
        )
        therapist = run.make_sessions(db, [fx.therapist_id] * c, "therapist")
        if args.script == "get.lua":
            lines = therapist
        else:
            lines = [(cookie, csrf, "", therapist[i][0]) for i, (cookie, csrf) in enumerate(writers)]
        env = {
            "BENCH_SESSIONS": str(run.write_sessions_file(run_dir / "s.tsv", lines)),
            "BENCH_PATH": args.path.replace("BRIEF", fx.brief_patient_id),
            "BENCH_BRIEF_PATH": f"/clinic/patients/{fx.brief_patient_id}",
        }
        port = run.free_port()
        target = "server.asgi:app_from_env"
        server = run.Server(
            run.server_command(args.server, target, port, factory=True),
            run.server_env(run_dir, db, port),
            port,
            run_dir / "s.log",
        )
        with server:
            run.wait_until_idle(server)
            others = [pid for pid in server.pids() if run._is_writer(pid) == args.writer]
            worker = max(others, key=run._rss_mb)
            result: dict[str, run.Load] = {}
            load = threading.Thread(
                target=lambda: result.update(load=run.wrk(port, args.script, c, args.seconds + 2, env))
            )
            load.start()
            out = out_dir / f"{args.script.removesuffix('.lua')}{'-writer' if args.writer else ''}.txt"
            subprocess.run(
                [
                    str(run.VENV_BIN / "py-spy"),
                    "record",
                    "-p",
                    str(worker),
                    "-d",
                    str(args.seconds),
                    "-r",
                    "200",
                    "-f",
                    "raw",
                    "-o",
                    str(out),
                    # --native needs the process paused while its stack is read.
                    *([] if args.native else ["--nonblocking"]),
                    *(["--idle"] if args.idle else []),
                    *(["--native"] if args.native else []),
                    "--threads",
                ],
                check=True,
                capture_output=True,
            )
            load.join()
        print(result["load"])
        summarize(out)


if __name__ == "__main__":
    sys.exit(main())
