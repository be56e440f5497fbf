//! Feedback to the source (ISO 22396 6.3.2: recipients respond with additional information;
//! ISO/IEC 27035-4 6.5: building trust). Recipients of an object post **sightings** of it,
//! give their **opinion** (useful, not useful, false positive), and **comment** or ask the
//! source in a thread on it; the source answers in the thread and sees what its information
//! was worth, and who found it useful unless they chose to stay anonymous.
//!
//! Every piece of feedback is a STIX object (`sighting`, `opinion`, `note`) that its writer
//! publishes into the community through the normal publishing path, so **the entitlement rule
//! decides who sees it**, on every path (TAXII, REST, export, the thread, the aggregate). Its
//! marking is bounded by what it answers: it inherits the object's TLP level and audience (a
//! reply inherits the comment it answers), or the writer picks a stricter one; never a wider
//! one. The aggregates are computed from what the store returns for the reader, so a reader
//! counts only what the rule lets it see; sightings and opinions posted over TAXII count too.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::correlator::{PostedFeedback, PublishJob};
use crate::documents::{mark, stix_now, stix_time};
use crate::error::{CoreError, CoreResult};
use crate::exchange::Access;
use crate::model::*;
use crate::release::Notification;
use crate::sharing::*;
use crate::ts::serde_ts;
use crate::{policy, ts, validate as v, Cairn};

/// The custom property that marks feedback whose giver stays unnamed to the source.
pub const ANONYMOUS_PROPERTY: &str = "x_cairn_anonymous";
/// The most references of one object indexed for feedback reads.
pub const MAX_INDEXED_REFS: usize = 1_000;
/// How far in the future a sighting may end (clock skew between organizations).
pub const SIGHTING_SKEW: time::Duration = time::Duration::minutes(5);
/// The longest comment.
pub const MAX_COMMENT_CHARS: usize = 10_000;

/// The objects a version is about: a sighting's `sighting_of_ref`, an opinion's or a note's
/// `object_refs` (at most [`MAX_INDEXED_REFS`]). Other types are about nothing here.
pub fn refs_of(object_type: &str, object: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |r: &Value| {
        if let Some(r) = r.as_str() {
            if !out.iter().any(|x| x == r) && out.len() < MAX_INDEXED_REFS {
                out.push(r.to_string());
            }
        }
    };
    match object_type {
        "sighting" => {
            if let Some(r) = object.get("sighting_of_ref") {
                add(r);
            }
        }
        "opinion" | "note" => {
            for r in object
                .get("object_refs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                add(r);
            }
        }
        _ => {}
    }
    out
}

/// [`refs_of`] for an object as stored.
pub fn refs_in_raw(object_type: &str, raw: &str) -> Vec<String> {
    serde_json::from_str::<Value>(raw)
        .map(|v| refs_of(object_type, &v))
        .unwrap_or_default()
}

/// Was this feedback given anonymously?
pub fn is_anonymous(raw: &str) -> bool {
    serde_json::from_str::<Value>(raw)
        .ok()
        .and_then(|v| v.get(ANONYMOUS_PROPERTY).and_then(Value::as_bool))
        == Some(true)
}

/// A recipient's opinion of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OpinionValue {
    /// STIX `agree`.
    Useful,
    /// STIX `disagree`.
    NotUseful,
    /// STIX `strongly-disagree`.
    FalsePositive,
}

impl OpinionValue {
    /// The STIX `opinion` value.
    pub fn stix(self) -> &'static str {
        match self {
            OpinionValue::Useful => "agree",
            OpinionValue::NotUseful => "disagree",
            OpinionValue::FalsePositive => "strongly-disagree",
        }
    }

    /// How a STIX `opinion` value counts (`None`: neutral).
    pub fn from_stix(value: &str) -> Option<Self> {
        match value {
            "agree" | "strongly-agree" => Some(OpinionValue::Useful),
            "disagree" => Some(OpinionValue::NotUseful),
            "strongly-disagree" => Some(OpinionValue::FalsePositive),
            _ => None,
        }
    }
}

/// A sighting of an object by a recipient.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewSighting {
    /// How many times it was seen (at least 1; default 1).
    #[serde(default = "one")]
    pub count: i64,
    /// First seen (RFC 3339; default: `last_seen`, or now).
    #[serde(default, with = "crate::ts::serde_ts::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub first_seen: Option<OffsetDateTime>,
    /// Last seen (RFC 3339; default: `first_seen`, or now); at most 5 minutes from now.
    #[serde(default, with = "crate::ts::serde_ts::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub last_seen: Option<OffsetDateTime>,
    /// Where it was seen, in words (kept as the sighting's description).
    #[serde(default, rename = "where")]
    pub where_seen: String,
    /// Hide your organization from the source (it sees only counts).
    #[serde(default)]
    pub anonymous: bool,
    /// The TLP level: the object's (or the answered comment's) or stricter (absent: inherit).
    #[serde(default)]
    pub tlp: Option<TlpLevel>,
    /// For AMBER and AMBER+STRICT: recipient organizations (short names or ids), among those of
    /// what this answers (absent: inherit).
    #[serde(default)]
    pub organizations: Option<Vec<String>>,
    /// For RED: recipient users (user names or ids), among those of what this answers
    /// (absent: inherit, or the source's admins and analysts).
    #[serde(default)]
    pub users: Option<Vec<String>>,
}

fn one() -> i64 {
    1
}

/// An opinion of an object; a later one of the same user replaces it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewOpinion {
    pub opinion: OpinionValue,
    /// Why (optional, at most 5000 characters).
    #[serde(default)]
    pub explanation: String,
    /// Hide your organization from the source (it sees only counts).
    #[serde(default)]
    pub anonymous: bool,
    /// The TLP level: the object's (or the answered comment's) or stricter (absent: inherit).
    #[serde(default)]
    pub tlp: Option<TlpLevel>,
    /// For AMBER and AMBER+STRICT: recipient organizations (short names or ids), among those of
    /// what this answers (absent: inherit).
    #[serde(default)]
    pub organizations: Option<Vec<String>>,
    /// For RED: recipient users (user names or ids), among those of what this answers
    /// (absent: inherit, or the source's admins and analysts).
    #[serde(default)]
    pub users: Option<Vec<String>>,
}

/// A comment or a question on an object, or an answer in its thread.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// The text (1 to 10,000 characters).
    pub text: String,
    /// A question to the source.
    #[serde(default)]
    pub question: bool,
    /// The comment this answers (a note in the object's thread).
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// The TLP level: the object's (or the answered comment's) or stricter (absent: inherit).
    #[serde(default)]
    pub tlp: Option<TlpLevel>,
    /// For AMBER and AMBER+STRICT: recipient organizations (short names or ids), among those of
    /// what this answers (absent: inherit).
    #[serde(default)]
    pub organizations: Option<Vec<String>>,
    /// For RED: recipient users (user names or ids), among those of what this answers
    /// (absent: inherit, or the source's admins and analysts).
    #[serde(default)]
    pub users: Option<Vec<String>>,
}

/// The marking a writer picks for feedback: absent fields inherit what it answers. Only the
/// same or a stricter level, and only recipients of what it answers, are accepted.
#[derive(Debug, Clone, Default)]
pub(crate) struct FeedbackMarking {
    pub(crate) tlp: Option<TlpLevel>,
    pub(crate) organizations: Option<Vec<String>>,
    pub(crate) users: Option<Vec<String>>,
}

impl FeedbackMarking {
    fn of(
        tlp: Option<TlpLevel>,
        organizations: &Option<Vec<String>>,
        users: &Option<Vec<String>>,
    ) -> Self {
        FeedbackMarking {
            tlp,
            organizations: organizations.clone(),
            users: users.clone(),
        }
    }
}

/// A piece of feedback as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedbackItem {
    /// The STIX id of the sighting, opinion or note.
    pub id: String,
    /// `sighting`, `opinion` or `comment`.
    pub kind: String,
    /// The object it is about.
    pub object_id: String,
    pub version: String,
    pub tlp: TlpLevel,
    /// The named recipients (empty: as the level gives).
    pub audience: Audience,
    pub anonymous: bool,
}

/// An organization named in feedback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgName {
    pub id: Uuid,
    pub short_name: String,
    pub name: String,
}

/// Sightings of an object, as far as the reader may see them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SightingSummary {
    /// Sighting objects.
    pub sightings: i64,
    /// The sum of their counts.
    pub count: i64,
    /// Reporting organizations.
    pub organizations: i64,
    /// Sightings given anonymously.
    pub anonymous: i64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// Who reported them, unless anonymous (the source's view only).
    pub reported_by: Vec<OrgName>,
}

/// Opinions of an object, one per user, as far as the reader may see them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpinionSummary {
    pub useful: i64,
    pub not_useful: i64,
    pub false_positive: i64,
    /// STIX `neutral` opinions (posted over TAXII).
    pub neutral: i64,
    /// Opinions given anonymously.
    pub anonymous: i64,
    /// Who found it useful, not useful, a false positive, unless anonymous (the source's
    /// view only).
    pub useful_by: Vec<OrgName>,
    pub not_useful_by: Vec<OrgName>,
    pub false_positive_by: Vec<OrgName>,
}

/// What recipients made of an object: the source's view (with names), or a recipient's (counts
/// only), each of what the reader may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedbackSummary {
    pub object_id: String,
    /// The reader's organization is the object's source.
    pub source_view: bool,
    pub sightings: SightingSummary,
    pub opinions: OpinionSummary,
    /// Comments in the object's thread.
    pub comments: i64,
}

/// One comment of an object's thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Comment {
    /// The note's STIX id.
    pub id: String,
    pub in_reply_to: Option<String>,
    pub text: String,
    pub question: bool,
    pub tlp: TlpLevel,
    /// The writer's organization (short name).
    pub organization: Option<String>,
    /// The writer (user name), when known.
    pub author: Option<String>,
    /// Written by the object's source.
    pub from_source: bool,
    pub created: String,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub date_added: OffsetDateTime,
}

/// What a piece of feedback answers: its level, audience and source.
#[derive(Debug, Clone)]
pub(crate) struct Floor {
    pub(crate) tlp: TlpLevel,
    pub(crate) audience: Audience,
    pub(crate) source_org: Uuid,
}

/// The writer's resolved choice (ids).
#[derive(Debug, Clone, Default)]
pub(crate) struct Choice {
    pub(crate) tlp: Option<TlpLevel>,
    pub(crate) organizations: Vec<Uuid>,
    pub(crate) users: Vec<Uuid>,
}

const WIDER: &str = "is not a recipient of what this answers: feedback may not widen its audience";

fn push_unique(list: &mut Vec<Uuid>, id: Uuid) {
    if !list.contains(&id) {
        list.push(id);
    }
}

/// The marking of feedback on `floor`: the writer's choice if it is as strict or stricter,
/// else the floor's level and recipients. `org_of` gives a user's organization, `desk` the
/// floor source's admins and analysts (the default RED recipients), `members` the member
/// organizations (recipients who left are dropped from defaults).
pub(crate) fn bounded_marking(
    floor: &Floor,
    choice: &Choice,
    org_of: &dyn Fn(Uuid) -> Option<Uuid>,
    desk: &[Uuid],
    members: &HashSet<Uuid>,
) -> CoreResult<(TlpLevel, Audience)> {
    use TlpLevel::*;
    let level = choice.tlp.unwrap_or(floor.tlp);
    if level < floor.tlp {
        return Err(CoreError::invalid(
            "tlp",
            format!(
                "`{}` is less restrictive than `{}` of what this answers: feedback keeps that marking or a stricter one",
                level.as_str(),
                floor.tlp.as_str()
            ),
        ));
    }
    let amber = matches!(level, Amber | AmberStrict);
    if !choice.organizations.is_empty() && !amber {
        return Err(CoreError::invalid(
            "organizations",
            "recipient organizations are named only for TLP:AMBER and TLP:AMBER+STRICT",
        ));
    }
    if !choice.users.is_empty() && level != Red {
        return Err(CoreError::invalid(
            "users",
            "recipient users are named only for TLP:RED",
        ));
    }
    // The organizations that may see the floor, when it names them.
    let floor_orgs: Option<Vec<Uuid>> = match floor.tlp {
        Amber | AmberStrict if !floor.audience.organizations.is_empty() => {
            let mut o = floor.audience.organizations.clone();
            push_unique(&mut o, floor.source_org);
            Some(o)
        }
        _ => None,
    };
    match level {
        Clear | Green => Ok((level, Audience::default())),
        Amber | AmberStrict => {
            if !choice.organizations.is_empty() {
                if let Some(allowed) = &floor_orgs {
                    if let Some(i) = choice
                        .organizations
                        .iter()
                        .position(|o| !allowed.contains(o))
                    {
                        return Err(CoreError::invalid(format!("organizations[{i}]"), WIDER));
                    }
                }
                return Ok((
                    level,
                    Audience {
                        organizations: choice.organizations.clone(),
                        users: Vec::new(),
                    },
                ));
            }
            match floor_orgs {
                None => Ok((level, Audience::default())),
                Some(allowed) => {
                    let kept: Vec<Uuid> = allowed
                        .into_iter()
                        .filter(|o| members.contains(o))
                        .collect();
                    if kept.is_empty() {
                        return Err(CoreError::invalid(
                            "organizations",
                            "no recipient of what this answers is still a member",
                        ));
                    }
                    Ok((
                        level,
                        Audience {
                            organizations: kept,
                            users: Vec::new(),
                        },
                    ))
                }
            }
        }
        Red => {
            let may = |u: Uuid| -> bool {
                match (floor.tlp, &floor_orgs) {
                    (Red, _) => {
                        floor.audience.users.contains(&u) || org_of(u) == Some(floor.source_org)
                    }
                    (_, Some(orgs)) => org_of(u).is_some_and(|o| orgs.contains(&o)),
                    _ => true,
                }
            };
            if !choice.users.is_empty() {
                if let Some(i) = choice.users.iter().position(|u| !may(*u)) {
                    return Err(CoreError::invalid(format!("users[{i}]"), WIDER));
                }
                return Ok((
                    level,
                    Audience {
                        organizations: Vec::new(),
                        users: choice.users.clone(),
                    },
                ));
            }
            let mut users = Vec::new();
            if floor.tlp == Red {
                for u in &floor.audience.users {
                    push_unique(&mut users, *u);
                }
            }
            for u in desk {
                push_unique(&mut users, *u);
            }
            users.retain(|u| org_of(*u).is_some_and(|o| members.contains(&o)));
            if users.is_empty() {
                return Err(CoreError::invalid(
                    "users",
                    "name the users who may read it (TLP:RED)",
                ));
            }
            Ok((
                level,
                Audience {
                    organizations: Vec::new(),
                    users,
                },
            ))
        }
    }
}

/// The time of a sighting property, falling back to `created`.
fn seen_at(object: &Value, key: &str) -> Option<(i128, String)> {
    let text = object
        .get(key)
        .or_else(|| object.get("created"))
        .and_then(Value::as_str)?;
    let at = cairn_stix::Timestamp::parse(text).ok()?;
    Some((at.unix_nanos(), text.to_string()))
}

/// Names of organizations, looked up once each.
#[derive(Default)]
struct OrgNames(HashMap<Uuid, Option<OrgName>>);

impl OrgNames {
    async fn get(&mut self, cairn: &Cairn, id: Uuid) -> CoreResult<Option<OrgName>> {
        if let Some(n) = self.0.get(&id) {
            return Ok(n.clone());
        }
        let n = cairn.store().organization(id).await?.map(|o| OrgName {
            id: o.id,
            short_name: o.short_name,
            name: o.name,
        });
        self.0.insert(id, n.clone());
        Ok(n)
    }

    async fn list(&mut self, cairn: &Cairn, ids: &[Uuid]) -> CoreResult<Vec<OrgName>> {
        let mut out = Vec::new();
        for id in ids {
            if let Some(n) = self.get(cairn, *id).await? {
                out.push(n);
            }
        }
        out.sort_by(|a, b| a.short_name.cmp(&b.short_name));
        Ok(out)
    }
}

/// A piece of feedback about to be published.
struct Draft<'a> {
    kind: &'a str,
    object: Value,
    floor: Floor,
    choice: FeedbackMarking,
    anonymous: bool,
    /// Users told besides the source's desk (the author of an answered comment).
    also_notify: Vec<Uuid>,
    /// What the notification says besides the kind, item and giver.
    note: Value,
    action: &'a str,
    details: Value,
    /// Always carry the audience extension (a replaced opinion resets its audience).
    reset_audience: bool,
}

impl Cairn {
    /// The object feedback is about, for a writer: 404 if the writer cannot see it, 403 for
    /// read-only users and observers (audited).
    async fn feedback_target(
        &self,
        actor: &Actor,
        community: &str,
        object_id: &str,
        action: &str,
    ) -> CoreResult<(Access, ObjectVersion)> {
        let access = self.access(Some(actor), community).await?;
        let target = self.visible(&access, object_id).await?;
        if actor.user_id.is_none() || !policy::can_share(actor, &access.memberships) {
            let event = AuditEvent::new(actor, action, "object", object_id)
                .outcome(Outcome::Denied)
                .details(json!({"community": access.community.slug, "reason": "may not publish in this community"}));
            self.store().append_audit(event).await?;
            return Err(CoreError::forbidden(
                "feedback is given by analysts and admins of member organizations (not read-only users, not observers)",
            ));
        }
        Ok((access, target))
    }

    async fn floor_of(&self, access: &Access, v: &ObjectVersion) -> CoreResult<Floor> {
        Ok(Floor {
            tlp: v.tlp,
            audience: self
                .store()
                .object_audience(access.community.id, &v.object_id)
                .await?,
            source_org: v.source_org,
        })
    }

    /// Resolve the writer's marking choice against what the feedback answers.
    async fn resolve_marking(
        &self,
        access: &Access,
        floor: &Floor,
        choice: &FeedbackMarking,
    ) -> CoreResult<(TlpLevel, Audience)> {
        let organizations = match &choice.organizations {
            Some(names) => self.member_orgs(access, "organizations", names).await?,
            None => Vec::new(),
        };
        let users = match &choice.users {
            Some(names) => self.member_users(access, names).await?,
            None => Vec::new(),
        };
        let desk = self.source_desk(floor.source_org).await?;
        let mut orgs: HashMap<Uuid, Uuid> = HashMap::new();
        for u in users
            .iter()
            .chain(desk.iter())
            .chain(floor.audience.users.iter())
        {
            if orgs.contains_key(u) {
                continue;
            }
            if let Some(user) = self.store().user(*u).await? {
                orgs.insert(*u, user.org_id);
            }
        }
        let members: HashSet<Uuid> = access.memberships.iter().map(|m| m.org_id).collect();
        bounded_marking(
            floor,
            &Choice {
                tlp: choice.tlp,
                organizations,
                users,
            },
            &|u| orgs.get(&u).copied(),
            &desk,
            &members,
        )
    }

    /// Mark, publish and announce a piece of feedback on `target`.
    async fn publish_feedback(
        &self,
        actor: &Actor,
        access: &Access,
        target: &ObjectVersion,
        draft: Draft<'_>,
    ) -> CoreResult<FeedbackItem> {
        let writer_org = actor
            .org_id
            .ok_or_else(|| CoreError::forbidden("feedback is given by organizations"))?;
        let (level, audience) = self
            .resolve_marking(access, &draft.floor, &draft.choice)
            .await?;
        let mut object = draft.object;
        let ids = |l: &[Uuid]| l.iter().map(Uuid::to_string).collect::<Vec<_>>();
        mark(
            &mut object,
            Some(level),
            &ids(&audience.organizations),
            &ids(&audience.users),
        );
        if draft.reset_audience && object.get("extensions").is_none() {
            object["extensions"] =
                json!({ AUDIENCE_EXTENSION: {"extension_type": "property-extension"} });
        }
        if draft.anonymous {
            object[ANONYMOUS_PROPERTY] = json!(true);
        }
        let id = object["id"].as_str().unwrap_or_default().to_string();

        // Who is told: the source's admins and analysts (unless the source writes) and the
        // author of an answered comment, each only if the rule lets them see this feedback.
        let mut candidates = Vec::new();
        if writer_org != target.source_org {
            candidates = self.source_desk(target.source_org).await?;
        }
        for u in draft.also_notify {
            push_unique(&mut candidates, u);
        }
        let members: HashSet<Uuid> = access.memberships.iter().map(|m| m.org_id).collect();
        let facts = VersionFacts {
            source_org: writer_org,
            tlp: level,
            audience_orgs: &audience.organizations,
            audience_users: &audience.users,
        };
        let from = if draft.anonymous {
            Value::Null
        } else {
            json!(self
                .store()
                .organization(writer_org)
                .await?
                .map(|o| o.short_name))
        };
        let mut notify = Vec::new();
        for u in candidates {
            if Some(u) == actor.user_id {
                continue;
            }
            let Some(user) = self.store().user(u).await? else {
                continue;
            };
            if user.disabled {
                continue;
            }
            let viewer = Viewer {
                user: Some(user.id),
                org: Some(user.org_id),
                member: members.contains(&user.org_id),
                public_feed: access.community.public_feed,
            };
            if !entitled(&viewer, &facts) {
                continue;
            }
            let mut body = json!({
                "community": access.community.slug,
                "feedback": draft.kind,
                "item": id,
                "organization": from,
            });
            if let (Some(b), Some(extra)) = (body.as_object_mut(), draft.note.as_object()) {
                for (k, val) in extra {
                    b.insert(k.clone(), val.clone());
                }
            }
            notify.push(Notification {
                id: Uuid::new_v4(),
                user_id: u,
                community_id: Some(access.community.id),
                object_id: Some(target.object_id.clone()),
                kind: "feedback".into(),
                body,
                created_at: ts::now(),
                read_at: None,
            });
        }

        let mut details = json!({
            "community": access.community.slug,
            "item": id,
            "tlp": level.as_str(),
            "audience": audience,
            "anonymous": draft.anonymous,
        });
        if let (Some(d), Some(extra)) = (details.as_object_mut(), draft.details.as_object()) {
            for (k, val) in extra {
                d.insert(k.clone(), val.clone());
            }
        }
        // The source may read entries about its objects; anonymous feedback stays with the
        // giver's organization.
        let about = if draft.anonymous {
            Some(writer_org)
        } else {
            Some(target.source_org)
        };
        let audit = AuditEvent::new(actor, draft.action, "object", &target.object_id)
            .org(about)
            .details(details);
        let stored = self
            .publish_built(actor, access, vec![object], &notify, audit)
            .await?;
        let stored = stored
            .into_iter()
            .next()
            .ok_or_else(|| CoreError::Internal("feedback was not stored".into()))?;
        Ok(FeedbackItem {
            id,
            kind: draft.kind.to_string(),
            object_id: target.object_id.clone(),
            version: stored.version.unwrap_or_default(),
            tlp: stored.tlp,
            audience,
            anonymous: draft.anonymous,
        })
    }

    /// A recipient (or the source) reports sightings of an object: a STIX `sighting` it
    /// publishes into the community, marked like the object unless a stricter marking is
    /// picked. The source's admins and analysts are told.
    pub async fn post_sighting(
        &self,
        actor: &Actor,
        community: &str,
        object_id: &str,
        input: NewSighting,
    ) -> CoreResult<FeedbackItem> {
        let (access, target) = self
            .feedback_target(actor, community, object_id, "feedback.sighting")
            .await?;
        if cairn_stix::ObjectKind::of_type(&target.object_type) != cairn_stix::ObjectKind::Sdo {
            return Err(CoreError::invalid(
                "object",
                format!(
                    "sightings are of STIX Domain Objects (indicators, malware, …), not of a `{}`",
                    target.object_type
                ),
            ));
        }
        if !(1..=999_999_999).contains(&input.count) {
            return Err(CoreError::invalid(
                "count",
                "must be a whole number from 1 to 999999999",
            ));
        }
        v::optional_text("where", &input.where_seen, 1_000)?;
        let now = ts::now();
        let last = input.last_seen.or(input.first_seen).unwrap_or(now);
        let first = input.first_seen.unwrap_or(last);
        if last > now + SIGHTING_SKEW {
            return Err(CoreError::invalid(
                "last_seen",
                "is in the future (more than 5 minutes from now)",
            ));
        }
        if first > last {
            return Err(CoreError::invalid(
                "first_seen",
                "must not be later than last_seen",
            ));
        }
        let stamp = stix_now();
        let mut object = json!({
            "type": "sighting", "spec_version": "2.1",
            "id": format!("sighting--{}", Uuid::new_v4()),
            "created": stamp, "modified": stamp,
            "sighting_of_ref": target.object_id,
            "count": input.count,
            "first_seen": stix_time(first),
            "last_seen": stix_time(last),
        });
        if !input.where_seen.trim().is_empty() {
            object["description"] = json!(input.where_seen.trim());
        }
        let floor = self.floor_of(&access, &target).await?;
        self.publish_feedback(
            actor,
            &access,
            &target,
            Draft {
                kind: "sighting",
                object,
                floor,
                choice: FeedbackMarking::of(input.tlp, &input.organizations, &input.users),
                anonymous: input.anonymous,
                also_notify: Vec::new(),
                note: json!({"count": input.count}),
                action: "feedback.sighting",
                details: json!({"count": input.count, "first_seen": stix_time(first), "last_seen": stix_time(last)}),
                reset_audience: false,
            },
        )
        .await
    }

    /// A recipient's opinion of an object (useful, not useful, false positive) as a STIX
    /// `opinion`. One per user and object: a later one is a new version of the same opinion.
    pub async fn give_opinion(
        &self,
        actor: &Actor,
        community: &str,
        object_id: &str,
        input: NewOpinion,
    ) -> CoreResult<FeedbackItem> {
        let (access, target) = self
            .feedback_target(actor, community, object_id, "feedback.opinion")
            .await?;
        if actor.org_id == Some(target.source_org) {
            return Err(CoreError::invalid(
                "object",
                "your organization is the source: opinions are given by recipients",
            ));
        }
        v::optional_text("explanation", &input.explanation, 5_000)?;
        // The user's current opinion, if any, is replaced by a new version of it.
        let previous = self
            .about(&access, object_id, "opinion")
            .await?
            .into_iter()
            .filter(|o| o.source_user.is_some() && o.source_user == actor.user_id)
            .max_by(|a, b| a.version_key.cmp(&b.version_key));
        // A new version keeps the anonymity of the first: naming the giver now would name the
        // giver of every earlier version too.
        if let Some(p) = previous.as_ref().filter(|p| p.anonymous != input.anonymous) {
            let (was, give) = if p.anonymous {
                ("anonymously", "true")
            } else {
                ("under your organization's name", "false")
            };
            return Err(CoreError::Conflict(format!(
                "nothing was stored: your opinion {} of {} was given {was}, and a new version \
                 keeps that (give it with \"anonymous\": {give})",
                p.object_id, target.object_id
            )));
        }
        let now = ts::now();
        let (id, created, modified) = match &previous {
            Some(p) => {
                let old: Value = serde_json::from_str(&p.raw).unwrap_or(Value::Null);
                let created = old["created"].as_str().unwrap_or_default().to_string();
                let floor = cairn_stix::Timestamp::parse(&p.version)
                    .map(|t| t.unix_nanos() + 1_000_000)
                    .unwrap_or(0);
                let at = now.unix_timestamp_nanos().max(floor);
                let at = OffsetDateTime::from_unix_timestamp_nanos(at).unwrap_or(now);
                (p.object_id.clone(), created, stix_time(at))
            }
            None => {
                let stamp = stix_now();
                (format!("opinion--{}", Uuid::new_v4()), stamp.clone(), stamp)
            }
        };
        let mut object = json!({
            "type": "opinion", "spec_version": "2.1", "id": id,
            "created": created, "modified": modified,
            "opinion": input.opinion.stix(),
            "object_refs": [target.object_id],
        });
        if !input.explanation.trim().is_empty() {
            object["explanation"] = json!(input.explanation.trim());
        }
        let floor = self.floor_of(&access, &target).await?;
        self.publish_feedback(
            actor,
            &access,
            &target,
            Draft {
                kind: "opinion",
                object,
                floor,
                choice: FeedbackMarking::of(input.tlp, &input.organizations, &input.users),
                anonymous: input.anonymous,
                also_notify: Vec::new(),
                note: json!({"opinion": input.opinion}),
                action: "feedback.opinion",
                details: json!({"opinion": input.opinion, "replaces": previous.as_ref().map(|p| &p.version)}),
                reset_audience: previous.is_some(),
            },
        )
        .await
    }

    /// A comment or question on an object, or an answer in its thread, as a STIX `note`. It
    /// inherits the marking of what it answers (the object, or the comment it replies to)
    /// unless the writer picks a stricter one; a less strict one is refused.
    pub async fn post_comment(
        &self,
        actor: &Actor,
        community: &str,
        object_id: &str,
        input: NewComment,
    ) -> CoreResult<FeedbackItem> {
        let (access, target) = self
            .feedback_target(actor, community, object_id, "feedback.comment")
            .await?;
        v::text("text", &input.text, MAX_COMMENT_CHARS)?;
        let parent = match &input.in_reply_to {
            None => None,
            Some(pid) => {
                let p = self.visible(&access, pid).await.map_err(|_| {
                    CoreError::invalid(
                        "in_reply_to",
                        format!("no comment `{}` in this thread", v::clip(pid)),
                    )
                })?;
                if p.object_type != "note"
                    || !refs_in_raw("note", &p.raw).contains(&target.object_id)
                {
                    return Err(CoreError::invalid(
                        "in_reply_to",
                        format!("no comment `{}` in this thread", v::clip(pid)),
                    ));
                }
                Some(p)
            }
        };
        let floor = match &parent {
            Some(p) => self.floor_of(&access, p).await?,
            None => self.floor_of(&access, &target).await?,
        };
        let stamp = stix_now();
        let mut refs = vec![target.object_id.clone()];
        if let Some(p) = &parent {
            refs.push(p.object_id.clone());
        }
        let mut object = json!({
            "type": "note", "spec_version": "2.1",
            "id": format!("note--{}", Uuid::new_v4()),
            "created": stamp, "modified": stamp,
            "content": input.text,
            "object_refs": refs,
        });
        if input.question {
            object["labels"] = json!(["question"]);
        }
        let kind = match (&parent, input.question) {
            (_, true) => "question",
            (Some(_), false) => "reply",
            (None, false) => "comment",
        };
        let also_notify: Vec<Uuid> = parent.iter().filter_map(|p| p.source_user).collect();
        let in_reply_to = parent.as_ref().map(|p| p.object_id.clone());
        let item = self
            .publish_feedback(
                actor,
                &access,
                &target,
                Draft {
                    kind,
                    object,
                    floor,
                    choice: FeedbackMarking::of(input.tlp, &input.organizations, &input.users),
                    anonymous: false,
                    also_notify,
                    note: json!({"in_reply_to": in_reply_to}),
                    action: "feedback.comment",
                    details: json!({"question": input.question, "in_reply_to": in_reply_to, "chars": input.text.chars().count()}),
                    reset_audience: false,
                },
            )
            .await?;
        Ok(FeedbackItem {
            kind: "comment".into(),
            ..item
        })
    }

    /// The latest versions of objects of `object_type` about `object_id` that the viewer may
    /// see (the rule is in the store's query).
    async fn about(
        &self,
        access: &Access,
        object_id: &str,
        object_type: &str,
    ) -> CoreResult<Vec<ObjectVersion>> {
        let mut query = ObjectQuery {
            types: vec![object_type.to_string()],
            refers_to: Some(object_id.to_string()),
            versions: VersionMatch::Last,
            limit: 1_000,
            ..Default::default()
        };
        let mut out = Vec::new();
        loop {
            let mut page = self
                .store()
                .objects(&access.viewer, access.community.id, &query)
                .await?;
            let more = page.len() as i64 > query.limit;
            page.truncate(query.limit as usize);
            let last = page.last().map(|o| o.seq);
            out.append(&mut page);
            match (more, last) {
                (true, Some(seq)) if out.len() < 100_000 => query.after_seq = Some(seq),
                _ => return Ok(out),
            }
        }
    }

    /// An object's comment thread, oldest first: the comments the caller may see, on an object
    /// it may see (404 otherwise).
    pub async fn comments(
        &self,
        actor: &Actor,
        community: &str,
        object_id: &str,
    ) -> CoreResult<Vec<Comment>> {
        let access = self.access(Some(actor), community).await?;
        let target = self.visible(&access, object_id).await?;
        let mut names = OrgNames::default();
        let mut users: HashMap<Uuid, Option<String>> = HashMap::new();
        let mut out = Vec::new();
        for n in self.about(&access, object_id, "note").await? {
            let note: Value = serde_json::from_str(&n.raw).unwrap_or(Value::Null);
            let in_reply_to = refs_of("note", &note)
                .into_iter()
                .find(|r| r != object_id && r.starts_with("note--"));
            let author = match n.source_user {
                Some(u) => match users.get(&u) {
                    Some(name) => name.clone(),
                    None => {
                        let name = self.store().user(u).await?.map(|u| u.username);
                        users.insert(u, name.clone());
                        name
                    }
                },
                None => None,
            };
            out.push(Comment {
                id: n.object_id.clone(),
                in_reply_to,
                text: note["content"].as_str().unwrap_or_default().to_string(),
                question: note["labels"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|x| x == "question")),
                tlp: n.tlp,
                organization: names.get(self, n.source_org).await?.map(|o| o.short_name),
                author,
                from_source: n.source_org == target.source_org,
                created: note["created"].as_str().unwrap_or_default().to_string(),
                date_added: n.date_added,
            });
        }
        out.sort_by_key(|a| a.date_added);
        Ok(out)
    }

    /// What recipients made of an object, of what the caller may see: sightings (count,
    /// organizations, first and last seen), opinions (one per user), comments. The source's
    /// view names the organizations, except those who gave their feedback anonymously; a
    /// recipient's view has counts only.
    pub async fn feedback(
        &self,
        actor: &Actor,
        community: &str,
        object_id: &str,
    ) -> CoreResult<FeedbackSummary> {
        let access = self.access(Some(actor), community).await?;
        let target = self.visible(&access, object_id).await?;
        let source_view = actor.org_id == Some(target.source_org);
        let mut names = OrgNames::default();

        let mut s = SightingSummary::default();
        let mut orgs = HashSet::new();
        let mut named = Vec::new();
        let mut first: Option<(i128, String)> = None;
        let mut last: Option<(i128, String)> = None;
        for v in self.about(&access, object_id, "sighting").await? {
            let o: Value = serde_json::from_str(&v.raw).unwrap_or(Value::Null);
            s.sightings += 1;
            s.count += o["count"].as_i64().unwrap_or(1);
            orgs.insert(v.source_org);
            if o.get(ANONYMOUS_PROPERTY).and_then(Value::as_bool) == Some(true) {
                s.anonymous += 1;
            } else if !named.contains(&v.source_org) {
                named.push(v.source_org);
            }
            if let Some(f) = seen_at(&o, "first_seen") {
                if first.as_ref().is_none_or(|x| f.0 < x.0) {
                    first = Some(f);
                }
            }
            if let Some(l) = seen_at(&o, "last_seen") {
                if last.as_ref().is_none_or(|x| l.0 > x.0) {
                    last = Some(l);
                }
            }
        }
        s.organizations = orgs.len() as i64;
        s.first_seen = first.map(|f| f.1);
        s.last_seen = last.map(|l| l.1);
        if source_view {
            s.reported_by = names.list(self, &named).await?;
        }

        // One opinion per user: the newest of each user's, then every one without a user.
        let mut o = OpinionSummary::default();
        let mut latest: HashMap<Uuid, ObjectVersion> = HashMap::new();
        let mut others = Vec::new();
        for v in self.about(&access, object_id, "opinion").await? {
            match v.source_user {
                Some(u) => {
                    if latest.get(&u).is_none_or(|x| x.date_added < v.date_added) {
                        latest.insert(u, v);
                    }
                }
                None => others.push(v),
            }
        }
        let (mut useful, mut not_useful, mut false_positive) = (Vec::new(), Vec::new(), Vec::new());
        for v in latest.into_values().chain(others) {
            let op: Value = serde_json::from_str(&v.raw).unwrap_or(Value::Null);
            let anonymous = op.get(ANONYMOUS_PROPERTY).and_then(Value::as_bool) == Some(true);
            if anonymous {
                o.anonymous += 1;
            }
            let (count, by) = match OpinionValue::from_stix(op["opinion"].as_str().unwrap_or("")) {
                Some(OpinionValue::Useful) => (&mut o.useful, &mut useful),
                Some(OpinionValue::NotUseful) => (&mut o.not_useful, &mut not_useful),
                Some(OpinionValue::FalsePositive) => (&mut o.false_positive, &mut false_positive),
                None => {
                    o.neutral += 1;
                    continue;
                }
            };
            *count += 1;
            if !anonymous {
                push_unique(by, v.source_org);
            }
        }
        if source_view {
            o.useful_by = names.list(self, &useful).await?;
            o.not_useful_by = names.list(self, &not_useful).await?;
            o.false_positive_by = names.list(self, &false_positive).await?;
        }
        let comments = self.about(&access, object_id, "note").await?.len() as i64;
        Ok(FeedbackSummary {
            object_id: target.object_id,
            source_view,
            sightings: s,
            opinions: o,
            comments,
        })
    }
}

/// Feedback objects of one publish, and objects they are about, looked up for notices, at most.
pub const MAX_POSTED_FEEDBACK_NOTICED: usize = 1_000;

/// The feedback objects among versions just stored (at most [`MAX_POSTED_FEEDBACK_NOTICED`]),
/// for [`Cairn::notify_posted_feedback`].
pub(crate) fn posted_feedback(stored: &[(&NewObjectVersion, i64)]) -> Vec<PostedFeedback> {
    stored
        .iter()
        .map(|(v, _)| *v)
        .filter(|v| !v.refs.is_empty() && feedback_kind(&v.object_type).is_some())
        .take(MAX_POSTED_FEEDBACK_NOTICED)
        .map(|v| PostedFeedback {
            object_id: v.object_id.clone(),
            object_type: v.object_type.clone(),
            refs: v.refs.clone(),
            tlp: v.tlp,
            audience: v.audience.clone().unwrap_or_default(),
            anonymous: v.anonymous,
        })
        .collect()
}

impl Cairn {
    /// Feedback published as STIX objects (a sighting, opinion or note posted over TAXII or the
    /// objects endpoint, imported or pulled) notifies the sources of the objects it is about,
    /// as feedback given through the feedback endpoints does: each admin and analyst of the
    /// source that the rule lets see the feedback object, never the poster's own organization,
    /// and only about objects the poster may see. An anonymous share names no organization.
    /// Runs on the correlation worker (see [`crate::correlator`]).
    pub(crate) async fn notify_posted_feedback(&self, job: &PublishJob) -> CoreResult<()> {
        let Some(poster_org) = job.actor.org_id else {
            return Ok(());
        };
        let PublishJob {
            actor,
            community,
            members,
            viewer,
            feedback: items,
            ..
        } = job;
        if items.is_empty() {
            return Ok(());
        }
        // The objects they are about, as the poster sees them (the latest visible version).
        let mut ids: Vec<String> = items
            .iter()
            .flat_map(|v| v.refs.iter().cloned())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        ids.truncate(MAX_POSTED_FEEDBACK_NOTICED);
        let q = ObjectQuery {
            limit: ids.len() as i64,
            ids,
            versions: VersionMatch::Last,
            ..Default::default()
        };
        let sources: HashMap<String, Uuid> = self
            .store()
            .objects(viewer, community.id, &q)
            .await?
            .into_iter()
            .map(|o| (o.object_id, o.source_org))
            .collect();
        let mut desks: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        let mut poster_name: Option<Value> = None;
        let mut notify = Vec::new();
        let mut told = HashSet::new();
        let now = ts::now();
        for v in items {
            let facts = VersionFacts {
                source_org: poster_org,
                tlp: v.tlp,
                audience_orgs: &v.audience.organizations,
                audience_users: &v.audience.users,
            };
            let from = if v.anonymous {
                Value::Null
            } else {
                match &poster_name {
                    Some(n) => n.clone(),
                    None => {
                        let n = json!(self
                            .store()
                            .organization(poster_org)
                            .await?
                            .map(|o| o.short_name));
                        poster_name = Some(n.clone());
                        n
                    }
                }
            };
            for target in &v.refs {
                let Some(&source) = sources.get(target) else {
                    continue;
                };
                if source == poster_org {
                    continue;
                }
                if let std::collections::hash_map::Entry::Vacant(e) = desks.entry(source) {
                    e.insert(self.source_desk(source).await?);
                }
                for &user in desks.get(&source).into_iter().flatten() {
                    if Some(user) == actor.user_id {
                        continue;
                    }
                    let viewer = Viewer {
                        user: Some(user),
                        org: Some(source),
                        member: members.contains(&source),
                        public_feed: community.public_feed,
                    };
                    if !entitled(&viewer, &facts) || !told.insert((user, target, &v.object_id)) {
                        continue;
                    }
                    notify.push(Notification {
                        id: Uuid::new_v4(),
                        user_id: user,
                        community_id: Some(community.id),
                        object_id: Some(target.clone()),
                        kind: "feedback".into(),
                        body: json!({
                            "community": community.slug,
                            "feedback": feedback_kind(&v.object_type),
                            "item": v.object_id,
                            "organization": from,
                            "posted_as": "stix",
                        }),
                        created_at: now,
                        read_at: None,
                    });
                }
            }
        }
        if notify.is_empty() {
            return Ok(());
        }
        // Readable by the poster's organization and the operator, like the share itself.
        let audit = AuditEvent::new(actor, "feedback.notify", "community", community.id)
            .org(Some(poster_org))
            .details(json!({
                "community": community.slug,
                "notices": notify.len(),
            }));
        self.store().record_notifications(&notify, audit).await?;
        Ok(())
    }
}

/// The feedback kind of a STIX type, as notices name it.
fn feedback_kind(object_type: &str) -> Option<&'static str> {
    match object_type {
        "sighting" => Some("sighting"),
        "opinion" => Some("opinion"),
        "note" => Some("comment"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TlpLevel::*;

    struct World {
        source: Uuid,
        beta: Uuid,
        gamma: Uuid,
        source_analyst: Uuid,
        beta_user: Uuid,
        gamma_user: Uuid,
    }

    fn world() -> World {
        World {
            source: Uuid::new_v4(),
            beta: Uuid::new_v4(),
            gamma: Uuid::new_v4(),
            source_analyst: Uuid::new_v4(),
            beta_user: Uuid::new_v4(),
            gamma_user: Uuid::new_v4(),
        }
    }

    fn run(
        w: &World,
        floor: (TlpLevel, Vec<Uuid>, Vec<Uuid>),
        choice: Choice,
    ) -> CoreResult<(TlpLevel, Audience)> {
        let floor = Floor {
            tlp: floor.0,
            audience: Audience {
                organizations: floor.1,
                users: floor.2,
            },
            source_org: w.source,
        };
        let org_of = |u: Uuid| {
            if u == w.source_analyst {
                Some(w.source)
            } else if u == w.beta_user {
                Some(w.beta)
            } else if u == w.gamma_user {
                Some(w.gamma)
            } else {
                None
            }
        };
        let members: HashSet<Uuid> = [w.source, w.beta, w.gamma].into_iter().collect();
        bounded_marking(&floor, &choice, &org_of, &[w.source_analyst], &members)
    }

    fn level(tlp: TlpLevel) -> Choice {
        Choice {
            tlp: Some(tlp),
            ..Default::default()
        }
    }

    #[test]
    fn feedback_inherits_the_marking_or_a_stricter_one() {
        let w = world();
        // Inherited: level and named organizations, plus the source.
        let (l, a) = run(&w, (Amber, vec![w.beta], vec![]), Choice::default()).unwrap();
        assert_eq!((l, a.organizations), (Amber, vec![w.beta, w.source]));
        assert_eq!(
            run(&w, (Green, vec![], vec![]), Choice::default()).unwrap(),
            (Green, Audience::default())
        );
        // Never less strict.
        let e = run(&w, (Amber, vec![], vec![]), level(Green)).unwrap_err();
        assert!(
            matches!(e, CoreError::Invalid { ref field, .. } if field == "tlp"),
            "{e:?}"
        );
        assert!(run(&w, (Red, vec![], vec![w.beta_user]), level(AmberStrict)).is_err());
        // Stricter: AMBER+STRICT keeps the named organizations; a narrower list is accepted,
        // a wider one refused.
        let (l, a) = run(&w, (Amber, vec![w.beta], vec![]), level(AmberStrict)).unwrap();
        assert_eq!((l, a.organizations.len()), (AmberStrict, 2));
        let narrow = Choice {
            tlp: Some(Amber),
            organizations: vec![w.source],
            users: vec![],
        };
        assert_eq!(
            run(&w, (Amber, vec![w.beta], vec![]), narrow)
                .unwrap()
                .1
                .organizations,
            vec![w.source]
        );
        let wide = Choice {
            tlp: Some(Amber),
            organizations: vec![w.gamma],
            users: vec![],
        };
        let e = run(&w, (Amber, vec![w.beta], vec![]), wide.clone()).unwrap_err();
        assert!(
            matches!(e, CoreError::Invalid { ref field, .. } if field == "organizations[0]"),
            "{e:?}"
        );
        // On a GREEN object any member organization may be named.
        assert_eq!(
            run(&w, (Green, vec![], vec![]), wide)
                .unwrap()
                .1
                .organizations,
            vec![w.gamma]
        );
        // RED by default goes to the object's users and the source's desk.
        let (l, a) = run(&w, (Red, vec![], vec![w.beta_user]), Choice::default()).unwrap();
        assert_eq!((l, a.users), (Red, vec![w.beta_user, w.source_analyst]));
        let (_, a) = run(&w, (Green, vec![], vec![]), level(Red)).unwrap();
        assert_eq!(a.users, vec![w.source_analyst]);
        // RED to someone who may not see the object is refused.
        let e = run(
            &w,
            (Red, vec![], vec![w.beta_user]),
            Choice {
                tlp: None,
                organizations: vec![],
                users: vec![w.gamma_user],
            },
        )
        .unwrap_err();
        assert!(
            matches!(e, CoreError::Invalid { ref field, .. } if field == "users[0]"),
            "{e:?}"
        );
        let e = run(
            &w,
            (Amber, vec![w.beta], vec![]),
            Choice {
                tlp: Some(Red),
                organizations: vec![],
                users: vec![w.gamma_user],
            },
        )
        .unwrap_err();
        assert!(
            matches!(e, CoreError::Invalid { ref field, .. } if field == "users[0]"),
            "{e:?}"
        );
        // Recipients only where the level names them.
        let e = run(
            &w,
            (Green, vec![], vec![]),
            Choice {
                tlp: None,
                organizations: vec![w.beta],
                users: vec![],
            },
        )
        .unwrap_err();
        assert!(
            matches!(e, CoreError::Invalid { ref field, .. } if field == "organizations"),
            "{e:?}"
        );
    }

    #[test]
    fn refs_and_opinions() {
        let s = json!({"type": "sighting", "sighting_of_ref": "indicator--1"});
        assert_eq!(refs_of("sighting", &s), vec!["indicator--1"]);
        let n = json!({"type": "note", "object_refs": ["indicator--1", "note--2", "indicator--1"]});
        assert_eq!(refs_of("note", &n), vec!["indicator--1", "note--2"]);
        assert!(refs_of("report", &n).is_empty());
        for v in [
            OpinionValue::Useful,
            OpinionValue::NotUseful,
            OpinionValue::FalsePositive,
        ] {
            assert_eq!(OpinionValue::from_stix(v.stix()), Some(v));
        }
        assert_eq!(
            OpinionValue::from_stix("strongly-agree"),
            Some(OpinionValue::Useful)
        );
        assert_eq!(OpinionValue::from_stix("neutral"), None);
        assert!(is_anonymous(r#"{"x_cairn_anonymous": true}"#));
        assert!(!is_anonymous(r#"{"x_cairn_anonymous": "yes"}"#));
    }
}
