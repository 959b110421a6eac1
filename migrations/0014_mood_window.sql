-- Daily sums of what patients shared of their mood and anxiety, for the caseload's weekly averages and the
-- brief's daily chart (issue 7). mood and anxiety are virtual columns computed from the entry's JSON body,
-- and the SQLite this runs on does not read them back from an index: each of the caseload's two averages
-- read and parsed every check-in row of its week, ~700 rows a caseload, again after every commit emptied the
-- readers' page caches (two thirds of the caseload's SQL: 844 → 277 µs at N=100 without them).
--
-- daily_moods holds, per patient and local day, the check-ins a care team may see (shared or to discuss, and
-- finished): their number, and the sum and number of their moods and of their anxieties (as avg() does, a
-- missing figure is left out; anxiety is optional). A week is seven neighbouring rows of one b-tree. The triggers keep it in the same transaction
-- as every write to entries, by adding and taking away: the figures are whole numbers, so the sums stay
-- exact, and an average (sum over number) is the very float avg() gave.
CREATE TABLE daily_moods (
    patient_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    local_date     TEXT NOT NULL,
    checkins       INTEGER NOT NULL,
    mood_total     INTEGER NOT NULL,
    moods          INTEGER NOT NULL,
    anxiety_total  INTEGER NOT NULL,
    anxieties      INTEGER NOT NULL,
    PRIMARY KEY (patient_id, local_date)
) WITHOUT ROWID;

INSERT INTO daily_moods (patient_id, local_date, checkins, mood_total, moods, anxiety_total, anxieties)
SELECT patient_id, local_date, count(*), coalesce(sum(mood), 0), count(mood), coalesce(sum(anxiety), 0),
    count(anxiety)
FROM entries
WHERE kind = 'checkin' AND sharing IN ('shared', 'discuss') AND status = 'final'
GROUP BY patient_id, local_date;

-- Nothing reads entries_visible_mood any more; without it a check-in writes one page fewer.
DROP INDEX entries_visible_mood;

CREATE TRIGGER daily_moods_insert AFTER INSERT ON entries
WHEN new.kind = 'checkin' AND new.sharing IN ('shared', 'discuss') AND new.status = 'final'
BEGIN
    INSERT INTO daily_moods (patient_id, local_date, checkins, mood_total, moods, anxiety_total, anxieties)
        VALUES (new.patient_id, new.local_date, 1, coalesce(new.mood, 0), new.mood IS NOT NULL,
            coalesce(new.anxiety, 0), new.anxiety IS NOT NULL)
        ON CONFLICT (patient_id, local_date) DO UPDATE SET checkins = checkins + 1,
            mood_total = mood_total + excluded.mood_total, moods = moods + excluded.moods,
            anxiety_total = anxiety_total + excluded.anxiety_total,
            anxieties = anxieties + excluded.anxieties;
END;

CREATE TRIGGER daily_moods_delete AFTER DELETE ON entries
WHEN old.kind = 'checkin' AND old.sharing IN ('shared', 'discuss') AND old.status = 'final'
BEGIN
    UPDATE daily_moods SET checkins = checkins - 1, mood_total = mood_total - coalesce(old.mood, 0),
            moods = moods - (old.mood IS NOT NULL),
            anxiety_total = anxiety_total - coalesce(old.anxiety, 0), anxieties = anxieties - (old.anxiety IS NOT NULL)
        WHERE patient_id = old.patient_id AND local_date = old.local_date;
    DELETE FROM daily_moods WHERE patient_id = old.patient_id AND local_date = old.local_date AND checkins = 0;
END;

-- An update takes the old version away (if the team could see it) and adds the new one (if it can).
CREATE TRIGGER daily_moods_update AFTER UPDATE ON entries
WHEN old.kind = 'checkin' OR new.kind = 'checkin'
BEGIN
    UPDATE daily_moods SET checkins = checkins - 1, mood_total = mood_total - coalesce(old.mood, 0),
            moods = moods - (old.mood IS NOT NULL),
            anxiety_total = anxiety_total - coalesce(old.anxiety, 0), anxieties = anxieties - (old.anxiety IS NOT NULL)
        WHERE patient_id = old.patient_id AND local_date = old.local_date
            AND old.kind = 'checkin' AND old.sharing IN ('shared', 'discuss') AND old.status = 'final';
    DELETE FROM daily_moods WHERE patient_id = old.patient_id AND local_date = old.local_date AND checkins = 0;
    INSERT INTO daily_moods (patient_id, local_date, checkins, mood_total, moods, anxiety_total, anxieties)
        SELECT new.patient_id, new.local_date, 1, coalesce(new.mood, 0), new.mood IS NOT NULL,
            coalesce(new.anxiety, 0), new.anxiety IS NOT NULL
        WHERE new.kind = 'checkin' AND new.sharing IN ('shared', 'discuss') AND new.status = 'final'
        ON CONFLICT (patient_id, local_date) DO UPDATE SET checkins = checkins + 1,
            mood_total = mood_total + excluded.mood_total, moods = moods + excluded.moods,
            anxiety_total = anxiety_total + excluded.anxiety_total,
            anxieties = anxieties + excluded.anxieties;
END;
