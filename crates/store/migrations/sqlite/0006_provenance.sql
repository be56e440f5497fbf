-- Provenance and anonymity: each stored version's signature and the key that made it; whether
-- it was published anonymously; the communities' own signing keys (for anonymous shares);
-- sanitization rules of organizations and communities; reveals of anonymous sources.
ALTER TABLE stix_objects ADD COLUMN key_id TEXT;
ALTER TABLE stix_objects ADD COLUMN signature TEXT;
ALTER TABLE stix_objects ADD COLUMN anonymous BIGINT NOT NULL DEFAULT 0;
CREATE TABLE community_keys (
    key_id TEXT PRIMARY KEY,
    community_id TEXT NOT NULL REFERENCES communities (id),
    public_key BLOB NOT NULL,
    encrypted_secret BLOB NOT NULL,
    created_at TEXT NOT NULL,
    retired_at TEXT
);
CREATE INDEX community_keys_community ON community_keys (community_id);
CREATE TABLE sanitization_rules (
    scope TEXT NOT NULL,
    scope_id TEXT NOT NULL,
    rules TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, scope_id)
);
CREATE TABLE source_reveals (
    id TEXT PRIMARY KEY,
    community_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    revealed_by TEXT,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX source_reveals_community ON source_reveals (community_id, at);
