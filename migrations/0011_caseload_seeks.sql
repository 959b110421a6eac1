-- The caseload as one statement of seeks. Most of its cost was reading, for every patient, pages of three
-- indexes of entries (and of each questionnaire's row and JSON body for its score) and walking up to 100
-- entries for "unreviewed"; and every request's audit row makes each reader start again from an empty page
-- cache. What the caseload shows of a patient that does not depend on the day is now kept in one short row.

-- caseload_facts is the definition: per patient, from what a care team may see (shared or to discuss, and
-- finished), the last check-in and the first (baseline) and latest PHQ-9 and GAD-7. Each column is one seek.
CREATE VIEW caseload_facts AS
SELECT u.id AS patient_id,
    (SELECT e.created_at FROM entries e WHERE e.patient_id = u.id AND e.kind = 'checkin'
        AND e.sharing IN ('shared', 'discuss') AND e.status = 'final'
        ORDER BY e.created_at DESC LIMIT 1) AS last_checkin_at,
    (SELECT e.score FROM entries e WHERE e.patient_id = u.id AND e.kind = 'questionnaire' AND e.subkind = 'phq9'
        AND e.sharing IN ('shared', 'discuss') AND e.status = 'final'
        ORDER BY e.local_date, e.created_at LIMIT 1) AS phq9_first,
    (SELECT e.score FROM entries e WHERE e.patient_id = u.id AND e.kind = 'questionnaire' AND e.subkind = 'phq9'
        AND e.sharing IN ('shared', 'discuss') AND e.status = 'final'
        ORDER BY e.local_date DESC, e.created_at DESC LIMIT 1) AS phq9_latest,
    (SELECT e.local_date FROM entries e WHERE e.patient_id = u.id AND e.kind = 'questionnaire' AND e.subkind = 'phq9'
        AND e.sharing IN ('shared', 'discuss') AND e.status = 'final'
        ORDER BY e.local_date DESC, e.created_at DESC LIMIT 1) AS phq9_latest_date,
    (SELECT e.score FROM entries e WHERE e.patient_id = u.id AND e.kind = 'questionnaire' AND e.subkind = 'gad7'
        AND e.sharing IN ('shared', 'discuss') AND e.status = 'final'
        ORDER BY e.local_date, e.created_at LIMIT 1) AS gad7_first,
    (SELECT e.score FROM entries e WHERE e.patient_id = u.id AND e.kind = 'questionnaire' AND e.subkind = 'gad7'
        AND e.sharing IN ('shared', 'discuss') AND e.status = 'final'
        ORDER BY e.local_date DESC, e.created_at DESC LIMIT 1) AS gad7_latest,
    (SELECT e.local_date FROM entries e WHERE e.patient_id = u.id AND e.kind = 'questionnaire' AND e.subkind = 'gad7'
        AND e.sharing IN ('shared', 'discuss') AND e.status = 'final'
        ORDER BY e.local_date DESC, e.created_at DESC LIMIT 1) AS gad7_latest_date
FROM users u;

-- The kept copy, a row per patient who has written anything (no row: no facts, nothing visible). The
-- triggers below keep it right in the same transaction as every write to entries: an insert, an update, a
-- delete (ON DELETE CASCADE fires delete triggers too; nothing writes entries with INSERT OR REPLACE, whose
-- implicit delete would not).
-- - The facts are read again from caseload_facts whenever a check-in or a PHQ-9/GAD-7 changes in any way.
-- - visible_entries, the number of entries a care team may see, moves by one as an entry becomes visible or
--   stops being visible (counting again would walk the patient's history). A therapist with neither a
--   review mark nor a watermark for a patient has all of them unreviewed: the caseload reads this number
--   instead of walking up to 100 entries of every such patient.
-- tests/test_clinic_unreviewed.py compares the row with caseload_facts and a count after each kind of change.
CREATE TABLE patient_summaries (
    patient_id        TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    visible_entries   INTEGER NOT NULL,
    last_checkin_at   TEXT,
    phq9_first        REAL,
    phq9_latest       REAL,
    phq9_latest_date  TEXT,
    gad7_first        REAL,
    gad7_latest       REAL,
    gad7_latest_date  TEXT
) WITHOUT ROWID;

INSERT INTO patient_summaries (patient_id, visible_entries)
SELECT patient_id, sum(sharing IN ('shared', 'discuss') AND status = 'final') FROM entries GROUP BY patient_id;
UPDATE patient_summaries SET (last_checkin_at, phq9_first, phq9_latest, phq9_latest_date, gad7_first, gad7_latest,
        gad7_latest_date) = (SELECT last_checkin_at, phq9_first, phq9_latest, phq9_latest_date, gad7_first,
        gad7_latest, gad7_latest_date FROM caseload_facts f WHERE f.patient_id = patient_summaries.patient_id);

CREATE TRIGGER patient_summaries_insert AFTER INSERT ON entries
BEGIN
    INSERT INTO patient_summaries (patient_id, visible_entries)
        VALUES (new.patient_id, new.sharing IN ('shared', 'discuss') AND new.status = 'final')
        ON CONFLICT (patient_id) DO UPDATE SET visible_entries = visible_entries + excluded.visible_entries;
    UPDATE patient_summaries SET (last_checkin_at, phq9_first, phq9_latest, phq9_latest_date, gad7_first,
            gad7_latest, gad7_latest_date) = (SELECT last_checkin_at, phq9_first, phq9_latest, phq9_latest_date,
            gad7_first, gad7_latest, gad7_latest_date FROM caseload_facts f WHERE f.patient_id = new.patient_id)
        WHERE patient_id = new.patient_id
            AND (new.kind = 'checkin' OR (new.kind = 'questionnaire' AND new.subkind IN ('phq9', 'gad7')));
END;

-- UPDATEs, not upserts: when a patient is erased their row may already be gone.
CREATE TRIGGER patient_summaries_delete AFTER DELETE ON entries
BEGIN
    UPDATE patient_summaries SET visible_entries = visible_entries - 1
        WHERE patient_id = old.patient_id AND old.sharing IN ('shared', 'discuss') AND old.status = 'final';
    UPDATE patient_summaries SET (last_checkin_at, phq9_first, phq9_latest, phq9_latest_date, gad7_first,
            gad7_latest, gad7_latest_date) = (SELECT last_checkin_at, phq9_first, phq9_latest, phq9_latest_date,
            gad7_first, gad7_latest, gad7_latest_date FROM caseload_facts f WHERE f.patient_id = old.patient_id)
        WHERE patient_id = old.patient_id
            AND (old.kind = 'checkin' OR (old.kind = 'questionnaire' AND old.subkind IN ('phq9', 'gad7')));
END;

-- An update counts as the delete of the old row and the insert of the new one, whatever changed.
CREATE TRIGGER patient_summaries_update_count AFTER UPDATE ON entries
WHEN old.patient_id IS NOT new.patient_id
    OR (old.sharing IN ('shared', 'discuss') AND old.status = 'final')
        IS NOT (new.sharing IN ('shared', 'discuss') AND new.status = 'final')
BEGIN
    UPDATE patient_summaries SET visible_entries = visible_entries - 1
        WHERE patient_id = old.patient_id AND old.sharing IN ('shared', 'discuss') AND old.status = 'final';
    INSERT INTO patient_summaries (patient_id, visible_entries)
        VALUES (new.patient_id, new.sharing IN ('shared', 'discuss') AND new.status = 'final')
        ON CONFLICT (patient_id) DO UPDATE SET visible_entries = visible_entries + excluded.visible_entries;
END;

CREATE TRIGGER patient_summaries_update_facts AFTER UPDATE ON entries
WHEN old.kind = 'checkin' OR (old.kind = 'questionnaire' AND old.subkind IN ('phq9', 'gad7'))
    OR new.kind = 'checkin' OR (new.kind = 'questionnaire' AND new.subkind IN ('phq9', 'gad7'))
BEGIN
    UPDATE patient_summaries SET (last_checkin_at, phq9_first, phq9_latest, phq9_latest_date, gad7_first,
            gad7_latest, gad7_latest_date) = (SELECT last_checkin_at, phq9_first, phq9_latest, phq9_latest_date,
            gad7_first, gad7_latest, gad7_latest_date FROM caseload_facts f
            WHERE f.patient_id = patient_summaries.patient_id)
        WHERE patient_id IN (old.patient_id, new.patient_id);
END;

-- First and latest PHQ-9/GAD-7 with their score, from the index alone (score is a generated column, stored
-- here): the facts above, and the brief's baselines. It replaces 0009's index of the same order without the
-- score, which sent each seek on to the row and its JSON body.
CREATE INDEX entries_visible_score_values ON entries (patient_id, subkind, local_date, created_at, score)
    WHERE kind = 'questionnaire' AND sharing IN ('shared', 'discuss') AND status = 'final';
DROP INDEX entries_visible_scores;

-- The next integration appointment and the next ketamine session of a patient: one seek each, instead of
-- reading the row of every future appointment to skip cancelled ones and intakes.
CREATE INDEX appointments_next_integration ON appointments (patient_id, starts_at)
    WHERE kind = 'integration' AND cancelled_at IS NULL;
CREATE INDEX kap_sessions_next ON kap_sessions (patient_id, scheduled_for) WHERE cancelled_at IS NULL;
