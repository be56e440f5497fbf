-- The value index in parts by age. A row goes to the newest part, which holds up to a fixed
-- number of rows (`crate::search::PART_ROWS`) before a new part is opened; a part that is not
-- the newest never receives a row again. Storing a version's values then changes pages of a
-- small index that stays in the page cache, where one index over every value changed about
-- one page per value; lookups seek each part (a few at a million values). The sealed parts
-- never change but for deletions, so a process may keep their hashes in memory to answer
-- "does anyone else hold this value?" without reading them (`crate::value_filter`).
-- The rows already there form part 0.
DROP INDEX object_values_h;
ALTER TABLE object_values ADD COLUMN part BIGINT NOT NULL DEFAULT 0;
CREATE INDEX object_values_h ON object_values (part, kind, h, seq);
-- One row per part, with how many value rows were written to it (deletions are not counted)
-- and the stamp of the last write to it (a fresh one each time), by which a process that keeps
-- the newest part's hashes in memory knows whether it has seen every write.
CREATE TABLE value_parts (
    part BIGINT PRIMARY KEY,
    written BIGINT NOT NULL,
    stamp TEXT NOT NULL
);
INSERT INTO value_parts (part, written, stamp) SELECT 0, COUNT(*), 'migration' FROM object_values;
