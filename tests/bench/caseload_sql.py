"""The caseload's one statement alone, on a reader connection: warm, and right after another connection's
COMMIT (as under load, where every page's audit row empties every reader's page cache).

    .venv/bin/python -m tests.bench.caseload_sql [--patients 100|10000] [--runs 300]

The N=100 database is migrated in a copy; the N=10,000 one is used in place (migrated by an earlier
``run.py``), and the commits go to a scratch table dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from server.clinic import queries, service
from server.db import _configure, apply_migrations, connect_sync
from tests.bench import run


def measure(db: Path, runs: int) -> dict[str, float]:
    writer = connect_sync(db)
    reader = sqlite3.connect(db, isolation_level=None)
    _configure(reader, read_only=True)
    therapist, clinic = reader.execute(
        "SELECT c.therapist_id, u.clinic_id FROM care_team c JOIN users u ON u.id = c.therapist_id"
        " GROUP BY c.therapist_id ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    now = datetime.now(UTC)
    params = {"therapist_id": therapist, "clinic_id": clinic, "now": now.isoformat()}
    zones = [zone for (zone,) in reader.execute(queries.TEAM_ZONES, params)]
    params["days"] = service._days_json(now)(zones)
    writer.execute("CREATE TABLE bench_touch (x)")
    spent = {"warm": 0.0, "after a commit": 0.0}
    try:
        for _ in range(3):
            for mode in spent:
                for _ in range(runs // 3):
                    if mode == "after a commit":
                        writer.execute("INSERT INTO bench_touch VALUES (1)")
                    started = time.perf_counter()
                    reader.execute(queries.CASELOAD_PACKED, params).fetchall()
                    spent[mode] += time.perf_counter() - started
    finally:
        writer.execute("DROP TABLE bench_touch")
        reader.close()
        writer.close()
    return {mode: total / (runs // 3 * 3) for mode, total in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, choices=[100, 10000], default=100)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=run.DATA_DIR, prefix="caseload-sql-") as tmp:
        db = run.database_for(args.patients)
        if args.patients == 100:
            db = Path(shutil.copyfile(db, Path(tmp) / "afterglow.db"))
            with contextlib.closing(connect_sync(db)) as conn:
                apply_migrations(conn)
        times = measure(db, args.runs)
    print(f"N={args.patients}: " + ", ".join(f"{mode} {seconds * 1e6:.0f} µs" for mode, seconds in times.items()))


if __name__ == "__main__":
    main()
