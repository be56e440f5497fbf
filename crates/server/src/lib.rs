//! # cairn-server: the HTTP front
//!
//! Owns the REST API under `/api/v1` (with its OpenAPI document), authentication extractors,
//! the one error-to-HTTP table, request limits, health, readiness and metrics, and serving over
//! plain HTTP or TLS with graceful shutdown.
//!
//! It must never decide who may do what, nor touch SQL: it parses and authenticates, calls
//! [`cairn_core::Cairn`], and translates the answer.
#![forbid(unsafe_code)]
// Errors are built on the cold path only; their size does not matter there.
#![allow(clippy::result_large_err)]

pub mod error;
pub mod extract;
pub mod limiter;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod taxii;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::Router;
use cairn_core::Cairn;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::limiter::FailureLimiter;
use crate::metrics::Metrics;

/// What the server needs to know beyond the service.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Longest time one request may take.
    pub request_timeout: Duration,
    /// Failed authentications allowed per client address or user name within `auth_window`.
    pub auth_max_failures: usize,
    pub auth_window: Duration,
    /// Largest TAXII envelope accepted, in bytes (`max_content_length` of every API root).
    pub taxii_max_content_length: usize,
    /// Largest attachment (decoded) accepted on any way in, in bytes.
    pub max_attachment_bytes: usize,
    /// Largest document request (`POST …/documents`, attachments in base64), in bytes.
    pub max_document_bytes: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            auth_max_failures: 10,
            auth_window: Duration::from_secs(300),
            taxii_max_content_length: 32 * 1024 * 1024,
            max_attachment_bytes: cairn_core::documents::DEFAULT_MAX_ATTACHMENT_BYTES,
            max_document_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub cairn: Cairn,
    pub limiter: Arc<FailureLimiter>,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<ServerSettings>,
}

impl AppState {
    pub fn new(cairn: Cairn, settings: ServerSettings) -> Self {
        AppState {
            cairn: cairn.with_max_attachment_bytes(settings.max_attachment_bytes),
            limiter: Arc::new(FailureLimiter::new(
                settings.auth_max_failures,
                settings.auth_window,
            )),
            metrics: Arc::new(Metrics::default()),
            settings: Arc::new(settings),
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /api/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see /api/openapi.json",
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    ApiError::internal("a handler panicked").into_response()
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    use routes::*;
    let api = Router::new()
        .route("/me", get(meta::me))
        .route(
            "/organizations",
            get(organizations::list).post(organizations::create),
        )
        .route(
            "/organizations/{org}",
            get(organizations::get).patch(organizations::update),
        )
        .route(
            "/organizations/{org}/verification",
            put(organizations::verify),
        )
        .route(
            "/organizations/{org}/keys",
            get(organizations::keys).post(organizations::rotate_key),
        )
        .route("/keys", get(organizations::published_keys))
        .route(
            "/communities/{slug}/sanitize/preview",
            post(objects::preview_sanitization),
        )
        .route(
            "/{scope}/{id}/sanitization",
            get(objects::get_sanitization).put(objects::put_sanitization),
        )
        .route(
            "/communities/{slug}/objects/{id}/reveal",
            post(objects::reveal),
        )
        .route("/communities/{slug}/reveals", get(objects::reveals))
        .route("/communities/{slug}/keys", get(objects::community_keys))
        .route(
            "/communities/{slug}/objects/{id}/signatures",
            get(objects::signatures),
        )
        .route("/users", get(users::list).post(users::create))
        .route("/users/{user}", get(users::get).patch(users::update))
        .route(
            "/users/{user}/tokens",
            get(users::tokens).post(users::create_token),
        )
        .route("/tokens/{id}", delete(users::revoke_token))
        .route(
            "/communities",
            get(communities::list).post(communities::create),
        )
        .route(
            "/communities/{slug}",
            get(communities::get).patch(communities::update),
        )
        .route(
            "/communities/{slug}/members",
            get(communities::members).post(communities::put_member),
        )
        .route(
            "/communities/{slug}/members/{org}",
            delete(communities::remove_member),
        )
        .route(
            "/communities/{slug}/representatives",
            post(communities::designate),
        )
        .route(
            "/communities/{slug}/representatives/{user}",
            delete(communities::withdraw),
        )
        .route(
            "/communities/{slug}/objects",
            get(objects::list).post(objects::publish),
        )
        .route(
            "/communities/{slug}/objects/{id}/correlations",
            get(search::correlations),
        )
        .route(
            "/communities/{slug}/objects/{id}/marking",
            put(release::change_marking),
        )
        .route(
            "/communities/{slug}/objects/{id}/marking-history",
            get(release::marking_history),
        )
        .route(
            "/communities/{slug}/objects/{id}/release-requests",
            post(release::request_release),
        )
        .route(
            "/communities/{slug}/objects/{id}/sightings",
            post(feedback::post_sighting),
        )
        .route(
            "/communities/{slug}/objects/{id}/opinion",
            put(feedback::put_opinion),
        )
        .route(
            "/communities/{slug}/objects/{id}/comments",
            get(feedback::comments).post(feedback::post_comment),
        )
        .route(
            "/communities/{slug}/objects/{id}/feedback",
            get(feedback::summary),
        )
        .route(
            "/communities/{slug}/objects/{id}/content",
            get(documents::content),
        )
        .route(
            "/communities/{slug}/documents",
            post(documents::publish)
                .layer(DefaultBodyLimit::max(state.settings.max_document_bytes)),
        )
        .route(
            "/communities/{slug}/marking-reviews",
            get(release::reviews_due),
        )
        .route("/release-requests", get(release::list))
        .route("/release-requests/{id}", get(release::get))
        .route("/release-requests/{id}/decision", post(release::decide))
        .route("/search", get(search::text))
        .route("/search/values", get(search::values))
        .route("/notifications", get(release::notifications))
        .route("/notifications/read", post(release::mark_read))
        .route("/audit", get(audit::list));
    let taxii_routes = Router::new()
        .route("/", get(taxii::discovery))
        .route("/{root}/", get(taxii::api_root))
        .route("/{root}/status/{id}/", get(taxii::status))
        .route("/{root}/collections/", get(taxii::collections))
        .route("/{root}/collections/{id}/", get(taxii::collection))
        .route("/{root}/collections/{id}/manifest/", get(taxii::manifest))
        .route(
            "/{root}/collections/{id}/objects/",
            get(taxii::get_objects).post(taxii::post_objects),
        )
        .route(
            "/{root}/collections/{id}/objects/{object}/",
            get(taxii::get_object).delete(taxii::delete_object),
        )
        .route(
            "/{root}/collections/{id}/objects/{object}/versions/",
            get(taxii::versions),
        )
        .fallback(taxii::not_found)
        .route_layer(DefaultBodyLimit::max(
            state.settings.taxii_max_content_length,
        ));
    let timeout = state.settings.request_timeout;
    let body_limit = state.settings.max_body_bytes;
    Router::new()
        .nest("/api/v1", api)
        .route("/taxii2/", get(taxii::discovery))
        .nest("/taxii2", taxii_routes)
        .route("/api/openapi.json", get(meta::openapi))
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(meta::readyz))
        .route("/metrics", get(meta::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// TLS certificate and key (PEM files).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Serve `app` on an already bound listener until `shutdown` completes; then stop accepting,
/// let in-flight requests finish (up to `grace`), and return.
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<TlsFiles>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let handle = axum_server::Handle::new();
    let trigger = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        trigger.graceful_shutdown(Some(grace));
    });
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        None => {
            axum_server::from_tcp(listener)
                .handle(handle)
                .serve(service)
                .await
        }
        Some(files) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config =
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
                    .await
                    .map_err(|e| {
                        std::io::Error::new(
                            e.kind(),
                            format!(
                                "cannot load TLS certificate {} / key {}: {e}",
                                files.cert.display(),
                                files.key.display()
                            ),
                        )
                    })?;
            axum_server::from_tcp_rustls(listener, config)
                .handle(handle)
                .serve(service)
                .await
        }
    }
}
