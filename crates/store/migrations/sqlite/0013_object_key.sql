-- The versions of an object are found through a compact key instead of the unique index on
-- (community, object, version): `object_key` is the 5th to 8th and the last 8 hex digits of the
-- id's UUID (12 characters), and its index entries are about a fifth of the size. A publish of
-- 1,000 objects into 100,000 changed 1,248 pages of the unique index and changes 488 of
-- this one. Every query by object also compares the community and the id themselves; no two
-- versions with the same (community, object, version) are written (the store decides new,
-- duplicate or newer under the write lock). SQLite cannot drop a table constraint, so the table
-- is rebuilt, with every row, its `seq` and the sequence kept.
CREATE TABLE stix_objects_0013 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    community_id TEXT NOT NULL REFERENCES communities (id),
    object_id TEXT NOT NULL,
    object_type TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    version TEXT NOT NULL,
    version_key TEXT NOT NULL,
    date_added TEXT NOT NULL,
    source_org TEXT NOT NULL REFERENCES organizations (id),
    source_user TEXT,
    tlp TEXT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0,
    raw TEXT NOT NULL,
    superseded BIGINT NOT NULL DEFAULT 0,
    key_id TEXT,
    signature TEXT,
    anonymous BIGINT NOT NULL DEFAULT 0,
    object_key TEXT GENERATED ALWAYS AS (substr(object_id, instr(object_id, '--') + 6, 4) || substr(object_id, -8)) STORED
);
INSERT INTO stix_objects_0013 (seq, community_id, object_id, object_type, spec_version, version, version_key, date_added, source_org, source_user, tlp, revoked, raw, superseded, key_id, signature, anonymous) SELECT seq, community_id, object_id, object_type, spec_version, version, version_key, date_added, source_org, source_user, tlp, revoked, raw, superseded, key_id, signature, anonymous FROM stix_objects ORDER BY seq;
INSERT INTO sqlite_sequence (name, seq) SELECT 'stix_objects_0013', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'stix_objects_0013');
UPDATE sqlite_sequence SET seq = (SELECT MAX(seq) FROM sqlite_sequence WHERE name IN ('stix_objects', 'stix_objects_0013')) WHERE name = 'stix_objects_0013';
DROP TABLE stix_objects;
ALTER TABLE stix_objects_0013 RENAME TO stix_objects;
CREATE INDEX stix_objects_community_seq ON stix_objects (community_id, seq);
CREATE INDEX stix_objects_community_type ON stix_objects (community_id, object_type, seq);
CREATE INDEX stix_objects_community_added ON stix_objects (community_id, date_added);
CREATE INDEX stix_objects_key ON stix_objects (object_key);
