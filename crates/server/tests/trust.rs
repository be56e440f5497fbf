//! Sharing members can trust: sanitization rules and their dry run, anonymous shares that name
//! no source on any path, the operator's audited reveal, and signatures recipients can check.
//! On SQLite and PostgreSQL, over a real socket.

use cairn_core::provenance::{verify_bundle, SignatureEntry};
use cairn_core::store::Store;
use cairn_core::PublicKey;
use cairn_testkit::{both_engines, Engine, TestNode};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const TAXII: &str = "application/taxii+json;version=2.1";
const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";

async fn call(
    node: &TestNode,
    method: Method,
    user: &str,
    path: &str,
    payload: Option<Value>,
) -> (StatusCode, Value) {
    let (s, _, v) = call_raw(node, method, user, path, payload).await;
    (s, v)
}

/// Status, the headers and body as text, and the body as JSON.
async fn call_raw(
    node: &TestNode,
    method: Method,
    user: &str,
    path: &str,
    payload: Option<Value>,
) -> (StatusCode, String, Value) {
    node.cairn.settle_correlation().await;
    let mut req = node.as_user(method, user, path);
    if path.starts_with("/taxii2/") {
        req = req.header("accept", TAXII);
    }
    if let Some(p) = payload {
        req = req.json(&p);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = format!("{:?}", r.headers());
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    (status, format!("{headers}\n{text}"), v)
}

/// Deterministic generated content: indicators over internal addresses, e-mail addresses of
/// the source's own domain, public domains, SCOs and relationships between them.
fn generated(n: u32, seed: u32) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..n {
        let k = i * 7 + seed;
        let id = format!("indicator--a0000000-0000-4000-8000-{:012}", seed * 1000 + i);
        let pattern = match k % 3 {
            0 => format!("[ipv4-addr:value = '10.{}.{}.5']", k % 200, i % 250),
            1 => format!("[email-addr:value = 'analyst{k}@soc.beta.example']"),
            _ => format!("[domain-name:value = 'c2-{k}.example.net']"),
        };
        out.push(json!({
            "type": "indicator", "spec_version": "2.1", "id": id,
            "created": "2026-02-01T00:00:00.000Z", "modified": "2026-02-01T00:00:00.000Z",
            "name": format!("campaign wave {k}"),
            "description": format!("Seen from 192.168.{}.20, reported by duty{k}@beta.example", k % 250),
            "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-02-01T00:00:00Z",
            "object_marking_refs": [AMBER],
        }));
        let sco = json!({"type": "ipv4-addr", "spec_version": "2.1", "value": format!("10.9.{}.{}", k % 250, i % 250)});
        let sco_id = format!(
            "ipv4-addr--{}",
            cairn_stix::canonical::sco_uuid_v5(&json!({"value": sco["value"]}))
        );
        let mut sco = sco;
        sco["id"] = json!(sco_id);
        out.push(sco);
        out.push(json!({
            "type": "relationship", "spec_version": "2.1",
            "id": format!("relationship--b0000000-0000-4000-8000-{:012}", seed * 1000 + i),
            "created": "2026-02-01T00:00:00.000Z", "modified": "2026-02-01T00:00:00.000Z",
            "relationship_type": "based-on", "source_ref": id, "target_ref": sco_id,
            "object_marking_refs": [AMBER],
        }));
    }
    out
}

async fn set_rules(node: &TestNode, user: &str, path: &str, rules: Value) -> (StatusCode, Value) {
    call(node, Method::PUT, user, path, Some(rules)).await
}

async fn publish(
    node: &TestNode,
    user: &str,
    objects: Vec<Value>,
    anonymous: bool,
) -> (StatusCode, Value) {
    let q = if anonymous { "?anonymous=true" } else { "" };
    call(
        node,
        Method::POST,
        user,
        &format!("/api/v1/communities/test-isac/objects{q}"),
        Some(json!({"objects": objects})),
    )
    .await
}

async fn collection(node: &TestNode) -> String {
    let c = node
        .store
        .community_by_slug("test-isac")
        .await
        .unwrap()
        .unwrap();
    format!("/taxii2/test-isac/collections/{}/", c.id)
}

async fn sanitization_rules_dry_run_and_every_way_in(engine: Engine) {
    let node = TestNode::start(engine).await;
    // Malformed rules: every one named with its reason; nothing stored.
    let (s, v) = set_rules(
        &node,
        "beta-admin",
        "/api/v1/organizations/beta/sanitization",
        json!({"own_domains": ["beta.example", "not a domain"], "internal_networks": ["10.0.0.0/33"], "remove_properties": ["id"]}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let rules: Vec<&str> = v["details"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        vec![
            "own_domains[1]",
            "internal_networks[0]",
            "remove_properties[0]"
        ],
        "{v}"
    );
    let (_, none) = call(
        &node,
        Method::GET,
        "beta-admin",
        "/api/v1/organizations/beta/sanitization",
        None,
    )
    .await;
    assert_eq!(none, Value::Null);
    // Only the organization's admin sets them; unknown fields are refused.
    let (s, _) = set_rules(
        &node,
        "beta-analyst",
        "/api/v1/organizations/beta/sanitization",
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = set_rules(
        &node,
        "beta-admin",
        "/api/v1/organizations/beta/sanitization",
        json!({"own_domain": []}),
    )
    .await;
    assert!(s.is_client_error());
    let (s, v) = set_rules(
        &node,
        "beta-admin",
        "/api/v1/organizations/beta/sanitization",
        json!({"own_domains": ["beta.example"], "remove_properties": ["x_internal_ticket"]}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    // The community adds a host pattern; its chair sets it.
    let (s, v) = set_rules(
        &node,
        "alpha-analyst",
        "/api/v1/communities/test-isac/sanitization",
        json!({"hostname_patterns": ["*.corp.internal"]}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");

    let mut objects = generated(3, 1);
    objects[0]["x_internal_ticket"] = json!("INC-4711");
    objects[0]["description"] =
        json!("jump host build01.corp.internal at 10.20.30.40, mail ops@beta.example");
    // The dry run shows every change and stores nothing.
    let (s, dry) = call(
        &node,
        Method::POST,
        "beta-analyst",
        "/api/v1/communities/test-isac/sanitize/preview",
        Some(json!({"objects": objects})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{dry}");
    assert_eq!(dry["rules_apply"], true);
    let changed: Vec<(&str, &str)> = dry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["object_index"] == 0)
        .map(|c| (c["path"].as_str().unwrap(), c["rule"].as_str().unwrap()))
        .collect();
    for expected in [
        ("x_internal_ticket", "remove_properties"),
        ("description", "hostname_patterns"),
        ("description", "internal_networks"),
        ("description", "own_domains"),
        ("pattern", "own_domains"),
    ] {
        assert!(changed.contains(&expected), "{expected:?} in {changed:?}");
    }
    let preview_description = dry["objects"][0]["description"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !preview_description.contains("10.20.30.40")
            && !preview_description.contains("beta.example")
            && !preview_description.contains("corp.internal"),
        "{preview_description}"
    );
    let (_, list) = call(
        &node,
        Method::GET,
        "beta-analyst",
        "/api/v1/communities/test-isac/objects",
        None,
    )
    .await;
    assert_eq!(list["objects"], json!([]), "a dry run stores nothing");

    // Published by TAXII: stored as the dry run showed it.
    let col = collection(&node).await;
    let r = node
        .as_user(Method::POST, "beta-analyst", &format!("{col}objects/"))
        .header("accept", TAXII)
        .header("content-type", TAXII)
        .body(json!({"objects": objects}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = objects[0]["id"].as_str().unwrap();
    let (_, got) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        &format!("{col}objects/{id}/"),
        None,
    )
    .await;
    assert_eq!(
        got["objects"][0]["description"],
        preview_description.as_str()
    );
    assert!(got["objects"][0].get("x_internal_ticket").is_none());
    // Pseudonyms are stable: the same internal address in another share gets the same one,
    // so the values still line up.
    let mut again = generated(1, 1);
    again[0]["id"] = json!("indicator--c0000000-0000-4000-8000-000000000001");
    let (s, v) = publish(&node, "beta-analyst", again.clone(), false).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, first) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        &format!("{col}objects/{}/", objects[0]["id"].as_str().unwrap()),
        None,
    )
    .await;
    let (_, second) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        &format!("{col}objects/indicator--c0000000-0000-4000-8000-000000000001/"),
        None,
    )
    .await;
    assert_eq!(
        first["objects"][0]["pattern"],
        second["objects"][0]["pattern"]
    );
    assert!(
        second["objects"][0]["pattern"]
            .as_str()
            .unwrap()
            .contains("@pseudonymized.invalid"),
        "{second}"
    );
    // Correlation works on the pseudonymized values: the two shares hold the same one.
    let (s, corr) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        "/api/v1/communities/test-isac/objects/indicator--c0000000-0000-4000-8000-000000000001/correlations",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{corr}");
    let matched: Vec<&str> = corr["values"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["matches"].as_array().unwrap())
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        matched.contains(&objects[0]["id"].as_str().unwrap()),
        "{corr}"
    );
    assert!(
        corr["values"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| !v["value"].as_str().unwrap().contains("beta.example")),
        "{corr}"
    );
    // Clearing the rules: published as posted again.
    let (s, _) = set_rules(
        &node,
        "beta-admin",
        "/api/v1/organizations/beta/sanitization",
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = set_rules(
        &node,
        "alpha-admin",
        "/api/v1/communities/test-isac/sanitization",
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, dry) = call(
        &node,
        Method::POST,
        "beta-analyst",
        "/api/v1/communities/test-isac/sanitize/preview",
        Some(json!({"objects": generated(1, 5)})),
    )
    .await;
    assert_eq!(
        (
            dry["rules_apply"].as_bool(),
            dry["changes"].as_array().map(Vec::len)
        ),
        (Some(false), Some(0))
    );
    let actions: Vec<String> = call(
        &node,
        Method::GET,
        "operator",
        "/api/v1/audit?action=sanitization.set",
        None,
    )
    .await
    .1
    .as_array()
    .unwrap()
    .iter()
    .map(|e| e["outcome"].as_str().unwrap().to_string())
    .collect();
    assert_eq!(
        actions.iter().filter(|o| *o == "changed").count(),
        4,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|o| *o == "denied").count(),
        1,
        "{actions:?}"
    );
    node.stop().await;
}

/// Everything alpha's users receive on the paths that serve shared content and what surrounds
/// it, as text (headers and bodies).
async fn everything_seen_by(node: &TestNode, user: &str, ids: &[String]) -> String {
    let col = collection(node).await;
    let mut paths = vec![
        "/taxii2/".to_string(),
        "/taxii2/test-isac/".to_string(),
        "/taxii2/test-isac/collections/".to_string(),
        col.clone(),
        format!("{col}objects/?match[version]=all"),
        format!("{col}manifest/"),
        "/api/v1/communities/test-isac/objects?versions=all".to_string(),
        "/api/v1/communities/test-isac/keys".to_string(),
        "/api/v1/notifications".to_string(),
        "/api/v1/release-requests?box=outgoing".to_string(),
        "/api/v1/release-requests?box=incoming".to_string(),
        "/api/v1/audit?limit=1000".to_string(),
    ];
    for id in ids {
        paths.push(format!("{col}objects/{id}/"));
        paths.push(format!("{col}objects/{id}/versions/"));
        paths.push(format!(
            "/api/v1/communities/test-isac/objects/{id}/signatures"
        ));
    }
    let mut all = String::new();
    for p in paths {
        let (_, text, _) = call_raw(node, Method::GET, user, &p, None).await;
        all.push_str(&text);
        all.push('\n');
    }
    all
}

async fn anonymous_shares_name_no_source_on_any_path(engine: Engine) {
    let node = TestNode::start(engine).await;
    let beta = node
        .store
        .organization_by_short_name("beta")
        .await
        .unwrap()
        .unwrap();
    let beta_keys = node.store.organization_keys(beta.id).await.unwrap();
    let (s, v) = set_rules(
        &node,
        "beta-admin",
        "/api/v1/organizations/beta/sanitization",
        json!({"own_domains": ["beta.example"]}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");

    // An object that names its source in a way the rules do not replace is refused.
    let mut named = generated(1, 9);
    named[0]["description"] = json!("Shared by the beta organization SOC");
    let (s, v) = publish(&node, "beta-analyst", named.clone(), true).await;
    assert_eq!(s, StatusCode::OK);
    let refused: Vec<&Value> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "refused")
        .collect();
    assert_eq!(refused.len(), 1, "{v}");
    assert!(
        refused[0]["message"]
            .as_str()
            .unwrap()
            .contains("`description` names your organization"),
        "{v}"
    );

    let objects = generated(12, 2);
    let ids: Vec<String> = objects
        .iter()
        .filter(|o| o.get("created").is_some())
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    let (s, v) = publish(&node, "beta-analyst", objects, true).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] != "refused"),
        "{v}"
    );

    // Recipients see the pseudonym; the source sees that it was itself.
    let (_, list) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        "/api/v1/communities/test-isac/objects?type=indicator",
        None,
    )
    .await;
    let pseudonym = list["objects"][0]["source"]["pseudonym"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(pseudonym.starts_with("Member "), "{list}");
    let creator = list["objects"][0]["object"]["created_by_ref"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, mine) = call(
        &node,
        Method::GET,
        "beta-analyst",
        "/api/v1/communities/test-isac/objects?type=indicator",
        None,
    )
    .await;
    assert_eq!(
        mine["objects"][0]["source"]["you_anonymously"],
        pseudonym.as_str()
    );
    // The pseudonym's identity is published with the share.
    let (_, idn) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        &format!("/api/v1/communities/test-isac/objects?id={creator}"),
        None,
    )
    .await;
    assert_eq!(idn["objects"][0]["object"]["name"], pseudonym.as_str());
    // Signed with the community's key, not beta's.
    let (_, sigs) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        &format!(
            "/api/v1/communities/test-isac/objects/{}/signatures",
            ids[0]
        ),
        None,
    )
    .await;
    let (_, ckeys) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        "/api/v1/communities/test-isac/keys",
        None,
    )
    .await;
    assert_eq!(sigs[0]["key_id"], ckeys[0]["key_id"]);

    // A recipient asks the pseudonym for a release; the source answers; nothing names it.
    let (s, req) = call(
        &node,
        Method::POST,
        "alpha-analyst",
        &format!(
            "/api/v1/communities/test-isac/objects/{}/release-requests",
            ids[0]
        ),
        Some(json!({"tlp": "green", "reason": "for the sector newsletter"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{req}");
    assert_eq!(req["source_org"], uuid::Uuid::nil().to_string());
    let (_, incoming) = call(
        &node,
        Method::GET,
        "beta-admin",
        "/api/v1/release-requests",
        None,
    )
    .await;
    assert_eq!(
        incoming[0]["source_org"],
        beta.id.to_string(),
        "the source sees itself"
    );
    let (s, _) = call(
        &node,
        Method::POST,
        "beta-admin",
        &format!(
            "/api/v1/release-requests/{}/decision",
            req["id"].as_str().unwrap()
        ),
        Some(json!({"approve": true, "reason": "fine"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    let mut needles = vec![
        beta.name.clone(),
        beta.short_name.clone(),
        beta.id.to_string(),
        "beta.example".to_string(),
        "beta-admin".to_string(),
        "beta-analyst".to_string(),
    ];
    for k in &beta_keys {
        needles.push(k.key_id.clone());
        needles.push(k.key_id.trim_start_matches("ed25519:").to_string());
    }
    for user in ["alpha-analyst", "alpha-admin", "alpha-reader"] {
        let seen = everything_seen_by(&node, user, &ids).await;
        assert!(seen.contains(&ids[0]), "{user} sees the share at all");
        for n in &needles {
            assert!(!seen.contains(n.as_str()), "{user} was shown `{n}`");
        }
    }
    // Cairn still knows: the source's own view and the operator's reveal.
    let (_, revealed) = call(
        &node,
        Method::POST,
        "operator",
        &format!("/api/v1/communities/test-isac/objects/{}/reveal", ids[0]),
        Some(json!({"reason": "court order 12/2026"})),
    )
    .await;
    assert_eq!(revealed["organization"]["short_name"], "beta", "{revealed}");
    node.stop().await;
}

async fn reveals_are_the_operators_audited_and_shown_to_chairs(engine: Engine) {
    let node = TestNode::start(engine).await;
    let (s, _) = set_rules(
        &node,
        "beta-admin",
        "/api/v1/organizations/beta/sanitization",
        json!({"own_domains": ["beta.example"]}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let objects = generated(1, 3);
    let id = objects[0]["id"].as_str().unwrap().to_string();
    let (s, _) = publish(&node, "beta-analyst", objects, true).await;
    assert_eq!(s, StatusCode::OK);
    let path = format!("/api/v1/communities/test-isac/objects/{id}/reveal");
    let (s, _) = call(
        &node,
        Method::POST,
        "alpha-admin",
        &path,
        Some(json!({"reason": "curious"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a chair may not reveal");
    let (s, v) = call(&node, Method::POST, "operator", &path, Some(json!({}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _) = call(&node, Method::POST, "operator", "/api/v1/communities/test-isac/objects/indicator--a0000000-0000-4000-8000-999999999999/reveal", Some(json!({"reason": "r"}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = call(
        &node,
        Method::POST,
        "operator",
        &path,
        Some(json!({"reason": "incident 2026-113 needs the reporter"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, reveals) = call(
        &node,
        Method::GET,
        "alpha-admin",
        "/api/v1/communities/test-isac/reveals",
        None,
    )
    .await;
    assert_eq!(reveals[0]["reason"], "incident 2026-113 needs the reporter");
    assert_eq!(reveals[0]["object_id"], id.as_str());
    assert!(
        reveals[0].get("organization").is_none(),
        "chairs see that and why, not who"
    );
    let (s, _) = call(
        &node,
        Method::GET,
        "beta-admin",
        "/api/v1/communities/test-isac/reveals",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, audit) = call(
        &node,
        Method::GET,
        "operator",
        "/api/v1/audit?action=objects.reveal_source",
        None,
    )
    .await;
    let outcomes: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"granted") && outcomes.contains(&"denied"),
        "{outcomes:?}"
    );
    // A named share cannot become anonymous by a new version, nor the reverse.
    let mut v2 = generated(1, 3);
    v2[0]["modified"] = json!("2026-03-01T00:00:00.000Z");
    let (_, r) = publish(&node, "beta-analyst", v2, false).await;
    assert!(
        r["results"].as_array().unwrap().iter().any(|x| x["message"]
            .as_str()
            .is_some_and(|m| m.contains("first published anonymously"))),
        "{r}"
    );
    node.stop().await;
}

async fn signatures_hold_for_readers_and_stay_hidden_from_others(engine: Engine) {
    let node = TestNode::start(engine).await;
    let mut objects = generated(2, 4);
    objects[0]["extensions"] = json!({"extension-definition--39d4868d-fa3b-477b-b138-a83c8ea8e300": {"extension_type": "property-extension", "organizations": ["beta"]}});
    let (s, _) = publish(&node, "beta-analyst", objects.clone(), false).await;
    assert_eq!(s, StatusCode::OK);
    let hidden = objects[0]["id"].as_str().unwrap();
    let open = objects[3]["id"].as_str().unwrap();
    let sigs_path = |id: &str| format!("/api/v1/communities/test-isac/objects/{id}/signatures");
    let (s, _) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        &sigs_path(hidden),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "signatures follow the rule");
    let (s, sigs) = call(&node, Method::GET, "alpha-analyst", &sigs_path(open), None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, keys) = call(&node, Method::GET, "alpha-analyst", "/api/v1/keys", None).await;
    let keys: Vec<PublicKey> = serde_json::from_value(keys).unwrap();
    let sigs: Vec<SignatureEntry> = serde_json::from_value(sigs).unwrap();
    let col = collection(&node).await;
    let (_, env) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        &format!("{col}objects/{open}/"),
        None,
    )
    .await;
    let report = verify_bundle(&env, &sigs, &keys).unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].problem, None);
    let mut tampered = env.clone();
    tampered["objects"][0]["name"] = json!("campaign wave 5");
    assert!(verify_bundle(&tampered, &sigs, &keys).unwrap()[0]
        .problem
        .is_some());
    // REST shows the signature with each version.
    let (_, list) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        &format!("/api/v1/communities/test-isac/objects?id={open}"),
        None,
    )
    .await;
    assert_eq!(
        list["objects"][0]["provenance"]["signature"],
        sigs[0].signature.as_str()
    );
    // Rotation: only the organization's admin; new shares use the new key.
    let (s, _) = call(
        &node,
        Method::POST,
        "beta-analyst",
        "/api/v1/organizations/beta/keys",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, k) = call(
        &node,
        Method::POST,
        "beta-admin",
        "/api/v1/organizations/beta/keys",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = publish(&node, "beta-analyst", generated(1, 6), false).await;
    assert_eq!(s, StatusCode::OK);
    let (_, sigs2) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        &sigs_path("indicator--a0000000-0000-4000-8000-000000006000"),
        None,
    )
    .await;
    assert_eq!(sigs2[0]["key_id"], k["key_id"]);
    let (_, keys) = call(&node, Method::GET, "alpha-analyst", "/api/v1/keys", None).await;
    let keys: Vec<PublicKey> = serde_json::from_value(keys).unwrap();
    assert_eq!(
        verify_bundle(&env, &sigs, &keys).unwrap()[0].problem,
        None,
        "old signatures still hold"
    );
    node.stop().await;
}

/// Anonymous feedback carries the community's signature and pseudonym, never the giver's.
async fn anonymous_feedback_is_signed_by_the_community(engine: Engine) {
    let node = TestNode::start(engine).await;
    let objects = generated(1, 7);
    let target = objects[0]["id"].as_str().unwrap().to_string();
    let (s, _) = publish(&node, "beta-analyst", objects, false).await;
    assert_eq!(s, StatusCode::OK);
    let (s, op) = call(
        &node,
        Method::PUT,
        "alpha-analyst",
        &format!("/api/v1/communities/test-isac/objects/{target}/opinion"),
        Some(json!({"opinion": "useful", "anonymous": true})),
    )
    .await;
    assert!(s.is_success(), "{op}");
    let id = op["id"].as_str().unwrap().to_string();
    let (_, sigs) = call(
        &node,
        Method::GET,
        "beta-admin",
        &format!("/api/v1/communities/test-isac/objects/{id}/signatures"),
        None,
    )
    .await;
    let (_, ckeys) = call(
        &node,
        Method::GET,
        "beta-admin",
        "/api/v1/communities/test-isac/keys",
        None,
    )
    .await;
    assert_eq!(sigs[0]["key_id"], ckeys[0]["key_id"], "{sigs}");
    let alpha = node
        .store
        .organization_by_short_name("alpha")
        .await
        .unwrap()
        .unwrap();
    for k in node.store.organization_keys(alpha.id).await.unwrap() {
        assert_ne!(sigs[0]["key_id"], k.key_id.as_str());
    }
    let (_, list) = call(
        &node,
        Method::GET,
        "beta-admin",
        &format!("/api/v1/communities/test-isac/objects?id={id}"),
        None,
    )
    .await;
    assert!(
        list["objects"][0]["source"]["pseudonym"].is_string(),
        "{list}"
    );
    node.stop().await;
}

both_engines!(
    anonymous_feedback_is_signed_by_the_community,
    sanitization_rules_dry_run_and_every_way_in,
    anonymous_shares_name_no_source_on_any_path,
    reveals_are_the_operators_audited_and_shown_to_chairs,
    signatures_hold_for_readers_and_stay_hidden_from_others,
);
