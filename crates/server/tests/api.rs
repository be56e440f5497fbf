//! The REST API end to end over a real socket, on SQLite and on PostgreSQL.

use std::time::Duration;

use cairn_core::store::Store;
use cairn_server::ServerSettings;
use cairn_testkit::{body, both_engines, call, Engine, TestNode};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Every error has the documented shape.
fn assert_error(v: &Value, code: &str) {
    assert_eq!(v["error"], code, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(v.get("details").is_some(), "{v}");
}

async fn health_ready_metrics_and_openapi(engine: Engine) {
    let node = TestNode::start(engine).await;
    let (s, v) = body(node.client.get(node.url("/healthz")).send().await.unwrap()).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, v) = body(node.client.get(node.url("/readyz")).send().await.unwrap()).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ready")));
    let (s, doc) = body(
        node.client
            .get(node.url("/api/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/organizations",
        "/api/v1/communities/{slug}/members",
        "/api/v1/audit",
        "/api/v1/tokens/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }
    let _ = call(&node, Method::GET, "alpha-admin", "/api/v1/me", None).await;
    let metrics = node.metrics().await;
    assert!(
        metrics.contains(
            "cairn_http_requests_total{method=\"GET\",route=\"/api/v1/me\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("cairn_store_up 1"));
    node.stop().await;
}

async fn authentication_paths(engine: Engine) {
    let node = TestNode::start(engine).await;
    // No credentials.
    let r = node
        .client
        .get(node.url("/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer"))
            && challenges.iter().any(|c| c.starts_with("Basic")),
        "{challenges:?}"
    );
    assert_error(&body(r).await.1, "unauthenticated");
    // Bearer.
    let (s, me) = call(&node, Method::GET, "beta-analyst", "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["user"]["username"], "beta-analyst");
    assert_eq!(me["organization"]["short_name"], "beta");
    assert!(me["user"].get("password_hash").is_none());
    // Basic: user name and token, as TAXII clients send.
    let token = node.seed.token("beta-analyst");
    let r = node
        .client
        .get(node.url("/api/v1/me"))
        .basic_auth("beta-analyst", Some(token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Basic with someone else's name.
    let r = node
        .client
        .get(node.url("/api/v1/me"))
        .basic_auth("alpha-admin", Some(token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Wrong and malformed tokens, unknown scheme.
    for header in [
        format!("Bearer cairn_{}", "0".repeat(64)),
        "Bearer nonsense".into(),
        "Digest x".into(),
        "Basic !!!".into(),
    ] {
        let r = node
            .client
            .get(node.url("/api/v1/me"))
            .header("authorization", header.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
    node.stop().await;
}

async fn revoked_expired_and_disabled_credentials_stop_working(engine: Engine) {
    let node = TestNode::start(engine).await;
    // Revocation by the user's admin takes effect at once.
    let (s, tokens) = call(
        &node,
        Method::GET,
        "beta-admin",
        "/api/v1/users/beta-analyst/tokens",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        tokens[0].get("secret").is_none() && tokens[0].get("token_hash").is_none(),
        "{tokens}"
    );
    let id = tokens[0]["id"].as_str().unwrap().to_string();
    let (s, _) = call(
        &node,
        Method::DELETE,
        "alpha-admin",
        &format!("/api/v1/tokens/{id}"),
        None,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another organization's token is not even visible"
    );
    let (s, t) = call(
        &node,
        Method::DELETE,
        "beta-admin",
        &format!("/api/v1/tokens/{id}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(t["revoked_at"].is_string());
    let (s, _) = call(&node, Method::GET, "beta-analyst", "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // An expiring token works until it expires.
    let soon = cairn_core::ts::format(cairn_core::ts::now() + time::Duration::seconds(2));
    let (s, created) = call(
        &node,
        Method::POST,
        "alpha-analyst",
        "/api/v1/users/alpha-analyst/tokens",
        Some(json!({"name": "short", "expires_at": soon})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    let r = node
        .client
        .get(node.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let r = node
        .client
        .get(node.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A disabled user's tokens stop working.
    let (s, _) = call(
        &node,
        Method::PATCH,
        "alpha-admin",
        "/api/v1/users/alpha-reader",
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&node, Method::GET, "alpha-reader", "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    node.stop().await;
}

async fn failed_authentication_is_rate_limited(engine: Engine) {
    let settings = ServerSettings {
        auth_max_failures: 3,
        ..Default::default()
    };
    let node = TestNode::start_with(engine, settings).await;
    let bad = format!("cairn_{}", "1".repeat(64));
    for _ in 0..3 {
        let r = node
            .client
            .get(node.url("/api/v1/me"))
            .bearer_auth(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = node
        .client
        .get(node.url("/api/v1/me"))
        .bearer_auth(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry));
    assert_error(&body(r).await.1, "rate_limited");
    // The address is blocked, even with a good token, until the window passes.
    let (s, _) = call(&node, Method::GET, "alpha-admin", "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    node.stop().await;
}

fn new_org(short: &str) -> Value {
    json!({"name": "Delta Grid", "short_name": short, "sector": "energy", "org_type": "private", "country": "DK",
           "security_email": "soc@delta.example", "out_of_band_contact": "radio"})
}

async fn organizations_crud_and_permissions(engine: Engine) {
    let node = TestNode::start(engine).await;
    let (s, org) = call(
        &node,
        Method::POST,
        "operator",
        "/api/v1/organizations",
        Some(new_org("delta")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{org}");
    assert_eq!(org["short_name"], "delta");
    assert!(org["verified_at"].is_null());
    // Published key.
    let (s, keys) = call(
        &node,
        Method::GET,
        "beta-analyst",
        "/api/v1/organizations/delta/keys",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(keys[0]["key_id"].as_str().unwrap().starts_with("ed25519:"));
    assert_eq!(keys[0]["algorithm"], "ed25519");
    // Only the operator creates organizations or verifies them; the refusal is audited.
    let (s, v) = call(
        &node,
        Method::POST,
        "alpha-admin",
        "/api/v1/organizations",
        Some(new_org("epsilon")),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_error(&v, "forbidden");
    let (s, _) = call(
        &node,
        Method::PUT,
        "alpha-admin",
        "/api/v1/organizations/alpha/verification",
        Some(json!({"verified": true})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = call(
        &node,
        Method::PUT,
        "operator",
        "/api/v1/organizations/delta/verification",
        Some(json!({"verified": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["verified_at"].is_string());
    let (_, audit) = call(
        &node,
        Method::GET,
        "operator",
        "/api/v1/audit?action=organization.create",
        None,
    )
    .await;
    let outcomes: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert!(outcomes.contains(&"denied"), "{audit}");
    // An organization's admin edits its own profile, not another's.
    let (s, v) = call(
        &node,
        Method::PATCH,
        "alpha-admin",
        "/api/v1/organizations/alpha",
        Some(json!({"security_phone": "+49 555 0101"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["security_phone"], "+49 555 0101");
    let (s, _) = call(
        &node,
        Method::PATCH,
        "alpha-admin",
        "/api/v1/organizations/beta",
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        &node,
        Method::PATCH,
        "alpha-analyst",
        "/api/v1/organizations/alpha",
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        "/api/v1/organizations/nobody",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error(&v, "not_found");
    node.stop().await;
}

async fn bad_input_is_refused_and_changes_nothing(engine: Engine) {
    let node = TestNode::start(engine).await;
    let before = node.store.organizations().await.unwrap().len();
    let head = node.store.audit_head().await.unwrap();
    let url = node.url("/api/v1/organizations");
    let token = node.seed.token("operator").to_string();
    let post = |body: Vec<u8>, ct: &str| {
        node.client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", ct.to_string())
            .body(body)
            .send()
    };

    let (s, v) = body(
        post(b"{\"name\": ".to_vec(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_error(&v, "bad_request");

    let mut wrong_type = new_org("zeta");
    wrong_type["country"] = json!(49);
    let (s, v) = body(
        post(wrong_type.to_string().into_bytes(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["message"].as_str().unwrap().contains("country"), "{v}");

    let mut unknown = new_org("zeta");
    unknown["colour"] = json!("red");
    let (s, v) = body(
        post(unknown.to_string().into_bytes(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["message"].as_str().unwrap().contains("colour"), "{v}");

    let mut bad_country = new_org("zeta");
    bad_country["country"] = json!("Denmark");
    let (s, v) = body(
        post(bad_country.to_string().into_bytes(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["details"]["field"], "country", "{v}");

    let (s, v) = body(
        post(new_org("zeta").to_string().into_bytes(), "text/plain")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error(&v, "unsupported_media_type");

    let mut huge = new_org("zeta");
    huge["name"] = json!("x".repeat(2 * 1024 * 1024));
    // A client of its own: the server answers before reading the body and closes that connection.
    let r = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&token)
        .json(&huge)
        .send()
        .await
        .unwrap();
    let (s, v) = body(r).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&v, "payload_too_large");

    let mut long = new_org("zeta");
    long["name"] = json!("x".repeat(500));
    let (s, v) = body(
        post(long.to_string().into_bytes(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["details"]["field"], "name");

    let (s, v) = call(
        &node,
        Method::POST,
        "operator",
        "/api/v1/organizations",
        Some(new_org("alpha")),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["details"]["field"], "short_name");

    let (s, v) = call(
        &node,
        Method::GET,
        "operator",
        "/api/v1/audit?limit=ten",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["message"].as_str().unwrap().contains("limit"), "{v}");

    let (s, v) = call(
        &node,
        Method::GET,
        "operator",
        "/api/v1/no-such-thing",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error(&v, "not_found");
    let (s, v) = call(
        &node,
        Method::PUT,
        "operator",
        "/api/v1/organizations",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&v, "method_not_allowed");
    let (s, _) = call(
        &node,
        Method::DELETE,
        "operator",
        "/api/v1/tokens/not-a-uuid",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    assert_eq!(node.store.organizations().await.unwrap().len(), before);
    // Only the denial-free refusals above: nothing was written to the audit chain either.
    assert_eq!(node.store.audit_head().await.unwrap(), head);
    // The server still serves.
    let (s, _) = call(&node, Method::GET, "operator", "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::OK);
    node.stop().await;
}

async fn users_and_tokens(engine: Engine) {
    let node = TestNode::start(engine).await;
    let (s, u) = call(
        &node,
        Method::POST,
        "alpha-admin",
        "/api/v1/users",
        Some(json!({"username": "alpha-new", "role": "analyst", "email": "new@alpha.example"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{u}");
    assert_eq!(
        u["org_id"],
        json!(
            node.store
                .organization_by_short_name("alpha")
                .await
                .unwrap()
                .unwrap()
                .id
        )
    );
    // Not into another organization, and not as node operator.
    let (s, _) = call(
        &node,
        Method::POST,
        "alpha-admin",
        "/api/v1/users",
        Some(json!({"organization": "beta", "username": "spy", "role": "analyst"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        &node,
        Method::POST,
        "alpha-admin",
        "/api/v1/users",
        Some(json!({"username": "boss", "role": "node_operator"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        &node,
        Method::PATCH,
        "alpha-admin",
        "/api/v1/users/alpha-analyst",
        Some(json!({"role": "node_operator"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        &node,
        Method::POST,
        "alpha-analyst",
        "/api/v1/users",
        Some(json!({"username": "x2", "role": "read_only"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Listing stays within the organization.
    let (_, list) = call(&node, Method::GET, "alpha-analyst", "/api/v1/users", None).await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"alpha-new") && !names.contains(&"beta-admin"),
        "{names:?}"
    );
    let (s, _) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        "/api/v1/users/beta-admin",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &node,
        Method::GET,
        "alpha-analyst",
        "/api/v1/users?organization=beta",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The admin issues a token for the new user; it works at once and is shown once.
    let (s, t) = call(
        &node,
        Method::POST,
        "alpha-admin",
        "/api/v1/users/alpha-new/tokens",
        Some(json!({"name": "feed"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let secret = t["secret"].as_str().unwrap();
    assert!(secret.starts_with("cairn_") && secret.len() == 70);
    let r = node
        .client
        .get(node.url("/api/v1/me"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, v) = call(
        &node,
        Method::POST,
        "alpha-admin",
        "/api/v1/users/alpha-new/tokens",
        Some(json!({"name": "feed"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = call(
        &node,
        Method::POST,
        "alpha-admin",
        "/api/v1/users/alpha-new/tokens",
        Some(json!({"name": "old", "expires_at": "2001-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["details"]["field"], "expires_at");
    // A user may set its own password but not its role.
    let (s, _) = call(
        &node,
        Method::PATCH,
        "alpha-analyst",
        "/api/v1/users/alpha-analyst",
        Some(json!({"password": "correct horse battery"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = call(
        &node,
        Method::PATCH,
        "alpha-analyst",
        "/api/v1/users/alpha-analyst",
        Some(json!({"password": "short"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["details"]["field"], "password");
    let (s, _) = call(
        &node,
        Method::PATCH,
        "alpha-analyst",
        "/api/v1/users/alpha-analyst",
        Some(json!({"role": "org_admin"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    node.stop().await;
}

async fn communities_members_and_representatives(engine: Engine) {
    let node = TestNode::start(engine).await;
    let (s, c) = call(
        &node,
        Method::POST,
        "operator",
        "/api/v1/communities",
        Some(json!({"slug": "water-isac", "name": "Water ISAC", "default_tlp": "amber"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["default_tlp"], "amber");
    let (s, v) = call(
        &node,
        Method::POST,
        "operator",
        "/api/v1/communities",
        Some(json!({"slug": "x", "name": "X"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["details"]["field"], "slug");
    let (s, v) = call(
        &node,
        Method::POST,
        "operator",
        "/api/v1/communities",
        Some(json!({"slug": "y-isac", "name": "Y", "default_tlp": "purple"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _) = call(
        &node,
        Method::POST,
        "alpha-admin",
        "/api/v1/communities",
        Some(json!({"slug": "mine", "name": "Mine"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Members see their community; others do not even learn it exists.
    let (s, _) = call(
        &node,
        Method::GET,
        "beta-analyst",
        "/api/v1/communities/test-isac",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &node,
        Method::GET,
        "gamma-admin",
        "/api/v1/communities/test-isac",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = call(
        &node,
        Method::GET,
        "gamma-admin",
        "/api/v1/communities",
        None,
    )
    .await;
    assert_eq!(list, json!([]));
    let (_, list) = call(&node, Method::GET, "operator", "/api/v1/communities", None).await;
    assert_eq!(list.as_array().unwrap().len(), 2);

    // The chair runs the community; a plain member does not.
    let (s, v) = call(
        &node,
        Method::PATCH,
        "alpha-analyst",
        "/api/v1/communities/test-isac",
        Some(json!({"description": "Energy operators"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["description"], "Energy operators");
    let (s, _) = call(
        &node,
        Method::PATCH,
        "beta-admin",
        "/api/v1/communities/test-isac",
        Some(json!({"public_feed": true})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        &node,
        Method::PATCH,
        "alpha-reader",
        "/api/v1/communities/test-isac",
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, m) = call(
        &node,
        Method::POST,
        "alpha-admin",
        "/api/v1/communities/test-isac/members",
        Some(json!({"organization": "gamma", "role": "observer"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["role"], "observer");
    let (s, _) = call(
        &node,
        Method::GET,
        "gamma-admin",
        "/api/v1/communities/test-isac",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &node,
        Method::POST,
        "beta-admin",
        "/api/v1/communities/test-isac/members",
        Some(json!({"organization": "beta", "role": "chair"})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "a member cannot make itself chair"
    );

    // Representatives: designated by their own organization's admin, only for members.
    let (s, _) = call(
        &node,
        Method::POST,
        "beta-admin",
        "/api/v1/communities/test-isac/representatives",
        Some(json!({"user": "beta-analyst"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &node,
        Method::POST,
        "alpha-admin",
        "/api/v1/communities/test-isac/representatives",
        Some(json!({"user": "beta-admin"})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another organization's user is not even visible"
    );
    let (_, members) = call(
        &node,
        Method::GET,
        "beta-analyst",
        "/api/v1/communities/test-isac/members",
        None,
    )
    .await;
    let beta = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["short_name"] == "beta")
        .unwrap();
    assert_eq!(beta["representatives"], json!(["beta-analyst"]));
    let (s, _) = call(
        &node,
        Method::DELETE,
        "beta-admin",
        "/api/v1/communities/test-isac/representatives/beta-analyst",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &node,
        Method::DELETE,
        "alpha-admin",
        "/api/v1/communities/test-isac/members/gamma",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &node,
        Method::GET,
        "gamma-admin",
        "/api/v1/communities/test-isac",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &node,
        Method::DELETE,
        "alpha-admin",
        "/api/v1/communities/test-isac/members/gamma",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    node.stop().await;
}

async fn audit_is_readable_by_organization_admins_for_their_own_objects(engine: Engine) {
    let node = TestNode::start(engine).await;
    let beta = node
        .store
        .organization_by_short_name("beta")
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let (s, entries) = call(
        &node,
        Method::GET,
        "beta-admin",
        "/api/v1/audit?limit=1000",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let entries = entries.as_array().unwrap();
    assert!(!entries.is_empty());
    for e in entries {
        assert!(
            e["object_org"] == json!(beta) || e["actor_org"] == json!(beta),
            "{e}"
        );
        assert_eq!(e["hash"].as_str().unwrap().len(), 64);
    }
    let (s, _) = call(
        &node,
        Method::GET,
        "beta-admin",
        "/api/v1/audit?organization=alpha",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(&node, Method::GET, "beta-analyst", "/api/v1/audit", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, all) = call(
        &node,
        Method::GET,
        "operator",
        "/api/v1/audit?limit=1000",
        None,
    )
    .await;
    assert!(all.as_array().unwrap().len() > entries.len());
    // Paging by sequence number.
    let (_, page) = call(
        &node,
        Method::GET,
        "operator",
        "/api/v1/audit?after_seq=3&limit=2",
        None,
    )
    .await;
    let seqs: Vec<i64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![4, 5]);
    node.stop().await;
}

both_engines!(
    health_ready_metrics_and_openapi,
    authentication_paths,
    revoked_expired_and_disabled_credentials_stop_working,
    failed_authentication_is_rate_limited,
    organizations_crud_and_permissions,
    bad_input_is_refused_and_changes_nothing,
    users_and_tokens,
    communities_members_and_representatives,
    audit_is_readable_by_organization_admins_for_their_own_objects,
);
