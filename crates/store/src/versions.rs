//! What storing a batch of versions writes, decided from what is stored already: which versions
//! are new, duplicates or refused, their dates added, which older versions they supersede and
//! which audience rows they replace. Both ways of writing (sqlx, and the SQLite bulk writer of
//! `crate::bulk`) run these decisions and differ only in how they execute the rows.

use std::collections::{HashMap, HashSet};

use cairn_core::sharing::{Audience, NewObjectVersion, PutOutcome};
use cairn_core::store::Engine;
use cairn_core::ts;
use time::OffsetDateTime;
use uuid::Uuid;

/// A version already stored (or stored earlier in the same batch).
pub(crate) struct Known {
    pub version: String,
    pub version_key: String,
    pub source_org: Uuid,
    pub revoked: bool,
    pub raw: String,
    /// Added by the batch being stored (not read from the store).
    pub added: bool,
    pub anonymous: bool,
    /// On SQLite, the part of the object key's index its object is in (0 on PostgreSQL).
    pub part: i64,
}

/// The columns of `stix_objects` read into a [`Known`], in this order (on SQLite followed by
/// `key_part`, see [`known_columns`]).
const KNOWN_COLUMNS: &str = "object_id, version, version_key, source_org, revoked, raw, anonymous";

/// The columns read into a [`Known`] on `engine`.
pub(crate) fn known_columns(engine: Engine) -> String {
    match engine {
        Engine::Sqlite => format!("{KNOWN_COLUMNS}, key_part"),
        Engine::Postgres => KNOWN_COLUMNS.to_string(),
    }
}

/// The columns of a new `stix_objects` row, in the order of [`VersionRow`]'s values (on SQLite
/// followed by `key_part`, see [`VersionRow::part`]).
pub(crate) const ROW_COLUMNS: &str = "community_id, object_id, object_type, spec_version, version, version_key, date_added, source_org, source_user, tlp, revoked, raw, superseded, key_id, signature, anonymous";

/// Mark the older versions of an object superseded: community, object id, newest key.
pub(crate) fn supersede(engine: Engine, community: &str, id: &str, newest: &str) -> String {
    format!(
        "UPDATE stix_objects SET superseded = 1 WHERE {} AND version_key < {newest} AND superseded = 0",
        crate::objects::versions_of(engine, "stix_objects", community, id)
    )
}

/// Drop the audience rows of an object: community, object id.
pub(crate) const AUDIENCE_DELETE: &str =
    "DELETE FROM object_audience WHERE community_id = $1 AND object_id = $2";

/// One version to insert.
pub(crate) struct VersionRow<'b> {
    /// Its outcome's position in [`Plan::outcomes`] (where its `seq` goes once written).
    pub slot: usize,
    pub obj: &'b NewObjectVersion,
    pub version: String,
    pub version_key: String,
    pub date_added: OffsetDateTime,
    /// A later version of the object is stored already or in the same batch.
    pub superseded: bool,
    /// On SQLite, the part of the object key's index its row goes to: that of the object's
    /// versions stored before, or for a new object the part new objects go to now (see
    /// `crate::key_prints`). All versions of an object are in one part.
    pub part: i64,
}

/// What to write for a batch.
pub(crate) struct Plan<'b> {
    pub outcomes: Vec<PutOutcome>,
    pub rows: Vec<VersionRow<'b>>,
    /// Objects with versions stored before that the new ones follow: (object id, newest key);
    /// their older rows are marked superseded.
    pub supersede: Vec<(&'b str, &'b str)>,
    /// Objects whose stored audience rows are replaced (deleted first).
    pub audience_replaced: Vec<&'b str>,
    /// The new audience rows: (object id, kind, principal).
    pub audience_rows: Vec<(&'b str, &'static str, Uuid)>,
}

/// The date added of the first new version: now, or just after the community's last one.
pub(crate) fn first_date_added(last: Option<OffsetDateTime>) -> OffsetDateTime {
    let now = ts::now();
    match last {
        Some(last) if last >= now => last + time::Duration::microseconds(1),
        _ => now,
    }
}

/// Decide each version of `batch` against `known` (what is stored for its ids, extended with
/// what the batch adds). `next_added` is the first date added to hand out, `new_part` the part
/// of the object key's index a new object goes to (on SQLite).
pub(crate) fn plan<'b>(
    batch: &'b [NewObjectVersion],
    known: &'b mut HashMap<String, Vec<Known>>,
    mut next_added: OffsetDateTime,
    new_part: i64,
) -> Plan<'b> {
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut rows: Vec<VersionRow<'b>> = Vec::new();
    for obj in batch {
        let versions = known.entry(obj.object_id.clone()).or_default();
        if let Some(refusal) = refusal_of_source(obj, versions) {
            outcomes.push(PutOutcome::Refused(refusal));
            continue;
        }
        let date_added = next_added;
        let (version, version_key) = match (&obj.version, &obj.version_key) {
            (Some(v), Some(k)) => (v.clone(), k.clone()),
            _ => {
                // Objects without a version (SCOs): the same content again is a duplicate.
                if let Some(same) = versions.iter().find(|k| k.raw == obj.raw) {
                    outcomes.push(PutOutcome::Duplicate {
                        version: same.version.clone(),
                    });
                    continue;
                }
                (
                    ts::format(date_added),
                    cairn_core::sharing::version_key_of(date_added),
                )
            }
        };
        if let Some(existing) = versions.iter().find(|k| k.version_key == version_key) {
            if existing.raw == obj.raw {
                outcomes.push(PutOutcome::Duplicate { version });
            } else {
                outcomes.push(PutOutcome::Refused(format!(
                    "{} version {version} is already stored with different content; a changed object needs a later `modified`",
                    obj.object_id
                )));
            }
            continue;
        }
        if let Some(revoked) = versions
            .iter()
            .find(|k| k.revoked && k.version_key < version_key)
        {
            outcomes.push(PutOutcome::Refused(format!(
                "{} was revoked in version {}; revocation is permanent, so no later version is accepted",
                obj.object_id, revoked.version
            )));
            continue;
        }
        let part = versions.first().map_or(new_part, |k| k.part);
        versions.push(Known {
            version: version.clone(),
            version_key: version_key.clone(),
            source_org: obj.source_org,
            revoked: obj.revoked,
            raw: obj.raw.clone(),
            added: true,
            anonymous: obj.anonymous,
            part,
        });
        rows.push(VersionRow {
            slot: outcomes.len(),
            obj,
            version: version.clone(),
            version_key,
            date_added,
            superseded: false,
            part,
        });
        // The row's seq is filled in once the row is written.
        outcomes.push(PutOutcome::Stored {
            date_added,
            version,
            seq: 0,
        });
        next_added = date_added + time::Duration::microseconds(1);
    }
    let known: &'b HashMap<String, Vec<Known>> = known;
    // The newest key of every object written to, over what was stored and what is added.
    let newest = |object_id: &str| -> &'b str {
        known
            .get(object_id)
            .and_then(|v| v.iter().map(|k| k.version_key.as_str()).max())
            .unwrap_or_default()
    };
    for row in &mut rows {
        row.superseded = newest(&row.obj.object_id) > row.version_key.as_str();
    }
    let stored_before = |object_id: &str| {
        known
            .get(object_id)
            .is_some_and(|v| v.iter().any(|k| !k.added))
    };
    let mut supersede = Vec::new();
    let mut marked = HashSet::new();
    for row in &rows {
        let id = row.obj.object_id.as_str();
        let had_older = known.get(id).is_some_and(|v| {
            v.iter()
                .any(|k| k.version_key < row.version_key && !k.added)
        });
        if had_older && marked.insert(id) {
            supersede.push((id, newest(id)));
        }
    }
    // The audience of each object written to: that of its last version in the batch. It
    // replaces the rows of versions stored before; a new object has none to delete.
    let mut audiences: Vec<(&'b str, &'b Audience)> = Vec::new();
    let mut slot: HashMap<&str, usize> = HashMap::new();
    for row in &rows {
        if let Some(audience) = &row.obj.audience {
            match slot.get(row.obj.object_id.as_str()) {
                Some(&i) => audiences[i].1 = audience,
                None => {
                    slot.insert(row.obj.object_id.as_str(), audiences.len());
                    audiences.push((row.obj.object_id.as_str(), audience));
                }
            }
        }
    }
    let audience_replaced = audiences
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| stored_before(id))
        .collect();
    let audience_rows = audiences
        .iter()
        .flat_map(|(object_id, audience)| {
            audience
                .organizations
                .iter()
                .map(move |o| (*object_id, "org", *o))
                .chain(audience.users.iter().map(move |u| (*object_id, "user", *u)))
        })
        .collect();
    Plan {
        outcomes,
        rows,
        supersede,
        audience_replaced,
        audience_rows,
    }
}

/// Why a version may not be added to the versions stored under its id, if it may not: only
/// the creator adds versions, and an object keeps whether it was published anonymously.
fn refusal_of_source(obj: &NewObjectVersion, versions: &[Known]) -> Option<String> {
    let first = versions.first()?;
    if first.source_org != obj.source_org {
        return Some(format!(
            "{} was published by another organization; only its creator may add versions (publish a new id with a derived-from relationship instead)",
            obj.object_id
        ));
    }
    if first.anonymous != obj.anonymous {
        let (was, publish) = if obj.anonymous {
            ("under your name", "without `anonymous`")
        } else {
            ("anonymously", "with `anonymous`")
        };
        return Some(format!(
            "{} was first published {was}; its versions keep that (publish {publish})",
            obj.object_id
        ));
    }
    None
}

impl Plan<'_> {
    /// Record the store row of a written version in its outcome.
    pub(crate) fn set_seq(&mut self, slot: usize, seq: i64) {
        if let Some(PutOutcome::Stored { seq: stored, .. }) = self.outcomes.get_mut(slot) {
            *stored = seq;
        }
    }
}
