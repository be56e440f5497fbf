//! Shared objects: the entitlement rule rendered into SQL, and the object queries that use it.
//!
//! Every query of shared content is built here and every one of them includes
//! [`entitlement`]: there is no query that returns an object without a viewer.

use std::collections::BTreeMap;

use cairn_core::sharing::{grants, Grant, ObjectQuery, VersionMatch, Viewer};
use cairn_core::store::Engine;
use uuid::Uuid;

use crate::key_prints::KeyPrints;

/// A bind value.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Int(i64),
}

/// SQL text with numbered parameters and their values.
#[derive(Debug, Default)]
pub struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
    /// Parameters are written `?` instead of `$n` (see [`Sql::in_order`]).
    anonymous: bool,
}

impl Sql {
    /// SQL whose parameters appear in the text once each, in the order they are bound (bulk
    /// writes). On SQLite they are written `?`: the driver looks up the name of every numbered
    /// parameter in a list as long as the statement's parameters, so a statement of n numbered
    /// parameters costs n² to bind, and a bulk insert spent a tenth of the writer's time there.
    pub fn in_order(engine: Engine) -> Sql {
        Sql {
            anonymous: engine == Engine::Sqlite,
            ..Sql::default()
        }
    }

    fn placeholder(&self) -> String {
        if self.anonymous {
            "?".to_string()
        } else {
            format!("${}", self.args.len())
        }
    }

    pub fn text(&mut self, value: impl Into<String>) -> String {
        self.args.push(Arg::Text(value.into()));
        self.placeholder()
    }

    pub fn int(&mut self, value: i64) -> String {
        self.args.push(Arg::Int(value));
        self.placeholder()
    }

    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    fn list(&mut self, values: &[String]) -> String {
        let params: Vec<String> = values.iter().map(|v| self.text(v.clone())).collect();
        params.join(", ")
    }

    /// Bind every argument to a query of this text.
    pub fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::Text(t) => q.bind(t.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

/// On SQLite, the object key of the object id `id` (SQL text of a column or a parameter): the
/// same expression as the stored `object_key` column (migration 13), the UUID's 5th to 8th and
/// its last 8 hex digits. The versions of an object are found through the compact index on that
/// key, whose entries are a fifth of the (community, object, version) ones it replaced, so that
/// a publish changes far fewer of its pages. Those digits vary in every UUID version (random in
/// version 4, hashed in 3 and 5, the fast-moving clock in 1, the random tail in 7); ids that
/// share a key are told apart by the id itself, which every query also compares.
pub(crate) fn object_key(id: &str) -> String {
    format!("(substr({id}, instr({id}, '--') + 6, 4) || substr({id}, -8))")
}

/// On SQLite, the object key's index is in parts by age (migration 14): a new object goes to
/// part `(s >> KEY_PART_BITS) + 1`, `s` being the objects table's sequence (the highest `seq`
/// ever handed out) when it is stored, and every later version of it to the same part. Rows
/// stored before the migration are in part 0.
pub(crate) const KEY_PART_BITS: u32 = 15;

/// The part of the object key's index a new object goes to now (see [`KEY_PART_BITS`]).
pub(crate) const NEW_OBJECT_PART: &str = "SELECT (COALESCE((SELECT seq FROM sqlite_sequence \
     WHERE name = 'stix_objects'), 0) >> 15) + 1 AS part";

/// On SQLite, the condition that the row `alias` is in one of the parts of the object key's
/// index that may hold rows: every part from 0 to the one new objects go to. The index is on
/// (key_part, object_key), so a read by key alone seeks each part (32 at a million rows); a
/// read of the other versions of a row seeks its part only ([`versions_like`]), and a read by
/// ids the parts their prints are in ([`keys_in_parts`]).
pub(crate) fn in_key_parts(alias: &str) -> String {
    in_key_parts_from(alias, 0)
}

/// [`in_key_parts`] from part `first` on.
fn in_key_parts_from(alias: &str, first: i64) -> String {
    format!(
        "{alias}.key_part IN (WITH RECURSIVE kp(p) AS (SELECT {first} UNION ALL SELECT p + 1 FROM kp \
         WHERE p <= (SELECT seq FROM sqlite_sequence WHERE name = 'stix_objects') >> {KEY_PART_BITS}) \
         SELECT p FROM kp)"
    )
}

/// At most this many sealed parts are sought one by one for a read by ids; past it, every part.
const PART_TERMS: usize = 200;

/// On SQLite, the condition that the row `alias` is a version of one of `ids` by its key
/// (bound in `sql`, which numbers its parameters: a key sought in two places is bound once).
/// Each key is sought in the parts not sealed in `prints`, and in the sealed parts its print
/// is listed in, a term per part (`crate::key_prints`): for ids whose objects are spread over
/// the parts, about one seek each instead of one per part. A key without a print is sought in
/// every part.
pub(crate) fn keys_in_parts(
    sql: &mut Sql,
    alias: &str,
    ids: &[String],
    prints: &KeyPrints,
) -> String {
    debug_assert!(!sql.anonymous, "keys are bound once and named twice");
    let mut everywhere = Vec::new();
    let mut unsealed = Vec::new();
    let mut sealed: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for id in ids {
        let key = object_key_value(id);
        let parts = prints.parts_of(&key);
        let bound = sql.text(key);
        match parts {
            None => everywhere.push(bound),
            Some(parts) => {
                for &part in parts {
                    sealed.entry(part).or_default().push(bound.clone());
                }
                unsealed.push(bound);
            }
        }
    }
    if sealed.len() > PART_TERMS {
        everywhere.append(&mut unsealed);
        sealed.clear();
    }
    let mut terms = Vec::new();
    if !everywhere.is_empty() {
        terms.push(format!(
            "({alias}.object_key IN ({}) AND {})",
            everywhere.join(", "),
            in_key_parts(alias)
        ));
    }
    if !unsealed.is_empty() {
        terms.push(format!(
            "({alias}.object_key IN ({}) AND {})",
            unsealed.join(", "),
            in_key_parts_from(alias, prints.sealed_below())
        ));
    }
    for (part, keys) in sealed {
        terms.push(format!(
            "({alias}.key_part = {part} AND {alias}.object_key IN ({}))",
            keys.join(", ")
        ));
    }
    format!("({})", terms.join(" OR "))
}

/// On SQLite, `columns` of the versions of an object (community `?1`, id `?2`, key `?3`) in
/// the parts `?4`, `?5` and `?6` of the object key's index alone (`crate::key_prints`; parts
/// given twice would give their rows twice: -1 for none). One seek each, without the temporary
/// table SQLite builds for `key_part IN (?4, ?5, ?6)` on every run.
pub(crate) fn versions_in_parts(columns: &str) -> String {
    ["?4", "?5", "?6"]
        .map(|part| {
            format!(
                "SELECT {columns} FROM stix_objects WHERE key_part = {part} AND object_key = ?3 \
                 AND +community_id = ?1 AND object_id = ?2"
            )
        })
        .join(" UNION ALL ")
}

/// The rows `alias` of `stix_objects` that are versions of the object `id` in `community`
/// (SQL text of parameters or columns): on SQLite through the object key, in every part of its
/// index. There, the community is compared as `+community_id`, which no index can serve: the
/// planner, which has no statistics, would otherwise take the community's sequence index (one
/// equality, as good as the key's to it) and read every row of the community.
pub(crate) fn versions_of(engine: Engine, alias: &str, community: &str, id: &str) -> String {
    match engine {
        // The key comes last, so parameters appear first in the order they are numbered.
        Engine::Sqlite => format!(
            "+{alias}.community_id = {community} AND {alias}.object_id = {id} AND {alias}.object_key = {} AND {}",
            object_key(id),
            in_key_parts(alias)
        ),
        Engine::Postgres => {
            format!("{alias}.community_id = {community} AND {alias}.object_id = {id}")
        }
    }
}

/// [`object_key`] computed here, for a query that binds it: SQLite's `instr` and `substr`
/// count characters from 1, and `substr` from the end for a negative start.
pub(crate) fn object_key_value(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    // instr(id, '--'): the 1-based position of the first "--", 0 if none.
    let at = chars
        .windows(2)
        .position(|w| w == ['-', '-'])
        .map_or(0, |i| i + 1);
    // substr(id, at + 6, 4): from the 1-based position at + 6 (at least 1 here).
    let from = at + 5;
    let middle: String = chars.iter().skip(from).take(4).collect();
    // substr(id, -8): the last 8 characters (all of a shorter id).
    let tail: String = chars[chars.len().saturating_sub(8)..].iter().collect();
    middle + &tail
}

/// The rows `alias` of `stix_objects` that are versions of the same object as the row `other`:
/// on SQLite in the part of the object key's index that holds all of them, one seek.
pub(crate) fn versions_like(engine: Engine, alias: &str, other: &str) -> String {
    let same = format!(
        "{alias}.community_id = {other}.community_id AND {alias}.object_id = {other}.object_id"
    );
    match engine {
        // `+`: see `versions_of`.
        Engine::Sqlite => format!(
            "{alias}.key_part = {other}.key_part AND {alias}.object_key = {other}.object_key AND +{same}"
        ),
        Engine::Postgres => same,
    }
}

fn audience_exists(sql: &mut Sql, alias: &str, kind: &str, principal: Option<Uuid>) -> String {
    let mut s = format!(
        "EXISTS (SELECT 1 FROM object_audience x WHERE x.community_id = {alias}.community_id AND x.object_id = {alias}.object_id AND x.kind = '{kind}'"
    );
    if let Some(p) = principal {
        let p = sql.text(p.to_string());
        s.push_str(&format!(" AND x.principal = {p}"));
    }
    s.push(')');
    s
}

/// The entitlement rule for `viewer` as a condition on the row `alias` of `stix_objects`:
/// the same [`grants`] that `cairn_core::sharing::entitled` evaluates.
pub fn entitlement(sql: &mut Sql, viewer: &Viewer, alias: &str) -> String {
    let parts: Vec<String> = grants(viewer)
        .into_iter()
        .map(|g| match g {
            Grant::SourceOrg(org) => {
                let p = sql.text(org.to_string());
                format!("{alias}.source_org = {p}")
            }
            Grant::Level(level) => {
                let p = sql.text(level.as_str());
                format!("{alias}.tlp = {p}")
            }
            Grant::LevelForOrg(level, org) => {
                let p = sql.text(level.as_str());
                let none = audience_exists(sql, alias, "org", None);
                let named = audience_exists(sql, alias, "org", Some(org));
                format!("({alias}.tlp = {p} AND (NOT {none} OR {named}))")
            }
            Grant::LevelForUser(level, user) => {
                let p = sql.text(level.as_str());
                let named = audience_exists(sql, alias, "user", Some(user));
                format!("({alias}.tlp = {p} AND {named})")
            }
        })
        .collect();
    if parts.is_empty() {
        "1 = 0".into()
    } else {
        format!("({})", parts.join(" OR "))
    }
}

/// The rule over several communities: the row `alias` is visible by the viewer given for its
/// community (`(alias.community_id = $c AND <rule>) OR …`); false for a community not listed.
///
/// On SQLite the community is compared as `+community_id`: the rows are found otherwise (by
/// `seq`, or through the object key's index), and the planner, which has no statistics, could
/// otherwise rate the community's index as good and read the whole community.
pub fn visible_in(
    sql: &mut Sql,
    viewers: &[(Uuid, Viewer)],
    alias: &str,
    engine: Engine,
) -> String {
    let plus = match engine {
        Engine::Sqlite => "+",
        Engine::Postgres => "",
    };
    let parts: Vec<String> = viewers
        .iter()
        .map(|(community, viewer)| {
            let c = sql.text(community.to_string());
            let ent = entitlement(sql, viewer, alias);
            format!("({plus}{alias}.community_id = {c} AND {ent})")
        })
        .collect();
    if parts.is_empty() {
        "1 = 0".into()
    } else {
        format!("({})", parts.join(" OR "))
    }
}

/// The row `alias` (itself visible) is the latest version of its object that the viewer of its
/// community may see: no later version of it is visible. `superseded = 0` (no later version at
/// all) answers without looking.
pub fn latest_visible(
    sql: &mut Sql,
    viewers: &[(Uuid, Viewer)],
    alias: &str,
    engine: Engine,
) -> String {
    let later = visible_in(sql, viewers, "lv", engine);
    let same = versions_like(engine, "lv", alias);
    format!(
        "({alias}.superseded = 0 OR NOT EXISTS (SELECT 1 FROM stix_objects lv WHERE {same} AND lv.version_key > {alias}.version_key AND {later}))"
    )
}

/// Field and record separators of a page read as one value ([`page_query`]): ASCII unit and
/// record separators, which valid JSON text never contains unescaped, nor do ids, timestamps,
/// type names or levels.
pub const FIELD_SEP: char = '\u{1f}';
pub const RECORD_SEP: char = '\u{1e}';

/// The fields of a record of [`page_query`], in order; the posted object is last.
pub const PAGE_FIELDS: usize = 16;

/// The query behind TAXII objects, manifest, single object and versions, and the REST lists,
/// answered as **one row**: `page`, the entitled versions as records joined by [`RECORD_SEP`],
/// each the columns of `stix_objects` (below) joined by [`FIELD_SEP`], in store order; and `n`, how
/// many. The aggregate takes the rows in the order of the subquery (`ORDER BY … LIMIT`); the
/// reader sorts by `seq` again, which costs nothing on sorted input and does not depend on it. A page of 1,000 rows handed over one by one costs more in the driver than the query
/// itself costs in the database; as one value it costs one hand-over.
pub(crate) fn page_query(
    viewer: &Viewer,
    community: Uuid,
    q: &ObjectQuery,
    engine: Engine,
    prints: &KeyPrints,
) -> Sql {
    let (chr, agg) = match engine {
        Engine::Sqlite => ("char", "group_concat"),
        Engine::Postgres => ("chr", "string_agg"),
    };
    let fs = format!("{chr}(31)");
    let record = [
        "CAST(o.seq AS TEXT)",
        "o.community_id",
        "o.object_id",
        "o.object_type",
        "o.spec_version",
        "o.version",
        "o.version_key",
        "o.date_added",
        "o.source_org",
        "COALESCE(o.source_user, '')",
        "o.tlp",
        "CAST(o.revoked AS TEXT)",
        "COALESCE(o.key_id, '')",
        "COALESCE(o.signature, '')",
        "CAST(o.anonymous AS TEXT)",
        "o.raw",
    ]
    .join(&format!(" || {fs} || "));
    let mut sql = objects_query(
        viewer,
        community,
        q,
        &format!("{record} AS rec, o.seq AS seq"),
        engine,
        prints,
    );
    sql.text = format!(
        "SELECT {agg}(p.rec, {chr}(30)) AS page, COUNT(*) AS n FROM ({}) p",
        sql.text
    );
    sql
}

/// The query behind TAXII objects, manifest, single object and versions, and the REST lists,
/// selecting `columns` of the entitled rows `o` (on SQLite, ids are sought by `prints`).
pub(crate) fn objects_query(
    viewer: &Viewer,
    community: Uuid,
    q: &ObjectQuery,
    columns: &str,
    engine: Engine,
    prints: &KeyPrints,
) -> Sql {
    let mut sql = Sql::default();
    let c = sql.text(community.to_string());
    let ent = entitlement(&mut sql, viewer, "o");
    // With ids (or the object referred to) given, SQLite finds the rows through the object
    // key; `+` keeps the planner off the community's indexes (see `versions_of`).
    let by_object = engine == Engine::Sqlite && (!q.ids.is_empty() || q.refers_to.is_some());
    let plus = if by_object { "+" } else { "" };
    sql.push(&format!(
        "SELECT {columns} FROM stix_objects o WHERE {plus}o.community_id = {c} AND {ent}"
    ));
    if let Some(after) = q.added_after {
        let p = sql.text(cairn_core::ts::format(after));
        sql.push(&format!(" AND o.date_added > {p}"));
    }
    if let Some(after) = q.after_seq {
        let p = sql.int(after);
        sql.push(&format!(" AND o.seq > {p}"));
    }
    if !q.ids.is_empty() {
        if engine == Engine::Sqlite {
            let keys = keys_in_parts(&mut sql, "o", &q.ids, prints);
            sql.push(&format!(" AND {keys}"));
        }
        let l = sql.list(&q.ids);
        sql.push(&format!(" AND o.object_id IN ({l})"));
    }
    if !q.types.is_empty() {
        let l = sql.list(&q.types);
        sql.push(&format!(" AND o.object_type IN ({l})"));
    }
    if !q.spec_versions.is_empty() {
        let l = sql.list(&q.spec_versions);
        sql.push(&format!(" AND o.spec_version IN ({l})"));
    }
    if let Some(target) = &q.refers_to {
        // Objects about `target` (found through its index), in the version being read.
        let t = sql.text(target.clone());
        let (column, of_ref) = match engine {
            Engine::Sqlite => (
                format!("{} AND o.object_key", in_key_parts("o")),
                object_key("r.object_id"),
            ),
            Engine::Postgres => ("o.object_id".to_string(), "r.object_id".to_string()),
        };
        sql.push(&format!(
            " AND {column} IN (SELECT {of_ref} FROM stix_refs r WHERE r.community_id = {c} AND r.target_id = {t}) \
             AND EXISTS (SELECT 1 FROM stix_refs rv WHERE rv.community_id = o.community_id AND rv.target_id = {t} AND rv.object_id = o.object_id AND rv.version_key = o.version_key)"
        ));
    }
    // The first (last) version the viewer may see is one with no earlier (later) version the
    // viewer may see. Written as NOT EXISTS over the object index, an
    // object with a single version costs one index probe that finds nothing.
    // For the last version, `superseded = 0` (no later version at all) answers without the probe.
    let pick = |sql: &mut Sql, cmp: &str| {
        let ent_v = entitlement(sql, viewer, "v");
        let shortcut = if cmp == ">" {
            "o.superseded = 0 OR "
        } else {
            ""
        };
        let same = versions_like(engine, "v", "o");
        let mut s = format!(
            "({shortcut}NOT EXISTS (SELECT 1 FROM stix_objects v WHERE {same} AND v.version_key {cmp} o.version_key AND {ent_v}"
        );
        if !q.spec_versions.is_empty() {
            let l = sql.list(&q.spec_versions);
            s.push_str(&format!(" AND v.spec_version IN ({l})"));
        }
        s.push_str("))");
        s
    };
    let (first, last, keys): (bool, bool, &[String]) = match &q.versions {
        VersionMatch::All => (false, false, &[]),
        VersionMatch::Last => (false, true, &[]),
        VersionMatch::First => (true, false, &[]),
        VersionMatch::Keys(keys) => (false, false, keys.as_slice()),
        VersionMatch::AnyOf { first, last, keys } => (*first, *last, keys.as_slice()),
    };
    if q.versions != VersionMatch::All {
        let mut any = Vec::new();
        if first {
            any.push(pick(&mut sql, "<"));
        }
        if last {
            any.push(pick(&mut sql, ">"));
        }
        if !keys.is_empty() {
            let l = sql.list(keys);
            any.push(format!("o.version_key IN ({l})"));
        }
        if any.is_empty() {
            sql.push(" AND 1 = 0");
        } else {
            sql.push(&format!(" AND ({})", any.join(" OR ")));
        }
    }
    let limit = sql.int(q.limit.clamp(0, 100_000) + 1);
    // With ids (or the object referred to) given, the object index finds the rows; `+o.seq`
    // keeps the planner from walking the community's whole sequence index to avoid a sort,
    // which it otherwise may prefer while the table has no statistics.
    let order = if q.ids.is_empty() && q.refers_to.is_none() {
        "o.seq"
    } else {
        "+o.seq"
    };
    sql.push(&format!(" ORDER BY {order} LIMIT {limit}"));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::sharing::{ObjectQuery, VersionMatch};
    use rusqlite::Connection;

    /// A SQLite database with every step of the schema applied.
    fn schema() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for m in crate::migrations::MIGRATIONS {
            conn.execute_batch(m.sqlite).unwrap();
        }
        conn
    }

    /// Column `column` of what `explain` (`EXPLAIN` or `EXPLAIN QUERY PLAN`) says of `sql`.
    fn explained(conn: &Connection, explain: &str, sql: &str, column: usize) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("{explain} {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        stmt.query_map(rusqlite::params_from_iter(nulls), |r| {
            r.get::<_, String>(column)
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
    }

    fn plan(conn: &Connection, sql: &str) -> String {
        explained(conn, "EXPLAIN QUERY PLAN", sql, 3).join("\n")
    }

    #[test]
    fn the_key_computed_here_is_the_key_sqlite_computes() {
        let conn = Connection::open_in_memory().unwrap();
        let ids = [
            "indicator--0b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8",
            "x-custom-thing--00000000-0000-7000-8000-0123456789ab",
            "malware--ABCDEF01-2345-4678-9ABC-DEF012345678",
            "no-separator",
            "--",
            "a--b",
            "",
            "tool--ünïcödé-ß-ü-2345-6789-abcd-ef0123456789",
        ];
        for id in ids {
            let sql: String = conn
                .query_row(&format!("SELECT {}", object_key("?1")), [id], |r| r.get(0))
                .unwrap();
            assert_eq!(object_key_value(id), sql, "{id:?}");
        }
    }

    /// Every way of reading an object's versions on SQLite goes through the object key's
    /// index, never through a walk of the community (the planner has no statistics).
    #[test]
    fn object_reads_use_the_key_index() {
        let conn = schema();
        let viewer = Viewer {
            user: Some(Uuid::nil()),
            org: Some(Uuid::nil()),
            member: true,
            public_feed: false,
        };
        let by_id = ObjectQuery {
            ids: vec!["indicator--0b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8".into()],
            versions: VersionMatch::Last,
            limit: 10,
            ..Default::default()
        };
        let first = ObjectQuery {
            ids: by_id.ids.clone(),
            versions: VersionMatch::First,
            limit: 10,
            ..Default::default()
        };
        let about = ObjectQuery {
            refers_to: Some(by_id.ids[0].clone()),
            versions: VersionMatch::Last,
            limit: 10,
            ..Default::default()
        };
        // Ids in sealed parts (one, and two in the same part), one not sealed, and one without
        // a print: no print kept yet, and their prints kept.
        let many = ObjectQuery {
            ids: vec![
                by_id.ids[0].clone(),
                "malware--0b1c2d3e-4f50-4a61-8b72-000000000001".into(),
                "malware--0b1c2d3e-4f50-4a61-8b72-000000000002".into(),
                "malware--0b1c2d3e-4f50-4a61-8b72-000000000003".into(),
                "x--no-print".into(),
            ],
            versions: VersionMatch::Last,
            limit: 10,
            ..Default::default()
        };
        let print =
            |n: usize| crate::key_prints::print_of(&object_key_value(&many.ids[n])).unwrap();
        let kept = KeyPrints::default().with(vec![(print(0), 0), (print(0) ^ 1, 9)], 12);
        let kept = kept.with(vec![(print(1), 3), (print(2), 3), (print(0), 5)], 14);
        // The sealed parts the prints are in are sought one by one, the others from the first
        // not sealed; a key without a print in every part.
        let sql = page_query(&viewer, Uuid::nil(), &many, Engine::Sqlite, &kept);
        for term in [
            "o.key_part = 0 AND",
            "o.key_part = 3 AND",
            "o.key_part = 5 AND",
            "SELECT 14 UNION ALL",
            "SELECT 0 UNION ALL",
        ] {
            assert_eq!(sql.text.matches(term).count(), 1, "{term}: {}", sql.text);
        }
        assert!(!sql.text.contains("o.key_part = 9 AND"), "{}", sql.text);
        let sql = page_query(&viewer, Uuid::nil(), &by_id, Engine::Sqlite, &kept);
        assert!(!sql.text.contains("SELECT 0 UNION ALL"), "{}", sql.text);
        for prints in [KeyPrints::default(), kept] {
            for q in [&by_id, &first, &about, &many] {
                let sql = page_query(&viewer, Uuid::nil(), q, Engine::Sqlite, &prints);
                let p = plan(&conn, &sql.text);
                assert!(
                    p.contains(
                        "SEARCH o USING INDEX stix_objects_key_part (key_part=? AND object_key=?)"
                    ),
                    "{q:?}:\n{p}"
                );
                assert!(!p.contains("SCAN o"), "{q:?}:\n{p}");
            }
        }
        // The later (earlier) versions of each row of a page.
        let sql = page_query(
            &viewer,
            Uuid::nil(),
            &ObjectQuery {
                versions: VersionMatch::First,
                limit: 10,
                ..Default::default()
            },
            Engine::Sqlite,
            &KeyPrints::default(),
        );
        let p = plan(&conn, &sql.text);
        assert!(
            p.contains("SEARCH v USING INDEX stix_objects_key_part (key_part=? AND object_key=?)"),
            "{p}"
        );
        // The latest visible version of each row, and another row's versions visible to the
        // viewers (the hidden-match lookup's form).
        let viewers = [(Uuid::nil(), viewer.clone())];
        let mut sql = Sql::default();
        let latest = latest_visible(&mut sql, &viewers, "o", Engine::Sqlite);
        let vis = visible_in(&mut sql, &viewers, "hv", Engine::Sqlite);
        for (alias, query) in [
            (
                "lv",
                format!("SELECT o.seq FROM stix_objects o WHERE o.seq > 5 AND {latest}"),
            ),
            (
                "hv",
                format!(
                    "SELECT o.seq FROM stix_objects o WHERE o.seq = 7 AND NOT EXISTS (SELECT 1 FROM stix_objects hv WHERE {} AND {vis})",
                    versions_like(Engine::Sqlite, "hv", "o")
                ),
            ),
        ] {
            let p = plan(&conn, &query);
            assert!(
                p.contains(&format!(
                    "SEARCH {alias} USING INDEX stix_objects_key_part (key_part=? AND object_key=?)"
                )),
                "{p}"
            );
        }
        // Writes and single lookups by (community, object).
        for sql in [
            format!("SELECT seq FROM stix_objects WHERE {}", versions_of(Engine::Sqlite, "stix_objects", "?1", "?2")),
            crate::versions::supersede(Engine::Sqlite, "?1", "?2", "?3"),
            versions_in_parts("seq"),
            format!("SELECT n.id FROM notifications n WHERE EXISTS (SELECT 1 FROM stix_objects o WHERE {})", versions_of(Engine::Sqlite, "o", "n.community_id", "n.object_id")),
        ] {
            let p = plan(&conn, &sql);
            assert!(p.contains("USING INDEX stix_objects_key_part (key_part=? AND object_key=?)"), "{sql}:\n{p}");
        }
        // The bulk writer's lookup of a new object, run for every object, builds no temporary
        // table (as `key_part IN (?4, ?5, ?6)` did).
        let opcodes = explained(&conn, "EXPLAIN", &versions_in_parts("seq"), 1);
        assert!(opcodes.iter().any(|o| o == "SeekGE"), "{opcodes:?}");
        assert!(!opcodes.iter().any(|o| o == "OpenEphemeral"), "{opcodes:?}");
    }
}
