-- The caseload's open flag counts kept with the rest of each patient's caseload facts (0011): two more
-- b-trees fewer to read again, per patient, after every commit empties the readers' page caches (issue 7).
-- The counts are taken again from flags (a seek in flags_patient_open) whenever a patient's flags change,
-- in the same transaction: raised, acknowledged, or deleted with the patient.

ALTER TABLE patient_summaries ADD COLUMN open_flags INTEGER NOT NULL DEFAULT 0;
ALTER TABLE patient_summaries ADD COLUMN open_high_flags INTEGER NOT NULL DEFAULT 0;

-- A flag may come before any entry (a missed check-in): such a patient gets a row here too.
INSERT INTO patient_summaries (patient_id, visible_entries)
SELECT DISTINCT patient_id, 0 FROM flags WHERE true
ON CONFLICT (patient_id) DO NOTHING;

UPDATE patient_summaries SET
    open_flags = (SELECT count(*) FROM flags f
        WHERE f.patient_id = patient_summaries.patient_id AND f.acknowledged_at IS NULL),
    open_high_flags = (SELECT count(*) FROM flags f
        WHERE f.patient_id = patient_summaries.patient_id AND f.acknowledged_at IS NULL AND f.severity = 'high');

CREATE TRIGGER patient_summaries_flag_insert AFTER INSERT ON flags
BEGIN
    INSERT INTO patient_summaries (patient_id, visible_entries) VALUES (new.patient_id, 0)
        ON CONFLICT (patient_id) DO NOTHING;
    UPDATE patient_summaries SET
        open_flags = (SELECT count(*) FROM flags f WHERE f.patient_id = new.patient_id AND f.acknowledged_at IS NULL),
        open_high_flags = (SELECT count(*) FROM flags f
            WHERE f.patient_id = new.patient_id AND f.acknowledged_at IS NULL AND f.severity = 'high')
        WHERE patient_id = new.patient_id;
END;

CREATE TRIGGER patient_summaries_flag_update AFTER UPDATE ON flags
BEGIN
    INSERT INTO patient_summaries (patient_id, visible_entries) VALUES (new.patient_id, 0)
        ON CONFLICT (patient_id) DO NOTHING;
    UPDATE patient_summaries SET
        open_flags = (SELECT count(*) FROM flags f
            WHERE f.patient_id = patient_summaries.patient_id AND f.acknowledged_at IS NULL),
        open_high_flags = (SELECT count(*) FROM flags f
            WHERE f.patient_id = patient_summaries.patient_id AND f.acknowledged_at IS NULL AND f.severity = 'high')
        WHERE patient_id IN (old.patient_id, new.patient_id);
END;

-- An UPDATE, not an upsert: when a patient is erased their row may already be gone.
CREATE TRIGGER patient_summaries_flag_delete AFTER DELETE ON flags
BEGIN
    UPDATE patient_summaries SET
        open_flags = (SELECT count(*) FROM flags f WHERE f.patient_id = old.patient_id AND f.acknowledged_at IS NULL),
        open_high_flags = (SELECT count(*) FROM flags f
            WHERE f.patient_id = old.patient_id AND f.acknowledged_at IS NULL AND f.severity = 'high')
        WHERE patient_id = old.patient_id;
END;
