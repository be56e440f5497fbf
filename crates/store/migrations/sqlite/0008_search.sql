-- Correlation, exact value lookup and full-text search: the normalized observable values of each
-- stored version (`seq` is its row in stix_objects, which says the community, object and version;
-- the table is ordered by value), and the terms
-- of its text in a contentless FTS5 index whose rowid is that `seq` (results are shown from the
-- stored object, so the index keeps no copy of the text). Terms are cut by Cairn (runs of letters
-- and digits, lower-cased), so the tokenizer only splits them on spaces again.
CREATE TABLE object_values (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (kind, value, seq)
) WITHOUT ROWID;
CREATE INDEX object_values_seq ON object_values (seq);
CREATE VIRTUAL TABLE object_text USING fts5 (name, body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0');
-- Ranking: bm25 with a word in the name worth ten in the rest of the text.
INSERT INTO object_text (object_text, rank) VALUES ('rank', 'bm25(10.0, 1.0)');
-- Versions stored before this step are indexed by the server after start, in store order.
CREATE TABLE search_backlog (
    id BIGINT PRIMARY KEY,
    done_seq BIGINT NOT NULL,
    upto_seq BIGINT NOT NULL
);
INSERT INTO search_backlog (id, done_seq, upto_seq) SELECT 1, 0, COALESCE(MAX(seq), 0) FROM stix_objects;
