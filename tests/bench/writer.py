"""What a check-in costs the writer alone: the journal's own write (``_store``) in batches inside
``BEGIN IMMEDIATE … COMMIT`` with ``synchronous=FULL``, as group commit runs them, on a migrated copy of a
benchmark database; no server, no event loop, no other thread.

    .venv/bin/python -m tests.bench.writer [--batches 300] [--batch 5] [--drop INDEX_OR_TRIGGER ...]
        [--sql STATEMENT ...]

Prints the statements' and the COMMIT's share per check-in (wall and CPU) and the WAL pages each COMMIT
writes (automatic checkpoints off, so the WAL holds every frame). ``--drop`` removes indexes or triggers from
the copy first, to see what each costs, and ``--sql`` runs statements on it first (an FTS5 setting, say): the
page count is exact, the times move with the machine's load.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from server.db import apply_migrations, connect_sync
from server.journal.schemas import CheckinIn
from server.journal.service import _store, checkin_write
from tests.bench import run

WAL_HEADER, WAL_FRAME_HEADER = 32, 24  # bytes, SQLite's WAL format
NOTES = ["Walked by the river, felt a bit lighter.", "Tired but okay.", "", "Work was a lot."]


def measure(db: Path, batches: int, batch: int, drop: list[str], first: list[str]) -> str:
    conn = connect_sync(db)
    apply_migrations(conn)
    for name in drop:
        kind = conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        conn.execute(f"DROP {kind[0].upper()} {name}")
    for sql in first:
        conn.executescript(sql)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    patients = [row[0] for row in conn.execute("SELECT id FROM users WHERE role = 'patient'")]
    rng = random.Random(7)
    now = datetime.now(UTC)
    statements = commits = 0.0
    cpu_started = time.process_time()
    for _ in range(batches):
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for _ in range(batch):
            data = CheckinIn(
                mood=rng.randint(2, 9), anxiety=rng.randint(0, 10), energy=3, sleep_hours=7.5,
                tags=["calm", "work"], note=rng.choice(NOTES), sharing="shared",
            )  # fmt: skip
            entry_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            _store(conn, now, patient_id=rng.choice(patients), entry_id=entry_id, write=checkin_write(data))
        written = time.perf_counter()
        conn.execute("COMMIT")
        statements += written - started
        commits += time.perf_counter() - written
    cpu = time.process_time() - cpu_started
    wal = db.with_name(db.name + "-wal")
    frames = (wal.stat().st_size - WAL_HEADER) // (page_size + WAL_FRAME_HEADER)
    conn.close()  # the last connection checkpoints and removes the WAL
    n = batches * batch
    return (
        f"per check-in: statements {statements / n * 1e6:.0f} µs, COMMIT share {commits / n * 1e6:.0f} µs,"
        f" CPU {cpu / n * 1e6:.0f} µs; {frames / batches:.1f} WAL pages per COMMIT of {batch}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--batch", type=int, default=5, help="check-ins per COMMIT")
    parser.add_argument("--drop", nargs="*", default=[], help="indexes or triggers to drop from the copy first")
    parser.add_argument("--sql", nargs="*", default=[], help="statements run on the copy first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=run.DATA_DIR, prefix="writer-") as tmp:
        db = Path(tmp) / "afterglow.db"
        shutil.copyfile(run.database_for(100), db)  # N=100 only: the N=10,000 file is 7.5 GB
        print(measure(db, args.batches, args.batch, args.drop, args.sql))


if __name__ == "__main__":
    main()
