//! The source has the last word: marking changes, release requests and decisions,
//! notifications and review reminders, end to end over a real socket, on SQLite and PostgreSQL.
//! Access must appear and disappear on every read path at once, and every step is audited.

use cairn_core::store::Store;
use cairn_testkit::{both_engines, call, taxii_get as taxii, Engine, TestNode};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
const RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const AUDIENCE: &str = "extension-definition--39d4868d-fa3b-477b-b138-a83c8ea8e300";
const ID: &str = "indicator--5a5e0b6c-0000-4000-8000-000000000001";

fn indicator(marking: &str, orgs: &[&str], users: &[&str]) -> Value {
    let mut o = json!({
        "type": "indicator", "spec_version": "2.1", "id": ID,
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "name": "exfiltration host", "pattern": "[ipv4-addr:value = '203.0.113.77']",
        "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": [marking],
    });
    if !orgs.is_empty() || !users.is_empty() {
        o["extensions"] = json!({AUDIENCE: {"extension_type": "property-extension", "organizations": orgs, "users": users}});
    }
    o
}

async fn publish(node: &TestNode, user: &str, object: Value) {
    let (s, v) = call(
        node,
        Method::POST,
        user,
        "/api/v1/communities/test-isac/objects",
        Some(json!({"type": "bundle", "id": "bundle--5a5e0b6c-0000-4000-8000-000000000009", "objects": [object]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"][0]["outcome"], "stored", "{v}");
}

/// What `user` gets of the object on every read path; panics if the paths disagree. Returns
/// the versions the user sees (empty: none).
async fn seen(node: &TestNode, user: &str) -> Vec<String> {
    let (_, cols) = taxii(node, user, "/taxii2/test-isac/collections/").await;
    let col = format!(
        "/taxii2/test-isac/collections/{}/",
        cols["collections"][0]["id"].as_str().unwrap()
    );
    let (s_obj, obj) = taxii(node, user, &format!("{col}objects/{ID}/")).await;
    let (s_ver, ver) = taxii(node, user, &format!("{col}objects/{ID}/versions/")).await;
    let (_, list) = taxii(node, user, &format!("{col}objects/")).await;
    let (_, manifest) = taxii(node, user, &format!("{col}manifest/")).await;
    let (_, rest) = call(
        node,
        Method::GET,
        user,
        "/api/v1/communities/test-isac/objects?versions=all",
        None,
    )
    .await;
    let ids = |v: &Value, key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|o| o["id"] == ID)
                    .map(|o| o["id"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let versions: Vec<String> = ver["versions"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let visible = s_obj == StatusCode::OK;
    assert_eq!(
        s_ver == StatusCode::OK,
        visible,
        "{user}: versions vs object"
    );
    assert_eq!(
        !ids(&list, "objects").is_empty(),
        visible,
        "{user}: TAXII list"
    );
    assert_eq!(
        !ids(&manifest, "objects").is_empty(),
        visible,
        "{user}: manifest"
    );
    assert_eq!(
        ids(&rest, "objects").len(),
        versions.len(),
        "{user}: REST list (all versions) vs versions"
    );
    if visible {
        let latest = obj["objects"][0]["modified"].as_str().unwrap();
        assert_eq!(versions.last().map(String::as_str), Some(latest), "{user}");
    } else {
        assert_eq!(s_obj, StatusCode::NOT_FOUND, "{user}: {obj}");
    }
    versions
}

async fn audit_actions(node: &TestNode) -> Vec<(String, String)> {
    let (_, v) = call(
        node,
        Method::GET,
        "operator",
        "/api/v1/audit?limit=1000",
        None,
    )
    .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
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

const MARKING: &str =
    "/api/v1/communities/test-isac/objects/indicator--5a5e0b6c-0000-4000-8000-000000000001/marking";

async fn source_changes_marking_and_access_follows_everywhere(engine: Engine) {
    let node = TestNode::start(engine).await;
    publish(&node, "beta-analyst", indicator(AMBER, &["beta"], &[])).await;
    assert_eq!(seen(&node, "beta-admin").await.len(), 1);
    assert!(seen(&node, "alpha-analyst").await.is_empty());

    // Only the source decides; a recipient who cannot see the object gets 404.
    let (s, _) = call(
        &node,
        Method::PUT,
        "alpha-analyst",
        MARKING,
        Some(json!({"organizations": ["alpha"], "reason": "x"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = call(
        &node,
        Method::PUT,
        "beta-analyst",
        MARKING,
        Some(json!({"organizations": ["beta", "alpha"]})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is required: {v}"
    );

    // Widen the audience: alpha sees it at once, on every path, without a new version.
    let (s, v) = call(
        &node,
        Method::PUT,
        "beta-analyst",
        MARKING,
        Some(json!({"organizations": ["beta", "alpha"], "reason": "alpha runs the same grid"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["new_version"], Value::Null);
    assert_eq!(seen(&node, "alpha-analyst").await.len(), 1);
    // A recipient who can see it still may not change it.
    let (s, _) = call(
        &node,
        Method::PUT,
        "alpha-analyst",
        MARKING,
        Some(json!({"tlp": "clear", "reason": "x"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The same change again changes nothing.
    let (s, v) = call(
        &node,
        Method::PUT,
        "beta-analyst",
        MARKING,
        Some(json!({"organizations": ["alpha", "beta"], "reason": "again"})),
    )
    .await;
    assert_eq!((s, v), (StatusCode::OK, Value::Null));

    // RED without named users is refused and changes nothing.
    let (s, v) = call(
        &node,
        Method::PUT,
        "beta-analyst",
        MARKING,
        Some(json!({"tlp": "red", "reason": "escalation"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(seen(&node, "alpha-analyst").await.len(), 1);

    // Up to RED for one user: alpha loses every version at once, a new version carries RED.
    let (s, v) = call(
        &node,
        Method::PUT,
        "beta-analyst",
        MARKING,
        Some(json!({"tlp": "red", "users": ["beta-analyst"], "reason": "escalation"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let new_version = v["new_version"].as_str().unwrap().to_string();
    assert!(seen(&node, "alpha-analyst").await.is_empty());
    assert!(seen(&node, "alpha-admin").await.is_empty());
    let mine = seen(&node, "beta-analyst").await;
    assert_eq!(
        mine,
        vec!["2026-01-01T00:00:00.000Z".to_string(), new_version.clone()]
    );
    let (_, latest) = taxii(
        &node,
        "beta-analyst",
        &format!("{}objects/{ID}/", collection(&node).await),
    )
    .await;
    assert_eq!(latest["objects"][0]["object_marking_refs"], json!([RED]));
    assert_eq!(latest["objects"][0]["modified"], new_version.as_str());

    // Down to GREEN: every member sees both versions again.
    let (s, v) = call(
        &node,
        Method::PUT,
        "beta-analyst",
        MARKING,
        Some(json!({"tlp": "green", "reason": "public advisory out"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(seen(&node, "alpha-reader").await.len(), 3);

    // The history is the source's; every decision is audited.
    let hist = format!("{}-history", MARKING);
    let (s, h) = call(&node, Method::GET, "beta-admin", &hist, None).await;
    assert_eq!(s, StatusCode::OK);
    let steps: Vec<(&str, &str)> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["from_tlp"].as_str().unwrap(),
                c["to_tlp"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![("amber", "amber"), ("amber", "red"), ("red", "green")]
    );
    let (s, _) = call(&node, Method::GET, "alpha-admin", &hist, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let actions = audit_actions(&node).await;
    let changes = actions
        .iter()
        .filter(|(a, _)| a == "objects.marking_change")
        .count();
    assert_eq!(changes, 4, "3 changes and 1 denial: {actions:?}");
    node.stop().await;
}

async fn collection(node: &TestNode) -> String {
    let (_, cols) = taxii(node, "beta-analyst", "/taxii2/test-isac/collections/").await;
    format!(
        "/taxii2/test-isac/collections/{}/",
        cols["collections"][0]["id"].as_str().unwrap()
    )
}

async fn release_requests_go_to_the_source_who_decides(engine: Engine) {
    let node = TestNode::start(engine).await;
    admit_gamma(&node).await;
    publish(
        &node,
        "beta-analyst",
        indicator(AMBER, &["beta", "alpha"], &[]),
    )
    .await;
    let ask = "/api/v1/communities/test-isac/objects/indicator--5a5e0b6c-0000-4000-8000-000000000001/release-requests";

    // Someone who cannot see the object learns nothing.
    let (s, v) = call(
        &node,
        Method::POST,
        "gamma-admin",
        ask,
        Some(json!({"organizations": ["gamma"], "reason": "we run it too"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(!v.to_string().contains("beta"), "{v}");
    // Bad asks.
    for (body, field) in [
        (json!({"reason": "nothing asked"}), "organizations"),
        (
            json!({"organizations": ["nobody"], "reason": "r"}),
            "organizations[0]",
        ),
        (
            json!({"organizations": ["alpha"], "reason": "r"}),
            "organizations[0]",
        ),
        (json!({"tlp": "red", "reason": "r"}), "tlp"),
        (json!({"organizations": ["gamma"]}), "reason"),
    ] {
        let (s, v) = call(
            &node,
            Method::POST,
            "alpha-analyst",
            ask,
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["details"]["field"], field, "{body}: {v}");
    }
    let (s, _) = call(
        &node,
        Method::POST,
        "alpha-reader",
        ask,
        Some(json!({"organizations": ["gamma"], "reason": "r"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        &node,
        Method::POST,
        "beta-analyst",
        ask,
        Some(json!({"organizations": ["gamma"], "reason": "r"})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the source changes the marking instead"
    );

    // A valid request: the source's desk is told, the requester sees it as outgoing.
    let (s, req) = call(&node, Method::POST, "alpha-analyst", ask, Some(json!({"organizations": ["gamma"], "tlp": "green", "reason": "gamma operates the substation"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{req}");
    let id = req["id"].as_str().unwrap().to_string();
    let (s, _) = call(
        &node,
        Method::POST,
        "alpha-admin",
        ask,
        Some(json!({"tlp": "green", "reason": "again"})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "one pending request per organization and object"
    );
    let (_, incoming) = call(
        &node,
        Method::GET,
        "beta-admin",
        "/api/v1/release-requests?box=incoming&status=pending",
        None,
    )
    .await;
    assert_eq!(incoming[0]["id"], id.as_str());
    let (_, outgoing) = call(
        &node,
        Method::GET,
        "alpha-admin",
        "/api/v1/release-requests?box=outgoing",
        None,
    )
    .await;
    assert_eq!(outgoing[0]["id"], id.as_str());
    let (_, none) = call(
        &node,
        Method::GET,
        "alpha-admin",
        "/api/v1/release-requests",
        None,
    )
    .await;
    assert_eq!(none, json!([]), "alpha is not the source of anything");
    let (_, notes) = call(
        &node,
        Method::GET,
        "beta-admin",
        "/api/v1/notifications",
        None,
    )
    .await;
    assert_eq!(notes[0]["kind"], "release_request", "{notes}");
    assert_eq!(notes[0]["body"]["request"], id.as_str());
    let (s, _) = call(
        &node,
        Method::GET,
        "gamma-admin",
        &format!("/api/v1/release-requests/{id}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The requester cannot approve its own request; the source decides, partly.
    let decide = format!("/api/v1/release-requests/{id}/decision");
    let (s, _) = call(
        &node,
        Method::POST,
        "alpha-admin",
        &decide,
        Some(json!({"approve": true})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = call(
        &node,
        Method::POST,
        "beta-admin",
        &decide,
        Some(json!({"approve": false})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a refusal needs a reason: {v}"
    );
    let (s, v) = call(
        &node,
        Method::POST,
        "beta-admin",
        &decide,
        Some(json!({"approve": true, "tlp": "clear"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        seen(&node, "gamma-admin").await.is_empty(),
        "nothing changed yet"
    );
    let (s, v) = call(&node, Method::POST, "beta-admin", &decide, Some(json!({"approve": true, "tlp": "amber", "reason": "gamma yes, not the whole community"}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "partly_approved");
    assert_eq!(
        seen(&node, "gamma-admin").await.len(),
        1,
        "gamma sees it at once"
    );
    let (s, _) = call(
        &node,
        Method::POST,
        "beta-admin",
        &decide,
        Some(json!({"approve": false, "reason": "changed my mind"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, notes) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        "/api/v1/notifications?unread=true",
        None,
    )
    .await;
    assert_eq!(notes[0]["kind"], "release_decision", "{notes}");
    assert_eq!(notes[0]["body"]["status"], "partly_approved");
    let note_id = notes[0]["id"].as_str().unwrap().to_string();
    let (_, r) = call(
        &node,
        Method::POST,
        "alpha-analyst",
        "/api/v1/notifications/read",
        Some(json!({"ids": [note_id]})),
    )
    .await;
    assert_eq!(r["marked_read"], 1);
    let (_, notes) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        "/api/v1/notifications?unread=true",
        None,
    )
    .await;
    assert_eq!(notes, json!([]));

    // A second request, refused with a reason: nothing changes, the requester is told.
    let (s, req2) = call(
        &node,
        Method::POST,
        "gamma-admin",
        ask,
        Some(json!({"tlp": "clear", "reason": "publish it"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{req2}");
    let decide2 = format!(
        "/api/v1/release-requests/{}/decision",
        req2["id"].as_str().unwrap()
    );
    let (s, v) = call(
        &node,
        Method::POST,
        "beta-analyst",
        &decide2,
        Some(json!({"approve": false, "reason": "not before the patch"})),
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("refused")));
    let (_, notes) = call(
        &node,
        Method::GET,
        "gamma-admin",
        "/api/v1/notifications",
        None,
    )
    .await;
    assert_eq!(notes[0]["body"]["reason"], "not before the patch");

    let actions = audit_actions(&node).await;
    for (action, outcome) in [
        ("release.request", "changed"),
        ("release.decide", "granted"),
        ("release.decide", "denied"),
    ] {
        assert!(
            actions.iter().any(|(a, o)| a == action && o == outcome),
            "{action}/{outcome}: {actions:?}"
        );
    }
    node.stop().await;
}

/// Notifications about an object follow the rule: when the user loses the object, the
/// notification about it disappears with it.
async fn notifications_follow_the_rule(engine: Engine) {
    let node = TestNode::start(engine).await;
    publish(
        &node,
        "beta-analyst",
        indicator(AMBER, &["beta", "alpha"], &[]),
    )
    .await;
    let ask = "/api/v1/communities/test-isac/objects/indicator--5a5e0b6c-0000-4000-8000-000000000001/release-requests";
    let (s, req) = call(
        &node,
        Method::POST,
        "alpha-analyst",
        ask,
        Some(json!({"tlp": "green", "reason": "r"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = call(
        &node,
        Method::POST,
        "beta-admin",
        &format!(
            "/api/v1/release-requests/{}/decision",
            req["id"].as_str().unwrap()
        ),
        Some(json!({"approve": false, "reason": "no"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, notes) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        "/api/v1/notifications",
        None,
    )
    .await;
    assert_eq!(notes.as_array().unwrap().len(), 1);
    let (s, _) = call(
        &node,
        Method::PUT,
        "beta-analyst",
        MARKING,
        Some(json!({"organizations": ["beta"], "reason": "need to know"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, notes) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        "/api/v1/notifications",
        None,
    )
    .await;
    assert_eq!(notes, json!([]), "the notification went with the object");
    node.stop().await;
}

/// Sources are reminded of RED and AMBER markings older than the community's setting, once
/// per period; a marking decision starts the period again.
async fn review_reminders(engine: Engine) {
    let node = TestNode::start(engine).await;
    publish(
        &node,
        "beta-analyst",
        indicator(RED, &[], &["beta-analyst", "alpha-analyst"]),
    )
    .await;
    let mut green = indicator(GREEN, &[], &[]);
    green["id"] = json!("indicator--5a5e0b6c-0000-4000-8000-000000000002");
    publish(&node, "beta-analyst", green).await;
    let (s, v) = call(
        &node,
        Method::PATCH,
        "alpha-admin",
        "/api/v1/communities/test-isac",
        Some(json!({"review_after_days": 5000})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = call(
        &node,
        Method::PATCH,
        "alpha-admin",
        "/api/v1/communities/test-isac",
        Some(json!({"review_after_days": 30})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["review_after_days"], 30);

    let now = cairn_core::ts::now();
    assert_eq!(
        node.cairn.remind_marking_reviews(now).await.unwrap(),
        0,
        "not old yet"
    );
    let later = now + time::Duration::days(31);
    assert_eq!(
        node.cairn.remind_marking_reviews(later).await.unwrap(),
        1,
        "the RED one only"
    );
    assert_eq!(
        node.cairn.remind_marking_reviews(later).await.unwrap(),
        0,
        "once per period"
    );
    let (_, notes) = call(
        &node,
        Method::GET,
        "beta-admin",
        "/api/v1/notifications",
        None,
    )
    .await;
    assert_eq!(notes[0]["kind"], "marking_review", "{notes}");
    assert_eq!(notes[0]["body"]["objects"], 1);
    let (_, notes) = call(
        &node,
        Method::GET,
        "alpha-admin",
        "/api/v1/notifications",
        None,
    )
    .await;
    assert_eq!(notes, json!([]), "only the source is reminded");
    let much_later = later + time::Duration::days(31);
    assert_eq!(
        node.cairn.remind_marking_reviews(much_later).await.unwrap(),
        1,
        "next period"
    );
    let (s, _) = call(
        &node,
        Method::PUT,
        "beta-analyst",
        MARKING,
        Some(json!({"users": ["beta-analyst"], "reason": "reviewed"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, due) = call(
        &node,
        Method::GET,
        "beta-admin",
        "/api/v1/communities/test-isac/marking-reviews",
        None,
    )
    .await;
    assert_eq!(
        (s, due),
        (StatusCode::OK, json!([])),
        "nothing is 30 days old in real time"
    );
    let c = node
        .store
        .community_by_slug("test-isac")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.review_after_days, Some(30));
    node.stop().await;
}

both_engines!(
    source_changes_marking_and_access_follows_everywhere,
    release_requests_go_to_the_source_who_decides,
    notifications_follow_the_rule,
    review_reminders,
);
