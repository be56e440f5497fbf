//! The persistence the core needs, as one trait. Implemented on SQLite and PostgreSQL by
//! `cairn-store`.
//!
//! Every mutating method takes the [`AuditEvent`] that records it and must write both in one
//! transaction: a change is never stored without its audit entry, nor the reverse.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::StoreResult;
use crate::model::*;
use crate::release::{
    MarkingChange, MarkingWrite, Notification, ReleaseQuery, ReleaseRequest, ReviewDue,
};
use crate::search::{
    BacklogVersion, CorrelationRow, FoundVersion, HiddenMatch, TextQuery, ValueQuery, VersionIndex,
};
use crate::sharing::{Audience, NewObjectVersion, ObjectQuery, ObjectVersion, PutOutcome, Viewer};

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// Filter for reading the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only entries about, or made by, this organization.
    pub org: Option<Uuid>,
    /// Only entries with a sequence number greater than this.
    pub after_seq: Option<i64>,
    pub action: Option<String>,
    pub limit: i64,
}

/// A token together with the user and organization it authenticates.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub token: ApiToken,
    pub user: User,
    pub org: Organization,
}

/// What a streamed share writes besides its versions, made when every version has its outcome
/// (see [`Store::share_stream`]).
#[derive(Debug)]
pub struct ShareRecord {
    /// Its audit entry, written if any version was stored.
    pub audit: AuditEvent,
    /// The TAXII status resource of the request, written in the same transaction whatever was
    /// stored, so that a status exists exactly when the share's outcome is final.
    pub status: Option<TaxiiStatus>,
}

/// Makes a streamed share's [`ShareRecord`] from every version received and its outcome.
pub type ShareEnd<'a> =
    Box<dyn for<'b> FnOnce(&'b [NewObjectVersion], &'b [PutOutcome]) -> ShareRecord + Send + 'a>;

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    fn engine(&self) -> Engine;

    /// Succeeds when the database answers.
    async fn ping(&self) -> StoreResult<()>;

    // --- organizations ---
    async fn create_organization(
        &self,
        org: &Organization,
        key: &OrgKey,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// Write `org` if its stored version is `org.version - 1`.
    async fn update_organization(&self, org: &Organization, audit: AuditEvent) -> StoreResult<()>;
    async fn organization(&self, id: Uuid) -> StoreResult<Option<Organization>>;
    async fn organization_by_short_name(
        &self,
        short_name: &str,
    ) -> StoreResult<Option<Organization>>;
    async fn organizations(&self) -> StoreResult<Vec<Organization>>;
    async fn organization_keys(&self, org: Uuid) -> StoreResult<Vec<OrgKey>>;
    /// Add a key for `key.org_id` and retire its other unretired keys at `retire_at`.
    async fn add_org_key(
        &self,
        key: &OrgKey,
        retire_at: OffsetDateTime,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// A community's signing keys (`org_id` holds the community id).
    async fn community_keys(&self, community: Uuid) -> StoreResult<Vec<OrgKey>>;
    async fn add_community_key(&self, key: &OrgKey, audit: AuditEvent) -> StoreResult<()>;

    // --- users ---
    async fn create_user(&self, user: &User, audit: AuditEvent) -> StoreResult<()>;
    /// Write `user` if its stored version is `user.version - 1`.
    async fn update_user(&self, user: &User, audit: AuditEvent) -> StoreResult<()>;
    async fn user(&self, id: Uuid) -> StoreResult<Option<User>>;
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>>;
    async fn users(&self, org: Option<Uuid>) -> StoreResult<Vec<User>>;

    // --- API tokens ---
    async fn create_token(&self, token: &ApiToken, audit: AuditEvent) -> StoreResult<()>;
    async fn revoke_token(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    async fn token(&self, id: Uuid) -> StoreResult<Option<ApiToken>>;
    async fn tokens_of(&self, user: Uuid) -> StoreResult<Vec<ApiToken>>;
    /// The token with this hash, its user and organization.
    async fn token_owner(&self, token_hash: &str) -> StoreResult<Option<TokenOwner>>;
    /// Record use; at most a write per call, no audit entry.
    async fn touch_token(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()>;

    // --- communities ---
    async fn create_community(&self, community: &Community, audit: AuditEvent) -> StoreResult<()>;
    /// Write `community` if its stored version is `community.version - 1`.
    async fn update_community(&self, community: &Community, audit: AuditEvent) -> StoreResult<()>;
    async fn community(&self, id: Uuid) -> StoreResult<Option<Community>>;
    async fn community_by_slug(&self, slug: &str) -> StoreResult<Option<Community>>;
    /// All communities, or only those `org` is a member of.
    async fn communities(&self, member: Option<Uuid>) -> StoreResult<Vec<Community>>;
    /// Insert or change an organization's membership and role.
    async fn put_membership(&self, membership: &Membership, audit: AuditEvent) -> StoreResult<()>;
    /// Remove a membership and the organization's representatives in that community.
    async fn remove_membership(
        &self,
        community: Uuid,
        org: Uuid,
        audit: AuditEvent,
    ) -> StoreResult<bool>;
    async fn memberships(&self, community: Uuid) -> StoreResult<Vec<Membership>>;
    async fn put_representative(&self, rep: &Representative, audit: AuditEvent) -> StoreResult<()>;
    async fn remove_representative(
        &self,
        community: Uuid,
        user: Uuid,
        audit: AuditEvent,
    ) -> StoreResult<bool>;
    async fn representatives(&self, community: Uuid) -> StoreResult<Vec<Representative>>;

    // --- shared objects (every read takes the viewer; the entitlement rule is in the query) ---
    /// Store versions in one transaction with `audit`; one outcome per input, in order.
    async fn share_objects(
        &self,
        community: Uuid,
        batch: &[NewObjectVersion],
        audit: AuditEvent,
    ) -> StoreResult<Vec<PutOutcome>>;
    /// Store versions arriving in chunks, in one transaction, as [`share_objects`] does with
    /// one batch: one outcome per version, in order, and the versions themselves. An error from
    /// the stream abandons the transaction (nothing is stored) and is returned. `end` makes the
    /// audit entry (written if anything was stored) and the status to keep (written in any
    /// case, also when no version came) from every version received and its outcome.
    ///
    /// [`share_objects`]: Store::share_objects
    async fn share_stream<'a>(
        &'a self,
        community: Uuid,
        chunks: futures::stream::BoxStream<'a, StoreResult<Vec<NewObjectVersion>>>,
        end: ShareEnd<'a>,
    ) -> StoreResult<(Vec<NewObjectVersion>, Vec<PutOutcome>)>;
    /// Store every version of `batch` or none (if any would not be stored, nothing is written
    /// and the outcomes say why), together with `notify` and `audit`, in one transaction.
    async fn share_all(
        &self,
        community: Uuid,
        batch: &[NewObjectVersion],
        notify: &[Notification],
        audit: AuditEvent,
    ) -> StoreResult<Vec<PutOutcome>>;
    /// Versions the viewer is entitled to, in store order, at most `query.limit + 1`.
    async fn objects(
        &self,
        viewer: &Viewer,
        community: Uuid,
        query: &ObjectQuery,
    ) -> StoreResult<Vec<ObjectVersion>>;
    /// Delete these versions of an object of `source_org`; returns how many went.
    async fn delete_object_versions(
        &self,
        community: Uuid,
        object_id: &str,
        source_org: Uuid,
        version_keys: &[String],
        audit: AuditEvent,
    ) -> StoreResult<u64>;
    async fn put_status(&self, status: &TaxiiStatus) -> StoreResult<()>;
    async fn status(&self, id: Uuid) -> StoreResult<Option<TaxiiStatus>>;

    // --- TAXII pulls ---
    /// The `X-TAXII-Date-Added-Last` a pull source reached.
    async fn pull_position(&self, source: &str) -> StoreResult<Option<String>>;
    async fn set_pull_position(&self, source: &str, added_last: &str) -> StoreResult<()>;

    // --- audit ---
    /// Append an entry that records a decision without a change (a denial, a read grant).
    async fn append_audit(&self, audit: AuditEvent) -> StoreResult<AuditEntry>;
    async fn audit_entries(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;
    /// Entries in sequence order from `after_seq` (exclusive), at most `limit`.
    async fn audit_chain(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditEntry>>;
    /// The recorded head of the chain: last sequence number and hash.
    async fn audit_head(&self) -> StoreResult<Option<(i64, String)>>;

    // --- sanitization rules and anonymous sources (see `crate::anonymity`) ---
    async fn sanitization_rules(
        &self,
        scope: crate::anonymity::RuleScope,
    ) -> StoreResult<Option<crate::sanitize::SanitizationRules>>;
    /// Set (`Some`) or clear (`None`) the rules of a scope, with `audit`.
    async fn set_sanitization_rules(
        &self,
        scope: crate::anonymity::RuleScope,
        rules: Option<&crate::sanitize::SanitizationRules>,
        at: OffsetDateTime,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// The source organization of an object and whether it was shared anonymously. Platform
    /// metadata for the operator's audited reveal only: it returns no shared content.
    async fn object_source(
        &self,
        community: Uuid,
        object_id: &str,
    ) -> StoreResult<Option<(Uuid, bool)>>;
    async fn record_reveal(
        &self,
        reveal: &crate::anonymity::SourceReveal,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    async fn reveals(&self, community: Uuid) -> StoreResult<Vec<crate::anonymity::SourceReveal>>;

    // --- marking decisions, release requests, notifications (see `crate::release`) ---
    /// The named audience of an object (platform metadata; for the core's decisions only).
    async fn object_audience(&self, community: Uuid, object_id: &str) -> StoreResult<Audience>;
    /// Apply a marking decision in one transaction: every version's level, the audience, the
    /// new version, the history entry; and, when it answers one, the decided release request
    /// (if still at `request.version - 1`), with notifications and `audit`.
    async fn change_marking(
        &self,
        write: &MarkingWrite,
        request: Option<&ReleaseRequest>,
        notify: &[Notification],
        audit: AuditEvent,
    ) -> StoreResult<()>;
    async fn marking_changes(
        &self,
        community: Uuid,
        object_id: &str,
    ) -> StoreResult<Vec<MarkingChange>>;
    async fn create_release_request(
        &self,
        request: &ReleaseRequest,
        notify: &[Notification],
        audit: AuditEvent,
    ) -> StoreResult<()>;
    async fn release_request(&self, id: Uuid) -> StoreResult<Option<ReleaseRequest>>;
    /// Newest first.
    async fn release_requests(&self, query: &ReleaseQuery) -> StoreResult<Vec<ReleaseRequest>>;
    /// Write a decision that changes no marking (a refusal), if still at `version - 1`.
    async fn decide_release_request(
        &self,
        request: &ReleaseRequest,
        notify: &[Notification],
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// A user's notifications, newest first. One about an object is returned only if the
    /// object has a version the user may see, by the viewer given for its community.
    async fn notifications(
        &self,
        user: Uuid,
        viewers: &[(Uuid, Viewer)],
        unread_only: bool,
        limit: i64,
    ) -> StoreResult<Vec<Notification>>;
    async fn mark_notifications_read(
        &self,
        user: Uuid,
        ids: &[Uuid],
        at: OffsetDateTime,
    ) -> StoreResult<u64>;
    /// The latest versions of `org`'s RED and AMBER objects whose marking was last decided
    /// before `before` and that were not reminded of since.
    async fn reviews_due(
        &self,
        viewer: &Viewer,
        community: Uuid,
        org: Uuid,
        before: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<Vec<ReviewDue>>;
    async fn record_review_reminders(
        &self,
        community: Uuid,
        object_ids: &[String],
        at: OffsetDateTime,
        notify: &[Notification],
    ) -> StoreResult<()>;

    // --- correlation, value lookup, full-text search (see `crate::search`) ---
    /// The communities `org` is a member of and those with a public feed, each with whether
    /// `org` is a member.
    async fn readable_communities(&self, org: Option<Uuid>) -> StoreResult<Vec<(Community, bool)>>;
    // Every read takes the viewer of each community it reads, and returns only the latest
    // version each viewer may see of each object: the entitlement rule is in the query.
    /// The objects holding a value, newest first: at most `query.limit + 1` from
    /// `query.offset`.
    async fn lookup_value(
        &self,
        viewers: &[(Uuid, Viewer)],
        query: &ValueQuery,
    ) -> StoreResult<Vec<FoundVersion>>;
    /// The objects whose text holds every term, best first: at most `query.limit + 1` from
    /// `query.offset`.
    async fn search_text(
        &self,
        viewers: &[(Uuid, Viewer)],
        query: &TextQuery,
    ) -> StoreResult<Vec<FoundVersion>>;
    /// For each value of `version`, the other objects holding it; at most `limit`, ordered by
    /// value.
    async fn correlations(
        &self,
        viewers: &[(Uuid, Viewer)],
        version: &ObjectVersion,
        limit: i64,
    ) -> StoreResult<Vec<CorrelationRow>>;
    /// Objects of organizations other than `poster_org` whose latest version holds one of
    /// `values` while no version of them holding it is visible to the poster (whose viewers, by
    /// community, are given): the negation of the rule. At most `limit`. The rows of each
    /// value's `own_seqs` (the publish's own) are skipped from the index alone.
    async fn hidden_matches(
        &self,
        poster_org: Uuid,
        viewers: &[(Uuid, Viewer)],
        values: &[crate::search::PublishedValue],
        limit: i64,
    ) -> StoreResult<Vec<HiddenMatch>>;
    /// Store notifications with the audit entry that records them.
    async fn record_notifications(
        &self,
        notify: &[Notification],
        audit: AuditEvent,
    ) -> StoreResult<()>;
    /// Read ahead what the hidden-match lookup keeps in memory (the value hashes of the index
    /// parts that no longer change, and of the newest), and what reads by id do (on SQLite,
    /// the prints of the object keys), so that the first publish or read after a start does
    /// not wait for it. Run by the server at start; whatever is missing is read when needed.
    async fn prepare_hidden_matches(&self) -> StoreResult<()>;
    /// Versions stored before the search index existed and not indexed yet, in store order.
    async fn search_backlog(&self, limit: i64) -> StoreResult<Vec<BacklogVersion>>;
    /// Index these backlog versions (those still stored) and move the backlog past them; with
    /// none given, the backlog is done.
    async fn index_backlog(&self, entries: &[(BacklogVersion, VersionIndex)]) -> StoreResult<()>;
}
