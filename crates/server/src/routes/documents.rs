//! Documents: advisories and reports with attachments, and attachments served back safely:
//! only to users entitled to the artifact, always as a download, never as active content.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cairn_core::documents::{NewDocument, PublishedDocument};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, Caller};
use crate::AppState;

/// Publish a document: a STIX `report` (or `note`) with one `artifact` per attachment
/// (base64 content), under one marking. Attachments must be application/pdf, text/plain,
/// text/markdown, text/csv, image/png, image/jpeg or image/gif, really of that type, and
/// within the attachment size limit; a refused document stores nothing.
#[utoipa::path(post, path = "/api/v1/communities/{slug}/documents", tag = "documents",
    params(("slug" = String, Path)), request_body = NewDocument,
    responses((status = 201, body = PublishedDocument), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn publish(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(slug): Path<String>,
    ApiJson(input): ApiJson<NewDocument>,
) -> ApiResult<(StatusCode, Json<PublishedDocument>)> {
    let doc = state.cairn.publish_document(&s.actor, &slug, input).await?;
    Ok((StatusCode::CREATED, Json(doc)))
}

/// The content of an attachment (an artifact's decoded `payload_bin`), for users entitled to
/// the artifact (404 for anyone else). Always a download: `Content-Disposition: attachment`,
/// `X-Content-Type-Options: nosniff`, a sandboxing `Content-Security-Policy`, not cached.
#[utoipa::path(get, path = "/api/v1/communities/{slug}/objects/{id}/content", tag = "documents",
    params(("slug" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "the attachment's bytes"), (status = 404, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn content(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((slug, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let a = state.cairn.attachment(&s.actor, &slug, &id).await?;
    let media = if a.media_type.starts_with("text/") {
        format!("{}; charset=utf-8", a.media_type)
    } else {
        a.media_type.to_string()
    };
    let value = |v: String| HeaderValue::from_str(&v).map_err(ApiError::internal);
    let mut response = a.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, value(media)?);
    headers.insert(
        header::CONTENT_DISPOSITION,
        value(format!("attachment; filename=\"{}\"", a.filename))?,
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
