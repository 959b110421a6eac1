-- Reminders: which kinds each patient wants and when to keep quiet, the devices that receive Web Push,
-- and one row per reminder sent, claimed under a unique key so that several scheduler processes send it once.

CREATE TABLE reminder_preferences (
    patient_id          TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    daily_checkin       INTEGER NOT NULL DEFAULT 1 CHECK (daily_checkin IN (0, 1)),
    session_intention   INTEGER NOT NULL DEFAULT 1 CHECK (session_intention IN (0, 1)),
    session_capture     INTEGER NOT NULL DEFAULT 1 CHECK (session_capture IN (0, 1)),
    session_reflection  INTEGER NOT NULL DEFAULT 1 CHECK (session_reflection IN (0, 1)),
    questionnaires      INTEGER NOT NULL DEFAULT 1 CHECK (questionnaires IN (0, 1)),
    -- Local times (HH:MM) in the patient's time zone; both NULL means no quiet hours. May wrap midnight.
    quiet_start         TEXT CHECK (quiet_start IS NULL OR quiet_start GLOB '[0-2][0-9]:[0-5][0-9]'),
    quiet_end           TEXT CHECK (quiet_end IS NULL OR quiet_end GLOB '[0-2][0-9]:[0-5][0-9]'),
    updated_at          TEXT NOT NULL,
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
) WITHOUT ROWID;

-- One row per device that allowed notifications. It belongs to the sign-in that created it: signing out,
-- an expired session or a new sign-in on that phone deletes it, so a shared phone stops getting the
-- previous person's reminders. The page registers it again while its owner is signed in.
CREATE TABLE push_subscriptions (
    id               TEXT PRIMARY KEY,  -- sha256 of the endpoint, hex
    patient_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_hash     TEXT REFERENCES sessions (id_hash) ON DELETE CASCADE,
    endpoint         TEXT NOT NULL UNIQUE,
    p256dh           TEXT NOT NULL,
    auth             TEXT NOT NULL,
    user_agent       TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL,
    last_success_at  TEXT,
    last_failure_at  TEXT
);
CREATE INDEX push_subscriptions_patient ON push_subscriptions (patient_id);
CREATE INDEX push_subscriptions_session ON push_subscriptions (session_hash);

-- A reminder that was due and claimed for sending. The unique key (patient, kind, occasion) is the claim:
-- INSERT ... ON CONFLICT DO NOTHING inside a write transaction succeeds for exactly one scheduler.
-- `occasion` is the local date (daily check-in), the ketamine session's id, or instrument:window-opening.
CREATE TABLE reminders_sent (
    patient_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('checkin', 'intention', 'capture', 'reflection', 'questionnaire')),
    occasion     TEXT NOT NULL,
    claimed_at   TEXT NOT NULL,
    claimed_by   TEXT NOT NULL,
    delivered    INTEGER NOT NULL DEFAULT 0,  -- devices the push service accepted it for
    PRIMARY KEY (patient_id, kind, occasion)
) WITHOUT ROWID;
CREATE INDEX reminders_sent_claimed ON reminders_sent (claimed_at);
