-- Foundation: organizations and their keys, users, API tokens, communities, memberships,
-- representatives, and the audit chain. Timestamps are fixed-width RFC 3339 text (UTC, µs).
CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    short_name TEXT NOT NULL,
    sector TEXT NOT NULL,
    org_type TEXT NOT NULL,
    country TEXT NOT NULL,
    security_email TEXT,
    security_phone TEXT,
    out_of_band_contact TEXT,
    verified_by TEXT,
    verified_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version BIGINT NOT NULL,
    CONSTRAINT organizations_short_name_key UNIQUE (short_name)
);
CREATE TABLE org_keys (
    key_id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    public_key BYTEA NOT NULL,
    encrypted_secret BYTEA NOT NULL,
    created_at TEXT NOT NULL,
    retired_at TEXT
);
CREATE INDEX org_keys_org ON org_keys (org_id);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email TEXT,
    role TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    password_hash TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version BIGINT NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);
CREATE INDEX users_org ON users (org_id);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    last_used_at TEXT,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
CREATE TABLE communities (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    default_tlp TEXT NOT NULL,
    public_feed BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version BIGINT NOT NULL,
    CONSTRAINT communities_slug_key UNIQUE (slug)
);
CREATE TABLE memberships (
    community_id TEXT NOT NULL REFERENCES communities (id),
    org_id TEXT NOT NULL REFERENCES organizations (id),
    role TEXT NOT NULL,
    joined_at TEXT NOT NULL,
    PRIMARY KEY (community_id, org_id)
);
CREATE INDEX memberships_org ON memberships (org_id);
CREATE TABLE representatives (
    community_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    org_id TEXT NOT NULL,
    designated_at TEXT NOT NULL,
    PRIMARY KEY (community_id, user_id),
    FOREIGN KEY (community_id, org_id) REFERENCES memberships (community_id, org_id) ON DELETE CASCADE
);
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor_user TEXT,
    actor_org TEXT,
    actor_label TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    object_org TEXT,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_object_org ON audit_log (object_org, seq);
CREATE INDEX audit_log_actor_org ON audit_log (actor_org, seq);
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
