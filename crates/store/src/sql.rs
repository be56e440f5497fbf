//! The store on sqlx's `Any` driver: the same SQL on SQLite and PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use cairn_core::audit::entry_hash;
use cairn_core::model::*;
use cairn_core::release::{
    MarkingChange, MarkingWrite, Notification, ReleaseQuery, ReleaseRequest, ReviewDue,
};
use cairn_core::search::{
    BacklogVersion, CorrelationRow, FoundVersion, HiddenMatch, TextQuery, ValueQuery, VersionIndex,
};
use cairn_core::sharing::{
    Audience, NewObjectVersion, ObjectQuery, ObjectVersion, PutOutcome, Viewer,
};
use cairn_core::store::{AuditQuery, Engine, ShareRecord, Store, TokenOwner};
use cairn_core::{ts, StoreError};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::rows;
use crate::versions::{self, Known};

type R<T> = Result<T, StoreError>;
pub(crate) type Tx = Transaction<'static, Any>;

/// Ids per `IN (…)` lookup, and rows of 16 values per multi-row `INSERT`, when storing objects.
const SQL_BATCH_IDS: usize = 128;
const SQL_BATCH_ROWS: usize = 16;
/// SQLite page cache of each reading connection (up to 4) and of the one writing connection, in
/// KiB. (A writer cache of 64 MiB was measured: peak RSS at 1,000,000 objects rose from 188 MB
/// to 277 MB, with no gain above the noise; see docs/PERFORMANCE.md.)
const READER_CACHE_KIB: u32 = 24 * 1024;
const WRITER_CACHE_KIB: u32 = 24 * 1024;
/// Audience rows per statement (four parameters each).
const SQL_BATCH_AUDIENCE: usize = 64;

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The SQL store.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    /// Write transactions (one connection on SQLite; the pool on PostgreSQL).
    writer: AnyPool,
    /// Reads whose plans do not depend on their parameters (see [`SqlStore::stable_pool`]).
    stable: AnyPool,
    engine: Engine,
    /// On SQLite (a file), where shares are written (see `crate::bulk`).
    bulk: Option<crate::bulk::BulkWriter>,
    /// The value hashes this process keeps in memory (see `crate::value_filter`).
    values: Arc<crate::value_filter::ValueFilter>,
    /// On SQLite, the prints of the object keys by part (see `crate::key_prints`).
    keys: Arc<crate::key_prints::KeyParts>,
    /// Held while the store is in use; the SQLite checkpointer stops when the last is dropped.
    _alive: Arc<()>,
}

/// How often the SQLite checkpointer moves committed pages from the write-ahead log into the
/// database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// Frames in the write-ahead log (4 KiB pages, so 64 MiB) past which the checkpointer waits
/// for readers so that the log can start again from its beginning.
pub(crate) const WAL_RESTART_FRAMES: i64 = 16_384;
/// Frames past which a committing connection checkpoints itself: a safety net, four times the
/// checkpointer's limit, that a running checkpointer keeps the log well below.
pub(crate) const WAL_AUTOCHECKPOINT_FRAMES: i64 = 4 * WAL_RESTART_FRAMES;

/// Move the write-ahead log into the database file off the request path. Without this, the
/// commit that fills the log past SQLite's threshold (1,000 pages by default) copies the log and
/// syncs the file itself: at a million objects, every commit of a 1,000-object envelope did, and
/// spent three quarters of its time there; with a higher threshold, one commit in ten stalled
/// for 70–110 ms instead. A PASSIVE checkpoint never blocks readers or writers; pages written
/// again between two runs are copied once. It cannot restart the log while readers use it,
/// though, and under a steady stream of publishes and reads the log would grow without end:
/// once it holds [`WAL_RESTART_FRAMES`], a RESTART checkpoint (nearly everything copied
/// already) waits for the readers, so that the next commit writes from the log's beginning.
fn spawn_checkpointer(
    pool: AnyPool,
    alive: std::sync::Weak<()>,
    committed: Arc<tokio::sync::Notify>,
) {
    tokio::spawn(async move {
        let mut mode = "PASSIVE";
        loop {
            // Right after a share commits (the log is fully copied before the next one begins,
            // so that one can write from the log's beginning), or every so often.
            let _ = tokio::time::timeout(CHECKPOINT_EVERY, committed.notified()).await;
            if alive.upgrade().is_none() || pool.is_closed() {
                return;
            }
            match sqlx::query(&format!("PRAGMA wal_checkpoint({mode})"))
                .fetch_one(&pool)
                .await
            {
                Ok(row) => {
                    // (busy, frames in the log, frames checkpointed); the log is empty after
                    // a restart until the next commit.
                    let frames = rows::int(&row, "log").unwrap_or(0);
                    mode = if mode == "PASSIVE" && frames >= WAL_RESTART_FRAMES {
                        "RESTART"
                    } else {
                        "PASSIVE"
                    };
                }
                Err(e) => {
                    if pool.is_closed() {
                        return;
                    }
                    mode = "PASSIVE";
                    tracing::warn!(error = %e, "write-ahead log checkpoint failed");
                }
            }
        }
    });
}

fn engine_of(url: &str) -> R<Engine> {
    let scheme = url.split(':').next().unwrap_or("");
    match scheme {
        "sqlite" => Ok(Engine::Sqlite),
        "postgres" | "postgresql" => Ok(Engine::Postgres),
        other => Err(StoreError::Unavailable(format!(
            "unknown database URL scheme `{other}:`; use `sqlite://PATH` or `postgres://…`"
        ))),
    }
}

/// For SQLite: create the folder and the file if missing.
fn prepare_sqlite_url(url: &str) -> R<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or("");
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(StoreError::Unavailable(
            "the SQLite URL names no file; use e.g. `sqlite://./cairn-data/cairn.db`".into(),
        ));
    }
    if path != ":memory:" {
        let file = percent_decoded(path);
        if let Some(parent) = std::path::Path::new(&file).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
        }
    }
    let mode = if query.is_some_and(|q| q.contains("mode=")) {
        ""
    } else {
        "mode=rwc"
    };
    let mut out = format!("sqlite://{path}");
    let params: Vec<&str> = [query.unwrap_or(""), mode]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if !params.is_empty() {
        out.push('?');
        out.push_str(&params.join("&"));
    }
    Ok(out)
}

/// The file of a SQLite URL as [`prepare_sqlite_url`] writes it, percent-decoded as the sqlx
/// driver decodes it (so both open the same file); `None` for a database in memory (which only
/// the connections of one pool share).
fn sqlite_file(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    (path != ":memory:" && !query.contains("mode=memory")).then(|| percent_decoded(path))
}

/// `%XX` escapes replaced by their bytes (anything else kept as it is).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How a pool's statements are planned on PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plans {
    /// Every statement planned anew with its parameters and the tables' current sizes.
    Custom,
    /// PostgreSQL's default: a prepared statement keeps a generic plan once that is no costlier
    /// than planning anew. Only for statements whose best plan does not depend on their
    /// parameters or the tables' sizes (see [`SqlStore::stable_pool`]).
    Stable,
}

/// How long a connection of the stable-plans pool lives: a generic plan made while the tables
/// were small is thrown away with it.
const STABLE_PLANS_LIFETIME: Duration = Duration::from_secs(60);

/// A pool of connections to the store, set up for its engine.
async fn open_pool(
    engine: Engine,
    connect: &AnyConnectOptions,
    max_connections: u32,
    cache_kib: u32,
    plans: Plans,
    options: &StoreOptions,
) -> R<AnyPool> {
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(options.acquire_timeout);
    let pool = match plans {
        Plans::Stable => pool.max_lifetime(STABLE_PLANS_LIFETIME),
        Plans::Custom => pool,
    };
    pool.after_connect(move |conn, _| {
        Box::pin(async move {
            if engine == Engine::Sqlite {
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                // Page cache per connection (the default is 2 MiB): the indexes of a busy
                // community stay in memory, so inserts with random ids and hashes do not
                // read pages back from the file.
                conn.execute(format!("PRAGMA cache_size = -{cache_kib}").as_str())
                    .await?;
                conn.execute("PRAGMA temp_store = MEMORY").await?;
                // The checkpointer keeps the log short (`spawn_checkpointer`); a commit
                // checkpoints only if it falls far behind, and the log file is cut back to
                // 64 MiB when it starts again.
                conn.execute(
                    format!("PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_FRAMES}").as_str(),
                )
                .await?;
                conn.execute("PRAGMA journal_size_limit = 67108864").await?;
            } else {
                // Plan each statement with its parameters and the tables' current sizes: a
                // generic plan cached while a table was small stayed in use and made ingest
                // slower with every envelope, and one generic plan cannot serve both a word
                // in every object and a rare one (docs/PERFORMANCE.md). The stable-plans
                // pool keeps PostgreSQL's default for the few statements it serves.
                let mode = match plans {
                    Plans::Stable => "auto",
                    Plans::Custom => "force_custom_plan",
                };
                conn.execute(format!("SET plan_cache_mode = {mode}").as_str())
                    .await?;
                // No JIT compilation: a search over a million objects is estimated above
                // PostgreSQL's JIT threshold, and compiling its plan took 40–50 ms of a
                // query that runs in 50 ms without it (EXPLAIN ANALYZE, docs/PERFORMANCE.md).
                conn.execute("SET jit = off").await?;
            }
            Ok(())
        })
    })
    .connect_with(connect.clone())
    .await
    .map_err(|e| StoreError::Unavailable(format!("cannot open the {} store: {e}", engine.as_str())))
}

/// Open the store named by `url` (`sqlite://…` or `postgres://…`) and apply migrations.
pub async fn connect(url: &str, options: StoreOptions) -> R<SqlStore> {
    sqlx::any::install_default_drivers();
    let engine = engine_of(url)?;
    let url = match engine {
        Engine::Sqlite => prepare_sqlite_url(url)?,
        Engine::Postgres => url.to_string(),
    };
    let connect = AnyConnectOptions::from_str(&url)
        .map_err(|e| StoreError::Unavailable(format!("invalid database URL: {e}")))?
        .disable_statement_logging();
    let pool = open_pool(
        engine,
        &connect,
        match engine {
            Engine::Sqlite => options.max_connections.clamp(1, 4),
            Engine::Postgres => options.max_connections,
        },
        READER_CACHE_KIB,
        Plans::Custom,
        &options,
    )
    .await?;
    // SQLite writes one transaction at a time: they all go through one connection, whose page
    // cache then holds what the last ones wrote (a cache is cleared when another connection
    // writes). PostgreSQL writers share the pool.
    let writer = match engine {
        Engine::Sqlite => {
            open_pool(
                engine,
                &connect,
                1,
                WRITER_CACHE_KIB,
                Plans::Custom,
                &options,
            )
            .await?
        }
        Engine::Postgres => pool.clone(),
    };
    // SQLite plans a statement when it is prepared, whatever the pool.
    let stable = match engine {
        Engine::Sqlite => pool.clone(),
        Engine::Postgres => {
            open_pool(
                engine,
                &connect,
                // Every authenticated request reads its token here: as many connections as
                // half the reading pool, so that slow lookups never hold up the others.
                (options.max_connections / 2).max(2),
                READER_CACHE_KIB,
                Plans::Stable,
                &options,
            )
            .await?
        }
    };
    let mut conn = writer.acquire().await.map_err(unavailable)?;
    crate::migrations::migrate(&mut conn, engine).await?;
    drop(conn);
    let alive = Arc::new(());
    let committed = Arc::new(tokio::sync::Notify::new());
    let values = Arc::new(crate::value_filter::ValueFilter::default());
    let keys = Arc::new(crate::key_prints::KeyParts::default());
    let bulk = match sqlite_file(&url) {
        Some(path) if engine == Engine::Sqlite => Some(crate::bulk::BulkWriter::open(
            &path,
            WRITER_CACHE_KIB,
            Arc::clone(&committed),
            Arc::clone(&values),
            Arc::clone(&keys),
        )?),
        _ => None,
    };
    if engine == Engine::Sqlite {
        spawn_checkpointer(pool.clone(), Arc::downgrade(&alive), committed);
    }
    Ok(SqlStore {
        pool,
        writer,
        stable,
        engine,
        bulk,
        values,
        keys,
        _alive: alive,
    })
}

/// Append an audit entry (its values in the order of [`AuditEntry`]'s fields).
pub(crate) const AUDIT_INSERT: &str = "INSERT INTO audit_log (seq, at, actor_user, actor_org, actor_label, action, object_type, object_id, object_org, outcome, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
/// Drop TAXII statuses created before a time; store one.
pub(crate) const STATUS_DELETE_OLD: &str = "DELETE FROM taxii_status WHERE created_at < $1";
pub(crate) const STATUS_INSERT: &str = "INSERT INTO taxii_status (id, community_id, user_id, created_at, body) VALUES ($1, $2, $3, $4, $5)";
/// A TAXII status as stored: the time before which older statuses are dropped as new ones
/// arrive (a week: they are kept at least 24 h), and its row in the columns of [`STATUS_INSERT`].
pub(crate) fn status_row(status: &TaxiiStatus) -> crate::bulk::StatusRow {
    let cutoff = ts::format(ts::now() - time::Duration::days(7));
    let row = [
        status.id.to_string(),
        status.community_id.to_string(),
        status.user_id.to_string(),
        ts::format(status.created_at),
        status.body.clone(),
    ];
    (cutoff, row)
}

/// Store a TAXII status in a write transaction, dropping those created before its cutoff.
async fn insert_status(tx: &mut Tx, (cutoff, row): crate::bulk::StatusRow) -> R<()> {
    sqlx::query(STATUS_DELETE_OLD)
        .bind(cutoff)
        .execute(&mut **tx)
        .await
        .map_err(m)?;
    let mut insert = sqlx::query(STATUS_INSERT);
    for value in row {
        insert = insert.bind(value);
    }
    insert.execute(&mut **tx).await.map_err(m)?;
    Ok(())
}

/// Move the audit chain's head to the entry just appended.
pub(crate) const AUDIT_HEAD_UPDATE: &str = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1";

/// The audit entry that follows the chain's head (`seq`, `hash`), with its hash.
pub(crate) fn next_audit_entry(head_seq: i64, head_hash: String, event: AuditEvent) -> AuditEntry {
    let mut entry = AuditEntry {
        seq: head_seq + 1,
        at: ts::now(),
        actor_user: event.actor_user,
        actor_org: event.actor_org,
        actor_label: event.actor_label,
        action: event.action,
        object_type: event.object_type,
        object_id: event.object_id,
        object_org: event.object_org,
        outcome: event.outcome,
        details: event.details.to_string(),
        prev_hash: head_hash,
        hash: String::new(),
    };
    entry.hash = entry_hash(&entry);
    entry
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Map a driver error; `unique` names the values a unique violation may be about.
fn map(e: sqlx::Error, unique: &[(&str, &str)]) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let text = format!("{} {}", db.message(), db.constraint().unwrap_or(""));
            if db.is_unique_violation() {
                let (field, value) = unique
                    .iter()
                    .find(|(f, _)| text.contains(f))
                    .or(unique.first())
                    .copied()
                    .unwrap_or(("value", ""));
                return StoreError::Duplicate {
                    field: field.to_string(),
                    value: value.to_string(),
                };
            }
            if db.is_foreign_key_violation() {
                return StoreError::MissingReference("a referenced record".into());
            }
            StoreError::Internal(e.to_string())
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

pub(crate) fn m(e: sqlx::Error) -> StoreError {
    map(e, &[])
}

fn uid(u: Option<Uuid>) -> Option<String> {
    u.map(|u| u.to_string())
}

fn opt_ts(t: Option<OffsetDateTime>) -> Option<String> {
    t.map(ts::format)
}

impl SqlStore {
    /// Begin a write: take the audit chain's head row first, which serializes writers on both
    /// engines (on SQLite it takes the write lock before any read, so no upgrade can deadlock).
    pub(crate) async fn begin_write(&self) -> R<Tx> {
        let mut tx = self.writer.begin().await.map_err(m)?;
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut *tx)
            .await
            .map_err(m)?;
        Ok(tx)
    }

    /// The SQLite bulk writer, when the store has one.
    pub(crate) fn bulk(&self) -> Option<&crate::bulk::BulkWriter> {
        self.bulk.as_ref()
    }

    /// A write transaction that keeps no audit entry (housekeeping).
    pub(crate) async fn begin_write_plain(&self) -> R<Tx> {
        self.writer.begin().await.map_err(m)
    }

    /// Append an audit entry inside a write transaction begun with [`Self::begin_write`].
    async fn audit(tx: &mut Tx, event: AuditEvent) -> R<AuditEntry> {
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut **tx)
            .await
            .map_err(m)?;
        let entry = next_audit_entry(rows::int(&head, "seq")?, rows::text(&head, "hash")?, event);
        sqlx::query(AUDIT_INSERT)
            .bind(entry.seq)
            .bind(ts::format(entry.at))
            .bind(uid(entry.actor_user))
            .bind(uid(entry.actor_org))
            .bind(entry.actor_label.clone())
            .bind(entry.action.clone())
            .bind(entry.object_type.clone())
            .bind(entry.object_id.clone())
            .bind(uid(entry.object_org))
            .bind(entry.outcome.as_str())
            .bind(entry.details.clone())
            .bind(entry.prev_hash.clone())
            .bind(entry.hash.clone())
            .execute(&mut **tx)
            .await
            .map_err(m)?;
        sqlx::query(AUDIT_HEAD_UPDATE)
            .bind(entry.seq)
            .bind(entry.hash.clone())
            .execute(&mut **tx)
            .await
            .map_err(m)?;
        Ok(entry)
    }

    /// Record the audit entry and commit.
    pub(crate) async fn commit(mut tx: Tx, event: AuditEvent) -> R<()> {
        Self::audit(&mut tx, event).await?;
        tx.commit().await.map_err(m)
    }

    async fn one<T>(
        &self,
        sql: &str,
        key: &str,
        decode: fn(&sqlx::any::AnyRow) -> R<T>,
    ) -> R<Option<T>> {
        sqlx::query(sql)
            .bind(key.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(m)?
            .as_ref()
            .map(decode)
            .transpose()
    }

    async fn all<'q, T>(
        &self,
        query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
        decode: fn(&sqlx::any::AnyRow) -> R<T>,
    ) -> R<Vec<T>> {
        query
            .fetch_all(&self.pool)
            .await
            .map_err(m)?
            .iter()
            .map(decode)
            .collect()
    }

    /// Store versions inside a write transaction; the outcomes and how many were stored.
    pub(crate) async fn put_versions(
        tx: &mut Tx,
        engine: Engine,
        filter: &crate::value_filter::ValueFilter,
        community: Uuid,
        batch: &[NewObjectVersion],
    ) -> R<(Vec<PutOutcome>, usize)> {
        let c = community.to_string();
        let last =
            sqlx::query("SELECT MAX(date_added) AS last FROM stix_objects WHERE community_id = $1")
                .bind(c.clone())
                .fetch_one(&mut **tx)
                .await
                .map_err(m)?;
        let next_added = versions::first_date_added(rows::opt_at(&last, "last")?);
        // What is stored already for these ids, in a few queries rather than one per object.
        let mut known: HashMap<String, Vec<Known>> = HashMap::new();
        let ids: Vec<String> = batch
            .iter()
            .map(|o| o.object_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        // Statements stay small: the SQLite driver looks up each parameter's name in a list as
        // long as the statement's parameters, so binding costs grow with the square of their
        // number (1,300 parameters made binding 30 % of an import; 200 make it negligible).
        // The bulk statements here are built with `Sql::in_order`, which writes `?` on SQLite
        // and so avoids that cost altogether.
        for chunk in ids.chunks(SQL_BATCH_IDS) {
            let mut sql = crate::objects::Sql::in_order(engine);
            // On SQLite the object index is on the key (bound here, in the order of the text).
            let keys = match engine {
                Engine::Sqlite => {
                    let keys: Vec<String> = chunk
                        .iter()
                        .map(|id| sql.text(crate::objects::object_key_value(id)))
                        .collect();
                    format!(
                        "object_key IN ({}) AND {} AND +",
                        keys.join(", "),
                        crate::objects::in_key_parts("stix_objects")
                    )
                }
                Engine::Postgres => String::new(),
            };
            let cp = sql.text(c.clone());
            let list: Vec<String> = chunk.iter().map(|id| sql.text(id.clone())).collect();
            sql.push(&format!(
                "SELECT {} FROM stix_objects WHERE {keys}community_id = {cp} AND object_id IN ({})",
                versions::known_columns(engine),
                list.join(", ")
            ));
            for r in sql.query().fetch_all(&mut **tx).await.map_err(m)? {
                known
                    .entry(rows::text(&r, "object_id")?)
                    .or_default()
                    .push(Known {
                        version: rows::text(&r, "version")?,
                        version_key: rows::text(&r, "version_key")?,
                        source_org: rows::uuid(&r, "source_org")?,
                        revoked: rows::int(&r, "revoked")? != 0,
                        raw: rows::text(&r, "raw")?,
                        added: false,
                        anonymous: rows::int(&r, "anonymous")? != 0,
                        part: match engine {
                            Engine::Sqlite => rows::int(&r, "key_part")?,
                            Engine::Postgres => 0,
                        },
                    });
            }
        }
        let new_part = match engine {
            Engine::Sqlite => rows::int(
                &sqlx::query(crate::objects::NEW_OBJECT_PART)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(m)?,
                "part",
            )?,
            Engine::Postgres => 0,
        };
        let mut plan = versions::plan(batch, &mut known, next_added, new_part);
        if plan.rows.is_empty() {
            return Ok((plan.outcomes, 0));
        }
        // The store sequence number of each new row, for its index.
        let mut seqs: HashMap<(String, String), i64> = HashMap::with_capacity(plan.rows.len());
        for chunk in plan.rows.chunks(SQL_BATCH_ROWS) {
            let mut sql = crate::objects::Sql::in_order(engine);
            let mut values = Vec::with_capacity(chunk.len());
            for row in chunk {
                let obj = row.obj;
                let cols = [
                    sql.text(c.clone()),
                    sql.text(obj.object_id.clone()),
                    sql.text(obj.object_type.clone()),
                    sql.text(obj.spec_version.clone()),
                    sql.text(row.version.clone()),
                    sql.text(row.version_key.clone()),
                    sql.text(ts::format(row.date_added)),
                    sql.text(obj.source_org.to_string()),
                    match obj.source_user {
                        Some(u) => sql.text(u.to_string()),
                        None => "NULL".to_string(),
                    },
                    sql.text(obj.tlp.as_str()),
                    sql.int(i64::from(obj.revoked)),
                    sql.text(obj.raw.clone()),
                    sql.int(i64::from(row.superseded)),
                    match &obj.provenance {
                        Some(p) => sql.text(p.key_id.clone()),
                        None => "NULL".to_string(),
                    },
                    match &obj.provenance {
                        Some(p) => sql.text(p.signature.clone()),
                        None => "NULL".to_string(),
                    },
                    sql.int(i64::from(obj.anonymous)),
                ];
                let part = match engine {
                    Engine::Sqlite => format!(", {}", sql.int(row.part)),
                    Engine::Postgres => String::new(),
                };
                values.push(format!("({}{part})", cols.join(", ")));
            }
            let part_column = match engine {
                Engine::Sqlite => ", key_part",
                Engine::Postgres => "",
            };
            sql.push(&format!(
                "INSERT INTO stix_objects ({}{part_column}) VALUES {} RETURNING seq, object_id, version_key",
                versions::ROW_COLUMNS,
                values.join(", ")
            ));
            for r in sql.query().fetch_all(&mut **tx).await.map_err(m)? {
                seqs.insert(
                    (rows::text(&r, "object_id")?, rows::text(&r, "version_key")?),
                    rows::int(&r, "seq")?,
                );
            }
        }
        let indexed: Vec<(&NewObjectVersion, String)> = plan
            .rows
            .iter()
            .filter(|row| !row.obj.refs.is_empty())
            .map(|row| (row.obj, row.version_key.clone()))
            .collect();
        crate::feedback::insert_refs(tx, engine, community, &indexed).await?;
        let mut written = Vec::with_capacity(plan.rows.len());
        for row in &plan.rows {
            let seq = seqs
                .get(&(row.obj.object_id.clone(), row.version_key.clone()))
                .copied()
                .ok_or_else(|| {
                    StoreError::Internal(format!(
                        "no sequence number returned for {} {}",
                        row.obj.object_id, row.version_key
                    ))
                })?;
            written.push((row.slot, seq, row.obj));
        }
        let index_rows: Vec<crate::search::IndexRow> = written
            .iter()
            .map(|(_, seq, obj)| crate::search::IndexRow {
                seq: *seq,
                index: &obj.index,
            })
            .collect();
        crate::search::insert_index(tx, engine, filter, &index_rows).await?;
        // Versions stored before that a new one now follows.
        let supersede = versions::supersede(engine, "$1", "$2", "$3");
        for (object_id, newest) in &plan.supersede {
            sqlx::query(&supersede)
                .bind(c.clone())
                .bind(object_id.to_string())
                .bind(newest.to_string())
                .execute(&mut **tx)
                .await
                .map_err(m)?;
        }
        for object_id in &plan.audience_replaced {
            sqlx::query(versions::AUDIENCE_DELETE)
                .bind(c.clone())
                .bind(object_id.to_string())
                .execute(&mut **tx)
                .await
                .map_err(m)?;
        }
        for chunk in plan.audience_rows.chunks(SQL_BATCH_AUDIENCE) {
            let mut sql = crate::objects::Sql::in_order(engine);
            let values: Vec<String> = chunk
                .iter()
                .map(|(object_id, kind, principal)| {
                    format!(
                        "({}, {}, {}, {})",
                        sql.text(c.clone()),
                        sql.text(object_id.to_string()),
                        sql.text(kind.to_string()),
                        sql.text(principal.to_string())
                    )
                })
                .collect();
            sql.push(&format!(
                "INSERT INTO object_audience (community_id, object_id, kind, principal) VALUES {} ON CONFLICT DO NOTHING",
                values.join(", ")
            ));
            sql.query().execute(&mut **tx).await.map_err(m)?;
        }
        let stored = written.len();
        for (slot, seq, _) in written {
            plan.set_seq(slot, seq);
        }
        Ok((plan.outcomes, stored))
    }

    /// Insert a signing key into `table` (organizations' or communities' keys), its owner in
    /// `owner_column`.
    async fn insert_key(tx: &mut Tx, table: &str, owner_column: &str, key: &OrgKey) -> R<()> {
        sqlx::query(&format!(
            "INSERT INTO {table} (key_id, {owner_column}, public_key, encrypted_secret, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(key.key_id.clone())
        .bind(key.org_id.to_string())
        .bind(key.public_key.clone())
        .bind(key.encrypted_secret.clone())
        .bind(ts::format(key.created_at))
        .bind(opt_ts(key.retired_at))
        .execute(&mut **tx)
        .await
        .map_err(m)?;
        Ok(())
    }

    /// The value hashes this process keeps in memory (see `crate::value_filter`).
    pub(crate) fn value_filter(&self) -> &crate::value_filter::ValueFilter {
        &self.values
    }

    /// On SQLite, read the prints of the object key's parts sealed since they were last read
    /// (see `crate::key_prints`), through the bulk writer's connection: at start, so that reads
    /// by id seek few parts before the first share (which catches them up in its own
    /// transaction). Without a bulk writer (a database in memory) reads seek every part.
    pub(crate) async fn catch_up_key_prints(&self) -> R<()> {
        let Some(bulk) = &self.bulk else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let prints = bulk.catch_up_keys().await?;
        tracing::info!(
            parts = prints.sealed_below(),
            ms = started.elapsed().as_millis() as u64,
            "read the prints of the object keys"
        );
        Ok(())
    }

    /// The pool, for the store's own tests and tools.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Connections for the reads asked on almost every request whose best plan is the same
    /// whatever their parameters and however large the tables (an index lookup by key): the
    /// caller's token, the communities it may read, a value lookup, an object's correlations.
    /// On PostgreSQL these keep generic plans, which saves planning the entitlement rule on
    /// every request (0.8 of a 2.2 ms value lookup at 1,000,000 objects); every other read
    /// is planned with its parameters. On SQLite this is the reading pool.
    pub fn stable_pool(&self) -> &AnyPool {
        &self.stable
    }
}

const ORG_COLS: &str = "id, name, short_name, sector, org_type, country, security_email, security_phone, out_of_band_contact, verified_by, verified_at, created_at, updated_at, version";
const USER_COLS: &str = "id, org_id, username, display_name, email, role, disabled, password_hash, created_at, updated_at, version";
const TOKEN_COLS: &str =
    "id, user_id, name, prefix, token_hash, created_at, expires_at, revoked_at, last_used_at";
const COMMUNITY_COLS: &str =
    "id, slug, name, description, default_tlp, public_feed, created_at, updated_at, version, review_after_days";
/// `cols` of the table `alias`, each as `alias.col AS alias_col` (see `rows::user_in`).
fn aliased(alias: &str, cols: &str) -> String {
    cols.split(", ")
        .map(|c| format!("{alias}.{c} AS {alias}_{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

const AUDIT_COLS: &str = "seq, at, actor_user, actor_org, actor_label, action, object_type, object_id, object_org, outcome, details, prev_hash, hash";

#[async_trait]
impl Store for SqlStore {
    async fn sanitization_rules(
        &self,
        scope: cairn_core::anonymity::RuleScope,
    ) -> R<Option<cairn_core::sanitize::SanitizationRules>> {
        self.do_sanitization_rules(scope).await
    }

    async fn set_sanitization_rules(
        &self,
        scope: cairn_core::anonymity::RuleScope,
        rules: Option<&cairn_core::sanitize::SanitizationRules>,
        at: OffsetDateTime,
        audit: AuditEvent,
    ) -> R<()> {
        self.do_set_sanitization_rules(scope, rules, at, audit)
            .await
    }

    async fn object_source(&self, community: Uuid, object_id: &str) -> R<Option<(Uuid, bool)>> {
        self.do_object_source(community, object_id).await
    }

    async fn record_reveal(
        &self,
        reveal: &cairn_core::anonymity::SourceReveal,
        audit: AuditEvent,
    ) -> R<()> {
        self.do_record_reveal(reveal, audit).await
    }

    async fn reveals(&self, community: Uuid) -> R<Vec<cairn_core::anonymity::SourceReveal>> {
        self.do_reveals(community).await
    }

    async fn readable_communities(&self, org: Option<Uuid>) -> R<Vec<(Community, bool)>> {
        let sql = format!(
            "SELECT {COMMUNITY_COLS}, CASE WHEN EXISTS (SELECT 1 FROM memberships m WHERE m.community_id = communities.id AND m.org_id = $1) THEN 1 ELSE 0 END AS member \
             FROM communities WHERE public_feed = 1 OR EXISTS (SELECT 1 FROM memberships m WHERE m.community_id = communities.id AND m.org_id = $1) ORDER BY slug"
        );
        sqlx::query(&sql)
            .bind(org.map(|o| o.to_string()).unwrap_or_default())
            .fetch_all(&self.stable)
            .await
            .map_err(m)?
            .iter()
            .map(|r| Ok((rows::community(r)?, rows::int(r, "member")? != 0)))
            .collect()
    }

    async fn lookup_value(
        &self,
        viewers: &[(Uuid, Viewer)],
        query: &ValueQuery,
    ) -> R<Vec<FoundVersion>> {
        self.do_lookup_value(viewers, query).await
    }

    async fn search_text(
        &self,
        viewers: &[(Uuid, Viewer)],
        query: &TextQuery,
    ) -> R<Vec<FoundVersion>> {
        self.do_search_text(viewers, query).await
    }

    async fn correlations(
        &self,
        viewers: &[(Uuid, Viewer)],
        version: &ObjectVersion,
        limit: i64,
    ) -> R<Vec<CorrelationRow>> {
        self.do_correlations(viewers, version, limit).await
    }

    async fn hidden_matches(
        &self,
        poster_org: Uuid,
        viewers: &[(Uuid, Viewer)],
        values: &[cairn_core::search::PublishedValue],
        limit: i64,
    ) -> R<Vec<HiddenMatch>> {
        self.do_hidden_matches(poster_org, viewers, values, limit)
            .await
    }

    async fn record_notifications(&self, notify: &[Notification], audit: AuditEvent) -> R<()> {
        self.do_record_notifications(notify, audit).await
    }

    async fn prepare_hidden_matches(&self) -> R<()> {
        self.do_prepare_hidden_matches().await
    }

    async fn search_backlog(&self, limit: i64) -> R<Vec<BacklogVersion>> {
        self.do_search_backlog(limit).await
    }

    async fn index_backlog(&self, entries: &[(BacklogVersion, VersionIndex)]) -> R<()> {
        self.do_index_backlog(entries).await
    }

    async fn object_audience(&self, community: Uuid, object_id: &str) -> R<Audience> {
        self.do_object_audience(community, object_id).await
    }

    async fn change_marking(
        &self,
        write: &MarkingWrite,
        request: Option<&ReleaseRequest>,
        notify: &[Notification],
        audit: AuditEvent,
    ) -> R<()> {
        self.do_change_marking(write, request, notify, audit).await
    }

    async fn marking_changes(&self, community: Uuid, object_id: &str) -> R<Vec<MarkingChange>> {
        self.do_marking_changes(community, object_id).await
    }

    async fn create_release_request(
        &self,
        request: &ReleaseRequest,
        notify: &[Notification],
        audit: AuditEvent,
    ) -> R<()> {
        self.do_create_release_request(request, notify, audit).await
    }

    async fn release_request(&self, id: Uuid) -> R<Option<ReleaseRequest>> {
        self.do_release_request(id).await
    }

    async fn release_requests(&self, query: &ReleaseQuery) -> R<Vec<ReleaseRequest>> {
        self.do_release_requests(query).await
    }

    async fn decide_release_request(
        &self,
        request: &ReleaseRequest,
        notify: &[Notification],
        audit: AuditEvent,
    ) -> R<()> {
        self.do_decide_release_request(request, notify, audit).await
    }

    async fn notifications(
        &self,
        user: Uuid,
        viewers: &[(Uuid, Viewer)],
        unread_only: bool,
        limit: i64,
    ) -> R<Vec<Notification>> {
        self.do_notifications(user, viewers, unread_only, limit)
            .await
    }

    async fn mark_notifications_read(
        &self,
        user: Uuid,
        ids: &[Uuid],
        at: OffsetDateTime,
    ) -> R<u64> {
        self.do_mark_notifications_read(user, ids, at).await
    }

    async fn reviews_due(
        &self,
        viewer: &Viewer,
        community: Uuid,
        org: Uuid,
        before: OffsetDateTime,
        limit: i64,
    ) -> R<Vec<ReviewDue>> {
        self.do_reviews_due(viewer, community, org, before, limit)
            .await
    }

    async fn record_review_reminders(
        &self,
        community: Uuid,
        object_ids: &[String],
        at: OffsetDateTime,
        notify: &[Notification],
    ) -> R<()> {
        self.do_record_review_reminders(community, object_ids, at, notify)
            .await
    }

    fn engine(&self) -> Engine {
        self.engine
    }

    async fn ping(&self) -> R<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn create_organization(
        &self,
        org: &Organization,
        key: &OrgKey,
        audit: AuditEvent,
    ) -> R<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO organizations ({ORG_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(org.id.to_string())
        .bind(org.name.clone())
        .bind(org.short_name.clone())
        .bind(org.sector.clone())
        .bind(org.org_type.as_str())
        .bind(org.country.clone())
        .bind(org.security_email.clone())
        .bind(org.security_phone.clone())
        .bind(org.out_of_band_contact.clone())
        .bind(uid(org.verified_by))
        .bind(opt_ts(org.verified_at))
        .bind(ts::format(org.created_at))
        .bind(ts::format(org.updated_at))
        .bind(org.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| map(e, &[("short_name", &org.short_name)]))?;
        Self::insert_key(&mut tx, "org_keys", "org_id", key).await?;
        Self::commit(tx, audit).await
    }

    async fn update_organization(&self, org: &Organization, audit: AuditEvent) -> R<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE organizations SET name = $1, sector = $2, org_type = $3, country = $4, security_email = $5, security_phone = $6,
             out_of_band_contact = $7, verified_by = $8, verified_at = $9, updated_at = $10, version = $11
             WHERE id = $12 AND version = $13",
        )
        .bind(org.name.clone())
        .bind(org.sector.clone())
        .bind(org.org_type.as_str())
        .bind(org.country.clone())
        .bind(org.security_email.clone())
        .bind(org.security_phone.clone())
        .bind(org.out_of_band_contact.clone())
        .bind(uid(org.verified_by))
        .bind(opt_ts(org.verified_at))
        .bind(ts::format(org.updated_at))
        .bind(org.version)
        .bind(org.id.to_string())
        .bind(org.version - 1)
        .execute(&mut *tx)
        .await
        .map_err(m)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::VersionConflict);
        }
        Self::commit(tx, audit).await
    }

    async fn organization(&self, id: Uuid) -> R<Option<Organization>> {
        self.one(
            &format!("SELECT {ORG_COLS} FROM organizations WHERE id = $1"),
            &id.to_string(),
            rows::organization,
        )
        .await
    }

    async fn organization_by_short_name(&self, short_name: &str) -> R<Option<Organization>> {
        self.one(
            &format!("SELECT {ORG_COLS} FROM organizations WHERE short_name = $1"),
            short_name,
            rows::organization,
        )
        .await
    }

    async fn organizations(&self) -> R<Vec<Organization>> {
        let sql = format!("SELECT {ORG_COLS} FROM organizations ORDER BY short_name");
        self.all(sqlx::query(&sql), rows::organization).await
    }

    async fn organization_keys(&self, org: Uuid) -> R<Vec<OrgKey>> {
        let q = sqlx::query(
            "SELECT key_id, org_id, public_key, encrypted_secret, created_at, retired_at FROM org_keys WHERE org_id = $1 ORDER BY created_at",
        )
        .bind(org.to_string());
        self.all(q, rows::org_key).await
    }

    async fn add_org_key(
        &self,
        key: &OrgKey,
        retire_at: OffsetDateTime,
        audit: AuditEvent,
    ) -> R<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE org_keys SET retired_at = $1 WHERE org_id = $2 AND retired_at IS NULL")
            .bind(ts::format(retire_at))
            .bind(key.org_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(m)?;
        Self::insert_key(&mut tx, "org_keys", "org_id", key).await?;
        Self::commit(tx, audit).await
    }

    async fn community_keys(&self, community: Uuid) -> R<Vec<OrgKey>> {
        let q = sqlx::query(
            "SELECT key_id, community_id AS org_id, public_key, encrypted_secret, created_at, retired_at FROM community_keys WHERE community_id = $1 ORDER BY created_at",
        )
        .bind(community.to_string());
        self.all(q, rows::org_key).await
    }

    async fn add_community_key(&self, key: &OrgKey, audit: AuditEvent) -> R<()> {
        let mut tx = self.begin_write().await?;
        Self::insert_key(&mut tx, "community_keys", "community_id", key).await?;
        Self::commit(tx, audit).await
    }

    async fn create_user(&self, user: &User, audit: AuditEvent) -> R<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(user.id.to_string())
        .bind(user.org_id.to_string())
        .bind(user.username.clone())
        .bind(user.display_name.clone())
        .bind(user.email.clone())
        .bind(user.role.as_str())
        .bind(i64::from(user.disabled))
        .bind(user.password_hash.clone())
        .bind(ts::format(user.created_at))
        .bind(ts::format(user.updated_at))
        .bind(user.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| map(e, &[("username", &user.username)]))?;
        Self::commit(tx, audit).await
    }

    async fn update_user(&self, user: &User, audit: AuditEvent) -> R<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET display_name = $1, email = $2, role = $3, disabled = $4, password_hash = $5, updated_at = $6, version = $7
             WHERE id = $8 AND version = $9",
        )
        .bind(user.display_name.clone())
        .bind(user.email.clone())
        .bind(user.role.as_str())
        .bind(i64::from(user.disabled))
        .bind(user.password_hash.clone())
        .bind(ts::format(user.updated_at))
        .bind(user.version)
        .bind(user.id.to_string())
        .bind(user.version - 1)
        .execute(&mut *tx)
        .await
        .map_err(m)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::VersionConflict);
        }
        Self::commit(tx, audit).await
    }

    async fn user(&self, id: Uuid) -> R<Option<User>> {
        self.one(
            &format!("SELECT {USER_COLS} FROM users WHERE id = $1"),
            &id.to_string(),
            rows::user,
        )
        .await
    }

    async fn user_by_name(&self, username: &str) -> R<Option<User>> {
        self.one(
            &format!("SELECT {USER_COLS} FROM users WHERE username = $1"),
            username,
            rows::user,
        )
        .await
    }

    async fn users(&self, org: Option<Uuid>) -> R<Vec<User>> {
        match org {
            Some(org) => {
                let sql =
                    format!("SELECT {USER_COLS} FROM users WHERE org_id = $1 ORDER BY username");
                self.all(sqlx::query(&sql).bind(org.to_string()), rows::user)
                    .await
            }
            None => {
                let sql = format!("SELECT {USER_COLS} FROM users ORDER BY username");
                self.all(sqlx::query(&sql), rows::user).await
            }
        }
    }

    async fn create_token(&self, token: &ApiToken, audit: AuditEvent) -> R<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO api_tokens ({TOKEN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(token.id.to_string())
        .bind(token.user_id.to_string())
        .bind(token.name.clone())
        .bind(token.prefix.clone())
        .bind(token.token_hash.clone())
        .bind(ts::format(token.created_at))
        .bind(opt_ts(token.expires_at))
        .bind(opt_ts(token.revoked_at))
        .bind(opt_ts(token.last_used_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| map(e, &[("token_hash", "(a token with this hash)")]))?;
        Self::commit(tx, audit).await
    }

    async fn revoke_token(&self, id: Uuid, at: OffsetDateTime, audit: AuditEvent) -> R<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(ts::format(at))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(m)?;
        Self::commit(tx, audit).await
    }

    async fn token(&self, id: Uuid) -> R<Option<ApiToken>> {
        self.one(
            &format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = $1"),
            &id.to_string(),
            rows::token,
        )
        .await
    }

    async fn tokens_of(&self, user: Uuid) -> R<Vec<ApiToken>> {
        let sql =
            format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at");
        self.all(sqlx::query(&sql).bind(user.to_string()), rows::token)
            .await
    }

    async fn token_owner(&self, token_hash: &str) -> R<Option<TokenOwner>> {
        // Every authenticated request asks this: one statement, not three.
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {}, {}, {} FROM api_tokens t CROSS JOIN users u CROSS JOIN organizations o \
                 WHERE t.token_hash = $1 AND u.id = t.user_id AND o.id = u.org_id",
                aliased("t", TOKEN_COLS),
                aliased("u", USER_COLS),
                aliased("o", ORG_COLS)
            )
        });
        sqlx::query(&SQL)
            .bind(token_hash.to_string())
            .fetch_optional(&self.stable)
            .await
            .map_err(m)?
            .map(|row| {
                Ok(TokenOwner {
                    token: rows::token_in(&row, "t_")?,
                    user: rows::user_in(&row, "u_")?,
                    org: rows::organization_in(&row, "o_")?,
                })
            })
            .transpose()
    }

    async fn touch_token(&self, id: Uuid, at: OffsetDateTime) -> R<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(ts::format(at))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(m)?;
        Ok(())
    }

    async fn create_community(&self, c: &Community, audit: AuditEvent) -> R<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!("INSERT INTO communities ({COMMUNITY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
            .bind(c.id.to_string())
            .bind(c.slug.clone())
            .bind(c.name.clone())
            .bind(c.description.clone())
            .bind(c.default_tlp.as_str())
            .bind(i64::from(c.public_feed))
            .bind(ts::format(c.created_at))
            .bind(ts::format(c.updated_at))
            .bind(c.version)
            .bind(c.review_after_days)
            .execute(&mut *tx)
            .await
            .map_err(|e| map(e, &[("slug", &c.slug)]))?;
        Self::commit(tx, audit).await
    }

    async fn update_community(&self, c: &Community, audit: AuditEvent) -> R<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE communities SET name = $1, description = $2, default_tlp = $3, public_feed = $4, updated_at = $5, version = $6, review_after_days = $9
             WHERE id = $7 AND version = $8",
        )
        .bind(c.name.clone())
        .bind(c.description.clone())
        .bind(c.default_tlp.as_str())
        .bind(i64::from(c.public_feed))
        .bind(ts::format(c.updated_at))
        .bind(c.version)
        .bind(c.id.to_string())
        .bind(c.version - 1)
        .bind(c.review_after_days)
        .execute(&mut *tx)
        .await
        .map_err(m)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::VersionConflict);
        }
        Self::commit(tx, audit).await
    }

    async fn community(&self, id: Uuid) -> R<Option<Community>> {
        self.one(
            &format!("SELECT {COMMUNITY_COLS} FROM communities WHERE id = $1"),
            &id.to_string(),
            rows::community,
        )
        .await
    }

    async fn community_by_slug(&self, slug: &str) -> R<Option<Community>> {
        self.one(
            &format!("SELECT {COMMUNITY_COLS} FROM communities WHERE slug = $1"),
            slug,
            rows::community,
        )
        .await
    }

    async fn communities(&self, member: Option<Uuid>) -> R<Vec<Community>> {
        match member {
            Some(org) => {
                let sql = format!(
                    "SELECT {COMMUNITY_COLS} FROM communities WHERE id IN (SELECT community_id FROM memberships WHERE org_id = $1) ORDER BY slug"
                );
                self.all(sqlx::query(&sql).bind(org.to_string()), rows::community)
                    .await
            }
            None => {
                let sql = format!("SELECT {COMMUNITY_COLS} FROM communities ORDER BY slug");
                self.all(sqlx::query(&sql), rows::community).await
            }
        }
    }

    async fn put_membership(&self, ms: &Membership, audit: AuditEvent) -> R<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO memberships (community_id, org_id, role, joined_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (community_id, org_id) DO UPDATE SET role = excluded.role",
        )
        .bind(ms.community_id.to_string())
        .bind(ms.org_id.to_string())
        .bind(ms.role.as_str())
        .bind(ts::format(ms.joined_at))
        .execute(&mut *tx)
        .await
        .map_err(m)?;
        Self::commit(tx, audit).await
    }

    async fn remove_membership(&self, community: Uuid, org: Uuid, audit: AuditEvent) -> R<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM representatives WHERE community_id = $1 AND org_id = $2")
            .bind(community.to_string())
            .bind(org.to_string())
            .execute(&mut *tx)
            .await
            .map_err(m)?;
        let done = sqlx::query("DELETE FROM memberships WHERE community_id = $1 AND org_id = $2")
            .bind(community.to_string())
            .bind(org.to_string())
            .execute(&mut *tx)
            .await
            .map_err(m)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        Self::commit(tx, audit).await?;
        Ok(true)
    }

    async fn memberships(&self, community: Uuid) -> R<Vec<Membership>> {
        let q = sqlx::query(
            "SELECT community_id, org_id, role, joined_at FROM memberships WHERE community_id = $1 ORDER BY joined_at, org_id",
        )
        .bind(community.to_string());
        self.all(q, rows::membership).await
    }

    async fn put_representative(&self, rep: &Representative, audit: AuditEvent) -> R<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO representatives (community_id, user_id, org_id, designated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (community_id, user_id) DO NOTHING",
        )
        .bind(rep.community_id.to_string())
        .bind(rep.user_id.to_string())
        .bind(rep.org_id.to_string())
        .bind(ts::format(rep.designated_at))
        .execute(&mut *tx)
        .await
        .map_err(m)?;
        if done.rows_affected() == 0 {
            return Ok(());
        }
        Self::commit(tx, audit).await
    }

    async fn remove_representative(
        &self,
        community: Uuid,
        user: Uuid,
        audit: AuditEvent,
    ) -> R<bool> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("DELETE FROM representatives WHERE community_id = $1 AND user_id = $2")
                .bind(community.to_string())
                .bind(user.to_string())
                .execute(&mut *tx)
                .await
                .map_err(m)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        Self::commit(tx, audit).await?;
        Ok(true)
    }

    async fn representatives(&self, community: Uuid) -> R<Vec<Representative>> {
        let q = sqlx::query(
            "SELECT community_id, user_id, org_id, designated_at FROM representatives WHERE community_id = $1 ORDER BY designated_at",
        )
        .bind(community.to_string());
        self.all(q, rows::representative).await
    }

    async fn share_objects(
        &self,
        community: Uuid,
        batch: &[NewObjectVersion],
        audit: AuditEvent,
    ) -> R<Vec<PutOutcome>> {
        if let Some(bulk) = &self.bulk {
            let chunk = futures::stream::once(std::future::ready(Ok(batch.to_vec())));
            let end = move |_: &[NewObjectVersion], _: &[PutOutcome]| ShareRecord {
                audit,
                status: None,
            };
            let (_, outcomes) = bulk
                .share_stream(community, Box::pin(chunk), Box::new(end))
                .await?;
            return Ok(outcomes);
        }
        let mut tx = self.begin_write().await?;
        let (outcomes, stored) =
            Self::put_versions(&mut tx, self.engine, &self.values, community, batch).await?;
        if stored == 0 {
            // Nothing changed: no audit entry for a no-op.
            return Ok(outcomes);
        }
        let mut audit = audit;
        audit.details["stored"] = serde_json::json!(stored);
        Self::commit(tx, audit).await?;
        Ok(outcomes)
    }

    async fn share_stream<'a>(
        &'a self,
        community: Uuid,
        mut chunks: futures::stream::BoxStream<'a, R<Vec<NewObjectVersion>>>,
        end: cairn_core::store::ShareEnd<'a>,
    ) -> R<(Vec<NewObjectVersion>, Vec<PutOutcome>)> {
        use futures::StreamExt as _;
        if let Some(bulk) = &self.bulk {
            return bulk.share_stream(community, chunks, end).await;
        }
        // The transaction (on SQLite, the write lock) starts with the first chunk.
        let mut tx = None;
        let mut batch = Vec::new();
        let mut outcomes = Vec::new();
        let mut stored = 0;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            if chunk.is_empty() {
                continue;
            }
            let t = match &mut tx {
                Some(t) => t,
                None => tx.insert(self.begin_write().await?),
            };
            let (o, n) =
                Self::put_versions(t, self.engine, &self.values, community, &chunk).await?;
            outcomes.extend(o);
            stored += n;
            batch.extend(chunk);
        }
        let record = end(&batch, &outcomes);
        let status = record.status.as_ref().map(status_row);
        match (tx, status) {
            // Nothing changed: no audit entry for a no-op.
            (Some(mut tx), status) if stored > 0 => {
                if let Some(status) = status {
                    insert_status(&mut tx, status).await?;
                }
                let mut audit = record.audit;
                audit.details["stored"] = serde_json::json!(stored);
                Self::commit(tx, audit).await?;
            }
            (Some(mut tx), Some(status)) => {
                insert_status(&mut tx, status).await?;
                tx.commit().await.map_err(m)?;
            }
            (None, Some(status)) => {
                let mut tx = self.begin_write_plain().await?;
                insert_status(&mut tx, status).await?;
                tx.commit().await.map_err(m)?;
            }
            (_, None) => {}
        }
        Ok((batch, outcomes))
    }

    async fn share_all(
        &self,
        community: Uuid,
        batch: &[NewObjectVersion],
        notify: &[Notification],
        audit: AuditEvent,
    ) -> R<Vec<PutOutcome>> {
        self.do_share_all(community, batch, notify, audit).await
    }

    async fn objects(
        &self,
        viewer: &Viewer,
        community: Uuid,
        query: &ObjectQuery,
    ) -> R<Vec<ObjectVersion>> {
        let prints = self.keys.snapshot();
        let sql = crate::objects::page_query(viewer, community, query, self.engine, &prints);
        let row = sql.query().fetch_one(&self.pool).await.map_err(m)?;
        let n = rows::int(&row, "n")?;
        let page = rows::opt_text(&row, "page")?.unwrap_or_default();
        let mut objects = if n == 0 {
            Vec::new()
        } else {
            page.split(crate::objects::RECORD_SEP)
                .map(rows::object_version_record)
                .collect::<R<Vec<_>>>()?
        };
        objects.sort_by_key(|o| o.seq);
        if objects.len() as i64 != n {
            return Err(StoreError::Internal(format!(
                "object page: {} records for {n} rows",
                objects.len()
            )));
        }
        Ok(objects)
    }

    async fn delete_object_versions(
        &self,
        community: Uuid,
        object_id: &str,
        source_org: Uuid,
        version_keys: &[String],
        audit: AuditEvent,
    ) -> R<u64> {
        if version_keys.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut gone = 0;
        let version = format!(
            "{} AND source_org = $3 AND version_key = $4",
            crate::objects::versions_of(self.engine, "stix_objects", "$1", "$2")
        );
        for key in version_keys {
            let stored = sqlx::query(&format!(
                "SELECT object_type, raw FROM stix_objects WHERE {version}"
            ))
            .bind(community.to_string())
            .bind(object_id.to_string())
            .bind(source_org.to_string())
            .bind(key.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(m)?;
            let targets = match stored {
                Some(row) => cairn_core::feedback::refs_in_raw(
                    &rows::text(&row, "object_type")?,
                    &rows::text(&row, "raw")?,
                ),
                None => Vec::new(),
            };
            crate::search::delete_index(
                &mut tx,
                self.engine,
                &community.to_string(),
                object_id,
                &source_org.to_string(),
                key,
            )
            .await?;
            gone += sqlx::query(&format!("DELETE FROM stix_objects WHERE {version}"))
                .bind(community.to_string())
                .bind(object_id.to_string())
                .bind(source_org.to_string())
                .bind(key.clone())
                .execute(&mut *tx)
                .await
                .map_err(m)?
                .rows_affected();
            crate::feedback::delete_refs(&mut tx, community, object_id, key, &targets).await?;
        }
        // The latest version left is no longer superseded.
        let versions = crate::objects::versions_of(self.engine, "stix_objects", "$1", "$2");
        let latest = crate::objects::versions_of(self.engine, "v", "$1", "$2");
        sqlx::query(&format!(
            "UPDATE stix_objects SET superseded = 0 WHERE {versions} AND version_key = (SELECT MAX(v.version_key) FROM stix_objects v WHERE {latest})",
        ))
        .bind(community.to_string())
        .bind(object_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(m)?;
        let left = sqlx::query(&format!(
            "SELECT 1 AS one FROM stix_objects WHERE {versions} LIMIT 1"
        ))
        .bind(community.to_string())
        .bind(object_id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(m)?;
        if left.is_none() {
            sqlx::query(crate::versions::AUDIENCE_DELETE)
                .bind(community.to_string())
                .bind(object_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(m)?;
        }
        let mut audit = audit;
        audit.details["deleted_versions"] = serde_json::json!(gone);
        Self::commit(tx, audit).await?;
        Ok(gone)
    }

    async fn put_status(&self, status: &TaxiiStatus) -> R<()> {
        let (cutoff, row) = status_row(status);
        if let Some(bulk) = &self.bulk {
            // Through the connection that writes shares, whose page cache another
            // connection's commit would empty.
            return bulk.put_status(cutoff, row).await;
        }
        let mut tx = self.begin_write_plain().await?;
        insert_status(&mut tx, (cutoff, row)).await?;
        tx.commit().await.map_err(m)
    }

    async fn status(&self, id: Uuid) -> R<Option<TaxiiStatus>> {
        let row = sqlx::query(
            "SELECT id, community_id, user_id, created_at, body FROM taxii_status WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(m)?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(TaxiiStatus {
            id: rows::uuid(&r, "id")?,
            community_id: rows::uuid(&r, "community_id")?,
            user_id: rows::uuid(&r, "user_id")?,
            created_at: rows::at(&r, "created_at")?,
            body: rows::text(&r, "body")?,
        }))
    }

    async fn pull_position(&self, source: &str) -> R<Option<String>> {
        let row = sqlx::query("SELECT added_last FROM taxii_pulls WHERE source = $1")
            .bind(source.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(m)?;
        row.map(|r| rows::text(&r, "added_last")).transpose()
    }

    async fn set_pull_position(&self, source: &str, added_last: &str) -> R<()> {
        sqlx::query(
            "INSERT INTO taxii_pulls (source, added_last, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (source) DO UPDATE SET added_last = excluded.added_last, updated_at = excluded.updated_at",
        )
        .bind(source.to_string())
        .bind(added_last.to_string())
        .bind(ts::format(ts::now()))
        .execute(&self.pool)
        .await
        .map_err(m)?;
        Ok(())
    }

    async fn append_audit(&self, audit: AuditEvent) -> R<AuditEntry> {
        let mut tx = self.begin_write().await?;
        let entry = Self::audit(&mut tx, audit).await?;
        tx.commit().await.map_err(m)?;
        Ok(entry)
    }

    async fn audit_entries(&self, query: &AuditQuery) -> R<Vec<AuditEntry>> {
        let after = query.after_seq.unwrap_or(0);
        let org = query.org.map(|o| o.to_string());
        let sql = format!(
            "SELECT {AUDIT_COLS} FROM audit_log
             WHERE seq > $1
               AND (CAST($2 AS TEXT) IS NULL OR object_org = $2 OR actor_org = $2)
               AND (CAST($3 AS TEXT) IS NULL OR action = $3)
             ORDER BY seq LIMIT $4"
        );
        let q = sqlx::query(&sql)
            .bind(after)
            .bind(org)
            .bind(query.action.clone())
            .bind(query.limit);
        self.all(q, rows::audit_entry).await
    }

    async fn audit_chain(&self, after_seq: i64, limit: i64) -> R<Vec<AuditEntry>> {
        // Physical order (insertion), not `ORDER BY seq`, would hide reordering on some engines;
        // ordering by seq and checking contiguity catches removed and renumbered entries, and
        // the hash links catch swapped content.
        let sql =
            format!("SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        let q = sqlx::query(&sql).bind(after_seq).bind(limit);
        self.all(q, rows::audit_entry).await
    }

    async fn audit_head(&self) -> R<Option<(i64, String)>> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(m)?;
        match row {
            Some(r) => Ok(Some((rows::int(&r, "seq")?, rows::text(&r, "hash")?))),
            None => Ok(None),
        }
    }
}

impl SqlStore {
    /// Close every connection (on SQLite this also checkpoints the write-ahead log).
    pub async fn close(&self) {
        self.pool.close().await;
        self.stable.close().await;
        self.writer.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_files_are_named_as_the_driver_reads_them() {
        assert_eq!(
            sqlite_file("sqlite://./data/cairn.db?mode=rwc").as_deref(),
            Some("./data/cairn.db")
        );
        assert_eq!(
            sqlite_file("sqlite:///srv/my%20data/c%3Fairn.db?mode=rwc").as_deref(),
            Some("/srv/my data/c?airn.db")
        );
        assert_eq!(
            sqlite_file("sqlite:///srv/100%/x%zz%+1.db").as_deref(),
            Some("/srv/100%/x%zz%+1.db")
        );
        assert_eq!(sqlite_file("sqlite://:memory:"), None);
        assert_eq!(
            sqlite_file("sqlite://shared?mode=memory&cache=shared"),
            None
        );
        assert_eq!(sqlite_file("postgres://x/y"), None);
    }
}
