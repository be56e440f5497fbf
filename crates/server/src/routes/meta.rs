//! Health, readiness, metrics, the caller's own identity and the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use cairn_core::{Organization, Role, User};
use serde::Serialize;

use crate::error::ApiResult;
use crate::extract::Caller;
use crate::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, description = "alive")))]
pub async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the store answers.
#[utoipa::path(get, path = "/readyz", tag = "meta", responses(
    (status = 200, description = "ready"), (status = 503, description = "the store is unreachable")))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.cairn.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness probe failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "unavailable", "reason": "store unreachable"})),
            )
        }
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "meta", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let up = state.cairn.store().ping().await.is_ok();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(up, state.cairn.correlation_progress()),
    )
}

/// Who the caller is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user: User,
    pub organization: Organization,
    pub role: Role,
}

/// The authenticated user and organization.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity",
    responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn me(Caller(session): Caller) -> ApiResult<Json<Me>> {
    Ok(Json(Me {
        role: session.user.role,
        user: session.user,
        organization: session.org,
    }))
}

/// The OpenAPI document, generated from the handlers.
pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::document())
}
