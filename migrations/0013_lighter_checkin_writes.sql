-- Lighter check-in writes (issue 7). A check-in lands at a different place in each index of entries, so
-- each index costs it a page written to the WAL and its share of the COMMIT; and every check-in read its
-- patient's seven caseload facts again, though a check-in can move only one of them.

-- The caseload's last check-in is kept in patient_summaries (0011), so entries_visible_created only served
-- the facts' recount, and entries_patient_kind has the same columns: read backwards, it stops at the
-- patient's latest visible check-in (nearly always the latest check-in).
DROP INDEX entries_visible_created;

-- Most entries belong to no ketamine session: only those that do are indexed by it. Every query by session
-- (and the foreign key's ON DELETE SET NULL) asks for a session id, which implies it is not null.
DROP INDEX entries_session;
CREATE INDEX entries_session ON entries (kap_session_id) WHERE kap_session_id IS NOT NULL;

-- A new check-in moves the last check-in forward, or leaves it (the later of the two); only a new PHQ-9 or
-- GAD-7 reads the facts again. Updates and deletes still recount from caseload_facts (0011).
DROP TRIGGER patient_summaries_insert;
CREATE TRIGGER patient_summaries_insert AFTER INSERT ON entries
BEGIN
    INSERT INTO patient_summaries (patient_id, visible_entries, last_checkin_at)
        VALUES (new.patient_id, new.sharing IN ('shared', 'discuss') AND new.status = 'final',
            CASE WHEN new.kind = 'checkin' AND new.sharing IN ('shared', 'discuss') AND new.status = 'final'
                THEN new.created_at END)
        ON CONFLICT (patient_id) DO UPDATE SET visible_entries = visible_entries + excluded.visible_entries,
            last_checkin_at = CASE WHEN excluded.last_checkin_at > coalesce(last_checkin_at, '')
                THEN excluded.last_checkin_at ELSE last_checkin_at END;
    UPDATE patient_summaries SET (last_checkin_at, phq9_first, phq9_latest, phq9_latest_date, gad7_first,
            gad7_latest, gad7_latest_date) = (SELECT last_checkin_at, phq9_first, phq9_latest, phq9_latest_date,
            gad7_first, gad7_latest, gad7_latest_date FROM caseload_facts f WHERE f.patient_id = new.patient_id)
        WHERE patient_id = new.patient_id AND new.kind = 'questionnaire' AND new.subkind IN ('phq9', 'gad7');
END;
