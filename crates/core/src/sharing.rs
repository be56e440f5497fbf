//! Shared STIX objects and **the entitlement rule**: who may see an object version.
//!
//! The rule follows the audience table of the design (TLP 2.0):
//!
//! | marking | who may see it |
//! |---|---|
//! | TLP:CLEAR | every member; anyone, without login, if the community runs a public feed |
//! | TLP:GREEN | every member organization of the community |
//! | TLP:AMBER | the member organizations the source named (default: all members) |
//! | TLP:AMBER+STRICT | the member organizations the source named (default: all members) |
//! | TLP:RED | the users the source named, of member organizations |
//!
//! The source organization always sees its own objects. There is no other way in: chairs, the
//! coordination team and the node operator see what this rule gives them, like anyone else.
//!
//! The rule is written **once**, as the list of [`Grant`]s a [`Viewer`] holds. [`entitled`]
//! evaluates the grants in memory; the store renders the same grants into the `WHERE` clause of
//! every query of shared content, so a page is never built by fetching and discarding. The
//! property test in `crates/store/tests/entitlement.rs` checks that both agree.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::TlpLevel;
use crate::ts::serde_ts;

/// The id of Cairn's audience property extension (see `docs/SHARING.md`).
pub const AUDIENCE_EXTENSION: &str = cairn_stix::marking::AUDIENCE_EXTENSION_DEFINITION_ID;

/// Who is looking, in one community.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub user: Option<Uuid>,
    pub org: Option<Uuid>,
    /// The viewer's organization is a member of the community.
    pub member: bool,
    /// The community publishes TLP:CLEAR content without login.
    pub public_feed: bool,
}

impl Viewer {
    /// Someone without credentials.
    pub fn anonymous(public_feed: bool) -> Self {
        Viewer {
            user: None,
            org: None,
            member: false,
            public_feed,
        }
    }
}

/// One way a viewer may be entitled to an object version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Versions whose source is this organization.
    SourceOrg(Uuid),
    /// Versions at this level, whatever their audience.
    Level(TlpLevel),
    /// Versions at this level whose organization audience is unset (all members) or names this
    /// organization.
    LevelForOrg(TlpLevel, Uuid),
    /// Versions at this level whose user audience names this user.
    LevelForUser(TlpLevel, Uuid),
}

/// The grants a viewer holds: the entitlement rule.
pub fn grants(viewer: &Viewer) -> Vec<Grant> {
    let mut out = Vec::with_capacity(6);
    if let Some(org) = viewer.org {
        out.push(Grant::SourceOrg(org));
    }
    if viewer.member || viewer.public_feed {
        out.push(Grant::Level(TlpLevel::Clear));
    }
    if viewer.member {
        out.push(Grant::Level(TlpLevel::Green));
        if let Some(org) = viewer.org {
            out.push(Grant::LevelForOrg(TlpLevel::Amber, org));
            out.push(Grant::LevelForOrg(TlpLevel::AmberStrict, org));
        }
        if let Some(user) = viewer.user {
            out.push(Grant::LevelForUser(TlpLevel::Red, user));
        }
    }
    out
}

/// What the rule needs to know of an object version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFacts<'a> {
    pub source_org: Uuid,
    pub tlp: TlpLevel,
    /// Named recipient organizations; empty means every member.
    pub audience_orgs: &'a [Uuid],
    /// Named recipient users (TLP:RED).
    pub audience_users: &'a [Uuid],
}

/// May this viewer see this object version?
pub fn entitled(viewer: &Viewer, facts: &VersionFacts<'_>) -> bool {
    grants(viewer).iter().any(|g| match *g {
        Grant::SourceOrg(org) => facts.source_org == org,
        Grant::Level(level) => facts.tlp == level,
        Grant::LevelForOrg(level, org) => {
            facts.tlp == level
                && (facts.audience_orgs.is_empty() || facts.audience_orgs.contains(&org))
        }
        Grant::LevelForUser(level, user) => {
            facts.tlp == level && facts.audience_users.contains(&user)
        }
    })
}

/// The recipients a source named for an object (platform metadata, per object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Audience {
    /// Organization ids; empty means every member (for AMBER and AMBER+STRICT).
    pub organizations: Vec<Uuid>,
    /// User ids (TLP:RED).
    pub users: Vec<Uuid>,
}

/// One stored version of a shared object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectVersion {
    pub community_id: Uuid,
    /// Store order; what pagination follows.
    pub seq: i64,
    pub object_id: String,
    pub object_type: String,
    pub spec_version: String,
    /// `modified`, else `created`, else the date added (SCOs), as the source wrote it.
    pub version: String,
    /// Sortable form of `version` (nanoseconds since 1970, zero-padded).
    pub version_key: String,
    #[serde(with = "serde_ts")]
    pub date_added: OffsetDateTime,
    pub source_org: Uuid,
    pub source_user: Option<Uuid>,
    pub tlp: TlpLevel,
    pub revoked: bool,
    /// The object exactly as the source posted it.
    pub raw: String,
    /// The signature of this version (see [`Provenance`]), if it has one.
    pub provenance: Option<Provenance>,
    /// Published without naming the source: recipients see the community's pseudonym.
    pub anonymous: bool,
}

/// Who vouches for an object version: an ed25519 signature over the RFC 8785 canonical JSON of
/// the version, by the source organization's key, or by the community's key for an anonymous
/// share. Base64 (standard alphabet, padded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Provenance {
    pub key_id: String,
    pub signature: String,
}

/// A version about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewObjectVersion {
    pub object_id: String,
    pub object_type: String,
    pub spec_version: String,
    /// `None` for objects without `modified`/`created`: the date added becomes the version.
    pub version: Option<String>,
    pub version_key: Option<String>,
    pub source_org: Uuid,
    pub source_user: Option<Uuid>,
    pub tlp: TlpLevel,
    pub revoked: bool,
    pub raw: String,
    /// Replace the object's audience with this one (from the audience extension).
    pub audience: Option<Audience>,
    pub provenance: Option<Provenance>,
    pub anonymous: bool,
    /// The objects this version is about (a sighting's `sighting_of_ref`, an opinion's or a
    /// note's `object_refs`; see [`crate::feedback::refs_of`]), indexed for feedback reads.
    pub refs: Vec<String>,
    /// The observable values and text terms to index with the version (see
    /// `crate::search`), computed from `raw`.
    pub index: crate::search::VersionIndex,
}

/// What happened to one version on the way in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored now, with this date added and version, as the store's row `seq`.
    Stored {
        date_added: OffsetDateTime,
        version: String,
        seq: i64,
    },
    /// The same version with the same content was there already.
    Duplicate { version: String },
    /// Refused, with the reason.
    Refused(String),
}

/// Which versions of each object a query returns (`match[version]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum VersionMatch {
    #[default]
    Last,
    First,
    All,
    /// Exact versions, as version keys.
    Keys(Vec<String>),
    /// Any of: the first, the last, these exact versions (`match[version]=first,last,…`).
    AnyOf {
        first: bool,
        last: bool,
        keys: Vec<String>,
    },
}

/// A query of shared objects in one community. The store answers it only for a [`Viewer`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectQuery {
    pub added_after: Option<OffsetDateTime>,
    /// Continue after this store sequence number (pagination).
    pub after_seq: Option<i64>,
    pub ids: Vec<String>,
    pub types: Vec<String>,
    pub versions: VersionMatch,
    pub spec_versions: Vec<String>,
    /// Only versions about this object (their [`NewObjectVersion::refs`] name it).
    pub refers_to: Option<String>,
    /// At most this many; the store fetches one more to know whether there is more.
    pub limit: i64,
}

/// The sortable key of a STIX timestamp: nanoseconds since 1970, zero-padded to 20 digits.
pub fn version_key(ts: &cairn_stix::Timestamp) -> String {
    format!("{:020}", ts.unix_nanos().max(0))
}

/// The version key of a timestamp given as text (`match[version]`), if it is one.
pub fn parse_version_key(text: &str) -> Option<String> {
    cairn_stix::Timestamp::parse(text)
        .ok()
        .map(|t| version_key(&t))
}

/// The version key of a date added (microsecond precision).
pub fn version_key_of(at: OffsetDateTime) -> String {
    format!("{:020}", at.unix_timestamp_nanos().max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(member: bool) -> (Viewer, Uuid, Uuid) {
        let (u, o) = (Uuid::new_v4(), Uuid::new_v4());
        (
            Viewer {
                user: Some(u),
                org: Some(o),
                member,
                public_feed: false,
            },
            u,
            o,
        )
    }

    fn facts<'a>(
        source: Uuid,
        tlp: TlpLevel,
        orgs: &'a [Uuid],
        users: &'a [Uuid],
    ) -> VersionFacts<'a> {
        VersionFacts {
            source_org: source,
            tlp,
            audience_orgs: orgs,
            audience_users: users,
        }
    }

    #[test]
    fn table_of_the_rule() {
        let other = Uuid::new_v4();
        let (m, mu, mo) = viewer(true);
        let (n, _, _) = viewer(false);
        let anon_feed = Viewer::anonymous(true);
        let anon = Viewer::anonymous(false);
        use TlpLevel::*;
        // CLEAR
        assert!(entitled(&m, &facts(other, Clear, &[], &[])));
        assert!(entitled(&anon_feed, &facts(other, Clear, &[], &[])));
        assert!(!entitled(&anon, &facts(other, Clear, &[], &[])));
        assert!(!entitled(&n, &facts(other, Clear, &[], &[])));
        // GREEN: members only, never the public feed.
        assert!(entitled(&m, &facts(other, Green, &[], &[])));
        assert!(!entitled(&anon_feed, &facts(other, Green, &[], &[])));
        assert!(!entitled(&n, &facts(other, Green, &[], &[])));
        // AMBER and AMBER+STRICT: all members by default, else only named organizations.
        for level in [Amber, AmberStrict] {
            assert!(entitled(&m, &facts(other, level, &[], &[])));
            assert!(entitled(&m, &facts(other, level, &[mo], &[])));
            assert!(!entitled(&m, &facts(other, level, &[other], &[])));
            assert!(!entitled(&n, &facts(other, level, &[], &[])));
        }
        // RED: named users only.
        assert!(entitled(&m, &facts(other, Red, &[], &[mu])));
        assert!(!entitled(&m, &facts(other, Red, &[mo], &[])));
        assert!(!entitled(&m, &facts(other, Red, &[], &[Uuid::new_v4()])));
        // The source always sees its own, even after leaving the community.
        assert!(entitled(&n, &facts(n.org.unwrap(), Red, &[], &[])));
    }

    #[test]
    fn version_keys_sort_like_time() {
        let a = cairn_stix::Timestamp::parse("2016-05-12T08:17:27.000Z").unwrap();
        let b = cairn_stix::Timestamp::parse("2016-05-12T08:17:27Z").unwrap();
        let c = cairn_stix::Timestamp::parse("2016-05-12T08:17:27.000001Z").unwrap();
        assert_eq!(version_key(&a), version_key(&b));
        assert!(version_key(&a) < version_key(&c));
    }
}
