//! Prometheus metrics in the text exposition format: request counts and durations by route
//! template and status, and authentication failures by reason.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use cairn_core::correlator::CorrelationProgress;

use crate::AppState;

/// (method, route template, status) -> (count, seconds).
type RequestTable = BTreeMap<(String, String, u16), (u64, f64)>;

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<RequestTable>,
    auth_failures: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let e = m
            .entry((method.to_string(), route.to_string(), status))
            .or_default();
        e.0 += 1;
        e.1 += seconds;
    }

    pub fn auth_failure(&self, reason: &str) {
        let mut m = self.auth_failures.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(reason.to_string()).or_default() += 1;
    }

    /// The exposition text.
    pub fn render(&self, store_up: bool, correlation: CorrelationProgress) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP cairn_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE cairn_http_requests_total counter\n");
        let reqs = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        for ((method, route, status), (count, _)) in reqs.iter() {
            out.push_str(&format!(
                "cairn_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}\n",
                escape(route)
            ));
        }
        out.push_str("# HELP cairn_http_request_duration_seconds_sum Time spent answering, by method, route and status.\n");
        out.push_str("# TYPE cairn_http_request_duration_seconds_sum counter\n");
        for ((method, route, status), (_, secs)) in reqs.iter() {
            out.push_str(&format!(
                "cairn_http_request_duration_seconds_sum{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {secs:.6}\n",
                escape(route)
            ));
        }
        drop(reqs);
        out.push_str("# HELP cairn_auth_failures_total Refused credentials by reason.\n");
        out.push_str("# TYPE cairn_auth_failures_total counter\n");
        for (reason, count) in self
            .auth_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            out.push_str(&format!(
                "cairn_auth_failures_total{{reason=\"{reason}\"}} {count}\n"
            ));
        }
        out.push_str("# HELP cairn_store_up Whether the store answered the last probe.\n");
        out.push_str("# TYPE cairn_store_up gauge\n");
        out.push_str(&format!("cairn_store_up {}\n", u8::from(store_up)));
        out.push_str("# HELP cairn_correlation_jobs_submitted_total Publishes queued for the correlation worker (hidden-match lookups, notices of feedback published as STIX).\n");
        out.push_str("# TYPE cairn_correlation_jobs_submitted_total counter\n");
        out.push_str(&format!(
            "cairn_correlation_jobs_submitted_total {}\n",
            correlation.submitted
        ));
        out.push_str("# HELP cairn_correlation_jobs_finished_total Of those, the ones whose lookup and notices are done.\n");
        out.push_str("# TYPE cairn_correlation_jobs_finished_total counter\n");
        out.push_str(&format!(
            "cairn_correlation_jobs_finished_total {}\n",
            correlation.finished
        ));
        out
    }
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Middleware recording every request under its route template (never the raw path, so
/// identifiers do not explode the label set).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    state.metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
