//! Opening the store and serving.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use cairn_core::model::Actor;
use cairn_core::provision::{ApplyReport, Plan};
use cairn_core::Cairn;
use cairn_server::{AppState, ServerSettings, TlsFiles};
use cairn_store::{SqlStore, StoreOptions};

use crate::config::{self, Config};

/// Open the store and the service. `create_key`: may a missing master key file be created.
pub async fn open(config: &Config, create_key: bool) -> Result<(Cairn, Arc<SqlStore>)> {
    let master = config::master_key(config, create_key)?;
    let store = open_store(config).await?;
    let cairn =
        Cairn::new(store.clone(), master).with_max_attachment_bytes(config.max_attachment_bytes);
    Ok((cairn, store))
}

/// Open the store alone (for work that needs no keys).
pub async fn open_store(config: &Config) -> Result<Arc<SqlStore>> {
    let store = cairn_store::connect(
        &config.database_url,
        StoreOptions {
            max_connections: config.max_connections,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| match e {
        cairn_core::StoreError::Unavailable(m) | cairn_core::StoreError::Internal(m) => {
            anyhow::anyhow!(m)
        }
        other => anyhow::anyhow!(other.to_string()),
    })?;
    Ok(Arc::new(store))
}

/// Read and apply a provisioning file.
pub async fn apply_file(
    cairn: &Cairn,
    path: &std::path::Path,
    actor_label: &str,
) -> Result<ApplyReport> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let plan: Plan =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    plan.apply(cairn, &Actor::system(actor_label))
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Print what applying did; generated token secrets are printed once, here.
pub fn print_report(report: &ApplyReport) {
    for c in &report.created {
        println!("created {c}");
    }
    for u in &report.updated {
        println!("updated {u}");
    }
    println!("{} unchanged", report.unchanged);
    for t in &report.generated_tokens {
        println!("token for {} ({}): {}", t.username, t.name, t.secret);
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Serve until SIGINT or SIGTERM. `announce` runs once the listener is bound.
pub async fn serve_with(
    config: Config,
    cairn: Cairn,
    store: Arc<SqlStore>,
    announce: impl FnOnce(std::net::SocketAddr),
) -> Result<()> {
    let settings = ServerSettings {
        max_body_bytes: config.max_body_bytes,
        request_timeout: Duration::from_secs(config.request_timeout_secs),
        auth_max_failures: config.auth_max_failures,
        auth_window: Duration::from_secs(config.auth_window_secs),
        taxii_max_content_length: config.taxii_max_content_length,
        max_attachment_bytes: config.max_attachment_bytes,
        max_document_bytes: config.max_document_bytes,
    };
    // Reminders to review RED and AMBER markings (communities with `review_after_days`), hourly.
    let sweeper = cairn.clone();
    let reminders = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match sweeper.remind_marking_reviews(cairn_core::ts::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(objects = n, "sent marking review reminders"),
                Err(e) => tracing::warn!(error = %e, "marking review reminders failed"),
            }
        }
    });
    // Versions stored before the search index existed are indexed in the background, oldest
    // first, a thousand per transaction; then the value hashes the hidden-match lookup keeps in
    // memory are read.
    let indexer = cairn.clone();
    let backlog = tokio::spawn(async move {
        let mut total = 0;
        loop {
            match indexer.index_backlog(1_000).await {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e) => {
                    tracing::warn!(error = %e, "indexing stored versions for search failed; retrying in a minute");
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
            }
        }
        if total > 0 {
            tracing::info!(versions = total, "indexed stored versions for search");
        }
        if let Err(e) = indexer.prepare_correlation().await {
            tracing::warn!(error = %e, "reading the value index ahead failed; the first publish reads it");
        }
    });
    let correlation = cairn.clone();
    let app = cairn_server::app(AppState::new(cairn, settings));
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    tracing::info!(%addr, tls = tls.is_some(), engine = %cairn_core::Store::engine(&*store).as_str(), "cairn is listening");
    announce(addr);
    cairn_server::serve(
        listener,
        app,
        tls,
        shutdown_signal(),
        Duration::from_secs(config.shutdown_grace_secs),
    )
    .await?;
    reminders.abort();
    backlog.abort();
    // Correlation notices of publishes that have answered are written before the store closes.
    correlation.settle_correlation().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// `cairn serve`.
pub async fn serve(config: Config) -> Result<()> {
    let (cairn, store) = open(&config, true).await?;
    if let Some(path) = &config.bootstrap {
        let report = apply_file(&cairn, path, "bootstrap").await?;
        print_report(&report);
    }
    serve_with(config, cairn, store, |_| {}).await
}
