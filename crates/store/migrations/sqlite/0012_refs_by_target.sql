-- What each stored version is about, kept in one b-tree ordered by the object referred to: a
-- publish writes one entry per reference where the rowid table, its primary key and the
-- target index took three (of which two at places all over the file). The refs of a version
-- are deleted by their whole key (the version says what it refers to).
CREATE TABLE stix_refs_0012 (
    community_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    version_key TEXT NOT NULL,
    PRIMARY KEY (community_id, target_id, object_id, version_key)
) WITHOUT ROWID;
INSERT OR IGNORE INTO stix_refs_0012 (community_id, target_id, object_id, version_key) SELECT community_id, target_id, object_id, version_key FROM stix_refs;
DROP TABLE stix_refs;
ALTER TABLE stix_refs_0012 RENAME TO stix_refs;
