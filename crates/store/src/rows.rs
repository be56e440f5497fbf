//! Row decoding: text ids, fixed-width timestamps and enum names back into domain records.

use std::borrow::Cow;

use cairn_core::model::*;
use cairn_core::{ts, StoreError};
use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

type R<T> = Result<T, StoreError>;

fn bad(col: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("column {col}: {what}"))
}

pub fn text(row: &AnyRow, col: &str) -> R<String> {
    row.try_get::<String, _>(col).map_err(|e| bad(col, e))
}

pub fn opt_text(row: &AnyRow, col: &str) -> R<Option<String>> {
    row.try_get::<Option<String>, _>(col)
        .map_err(|e| bad(col, e))
}

pub fn int(row: &AnyRow, col: &str) -> R<i64> {
    row.try_get::<i64, _>(col).map_err(|e| bad(col, e))
}

pub fn blob(row: &AnyRow, col: &str) -> R<Vec<u8>> {
    row.try_get::<Vec<u8>, _>(col).map_err(|e| bad(col, e))
}

pub fn uuid(row: &AnyRow, col: &str) -> R<Uuid> {
    Uuid::parse_str(&text(row, col)?).map_err(|e| bad(col, e))
}

pub fn opt_uuid(row: &AnyRow, col: &str) -> R<Option<Uuid>> {
    opt_text(row, col)?
        .map(|t| Uuid::parse_str(&t).map_err(|e| bad(col, e)))
        .transpose()
}

pub fn at(row: &AnyRow, col: &str) -> R<OffsetDateTime> {
    let t = text(row, col)?;
    ts::parse(&t).ok_or_else(|| bad(col, "not a timestamp"))
}

pub fn opt_at(row: &AnyRow, col: &str) -> R<Option<OffsetDateTime>> {
    opt_text(row, col)?
        .map(|t| ts::parse(&t).ok_or_else(|| bad(col, "not a timestamp")))
        .transpose()
}

fn parsed<T>(row: &AnyRow, col: &str, parse: fn(&str) -> Option<T>) -> R<T> {
    let t = text(row, col)?;
    parse(&t).ok_or_else(|| bad(col, format!("unknown value `{t}`")))
}

/// A column's name read with `prefix` before it (borrowed when there is none).
fn prefixed(prefix: &str, name: &'static str) -> Cow<'static, str> {
    if prefix.is_empty() {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!("{prefix}{name}"))
    }
}

pub fn organization(row: &AnyRow) -> R<Organization> {
    organization_in(row, "")
}

/// The columns read with `prefix` before each name (from a join that aliases them).
pub fn organization_in(row: &AnyRow, prefix: &str) -> R<Organization> {
    let c = |name: &'static str| prefixed(prefix, name);
    Ok(Organization {
        id: uuid(row, &c("id"))?,
        name: text(row, &c("name"))?,
        short_name: text(row, &c("short_name"))?,
        sector: text(row, &c("sector"))?,
        org_type: parsed(row, &c("org_type"), OrgType::parse)?,
        country: text(row, &c("country"))?,
        security_email: opt_text(row, &c("security_email"))?,
        security_phone: opt_text(row, &c("security_phone"))?,
        out_of_band_contact: opt_text(row, &c("out_of_band_contact"))?,
        verified_by: opt_uuid(row, &c("verified_by"))?,
        verified_at: opt_at(row, &c("verified_at"))?,
        created_at: at(row, &c("created_at"))?,
        updated_at: at(row, &c("updated_at"))?,
        version: int(row, &c("version"))?,
    })
}

pub fn org_key(row: &AnyRow) -> R<OrgKey> {
    Ok(OrgKey {
        key_id: text(row, "key_id")?,
        org_id: uuid(row, "org_id")?,
        public_key: blob(row, "public_key")?,
        encrypted_secret: blob(row, "encrypted_secret")?,
        created_at: at(row, "created_at")?,
        retired_at: opt_at(row, "retired_at")?,
    })
}

pub fn user(row: &AnyRow) -> R<User> {
    user_in(row, "")
}

/// The columns read with `prefix` before each name (from a join that aliases them).
pub fn user_in(row: &AnyRow, prefix: &str) -> R<User> {
    let c = |name: &'static str| prefixed(prefix, name);
    Ok(User {
        id: uuid(row, &c("id"))?,
        org_id: uuid(row, &c("org_id"))?,
        username: text(row, &c("username"))?,
        display_name: text(row, &c("display_name"))?,
        email: opt_text(row, &c("email"))?,
        role: parsed(row, &c("role"), Role::parse)?,
        disabled: int(row, &c("disabled"))? != 0,
        password_hash: opt_text(row, &c("password_hash"))?,
        created_at: at(row, &c("created_at"))?,
        updated_at: at(row, &c("updated_at"))?,
        version: int(row, &c("version"))?,
    })
}

pub fn token(row: &AnyRow) -> R<ApiToken> {
    token_in(row, "")
}

/// The columns read with `prefix` before each name (from a join that aliases them).
pub fn token_in(row: &AnyRow, prefix: &str) -> R<ApiToken> {
    let c = |name: &'static str| prefixed(prefix, name);
    Ok(ApiToken {
        id: uuid(row, &c("id"))?,
        user_id: uuid(row, &c("user_id"))?,
        name: text(row, &c("name"))?,
        prefix: text(row, &c("prefix"))?,
        token_hash: text(row, &c("token_hash"))?,
        created_at: at(row, &c("created_at"))?,
        expires_at: opt_at(row, &c("expires_at"))?,
        revoked_at: opt_at(row, &c("revoked_at"))?,
        last_used_at: opt_at(row, &c("last_used_at"))?,
    })
}

pub fn community(row: &AnyRow) -> R<Community> {
    Ok(Community {
        id: uuid(row, "id")?,
        slug: text(row, "slug")?,
        name: text(row, "name")?,
        description: text(row, "description")?,
        default_tlp: parsed(row, "default_tlp", TlpLevel::parse)?,
        public_feed: int(row, "public_feed")? != 0,
        review_after_days: row
            .try_get::<Option<i64>, _>("review_after_days")
            .map_err(|e| bad("review_after_days", e))?,
        created_at: at(row, "created_at")?,
        updated_at: at(row, "updated_at")?,
        version: int(row, "version")?,
    })
}

pub fn membership(row: &AnyRow) -> R<Membership> {
    Ok(Membership {
        community_id: uuid(row, "community_id")?,
        org_id: uuid(row, "org_id")?,
        role: parsed(row, "role", CommunityRole::parse)?,
        joined_at: at(row, "joined_at")?,
    })
}

pub fn representative(row: &AnyRow) -> R<Representative> {
    Ok(Representative {
        community_id: uuid(row, "community_id")?,
        user_id: uuid(row, "user_id")?,
        org_id: uuid(row, "org_id")?,
        designated_at: at(row, "designated_at")?,
    })
}

pub fn audit_entry(row: &AnyRow) -> R<AuditEntry> {
    Ok(AuditEntry {
        seq: int(row, "seq")?,
        at: at(row, "at")?,
        actor_user: opt_uuid(row, "actor_user")?,
        actor_org: opt_uuid(row, "actor_org")?,
        actor_label: text(row, "actor_label")?,
        action: text(row, "action")?,
        object_type: text(row, "object_type")?,
        object_id: text(row, "object_id")?,
        object_org: opt_uuid(row, "object_org")?,
        outcome: parsed(row, "outcome", Outcome::parse)?,
        details: text(row, "details")?,
        prev_hash: text(row, "prev_hash")?,
        hash: text(row, "hash")?,
    })
}

/// One record of [`crate::objects::page_query`]: the columns of `stix_objects` joined by
/// [`crate::objects::FIELD_SEP`].
pub fn object_version_record(record: &str) -> R<cairn_core::sharing::ObjectVersion> {
    use crate::objects::{FIELD_SEP, PAGE_FIELDS};
    let f: Vec<&str> = record.splitn(PAGE_FIELDS, FIELD_SEP).collect();
    if f.len() != PAGE_FIELDS {
        return Err(bad("page", format!("a record has {} fields", f.len())));
    }
    let id = |col: &str, t: &str| Uuid::parse_str(t).map_err(|e| bad(col, e));
    Ok(cairn_core::sharing::ObjectVersion {
        seq: f[0].parse().map_err(|e| bad("seq", e))?,
        community_id: id("community_id", f[1])?,
        object_id: f[2].to_string(),
        object_type: f[3].to_string(),
        spec_version: f[4].to_string(),
        version: f[5].to_string(),
        version_key: f[6].to_string(),
        date_added: ts::parse(f[7]).ok_or_else(|| bad("date_added", "not a timestamp"))?,
        source_org: id("source_org", f[8])?,
        source_user: if f[9].is_empty() {
            None
        } else {
            Some(id("source_user", f[9])?)
        },
        tlp: TlpLevel::parse(f[10])
            .ok_or_else(|| bad("tlp", format!("unknown value `{}`", f[10])))?,
        revoked: f[11] != "0",
        provenance: (!f[12].is_empty()).then(|| cairn_core::sharing::Provenance {
            key_id: f[12].to_string(),
            signature: f[13].to_string(),
        }),
        anonymous: f[14] != "0",
        raw: f[15].to_string(),
    })
}
