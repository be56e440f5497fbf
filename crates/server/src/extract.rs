//! Extractors: the authenticated caller (so no handler can forget authentication or the
//! caller's organization), and JSON bodies and queries whose rejections use our error shape.

use std::net::SocketAddr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use base64::Engine;
use cairn_core::service::{AuthFailure, Session};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::AppState;

/// The authenticated user, its organization and role. Extracting it fails with 401 (or 429
/// while the client or user is over the failure limit).
#[derive(Debug, Clone)]
pub struct Caller(pub Session);

/// The caller if credentials were sent, `None` for an anonymous request. Bad credentials are
/// still refused.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Session>);

enum Credential {
    Bearer(String),
    Basic { user: String, secret: String },
}

fn credential(parts: &Parts) -> Result<Option<Credential>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthenticated())?
        .trim();
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Some(Credential::Bearer(rest.to_string())));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(ApiError::unauthenticated)?;
        let (user, secret) = decoded
            .split_once(':')
            .ok_or_else(ApiError::unauthenticated)?;
        return Ok(Some(Credential::Basic {
            user: user.to_string(),
            secret: secret.to_string(),
        }));
    }
    Err(ApiError::unauthenticated())
}

fn client_key(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| format!("ip:{}", c.0.ip()))
        .unwrap_or_else(|| "ip:unknown".into())
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<Session>, ApiError> {
    let Some(cred) = credential(parts)? else {
        return Ok(None);
    };
    let mut keys = vec![client_key(parts)];
    let (secret, user) = match cred {
        Credential::Bearer(s) => (s, None),
        Credential::Basic { user, secret } => {
            keys.push(format!("user:{user}"));
            (secret, Some(user))
        }
    };
    if let Some(retry_after_secs) = state.limiter.blocked(&keys) {
        return Err(cairn_core::CoreError::RateLimited { retry_after_secs }.into());
    }
    match state.cairn.authenticate(&secret, user.as_deref()).await? {
        Ok(session) => Ok(Some(session)),
        Err(failure) => {
            if failure != AuthFailure::Malformed || user.is_some() {
                keys.push(format!("user:{}", user.as_deref().unwrap_or("")));
            }
            state.limiter.fail(&keys);
            state.metrics.auth_failure(failure.as_str());
            tracing::info!(reason = failure.as_str(), client = %keys[0], "authentication failed");
            Err(ApiError::unauthenticated())
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state)
            .await?
            .map(Caller)
            .ok_or_else(ApiError::unauthenticated)
    }
}

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(MaybeCaller(authenticate(parts, state).await?))
    }
}

/// A JSON body; malformed, mistyped, oversized or wrongly typed bodies get our error shape.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON with `Content-Type: application/json`",
        ),
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request(text),
        JsonRejection::JsonDataError(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", text)
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than this server accepts",
        ),
        other => ApiError::new(other.status(), "bad_request", text),
    }
}

/// Query parameters, refused in our error shape when malformed.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::bad_request(
                format!("query string: {}", e.body_text()),
            )),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}
