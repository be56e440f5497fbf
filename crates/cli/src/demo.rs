//! `cairn demo`: a node on the embedded store in a fresh folder, seeded with a demo community,
//! printing the URL and credentials and writing them to `DIR/demo-credentials.json` (0600).

use std::path::PathBuf;

use anyhow::{Context, Result};
use cairn_core::model::*;
use cairn_core::provision::*;
use serde::Serialize;

use crate::config::{write_private, Config};
use crate::node;

#[derive(Debug, Serialize)]
struct DemoUser {
    username: String,
    organization: String,
    role: String,
    token: String,
}

fn org(
    short: &str,
    name: &str,
    sector: &str,
    t: OrgType,
    country: &str,
    oob: &str,
) -> PlanOrganization {
    PlanOrganization {
        short_name: short.into(),
        name: name.into(),
        sector: sector.into(),
        org_type: t,
        country: country.into(),
        security_email: Some(format!("soc@{short}.example")),
        security_phone: Some("+49 30 5550 1000".into()),
        out_of_band_contact: Some(oob.into()),
        verified: true,
    }
}

fn user(username: &str, org: &str, display: &str, role: Role) -> PlanUser {
    PlanUser {
        username: username.into(),
        organization: org.into(),
        display_name: Some(display.into()),
        email: Some(format!("{username}@{org}.example")),
        role,
        disabled: false,
        tokens: vec![PlanToken {
            name: "demo".into(),
            hash: None,
            generate: true,
            expires_at: None,
        }],
    }
}

fn member(org: &str, role: CommunityRole, reps: &[&str]) -> PlanMember {
    PlanMember {
        organization: org.into(),
        role,
        representatives: reps.iter().map(|s| s.to_string()).collect(),
    }
}

/// The demo community: an energy-and-water ISAC with a public co-chair and an observer.
pub fn demo_plan() -> Plan {
    Plan {
        organizations: vec![
            org("isac-ops", "Cairn Node Operations", "information sharing", OrgType::Ngo, "BE", "Signal group 'isac-duty'"),
            org("nordgrid", "Nordgrid Energy AG", "energy", OrgType::Private, "DE", "Satellite phone +881 631 555 0100"),
            org("cyber-agency", "National Cyber Agency", "government", OrgType::Public, "DE", "Duty officer via government secure line"),
            org("rhine-water", "Rhine Water Utility", "water", OrgType::Public, "NL", "Radio channel 7, control room"),
            org("alpine-health", "Alpine Hospital Group", "health", OrgType::Private, "AT", "On-call CISO mobile +43 660 555 0199"),
            org("delta-lab", "Delta University CyberLab", "research", OrgType::Academic, "BE", "PGP-signed mail to cert@delta-lab.example"),
        ],
        users: vec![
            user("operator", "isac-ops", "Node Operator", Role::NodeOperator),
            user("nora.chair", "nordgrid", "Nora Lindqvist (chair)", Role::OrgAdmin),
            user("nils.analyst", "nordgrid", "Nils Berg", Role::Analyst),
            user("clara.agency", "cyber-agency", "Clara Vogt (co-chair)", Role::OrgAdmin),
            user("wim.water", "rhine-water", "Wim de Vries", Role::OrgAdmin),
            user("anna.water", "rhine-water", "Anna Jansen", Role::Analyst),
            user("hans.health", "alpine-health", "Hans Gruber", Role::Analyst),
            user("dora.lab", "delta-lab", "Dora Peeters", Role::ReadOnly),
        ],
        communities: vec![PlanCommunity {
            slug: "energy-water-isac".into(),
            name: "Energy & Water ISAC".into(),
            description: "Operators of energy and water infrastructure, with the national cyber agency, exchanging threat information under TLP and coordinating incidents that cross their boundaries.".into(),
            default_tlp: Some(TlpLevel::Green),
            public_feed: true,
            members: vec![
                member("nordgrid", CommunityRole::Chair, &["nora.chair", "nils.analyst"]),
                member("cyber-agency", CommunityRole::CoChair, &["clara.agency"]),
                member("rhine-water", CommunityRole::CoordinationTeam, &["wim.water", "anna.water"]),
                member("alpine-health", CommunityRole::Member, &["hans.health"]),
                member("delta-lab", CommunityRole::Observer, &["dora.lab"]),
            ],
        }],
    }
}

/// `cairn demo`.
pub async fn run(mut config: Config) -> Result<()> {
    let dir = match &config.data_dir {
        Some(d) => d.clone(),
        None => {
            let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
            std::env::temp_dir().join(format!("cairn-demo-{stamp}-{}", std::process::id()))
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize().unwrap_or(dir);
    config.database_url = format!("sqlite://{}", dir.join("cairn.db").display());
    config.master_key = None;
    config.master_key_file = Some(dir.join("master.key"));
    let credentials_path: PathBuf = dir.join("demo-credentials.json");
    let (cairn, store) = node::open(&config, true).await?;
    let plan = demo_plan();
    let report = plan
        .apply(&cairn, &Actor::system("cairn-demo"))
        .await
        .map_err(|e| anyhow::anyhow!("seeding the demo: {e}"))?;
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let listen = config.listen;
    let community = plan.communities[0].slug.clone();
    seed_shares(&cairn, &community).await?;

    // A repeated run over the same folder keeps the credentials written the first time.
    let generated: Vec<DemoUser> = report
        .generated_tokens
        .iter()
        .filter_map(|t| {
            let u = plan.users.iter().find(|u| u.username == t.username)?;
            Some(DemoUser {
                username: t.username.clone(),
                organization: u.organization.clone(),
                role: u.role.as_str().into(),
                token: t.secret.clone(),
            })
        })
        .collect();
    node::serve_with(config, cairn, store, move |addr| {
        let url = format!("{scheme}://{addr}");
        let users = if generated.is_empty() {
            std::fs::read_to_string(&credentials_path)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v.get("users").cloned())
                .unwrap_or_default()
        } else {
            serde_json::to_value(&generated).unwrap_or_default()
        };
        let creds = serde_json::json!({
            "url": url,
            "data_dir": dir.display().to_string(),
            "community": community,
            "users": users,
        });
        if let Err(e) = write_private(&credentials_path, &format!("{creds:#}\n")) {
            eprintln!("warning: {e:#}");
        }
        println!("Cairn demo is running at {url} (listening on {listen})");
        println!("Data folder: {}", dir.display());
        println!("Credentials: {}", credentials_path.display());
        println!();
        println!("{:<14} {:<14} {:<14} token", "user", "organization", "role");
        for u in users.as_array().into_iter().flatten() {
            let f = |k: &str| u.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            println!("{:<14} {:<14} {:<14} {}", f("username"), f("organization"), f("role"), f("token"));
        }
        println!();
        let first = users.get(1).or_else(|| users.get(0)).and_then(|u| u.get("token")).and_then(|t| t.as_str()).unwrap_or("TOKEN");
        println!("Try:  curl -H 'Authorization: Bearer {first}' {url}/api/v1/communities/{community}/members");
        println!("Stop with Ctrl-C.");
    })
    .await
}

/// A few shares at each marking, so the demo's TAXII collection has something to show.
/// The demo's shares: who publishes, the envelope, and whether anonymously.
fn demo_shares() -> Vec<(&'static str, serde_json::Value, bool)> {
    use serde_json::json;
    let ext = cairn_core::sharing::AUDIENCE_EXTENSION.to_string();
    let indicator = |id: &str, name: &str, pattern: &str, marking: &str| {
        json!({
            "type": "indicator", "spec_version": "2.1", "id": id,
            "created": "2026-11-20T08:00:00.000Z", "modified": "2026-11-20T08:00:00.000Z",
            "name": name, "description": format!("{name}. Shared in the demo community."), "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-11-20T08:00:00Z",
            "indicator_types": ["malicious-activity"], "object_marking_refs": [marking]
        })
    };
    let mut amber = indicator(
        "indicator--3f1a2b4c-5d6e-4f70-8a91-b2c3d4e5f601",
        "Phishing domain targeting water SCADA vendors",
        "[domain-name:value = 'scada-update.example']",
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    );
    amber["extensions"] = json!({ext.clone(): {"extension_type": "property-extension", "organizations": ["rhine-water", "cyber-agency"]}});
    let mut red = indicator(
        "indicator--3f1a2b4c-5d6e-4f70-8a91-b2c3d4e5f602",
        "Compromised engineering workstation at pumping station",
        "[ipv4-addr:value = '198.51.100.7']",
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    );
    red["extensions"] = json!({ext: {"extension_type": "property-extension", "users": ["wim.water", "clara.agency"]}});
    vec![
        (
            "nils.analyst",
            json!({"objects": [
                indicator("indicator--3f1a2b4c-5d6e-4f70-8a91-b2c3d4e5f603", "Known ransomware C2", "[ipv4-addr:value = '203.0.113.45']", "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"),
                indicator("indicator--3f1a2b4c-5d6e-4f70-8a91-b2c3d4e5f604", "Grid operator credential phishing", "[url:value = 'https://login.nordgrid-portal.example/']", "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"),
                amber,
            ]}),
            false,
        ),
        ("anna.water", json!({"objects": [red]}), false),
        // Published anonymously: recipients see the community's pseudonym, not the source.
        (
            "hans.health",
            json!({"objects": [indicator(
                "indicator--3f1a2b4c-5d6e-4f70-8a91-b2c3d4e5f605",
                "Ransomware loader hash seen on clinical file servers",
                "[file:hashes.'SHA-256' = '4a5f3c2e1d0b9a8776655443322110ffeeddccbbaa99887766554433221100aa']",
                "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            )]}),
            true,
        ),
    ]
}

/// Publish the demo shares (idempotent: a repeated run finds them as duplicates).
pub async fn seed_shares(cairn: &cairn_core::Cairn, community: &str) -> Result<()> {
    for (username, envelope, anonymous) in demo_shares() {
        let user = cairn
            .store()
            .user_by_name(username)
            .await?
            .ok_or_else(|| anyhow::anyhow!("demo user {username} missing"))?;
        let body = serde_json::to_vec(&envelope)?;
        let (_, report) = cairn
            .share_envelope(
                &Actor::for_user(&user),
                community,
                &body,
                cairn_core::exchange::ShareOptions { anonymous },
            )
            .await?;
        if let Some(r) = report
            .results
            .iter()
            .find(|r| r.outcome == cairn_core::exchange::ResultKind::Refused)
        {
            anyhow::bail!("demo share refused: {:?}", r.message);
        }
    }
    Ok(())
}
