-- Scheduled backups (server/backup.py). Every worker process runs the schedule; the first to insert the
-- row of an interval ("slot") takes that backup and the others skip it, so each interval gives one file.

CREATE TABLE backup_runs (
    slot         TEXT PRIMARY KEY,  -- start of the interval, fixed-width UTC
    started_at   TEXT NOT NULL,
    finished_at  TEXT,              -- NULL while running, or if the process died during the backup
    file_name    TEXT,              -- inside AFTERGLOW_BACKUP_DIR
    size_bytes   INTEGER,
    error        TEXT               -- why it failed, or NULL
) WITHOUT ROWID;
