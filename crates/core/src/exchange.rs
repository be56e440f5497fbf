//! The sharing platform's operations: publishing STIX objects into a community, reading them
//! through the entitlement rule, deleting them (the source only), TAXII status resources.

use std::collections::{HashMap, HashSet};

use cairn_stix::marking::{self as mk, AUDIENCE_EXTENSION_DEFINITION_ID};
use cairn_stix::{parse_envelope, validate_object, RawStixObject};
use serde::Serialize;
use uuid::Uuid;

pub use crate::anonymity::ShareOptions;
use crate::error::{CoreError, CoreResult, StoreError};
use crate::model::*;
use crate::sharing::*;
use crate::store::ShareRecord;
use crate::{policy, ts, Cairn};

/// The result for one posted object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectResult {
    /// The object's id as posted, or `objects[i]` when it had none.
    pub id: String,
    /// The version (modified/created/date added), when known.
    pub version: String,
    pub outcome: ResultKind,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultKind {
    Stored,
    Duplicate,
    Refused,
}

/// What publishing an envelope did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShareReport {
    pub results: Vec<ObjectResult>,
}

impl ShareReport {
    pub fn count(&self, kind: ResultKind) -> usize {
        self.results.iter().filter(|r| r.outcome == kind).count()
    }
}

/// Posted objects checked for publishing (see `Cairn::prepare_share`).
pub(crate) struct Prepared {
    pub(crate) report: ShareReport,
    pub(crate) batch: Vec<NewObjectVersion>,
    /// The report entry of each batch entry.
    pub(crate) slots: Vec<usize>,
}

/// Write the store's outcomes into the report entries of the batch.
pub(crate) fn record_outcomes(
    report: &mut ShareReport,
    slots: &[usize],
    outcomes: Vec<PutOutcome>,
) {
    for (slot, outcome) in slots.iter().zip(outcomes) {
        let r = &mut report.results[*slot];
        match outcome {
            PutOutcome::Stored { version, .. } => r.version = version,
            PutOutcome::Duplicate { version } => {
                r.version = version;
                r.outcome = ResultKind::Duplicate;
                r.message = Some("Object already added".into());
            }
            PutOutcome::Refused(message) => {
                r.outcome = ResultKind::Refused;
                r.message = Some(message);
            }
        }
    }
}

/// One page of shared objects.
#[derive(Debug, Clone)]
pub struct ObjectPage {
    pub community: Community,
    pub objects: Vec<ObjectVersion>,
    /// More results exist after the last one.
    pub more: bool,
}

/// What can be checked of a posted object without the store: its STIX validity, its index, the
/// objects it is about and its signature. Pure and independent per object, so it runs on other
/// threads (see [`check_all`] and the pipelined publish).
pub(crate) struct PureChecked {
    raw: RawStixObject,
    meta: Result<cairn_stix::validate::ObjectMeta, String>,
    anonymous: bool,
    refs: Vec<String>,
    index: crate::search::VersionIndex,
    provenance: Option<Provenance>,
}

/// The signers of one share: the source's key, and the community's for anonymous versions.
pub(crate) struct Signers {
    org: crate::keys::Signer,
    community: Option<crate::keys::Signer>,
}

fn check_pure(raw: RawStixObject, anonymous_share: bool, signers: &Signers) -> PureChecked {
    // Anonymous: the whole share, or a piece of feedback its giver marked anonymous.
    let anonymous = anonymous_share
        || raw
            .value
            .get("x_cairn_anonymous")
            .and_then(serde_json::Value::as_bool)
            == Some(true);
    match validate_object(&raw.value) {
        Err(errors) => PureChecked {
            meta: Err(errors
                .iter()
                .map(|e| format!("{}: {}", e.property, e.message))
                .collect::<Vec<_>>()
                .join("; ")),
            raw,
            anonymous,
            refs: Vec::new(),
            index: Default::default(),
            provenance: None,
        },
        Ok(meta) => {
            // Anonymous versions carry the community's signature, which names no organization.
            let signer = match (anonymous, &signers.community) {
                (true, Some(c)) => c,
                _ => &signers.org,
            };
            PureChecked {
                refs: crate::feedback::refs_of(&meta.object_type, &raw.value),
                index: crate::search::index_object(&raw.value),
                provenance: Some(crate::provenance::sign_object(signer, &raw.value)),
                meta: Ok(meta),
                raw,
                anonymous,
            }
        }
    }
}

/// [`check_pure`] over a batch, on several threads for a large one: signing is the costliest
/// step of publishing after storing.
fn check_all(
    objects: Vec<RawStixObject>,
    anonymous_share: bool,
    signers: &Signers,
) -> Vec<PureChecked> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4);
    if threads < 2 || objects.len() < 64 {
        return objects
            .into_iter()
            .map(|o| check_pure(o, anonymous_share, signers))
            .collect();
    }
    let per = objects.len().div_ceil(threads);
    let mut chunks: Vec<Vec<RawStixObject>> = Vec::new();
    let mut rest = objects.into_iter().peekable();
    while rest.peek().is_some() {
        chunks.push(rest.by_ref().take(per).collect());
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|o| check_pure(o, anonymous_share, signers))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Objects per chunk of a pipelined publish, and the smallest envelope that is pipelined.
const PIPELINE_CHUNK: usize = 125;
/// The first chunk is smaller, so the store starts writing sooner.
const PIPELINE_FIRST: usize = 40;
const PIPELINE_MIN: usize = 200;

/// Threads that check the chunks of a pipelined publish: two where there are two cores, so
/// checking (signing most of all) keeps ahead of the store's writer.
fn checking_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 2)
}

/// What the store-dependent checks need, for one share.
pub(crate) struct ShareContext {
    source_org: Uuid,
    source_user: Option<Uuid>,
    members: HashSet<Uuid>,
    /// Marking definitions posted in this envelope may be used by the objects after them.
    posted_markings: HashSet<String>,
    known_markings: HashMap<String, bool>,
    /// Audience names already resolved in this share: organizations (name -> id) and users
    /// (name or id -> (id, organization)); a bulk share names the same few again and again.
    audience_orgs: HashMap<String, Uuid>,
    audience_users: HashMap<String, (Uuid, Uuid)>,
}

/// The versions of a batch that were stored, with their store rows.
fn stored_with_seq<'a>(
    batch: &'a [NewObjectVersion],
    outcomes: &[PutOutcome],
) -> Vec<(&'a NewObjectVersion, i64)> {
    batch
        .iter()
        .zip(outcomes)
        .filter_map(|(b, o)| match o {
            PutOutcome::Stored { seq, .. } => Some((b, *seq)),
            _ => None,
        })
        .collect()
}

fn tlp_of(t: mk::Tlp) -> TlpLevel {
    match t {
        mk::Tlp::Clear => TlpLevel::Clear,
        mk::Tlp::Green => TlpLevel::Green,
        mk::Tlp::Amber => TlpLevel::Amber,
        mk::Tlp::AmberStrict => TlpLevel::AmberStrict,
        mk::Tlp::Red => TlpLevel::Red,
    }
}

/// Enter the outcome of an object's checks in the report: a refusal as it is, a version to
/// store as `stored` (the store's outcome may change it) with its slot. Returns the version.
fn report_checked(
    report: &mut ShareReport,
    slots: &mut Vec<usize>,
    outcome: Result<NewObjectVersion, ObjectResult>,
) -> Option<NewObjectVersion> {
    match outcome {
        Ok(version) => {
            slots.push(report.results.len());
            report.results.push(ObjectResult {
                id: version.object_id.clone(),
                version: version.version.clone().unwrap_or_default(),
                outcome: ResultKind::Stored,
                message: None,
            });
            Some(version)
        }
        Err(refusal) => {
            report.results.push(refusal);
            None
        }
    }
}

/// The TAXII status resource a publish keeps with its share (see
/// [`Cairn::share_envelope_with_status`]): its id, its poster, and how its text is made from
/// the final report.
pub struct StatusRequest {
    pub id: Uuid,
    pub user_id: Uuid,
    pub body: Box<dyn Fn(&ShareReport) -> String + Send + Sync>,
}

impl std::fmt::Debug for StatusRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusRequest")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// The status resource of `request` for `report`, noted in `kept` for the caller.
fn keep_status(
    kept: &std::sync::Mutex<Option<TaxiiStatus>>,
    request: &StatusRequest,
    community: Uuid,
    report: &ShareReport,
) -> TaxiiStatus {
    let status = TaxiiStatus {
        id: request.id,
        community_id: community,
        user_id: request.user_id,
        created_at: ts::now(),
        body: (request.body)(report),
    };
    *kept.lock().unwrap_or_else(|e| e.into_inner()) = Some(status.clone());
    status
}

/// The audit entry of a share: how many versions were posted, at which markings.
fn share_audit(
    actor: &Actor,
    access: &Access,
    options: ShareOptions,
    batch: &[NewObjectVersion],
) -> AuditEvent {
    let mut levels: HashMap<&str, usize> = HashMap::new();
    for b in batch {
        *levels.entry(b.tlp.as_str()).or_default() += 1;
    }
    AuditEvent::new(actor, "objects.share", "community", access.community.id)
        .org(actor.org_id)
        .outcome(Outcome::Granted)
        .details(serde_json::json!({"community": access.community.slug, "posted": batch.len(), "markings": levels, "anonymous": options.anonymous}))
}

fn refused(id: String, version: String, message: String) -> ObjectResult {
    ObjectResult {
        id,
        version,
        outcome: ResultKind::Refused,
        message: Some(message),
    }
}

/// The community as one of its members or an outsider sees it.
pub(crate) struct Access {
    pub(crate) community: Community,
    pub(crate) memberships: Vec<Membership>,
    pub(crate) viewer: Viewer,
}

impl Cairn {
    /// The community and the viewer for `actor` (or an anonymous reader). Outsiders (the node
    /// operator included) see a community's shared objects only if it runs a public feed;
    /// otherwise it is not found.
    pub(crate) async fn access(
        &self,
        actor: Option<&Actor>,
        community: &str,
    ) -> CoreResult<Access> {
        let not_found = || {
            CoreError::not_found(format!(
                "community `{}` not found",
                crate::validate::clip(community)
            ))
        };
        let found = match Uuid::parse_str(community) {
            Ok(id) => self.store().community(id).await?,
            Err(_) => self.store().community_by_slug(community).await?,
        };
        let community = found.ok_or_else(not_found)?;
        let memberships = self.store().memberships(community.id).await?;
        let viewer = Self::viewer_in(actor, &community, &memberships).ok_or_else(not_found)?;
        Ok(Access {
            community,
            memberships,
            viewer,
        })
    }

    /// The viewer `actor` (or an anonymous reader) is in a community, if it may read the
    /// community's shared objects at all: members, and anyone where a public feed runs.
    pub(crate) fn viewer_in(
        actor: Option<&Actor>,
        community: &Community,
        memberships: &[Membership],
    ) -> Option<Viewer> {
        let member = actor
            .and_then(|a| policy::role_in(a, memberships))
            .is_some();
        if !member && !community.public_feed {
            return None;
        }
        Some(Viewer {
            user: actor.and_then(|a| a.user_id),
            org: actor.and_then(|a| a.org_id),
            member,
            public_feed: community.public_feed,
        })
    }

    /// The community (if the actor may see it at all) with what the actor may do there:
    /// `(community, can_read, can_write)`.
    pub async fn collection_rights(
        &self,
        actor: Option<&Actor>,
        community: &str,
    ) -> CoreResult<(Community, bool, bool)> {
        let access = self.access(actor, community).await?;
        let can_read = access.viewer.member || access.community.public_feed;
        let can_write = actor.is_some_and(|a| policy::can_share(a, &access.memberships));
        Ok((access.community, can_read, can_write))
    }

    /// Communities whose collection the actor may read (its own, and public feeds).
    pub async fn readable_communities(&self, actor: Option<&Actor>) -> CoreResult<Vec<Community>> {
        Ok(self
            .store()
            .readable_communities(actor.and_then(|a| a.org_id))
            .await?
            .into_iter()
            .filter(|(c, member)| *member || c.public_feed)
            .map(|(c, _)| c)
            .collect())
    }

    /// Publish the objects of a TAXII envelope or STIX bundle into a community. Valid objects
    /// are stored, invalid ones refused with the reason; nothing of a refused object is stored.
    pub async fn share_envelope(
        &self,
        actor: &Actor,
        community: &str,
        body: &[u8],
        options: ShareOptions,
    ) -> CoreResult<(Community, ShareReport)> {
        let (community, report, _) = self
            .share_body(actor, community, body, options, None)
            .await?;
        Ok((community, report))
    }

    /// [`share_envelope`](Self::share_envelope), keeping the request's TAXII status resource in
    /// the share's own transaction: the status exists exactly when the outcome it reports is
    /// stored, and the share takes one commit instead of two.
    pub async fn share_envelope_with_status(
        &self,
        actor: &Actor,
        community: &str,
        body: &[u8],
        options: ShareOptions,
        status: StatusRequest,
    ) -> CoreResult<(Community, ShareReport, TaxiiStatus)> {
        let (community, report, kept) = self
            .share_body(actor, community, body, options, Some(&status))
            .await?;
        let kept = kept.ok_or_else(|| {
            CoreError::Internal("the share ended without its status resource".into())
        })?;
        Ok((community, report, kept))
    }

    async fn share_body(
        &self,
        actor: &Actor,
        community: &str,
        body: &[u8],
        options: ShareOptions,
        status: Option<&StatusRequest>,
    ) -> CoreResult<(Community, ShareReport, Option<TaxiiStatus>)> {
        let access = self.access(Some(actor), community).await?;
        if !policy::can_share(actor, &access.memberships) {
            return Err(CoreError::forbidden(
                "you may not publish in this community (members' analysts and admins may; observers and read-only users may not)",
            ));
        }
        let objects =
            parse_envelope(body).map_err(|e| CoreError::invalid("body", e.to_string()))?;
        let (report, kept) = self
            .share_objects(actor, &access, objects, options, status)
            .await?;
        Ok((access.community, report, kept))
    }

    /// Publish already parsed objects (bulk import), with the same checks as an envelope.
    pub async fn share_parsed(
        &self,
        actor: &Actor,
        community: &str,
        objects: Vec<RawStixObject>,
        options: ShareOptions,
    ) -> CoreResult<ShareReport> {
        let access = self.access(Some(actor), community).await?;
        if !policy::can_share(actor, &access.memberships) {
            return Err(CoreError::forbidden(
                "you may not publish in this community",
            ));
        }
        let (report, _) = self
            .share_objects(actor, &access, objects, options, None)
            .await?;
        Ok(report)
    }

    /// Publish checked objects; with `status`, the status resource is kept with the share and
    /// returned.
    async fn share_objects(
        &self,
        actor: &Actor,
        access: &Access,
        objects: Vec<RawStixObject>,
        options: ShareOptions,
        status: Option<&StatusRequest>,
    ) -> CoreResult<(ShareReport, Option<TaxiiStatus>)> {
        if objects.len() >= PIPELINE_MIN {
            return self
                .share_pipelined(actor, access, objects, options, status)
                .await;
        }
        let Prepared {
            mut report,
            batch,
            slots,
        } = self.prepare_share(actor, access, objects, options).await?;
        let Some(status) = status else {
            if batch.is_empty() {
                return Ok((report, None));
            }
            let audit = share_audit(actor, access, options, &batch);
            let outcomes = self
                .store()
                .share_objects(access.community.id, &batch, audit)
                .await?;
            self.after_share(actor, access, &batch, &outcomes).await;
            record_outcomes(&mut report, &slots, outcomes);
            return Ok((report, None));
        };
        let kept = std::sync::Mutex::new(None);
        let community = access.community.id;
        let (report_ref, slots_ref, kept_ref) = (&report, &slots, &kept);
        let end = move |batch: &[NewObjectVersion], outcomes: &[PutOutcome]| {
            let mut report = report_ref.clone();
            record_outcomes(&mut report, slots_ref, outcomes.to_vec());
            ShareRecord {
                audit: share_audit(actor, access, options, batch),
                status: Some(keep_status(kept_ref, status, community, &report)),
            }
        };
        let chunks = futures::stream::iter((!batch.is_empty()).then_some(Ok(batch)));
        let (batch, outcomes) = self
            .store()
            .share_stream(community, Box::pin(chunks), Box::new(end))
            .await?;
        self.after_share(actor, access, &batch, &outcomes).await;
        record_outcomes(&mut report, &slots, outcomes);
        Ok((report, kept.into_inner().unwrap_or_else(|e| e.into_inner())))
    }

    /// A large envelope, checked and stored at once: a thread checks, indexes and signs chunks
    /// of objects while the store writes the chunks before them, in one transaction. The outcome
    /// is that of [`share_objects`](Self::share_objects) with one batch.
    async fn share_pipelined(
        &self,
        actor: &Actor,
        access: &Access,
        objects: Vec<RawStixObject>,
        options: ShareOptions,
        status: Option<&StatusRequest>,
    ) -> CoreResult<(ShareReport, Option<TaxiiStatus>)> {
        use futures::StreamExt as _;
        let (ctx, objects, refusals, signers) =
            self.share_start(actor, access, objects, options).await?;
        let total = objects.len();
        let anonymous_share = options.anonymous;
        // Chunks go round-robin to the checking threads, and are taken back in their order.
        let threads = checking_threads();
        let mut work: Vec<Vec<Vec<RawStixObject>>> = (0..threads).map(|_| Vec::new()).collect();
        let mut rest = objects.into_iter().peekable();
        let mut k = 0;
        while rest.peek().is_some() {
            let size = if k == 0 {
                PIPELINE_FIRST
            } else {
                PIPELINE_CHUNK
            };
            work[k % threads].push(rest.by_ref().take(size).collect());
            k += 1;
        }
        let signers = std::sync::Arc::new(signers);
        let mut receivers = Vec::with_capacity(threads);
        let mut checkers = Vec::with_capacity(threads);
        for chunks in work {
            let (sender, receiver) = futures::channel::mpsc::unbounded::<Vec<PureChecked>>();
            let signers = std::sync::Arc::clone(&signers);
            let checker = std::thread::Builder::new()
                .name("cairn-check".into())
                .spawn(move || {
                    for chunk in chunks {
                        let checked: Vec<PureChecked> = chunk
                            .into_iter()
                            .map(|o| check_pure(o, anonymous_share, &signers))
                            .collect();
                        if sender.unbounded_send(checked).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|e| CoreError::Internal(format!("starting a checking thread: {e}")))?;
            receivers.push(receiver);
            checkers.push(checker);
        }
        let progress = std::sync::Mutex::new((ShareReport { results: refusals }, Vec::new()));
        let progress_ref = &progress;
        let chunks = futures::stream::unfold(
            (receivers, ctx, 0usize, 0usize),
            move |(mut receivers, mut ctx, mut i, k)| async move {
                if i >= total {
                    return None;
                }
                let n = receivers.len();
                let Some(chunk) = receivers[k % n].next().await else {
                    // The checking threads send every object; fewer means one failed.
                    return Some((
                        Err(StoreError::Internal(format!(
                            "a checking thread stopped after {i} of {total} objects"
                        ))),
                        (receivers, ctx, total, k),
                    ));
                };
                let mut out = Vec::with_capacity(chunk.len());
                for checked in chunk {
                    let outcome = match self.check_in_community(access, &mut ctx, i, checked).await
                    {
                        Ok(outcome) => outcome,
                        Err(CoreError::Store(e)) => {
                            return Some((Err(e), (receivers, ctx, total, k)))
                        }
                        Err(e) => {
                            return Some((
                                Err(StoreError::Internal(e.to_string())),
                                (receivers, ctx, total, k),
                            ))
                        }
                    };
                    i += 1;
                    let mut guard = progress_ref.lock().unwrap_or_else(|e| e.into_inner());
                    let (report, slots) = &mut *guard;
                    out.extend(report_checked(report, slots, outcome));
                }
                Some((Ok(out), (receivers, ctx, i, k + 1)))
            },
        );
        let kept = std::sync::Mutex::new(None);
        let kept_ref = &kept;
        let community = access.community.id;
        let end = move |batch: &[NewObjectVersion], outcomes: &[PutOutcome]| ShareRecord {
            audit: share_audit(actor, access, options, batch),
            status: status.map(|status| {
                let guard = progress_ref.lock().unwrap_or_else(|e| e.into_inner());
                let (report, slots) = &*guard;
                let mut report = report.clone();
                record_outcomes(&mut report, slots, outcomes.to_vec());
                keep_status(kept_ref, status, community, &report)
            }),
        };
        let written = self
            .store()
            .share_stream(community, Box::pin(chunks), Box::new(end))
            .await;
        // The threads have ended or end now: their receivers are gone.
        for checker in checkers {
            let _ = checker.join();
        }
        let (batch, outcomes) = written?;
        let (mut report, slots) = progress.into_inner().unwrap_or_else(|e| e.into_inner());
        self.after_share(actor, access, &batch, &outcomes).await;
        record_outcomes(&mut report, &slots, outcomes);
        Ok((report, kept.into_inner().unwrap_or_else(|e| e.into_inner())))
    }

    /// Tell the sources of objects that feedback just stored is about (see `feedback`), and
    /// owners of hidden objects about the values just stored (see `search`).
    async fn after_share(
        &self,
        actor: &Actor,
        access: &Access,
        batch: &[NewObjectVersion],
        outcomes: &[PutOutcome],
    ) {
        let stored = stored_with_seq(batch, outcomes);
        if !stored.is_empty() {
            self.notify_after_publish(actor, access, &stored, true)
                .await;
        }
    }

    /// The first steps of every share: the source, sanitization (and anonymization) of the
    /// whole envelope, and the signers.
    async fn share_start(
        &self,
        actor: &Actor,
        access: &Access,
        objects: Vec<RawStixObject>,
        options: ShareOptions,
    ) -> CoreResult<(ShareContext, Vec<RawStixObject>, Vec<ObjectResult>, Signers)> {
        let source_org = actor
            .org_id
            .ok_or_else(|| CoreError::forbidden("no organization"))?;
        // Sanitized (and anonymized) before anything is checked, signed or stored.
        let (objects, refusals) = self
            .sanitize_and_anonymize(access, source_org, objects, options)
            .await?;
        let posted_markings: HashSet<String> = objects
            .iter()
            .filter(|o| o.object_type() == Some("marking-definition"))
            .filter_map(|o| o.id().map(str::to_string))
            .collect();
        let any_anonymous = options.anonymous
            || objects.iter().any(|o| {
                o.value
                    .get("x_cairn_anonymous")
                    .and_then(serde_json::Value::as_bool)
                    == Some(true)
            });
        let signers = Signers {
            org: self.org_signer(source_org).await?,
            community: if any_anonymous {
                Some(self.community_signer(&access.community).await?)
            } else {
                None
            },
        };
        let ctx = ShareContext {
            source_org,
            source_user: actor.user_id,
            members: access.memberships.iter().map(|m| m.org_id).collect(),
            posted_markings,
            known_markings: HashMap::new(),
            audience_orgs: HashMap::new(),
            audience_users: HashMap::new(),
        };
        Ok((ctx, objects, refusals, signers))
    }

    /// Check and resolve posted objects for publishing: validation, markings, audience,
    /// attachments. Refused objects are in the report; the others are in the batch, each with
    /// its slot in the report. Every way of publishing goes through here or through
    /// [`share_pipelined`](Self::share_pipelined), which runs the same checks.
    pub(crate) async fn prepare_share(
        &self,
        actor: &Actor,
        access: &Access,
        objects: Vec<RawStixObject>,
        options: ShareOptions,
    ) -> CoreResult<Prepared> {
        let (mut ctx, objects, refusals, signers) =
            self.share_start(actor, access, objects, options).await?;
        let mut report = ShareReport { results: refusals };
        let mut batch = Vec::new();
        let mut slots = Vec::new();
        for (i, checked) in check_all(objects, options.anonymous, &signers)
            .into_iter()
            .enumerate()
        {
            let outcome = self
                .check_in_community(access, &mut ctx, i, checked)
                .await?;
            batch.extend(report_checked(&mut report, &mut slots, outcome));
        }
        Ok(Prepared {
            report,
            batch,
            slots,
        })
    }

    /// The checks of one object (the `i`th posted) that read the store: its markings are
    /// known, its audience names members, a RED object names its recipients, an attachment
    /// fits. The version to store, or why it is refused.
    async fn check_in_community(
        &self,
        access: &Access,
        ctx: &mut ShareContext,
        i: usize,
        checked: PureChecked,
    ) -> CoreResult<Result<NewObjectVersion, ObjectResult>> {
        let community = &access.community;
        let PureChecked {
            raw,
            meta,
            anonymous,
            refs,
            index,
            provenance,
        } = checked;
        let label = raw
            .id()
            .map(str::to_string)
            .unwrap_or_else(|| format!("objects[{i}]"));
        let meta = match meta {
            Ok(meta) => meta,
            Err(text) => {
                return Ok(Err(refused(
                    label,
                    String::new(),
                    format!(
                        "objects[{i}] ({}) is invalid: {text}",
                        raw.id().unwrap_or("no id")
                    ),
                )))
            }
        };
        let version = meta
            .version
            .as_ref()
            .map(|v| v.as_str().to_string())
            .unwrap_or_default();
        let id = meta.id.as_str().to_string();
        if mk::is_builtin_marking_id(&id) {
            return Ok(Err(ObjectResult {
                id,
                version,
                outcome: ResultKind::Duplicate,
                message: Some("built-in marking definition".into()),
            }));
        }
        // Every marking used must be known: built in, posted here, or shared earlier.
        for r in meta
            .object_marking_refs
            .iter()
            .chain(meta.granular_marking_refs.iter())
        {
            if mk::is_builtin_marking_id(r) || ctx.posted_markings.contains(r) {
                continue;
            }
            let known = match ctx.known_markings.get(r) {
                Some(k) => *k,
                None => {
                    let q = ObjectQuery {
                        ids: vec![r.clone()],
                        versions: VersionMatch::Last,
                        limit: 1,
                        ..Default::default()
                    };
                    let k = !self
                        .store()
                        .objects(&access.viewer, community.id, &q)
                        .await?
                        .is_empty();
                    ctx.known_markings.insert(r.clone(), k);
                    k
                }
            };
            if !known {
                return Ok(Err(refused(id, version, format!("objects[{i}]: marking `{r}` is not defined (not a TLP or PAP marking, not posted before it, not shared in this community)"))));
            }
        }
        let tlp = mk::most_restrictive(
            meta.object_marking_refs
                .iter()
                .chain(meta.granular_marking_refs.iter())
                .map(String::as_str),
        )
        .map(tlp_of)
        .unwrap_or(community.default_tlp);
        if meta.object_type == "artifact" {
            if let Err(e) =
                crate::documents::check_artifact(&raw.value, self.max_attachment_bytes())
            {
                return Ok(Err(refused(
                    id,
                    version,
                    format!("objects[{i}]: {}", e.message()),
                )));
            }
        }
        let audience = match self.audience_of(&raw.value, ctx).await {
            Ok(a) => a,
            Err(message) => {
                return Ok(Err(refused(
                    id,
                    version,
                    format!("objects[{i}]: {message}"),
                )));
            }
        };
        if tlp == TlpLevel::Red && audience.as_ref().is_none_or(|a| a.users.is_empty()) {
            return Ok(Err(refused(
                id,
                version,
                format!(
                    "objects[{i}]: a TLP:RED object must name its recipients: add the extension {AUDIENCE_EXTENSION_DEFINITION_ID} with `users`"
                ),
            )));
        }
        Ok(Ok(NewObjectVersion {
            object_id: id,
            object_type: meta.object_type.clone(),
            spec_version: meta.spec_version.clone().unwrap_or_else(|| "2.1".into()),
            version: meta.version.as_ref().map(|v| v.as_str().to_string()),
            version_key: meta.version.as_ref().map(version_key),
            source_org: ctx.source_org,
            source_user: ctx.source_user,
            tlp,
            revoked: meta.revoked,
            raw: raw.raw_json().to_string(),
            audience,
            provenance,
            anonymous,
            refs,
            index,
        }))
    }

    /// Publish objects Cairn built for a user (feedback, documents) through the same checks
    /// as any posted object: all of them or none, together with `notify` and one audit entry.
    /// Returns the versions stored.
    pub(crate) async fn publish_built(
        &self,
        actor: &Actor,
        access: &Access,
        objects: Vec<serde_json::Value>,
        notify: &[crate::release::Notification],
        audit: AuditEvent,
    ) -> CoreResult<Vec<NewObjectVersion>> {
        let body = serde_json::to_vec(&serde_json::json!({ "objects": objects }))
            .map_err(|e| CoreError::Internal(format!("encoding built objects: {e}")))?;
        let parsed = parse_envelope(&body)
            .map_err(|e| CoreError::Internal(format!("built objects: {e}")))?;
        let Prepared { report, batch, .. } = self
            .prepare_share(actor, access, parsed, ShareOptions::default())
            .await?;
        if let Some(r) = report
            .results
            .iter()
            .find(|r| r.outcome != ResultKind::Stored)
        {
            return Err(CoreError::invalid(
                "object",
                r.message.clone().unwrap_or_else(|| "refused".into()),
            ));
        }
        let outcomes = self
            .store()
            .share_all(access.community.id, &batch, notify, audit)
            .await?;
        let stored = stored_with_seq(&batch, &outcomes);
        if !stored.is_empty() {
            // Feedback built here notifies its source through `notify` already.
            self.notify_after_publish(actor, access, &stored, false)
                .await;
        }
        if let Some(o) = outcomes
            .iter()
            .find(|o| !matches!(o, PutOutcome::Stored { .. }))
        {
            let why = match o {
                PutOutcome::Refused(m) => m.clone(),
                PutOutcome::Duplicate { version } => {
                    format!("version {version} is already stored")
                }
                PutOutcome::Stored { .. } => String::new(),
            };
            return Err(CoreError::Conflict(format!("nothing was stored: {why}")));
        }
        Ok(batch)
    }

    /// Read the audience extension: organization short names or ids (members only) and user
    /// names or ids (of member organizations).
    async fn audience_of(
        &self,
        object: &serde_json::Value,
        ctx: &mut ShareContext,
    ) -> Result<Option<Audience>, String> {
        let members = &ctx.members;
        let Some(ext) = object
            .get("extensions")
            .and_then(|e| e.get(AUDIENCE_EXTENSION_DEFINITION_ID))
        else {
            return Ok(None);
        };
        let path = format!("extensions.{AUDIENCE_EXTENSION_DEFINITION_ID}");
        let list = |key: &str| -> Result<Vec<String>, String> {
            match ext.get(key) {
                None => Ok(Vec::new()),
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| format!("{path}.{key}[{i}] must be a string"))
                    })
                    .collect(),
                Some(_) => Err(format!("{path}.{key} must be a list of strings")),
            }
        };
        let mut audience = Audience::default();
        for (i, name) in list("organizations")?.iter().enumerate() {
            let org = match ctx.audience_orgs.get(name) {
                Some(id) => *id,
                None => {
                    let org = self.find_organization(name).await.map_err(|_| {
                        format!("{path}.organizations[{i}]: no organization `{name}`")
                    })?;
                    ctx.audience_orgs.insert(name.clone(), org.id);
                    org.id
                }
            };
            if !members.contains(&org) {
                return Err(format!(
                    "{path}.organizations[{i}]: `{name}` is not a member of this community"
                ));
            }
            audience.organizations.push(org);
        }
        for (i, name) in list("users")?.iter().enumerate() {
            let (user, org) = match ctx.audience_users.get(name) {
                Some(found) => *found,
                None => {
                    let found = match Uuid::parse_str(name) {
                        Ok(id) => self.store().user(id).await,
                        Err(_) => self.store().user_by_name(name).await,
                    }
                    .map_err(|e| e.to_string())?;
                    let user =
                        found.ok_or_else(|| format!("{path}.users[{i}]: no user `{name}`"))?;
                    ctx.audience_users
                        .insert(name.clone(), (user.id, user.org_id));
                    (user.id, user.org_id)
                }
            };
            if !members.contains(&org) {
                return Err(format!(
                    "{path}.users[{i}]: `{name}` is not a user of a member organization"
                ));
            }
            audience.users.push(user);
        }
        Ok(Some(audience))
    }

    /// A page of the objects the actor (or an anonymous reader) may see.
    pub async fn objects(
        &self,
        actor: Option<&Actor>,
        community: &str,
        query: &ObjectQuery,
    ) -> CoreResult<ObjectPage> {
        let access = self.access(actor, community).await?;
        let mut objects = self
            .store()
            .objects(&access.viewer, access.community.id, query)
            .await?;
        let more = objects.len() as i64 > query.limit;
        objects.truncate(query.limit.max(0) as usize);
        Ok(ObjectPage {
            community: access.community,
            objects,
            more,
        })
    }

    /// Delete versions of an object: only its source organization's writers may. Returns how many
    /// versions went; `NotFound` if the actor cannot see any matching version.
    pub async fn delete_object(
        &self,
        actor: &Actor,
        community: &str,
        object_id: &str,
        query: &ObjectQuery,
    ) -> CoreResult<u64> {
        let access = self.access(Some(actor), community).await?;
        let mut q = query.clone();
        q.ids = vec![object_id.to_string()];
        q.limit = 100_000;
        q.after_seq = None;
        let visible = self
            .store()
            .objects(&access.viewer, access.community.id, &q)
            .await?;
        if visible.is_empty() {
            return Err(CoreError::not_found(format!(
                "object `{}` not found",
                crate::validate::clip(object_id)
            )));
        }
        let own = actor
            .org_id
            .is_some_and(|o| visible.iter().all(|v| v.source_org == o));
        if !own || !policy::can_share(actor, &access.memberships) {
            let event = AuditEvent::new(actor, "objects.delete", "object", object_id)
                .outcome(Outcome::Denied)
                .details(serde_json::json!({"community": access.community.slug}));
            self.store().append_audit(event).await?;
            return Err(CoreError::forbidden(
                "only the source organization's analysts and admins may delete an object",
            ));
        }
        let keys: Vec<String> = visible.iter().map(|v| v.version_key.clone()).collect();
        let audit = AuditEvent::new(actor, "objects.delete", "object", object_id)
            .org(actor.org_id)
            .details(serde_json::json!({"community": access.community.slug, "versions": visible.iter().map(|v| &v.version).collect::<Vec<_>>()}));
        Ok(self
            .store()
            .delete_object_versions(
                access.community.id,
                object_id,
                visible[0].source_org,
                &keys,
                audit,
            )
            .await?)
    }

    /// A status resource, only for the user who posted it.
    pub async fn status(
        &self,
        actor: &Actor,
        community: &Community,
        id: &str,
    ) -> CoreResult<TaxiiStatus> {
        let not_found =
            || CoreError::not_found(format!("status `{}` not found", crate::validate::clip(id)));
        let id = Uuid::parse_str(id).map_err(|_| not_found())?;
        let status = self.store().status(id).await?.ok_or_else(not_found)?;
        if Some(status.user_id) != actor.user_id || status.community_id != community.id {
            return Err(not_found());
        }
        if ts::now() - status.created_at > time::Duration::days(7) {
            return Err(not_found());
        }
        Ok(status)
    }
}

impl Cairn {
    /// A STIX bundle of every object version the actor may see in the community (all versions,
    /// or only the latest of each object), read page by page through the entitlement rule.
    /// Objects are written exactly as posted. `write` receives the bundle in pieces.
    pub async fn export_bundle(
        &self,
        actor: &Actor,
        community: &str,
        all_versions: bool,
        write: impl FnMut(&str) -> std::io::Result<()>,
    ) -> CoreResult<usize> {
        self.export_signed_bundle(actor, community, all_versions, write, |_| Ok(()))
            .await
    }

    /// [`Self::export_bundle`], also handing each exported version's signature to `signature`.
    pub async fn export_signed_bundle(
        &self,
        actor: &Actor,
        community: &str,
        all_versions: bool,
        mut write: impl FnMut(&str) -> std::io::Result<()>,
        mut signature: impl FnMut(&crate::provenance::SignatureEntry) -> std::io::Result<()>,
    ) -> CoreResult<usize> {
        let io = |e: std::io::Error| CoreError::Internal(format!("writing the export: {e}"));
        write(&format!(
            "{{\"type\":\"bundle\",\"id\":\"bundle--{}\",\"objects\":[",
            Uuid::new_v4()
        ))
        .map_err(io)?;
        let mut query = ObjectQuery {
            versions: if all_versions {
                VersionMatch::All
            } else {
                VersionMatch::Last
            },
            limit: 1000,
            ..Default::default()
        };
        let mut count = 0usize;
        loop {
            let page = self.objects(Some(actor), community, &query).await?;
            for o in &page.objects {
                if count > 0 {
                    write(",").map_err(io)?;
                }
                write(&o.raw).map_err(io)?;
                if let Some(s) = crate::provenance::SignatureEntry::of(o) {
                    signature(&s).map_err(io)?;
                }
                count += 1;
            }
            match (page.more, page.objects.last()) {
                (true, Some(last)) => query.after_seq = Some(last.seq),
                _ => break,
            }
        }
        write("]}\n").map_err(io)?;
        Ok(count)
    }
}
