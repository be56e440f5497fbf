//! The most important test: on random communities, markings and audiences, every read path
//! returns exactly what the core's entitlement rule allows, for every user and for anonymous
//! readers, on SQLite and on PostgreSQL.
//!
//! Paths checked: TAXII objects (all versions and latest, paged with `next`), manifest, object by
//! id, versions, REST list (paged with the cursor), the export bundle, full-text search and exact
//! value lookup (paged), the correlations and signatures of every object; correlation notices
//! reach only the organization whose object they are about. Then, on random feedback
//! (sightings, opinions, comments and answers with inherited or stricter markings) and documents
//! with attachments: the manifest, every object's comment thread, its feedback aggregate, each
//! user's notifications and every attachment's content.
//!
//! Every object holds the same value and the same word, so search, lookup and correlation must
//! each return exactly the latest version the reader may see of every object. The last version
//! of an object may carry another marking than the earlier ones, so "the latest version the
//! reader may see" is sometimes an older one.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::model::{Actor, Role, TlpLevel};
use cairn_core::service::CommunityPatch;
use cairn_core::sharing::{entitled, VersionFacts, Viewer};
use cairn_core::store::Store;
use cairn_testkit::{Engine, TestNode};
use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

const AUDIENCE: &str = "extension-definition--39d4868d-fa3b-477b-b138-a83c8ea8e300";
const TAXII: &str = "application/taxii+json;version=2.1";

/// Marking refs and the level they mean (none: the community default, GREEN).
const MARKINGS: &[(Option<&str>, TlpLevel)] = &[
    (None, TlpLevel::Green),
    (
        Some("marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"),
        TlpLevel::Clear,
    ),
    (
        Some("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"),
        TlpLevel::Clear,
    ), // TLP 1.0 WHITE
    (
        Some("marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"),
        TlpLevel::Green,
    ),
    (
        Some("marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"),
        TlpLevel::Amber,
    ),
    (
        Some("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"),
        TlpLevel::Amber,
    ), // TLP 1.0 AMBER
    (
        Some("marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"),
        TlpLevel::AmberStrict,
    ),
    (
        Some("marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"),
        TlpLevel::Red,
    ),
];
const WRITERS: &[&str] = &["alpha-admin", "alpha-analyst", "beta-admin", "beta-analyst"];
const READERS: &[&str] = &[
    "operator",
    "alpha-admin",
    "alpha-analyst",
    "alpha-reader",
    "beta-admin",
    "beta-analyst",
    "gamma-admin",
];
const MEMBER_ORGS: &[&str] = &["alpha", "beta"];
const MEMBER_USERS: &[&str] = &[
    "alpha-admin",
    "alpha-analyst",
    "alpha-reader",
    "beta-admin",
    "beta-analyst",
];

#[derive(Debug, Clone)]
struct Share {
    writer: usize,
    marking: usize,
    /// The marking of the last version, when there are several (default: `marking`).
    last_marking: Option<usize>,
    orgs: Vec<usize>,
    users: Vec<usize>,
    versions: usize,
}

impl Share {
    fn marking_of(&self, version: usize) -> usize {
        match self.last_marking {
            Some(m) if version + 1 == self.versions && self.versions > 1 => m,
            _ => self.marking,
        }
    }
}

fn share() -> impl Strategy<Value = Share> {
    (
        0..WRITERS.len(),
        0..MARKINGS.len(),
        proptest::option::of(0..MARKINGS.len()),
        proptest::collection::vec(0..MEMBER_ORGS.len(), 0..3),
        proptest::collection::vec(0..MEMBER_USERS.len(), 0..3),
        1usize..4,
    )
        .prop_map(
            |(writer, marking, last_marking, orgs, users, versions)| Share {
                writer,
                marking,
                last_marking,
                orgs,
                users,
                versions,
            },
        )
}

/// (object id, version) pairs.
type Seen = BTreeSet<(String, String)>;

struct Expected {
    /// Per object: its versions with the facts the rule needs.
    objects: BTreeMap<String, Vec<(String, Uuid, TlpLevel)>>,
    audience_orgs: BTreeMap<String, Vec<Uuid>>,
    audience_users: BTreeMap<String, Vec<Uuid>>,
}

impl Expected {
    fn visible(&self, viewer: &Viewer) -> (Seen, Seen) {
        let mut all = Seen::new();
        let mut last = Seen::new();
        for (id, versions) in &self.objects {
            let orgs = &self.audience_orgs[id];
            let users = &self.audience_users[id];
            let mine: Vec<&(String, Uuid, TlpLevel)> = versions
                .iter()
                .filter(|(_, src, tlp)| {
                    entitled(
                        viewer,
                        &VersionFacts {
                            source_org: *src,
                            tlp: *tlp,
                            audience_orgs: orgs,
                            audience_users: users,
                        },
                    )
                })
                .collect();
            for (v, _, _) in &mine {
                all.insert((id.clone(), v.clone()));
            }
            if let Some((v, _, _)) = mine.iter().max_by_key(|(v, _, _)| v.clone()) {
                last.insert((id.clone(), v.clone()));
            }
        }
        (all, last)
    }
}

/// A TAXII GET as `user` (HTTP Basic with the user's token), or anonymous.
fn taxii_get(node: &TestNode, user: Option<&str>, path: &str) -> reqwest::RequestBuilder {
    let req = node.client.get(node.url(path)).header("accept", TAXII);
    match user {
        Some(u) => req.basic_auth(u, Some(node.seed.token(u))),
        None => req,
    }
}

async fn taxii_pages(
    node: &TestNode,
    user: Option<&str>,
    path: &str,
    query: &str,
    key: &str,
) -> Seen {
    let mut out = Seen::new();
    let mut next: Option<String> = None;
    loop {
        let mut url = format!("{path}?limit=4{query}");
        if let Some(n) = &next {
            url.push_str(&format!("&next={n}"));
        }
        let r = taxii_get(node, user, &url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let body: Value = r.json().await.unwrap();
        for o in body
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let version = o
                .get("version")
                .or_else(|| o.get("modified"))
                .and_then(Value::as_str)
                .unwrap()
                .to_string();
            out.insert((o["id"].as_str().unwrap().to_string(), version));
        }
        match body.get("next").and_then(Value::as_str) {
            Some(n) if body["more"] == json!(true) => next = Some(n.to_string()),
            _ => {
                assert!(body.get("more").is_none_or(|m| m == &json!(false)));
                return out;
            }
        }
    }
}

async fn rest_pages(node: &TestNode, user: &str) -> Seen {
    let mut out = Seen::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = "/api/v1/communities/test-isac/objects?versions=all&limit=3".to_string();
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let r = node
            .client
            .get(node.url(&url))
            .bearer_auth(node.seed.token(user))
            .send()
            .await
            .unwrap();
        if r.status() == 404 {
            return out;
        }
        let body: Value = r.json().await.unwrap();
        for o in body["objects"].as_array().unwrap() {
            out.insert((
                o["id"].as_str().unwrap().to_string(),
                o["version"].as_str().unwrap().to_string(),
            ));
        }
        match body.get("next_cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

async fn scenario(
    engine: Engine,
    shares: Vec<Share>,
    public_feed: bool,
    feedback: Vec<Feedback>,
    docs: Vec<Doc>,
) {
    let node = TestNode::start(engine).await;
    let store = node.store.clone();
    let community = store.community_by_slug("test-isac").await.unwrap().unwrap();
    if public_feed {
        let patch = CommunityPatch {
            public_feed: Some(true),
            ..Default::default()
        };
        node.cairn
            .update_community(&Actor::system("test"), "test-isac", patch)
            .await
            .unwrap();
    }
    let org_id = |name: &str| {
        let store = store.clone();
        let name = name.to_string();
        async move {
            store
                .organization_by_short_name(&name)
                .await
                .unwrap()
                .unwrap()
                .id
        }
    };
    let mut expected = Expected {
        objects: BTreeMap::new(),
        audience_orgs: BTreeMap::new(),
        audience_users: BTreeMap::new(),
    };
    for (i, s) in shares.iter().enumerate() {
        let writer = store
            .user_by_name(WRITERS[s.writer])
            .await
            .unwrap()
            .unwrap();
        let id = format!("indicator--{}", Uuid::new_v4());
        let orgs: BTreeSet<&str> = s.orgs.iter().map(|o| MEMBER_ORGS[*o]).collect();
        let users: BTreeSet<&str> = s.users.iter().map(|u| MEMBER_USERS[*u]).collect();
        let mut objects = Vec::new();
        for v in 0..s.versions {
            let (marking, _) = MARKINGS[s.marking_of(v)];
            let modified = format!("2026-0{}-01T00:00:00.000Z", v + 1);
            let mut o = json!({"type": "indicator", "spec_version": "2.1", "id": id, "created": "2026-01-01T00:00:00.000Z",
                "modified": modified, "name": format!("share {i}"), "pattern": "[ipv4-addr:value = '192.0.2.1']",
                "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"});
            if let Some(m) = marking {
                o["object_marking_refs"] = json!([m]);
            }
            if !orgs.is_empty() || !users.is_empty() {
                o["extensions"] = json!({AUDIENCE: {"extension_type": "property-extension", "organizations": orgs, "users": users}});
            }
            objects.push(o);
        }
        let body = serde_json::to_vec(&json!({"objects": objects})).unwrap();
        let (_, report) = node
            .cairn
            .share_envelope(
                &Actor::for_user(&writer),
                "test-isac",
                &body,
                Default::default(),
            )
            .await
            .unwrap();
        let refused = report
            .results
            .iter()
            .filter(|r| r.outcome == cairn_core::exchange::ResultKind::Refused)
            .count();
        // RED without recipients is refused.
        let stored: Vec<(usize, TlpLevel)> = (0..s.versions)
            .map(|v| (v, MARKINGS[s.marking_of(v)].1))
            .filter(|(_, tlp)| *tlp != TlpLevel::Red || !users.is_empty())
            .collect();
        assert_eq!(refused, s.versions - stored.len(), "{report:?}");
        if stored.is_empty() {
            continue;
        }
        let mut aorgs = Vec::new();
        for o in &orgs {
            aorgs.push(org_id(o).await);
        }
        let mut ausers = Vec::new();
        for u in &users {
            ausers.push(store.user_by_name(u).await.unwrap().unwrap().id);
        }
        expected.audience_orgs.insert(id.clone(), aorgs);
        expected.audience_users.insert(id.clone(), ausers);
        expected.objects.insert(
            id.clone(),
            stored
                .iter()
                .map(|(v, tlp)| {
                    (
                        format!("2026-0{}-01T00:00:00.000Z", v + 1),
                        writer.org_id,
                        *tlp,
                    )
                })
                .collect(),
        );
    }

    let col = format!("/taxii2/test-isac/collections/{}/", community.id);
    let members: BTreeSet<Uuid> = store
        .memberships(community.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.org_id)
        .collect();
    for reader in READERS
        .iter()
        .map(|r| Some(*r))
        .chain(std::iter::once(None))
    {
        let viewer = match reader {
            Some(name) => {
                let u = store.user_by_name(name).await.unwrap().unwrap();
                Viewer {
                    user: Some(u.id),
                    org: Some(u.org_id),
                    member: members.contains(&u.org_id),
                    public_feed,
                }
            }
            None => Viewer::anonymous(public_feed),
        };
        let (want_all, want_last) = expected.visible(&viewer);
        let can_read = viewer.member || public_feed;
        let who = reader.unwrap_or("anonymous");
        if !can_read {
            // The collection itself is hidden; nothing leaks through any path.
            let req = taxii_get(&node, reader, &format!("{col}objects/"));
            let status = req.send().await.unwrap().status();
            assert!(status == 404 || status == 401, "{who}: {status}");
            assert!(want_all
                .iter()
                .all(|(id, _)| expected.objects.contains_key(id)));
            if let Some(u) = reader {
                assert!(rest_pages(&node, u).await.is_empty(), "{who}: REST");
                assert!(
                    search_pages(&node, u, SEARCH).await.is_empty(),
                    "{who}: search"
                );
                assert!(
                    search_pages(&node, u, LOOKUP).await.is_empty(),
                    "{who}: lookup"
                );
                for id in expected.objects.keys() {
                    assert_eq!(
                        correlated(&node, u, id).await,
                        None,
                        "{who}: correlations of {id}"
                    );
                }
            }
            continue;
        }
        assert_eq!(
            taxii_pages(
                &node,
                reader,
                &format!("{col}objects/"),
                "&match[version]=all",
                "objects"
            )
            .await,
            want_all,
            "{who}: TAXII objects, all versions"
        );
        assert_eq!(
            taxii_pages(&node, reader, &format!("{col}objects/"), "", "objects").await,
            want_last,
            "{who}: TAXII objects, latest"
        );
        assert_eq!(
            taxii_pages(
                &node,
                reader,
                &format!("{col}manifest/"),
                "&match[version]=all",
                "objects"
            )
            .await,
            want_all,
            "{who}: manifest"
        );
        for id in expected.objects.keys() {
            let mine: Seen = want_all.iter().filter(|(i, _)| i == id).cloned().collect();
            if let Some(u) = reader {
                // Signatures: exactly the versions the reader may see, or 404.
                let r = node
                    .client
                    .get(node.url(&format!(
                        "/api/v1/communities/test-isac/objects/{id}/signatures"
                    )))
                    .bearer_auth(node.seed.token(u))
                    .send()
                    .await
                    .unwrap();
                if mine.is_empty() {
                    assert_eq!(r.status(), 404, "{who}: signatures of {id}");
                } else {
                    let sigs: Value = r.json().await.unwrap();
                    let signed: Seen = sigs
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| (id.clone(), s["version"].as_str().unwrap().to_string()))
                        .collect();
                    assert_eq!(signed, mine, "{who}: signatures of {id}");
                }
            }
            let req = taxii_get(
                &node,
                reader,
                &format!("{col}objects/{id}/?match[version]=all"),
            );
            let r = req.send().await.unwrap();
            if mine.is_empty() {
                assert_eq!(
                    r.status(),
                    404,
                    "{who}: object {id} must not exist for them"
                );
                let req = taxii_get(&node, reader, &format!("{col}objects/{id}/versions/"));
                assert_eq!(
                    req.send().await.unwrap().status(),
                    404,
                    "{who}: versions of {id}"
                );
            } else {
                assert_eq!(r.status(), 200);
                let got = taxii_pages(
                    &node,
                    reader,
                    &format!("{col}objects/{id}/"),
                    "&match[version]=all",
                    "objects",
                )
                .await;
                assert_eq!(got, mine, "{who}: object {id}");
                let req = taxii_get(&node, reader, &format!("{col}objects/{id}/versions/"));
                let body: Value = req.send().await.unwrap().json().await.unwrap();
                let versions: Seen = body["versions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| (id.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                assert_eq!(versions, mine, "{who}: versions of {id}");
            }
        }
        if let Some(u) = reader {
            assert_eq!(rest_pages(&node, u).await, want_all, "{who}: REST list");
            let user = store.user_by_name(u).await.unwrap().unwrap();
            let mut bundle = String::new();
            node.cairn
                .export_bundle(&Actor::for_user(&user), "test-isac", true, |s| {
                    bundle.push_str(s);
                    Ok(())
                })
                .await
                .unwrap();
            let bundle: Value = serde_json::from_str(&bundle).unwrap();
            let exported: Seen = bundle["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    (
                        o["id"].as_str().unwrap().to_string(),
                        o["modified"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            assert_eq!(exported, want_all, "{who}: export");
            // Every object holds the word and the value: search and lookup find exactly the
            // latest version the reader may see of each.
            assert_eq!(
                search_pages(&node, u, SEARCH).await,
                want_last,
                "{who}: search"
            );
            assert_eq!(
                search_pages(&node, u, LOOKUP).await,
                want_last,
                "{who}: lookup"
            );
            // The correlations of an object are every other object the reader may see.
            for id in expected.objects.keys() {
                let got = correlated(&node, u, id).await;
                if want_last.iter().any(|(i, _)| i == id) {
                    let others: Seen = want_last.iter().filter(|(i, _)| i != id).cloned().collect();
                    assert_eq!(got, Some(others), "{who}: correlations of {id}");
                } else {
                    assert_eq!(
                        got, None,
                        "{who}: correlations of {id} must not exist for them"
                    );
                }
            }
        }
    }
    // Correlation notices reach only the admins and analysts of the organization whose object
    // they are about.
    node.cairn.settle_correlation().await;
    let notices = sqlx::query_as::<_, (String, String)>(
        "SELECT user_id, object_id FROM notifications WHERE kind = 'correlation'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    for (user, object) in notices {
        let user = store
            .user(Uuid::parse_str(&user).unwrap())
            .await
            .unwrap()
            .unwrap();
        let source = expected.objects[&object][0].1;
        assert_eq!(
            user.org_id, source,
            "notice about {object} to {}",
            user.username
        );
        assert!(matches!(user.role, Role::OrgAdmin | Role::Analyst));
    }
    feedback_paths(&node, &expected, public_feed, feedback, docs).await;
    node.stop().await;
}

const LEVELS: [TlpLevel; 5] = [
    TlpLevel::Clear,
    TlpLevel::Green,
    TlpLevel::Amber,
    TlpLevel::AmberStrict,
    TlpLevel::Red,
];

/// Who gives feedback: the writers, and gamma's admin once gamma has joined.
const FEEDBACK_WRITERS: &[&str] = &[
    "alpha-admin",
    "alpha-analyst",
    "beta-admin",
    "beta-analyst",
    "gamma-admin",
];

/// A piece of feedback: on which shared object, by whom, what, and the marking asked for.
#[derive(Debug, Clone)]
struct Feedback {
    target: usize,
    writer: usize,
    /// 0 sighting, 1 opinion, 2 comment, 3 answer to an earlier comment.
    kind: u8,
    tlp: Option<usize>,
    anonymous: bool,
    parent: usize,
    /// With an AMBER level, name this organization; with RED, this user (of those below).
    narrow: Option<usize>,
}

const NARROW_ORGS: [&str; 3] = ["alpha", "beta", "gamma"];
const NARROW_USERS: [&str; 6] = [
    "alpha-admin",
    "alpha-analyst",
    "alpha-reader",
    "beta-admin",
    "beta-analyst",
    "gamma-admin",
];

fn feedback() -> impl Strategy<Value = Feedback> {
    (
        0usize..12,
        0..FEEDBACK_WRITERS.len(),
        0u8..4,
        proptest::option::of(0..LEVELS.len()),
        any::<bool>(),
        0usize..8,
        proptest::option::of(0usize..6),
    )
        .prop_map(
            |(target, writer, kind, tlp, anonymous, parent, narrow)| Feedback {
                target,
                writer,
                kind,
                tlp,
                anonymous,
                parent,
                narrow,
            },
        )
}

/// A document with one attachment.
#[derive(Debug, Clone)]
struct Doc {
    writer: usize,
    tlp: usize,
    orgs: Vec<usize>,
    users: Vec<usize>,
}

fn doc() -> impl Strategy<Value = Doc> {
    (
        0..WRITERS.len(),
        0..LEVELS.len(),
        proptest::collection::vec(0..MEMBER_ORGS.len(), 0..2),
        proptest::collection::vec(0..MEMBER_USERS.len(), 0..2),
    )
        .prop_map(|(writer, tlp, orgs, users)| Doc {
            writer,
            tlp,
            orgs,
            users,
        })
}

/// A stored object of the feedback phase, with the facts the rule needs.
#[derive(Debug, Clone)]
struct Item {
    kind: &'static str,
    target: String,
    source_org: Uuid,
    /// The levels of its versions.
    tlps: Vec<TlpLevel>,
    orgs: Vec<Uuid>,
    users: Vec<Uuid>,
    anonymous: bool,
}

impl Item {
    /// The level of the latest version `viewer` may see.
    fn latest_seen_tlp(&self, viewer: &Viewer) -> Option<TlpLevel> {
        self.tlps.iter().rev().copied().find(|tlp| {
            entitled(
                viewer,
                &VersionFacts {
                    source_org: self.source_org,
                    tlp: *tlp,
                    audience_orgs: &self.orgs,
                    audience_users: &self.users,
                },
            )
        })
    }

    /// Whether `viewer` may see a version of this item at level `tlp` (with its audience).
    fn seen_at(&self, viewer: &Viewer, tlp: TlpLevel) -> bool {
        entitled(
            viewer,
            &VersionFacts {
                source_org: self.source_org,
                tlp,
                audience_orgs: &self.orgs,
                audience_users: &self.users,
            },
        )
    }

    fn seen_by(&self, viewer: &Viewer) -> bool {
        self.tlps.iter().any(|tlp| {
            entitled(
                viewer,
                &VersionFacts {
                    source_org: self.source_org,
                    tlp: *tlp,
                    audience_orgs: &self.orgs,
                    audience_users: &self.users,
                },
            )
        })
    }
}

fn uuids(v: &Value) -> Vec<Uuid> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap().parse().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// Feedback and documents on the shared objects, then every feedback path against the rule.
async fn feedback_paths(
    node: &TestNode,
    expected: &Expected,
    public_feed: bool,
    feedback: Vec<Feedback>,
    docs: Vec<Doc>,
) {
    let store = node.store.clone();
    let community = store.community_by_slug("test-isac").await.unwrap().unwrap();
    // gamma joins: a member outside every audience named so far, so feedback that widened an
    // audience would show.
    let r = node
        .as_user(
            reqwest::Method::POST,
            "alpha-admin",
            "/api/v1/communities/test-isac/members",
        )
        .json(&json!({"organization": "gamma"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let members: BTreeSet<Uuid> = store
        .memberships(community.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.org_id)
        .collect();
    let mut users = BTreeMap::new();
    for name in READERS {
        users.insert(*name, store.user_by_name(name).await.unwrap().unwrap());
    }
    let viewer_of = |name: &str| {
        let u = &users[name];
        Viewer {
            user: Some(u.id),
            org: Some(u.org_id),
            member: members.contains(&u.org_id),
            public_feed,
        }
    };
    let org_of_name = |short: &str| {
        users
            .values()
            .find(|u| u.username.starts_with(short))
            .unwrap()
            .org_id
    };
    // The shared objects, as items.
    let mut items: BTreeMap<String, Item> = BTreeMap::new();
    for (id, versions) in &expected.objects {
        items.insert(
            id.clone(),
            Item {
                kind: "indicator",
                target: String::new(),
                source_org: versions[0].1,
                tlps: versions.iter().map(|v| v.2).collect(),
                orgs: expected.audience_orgs[id].clone(),
                users: expected.audience_users[id].clone(),
                anonymous: false,
            },
        );
    }
    let targets: Vec<String> = expected.objects.keys().cloned().collect();
    // Per user, the feedback items they were told of (with repetitions).
    let mut told: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    // Per target, its comments in order; per (user, target), the user's opinion.
    let mut comments: BTreeMap<String, Vec<(String, &str)>> = BTreeMap::new();
    let mut opinions: BTreeMap<(&str, String), String> = BTreeMap::new();
    for f in feedback.iter().filter(|_| !targets.is_empty()) {
        let target = targets[f.target % targets.len()].clone();
        let t = items[&target].clone();
        let writer = FEEDBACK_WRITERS[f.writer];
        let wv = viewer_of(writer);
        let base = format!("/api/v1/communities/test-isac/objects/{target}");
        let mut body = json!({});
        if let Some(l) = f.tlp {
            body["tlp"] = json!(LEVELS[l]);
        }
        // A narrower audience: one organization (AMBER) or one user (RED). It is accepted only
        // if that recipient may see what the feedback answers.
        let mut named_ok = true;
        let parent = match (f.kind, comments.get(&target)) {
            (3, Some(list)) if !list.is_empty() => Some(list[f.parent % list.len()].clone()),
            _ => None,
        };
        let (method, path, kind) = match f.kind {
            0 => {
                body["anonymous"] = json!(f.anonymous);
                (
                    reqwest::Method::POST,
                    format!("{base}/sightings"),
                    "sighting",
                )
            }
            1 => {
                body["anonymous"] = json!(f.anonymous);
                body["opinion"] = json!(["useful", "not_useful", "false_positive"][f.parent % 3]);
                (reqwest::Method::PUT, format!("{base}/opinion"), "opinion")
            }
            _ => {
                body["text"] = json!(format!("comment by {writer}"));
                if let Some((p, _)) = &parent {
                    body["in_reply_to"] = json!(p);
                }
                (reqwest::Method::POST, format!("{base}/comments"), "comment")
            }
        };
        let floor = match &parent {
            Some((p, _)) => items[p].clone(),
            None => t.clone(),
        };
        // What the writer answers is the latest version it may see, which may be older than
        // the last one (whose marking may differ).
        let floor_tlp = floor
            .latest_seen_tlp(&wv)
            .unwrap_or(*floor.tlps.last().unwrap());
        match (f.tlp.map(|l| LEVELS[l]), f.narrow) {
            (Some(TlpLevel::Amber | TlpLevel::AmberStrict), Some(n)) => {
                let org = NARROW_ORGS[n % 3];
                body["organizations"] = json!([org]);
                // Any member of that organization not named anywhere.
                let probe = Viewer {
                    user: Some(Uuid::new_v4()),
                    org: Some(org_of_name(org)),
                    member: true,
                    public_feed,
                };
                named_ok = floor.seen_at(&probe, floor_tlp);
            }
            (Some(TlpLevel::Red), Some(n)) => {
                let u = NARROW_USERS[n];
                body["users"] = json!([u]);
                named_ok = floor.seen_at(&viewer_of(u), floor_tlp);
            }
            _ => {}
        }
        let r = node
            .as_user(method, writer, &path)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        // Refused: an answer to a comment the writer cannot see, a less strict level, an opinion
        // of the source's own object, recipients who may not see the version it answers (the
        // latest the writer may see).
        let refused = parent.as_ref().is_some_and(|(p, _)| !items[p].seen_by(&wv))
            || f.tlp.is_some_and(|l| LEVELS[l] < floor_tlp)
            || (kind == "opinion" && t.source_org == users[writer].org_id)
            || !named_ok;
        // A replaced opinion keeps the anonymity of the first one.
        let flips = kind == "opinion"
            && opinions
                .get(&(writer, target.clone()))
                .is_some_and(|id| items[id].anonymous != f.anonymous);
        let expect = if !t.seen_by(&wv) {
            404
        } else if flips {
            409
        } else if refused {
            422
        } else {
            200
        };
        assert_eq!(
            status.is_success(),
            expect == 200,
            "{writer} {kind} on {target} ({body}): {status} {v}"
        );
        if expect != 200 {
            assert_eq!(status.as_u16(), expect, "{writer} {kind} ({body}): {v}");
            continue;
        }
        let id = v["id"].as_str().unwrap().to_string();
        let tlp: TlpLevel = serde_json::from_value(v["tlp"].clone()).unwrap();
        assert!(tlp >= floor_tlp, "{v}");
        let (orgs, ausers) = (
            uuids(&v["audience"]["organizations"]),
            uuids(&v["audience"]["users"]),
        );
        let item = match items.get_mut(&id) {
            Some(existing) => {
                // A replaced opinion: a new version, and the audience of the new one.
                assert_eq!(kind, "opinion");
                assert_eq!(opinions.get(&(writer, target.clone())), Some(&id));
                existing.tlps.push(tlp);
                existing.orgs = orgs;
                existing.users = ausers;
                existing.clone()
            }
            None => {
                let item = Item {
                    kind,
                    target: target.clone(),
                    source_org: users[writer].org_id,
                    tlps: vec![tlp],
                    orgs,
                    users: ausers,
                    anonymous: f.anonymous && kind != "comment",
                };
                items.insert(id.clone(), item.clone());
                item
            }
        };
        match kind {
            "comment" => comments
                .entry(target.clone())
                .or_default()
                .push((id.clone(), writer)),
            "opinion" => {
                opinions.insert((writer, target.clone()), id.clone());
            }
            _ => {}
        }
        // Who is told: the source's admins and analysts, the author of the answered comment;
        // only if the rule lets them read this version.
        let mut candidates: Vec<&str> = Vec::new();
        if t.source_org != users[writer].org_id {
            candidates.extend(
                [
                    "alpha-admin",
                    "alpha-analyst",
                    "beta-admin",
                    "beta-analyst",
                    "gamma-admin",
                ]
                .into_iter()
                .filter(|u| users[u].org_id == t.source_org),
            );
        }
        if let Some((_, author)) = &parent {
            if !candidates.contains(author) {
                candidates.push(author);
            }
        }
        let latest = Item {
            tlps: vec![tlp],
            ..item
        };
        for c in candidates {
            if c != writer && latest.seen_by(&viewer_of(c)) {
                told.entry(c).or_default().push(id.clone());
            }
        }
    }
    // Documents with one attachment each.
    let mut artifacts = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let writer = WRITERS[d.writer];
        let tlp = LEVELS[d.tlp];
        let orgs: BTreeSet<&str> = d.orgs.iter().map(|o| MEMBER_ORGS[*o]).collect();
        let dusers: BTreeSet<&str> = d.users.iter().map(|u| MEMBER_USERS[*u]).collect();
        let r = node
            .as_user(reqwest::Method::POST, writer, "/api/v1/communities/test-isac/documents")
            .json(&json!({"title": format!("document {i}"), "tlp": tlp, "organizations": orgs, "users": dusers,
                "attachments": [{"filename": "notes.txt", "mime_type": "text/plain", "content": "aW9jcw=="}]}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        if tlp == TlpLevel::Red && dusers.is_empty() {
            assert_eq!(status, 422, "{v}");
            continue;
        }
        assert_eq!(status, 201, "{v}");
        let item = Item {
            kind: "document",
            target: String::new(),
            source_org: users[writer].org_id,
            tlps: vec![tlp],
            orgs: orgs.iter().map(|o| org_of_name(o)).collect(),
            users: dusers.iter().map(|u| users[u].id).collect(),
            anonymous: false,
        };
        items.insert(v["id"].as_str().unwrap().to_string(), item.clone());
        let aid = v["attachments"][0]["id"].as_str().unwrap().to_string();
        items.insert(aid.clone(), item);
        artifacts.push(aid);
    }

    let col = format!("/taxii2/test-isac/collections/{}/", community.id);
    for reader in READERS
        .iter()
        .map(|r| Some(*r))
        .chain(std::iter::once(None))
    {
        let viewer = match reader {
            Some(name) => viewer_of(name),
            None => Viewer::anonymous(public_feed),
        };
        let who = reader.unwrap_or("anonymous");
        // Feedback is never seen by anyone who may not see what it is about (its writer's
        // organization aside).
        for (id, item) in &items {
            if !item.target.is_empty() && item.seen_by(&viewer) {
                assert!(
                    items[&item.target].seen_by(&viewer) || viewer.org == Some(item.source_org),
                    "{who} sees {id} but not {}",
                    item.target
                );
            }
        }
        if !(viewer.member || public_feed) {
            if let Some(u) = reader {
                for target in &targets {
                    let r = node
                        .as_user(
                            reqwest::Method::GET,
                            u,
                            &format!("/api/v1/communities/test-isac/objects/{target}/comments"),
                        )
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 404, "{who}: comments of {target}");
                }
            }
            continue;
        }
        let want: BTreeSet<String> = items
            .iter()
            .filter(|(_, i)| i.seen_by(&viewer))
            .map(|(id, _)| id.clone())
            .collect();
        let got: BTreeSet<String> =
            taxii_pages(node, reader, &format!("{col}manifest/"), "", "objects")
                .await
                .into_iter()
                .map(|(id, _)| id)
                .collect();
        assert_eq!(got, want, "{who}: manifest with feedback and documents");
        let Some(u) = reader else { continue };
        for target in &targets {
            let base = format!("/api/v1/communities/test-isac/objects/{target}");
            let about = |kind: &str| -> Vec<(&String, &Item)> {
                items
                    .iter()
                    .filter(|(_, i)| i.kind == kind && &i.target == target && i.seen_by(&viewer))
                    .collect()
            };
            let r = node
                .as_user(reqwest::Method::GET, u, &format!("{base}/comments"))
                .send()
                .await
                .unwrap();
            if !items[target].seen_by(&viewer) {
                assert_eq!(r.status(), 404, "{who}: comments of {target}");
                let r = node
                    .as_user(reqwest::Method::GET, u, &format!("{base}/feedback"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 404, "{who}: feedback on {target}");
                continue;
            }
            let thread: Value = r.json().await.unwrap();
            let got: BTreeSet<&str> = thread
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap())
                .collect();
            let want: BTreeSet<&str> = about("comment").iter().map(|(id, _)| id.as_str()).collect();
            assert_eq!(got, want, "{who}: thread of {target}");
            let r = node
                .as_user(reqwest::Method::GET, u, &format!("{base}/feedback"))
                .send()
                .await
                .unwrap();
            let sum: Value = r.json().await.unwrap();
            let sightings = about("sighting");
            let opinions = about("opinion");
            assert_eq!(
                sum["sightings"]["sightings"],
                sightings.len(),
                "{who}: sightings of {target}: {sum}"
            );
            assert_eq!(sum["comments"], want.len(), "{who}: {sum}");
            let o = &sum["opinions"];
            let counted = ["useful", "not_useful", "false_positive", "neutral"]
                .iter()
                .map(|k| o[k].as_u64().unwrap() as usize)
                .sum::<usize>();
            assert_eq!(
                counted,
                opinions.len(),
                "{who}: opinions of {target}: {sum}"
            );
            let source = viewer.org == Some(items[target].source_org);
            assert_eq!(sum["source_view"], source);
            let named: BTreeSet<Uuid> = sum["sightings"]["reported_by"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().parse().unwrap())
                .collect();
            let want_named: BTreeSet<Uuid> = if source {
                sightings
                    .iter()
                    .filter(|(_, i)| !i.anonymous)
                    .map(|(_, i)| i.source_org)
                    .collect()
            } else {
                BTreeSet::new()
            };
            assert_eq!(named, want_named, "{who}: who reported {target}");
            assert_eq!(
                sum["sightings"]["anonymous"],
                sightings.iter().filter(|(_, i)| i.anonymous).count(),
                "{who}: {sum}"
            );
        }
        node.cairn.settle_correlation().await;
        let r = node
            .as_user(reqwest::Method::GET, u, "/api/v1/notifications?limit=500")
            .send()
            .await
            .unwrap();
        let notes: Value = r.json().await.unwrap();
        let mut got: Vec<String> = notes
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "feedback")
            .map(|n| n["body"]["item"].as_str().unwrap().to_string())
            .collect();
        got.sort();
        let mut want = told.get(u).cloned().unwrap_or_default();
        want.sort();
        assert_eq!(got, want, "{who}: feedback notifications");
        for aid in &artifacts {
            let r = node
                .as_user(
                    reqwest::Method::GET,
                    u,
                    &format!("/api/v1/communities/test-isac/objects/{aid}/content"),
                )
                .send()
                .await
                .unwrap();
            let ok = items[aid].seen_by(&viewer);
            assert_eq!(
                r.status(),
                if ok { 200 } else { 404 },
                "{who}: content of {aid}"
            );
            if ok {
                assert_eq!(r.bytes().await.unwrap().as_ref(), b"iocs");
            }
        }
    }
}

/// Full-text search and value lookup for what every object of the scenario holds.
const SEARCH: &str = "/api/v1/search?q=Share";
const LOOKUP: &str = "/api/v1/search/values?value=192.0.2.1";

/// (id, version) of every result of a search or lookup, paged three at a time.
async fn search_pages(node: &TestNode, user: &str, path: &str) -> Seen {
    let mut out = Seen::new();
    for page in 0..20 {
        let r = node
            .client
            .get(node.url(&format!("{path}&limit=3&offset={}", page * 3)))
            .bearer_auth(node.seed.token(user))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let body: Value = r.json().await.unwrap();
        let results = body["results"].as_array().unwrap();
        assert!(results.len() <= 3);
        for o in results {
            let new = out.insert((
                o["id"].as_str().unwrap().to_string(),
                o["version"].as_str().unwrap().to_string(),
            ));
            assert!(new, "{path}: {o} twice");
        }
        if body["more"] != json!(true) {
            return out;
        }
    }
    panic!("{path}: more than 20 pages");
}

/// (id, version) of the objects correlated with `id`; `None` if the object is not found.
async fn correlated(node: &TestNode, user: &str, id: &str) -> Option<Seen> {
    let r = node
        .client
        .get(node.url(&format!(
            "/api/v1/communities/test-isac/objects/{id}/correlations"
        )))
        .bearer_auth(node.seed.token(user))
        .send()
        .await
        .unwrap();
    if r.status() == 404 {
        return None;
    }
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["truncated"], false);
    let values = body["values"].as_array().unwrap();
    assert_eq!(values.len(), 1, "{body}");
    assert_eq!(values[0]["value"], "192.0.2.1");
    let mut out = Seen::new();
    for m in values[0]["matches"].as_array().unwrap() {
        assert_eq!(m["community"], "test-isac");
        out.insert((
            m["id"].as_str().unwrap().to_string(),
            m["version"].as_str().unwrap().to_string(),
        ));
    }
    Some(out)
}

fn run(
    engine: Engine,
    shares: Vec<Share>,
    public_feed: bool,
    feedback: Vec<Feedback>,
    docs: Vec<Doc>,
) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(scenario(engine, shares, public_feed, feedback, docs));
}

proptest! {
    #![proptest_config(ProptestConfig {
        // More with `PROPTEST_CASES=N` (each case starts a node and runs every path).
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(6),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_read_path_follows_the_rule_on_sqlite(shares in proptest::collection::vec(share(), 1..12), public_feed in any::<bool>(),
        feedback in proptest::collection::vec(feedback(), 0..10), docs in proptest::collection::vec(doc(), 0..3)) {
        run(Engine::Sqlite, shares, public_feed, feedback, docs);
    }

    #[test]
    fn every_read_path_follows_the_rule_on_postgres(shares in proptest::collection::vec(share(), 1..12), public_feed in any::<bool>(),
        feedback in proptest::collection::vec(feedback(), 0..10), docs in proptest::collection::vec(doc(), 0..3)) {
        run(Engine::Postgres, shares, public_feed, feedback, docs);
    }
}
