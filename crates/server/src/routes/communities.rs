//! Communities: the information exchange arrangements, their members, roles and
//! representatives.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cairn_core::service::{CommunityPatch, MemberView, MembershipRequest, NewCommunity};
use cairn_core::{Community, Membership, Representative};
use serde::Deserialize;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, Caller};
use crate::AppState;

/// Communities of the caller's organization (all for the node operator).
#[utoipa::path(get, path = "/api/v1/communities", tag = "communities",
    responses((status = 200, body = [Community])), security(("bearer" = []), ("basic" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<Community>>> {
    Ok(Json(state.cairn.communities(&s.actor).await?))
}

/// Create a community (node operator).
#[utoipa::path(post, path = "/api/v1/communities", tag = "communities", request_body = NewCommunity,
    responses((status = 201, body = Community), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Caller(s): Caller,
    ApiJson(input): ApiJson<NewCommunity>,
) -> ApiResult<(StatusCode, Json<Community>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.cairn.create_community(&s.actor, input).await?),
    ))
}

/// One community (its members and the node operator; others get 404).
#[utoipa::path(get, path = "/api/v1/communities/{slug}", tag = "communities",
    params(("slug" = String, Path, description = "slug or id")),
    responses((status = 200, body = Community), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<Community>> {
    Ok(Json(state.cairn.find_community(&s.actor, &slug).await?.0))
}

/// Change a community (its chairs, or the node operator).
#[utoipa::path(patch, path = "/api/v1/communities/{slug}", tag = "communities", request_body = CommunityPatch,
    params(("slug" = String, Path, description = "slug or id")),
    responses((status = 200, body = Community), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(slug): Path<String>,
    ApiJson(patch): ApiJson<CommunityPatch>,
) -> ApiResult<Json<Community>> {
    Ok(Json(
        state.cairn.update_community(&s.actor, &slug, patch).await?,
    ))
}

/// Member organizations with roles and representatives.
#[utoipa::path(get, path = "/api/v1/communities/{slug}/members", tag = "communities",
    params(("slug" = String, Path, description = "slug or id")),
    responses((status = 200, body = [MemberView]), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn members(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<Vec<MemberView>>> {
    Ok(Json(state.cairn.members(&s.actor, &slug).await?))
}

/// Admit an organization, or change its role (chairs, or the node operator).
#[utoipa::path(post, path = "/api/v1/communities/{slug}/members", tag = "communities", request_body = MembershipRequest,
    params(("slug" = String, Path, description = "slug or id")),
    responses((status = 200, body = Membership), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn put_member(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(slug): Path<String>,
    ApiJson(request): ApiJson<MembershipRequest>,
) -> ApiResult<Json<Membership>> {
    Ok(Json(
        state.cairn.put_member(&s.actor, &slug, request).await?,
    ))
}

/// Remove an organization from the community.
#[utoipa::path(delete, path = "/api/v1/communities/{slug}/members/{org}", tag = "communities",
    params(("slug" = String, Path, description = "slug or id"), ("org" = String, Path, description = "id or short name")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn remove_member(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((slug, org)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.cairn.remove_member(&s.actor, &slug, &org).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body naming a user.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRef {
    /// User id or user name.
    pub user: String,
}

/// Designate a representative of a member organization (that organization's admin).
#[utoipa::path(post, path = "/api/v1/communities/{slug}/representatives", tag = "communities", request_body = UserRef,
    params(("slug" = String, Path, description = "slug or id")),
    responses((status = 200, body = Representative), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn designate(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson<UserRef>,
) -> ApiResult<Json<Representative>> {
    Ok(Json(
        state.cairn.designate(&s.actor, &slug, &body.user).await?,
    ))
}

/// Withdraw a representative.
#[utoipa::path(delete, path = "/api/v1/communities/{slug}/representatives/{user}", tag = "communities",
    params(("slug" = String, Path, description = "slug or id"), ("user" = String, Path, description = "id or user name")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn withdraw(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path((slug, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .cairn
        .withdraw_representative(&s.actor, &slug, &user)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
