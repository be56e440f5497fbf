//! The one table from errors to HTTP. Every error body has the shape
//! `{"error": code, "message": text, "details": value}`; internal errors are logged with an id
//! and answered with that id only.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_core::{CoreError, StoreError};
use serde::Serialize;
use serde_json::Value;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
    pub retry_after: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `invalid`, `not_found`.
    pub error: String,
    /// What is wrong, for people.
    pub message: String,
    /// Where it is wrong (e.g. `{"field": "short_name"}`), or null.
    pub details: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid API token is required (Authorization: Bearer <token>, or HTTP Basic with user name and token)",
        )
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let id = uuid::Uuid::new_v4();
        tracing::error!(error_id = %id, error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error; quote error id {id} to the operator"),
        )
    }
}

impl From<cairn_core::anonymity::RulesError> for ApiError {
    fn from(e: cairn_core::anonymity::RulesError) -> Self {
        match e {
            cairn_core::anonymity::RulesError::Core(e) => e.into(),
            cairn_core::anonymity::RulesError::Rules(errors) => {
                let first = errors
                    .first()
                    .map(|e| format!("{}: {}", e.rule, e.reason))
                    .unwrap_or_default();
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    format!("{} malformed rule(s); first: {first}", errors.len()),
                )
                .with_details(serde_json::json!({ "rules": errors }))
            }
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound(m) => ApiError::not_found(m),
            CoreError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            CoreError::Invalid { field, message } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("{field}: {message}"),
            )
            .with_details(serde_json::json!({ "field": field })),
            CoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            CoreError::TooLarge(m) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", m)
            }
            CoreError::UnsupportedType(m) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                m,
            ),
            CoreError::Unauthenticated => ApiError::unauthenticated(),
            CoreError::RateLimited { retry_after_secs } => ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "too many failed authentication attempts; retry in {retry_after_secs} s"
                    ),
                )
            },
            CoreError::Store(StoreError::Duplicate { field, value }) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{field} `{value}` is already taken"),
            )
            .with_details(serde_json::json!({ "field": field })),
            CoreError::Store(StoreError::VersionConflict) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "the record changed while it was being updated; retry",
            ),
            CoreError::Store(StoreError::MissingReference(what)) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("{what} does not exist"),
            ),
            CoreError::Store(StoreError::Unavailable(detail)) => {
                tracing::error!(error = %detail, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the store is unavailable; retry later",
                )
            }
            CoreError::Store(StoreError::Internal(detail)) => ApiError::internal(detail),
            CoreError::Internal(detail) => ApiError::internal(detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_string(),
            message: self.message,
            details: self.details,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cairn\""),
            );
            headers.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"cairn\", charset=\"UTF-8\""),
            );
        }
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                headers.insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
