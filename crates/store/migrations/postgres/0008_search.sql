-- Correlation, exact value lookup and full-text search: the normalized observable values of each
-- stored version (`seq` is its row in stix_objects, which says the community, object and
-- version), and the terms of its text with their
-- tsvector (configuration `simple`: the terms are cut by Cairn, runs of letters and digits,
-- lower-cased; the name weighs A, the rest B).
CREATE TABLE object_values (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (kind, value, seq)
);
CREATE INDEX object_values_seq ON object_values (seq);
CREATE TABLE object_text (
    seq BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (setweight(to_tsvector('simple', name), 'A') || setweight(to_tsvector('simple', body), 'B')) STORED
);
CREATE INDEX object_text_tsv ON object_text USING GIN (tsv);
-- Versions stored before this step are indexed by the server after start, in store order.
CREATE TABLE search_backlog (
    id BIGINT PRIMARY KEY,
    done_seq BIGINT NOT NULL,
    upto_seq BIGINT NOT NULL
);
INSERT INTO search_backlog (id, done_seq, upto_seq) SELECT 1, 0, COALESCE(MAX(seq), 0) FROM stix_objects;
