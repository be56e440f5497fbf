//! Feedback to the source and documents, end to end over a real socket, on SQLite and
//! PostgreSQL: sightings aggregated for the source, opinions replaced and mapped to STIX,
//! comment threads that inherit the object's marking (or a stricter one), the source's view with
//! anonymous feedback, notifications to the source only, documents and attachments served back
//! safely, and bad input refused with nothing stored.

use base64::Engine as _;
use cairn_server::ServerSettings;
use cairn_testkit::{both_engines, call, taxii_get as taxii, Engine, TestNode};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const TAXII: &str = "application/taxii+json;version=2.1";
const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const AUDIENCE: &str = "extension-definition--39d4868d-fa3b-477b-b138-a83c8ea8e300";
const ID: &str = "indicator--fb000000-0000-4000-8000-000000000001";
const OBJ: &str =
    "/api/v1/communities/test-isac/objects/indicator--fb000000-0000-4000-8000-000000000001";
const PDF: &[u8] = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn indicator(marking: &str, orgs: &[&str]) -> Value {
    let mut o = json!({
        "type": "indicator", "spec_version": "2.1", "id": ID,
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "name": "beaconing host", "pattern": "[ipv4-addr:value = '203.0.113.9']",
        "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": [marking],
    });
    if !orgs.is_empty() {
        o["extensions"] =
            json!({AUDIENCE: {"extension_type": "property-extension", "organizations": orgs}});
    }
    o
}

async fn publish(node: &TestNode, user: &str, objects: Vec<Value>) -> Value {
    let (s, v) = call(
        node,
        Method::POST,
        user,
        "/api/v1/communities/test-isac/objects",
        Some(json!({"objects": objects})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn admit_gamma(node: &TestNode) {
    let (s, v) = call(
        node,
        Method::POST,
        "alpha-admin",
        "/api/v1/communities/test-isac/members",
        Some(json!({"organization": "gamma"})),
    )
    .await;
    assert!(s.is_success(), "{v}");
}

async fn collection(node: &TestNode) -> String {
    let c = node
        .cairn
        .store()
        .community_by_slug("test-isac")
        .await
        .unwrap()
        .unwrap();
    format!("/taxii2/test-isac/collections/{}/", c.id)
}

async fn taxii_post(node: &TestNode, user: &str, objects: Vec<Value>) -> Value {
    let col = collection(node).await;
    let r = node
        .client
        .post(node.url(&format!("{col}objects/")))
        .header("accept", TAXII)
        .header("content-type", TAXII)
        .basic_auth(user, Some(node.seed.token(user)))
        .body(json!({ "objects": objects }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    r.json().await.unwrap()
}

/// Whether `user` sees the object `id` on TAXII (object and manifest) and the REST list; the
/// paths must agree.
async fn sees(node: &TestNode, user: &str, id: &str) -> bool {
    let col = collection(node).await;
    let (s, _) = taxii(node, user, &format!("{col}objects/{id}/")).await;
    let (_, manifest) = taxii(node, user, &format!("{col}manifest/?match[id]={id}")).await;
    let (_, rest) = call(
        node,
        Method::GET,
        user,
        &format!("/api/v1/communities/test-isac/objects?id={id}&versions=all"),
        None,
    )
    .await;
    let in_manifest = manifest["objects"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    let in_rest = rest["objects"].as_array().is_some_and(|a| !a.is_empty());
    let visible = s == StatusCode::OK;
    assert_eq!(in_manifest, visible, "{user} {id}: manifest vs object");
    assert_eq!(in_rest, visible, "{user} {id}: REST vs object");
    visible
}

async fn notifications(node: &TestNode, user: &str) -> Vec<Value> {
    let (s, v) = call(node, Method::GET, user, "/api/v1/notifications", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v.as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "feedback")
        .cloned()
        .collect()
}

async fn audit_count(node: &TestNode, action: &str) -> usize {
    let (_, v) = call(
        node,
        Method::GET,
        "operator",
        &format!("/api/v1/audit?limit=1000&action={action}"),
        None,
    )
    .await;
    v.as_array().unwrap().len()
}

async fn summary(node: &TestNode, user: &str) -> Value {
    let (s, v) = call(node, Method::GET, user, &format!("{OBJ}/feedback"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn sightings_are_aggregated_for_the_source(engine: Engine) {
    let node = TestNode::start(engine).await;
    admit_gamma(&node).await;
    publish(&node, "alpha-analyst", vec![indicator(GREEN, &[])]).await;
    let sight = format!("{OBJ}/sightings");

    let (s, one) = call(&node, Method::POST, "beta-analyst", &sight, Some(json!({
        "count": 3, "first_seen": "2026-02-01T10:00:00Z", "last_seen": "2026-02-03T10:00:00Z", "where": "mail gateway"
    }))).await;
    assert_eq!(s, StatusCode::CREATED, "{one}");
    assert_eq!(one["tlp"], "green", "inherits the object's marking");
    let (s, v) = call(&node, Method::POST, "gamma-admin", &sight, Some(json!({
        "count": 2, "first_seen": "2026-01-20T00:00:00Z", "last_seen": "2026-02-02T00:00:00Z", "anonymous": true
    }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // A sighting posted over TAXII about the object counts too.
    let status = taxii_post(&node, "beta-admin", vec![json!({
        "type": "sighting", "spec_version": "2.1", "id": "sighting--fb000000-0000-4000-8000-0000000000a1",
        "created": "2026-02-05T00:00:00.000Z", "modified": "2026-02-05T00:00:00.000Z",
        "sighting_of_ref": ID, "count": 5,
        "first_seen": "2026-02-04T00:00:00Z", "last_seen": "2026-02-05T00:00:00Z",
        "object_marking_refs": [GREEN]
    })]).await;
    assert_eq!(status["success_count"], 1, "{status}");

    // Bad sightings are refused and store nothing.
    for (body, field) in [
        (json!({"count": 0}), "count"),
        (json!({"last_seen": "2099-01-01T00:00:00Z"}), "last_seen"),
        (
            json!({"first_seen": "2026-02-02T00:00:00Z", "last_seen": "2026-02-01T00:00:00Z"}),
            "first_seen",
        ),
        (json!({"tlp": "clear"}), "tlp"),
        (json!({"organizations": ["beta"]}), "organizations"),
    ] {
        let (s, v) = call(
            &node,
            Method::POST,
            "beta-analyst",
            &sight,
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["details"]["field"], field, "{body}: {v}");
    }
    let (s, _) = call(
        &node,
        Method::POST,
        "beta-analyst",
        &sight,
        Some(json!({"count": "many"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = call(&node, Method::POST, "alpha-reader", &sight, Some(json!({}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "read-only users change nothing");
    // Sightings are of SDOs: an observable cannot be sighted.
    publish(
        &node,
        "alpha-analyst",
        vec![json!({"type": "ipv4-addr", "spec_version": "2.1",
        "id": "ipv4-addr--fb000000-0000-4000-8000-0000000000b1", "value": "203.0.113.9"})],
    )
    .await;
    let (s, v) = call(&node, Method::POST, "beta-analyst",
        "/api/v1/communities/test-isac/objects/ipv4-addr--fb000000-0000-4000-8000-0000000000b1/sightings",
        Some(json!({}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Of an object nobody here can see: 404.
    let (s, _) = call(&node, Method::POST, "beta-analyst",
        "/api/v1/communities/test-isac/objects/indicator--fb000000-0000-4000-8000-00000000dead/sightings",
        Some(json!({}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The source's view: totals, organizations, first and last seen; names except anonymous.
    let v = summary(&node, "alpha-admin").await;
    assert_eq!(v["source_view"], true);
    let s = &v["sightings"];
    assert_eq!(s["sightings"], 3, "{v}");
    assert_eq!(s["count"], 10, "{v}");
    assert_eq!(s["organizations"], 2, "{v}");
    assert_eq!(s["anonymous"], 1, "{v}");
    assert_eq!(s["first_seen"], "2026-01-20T00:00:00.000Z", "{v}");
    assert_eq!(s["last_seen"], "2026-02-05T00:00:00Z", "{v}");
    let named: Vec<&str> = s["reported_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["short_name"].as_str().unwrap())
        .collect();
    assert_eq!(named, vec!["beta"], "gamma stays anonymous: {v}");
    // A recipient gets counts, no names.
    let v = summary(&node, "beta-analyst").await;
    assert_eq!(v["source_view"], false);
    assert_eq!(v["sightings"]["count"], 10);
    assert_eq!(v["sightings"]["reported_by"], json!([]));

    // The sighting is a STIX sighting of the object, published like any object.
    let sid = one["id"].as_str().unwrap();
    let col = collection(&node).await;
    let (st, got) = taxii(&node, "gamma-admin", &format!("{col}objects/{sid}/")).await;
    assert_eq!(st, StatusCode::OK);
    let o = &got["objects"][0];
    assert_eq!(o["sighting_of_ref"], ID);
    assert_eq!(o["count"], 3);
    assert_eq!(o["description"], "mail gateway");
    assert_eq!(o["object_marking_refs"], json!([GREEN]));

    // The source's admins and analysts are told, of the sighting posted over TAXII too; the
    // anonymous giver is not named.
    for user in ["alpha-admin", "alpha-analyst"] {
        let notes = notifications(&node, user).await;
        assert_eq!(notes.len(), 3, "{user}: {notes:?}");
        let posted = notes
            .iter()
            .find(|n| n["body"]["posted_as"] == "stix")
            .expect("the sighting posted over TAXII");
        assert_eq!(posted["object_id"], ID);
        assert_eq!(posted["body"]["feedback"], "sighting");
        assert_eq!(
            posted["body"]["item"],
            "sighting--fb000000-0000-4000-8000-0000000000a1"
        );
        assert_eq!(posted["body"]["organization"], "beta");
        assert!(notes.iter().all(|n| n["object_id"] == ID));
        let anon = notes
            .iter()
            .find(|n| n["body"]["count"] == 2)
            .expect("the anonymous sighting");
        assert_eq!(anon["body"]["organization"], Value::Null);
        assert!(!anon.to_string().contains("gamma"), "{anon}");
        let named = notes.iter().find(|n| n["body"]["count"] == 3).unwrap();
        assert_eq!(named["body"]["organization"], "beta");
    }
    for user in [
        "alpha-reader",
        "beta-admin",
        "beta-analyst",
        "gamma-admin",
        "operator",
    ] {
        assert!(notifications(&node, user).await.is_empty(), "{user}");
    }
    // Anonymous feedback's audit entry is not about the source's organization.
    let (_, audit) = call(
        &node,
        Method::GET,
        "alpha-admin",
        "/api/v1/audit?action=feedback.sighting",
        None,
    )
    .await;
    let entries = audit.as_array().unwrap();
    let changes: Vec<&Value> = entries
        .iter()
        .filter(|e| e["outcome"] == "changed")
        .collect();
    assert_eq!(
        changes.len(),
        1,
        "alpha reads only the named sighting's entry: {audit}"
    );
    assert_eq!(changes[0]["actor_label"], "beta-analyst");
    assert!(!audit.to_string().contains("gamma"), "{audit}");
    assert_eq!(
        audit_count(&node, "feedback.sighting").await,
        3,
        "2 sightings, 1 denial"
    );
    node.stop().await;
}

async fn opinions_replace_and_map_to_stix(engine: Engine) {
    let node = TestNode::start(engine).await;
    publish(&node, "alpha-analyst", vec![indicator(AMBER, &[])]).await;
    let op = format!("{OBJ}/opinion");
    let (s, first) = call(
        &node,
        Method::PUT,
        "beta-analyst",
        &op,
        Some(json!({"opinion": "useful", "explanation": "blocked a campaign"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let (s, second) = call(
        &node,
        Method::PUT,
        "beta-analyst",
        &op,
        Some(json!({"opinion": "false_positive"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_eq!(
        first["id"], second["id"],
        "one opinion per user, a new version of it"
    );
    assert!(second["version"].as_str() > first["version"].as_str());
    let col = collection(&node).await;
    let oid = second["id"].as_str().unwrap();
    let (_, got) = taxii(
        &node,
        "alpha-admin",
        &format!("{col}objects/{oid}/?match[version]=all"),
    )
    .await;
    let values: Vec<&str> = got["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["opinion"].as_str().unwrap())
        .collect();
    assert_eq!(values, vec!["agree", "strongly-disagree"]);
    assert_eq!(got["objects"][1]["object_refs"], json!([ID]));
    assert_eq!(got["objects"][1]["object_marking_refs"], json!([AMBER]));
    let (s, v) = call(
        &node,
        Method::PUT,
        "beta-admin",
        &op,
        Some(json!({"opinion": "not_useful", "anonymous": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        &node,
        Method::PUT,
        "beta-admin",
        &op,
        Some(json!({"opinion": "useful", "anonymous": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // A new version keeps the anonymity of the first, both ways.
    for (user, anonymous) in [("beta-admin", false), ("beta-analyst", true)] {
        let (s, v) = call(
            &node,
            Method::PUT,
            user,
            &op,
            Some(json!({"opinion": "not_useful", "anonymous": anonymous})),
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT, "{user}: {v}");
        assert!(
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("\"anonymous\": {}", !anonymous))),
            "{v}"
        );
    }
    assert_eq!(
        got["objects"][0]["x_cairn_anonymous"],
        Value::Null,
        "named opinions carry no flag"
    );

    let v = summary(&node, "alpha-analyst").await;
    let o = &v["opinions"];
    assert_eq!(
        (
            o["useful"].as_i64(),
            o["not_useful"].as_i64(),
            o["false_positive"].as_i64()
        ),
        (Some(1), Some(0), Some(1)),
        "{v}"
    );
    assert_eq!(o["anonymous"], 1);
    assert_eq!(
        o["useful_by"],
        json!([]),
        "the useful one is anonymous: {v}"
    );
    assert_eq!(o["false_positive_by"][0]["short_name"], "beta");
    let v = summary(&node, "beta-admin").await;
    assert_eq!(
        v["opinions"]["false_positive_by"],
        json!([]),
        "names are for the source"
    );

    // Bad opinions.
    let (s, _) = call(
        &node,
        Method::PUT,
        "beta-analyst",
        &op,
        Some(json!({"opinion": "meh"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, v) = call(
        &node,
        Method::PUT,
        "alpha-analyst",
        &op,
        Some(json!({"opinion": "useful"})),
    )
    .await;
    assert_eq!(
        (s, v["details"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("object")),
        "{v}"
    );
    // Anonymous feedback cannot be the subject of a release request (it would name its source).
    let anon_id = anonymous_opinion(&node, "alpha-analyst").await;
    let (s, v) = call(
        &node,
        Method::POST,
        "alpha-analyst",
        &format!("/api/v1/communities/test-isac/objects/{anon_id}/release-requests"),
        Some(json!({"tlp": "green", "reason": "share it"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(!v.to_string().contains("beta"), "{v}");
    assert_eq!(audit_count(&node, "feedback.opinion").await, 4);
    node.stop().await;
}

/// The id of the anonymous opinion, as `viewer` reads it over TAXII.
async fn anonymous_opinion(node: &TestNode, viewer: &str) -> String {
    let col = collection(node).await;
    let (_, list) = taxii(node, viewer, &format!("{col}objects/?match[type]=opinion")).await;
    list["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["x_cairn_anonymous"] == true)
        .map(|o| o["id"].as_str().unwrap().to_string())
        .unwrap()
}

async fn user(node: &TestNode, name: &str) -> cairn_core::User {
    node.cairn
        .store()
        .user_by_name(name)
        .await
        .unwrap()
        .unwrap()
}

async fn thread_ids(node: &TestNode, user: &str) -> Option<Vec<String>> {
    let (s, v) = call(node, Method::GET, user, &format!("{OBJ}/comments"), None).await;
    if s == StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(s, StatusCode::OK, "{v}");
    Some(
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect(),
    )
}

async fn threads_inherit_the_marking(engine: Engine) {
    let node = TestNode::start(engine).await;
    admit_gamma(&node).await;
    // AMBER for beta only (and alpha, the source).
    publish(&node, "alpha-analyst", vec![indicator(AMBER, &["beta"])]).await;
    let comments = format!("{OBJ}/comments");
    let alpha = user(&node, "alpha-admin").await.org_id;
    let beta = user(&node, "beta-admin").await.org_id;

    // Someone who cannot see the object cannot comment on it, and nothing is stored.
    let (s, v) = call(
        &node,
        Method::POST,
        "gamma-admin",
        &comments,
        Some(json!({"text": "what is this?"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(thread_ids(&node, "gamma-admin").await.is_none());

    // A comment inherits AMBER and the object's recipients (with the source).
    let (s, c1) = call(
        &node,
        Method::POST,
        "beta-analyst",
        &comments,
        Some(json!({"text": "seen on our VPN too"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c1}");
    assert_eq!(c1["tlp"], "amber");
    let mut orgs: Vec<String> = c1["audience"]["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    orgs.sort();
    let mut want = vec![alpha.to_string(), beta.to_string()];
    want.sort();
    assert_eq!(orgs, want);
    // Less strict is refused; wider recipients are refused; too long is refused.
    for (body, field) in [
        (json!({"text": "x", "tlp": "green"}), "tlp"),
        (
            json!({"text": "x", "organizations": ["gamma"]}),
            "organizations[0]",
        ),
        (
            json!({"text": "x", "tlp": "red", "users": ["gamma-admin"]}),
            "users[0]",
        ),
        (json!({"text": "x".repeat(10_001)}), "text"),
        (json!({"text": "   "}), "text"),
        (
            json!({"text": "x", "in_reply_to": "note--fb000000-0000-4000-8000-00000000dead"}),
            "in_reply_to",
        ),
    ] {
        let (s, v) = call(
            &node,
            Method::POST,
            "beta-analyst",
            &comments,
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(v["details"]["field"], field, "{v}");
    }
    // A stricter question: RED, by default to the source's admins and analysts.
    let (s, q) = call(
        &node,
        Method::POST,
        "beta-analyst",
        &comments,
        Some(json!({"text": "is 203.0.113.9 still active?", "question": true, "tlp": "red"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    assert_eq!(q["tlp"], "red");
    assert_eq!(q["audience"]["users"].as_array().unwrap().len(), 2);
    // The source answers in the thread; the answer inherits the question's marking.
    let (s, a) = call(
        &node,
        Method::POST,
        "alpha-analyst",
        &comments,
        Some(json!({"text": "yes, until the takedown", "in_reply_to": q["id"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["tlp"], "red");
    // A RED answer names only recipients of the question.
    let (s, v) = call(
        &node,
        Method::POST,
        "alpha-analyst",
        &comments,
        Some(json!({"text": "x", "in_reply_to": q["id"], "users": ["alpha-reader"]})),
    )
    .await;
    assert_eq!(
        (s, v["details"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("users[0]")),
        "{v}"
    );
    // An answer to beta's comment, stricter by organization: AMBER+STRICT to beta only.
    let (s, a2) = call(&node, Method::POST, "alpha-admin", &comments, Some(json!({"text": "thanks", "in_reply_to": c1["id"], "tlp": "amber_strict", "organizations": ["beta"]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{a2}");

    let (c1, q, a, a2) = (
        c1["id"].as_str().unwrap().to_string(),
        q["id"].as_str().unwrap().to_string(),
        a["id"].as_str().unwrap().to_string(),
        a2["id"].as_str().unwrap().to_string(),
    );
    // Who sees what, on every path: the thread, TAXII, REST, the aggregate.
    let expect: [(&str, Vec<&String>); 6] = [
        ("alpha-admin", vec![&c1, &q, &a, &a2]),
        ("alpha-analyst", vec![&c1, &q, &a, &a2]),
        ("alpha-reader", vec![&c1, &a, &a2]), // the question went to the desk only
        ("beta-analyst", vec![&c1, &q, &a, &a2]), // the answer reaches the asker's desk
        ("beta-admin", vec![&c1, &q, &a, &a2]),
        ("gamma-admin", vec![]),
    ];
    for (user, want) in expect {
        let mut want: Vec<String> = want.into_iter().cloned().collect();
        want.sort();
        for id in [&c1, &q, &a, &a2] {
            assert_eq!(
                sees(&node, user, id).await,
                want.contains(id),
                "{user} {id}"
            );
        }
        match thread_ids(&node, user).await {
            Some(mut got) => {
                got.sort();
                assert_eq!(got, want, "{user}: thread");
                assert_eq!(summary(&node, user).await["comments"], want.len(), "{user}");
            }
            None => assert!(want.is_empty() && user == "gamma-admin"),
        }
    }
    // The thread shows who wrote what, and which comments are the source's.
    let (_, t) = call(&node, Method::GET, "alpha-admin", &comments, None).await;
    let answer = t
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == a.as_str())
        .unwrap();
    assert_eq!(answer["in_reply_to"], q.as_str());
    assert_eq!(answer["from_source"], true);
    assert_eq!(answer["organization"], "alpha");
    let question = t
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == q.as_str())
        .unwrap();
    assert_eq!(
        (question["question"].as_bool(), question["author"].as_str()),
        (Some(true), Some("beta-analyst"))
    );

    // Notifications: the source's desk for each comment it may read; the asker for answers.
    let kinds = |notes: &[Value]| -> Vec<String> {
        let mut k: Vec<String> = notes
            .iter()
            .map(|n| n["body"]["feedback"].as_str().unwrap().to_string())
            .collect();
        k.sort();
        k
    };
    assert_eq!(
        kinds(&notifications(&node, "alpha-admin").await),
        vec!["comment", "question"]
    );
    assert_eq!(
        kinds(&notifications(&node, "alpha-analyst").await),
        vec!["comment", "question"]
    );
    assert!(notifications(&node, "alpha-reader").await.is_empty());
    // beta-analyst wrote the question and the comment: it is told of both answers.
    let beta_notes = notifications(&node, "beta-analyst").await;
    assert_eq!(kinds(&beta_notes), vec!["reply", "reply"], "{beta_notes:?}");
    let mut items: Vec<&str> = beta_notes
        .iter()
        .map(|n| n["body"]["item"].as_str().unwrap())
        .collect();
    items.sort();
    let mut answers = vec![a.as_str(), a2.as_str()];
    answers.sort();
    assert_eq!(items, answers);
    assert!(notifications(&node, "beta-admin").await.is_empty());
    assert!(notifications(&node, "gamma-admin").await.is_empty());
    assert_eq!(audit_count(&node, "feedback.comment").await, 4);
    node.stop().await;
}

async fn documents_round_trip_with_safe_headers(engine: Engine) {
    let node = TestNode::start(engine).await;
    let (s, doc) = call(&node, Method::POST, "beta-analyst", "/api/v1/communities/test-isac/documents", Some(json!({
        "title": "Advisory 2026-02: VPN appliance", "text": "Patch now.",
        "tlp": "amber", "organizations": ["beta"],
        "attachments": [
            {"filename": "advisory 2026-02.pdf", "mime_type": "application/pdf", "content": b64(PDF)},
            {"filename": "<script>.png", "mime_type": "image/png", "content": b64(PNG)},
            {"filename": "iocs.csv", "mime_type": "text/csv", "content": b64(b"ip\n203.0.113.9\n")}
        ]
    }))).await;
    assert_eq!(s, StatusCode::CREATED, "{doc}");
    assert_eq!(doc["tlp"], "amber");
    let atts = doc["attachments"].as_array().unwrap().clone();
    assert_eq!(atts.len(), 3);
    assert_eq!(atts[0]["filename"], "advisory_2026-02.pdf");
    assert_eq!(atts[1]["filename"], "script_.png");
    assert_eq!(atts[0]["size"], PDF.len());

    // The report refers to its artifacts; all carry the same marking.
    let col = collection(&node).await;
    let rid = doc["id"].as_str().unwrap();
    let (s, r) = taxii(&node, "beta-admin", &format!("{col}objects/{rid}/")).await;
    assert_eq!(s, StatusCode::OK);
    let report = &r["objects"][0];
    assert_eq!(report["type"], "report");
    assert_eq!(report["name"], "Advisory 2026-02: VPN appliance");
    let refs: Vec<&Value> = report["object_refs"].as_array().unwrap().iter().collect();
    assert_eq!(refs.len(), 3);
    let aid = atts[0]["id"].as_str().unwrap();
    let (_, art) = taxii(&node, "beta-admin", &format!("{col}objects/{aid}/")).await;
    assert_eq!(art["objects"][0]["mime_type"], "application/pdf");
    assert_eq!(art["objects"][0]["hashes"]["SHA-256"], atts[0]["sha256"]);
    assert_eq!(art["objects"][0]["object_marking_refs"], json!([AMBER]));

    // Served back to the entitled, as a download with safe headers.
    for (i, body) in [PDF, PNG, b"ip\n203.0.113.9\n".as_slice()]
        .iter()
        .enumerate()
    {
        let id = atts[i]["id"].as_str().unwrap();
        let r = node
            .as_user(
                Method::GET,
                "beta-admin",
                &format!("/api/v1/communities/test-isac/objects/{id}/content"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers().clone();
        let ct = h["content-type"].to_str().unwrap();
        assert_eq!(ct.split(';').next(), atts[i]["mime_type"].as_str());
        assert_eq!(
            h["content-disposition"].to_str().unwrap(),
            format!(
                "attachment; filename=\"{}\"",
                atts[i]["filename"].as_str().unwrap()
            )
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");
        assert_eq!(h["cache-control"], "private, no-store");
        assert_eq!(r.bytes().await.unwrap().as_ref(), *body);
    }
    assert_eq!(
        node.as_user(
            Method::GET,
            "beta-analyst",
            "/api/v1/communities/test-isac/objects/text/content"
        )
        .send()
        .await
        .unwrap()
        .status(),
        StatusCode::NOT_FOUND
    );
    // Not entitled: 404, as if it did not exist.
    let r = node
        .as_user(
            Method::GET,
            "alpha-admin",
            &format!("/api/v1/communities/test-isac/objects/{aid}/content"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Content is only for artifacts.
    let r = node
        .as_user(
            Method::GET,
            "beta-admin",
            &format!("/api/v1/communities/test-isac/objects/{rid}/content"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A note about a shared object, without attachments.
    publish(&node, "alpha-analyst", vec![indicator(GREEN, &[])]).await;
    let (s, note) = call(&node, Method::POST, "alpha-analyst", "/api/v1/communities/test-isac/documents", Some(json!({
        "kind": "note", "title": "context", "text": "This host belongs to a known botnet.", "about": [ID]
    }))).await;
    assert_eq!(s, StatusCode::CREATED, "{note}");
    assert_eq!(note["tlp"], "green", "the community default");
    assert_eq!(audit_count(&node, "documents.publish").await, 2);
    // The new endpoints are described.
    let doc: Value = node
        .client
        .get(node.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/communities/{slug}/documents",
        "/api/v1/communities/{slug}/objects/{id}/content",
        "/api/v1/communities/{slug}/objects/{id}/sightings",
        "/api/v1/communities/{slug}/objects/{id}/opinion",
        "/api/v1/communities/{slug}/objects/{id}/comments",
        "/api/v1/communities/{slug}/objects/{id}/feedback",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
    node.stop().await;
}

async fn stored_objects(node: &TestNode) -> usize {
    let (_, v) = call(
        node,
        Method::GET,
        "beta-admin",
        "/api/v1/communities/test-isac/objects?versions=all&limit=1000",
        None,
    )
    .await;
    v["objects"].as_array().unwrap().len()
}

async fn bad_attachments_store_nothing(engine: Engine) {
    let settings = ServerSettings {
        max_attachment_bytes: 1024,
        max_document_bytes: 16 * 1024,
        ..Default::default()
    };
    let node = TestNode::start_with(engine, settings).await;
    let docs = "/api/v1/communities/test-isac/documents";
    let before = audit_count(&node, "documents.publish").await;
    let doc = |att: Value| json!({"title": "t", "attachments": [{"filename": "ok.txt", "mime_type": "text/plain", "content": b64(b"fine")}, att]});
    for (att, status, needle) in [
        (
            json!({"filename": "a.pdf", "mime_type": "application/pdf", "content": b64(PNG)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "signature",
        ),
        (
            json!({"filename": "a.png", "mime_type": "image/png", "content": b64(PDF)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "signature",
        ),
        (
            json!({"filename": "a.txt", "mime_type": "text/plain", "content": b64(b"nul\0byte")}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "NUL",
        ),
        (
            json!({"filename": "a.txt", "mime_type": "text/plain", "content": b64(b"\xff\xfe\xfd")}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "UTF-8",
        ),
        (
            json!({"filename": "a.txt", "mime_type": "text/plain", "content": "***"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "base64",
        ),
        (
            json!({"filename": "a.html", "mime_type": "text/html", "content": b64(b"<script>alert(1)</script>")}),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not accepted",
        ),
        (
            json!({"filename": "a.svg", "mime_type": "image/svg+xml", "content": b64(b"<svg/>")}),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not accepted",
        ),
        (
            json!({"filename": "big.txt", "mime_type": "text/plain", "content": b64(&[b'a'; 1025])}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit",
        ),
    ] {
        let (s, v) = call(
            &node,
            Method::POST,
            "beta-analyst",
            docs,
            Some(doc(att.clone())),
        )
        .await;
        assert_eq!(s, status, "{att}: {v}");
        assert!(v["message"].as_str().unwrap().contains(needle), "{v}");
        assert!(
            v["message"].as_str().unwrap().contains("attachments[1]"),
            "{v}"
        );
    }
    // Over the request limit.
    let big = json!({"title": "t", "attachments": [{"filename": "a.txt", "mime_type": "text/plain", "content": "A".repeat(20 * 1024)}]});
    let (s, v) = call(&node, Method::POST, "beta-analyst", docs, Some(big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    // Other refusals.
    let (s, _) = call(
        &node,
        Method::POST,
        "beta-analyst",
        docs,
        Some(json!({"title": "nothing"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = call(
        &node,
        Method::POST,
        "alpha-reader",
        docs,
        Some(doc(
            json!({"filename": "b.txt", "mime_type": "text/plain", "content": b64(b"x")}),
        )),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = call(&node, Method::POST, "beta-analyst", docs, Some(json!({"title": "t", "tlp": "red", "attachments": [{"filename": "a.txt", "mime_type": "text/plain", "content": b64(b"x")}]}))).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "RED needs recipients: {v}"
    );
    let bad_org = json!({"title": "t", "tlp": "amber", "organizations": ["nobody"],
        "attachments": [{"filename": "a.txt", "mime_type": "text/plain", "content": b64(b"x")}]});
    let (s, v) = call(&node, Method::POST, "beta-analyst", docs, Some(bad_org)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["details"]["field"], "organizations[0]", "{v}");
    assert_eq!(stored_objects(&node).await, 0, "nothing was stored");
    assert_eq!(
        audit_count(&node, "documents.publish").await,
        before + 1,
        "only the denial"
    );
    node.stop().await;
}

async fn taxii_artifact_with_a_lying_mime_type_is_refused(engine: Engine) {
    let settings = ServerSettings {
        max_attachment_bytes: 1024,
        ..Default::default()
    };
    let node = TestNode::start_with(engine, settings).await;
    let art = |n: u32, mime: &str, content: &[u8]| {
        json!({"type": "artifact", "spec_version": "2.1",
            "id": format!("artifact--fb000000-0000-4000-8000-{n:012}"),
            "mime_type": mime, "payload_bin": b64(content), "object_marking_refs": [GREEN]})
    };
    let mut wrong_hash = art(5, "text/plain", b"hello");
    wrong_hash["hashes"] = json!({"SHA-256": "00".repeat(32)});
    let mut untyped = art(6, "text/plain", b"hello");
    untyped.as_object_mut().unwrap().remove("mime_type");
    let status = taxii_post(
        &node,
        "beta-analyst",
        vec![
            art(1, "image/png", PDF), // a lying mime_type
            art(2, "application/x-msdownload", b"MZ\x90\x00"),
            art(3, "text/plain", &[b'a'; 2048]),
            art(4, "application/pdf", PDF),
            wrong_hash,
            untyped,
        ],
    )
    .await;
    assert_eq!(status["success_count"], 1, "{status}");
    assert_eq!(status["failure_count"], 5, "{status}");
    let failures = status["failures"].as_array().unwrap();
    let why = |n: u32| {
        failures
            .iter()
            .find(|f| f["id"] == format!("artifact--fb000000-0000-4000-8000-{n:012}"))
            .and_then(|f| f["message"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(why(1).contains("is not image/png"), "{}", why(1));
    assert!(why(2).contains("not accepted"), "{}", why(2));
    assert!(why(3).contains("limit"), "{}", why(3));
    assert!(why(5).contains("hashes.SHA-256"), "{}", why(5));
    assert!(why(6).contains("mime_type"), "{}", why(6));
    assert_eq!(stored_objects(&node).await, 1);
    // The accepted one is served, with a name made from its id.
    let r = node
        .as_user(Method::GET, "alpha-reader", "/api/v1/communities/test-isac/objects/artifact--fb000000-0000-4000-8000-000000000004/content")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"fb000000-0000-4000-8000-000000000004.pdf\""
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), PDF);
    // The core's other ways in (REST publishing, import) refuse the same way.
    let body = json!({"objects": [art(7, "image/gif", PNG)]}).to_string();
    let writer = user(&node, "alpha-analyst").await;
    let (_, report) = node
        .cairn
        .clone()
        .with_max_attachment_bytes(1024)
        .share_envelope(
            &cairn_core::Actor::for_user(&writer),
            "test-isac",
            body.as_bytes(),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        report.results[0].outcome,
        cairn_core::exchange::ResultKind::Refused
    );
    assert_eq!(stored_objects(&node).await, 1);
    node.stop().await;
}

/// Feedback published as STIX objects (not through the feedback endpoints) notifies the source
/// too: only about objects the poster may see, never the poster's own organization, and an
/// anonymous share names nobody.
async fn feedback_posted_as_stix_notifies_the_source(engine: Engine) {
    let node = TestNode::start(engine).await;
    publish(&node, "alpha-analyst", vec![indicator(GREEN, &[])]).await;
    // An object beta may not see (AMBER for alpha only).
    let hidden = "indicator--fb000000-0000-4000-8000-0000000000c1";
    let mut h = indicator(AMBER, &["alpha"]);
    h["id"] = json!(hidden);
    publish(&node, "alpha-analyst", vec![h]).await;

    let stamp = "2026-03-01T00:00:00.000Z";
    let note = json!({"type": "note", "spec_version": "2.1", "id": "note--fb000000-0000-4000-8000-0000000000c2",
        "created": stamp, "modified": stamp, "content": "seen at our edge too", "object_refs": [ID]});
    let blind = json!({"type": "sighting", "spec_version": "2.1", "id": "sighting--fb000000-0000-4000-8000-0000000000c3",
        "created": stamp, "modified": stamp, "sighting_of_ref": hidden});
    let status = taxii_post(&node, "beta-analyst", vec![note, blind]).await;
    assert_eq!(status["success_count"], 2, "{status}");
    let opinion = json!({"type": "opinion", "spec_version": "2.1", "id": "opinion--fb000000-0000-4000-8000-0000000000c4",
        "created": stamp, "modified": stamp, "opinion": "disagree", "object_refs": [ID]});
    let (s, v) = call(
        &node,
        Method::POST,
        "beta-analyst",
        "/api/v1/communities/test-isac/objects?anonymous=true",
        Some(json!({"objects": [opinion]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Alpha's own note about its own object tells nobody.
    let own = json!({"type": "note", "spec_version": "2.1", "id": "note--fb000000-0000-4000-8000-0000000000c5",
        "created": stamp, "modified": stamp, "content": "ours", "object_refs": [ID]});
    publish(&node, "alpha-admin", vec![own]).await;

    for user in ["alpha-admin", "alpha-analyst"] {
        let mut notes = notifications(&node, user).await;
        notes.sort_by_key(|n| n["body"]["feedback"].as_str().map(str::to_string));
        assert_eq!(notes.len(), 2, "{user}: {notes:?}");
        assert!(notes
            .iter()
            .all(|n| n["object_id"] == ID && n["kind"] == "feedback"));
        assert_eq!(notes[0]["body"]["feedback"], "comment");
        assert_eq!(notes[0]["body"]["organization"], "beta");
        assert_eq!(notes[0]["body"]["posted_as"], "stix");
        assert_eq!(notes[1]["body"]["feedback"], "opinion");
        assert_eq!(notes[1]["body"]["organization"], Value::Null);
        assert!(!notes[1].to_string().contains("beta"), "{}", notes[1]);
    }
    for user in ["alpha-reader", "beta-admin", "beta-analyst", "operator"] {
        assert!(notifications(&node, user).await.is_empty(), "{user}");
    }
}

both_engines!(
    feedback_posted_as_stix_notifies_the_source,
    sightings_are_aggregated_for_the_source,
    opinions_replace_and_map_to_stix,
    threads_inherit_the_marking,
    documents_round_trip_with_safe_headers,
    bad_attachments_store_nothing,
    taxii_artifact_with_a_lying_mime_type_is_refused,
);
