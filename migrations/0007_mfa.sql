-- Two-factor sign-in (TOTP) with single-use recovery codes, and sessions that are half-way through it.

-- Required for therapists and admins unless the clinic turns it off.
ALTER TABLE clinics ADD COLUMN mfa_required_for_clinicians INTEGER NOT NULL DEFAULT 1
    CHECK (mfa_required_for_clinicians IN (0, 1));

CREATE TABLE mfa_factors (
    user_id         TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    enabled_at      TEXT,
    -- The last TOTP time step accepted: a code is good once, even inside its 30-second window.
    last_used_step  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Only hashes; each code works once.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    used_at    TEXT,
    PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;

-- 'mfa': the password was right, the second factor is still to come. 'enrol': the clinic requires a
-- second factor this clinician has not set up yet. Neither reaches anything but finishing sign-in.
ALTER TABLE sessions ADD COLUMN stage TEXT NOT NULL DEFAULT 'full' CHECK (stage IN ('full', 'mfa', 'enrol'));
-- What the "your sessions" list calls a session (the id itself is never shown, even hashed).
ALTER TABLE sessions ADD COLUMN public_id TEXT;
