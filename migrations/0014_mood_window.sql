-- The caseload's two weekly mood averages from a small table of daily sums (issue 7). mood is a virtual
-- column computed from the entry's JSON body, and the SQLite this runs on does not read it back from
-- entries_visible_mood: each average read every check-in row of its week and parsed its body, ~700 rows a
-- caseload, again after every commit emptied the readers' page caches. That was two thirds of the caseload's
-- SQL (844 → 277 µs at N=100, 1,259 → 470 µs at N=10,000, measured by leaving them out).
--
-- daily_moods holds, per patient and local day, the sum and the number of the moods of the check-ins a care
-- team may see: a week is seven neighbouring rows of one b-tree. The triggers keep it in the same
-- transaction as every write to entries, by adding and taking away (moods are whole numbers: the sums stay
-- exact, and an average is the same float avg() gave).
CREATE TABLE daily_moods (
    patient_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    local_date  TEXT NOT NULL,
    mood_total  INTEGER NOT NULL,
    moods       INTEGER NOT NULL,
    PRIMARY KEY (patient_id, local_date)
) WITHOUT ROWID;

INSERT INTO daily_moods (patient_id, local_date, mood_total, moods)
SELECT patient_id, local_date, sum(mood), count(*) FROM entries
WHERE kind = 'checkin' AND sharing IN ('shared', 'discuss') AND status = 'final' AND mood IS NOT NULL
GROUP BY patient_id, local_date;

CREATE TRIGGER daily_moods_insert AFTER INSERT ON entries
WHEN new.kind = 'checkin' AND new.sharing IN ('shared', 'discuss') AND new.status = 'final'
    AND new.mood IS NOT NULL
BEGIN
    INSERT INTO daily_moods (patient_id, local_date, mood_total, moods)
        VALUES (new.patient_id, new.local_date, new.mood, 1)
        ON CONFLICT (patient_id, local_date) DO UPDATE SET mood_total = mood_total + excluded.mood_total,
            moods = moods + 1;
END;

CREATE TRIGGER daily_moods_delete AFTER DELETE ON entries
WHEN old.kind = 'checkin' AND old.sharing IN ('shared', 'discuss') AND old.status = 'final'
    AND old.mood IS NOT NULL
BEGIN
    UPDATE daily_moods SET mood_total = mood_total - old.mood, moods = moods - 1
        WHERE patient_id = old.patient_id AND local_date = old.local_date;
    DELETE FROM daily_moods WHERE patient_id = old.patient_id AND local_date = old.local_date AND moods = 0;
END;

-- An update takes the old version's mood away (if the team could see it) and adds the new one's (if it can).
CREATE TRIGGER daily_moods_update AFTER UPDATE ON entries
WHEN old.kind = 'checkin' OR new.kind = 'checkin'
BEGIN
    UPDATE daily_moods SET mood_total = mood_total - old.mood, moods = moods - 1
        WHERE patient_id = old.patient_id AND local_date = old.local_date
            AND old.kind = 'checkin' AND old.sharing IN ('shared', 'discuss') AND old.status = 'final'
            AND old.mood IS NOT NULL;
    DELETE FROM daily_moods WHERE patient_id = old.patient_id AND local_date = old.local_date AND moods = 0;
    INSERT INTO daily_moods (patient_id, local_date, mood_total, moods)
        SELECT new.patient_id, new.local_date, new.mood, 1
        WHERE new.kind = 'checkin' AND new.sharing IN ('shared', 'discuss') AND new.status = 'final'
            AND new.mood IS NOT NULL
        ON CONFLICT (patient_id, local_date) DO UPDATE SET mood_total = mood_total + excluded.mood_total,
            moods = moods + 1;
END;
