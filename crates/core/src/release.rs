//! The source has the last word (ISO 22396 6.4.4, Annex A): the source changes the marking or
//! the audience of its own objects at any time, recipients ask the source for a wider
//! distribution and the source decides, and sources are reminded to review RED and AMBER
//! markings. Every decision is audited and recorded in the object's marking history; what a
//! decision changes is read by the entitlement rule at once, on every path, because the rule
//! reads the marking and audience from the store inside each query.

use std::collections::HashSet;

use cairn_stix::marking as mk;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{CoreError, CoreResult};
use crate::exchange::Access;
use crate::model::*;
use crate::sharing::*;
use crate::ts::serde_ts;
use crate::{policy, ts, validate as v, Cairn};

/// The most reminders one sweep writes per community (the rest follow on the next sweep).
pub const REVIEW_SWEEP_LIMIT: i64 = 1_000;

/// A change of marking or audience asked by the source.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MarkingChangeInput {
    /// The new TLP level (absent: unchanged).
    #[serde(default)]
    pub tlp: Option<TlpLevel>,
    /// The recipient organizations (short names or ids) for AMBER and AMBER+STRICT; an empty
    /// list means every member (absent: unchanged).
    #[serde(default)]
    pub organizations: Option<Vec<String>>,
    /// The recipient users (user names or ids) for RED (absent: unchanged).
    #[serde(default)]
    pub users: Option<Vec<String>>,
    /// Why; kept in the marking history and the audit log.
    #[serde(default)]
    pub reason: String,
}

/// One decision on an object's marking, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarkingChange {
    pub id: Uuid,
    pub community_id: Uuid,
    pub object_id: String,
    /// The user who decided (none for the system).
    pub changed_by: Option<Uuid>,
    /// The source organization.
    pub org_id: Uuid,
    pub from_tlp: TlpLevel,
    pub to_tlp: TlpLevel,
    pub audience_before: Audience,
    pub audience_after: Audience,
    /// The STIX version Cairn published for the source with the new marking, if any.
    pub new_version: Option<String>,
    pub reason: String,
    /// The release request this decision answered, if any.
    pub release_request: Option<Uuid>,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: OffsetDateTime,
}

/// What a recipient asks the source to allow.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReleaseAsk {
    /// More recipient organizations (short names or ids).
    #[serde(default)]
    pub organizations: Vec<String>,
    /// Every member of the community (AMBER and AMBER+STRICT objects).
    #[serde(default)]
    pub whole_community: bool,
    /// A less restrictive TLP level.
    #[serde(default)]
    pub tlp: Option<TlpLevel>,
    /// Why the wider distribution is needed (required).
    #[serde(default)]
    pub reason: String,
}

/// Where a release request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStatus {
    Pending,
    Approved,
    PartlyApproved,
    Refused,
}

impl ReleaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Pending => "pending",
            ReleaseStatus::Approved => "approved",
            ReleaseStatus::PartlyApproved => "partly_approved",
            ReleaseStatus::Refused => "refused",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => ReleaseStatus::Pending,
            "approved" => ReleaseStatus::Approved,
            "partly_approved" => ReleaseStatus::PartlyApproved,
            "refused" => ReleaseStatus::Refused,
            _ => return None,
        })
    }
}

/// What the source granted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseGrant {
    pub organizations: Vec<Uuid>,
    pub whole_community: bool,
    pub tlp: Option<TlpLevel>,
}

/// A recipient's request to the source for a wider distribution of one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseRequest {
    pub id: Uuid,
    pub community_id: Uuid,
    pub object_id: String,
    /// The source organization; the nil id when the object was shared anonymously and the
    /// reader is not the source.
    pub source_org: Uuid,
    /// The object was shared anonymously: the requester deals with a pseudonym.
    #[serde(default)]
    pub source_anonymous: bool,
    pub requester_user: Uuid,
    pub requester_org: Uuid,
    /// The organizations asked for, as ids.
    pub organizations: Vec<Uuid>,
    pub whole_community: bool,
    pub tlp: Option<TlpLevel>,
    pub reason: String,
    pub status: ReleaseStatus,
    /// The TLP level of the object when asked.
    pub tlp_when_asked: TlpLevel,
    pub granted: Option<ReleaseGrant>,
    pub decided_by: Option<Uuid>,
    pub decision_reason: Option<String>,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: OffsetDateTime,
    #[serde(with = "crate::ts::serde_ts::option", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub decided_at: Option<OffsetDateTime>,
    pub version: i64,
}

/// The source's answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReleaseDecision {
    /// `true` approves (fully, or partly with the fields below), `false` refuses.
    pub approve: bool,
    /// Approve only these of the organizations asked for (absent: all of them).
    #[serde(default)]
    pub organizations: Option<Vec<String>>,
    /// Approve this level instead of the one asked for: between it and the current level.
    #[serde(default)]
    pub tlp: Option<TlpLevel>,
    /// Approve the whole community (only if asked; absent: as asked).
    #[serde(default)]
    pub whole_community: Option<bool>,
    /// Why; required when refusing.
    #[serde(default)]
    pub reason: String,
}

/// Which release requests to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReleaseBox {
    /// Requests about the caller organization's objects.
    #[default]
    Incoming,
    /// Requests the caller's organization made.
    Outgoing,
}

/// A store query of release requests.
#[derive(Debug, Clone)]
pub struct ReleaseQuery {
    pub source_org: Option<Uuid>,
    pub requester_org: Option<Uuid>,
    pub status: Option<ReleaseStatus>,
    pub limit: i64,
}

/// A message for one user, shown in the application. It names objects by id only; the listing
/// shows a notification about an object only while the user may see that object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: Uuid,
    pub user_id: Uuid,
    pub community_id: Option<Uuid>,
    pub object_id: Option<String>,
    /// `release_request`, `release_decision`, `marking_review`, …
    pub kind: String,
    pub body: Value,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: OffsetDateTime,
    #[serde(with = "crate::ts::serde_ts::option", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub read_at: Option<OffsetDateTime>,
}

/// An object whose marking is due for review.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewDue {
    pub object_id: String,
    pub object_type: String,
    pub tlp: TlpLevel,
    /// When the marking was last decided (the latest version's addition or marking change).
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub decided_at: OffsetDateTime,
}

/// A marking decision ready for the store: the history entry, the new audience (if it
/// changes) and the new version to publish (if any).
#[derive(Debug, Clone)]
pub struct MarkingWrite {
    pub change: MarkingChange,
    pub set_audience: bool,
    pub new_version: Option<NewObjectVersion>,
}

/// Hide an anonymous source from anyone but the source.
fn mask_source(actor: &Actor, r: &mut ReleaseRequest) {
    if r.source_anonymous && actor.org_id != Some(r.source_org) {
        r.source_org = Uuid::nil();
    }
}

fn check_reason(reason: &str, required: bool) -> CoreResult<()> {
    if required && reason.trim().is_empty() {
        return Err(CoreError::invalid("reason", "is required"));
    }
    v::optional_text("reason", reason, 2_000)
}

pub(crate) fn tlp_marking_id(level: TlpLevel) -> &'static str {
    match level {
        TlpLevel::Clear => mk::TLP_CLEAR_ID,
        TlpLevel::Green => mk::TLP_GREEN_ID,
        TlpLevel::Amber => mk::TLP_AMBER_ID,
        TlpLevel::AmberStrict => mk::TLP_AMBER_STRICT_ID,
        TlpLevel::Red => mk::TLP_RED_ID,
    }
}

fn is_tlp_marking(id: &str) -> bool {
    [
        mk::TLP1_WHITE_ID,
        mk::TLP1_GREEN_ID,
        mk::TLP1_AMBER_ID,
        mk::TLP1_RED_ID,
        mk::TLP_CLEAR_ID,
        mk::TLP_GREEN_ID,
        mk::TLP_AMBER_ID,
        mk::TLP_AMBER_STRICT_ID,
        mk::TLP_RED_ID,
    ]
    .contains(&id)
}

/// The next version of `raw` with `level` as its only TLP marking, published at `now` (at
/// least a millisecond after the current `modified`), and the audience extension (if the
/// object carries it) naming `audience`. `None` for objects STIX does not version (no
/// `modified`) or that are revoked.
pub fn remarked_version(
    raw: &str,
    level: TlpLevel,
    audience: &Audience,
    now: OffsetDateTime,
) -> Option<(String, String)> {
    let mut obj: Value = serde_json::from_str(raw).ok()?;
    let map = obj.as_object_mut()?;
    if map.get("revoked").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let current = cairn_stix::Timestamp::parse(map.get("modified")?.as_str()?).ok()?;
    let floor = current.unix_nanos() + 1_000_000;
    let at = now.unix_timestamp_nanos().max(floor as i128);
    let at = OffsetDateTime::from_unix_timestamp_nanos(at - at % 1_000_000).ok()?;
    let modified = at
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .ok()?;
    let mut refs: Vec<Value> = map
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter(|x| !x.as_str().is_some_and(is_tlp_marking))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    refs.push(Value::String(tlp_marking_id(level).to_string()));
    map.insert("object_marking_refs".into(), Value::Array(refs));
    map.insert("modified".into(), Value::String(modified.clone()));
    if let Some(ext) = map
        .get_mut("extensions")
        .and_then(|e| e.get_mut(mk::AUDIENCE_EXTENSION_DEFINITION_ID))
        .and_then(Value::as_object_mut)
    {
        let ids =
            |l: &[Uuid]| Value::Array(l.iter().map(|u| Value::String(u.to_string())).collect());
        ext.remove("organizations");
        ext.remove("users");
        if !audience.organizations.is_empty() {
            ext.insert("organizations".into(), ids(&audience.organizations));
        }
        if !audience.users.is_empty() {
            ext.insert("users".into(), ids(&audience.users));
        }
    }
    Some((serde_json::to_string(&obj).ok()?, modified))
}

impl Cairn {
    /// The latest version of `object_id` the viewer may see, or 404.
    pub(crate) async fn visible(
        &self,
        access: &Access,
        object_id: &str,
    ) -> CoreResult<ObjectVersion> {
        let q = ObjectQuery {
            ids: vec![object_id.to_string()],
            versions: VersionMatch::Last,
            limit: 1,
            ..Default::default()
        };
        self.store()
            .objects(&access.viewer, access.community.id, &q)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                CoreError::not_found(format!("object `{}` not found", v::clip(object_id)))
            })
    }

    /// Resolve organization references to members of the community.
    pub(crate) async fn member_orgs(
        &self,
        access: &Access,
        field: &str,
        names: &[String],
    ) -> CoreResult<Vec<Uuid>> {
        let members: HashSet<Uuid> = access.memberships.iter().map(|m| m.org_id).collect();
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let org = self.find_organization(name).await.map_err(|_| {
                CoreError::invalid(
                    format!("{field}[{i}]"),
                    format!("no organization `{}`", v::clip(name)),
                )
            })?;
            if !members.contains(&org.id) {
                return Err(CoreError::invalid(
                    format!("{field}[{i}]"),
                    format!("`{}` is not a member of this community", v::clip(name)),
                ));
            }
            if !out.contains(&org.id) {
                out.push(org.id);
            }
        }
        Ok(out)
    }

    pub(crate) async fn member_users(
        &self,
        access: &Access,
        names: &[String],
    ) -> CoreResult<Vec<Uuid>> {
        let members: HashSet<Uuid> = access.memberships.iter().map(|m| m.org_id).collect();
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let found = match Uuid::parse_str(name) {
                Ok(id) => self.store().user(id).await?,
                Err(_) => self.store().user_by_name(name).await?,
            };
            let user = found
                .filter(|u| members.contains(&u.org_id))
                .ok_or_else(|| {
                    CoreError::invalid(
                        format!("users[{i}]"),
                        format!("no user `{}` in a member organization", v::clip(name)),
                    )
                })?;
            if !out.contains(&user.id) {
                out.push(user.id);
            }
        }
        Ok(out)
    }

    /// The source's admins and analysts: who receives what is addressed to the source.
    pub(crate) async fn source_desk(&self, org: Uuid) -> CoreResult<Vec<Uuid>> {
        Ok(self
            .store()
            .users(Some(org))
            .await?
            .into_iter()
            .filter(|u| !u.disabled && matches!(u.role, Role::OrgAdmin | Role::Analyst))
            .map(|u| u.id)
            .collect())
    }

    fn notification(
        user: Uuid,
        community: Uuid,
        object_id: &str,
        kind: &str,
        body: Value,
    ) -> Notification {
        Notification {
            id: Uuid::new_v4(),
            user_id: user,
            community_id: Some(community),
            object_id: Some(object_id.to_string()),
            kind: kind.into(),
            body,
            created_at: ts::now(),
            read_at: None,
        }
    }

    /// Work out a marking decision on the latest version `current` for the source.
    #[allow(clippy::too_many_arguments)]
    fn plan_marking(
        actor: &Actor,
        access: &Access,
        current: &ObjectVersion,
        before: Audience,
        tlp: TlpLevel,
        audience: Option<Audience>,
        reason: &str,
        request: Option<Uuid>,
    ) -> CoreResult<Option<MarkingWrite>> {
        let sorted = |mut a: Audience| {
            a.organizations.sort();
            a.users.sort();
            a
        };
        let before = sorted(before);
        let after = sorted(audience.clone().unwrap_or_else(|| before.clone()));
        if tlp == TlpLevel::Red && after.users.is_empty() {
            return Err(CoreError::invalid(
                "users",
                "a TLP:RED object must name its recipient users",
            ));
        }
        if tlp == current.tlp && after == before {
            return Ok(None);
        }
        let now = ts::now();
        let new_version = if tlp != current.tlp {
            remarked_version(&current.raw, tlp, &after, now).map(|(raw, modified)| {
                let key = cairn_stix::Timestamp::parse(&modified)
                    .map(|t| version_key(&t))
                    .unwrap_or_default();
                NewObjectVersion {
                    object_id: current.object_id.clone(),
                    object_type: current.object_type.clone(),
                    spec_version: current.spec_version.clone(),
                    version: Some(modified),
                    version_key: Some(key),
                    source_org: current.source_org,
                    source_user: actor.user_id,
                    tlp,
                    revoked: false,
                    refs: crate::feedback::refs_in_raw(&current.object_type, &raw),
                    index: crate::search::index_raw(&raw),
                    raw,
                    audience: None,
                    provenance: None,
                    anonymous: current.anonymous,
                }
            })
        } else {
            None
        };
        Ok(Some(MarkingWrite {
            change: MarkingChange {
                id: Uuid::new_v4(),
                community_id: access.community.id,
                object_id: current.object_id.clone(),
                changed_by: actor.user_id,
                org_id: current.source_org,
                from_tlp: current.tlp,
                to_tlp: tlp,
                audience_before: before,
                audience_after: after,
                new_version: new_version.as_ref().and_then(|n| n.version.clone()),
                reason: reason.trim().to_string(),
                release_request: request,
                at: now,
            },
            set_audience: audience.is_some(),
            new_version,
        }))
    }

    fn marking_audit(actor: &Actor, access: &Access, w: &MarkingWrite) -> AuditEvent {
        let c = &w.change;
        AuditEvent::new(actor, "objects.marking_change", "object", &c.object_id)
            .org(Some(c.org_id))
            .outcome(Outcome::Changed)
            .details(serde_json::json!({
                "community": access.community.slug,
                "from": c.from_tlp.as_str(),
                "to": c.to_tlp.as_str(),
                "audience_before": c.audience_before,
                "audience_after": c.audience_after,
                "new_version": c.new_version,
                "reason": c.reason,
                "release_request": c.release_request,
            }))
    }

    /// The source changes the marking or the audience of its own object, up or down. A new TLP
    /// level applies to every stored version at once; an object STIX versions also gets a new
    /// version carrying the new TLP marking. Returns the history entry (none if nothing changed).
    pub async fn change_marking(
        &self,
        actor: &Actor,
        community: &str,
        object_id: &str,
        input: MarkingChangeInput,
    ) -> CoreResult<Option<MarkingChange>> {
        let access = self.access(Some(actor), community).await?;
        let current = self.visible(&access, object_id).await?;
        if actor.org_id != Some(current.source_org)
            || !policy::can_share(actor, &access.memberships)
        {
            return Err(self
                .deny_object(actor, "objects.marking_change", object_id)
                .await);
        }
        check_reason(&input.reason, true)?;
        let before = self
            .store()
            .object_audience(access.community.id, object_id)
            .await?;
        let audience = if input.organizations.is_some() || input.users.is_some() {
            let orgs = match &input.organizations {
                Some(names) => self.member_orgs(&access, "organizations", names).await?,
                None => before.organizations.clone(),
            };
            let users = match &input.users {
                Some(names) => self.member_users(&access, names).await?,
                None => before.users.clone(),
            };
            Some(Audience {
                organizations: orgs,
                users,
            })
        } else {
            None
        };
        let tlp = input.tlp.unwrap_or(current.tlp);
        let Some(write) = Self::plan_marking(
            actor,
            &access,
            &current,
            before,
            tlp,
            audience,
            &input.reason,
            None,
        )?
        else {
            return Ok(None);
        };
        let mut write = write;
        if let Some(v) = write.new_version.as_mut() {
            self.sign_for_source(&access.community, v).await?;
        }
        let audit = Self::marking_audit(actor, &access, &write);
        self.store()
            .change_marking(&write, None, &[], audit)
            .await?;
        Ok(Some(write.change))
    }

    async fn deny_object(&self, actor: &Actor, action: &str, object_id: &str) -> CoreError {
        let event = AuditEvent::new(actor, action, "object", object_id)
            .outcome(Outcome::Denied)
            .details(serde_json::json!({"reason": "not the source organization's writer"}));
        if let Err(e) = self.store().append_audit(event).await {
            tracing::error!(error = %e, "could not audit a denial");
        }
        CoreError::forbidden(
            "only the source organization's admins and analysts may decide on this object's marking",
        )
    }

    /// The marking history of an object, for its source organization.
    pub async fn marking_history(
        &self,
        actor: &Actor,
        community: &str,
        object_id: &str,
    ) -> CoreResult<Vec<MarkingChange>> {
        let access = self.access(Some(actor), community).await?;
        let current = self.visible(&access, object_id).await?;
        if actor.org_id != Some(current.source_org) {
            return Err(CoreError::forbidden(
                "only the source organization may read an object's marking history",
            ));
        }
        Ok(self
            .store()
            .marking_changes(access.community.id, object_id)
            .await?)
    }

    /// A recipient asks the source for a wider distribution of an object it may see.
    pub async fn request_release(
        &self,
        actor: &Actor,
        community: &str,
        object_id: &str,
        ask: ReleaseAsk,
    ) -> CoreResult<ReleaseRequest> {
        let access = self.access(Some(actor), community).await?;
        let current = self.visible(&access, object_id).await?;
        let (Some(user), Some(org)) = (actor.user_id, actor.org_id) else {
            return Err(CoreError::forbidden(
                "only users of member organizations may ask",
            ));
        };
        if !policy::can_share(actor, &access.memberships) {
            return Err(CoreError::forbidden(
                "read-only users and observers may not ask for a release",
            ));
        }
        if org == current.source_org {
            return Err(CoreError::invalid(
                "object",
                "your organization is the source: change the marking instead",
            ));
        }
        if crate::feedback::is_anonymous(&current.raw) {
            // A request names the source to the requester; anonymous feedback has none to name.
            return Err(CoreError::invalid(
                "object",
                "this is anonymous feedback: its source cannot be asked for a release",
            ));
        }
        check_reason(&ask.reason, true)?;
        let orgs = self
            .member_orgs(&access, "organizations", &ask.organizations)
            .await?;
        if orgs.is_empty() && !ask.whole_community && ask.tlp.is_none() {
            return Err(CoreError::invalid(
                "organizations",
                "ask for organizations, the whole community or a TLP level",
            ));
        }
        let audience = self
            .store()
            .object_audience(access.community.id, object_id)
            .await?;
        if let Some(t) = ask.tlp {
            if t >= current.tlp {
                return Err(CoreError::invalid(
                    "tlp",
                    format!(
                        "`{}` is not less restrictive than the object's `{}`",
                        t.as_str(),
                        current.tlp.as_str()
                    ),
                ));
            }
        }
        let restricted_by_org = matches!(current.tlp, TlpLevel::Amber | TlpLevel::AmberStrict);
        if (!orgs.is_empty() || ask.whole_community) && !restricted_by_org {
            return Err(CoreError::invalid(
                if ask.whole_community { "whole_community" } else { "organizations" },
                format!(
                    "a TLP:{} object's audience is not a list of organizations: ask for a TLP level",
                    current.tlp.as_str()
                ),
            ));
        }
        if restricted_by_org
            && audience.organizations.is_empty()
            && (!orgs.is_empty() || ask.whole_community)
        {
            return Err(CoreError::invalid(
                "organizations",
                "the object already goes to every member of the community",
            ));
        }
        if let Some(i) = orgs.iter().position(|o| audience.organizations.contains(o)) {
            return Err(CoreError::invalid(
                format!("organizations[{i}]"),
                "already a recipient of the object",
            ));
        }
        let pending = self
            .store()
            .release_requests(&ReleaseQuery {
                source_org: None,
                requester_org: Some(org),
                status: Some(ReleaseStatus::Pending),
                limit: 10_000,
            })
            .await?;
        if let Some(p) = pending
            .iter()
            .find(|p| p.community_id == access.community.id && p.object_id == object_id)
        {
            return Err(CoreError::Conflict(format!(
                "your organization already has a pending request for this object ({})",
                p.id
            )));
        }
        let request = ReleaseRequest {
            id: Uuid::new_v4(),
            community_id: access.community.id,
            object_id: object_id.to_string(),
            source_org: current.source_org,
            source_anonymous: current.anonymous,
            requester_user: user,
            requester_org: org,
            organizations: orgs,
            whole_community: ask.whole_community,
            tlp: ask.tlp,
            reason: ask.reason.trim().to_string(),
            status: ReleaseStatus::Pending,
            tlp_when_asked: current.tlp,
            granted: None,
            decided_by: None,
            decision_reason: None,
            created_at: ts::now(),
            decided_at: None,
            version: 1,
        };
        let notify: Vec<Notification> = self
            .source_desk(current.source_org)
            .await?
            .into_iter()
            .map(|u| {
                Self::notification(
                    u,
                    access.community.id,
                    object_id,
                    "release_request",
                    serde_json::json!({"request": request.id, "community": access.community.slug}),
                )
            })
            .collect();
        // An anonymous source stays out of what the requester's organization may read.
        let audit = AuditEvent::new(actor, "release.request", "object", object_id)
            .org((!current.anonymous).then_some(current.source_org))
            .outcome(Outcome::Changed)
            .details(serde_json::json!({
                "community": access.community.slug,
                "request": request.id,
                "organizations": request.organizations,
                "whole_community": request.whole_community,
                "tlp": request.tlp.map(TlpLevel::as_str),
            }));
        self.store()
            .create_release_request(&request, &notify, audit)
            .await?;
        let mut request = request;
        mask_source(actor, &mut request);
        Ok(request)
    }

    /// Release requests of the caller's organization: about its objects (incoming), or made by
    /// it (outgoing). Incoming requests are for the source's admins and analysts.
    pub async fn release_requests(
        &self,
        actor: &Actor,
        which: ReleaseBox,
        status: Option<ReleaseStatus>,
        limit: i64,
    ) -> CoreResult<Vec<ReleaseRequest>> {
        let org = actor
            .org_id
            .ok_or_else(|| CoreError::forbidden("release requests belong to organizations"))?;
        if which == ReleaseBox::Incoming && matches!(actor.role, Role::ReadOnly) {
            return Err(CoreError::forbidden(
                "release requests are answered by the organization's admins and analysts",
            ));
        }
        let q = ReleaseQuery {
            source_org: (which == ReleaseBox::Incoming).then_some(org),
            requester_org: (which == ReleaseBox::Outgoing).then_some(org),
            status,
            limit: limit.clamp(1, 1_000),
        };
        let mut found = self.store().release_requests(&q).await?;
        for r in &mut found {
            mask_source(actor, r);
        }
        Ok(found)
    }

    /// One release request, for its source's writers and its requester's organization; 404 for
    /// anyone else.
    pub async fn release_request(&self, actor: &Actor, id: Uuid) -> CoreResult<ReleaseRequest> {
        let mut r = self.unmasked_release_request(actor, id).await?;
        mask_source(actor, &mut r);
        Ok(r)
    }

    async fn unmasked_release_request(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> CoreResult<ReleaseRequest> {
        let r = self.store().release_request(id).await?;
        r.filter(|r| {
            actor.org_id == Some(r.requester_org)
                || (actor.org_id == Some(r.source_org) && !matches!(actor.role, Role::ReadOnly))
        })
        .ok_or_else(|| CoreError::not_found(format!("release request `{id}` not found")))
    }

    /// The source decides: approve (fully or partly) or refuse, with a reason. Approval widens
    /// the audience or lowers the marking at once (a new version where STIX versions the
    /// object); the requester is told either way.
    pub async fn decide_release(
        &self,
        actor: &Actor,
        id: Uuid,
        decision: ReleaseDecision,
    ) -> CoreResult<ReleaseRequest> {
        let mut request = self.unmasked_release_request(actor, id).await?;
        if actor.org_id != Some(request.source_org) {
            let event = AuditEvent::new(actor, "release.decide", "release_request", id)
                .outcome(Outcome::Denied)
                .details(serde_json::json!({"reason": "not the source organization"}));
            self.store().append_audit(event).await?;
            return Err(CoreError::forbidden(
                "only the source organization decides on a release request",
            ));
        }
        if !matches!(actor.role, Role::OrgAdmin | Role::Analyst) {
            return Err(CoreError::forbidden(
                "release requests are decided by the source's admins and analysts",
            ));
        }
        if request.status != ReleaseStatus::Pending {
            return Err(CoreError::Conflict(format!(
                "release request `{id}` was already decided ({})",
                request.status.as_str()
            )));
        }
        check_reason(&decision.reason, !decision.approve)?;
        let access = self
            .access(Some(actor), &request.community_id.to_string())
            .await?;
        let current = self.visible(&access, &request.object_id).await?;
        let mut write = None;
        if decision.approve {
            let orgs = match &decision.organizations {
                Some(names) => {
                    let ids = self.member_orgs(&access, "organizations", names).await?;
                    if let Some(i) = ids.iter().position(|o| !request.organizations.contains(o)) {
                        return Err(CoreError::invalid(
                            format!("organizations[{i}]"),
                            "was not asked for",
                        ));
                    }
                    ids
                }
                None => request.organizations.clone(),
            };
            let whole = decision.whole_community.unwrap_or(request.whole_community);
            if whole && !request.whole_community {
                return Err(CoreError::invalid("whole_community", "was not asked for"));
            }
            let tlp = match (decision.tlp, request.tlp) {
                (Some(t), Some(asked)) if t < asked || t > current.tlp => {
                    return Err(CoreError::invalid(
                        "tlp",
                        format!(
                            "must be between the level asked for (`{}`) and the current one (`{}`)",
                            asked.as_str(),
                            current.tlp.as_str()
                        ),
                    ))
                }
                (Some(_), None) => {
                    return Err(CoreError::invalid("tlp", "no TLP level was asked for"))
                }
                (t, asked) => t.or(asked),
            };
            let grant = ReleaseGrant {
                organizations: orgs.clone(),
                whole_community: whole,
                tlp,
            };
            let full = orgs.len() == request.organizations.len()
                && whole == request.whole_community
                && tlp == request.tlp;
            let before = self
                .store()
                .object_audience(access.community.id, &request.object_id)
                .await?;
            let mut after = before.clone();
            if whole {
                after.organizations.clear();
            } else {
                for o in &orgs {
                    if !after.organizations.contains(o) {
                        after.organizations.push(*o);
                    }
                }
            }
            let new_tlp = tlp.unwrap_or(current.tlp);
            if new_tlp != TlpLevel::Red {
                after.users.clear();
            }
            write = Self::plan_marking(
                actor,
                &access,
                &current,
                before,
                new_tlp,
                Some(after),
                &decision.reason,
                Some(request.id),
            )?;
            request.status = if full {
                ReleaseStatus::Approved
            } else {
                ReleaseStatus::PartlyApproved
            };
            request.granted = Some(grant);
        } else {
            request.status = ReleaseStatus::Refused;
        }
        request.decided_by = actor.user_id;
        request.decision_reason = Some(decision.reason.trim().to_string());
        request.decided_at = Some(ts::now());
        request.version += 1;
        let notify = vec![Self::notification(
            request.requester_user,
            request.community_id,
            &request.object_id,
            "release_decision",
            serde_json::json!({"request": request.id, "status": request.status.as_str(), "reason": request.decision_reason}),
        )];
        let mut audit = AuditEvent::new(actor, "release.decide", "release_request", id)
            .org((!request.source_anonymous).then_some(request.requester_org))
            .outcome(if decision.approve {
                Outcome::Granted
            } else {
                Outcome::Denied
            })
            .details(serde_json::json!({
                "object": request.object_id,
                "status": request.status.as_str(),
                "granted": request.granted,
                "reason": request.decision_reason,
            }));
        match write {
            Some(mut w) => {
                if let Some(v) = w.new_version.as_mut() {
                    self.sign_for_source(&access.community, v).await?;
                }
                let marking = Self::marking_audit(actor, &access, &w);
                audit.details["marking_change"] = marking.details;
                self.store()
                    .change_marking(&w, Some(&request), &notify, audit)
                    .await?;
            }
            None => {
                self.store()
                    .decide_release_request(&request, &notify, audit)
                    .await?;
            }
        }
        mask_source(actor, &mut request);
        Ok(request)
    }

    /// The caller's notifications, newest first; a notification about an object is listed
    /// only while the caller may see that object.
    pub async fn notifications(
        &self,
        actor: &Actor,
        unread_only: bool,
        limit: i64,
    ) -> CoreResult<Vec<Notification>> {
        let user = actor
            .user_id
            .ok_or_else(|| CoreError::forbidden("notifications are for users"))?;
        let viewers: Vec<(Uuid, Viewer)> = self
            .viewers(actor)
            .await?
            .into_iter()
            .map(|(c, v)| (c.id, v))
            .collect();
        Ok(self
            .store()
            .notifications(user, &viewers, unread_only, limit.clamp(1, 500))
            .await?)
    }

    /// Mark some of the caller's notifications read; returns how many changed.
    pub async fn mark_notifications_read(&self, actor: &Actor, ids: &[Uuid]) -> CoreResult<u64> {
        let user = actor
            .user_id
            .ok_or_else(|| CoreError::forbidden("notifications are for users"))?;
        if ids.len() > 1_000 {
            return Err(CoreError::invalid("ids", "at most 1000 at a time"));
        }
        Ok(self
            .store()
            .mark_notifications_read(user, ids, ts::now())
            .await?)
    }

    /// The caller organization's RED and AMBER objects in a community whose marking is due for
    /// review (the community's `review_after_days`).
    pub async fn reviews_due(&self, actor: &Actor, community: &str) -> CoreResult<Vec<ReviewDue>> {
        let access = self.access(Some(actor), community).await?;
        let (Some(org), Some(days)) = (actor.org_id, access.community.review_after_days) else {
            return Ok(Vec::new());
        };
        let before = ts::now() - time::Duration::days(days);
        Ok(self
            .store()
            .reviews_due(
                &access.viewer,
                access.community.id,
                org,
                before,
                REVIEW_SWEEP_LIMIT,
            )
            .await?)
    }

    /// Remind sources of RED and AMBER objects whose marking was decided longer ago than their
    /// community's `review_after_days`, at most once per period per object. Returns how many
    /// objects were included in reminders. Run by the server periodically.
    pub async fn remind_marking_reviews(&self, now: OffsetDateTime) -> CoreResult<usize> {
        let mut total = 0;
        for c in self.store().communities(None).await? {
            let Some(days) = c.review_after_days else {
                continue;
            };
            let before = now - time::Duration::days(days);
            for m in self.store().memberships(c.id).await? {
                let viewer = Viewer {
                    user: None,
                    org: Some(m.org_id),
                    member: true,
                    public_feed: c.public_feed,
                };
                let due = self
                    .store()
                    .reviews_due(&viewer, c.id, m.org_id, before, REVIEW_SWEEP_LIMIT)
                    .await?;
                if due.is_empty() {
                    continue;
                }
                let ids: Vec<String> = due.iter().map(|d| d.object_id.clone()).collect();
                let notify: Vec<Notification> = self
                    .source_desk(m.org_id)
                    .await?
                    .into_iter()
                    .map(|u| Notification {
                        id: Uuid::new_v4(),
                        user_id: u,
                        community_id: Some(c.id),
                        object_id: None,
                        kind: "marking_review".into(),
                        body: serde_json::json!({"community": c.slug, "objects": ids.len(), "review_after_days": days}),
                        created_at: now,
                        read_at: None,
                    })
                    .collect();
                self.store()
                    .record_review_reminders(c.id, &ids, now, &notify)
                    .await?;
                total += ids.len();
            }
        }
        Ok(total)
    }
}
