//! Correlation, exact value lookup and full-text search (see `cairn_core::search`): the index
//! written with each version (`object_values`, `object_text`), and the reads over it. Every read
//! that returns shared content includes the entitlement rule of `crate::objects` in its `WHERE`
//! clause, for the viewer of each community, and keeps only the latest version each viewer may
//! see.
//!
//! The text index differs by engine: an FTS5 table on SQLite (rowid = the version's `seq`, ranked
//! by bm25), a table with a generated `tsvector` and a GIN index on PostgreSQL (ranked by
//! `ts_rank`). Both hold the same terms, cut by the core.

use std::collections::{BTreeMap, HashMap, HashSet};

use cairn_core::model::*;
use cairn_core::release::Notification;
use cairn_core::search::ValueKind;
use cairn_core::search::*;
use cairn_core::sharing::{ObjectVersion, Viewer};
use cairn_core::store::{Engine, Store};
use cairn_core::StoreError;
use uuid::Uuid;

use crate::objects::{latest_visible, visible_in, Sql};
use crate::rows;
use crate::sql::{m, SqlStore, Tx};
use crate::value_filter::{parts_condition, prints_of, PartWrite, SealedParts, ValueFilter};

type R<T> = Result<T, StoreError>;

/// Rows per multi-row `INSERT` of values (5 parameters each) and of text (3), and values per
/// lookup (a hash and the value each): statements stay under ~200 parameters (see
/// `put_versions`). On PostgreSQL values go in one statement (see `insert_index`).
const VALUE_ROWS: usize = 40;
const TEXT_ROWS: usize = 64;
const VALUES_PER_LOOKUP: usize = 64;
/// Notifications per multi-row `INSERT` (7 parameters each).
const NOTICE_ROWS: usize = 25;

/// Value rows per part of the value index (migration 11): a part holding this many is sealed
/// and the next rows open a new one. Storing 1,000 values into a part of this size changes a
/// few hundred pages that stay cached; a lookup seeks one more part per this many values.
pub const PART_ROWS: i64 = 32_768;

/// The newest part of the value index, how many rows it was given and the stamp of the last
/// write to it (see `crate::value_filter`).
pub(crate) const NEWEST_PART: &str =
    "SELECT part, written, stamp FROM value_parts ORDER BY part DESC LIMIT 1";
pub(crate) const OPEN_PART: &str =
    "INSERT INTO value_parts (part, written, stamp) VALUES ($1, $2, $3)";
pub(crate) const GROW_PART: &str =
    "UPDATE value_parts SET written = written + $1, stamp = $2 WHERE part = $3";

/// Where a write's value rows go, given the newest part and its count: that part, or a new one
/// (`true`) once it is full. All rows of one write go to one part, so a part may exceed
/// [`PART_ROWS`] by one write's rows. Called under the store's write lock, so parts open one
/// at a time and a part no longer the newest never receives a row again.
fn part_for(newest: Option<(i64, i64)>) -> (i64, bool) {
    match newest {
        None => (0, true),
        Some((part, written)) if written >= PART_ROWS => (part + 1, true),
        Some((part, _)) => (part, false),
    }
}

/// Room for a write's value rows, planned from the newest part as the write found it (its part,
/// count and stamp, `NEWEST_PART`). The writer runs [`OPEN_PART`] with `(part, rows, stamp)`
/// when `open`, else [`GROW_PART`] with `(rows, stamp, part)`, then [`Reservation::record`]s.
pub(crate) struct Reservation {
    pub part: i64,
    pub open: bool,
    pub rows: i64,
    pub stamp: String,
    found: Option<(i64, String)>,
}

impl Reservation {
    pub(crate) fn plan(newest: Option<(i64, i64, String)>, rows: i64) -> Reservation {
        let (part, open) = part_for(newest.as_ref().map(|(p, w, _)| (*p, *w)));
        Reservation {
            part,
            open,
            rows,
            stamp: Uuid::new_v4().simple().to_string(),
            found: newest.filter(|_| !open).map(|(_, w, s)| (w, s)),
        }
    }

    /// Record the write's hashes in this process's filter: the part they go to.
    pub(crate) fn record(self, filter: &ValueFilter, hashes: &[i64]) -> i64 {
        let (from, found) = match &self.found {
            Some((written, stamp)) => (*written, Some(stamp.as_str())),
            None => (0, None),
        };
        filter.record_write(
            PartWrite {
                part: self.part,
                from,
                found,
                stamp: self.stamp,
            },
            hashes.iter().copied(),
        );
        self.part
    }
}

/// Reserve room in the transaction for value rows of these hashes (at least one), and record
/// them in this process's filter: the part they go to.
async fn reserve_part(tx: &mut Tx, filter: &ValueFilter, hashes: &[i64]) -> R<i64> {
    let newest = match sqlx::query(NEWEST_PART)
        .fetch_optional(&mut **tx)
        .await
        .map_err(m)?
    {
        Some(r) => Some((
            rows::int(&r, "part")?,
            rows::int(&r, "written")?,
            rows::text(&r, "stamp")?,
        )),
        None => None,
    };
    let r = Reservation::plan(newest, hashes.len() as i64);
    let q = if r.open {
        sqlx::query(OPEN_PART)
            .bind(r.part)
            .bind(r.rows)
            .bind(r.stamp.clone())
    } else {
        sqlx::query(GROW_PART)
            .bind(r.rows)
            .bind(r.stamp.clone())
            .bind(r.part)
    };
    q.execute(&mut **tx).await.map_err(m)?;
    Ok(r.record(filter, hashes))
}

/// Where the values of a publish that someone else may hold are to be looked up.
#[derive(Debug, Default)]
struct Candidates {
    /// Parts from this one on are not in memory as sealed parts.
    sealed_below: i64,
    /// By hash: the sealed parts that may hold it.
    sealed: HashMap<i64, Vec<i64>>,
    /// Hashes the parts from `sealed_below` on may hold for someone else.
    unsealed: HashSet<i64>,
}

/// The prints of a part from the aggregate of its hashes (column `hs`, see `part_hashes`).
fn part_prints(row: &sqlx::any::AnyRow, part: i64) -> R<Vec<u32>> {
    prints_of(&rows::opt_text(row, "hs")?.unwrap_or_default())
        .map_err(|e| StoreError::Internal(format!("value index part {part}: {e}")))
}

/// The column of `object_text` that holds the version's `seq`.
fn text_key(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "rowid",
        Engine::Postgres => "seq",
    }
}

/// A version to index: its `seq` (which names the community, object and version) and index.
pub(crate) struct IndexRow<'a> {
    pub seq: i64,
    pub index: &'a VersionIndex,
}

/// Write the values and text of stored versions, inside the transaction that stores them.
pub(crate) async fn insert_index(
    tx: &mut Tx,
    engine: Engine,
    filter: &ValueFilter,
    versions: &[IndexRow<'_>],
) -> R<()> {
    let values: Vec<(&IndexRow, &(ValueKind, String), i64)> = versions
        .iter()
        .flat_map(|v| {
            v.index
                .values
                .iter()
                .map(move |x| (v, x, value_hash(x.0.as_str(), &x.1)))
        })
        .collect();
    let part = if values.is_empty() {
        0
    } else {
        let hashes: Vec<i64> = values.iter().map(|(_, _, h)| *h).collect();
        reserve_part(tx, filter, &hashes).await?
    };
    if engine == Engine::Postgres && !values.is_empty() {
        // One statement of two parameters, its rows as JSON: in statements of 40 rows, 1,000
        // values took 25 round trips and about twice the time PostgreSQL spent storing them.
        let rows: Vec<serde_json::Value> = values
            .iter()
            .map(|(v, (kind, value), h)| {
                serde_json::json!({"seq": v.seq, "h": h, "kind": kind.as_str(), "value": value})
            })
            .collect();
        let rows = serde_json::to_string(&rows)
            .map_err(|e| StoreError::Internal(format!("encoding value rows: {e}")))?;
        sqlx::query(
            "INSERT INTO object_values (part, seq, h, kind, value) \
             SELECT $1, x.seq, x.h, x.kind, x.value FROM json_to_recordset(CAST($2 AS json)) AS x(seq BIGINT, h BIGINT, kind TEXT, value TEXT)",
        )
        .bind(part)
        .bind(rows)
        .execute(&mut **tx)
        .await
        .map_err(m)?;
    }
    let sqlite_rows = if engine == Engine::Sqlite {
        values.as_slice()
    } else {
        &[]
    };
    for chunk in sqlite_rows.chunks(VALUE_ROWS) {
        let mut sql = Sql::in_order(engine);
        let mut rows = Vec::with_capacity(chunk.len());
        for (v, (kind, value), h) in chunk {
            let cols = [
                sql.int(part),
                sql.int(v.seq),
                sql.int(*h),
                sql.text(kind.as_str()),
                sql.text(value.clone()),
            ];
            rows.push(format!("({})", cols.join(", ")));
        }
        sql.push(&format!(
            "INSERT INTO object_values (part, seq, h, kind, value) VALUES {}",
            rows.join(", ")
        ));
        sql.query().execute(&mut **tx).await.map_err(m)?;
    }
    let texts: Vec<&IndexRow> = versions
        .iter()
        .filter(|v| !v.index.name_terms.is_empty() || !v.index.body_terms.is_empty())
        .collect();
    for chunk in texts.chunks(TEXT_ROWS) {
        let mut sql = Sql::in_order(engine);
        let mut rows = Vec::with_capacity(chunk.len());
        for v in chunk {
            let cols = [
                sql.int(v.seq),
                sql.text(v.index.name_terms.clone()),
                sql.text(v.index.body_terms.clone()),
            ];
            rows.push(format!("({})", cols.join(", ")));
        }
        sql.push(&format!(
            "INSERT INTO object_text ({}, name, body) VALUES {}",
            text_key(engine),
            rows.join(", ")
        ));
        sql.query().execute(&mut **tx).await.map_err(m)?;
    }
    Ok(())
}

/// The condition that skips the publish's own rows of `values` (by `column`, a `seq`), from the
/// index `(part, kind, h, seq)` before any row is read. Writes take the store's write lock one at a
/// time (the bulk writer on SQLite, `begin_write` on the audit chain's head), so a publish's
/// rows take consecutive `seq`s and no other row falls between its first and its last: the
/// range of the own rows given skips exactly them, in two parameters however many there are
/// (a list of them was up to a thousand parameters, planned and hashed on every probe). Binds
/// in text order.
fn skip_own_rows(sql: &mut Sql, values: &[(&PublishedValue, i64)], column: &str) -> String {
    let own = values.iter().flat_map(|(v, _)| v.own_seqs.iter().copied());
    let (Some(first), Some(last)) = (own.clone().min(), own.max()) else {
        return String::new();
    };
    let first = sql.int(first);
    let last = sql.int(last);
    format!("AND ({column} < {first} OR {column} > {last}) ")
}

/// Remove the index of one version, before the version itself is deleted.
pub(crate) async fn delete_index(
    tx: &mut Tx,
    engine: Engine,
    community: &str,
    object_id: &str,
    source_org: &str,
    version_key: &str,
) -> R<()> {
    let of_version = format!(
        "SELECT seq FROM stix_objects WHERE {} AND source_org = $3 AND version_key = $4",
        crate::objects::versions_of(engine, "stix_objects", "$1", "$2")
    );
    for sql in [
        format!("DELETE FROM object_values WHERE seq IN ({of_version})"),
        format!(
            "DELETE FROM object_text WHERE {} IN ({of_version})",
            text_key(engine)
        ),
    ] {
        sqlx::query(&sql)
            .bind(community.to_string())
            .bind(object_id.to_string())
            .bind(source_org.to_string())
            .bind(version_key.to_string())
            .execute(&mut **tx)
            .await
            .map_err(m)?;
    }
    Ok(())
}

/// Joins are written `CROSS JOIN` with their conditions in `WHERE`: SQLite then keeps the
/// tables in the order written (the index of values or text first, then the version by its
/// `seq`), where without statistics it may otherwise walk a community's versions in date order
/// to avoid a sort; PostgreSQL plans them like any inner join.
///
/// The columns of a [`FoundVersion`] from `o` (stix_objects) and `c` (communities).
const FOUND_COLS: &str =
    "c.slug, o.community_id, o.seq, o.object_id, o.object_type, o.version, o.date_added, o.tlp";

fn found(row: &sqlx::any::AnyRow, raw: bool, rank: bool) -> R<FoundVersion> {
    let t = rows::text(row, "tlp")?;
    Ok(FoundVersion {
        community_id: rows::uuid(row, "community_id")?,
        community: rows::text(row, "slug")?,
        seq: rows::int(row, "seq")?,
        object_id: rows::text(row, "object_id")?,
        object_type: rows::text(row, "object_type")?,
        version: rows::text(row, "version")?,
        date_added: rows::at(row, "date_added")?,
        tlp: TlpLevel::parse(&t)
            .ok_or_else(|| StoreError::Internal(format!("column tlp: `{t}`")))?,
        raw: if raw {
            Some(rows::text(row, "raw")?)
        } else {
            None
        },
        rank: if rank {
            use sqlx::Row;
            row.try_get::<f64, _>("rank")
                .map_err(|e| StoreError::Internal(format!("column rank: {e}")))?
        } else {
            0.0
        },
    })
}

fn kind_of(row: &sqlx::any::AnyRow) -> R<ValueKind> {
    let k = rows::text(row, "kind")?;
    ValueKind::parse(&k).ok_or_else(|| StoreError::Internal(format!("column kind: `{k}`")))
}

impl SqlStore {
    pub(crate) async fn do_lookup_value(
        &self,
        viewers: &[(Uuid, Viewer)],
        q: &ValueQuery,
    ) -> R<Vec<FoundVersion>> {
        let mut sql = Sql::default();
        let hash = value_hash(q.kind.as_str(), &q.value);
        let h = sql.int(hash);
        let k = sql.text(q.kind.as_str());
        let v = sql.text(q.value.clone());
        let vis = visible_in(&mut sql, viewers, "o", self.engine());
        let latest = latest_visible(&mut sql, viewers, "o", self.engine());
        let l = sql.int(q.limit + 1);
        let off = sql.int(q.offset);
        // The parts that may hold the value, if the filter is at hand (not being read).
        let parts = match self.value_filter().sealed.try_lock() {
            Ok(filter) => filter.parts_to_read(&mut sql, self.engine(), "ov.part", hash),
            Err(_) => parts_condition(&mut sql, self.engine(), "ov.part", 0, Vec::new()),
        };
        sql.push(&format!(
            "SELECT {FOUND_COLS}, o.raw FROM object_values ov CROSS JOIN stix_objects o CROSS JOIN communities c \
             WHERE {parts} AND ov.kind = {k} AND ov.h = {h} AND ov.value = {v} AND o.seq = ov.seq AND c.id = o.community_id AND {vis} AND {latest} \
             ORDER BY o.date_added DESC, o.seq DESC LIMIT {l} OFFSET {off}"
        ));
        sql.query()
            .fetch_all(self.stable_pool())
            .await
            .map_err(m)?
            .iter()
            .map(|r| found(r, true, false))
            .collect()
    }

    pub(crate) async fn do_search_text(
        &self,
        viewers: &[(Uuid, Viewer)],
        q: &TextQuery,
    ) -> R<Vec<FoundVersion>> {
        // Two steps in one statement. The window: the newest matching versions that are the
        // latest each viewer may see (the rule is applied here, before the window is cut, so
        // what others may see never changes what a viewer gets), at most SEARCH_WINDOW of them,
        // walked newest first. The page: the window ranked. Ranking every match of a word held
        // by most objects would cost a second; the window bounds it.
        let mut sql = Sql::default();
        let (window, rank) = match self.engine() {
            Engine::Sqlite => {
                // Every term as a quoted string: FTS5 query syntax never applies to user text.
                let text = q
                    .terms
                    .iter()
                    .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
                    .collect::<Vec<_>>()
                    .join(" ");
                let p = sql.text(text);
                let vis = visible_in(&mut sql, viewers, "o", self.engine());
                let latest = latest_visible(&mut sql, viewers, "o", self.engine());
                let w = sql.int(SEARCH_WINDOW);
                (
                    // bm25 (the table's rank) is lower for better matches; it is computed only
                    // for the rows that pass.
                    format!(
                        "SELECT object_text.rowid AS seq, -object_text.rank AS r FROM object_text CROSS JOIN stix_objects o \
                         WHERE object_text MATCH {p} AND o.seq = object_text.rowid AND {vis} AND {latest} ORDER BY object_text.rowid DESC LIMIT {w}"
                    ),
                    "m.r".to_string(),
                )
            }
            Engine::Postgres => {
                let p = sql.text(q.terms.join(" "));
                let vis = visible_in(&mut sql, viewers, "o", self.engine());
                let latest = latest_visible(&mut sql, viewers, "o", self.engine());
                let w = sql.int(SEARCH_WINDOW);
                (
                    format!(
                        "SELECT t.seq, t.tsv FROM object_text t JOIN stix_objects o ON o.seq = t.seq \
                         WHERE t.tsv @@ plainto_tsquery('simple', {p}) AND {vis} AND {latest} ORDER BY t.seq DESC LIMIT {w}"
                    ),
                    format!(
                        "CAST(ts_rank(m.tsv, plainto_tsquery('simple', {p})) AS DOUBLE PRECISION)"
                    ),
                )
            }
        };
        let l = sql.int(q.limit + 1);
        let off = sql.int(q.offset);
        sql.push(&format!(
            "SELECT {FOUND_COLS}, o.raw, {rank} AS rank FROM ({window}) m \
             CROSS JOIN stix_objects o CROSS JOIN communities c WHERE o.seq = m.seq AND c.id = o.community_id \
             ORDER BY rank DESC, o.seq DESC LIMIT {l} OFFSET {off}"
        ));
        sql.query()
            .fetch_all(self.pool())
            .await
            .map_err(m)?
            .iter()
            .map(|r| found(r, true, true))
            .collect()
    }

    pub(crate) async fn do_correlations(
        &self,
        viewers: &[(Uuid, Viewer)],
        version: &ObjectVersion,
        limit: i64,
    ) -> R<Vec<CorrelationRow>> {
        let mut sql = Sql::default();
        let s = sql.int(version.seq);
        let c = sql.text(version.community_id.to_string());
        let id = sql.text(version.object_id.clone());
        let vis = visible_in(&mut sql, viewers, "o", self.engine());
        let latest = latest_visible(&mut sql, viewers, "o", self.engine());
        let l = sql.int(limit);
        let parts = parts_condition(&mut sql, self.engine(), "ov.part", 0, Vec::new());
        sql.push(&format!(
            "SELECT ov.kind, ov.value, {FOUND_COLS} FROM object_values src \
             CROSS JOIN object_values ov CROSS JOIN stix_objects o CROSS JOIN communities c \
             WHERE src.seq = {s} AND {parts} AND ov.kind = src.kind AND ov.h = src.h AND ov.value = src.value AND o.seq = ov.seq AND c.id = o.community_id AND NOT (o.community_id = {c} AND o.object_id = {id}) AND {vis} AND {latest} \
             ORDER BY ov.kind, ov.value, c.slug, o.object_id LIMIT {l}"
        ));
        sql.query()
            .fetch_all(self.stable_pool())
            .await
            .map_err(m)?
            .iter()
            .map(|r| {
                Ok(CorrelationRow {
                    kind: kind_of(r)?,
                    value: rows::text(r, "value")?,
                    found: found(r, false, false)?,
                })
            })
            .collect()
    }

    pub(crate) async fn do_hidden_matches(
        &self,
        poster_org: Uuid,
        viewers: &[(Uuid, Viewer)],
        values: &[PublishedValue],
        limit: i64,
    ) -> R<Vec<HiddenMatch>> {
        // Each value's hash, once (a SHA-256 each).
        let hashed: Vec<(&PublishedValue, i64)> = values
            .iter()
            .map(|v| (v, value_hash(v.kind.as_str(), &v.value)))
            .collect();
        let mut by_kind: BTreeMap<ValueKind, Vec<(&PublishedValue, i64)>> = BTreeMap::new();
        for (v, h) in &hashed {
            by_kind.entry(v.kind).or_default().push((v, *h));
        }
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let held = self.held_by_others(&hashed).await?;
        for (kind, all) in by_kind {
            // The values to look up in each sealed part that may hold them (`Some(part)`), and
            // in the parts not read into memory (`None`): each value is sought only where it
            // may be.
            let mut groups: BTreeMap<Option<i64>, Vec<(&PublishedValue, i64)>> = BTreeMap::new();
            for (v, h) in all {
                for part in held.sealed.get(&h).into_iter().flatten() {
                    groups.entry(Some(*part)).or_default().push((v, h));
                }
                if held.unsealed.contains(&h) {
                    groups.entry(None).or_default().push((v, h));
                }
            }
            for (part, list) in groups {
                for chunk in list.chunks(VALUES_PER_LOOKUP) {
                    if out.len() as i64 >= limit {
                        return Ok(out);
                    }
                    let mut sql = Sql::default();
                    let hashes: Vec<String> = chunk.iter().map(|(_, h)| sql.int(*h)).collect();
                    let k = sql.text(kind.as_str());
                    let in_list: Vec<String> = chunk
                        .iter()
                        .map(|(v, _)| sql.text(v.value.clone()))
                        .collect();
                    let skip = skip_own_rows(&mut sql, chunk, "ov.seq");
                    let p = sql.text(poster_org.to_string());
                    // Hidden: no version of the object holding the value is visible to the poster.
                    let vis = visible_in(&mut sql, viewers, "hv", self.engine());
                    let l = sql.int(limit - out.len() as i64);
                    let parts = match part {
                        Some(part) => format!("ov.part = {}", sql.int(part)),
                        None => parts_condition(
                            &mut sql,
                            self.engine(),
                            "ov.part",
                            held.sealed_below,
                            Vec::new(),
                        ),
                    };
                    let same = crate::objects::versions_like(self.engine(), "hv", "o");
                    sql.push(&format!(
                    "SELECT o.community_id, o.object_id, o.source_org, ov.kind, ov.value FROM object_values ov CROSS JOIN stix_objects o \
                     WHERE {parts} AND ov.kind = {k} AND ov.h IN ({}) {skip}AND ov.value IN ({}) AND o.seq = ov.seq AND o.superseded = 0 AND o.source_org <> {p} \
                     AND NOT EXISTS (SELECT 1 FROM stix_objects hv CROSS JOIN object_values hw WHERE {same} AND hw.seq = hv.seq AND hw.h = ov.h AND hw.kind = ov.kind AND hw.value = ov.value AND {vis}) \
                     LIMIT {l}",
                    hashes.join(", "),
                    in_list.join(", ")
                ));
                    for r in sql.query().fetch_all(self.pool()).await.map_err(m)? {
                        let h = HiddenMatch {
                            community_id: rows::uuid(&r, "community_id")?,
                            object_id: rows::text(&r, "object_id")?,
                            source_org: rows::uuid(&r, "source_org")?,
                            kind: kind_of(&r)?,
                            value: rows::text(&r, "value")?,
                        };
                        if seen.insert(h.clone()) {
                            out.push(h);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Where some row other than the publish's own may hold a value of `values`, from what this
    /// process keeps in memory (see `crate::value_filter`): most values of a publish are new,
    /// and are then settled without reading the index. A value kept may still be held by no one
    /// else (a deleted row, a shared print): the lookup that follows is exact.
    async fn held_by_others(&self, values: &[(&PublishedValue, i64)]) -> R<Candidates> {
        let Some((part, mut stamp)) = self.newest_part().await? else {
            // No part: no value was ever indexed.
            return Ok(Candidates::default());
        };
        let mut held = Candidates {
            sealed_below: part,
            ..Default::default()
        };
        {
            let mut sealed = self.value_filter().sealed.lock().await;
            self.load_sealed_parts(&mut sealed, part).await?;
            for (_, h) in values {
                let parts: Vec<i64> = sealed.parts_holding(*h).collect();
                if !parts.is_empty() {
                    held.sealed.insert(*h, parts);
                }
            }
        }
        let filter = self.value_filter();
        if !filter.newest_complete(part, &stamp) {
            stamp = self.read_newest_part(part).await?;
        }
        for &(v, h) in values {
            // The publish's own rows are all in the newest part unless a sealed part may hold
            // the value (a publish whose rows filled a part and opened the next): then every
            // row of the newest part holding it counts.
            let own = if held.sealed.contains_key(&h) {
                0
            } else {
                v.own_seqs.len()
            };
            // Not complete after all (a write of this process replaced it meanwhile): every
            // value is looked up.
            if filter
                .newest_may_hold_others(part, &stamp, h, own)
                .unwrap_or(true)
            {
                held.unsealed.insert(h);
            }
        }
        Ok(held)
    }

    /// Read the newest part's rows, its count and stamp in one statement (one state of the
    /// store) into the filter; the stamp read.
    async fn read_newest_part(&self, part: i64) -> R<String> {
        let row = sqlx::query(&format!(
            "SELECT stamp, {} AS hs FROM value_parts WHERE part = $1",
            self.part_hashes()
        ))
        .bind(part)
        .fetch_one(self.pool())
        .await
        .map_err(m)?;
        let stamp = rows::text(&row, "stamp")?;
        self.value_filter()
            .install_newest(part, stamp.clone(), part_prints(&row, part)?);
        Ok(stamp)
    }

    /// The hashes of the part `$1` as one text (a subquery): a row per hash took 2 µs each
    /// through the driver, two seconds at a million values.
    fn part_hashes(&self) -> &'static str {
        match self.engine() {
            Engine::Sqlite => "(SELECT group_concat(h, ',') FROM object_values WHERE part = $1)",
            Engine::Postgres => {
                "(SELECT string_agg(CAST(h AS TEXT), ',') FROM object_values WHERE part = $1)"
            }
        }
    }

    /// The newest part of the value index and its stamp, as committed now (none before the
    /// first value was indexed).
    async fn newest_part(&self) -> R<Option<(i64, String)>> {
        sqlx::query(NEWEST_PART)
            .fetch_optional(self.pool())
            .await
            .map_err(m)?
            .map(|r| Ok((rows::int(&r, "part")?, rows::text(&r, "stamp")?)))
            .transpose()
    }

    pub(crate) async fn do_prepare_hidden_matches(&self) -> R<()> {
        self.catch_up_key_prints().await?;
        let started = std::time::Instant::now();
        let Some((part, _)) = self.newest_part().await? else {
            return Ok(());
        };
        let mut sealed = self.value_filter().sealed.lock().await;
        self.load_sealed_parts(&mut sealed, part).await?;
        self.read_newest_part(part).await?;
        tracing::info!(
            parts = part + 1,
            sealed_values = sealed.parts.iter().map(Vec::len).sum::<usize>(),
            ms = started.elapsed().as_millis() as u64,
            "read the value hashes of the value index"
        );
        Ok(())
    }

    /// Read into `sealed` the prints of the parts below `newest` not read yet, a part at a time.
    async fn load_sealed_parts(&self, sealed: &mut SealedParts, newest: i64) -> R<()> {
        for part in sealed.loaded_below()..newest {
            let row = sqlx::query(&format!("SELECT {} AS hs", self.part_hashes()))
                .bind(part)
                .fetch_one(self.pool())
                .await
                .map_err(m)?;
            sealed.push(part_prints(&row, part)?);
        }
        Ok(())
    }

    pub(crate) async fn do_record_notifications(
        &self,
        notify: &[Notification],
        audit: AuditEvent,
    ) -> R<()> {
        let rows = notify
            .iter()
            .map(crate::release::notice_row)
            .collect::<R<Vec<_>>>()?;
        if let Some(bulk) = self.bulk() {
            // After a publish, on the connection that writes shares (see `crate::bulk`).
            return bulk.record_notifications(rows, audit).await;
        }
        let mut tx = self.begin_write().await?;
        // Many at once after a large publish: multi-row inserts.
        for chunk in rows.chunks(NOTICE_ROWS) {
            let mut sql = Sql::default();
            let values: Vec<String> = chunk
                .iter()
                .map(|row| {
                    let cols: Vec<String> = row
                        .iter()
                        .map(|v| match v {
                            Some(v) => sql.text(v.clone()),
                            None => "NULL".into(),
                        })
                        .collect();
                    format!("({}, NULL)", cols.join(", "))
                })
                .collect();
            sql.push(&format!(
                "INSERT INTO notifications (id, user_id, community_id, object_id, kind, body, created_at, read_at) VALUES {}",
                values.join(", ")
            ));
            sql.query().execute(&mut *tx).await.map_err(m)?;
        }
        Self::commit(tx, audit).await
    }

    pub(crate) async fn do_search_backlog(&self, limit: i64) -> R<Vec<BacklogVersion>> {
        // The range first, then the versions in it by their key: in one statement PostgreSQL
        // planned without the range and read the whole table (0.7 s at a million versions, at
        // every start, with nothing left to index).
        let Some(range) = sqlx::query("SELECT done_seq, upto_seq FROM search_backlog WHERE id = 1")
            .fetch_optional(self.pool())
            .await
            .map_err(m)?
        else {
            return Ok(Vec::new());
        };
        let (done, upto) = (
            rows::int(&range, "done_seq")?,
            rows::int(&range, "upto_seq")?,
        );
        if done >= upto {
            return Ok(Vec::new());
        }
        sqlx::query(
            "SELECT seq, raw FROM stix_objects WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
        )
        .bind(done)
        .bind(upto)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(m)?
        .iter()
        .map(|r| {
            Ok(BacklogVersion {
                seq: rows::int(r, "seq")?,
                raw: rows::text(r, "raw")?,
            })
        })
        .collect()
    }

    pub(crate) async fn do_index_backlog(
        &self,
        entries: &[(BacklogVersion, VersionIndex)],
    ) -> R<()> {
        let mut tx = self.begin_write().await?;
        let Some(last) = entries.iter().map(|(b, _)| b.seq).max() else {
            sqlx::query("UPDATE search_backlog SET done_seq = upto_seq WHERE id = 1")
                .execute(&mut *tx)
                .await
                .map_err(m)?;
            return tx.commit().await.map_err(m);
        };
        // Only versions still stored, and not indexed by a run that overlapped this one.
        let done =
            sqlx::query("UPDATE search_backlog SET done_seq = $1 WHERE id = 1 AND done_seq < $1")
                .bind(last)
                .execute(&mut *tx)
                .await
                .map_err(m)?;
        if done.rows_affected() == 0 {
            return Ok(());
        }
        let mut still = HashSet::new();
        for chunk in entries.chunks(VALUES_PER_LOOKUP) {
            let mut sql = Sql::default();
            let list: Vec<String> = chunk.iter().map(|(b, _)| sql.int(b.seq)).collect();
            sql.push(&format!(
                "SELECT seq FROM stix_objects WHERE seq IN ({})",
                list.join(", ")
            ));
            for r in sql.query().fetch_all(&mut *tx).await.map_err(m)? {
                still.insert(rows::int(&r, "seq")?);
            }
        }
        let rows: Vec<IndexRow> = entries
            .iter()
            .filter(|(b, _)| still.contains(&b.seq))
            .map(|(b, index)| IndexRow { seq: b.seq, index })
            .collect();
        insert_index(&mut tx, self.engine(), self.value_filter(), &rows).await?;
        tx.commit().await.map_err(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_fill_the_newest_part_then_open_the_next() {
        let first = Reservation::plan(None, 5);
        assert_eq!((first.part, first.open, first.rows), (0, true, 5));
        let grow = Reservation::plan(Some((3, 10, "s1".into())), 7);
        assert_eq!((grow.part, grow.open), (3, false));
        assert_ne!(grow.stamp, first.stamp);
        let next = Reservation::plan(Some((3, PART_ROWS, "s2".into())), 7);
        assert_eq!((next.part, next.open), (4, true));

        // What each records: a part opened starts afresh; growing continues from the stamp found.
        let filter = ValueFilter::default();
        let opened = Reservation::plan(Some((3, PART_ROWS, "s2".into())), 1);
        let stamp = opened.stamp.clone();
        assert_eq!(opened.record(&filter, &[42]), 4);
        assert!(filter.newest_complete(4, &stamp));
        let grown = Reservation::plan(Some((4, 1, stamp.clone())), 1);
        let later = grown.stamp.clone();
        assert_eq!(grown.record(&filter, &[43]), 4);
        assert!(filter.newest_complete(4, &later));
        assert!(filter.newest_complete(4, &stamp));
    }
}
