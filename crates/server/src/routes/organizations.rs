//! Organizations: the member bodies, their contacts, verification and published keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cairn_core::service::{NewOrganization, OrganizationPatch};
use cairn_core::{Organization, PublicKey};
use serde::Deserialize;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, Caller};
use crate::AppState;

/// The organization directory (every authenticated user).
#[utoipa::path(get, path = "/api/v1/organizations", tag = "organizations",
    responses((status = 200, body = [Organization]), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(_): Caller,
) -> ApiResult<Json<Vec<Organization>>> {
    Ok(Json(state.cairn.organizations().await?))
}

/// Create an organization (node operator). A signing key pair is generated for it.
#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations", request_body = NewOrganization,
    responses((status = 201, body = Organization), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Caller(s): Caller,
    ApiJson(input): ApiJson<NewOrganization>,
) -> ApiResult<(StatusCode, Json<Organization>)> {
    let org = state.cairn.create_organization(&s.actor, input).await?;
    Ok((StatusCode::CREATED, Json(org)))
}

/// One organization, by id or short name.
#[utoipa::path(get, path = "/api/v1/organizations/{org}", tag = "organizations",
    params(("org" = String, Path, description = "id or short name")),
    responses((status = 200, body = Organization), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(_): Caller,
    Path(org): Path<String>,
) -> ApiResult<Json<Organization>> {
    Ok(Json(state.cairn.find_organization(&org).await?))
}

/// Change an organization's profile (its admin, or the node operator).
#[utoipa::path(patch, path = "/api/v1/organizations/{org}", tag = "organizations", request_body = OrganizationPatch,
    params(("org" = String, Path, description = "id or short name")),
    responses((status = 200, body = Organization), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(org): Path<String>,
    ApiJson(patch): ApiJson<OrganizationPatch>,
) -> ApiResult<Json<Organization>> {
    Ok(Json(
        state
            .cairn
            .update_organization(&s.actor, &org, patch)
            .await?,
    ))
}

/// Body of a verification decision.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// `true` records that the node operator verified who this organization is.
    pub verified: bool,
}

/// Record or withdraw verification (node operator).
#[utoipa::path(put, path = "/api/v1/organizations/{org}/verification", tag = "organizations", request_body = Verification,
    params(("org" = String, Path, description = "id or short name")),
    responses((status = 200, body = Organization), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<Verification>,
) -> ApiResult<Json<Organization>> {
    Ok(Json(
        state
            .cairn
            .verify_organization(&s.actor, &org, body.verified)
            .await?,
    ))
}

/// The organization's published signing keys, newest first.
#[utoipa::path(get, path = "/api/v1/organizations/{org}/keys", tag = "organizations",
    params(("org" = String, Path, description = "id or short name")),
    responses((status = 200, body = [PublicKey]), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn keys(
    State(state): State<AppState>,
    Caller(_): Caller,
    Path(org): Path<String>,
) -> ApiResult<Json<Vec<PublicKey>>> {
    Ok(Json(state.cairn.organization_keys(&org).await?))
}

/// Rotate the organization's signing key: a new key signs from now on; the previous one is
/// retired but stays published, so what it signed stays verifiable. The organization's admin
/// or the node operator.
#[utoipa::path(post, path = "/api/v1/organizations/{org}/keys", tag = "organizations",
    params(("org" = String, Path, description = "id or short name")),
    responses((status = 201, body = PublicKey), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn rotate_key(
    State(state): State<AppState>,
    Caller(s): Caller,
    Path(org): Path<String>,
) -> ApiResult<(axum::http::StatusCode, Json<PublicKey>)> {
    let key = state.cairn.rotate_org_key(&s.actor, &org).await?;
    Ok((axum::http::StatusCode::CREATED, Json(key)))
}

/// Every published key a reader needs to verify what it may read: the organizations' keys
/// (current and retired) and the keys of the communities it may read. Save it as the
/// `--keys` file of `cairn verify`.
#[utoipa::path(get, path = "/api/v1/keys", tag = "organizations",
    responses((status = 200, body = [PublicKey])),
    security(("bearer" = []), ("basic" = [])))]
pub async fn published_keys(
    State(state): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<PublicKey>>> {
    Ok(Json(state.cairn.published_keys(Some(&s.actor)).await?))
}
