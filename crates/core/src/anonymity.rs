//! Anonymized and sanitized sharing (ISO 22396 6.5.4; ISO/IEC 27035-4 4.3.4 confidentiality).
//!
//! * **Sanitization** rules are set per organization and per community
//!   ([`crate::sanitize::SanitizationRules`]). When either has rules, every share by that
//!   organization into that community is sanitized on the way in (REST, TAXII, import, pull:
//!   all go through the core's publishing path) before anything is validated, signed or stored.
//!   Pseudonyms are keyed per organization with a secret derived from the node master key.
//!   [`Cairn::preview_sanitization`] is the dry run.
//! * **Anonymous shares** carry the community's pseudonym of the source instead of the source:
//!   `created_by_ref` names the pseudonym's identity (published with the share), the versions
//!   are signed with the community's key, and an object that still names its source (its name,
//!   short name, id, key ids or own domains) is refused, so the first published version is
//!   already the anonymous one. Cairn keeps the source; only a node operator reveals it, with a
//!   reason, audited, and the community's chairs see every reveal.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{CoreError, CoreResult};
use crate::exchange::{Access, ObjectResult, ResultKind};
use crate::model::*;
use crate::sanitize::{sanitize_objects, Change, RuleError, SanitizationRules};
use crate::ts::serde_ts;
use crate::{policy, ts, Cairn};

/// How a member publishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShareOptions {
    /// Publish under the community's pseudonym instead of the organization's name.
    pub anonymous: bool,
}

/// Whose sanitization rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleScope {
    Organization(Uuid),
    Community(Uuid),
}

impl RuleScope {
    pub fn kind(self) -> &'static str {
        match self {
            RuleScope::Organization(_) => "organization",
            RuleScope::Community(_) => "community",
        }
    }

    pub fn id(self) -> Uuid {
        match self {
            RuleScope::Organization(id) | RuleScope::Community(id) => id,
        }
    }
}

/// What a dry run shows: the objects as they would be published and every change.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SanitizePreview {
    /// Whether any rules apply (none: the objects are published as posted).
    pub rules_apply: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub objects: Vec<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub changes: Vec<Change>,
    pub id_renames: Vec<(String, String)>,
    pub dropped: Vec<String>,
}

/// Who published an object, as a reader is shown it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SourceLabel {
    /// The source organization's short name.
    Organization(String),
    /// The community's pseudonym of an anonymous source.
    Pseudonym(String),
    /// Your own organization published it anonymously.
    YouAnonymously(String),
}

/// A reveal of an anonymous source, as the community's chairs see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SourceReveal {
    pub id: Uuid,
    pub community_id: Uuid,
    pub object_id: String,
    /// The node operator who revealed it.
    pub revealed_by: Option<Uuid>,
    pub reason: String,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: OffsetDateTime,
}

/// What a reveal answers the node operator.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevealedSource {
    pub reveal: SourceReveal,
    pub organization: Organization,
}

/// The community pseudonym of an organization: stable, and says nothing about it.
pub fn pseudonym_name(secret: &[u8; 32]) -> String {
    format!("Member {}", hex::encode_upper(&secret[..3]))
}

/// The id of the identity object that stands for a pseudonym in a community: stable, and
/// shaped as the UUIDv4 STIX asks of SDO ids (its random bits drawn from a hash).
pub fn pseudonym_identity_id(community: Uuid, org: Uuid) -> String {
    let ns = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"https://cairn.invalid/pseudonym");
    let bytes = *Uuid::new_v5(&ns, format!("{community}/{org}").as_bytes()).as_bytes();
    format!(
        "identity--{}",
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    )
}

/// The first string in `value` (with its path) that contains one of `needles`
/// (case-insensitive), and the needle.
fn find_needle<'a>(value: &Value, needles: &'a [String], path: &str) -> Option<(String, &'a str)> {
    match value {
        Value::String(s) => {
            let low = s.to_lowercase();
            needles
                .iter()
                .find(|n| low.contains(n.as_str()))
                .map(|n| (path.to_string(), n.as_str()))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_needle(v, needles, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            // Keys name properties, not the source; but a key may itself hold a name.
            let low = k.to_lowercase();
            if let Some(n) = needles.iter().find(|n| low.contains(n.as_str())) {
                return Some((p, n.as_str()));
            }
            find_needle(v, needles, &p)
        }),
        _ => None,
    }
}

impl Cairn {
    fn sanitize_secret(&self, org: Uuid) -> [u8; 32] {
        self.master_key().derive(&format!("sanitize/{org}"))
    }

    fn pseudonym_secret(&self, community: Uuid, org: Uuid) -> [u8; 32] {
        self.master_key()
            .derive(&format!("pseudonym/{community}/{org}"))
    }

    /// The community pseudonym of `org`.
    pub fn pseudonym(&self, community: Uuid, org: Uuid) -> String {
        pseudonym_name(&self.pseudonym_secret(community, org))
    }

    /// The rules in force for `org` publishing into `community`: the organization's and the
    /// community's combined, or the one side that has rules, or none.
    pub(crate) async fn rules_for(
        &self,
        org: Uuid,
        community: Uuid,
    ) -> CoreResult<Option<SanitizationRules>> {
        let o = self
            .store()
            .sanitization_rules(RuleScope::Organization(org))
            .await?;
        let c = self
            .store()
            .sanitization_rules(RuleScope::Community(community))
            .await?;
        Ok(match (o, c) {
            (None, None) => None,
            (Some(r), None) | (None, Some(r)) => Some(r),
            (Some(o), Some(c)) => Some(SanitizationRules::combine(&o, &c)),
        })
    }

    fn may_set_rules(&self, actor: &Actor, scope: RuleScope, memberships: &[Membership]) -> bool {
        match scope {
            RuleScope::Organization(org) => policy::can_manage_org(actor, org),
            RuleScope::Community(_) => policy::can_chair_community(actor, memberships),
        }
    }

    async fn rule_scope(
        &self,
        actor: &Actor,
        scope: &str,
        id: &str,
    ) -> CoreResult<(RuleScope, Vec<Membership>)> {
        match scope {
            "organization" => {
                let org = self.find_organization(id).await?;
                Ok((RuleScope::Organization(org.id), Vec::new()))
            }
            _ => {
                let (c, memberships) = self.find_community(actor, id).await?;
                Ok((RuleScope::Community(c.id), memberships))
            }
        }
    }

    /// The sanitization rules of an organization (`scope` = `organization`) or a community
    /// (`community`); `None` when none are set. The organization's members, or the
    /// community's members, may read them.
    pub async fn sanitization_rules(
        &self,
        actor: &Actor,
        scope: &str,
        id: &str,
    ) -> CoreResult<Option<SanitizationRules>> {
        let (s, memberships) = self.rule_scope(actor, scope, id).await?;
        let allowed = match s {
            RuleScope::Organization(org) => actor.is_operator() || actor.org_id == Some(org),
            RuleScope::Community(_) => policy::can_view_community(actor, &memberships),
        };
        if !allowed {
            return Err(CoreError::forbidden(format!(
                "you may not read this {}'s sanitization rules",
                s.kind()
            )));
        }
        Ok(self.store().sanitization_rules(s).await?)
    }

    /// Set (or, with `None`, clear) sanitization rules: the organization's admin, or the
    /// community's chairs; the node operator for both. Malformed rules are refused with every
    /// rule and reason; nothing is stored then.
    pub async fn set_sanitization_rules(
        &self,
        actor: &Actor,
        scope: &str,
        id: &str,
        rules: Option<SanitizationRules>,
    ) -> Result<(), RulesError> {
        let (s, memberships) = self.rule_scope(actor, scope, id).await?;
        if !self.may_set_rules(actor, s, &memberships) {
            let event = AuditEvent::new(actor, "sanitization.set", s.kind(), s.id())
                .outcome(Outcome::Denied)
                .details(serde_json::json!({"reason": "not permitted"}));
            self.store()
                .append_audit(event)
                .await
                .map_err(CoreError::from)?;
            return Err(CoreError::forbidden(format!(
                "you may not set this {}'s sanitization rules",
                s.kind()
            ))
            .into());
        }
        if let Some(r) = &rules {
            r.validate().map_err(RulesError::Rules)?;
        }
        let audit = AuditEvent::new(actor, "sanitization.set", s.kind(), s.id())
            .org(match s {
                RuleScope::Organization(o) => Some(o),
                RuleScope::Community(_) => None,
            })
            .outcome(Outcome::Changed)
            .details(serde_json::json!({ "rules": rules }));
        self.store()
            .set_sanitization_rules(s, rules.as_ref(), ts::now(), audit)
            .await
            .map_err(CoreError::from)?;
        Ok(())
    }

    /// The dry run: what sanitization would do to these objects if the actor published them
    /// into the community now. Nothing is stored.
    pub async fn preview_sanitization(
        &self,
        actor: &Actor,
        community: &str,
        body: &[u8],
    ) -> CoreResult<SanitizePreview> {
        let access = self.access(Some(actor), community).await?;
        let org = actor
            .org_id
            .ok_or_else(|| CoreError::forbidden("only members' users publish"))?;
        if !policy::can_share(actor, &access.memberships) {
            return Err(CoreError::forbidden(
                "you may not publish in this community",
            ));
        }
        let objects = cairn_stix::parse_envelope(body)
            .map_err(|e| CoreError::invalid("body", e.to_string()))?;
        let values: Vec<Value> = objects.into_iter().map(|o| o.value).collect();
        match self.rules_for(org, access.community.id).await? {
            None => Ok(SanitizePreview {
                rules_apply: false,
                objects: values,
                changes: Vec::new(),
                id_renames: Vec::new(),
                dropped: Vec::new(),
            }),
            Some(rules) => {
                let s = sanitize_objects(&values, &rules, &self.sanitize_secret(org));
                Ok(SanitizePreview {
                    rules_apply: true,
                    objects: s.objects,
                    changes: s.changes,
                    id_renames: s.id_renames,
                    dropped: s.dropped,
                })
            }
        }
    }

    /// Sanitize and, for an anonymous share, anonymize the posted objects. Returns the objects
    /// to publish and the refusals (objects of an anonymous share that still name the source).
    pub(crate) async fn sanitize_and_anonymize(
        &self,
        access: &Access,
        org: Uuid,
        objects: Vec<cairn_stix::RawStixObject>,
        options: ShareOptions,
    ) -> CoreResult<(Vec<cairn_stix::RawStixObject>, Vec<ObjectResult>)> {
        let rules = self.rules_for(org, access.community.id).await?;
        let mut objects = match &rules {
            None => objects,
            Some(rules) => {
                let values: Vec<Value> = objects.iter().map(|o| o.value.clone()).collect();
                let s = sanitize_objects(&values, rules, &self.sanitize_secret(org));
                if s.changes.is_empty() {
                    objects
                } else {
                    // Unchanged objects keep their bytes; changed ones are re-serialized.
                    let mut by_id: std::collections::HashMap<String, cairn_stix::RawStixObject> =
                        objects
                            .into_iter()
                            .filter_map(|o| o.id().map(str::to_string).map(|id| (id, o)))
                            .collect();
                    let renamed: std::collections::HashMap<&str, &str> = s
                        .id_renames
                        .iter()
                        .map(|(a, b)| (b.as_str(), a.as_str()))
                        .collect();
                    let mut out = Vec::with_capacity(s.objects.len());
                    for v in s.objects {
                        let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
                        let posted = renamed.get(id).copied().unwrap_or(id).to_string();
                        match by_id.remove(&posted) {
                            Some(o) if o.value == v => out.push(o),
                            _ => {
                                out.push(cairn_stix::RawStixObject::from_value(v).map_err(|e| {
                                    CoreError::Internal(format!("re-serializing: {e}"))
                                })?)
                            }
                        }
                    }
                    out
                }
            }
        };
        let mut refused = Vec::new();
        if options.anonymous {
            let source = self
                .store()
                .organization(org)
                .await?
                .ok_or_else(|| CoreError::Internal("the source organization is gone".into()))?;
            let mut needles = vec![source.id.to_string(), source.short_name.to_lowercase()];
            if source.name.trim().len() >= 3 {
                needles.push(source.name.trim().to_lowercase());
            }
            // The domain of the organization's published security contact names it too.
            if let Some(domain) = source
                .security_email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .map(|(_, d)| d.to_lowercase())
            {
                needles.push(domain);
            }
            for k in self.store().organization_keys(org).await? {
                needles.push(k.key_id.to_lowercase());
                needles.push(k.key_id.trim_start_matches("ed25519:").to_lowercase());
            }
            if let Some(r) = &rules {
                needles.extend(r.own_domains.iter().map(|d| d.to_lowercase()));
            }
            let pseudonym_id = pseudonym_identity_id(access.community.id, org);
            let mut kept = Vec::with_capacity(objects.len() + 1);
            for (i, mut o) in objects.into_iter().enumerate() {
                let label = o
                    .id()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("objects[{i}]"));
                if let Some((path, _)) = find_needle(&o.value, &needles, "") {
                    refused.push(ObjectResult {
                        id: label,
                        version: String::new(),
                        outcome: ResultKind::Refused,
                        message: Some(format!(
                            "objects[{i}]: an anonymous share must not name its source: `{path}` names your organization (its name, short name, id, key or own domain); remove it, or let sanitization rules replace it"
                        )),
                    });
                    continue;
                }
                if o.value.get("created").is_some() && o.object_type() != Some("marking-definition")
                {
                    let current = o.value.get("created_by_ref").and_then(Value::as_str);
                    if current != Some(pseudonym_id.as_str()) {
                        o.value["created_by_ref"] = Value::String(pseudonym_id.clone());
                        o = cairn_stix::RawStixObject::from_value(o.value)
                            .map_err(|e| CoreError::Internal(format!("re-serializing: {e}")))?;
                    }
                }
                kept.push(o);
            }
            // The pseudonym's identity, so that `created_by_ref` resolves; always the same
            // content, so after the first share it is a duplicate.
            let identity = serde_json::json!({
                "type": "identity",
                "spec_version": "2.1",
                "id": pseudonym_id,
                "created": cairn_stix::marking::CAIRN_BUILTIN_CREATED,
                "modified": cairn_stix::marking::CAIRN_BUILTIN_CREATED,
                "name": self.pseudonym(access.community.id, org),
                "description": format!("A member of {} publishing anonymously.", access.community.name),
                "identity_class": "organization",
            });
            if !kept.is_empty() {
                kept.insert(
                    0,
                    cairn_stix::RawStixObject::from_value(identity)
                        .map_err(|e| CoreError::Internal(format!("identity: {e}")))?,
                );
            }
            objects = kept;
        }
        Ok((objects, refused))
    }

    /// How a reader is shown the source of each version.
    pub async fn source_labels(
        &self,
        actor: Option<&Actor>,
        versions: &[crate::sharing::ObjectVersion],
    ) -> CoreResult<Vec<SourceLabel>> {
        let mut names: std::collections::HashMap<Uuid, String> = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(versions.len());
        let own = actor.and_then(|a| a.org_id);
        for v in versions {
            let label = if v.anonymous {
                let p = self.pseudonym(v.community_id, v.source_org);
                if own == Some(v.source_org) {
                    SourceLabel::YouAnonymously(p)
                } else {
                    SourceLabel::Pseudonym(p)
                }
            } else {
                let name = match names.get(&v.source_org) {
                    Some(n) => n.clone(),
                    None => {
                        let n = self
                            .store()
                            .organization(v.source_org)
                            .await?
                            .map(|o| o.short_name)
                            .unwrap_or_default();
                        names.insert(v.source_org, n.clone());
                        n
                    }
                };
                SourceLabel::Organization(name)
            };
            out.push(label);
        }
        Ok(out)
    }

    /// The node operator reveals the source of an anonymous object, with a reason; audited,
    /// and listed for the community's chairs.
    pub async fn reveal_source(
        &self,
        actor: &Actor,
        community: &str,
        object_id: &str,
        reason: &str,
    ) -> CoreResult<RevealedSource> {
        let (c, _) = self.find_community(actor, community).await?;
        if !actor.is_operator() {
            let event = AuditEvent::new(actor, "objects.reveal_source", "object", object_id)
                .outcome(Outcome::Denied)
                .details(
                    serde_json::json!({"community": c.slug, "reason": "not the node operator"}),
                );
            self.store().append_audit(event).await?;
            return Err(CoreError::forbidden(
                "only the node operator may reveal an anonymous source",
            ));
        }
        if reason.trim().is_empty() {
            return Err(CoreError::invalid("reason", "is required"));
        }
        crate::validate::optional_text("reason", reason, 2_000)?;
        let Some((org, true)) = self.store().object_source(c.id, object_id).await? else {
            return Err(CoreError::not_found(format!(
                "no anonymous object `{}` in this community",
                crate::validate::clip(object_id)
            )));
        };
        let organization = self
            .store()
            .organization(org)
            .await?
            .ok_or_else(|| CoreError::Internal("the source organization is gone".into()))?;
        let reveal = SourceReveal {
            id: Uuid::new_v4(),
            community_id: c.id,
            object_id: object_id.to_string(),
            revealed_by: actor.user_id,
            reason: reason.trim().to_string(),
            at: ts::now(),
        };
        let audit = AuditEvent::new(actor, "objects.reveal_source", "object", object_id)
            .outcome(Outcome::Granted)
            .details(serde_json::json!({"community": c.slug, "reveal": reveal.id, "reason": reveal.reason}));
        self.store().record_reveal(&reveal, audit).await?;
        Ok(RevealedSource {
            reveal,
            organization,
        })
    }

    /// Every reveal of an anonymous source in a community: its chairs and the node operator.
    pub async fn reveals(&self, actor: &Actor, community: &str) -> CoreResult<Vec<SourceReveal>> {
        let (c, memberships) = self.find_community(actor, community).await?;
        if !policy::can_chair_community(actor, &memberships) {
            return Err(CoreError::forbidden(
                "the community's chairs and the node operator see its reveals",
            ));
        }
        Ok(self.store().reveals(c.id).await?)
    }
}

/// Setting rules fails with the usual errors, or with every malformed rule.
#[derive(Debug)]
pub enum RulesError {
    Core(CoreError),
    Rules(Vec<RuleError>),
}

impl From<CoreError> for RulesError {
    fn from(e: CoreError) -> Self {
        RulesError::Core(e)
    }
}
