"""The writer in a process of its own (server/writer_process.py), as ``afterglow serve`` runs it.

The journal's, the sessions' and the audit trail's writes run there: the tests below that are imported from
other modules run again here against an app whose writer is a process, so their results, rows and refusals
(404, 409 with the stored copy, 422 naming the field) cross the socket intact. The rest is the process's
life: what happens to writes it never answered, and that it never outlives its worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from litestar import Litestar

from server.app import create_app
from server.settings import Settings
from server.writer_process import WriterStopped
from tests import test_audit, test_journal_entries, test_sign_in
from tests.conftest import FrozenClock
from tests.test_group_commit import _held, _insert, _open, _stored, wait_for


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Litestar:
    return create_app(settings, clock=clock, writer_process=True)


test_put_creates_replays_and_keeps_the_previous_version = (
    test_journal_entries.test_put_creates_replays_and_keeps_the_previous_version
)
test_an_edit_based_on_an_old_version_is_refused_with_the_stored_copy = (
    test_journal_entries.test_an_edit_based_on_an_old_version_is_refused_with_the_stored_copy
)
test_another_patients_entry_id_is_404_and_left_alone = (
    test_journal_entries.test_another_patients_entry_id_is_404_and_left_alone
)
test_an_invalid_entry_is_refused_naming_the_field_and_nothing_changes = (
    test_journal_entries.test_an_invalid_entry_is_refused_naming_the_field_and_nothing_changes
)
test_an_entry_cannot_link_another_patients_session = (
    test_journal_entries.test_an_entry_cannot_link_another_patients_session
)
test_a_therapist_session_ends_after_31_idle_minutes = test_sign_in.test_a_therapist_session_ends_after_31_idle_minutes
test_a_therapist_session_stays_valid_with_activity_every_29_minutes = (
    test_sign_in.test_a_therapist_session_stays_valid_with_activity_every_29_minutes
)
test_a_clinician_reading_a_patient_is_recorded = test_audit.test_a_clinician_reading_a_patient_is_recorded


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent has not collected it


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_writes_a_dead_writer_never_answered_fail_and_the_next_ones_are_written(tmp_path: Path) -> None:
    """Killed mid-batch, the process answers nothing: its unanswered writes fail (WriterStopped, a 500 that
    the phone's outbox retries with the same id) and the batch it held is not committed. The worker goes on
    writing on its own thread."""
    path = tmp_path / "g.db"
    running, release = tmp_path / "running", tmp_path / "release"

    async def scenario() -> tuple[object, str, int | None]:
        db = await _open(path, True)
        try:
            pid = db.writer_pid
            assert pid is not None
            held = asyncio.create_task(db.write(_held, "held", running, release))
            assert await asyncio.to_thread(wait_for, running)
            os.kill(pid, signal.SIGKILL)
            outcome = (await asyncio.gather(held, return_exceptions=True))[0]
            after = await db.write(_insert, "after")
            return outcome, after, db.writer_pid
        finally:
            await db.close()

    outcome, after, pid_after = asyncio.run(scenario())
    assert isinstance(outcome, WriterStopped)
    assert after == "after" and pid_after is None
    assert _stored(path) == ["after"]


def _unpicklable(conn: sqlite3.Connection, name: str) -> object:
    _insert(conn, name)
    return lambda: None


def test_a_write_whose_outcome_or_function_cannot_cross_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "g.db"

    async def scenario() -> list[object]:
        db = await _open(path, True)
        try:
            return await asyncio.gather(
                db.write(_insert, "a"),
                db.write(_unpicklable, "b"),  # its rows are written; only its answer cannot come back
                db.write(lambda conn: _insert(conn, "c")),  # a closure cannot be sent at all
                db.write(_insert, "d"),
                return_exceptions=True,
            )
        finally:
            await db.close()

    a, unpicklable, closure, d = asyncio.run(scenario())
    assert (a, d) == ("a", "d")
    assert isinstance(unpicklable, sqlite3.InterfaceError)
    assert isinstance(closure, TypeError)
    assert _stored(path) == ["a", "b", "d"]


def test_the_writer_process_ends_with_the_database_and_with_its_worker(tmp_path: Path) -> None:
    path = tmp_path / "g.db"

    async def closed_normally() -> int:
        db = await _open(path, True)
        pid = db.writer_pid
        assert pid is not None and _alive(pid)
        await db.close()
        return pid

    assert not _alive(asyncio.run(closed_normally()))

    # A worker killed outright never closes anything: its writer sees the socket close and exits.
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import asyncio, sys\n"
            "from pathlib import Path\n"
            "from server.db import Database\n"
            "async def main():\n"
            "    db = Database(Path(sys.argv[1]), readers=0, writer_process=True)\n"
            "    await db.open()\n"
            "    print(db.writer_pid, flush=True)\n"
            "    await asyncio.sleep(60)\n"
            "asyncio.run(main())\n",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        writer_pid = int(worker.stdout.readline())
        assert _alive(writer_pid)
        worker.kill()
        worker.wait(10)
        assert _gone_within(writer_pid, 10)
    finally:
        worker.kill()
