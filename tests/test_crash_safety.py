"""Crash-safety: the real server is SIGKILLed while patients write, and restarted, 20 times over. Every
write it acknowledged must be there afterwards, with its exact body, once, and the database must pass
``PRAGMA integrity_check``. The cycle itself lives in tests/bench/crash_cycles.py, which runs 500 of them
on demand; a failure names the random seed, and ``AFTERGLOW_CRASH_SEED=N`` replays that run."""

from __future__ import annotations

import os
import random
from pathlib import Path

from tests.bench import crash_cycles

CYCLES = 20


def test_acknowledged_writes_survive_sigkill_and_restart(tmp_path: Path) -> None:
    seed = int(os.environ.get("AFTERGLOW_CRASH_SEED", random.randrange(2**32)))
    said: list[str] = []

    summary = crash_cycles.run(tmp_path / "var", cycles=CYCLES, seed=seed, say=said.append)

    print(f"seed {seed}: {summary.text()}")  # shown with -s, or when the test fails
    assert summary.cycles == CYCLES
    # Every cycle killed the server after at least one acknowledged write, and each was checked.
    assert summary.acknowledged >= CYCLES
    assert summary.verified_in_database == summary.acknowledged == summary.attempted
