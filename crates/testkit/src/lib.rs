//! # cairn-testkit: fixtures for tests on both engines
//!
//! * [`TestDb`]: a fresh database on SQLite (a file in a temporary folder) or PostgreSQL (a
//!   schema of its own in the test database, dropped afterwards), so tests run in parallel.
//! * [`TestNode`]: a running server on an ephemeral loopback port over either engine.
//! * [`both_engines!`]: turns `async fn name(engine: Engine)` tests into one test per engine.
//!
//! PostgreSQL is at `CAIRN_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`. If it cannot be reached the PostgreSQL tests
//! **fail**; they never pass by skipping.

use std::sync::Arc;
use std::time::Duration;

use cairn_core::keys::MasterKey;
use cairn_core::model::*;
use cairn_core::provision::*;
use cairn_core::Cairn;
use cairn_server::{AppState, ServerSettings};
use cairn_store::{SqlStore, StoreOptions};
use sqlx::Connection;

pub use cairn_core::store::Engine;

/// The default PostgreSQL URL for tests.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The PostgreSQL server tests use.
pub fn postgres_url() -> String {
    std::env::var("CAIRN_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string())
}

/// A fresh, isolated database.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    pub engine: Engine,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(engine: Engine) -> TestDb {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary folder");
                let url = format!("sqlite://{}", dir.path().join("cairn.db").display());
                TestDb {
                    url,
                    engine,
                    schema: None,
                    _dir: Some(dir),
                }
            }
            Engine::Postgres => {
                let base = postgres_url();
                let mut conn = sqlx::PgConnection::connect(&base).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL for tests is unreachable at {base} ({e}); the PostgreSQL tests fail rather than skip")
                });
                let schema = format!("cairn_t_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test schema");
                let _ = conn.close().await;
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                TestDb {
                    url,
                    engine,
                    schema: Some(schema),
                    _dir: None,
                }
            }
        }
    }

    /// Open the store on this database (migrations applied).
    pub async fn store(&self) -> Arc<SqlStore> {
        let store = cairn_store::connect(
            &self.url,
            StoreOptions {
                max_connections: 6,
                acquire_timeout: Duration::from_secs(30),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("opening the {} test store: {e:?}", self.engine.as_str()));
        Arc::new(store)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else {
            return;
        };
        let base = postgres_url();
        // Dropping needs a runtime of its own: Drop may run inside or outside one.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&base).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// A service over a fresh store.
pub async fn service(engine: Engine) -> (Cairn, Arc<SqlStore>, TestDb) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    (Cairn::new(store.clone(), MasterKey::generate()), store, db)
}

/// Users and tokens of [`seed_plan`], by user name.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    pub tokens: std::collections::BTreeMap<String, String>,
}

impl Seed {
    pub fn token(&self, username: &str) -> &str {
        self.tokens
            .get(username)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no seeded user {username}"))
    }
}

fn org(short: &str, t: OrgType) -> PlanOrganization {
    PlanOrganization {
        short_name: short.into(),
        name: format!("{short} organization"),
        sector: "energy".into(),
        org_type: t,
        country: "DE".into(),
        security_email: Some(format!("soc@{short}.example")),
        security_phone: None,
        out_of_band_contact: None,
        verified: false,
    }
}

fn user(name: &str, org: &str, role: Role) -> PlanUser {
    PlanUser {
        username: name.into(),
        organization: org.into(),
        display_name: None,
        email: None,
        role,
        disabled: false,
        tokens: vec![PlanToken {
            name: "test".into(),
            hash: None,
            generate: true,
            expires_at: None,
        }],
    }
}

/// A version as the core hands it to the store, for tests that call the store directly.
pub fn plain_version(id: &str, org: uuid::Uuid) -> cairn_core::sharing::NewObjectVersion {
    let at = "2026-01-01T00:00:00.000Z";
    let raw = serde_json::json!({"type": "malware", "spec_version": "2.1", "id": id,
        "created": at, "modified": at, "name": "m", "is_family": false})
    .to_string();
    cairn_core::sharing::NewObjectVersion {
        object_id: id.to_string(),
        object_type: "malware".into(),
        spec_version: "2.1".into(),
        version: Some(at.into()),
        version_key: Some(cairn_core::sharing::version_key_of(
            cairn_core::ts::parse(at).expect("a fixed, valid timestamp"),
        )),
        source_org: org,
        source_user: None,
        tlp: TlpLevel::Green,
        revoked: false,
        raw,
        audience: None,
        provenance: None,
        anonymous: false,
        refs: Vec::new(),
        index: Default::default(),
    }
}

/// Organizations `ops` (the operator's), `alpha` (chair), `beta` (member), `gamma` (not a
/// member); users `operator`, `alpha-admin`, `alpha-analyst`, `alpha-reader`, `beta-admin`,
/// `beta-analyst`, `gamma-admin`; community `test-isac`.
pub fn seed_plan() -> Plan {
    Plan {
        organizations: vec![
            org("ops", OrgType::Ngo),
            org("alpha", OrgType::Private),
            org("beta", OrgType::Public),
            org("gamma", OrgType::Academic),
        ],
        users: vec![
            user("operator", "ops", Role::NodeOperator),
            user("alpha-admin", "alpha", Role::OrgAdmin),
            user("alpha-analyst", "alpha", Role::Analyst),
            user("alpha-reader", "alpha", Role::ReadOnly),
            user("beta-admin", "beta", Role::OrgAdmin),
            user("beta-analyst", "beta", Role::Analyst),
            user("gamma-admin", "gamma", Role::OrgAdmin),
        ],
        communities: vec![PlanCommunity {
            slug: "test-isac".into(),
            name: "Test ISAC".into(),
            description: "for tests".into(),
            default_tlp: None,
            public_feed: false,
            members: vec![
                PlanMember {
                    organization: "alpha".into(),
                    role: CommunityRole::Chair,
                    representatives: vec!["alpha-admin".into()],
                },
                PlanMember {
                    organization: "beta".into(),
                    role: CommunityRole::Member,
                    representatives: vec![],
                },
            ],
        }],
    }
}

/// Apply [`seed_plan`] and collect the generated tokens.
pub async fn seed(cairn: &Cairn) -> Seed {
    let report = seed_plan()
        .apply(cairn, &Actor::system("test-seed"))
        .await
        .expect("seed plan applies");
    Seed {
        tokens: report
            .generated_tokens
            .into_iter()
            .map(|t| (t.username, t.secret))
            .collect(),
    }
}

/// A server on an ephemeral loopback port.
#[derive(Debug)]
pub struct TestNode {
    pub base: String,
    pub cairn: Cairn,
    pub store: Arc<SqlStore>,
    pub seed: Seed,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pub db: TestDb,
}

impl TestNode {
    /// Start a seeded node with default settings.
    pub async fn start(engine: Engine) -> TestNode {
        Self::start_with(engine, ServerSettings::default()).await
    }

    pub async fn start_with(engine: Engine, settings: ServerSettings) -> TestNode {
        let (cairn, store, db) = service(engine).await;
        let seed = seed(&cairn).await;
        let app = cairn_server::app(AppState::new(cairn.clone(), settings));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(cairn_server::serve(
            listener,
            app,
            None,
            async move {
                let _ = rx.await;
            },
            Duration::from_secs(5),
        ));
        TestNode {
            base: format!("http://{addr}"),
            cairn,
            store,
            seed,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
            task: Some(task),
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the user's bearer token.
    pub fn as_user(
        &self,
        method: reqwest::Method,
        username: &str,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(self.seed.token(username))
    }

    /// The `/metrics` text (no credentials needed).
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// Stop the server gracefully and wait for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.cairn.settle_correlation().await;
        self.store.close().await;
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Generate one test per engine from `async fn name(engine: Engine)`.
#[macro_export]
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Engine::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Engine::Postgres).await
                }
            )*
        }
    };
}

/// The TAXII 2.1 media type.
pub const TAXII_MEDIA: &str = "application/taxii+json;version=2.1";

/// Status and body of a response; a body that is not JSON comes back as a JSON string.
pub async fn body(r: reqwest::Response) -> (reqwest::StatusCode, serde_json::Value) {
    let status = r.status();
    let text = r.text().await.expect("response body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// A REST call as `user` (bearer token) with an optional JSON payload.
pub async fn call(
    node: &TestNode,
    method: reqwest::Method,
    user: &str,
    path: &str,
    payload: Option<serde_json::Value>,
) -> (reqwest::StatusCode, serde_json::Value) {
    // What earlier publishes set off (correlation notices) is written before anything is read.
    node.cairn.settle_correlation().await;
    let mut req = node.as_user(method, user, path);
    if let Some(p) = payload {
        req = req.json(&p);
    }
    body(req.send().await.expect("request")).await
}

/// A TAXII GET as `user` (HTTP Basic with the token, as TAXII clients do).
pub async fn taxii_get(
    node: &TestNode,
    user: &str,
    path: &str,
) -> (reqwest::StatusCode, serde_json::Value) {
    node.cairn.settle_correlation().await;
    let r = node
        .client
        .get(node.url(path))
        .header("accept", TAXII_MEDIA)
        .basic_auth(user, Some(node.seed.token(user)))
        .send()
        .await
        .expect("request");
    let status = r.status();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}
