//! Correlation, exact value lookup, full-text search and hidden-match notices, end to end over a
//! real socket, on SQLite and PostgreSQL. Nothing a caller may not see may show through any of
//! them; the poster of a value that matches a hidden object learns nothing.

use cairn_core::store::Store;
use cairn_testkit::{both_engines, Engine, TestNode};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

const TAXII: &str = "application/taxii+json;version=2.1";
const CLEAR: &str = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
const RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
const AUDIENCE: &str = "extension-definition--39d4868d-fa3b-477b-b138-a83c8ea8e300";

async fn call(node: &TestNode, user: &str, path: &str) -> (StatusCode, Value) {
    // Correlation notices of earlier publishes are written before anything is read.
    node.cairn.settle_correlation().await;
    let r = node.as_user(Method::GET, user, path).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn new_id(kind: &str) -> String {
    format!("{kind}--{}", Uuid::new_v4())
}

/// An indicator with this pattern and marking, naming an audience if given.
fn indicator(
    id: &str,
    name: &str,
    pattern: &str,
    marking: &str,
    orgs: &[&str],
    users: &[&str],
) -> Value {
    let mut o = json!({
        "type": "indicator", "spec_version": "2.1", "id": id,
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "name": name, "pattern": pattern, "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z", "object_marking_refs": [marking],
    });
    if !orgs.is_empty() || !users.is_empty() {
        o["extensions"] = json!({AUDIENCE: {"extension_type": "property-extension", "organizations": orgs, "users": users}});
    }
    o
}

/// Publish over REST; returns the whole answer (which the poster sees).
async fn publish(node: &TestNode, user: &str, objects: Vec<Value>) -> Value {
    let r = node
        .as_user(Method::POST, user, "/api/v1/communities/test-isac/objects")
        .json(&json!({"type": "bundle", "id": format!("bundle--{}", Uuid::new_v4()), "objects": objects}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    for res in v["results"].as_array().unwrap() {
        assert_eq!(res["outcome"], "stored", "{v}");
    }
    v
}

/// The ids found by a value lookup (all pages).
async fn lookup(node: &TestNode, user: &str, query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let (s, v) = call(
            node,
            user,
            &format!("/api/v1/search/values?{query}&limit=2&offset={offset}"),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{query}: {v}");
        let results = v["results"].as_array().unwrap();
        out.extend(
            results
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string()),
        );
        if v["more"] != json!(true) {
            return out;
        }
        assert_eq!(results.len(), 2);
        offset += 2;
    }
}

async fn search(node: &TestNode, user: &str, query: &str) -> Vec<String> {
    let (s, v) = call(node, user, &format!("/api/v1/search?{query}")).await;
    assert_eq!(s, StatusCode::OK, "{query}: {v}");
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// (value, matched ids) of an object's correlations.
async fn correlations(
    node: &TestNode,
    user: &str,
    id: &str,
) -> (StatusCode, Vec<(String, Vec<String>)>) {
    let (s, v) = call(
        node,
        user,
        &format!("/api/v1/communities/test-isac/objects/{id}/correlations"),
    )
    .await;
    if s != StatusCode::OK {
        return (s, Vec::new());
    }
    let values = v["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let mut ids: Vec<String> = x["matches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            (
                format!(
                    "{}:{}",
                    x["kind"].as_str().unwrap(),
                    x["value"].as_str().unwrap()
                ),
                ids,
            )
        })
        .collect();
    (s, values)
}

async fn notifications(node: &TestNode, user: &str) -> Vec<Value> {
    let (s, v) = call(node, user, "/api/v1/notifications").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v.as_array().unwrap().clone()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn correlation_is_visible_only_among_entitled_objects(engine: Engine) {
    let node = TestNode::start(engine).await;
    let ip = "[ipv4-addr:value = '198.51.100.7']";
    let (a, b, c, d) = (
        new_id("indicator"),
        new_id("indicator"),
        new_id("indicator"),
        new_id("indicator"),
    );
    publish(
        &node,
        "alpha-analyst",
        vec![indicator(&a, "seen at alpha", ip, GREEN, &[], &[])],
    )
    .await;
    publish(
        &node,
        "beta-analyst",
        vec![indicator(&b, "beta only", ip, AMBER, &["beta"], &[])],
    )
    .await;
    publish(
        &node,
        "beta-analyst",
        vec![indicator(&c, "shared by beta", ip, GREEN, &[], &[])],
    )
    .await;
    // Another value only: no correlation with the others.
    publish(
        &node,
        "beta-analyst",
        vec![indicator(
            &d,
            "other",
            "[ipv4-addr:value = '198.51.100.8']",
            CLEAR,
            &[],
            &[],
        )],
    )
    .await;

    let v = "ipv4:198.51.100.7".to_string();
    assert_eq!(
        correlations(&node, "alpha-analyst", &a).await,
        (StatusCode::OK, vec![(v.clone(), vec![c.clone()])]),
        "alpha must not see beta's AMBER object"
    );
    assert_eq!(
        correlations(&node, "alpha-reader", &a).await,
        (StatusCode::OK, vec![(v.clone(), vec![c.clone()])])
    );
    assert_eq!(
        correlations(&node, "beta-admin", &a).await,
        (
            StatusCode::OK,
            vec![(v.clone(), sorted(vec![b.clone(), c.clone()]))]
        )
    );
    // Alpha cannot see b at all: 404, as if it did not exist.
    assert_eq!(
        correlations(&node, "alpha-analyst", &b).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        correlations(&node, "beta-analyst", &b).await,
        (
            StatusCode::OK,
            vec![(v.clone(), sorted(vec![a.clone(), c.clone()]))]
        )
    );
    // Outsiders see nothing.
    assert_eq!(
        correlations(&node, "gamma-admin", &a).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        correlations(&node, "beta-admin", &d).await,
        (
            StatusCode::OK,
            vec![("ipv4:198.51.100.8".to_string(), vec![])]
        )
    );
    // The answer's shape.
    let (_, body) = call(
        &node,
        "alpha-analyst",
        &format!("/api/v1/communities/test-isac/objects/{a}/correlations?limit=1"),
    )
    .await;
    assert_eq!(body["community"], "test-isac");
    assert_eq!(body["id"], a.as_str());
    assert_eq!(body["truncated"], false);
    let m = &body["values"][0]["matches"][0];
    assert_eq!(m["community"], "test-isac");
    assert_eq!(m["type"], "indicator");
    assert_eq!(m["tlp"], "green");
    let (_, body) = call(
        &node,
        "beta-admin",
        &format!("/api/v1/communities/test-isac/objects/{a}/correlations?limit=1"),
    )
    .await;
    assert_eq!(body["truncated"], true, "{body}");
    assert_eq!(body["values"][0]["matches"].as_array().unwrap().len(), 1);
    for bad in ["limit=0", "limit=1001", "limit=x", "other=1"] {
        let (s, e) = call(
            &node,
            "alpha-analyst",
            &format!("/api/v1/communities/test-isac/objects/{a}/correlations?{bad}"),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {e}");
        assert!(e["message"].as_str().unwrap().len() > 5);
    }
    node.stop().await;
}

async fn hidden_match_tells_the_owner_and_nothing_to_the_poster(engine: Engine) {
    let node = TestNode::start(engine).await;
    let hidden = new_id("indicator");
    let hidden_name = "crown jewel exfiltration host";
    // Beta's RED object, for beta-analyst only.
    publish(
        &node,
        "beta-analyst",
        vec![indicator(
            &hidden,
            hidden_name,
            "[domain-name:value = 'Evil.Example']",
            RED,
            &[],
            &["beta-analyst"],
        )],
    )
    .await;
    // Beta's GREEN object with another value: visible to alpha, so no notice about it.
    let open = new_id("indicator");
    publish(
        &node,
        "beta-analyst",
        vec![indicator(
            &open,
            "open",
            "[ipv4-addr:value = '203.0.113.9']",
            GREEN,
            &[],
            &[],
        )],
    )
    .await;
    for u in ["beta-admin", "beta-analyst", "alpha-admin", "alpha-analyst"] {
        assert!(notifications(&node, u).await.is_empty(), "{u}");
    }

    // Alpha posts the same domain in another form, and the open object's IP.
    let posted = new_id("indicator");
    let answer = publish(
        &node,
        "alpha-analyst",
        vec![indicator(
            &posted,
            "alpha sighting",
            "[domain-name:value = 'EVIL.example.'] OR [ipv4-addr:value = '203.0.113.9']",
            AMBER,
            &[],
            &[],
        )],
    )
    .await;
    let text = answer.to_string();
    assert!(
        !text.contains(&hidden) && !text.contains("correlation") && !text.contains("evil"),
        "{text}"
    );

    // The notices are written by the correlation worker after the publish has answered; once
    // it has caught up, `/metrics` counts every publish with values as correlated.
    node.cairn.settle_correlation().await;
    let progress = node.cairn.correlation_progress();
    assert_eq!(progress.submitted, progress.finished);
    assert!(progress.submitted >= 3, "{progress:?}");
    let metrics = node.metrics().await;
    assert!(
        metrics.contains(&format!(
            "cairn_correlation_jobs_finished_total {}\n",
            progress.finished
        )),
        "{metrics}"
    );

    // The owner's admins and analysts are told; the notice names the value, the new object's
    // marking and community, never the poster nor the new object.
    for u in ["beta-admin", "beta-analyst"] {
        let n = notifications(&node, u).await;
        assert_eq!(n.len(), 1, "{u}: {n:?}");
        assert_eq!(n[0]["kind"], "correlation");
        assert_eq!(n[0]["object_id"], hidden.as_str());
        assert_eq!(
            n[0]["body"],
            json!({"kind": "domain", "value": "evil.example", "marking": "amber", "community": "test-isac"})
        );
        let t = n[0].to_string();
        assert!(!t.contains("alpha") && !t.contains(&posted), "{t}");
    }
    // The poster's organization gets nothing, and no read path shows the hidden object.
    for u in ["alpha-admin", "alpha-analyst", "alpha-reader"] {
        assert!(notifications(&node, u).await.is_empty(), "{u}");
        assert_eq!(
            lookup(&node, u, "value=evil.example").await,
            vec![posted.clone()]
        );
        assert!(search(&node, u, "q=crown+jewel").await.is_empty());
        let (s, c) = correlations(&node, u, &posted).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            c,
            vec![
                ("domain:evil.example".to_string(), vec![]),
                ("ipv4:203.0.113.9".to_string(), vec![open.clone()]),
            ],
            "{u}"
        );
        assert_eq!(
            correlations(&node, u, &hidden).await.0,
            StatusCode::NOT_FOUND
        );
    }
    // The owner sees the match when asking.
    let (_, c) = correlations(&node, "beta-analyst", &hidden).await;
    assert_eq!(
        c,
        vec![("domain:evil.example".to_string(), vec![posted.clone()])]
    );
    assert_eq!(
        search(&node, "beta-analyst", "q=crown+jewel").await,
        vec![hidden.clone()]
    );
    // The source organization sees its own objects, whoever they are addressed to.
    assert_eq!(
        search(&node, "beta-admin", "q=crown+jewel").await,
        vec![hidden.clone()]
    );

    // Beta posting the value again tells nobody (its own object), nor does alpha posting a value
    // beta's object holds that alpha may see.
    let again = new_id("indicator");
    publish(
        &node,
        "beta-admin",
        vec![indicator(
            &again,
            "again",
            "[domain-name:value = 'evil.example']",
            GREEN,
            &[],
            &[],
        )],
    )
    .await;
    publish(
        &node,
        "alpha-admin",
        vec![indicator(
            &new_id("indicator"),
            "open again",
            "[ipv4-addr:value = '203.0.113.9']",
            GREEN,
            &[],
            &[],
        )],
    )
    .await;
    assert_eq!(notifications(&node, "beta-analyst").await.len(), 1);
    assert!(notifications(&node, "alpha-analyst").await.is_empty());
    // Alpha may now see a beta object holding the value, but not the RED one: a further post
    // is still a hidden match for the RED object, and its owner is told again.
    publish(
        &node,
        "alpha-analyst",
        vec![indicator(
            &new_id("indicator"),
            "third",
            "[domain-name:value = 'evil.example']",
            CLEAR,
            &[],
            &[],
        )],
    )
    .await;
    let n = notifications(&node, "beta-analyst").await;
    assert_eq!(n.len(), 2);
    assert_eq!(n[0]["body"]["marking"], "clear");
    assert!(notifications(&node, "alpha-analyst").await.is_empty());

    // The node records that notices went out, as its own doing.
    let (_, audit) = call(&node, "operator", "/api/v1/audit?action=correlation.notify").await;
    let entries = audit.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    assert!(!entries[0].to_string().contains("alpha-analyst"));
    // Alpha's admin reads its organization's audit entries: none about the notice.
    let (_, audit) = call(
        &node,
        "alpha-admin",
        "/api/v1/audit?action=correlation.notify",
    )
    .await;
    assert_eq!(audit, json!([]));
    node.stop().await;
}

async fn values_are_normalized(engine: Engine) {
    let node = TestNode::start(engine).await;
    let sha = "AEC070645FE53EE3B3763059376134F058CC337247C978ADD178B6CCDFB0019F";
    let (dom, ip6, hash, url, mail) = (
        new_id("indicator"),
        new_id("indicator"),
        new_id("indicator"),
        new_id("indicator"),
        new_id("indicator"),
    );
    publish(
        &node,
        "beta-analyst",
        vec![
            indicator(
                &dom,
                "d",
                "[domain-name:value = 'Example.COM']",
                GREEN,
                &[],
                &[],
            ),
            indicator(
                &ip6,
                "i",
                "[ipv6-addr:value = '2001:0DB8:0000:0000:0000:0000:0000:0001']",
                GREEN,
                &[],
                &[],
            ),
            indicator(
                &hash,
                "h",
                &format!("[file:hashes.'SHA-256' = '{sha}']"),
                GREEN,
                &[],
                &[],
            ),
            indicator(
                &url,
                "u",
                "[url:value = 'HTTP://Example.COM/Path']",
                GREEN,
                &[],
                &[],
            ),
            indicator(
                &mail,
                "m",
                "[email-addr:value = 'Bad.Actor@Example.COM']",
                GREEN,
                &[],
                &[],
            ),
        ],
    )
    .await;
    // A value with quotes, a backslash and letters beyond ASCII (stored as JSON on PostgreSQL).
    let odd = new_id("indicator");
    publish(
        &node,
        "beta-analyst",
        vec![indicator(
            &odd,
            "o",
            "[url:value = 'http://example.org/q\"x\\\\y/ünï']",
            GREEN,
            &[],
            &[],
        )],
    )
    .await;
    assert_eq!(
        lookup(
            &node,
            "alpha-reader",
            "value=http%3A%2F%2Fexample.org%2Fq%22x%5Cy%2F%C3%BCn%C3%AF"
        )
        .await,
        vec![odd.clone()]
    );
    // An SCO holding the same domain.
    let sco = "domain-name--dc63603e-e634-5357-b239-d4b562bc5445";
    publish(&node, "alpha-analyst", vec![json!({"type": "domain-name", "spec_version": "2.1", "id": sco, "value": "example.com"})]).await;
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            "value=example.com".into(),
            sorted(vec![dom.clone(), sco.to_string()]),
        ),
        (
            "value=EXAMPLE.com.".into(),
            sorted(vec![dom.clone(), sco.to_string()]),
        ),
        (
            "value=example.com&kind=domain".into(),
            sorted(vec![dom.clone(), sco.to_string()]),
        ),
        ("value=2001:db8::1".into(), vec![ip6.clone()]),
        ("value=2001:DB8:0:0:0:0:0:1".into(), vec![ip6.clone()]),
        (
            "value=2001:db8:0::1/128&kind=ipv6".into(),
            vec![ip6.clone()],
        ),
        (format!("value={}", sha.to_lowercase()), vec![hash.clone()]),
        (format!("value={sha}&kind=sha256"), vec![hash.clone()]),
        ("value=http://EXAMPLE.com/Path".into(), vec![url.clone()]),
        ("value=http://example.com/path".into(), vec![]),
        ("value=bad.actor@example.com".into(), vec![mail.clone()]),
        ("value=198.51.100.1".into(), vec![]),
    ];
    for (q, want) in cases {
        let q = q
            .replace('/', "%2F")
            .replace(':', "%3A")
            .replace('@', "%40");
        assert_eq!(sorted(lookup(&node, "alpha-reader", &q).await), want, "{q}");
    }
    // The answer says how the value was read, newest first.
    let (_, v) = call(
        &node,
        "alpha-reader",
        "/api/v1/search/values?value=Example.Com",
    )
    .await;
    assert_eq!(v["kind"], "domain");
    assert_eq!(v["value"], "example.com");
    assert_eq!(v["results"][0]["id"], sco);
    assert_eq!(v["results"][1]["id"], dom.as_str());
    assert_eq!(v["results"][1]["name"], "d");
    assert_eq!(v["results"][1]["community"], "test-isac");
    assert_eq!(v["results"][1]["tlp"], "green");
    // Bad input: 400 naming what is wrong.
    for (q, says) in [
        ("", "value: is required"),
        ("value=", "value: is required"),
        ("value=not+a+thing", "not an IPv4"),
        ("value=localhost", "name its kind"),
        ("value=1.2.3.4&kind=md5", "not a valid md5"),
        ("value=1.2.3.4&kind=ip", "kind: `ip`"),
        ("value=1.2.3.4&limit=0", "limit"),
        ("value=1.2.3.4&limit=101", "limit"),
        ("value=1.2.3.4&offset=-1", "offset"),
        ("value=1.2.3.4&offset=10001", "offset"),
        ("value=1.2.3.4&bogus=1", "bogus"),
    ] {
        let (s, e) = call(&node, "alpha-reader", &format!("/api/v1/search/values?{q}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{q}: {e}");
    }
    let long = "a".repeat(3000);
    let (s, _) = call(
        &node,
        "alpha-reader",
        &format!("/api/v1/search/values?value={long}"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // A community filter, and a community the caller may not read.
    assert_eq!(
        lookup(
            &node,
            "alpha-reader",
            "value=2001:db8::1&community=test-isac"
        )
        .await,
        vec![ip6.clone()]
    );
    let (s, _) = call(
        &node,
        "gamma-admin",
        "/api/v1/search/values?value=example.com&community=test-isac",
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(lookup(&node, "gamma-admin", "value=example.com")
        .await
        .is_empty());
    let r = node
        .client
        .get(node.url("/api/v1/search/values?value=example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    node.stop().await;
}

async fn search_ranks_and_pages(engine: Engine) {
    let node = TestNode::start(engine).await;
    // The three endpoints are in the OpenAPI document.
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
        "/api/v1/search",
        "/api/v1/search/values",
        "/api/v1/communities/{slug}/objects/{id}/correlations",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
    let report = |id: &str, name: &str, description: &str, marking: &str| {
        json!({"type": "report", "spec_version": "2.1", "id": id,
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "name": name, "description": description, "published": "2026-01-01T00:00:00Z",
            "report_types": ["threat-report"], "object_refs": ["indicator--26ffb872-1dd9-446e-b6f5-d58527e5b5d2"],
            "object_marking_refs": [marking]})
    };
    let in_name = new_id("report");
    let in_both = new_id("report");
    let in_text = new_id("report");
    let other = new_id("report");
    let note = new_id("note");
    publish(
        &node,
        "beta-analyst",
        vec![
            report(&in_text, "Quarterly overview", "Water utilities saw Ransomware twice. Nothing else.", GREEN),
            report(&in_name, "Ransomware wave", "Several intrusions in the water sector.", GREEN),
            report(&in_both, "Ransomware at pumping stations", "Ransomware, ransomware everywhere.", GREEN),
            report(&other, "Phishing", "Credential harvesting against operators.", GREEN),
            json!({"type": "note", "spec_version": "2.1", "id": note, "created": "2026-01-01T00:00:00.000Z",
                "modified": "2026-01-01T00:00:00.000Z", "abstract": "Follow-up",
                "content": "The ransomware operators reused the pumping stations' VPN.",
                "labels": ["Élan"], "object_refs": [in_name.clone()], "object_marking_refs": [GREEN]}),
        ],
    )
    .await;
    let (s, v) = call(&node, "alpha-reader", "/api/v1/search?q=RANSOMWARE").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["terms"], json!(["ransomware"]));
    let ids: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "{v}");
    // A word in the name counts more than in the text.
    assert_eq!(ids[0], in_both.as_str(), "{v}");
    assert_eq!(ids[1], in_name.as_str(), "{v}");
    assert!(ids[2..].contains(&in_text.as_str()) && ids[2..].contains(&note.as_str()));
    let ranks: Vec<f64> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rank"].as_f64().unwrap())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] >= w[1]), "{ranks:?}");
    let first = &v["results"][0];
    assert_eq!(first["name"], "Ransomware at pumping stations");
    assert_eq!(first["type"], "report");
    assert_eq!(first["community"], "test-isac");
    assert_eq!(first["tlp"], "green");
    assert!(
        first["snippet"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("ransomware"),
        "{first}"
    );
    // Every word must be there; punctuation is no syntax.
    assert_eq!(
        search(&node, "alpha-reader", "q=pumping+stations")
            .await
            .len(),
        2
    );
    assert_eq!(
        search(&node, "alpha-reader", "q=%22pumping%22+AND+(vpn*)").await,
        Vec::<String>::new(),
        "`and` is a word like any other"
    );
    assert_eq!(
        search(&node, "alpha-reader", "q=vpn").await,
        vec![note.clone()]
    );
    assert_eq!(
        search(&node, "alpha-reader", "q=%C3%A9lan").await,
        vec![note.clone()]
    );
    assert_eq!(
        search(&node, "alpha-reader", "q=follow-up").await,
        vec![note.clone()]
    );
    // Pages: disjoint, in order, `more` until the end.
    let mut paged = Vec::new();
    for offset in [0, 2] {
        let (_, p) = call(
            &node,
            "alpha-reader",
            &format!("/api/v1/search?q=ransomware&limit=2&offset={offset}"),
        )
        .await;
        assert_eq!(p["more"], json!(offset == 0), "{p}");
        paged.extend(
            p["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(paged, ids);
    let (_, p) = call(
        &node,
        "alpha-reader",
        "/api/v1/search?q=ransomware&offset=4",
    )
    .await;
    assert_eq!(p["results"], json!([]));
    // Community filter.
    assert_eq!(
        search(&node, "alpha-reader", "q=phishing&community=test-isac").await,
        vec![other.clone()]
    );
    let (s, _) = call(
        &node,
        "gamma-admin",
        "/api/v1/search?q=phishing&community=test-isac",
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(search(&node, "gamma-admin", "q=phishing").await.is_empty());
    // Bad queries: 400 with the reason; odd text never breaks the query.
    for (q, says) in [
        ("", "q: is required"),
        ("q=", "q: is required"),
        ("q=%22*%3A()%5E-", "only punctuation"),
        ("q=a&limit=0", "limit"),
        ("q=a&limit=101", "limit"),
        ("q=a&offset=10001", "offset"),
        ("q=a&offset=x", "offset"),
    ] {
        let (s, e) = call(&node, "alpha-reader", &format!("/api/v1/search?{q}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{q}: {e}");
    }
    let many: String = (0..20).map(|i| format!("w{i}+")).collect();
    let (s, _) = call(&node, "alpha-reader", &format!("/api/v1/search?q={many}")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    for q in [
        "NEAR(a b)",
        "a OR b",
        "a NOT b",
        "name:ransomware",
        "\"unterminated",
        "x'y",
        "\\",
        "İstanbul",
        "%00",
        "a\u{0}b",
        "\u{301}",
        "日本語",
        "a\u{200b}b",
        "🦀",
        "1e5",
        "-1",
        "::",
        "ǅ",
    ] {
        let r = node
            .as_user(Method::GET, "alpha-reader", "/api/v1/search")
            .query(&[("q", q)])
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == StatusCode::OK || r.status() == StatusCode::BAD_REQUEST,
            "{q}: {}",
            r.status()
        );
    }
    node.stop().await;
}

async fn the_index_follows_deletes_marking_changes_and_the_backlog(engine: Engine) {
    let node = TestNode::start(engine).await;
    let id = new_id("indicator");
    publish(
        &node,
        "beta-analyst",
        vec![indicator(
            &id,
            "pivot node",
            "[ipv4-addr:value = '192.0.2.44']",
            AMBER,
            &["beta"],
            &[],
        )],
    )
    .await;
    assert!(lookup(&node, "alpha-analyst", "value=192.0.2.44")
        .await
        .is_empty());
    assert!(search(&node, "alpha-analyst", "q=pivot").await.is_empty());
    // The source opens it to everyone: a new version, indexed like any other.
    let r = node
        .as_user(
            Method::PUT,
            "beta-analyst",
            &format!("/api/v1/communities/test-isac/objects/{id}/marking"),
        )
        .json(&json!({"tlp": "green", "organizations": [], "reason": "release"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(
        lookup(&node, "alpha-analyst", "value=192.0.2.44").await,
        vec![id.clone()]
    );
    assert_eq!(
        search(&node, "alpha-analyst", "q=pivot").await,
        vec![id.clone()]
    );
    let (_, v) = call(
        &node,
        "alpha-analyst",
        "/api/v1/search/values?value=192.0.2.44",
    )
    .await;
    assert_ne!(
        v["results"][0]["version"], "2026-01-01T00:00:00.000Z",
        "the latest version"
    );

    // Versions stored before the index existed are indexed from the backlog.
    let store = node.store.clone();
    let pool = store.pool();
    let pivot_ids = vec![id.clone()];
    sqlx::query("DELETE FROM object_values")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM object_text")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE search_backlog SET done_seq = 0, upto_seq = (SELECT MAX(seq) FROM stix_objects)",
    )
    .execute(pool)
    .await
    .unwrap();
    assert!(lookup(&node, "alpha-analyst", "value=192.0.2.44")
        .await
        .is_empty());
    let mut total = 0;
    loop {
        let n = node.cairn.index_backlog(1).await.unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert_eq!(total, 2, "both versions");
    assert_eq!(node.cairn.index_backlog(10).await.unwrap(), 0);
    assert_eq!(
        lookup(&node, "alpha-analyst", "value=192.0.2.44").await,
        pivot_ids
    );
    assert_eq!(
        search(&node, "alpha-analyst", "q=pivot+node").await,
        vec![id.clone()]
    );

    // Deleting the object removes it from every index.
    let col = store
        .community_by_slug("test-isac")
        .await
        .unwrap()
        .unwrap()
        .id;
    let r = node
        .client
        .delete(node.url(&format!(
            "/taxii2/test-isac/collections/{col}/objects/{id}/?match[version]=all"
        )))
        .header("accept", TAXII)
        .bearer_auth(node.seed.token("beta-analyst"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert!(lookup(&node, "beta-analyst", "value=192.0.2.44")
        .await
        .is_empty());
    assert!(search(&node, "beta-analyst", "q=pivot").await.is_empty());
    for table in ["object_values", "object_text"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    node.stop().await;
}

async fn across_communities(engine: Engine) {
    let node = TestNode::start(engine).await;
    // A second community of alpha alone.
    let r = node
        .as_user(Method::POST, "operator", "/api/v1/communities")
        .json(&json!({"slug": "alpha-only", "name": "Alpha only"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let r = node
        .as_user(
            Method::POST,
            "operator",
            "/api/v1/communities/alpha-only/members",
        )
        .json(&json!({"organization": "alpha", "role": "chair"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let sha = "d41d8cd98f00b204e9800998ecf8427e";
    let pattern = format!("[file:hashes.MD5 = '{sha}']");
    let hidden = new_id("indicator");
    publish(
        &node,
        "beta-analyst",
        vec![indicator(
            &hidden,
            "beta's",
            &pattern,
            AMBER,
            &["beta"],
            &[],
        )],
    )
    .await;
    let shared = new_id("indicator");
    publish(
        &node,
        "beta-analyst",
        vec![indicator(&shared, "beta's open", &pattern, GREEN, &[], &[])],
    )
    .await;
    // Alpha posts the hash in its own community.
    let mine = new_id("indicator");
    let r = node
        .as_user(Method::POST, "alpha-analyst", "/api/v1/communities/alpha-only/objects")
        .json(&json!({"objects": [indicator(&mine, "alpha's", &format!("[file:hashes.MD5 = '{}']", sha.to_uppercase()), RED, &[], &["alpha-analyst"])]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Beta is told, without the name of a community it is not a member of.
    let n = notifications(&node, "beta-admin").await;
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0]["object_id"], hidden.as_str());
    assert_eq!(
        n[0]["body"],
        json!({"kind": "md5", "value": sha, "marking": "red", "community": null})
    );
    assert!(!n[0].to_string().contains("alpha"));
    // Alpha's correlations span both communities, among what alpha may see.
    let (s, v) = call(
        &node,
        "alpha-analyst",
        &format!("/api/v1/communities/alpha-only/objects/{mine}/correlations"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["values"][0]["matches"],
        json!([{"community": "test-isac", "id": shared, "type": "indicator", "version": "2026-01-01T00:00:00.000Z", "tlp": "green"}])
    );
    // Beta sees alpha's RED object nowhere.
    assert_eq!(
        sorted(lookup(&node, "beta-admin", &format!("value={sha}")).await),
        sorted(vec![hidden.clone(), shared.clone()])
    );
    assert_eq!(
        lookup(&node, "alpha-analyst", &format!("value={sha}"))
            .await
            .len(),
        2
    );
    // The source organization sees its own RED object, whoever it names.
    assert_eq!(
        lookup(&node, "alpha-admin", &format!("value={sha}"))
            .await
            .len(),
        2
    );
    node.stop().await;
}

/// Fill the newest part of the value index as if it held its full count of rows: the next
/// values go to a new part, and this one is sealed (its hashes read into memory by the
/// hidden-match lookup).
async fn seal_newest_value_part(node: &TestNode) {
    sqlx::query(&format!(
        "UPDATE value_parts SET written = {} WHERE part = (SELECT MAX(part) FROM value_parts)",
        cairn_store::VALUE_PART_ROWS
    ))
    .execute(node.store.pool())
    .await
    .unwrap();
}

async fn value_parts_of(node: &TestNode, id: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT DISTINCT v.part FROM object_values v JOIN stix_objects o ON o.seq = v.seq WHERE o.object_id = $1 ORDER BY v.part",
    )
    .bind(id.to_string())
    .fetch_all(node.store.pool())
    .await
    .unwrap()
}

/// Beta publishes, in two envelopes, a RED indicator of `domain` for beta-analyst only and a
/// GREEN one of `ip`: their ids (hidden, open).
async fn publish_hidden_and_open(node: &TestNode, domain: &str, ip: &str) -> (String, String) {
    let (hidden, open) = (new_id("indicator"), new_id("indicator"));
    let pattern = format!("[domain-name:value = '{domain}']");
    let red = indicator(&hidden, "held back", &pattern, RED, &[], &["beta-analyst"]);
    publish(node, "beta-analyst", vec![red]).await;
    let pattern = format!("[ipv4-addr:value = '{ip}']");
    let green = indicator(&open, "open", &pattern, GREEN, &[], &[]);
    publish(node, "beta-analyst", vec![green]).await;
    (hidden, open)
}

/// Values stored in several parts of the value index, sealed ones and the newest, are found by
/// every read (lookup, correlations) and by the hidden-match lookup, whichever part holds them
/// and whether or not this process had read a part before it was sealed.
async fn values_are_found_in_every_part_of_the_index(engine: Engine) {
    let node = TestNode::start(engine).await;
    let green = |id: &str, pattern: &str| indicator(id, "open", pattern, GREEN, &[], &[]);
    // Part 0: a hidden and an open object of beta's.
    let (hidden0, open0) = publish_hidden_and_open(&node, "zero.example", "192.0.2.10").await;
    // A publish with nothing to match: the lookup reads the (empty) sealed parts now.
    publish(
        &node,
        "alpha-analyst",
        vec![green(
            &new_id("indicator"),
            "[ipv4-addr:value = '192.0.2.99']",
        )],
    )
    .await;
    assert!(notifications(&node, "beta-analyst").await.is_empty());
    seal_newest_value_part(&node).await;
    // Part 1: the same again, with other values.
    let (hidden1, open1) = publish_hidden_and_open(&node, "one.example", "192.0.2.11").await;
    assert_eq!(value_parts_of(&node, &open0).await, vec![0]);
    assert_eq!(value_parts_of(&node, &open1).await, vec![1]);

    // Alpha holds the value of a hidden object in the sealed part: its owner is told.
    let alpha0 = new_id("indicator");
    publish(
        &node,
        "alpha-analyst",
        vec![green(&alpha0, "[domain-name:value = 'ZERO.example']")],
    )
    .await;
    let n = notifications(&node, "beta-analyst").await;
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0]["object_id"], hidden0.as_str());
    // ... and of one in the newest part.
    let alpha1 = new_id("indicator");
    publish(
        &node,
        "alpha-analyst",
        vec![green(&alpha1, "[domain-name:value = 'one.example']")],
    )
    .await;
    let n = notifications(&node, "beta-analyst").await;
    assert_eq!(n.len(), 2, "{n:?}");
    assert!(
        n.iter().any(|x| x["object_id"] == hidden1.as_str()),
        "{n:?}"
    );

    // Part 1 sealed after this process read part 0: its hashes are read in turn.
    seal_newest_value_part(&node).await;
    let both = new_id("indicator");
    publish(
        &node,
        "alpha-analyst",
        vec![green(&both, "[domain-name:value = 'one.example'] OR [ipv4-addr:value = '192.0.2.10'] OR [ipv4-addr:value = '192.0.2.11']")],
    )
    .await;
    assert_eq!(value_parts_of(&node, &both).await, vec![2]);
    let n = notifications(&node, "beta-analyst").await;
    assert_eq!(n.len(), 3, "{n:?}");
    // Values beta's open objects hold (visible to alpha) tell nobody; new values tell nobody.
    assert!(notifications(&node, "alpha-analyst").await.is_empty());

    // Every read finds the values of every part.
    assert_eq!(
        lookup(&node, "alpha-analyst", "value=192.0.2.10")
            .await
            .len(),
        2
    );
    assert_eq!(
        lookup(&node, "alpha-analyst", "value=192.0.2.11")
            .await
            .len(),
        2
    );
    assert_eq!(
        sorted(lookup(&node, "beta-analyst", "value=zero.example").await),
        sorted(vec![hidden0.clone(), alpha0.clone()])
    );
    assert_eq!(
        lookup(&node, "alpha-analyst", "value=zero.example").await,
        vec![alpha0.clone()]
    );
    let (s, c) = correlations(&node, "alpha-analyst", &both).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        c,
        vec![
            ("domain:one.example".to_string(), vec![alpha1.clone()]),
            ("ipv4:192.0.2.10".to_string(), vec![open0.clone()]),
            ("ipv4:192.0.2.11".to_string(), vec![open1.clone()]),
        ]
    );
    let (_, c) = correlations(&node, "beta-analyst", &hidden0).await;
    assert_eq!(
        c,
        vec![("domain:zero.example".to_string(), vec![alpha0.clone()])]
    );
}

/// `user` publishes a GREEN indicator named `name` with `pattern` (no named audience).
async fn publish_green(node: &TestNode, user: &str, name: &str, pattern: &str) {
    let object = indicator(&new_id("indicator"), name, pattern, GREEN, &[], &[]);
    publish(node, user, vec![object]).await;
}

/// Another process writing to the value index (here a second store on the same database, as
/// `cairn import` beside a running server is): the server's hidden-match lookup must see its
/// values, though they never passed through the server's own writes.
async fn values_written_by_another_process_are_matched(engine: Engine) {
    use cairn_core::model::{Actor, AuditEvent, TlpLevel};
    use cairn_core::search::ValueKind;
    let node = TestNode::start(engine).await;
    // The server reads the newest part of the index into memory with its first publishes.
    publish_green(
        &node,
        "beta-analyst",
        "first",
        "[ipv4-addr:value = '192.0.2.1']",
    )
    .await;
    publish_green(
        &node,
        "alpha-analyst",
        "second",
        "[ipv4-addr:value = '192.0.2.2']",
    )
    .await;
    assert!(notifications(&node, "beta-analyst").await.is_empty());

    // Beta's RED object, for beta-analyst only, written by another process.
    let other = node.db.store().await;
    let community = other.community_by_slug("test-isac").await.unwrap().unwrap();
    let beta = other
        .organization_by_short_name("beta")
        .await
        .unwrap()
        .unwrap();
    let analyst = other.user_by_name("beta-analyst").await.unwrap().unwrap();
    let hidden = new_id("indicator");
    let at = "2026-01-01T00:00:00.000Z";
    let raw = json!({"type": "indicator", "spec_version": "2.1", "id": hidden, "created": at, "modified": at,
        "name": "elsewhere", "pattern": "[domain-name:value = 'elsewhere.example']", "pattern_type": "stix",
        "valid_from": at, "object_marking_refs": [RED]})
    .to_string();
    let version = cairn_core::sharing::NewObjectVersion {
        object_type: "indicator".into(),
        source_user: Some(analyst.id),
        tlp: TlpLevel::Red,
        raw,
        audience: Some(cairn_core::sharing::Audience {
            organizations: vec![],
            users: vec![analyst.id],
        }),
        index: cairn_core::search::VersionIndex {
            values: vec![(ValueKind::Domain, "elsewhere.example".into())],
            ..Default::default()
        },
        ..cairn_testkit::plain_version(&hidden, beta.id)
    };
    let op = Actor::system("test");
    other
        .share_objects(
            community.id,
            &[version],
            AuditEvent::new(&op, "objects.share", "community", community.id),
        )
        .await
        .unwrap();
    other.close().await;

    // Alpha posts the same value through the server: beta is told.
    publish_green(
        &node,
        "alpha-analyst",
        "third",
        "[domain-name:value = 'elsewhere.example']",
    )
    .await;
    let n = notifications(&node, "beta-analyst").await;
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0]["object_id"], hidden.as_str());
    assert!(notifications(&node, "alpha-analyst").await.is_empty());
}

both_engines!(
    values_written_by_another_process_are_matched,
    values_are_found_in_every_part_of_the_index,
    across_communities,
    correlation_is_visible_only_among_entitled_objects,
    hidden_match_tells_the_owner_and_nothing_to_the_poster,
    values_are_normalized,
    search_ranks_and_pages,
    the_index_follows_deletes_marking_changes_and_the_backlog,
);
