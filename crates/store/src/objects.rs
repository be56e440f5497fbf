//! Shared objects: the entitlement rule rendered into SQL, and the object queries that use it.
//!
//! Every query of shared content is built here and every one of them includes
//! [`entitlement`]: there is no query that returns an object without a viewer.

use cairn_core::sharing::{grants, Grant, ObjectQuery, VersionMatch, Viewer};
use cairn_core::store::Engine;
use uuid::Uuid;

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
pub fn visible_in(sql: &mut Sql, viewers: &[(Uuid, Viewer)], alias: &str) -> String {
    let parts: Vec<String> = viewers
        .iter()
        .map(|(community, viewer)| {
            let c = sql.text(community.to_string());
            let ent = entitlement(sql, viewer, alias);
            format!("({alias}.community_id = {c} AND {ent})")
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
pub fn latest_visible(sql: &mut Sql, viewers: &[(Uuid, Viewer)], alias: &str) -> String {
    let later = visible_in(sql, viewers, "lv");
    format!(
        "({alias}.superseded = 0 OR NOT EXISTS (SELECT 1 FROM stix_objects lv WHERE lv.community_id = {alias}.community_id AND lv.object_id = {alias}.object_id AND lv.version_key > {alias}.version_key AND {later}))"
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
pub fn page_query(viewer: &Viewer, community: Uuid, q: &ObjectQuery, engine: Engine) -> Sql {
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
    );
    sql.text = format!(
        "SELECT {agg}(p.rec, {chr}(30)) AS page, COUNT(*) AS n FROM ({}) p",
        sql.text
    );
    sql
}

/// The query behind TAXII objects, manifest, single object and versions, and the REST lists,
/// selecting `columns` of the entitled rows `o`.
pub fn objects_query(viewer: &Viewer, community: Uuid, q: &ObjectQuery, columns: &str) -> Sql {
    let mut sql = Sql::default();
    let c = sql.text(community.to_string());
    let ent = entitlement(&mut sql, viewer, "o");
    sql.push(&format!(
        "SELECT {columns} FROM stix_objects o WHERE o.community_id = {c} AND {ent}"
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
        sql.push(&format!(
            " AND o.object_id IN (SELECT r.object_id FROM stix_refs r WHERE r.community_id = {c} AND r.target_id = {t}) \
             AND EXISTS (SELECT 1 FROM stix_refs rv WHERE rv.community_id = o.community_id AND rv.object_id = o.object_id AND rv.version_key = o.version_key AND rv.target_id = {t})"
        ));
    }
    // The first (last) version the viewer may see is one with no earlier (later) version the
    // viewer may see. Written as NOT EXISTS over the (community, object, version) index, an
    // object with a single version costs one index probe that finds nothing.
    // For the last version, `superseded = 0` (no later version at all) answers without the probe.
    let pick = |sql: &mut Sql, cmp: &str| {
        let ent_v = entitlement(sql, viewer, "v");
        let shortcut = if cmp == ">" {
            "o.superseded = 0 OR "
        } else {
            ""
        };
        let mut s = format!(
            "({shortcut}NOT EXISTS (SELECT 1 FROM stix_objects v WHERE v.community_id = o.community_id AND v.object_id = o.object_id AND v.version_key {cmp} o.version_key AND {ent_v}"
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
    // With ids given, the (community, object, version) index finds the rows; `+o.seq` keeps
    // the planner from walking the community's whole sequence index to avoid a sort, which it
    // otherwise may prefer while the table has no statistics.
    let order = if q.ids.is_empty() { "o.seq" } else { "+o.seq" };
    sql.push(&format!(" ORDER BY {order} LIMIT {limit}"));
    sql
}
