-- Indexes for the hot reads of the therapist's workspace (issue 7: no full scans on a hot path, and pages
-- that cost the same in a clinic of 10,000 patients as in one of 100; see tests/bench/results.md).
--
-- All four are partial: they hold only what a care team may see (shared or to discuss, and finished),
-- written exactly as the queries write it, so SQLite can use them for those queries.

-- The caseload's "last check-in" (the latest visible check-in of a patient) becomes one seek.
CREATE INDEX entries_visible_created ON entries (patient_id, kind, created_at)
    WHERE sharing IN ('shared', 'discuss') AND status = 'final';

-- The caseload's 7-day mood averages read the index alone (mood is a generated column, stored here).
CREATE INDEX entries_visible_mood ON entries (patient_id, kind, local_date, mood)
    WHERE sharing IN ('shared', 'discuss') AND status = 'final';

-- "Unreviewed" counts a patient's visible entries against the therapist's review marks from the index
-- alone (sharing and status are in it so that no entry's row has to be read).
CREATE INDEX entries_visible_version ON entries (patient_id, id, version, sharing, status)
    WHERE sharing IN ('shared', 'discuss') AND status = 'final';

-- The first and the latest PHQ-9/GAD-7 of each patient of a caseload: a seek each.
CREATE INDEX entries_visible_scores ON entries (patient_id, subkind, local_date, created_at)
    WHERE kind = 'questionnaire' AND sharing IN ('shared', 'discuss') AND status = 'final';
