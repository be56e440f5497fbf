-- The sharing platform: STIX object versions as posted, per community, with their marking and
-- source; named audiences; TAXII status resources.
CREATE TABLE stix_objects (
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
    CONSTRAINT stix_objects_version_key UNIQUE (community_id, object_id, version_key)
);
CREATE INDEX stix_objects_community_seq ON stix_objects (community_id, seq);
CREATE INDEX stix_objects_community_type ON stix_objects (community_id, object_type, seq);
CREATE INDEX stix_objects_community_added ON stix_objects (community_id, date_added);
CREATE TABLE object_audience (
    community_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    principal TEXT NOT NULL,
    PRIMARY KEY (community_id, object_id, kind, principal)
);
CREATE TABLE taxii_status (
    id TEXT PRIMARY KEY,
    community_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX taxii_status_created ON taxii_status (created_at);
