-- The value index keyed by a 64-bit hash of (kind, value), computed by Cairn: the index on `h`
-- (with the kind, whose equality lets a planner without statistics still choose the index) is a
-- fraction of the size of one on the values themselves, so storing a version's values
-- touches fewer index pages. Rows are appended in insert order; `kind` and `value` stay in the
-- row and every read compares them too. The rows of the previous table are moved over by the
-- server in this step (it computes the hashes), and that table is then dropped.
ALTER TABLE object_values RENAME TO object_values_0008;
DROP INDEX object_values_seq;
CREATE TABLE object_values (
    seq BIGINT NOT NULL,
    h BIGINT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX object_values_h ON object_values (kind, h);
CREATE INDEX object_values_seq ON object_values (seq);
