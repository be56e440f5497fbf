//! Reading the audit log.

use axum::extract::State;
use axum::Json;
use cairn_core::store::AuditQuery;
use cairn_core::AuditEntry;
use serde::Deserialize;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiQuery, Caller};
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only entries after this sequence number (for paging).
    pub after_seq: Option<i64>,
    /// At most this many entries (1..=1000, default 100).
    pub limit: Option<i64>,
    /// Only this action, e.g. `token.revoke`.
    pub action: Option<String>,
    /// Organization id or short name (node operator only; admins always see their own).
    pub organization: Option<String>,
}

/// Audit entries: about or by the caller's organization (organization admins), or all (node
/// operator). Ordered by sequence number.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = [AuditEntry]), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(s): Caller,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let org = match p.organization {
        Some(r) => Some(state.cairn.find_organization(&r).await?.id),
        None => None,
    };
    let query = AuditQuery {
        org,
        after_seq: p.after_seq,
        action: p.action,
        limit: p.limit.unwrap_or(100),
    };
    Ok(Json(state.cairn.audit_entries(&s.actor, query).await?))
}
