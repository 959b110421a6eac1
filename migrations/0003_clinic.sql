-- The therapist's workspace: clinic settings, appointments, clinician notes, review marks, pattern
-- flags and full-text search over what patients shared.

ALTER TABLE clinics ADD COLUMN missed_checkin_days INTEGER NOT NULL DEFAULT 3 CHECK (missed_checkin_days BETWEEN 1 AND 60);
-- Defaults for new patients' questionnaire schedules (a therapist can still change one patient's).
ALTER TABLE clinics ADD COLUMN schedule_defaults TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(schedule_defaults));

-- Integration appointments and intakes. Ketamine sessions keep their clinical record in kap_sessions.
CREATE TABLE appointments (
    id                TEXT PRIMARY KEY,
    patient_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    therapist_id      TEXT REFERENCES users (id) ON DELETE SET NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('integration', 'intake')),
    starts_at         TEXT NOT NULL,
    duration_minutes  INTEGER NOT NULL DEFAULT 50 CHECK (duration_minutes BETWEEN 5 AND 480),
    created_by        TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    cancelled_at      TEXT
);
CREATE INDEX appointments_patient ON appointments (patient_id, starts_at);
CREATE INDEX appointments_time ON appointments (starts_at);
CREATE INDEX kap_sessions_time ON kap_sessions (scheduled_for);

-- Clinician notes: the care team's own, kept apart from anything the patient wrote or can see.
CREATE TABLE clinician_notes (
    id              TEXT PRIMARY KEY,
    patient_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    appointment_id  TEXT NOT NULL REFERENCES appointments (id) ON DELETE CASCADE,
    author_id       TEXT REFERENCES users (id) ON DELETE SET NULL,
    body            TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX clinician_notes_appointment ON clinician_notes (appointment_id, created_at);
CREATE INDEX clinician_notes_patient ON clinician_notes (patient_id);

-- Which version of which entry a therapist has read ("Mark reviewed"); a newer version shows as new.
CREATE TABLE entry_reviews (
    therapist_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    entry_id      TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    patient_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    reviewed_at   TEXT NOT NULL,
    PRIMARY KEY (therapist_id, entry_id)
) WITHOUT ROWID;
CREATE INDEX entry_reviews_patient ON entry_reviews (patient_id, therapist_id);

-- Pattern flags (missed check-ins, a drop in the weekly mood average) have no single entry: a key says
-- which occurrence they are about, so the watcher raises each occurrence once.
ALTER TABLE flags ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX flags_dedupe ON flags (patient_id, kind, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX flags_open ON flags (acknowledged_at, created_at);

-- The text a therapist's search may reach, written by the app with each entry.
ALTER TABLE entries ADD COLUMN search_text TEXT NOT NULL DEFAULT '';

-- Full-text search over shared, finished entries only. External content (the text lives once, in
-- entries); the triggers index an entry only while its care team may see it, so making an entry
-- private removes it from every search at once, in the same transaction.
CREATE VIRTUAL TABLE entries_fts USING fts5 (
    search_text,
    content = 'entries',
    content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries
WHEN new.sharing IN ('shared', 'discuss') AND new.status = 'final'
BEGIN
    INSERT INTO entries_fts (rowid, search_text) VALUES (new.rowid, new.search_text);
END;

CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries
WHEN old.sharing IN ('shared', 'discuss') AND old.status = 'final'
BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
END;

-- One trigger, so removing the old text always happens before adding the new (order matters to FTS5).
CREATE TRIGGER entries_fts_update AFTER UPDATE ON entries
BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, search_text)
        SELECT 'delete', old.rowid, old.search_text WHERE old.sharing IN ('shared', 'discuss') AND old.status = 'final';
    INSERT INTO entries_fts (rowid, search_text)
        SELECT new.rowid, new.search_text WHERE new.sharing IN ('shared', 'discuss') AND new.status = 'final';
END;
