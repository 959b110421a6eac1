-- The patient's journal: ketamine sessions, entries with their versions, prompt sets, safety plans,
-- safety flags, per-patient settings and questionnaire schedules.

CREATE TABLE patient_settings (
    patient_id       TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    default_sharing  TEXT NOT NULL DEFAULT 'shared' CHECK (default_sharing IN ('private', 'shared', 'discuss')),
    reminder_time    TEXT NOT NULL DEFAULT '20:00' CHECK (reminder_time GLOB '[0-2][0-9]:[0-5][0-9]'),
    onboarded_at     TEXT,
    updated_at       TEXT NOT NULL
) WITHOUT ROWID;

-- Ketamine sessions are recorded by the therapist; the patient sees their own.
CREATE TABLE kap_sessions (
    id             TEXT PRIMARY KEY,
    patient_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scheduled_for  TEXT NOT NULL,
    route          TEXT NOT NULL CHECK (route IN ('iv', 'im', 'intranasal', 'sublingual', 'oral')),
    dose_mg        REAL CHECK (dose_mg IS NULL OR (dose_mg > 0 AND dose_mg <= 1000)),
    series         TEXT NOT NULL CHECK (series IN ('induction', 'booster')),
    setting        TEXT NOT NULL DEFAULT '',
    created_by     TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    cancelled_at   TEXT
);
CREATE INDEX kap_sessions_patient ON kap_sessions (patient_id, scheduled_for);

-- Prompt sets are data, versioned by id (integration-v1, integration-v2, …): an answer keeps the prompt
-- text it was given, so editing a prompt never rewrites what a patient already answered.
CREATE TABLE prompt_sets (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('intention', 'quick_capture', 'integration')),
    version     INTEGER NOT NULL,
    title       TEXT NOT NULL,
    intro       TEXT NOT NULL DEFAULT '',
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at  TEXT NOT NULL,
    UNIQUE (kind, version)
);

CREATE TABLE prompts (
    prompt_set_id  TEXT NOT NULL REFERENCES prompt_sets (id),
    position       INTEGER NOT NULL,
    prompt_id      TEXT NOT NULL,
    text           TEXT NOT NULL,
    hint           TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (prompt_set_id, prompt_id),
    UNIQUE (prompt_set_id, position)
) WITHOUT ROWID;

-- One table for every kind of entry, the kind-specific fields in a JSON body validated at the edge.
-- One table means one implementation of what every entry must do the same way: idempotent PUT, versions,
-- the stale-update 409, sharing, deletion, export. Fields the workspace queries are generated columns.
CREATE TABLE entries (
    id              TEXT PRIMARY KEY,
    patient_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('checkin', 'reflection', 'aftercare', 'questionnaire')),
    subkind         TEXT,
    kap_session_id  TEXT REFERENCES kap_sessions (id) ON DELETE SET NULL,
    sharing         TEXT NOT NULL CHECK (sharing IN ('private', 'shared', 'discuss')),
    status          TEXT NOT NULL DEFAULT 'final' CHECK (status IN ('draft', 'final')),
    local_date      TEXT NOT NULL CHECK (local_date GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]'),
    timezone        TEXT NOT NULL,
    body            TEXT NOT NULL CHECK (json_valid(body)),
    body_hash       TEXT NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    mood            INTEGER GENERATED ALWAYS AS (CASE WHEN kind = 'checkin' THEN json_extract(body, '$.mood') END) VIRTUAL,
    anxiety         INTEGER GENERATED ALWAYS AS (CASE WHEN kind = 'checkin' THEN json_extract(body, '$.anxiety') END) VIRTUAL,
    score           REAL GENERATED ALWAYS AS (CASE WHEN kind = 'questionnaire' THEN json_extract(body, '$.score') END) VIRTUAL
);
CREATE INDEX entries_patient_kind ON entries (patient_id, kind, created_at);
CREATE INDEX entries_patient_date ON entries (patient_id, local_date);
CREATE INDEX entries_session ON entries (kap_session_id);

-- Every earlier state of an entry, so an update never loses what was there before.
CREATE TABLE entry_versions (
    entry_id    TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    patient_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    sharing     TEXT NOT NULL,
    status      TEXT NOT NULL,
    local_date  TEXT NOT NULL,
    body        TEXT NOT NULL,
    saved_at    TEXT NOT NULL,
    PRIMARY KEY (entry_id, version)
) WITHOUT ROWID;
CREATE INDEX entry_versions_patient ON entry_versions (patient_id);

-- Stanley–Brown safety plan: one per patient, editable by the patient and their therapists.
CREATE TABLE safety_plans (
    patient_id  TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL CHECK (json_valid(body)),
    updated_at  TEXT NOT NULL,
    updated_by  TEXT REFERENCES users (id) ON DELETE SET NULL
) WITHOUT ROWID;

CREATE TABLE safety_plan_versions (
    patient_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL,
    saved_at    TEXT NOT NULL,
    saved_by    TEXT REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (patient_id, version)
) WITHOUT ROWID;

-- Safety flags for the care team. A flag names what raised it (kind, the entry's id and kind), never
-- the entry's text; it outlives the entry so a deleted entry cannot silently erase a safety signal.
CREATE TABLE flags (
    id               TEXT PRIMARY KEY,
    patient_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    severity         TEXT NOT NULL CHECK (severity IN ('high', 'medium', 'low')),
    entry_id         TEXT,
    entry_kind       TEXT,
    reason           TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    acknowledged_at  TEXT,
    acknowledged_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    ack_note         TEXT
);
CREATE INDEX flags_patient_open ON flags (patient_id, acknowledged_at, created_at);
CREATE INDEX flags_entry ON flags (entry_id, kind);

-- The questionnaire schedule (PRODUCT.md §4), adjustable per patient by their therapist.
CREATE TABLE questionnaire_schedules (
    patient_id               TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    induction_interval_days  INTEGER NOT NULL DEFAULT 7 CHECK (induction_interval_days BETWEEN 1 AND 90),
    maintenance_interval_days INTEGER NOT NULL DEFAULT 14 CHECK (maintenance_interval_days BETWEEN 1 AND 180),
    at_booster               INTEGER NOT NULL DEFAULT 1 CHECK (at_booster IN (0, 1)),
    ebi_after_session        INTEGER NOT NULL DEFAULT 1 CHECK (ebi_after_session IN (0, 1)),
    window_days              INTEGER NOT NULL DEFAULT 3 CHECK (window_days BETWEEN 1 AND 14),
    updated_at               TEXT NOT NULL,
    updated_by               TEXT REFERENCES users (id) ON DELETE SET NULL
) WITHOUT ROWID;

INSERT INTO prompt_sets (id, kind, version, title, intro, created_at) VALUES
    ('intention-v1', 'intention', 1, 'Setting an intention',
     'Before your session: a few words are enough. Skip anything you like.', '2026-11-21T00:00:00.000000Z'),
    ('quick-capture-v1', 'quick_capture', 1, 'Quick capture',
     'Capture first, don''t interpret. Whatever is there right now.', '2026-11-21T00:00:00.000000Z'),
    ('integration-v1', 'integration', 1, 'Integration reflection',
     'One question at a time. Every question is optional, and your answers save as you type.',
     '2026-11-21T00:00:00.000000Z');

INSERT INTO prompts (prompt_set_id, position, prompt_id, text, hint) VALUES
    ('intention-v1', 1, 'intention', 'What is your intention for this session?', 'A word, a question, a direction.'),
    ('intention-v1', 2, 'hopes', 'What do you hope for?', ''),
    ('intention-v1', 3, 'fears', 'What are you afraid of, or unsure about?', ''),
    ('intention-v1', 4, 'soothes', 'What soothes you when things get hard?', 'A breath, a song, a person, a phrase.'),
    ('intention-v1', 5, 'who_to_tell', 'Who will you tell about this session?', ''),
    ('quick-capture-v1', 1, 'what_happened', 'What happened? Write whatever comes, in any order.', 'No need to make sense of it yet.'),
    ('quick-capture-v1', 2, 'three_words', 'Three words for it', 'Optional.'),
    ('integration-v1', 1, 'intention_revisited', 'Your intention, revisited: how does it look now?', ''),
    ('integration-v1', 2, 'what_happened', 'What happened during the session?', ''),
    ('integration-v1', 3, 'body', 'Your body: where were the sensations, and what lingers?', ''),
    ('integration-v1', 4, 'emotions', 'What emotions came up during the session, and after?', ''),
    ('integration-v1', 5, 'images', 'Images, symbols or memories that came to you', ''),
    ('integration-v1', 6, 'moments', 'Surprising, difficult or beautiful moments', ''),
    ('integration-v1', 7, 'insight', 'What insight, if any, are you taking from it?', ''),
    ('integration-v1', 8, 'remember', 'One thing you want to remember', ''),
    ('integration-v1', 9, 'action', 'One concrete action, and who you will share it with', ''),
    ('integration-v1', 10, 'themes', 'Themes that keep repeating across your sessions', '');
