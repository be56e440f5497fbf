//! The store's behaviour, on SQLite and on PostgreSQL alike.

use cairn_core::audit::ChainVerifier;
use cairn_core::model::*;
use cairn_core::service::*;
use cairn_core::store::{AuditQuery, Store};
use cairn_core::{CoreError, StoreError};
use cairn_testkit::{both_engines, service, Engine, TestDb};

fn org_input(short: &str) -> NewOrganization {
    NewOrganization {
        name: format!("{short} Ltd"),
        short_name: short.into(),
        sector: "energy".into(),
        org_type: OrgType::Private,
        country: "DE".into(),
        security_email: Some("soc@example.org".into()),
        security_phone: None,
        out_of_band_contact: None,
    }
}

async fn verify_chain(store: &dyn Store) -> Result<u64, cairn_core::audit::ChainBreak> {
    let mut v = ChainVerifier::default();
    for e in store.audit_chain(0, 1_000_000).await.unwrap() {
        v.check(&e)?;
    }
    v.finish(store.audit_head().await.unwrap())
}

async fn migrations_are_idempotent(engine: Engine) {
    let db = TestDb::new(engine).await;
    let first = db.store().await;
    first.close().await;
    let again = db.store().await;
    again.ping().await.unwrap();
    assert_eq!(again.engine(), engine);
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cairn_migrations")
        .fetch_one(again.pool())
        .await
        .unwrap();
    assert_eq!(
        count,
        cairn_store::migrations::MIGRATIONS.len() as i64,
        "every migration applied once"
    );
}

async fn organizations_round_trip_with_keys(engine: Engine) {
    let (cairn, store, _db) = service(engine).await;
    let op = Actor::system("test");
    let org = cairn
        .create_organization(&op, org_input("acme"))
        .await
        .unwrap();
    let read = store.organization(org.id).await.unwrap().unwrap();
    assert_eq!(read, org);
    assert_eq!(
        store
            .organization_by_short_name("acme")
            .await
            .unwrap()
            .unwrap()
            .id,
        org.id
    );
    let keys = store.organization_keys(org.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].public_key.len(), 32);
    let sig = cairn_core::keys::sign(cairn.master_key(), &keys[0], b"m").unwrap();
    assert!(cairn_core::keys::verify(&keys[0].public_key, b"m", &sig));
    // The secret is stored sealed, not in clear.
    assert_ne!(keys[0].encrypted_secret.len(), 32);
}

async fn duplicates_name_the_field_and_write_nothing(engine: Engine) {
    let (cairn, store, _db) = service(engine).await;
    let op = Actor::system("test");
    cairn
        .create_organization(&op, org_input("acme"))
        .await
        .unwrap();
    let head_before = store.audit_head().await.unwrap();
    let err = cairn
        .create_organization(&op, org_input("acme"))
        .await
        .unwrap_err();
    match err {
        CoreError::Store(StoreError::Duplicate { field, value }) => {
            assert_eq!(field, "short_name");
            assert_eq!(value, "acme");
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    assert_eq!(store.organizations().await.unwrap().len(), 1);
    assert_eq!(
        store.audit_head().await.unwrap(),
        head_before,
        "no audit entry for a refused write"
    );
}

async fn stale_versions_are_refused(engine: Engine) {
    let (cairn, store, _db) = service(engine).await;
    let op = Actor::system("test");
    let org = cairn
        .create_organization(&op, org_input("acme"))
        .await
        .unwrap();
    let mut a = org.clone();
    a.name = "first".into();
    a.version += 1;
    store
        .update_organization(&a, AuditEvent::new(&op, "t", "organization", org.id))
        .await
        .unwrap();
    let mut b = org.clone();
    b.name = "second".into();
    b.version += 1;
    let err = store
        .update_organization(&b, AuditEvent::new(&op, "t", "organization", org.id))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::VersionConflict), "{err:?}");
    assert_eq!(
        store.organization(org.id).await.unwrap().unwrap().name,
        "first"
    );
}

async fn concurrent_updates_lose_nothing(engine: Engine) {
    let (cairn, store, _db) = service(engine).await;
    let op = Actor::system("test");
    let org = cairn
        .create_organization(&op, org_input("acme"))
        .await
        .unwrap();
    let patches = vec![
        OrganizationPatch {
            name: Some("Acme Grid".into()),
            ..Default::default()
        },
        OrganizationPatch {
            sector: Some("water".into()),
            ..Default::default()
        },
        OrganizationPatch {
            org_type: Some(OrgType::Public),
            ..Default::default()
        },
        OrganizationPatch {
            country: Some("NL".into()),
            ..Default::default()
        },
        OrganizationPatch {
            security_email: Some("cert@acme.example".into()),
            ..Default::default()
        },
        OrganizationPatch {
            security_phone: Some("+31 555 0100".into()),
            ..Default::default()
        },
        OrganizationPatch {
            out_of_band_contact: Some("radio".into()),
            ..Default::default()
        },
    ];
    let mut tasks = Vec::new();
    for patch in patches {
        let cairn = cairn.clone();
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            cairn.update_organization(&op, "acme", patch).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let after = store.organization(org.id).await.unwrap().unwrap();
    assert_eq!(after.name, "Acme Grid");
    assert_eq!(after.sector, "water");
    assert_eq!(after.org_type, OrgType::Public);
    assert_eq!(after.country, "NL");
    assert_eq!(after.security_email.as_deref(), Some("cert@acme.example"));
    assert_eq!(after.security_phone.as_deref(), Some("+31 555 0100"));
    assert_eq!(after.out_of_band_contact.as_deref(), Some("radio"));
    assert_eq!(after.version, 8);
    assert_eq!(verify_chain(store.as_ref()).await.unwrap(), 8);
}

async fn concurrent_writers_keep_the_audit_chain(engine: Engine) {
    let (_cairn, store, _db) = service(engine).await;
    let op = Actor::system("test");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_audit(AuditEvent::new(&op, "test.write", "thing", i))
                .await
        }));
    }
    let mut seqs: Vec<i64> = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().unwrap().seq);
    }
    seqs.sort();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    assert_eq!(verify_chain(store.as_ref()).await.unwrap(), 40);
}

async fn tokens_resolve_to_their_owner_until_revoked(engine: Engine) {
    let (cairn, store, _db) = service(engine).await;
    let op = Actor::system("test");
    cairn
        .create_organization(&op, org_input("acme"))
        .await
        .unwrap();
    let user = cairn
        .create_user(
            &op,
            NewUser {
                organization: Some("acme".into()),
                username: "ann".into(),
                display_name: None,
                email: None,
                role: Role::Analyst,
                password: None,
            },
        )
        .await
        .unwrap();
    let created = cairn
        .create_token(
            &op,
            "ann",
            NewTokenRequest {
                name: "ci".into(),
                expires_at: None,
            },
        )
        .await
        .unwrap();
    let hash = cairn_core::auth::hash_token(&created.secret);
    let owner = store.token_owner(&hash).await.unwrap().unwrap();
    assert_eq!(owner.user.id, user.id);
    assert_eq!(owner.org.short_name, "acme");
    assert_eq!(owner.token.token_hash, hash);
    // Read in one statement, every field as read on its own.
    assert_eq!(
        Some(&owner.user),
        store.user(user.id).await.unwrap().as_ref()
    );
    assert_eq!(
        Some(&owner.org),
        store.organization(user.org_id).await.unwrap().as_ref()
    );
    assert_eq!(
        Some(&owner.token),
        store.token(created.token.id).await.unwrap().as_ref()
    );
    assert!(store.token_owner(&"0".repeat(64)).await.unwrap().is_none());
    let session = cairn
        .authenticate(&created.secret, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.user.username, "ann");
    assert!(store
        .token(created.token.id)
        .await
        .unwrap()
        .unwrap()
        .last_used_at
        .is_some());
    cairn.revoke_token(&op, created.token.id).await.unwrap();
    assert_eq!(
        cairn
            .authenticate(&created.secret, None)
            .await
            .unwrap()
            .unwrap_err(),
        AuthFailure::Revoked
    );
    let audit = store
        .audit_entries(&AuditQuery {
            action: Some("token.revoke".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].object_id, created.token.id.to_string());
}

async fn memberships_and_representatives(engine: Engine) {
    let (cairn, store, _db) = service(engine).await;
    let op = Actor::system("test");
    cairn
        .create_organization(&op, org_input("acme"))
        .await
        .unwrap();
    cairn
        .create_user(
            &op,
            NewUser {
                organization: Some("acme".into()),
                username: "ann".into(),
                display_name: None,
                email: None,
                role: Role::OrgAdmin,
                password: None,
            },
        )
        .await
        .unwrap();
    let c = cairn
        .create_community(
            &op,
            NewCommunity {
                slug: "isac".into(),
                name: "ISAC".into(),
                description: String::new(),
                default_tlp: TlpLevel::Amber,
                public_feed: false,
            },
        )
        .await
        .unwrap();
    cairn
        .put_member(
            &op,
            "isac",
            MembershipRequest {
                organization: "acme".into(),
                role: CommunityRole::Member,
            },
        )
        .await
        .unwrap();
    cairn
        .put_member(
            &op,
            "isac",
            MembershipRequest {
                organization: "acme".into(),
                role: CommunityRole::Chair,
            },
        )
        .await
        .unwrap();
    let ms = store.memberships(c.id).await.unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].role, CommunityRole::Chair);
    cairn.designate(&op, "isac", "ann").await.unwrap();
    assert_eq!(store.representatives(c.id).await.unwrap().len(), 1);
    // Removing the membership removes the organization's representatives with it.
    cairn.remove_member(&op, "isac", "acme").await.unwrap();
    assert!(store.memberships(c.id).await.unwrap().is_empty());
    assert!(store.representatives(c.id).await.unwrap().is_empty());
    let acme = store
        .organization_by_short_name("acme")
        .await
        .unwrap()
        .unwrap();
    assert!(store.communities(Some(acme.id)).await.unwrap().is_empty());
    assert_eq!(store.communities(None).await.unwrap().len(), 1);
}

async fn provisioning_is_idempotent(engine: Engine) {
    let (cairn, store, _db) = service(engine).await;
    let op = Actor::system("test");
    let plan = cairn_testkit::seed_plan();
    let first = plan.apply(&cairn, &op).await.unwrap();
    assert!(!first.created.is_empty());
    assert_eq!(first.generated_tokens.len(), plan.users.len());
    let head = store.audit_head().await.unwrap();
    let second = plan.apply(&cairn, &op).await.unwrap();
    assert!(second.created.is_empty(), "{:?}", second.created);
    assert!(second.updated.is_empty(), "{:?}", second.updated);
    assert!(second.generated_tokens.is_empty());
    assert_eq!(
        store.audit_head().await.unwrap(),
        head,
        "a repeated apply writes nothing"
    );
}

async fn invalid_plans_write_nothing(engine: Engine) {
    let (cairn, store, _db) = service(engine).await;
    let mut plan = cairn_testkit::seed_plan();
    plan.communities[0].members[0].organization = "nobody".into();
    let err = plan
        .apply(&cairn, &Actor::system("test"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("communities[0].members[0].organization"),
        "{err}"
    );
    assert!(store.organizations().await.unwrap().is_empty());
    assert_eq!(store.audit_head().await.unwrap().map(|h| h.0), Some(0));
}

/// What feedback is about is indexed when stored, forgotten when deleted, and the feedback migration
/// indexes what was stored before it the same way.
async fn feedback_references_are_indexed_and_backfilled(engine: Engine) {
    use cairn_core::sharing::{ObjectQuery, VersionMatch, Viewer};
    let (cairn, store, _db) = service(engine).await;
    cairn_testkit::seed(&cairn).await;
    let user = |name: &str| {
        let store = store.clone();
        let name = name.to_string();
        async move { Actor::for_user(&store.user_by_name(&name).await.unwrap().unwrap()) }
    };
    let (alpha, beta) = (user("alpha-analyst").await, user("beta-analyst").await);
    let ind = "indicator--0b000000-0000-4000-8000-000000000001";
    let body = serde_json::json!({"objects": [{"type": "indicator", "spec_version": "2.1", "id": ind,
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "pattern": "[ipv4-addr:value = '192.0.2.1']", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}]});
    cairn
        .share_envelope(
            &alpha,
            "test-isac",
            body.to_string().as_bytes(),
            Default::default(),
        )
        .await
        .unwrap();
    let t = "2026-01-02T00:00:00.000Z";
    let note = "note--0b000000-0000-4000-8000-000000000004";
    let body = serde_json::json!({"objects": [
        {"type": "sighting", "spec_version": "2.1", "id": "sighting--0b000000-0000-4000-8000-000000000002",
         "created": t, "modified": t, "sighting_of_ref": ind},
        {"type": "opinion", "spec_version": "2.1", "id": "opinion--0b000000-0000-4000-8000-000000000003",
         "created": t, "modified": t, "opinion": "agree", "object_refs": [ind]},
        {"type": "note", "spec_version": "2.1", "id": note, "created": t, "modified": t,
         "content": "seen", "object_refs": [ind, "opinion--0b000000-0000-4000-8000-000000000003"]},
        {"type": "report", "spec_version": "2.1", "id": "report--0b000000-0000-4000-8000-000000000005",
         "created": t, "modified": t, "name": "r", "published": t, "object_refs": [ind]}
    ]});
    let (_, report) = cairn
        .share_envelope(
            &beta,
            "test-isac",
            body.to_string().as_bytes(),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        report.count(cairn_core::exchange::ResultKind::Stored),
        4,
        "{report:?}"
    );
    let rows = |store: std::sync::Arc<cairn_store::SqlStore>| async move {
        let r: Vec<(String, String)> = sqlx::query_as(
            "SELECT object_id, target_id FROM stix_refs ORDER BY object_id, target_id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        r
    };
    let indexed = rows(store.clone()).await;
    assert_eq!(indexed.len(), 4, "the report is not feedback: {indexed:?}");
    let community = store.community_by_slug("test-isac").await.unwrap().unwrap();
    let viewer = Viewer {
        user: beta.user_id,
        org: beta.org_id,
        member: true,
        public_feed: false,
    };
    let about = store
        .objects(
            &viewer,
            community.id,
            &ObjectQuery {
                refers_to: Some(ind.into()),
                versions: VersionMatch::Last,
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let types: Vec<&str> = about.iter().map(|o| o.object_type.as_str()).collect();
    assert_eq!(types, vec!["sighting", "opinion", "note"]);

    // The backfill of the feedback migration finds the same rows.
    sqlx::query("DELETE FROM stix_refs")
        .execute(store.pool())
        .await
        .unwrap();
    let m = cairn_store::migrations::MIGRATIONS
        .iter()
        .find(|m| m.name == "feedback")
        .unwrap();
    let script = match engine {
        Engine::Sqlite => m.sqlite,
        Engine::Postgres => m.postgres,
    };
    for stmt in script
        .split(";\n")
        .map(str::trim)
        .filter(|s| s.starts_with("INSERT"))
    {
        sqlx::query(stmt).execute(store.pool()).await.unwrap();
    }
    assert_eq!(rows(store.clone()).await, indexed);

    // Deleting a version forgets what it was about.
    cairn
        .delete_object(
            &beta,
            "test-isac",
            note,
            &ObjectQuery {
                versions: VersionMatch::All,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rows(store.clone()).await.len(), 2);
}

/// A fresh database as a release that knew the steps up to `step` left it, and a connection
/// to it (the store opened on `db` afterwards applies the later steps).
async fn database_at_step(engine: Engine, step: i64) -> (TestDb, sqlx::AnyConnection) {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let db = TestDb::new(engine).await;
    let url = match engine {
        Engine::Sqlite => format!("{}?mode=rwc", db.url),
        Engine::Postgres => db.url.clone(),
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    cairn_store::migrations::migrate_up_to(&mut conn, engine, step)
        .await
        .unwrap();
    (db, conn)
}

/// Step 9 moves the value index of an older database into the hashed one, every row, with
/// the hash the server computes, and drops the old table.
async fn the_value_index_is_rekeyed_on_upgrade(engine: Engine) {
    let (db, mut conn) = database_at_step(engine, 8).await;
    // More versions than one range of the step (20,000), two values for some.
    let mut rows = Vec::new();
    for seq in (1..=45_000i64).step_by(7) {
        rows.push((
            seq,
            "ipv4",
            format!("198.51.{}.{}", seq / 256 % 256, seq % 256),
        ));
        if seq % 3 == 0 {
            rows.push((seq, "domain", format!("host{seq}.example.net")));
        }
    }
    for chunk in rows.chunks(60) {
        let mut sql = String::from("INSERT INTO object_values (kind, value, seq) VALUES ");
        let list: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
            .collect();
        sql.push_str(&list.join(", "));
        let mut q = sqlx::query(&sql);
        for (seq, kind, value) in chunk {
            q = q.bind(kind.to_string()).bind(value.clone()).bind(*seq);
        }
        q.execute(&mut conn).await.unwrap();
    }
    sqlx::Connection::close(conn).await.unwrap();
    let store = db.store().await;
    let moved: Vec<(i64, i64, String, String)> =
        sqlx::query_as("SELECT seq, h, kind, value FROM object_values ORDER BY seq, kind")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let mut want: Vec<(i64, i64, String, String)> = rows
        .iter()
        .map(|(seq, kind, value)| {
            (
                *seq,
                cairn_core::search::value_hash(kind, value),
                kind.to_string(),
                value.clone(),
            )
        })
        .collect();
    want.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
    assert_eq!(moved.len(), want.len());
    assert_eq!(moved, want);
    let old = sqlx::query("SELECT 1 FROM object_values_0008")
        .fetch_optional(store.pool())
        .await;
    assert!(old.is_err(), "the old table is dropped");
    // Step 11: the values stored form the first part of the index in parts, counted.
    let parts: Vec<(i64, i64, String)> =
        sqlx::query_as("SELECT part, written, stamp FROM value_parts ORDER BY part")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(parts, vec![(0, want.len() as i64, "migration".to_string())]);
    let in_parts: Vec<(i64, i64)> =
        sqlx::query_as("SELECT part, COUNT(*) FROM object_values GROUP BY part")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(in_parts, vec![(0, want.len() as i64)]);
}

/// Step 12 keeps every reference stored before it, now ordered by what it refers to, and the
/// separate target index is gone.
async fn references_are_kept_on_upgrade(engine: Engine) {
    let (db, mut conn) = database_at_step(engine, 11).await;
    let mut want = Vec::new();
    for i in 0..40 {
        let target = format!("indicator--0d000000-0000-4000-8000-{:012}", i % 7);
        let object = format!("sighting--0d000000-0000-4000-8000-{i:012}");
        let community = if i % 5 == 0 { "c-two" } else { "c-one" };
        for version in ["00000000000000000001", "00000000000000000002"] {
            sqlx::query("INSERT INTO stix_refs (community_id, object_id, version_key, target_id) VALUES ($1, $2, $3, $4)")
                .bind(community)
                .bind(object.clone())
                .bind(version)
                .bind(target.clone())
                .execute(&mut conn)
                .await
                .unwrap();
            want.push((
                community.to_string(),
                target.clone(),
                object.clone(),
                version.to_string(),
            ));
        }
    }
    sqlx::Connection::close(conn).await.unwrap();
    let store = db.store().await;
    let kept: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT community_id, target_id, object_id, version_key FROM stix_refs ORDER BY community_id, target_id, object_id, version_key",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    want.sort();
    assert_eq!(kept, want);
    let index = match engine {
        Engine::Sqlite => "SELECT name FROM sqlite_master WHERE name = 'stix_refs_target'",
        Engine::Postgres => {
            "SELECT indexname AS name FROM pg_indexes WHERE indexname = 'stix_refs_target'"
        }
    };
    let found: Vec<(String,)> = sqlx::query_as(index).fetch_all(store.pool()).await.unwrap();
    assert!(found.is_empty(), "the target index is dropped: {found:?}");
    // The key is the whole row: the same reference again is refused by the key.
    let again = sqlx::query("INSERT INTO stix_refs (community_id, target_id, object_id, version_key) VALUES ($1, $2, $3, $4)")
        .bind(&want[0].0)
        .bind(&want[0].1)
        .bind(&want[0].2)
        .bind(&want[0].3)
        .execute(store.pool())
        .await;
    assert!(again.is_err(), "a duplicate reference is refused");
}

/// Step 13 (SQLite) rebuilds the objects table around the object key: every row is kept with its
/// `seq`, the sequence goes on from where it was (past rows deleted at its end), each row's key
/// is the one the queries compute, and reads by id find exactly the object asked for, also
/// among ids that share a key. Step 14 indexes the key in parts by age: the rows already stored,
/// whatever their `seq`, form part 0.
#[tokio::test]
async fn objects_are_kept_and_keyed_on_upgrade() {
    use cairn_core::sharing::{ObjectQuery, VersionMatch, Viewer};
    use uuid::Uuid;
    let (db, mut conn) = database_at_step(Engine::Sqlite, 12).await;
    let (c1, c2, org) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let t = "2026-01-01T00:00:00.000000Z";
    sqlx::query("INSERT INTO organizations (id, name, short_name, sector, org_type, country, created_at, updated_at, version) VALUES ($1, 'Org', 'org', 'energy', 'operator', 'NO', $2, $2, 1)")
        .bind(org.to_string())
        .bind(t)
        .execute(&mut conn)
        .await
        .unwrap();
    for (c, slug) in [(c1, "one"), (c2, "two")] {
        sqlx::query("INSERT INTO communities (id, slug, name, description, default_tlp, created_at, updated_at, version) VALUES ($1, $2, $2, '', 'green', $3, $3, 1)")
            .bind(c.to_string())
            .bind(slug)
            .bind(t)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    // Two ids with the same key (5th–8th and last 8 hex digits), the same id in two
    // communities, and one object in two versions.
    let shared_key = [
        "indicator--aaaa1234-0000-4000-8000-0000deadbeef",
        "indicator--bbbb1234-1111-4111-9111-1111deadbeef",
    ];
    let shared_seqs = [10, 70_011];
    let mut rows: Vec<(i64, Uuid, String, String)> = Vec::new();
    for (i, id) in shared_key.iter().enumerate() {
        rows.push((
            shared_seqs[i],
            c1,
            id.to_string(),
            "00000000000000000001".into(),
        ));
    }
    rows.push((
        20,
        c1,
        "malware--0e000000-0000-4000-8000-000000000001".into(),
        "00000000000000000001".into(),
    ));
    rows.push((
        40_021,
        c1,
        "malware--0e000000-0000-4000-8000-000000000001".into(),
        "00000000000000000002".into(),
    ));
    rows.push((30, c2, shared_key[0].into(), "00000000000000000001".into()));
    for seq in (40..400).step_by(3) {
        rows.push((
            seq,
            c1,
            format!("tool--0e000000-0000-4000-8000-{seq:012}"),
            "00000000000000000001".into(),
        ));
    }
    for (seq, community, id, key) in &rows {
        sqlx::query("INSERT INTO stix_objects (seq, community_id, object_id, object_type, spec_version, version, version_key, date_added, source_org, tlp, raw) VALUES ($1, $2, $3, $4, '2.1', '2026-01-01T00:00:00.000Z', $5, '2026-01-01T00:00:00.000000Z', $6, 'green', $7)")
            .bind(*seq)
            .bind(community.to_string())
            .bind(id.clone())
            .bind(id.split("--").next().unwrap().to_string())
            .bind(key.clone())
            .bind(org.to_string())
            .bind(format!(r#"{{"id":"{id}","n":{seq}}}"#))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE stix_objects SET superseded = 1 WHERE seq = 20")
        .execute(&mut conn)
        .await
        .unwrap();
    // Rows were deleted at the end of the sequence before the upgrade.
    sqlx::query("UPDATE sqlite_sequence SET seq = 90000 WHERE name = 'stix_objects'")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::Connection::close(conn).await.unwrap();

    let store = db.store().await;
    let kept: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT seq, object_id, object_key, key_part FROM stix_objects ORDER BY seq",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut want_seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
    want_seqs.sort();
    assert_eq!(kept.iter().map(|k| k.0).collect::<Vec<_>>(), want_seqs);
    for (seq, id, key, part) in &kept {
        let tail = &id[id.len() - 8..];
        let uuid = id.split("--").nth(1).unwrap();
        assert_eq!(key, &format!("{}{tail}", &uuid[4..8]), "{id}");
        assert_eq!(*part, 0, "{id} (seq {seq})");
    }
    let (seq,): (i64,) =
        sqlx::query_as("SELECT seq FROM sqlite_sequence WHERE name = 'stix_objects'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(seq, 90_000, "the sequence goes on where it was");
    let indexes: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'stix_objects' ORDER BY name",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let indexes: Vec<&str> = indexes.iter().map(|i| i.0.as_str()).collect();
    assert_eq!(
        indexes,
        vec![
            "stix_objects_community_added",
            "stix_objects_community_seq",
            "stix_objects_community_type",
            "stix_objects_key_part"
        ]
    );
    let viewer = Viewer {
        user: None,
        org: Some(org),
        member: true,
        public_feed: false,
    };
    let read = |community: Uuid, id: &str, versions: VersionMatch| {
        let store = store.clone();
        let viewer = viewer.clone();
        let q = ObjectQuery {
            ids: vec![id.to_string()],
            versions,
            limit: 10,
            ..Default::default()
        };
        async move {
            store
                .objects(&viewer, community, &q)
                .await
                .unwrap()
                .into_iter()
                .map(|o| (o.seq, o.object_id))
                .collect::<Vec<_>>()
        }
    };
    for (i, id) in shared_key.iter().enumerate() {
        assert_eq!(
            read(c1, id, VersionMatch::All).await,
            vec![(shared_seqs[i], id.to_string())]
        );
    }
    assert_eq!(
        read(c2, shared_key[0], VersionMatch::All).await,
        vec![(30, shared_key[0].to_string())]
    );
    let malware = "malware--0e000000-0000-4000-8000-000000000001";
    assert_eq!(
        read(c1, malware, VersionMatch::Last).await,
        vec![(40_021, malware.to_string())]
    );
    assert_eq!(
        read(c1, malware, VersionMatch::First).await,
        vec![(20, malware.to_string())]
    );
    assert!(read(c2, malware, VersionMatch::All).await.is_empty());
}

/// Seed the store; its community `test-isac` and organization `alpha`.
async fn seeded_community_and_org(
    cairn: &Cairn,
    store: &cairn_store::SqlStore,
) -> (Community, Organization) {
    cairn_testkit::seed(cairn).await;
    let community = store.community_by_slug("test-isac").await.unwrap().unwrap();
    let org = store
        .organization_by_short_name("alpha")
        .await
        .unwrap()
        .unwrap();
    (community, org)
}

async fn stored_versions(store: &cairn_store::SqlStore) -> i64 {
    use sqlx::Row as _;
    sqlx::query("SELECT COUNT(*) AS n FROM stix_objects")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .try_get::<i64, _>("n")
        .unwrap()
}

/// A share's end, as the TAXII handler asks for it: an audit entry and the status `id` to keep.
fn end_with_status(community: uuid::Uuid, id: uuid::Uuid) -> cairn_core::store::ShareEnd<'static> {
    Box::new(move |batch, outcomes| cairn_core::store::ShareRecord {
        audit: AuditEvent::new(
            &Actor::system("test"),
            "objects.share",
            "community",
            community,
        ),
        status: Some(TaxiiStatus {
            id,
            community_id: community,
            user_id: uuid::Uuid::nil(),
            created_at: cairn_core::ts::now(),
            body: format!(
                r#"{{"posted":{},"outcomes":{}}}"#,
                batch.len(),
                outcomes.len()
            ),
        }),
    })
}

/// A share whose chunks fail part-way (a later chunk's check reads the store and fails) stores
/// nothing of the chunks before, keeps no audit entry and no status, and leaves the store
/// writable; a share that stores nothing new, or receives no version, still keeps its status
/// (and writes no audit entry).
async fn a_failing_share_stream_stores_nothing(engine: Engine) {
    let (cairn, store, _db) = service(engine).await;
    let (community, org) = seeded_community_and_org(&cairn, &store).await;
    let entries = verify_chain(store.as_ref()).await.unwrap();
    let first = vec![
        cairn_testkit::plain_version("malware--0c000000-0000-4000-8000-000000000001", org.id),
        cairn_testkit::plain_version("malware--0c000000-0000-4000-8000-000000000002", org.id),
    ];
    let chunks: Vec<Result<_, StoreError>> = vec![
        Ok(first.clone()),
        Err(StoreError::Unavailable(
            "the check of the next chunk failed".into(),
        )),
    ];
    let failed = uuid::Uuid::new_v4();
    let err = store
        .share_stream(
            community.id,
            Box::pin(futures::stream::iter(chunks)),
            end_with_status(community.id, failed),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable(ref m) if m.contains("next chunk failed")),
        "{err:?}"
    );
    assert_eq!(stored_versions(&store).await, 0);
    assert_eq!(verify_chain(store.as_ref()).await.unwrap(), entries);
    assert!(
        store.status(failed).await.unwrap().is_none(),
        "no status for a share that failed"
    );
    // The same versions go in afterwards, with one audit entry.
    let op = Actor::system("test");
    let outcomes = store
        .share_objects(
            community.id,
            &first,
            AuditEvent::new(&op, "objects.share", "community", community.id),
        )
        .await
        .unwrap();
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, cairn_core::sharing::PutOutcome::Stored { .. })));
    assert_eq!(stored_versions(&store).await, 2);
    assert_eq!(verify_chain(store.as_ref()).await.unwrap(), entries + 1);
    // Again: duplicates only, and then no version at all. Each keeps its status.
    let (again, none) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let chunk = futures::stream::iter(vec![Ok(first.clone())]);
    let (_, outcomes) = store
        .share_stream(
            community.id,
            Box::pin(chunk),
            end_with_status(community.id, again),
        )
        .await
        .unwrap();
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, cairn_core::sharing::PutOutcome::Duplicate { .. })));
    let empty = futures::stream::iter(Vec::<Result<_, StoreError>>::new());
    store
        .share_stream(
            community.id,
            Box::pin(empty),
            end_with_status(community.id, none),
        )
        .await
        .unwrap();
    let kept = store.status(again).await.unwrap().unwrap();
    assert_eq!(kept.body, r#"{"posted":2,"outcomes":2}"#);
    let kept = store.status(none).await.unwrap().unwrap();
    assert_eq!(kept.body, r#"{"posted":0,"outcomes":0}"#);
    assert_eq!(stored_versions(&store).await, 2);
    assert_eq!(
        verify_chain(store.as_ref()).await.unwrap(),
        entries + 1,
        "nothing stored, no audit entry"
    );
}

/// A version of the malware `id` modified at `at`.
fn version_at(id: &str, org: uuid::Uuid, at: &str) -> cairn_core::sharing::NewObjectVersion {
    let mut v = cairn_testkit::plain_version(id, org);
    v.raw = v.raw.replace(
        "2026-01-01T00:00:00.000Z\",\"name",
        &format!("{at}\",\"name"),
    );
    assert!(
        v.raw.contains(&format!("\"modified\":\"{at}\"")),
        "{}",
        v.raw
    );
    v.version = Some(at.into());
    v.version_key = Some(cairn_core::sharing::version_key_of(
        cairn_core::ts::parse(at).unwrap(),
    ));
    v
}

/// Stored versions are found wherever their rows are (on SQLite, in whichever part of the
/// object key's index, 32,768 `seq`s each): shares that cross from one part into the next and
/// jump over parts see duplicates and newer versions of objects in every part, in a later
/// chunk of the same share too; a share that fails leaves nothing that hides a later one's
/// objects; an id whose key differs from a stored one's only where the print does not look is
/// a new object.
async fn versions_are_found_in_every_part(engine: Engine) {
    use cairn_core::sharing::{ObjectQuery, PutOutcome, VersionMatch, Viewer};
    let (cairn, store, db) = service(engine).await;
    let (community, org) = seeded_community_and_org(&cairn, &store).await;
    let move_sequence = |to: i64| {
        let store = store.clone();
        async move {
            let sql = match engine {
                Engine::Sqlite => {
                    format!("UPDATE sqlite_sequence SET seq = {to} WHERE name = 'stix_objects'")
                }
                Engine::Postgres => {
                    format!("SELECT setval(pg_get_serial_sequence('stix_objects', 'seq'), {to})")
                }
            };
            sqlx::query(&sql).execute(store.pool()).await.unwrap();
        }
    };
    let share = |chunks: Vec<Result<Vec<cairn_core::sharing::NewObjectVersion>, StoreError>>| {
        let store = store.clone();
        async move {
            store
                .share_stream(
                    community.id,
                    Box::pin(futures::stream::iter(chunks)),
                    end_with_status(community.id, uuid::Uuid::new_v4()),
                )
                .await
                .map(|(_, outcomes)| outcomes)
        }
    };
    let id = |n: u32| format!("malware--0f000000-0000-4000-8000-0000{n:08x}");
    let plain = |n: u32| cairn_testkit::plain_version(&id(n), org.id);
    let later = "2026-02-01T00:00:00.000Z";
    // A share from near the end of part 0 into part 1; its second chunk repeats an object of
    // the first and brings a newer version of another.
    move_sequence(32_700).await;
    let first: Vec<_> = (0..100).map(plain).collect();
    let mut second: Vec<_> = (100..150).map(plain).collect();
    second.push(plain(3));
    second.push(version_at(&id(4), org.id, later));
    let outcomes = share(vec![Ok(first), Ok(second)]).await.unwrap();
    let seq_of = |o: &PutOutcome| match o {
        PutOutcome::Stored { seq, .. } => Some(*seq),
        _ => None,
    };
    let seqs: Vec<i64> = outcomes.iter().filter_map(seq_of).collect();
    assert_eq!(seqs.len(), 151, "{outcomes:?}");
    assert!(seqs.iter().any(|s| *s < 32_768) && seqs.iter().any(|s| *s >= 32_768));
    assert!(
        matches!(outcomes[150], PutOutcome::Duplicate { .. }),
        "{:?}",
        outcomes[150]
    );
    // A share that fails after its first chunk, past the start of part 2.
    move_sequence(2 * 32_768 - 10).await;
    let failing: Vec<_> = (200..240).map(plain).collect();
    let err = share(vec![
        Ok(failing),
        Err(StoreError::Unavailable("the next chunk failed".into())),
    ])
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    // Then rows in part 3, so that parts 0 to 2 are sealed: the objects in parts 0 and 1 are
    // still found, as are the failed share's objects (now new) and a print shared by chance.
    move_sequence(3 * 32_768 + 5).await;
    let outcomes = share(vec![Ok(vec![plain(500)])]).await.unwrap();
    assert!(seq_of(&outcomes[0]).unwrap() >= 3 * 32_768);
    // Its key, 9999b6e283ce, folds to the print of id(7)'s, 000000000007 (`key_prints::print_of`).
    let same_print = "malware--0f009999-0000-4000-8000-0000b6e283ce";
    let again = vec![
        plain(5),
        plain(120),
        version_at(&id(6), org.id, later),
        version_at(&id(130), org.id, later),
        plain(210),
        plain(500),
        cairn_testkit::plain_version(same_print, org.id),
    ];
    let outcomes = share(vec![Ok(again)]).await.unwrap();
    let kinds: Vec<&str> = outcomes
        .iter()
        .map(|o| match o {
            PutOutcome::Stored { .. } => "stored",
            PutOutcome::Duplicate { .. } => "duplicate",
            PutOutcome::Refused(_) => "refused",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "duplicate",
            "duplicate",
            "stored",
            "stored",
            "stored",
            "duplicate",
            "stored"
        ]
    );
    // New objects went to the part of the sequence when stored, later versions to their
    // object's part.
    if engine == Engine::Sqlite {
        let parts: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT object_id, MIN(key_part), MAX(key_part) FROM stix_objects GROUP BY object_id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let part_of = |n: &str| parts.iter().find(|p| p.0 == n).map(|p| (p.1, p.2));
        for (n, part) in [
            (4, 1),
            (6, 1),
            (99, 1),
            (100, 2),
            (130, 2),
            (210, 4),
            (500, 4),
        ] {
            assert_eq!(part_of(&id(n)), Some((part, part)), "{}", id(n));
        }
    }
    // Reads by id find every version, and the newer ones supersede the older.
    let viewer = Viewer {
        user: None,
        org: Some(org.id),
        member: true,
        public_feed: false,
    };
    for (n, versions) in [
        (4u32, 2),
        (6, 2),
        (130, 2),
        (5, 1),
        (7, 1),
        (210, 1),
        (500, 1),
    ] {
        let read = |versions: VersionMatch| {
            let q = ObjectQuery {
                ids: vec![id(n)],
                versions,
                limit: 10,
                ..Default::default()
            };
            let (store, viewer) = (store.clone(), viewer.clone());
            async move { store.objects(&viewer, community.id, &q).await.unwrap() }
        };
        assert_eq!(read(VersionMatch::All).await.len(), versions, "{}", id(n));
        let last = read(VersionMatch::Last).await;
        let want = if versions == 2 {
            later
        } else {
            "2026-01-01T00:00:00.000Z"
        };
        assert_eq!(last.len(), 1, "{}", id(n));
        assert!(last[0].raw.contains(want), "{}: {}", id(n), last[0].raw);
    }
    // All of them in one read (with the object whose key's print is another's), by this store,
    // whose shares read the prints of the sealed parts, and by another on the same database:
    // before it has read any print, and after it has read them as a server does at start.
    let mut ids: Vec<String> = [4u32, 6, 130, 5, 7, 210, 500].map(id).to_vec();
    ids.push(same_print.to_string());
    let read_all = |store: std::sync::Arc<cairn_store::SqlStore>| {
        let q = ObjectQuery {
            ids: ids.clone(),
            versions: VersionMatch::All,
            limit: 100,
            ..Default::default()
        };
        let viewer = viewer.clone();
        async move {
            let mut found: Vec<String> = store
                .objects(&viewer, community.id, &q)
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.object_id)
                .collect();
            found.sort();
            found
        }
    };
    let mut want: Vec<String> = ids.clone();
    want.extend([4u32, 6, 130].map(id));
    want.sort();
    assert_eq!(read_all(store.clone()).await, want);
    let other = db.store().await;
    assert_eq!(read_all(other.clone()).await, want, "no prints read");
    other.prepare_hidden_matches().await.unwrap();
    assert_eq!(read_all(other).await, want, "prints read at start");
}

/// Shares and other writes running at once (on SQLite: the bulk writer's connection and the
/// store's writer connection) all land, each with its audit entry, in one unbroken chain.
async fn shares_and_other_writes_keep_one_chain(engine: Engine) {
    let (cairn, store, _db) = service(engine).await;
    let (community, org) = seeded_community_and_org(&cairn, &store).await;
    let entries = verify_chain(store.as_ref()).await.unwrap();
    let op = Actor::system("test");
    let mut tasks = Vec::new();
    for i in 0..20u32 {
        let store = store.clone();
        let op = op.clone();
        let cid = community.id;
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let batch: Vec<_> = (0..25u32)
                    .map(|j| {
                        cairn_testkit::plain_version(
                            &format!("malware--0d000000-0000-4000-8000-{:06}{:06}", i, j),
                            org.id,
                        )
                    })
                    .collect();
                let outcomes = store
                    .share_objects(
                        cid,
                        &batch,
                        AuditEvent::new(&op, "objects.share", "community", cid),
                    )
                    .await
                    .unwrap();
                assert_eq!(outcomes.len(), 25);
            } else {
                store
                    .append_audit(AuditEvent::new(&op, "test.write", "thing", i))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(stored_versions(&store).await, 10 * 25);
    assert_eq!(verify_chain(store.as_ref()).await.unwrap(), entries + 20);
}

/// On PostgreSQL, reads are planned with their parameters, except on the stable-plans pool,
/// which keeps generic plans; no connection compiles plans. SQLite connections run in WAL mode.
async fn connections_are_set_up_for_their_engine(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let setting = |pool: &'static str, name: &'static str| {
        let store = &store;
        async move {
            let pool = if pool == "stable" {
                store.stable_pool()
            } else {
                store.pool()
            };
            let sql = match engine {
                Engine::Postgres => format!("SELECT current_setting('{name}')"),
                Engine::Sqlite => format!("PRAGMA {name}"),
            };
            sqlx::query_scalar::<_, String>(&sql)
                .fetch_one(pool)
                .await
                .unwrap()
        }
    };
    match engine {
        Engine::Postgres => {
            assert_eq!(
                setting("read", "plan_cache_mode").await,
                "force_custom_plan"
            );
            assert_eq!(setting("stable", "plan_cache_mode").await, "auto");
            assert_eq!(setting("read", "jit").await, "off");
            assert_eq!(setting("stable", "jit").await, "off");
        }
        Engine::Sqlite => {
            assert_eq!(setting("read", "journal_mode").await, "wal");
            assert_eq!(setting("stable", "journal_mode").await, "wal");
        }
    }
}

both_engines!(
    connections_are_set_up_for_their_engine,
    a_failing_share_stream_stores_nothing,
    versions_are_found_in_every_part,
    shares_and_other_writes_keep_one_chain,
    the_value_index_is_rekeyed_on_upgrade,
    references_are_kept_on_upgrade,
    migrations_are_idempotent,
    organizations_round_trip_with_keys,
    duplicates_name_the_field_and_write_nothing,
    stale_versions_are_refused,
    concurrent_updates_lose_nothing,
    concurrent_writers_keep_the_audit_chain,
    tokens_resolve_to_their_owner_until_revoked,
    memberships_and_representatives,
    provisioning_is_idempotent,
    invalid_plans_write_nothing,
    feedback_references_are_indexed_and_backfilled,
);

#[tokio::test]
async fn unknown_schemes_and_unreachable_servers_are_errors() {
    let err = cairn_store::connect("mysql://x/y", Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable(ref m) if m.contains("unknown database URL scheme `mysql:`")),
        "{err:?}"
    );
    let opts = cairn_store::StoreOptions {
        max_connections: 1,
        acquire_timeout: std::time::Duration::from_secs(2),
    };
    let err = cairn_store::connect("postgres://postgres@127.0.0.1:1/test", opts)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}
