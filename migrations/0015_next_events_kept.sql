-- Each patient's next integration appointment and next ketamine session kept in patient_summaries (issue 7).
-- After every commit empties the readers' page caches, the caseload's two seeks for them (0011's partial
-- indexes) were 172 of the 405 pages it read again for 50 patients at N=10,000.
--
-- "Next" moves with the clock, so each value is kept with the moment it was taken at: next_integration is
-- the earliest integration appointment, not cancelled, starting at or after next_integration_as_of (and
-- likewise for sessions). At a later moment `now` that value is still the answer whenever it is NULL or has
-- not started yet: nothing can start between as_of and now that was not already counted, as every change
-- to the patient's appointments takes the value again. When it has started (or the clock reads earlier
-- than as_of), the caseload seeks as before. as_of is the changed row's updated_at, the app's clock at
-- that write; a deletion keeps the as_of it had.

ALTER TABLE patient_summaries ADD COLUMN next_integration TEXT;
ALTER TABLE patient_summaries ADD COLUMN next_integration_as_of TEXT;
ALTER TABLE patient_summaries ADD COLUMN next_session TEXT;
ALTER TABLE patient_summaries ADD COLUMN next_session_as_of TEXT;

-- Any as_of is correct, because the caseload uses the kept value only when as_of <= now; the later it is,
-- the longer the value serves. Existing patients get this migration's moment (in clock.iso's shape): on a
-- server, the app's clock is past it from now on (were it behind, as in tests, the caseload seeks).
INSERT INTO patient_summaries (patient_id, visible_entries)
SELECT id, 0 FROM users WHERE role = 'patient'
ON CONFLICT (patient_id) DO NOTHING;

UPDATE patient_summaries SET
    next_integration_as_of = strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'),
    next_session_as_of = strftime('%Y-%m-%dT%H:%M:%f000Z', 'now');
UPDATE patient_summaries SET
    next_integration = (SELECT min(a.starts_at) FROM appointments a WHERE a.patient_id = patient_summaries.patient_id
        AND a.kind = 'integration' AND a.cancelled_at IS NULL AND a.starts_at >= next_integration_as_of),
    next_session = (SELECT min(k.scheduled_for) FROM kap_sessions k WHERE k.patient_id = patient_summaries.patient_id
        AND k.cancelled_at IS NULL AND k.scheduled_for >= next_session_as_of);

CREATE TRIGGER patient_summaries_appointment_insert AFTER INSERT ON appointments
BEGIN
    INSERT INTO patient_summaries (patient_id, visible_entries) VALUES (new.patient_id, 0)
        ON CONFLICT (patient_id) DO NOTHING;
    UPDATE patient_summaries SET next_integration_as_of = new.updated_at,
        next_integration = (SELECT min(a.starts_at) FROM appointments a WHERE a.patient_id = new.patient_id
            AND a.kind = 'integration' AND a.cancelled_at IS NULL AND a.starts_at >= new.updated_at)
        WHERE patient_id = new.patient_id;
END;

CREATE TRIGGER patient_summaries_appointment_update AFTER UPDATE ON appointments
BEGIN
    INSERT INTO patient_summaries (patient_id, visible_entries) VALUES (new.patient_id, 0)
        ON CONFLICT (patient_id) DO NOTHING;
    UPDATE patient_summaries SET next_integration_as_of = new.updated_at,
        next_integration = (SELECT min(a.starts_at) FROM appointments a WHERE a.patient_id = new.patient_id
            AND a.kind = 'integration' AND a.cancelled_at IS NULL AND a.starts_at >= new.updated_at)
        WHERE patient_id = new.patient_id;
    -- Were an appointment ever moved to another patient, the first patient's value is taken again too.
    UPDATE patient_summaries SET
        next_integration = (SELECT min(a.starts_at) FROM appointments a WHERE a.patient_id = old.patient_id
            AND a.kind = 'integration' AND a.cancelled_at IS NULL AND a.starts_at >= next_integration_as_of)
        WHERE patient_id = old.patient_id AND old.patient_id IS NOT new.patient_id;
END;

-- An UPDATE, not an upsert: when a patient is erased their row may already be gone.
CREATE TRIGGER patient_summaries_appointment_delete AFTER DELETE ON appointments
BEGIN
    UPDATE patient_summaries SET
        next_integration = (SELECT min(a.starts_at) FROM appointments a WHERE a.patient_id = old.patient_id
            AND a.kind = 'integration' AND a.cancelled_at IS NULL AND a.starts_at >= next_integration_as_of)
        WHERE patient_id = old.patient_id;
END;

CREATE TRIGGER patient_summaries_session_insert AFTER INSERT ON kap_sessions
BEGIN
    INSERT INTO patient_summaries (patient_id, visible_entries) VALUES (new.patient_id, 0)
        ON CONFLICT (patient_id) DO NOTHING;
    UPDATE patient_summaries SET next_session_as_of = new.updated_at,
        next_session = (SELECT min(k.scheduled_for) FROM kap_sessions k WHERE k.patient_id = new.patient_id
            AND k.cancelled_at IS NULL AND k.scheduled_for >= new.updated_at)
        WHERE patient_id = new.patient_id;
END;

CREATE TRIGGER patient_summaries_session_update AFTER UPDATE ON kap_sessions
BEGIN
    INSERT INTO patient_summaries (patient_id, visible_entries) VALUES (new.patient_id, 0)
        ON CONFLICT (patient_id) DO NOTHING;
    UPDATE patient_summaries SET next_session_as_of = new.updated_at,
        next_session = (SELECT min(k.scheduled_for) FROM kap_sessions k WHERE k.patient_id = new.patient_id
            AND k.cancelled_at IS NULL AND k.scheduled_for >= new.updated_at)
        WHERE patient_id = new.patient_id;
    UPDATE patient_summaries SET
        next_session = (SELECT min(k.scheduled_for) FROM kap_sessions k WHERE k.patient_id = old.patient_id
            AND k.cancelled_at IS NULL AND k.scheduled_for >= next_session_as_of)
        WHERE patient_id = old.patient_id AND old.patient_id IS NOT new.patient_id;
END;

CREATE TRIGGER patient_summaries_session_delete AFTER DELETE ON kap_sessions
BEGIN
    UPDATE patient_summaries SET
        next_session = (SELECT min(k.scheduled_for) FROM kap_sessions k WHERE k.patient_id = old.patient_id
            AND k.cancelled_at IS NULL AND k.scheduled_for >= next_session_as_of)
        WHERE patient_id = old.patient_id;
END;
