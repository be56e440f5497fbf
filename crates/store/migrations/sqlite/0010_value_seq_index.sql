-- The value index also holds the version's `seq`. The hidden-match lookup after a publish skips
-- the rows that publish has just written by their `seq`, from the index alone, instead of
-- reading each row and its version to find that the poster's own organization wrote it.
DROP INDEX object_values_h;
CREATE INDEX object_values_h ON object_values (kind, h, seq);
