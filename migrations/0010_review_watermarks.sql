-- "Unreviewed" without walking a patient's whole history (issue 7: the caseload spent most of its time
-- comparing every entry of every patient with the therapist's review marks).
--
-- "Mark reviewed" on a brief records every visible entry changed up to a moment; that moment is kept here
-- per therapist and patient. An entry changed before it is reviewed: any change to an entry (its text, its
-- sharing, its status) moves its updated_at past the moment, so only entries changed since are compared
-- with entry_reviews. Without a row, every visible entry is compared, as before.
CREATE TABLE review_watermarks (
    therapist_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    patient_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reviewed_up_to  TEXT NOT NULL,
    PRIMARY KEY (therapist_id, patient_id)
) WITHOUT ROWID;

-- A patient's visible entries in the order they last changed, with what the comparison needs: a range
-- from the watermark, read from the index alone. It replaces 0009's index in (patient, id) order.
CREATE INDEX entries_visible_updated ON entries (patient_id, updated_at, id, version, sharing, status)
    WHERE sharing IN ('shared', 'discuss') AND status = 'final';
DROP INDEX entries_visible_version;
