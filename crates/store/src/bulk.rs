//! The SQLite bulk writer: publishing (the versions of a share, their index, references and
//! audience, and the share's audit entry) written through SQLite's own API on a connection of
//! its own, with prepared statements kept between shares.
//!
//! Through sqlx, every statement is a message to the connection's worker thread and every
//! returned row one back: at 1,000 objects per envelope that was a few hundred round trips
//! between threads, and a profile of `cairn import` found the writer thread spending more time
//! waking, allocating and copying arguments than in SQLite. Here one blocking thread holds the
//! transaction and writes each chunk of a share in one go while the request checks the next
//! chunk. The decisions (what is new, a duplicate or refused, which versions are superseded)
//! are those of `crate::versions`, shared with the sqlx path used on PostgreSQL.
//!
//! SQLite takes one writer at a time: a share here and a write through the sqlx writer
//! connection wait for each other (`busy_timeout`), and both take the write lock before they read.

use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex};

use cairn_core::model::AuditEvent;
use cairn_core::sharing::{NewObjectVersion, PutOutcome};
use cairn_core::store::Engine;
use cairn_core::{ts, StoreError};
use futures::stream::BoxStream;
use futures::StreamExt as _;
use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::key_prints::{KeyParts, KeyPrints};
use crate::release::NOTICE_INSERT;
use crate::search;
use crate::sql::{
    next_audit_entry, AUDIT_HEAD_UPDATE, AUDIT_INSERT, STATUS_DELETE_OLD, STATUS_INSERT,
    WAL_AUTOCHECKPOINT_FRAMES,
};
use crate::value_filter::ValueFilter;
use crate::versions::{self, Known};

type R<T> = Result<T, StoreError>;

/// A share's chunks and what it ends with, from the request to the writing thread.
enum ToWriter {
    Chunk(Vec<NewObjectVersion>),
    /// Every chunk is sent: hand back the batch and its outcomes, then wait for the audit.
    Finish(tokio::sync::oneshot::Sender<R<Written>>),
    /// Commit with this audit entry (`None`: nothing was stored) and this status row (see
    /// [`STATUS_INSERT`]); with neither, roll back.
    Commit(
        Option<Box<AuditEvent>>,
        Option<StatusRow>,
        tokio::sync::oneshot::Sender<R<()>>,
    ),
}

/// A TAXII status to store: the cutoff before which older ones are dropped, and its row in the
/// columns of [`STATUS_INSERT`].
pub(crate) type StatusRow = (String, [String; 5]);

/// What a share wrote: the versions as sent, their outcomes and how many were stored.
pub(crate) struct Written {
    pub batch: Vec<NewObjectVersion>,
    pub outcomes: Vec<PutOutcome>,
    pub stored: usize,
}

/// The connection the bulk writer writes through.
#[derive(Debug, Clone)]
pub(crate) struct BulkWriter {
    conn: Arc<Mutex<Connection>>,
    /// The prints of the object keys, which each share catches up (see `crate::key_prints`).
    keys: Arc<KeyParts>,
    /// Told after each commit (the checkpointer waits on it).
    committed: Arc<tokio::sync::Notify>,
    /// The store's value hashes in memory, which writes to the value index record into.
    values: Arc<ValueFilter>,
}

pub(crate) fn err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

fn at(text: Option<String>) -> R<Option<OffsetDateTime>> {
    text.map(|t| {
        ts::parse(&t)
            .ok_or_else(|| StoreError::Internal(format!("stored date `{t}` is not a timestamp")))
    })
    .transpose()
}

fn uuid_of(text: &str) -> R<Uuid> {
    Uuid::parse_str(text).map_err(|e| StoreError::Internal(format!("stored id `{text}`: {e}")))
}

impl BulkWriter {
    /// Open the writer's connection to the SQLite file at `path` (migrated already), set up
    /// like the store's own connections.
    pub(crate) fn open(
        path: &str,
        cache_kib: u32,
        committed: Arc<tokio::sync::Notify>,
        values: Arc<ValueFilter>,
        keys: Arc<KeyParts>,
    ) -> R<BulkWriter> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Unavailable(format!("cannot open {path} for writing: {e}")))?;
        conn.execute_batch(&format!(
            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;
             PRAGMA cache_size = -{cache_kib}; PRAGMA temp_store = MEMORY;
             PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_FRAMES}; PRAGMA journal_size_limit = 67108864;"
        ))
        .map_err(err)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(BulkWriter {
            conn: Arc::new(Mutex::new(conn)),
            keys,
            committed,
            values,
        })
    }

    /// Write a share's chunks as they come, in one transaction, and commit it with the audit
    /// entry `audit` makes of the whole batch (no entry and no commit if nothing was stored).
    pub(crate) async fn share_stream<'a>(
        &self,
        community: Uuid,
        mut chunks: BoxStream<'a, R<Vec<NewObjectVersion>>>,
        end: cairn_core::store::ShareEnd<'a>,
    ) -> R<(Vec<NewObjectVersion>, Vec<PutOutcome>)> {
        let mut writer: Option<(mpsc::Sender<ToWriter>, tokio::task::JoinHandle<R<()>>)> = None;
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    // Dropping the sender ends the thread, which rolls back.
                    if let Some((sender, thread)) = writer {
                        drop(sender);
                        let _ = thread.await;
                    }
                    return Err(e);
                }
            };
            if chunk.is_empty() {
                continue;
            }
            let (sender, _) = writer.get_or_insert_with(|| self.start(community));
            if sender.send(ToWriter::Chunk(chunk)).is_err() {
                // The thread stopped on an error: it says which below.
                break;
            }
        }
        let Some((sender, thread)) = writer else {
            // No version came: only the status, if there is one.
            if let Some(status) = end(&[], &[]).status {
                let (cutoff, row) = crate::sql::status_row(&status);
                self.put_status(cutoff, row).await?;
            }
            return Ok((Vec::new(), Vec::new()));
        };
        let (done, written) = tokio::sync::oneshot::channel();
        let written = match sender.send(ToWriter::Finish(done)) {
            Ok(()) => written.await.ok(),
            Err(_) => None,
        };
        let Some(written) = written else {
            drop(sender);
            return Err(thread_error(thread.await));
        };
        let written = match written {
            Ok(written) => written,
            Err(e) => {
                drop(sender);
                let _ = thread.await;
                return Err(e);
            }
        };
        let record = end(&written.batch, &written.outcomes);
        let event = (written.stored > 0).then(|| {
            let mut event = record.audit;
            event.details["stored"] = serde_json::json!(written.stored);
            Box::new(event)
        });
        let status = record.status.as_ref().map(crate::sql::status_row);
        let (done, committed) = tokio::sync::oneshot::channel();
        let committed = match sender.send(ToWriter::Commit(event, status, done)) {
            Ok(()) => committed.await.ok(),
            Err(_) => None,
        };
        drop(sender);
        match committed {
            Some(result) => {
                let _ = thread.await;
                result?;
                Ok((written.batch, written.outcomes))
            }
            None => Err(thread_error(thread.await)),
        }
    }

    /// Store a TAXII status resource (`row` in the columns of [`STATUS_INSERT`]) and drop those
    /// created before `cutoff`, in one transaction.
    pub(crate) async fn put_status(&self, cutoff: String, row: [String; 5]) -> R<()> {
        self.write(move |tx| insert_status(tx, (cutoff, row))).await
    }

    /// Store notifications (rows of [`NOTICE_INSERT`]) with their audit entry, in one
    /// transaction: the correlation worker's notices after a publish.
    pub(crate) async fn record_notifications(
        &self,
        rows: Vec<[Option<String>; 7]>,
        audit: AuditEvent,
    ) -> R<()> {
        self.write(move |tx| {
            {
                let mut insert = tx.prepare_cached(NOTICE_INSERT).map_err(err)?;
                for row in rows {
                    insert.execute(row).map_err(err)?;
                }
            }
            append_audit(tx, audit)
        })
        .await
    }

    /// Read the prints of the object key's parts sealed since they were last read, in a read
    /// transaction of the writer's connection (committed rows only), and return them.
    pub(crate) async fn catch_up_keys(&self) -> R<Arc<KeyPrints>> {
        let conn = Arc::clone(&self.conn);
        let keys = Arc::clone(&self.keys);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            // Deferred: one snapshot of what is committed, no lock taken; nothing is written.
            let tx = conn.transaction().map_err(err)?;
            keys.catch_up(&tx)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("the SQLite writer failed: {e}")))?
    }

    /// Run `work` in a write transaction of its own on the writer's connection, and commit.
    async fn write(
        &self,
        work: impl FnOnce(&rusqlite::Transaction) -> R<()> + Send + 'static,
    ) -> R<()> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err)?;
            work(&tx)?;
            tx.commit().map_err(err)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("the SQLite writer failed: {e}")))?
    }

    /// Start the thread that holds the transaction of one share.
    fn start(&self, community: Uuid) -> (mpsc::Sender<ToWriter>, tokio::task::JoinHandle<R<()>>) {
        let (sender, receiver) = mpsc::channel();
        let conn = Arc::clone(&self.conn);
        let committed = Arc::clone(&self.committed);
        let values = Arc::clone(&self.values);
        let keys = Arc::clone(&self.keys);
        let thread = tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            write_share(&mut conn, &keys, community, receiver, &committed, &values)
        });
        (sender, thread)
    }
}

/// The error a writing thread ended with, when it stopped before it was told to.
fn thread_error(ended: Result<R<()>, tokio::task::JoinError>) -> StoreError {
    match ended {
        Ok(Err(e)) => e,
        Ok(Ok(())) => StoreError::Internal("the SQLite writer stopped before the commit".into()),
        Err(e) => StoreError::Internal(format!("the SQLite writer failed: {e}")),
    }
}

/// The writing thread of one share: a transaction over every chunk received, committed when
/// told to. Returning early (an error, or the request gone) rolls it back.
fn write_share(
    conn: &mut Connection,
    key_parts: &KeyParts,
    community: Uuid,
    receiver: mpsc::Receiver<ToWriter>,
    committed: &tokio::sync::Notify,
    values: &ValueFilter,
) -> R<()> {
    // IMMEDIATE takes the write lock before any read, as `begin_write` does by touching the
    // audit chain's head first.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    // The parts sealed by committed rows, before this share writes any.
    let keys = key_parts.catch_up(&tx)?;
    let keys = &*keys;
    let mut batch = Vec::new();
    let mut outcomes = Vec::new();
    let mut stored = 0;
    loop {
        match receiver.recv() {
            Ok(ToWriter::Chunk(chunk)) => {
                let (o, n) = put_versions(&tx, values, keys, community, &chunk)?;
                outcomes.extend(o);
                stored += n;
                batch.extend(chunk);
            }
            Ok(ToWriter::Finish(reply)) => {
                let _ = reply.send(Ok(Written {
                    batch: std::mem::take(&mut batch),
                    outcomes: std::mem::take(&mut outcomes),
                    stored,
                }));
            }
            Ok(ToWriter::Commit(None, None, reply)) => {
                let _ = reply.send(tx.rollback().map_err(err));
                return Ok(());
            }
            Ok(ToWriter::Commit(event, status, reply)) => {
                let result = status
                    .map_or(Ok(()), |status| insert_status(&tx, status))
                    .and_then(|()| event.map_or(Ok(()), |event| append_audit(&tx, *event)))
                    .and_then(|()| tx.commit().map_err(err));
                if result.is_ok() {
                    committed.notify_one();
                }
                let _ = reply.send(result);
                return Ok(());
            }
            Err(_) => return Ok(()),
        }
    }
}

/// Store a TAXII status and drop those created before its cutoff.
fn insert_status(tx: &rusqlite::Transaction, (cutoff, row): StatusRow) -> R<()> {
    tx.prepare_cached(STATUS_DELETE_OLD)
        .and_then(|mut s| s.execute([cutoff]))
        .map_err(err)?;
    tx.prepare_cached(STATUS_INSERT)
        .and_then(|mut s| s.execute(row))
        .map_err(err)?;
    Ok(())
}

fn append_audit(tx: &rusqlite::Transaction, event: AuditEvent) -> R<()> {
    let (seq, hash): (i64, String) = tx
        .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(err)?;
    let e = next_audit_entry(seq, hash, event);
    tx.prepare_cached(AUDIT_INSERT)
        .and_then(|mut s| {
            s.execute(params![
                e.seq,
                ts::format(e.at),
                e.actor_user.map(|u| u.to_string()),
                e.actor_org.map(|u| u.to_string()),
                e.actor_label,
                e.action,
                e.object_type,
                e.object_id,
                e.object_org.map(|u| u.to_string()),
                e.outcome.as_str(),
                e.details,
                e.prev_hash,
                e.hash,
            ])
        })
        .map_err(err)?;
    tx.execute(AUDIT_HEAD_UPDATE, params![e.seq, e.hash])
        .map_err(err)?;
    Ok(())
}

/// Reserve room in the transaction for value rows of these hashes (at least one), and record
/// them in the process's filter (as `crate::search::reserve_part` does): the part they go to.
fn reserve_part(tx: &rusqlite::Transaction, filter: &ValueFilter, hashes: &[i64]) -> R<i64> {
    use rusqlite::OptionalExtension;
    let newest: Option<(i64, i64, String)> = tx
        .prepare_cached(search::NEWEST_PART)
        .and_then(|mut s| {
            s.query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(err)?;
    let r = search::Reservation::plan(newest, hashes.len() as i64);
    if r.open {
        tx.prepare_cached(search::OPEN_PART)
            .and_then(|mut s| s.execute(params![r.part, r.rows, r.stamp]))
    } else {
        tx.prepare_cached(search::GROW_PART)
            .and_then(|mut s| s.execute(params![r.rows, r.stamp, r.part]))
    }
    .map_err(err)?;
    Ok(r.record(filter, hashes))
}

/// Store one chunk of versions in the transaction: the outcomes and how many were stored.
fn put_versions(
    tx: &rusqlite::Transaction,
    filter: &ValueFilter,
    keys: &KeyPrints,
    community: Uuid,
    batch: &[NewObjectVersion],
) -> R<(Vec<PutOutcome>, usize)> {
    let c = community.to_string();
    let last: Option<String> = tx
        .prepare_cached("SELECT MAX(date_added) FROM stix_objects WHERE community_id = ?1")
        .and_then(|mut s| s.query_row([&c], |r| r.get(0)))
        .map_err(err)?;
    let next_added = versions::first_date_added(at(last)?);
    let new_part = crate::key_prints::new_object_part(tx)?;
    let mut known: HashMap<String, Vec<Known>> = HashMap::new();
    {
        let columns = versions::known_columns(Engine::Sqlite);
        let mut everywhere = tx
            .prepare_cached(&format!(
                "SELECT {columns} FROM stix_objects WHERE {}",
                crate::objects::versions_of(Engine::Sqlite, "stix_objects", "?1", "?2")
            ))
            .map_err(err)?;
        // The parts not sealed when the share began: the one new objects went to then, and the
        // next, which this share's rows may have opened since (a share of more than 32,768 rows
        // looks everywhere).
        let unsealed_from = keys.sealed_below();
        let mut unsealed = (new_part <= unsealed_from + 1)
            .then(|| tx.prepare_cached(&crate::objects::versions_in_parts(&columns)))
            .transpose()
            .map_err(err)?;
        let next_part = if new_part > unsealed_from {
            new_part
        } else {
            -1
        };
        for obj in batch {
            if known.contains_key(&obj.object_id) {
                continue;
            }
            let mut found = Vec::new();
            let key = crate::objects::object_key_value(&obj.object_id);
            // Its versions are in the part its print was sealed in, if any, or in a part not
            // sealed when the share began.
            let mut rows = match (unsealed.as_mut(), keys.parts_of(&key)) {
                (Some(lookup), Some(sealed)) if sealed.len() <= 1 => lookup.query(params![
                    c,
                    obj.object_id,
                    key,
                    unsealed_from,
                    next_part,
                    sealed.first().map_or(-1, |&p| i64::from(p))
                ]),
                _ => everywhere.query(params![c, obj.object_id]),
            }
            .map_err(err)?;
            while let Some(r) = rows.next().map_err(err)? {
                let source: String = r.get(3).map_err(err)?;
                found.push(Known {
                    version: r.get(1).map_err(err)?,
                    version_key: r.get(2).map_err(err)?,
                    source_org: uuid_of(&source)?,
                    revoked: r.get::<_, i64>(4).map_err(err)? != 0,
                    raw: r.get(5).map_err(err)?,
                    added: false,
                    anonymous: r.get::<_, i64>(6).map_err(err)? != 0,
                    part: r.get(7).map_err(err)?,
                });
            }
            known.insert(obj.object_id.clone(), found);
        }
    }
    let mut plan = versions::plan(batch, &mut known, next_added, new_part);
    if plan.rows.is_empty() {
        return Ok((plan.outcomes, 0));
    }
    let mut written = Vec::with_capacity(plan.rows.len());
    {
        let mut insert = tx
            .prepare_cached(&format!(
                "INSERT INTO stix_objects ({}, key_part) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                versions::ROW_COLUMNS
            ))
            .map_err(err)?;
        let mut value = tx
            .prepare_cached(
                "INSERT INTO object_values (part, seq, h, kind, value) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(err)?;
        let hashes: Vec<i64> = plan
            .rows
            .iter()
            .flat_map(|r| r.obj.index.values.iter())
            .map(|(kind, v)| cairn_core::search::value_hash(kind.as_str(), v))
            .collect();
        let part = if hashes.is_empty() {
            0
        } else {
            reserve_part(tx, filter, &hashes)?
        };
        let mut hash = hashes.into_iter();
        let mut text = tx
            .prepare_cached("INSERT INTO object_text (rowid, name, body) VALUES (?1, ?2, ?3)")
            .map_err(err)?;
        let mut reference = tx
            .prepare_cached("INSERT INTO stix_refs (community_id, object_id, version_key, target_id) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING")
            .map_err(err)?;
        for row in &plan.rows {
            let obj = row.obj;
            let seq = insert
                .insert(params![
                    c,
                    obj.object_id,
                    obj.object_type,
                    obj.spec_version,
                    row.version,
                    row.version_key,
                    ts::format(row.date_added),
                    obj.source_org.to_string(),
                    obj.source_user.map(|u| u.to_string()),
                    obj.tlp.as_str(),
                    i64::from(obj.revoked),
                    obj.raw,
                    i64::from(row.superseded),
                    obj.provenance.as_ref().map(|p| p.key_id.as_str()),
                    obj.provenance.as_ref().map(|p| p.signature.as_str()),
                    i64::from(obj.anonymous),
                    row.part,
                ])
                .map_err(err)?;
            for target in &obj.refs {
                reference
                    .execute(params![c, obj.object_id, row.version_key, target])
                    .map_err(err)?;
            }
            for (kind, v) in &obj.index.values {
                let h = hash
                    .next()
                    .ok_or_else(|| StoreError::Internal("fewer value hashes than values".into()))?;
                value
                    .execute(params![part, seq, h, kind.as_str(), v])
                    .map_err(err)?;
            }
            if !obj.index.name_terms.is_empty() || !obj.index.body_terms.is_empty() {
                text.execute(params![seq, obj.index.name_terms, obj.index.body_terms])
                    .map_err(err)?;
            }
            written.push((row.slot, seq));
        }
    }
    let supersede = versions::supersede(Engine::Sqlite, "?1", "?2", "?3");
    for (object_id, newest) in &plan.supersede {
        tx.prepare_cached(&supersede)
            .and_then(|mut s| s.execute(params![c, object_id, newest]))
            .map_err(err)?;
    }
    for object_id in &plan.audience_replaced {
        tx.prepare_cached(versions::AUDIENCE_DELETE)
            .and_then(|mut s| s.execute(params![c, object_id]))
            .map_err(err)?;
    }
    if !plan.audience_rows.is_empty() {
        let mut audience = tx
            .prepare_cached("INSERT INTO object_audience (community_id, object_id, kind, principal) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING")
            .map_err(err)?;
        for (object_id, kind, principal) in &plan.audience_rows {
            audience
                .execute(params![c, object_id, kind, principal.to_string()])
                .map_err(err)?;
        }
    }
    let stored = written.len();
    for (slot, seq) in written {
        plan.set_seq(slot, seq);
    }
    Ok((plan.outcomes, stored))
}
