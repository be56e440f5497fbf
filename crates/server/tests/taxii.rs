//! TAXII 2.1 protocol behaviour, on SQLite and PostgreSQL.

use cairn_core::store::Store;
use cairn_testkit::{both_engines, Engine, TestNode};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const TAXII: &str = "application/taxii+json;version=2.1";
const TLP_GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const TLP_AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
const TLP_RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
const AUDIENCE: &str = "extension-definition--39d4868d-fa3b-477b-b138-a83c8ea8e300";

fn indicator(n: u32, modified: &str, marking: Option<&str>) -> Value {
    let mut o = json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2026-01-01T00:00:00.000Z", "modified": modified,
        "name": format!("indicator {n}"), "pattern": format!("[ipv4-addr:value = '192.0.2.{}']", n % 250),
        "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
        "x_cairn_test": {"nested": [1, 2.50, "tab\tquote\"", null]}
    });
    if let Some(m) = marking {
        o["object_marking_refs"] = json!([m]);
    }
    o
}

struct T {
    node: TestNode,
    col: String,
}

impl T {
    async fn start(engine: Engine) -> T {
        let node = TestNode::start(engine).await;
        let c = node
            .store
            .community_by_slug("test-isac")
            .await
            .unwrap()
            .unwrap();
        T {
            col: format!("/taxii2/test-isac/collections/{}/", c.id),
            node,
        }
    }

    fn req(&self, method: Method, user: Option<&str>, path: &str) -> reqwest::RequestBuilder {
        let mut r = self
            .node
            .client
            .request(method, self.node.url(path))
            .header("accept", TAXII);
        if let Some(u) = user {
            r = r.basic_auth(u, Some(self.node.seed.token(u)));
        }
        r
    }

    async fn get(
        &self,
        user: Option<&str>,
        path: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let r = self.req(Method::GET, user, path).send().await.unwrap();
        let (s, h) = (r.status(), r.headers().clone());
        let text = r.text().await.unwrap();
        (s, h, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post_raw(
        &self,
        user: &str,
        body: impl Into<reqwest::Body>,
        ct: &str,
    ) -> (StatusCode, Value) {
        let r = self
            .req(Method::POST, Some(user), &format!("{}objects/", self.col))
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-type"], TAXII);
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, user: &str, objects: Vec<Value>) -> Value {
        let (s, v) = self
            .post_raw(user, json!({"objects": objects}).to_string(), TAXII)
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        v
    }
}

fn assert_taxii_error(v: &Value, status: u16) {
    assert_eq!(v["http_status"], status.to_string(), "{v}");
    assert!(
        v["title"].is_string() && v["description"].is_string(),
        "{v}"
    );
}

async fn discovery_root_and_collection(engine: Engine) {
    let t = T::start(engine).await;
    let (s, h, d) = t.get(Some("beta-analyst"), "/taxii2/").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], TAXII);
    assert_eq!(d["api_roots"], json!(["/taxii2/test-isac/"]));
    assert_eq!(d["default"], "/taxii2/test-isac/");
    let (_, _, d) = t.get(Some("gamma-admin"), "/taxii2/").await;
    assert!(
        d.get("api_roots").is_none(),
        "a non-member sees no root: {d}"
    );
    let (s, _, root) = t.get(Some("beta-analyst"), "/taxii2/test-isac/").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(root["title"], "Test ISAC");
    assert_eq!(root["versions"], json!([TAXII]));
    assert!(root["max_content_length"].as_u64().unwrap() > 1_000_000);
    let (_, _, cols) = t
        .get(Some("beta-analyst"), "/taxii2/test-isac/collections/")
        .await;
    let col = &cols["collections"][0];
    assert_eq!(
        (col["can_read"].as_bool(), col["can_write"].as_bool()),
        (Some(true), Some(true))
    );
    let (_, _, col) = t.get(Some("alpha-reader"), &t.col).await;
    assert_eq!(
        (col["can_read"].as_bool(), col["can_write"].as_bool()),
        (Some(true), Some(false)),
        "read-only users cannot write"
    );
    // Non-members: 404; anonymous: 401 with a challenge (no public feed).
    let (s, _, e) = t.get(Some("gamma-admin"), &t.col).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_taxii_error(&e, 404);
    let r = t.req(Method::GET, None, &t.col).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    let (s, _, _) = t
        .get(
            Some("beta-analyst"),
            "/taxii2/test-isac/collections/00000000-0000-4000-8000-000000000000/",
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    t.node.stop().await;
}

async fn round_trip_is_byte_for_byte_with_versions_and_filters(engine: Engine) {
    let t = T::start(engine).await;
    let v1 = indicator(1, "2026-01-01T00:00:00.000Z", Some(TLP_GREEN));
    let v2 = indicator(1, "2026-02-01T00:00:00.000Z", Some(TLP_GREEN));
    // Post with unusual spacing and key order: what is served must be exactly what was sent.
    let raw = format!(
        "{{ \"objects\" : [ {} ,\n {} ] }}",
        serde_json::to_string_pretty(&v1).unwrap(),
        v2
    );
    let (s, status) = t.post_raw("beta-analyst", raw.clone(), TAXII).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(status["status"], "complete");
    assert_eq!(
        (
            status["total_count"].as_u64(),
            status["success_count"].as_u64(),
            status["failure_count"].as_u64()
        ),
        (Some(2), Some(2), Some(0))
    );
    // The poster reads its status; nobody else does.
    let sid = status["id"].as_str().unwrap();
    let (s, _, again) = t
        .get(
            Some("beta-analyst"),
            &format!("/taxii2/test-isac/status/{sid}/"),
        )
        .await;
    assert_eq!((s, &again), (StatusCode::OK, &status));
    let (s, _, _) = t
        .get(
            Some("beta-admin"),
            &format!("/taxii2/test-isac/status/{sid}/"),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let r = t
        .req(
            Method::GET,
            Some("alpha-analyst"),
            &format!("{}objects/?match[version]=all", t.col),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers().contains_key("x-taxii-date-added-first")
            && r.headers().contains_key("x-taxii-date-added-last")
    );
    let text = r.text().await.unwrap();
    let pretty = serde_json::to_string_pretty(&v1).unwrap();
    assert!(
        text.contains(&pretty),
        "served bytes differ from posted bytes"
    );
    assert!(text.contains(&v2.to_string()));
    // Default is the last version.
    let (_, _, env) = t
        .get(Some("alpha-analyst"), &format!("{}objects/", t.col))
        .await;
    assert_eq!(env["objects"].as_array().unwrap().len(), 1);
    assert_eq!(env["objects"][0]["modified"], "2026-02-01T00:00:00.000Z");
    let (_, _, env) = t
        .get(
            Some("alpha-analyst"),
            &format!("{}objects/?match[version]=first", t.col),
        )
        .await;
    assert_eq!(env["objects"][0]["modified"], "2026-01-01T00:00:00.000Z");
    let (_, _, env) = t
        .get(
            Some("alpha-analyst"),
            &format!("{}objects/?match[version]=2026-01-01T00:00:00Z", t.col),
        )
        .await;
    assert_eq!(
        env["objects"][0]["modified"], "2026-01-01T00:00:00.000Z",
        "timestamps compare by instant, not text"
    );
    // Values within match[version] are ORed; only `all` stands alone.
    let (_, _, env) = t
        .get(
            Some("alpha-analyst"),
            &format!("{}objects/?match[version]=first,last", t.col),
        )
        .await;
    assert_eq!(env["objects"].as_array().unwrap().len(), 2, "{env}");
    let (_, _, env) = t
        .get(
            Some("alpha-analyst"),
            &format!(
                "{}objects/?match[version]=last,2026-01-01T00:00:00.000Z",
                t.col
            ),
        )
        .await;
    assert_eq!(env["objects"].as_array().unwrap().len(), 2, "{env}");
    let (s, _, _) = t
        .get(
            Some("alpha-analyst"),
            &format!("{}objects/?match[version]=all,last", t.col),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, _, vers) = t
        .get(
            Some("alpha-analyst"),
            &format!("{}objects/{}/versions/", t.col, v1["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        vers["versions"],
        json!(["2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"])
    );
    let (_, _, man) = t
        .get(
            Some("alpha-analyst"),
            &format!("{}manifest/?match[type]=indicator", t.col),
        )
        .await;
    assert_eq!(man["objects"][0]["version"], "2026-02-01T00:00:00.000Z");
    assert_eq!(
        man["objects"][0]["media_type"],
        "application/stix+json;version=2.1"
    );
    let (s, _, env) = t
        .get(
            Some("alpha-analyst"),
            &format!("{}objects/?match[type]=malware", t.col),
        )
        .await;
    assert_eq!((s, env), (StatusCode::OK, json!({})));
    let (_, _, env) = t
        .get(
            Some("alpha-analyst"),
            &format!("{}objects/?match[id]={}", t.col, v1["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(env["objects"].as_array().unwrap().len(), 1);
    // A duplicate POST is a success; the same version with other content is refused.
    let st = t.post("beta-analyst", vec![v2.clone()]).await;
    assert_eq!(st["success_count"], 1);
    assert_eq!(st["successes"][0]["message"], "Object already added");
    let mut changed = v2.clone();
    changed["name"] = json!("changed without a new modified");
    let st = t.post("beta-analyst", vec![changed]).await;
    assert_eq!(st["failure_count"], 1, "{st}");
    // Revocation is permanent.
    let mut revoked = indicator(1, "2026-04-01T00:00:00.000Z", Some(TLP_GREEN));
    revoked["revoked"] = json!(true);
    assert_eq!(
        t.post("beta-analyst", vec![revoked]).await["success_count"],
        1
    );
    let st = t
        .post(
            "beta-analyst",
            vec![indicator(1, "2026-05-01T00:00:00.000Z", Some(TLP_GREEN))],
        )
        .await;
    assert_eq!(st["failure_count"], 1, "{st}");
    assert!(
        st["failures"][0]["message"]
            .as_str()
            .unwrap()
            .contains("revocation is permanent"),
        "{st}"
    );
    // Only the creator adds versions.
    let st = t
        .post(
            "alpha-analyst",
            vec![indicator(1, "2026-03-01T00:00:00.000Z", Some(TLP_GREEN))],
        )
        .await;
    assert_eq!(st["failure_count"], 1);
    assert!(
        st["failures"][0]["message"]
            .as_str()
            .unwrap()
            .contains("another organization"),
        "{st}"
    );
    t.node.stop().await;
}

async fn pagination_follows_next_and_refuses_bad_tokens(engine: Engine) {
    let t = T::start(engine).await;
    let objects: Vec<Value> = (10..35)
        .map(|n| indicator(n, "2026-01-01T00:00:00.000Z", None))
        .collect();
    t.post("alpha-analyst", objects).await;
    let mut seen = Vec::new();
    let mut url = format!("{}objects/?limit=7&match[type]=indicator", t.col);
    loop {
        let (s, h, env) = t.get(Some("beta-analyst"), &url).await;
        assert_eq!(s, StatusCode::OK);
        let page = env["objects"].as_array().unwrap();
        assert!(page.len() <= 7);
        assert_eq!(h["x-taxii-date-added-first"].to_str().unwrap().len(), 27);
        seen.extend(page.iter().map(|o| o["id"].as_str().unwrap().to_string()));
        if env["more"] == json!(true) {
            let next = env["next"].as_str().expect("more without next");
            url = format!(
                "{}objects/?limit=7&match[type]=indicator&next={next}",
                t.col
            );
        } else {
            assert!(env.get("next").is_none());
            break;
        }
    }
    assert_eq!(seen.len(), 25);
    let mut dedup = seen.clone();
    dedup.dedup();
    assert_eq!(dedup.len(), 25, "no object twice");
    // added_after with the last date continues too.
    let (_, h, env) = t
        .get(Some("beta-analyst"), &format!("{}objects/?limit=10", t.col))
        .await;
    let last = h["x-taxii-date-added-last"].to_str().unwrap().to_string();
    let (_, _, rest) = t
        .get(
            Some("beta-analyst"),
            &format!("{}objects/?added_after={last}", t.col),
        )
        .await;
    assert_eq!(
        env["objects"].as_array().unwrap().len() + rest["objects"].as_array().unwrap().len(),
        25
    );
    // Bad pagination input.
    let (_, _, first) = t
        .get(
            Some("beta-analyst"),
            &format!("{}objects/?limit=5&match[type]=indicator", t.col),
        )
        .await;
    let next = first["next"].as_str().unwrap().to_string();
    for (query, why) in [
        (
            format!("limit=5&match[type]=malware&next={next}"),
            "other filters",
        ),
        (
            format!(
                "limit=5&match[type]=indicator&next={}x",
                &next[..next.len() - 1]
            ),
            "forged",
        ),
        ("next=garbage".to_string(), "malformed"),
        ("limit=0".to_string(), "zero"),
        ("limit=-1".to_string(), "negative"),
        ("limit=many".to_string(), "not a number"),
        ("added_after=yesterday".to_string(), "not a timestamp"),
        ("match[version]=newest".to_string(), "bad version"),
        (
            "match[type]=indicator&match[type]=malware".to_string(),
            "repeated field",
        ),
    ] {
        let (s, _, e) = t
            .get(Some("beta-analyst"), &format!("{}objects/?{query}", t.col))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{why}: {e}");
        assert_taxii_error(&e, 400);
    }
    // The same token with the same filters still works (and a larger limit is clamped, not refused).
    let (s, _, _) = t
        .get(
            Some("beta-analyst"),
            &format!(
                "{}objects/?limit=5&match[type]=indicator&next={next}",
                t.col
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, env) = t
        .get(
            Some("beta-analyst"),
            &format!("{}objects/?limit=1000000", t.col),
        )
        .await;
    assert_eq!(
        (s, env["objects"].as_array().unwrap().len()),
        (StatusCode::OK, 25)
    );
    t.node.stop().await;
}

async fn bad_envelopes_store_nothing(engine: Engine) {
    let t = T::start(engine).await;
    let col_objects = format!("{}objects/", t.col);
    let count = || async {
        t.get(
            Some("alpha-admin"),
            &format!("{}manifest/?match[version]=all", t.col),
        )
        .await
        .2
        .get("objects")
        .map(|o| o.as_array().unwrap().len())
        .unwrap_or(0)
    };
    for (body, ct, status) in [
        ("{\"objects\": [".to_string(), TAXII, 422u16),
        ("[1, 2]".to_string(), TAXII, 422),
        ("{\"more\": false}".to_string(), TAXII, 422),
        (
            format!(
                "{{\"objects\": [{}]}}",
                "[".repeat(10_000) + &"]".repeat(10_000)
            ),
            TAXII,
            422,
        ),
        (
            json!({"objects": [indicator(1, "2026-01-01T00:00:00.000Z", None)]}).to_string(),
            "application/json",
            415,
        ),
        (
            json!({"objects": [indicator(1, "2026-01-01T00:00:00.000Z", None)]}).to_string(),
            "application/taxii+json;version=2.0",
            415,
        ),
    ] {
        let (s, e) = t.post_raw("alpha-analyst", body, ct).await;
        assert_eq!(s.as_u16(), status, "{e}");
        assert_taxii_error(&e, status);
    }
    // Too large: refused before it is read.
    let huge = vec![b' '; 33 * 1024 * 1024];
    let r = reqwest::Client::new()
        .post(t.node.url(&col_objects))
        .basic_auth("alpha-analyst", Some(t.node.seed.token("alpha-analyst")))
        .header("content-type", TAXII)
        .header("accept", TAXII)
        .body(huge)
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    // Accept that excludes TAXII.
    let r = t
        .node
        .client
        .get(t.node.url(&col_objects))
        .basic_auth("alpha-analyst", Some(t.node.seed.token("alpha-analyst")))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
    // Lenient Accept parsing.
    let r = t
        .node
        .client
        .get(t.node.url(&col_objects))
        .basic_auth("alpha-analyst", Some(t.node.seed.token("alpha-analyst")))
        .header(
            "accept",
            "application/json;q=0.5, application/taxii+json ; version=2.1;q=0.9",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(count().await, 0, "nothing stored");

    // A partly invalid envelope: valid ones stored, each failure named.
    let mut bad_id = indicator(2, "2026-01-01T00:00:00.000Z", None);
    bad_id["id"] = json!("indicator--not-a-uuid");
    let mut bad_time = indicator(3, "2026-01-01T00:00:00.000Z", None);
    bad_time["modified"] = json!("yesterday");
    let unknown_marking = indicator(
        4,
        "2026-01-01T00:00:00.000Z",
        Some("marking-definition--11111111-1111-4111-8111-111111111111"),
    );
    let red_nobody = indicator(5, "2026-01-01T00:00:00.000Z", Some(TLP_RED));
    let mut foreign_audience = indicator(6, "2026-01-01T00:00:00.000Z", Some(TLP_AMBER));
    foreign_audience["extensions"] =
        json!({AUDIENCE: {"extension_type": "property-extension", "organizations": ["gamma"]}});
    let st = t
        .post(
            "alpha-analyst",
            vec![
                indicator(1, "2026-01-01T00:00:00.000Z", None),
                bad_id,
                bad_time,
                unknown_marking,
                red_nobody,
                foreign_audience,
            ],
        )
        .await;
    assert_eq!(
        (st["success_count"].as_u64(), st["failure_count"].as_u64()),
        (Some(1), Some(5)),
        "{st}"
    );
    let messages: Vec<&str> = st["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        messages[0].contains("objects[1]") && messages[0].contains("id"),
        "{messages:?}"
    );
    assert!(messages[1].contains("modified"), "{messages:?}");
    assert!(
        messages[2].contains("marking-definition--11111111"),
        "{messages:?}"
    );
    assert!(messages[3].contains("TLP:RED"), "{messages:?}");
    assert!(messages[4].contains("not a member"), "{messages:?}");
    assert_eq!(count().await, 1);
    // Read-only users and observers cannot post.
    let (s, e) = t
        .post_raw(
            "alpha-reader",
            json!({"objects": [indicator(9, "2026-01-01T00:00:00.000Z", None)]}).to_string(),
            TAXII,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    t.node.stop().await;
}

async fn delete_is_for_the_source_only(engine: Engine) {
    let t = T::start(engine).await;
    let o = indicator(7, "2026-01-01T00:00:00.000Z", None);
    let id = o["id"].as_str().unwrap().to_string();
    t.post(
        "beta-analyst",
        vec![o, indicator(7, "2026-02-01T00:00:00.000Z", None)],
    )
    .await;
    let path = format!("{}objects/{id}/", t.col);
    let r = t
        .req(Method::DELETE, Some("alpha-admin"), &path)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = t
        .req(
            Method::DELETE,
            Some("beta-admin"),
            &format!("{path}?match[version]=2026-02-01T00:00:00.000Z"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, _, vers) = t
        .get(Some("alpha-admin"), &format!("{path}versions/"))
        .await;
    assert_eq!(vers["versions"], json!(["2026-01-01T00:00:00.000Z"]));
    let r = t
        .req(Method::DELETE, Some("beta-admin"), &path)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, _, _) = t.get(Some("beta-admin"), &path).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = t.get(Some("beta-admin"), &format!("{path}versions/")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, _, man) = t
        .get(Some("beta-admin"), &format!("{}manifest/", t.col))
        .await;
    assert_eq!(man, json!({}));
    let r = t
        .req(Method::DELETE, Some("beta-admin"), &path)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    t.node.stop().await;
}

/// The latest version of `id` alpha-analyst gets by id and in the list (which must agree).
async fn latest(t: &T, id: &str) -> String {
    let (_, _, env) = t
        .get(Some("alpha-analyst"), &format!("{}objects/{id}/", t.col))
        .await;
    let (_, _, all) = t
        .get(
            Some("alpha-analyst"),
            &format!("{}objects/?match[id]={id}", t.col),
        )
        .await;
    assert_eq!(env["objects"].as_array().map(Vec::len), Some(1), "{env}");
    assert_eq!(env["objects"], all["objects"], "by id and list agree");
    env["objects"][0]["modified"].as_str().unwrap().to_string()
}

/// "Latest" follows the version order, not the order of arrival: versions posted out of order,
/// in one envelope and across envelopes, and the latest deleted.
async fn latest_follows_versions_in_any_order_of_arrival(engine: Engine) {
    let t = T::start(engine).await;
    let v = |m: &str| indicator(9, m, None);
    let id = v("2026-01-01T00:00:00.000Z")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("{}objects/{id}/", t.col);
    t.post(
        "beta-analyst",
        vec![v("2026-03-01T00:00:00.000Z"), v("2026-01-01T00:00:00.000Z")],
    )
    .await;
    assert_eq!(latest(&t, &id).await, "2026-03-01T00:00:00.000Z");
    t.post("beta-analyst", vec![v("2026-02-01T00:00:00.000Z")])
        .await;
    assert_eq!(latest(&t, &id).await, "2026-03-01T00:00:00.000Z");
    t.post("beta-analyst", vec![v("2026-04-01T00:00:00.000Z")])
        .await;
    assert_eq!(latest(&t, &id).await, "2026-04-01T00:00:00.000Z");
    let r = t
        .req(
            Method::DELETE,
            Some("beta-admin"),
            &format!("{path}?match[version]=2026-04-01T00:00:00.000Z"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(latest(&t, &id).await, "2026-03-01T00:00:00.000Z");
    let (_, _, first) = t
        .get(
            Some("alpha-analyst"),
            &format!("{path}?match[version]=first"),
        )
        .await;
    assert_eq!(first["objects"][0]["modified"], "2026-01-01T00:00:00.000Z");
    t.node.stop().await;
}

/// An envelope large enough to be checked and stored in chunks gives the outcome of each object
/// in the order posted, as a small one does, across chunk boundaries.
async fn large_envelopes_keep_every_outcome_in_order(engine: Engine) {
    let t = T::start(engine).await;
    const N: u32 = 450;
    let v1 = "2026-01-01T00:00:00.000Z";
    let mut objects = Vec::new();
    // (index, what the status must say)
    let mut expected: Vec<(String, Option<&str>)> = Vec::new();
    for i in 0..N {
        let mut o = indicator(i, v1, Some(TLP_GREEN));
        let mut failure = None;
        match i {
            _ if i % 50 == 7 => {
                o.as_object_mut().unwrap().remove("pattern");
                failure = Some("pattern");
            }
            _ if i % 50 == 13 => {
                o["object_marking_refs"] = json!([TLP_RED]);
                failure = Some("must name its recipients");
            }
            // The same version as object 99, in a later chunk: a duplicate.
            120 => o = indicator(99, v1, Some(TLP_GREEN)),
            // A later version of object 10, two chunks on.
            260 => o = indicator(10, "2026-02-01T00:00:00.000Z", Some(TLP_GREEN)),
            // The same id and version as object 30 with other content.
            330 => {
                o = indicator(30, v1, Some(TLP_GREEN));
                o["name"] = json!("changed");
                failure = Some("different content");
            }
            399 => {
                o["object_marking_refs"] =
                    json!(["marking-definition--00000000-0000-4000-8000-000000000001"]);
                failure = Some("is not defined");
            }
            _ => {}
        }
        expected.push((o["id"].as_str().unwrap().to_string(), failure));
        objects.push(o);
    }
    let st = t.post("alpha-analyst", objects).await;
    let failures: Vec<(&str, &str)> = st["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    let want: Vec<&(String, Option<&str>)> = expected.iter().filter(|(_, f)| f.is_some()).collect();
    assert_eq!(failures.len(), want.len(), "{st}");
    for ((id, message), (want_id, want_text)) in failures.iter().zip(want) {
        assert_eq!(id, want_id, "{st}");
        assert!(message.contains(want_text.unwrap()), "{id}: {message}");
    }
    let successes: Vec<&str> = st["successes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = expected
        .iter()
        .filter(|(_, f)| f.is_none())
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(successes, want, "successes in the order posted");
    let dup = st["successes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["id"] == expected[99].0)
        .map(|s| s["message"].clone())
        .collect::<Vec<_>>();
    assert_eq!(dup, vec![Value::Null, json!("Object already added")]);
    // Stored: every success but the duplicate, each once, and object 10 in two versions.
    let (_, _, manifest) = t
        .get(
            Some("beta-analyst"),
            &format!("{}manifest/?match[version]=all&limit=1000", t.col),
        )
        .await;
    let listed = manifest["objects"].as_array().unwrap();
    assert_eq!(listed.len(), want.len() - 1, "{}", listed.len());
    let (_, _, latest) = t
        .get(
            Some("beta-analyst"),
            &format!("{}objects/{}/", t.col, expected[10].0),
        )
        .await;
    assert_eq!(latest["objects"][0]["modified"], "2026-02-01T00:00:00.000Z");
    // Signed like any other: the source's key on a version from the last chunk.
    let (s, sig) = cairn_testkit::call(
        &t.node,
        Method::GET,
        "beta-analyst",
        &format!(
            "/api/v1/communities/test-isac/objects/{}/signatures",
            expected[440].0
        ),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{sig}");
    assert!(sig.to_string().contains("ed25519"), "{sig}");
    t.node.stop().await;
}

both_engines!(
    large_envelopes_keep_every_outcome_in_order,
    latest_follows_versions_in_any_order_of_arrival,
    discovery_root_and_collection,
    round_trip_is_byte_for_byte_with_versions_and_filters,
    pagination_follows_next_and_refuses_bad_tokens,
    bad_envelopes_store_nothing,
    delete_is_for_the_source_only,
);
