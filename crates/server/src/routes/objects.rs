//! Shared objects over REST (for the web UI and scripts): the same core calls as TAXII, so the
//! same entitlement rule in the same queries.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cairn_core::exchange::{ShareOptions, ShareReport};
use cairn_core::sharing::{ObjectQuery, VersionMatch};
use cairn_core::{paging, ts};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Caller};
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ObjectFilter {
    /// STIX types, comma-separated.
    #[serde(rename = "type")]
    pub object_type: Option<String>,
    /// STIX ids, comma-separated.
    pub id: Option<String>,
    /// Only versions added after this instant (RFC 3339).
    pub added_after: Option<String>,
    /// `last` (default), `first` or `all`.
    pub versions: Option<String>,
    /// 1..=1000, default 100.
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// An object version with its platform metadata.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SharedObject {
    pub id: String,
    #[serde(rename = "type")]
    pub object_type: String,
    pub version: String,
    pub date_added: String,
    /// The effective TLP level (the most restrictive marking, or the community default).
    pub tlp: cairn_core::TlpLevel,
    /// The object exactly as its source posted it.
    pub object: Value,
    /// Who published it: `{"organization": short name}`, or `{"pseudonym": …}` for an
    /// anonymous share (`{"you_anonymously": …}` when it was your organization).
    pub source: cairn_core::anonymity::SourceLabel,
    /// The signature of this version, if it has one (see `…/signatures`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<cairn_core::sharing::Provenance>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ObjectList {
    pub objects: Vec<SharedObject>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn split(v: &Option<String>) -> Vec<String> {
    v.as_deref()
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Shared objects the caller may see, newest additions last.
#[utoipa::path(get, path = "/api/v1/communities/{slug}/objects", tag = "objects", params(("slug" = String, Path), ObjectFilter),
    responses((status = 200, body = ObjectList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(slug): Path<String>,
    ApiQuery(f): ApiQuery<ObjectFilter>,
) -> ApiResult<Json<ObjectList>> {
    let mut q = ObjectQuery {
        ids: split(&f.id),
        types: split(&f.object_type),
        limit: f.limit.unwrap_or(100),
        ..Default::default()
    };
    if !(1..=1000).contains(&q.limit) {
        return Err(ApiError::bad_request("limit: must be between 1 and 1000"));
    }
    if let Some(a) = &f.added_after {
        q.added_after = Some(ts::parse(a).ok_or_else(|| {
            ApiError::bad_request(format!(
                "added_after: `{}` is not an RFC 3339 timestamp",
                cairn_core::validate::clip(a)
            ))
        })?);
    }
    q.versions = match f.versions.as_deref() {
        None | Some("last") => VersionMatch::Last,
        Some("first") => VersionMatch::First,
        Some("all") => VersionMatch::All,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "versions: `{}` is not last, first or all",
                cairn_core::validate::clip(other)
            )))
        }
    };
    let fingerprint = paging::fingerprint(&[
        "rest",
        &slug,
        f.object_type.as_deref().unwrap_or(""),
        f.id.as_deref().unwrap_or(""),
        f.added_after.as_deref().unwrap_or(""),
        f.versions.as_deref().unwrap_or(""),
    ]);
    let now = ts::now().unix_timestamp();
    if let Some(c) = &f.cursor {
        q.after_seq = Some(
            paging::open(state.cairn.master_key(), c, &fingerprint, now)
                .map_err(|e| ApiError::bad_request(format!("cursor: {}", e.message())))?,
        );
    }
    let page = state.cairn.objects(Some(&s.actor), &slug, &q).await?;
    let next_cursor = match (page.more, page.objects.last()) {
        (true, Some(last)) => Some(paging::seal(
            state.cairn.master_key(),
            last.seq,
            &fingerprint,
            now,
        )),
        _ => None,
    };
    let labels = state
        .cairn
        .source_labels(Some(&s.actor), &page.objects)
        .await?;
    let mut objects = Vec::with_capacity(page.objects.len());
    for (o, source) in page.objects.into_iter().zip(labels) {
        objects.push(SharedObject {
            source,
            object: serde_json::from_str(&o.raw).map_err(ApiError::internal)?,
            id: o.object_id,
            object_type: o.object_type,
            version: o.version,
            date_added: ts::format(o.date_added),
            tlp: o.tlp,
            provenance: o.provenance,
        });
    }
    Ok(Json(ObjectList {
        objects,
        next_cursor,
    }))
}

/// Publish a STIX bundle or TAXII envelope (`Content-Type: application/json`). Answers with
/// the outcome of each object.
#[utoipa::path(post, path = "/api/v1/communities/{slug}/objects", tag = "objects", params(("slug" = String, Path)),
    request_body(content = Value, description = "a STIX bundle or TAXII envelope"),
    responses((status = 200, description = "per-object outcomes"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn publish(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(slug): Path<String>,
    ApiQuery(p): ApiQuery<PublishParams>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<ShareReport>)> {
    let options = ShareOptions {
        anonymous: p.anonymous.unwrap_or(false),
    };
    let (_, report) = state
        .cairn
        .share_envelope(&s.actor, &slug, &body, options)
        .await?;
    Ok((StatusCode::OK, Json(report)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PublishParams {
    /// Publish under the community's pseudonym instead of your organization's name.
    pub anonymous: Option<bool>,
}

/// The dry run of sanitization: what your organization's and the community's rules would do
/// to these objects (a bundle or envelope) if you published them now. Nothing is stored.
#[utoipa::path(post, path = "/api/v1/communities/{slug}/sanitize/preview", tag = "objects", params(("slug" = String, Path)),
    request_body(content = Value, description = "a STIX bundle or TAXII envelope"),
    responses((status = 200, body = cairn_core::anonymity::SanitizePreview), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn preview_sanitization(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(slug): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<cairn_core::anonymity::SanitizePreview>> {
    Ok(Json(
        state
            .cairn
            .preview_sanitization(&s.actor, &slug, &body)
            .await?,
    ))
}

/// The sanitization rules of an organization (`scope` = `organizations`, id or short name) or
/// a community (`communities`, slug); `null` when none are set.
#[utoipa::path(get, path = "/api/v1/{scope}/{id}/sanitization", tag = "objects",
    params(("scope" = String, Path, description = "`organizations` or `communities`"), ("id" = String, Path)),
    responses((status = 200, body = Option<Object>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get_sanitization(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((scope, id)): Path<(String, String)>,
) -> ApiResult<Json<Option<cairn_core::sanitize::SanitizationRules>>> {
    let scope = rule_scope(&scope)?;
    Ok(Json(
        state.cairn.sanitization_rules(&s.actor, scope, &id).await?,
    ))
}

/// Set the sanitization rules of an organization (its admin) or a community (its chairs);
/// `null` clears them. Malformed rules are refused with every rule and reason.
#[utoipa::path(put, path = "/api/v1/{scope}/{id}/sanitization", tag = "objects",
    params(("scope" = String, Path, description = "`organizations` or `communities`"), ("id" = String, Path)),
    request_body(content = Object, description = "the rules, or null"),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn put_sanitization(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((scope, id)): Path<(String, String)>,
    ApiJson(rules): ApiJson<Option<cairn_core::sanitize::SanitizationRules>>,
) -> ApiResult<StatusCode> {
    let scope = rule_scope(&scope)?;
    state
        .cairn
        .set_sanitization_rules(&s.actor, scope, &id, rules)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn rule_scope(scope: &str) -> ApiResult<&'static str> {
    match scope {
        "organizations" => Ok("organization"),
        "communities" => Ok("community"),
        _ => Err(ApiError::not_found(format!(
            "no `{}` with sanitization rules",
            cairn_core::validate::clip(scope)
        ))),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    /// Why the source must be known (required, kept in the audit log and shown to the chairs).
    #[serde(default)]
    pub reason: String,
}

/// The node operator reveals the source of an anonymous object, with a reason. Audited; the
/// community's chairs see every reveal.
#[utoipa::path(post, path = "/api/v1/communities/{slug}/objects/{id}/reveal", tag = "objects",
    params(("slug" = String, Path), ("id" = String, Path)), request_body = RevealRequest,
    responses((status = 200, body = cairn_core::anonymity::RevealedSource), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn reveal(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((slug, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RevealRequest>,
) -> ApiResult<Json<cairn_core::anonymity::RevealedSource>> {
    Ok(Json(
        state
            .cairn
            .reveal_source(&s.actor, &slug, &id, &body.reason)
            .await?,
    ))
}

/// Every reveal of an anonymous source in the community (its chairs and the node operator).
#[utoipa::path(get, path = "/api/v1/communities/{slug}/reveals", tag = "objects", params(("slug" = String, Path)),
    responses((status = 200, body = [cairn_core::anonymity::SourceReveal]), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn reveals(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<Vec<cairn_core::anonymity::SourceReveal>>> {
    Ok(Json(state.cairn.reveals(&s.actor, &slug).await?))
}

/// The signatures of the versions of an object you may see, oldest first: ed25519 over the
/// RFC 8785 canonical JSON of each version, with the id of the key (`GET /api/v1/keys`).
#[utoipa::path(get, path = "/api/v1/communities/{slug}/objects/{id}/signatures", tag = "objects",
    params(("slug" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = [cairn_core::provenance::SignatureEntry]), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn signatures(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((slug, id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<cairn_core::provenance::SignatureEntry>>> {
    Ok(Json(
        state.cairn.signatures(Some(&s.actor), &slug, &id).await?,
    ))
}

/// The community's published signing keys (anonymous shares in it are signed with them).
#[utoipa::path(get, path = "/api/v1/communities/{slug}/keys", tag = "objects",
    params(("slug" = String, Path)),
    responses((status = 200, body = [cairn_core::PublicKey]), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn community_keys(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<Vec<cairn_core::PublicKey>>> {
    Ok(Json(
        state.cairn.community_keys(Some(&s.actor), &slug).await?,
    ))
}
