//! Users of organizations and their API tokens.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cairn_core::service::{CreatedToken, NewTokenRequest, NewUser, UserPatch};
use cairn_core::{ApiToken, User};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Caller};
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserFilter {
    /// Organization id or short name.
    pub organization: Option<String>,
}

/// Users the caller may see: its organization's, or all for the node operator.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserFilter),
    responses((status = 200, body = [User]), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(s): Caller,
    ApiQuery(filter): ApiQuery<UserFilter>,
) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(
        state
            .cairn
            .users(&s.actor, filter.organization.as_deref())
            .await?,
    ))
}

/// Create a user (its organization's admin, or the node operator).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = User), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Caller(s): Caller,
    ApiJson(input): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.cairn.create_user(&s.actor, input).await?),
    ))
}

/// One user, by id or user name.
#[utoipa::path(get, path = "/api/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "id or user name")),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<User>> {
    Ok(Json(state.cairn.find_user(&s.actor, &user).await?))
}

/// Change a user: display name, e-mail, password (the user itself); role and status (its
/// organization's admin; only the node operator grants the operator role).
#[utoipa::path(patch, path = "/api/v1/users/{user}", tag = "users", request_body = UserPatch,
    params(("user" = String, Path, description = "id or user name")),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(user): Path<String>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> ApiResult<Json<User>> {
    Ok(Json(state.cairn.update_user(&s.actor, &user, patch).await?))
}

/// A user's tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/users/{user}/tokens", tag = "tokens",
    params(("user" = String, Path, description = "id or user name")),
    responses((status = 200, body = [ApiToken]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn tokens(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(state.cairn.tokens(&s.actor, &user).await?))
}

/// Create a token for a user (the user itself, its organization's admin, or the node
/// operator). The secret is in this response only.
#[utoipa::path(post, path = "/api/v1/users/{user}/tokens", tag = "tokens", request_body = NewTokenRequest,
    params(("user" = String, Path, description = "id or user name")),
    responses((status = 201, body = CreatedToken), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(user): Path<String>,
    ApiJson(request): ApiJson<NewTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.cairn.create_token(&s.actor, &user, request).await?),
    ))
}

/// Revoke a token at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "token id")),
    responses((status = 200, body = ApiToken), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiToken>> {
    let id = Uuid::parse_str(&id).map_err(|_| {
        ApiError::not_found(format!(
            "token `{}` not found",
            cairn_core::validate::clip(&id)
        ))
    })?;
    Ok(Json(state.cairn.revoke_token(&s.actor, id).await?))
}
