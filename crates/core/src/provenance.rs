//! Signed provenance (ISO 22396 4.2 g, integrity that makes the exchange credible): every
//! object version a member publishes through Cairn is signed with ed25519 over the RFC 8785
//! canonical JSON of the version, by the source organization's current key, or by the
//! community's key when the share is anonymous. Keys are published with their ids; a rotated
//! key is retired, not deleted, so old signatures stay verifiable. [`verify_bundle`] checks a
//! bundle offline against a list of published keys.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{CoreError, CoreResult};
use crate::keys::{self, Signer};
use crate::model::*;
use crate::sharing::*;
use crate::{policy, ts, Cairn};

/// The signature algorithm and the canonical form it covers, as published with every signature.
pub const ALGORITHM: &str = "ed25519";
pub const CANONICALIZATION: &str = "RFC 8785";

/// The signature of one object version, as served and as exported next to a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignatureEntry {
    /// The STIX id.
    pub id: String,
    /// The version (`modified`, else `created`, else the date added).
    pub version: String,
    pub key_id: String,
    /// `ed25519`.
    #[serde(default = "algorithm")]
    pub algorithm: String,
    /// `RFC 8785`: what is signed is the canonical JSON of the object.
    #[serde(default = "canonicalization")]
    pub canonicalization: String,
    /// Base64 (standard, padded).
    pub signature: String,
}

fn algorithm() -> String {
    ALGORITHM.into()
}

fn canonicalization() -> String {
    CANONICALIZATION.into()
}

impl SignatureEntry {
    pub fn of(version: &ObjectVersion) -> Option<SignatureEntry> {
        version.provenance.as_ref().map(|p| SignatureEntry {
            id: version.object_id.clone(),
            version: version.version.clone(),
            key_id: p.key_id.clone(),
            algorithm: algorithm(),
            canonicalization: canonicalization(),
            signature: p.signature.clone(),
        })
    }
}

/// Sign the canonical JSON of `object`.
pub fn sign_object(signer: &Signer, object: &Value) -> Provenance {
    Provenance {
        key_id: signer.key_id.clone(),
        signature: signer.sign_b64(&cairn_stix::canonical::to_canonical_bytes(object)),
    }
}

/// The outcome for one object of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub id: String,
    pub version: String,
    /// `None` when the signature holds; else why not.
    pub problem: Option<String>,
}

/// Check every object of a STIX bundle (or TAXII envelope) against `signatures` (matched by
/// id and version) and the published `keys`. Every object must have a signature that holds
/// under a known key.
pub fn verify_bundle(
    bundle: &Value,
    signatures: &[SignatureEntry],
    keys: &[PublicKey],
) -> Result<Vec<Verified>, String> {
    let objects = bundle
        .get("objects")
        .and_then(Value::as_array)
        .ok_or("the file is not a STIX bundle or TAXII envelope: no `objects` list")?;
    let keys: HashMap<&str, &PublicKey> = keys.iter().map(|k| (k.key_id.as_str(), k)).collect();
    let sigs: HashMap<(&str, &str), &SignatureEntry> = signatures
        .iter()
        .map(|s| ((s.id.as_str(), s.version.as_str()), s))
        .collect();
    let mut out = Vec::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        let id = o
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("objects[{i}]"));
        let version = ["modified", "created"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str))
            .map(str::to_string);
        let found = match &version {
            Some(v) => sigs.get(&(id.as_str(), v.as_str())).copied(),
            // Objects without a version (SCOs): the only signature for the id.
            None => {
                let mut c = signatures.iter().filter(|s| s.id == id);
                match (c.next(), c.next()) {
                    (Some(s), None) => Some(s),
                    _ => None,
                }
            }
        };
        let version = version
            .or_else(|| found.map(|s| s.version.clone()))
            .unwrap_or_default();
        let problem = match found {
            None => Some("no signature for this version".to_string()),
            Some(s) if s.algorithm != ALGORITHM || s.canonicalization != CANONICALIZATION => {
                Some(format!(
                    "unsupported signature ({} over {})",
                    s.algorithm, s.canonicalization
                ))
            }
            Some(s) => match keys.get(s.key_id.as_str()) {
                None => Some(format!("unknown key `{}`", s.key_id)),
                Some(k) => {
                    let canonical = cairn_stix::canonical::to_canonical_bytes(o);
                    if keys::verify_b64(&k.public_key, &canonical, &s.signature) {
                        None
                    } else {
                        Some(format!(
                            "the signature by `{}` does not match the content",
                            s.key_id
                        ))
                    }
                }
            },
        };
        out.push(Verified {
            id,
            version,
            problem,
        });
    }
    Ok(out)
}

impl Cairn {
    /// The organization's current signing key, opened.
    pub(crate) async fn org_signer(&self, org: Uuid) -> CoreResult<Signer> {
        let key = self
            .store()
            .organization_keys(org)
            .await?
            .into_iter()
            .filter(|k| k.retired_at.is_none())
            .max_by_key(|k| k.created_at)
            .ok_or_else(|| CoreError::Internal(format!("organization {org} has no signing key")))?;
        Signer::open(self.master_key(), &key).ok_or_else(|| {
            CoreError::Internal(format!(
                "the signing key {} cannot be opened with this node's master key",
                key.key_id
            ))
        })
    }

    /// Sign a version Cairn publishes for the source (a new marking): with the community's key
    /// if the object is anonymous, else the source's.
    pub(crate) async fn sign_for_source(
        &self,
        community: &Community,
        version: &mut NewObjectVersion,
    ) -> CoreResult<()> {
        let signer = if version.anonymous {
            self.community_signer(community).await?
        } else {
            self.org_signer(version.source_org).await?
        };
        let value: Value = serde_json::from_str(&version.raw)
            .map_err(|e| CoreError::Internal(format!("a remarked version is not JSON: {e}")))?;
        version.provenance = Some(sign_object(&signer, &value));
        Ok(())
    }

    /// The community's current signing key (made on first use), opened.
    pub(crate) async fn community_signer(&self, community: &Community) -> CoreResult<Signer> {
        let current = self
            .store()
            .community_keys(community.id)
            .await?
            .into_iter()
            .filter(|k| k.retired_at.is_none())
            .max_by_key(|k| k.created_at);
        let key = match current {
            Some(k) => k,
            None => {
                let key = keys::new_org_key(self.master_key(), community.id);
                let audit = AuditEvent::new(
                    &Actor::system("cairn"),
                    "community.key_create",
                    "community",
                    community.id,
                )
                .outcome(Outcome::Changed)
                .details(serde_json::json!({"community": community.slug, "key_id": key.key_id}));
                self.store().add_community_key(&key, audit).await?;
                key
            }
        };
        Signer::open(self.master_key(), &key).ok_or_else(|| {
            CoreError::Internal(format!(
                "the community key {} cannot be opened with this node's master key",
                key.key_id
            ))
        })
    }

    /// A new signing key for an organization; the previous ones are retired (still published,
    /// so what they signed stays verifiable). The organization's admin or the node operator.
    pub async fn rotate_org_key(&self, actor: &Actor, reference: &str) -> CoreResult<PublicKey> {
        let org = self.find_organization(reference).await?;
        if !policy::can_manage_org(actor, org.id)
            || !(actor.is_operator() || actor.role == Role::OrgAdmin)
        {
            let event = AuditEvent::new(actor, "organization.key_rotate", "organization", org.id)
                .outcome(Outcome::Denied)
                .details(serde_json::json!({"reason": "not permitted"}));
            self.store().append_audit(event).await?;
            return Err(CoreError::forbidden(
                "only the organization's admin or the node operator may rotate its key",
            ));
        }
        let key = keys::new_org_key(self.master_key(), org.id);
        let audit = AuditEvent::new(actor, "organization.key_rotate", "organization", org.id)
            .org(Some(org.id))
            .outcome(Outcome::Changed)
            .details(serde_json::json!({"key_id": key.key_id}));
        self.store().add_org_key(&key, ts::now(), audit).await?;
        Ok(key.public())
    }

    /// The published keys of a community the actor may read (anonymous shares are signed with
    /// them).
    pub async fn community_keys(
        &self,
        actor: Option<&Actor>,
        community: &str,
    ) -> CoreResult<Vec<PublicKey>> {
        let access = self.access(actor, community).await?;
        let mut keys: Vec<PublicKey> = self
            .store()
            .community_keys(access.community.id)
            .await?
            .iter()
            .map(keys::community_public)
            .collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        Ok(keys)
    }

    /// Every key a reader needs to verify what it may read: all organizations' keys and the
    /// keys of the communities it may read. The input of `cairn verify --keys`.
    pub async fn published_keys(&self, actor: Option<&Actor>) -> CoreResult<Vec<PublicKey>> {
        let mut out = Vec::new();
        for org in self.store().organizations().await? {
            out.extend(
                self.store()
                    .organization_keys(org.id)
                    .await?
                    .iter()
                    .map(OrgKey::public),
            );
        }
        for c in self.readable_communities(actor).await? {
            out.extend(
                self.store()
                    .community_keys(c.id)
                    .await?
                    .iter()
                    .map(keys::community_public),
            );
        }
        Ok(out)
    }

    /// The signatures of the versions of an object the actor may see, oldest first.
    pub async fn signatures(
        &self,
        actor: Option<&Actor>,
        community: &str,
        object_id: &str,
    ) -> CoreResult<Vec<SignatureEntry>> {
        let q = ObjectQuery {
            ids: vec![object_id.to_string()],
            versions: VersionMatch::All,
            limit: 10_000,
            ..Default::default()
        };
        let page = self.objects(actor, community, &q).await?;
        if page.objects.is_empty() {
            return Err(CoreError::not_found(format!(
                "object `{}` not found",
                crate::validate::clip(object_id)
            )));
        }
        let mut versions = page.objects;
        versions.sort_by(|a, b| a.version_key.cmp(&b.version_key));
        Ok(versions.iter().filter_map(SignatureEntry::of).collect())
    }
}
