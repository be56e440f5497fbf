//! The `cairn` binary as users run it.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn_testkit::{both_engines, Engine, TestDb};

const MASTER: &str = "5f4dcc3b5aa765d61d8327deb882cf995f4dcc3b5aa765d61d8327deb882cf99";

fn cairn(db: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    c.env("CAIRN_DATABASE_URL", db)
        .env("CAIRN_MASTER_KEY", MASTER)
        .env("CAIRN_LOG_LEVEL", "warn")
        .env_remove("CAIRN_CONFIG")
        .stdin(Stdio::null());
    c
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run cairn")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const PLAN: &str = r#"
[[organizations]]
short_name = "nordgrid"
name = "Nordgrid Energy"
sector = "energy"
org_type = "private"
country = "DE"
verified = true

[[organizations]]
short_name = "rhine-water"
name = "Rhine Water"
sector = "water"
org_type = "public"
country = "NL"

[[users]]
username = "nora"
organization = "nordgrid"
role = "org_admin"
  [[users.tokens]]
  name = "automation"
  generate = true
  [[users.tokens]]
  name = "ci"
  hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

[[users]]
username = "wim"
organization = "rhine-water"
role = "analyst"

[[communities]]
slug = "grid-isac"
name = "Grid ISAC"
default_tlp = "amber"
  [[communities.members]]
  organization = "nordgrid"
  role = "chair"
  representatives = ["nora"]
  [[communities.members]]
  organization = "rhine-water"
"#;

async fn apply_is_idempotent_and_checked(engine: Engine) {
    let db = TestDb::new(engine).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(&plan, PLAN).unwrap();
    let out = run(cairn(&db.url).args(["admin", "apply"]).arg(&plan));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("created organization nordgrid"), "{stdout}");
    assert!(
        stdout.contains("token for nora (automation): cairn_"),
        "{stdout}"
    );
    let again = run(cairn(&db.url).args(["admin", "apply"]).arg(&plan));
    assert!(again.status.success());
    let stdout = text(&again.stdout);
    assert!(
        !stdout.contains("created") && !stdout.contains("updated") && !stdout.contains("token for"),
        "{stdout}"
    );
    let members = run(cairn(&db.url).args(["admin", "community", "members", "grid-isac"]));
    let listing = text(&members.stdout);
    assert!(
        listing.contains("nordgrid") && listing.contains("chair") && listing.contains("nora"),
        "{listing}"
    );

    // A wrong file names the place of the error and changes nothing.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        PLAN.replace("country = \"NL\"", "country = \"Netherlands\"")
            .replace("rhine-water", "rhine-2"),
    )
    .unwrap();
    let out = run(cairn(&db.url).args(["admin", "apply", "--check"]).arg(&bad));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("organizations[1].country"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = run(cairn(&db.url).args(["admin", "apply"]).arg(&bad));
    assert!(!out.status.success());
    let orgs = text(&run(cairn(&db.url).args(["admin", "org", "list"])).stdout);
    assert!(!orgs.contains("rhine-2"), "{orgs}");
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "[[organisations]]\nshort_name = \"x\"\n").unwrap();
    let out = run(cairn(&db.url).args(["admin", "apply"]).arg(&unknown));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("organisations"),
        "{}",
        text(&out.stderr)
    );
}

async fn admin_commands_and_token_lifecycle(engine: Engine) {
    let db = TestDb::new(engine).await;
    let ok = |args: &[&str]| {
        let out = run(cairn(&db.url).args(args));
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    ok(&[
        "admin",
        "org",
        "create",
        "--short-name",
        "acme",
        "--name",
        "Acme",
        "--sector",
        "energy",
        "--type",
        "private",
        "--country",
        "DE",
    ]);
    ok(&[
        "admin",
        "user",
        "create",
        "--org",
        "acme",
        "--username",
        "ann",
        "--role",
        "analyst",
    ]);
    let created = ok(&["admin", "token", "create", "ann", "--name", "cli"]);
    let secret = created
        .lines()
        .find_map(|l| l.strip_prefix("secret (shown once): "))
        .unwrap()
        .to_string();
    assert!(secret.starts_with("cairn_"));
    let listed = ok(&["admin", "token", "list", "ann"]);
    assert!(
        listed.contains("active") && !listed.contains(&secret),
        "{listed}"
    );
    let id = listed.split('\t').next().unwrap().to_string();
    let revoked = ok(&["admin", "token", "revoke", &id]);
    assert!(revoked.contains("revoked"), "{revoked}");
    ok(&["admin", "user", "set-role", "ann", "read_only"]);
    assert!(ok(&["admin", "user", "list"]).contains("read_only"));
    ok(&[
        "admin",
        "community",
        "create",
        "--slug",
        "isac",
        "--name",
        "ISAC",
        "--default-tlp",
        "amber+strict",
    ]);
    ok(&[
        "admin",
        "community",
        "add-member",
        "isac",
        "acme",
        "--role",
        "chair",
    ]);
    ok(&["admin", "community", "designate", "isac", "ann"]);
    assert!(ok(&["admin", "community", "list"]).contains("amber_strict"));
    // Errors: one line, non-zero.
    for args in [
        vec![
            "admin",
            "user",
            "create",
            "--org",
            "acme",
            "--username",
            "bob",
            "--role",
            "boss",
        ],
        vec![
            "admin",
            "org",
            "create",
            "--short-name",
            "acme",
            "--name",
            "A",
            "--sector",
            "x",
            "--type",
            "private",
            "--country",
            "DE",
        ],
        vec!["admin", "token", "revoke", "nope"],
        vec!["admin", "community", "add-member", "isac", "ghost"],
    ] {
        let out = run(cairn(&db.url).args(&args));
        assert!(!out.status.success(), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with("error: ") && err.trim().lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    assert!(ok(&["audit", "verify"]).contains("audit chain intact"));
}

async fn exec(db: &TestDb, sql: &str) {
    let store = db.store().await;
    sqlx::query(sql).execute(store.pool()).await.unwrap();
    store.close().await;
}

async fn audit_verify_names_the_tampered_entry(engine: Engine) {
    let db = TestDb::new(engine).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(&plan, PLAN).unwrap();
    assert!(run(cairn(&db.url).args(["admin", "apply"]).arg(&plan))
        .status
        .success());
    let verify = || run(cairn(&db.url).args(["audit", "verify"]));
    let out = verify();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let n: usize = text(&out.stdout)
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert!(n >= 8, "{}", text(&out.stdout));

    // Edit one entry.
    exec(
        &db,
        "UPDATE audit_log SET details = '{\"role\":\"chair\"}' WHERE seq = 4",
    )
    .await;
    let out = verify();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("audit entry 4"),
        "{}",
        text(&out.stderr)
    );
    exec(&db, "DELETE FROM audit_log").await;
    exec(&db, "UPDATE audit_head SET seq = 0, hash = '0000000000000000000000000000000000000000000000000000000000000000'").await;

    // Rebuild a chain, then remove one from the middle.
    assert!(
        run(cairn(&db.url).args(["admin", "org", "verify", "rhine-water"]))
            .status
            .success()
    );
    assert!(
        run(cairn(&db.url).args(["admin", "org", "verify", "rhine-water", "--undo"]))
            .status
            .success()
    );
    assert!(
        run(cairn(&db.url).args(["admin", "org", "verify", "rhine-water"]))
            .status
            .success()
    );
    assert!(verify().status.success());
    exec(&db, "DELETE FROM audit_log WHERE seq = 2").await;
    let out = verify();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("audit entry 2"),
        "{}",
        text(&out.stderr)
    );

    // Reorder: swap the sequence numbers of entries 1 and 3.
    exec(&db, "UPDATE audit_log SET seq = 100 WHERE seq = 1").await;
    exec(&db, "UPDATE audit_log SET seq = 1 WHERE seq = 3").await;
    exec(&db, "UPDATE audit_log SET seq = 3 WHERE seq = 100").await;
    exec(&db, "INSERT INTO audit_log (seq, at, actor_label, action, object_type, object_id, outcome, details, prev_hash, hash) VALUES (2, '2026-01-01T00:00:00.000000Z', 'x', 'x', 'x', 'x', 'changed', '{}', 'x', 'x')").await;
    let out = verify();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("audit entry 1"),
        "{}",
        text(&out.stderr)
    );

    // Truncating the newest entry is caught by the recorded head.
    exec(&db, "DELETE FROM audit_log").await;
    exec(&db, "UPDATE audit_head SET seq = 0, hash = '0000000000000000000000000000000000000000000000000000000000000000'").await;
    assert!(
        run(cairn(&db.url).args(["admin", "org", "verify", "rhine-water", "--undo"]))
            .status
            .success()
    );
    assert!(
        run(cairn(&db.url).args(["admin", "org", "verify", "rhine-water"]))
            .status
            .success()
    );
    exec(&db, "DELETE FROM audit_log WHERE seq = 2").await;
    let out = verify();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("audit entry 2"),
        "{}",
        text(&out.stderr)
    );
}

/// Every imported object is signed; `cairn export --signatures` and `cairn verify` check a
/// bundle offline, one changed byte fails it, and a rotated key keeps old signatures valid.
async fn signatures_verify_offline_and_survive_rotation(engine: Engine) {
    let db = TestDb::new(engine).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(&plan, PLAN).unwrap();
    assert!(run(cairn(&db.url).args(["admin", "apply"]).arg(&plan))
        .status
        .success());
    let import = |n: u32| {
        let f = dir.path().join(format!("in{n}.json"));
        std::fs::write(
            &f,
            serde_json::json!({"objects": [indicator(n), indicator(n + 1)]}).to_string(),
        )
        .unwrap();
        let out = run(cairn(&db.url).arg("import").arg(&f).args([
            "--community",
            "grid-isac",
            "--user",
            "nora",
        ]));
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    import(1);
    // Rotate nordgrid's key between two imports.
    let store = db.store().await;
    let cairn_svc = cairn_core::Cairn::new(
        store.clone(),
        cairn_core::keys::MasterKey::parse(MASTER).unwrap(),
    );
    let nora = cairn_core::Store::user_by_name(store.as_ref(), "nora")
        .await
        .unwrap()
        .unwrap();
    let actor = cairn_core::model::Actor::for_user(&nora);
    let new_key = cairn_svc.rotate_org_key(&actor, "nordgrid").await.unwrap();
    import(3);
    let mut keys = Vec::new();
    for org in cairn_core::Store::organizations(store.as_ref())
        .await
        .unwrap()
    {
        for k in cairn_core::Store::organization_keys(store.as_ref(), org.id)
            .await
            .unwrap()
        {
            keys.push(k.public());
        }
    }
    assert_eq!(
        keys.iter().filter(|k| k.retired_at.is_some()).count(),
        1,
        "the old key is retired, not gone"
    );
    let keys_file = dir.path().join("keys.json");
    std::fs::write(&keys_file, serde_json::json!({ "keys": keys }).to_string()).unwrap();
    let bundle = dir.path().join("export.json");
    let sigs = dir.path().join("export.sig.json");
    let out = run(cairn(&db.url)
        .args([
            "export",
            "--community",
            "grid-isac",
            "--user",
            "wim",
            "--output",
        ])
        .arg(&bundle)
        .arg("--signatures")
        .arg(&sigs));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let signatures: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sigs).unwrap()).unwrap();
    let used: std::collections::HashSet<&str> = signatures["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key_id"].as_str().unwrap())
        .collect();
    assert_eq!(used.len(), 2, "old and new key both signed: {signatures}");
    assert!(used.contains(new_key.key_id.as_str()));
    let verify = |b: &std::path::Path| {
        run(cairn(&db.url)
            .arg("verify")
            .arg(b)
            .arg("--signatures")
            .arg(&sigs)
            .arg("--keys")
            .arg(&keys_file))
    };
    let out = verify(&bundle);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("4 verified, 0 failed"),
        "{}",
        text(&out.stderr)
    );

    // One byte changed in one object's content.
    let original = std::fs::read_to_string(&bundle).unwrap();
    let tampered = original.replacen("bad.example", "bad.exampld", 1);
    assert_ne!(tampered, original);
    let tampered_file = dir.path().join("tampered.json");
    std::fs::write(&tampered_file, tampered).unwrap();
    let out = verify(&tampered_file);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("does not match the content"),
        "{}",
        text(&out.stdout)
    );
    // A key list without the retired key cannot verify what it signed.
    let current: Vec<_> = keys.iter().filter(|k| k.retired_at.is_none()).collect();
    std::fs::write(
        &keys_file,
        serde_json::json!({ "keys": current }).to_string(),
    )
    .unwrap();
    let out = verify(&bundle);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("unknown key"),
        "{}",
        text(&out.stdout)
    );
}

both_engines!(
    apply_is_idempotent_and_checked,
    admin_commands_and_token_lifecycle,
    audit_verify_names_the_tampered_entry,
    import_export_and_pull,
    signatures_verify_offline_and_survive_rotation
);

fn wait_for(url: &str, client: &reqwest::blocking::Client) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if client
            .get(url)
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "cairn did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn demo_serves_and_its_credentials_work() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("CAIRN_DATABASE_URL")
        .env_remove("CAIRN_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::blocking::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        wait_for(&format!("{base}/readyz"), &client),
        "demo did not come up"
    );
    let creds_path = dir.path().join("demo-credentials.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !creds_path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&creds_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let creds: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&creds_path).unwrap()).unwrap();
    let users = creds["users"].as_array().unwrap();
    assert!(users.len() >= 6);
    let orgs: std::collections::BTreeSet<&str> = users
        .iter()
        .map(|u| u["organization"].as_str().unwrap())
        .collect();
    assert!(orgs.len() >= 5, "{orgs:?}");
    for u in users {
        let r = client
            .get(format!("{base}/api/v1/me"))
            .bearer_auth(u["token"].as_str().unwrap())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", u["username"]);
    }
    let chair = users
        .iter()
        .find(|u| u["username"] == "nora.chair")
        .unwrap();
    let members: serde_json::Value = client
        .get(format!(
            "{base}/api/v1/communities/{}/members",
            creds["community"].as_str().unwrap()
        ))
        .bearer_auth(chair["token"].as_str().unwrap())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let roles: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert!(
        roles.contains(&"chair") && roles.contains(&"co_chair") && roles.contains(&"observer"),
        "{roles:?}"
    );
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
    let mut out = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(out.contains(&base) && out.contains("nora.chair"), "{out}");
}

fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = cert.cert.pem();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    (cert_path, key_path, cert_pem.into_bytes())
}

#[test]
fn serve_over_tls_and_stop_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, pem) = self_signed(dir.path());
    let port = free_port();
    let db = format!("sqlite://{}", dir.path().join("db/cairn.db").display());
    let mut child = cairn(&db)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--tls-cert",
        ])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    assert!(
        wait_for(&format!("https://localhost:{port}/healthz"), &client),
        "TLS server did not answer"
    );
    let plain = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send();
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP must not be served on the TLS port"
    );
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
}

#[test]
fn configuration_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cairn.toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:0\"\ndatabase_ulr = \"sqlite://x.db\"\n",
    )
    .unwrap();
    let out = run(Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["--config"])
        .arg(&cfg)
        .args(["audit", "verify"]));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("database_ulr"), "{err}");

    let out = run(Command::new(env!("CARGO_BIN_EXE_cairn"))
        .env("CAIRN_LISTN", "x")
        .args(["audit", "verify"]));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("listn"), "{}", text(&out.stderr));

    let out = run(cairn("mysql://localhost/db").args(["audit", "verify"]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unknown database URL scheme"),
        "{}",
        text(&out.stderr)
    );

    let out = run(cairn("postgres://postgres@127.0.0.1:1/test").args(["admin", "org", "list"]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).starts_with("error: cannot open the postgres store"),
        "{}",
        text(&out.stderr)
    );

    let out = run(cairn("sqlite://x.db").args(["serve", "--tls-cert", "/nonexistent.pem"]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("tls_cert and tls_key"),
        "{}",
        text(&out.stderr)
    );
}

fn indicator(n: u32) -> serde_json::Value {
    serde_json::json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--10000000-0000-4000-8000-{n:012}"),
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "name": format!("indicator {n}"), "pattern": "[domain-name:value = 'bad.example']",
        "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"
    })
}

async fn import_export_and_pull(engine: Engine) {
    let db = TestDb::new(engine).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(&plan, PLAN).unwrap();
    assert!(run(cairn(&db.url).args(["admin", "apply"]).arg(&plan))
        .status
        .success());
    let data = dir.path().join("feed");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    let mut bad = indicator(9);
    bad["pattern_type"] = serde_json::json!(7);
    std::fs::write(data.join("a.json"), serde_json::json!({"type": "bundle", "id": "bundle--6b6b3b5e-1c0a-4e8b-9f57-3c1d8e4b6a90", "objects": [indicator(1), indicator(2), bad]}).to_string()).unwrap();
    std::fs::write(
        data.join("sub/b.json"),
        serde_json::json!({"objects": [indicator(3)]}).to_string(),
    )
    .unwrap();
    std::fs::write(data.join("notes.txt"), "not STIX").unwrap();
    let import = || {
        run(cairn(&db.url).args(["import"]).arg(&data).args([
            "--community",
            "grid-isac",
            "--user",
            "nora",
        ]))
    };
    let out = import();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a refused object makes the import fail"
    );
    assert_eq!(text(&out.stdout).trim(), "3 stored, 0 duplicate, 1 refused");
    assert!(
        text(&out.stderr).contains("pattern_type"),
        "{}",
        text(&out.stderr)
    );
    let out = import();
    assert_eq!(text(&out.stdout).trim(), "0 stored, 3 duplicate, 1 refused");

    // Correlation notices of an import are written before the command ends: rhine-water holds
    // a value in an AMBER object for itself only; nordgrid imports the same value, and wim
    // (rhine-water's analyst) is told, nora nothing.
    let mut hidden = indicator(20);
    hidden["pattern"] = serde_json::json!("[domain-name:value = 'quiet.example']");
    hidden["object_marking_refs"] =
        serde_json::json!(["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"]);
    let audience = cairn_stix::marking::AUDIENCE_EXTENSION_DEFINITION_ID;
    hidden["extensions"] = serde_json::json!({
        audience: {
            "extension_type": "property-extension",
            "organizations": ["rhine-water"]
        }
    });
    let mut echo = indicator(21);
    echo["pattern"] = serde_json::json!("[domain-name:value = 'QUIET.example']");
    let own = dir.path().join("own");
    let theirs = dir.path().join("theirs");
    for (folder, object) in [(&own, hidden), (&theirs, echo)] {
        std::fs::create_dir_all(folder).unwrap();
        std::fs::write(
            folder.join("x.json"),
            serde_json::json!({"objects": [object]}).to_string(),
        )
        .unwrap();
    }
    for (folder, user) in [(&own, "wim"), (&theirs, "nora")] {
        let out = run(cairn(&db.url).args(["import"]).arg(folder).args([
            "--community",
            "grid-isac",
            "--user",
            user,
        ]));
        assert_eq!(
            text(&out.stdout).trim(),
            "1 stored, 0 duplicate, 0 refused",
            "{}",
            text(&out.stderr)
        );
    }
    let store = db.store().await;
    let told: Vec<(String, String)> = sqlx::query_as(
        "SELECT u.username, n.object_id FROM notifications n JOIN users u ON u.id = n.user_id WHERE n.kind = 'correlation'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    store.close().await;
    assert_eq!(
        told,
        vec![(
            "wim".to_string(),
            "indicator--10000000-0000-4000-8000-000000000020".to_string()
        )]
    );

    // Export: what wim (another member organization) may see; the community default is AMBER
    // with no named audience, so every member: nordgrid's four and wim's own.
    let file = dir.path().join("export.json");
    let out = run(cairn(&db.url)
        .args([
            "export",
            "--community",
            "grid-isac",
            "--user",
            "wim",
            "--output",
        ])
        .arg(&file));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(bundle["type"], "bundle");
    assert_eq!(bundle["objects"].as_array().unwrap().len(), 5);
    let out = run(cairn(&db.url).args(["export", "--community", "grid-isac", "--user", "ghost"]));
    assert!(!out.status.success());

    // Pull from another node, twice: the second time only what is new.
    let remote = cairn_testkit::TestNode::start(Engine::Sqlite).await;
    let community = cairn_core::Store::community_by_slug(remote.store.as_ref(), "test-isac")
        .await
        .unwrap()
        .unwrap();
    let alpha = cairn_core::Store::user_by_name(remote.store.as_ref(), "alpha-analyst")
        .await
        .unwrap()
        .unwrap();
    let actor = cairn_core::model::Actor::for_user(&alpha);
    let post = |from: u32, to: u32| {
        let body = serde_json::to_vec(
            &serde_json::json!({"objects": (from..to).map(indicator).collect::<Vec<_>>()}),
        )
        .unwrap();
        let cairn = remote.cairn.clone();
        let actor = actor.clone();
        async move {
            cairn
                .share_envelope(&actor, "test-isac", &body, Default::default())
                .await
                .unwrap()
        }
    };
    post(100, 105).await;
    let pull_cmd = || {
        let mut c = cairn(&db.url);
        c.args([
            "taxii",
            "pull",
            &remote.url("/taxii2/test-isac/"),
            "--collection",
            &community.id.to_string(),
        ])
        .args([
            "--community",
            "grid-isac",
            "--user",
            "nora",
            "--remote-user",
            "beta-analyst",
        ])
        .env("CAIRN_REMOTE_TOKEN", remote.seed.token("beta-analyst"));
        c
    };
    // The server runs on this runtime: run the blocking command on another thread.
    let mut first = pull_cmd();
    let out = tokio::task::spawn_blocking(move || run(&mut first))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "5 stored, 0 duplicate, 0 refused");
    post(105, 107).await;
    let mut second = pull_cmd();
    let out = tokio::task::spawn_blocking(move || run(&mut second))
        .await
        .unwrap();
    assert_eq!(
        text(&out.stdout).trim(),
        "2 stored, 0 duplicate, 0 refused",
        "{}",
        text(&out.stderr)
    );
    remote.stop().await;
}
