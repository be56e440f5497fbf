//! The domain's records. Names follow the vocabulary of the standards (see `ARCHITECTURE.md`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ts::serde_ts;

/// Kind of a member body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrgType {
    Public,
    Private,
    Ngo,
    Academic,
    Other,
}

impl OrgType {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgType::Public => "public",
            OrgType::Private => "private",
            OrgType::Ngo => "ngo",
            OrgType::Academic => "academic",
            OrgType::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "public" => OrgType::Public,
            "private" => OrgType::Private,
            "ngo" => OrgType::Ngo,
            "academic" => OrgType::Academic,
            "other" => OrgType::Other,
            _ => return None,
        })
    }
}

/// A participating organization (ISO 22396 3.x): a member body with contacts and a signing key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    /// Unique slug, `[a-z0-9-]`, 2..=63 characters.
    pub short_name: String,
    pub sector: String,
    pub org_type: OrgType,
    /// ISO 3166-1 alpha-2 country code, upper case.
    pub country: String,
    pub security_email: Option<String>,
    pub security_phone: Option<String>,
    /// How to reach the organization when the usual channels are down (27035-4 6.2).
    pub out_of_band_contact: Option<String>,
    /// Who verified this organization (a user id), when trust was established.
    pub verified_by: Option<Uuid>,
    #[serde(with = "serde_ts::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub verified_at: Option<OffsetDateTime>,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version, bumped by every update.
    pub version: i64,
}

/// An ed25519 signing key of an organization. The private half is stored encrypted with the
/// node master key and never leaves the core in clear.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgKey {
    pub key_id: String,
    pub org_id: Uuid,
    /// Raw 32-byte public key.
    pub public_key: Vec<u8>,
    /// Nonce (12 bytes) followed by the ChaCha20-Poly1305 ciphertext of the 32-byte secret.
    #[serde(skip)]
    pub encrypted_secret: Vec<u8>,
    #[serde(with = "serde_ts")]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_ts::option")]
    pub retired_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for OrgKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgKey")
            .field("key_id", &self.key_id)
            .field("org_id", &self.org_id)
            .field("public_key", &hex::encode(&self.public_key))
            .field("encrypted_secret", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// A published public key, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicKey {
    pub key_id: String,
    /// The organization whose key this is (its shares are signed with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<Uuid>,
    /// The community whose key this is (anonymous shares in it are signed with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<Uuid>,
    pub algorithm: String,
    /// Base64 (standard, padded) of the raw 32-byte ed25519 public key.
    pub public_key: String,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_ts::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub retired_at: Option<OffsetDateTime>,
}

/// A user's role on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the node: creates organizations and communities. Reads no shared content beyond
    /// what the entitlement rule gives any user of its organization.
    NodeOperator,
    /// Manages its own organization's users, tokens and representatives.
    OrgAdmin,
    /// Works with shared information on behalf of its organization.
    Analyst,
    /// Reads what its organization may read; changes nothing.
    ReadOnly,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::NodeOperator => "node_operator",
            Role::OrgAdmin => "org_admin",
            Role::Analyst => "analyst",
            Role::ReadOnly => "read_only",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "node_operator" => Role::NodeOperator,
            "org_admin" => Role::OrgAdmin,
            "analyst" => Role::Analyst,
            "read_only" => Role::ReadOnly,
            _ => return None,
        })
    }
}

/// A login of exactly one organization.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: Uuid,
    pub org_id: Uuid,
    /// Unique login name, `[a-z0-9._-]`, 2..=64 characters.
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub role: Role,
    pub disabled: bool,
    /// argon2id PHC string; never serialized.
    #[serde(skip)]
    pub password_hash: Option<String>,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

/// An API token's record. The secret itself is shown once at creation and stored only as a
/// SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// The first characters of the token (`cairn_` and 6 more), to recognise it in lists.
    pub prefix: String,
    #[serde(skip)]
    pub token_hash: String,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_ts::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "serde_ts::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "serde_ts::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub last_used_at: Option<OffsetDateTime>,
}

impl ApiToken {
    /// Usable now: neither revoked nor expired.
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|exp| exp > now)
    }
}

/// The Traffic Light Protocol 2.0 labels, least restrictive first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TlpLevel {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

impl TlpLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            TlpLevel::Clear => "clear",
            TlpLevel::Green => "green",
            TlpLevel::Amber => "amber",
            TlpLevel::AmberStrict => "amber_strict",
            TlpLevel::Red => "red",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim().to_ascii_lowercase();
        let t = t.strip_prefix("tlp:").unwrap_or(&t);
        Some(match t {
            "clear" | "white" => TlpLevel::Clear,
            "green" => TlpLevel::Green,
            "amber" => TlpLevel::Amber,
            "amber_strict" | "amber+strict" => TlpLevel::AmberStrict,
            "red" => TlpLevel::Red,
            _ => return None,
        })
    }
}

/// The information exchange arrangement (ISO 22396) / information sharing relationship
/// (ISO/IEC 27035-4): the trusted group whose boundary is the TLP:GREEN boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Community {
    pub id: Uuid,
    /// Unique slug, `[a-z0-9-]`, 2..=63 characters.
    pub slug: String,
    pub name: String,
    pub description: String,
    /// Marking applied to shared objects that carry no TLP marking.
    pub default_tlp: TlpLevel,
    /// Whether TLP:CLEAR content may be read without logging in (a public feed).
    pub public_feed: bool,
    /// Remind sources of their TLP:RED, AMBER and AMBER+STRICT objects whose marking was last
    /// decided more than this many days ago (none: no reminders).
    #[serde(default)]
    pub review_after_days: Option<i64>,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

/// An organization's role in a community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CommunityRole {
    Chair,
    CoChair,
    CoordinationTeam,
    Member,
    /// A guest: takes part without being a full member.
    Observer,
}

impl CommunityRole {
    pub fn as_str(self) -> &'static str {
        match self {
            CommunityRole::Chair => "chair",
            CommunityRole::CoChair => "co_chair",
            CommunityRole::CoordinationTeam => "coordination_team",
            CommunityRole::Member => "member",
            CommunityRole::Observer => "observer",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "chair" => CommunityRole::Chair,
            "co_chair" => CommunityRole::CoChair,
            "coordination_team" => CommunityRole::CoordinationTeam,
            "member" => CommunityRole::Member,
            "observer" => CommunityRole::Observer,
            _ => return None,
        })
    }

    /// Chairs and co-chairs run the community.
    pub fn is_chair(self) -> bool {
        matches!(self, CommunityRole::Chair | CommunityRole::CoChair)
    }
}

/// An organization's membership of a community.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Membership {
    pub community_id: Uuid,
    pub org_id: Uuid,
    pub role: CommunityRole,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub joined_at: OffsetDateTime,
}

/// A user designated by a member organization to act for it in a community.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Representative {
    pub community_id: Uuid,
    pub user_id: Uuid,
    pub org_id: Uuid,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub designated_at: OffsetDateTime,
}

/// What an audited decision came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Granted,
    Denied,
    Changed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Granted => "granted",
            Outcome::Denied => "denied",
            Outcome::Changed => "changed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "granted" => Outcome::Granted,
            "denied" => Outcome::Denied,
            "changed" => Outcome::Changed,
            _ => return None,
        })
    }
}

/// Who acts. Users act through the API; the node's own administration (CLI, provisioning)
/// acts as the system actor, which has the node operator's powers.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub org_id: Option<Uuid>,
    pub role: Role,
    /// The user name, or the name of the administrative tool.
    pub label: String,
}

impl Actor {
    /// The actor for offline administration on the node itself.
    pub fn system(label: &str) -> Self {
        Actor {
            user_id: None,
            org_id: None,
            role: Role::NodeOperator,
            label: label.to_string(),
        }
    }

    pub fn for_user(user: &User) -> Self {
        Actor {
            user_id: Some(user.id),
            org_id: Some(user.org_id),
            role: user.role,
            label: user.username.clone(),
        }
    }

    pub fn is_operator(&self) -> bool {
        self.role == Role::NodeOperator
    }
}

/// An audit event before the store gives it its place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub actor_user: Option<Uuid>,
    pub actor_org: Option<Uuid>,
    pub actor_label: String,
    /// Dotted verb, e.g. `organization.create`.
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    /// The organization the object belongs to, so its admins can read the entry.
    pub object_org: Option<Uuid>,
    pub outcome: Outcome,
    pub details: serde_json::Value,
}

impl AuditEvent {
    pub fn new(actor: &Actor, action: &str, object_type: &str, object_id: impl ToString) -> Self {
        AuditEvent {
            actor_user: actor.user_id,
            actor_org: actor.org_id,
            actor_label: actor.label.clone(),
            action: action.to_string(),
            object_type: object_type.to_string(),
            object_id: object_id.to_string(),
            object_org: None,
            outcome: Outcome::Changed,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn org(mut self, org: Option<Uuid>) -> Self {
        self.object_org = org;
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// One entry of the tamper-evident audit chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub seq: i64,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: OffsetDateTime,
    pub actor_user: Option<Uuid>,
    pub actor_org: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub object_org: Option<Uuid>,
    pub outcome: Outcome,
    /// Canonical JSON text of the details, exactly as hashed.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A TAXII status resource, kept for its poster.
#[derive(Debug, Clone, PartialEq)]
pub struct TaxiiStatus {
    pub id: Uuid,
    pub community_id: Uuid,
    pub user_id: Uuid,
    pub created_at: OffsetDateTime,
    /// The status resource as served (JSON text).
    pub body: String,
}
