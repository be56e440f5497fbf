//! Feedback to the source: sightings, opinions and comment threads on a shared object, and
//! what recipients made of it. Every piece of feedback is a shared object itself, so what a
//! caller gets here is what the entitlement rule lets it see.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cairn_core::feedback::*;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, Caller};
use crate::AppState;

/// Report sightings of an object you may see (a STIX `sighting` of it, published into the
/// community under the object's marking or a stricter one). The source is notified.
#[utoipa::path(post, path = "/api/v1/communities/{slug}/objects/{id}/sightings", tag = "feedback",
    params(("slug" = String, Path), ("id" = String, Path)), request_body = NewSighting,
    responses((status = 201, body = FeedbackItem), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn post_sighting(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((slug, id)): Path<(String, String)>,
    ApiJson(input): ApiJson<NewSighting>,
) -> ApiResult<(StatusCode, Json<FeedbackItem>)> {
    let item = state
        .cairn
        .post_sighting(&s.actor, &slug, &id, input)
        .await?;
    Ok((StatusCode::CREATED, Json(item)))
}

/// Give your opinion of an object: `useful`, `not_useful` or `false_positive` (STIX `agree`,
/// `disagree`, `strongly-disagree`). One per user: a later one replaces yours.
#[utoipa::path(put, path = "/api/v1/communities/{slug}/objects/{id}/opinion", tag = "feedback",
    params(("slug" = String, Path), ("id" = String, Path)), request_body = NewOpinion,
    responses((status = 200, body = FeedbackItem), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn put_opinion(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((slug, id)): Path<(String, String)>,
    ApiJson(input): ApiJson<NewOpinion>,
) -> ApiResult<Json<FeedbackItem>> {
    Ok(Json(
        state
            .cairn
            .give_opinion(&s.actor, &slug, &id, input)
            .await?,
    ))
}

/// Comment on an object, ask its source a question, or answer in its thread (`in_reply_to`).
/// The comment inherits the marking of what it answers unless you pick a stricter one.
#[utoipa::path(post, path = "/api/v1/communities/{slug}/objects/{id}/comments", tag = "feedback",
    params(("slug" = String, Path), ("id" = String, Path)), request_body = NewComment,
    responses((status = 201, body = FeedbackItem), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn post_comment(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((slug, id)): Path<(String, String)>,
    ApiJson(input): ApiJson<NewComment>,
) -> ApiResult<(StatusCode, Json<FeedbackItem>)> {
    let item = state
        .cairn
        .post_comment(&s.actor, &slug, &id, input)
        .await?;
    Ok((StatusCode::CREATED, Json(item)))
}

/// The comments of an object's thread that you may see, oldest first.
#[utoipa::path(get, path = "/api/v1/communities/{slug}/objects/{id}/comments", tag = "feedback",
    params(("slug" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Vec<Comment>), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn comments(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((slug, id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Comment>>> {
    Ok(Json(state.cairn.comments(&s.actor, &slug, &id).await?))
}

/// What recipients made of an object, of what you may see: sightings, opinions, comments.
/// The source's view names the organizations (except anonymous feedback); others get counts.
#[utoipa::path(get, path = "/api/v1/communities/{slug}/objects/{id}/feedback", tag = "feedback",
    params(("slug" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = FeedbackSummary), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn summary(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((slug, id)): Path<(String, String)>,
) -> ApiResult<Json<FeedbackSummary>> {
    Ok(Json(state.cairn.feedback(&s.actor, &slug, &id).await?))
}
