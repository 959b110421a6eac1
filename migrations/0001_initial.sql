-- Foundation: the clinic, its people, sign-in sessions, invitations, care teams and the audit trail.
-- Timestamps are fixed-width UTC text (2026-11-21T23:18:33.000000Z) so they compare as strings.

CREATE TABLE clinics (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone      TEXT NOT NULL DEFAULT 'America/New_York',
    -- Crisis lines shown on the "Need help now?" page, as JSON [{"label", "number", "kind"}].
    crisis_lines  TEXT NOT NULL DEFAULT '[{"label":"988 Suicide & Crisis Lifeline (call or text)","number":"988","kind":"call_or_text"},{"label":"Emergency services","number":"911","kind":"call"}]',
    created_at    TEXT NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    clinic_id      INTEGER NOT NULL REFERENCES clinics (id),
    role           TEXT NOT NULL CHECK (role IN ('admin', 'therapist', 'patient')),
    email          TEXT NOT NULL UNIQUE CHECK (email = lower(trim(email)) AND length(email) BETWEEN 3 AND 254),
    display_name   TEXT NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    password_hash  TEXT NOT NULL,
    timezone       TEXT NOT NULL DEFAULT 'UTC',
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    disabled_at    TEXT
);
CREATE INDEX users_clinic_role ON users (clinic_id, role);

-- Only a hash of the session id is stored: a copy of the database does not let anyone sign in.
CREATE TABLE sessions (
    id_hash         TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    client_address  TEXT NOT NULL,
    user_agent      TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);

-- Failed sign-ins live in the database so every worker process counts the same attempts.
CREATE TABLE login_failures (
    id              INTEGER PRIMARY KEY,
    email           TEXT NOT NULL,
    client_address  TEXT NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, at);
CREATE INDEX login_failures_address ON login_failures (client_address, at);

CREATE TABLE setup_tokens (
    token_hash  TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
) WITHOUT ROWID;

CREATE TABLE invitations (
    id                TEXT PRIMARY KEY,
    token_hash        TEXT NOT NULL UNIQUE,
    clinic_id         INTEGER NOT NULL REFERENCES clinics (id),
    role              TEXT NOT NULL CHECK (role IN ('therapist', 'patient')),
    email             TEXT NOT NULL,
    display_name      TEXT NOT NULL,
    invited_by        TEXT NOT NULL REFERENCES users (id),
    created_at        TEXT NOT NULL,
    expires_at        TEXT NOT NULL,
    accepted_at       TEXT,
    accepted_user_id  TEXT REFERENCES users (id),
    revoked_at        TEXT
);
CREATE INDEX invitations_email ON invitations (email);
CREATE INDEX invitations_invited_by ON invitations (invited_by, created_at);

CREATE TABLE care_team (
    patient_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    therapist_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at      TEXT NOT NULL,
    added_by      TEXT,
    PRIMARY KEY (patient_id, therapist_id)
) WITHOUT ROWID;
CREATE INDEX care_team_therapist ON care_team (therapist_id, patient_id);

-- Append-only and hash-chained: each row's hash covers its fields and the previous row's hash, so
-- `afterglow audit verify` finds any row that was changed or removed behind the application's back.
-- Never the text of an entry: only who, what, which patient and object, when and from where.
CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              TEXT NOT NULL,
    actor_id        TEXT,
    actor_role      TEXT,
    action          TEXT NOT NULL,
    patient_id      TEXT,
    object_type     TEXT,
    object_id       TEXT,
    client_address  TEXT,
    detail          TEXT NOT NULL DEFAULT '{}',
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
);
CREATE INDEX audit_log_patient ON audit_log (patient_id, id);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
