//! Correlation, exact value lookup and full-text search over shared objects (ISO 22396 6.5.3:
//! the sharing platform helps members find what others shared about the same thing; ISO/IEC
//! 27035-4 6.3: correlating information received from several parties).
//!
//! **What is indexed.** When a version is stored, the core computes its [`VersionIndex`]: the
//! normalized observable values of [`cairn_stix::values`] (IPs, domains, URLs, e-mail addresses,
//! file hashes, from SCOs and from the simple comparisons of STIX patterns) and the terms of its
//! text (`name`, `description`, `content`, `abstract`, `labels`). The store keeps them next to the
//! version (`object_values`, `object_text`), in the same transaction.
//!
//! **Who sees what.** Every read here goes through the entitlement rule in the store's `WHERE`
//! clause, community by community, with the viewer the caller is in each community it may read;
//! results are the *latest version the caller may see* of each object, exactly as the object
//! reads return it. Nothing is filtered afterwards.
//!
//! **Hidden matches.** When a publish stores a value that an object the poster may not see also
//! holds, the poster is told nothing. The source organization of that hidden object is told
//! (its admins and analysts, kind `correlation`): the value, and the TLP level and community of
//! the new object (the community only if the source's organization is a member of it), never
//! who posted it nor the new object's id; so the source may decide to release its own object.
//!
//! **Terms.** Text is cut into terms here, not by the database, so that both engines index and
//! query the same terms: maximal runs of alphanumeric characters, lower-cased; longer than
//! [`MAX_TERM_CHARS`] characters are dropped. A query is cut the same way and matches the objects
//! that hold every one of its terms; it has no syntax, so no query can be malformed.
//!
//! Comments on objects can join the text index later as documents of their own that point at
//! their object: the search then also matches comment text, gated by the same rule on the object.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cairn_stix::values;
pub use cairn_stix::values::ValueKind;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::correlator::{PublishJob, PublishedAt};
use crate::error::{CoreError, CoreResult};
use crate::exchange::Access;
use crate::model::*;
use crate::release::Notification;
use crate::sharing::*;
use crate::ts::serde_ts;
use crate::{ts, validate as v, Cairn};

/// Terms longer than this (in characters) are not indexed (a SHA-512 in hex is 128).
pub const MAX_TERM_CHARS: usize = 128;
/// The indexed terms of a name stop at this many bytes; of the rest of the text at the other.
pub const MAX_NAME_TERM_BYTES: usize = 4 * 1024;
pub const MAX_BODY_TERM_BYTES: usize = 64 * 1024;
/// A full-text query: at most this many characters and terms.
pub const MAX_QUERY_CHARS: usize = 500;
pub const MAX_QUERY_TERMS: usize = 16;
/// Values longer than this (in bytes, normalized) are neither indexed nor looked up (a database
/// index entry has a size limit; no address or hash comes near it, only very long URLs).
pub const MAX_VALUE_BYTES: usize = 1_024;
/// Pages of search results and value lookups.
pub const MAX_LIMIT: i64 = 100;
pub const MAX_OFFSET: i64 = 10_000;
/// Full-text search ranks at most this many matches: the newest objects the caller may see whose
/// text holds every word. Fewer matches are all ranked; for a word most objects hold, ranking
/// them all would cost a second or more at a million objects.
pub const SEARCH_WINDOW: i64 = 2_000;
/// Correlation results per object: at most this many matches.
pub const MAX_CORRELATIONS: i64 = 1_000;
/// Hidden matches looked at per publish (the rest are not notified).
pub const HIDDEN_MATCH_LIMIT: i64 = 10_000;
/// The snippet of a search result: about this many characters.
const SNIPPET_CHARS: usize = 160;

/// What Cairn indexes of one object version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionIndex {
    /// Normalized observable values, without duplicates.
    pub values: Vec<(ValueKind, String)>,
    /// The terms of `name`, separated by single spaces.
    pub name_terms: String,
    /// The terms of `description`, `content`, `abstract` and `labels`.
    pub body_terms: String,
}

impl VersionIndex {
    /// Neither values nor text.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.name_terms.is_empty() && self.body_terms.is_empty()
    }
}

/// The terms of a text: maximal runs of alphanumeric characters, lower-cased, at most
/// [`MAX_TERM_CHARS`] characters each. (Lower-cased first, then cut: so cutting the terms again
/// gives the same terms.)
pub fn terms(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty() && t.chars().count() <= MAX_TERM_CHARS)
        .map(str::to_string)
        .collect()
}

fn join_terms<'a>(texts: impl Iterator<Item = &'a str>, max_bytes: usize) -> String {
    let mut out = String::new();
    for text in texts {
        for t in terms(text) {
            if out.len() + t.len() + 1 > max_bytes {
                return out;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&t);
        }
    }
    out
}

/// The object's name, if it has one.
pub fn object_name(object: &Value) -> Option<&str> {
    object.get("name").and_then(Value::as_str)
}

/// The searchable text of an object besides its name, in order: `description`, `content`,
/// `abstract`, then each of `labels`.
pub fn object_texts(object: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = ["description", "content", "abstract"]
        .iter()
        .filter_map(|k| object.get(*k).and_then(Value::as_str))
        .collect();
    if let Some(labels) = object.get("labels").and_then(Value::as_array) {
        out.extend(labels.iter().filter_map(Value::as_str));
    }
    out
}

/// The index of an object as posted.
pub fn index_object(object: &Value) -> VersionIndex {
    let mut values = values::extract_observable_values(object);
    values.retain(|(_, v)| v.len() <= MAX_VALUE_BYTES);
    VersionIndex {
        values,
        name_terms: join_terms(object_name(object).into_iter(), MAX_NAME_TERM_BYTES),
        body_terms: join_terms(object_texts(object).into_iter(), MAX_BODY_TERM_BYTES),
    }
}

/// The key of a value in the store's value index: the first 8 bytes of SHA-256 over the kind,
/// a NUL and the value, as a signed big-endian integer. Stable across versions and machines
/// (stored hashes are never recomputed); reads compare kind and value as well.
pub fn value_hash(kind: &str, value: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0u8]);
    h.update(value.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    i64::from_be_bytes(b)
}

/// The index of an object given as JSON text (nothing if it is not JSON).
pub fn index_raw(raw: &str) -> VersionIndex {
    serde_json::from_str::<Value>(raw)
        .map(|v| index_object(&v))
        .unwrap_or_default()
}

/// Read a value to look up, as a person typed it: with its kind named (`ipv4`, `ipv6`,
/// `domain`, `url`, `email`, `md5`, `sha1`, `sha256`, `sha512`), or recognized. Normalized as
/// at ingest. The error says what is wrong, for a 400.
pub fn parse_value(value: &str, kind: Option<&str>) -> Result<(ValueKind, String), String> {
    if value.trim().len() > MAX_VALUE_BYTES {
        return Err(format!(
            "value: longer than {MAX_VALUE_BYTES} bytes (longer values are not indexed)"
        ));
    }
    let shown = v::clip(value.trim());
    match kind {
        Some(k) => {
            let kind = ValueKind::parse(k.trim()).ok_or_else(|| {
                format!(
                    "kind: `{}` is not one of {}",
                    v::clip(k),
                    ValueKind::ALL.map(ValueKind::as_str).join(", ")
                )
            })?;
            values::normalize(kind, value.trim())
                .map(|n| (kind, n))
                .ok_or_else(|| format!("value: `{shown}` is not a valid {} value", kind.as_str()))
        }
        None => values::classify(value).ok_or_else(|| {
            if value.trim().is_empty() {
                "value: is required".to_string()
            } else {
                format!(
                    "value: `{shown}` is not an IPv4 or IPv6 address, domain name, URL, e-mail address, or MD5, SHA-1, SHA-256 or SHA-512 hash; name its kind with `kind`"
                )
            }
        }),
    }
}

/// Read a full-text query: its distinct terms, in order. The error says what is wrong, for a
/// 400.
pub fn parse_query(q: &str) -> Result<Vec<String>, String> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(format!("q: longer than {MAX_QUERY_CHARS} characters"));
    }
    let mut out: Vec<String> = Vec::new();
    for t in terms(q) {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.is_empty() {
        return Err(if q.trim().is_empty() {
            "q: is required".into()
        } else {
            "q: has no words to search for (only punctuation or white space)".into()
        });
    }
    if out.len() > MAX_QUERY_TERMS {
        return Err(format!("q: more than {MAX_QUERY_TERMS} words"));
    }
    Ok(out)
}

fn check_page(limit: i64, offset: i64) -> CoreResult<()> {
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(CoreError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    if !(0..=MAX_OFFSET).contains(&offset) {
        return Err(CoreError::invalid(
            "offset",
            format!("must be between 0 and {MAX_OFFSET}"),
        ));
    }
    Ok(())
}

/// A store query of objects holding one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueQuery {
    pub kind: ValueKind,
    /// Normalized.
    pub value: String,
    pub limit: i64,
    pub offset: i64,
}

/// A store query of objects by text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    /// Terms as [`terms`] makes them; an object must hold every one.
    pub terms: Vec<String>,
    pub limit: i64,
    pub offset: i64,
}

/// An object version the store found for a viewer: the latest version the viewer may see.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundVersion {
    pub community_id: Uuid,
    pub community: String,
    pub seq: i64,
    pub object_id: String,
    pub object_type: String,
    pub version: String,
    pub date_added: OffsetDateTime,
    pub tlp: TlpLevel,
    /// The object as posted (value lookup and search only).
    pub raw: Option<String>,
    /// Search only: higher is better.
    pub rank: f64,
}

/// One correlation the store found: a visible object holding a value of the object asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationRow {
    pub kind: ValueKind,
    pub value: String,
    pub found: FoundVersion,
}

/// A value a publish has just stored, with the store rows (`seq`) of the versions of that
/// publish that hold it: the hidden-match lookup skips them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedValue {
    pub kind: ValueKind,
    pub value: String,
    pub own_seqs: Vec<i64>,
}

/// An object holding a just published value that the poster may not see.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HiddenMatch {
    pub community_id: Uuid,
    pub object_id: String,
    pub source_org: Uuid,
    pub kind: ValueKind,
    pub value: String,
}

/// A version stored before values and text were indexed, waiting to be indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BacklogVersion {
    pub seq: i64,
    pub raw: String,
}

/// An object in a result, with what the caller needs to fetch it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObjectHit {
    /// The community's slug.
    pub community: String,
    pub id: String,
    #[serde(rename = "type")]
    pub object_type: String,
    /// The latest version the caller may see.
    pub version: String,
    #[serde(with = "serde_ts")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub date_added: OffsetDateTime,
    pub tlp: TlpLevel,
    /// The object's `name`, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A page of objects holding one value, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValuePage {
    /// `ipv4`, `ipv6`, `domain`, `url`, `email`, `md5`, `sha1`, `sha256` or `sha512`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: ValueKind,
    /// The value as Cairn normalized it.
    pub value: String,
    pub results: Vec<ObjectHit>,
    /// More results follow (ask again with a larger `offset`).
    pub more: bool,
}

/// One full-text search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    #[serde(flatten)]
    pub object: ObjectHit,
    /// A short piece of the object's text around the first word found (or the start of its
    /// text).
    pub snippet: String,
    /// Relevance: higher is better; comparable within one result list only.
    pub rank: f64,
}

/// A page of full-text search results, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchPage {
    /// The words searched for, as Cairn read the query.
    pub terms: Vec<String>,
    pub results: Vec<SearchHit>,
    pub more: bool,
}

/// A visible object that shares a value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CorrelatedObject {
    pub community: String,
    pub id: String,
    #[serde(rename = "type")]
    pub object_type: String,
    pub version: String,
    pub tlp: TlpLevel,
}

/// One value of the object and the other objects that hold it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValueCorrelation {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: ValueKind,
    pub value: String,
    pub matches: Vec<CorrelatedObject>,
}

/// The correlations of an object: for each value of the latest version the caller may see, the
/// other objects the caller may see that hold it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Correlations {
    pub community: String,
    pub id: String,
    pub version: String,
    pub values: Vec<ValueCorrelation>,
    /// More matches exist than were listed (`limit`).
    pub truncated: bool,
}

/// A short piece of `text` around the first of `terms` it holds, else its start.
fn snippet_of(texts: &[&str], terms: &[String]) -> String {
    let found = texts.iter().find_map(|text| {
        let mut pos = 0;
        for word in text.split(|c: char| !c.is_alphanumeric()) {
            let start = pos;
            pos += word.len()
                + text[pos + word.len()..]
                    .chars()
                    .next()
                    .map_or(0, char::len_utf8);
            if !word.is_empty() && terms.iter().any(|t| *t == word.to_lowercase()) {
                return Some((*text, start));
            }
        }
        None
    });
    let (text, at) = match found {
        Some(f) => f,
        None => match texts.first() {
            Some(t) => (*t, 0),
            None => return String::new(),
        },
    };
    // About a third of the window before the word, the rest after, on character boundaries.
    let before: Vec<(usize, char)> = text[..at].char_indices().collect();
    let lead = SNIPPET_CHARS / 3;
    let start = if before.len() > lead {
        before[before.len() - lead].0
    } else {
        0
    };
    let end = text[start..]
        .char_indices()
        .nth(SNIPPET_CHARS)
        .map_or(text.len(), |(i, _)| start + i);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.push_str(text[start..end].trim());
    if end < text.len() {
        out.push('…');
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn hit(found: &FoundVersion, object: Option<&Value>) -> ObjectHit {
    ObjectHit {
        community: found.community.clone(),
        id: found.object_id.clone(),
        object_type: found.object_type.clone(),
        version: found.version.clone(),
        date_added: found.date_added,
        tlp: found.tlp,
        name: object.and_then(object_name).map(str::to_string),
    }
}

fn parsed(found: &FoundVersion) -> Option<Value> {
    found
        .raw
        .as_deref()
        .and_then(|r| serde_json::from_str::<Value>(r).ok())
}

impl Cairn {
    /// The communities the actor may read, each with the viewer the actor is there: the input
    /// of every search, lookup and correlation query.
    pub(crate) async fn viewers(&self, actor: &Actor) -> CoreResult<Vec<(Community, Viewer)>> {
        // One query: the communities with whether the actor's organization is a member (what
        // `policy::role_in` reads), as `access` would find them one by one.
        Ok(self
            .store()
            .readable_communities(actor.org_id)
            .await?
            .into_iter()
            .filter(|(c, member)| *member || c.public_feed)
            .map(|(c, member)| {
                let viewer = Viewer {
                    user: actor.user_id,
                    org: actor.org_id,
                    member,
                    public_feed: c.public_feed,
                };
                (c, viewer)
            })
            .collect())
    }

    /// Viewers of the communities to search: one community if named (404 if the actor may not
    /// read it), else every community the actor may read.
    async fn search_scope(
        &self,
        actor: &Actor,
        community: Option<&str>,
    ) -> CoreResult<Vec<(Uuid, Viewer)>> {
        Ok(match community {
            Some(c) => {
                let access = self.access(Some(actor), c).await?;
                vec![(access.community.id, access.viewer)]
            }
            None => self
                .viewers(actor)
                .await?
                .into_iter()
                .map(|(c, v)| (c.id, v))
                .collect(),
        })
    }

    /// "Has anyone shared this value?": the objects the actor may see whose latest visible
    /// version holds the value, in the communities the actor may read (or the one named),
    /// newest first.
    pub async fn lookup_value(
        &self,
        actor: &Actor,
        community: Option<&str>,
        query: &ValueQuery,
    ) -> CoreResult<ValuePage> {
        check_page(query.limit, query.offset)?;
        if values::normalize(query.kind, &query.value).as_deref() != Some(query.value.as_str()) {
            return Err(CoreError::invalid("value", "is not normalized"));
        }
        let viewers = self.search_scope(actor, community).await?;
        let mut found = if viewers.is_empty() {
            Vec::new()
        } else {
            self.store().lookup_value(&viewers, query).await?
        };
        let more = found.len() as i64 > query.limit;
        found.truncate(query.limit as usize);
        Ok(ValuePage {
            kind: query.kind,
            value: query.value.clone(),
            results: found.iter().map(|f| hit(f, parsed(f).as_ref())).collect(),
            more,
        })
    }

    /// Full-text search over the latest versions the actor may see, in the communities the
    /// actor may read (or the one named), best first.
    pub async fn search(
        &self,
        actor: &Actor,
        community: Option<&str>,
        query: &TextQuery,
    ) -> CoreResult<SearchPage> {
        check_page(query.limit, query.offset)?;
        if query.terms.is_empty() || query.terms.len() > MAX_QUERY_TERMS {
            return Err(CoreError::invalid(
                "q",
                format!("between 1 and {MAX_QUERY_TERMS} words"),
            ));
        }
        if let Some(bad) = query.terms.iter().find(|t| terms(t) != [t.to_string()]) {
            return Err(CoreError::invalid(
                "q",
                format!("`{}` is not a search term", v::clip(bad)),
            ));
        }
        let viewers = self.search_scope(actor, community).await?;
        let mut found = if viewers.is_empty() {
            Vec::new()
        } else {
            self.store().search_text(&viewers, query).await?
        };
        let more = found.len() as i64 > query.limit;
        found.truncate(query.limit as usize);
        Ok(SearchPage {
            terms: query.terms.clone(),
            results: found
                .iter()
                .map(|f| {
                    let object = parsed(f);
                    let texts: Vec<&str> = object
                        .as_ref()
                        .map(|o| {
                            let mut t = object_texts(o);
                            t.extend(object_name(o));
                            t
                        })
                        .unwrap_or_default();
                    SearchHit {
                        object: hit(f, object.as_ref()),
                        snippet: snippet_of(&texts, &query.terms),
                        rank: f.rank,
                    }
                })
                .collect(),
            more,
        })
    }

    /// The correlations of an object the actor may see (404 otherwise): for each value of its
    /// latest visible version, the other objects the actor may see that hold the value, in
    /// every community the actor may read.
    pub async fn correlations(
        &self,
        actor: &Actor,
        community: &str,
        object_id: &str,
        limit: i64,
    ) -> CoreResult<Correlations> {
        if !(1..=MAX_CORRELATIONS).contains(&limit) {
            return Err(CoreError::invalid(
                "limit",
                format!("must be between 1 and {MAX_CORRELATIONS}"),
            ));
        }
        let access = self.access(Some(actor), community).await?;
        let q = ObjectQuery {
            ids: vec![object_id.to_string()],
            versions: VersionMatch::Last,
            limit: 1,
            ..Default::default()
        };
        let current = self
            .store()
            .objects(&access.viewer, access.community.id, &q)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                CoreError::not_found(format!("object `{}` not found", v::clip(object_id)))
            })?;
        let own = index_raw(&current.raw).values;
        let viewers: Vec<(Uuid, Viewer)> = self
            .viewers(actor)
            .await?
            .into_iter()
            .map(|(c, v)| (c.id, v))
            .collect();
        let mut rows = if own.is_empty() || viewers.is_empty() {
            Vec::new()
        } else {
            self.store()
                .correlations(&viewers, &current, limit + 1)
                .await?
        };
        let truncated = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let mut by_value: BTreeMap<(ValueKind, String), Vec<CorrelatedObject>> = BTreeMap::new();
        for r in rows {
            by_value
                .entry((r.kind, r.value))
                .or_default()
                .push(CorrelatedObject {
                    community: r.found.community,
                    id: r.found.object_id,
                    object_type: r.found.object_type,
                    version: r.found.version,
                    tlp: r.found.tlp,
                });
        }
        Ok(Correlations {
            community: access.community.slug,
            id: current.object_id,
            version: current.version,
            values: own
                .into_iter()
                .map(|(kind, value)| {
                    let matches = by_value.remove(&(kind, value.clone())).unwrap_or_default();
                    ValueCorrelation {
                        kind,
                        value,
                        matches,
                    }
                })
                .collect(),
            truncated,
        })
    }

    /// After a publish: tell the sources of objects the poster may not see, that hold a value
    /// just published, that the value now also appears at this TLP level in this community.
    /// The poster learns nothing of it; the notice names neither the poster nor the new object.
    /// With `feedback`, also tell the sources of objects that feedback just published is about
    /// (see [`Cairn::notify_posted_feedback`]).
    ///
    /// The lookups and the notices run after the publish has answered, on the correlation
    /// worker (see [`crate::correlator`]); a publish waits only when the worker is more than a
    /// few publishes behind.
    pub(crate) async fn notify_after_publish(
        &self,
        actor: &Actor,
        access: &Access,
        stored: &[(&NewObjectVersion, i64)],
        feedback: bool,
    ) {
        if actor.org_id.is_none() {
            return;
        }
        let mut values: BTreeMap<(ValueKind, String), PublishedAt> = BTreeMap::new();
        for (v, seq) in stored {
            for (kind, value) in &v.index.values {
                let at = values.entry((*kind, value.clone())).or_default();
                at.levels.insert(v.tlp);
                at.seqs.push(*seq);
            }
        }
        let feedback = if feedback {
            crate::feedback::posted_feedback(stored)
        } else {
            Vec::new()
        };
        if values.is_empty() && feedback.is_empty() {
            return;
        }
        let job = PublishJob {
            actor: actor.clone(),
            community: access.community.clone(),
            members: access.memberships.iter().map(|m| m.org_id).collect(),
            viewer: access.viewer.clone(),
            values,
            feedback,
        };
        self.correlator().submit(self, job).await;
    }

    /// Run one job of the correlation worker (or, when there is no worker, of the publish):
    /// feedback notices, then hidden matches. Failures are logged: the publish has succeeded.
    pub(crate) async fn run_publish_job(&self, job: PublishJob) {
        if let Err(e) = self.notify_posted_feedback(&job).await {
            tracing::error!(error = %e, community = %job.community.slug, "feedback notices failed");
        }
        if let Err(e) = self.try_notify_hidden_matches(&job).await {
            tracing::error!(error = %e, community = %job.community.slug, "correlation notices failed");
        }
    }

    async fn try_notify_hidden_matches(&self, job: &PublishJob) -> CoreResult<()> {
        let PublishJob {
            actor,
            community,
            members,
            values: published,
            ..
        } = job;
        if published.is_empty() {
            return Ok(());
        }
        let Some(poster_org) = actor.org_id else {
            return Ok(());
        };
        let viewers: Vec<(Uuid, Viewer)> = self
            .viewers(actor)
            .await?
            .into_iter()
            .map(|(c, v)| (c.id, v))
            .collect();
        let values: Vec<PublishedValue> = published
            .iter()
            .map(|((kind, value), at)| PublishedValue {
                kind: *kind,
                value: value.clone(),
                own_seqs: at.seqs.clone(),
            })
            .collect();
        let hidden = self
            .store()
            .hidden_matches(poster_org, &viewers, &values, HIDDEN_MATCH_LIMIT)
            .await?;
        if hidden.is_empty() {
            return Ok(());
        }
        // The new object's community is named to owners that are members of it; to others it
        // is left out, as a community one is not a member of does not exist for them.
        let mut desks: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        let mut notify = Vec::new();
        let mut orgs = BTreeSet::new();
        let now = ts::now();
        for m in &hidden {
            if m.source_org == poster_org {
                continue;
            }
            let desk = match desks.get(&m.source_org) {
                Some(d) => d,
                None => {
                    let d = self.source_desk(m.source_org).await?;
                    desks.entry(m.source_org).or_insert(d)
                }
            };
            let Some(PublishedAt { levels: tlps, .. }) = published.get(&(m.kind, m.value.clone()))
            else {
                continue;
            };
            orgs.insert(m.source_org);
            let named = members
                .contains(&m.source_org)
                .then(|| community.slug.clone());
            for tlp in tlps {
                for user in desk {
                    notify.push(Notification {
                        id: Uuid::new_v4(),
                        user_id: *user,
                        community_id: Some(m.community_id),
                        object_id: Some(m.object_id.clone()),
                        kind: "correlation".into(),
                        body: serde_json::json!({
                            "kind": m.kind.as_str(),
                            "value": m.value,
                            "marking": tlp.as_str(),
                            "community": named,
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
        // Recorded as the node's own doing: the entry names the organizations told, not the
        // poster, and only the node operator reads it.
        let audit = AuditEvent::new(
            &Actor::system("correlation"),
            "correlation.notify",
            "community",
            community.id,
        )
        .outcome(Outcome::Granted)
        .details(serde_json::json!({
            "community": community.slug,
            "notices": notify.len(),
            "objects": hidden.len(),
            "organizations": orgs,
        }));
        self.store().record_notifications(&notify, audit).await?;
        Ok(())
    }

    /// Read ahead what the hidden-match lookup after a publish and reads by id keep in memory
    /// (see [`crate::store::Store::prepare_hidden_matches`]). Run by the server at start.
    pub async fn prepare_correlation(&self) -> CoreResult<()> {
        Ok(self.store().prepare_hidden_matches().await?)
    }

    /// Index a page of the versions stored before values and text were indexed; returns how
    /// many were indexed (0 when none are left). Run by the server at start until done.
    pub async fn index_backlog(&self, limit: i64) -> CoreResult<usize> {
        let page = self.store().search_backlog(limit.clamp(1, 10_000)).await?;
        let entries: Vec<(BacklogVersion, VersionIndex)> = page
            .into_iter()
            .map(|b| {
                let index = index_raw(&b.raw);
                (b, index)
            })
            .collect();
        let n = entries.len();
        self.store().index_backlog(&entries).await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn terms_are_alphanumeric_runs_lower_cased() {
        let t = terms("Émile's APT-29 report: evil.Example.COM, 198.51.100.7 — déjà vu");
        assert_eq!(
            t,
            [
                "émile", "s", "apt", "29", "report", "evil", "example", "com", "198", "51", "100",
                "7", "déjà", "vu"
            ]
        );
        assert!(terms(&"x".repeat(MAX_TERM_CHARS + 1)).is_empty());
        assert_eq!(terms(&"x".repeat(MAX_TERM_CHARS)).len(), 1);
        // Cutting terms again gives the same terms, whatever lower-casing does.
        for t in terms("İstanbul ΣΊΣΥΦΟΣ Straße ǅemal") {
            assert_eq!(terms(&t), std::slice::from_ref(&t));
        }
    }

    #[test]
    fn index_of_an_object() {
        let o = json!({"type": "report", "name": "Quarterly Threat Report",
            "description": "Campaign against water utilities.", "labels": ["Water", "ICS"],
            "content": "ignored? no: indexed", "object_refs": ["indicator--x"]});
        let i = index_object(&o);
        assert_eq!(i.name_terms, "quarterly threat report");
        assert_eq!(
            i.body_terms,
            "campaign against water utilities ignored no indexed water ics"
        );
        assert!(i.values.is_empty());
        let ind = json!({"type": "indicator", "pattern_type": "stix",
            "pattern": "[domain-name:value = 'Evil.EXAMPLE']"});
        let i = index_object(&ind);
        assert_eq!(
            i.values,
            vec![(ValueKind::Domain, "evil.example".to_string())]
        );
        assert!(i.name_terms.is_empty() && i.body_terms.is_empty());
        assert_eq!(index_raw("not json"), VersionIndex::default());
        let long_url = format!("http://example.com/{}", "a".repeat(MAX_VALUE_BYTES));
        let i = index_object(&json!({"type": "url", "value": long_url}));
        assert!(i.values.is_empty());
        // Long texts are cut at a term boundary.
        let long = json!({"description": "word ".repeat(MAX_BODY_TERM_BYTES)});
        let i = index_object(&long);
        assert!(i.body_terms.len() <= MAX_BODY_TERM_BYTES);
        assert!(i.body_terms.ends_with("word"));
    }

    #[test]
    fn values_to_look_up() {
        assert_eq!(
            parse_value(" 2001:DB8::0:1 ", None),
            Ok((ValueKind::Ipv6, "2001:db8::1".into()))
        );
        assert_eq!(
            parse_value("Localhost", Some("domain")),
            Ok((ValueKind::Domain, "localhost".into()))
        );
        assert!(parse_value("localhost", None)
            .unwrap_err()
            .contains("name its kind"));
        assert!(parse_value("1.2.3.4", Some("md5"))
            .unwrap_err()
            .contains("not a valid md5"));
        assert!(parse_value("1.2.3.4", Some("ip"))
            .unwrap_err()
            .starts_with("kind: `ip` is not one of"));
        assert_eq!(parse_value("  ", None).unwrap_err(), "value: is required");
        assert!(parse_value(&"a".repeat(MAX_VALUE_BYTES + 1), None).is_err());
    }

    #[test]
    fn queries() {
        assert_eq!(
            parse_query("  Water AND water, \"ICS\"* -x").unwrap(),
            ["water", "and", "ics", "x"]
        );
        assert!(parse_query("\"*:()^-")
            .unwrap_err()
            .contains("only punctuation"));
        assert_eq!(parse_query("").unwrap_err(), "q: is required");
        assert!(parse_query(&"a ".repeat(MAX_QUERY_TERMS + 1)).is_ok()); // one distinct word
        let many: String = (0..=MAX_QUERY_TERMS).map(|i| format!("w{i} ")).collect();
        assert!(parse_query(&many).unwrap_err().contains("more than"));
        assert!(parse_query(&"a".repeat(MAX_QUERY_CHARS + 1)).is_err());
    }

    #[test]
    fn snippets() {
        let terms = vec!["water".to_string()];
        assert_eq!(
            snippet_of(&["Attack on Water plants."], &terms),
            "Attack on Water plants."
        );
        let long = format!("{} water {}", "a ".repeat(200), "b ".repeat(200));
        let s = snippet_of(&[&long], &terms);
        assert!(
            s.starts_with('…') && s.ends_with('…') && s.contains("water"),
            "{s}"
        );
        assert!(s.chars().count() <= SNIPPET_CHARS + 2);
        // No match: the start of the first text.
        assert_eq!(snippet_of(&["Nothing here", "x"], &terms), "Nothing here");
        assert_eq!(snippet_of(&[], &terms), "");
        // Multi-byte text is cut on character boundaries.
        let wide = format!("{}Water{}", "é".repeat(300), "ü".repeat(300));
        assert!(snippet_of(&[&wide], &terms).contains('é'));
        let s = snippet_of(&["déjà vu, Wasser water"], &terms);
        assert_eq!(s, "déjà vu, Wasser water");
    }
}
