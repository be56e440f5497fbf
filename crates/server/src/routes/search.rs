//! Correlation, exact value lookup and full-text search over the objects the caller may see
//! (the core's `search` module; the entitlement rule is in the store's queries).

use axum::extract::{Path, State};
use axum::Json;
use cairn_core::search::{
    self, Correlations, SearchPage, TextQuery, ValuePage, ValueQuery, MAX_CORRELATIONS, MAX_LIMIT,
    MAX_OFFSET,
};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiQuery, Caller};
use crate::AppState;

/// Results per page unless `limit` says otherwise.
const DEFAULT_LIMIT: i64 = 20;

fn page(limit: Option<i64>, offset: Option<i64>) -> ApiResult<(i64, i64)> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: must be between 1 and {MAX_LIMIT}"
        )));
    }
    let offset = offset.unwrap_or(0);
    if !(0..=MAX_OFFSET).contains(&offset) {
        return Err(ApiError::bad_request(format!(
            "offset: must be between 0 and {MAX_OFFSET}"
        )));
    }
    Ok((limit, offset))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ValueParams {
    /// The value: an IPv4 or IPv6 address or block, domain name, URL, e-mail address, or MD5,
    /// SHA-1, SHA-256 or SHA-512 hash. Normalized like shared values (case of domains and
    /// hashes, IPv6 forms).
    pub value: Option<String>,
    /// `ipv4`, `ipv6`, `domain`, `url`, `email`, `md5`, `sha1`, `sha256` or `sha512`; recognized
    /// from the value when absent.
    pub kind: Option<String>,
    /// Only this community (slug or id); default every community you may read.
    pub community: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<i64>,
    /// 0..=10000, default 0.
    pub offset: Option<i64>,
}

/// Exact value lookup ("has anyone shared 198.51.100.7?"): the objects you may see whose latest
/// version you may see holds the value, in every community you may read, newest first.
#[utoipa::path(get, path = "/api/v1/search/values", tag = "search", params(ValueParams),
    responses((status = 200, body = ValuePage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn values(
    State(state): State<AppState>,
    Caller(s): Caller,
    ApiQuery(p): ApiQuery<ValueParams>,
) -> ApiResult<Json<ValuePage>> {
    let raw = p
        .value
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("value: is required"))?;
    let (kind, value) =
        search::parse_value(raw, p.kind.as_deref()).map_err(ApiError::bad_request)?;
    let (limit, offset) = page(p.limit, p.offset)?;
    let query = ValueQuery {
        kind,
        value,
        limit,
        offset,
    };
    Ok(Json(
        state
            .cairn
            .lookup_value(&s.actor, p.community.as_deref(), &query)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Words to find (at most 500 characters, 16 words); an object matches when its name,
    /// description, report or note text or labels hold every word. Punctuation separates words
    /// and has no other meaning.
    pub q: Option<String>,
    /// Only this community (slug or id); default every community you may read.
    pub community: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<i64>,
    /// 0..=10000, default 0.
    pub offset: Option<i64>,
}

/// Full-text search over the latest versions you may see of the objects in the communities you
/// may read: best match first (a word in the name counts more), paged.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn text(
    State(state): State<AppState>,
    Caller(s): Caller,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> ApiResult<Json<SearchPage>> {
    let terms = search::parse_query(p.q.as_deref().unwrap_or("")).map_err(ApiError::bad_request)?;
    let (limit, offset) = page(p.limit, p.offset)?;
    let query = TextQuery {
        terms,
        limit,
        offset,
    };
    Ok(Json(
        state
            .cairn
            .search(&s.actor, p.community.as_deref(), &query)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CorrelationParams {
    /// At most this many matches in all (1..=1000, default 100); `truncated` says if there were
    /// more.
    pub limit: Option<i64>,
}

/// Correlations of an object you may see: for each observable value of its latest version you
/// may see, the other objects you may see (in every community you may read) that hold it.
#[utoipa::path(get, path = "/api/v1/communities/{slug}/objects/{id}/correlations", tag = "search",
    params(("slug" = String, Path), ("id" = String, Path), CorrelationParams),
    responses((status = 200, body = Correlations), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn correlations(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((slug, id)): Path<(String, String)>,
    ApiQuery(p): ApiQuery<CorrelationParams>,
) -> ApiResult<Json<Correlations>> {
    let limit = p.limit.unwrap_or(100);
    if !(1..=MAX_CORRELATIONS).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: must be between 1 and {MAX_CORRELATIONS}"
        )));
    }
    Ok(Json(
        state
            .cairn
            .correlations(&s.actor, &slug, &id, limit)
            .await?,
    ))
}
