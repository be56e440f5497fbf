//! The source has the last word: marking changes by the source, release requests from
//! recipients and the source's decisions, notifications, and markings due for review.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cairn_core::release::*;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Caller};
use crate::AppState;

fn request_id(text: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(text).map_err(|_| {
        ApiError::not_found(format!(
            "release request `{}` not found",
            cairn_core::validate::clip(text)
        ))
    })
}

/// Change the marking or the audience of one of your organization's objects (up or down). A
/// new TLP level applies to every version at once; a versioned object also gets a new version
/// with the new TLP marking. Answers with the history entry, or `null` if nothing changed.
#[utoipa::path(put, path = "/api/v1/communities/{slug}/objects/{id}/marking", tag = "release",
    params(("slug" = String, Path), ("id" = String, Path)), request_body = MarkingChangeInput,
    responses((status = 200, body = Option<MarkingChange>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn change_marking(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((slug, id)): Path<(String, String)>,
    ApiJson(input): ApiJson<MarkingChangeInput>,
) -> ApiResult<Json<Option<MarkingChange>>> {
    Ok(Json(
        state
            .cairn
            .change_marking(&s.actor, &slug, &id, input)
            .await?,
    ))
}

/// The marking decisions on one of your organization's objects, oldest first.
#[utoipa::path(get, path = "/api/v1/communities/{slug}/objects/{id}/marking-history", tag = "release",
    params(("slug" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Vec<MarkingChange>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn marking_history(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((slug, id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<MarkingChange>>> {
    Ok(Json(
        state.cairn.marking_history(&s.actor, &slug, &id).await?,
    ))
}

/// Ask the source of an object you may see for a wider distribution: more organizations, the
/// whole community, or a less restrictive TLP level, with a reason.
#[utoipa::path(post, path = "/api/v1/communities/{slug}/objects/{id}/release-requests", tag = "release",
    params(("slug" = String, Path), ("id" = String, Path)), request_body = ReleaseAsk,
    responses((status = 201, body = ReleaseRequest), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn request_release(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((slug, id)): Path<(String, String)>,
    ApiJson(ask): ApiJson<ReleaseAsk>,
) -> ApiResult<(StatusCode, Json<ReleaseRequest>)> {
    let r = state
        .cairn
        .request_release(&s.actor, &slug, &id, ask)
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReleaseFilter {
    /// `incoming` (about your organization's objects, default) or `outgoing` (asked by it).
    #[serde(rename = "box")]
    pub which: Option<ReleaseBox>,
    /// `pending`, `approved`, `partly_approved` or `refused`.
    pub status: Option<String>,
    /// 1..=1000, default 100.
    pub limit: Option<i64>,
}

/// Release requests of your organization, newest first.
#[utoipa::path(get, path = "/api/v1/release-requests", tag = "release", params(ReleaseFilter),
    responses((status = 200, body = Vec<ReleaseRequest>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(s): Caller,
    ApiQuery(f): ApiQuery<ReleaseFilter>,
) -> ApiResult<Json<Vec<ReleaseRequest>>> {
    let status = match f.status.as_deref() {
        None => None,
        Some(t) => Some(ReleaseStatus::parse(t).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status: `{}` is not pending, approved, partly_approved or refused",
                cairn_core::validate::clip(t)
            ))
        })?),
    };
    let limit = f.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit: must be between 1 and 1000"));
    }
    Ok(Json(
        state
            .cairn
            .release_requests(&s.actor, f.which.unwrap_or_default(), status, limit)
            .await?,
    ))
}

/// One release request (its requester's organization and the source's writers).
#[utoipa::path(get, path = "/api/v1/release-requests/{id}", tag = "release", params(("id" = String, Path)),
    responses((status = 200, body = ReleaseRequest), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ReleaseRequest>> {
    Ok(Json(
        state
            .cairn
            .release_request(&s.actor, request_id(&id)?)
            .await?,
    ))
}

/// The source decides: approve (fully, or partly by naming what is granted) or refuse with a
/// reason. The requester is notified.
#[utoipa::path(post, path = "/api/v1/release-requests/{id}/decision", tag = "release", params(("id" = String, Path)),
    request_body = ReleaseDecision,
    responses((status = 200, body = ReleaseRequest), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn decide(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(id): Path<String>,
    ApiJson(decision): ApiJson<ReleaseDecision>,
) -> ApiResult<Json<ReleaseRequest>> {
    Ok(Json(
        state
            .cairn
            .decide_release(&s.actor, request_id(&id)?, decision)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NotificationFilter {
    /// Only unread ones.
    pub unread: Option<bool>,
    /// 1..=500, default 100.
    pub limit: Option<i64>,
}

/// Your notifications, newest first. One about an object is listed only while you may see it.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "release", params(NotificationFilter),
    responses((status = 200, body = Vec<Notification>), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn notifications(
    State(state): State<AppState>,
    Caller(s): Caller,
    ApiQuery(f): ApiQuery<NotificationFilter>,
) -> ApiResult<Json<Vec<Notification>>> {
    let limit = f.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit: must be between 1 and 500"));
    }
    Ok(Json(
        state
            .cairn
            .notifications(&s.actor, f.unread.unwrap_or(false), limit)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadNotifications {
    /// Notification ids (at most 1000).
    pub ids: Vec<Uuid>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ReadCount {
    pub marked_read: u64,
}

/// Mark notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "release", request_body = ReadNotifications,
    responses((status = 200, body = ReadCount), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn mark_read(
    State(state): State<AppState>,
    Caller(s): Caller,
    ApiJson(body): ApiJson<ReadNotifications>,
) -> ApiResult<Json<ReadCount>> {
    let marked_read = state
        .cairn
        .mark_notifications_read(&s.actor, &body.ids)
        .await?;
    Ok(Json(ReadCount { marked_read }))
}

/// Your organization's RED and AMBER objects in a community whose marking is due for review
/// (the community's `review_after_days`; empty when reminders are off).
#[utoipa::path(get, path = "/api/v1/communities/{slug}/marking-reviews", tag = "release", params(("slug" = String, Path)),
    responses((status = 200, body = Vec<ReviewDue>), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn reviews_due(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<Vec<ReviewDue>>> {
    Ok(Json(state.cairn.reviews_due(&s.actor, &slug).await?))
}
