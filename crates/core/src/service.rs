//! The service every front end acts through: it checks the input, asks the policy, writes
//! through the store together with the audit entry, and audits denials.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth;
use crate::error::{CoreError, CoreResult, StoreError};
use crate::keys::{self, MasterKey};
use crate::model::*;
use crate::policy;
use crate::store::{AuditQuery, Store, TokenOwner};
use crate::ts::{self, serde_ts};
use crate::validate as v;

/// How often an update is retried when another writer changed the row meanwhile. Every retry
/// follows another writer's commit, so this many concurrent writers of one row all succeed.
const UPDATE_ATTEMPTS: usize = 32;
/// `last_used_at` is written at most this often per token.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// The Cairn service: the store, the node master key, and the rules.
#[derive(Debug, Clone)]
pub struct Cairn {
    store: Arc<dyn Store>,
    master: MasterKey,
    /// Largest attachment (decoded `payload_bin` of an artifact) accepted on any way in.
    max_attachment_bytes: usize,
    /// The queue of the correlation worker, shared by every clone.
    correlator: Arc<crate::correlator::Correlator>,
}

// ---------- inputs ----------

/// A new organization.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    pub name: String,
    pub short_name: String,
    pub sector: String,
    pub org_type: OrgType,
    pub country: String,
    #[serde(default)]
    pub security_email: Option<String>,
    #[serde(default)]
    pub security_phone: Option<String>,
    #[serde(default)]
    pub out_of_band_contact: Option<String>,
}

/// Changes to an organization; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrganizationPatch {
    pub name: Option<String>,
    pub sector: Option<String>,
    pub org_type: Option<OrgType>,
    pub country: Option<String>,
    pub security_email: Option<String>,
    pub security_phone: Option<String>,
    pub out_of_band_contact: Option<String>,
}

/// A new user of an organization.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Organization id or short name; defaults to the caller's organization.
    #[serde(default)]
    pub organization: Option<String>,
    pub username: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub role: Role,
    /// For the web UI; at least 12 characters.
    #[serde(default)]
    pub password: Option<String>,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

/// A request for a new API token.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// What the token is for, unique among the user's active tokens.
    pub name: String,
    /// Expiry instant (RFC 3339); omit for no expiry.
    #[serde(default, with = "serde_ts::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub expires_at: Option<OffsetDateTime>,
}

/// A token as created: the secret is shown this once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: ApiToken,
    /// The secret. It is not stored and cannot be shown again.
    pub secret: String,
}

/// A new community.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCommunity {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_tlp")]
    pub default_tlp: TlpLevel,
    #[serde(default)]
    pub public_feed: bool,
}

fn default_tlp() -> TlpLevel {
    TlpLevel::Green
}

/// Changes to a community; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommunityPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub default_tlp: Option<TlpLevel>,
    pub public_feed: Option<bool>,
    /// Days after which sources are reminded to review RED and AMBER markings (1..=3650); 0
    /// turns the reminders off.
    pub review_after_days: Option<i64>,
}

/// Admit an organization to a community, or change its role.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MembershipRequest {
    /// Organization id or short name.
    pub organization: String,
    #[serde(default = "default_role")]
    pub role: CommunityRole,
}

fn default_role() -> CommunityRole {
    CommunityRole::Member
}

/// A member organization with its role, as listed.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberView {
    pub organization: Uuid,
    pub short_name: String,
    pub name: String,
    pub role: CommunityRole,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub joined_at: OffsetDateTime,
    /// User names of the representatives this organization designated.
    pub representatives: Vec<String>,
}

/// Who is authenticated, resolved from a credential.
#[derive(Debug, Clone)]
pub struct Session {
    pub actor: Actor,
    pub user: User,
    pub org: Organization,
    pub token_id: Uuid,
}

/// Why a credential was refused (for rate limiting and logs; clients see only 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Malformed,
    Unknown,
    Revoked,
    Expired,
    Disabled,
    WrongUser,
}

impl AuthFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Malformed => "malformed",
            AuthFailure::Unknown => "unknown",
            AuthFailure::Revoked => "revoked",
            AuthFailure::Expired => "expired",
            AuthFailure::Disabled => "disabled",
            AuthFailure::WrongUser => "wrong_user",
        }
    }
}

fn uuid_or(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text).ok()
}

fn check_opt_text(field: &str, value: &Option<String>, max: usize) -> CoreResult<()> {
    if let Some(value) = value {
        v::optional_text(field, value, max)?;
    }
    Ok(())
}

fn check_opt_email(field: &str, value: &Option<String>) -> CoreResult<()> {
    match value.as_deref() {
        Some(e) if !e.is_empty() => v::email(field, e),
        _ => Ok(()),
    }
}

/// Empty strings in optional fields mean "none".
fn none_if_empty(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.trim().is_empty())
}

impl Cairn {
    pub fn new(store: Arc<dyn Store>, master: MasterKey) -> Self {
        Cairn {
            store,
            master,
            max_attachment_bytes: crate::documents::DEFAULT_MAX_ATTACHMENT_BYTES,
            correlator: Arc::default(),
        }
    }

    /// The same service with a queue of its own (for the correlation worker).
    pub(crate) fn detached(&self) -> Self {
        Cairn {
            correlator: Arc::default(),
            ..self.clone()
        }
    }

    /// The same service with another attachment size limit (bytes, at least 1).
    pub fn with_max_attachment_bytes(mut self, bytes: usize) -> Self {
        self.max_attachment_bytes = bytes.max(1);
        self
    }

    pub(crate) fn correlator(&self) -> &crate::correlator::Correlator {
        &self.correlator
    }

    /// The largest attachment accepted, in bytes.
    pub fn max_attachment_bytes(&self) -> usize {
        self.max_attachment_bytes
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn master_key(&self) -> &MasterKey {
        &self.master
    }

    /// Record a refusal and return the error the caller sees.
    async fn deny(
        &self,
        actor: &Actor,
        action: &str,
        object_type: &str,
        object: &str,
    ) -> CoreError {
        let event = AuditEvent::new(actor, action, object_type, object)
            .outcome(Outcome::Denied)
            .details(serde_json::json!({"reason": "not permitted"}));
        if let Err(e) = self.store.append_audit(event).await {
            tracing::error!(error = %e, "could not audit a denial");
        }
        CoreError::forbidden(format!("you may not {} this {object_type}", verb(action)))
    }

    // ---------- authentication ----------

    /// Resolve a bearer token. `username` (from HTTP Basic) must match the token's user.
    pub async fn authenticate(
        &self,
        secret: &str,
        username: Option<&str>,
    ) -> CoreResult<Result<Session, AuthFailure>> {
        if !auth::looks_like_token(secret) {
            return Ok(Err(AuthFailure::Malformed));
        }
        let Some(TokenOwner { token, user, org }) =
            self.store.token_owner(&auth::hash_token(secret)).await?
        else {
            return Ok(Err(AuthFailure::Unknown));
        };
        let now = ts::now();
        if token.revoked_at.is_some() {
            return Ok(Err(AuthFailure::Revoked));
        }
        if !token.is_active(now) {
            return Ok(Err(AuthFailure::Expired));
        }
        if user.disabled {
            return Ok(Err(AuthFailure::Disabled));
        }
        if username.is_some_and(|u| u != user.username) {
            return Ok(Err(AuthFailure::WrongUser));
        }
        let stale = token
            .last_used_at
            .is_none_or(|t| (now - t).whole_seconds() >= TOUCH_INTERVAL_SECS);
        if stale {
            self.store.touch_token(token.id, now).await?;
        }
        Ok(Ok(Session {
            actor: Actor::for_user(&user),
            token_id: token.id,
            user,
            org,
        }))
    }

    // ---------- organizations ----------

    /// Find an organization by id or short name.
    pub async fn find_organization(&self, reference: &str) -> CoreResult<Organization> {
        let found = match uuid_or(reference) {
            Some(id) => self.store.organization(id).await?,
            None => self.store.organization_by_short_name(reference).await?,
        };
        found.ok_or_else(|| {
            CoreError::not_found(format!("organization `{}` not found", v::clip(reference)))
        })
    }

    pub(crate) fn check_new_org(input: &NewOrganization) -> CoreResult<()> {
        v::text("name", &input.name, 200)?;
        v::slug("short_name", &input.short_name)?;
        v::text("sector", &input.sector, 100)?;
        v::country("country", &input.country)?;
        check_opt_email("security_email", &input.security_email)?;
        check_opt_text("security_phone", &input.security_phone, 64)?;
        check_opt_text("out_of_band_contact", &input.out_of_band_contact, 500)?;
        Ok(())
    }

    pub async fn create_organization(
        &self,
        actor: &Actor,
        input: NewOrganization,
    ) -> CoreResult<Organization> {
        if !policy::can_run_node(actor) {
            return Err(self
                .deny(
                    actor,
                    "organization.create",
                    "organization",
                    &input.short_name,
                )
                .await);
        }
        Self::check_new_org(&input)?;
        let now = ts::now();
        let org = Organization {
            id: Uuid::new_v4(),
            name: input.name.trim().to_string(),
            short_name: input.short_name,
            sector: input.sector.trim().to_string(),
            org_type: input.org_type,
            country: input.country,
            security_email: none_if_empty(input.security_email),
            security_phone: none_if_empty(input.security_phone),
            out_of_band_contact: none_if_empty(input.out_of_band_contact),
            verified_by: None,
            verified_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let key = keys::new_org_key(&self.master, org.id);
        let audit = AuditEvent::new(actor, "organization.create", "organization", org.id)
            .org(Some(org.id))
            .details(serde_json::json!({"short_name": org.short_name, "key_id": key.key_id}));
        self.store.create_organization(&org, &key, audit).await?;
        Ok(org)
    }

    pub async fn update_organization(
        &self,
        actor: &Actor,
        reference: &str,
        patch: OrganizationPatch,
    ) -> CoreResult<Organization> {
        let mut org = self.find_organization(reference).await?;
        if !policy::can_manage_org(actor, org.id) {
            return Err(self
                .deny(
                    actor,
                    "organization.update",
                    "organization",
                    &org.id.to_string(),
                )
                .await);
        }
        if let Some(name) = &patch.name {
            v::text("name", name, 200)?;
        }
        if let Some(sector) = &patch.sector {
            v::text("sector", sector, 100)?;
        }
        if let Some(country) = &patch.country {
            v::country("country", country)?;
        }
        check_opt_email("security_email", &patch.security_email)?;
        check_opt_text("security_phone", &patch.security_phone, 64)?;
        check_opt_text("out_of_band_contact", &patch.out_of_band_contact, 500)?;
        for _ in 0..UPDATE_ATTEMPTS {
            let before = org.clone();
            if let Some(x) = &patch.name {
                org.name = x.trim().to_string();
            }
            if let Some(x) = &patch.sector {
                org.sector = x.trim().to_string();
            }
            if let Some(x) = patch.org_type {
                org.org_type = x;
            }
            if let Some(x) = &patch.country {
                org.country = x.clone();
            }
            if patch.security_email.is_some() {
                org.security_email = none_if_empty(patch.security_email.clone());
            }
            if patch.security_phone.is_some() {
                org.security_phone = none_if_empty(patch.security_phone.clone());
            }
            if patch.out_of_band_contact.is_some() {
                org.out_of_band_contact = none_if_empty(patch.out_of_band_contact.clone());
            }
            if org == before {
                return Ok(org);
            }
            org.updated_at = ts::now();
            org.version = before.version + 1;
            let audit = AuditEvent::new(actor, "organization.update", "organization", org.id)
                .org(Some(org.id))
                .details(serde_json::to_value(&patch).unwrap_or_default());
            match self.store.update_organization(&org, audit).await {
                Err(StoreError::VersionConflict) => {
                    org = self.find_organization(&before.id.to_string()).await?;
                }
                other => return other.map(|_| org).map_err(Into::into),
            }
        }
        Err(conflict())
    }

    /// Record (or withdraw) that the node operator verified who this organization is.
    pub async fn verify_organization(
        &self,
        actor: &Actor,
        reference: &str,
        verified: bool,
    ) -> CoreResult<Organization> {
        let mut org = self.find_organization(reference).await?;
        if !policy::can_run_node(actor) {
            return Err(self
                .deny(
                    actor,
                    "organization.verify",
                    "organization",
                    &org.id.to_string(),
                )
                .await);
        }
        for _ in 0..UPDATE_ATTEMPTS {
            let before = org.clone();
            if verified == org.verified_at.is_some() {
                return Ok(org);
            }
            let now = ts::now();
            org.verified_at = verified.then_some(now);
            org.verified_by = if verified { actor.user_id } else { None };
            org.updated_at = now;
            org.version = before.version + 1;
            let action = if verified {
                "organization.verify"
            } else {
                "organization.unverify"
            };
            let audit = AuditEvent::new(actor, action, "organization", org.id)
                .org(Some(org.id))
                .outcome(Outcome::Granted);
            match self.store.update_organization(&org, audit).await {
                Err(StoreError::VersionConflict) => {
                    org = self.find_organization(&before.id.to_string()).await?;
                }
                other => return other.map(|_| org).map_err(Into::into),
            }
        }
        Err(conflict())
    }

    /// The organization directory: every authenticated user may read it.
    pub async fn organizations(&self) -> CoreResult<Vec<Organization>> {
        Ok(self.store.organizations().await?)
    }

    /// Published signing keys of an organization, newest first.
    pub async fn organization_keys(&self, reference: &str) -> CoreResult<Vec<PublicKey>> {
        let org = self.find_organization(reference).await?;
        let mut keys: Vec<PublicKey> = self
            .store
            .organization_keys(org.id)
            .await?
            .iter()
            .map(OrgKey::public)
            .collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        Ok(keys)
    }

    // ---------- users ----------

    /// Find a user by id or user name, if the actor may see it (own organization, or operator).
    pub async fn find_user(&self, actor: &Actor, reference: &str) -> CoreResult<User> {
        let found = match uuid_or(reference) {
            Some(id) => self.store.user(id).await?,
            None => self.store.user_by_name(reference).await?,
        };
        match found {
            Some(u) if actor.is_operator() || actor.org_id == Some(u.org_id) => Ok(u),
            _ => Err(CoreError::not_found(format!(
                "user `{}` not found",
                v::clip(reference)
            ))),
        }
    }

    pub async fn create_user(&self, actor: &Actor, input: NewUser) -> CoreResult<User> {
        let org = match &input.organization {
            Some(r) => self.find_organization(r).await?,
            None => {
                let id = actor
                    .org_id
                    .ok_or_else(|| CoreError::invalid("organization", "is required"))?;
                self.find_organization(&id.to_string()).await?
            }
        };
        if !policy::can_set_role(actor, org.id, Role::ReadOnly, input.role) {
            return Err(self
                .deny(actor, "user.create", "user", &input.username)
                .await);
        }
        v::username("username", &input.username)?;
        let display_name = input.display_name.unwrap_or_else(|| input.username.clone());
        v::text("display_name", &display_name, 200)?;
        check_opt_email("email", &input.email)?;
        let password_hash = match &input.password {
            Some(p) => {
                v::password("password", p)?;
                Some(auth::hash_password(p).map_err(CoreError::Internal)?)
            }
            None => None,
        };
        let now = ts::now();
        let user = User {
            id: Uuid::new_v4(),
            org_id: org.id,
            username: input.username,
            display_name,
            email: none_if_empty(input.email),
            role: input.role,
            disabled: false,
            password_hash,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let audit = AuditEvent::new(actor, "user.create", "user", user.id)
            .org(Some(org.id))
            .outcome(Outcome::Granted)
            .details(serde_json::json!({"username": user.username, "role": user.role.as_str()}));
        self.store.create_user(&user, audit).await?;
        Ok(user)
    }

    pub async fn update_user(
        &self,
        actor: &Actor,
        reference: &str,
        patch: UserPatch,
    ) -> CoreResult<User> {
        let mut user = self.find_user(actor, reference).await?;
        let to_role = patch.role.unwrap_or(user.role);
        let self_service =
            actor.user_id == Some(user.id) && patch.role.is_none() && patch.disabled.is_none();
        if !self_service && !policy::can_set_role(actor, user.org_id, user.role, to_role) {
            return Err(self
                .deny(actor, "user.update", "user", &user.id.to_string())
                .await);
        }
        if let Some(d) = &patch.display_name {
            v::text("display_name", d, 200)?;
        }
        check_opt_email("email", &patch.email)?;
        let password_hash = match &patch.password {
            Some(p) => {
                v::password("password", p)?;
                Some(auth::hash_password(p).map_err(CoreError::Internal)?)
            }
            None => None,
        };
        for _ in 0..UPDATE_ATTEMPTS {
            let before = user.clone();
            if let Some(x) = &patch.display_name {
                user.display_name = x.trim().to_string();
            }
            if patch.email.is_some() {
                user.email = none_if_empty(patch.email.clone());
            }
            if let Some(x) = patch.role {
                user.role = x;
            }
            if let Some(x) = patch.disabled {
                user.disabled = x;
            }
            if password_hash.is_some() {
                user.password_hash = password_hash.clone();
            }
            if user == before {
                return Ok(user);
            }
            user.updated_at = ts::now();
            user.version = before.version + 1;
            let mut details = serde_json::json!({});
            if before.role != user.role {
                details["role"] =
                    serde_json::json!({"from": before.role.as_str(), "to": user.role.as_str()});
            }
            if before.disabled != user.disabled {
                details["disabled"] = serde_json::json!(user.disabled);
            }
            if password_hash.is_some() {
                details["password"] = serde_json::json!("changed");
            }
            let outcome = if before.role != user.role || before.disabled != user.disabled {
                Outcome::Granted
            } else {
                Outcome::Changed
            };
            let audit = AuditEvent::new(actor, "user.update", "user", user.id)
                .org(Some(user.org_id))
                .outcome(outcome)
                .details(details);
            match self.store.update_user(&user, audit).await {
                Err(StoreError::VersionConflict) => {
                    user = self.find_user(actor, &before.id.to_string()).await?;
                }
                other => return other.map(|_| user).map_err(Into::into),
            }
        }
        Err(conflict())
    }

    /// Users the actor may see: its own organization's, or all for the operator.
    pub async fn users(&self, actor: &Actor, org: Option<&str>) -> CoreResult<Vec<User>> {
        let filter = match org {
            Some(r) => Some(self.find_organization(r).await?.id),
            None => None,
        };
        if actor.is_operator() {
            return Ok(self.store.users(filter).await?);
        }
        let own = actor
            .org_id
            .ok_or_else(|| CoreError::forbidden("no organization"))?;
        if filter.is_some_and(|f| f != own) {
            return Err(CoreError::forbidden(
                "you may list only your own organization's users",
            ));
        }
        Ok(self.store.users(Some(own)).await?)
    }

    // ---------- tokens ----------

    fn may_manage_tokens_of(actor: &Actor, user: &User) -> bool {
        actor.user_id == Some(user.id) || policy::can_manage_org(actor, user.org_id)
    }

    pub async fn create_token(
        &self,
        actor: &Actor,
        user_ref: &str,
        request: NewTokenRequest,
    ) -> CoreResult<CreatedToken> {
        let user = self.find_user(actor, user_ref).await?;
        if !Self::may_manage_tokens_of(actor, &user) {
            return Err(self
                .deny(actor, "token.create", "user", &user.id.to_string())
                .await);
        }
        let secret = auth::generate_token();
        let token = self
            .store_token(actor, &user, &request, &secret.hash, &secret.prefix)
            .await?;
        Ok(CreatedToken {
            token,
            secret: secret.secret,
        })
    }

    /// Store a token whose secret is known only by its hash (provisioning).
    pub async fn import_token_hash(
        &self,
        actor: &Actor,
        user: &User,
        request: &NewTokenRequest,
        hash: &str,
    ) -> CoreResult<ApiToken> {
        if !auth::is_token_hash(hash) {
            return Err(CoreError::invalid(
                "hash",
                "must be the lowercase hex SHA-256 (64 characters) of the token",
            ));
        }
        self.store_token(actor, user, request, hash, "cairn_…")
            .await
    }

    async fn store_token(
        &self,
        actor: &Actor,
        user: &User,
        request: &NewTokenRequest,
        hash: &str,
        prefix: &str,
    ) -> CoreResult<ApiToken> {
        v::text("name", &request.name, 100)?;
        let now = ts::now();
        if request.expires_at.is_some_and(|e| e <= now) {
            return Err(CoreError::invalid("expires_at", "must be in the future"));
        }
        let existing = self.store.tokens_of(user.id).await?;
        if existing
            .iter()
            .any(|t| t.name == request.name && t.is_active(now))
        {
            return Err(CoreError::Conflict(format!(
                "user `{}` already has an active token named `{}`",
                user.username,
                v::clip(&request.name)
            )));
        }
        let token = ApiToken {
            id: Uuid::new_v4(),
            user_id: user.id,
            name: request.name.clone(),
            prefix: prefix.to_string(),
            token_hash: hash.to_string(),
            created_at: now,
            expires_at: request.expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        let audit = AuditEvent::new(actor, "token.create", "token", token.id)
            .org(Some(user.org_id))
            .outcome(Outcome::Granted)
            .details(serde_json::json!({
                "user": user.username,
                "name": token.name,
                "expires_at": token.expires_at.map(ts::format),
            }));
        self.store.create_token(&token, audit).await?;
        Ok(token)
    }

    pub async fn tokens(&self, actor: &Actor, user_ref: &str) -> CoreResult<Vec<ApiToken>> {
        let user = self.find_user(actor, user_ref).await?;
        if !Self::may_manage_tokens_of(actor, &user) {
            return Err(CoreError::forbidden("you may not list this user's tokens"));
        }
        Ok(self.store.tokens_of(user.id).await?)
    }

    pub async fn revoke_token(&self, actor: &Actor, token_id: Uuid) -> CoreResult<ApiToken> {
        let not_found = || CoreError::not_found(format!("token `{token_id}` not found"));
        let token = self.store.token(token_id).await?.ok_or_else(not_found)?;
        let user = self
            .find_user(actor, &token.user_id.to_string())
            .await
            .map_err(|_| not_found())?;
        if !Self::may_manage_tokens_of(actor, &user) {
            return Err(self
                .deny(actor, "token.revoke", "token", &token_id.to_string())
                .await);
        }
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        let now = ts::now();
        let audit = AuditEvent::new(actor, "token.revoke", "token", token.id)
            .org(Some(user.org_id))
            .details(serde_json::json!({"user": user.username, "name": token.name}));
        self.store.revoke_token(token.id, now, audit).await?;
        Ok(ApiToken {
            revoked_at: Some(now),
            ..token
        })
    }

    // ---------- communities ----------

    /// A community the actor may see, with its memberships; otherwise not found.
    pub async fn find_community(
        &self,
        actor: &Actor,
        slug: &str,
    ) -> CoreResult<(Community, Vec<Membership>)> {
        let not_found = || CoreError::not_found(format!("community `{}` not found", v::clip(slug)));
        let community = match uuid_or(slug) {
            Some(id) => self.store.community(id).await?,
            None => self.store.community_by_slug(slug).await?,
        }
        .ok_or_else(not_found)?;
        let memberships = self.store.memberships(community.id).await?;
        if !policy::can_view_community(actor, &memberships) {
            return Err(not_found());
        }
        Ok((community, memberships))
    }

    pub async fn create_community(
        &self,
        actor: &Actor,
        input: NewCommunity,
    ) -> CoreResult<Community> {
        if !policy::can_run_node(actor) {
            return Err(self
                .deny(actor, "community.create", "community", &input.slug)
                .await);
        }
        v::slug("slug", &input.slug)?;
        v::text("name", &input.name, 200)?;
        v::optional_text("description", &input.description, 10_000)?;
        let now = ts::now();
        let community = Community {
            id: Uuid::new_v4(),
            slug: input.slug,
            name: input.name.trim().to_string(),
            description: input.description,
            default_tlp: input.default_tlp,
            public_feed: input.public_feed,
            review_after_days: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let audit = AuditEvent::new(actor, "community.create", "community", community.id).details(
            serde_json::json!({
                "slug": community.slug,
                "default_tlp": community.default_tlp.as_str(),
                "public_feed": community.public_feed,
            }),
        );
        self.store.create_community(&community, audit).await?;
        Ok(community)
    }

    pub async fn update_community(
        &self,
        actor: &Actor,
        slug: &str,
        patch: CommunityPatch,
    ) -> CoreResult<Community> {
        let (mut community, memberships) = self.find_community(actor, slug).await?;
        if !policy::can_chair_community(actor, &memberships) {
            return Err(self
                .deny(
                    actor,
                    "community.update",
                    "community",
                    &community.id.to_string(),
                )
                .await);
        }
        if let Some(n) = &patch.name {
            v::text("name", n, 200)?;
        }
        if let Some(d) = &patch.description {
            v::optional_text("description", d, 10_000)?;
        }
        if let Some(days) = patch.review_after_days {
            if !(0..=3650).contains(&days) {
                return Err(CoreError::invalid(
                    "review_after_days",
                    "must be a number of days from 1 to 3650, or 0 for no reminders",
                ));
            }
        }
        for _ in 0..UPDATE_ATTEMPTS {
            let before = community.clone();
            if let Some(x) = &patch.name {
                community.name = x.trim().to_string();
            }
            if let Some(x) = &patch.description {
                community.description = x.clone();
            }
            if let Some(x) = patch.default_tlp {
                community.default_tlp = x;
            }
            if let Some(x) = patch.public_feed {
                community.public_feed = x;
            }
            if let Some(x) = patch.review_after_days {
                community.review_after_days = (x > 0).then_some(x);
            }
            if community == before {
                return Ok(community);
            }
            community.updated_at = ts::now();
            community.version = before.version + 1;
            // Changing the default marking or opening a public feed changes what members see.
            let marking_change = before.default_tlp != community.default_tlp
                || before.public_feed != community.public_feed;
            let audit = AuditEvent::new(actor, "community.update", "community", community.id)
                .outcome(if marking_change {
                    Outcome::Granted
                } else {
                    Outcome::Changed
                })
                .details(serde_json::to_value(&patch).unwrap_or_default());
            match self.store.update_community(&community, audit).await {
                Err(StoreError::VersionConflict) => {
                    community = self
                        .store
                        .community(before.id)
                        .await?
                        .ok_or_else(|| CoreError::not_found("community removed"))?;
                }
                other => return other.map(|_| community).map_err(Into::into),
            }
        }
        Err(conflict())
    }

    /// Communities the actor's organization belongs to; all of them for the operator.
    pub async fn communities(&self, actor: &Actor) -> CoreResult<Vec<Community>> {
        let filter = if actor.is_operator() {
            None
        } else {
            actor.org_id
        };
        if !actor.is_operator() && filter.is_none() {
            return Ok(Vec::new());
        }
        Ok(self.store.communities(filter).await?)
    }

    /// Admit an organization or change its community role.
    pub async fn put_member(
        &self,
        actor: &Actor,
        slug: &str,
        request: MembershipRequest,
    ) -> CoreResult<Membership> {
        let (community, memberships) = self.find_community(actor, slug).await?;
        if !policy::can_chair_community(actor, &memberships) {
            return Err(self
                .deny(
                    actor,
                    "membership.put",
                    "community",
                    &community.id.to_string(),
                )
                .await);
        }
        let org = self.find_organization(&request.organization).await?;
        let existing = memberships.iter().find(|m| m.org_id == org.id);
        if let Some(same) = existing.filter(|m| m.role == request.role) {
            return Ok(same.clone());
        }
        let membership = Membership {
            community_id: community.id,
            org_id: org.id,
            role: request.role,
            joined_at: existing.map(|m| m.joined_at).unwrap_or_else(ts::now),
        };
        let action = if existing.is_some() {
            "membership.role"
        } else {
            "membership.admit"
        };
        let audit = AuditEvent::new(actor, action, "community", community.id)
            .org(Some(org.id))
            .outcome(Outcome::Granted)
            .details(serde_json::json!({
                "community": community.slug,
                "organization": org.short_name,
                "role": request.role.as_str(),
                "previous_role": existing.map(|m| m.role.as_str()),
            }));
        self.store.put_membership(&membership, audit).await?;
        Ok(membership)
    }

    pub async fn remove_member(&self, actor: &Actor, slug: &str, org_ref: &str) -> CoreResult<()> {
        let (community, memberships) = self.find_community(actor, slug).await?;
        if !policy::can_chair_community(actor, &memberships) {
            return Err(self
                .deny(
                    actor,
                    "membership.remove",
                    "community",
                    &community.id.to_string(),
                )
                .await);
        }
        let org = self.find_organization(org_ref).await?;
        let audit = AuditEvent::new(actor, "membership.remove", "community", community.id)
            .org(Some(org.id))
            .details(
                serde_json::json!({"community": community.slug, "organization": org.short_name}),
            );
        if !self
            .store
            .remove_membership(community.id, org.id, audit)
            .await?
        {
            return Err(CoreError::not_found(format!(
                "organization `{}` is not a member of `{}`",
                org.short_name, community.slug
            )));
        }
        Ok(())
    }

    /// Members with their roles and representatives.
    pub async fn members(&self, actor: &Actor, slug: &str) -> CoreResult<Vec<MemberView>> {
        let (community, memberships) = self.find_community(actor, slug).await?;
        let reps = self.store.representatives(community.id).await?;
        let orgs = self.store.organizations().await?;
        let users = self.store.users(None).await?;
        let mut out = Vec::with_capacity(memberships.len());
        for m in memberships {
            let Some(org) = orgs.iter().find(|o| o.id == m.org_id) else {
                continue;
            };
            let representatives = reps
                .iter()
                .filter(|r| r.org_id == m.org_id)
                .filter_map(|r| users.iter().find(|u| u.id == r.user_id))
                .map(|u| u.username.clone())
                .collect();
            out.push(MemberView {
                organization: org.id,
                short_name: org.short_name.clone(),
                name: org.name.clone(),
                role: m.role,
                joined_at: m.joined_at,
                representatives,
            });
        }
        Ok(out)
    }

    /// Designate a user of a member organization as its representative in the community.
    pub async fn designate(
        &self,
        actor: &Actor,
        slug: &str,
        user_ref: &str,
    ) -> CoreResult<Representative> {
        let (community, memberships) = self.find_community(actor, slug).await?;
        let user = self.find_user(actor, user_ref).await?;
        if !policy::can_designate(actor, user.org_id) {
            return Err(self
                .deny(
                    actor,
                    "representative.designate",
                    "community",
                    &community.id.to_string(),
                )
                .await);
        }
        if !memberships.iter().any(|m| m.org_id == user.org_id) {
            return Err(CoreError::invalid(
                "user",
                format!(
                    "`{}`'s organization is not a member of `{}`",
                    user.username, community.slug
                ),
            ));
        }
        let rep = Representative {
            community_id: community.id,
            user_id: user.id,
            org_id: user.org_id,
            designated_at: ts::now(),
        };
        let audit = AuditEvent::new(actor, "representative.designate", "community", community.id)
            .org(Some(user.org_id))
            .outcome(Outcome::Granted)
            .details(serde_json::json!({"community": community.slug, "user": user.username}));
        self.store.put_representative(&rep, audit).await?;
        Ok(rep)
    }

    pub async fn withdraw_representative(
        &self,
        actor: &Actor,
        slug: &str,
        user_ref: &str,
    ) -> CoreResult<()> {
        let (community, _) = self.find_community(actor, slug).await?;
        let user = self.find_user(actor, user_ref).await?;
        if !policy::can_designate(actor, user.org_id) {
            return Err(self
                .deny(
                    actor,
                    "representative.withdraw",
                    "community",
                    &community.id.to_string(),
                )
                .await);
        }
        let audit = AuditEvent::new(actor, "representative.withdraw", "community", community.id)
            .org(Some(user.org_id))
            .details(serde_json::json!({"community": community.slug, "user": user.username}));
        if !self
            .store
            .remove_representative(community.id, user.id, audit)
            .await?
        {
            return Err(CoreError::not_found(format!(
                "`{}` is not a representative in `{}`",
                user.username, community.slug
            )));
        }
        Ok(())
    }

    // ---------- audit ----------

    /// Audit entries: all for the operator; an organization admin reads those about its own
    /// organization's objects or made by its users.
    pub async fn audit_entries(
        &self,
        actor: &Actor,
        mut query: AuditQuery,
    ) -> CoreResult<Vec<AuditEntry>> {
        query.limit = query.limit.clamp(1, 1000);
        if actor.is_operator() {
            return Ok(self.store.audit_entries(&query).await?);
        }
        match (actor.role, actor.org_id) {
            (Role::OrgAdmin, Some(own)) => {
                if query.org.is_some_and(|o| o != own) {
                    return Err(CoreError::forbidden(
                        "you may read only your own organization's audit entries",
                    ));
                }
                query.org = Some(own);
                Ok(self.store.audit_entries(&query).await?)
            }
            _ => Err(CoreError::forbidden(
                "only organization admins may read the audit log",
            )),
        }
    }
}

fn conflict() -> CoreError {
    CoreError::Conflict("the record kept changing while it was being updated; retry".into())
}

fn verb(action: &str) -> &str {
    action.rsplit('.').next().unwrap_or(action)
}
