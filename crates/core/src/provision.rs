//! Declarative, idempotent provisioning: one file that says which organizations, users, API
//! tokens, communities, memberships, roles and representatives the node has.
//!
//! Applying a plan creates what is missing and changes what differs; applying it again changes
//! nothing. The whole plan is checked before anything is written, so a plan with an error
//! writes nothing. Every change goes through [`Cairn`] and is audited like any other.
//! The schema, with a full example, is in `docs/PROVISIONING.md`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{CoreError, CoreResult};
use crate::model::*;
use crate::service::*;
use crate::ts::serde_ts;
use crate::{auth, validate as v, Cairn};

/// The provisioning file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    #[serde(default)]
    pub organizations: Vec<PlanOrganization>,
    #[serde(default)]
    pub users: Vec<PlanUser>,
    #[serde(default)]
    pub communities: Vec<PlanCommunity>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanOrganization {
    pub short_name: String,
    pub name: String,
    pub sector: String,
    pub org_type: OrgType,
    pub country: String,
    #[serde(default)]
    pub security_email: Option<String>,
    #[serde(default)]
    pub security_phone: Option<String>,
    #[serde(default)]
    pub out_of_band_contact: Option<String>,
    /// Mark the organization as verified by the node operator.
    #[serde(default)]
    pub verified: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanUser {
    pub username: String,
    /// The organization's short name.
    pub organization: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub role: Role,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub tokens: Vec<PlanToken>,
}

/// A token given by its hash, or generated (and printed once) when the user has no active token
/// of that name.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanToken {
    pub name: String,
    /// Lowercase hex SHA-256 of the token text.
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub generate: bool,
    #[serde(default, with = "serde_ts::option")]
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanCommunity {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub default_tlp: Option<TlpLevel>,
    #[serde(default)]
    pub public_feed: bool,
    #[serde(default)]
    pub members: Vec<PlanMember>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanMember {
    /// The organization's short name.
    pub organization: String,
    #[serde(default = "member_role")]
    pub role: CommunityRole,
    /// User names of the organization's representatives in this community.
    #[serde(default)]
    pub representatives: Vec<String>,
}

fn member_role() -> CommunityRole {
    CommunityRole::Member
}

/// What applying did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: usize,
    /// Tokens generated now: (user name, token name, secret). Shown once.
    pub generated_tokens: Vec<GeneratedToken>,
}

#[derive(Clone, Serialize)]
pub struct GeneratedToken {
    pub username: String,
    pub name: String,
    pub secret: String,
}

impl std::fmt::Debug for GeneratedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedToken")
            .field("username", &self.username)
            .field("name", &self.name)
            .field("secret", &"[redacted]")
            .finish()
    }
}

fn at(section: &str, index: usize, err: CoreError) -> CoreError {
    match err {
        CoreError::Invalid { field, message } => {
            CoreError::invalid(format!("{section}[{index}].{field}"), message)
        }
        other => other,
    }
}

impl Plan {
    /// Check every rule that can be checked without the store, and references within the plan
    /// or already on the node.
    pub async fn check(&self, cairn: &Cairn) -> CoreResult<()> {
        let mut org_names = std::collections::HashSet::new();
        for (i, o) in self.organizations.iter().enumerate() {
            let input = o.as_new();
            Cairn::check_new_org(&input).map_err(|e| at("organizations", i, e))?;
            if !org_names.insert(o.short_name.as_str()) {
                return Err(CoreError::invalid(
                    format!("organizations[{i}].short_name"),
                    format!("`{}` appears twice", o.short_name),
                ));
            }
        }
        let mut user_names = std::collections::HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            v::username("username", &u.username).map_err(|e| at("users", i, e))?;
            if !user_names.insert(u.username.as_str()) {
                return Err(CoreError::invalid(
                    format!("users[{i}].username"),
                    format!("`{}` appears twice", u.username),
                ));
            }
            if !org_known(cairn, &org_names, &u.organization).await {
                return Err(CoreError::invalid(
                    format!("users[{i}].organization"),
                    format!(
                        "no organization `{}` in the plan or on the node",
                        v::clip(&u.organization)
                    ),
                ));
            }
            if let Some(d) = &u.display_name {
                v::text("display_name", d, 200).map_err(|e| at("users", i, e))?;
            }
            if let Some(e) = u.email.as_deref().filter(|e| !e.is_empty()) {
                v::email("email", e).map_err(|e| at("users", i, e))?;
            }
            for (j, t) in u.tokens.iter().enumerate() {
                let field = format!("users[{i}].tokens[{j}]");
                v::text("name", &t.name, 100).map_err(|e| at(&field, 0, e))?;
                match (&t.hash, t.generate) {
                    (Some(h), false) if auth::is_token_hash(h) => {}
                    (Some(_), false) => {
                        return Err(CoreError::invalid(
                            format!("{field}.hash"),
                            "must be the lowercase hex SHA-256 (64 characters) of the token",
                        ))
                    }
                    (None, true) => {}
                    _ => {
                        return Err(CoreError::invalid(
                            field,
                            "give either `hash` or `generate = true`, not both nor neither",
                        ))
                    }
                }
            }
        }
        let mut slugs = std::collections::HashSet::new();
        for (i, c) in self.communities.iter().enumerate() {
            v::slug("slug", &c.slug).map_err(|e| at("communities", i, e))?;
            v::text("name", &c.name, 200).map_err(|e| at("communities", i, e))?;
            v::optional_text("description", &c.description, 10_000)
                .map_err(|e| at("communities", i, e))?;
            if !slugs.insert(c.slug.as_str()) {
                return Err(CoreError::invalid(
                    format!("communities[{i}].slug"),
                    format!("`{}` appears twice", c.slug),
                ));
            }
            for (j, m) in c.members.iter().enumerate() {
                if !org_known(cairn, &org_names, &m.organization).await {
                    return Err(CoreError::invalid(
                        format!("communities[{i}].members[{j}].organization"),
                        format!(
                            "no organization `{}` in the plan or on the node",
                            v::clip(&m.organization)
                        ),
                    ));
                }
                for r in &m.representatives {
                    let in_plan = self
                        .users
                        .iter()
                        .find(|u| &u.username == r)
                        .map(|u| u.organization == m.organization);
                    let ok = match in_plan {
                        Some(same_org) => same_org,
                        None => match cairn.store().user_by_name(r).await? {
                            Some(u) => cairn
                                .find_organization(&m.organization)
                                .await
                                .is_ok_and(|o| o.id == u.org_id),
                            None => false,
                        },
                    };
                    if !ok {
                        return Err(CoreError::invalid(
                            format!("communities[{i}].members[{j}].representatives"),
                            format!("`{}` is not a user of `{}`", v::clip(r), m.organization),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Check, then bring the node in line with the plan.
    pub async fn apply(&self, cairn: &Cairn, actor: &Actor) -> CoreResult<ApplyReport> {
        self.check(cairn).await?;
        let mut report = ApplyReport::default();
        for o in &self.organizations {
            let label = format!("organization {}", o.short_name);
            let org = match cairn.find_organization(&o.short_name).await {
                Ok(existing) => {
                    let patch = o.patch_from(&existing);
                    if patch == OrganizationPatch::default() {
                        report.unchanged += 1;
                        existing
                    } else {
                        report.updated.push(label.clone());
                        cairn
                            .update_organization(actor, &o.short_name, patch)
                            .await?
                    }
                }
                Err(CoreError::NotFound(_)) => {
                    report.created.push(label.clone());
                    cairn.create_organization(actor, o.as_new()).await?
                }
                Err(e) => return Err(e),
            };
            if o.verified != org.verified_at.is_some() {
                cairn
                    .verify_organization(actor, &o.short_name, o.verified)
                    .await?;
                report.updated.push(format!("{label} verification"));
            }
        }
        for u in &self.users {
            let label = format!("user {}", u.username);
            let user = match cairn.store().user_by_name(&u.username).await? {
                Some(existing) => {
                    let org = cairn.find_organization(&u.organization).await?;
                    if existing.org_id != org.id {
                        return Err(CoreError::invalid(
                            "users.organization",
                            format!(
                                "user `{}` exists in another organization; users do not move",
                                u.username
                            ),
                        ));
                    }
                    let display = u.display_name.clone().unwrap_or_else(|| u.username.clone());
                    let patch = UserPatch {
                        display_name: (existing.display_name != display).then_some(display),
                        email: (existing.email != u.email)
                            .then(|| u.email.clone().unwrap_or_default()),
                        role: (existing.role != u.role).then_some(u.role),
                        disabled: (existing.disabled != u.disabled).then_some(u.disabled),
                        password: None,
                    };
                    if patch.display_name.is_none()
                        && patch.email.is_none()
                        && patch.role.is_none()
                        && patch.disabled.is_none()
                    {
                        report.unchanged += 1;
                        existing
                    } else {
                        report.updated.push(label);
                        cairn.update_user(actor, &u.username, patch).await?
                    }
                }
                None => {
                    report.created.push(label);
                    let created = cairn
                        .create_user(
                            actor,
                            NewUser {
                                organization: Some(u.organization.clone()),
                                username: u.username.clone(),
                                display_name: u.display_name.clone(),
                                email: u.email.clone(),
                                role: u.role,
                                password: None,
                            },
                        )
                        .await?;
                    if u.disabled {
                        cairn
                            .update_user(
                                actor,
                                &u.username,
                                UserPatch {
                                    disabled: Some(true),
                                    ..Default::default()
                                },
                            )
                            .await?
                    } else {
                        created
                    }
                }
            };
            let now = crate::ts::now();
            let existing = cairn.store().tokens_of(user.id).await?;
            for t in &u.tokens {
                let request = NewTokenRequest {
                    name: t.name.clone(),
                    expires_at: t.expires_at,
                };
                let label = format!("token {}/{}", u.username, t.name);
                if let Some(hash) = &t.hash {
                    if existing.iter().any(|x| &x.token_hash == hash) {
                        report.unchanged += 1;
                        continue;
                    }
                    cairn
                        .import_token_hash(actor, &user, &request, hash)
                        .await?;
                    report.created.push(label);
                } else if existing
                    .iter()
                    .any(|x| x.name == t.name && x.is_active(now))
                {
                    report.unchanged += 1;
                } else {
                    let created = cairn.create_token(actor, &user.username, request).await?;
                    report.generated_tokens.push(GeneratedToken {
                        username: user.username.clone(),
                        name: t.name.clone(),
                        secret: created.secret,
                    });
                    report.created.push(label);
                }
            }
        }
        for c in &self.communities {
            let label = format!("community {}", c.slug);
            match cairn.find_community(actor, &c.slug).await {
                Ok((existing, _)) => {
                    let wanted_tlp = c.default_tlp.unwrap_or(existing.default_tlp);
                    let patch = CommunityPatch {
                        name: (existing.name != c.name).then(|| c.name.clone()),
                        description: (existing.description != c.description)
                            .then(|| c.description.clone()),
                        default_tlp: (existing.default_tlp != wanted_tlp).then_some(wanted_tlp),
                        public_feed: (existing.public_feed != c.public_feed)
                            .then_some(c.public_feed),
                        review_after_days: None,
                    };
                    if patch.name.is_none()
                        && patch.description.is_none()
                        && patch.default_tlp.is_none()
                        && patch.public_feed.is_none()
                    {
                        report.unchanged += 1;
                    } else {
                        cairn.update_community(actor, &c.slug, patch).await?;
                        report.updated.push(label);
                    }
                }
                Err(CoreError::NotFound(_)) => {
                    cairn
                        .create_community(
                            actor,
                            NewCommunity {
                                slug: c.slug.clone(),
                                name: c.name.clone(),
                                description: c.description.clone(),
                                default_tlp: c.default_tlp.unwrap_or(TlpLevel::Green),
                                public_feed: c.public_feed,
                            },
                        )
                        .await?;
                    report.created.push(label);
                }
                Err(e) => return Err(e),
            }
            let (_, memberships) = cairn.find_community(actor, &c.slug).await?;
            for m in &c.members {
                let org = cairn.find_organization(&m.organization).await?;
                let label = format!("membership {}/{}", c.slug, m.organization);
                match memberships.iter().find(|x| x.org_id == org.id) {
                    Some(x) if x.role == m.role => report.unchanged += 1,
                    found => {
                        cairn
                            .put_member(
                                actor,
                                &c.slug,
                                MembershipRequest {
                                    organization: m.organization.clone(),
                                    role: m.role,
                                },
                            )
                            .await?;
                        if found.is_some() {
                            report.updated.push(label);
                        } else {
                            report.created.push(label);
                        }
                    }
                }
                let reps = cairn.members(actor, &c.slug).await?;
                let current: Vec<String> = reps
                    .iter()
                    .find(|x| x.organization == org.id)
                    .map(|x| x.representatives.clone())
                    .unwrap_or_default();
                for r in &m.representatives {
                    if current.contains(r) {
                        report.unchanged += 1;
                    } else {
                        cairn.designate(actor, &c.slug, r).await?;
                        report
                            .created
                            .push(format!("representative {}/{}", c.slug, r));
                    }
                }
            }
        }
        Ok(report)
    }
}

async fn org_known(cairn: &Cairn, in_plan: &std::collections::HashSet<&str>, name: &str) -> bool {
    in_plan.contains(name) || cairn.find_organization(name).await.is_ok()
}

impl PlanOrganization {
    fn as_new(&self) -> NewOrganization {
        NewOrganization {
            name: self.name.clone(),
            short_name: self.short_name.clone(),
            sector: self.sector.clone(),
            org_type: self.org_type,
            country: self.country.clone(),
            security_email: self.security_email.clone(),
            security_phone: self.security_phone.clone(),
            out_of_band_contact: self.out_of_band_contact.clone(),
        }
    }

    fn patch_from(&self, existing: &Organization) -> OrganizationPatch {
        let differs = |a: &Option<String>, b: &Option<String>| {
            a.as_deref().unwrap_or("") != b.as_deref().unwrap_or("")
        };
        OrganizationPatch {
            name: (existing.name != self.name).then(|| self.name.clone()),
            sector: (existing.sector != self.sector).then(|| self.sector.clone()),
            org_type: (existing.org_type != self.org_type).then_some(self.org_type),
            country: (existing.country != self.country).then(|| self.country.clone()),
            security_email: differs(&existing.security_email, &self.security_email)
                .then(|| self.security_email.clone().unwrap_or_default()),
            security_phone: differs(&existing.security_phone, &self.security_phone)
                .then(|| self.security_phone.clone().unwrap_or_default()),
            out_of_band_contact: differs(&existing.out_of_band_contact, &self.out_of_band_contact)
                .then(|| self.out_of_band_contact.clone().unwrap_or_default()),
        }
    }
}
