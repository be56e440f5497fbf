//! `cairn admin …`: offline administration against the configured store, acting as the node
//! operator (audited as `cairn-admin`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use cairn_core::audit::ChainVerifier;
use cairn_core::model::*;
use cairn_core::provision::Plan;
use cairn_core::service::*;
use cairn_core::Store;
use clap::Subcommand;

use crate::config::Config;
use crate::node;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Communities, memberships and representatives.
    Community {
        #[command(subcommand)]
        command: CommunityCommand,
    },
    /// Apply a declarative provisioning file (idempotent). See docs/PROVISIONING.md.
    Apply {
        file: PathBuf,
        /// Only check the file; change nothing.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization (a signing key is generated for it).
    Create {
        #[arg(long)]
        short_name: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        sector: String,
        /// public, private, ngo, academic or other.
        #[arg(long = "type")]
        org_type: String,
        /// ISO 3166-1 alpha-2, e.g. DE.
        #[arg(long)]
        country: String,
        #[arg(long)]
        security_email: Option<String>,
        #[arg(long)]
        security_phone: Option<String>,
        #[arg(long)]
        out_of_band_contact: Option<String>,
    },
    /// List organizations.
    List,
    /// Record that the organization's identity was verified (or withdraw it with --undo).
    Verify {
        org: String,
        #[arg(long)]
        undo: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        username: String,
        /// node_operator, org_admin, analyst or read_only.
        #[arg(long)]
        role: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
    /// List users.
    List {
        #[arg(long)]
        org: Option<String>,
    },
    /// Change a user's role.
    SetRole { user: String, role: String },
    /// Disable a user (its tokens stop working at once).
    Disable { user: String },
    /// Enable a disabled user.
    Enable { user: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; the secret is printed once.
    Create {
        user: String,
        #[arg(long)]
        name: String,
        /// RFC 3339 expiry, e.g. 2027-01-01T00:00:00Z.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List a user's tokens.
    List { user: String },
    /// Revoke a token by id.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum CommunityCommand {
    /// Create a community.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// clear, green, amber, amber+strict or red.
        #[arg(long, default_value = "green")]
        default_tlp: String,
        #[arg(long)]
        public_feed: bool,
    },
    /// List communities.
    List,
    /// Admit an organization or change its role.
    AddMember {
        community: String,
        org: String,
        /// chair, co_chair, coordination_team, member or observer.
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// Remove an organization.
    RemoveMember { community: String, org: String },
    /// List members, roles and representatives.
    Members { community: String },
    /// Designate a representative of a member organization.
    Designate { community: String, user: String },
}

fn role(text: &str) -> Result<Role> {
    Role::parse(text).ok_or_else(|| {
        anyhow!("role: `{text}` is not one of node_operator, org_admin, analyst, read_only")
    })
}

fn community_role(text: &str) -> Result<CommunityRole> {
    CommunityRole::parse(text).ok_or_else(|| {
        anyhow!("role: `{text}` is not one of chair, co_chair, coordination_team, member, observer")
    })
}

fn print_org(o: &Organization) {
    println!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
        o.id,
        o.short_name,
        o.name,
        o.sector,
        o.org_type.as_str(),
        o.country,
        if o.verified_at.is_some() {
            "verified"
        } else {
            "unverified"
        }
    );
}

fn print_user(u: &User) {
    println!(
        "{}\t{}\t{}\t{}{}",
        u.id,
        u.username,
        u.role.as_str(),
        u.display_name,
        if u.disabled { "\t(disabled)" } else { "" }
    );
}

fn print_token(t: &ApiToken) {
    let state = if t.revoked_at.is_some() {
        "revoked"
    } else if !t.is_active(cairn_core::ts::now()) {
        "expired"
    } else {
        "active"
    };
    println!(
        "{}\t{}\t{}\t{}\texpires {}\tlast used {}",
        t.id,
        t.name,
        t.prefix,
        state,
        t.expires_at
            .map(cairn_core::ts::format)
            .unwrap_or_else(|| "never".into()),
        t.last_used_at
            .map(cairn_core::ts::format)
            .unwrap_or_else(|| "never".into()),
    );
}

/// Run an admin command.
pub async fn run(config: Config, command: AdminCommand) -> Result<ExitCode> {
    let (cairn, store) = node::open(&config, true).await?;
    let actor = Actor::system("cairn-admin");
    let result = dispatch(&cairn, &actor, command).await;
    store.close().await;
    result.map(|_| ExitCode::SUCCESS)
}

async fn dispatch(cairn: &cairn_core::Cairn, actor: &Actor, command: AdminCommand) -> Result<()> {
    match command {
        AdminCommand::Org { command } => {
            match command {
                OrgCommand::Create {
                    short_name,
                    name,
                    sector,
                    org_type,
                    country,
                    security_email,
                    security_phone,
                    out_of_band_contact,
                } => {
                    let org_type = OrgType::parse(&org_type)
                    .ok_or_else(|| anyhow!("type: `{org_type}` is not one of public, private, ngo, academic, other"))?;
                    let org = cairn
                        .create_organization(
                            actor,
                            NewOrganization {
                                name,
                                short_name,
                                sector,
                                org_type,
                                country,
                                security_email,
                                security_phone,
                                out_of_band_contact,
                            },
                        )
                        .await?;
                    print_org(&org);
                }
                OrgCommand::List => cairn.organizations().await?.iter().for_each(print_org),
                OrgCommand::Verify { org, undo } => {
                    print_org(&cairn.verify_organization(actor, &org, !undo).await?)
                }
            }
        }
        AdminCommand::User { command } => match command {
            UserCommand::Create {
                org,
                username,
                role: r,
                display_name,
                email,
            } => {
                let user = cairn
                    .create_user(
                        actor,
                        NewUser {
                            organization: Some(org),
                            username,
                            display_name,
                            email,
                            role: role(&r)?,
                            password: None,
                        },
                    )
                    .await?;
                print_user(&user);
            }
            UserCommand::List { org } => cairn
                .users(actor, org.as_deref())
                .await?
                .iter()
                .for_each(print_user),
            UserCommand::SetRole { user, role: r } => {
                let patch = UserPatch {
                    role: Some(role(&r)?),
                    ..Default::default()
                };
                print_user(&cairn.update_user(actor, &user, patch).await?);
            }
            UserCommand::Disable { user } => print_user(
                &cairn
                    .update_user(
                        actor,
                        &user,
                        UserPatch {
                            disabled: Some(true),
                            ..Default::default()
                        },
                    )
                    .await?,
            ),
            UserCommand::Enable { user } => print_user(
                &cairn
                    .update_user(
                        actor,
                        &user,
                        UserPatch {
                            disabled: Some(false),
                            ..Default::default()
                        },
                    )
                    .await?,
            ),
        },
        AdminCommand::Token { command } => match command {
            TokenCommand::Create {
                user,
                name,
                expires_at,
            } => {
                let expires_at = match expires_at {
                    Some(t) => Some(cairn_core::ts::parse(&t).ok_or_else(|| {
                        anyhow!("expires-at: `{t}` is not an RFC 3339 timestamp")
                    })?),
                    None => None,
                };
                let created = cairn
                    .create_token(actor, &user, NewTokenRequest { name, expires_at })
                    .await?;
                print_token(&created.token);
                println!("secret (shown once): {}", created.secret);
            }
            TokenCommand::List { user } => cairn
                .tokens(actor, &user)
                .await?
                .iter()
                .for_each(print_token),
            TokenCommand::Revoke { id } => {
                let id = uuid::Uuid::parse_str(&id)
                    .map_err(|_| anyhow!("id: `{id}` is not a token id"))?;
                print_token(&cairn.revoke_token(actor, id).await?);
            }
        },
        AdminCommand::Community { command } => match command {
            CommunityCommand::Create {
                slug,
                name,
                description,
                default_tlp,
                public_feed,
            } => {
                let default_tlp = TlpLevel::parse(&default_tlp)
                    .ok_or_else(|| anyhow!("default-tlp: `{default_tlp}` is not one of clear, green, amber, amber+strict, red"))?;
                let c = cairn
                    .create_community(
                        actor,
                        NewCommunity {
                            slug,
                            name,
                            description,
                            default_tlp,
                            public_feed,
                        },
                    )
                    .await?;
                println!("{}\t{}\t{}", c.id, c.slug, c.name);
            }
            CommunityCommand::List => {
                for c in cairn.communities(actor).await? {
                    println!(
                        "{}\t{}\t{}\tdefault {}",
                        c.id,
                        c.slug,
                        c.name,
                        c.default_tlp.as_str()
                    );
                }
            }
            CommunityCommand::AddMember {
                community,
                org,
                role: r,
            } => {
                let m = cairn
                    .put_member(
                        actor,
                        &community,
                        MembershipRequest {
                            organization: org.clone(),
                            role: community_role(&r)?,
                        },
                    )
                    .await?;
                println!("{org}\t{}", m.role.as_str());
            }
            CommunityCommand::RemoveMember { community, org } => {
                cairn.remove_member(actor, &community, &org).await?;
                println!("removed {org} from {community}");
            }
            CommunityCommand::Members { community } => {
                for m in cairn.members(actor, &community).await? {
                    println!(
                        "{}\t{}\t{}\t{}",
                        m.short_name,
                        m.name,
                        m.role.as_str(),
                        m.representatives.join(",")
                    );
                }
            }
            CommunityCommand::Designate { community, user } => {
                cairn.designate(actor, &community, &user).await?;
                println!("{user} represents its organization in {community}");
            }
        },
        AdminCommand::Apply { file, check } => {
            if check {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| anyhow!("{}: {e}", file.display()))?;
                let plan: Plan =
                    toml::from_str(&text).map_err(|e| anyhow!("{}: {e}", file.display()))?;
                plan.check(cairn)
                    .await
                    .map_err(|e| anyhow!("{}: {e}", file.display()))?;
                println!("{}: valid", file.display());
            } else {
                let report = node::apply_file(cairn, &file, "cairn-admin").await?;
                node::print_report(&report);
            }
        }
    }
    Ok(())
}

/// `cairn audit verify`.
pub async fn audit_verify(config: Config) -> Result<ExitCode> {
    let sql = node::open_store(&config).await?;
    let store: &dyn Store = sql.as_ref();
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    let outcome = loop {
        let page = store.audit_chain(after, 10_000).await?;
        if page.is_empty() {
            break verifier.finish(store.audit_head().await?);
        }
        if let Some(broken) = page.iter().find_map(|e| verifier.check(e).err()) {
            break Err(broken);
        }
        after = page.last().map(|e| e.seq).unwrap_or(after);
    };
    sql.close().await;
    match outcome {
        Ok(n) => {
            println!("audit chain intact: {n} entries");
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            eprintln!("audit chain broken: {broken}");
            Ok(ExitCode::FAILURE)
        }
    }
}
