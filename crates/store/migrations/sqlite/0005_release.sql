-- The source has the last word: marking decisions with their history, release requests from
-- recipients, in-app notifications, and review reminders for RED and AMBER objects.
ALTER TABLE communities ADD COLUMN review_after_days BIGINT;
CREATE TABLE marking_changes (
    id TEXT PRIMARY KEY,
    community_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    changed_by TEXT,
    org_id TEXT NOT NULL,
    from_tlp TEXT NOT NULL,
    to_tlp TEXT NOT NULL,
    audience_before TEXT NOT NULL,
    audience_after TEXT NOT NULL,
    new_version TEXT,
    reason TEXT NOT NULL,
    release_request TEXT,
    at TEXT NOT NULL
);
CREATE INDEX marking_changes_object ON marking_changes (community_id, object_id, at);
CREATE TABLE release_requests (
    id TEXT PRIMARY KEY,
    community_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    source_org TEXT NOT NULL,
    requester_user TEXT NOT NULL,
    requester_org TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    decided_at TEXT,
    version BIGINT NOT NULL
);
CREATE INDEX release_requests_source ON release_requests (source_org, status, created_at);
CREATE INDEX release_requests_requester ON release_requests (requester_org, status, created_at);
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    community_id TEXT,
    object_id TEXT,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at TEXT
);
CREATE INDEX notifications_user ON notifications (user_id, created_at);
CREATE TABLE marking_reviews (
    community_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    reminded_at TEXT NOT NULL,
    PRIMARY KEY (community_id, object_id)
);
