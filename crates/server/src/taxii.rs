//! TAXII 2.1: discovery, one API root per community, one collection per community holding its
//! shared objects, manifest, objects, object, versions and status, with every filter and
//! pagination. Every read goes through the core, which asks the store with the viewer, so the
//! entitlement rule is in every query. Errors use the one status table of [`crate::error`] and
//! are rendered as TAXII error resources.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_core::exchange::{ObjectPage, ResultKind, ShareReport};
use cairn_core::model::{Actor, Community};
use cairn_core::paging;
use cairn_core::service::Session;
use cairn_core::sharing::{ObjectQuery, VersionMatch};
use cairn_core::{ts, CoreError};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::MaybeCaller;
use crate::AppState;

/// The TAXII 2.1 media type.
pub const TAXII_MEDIA: &str = "application/taxii+json;version=2.1";
/// The STIX 2.1 media type of objects in a collection.
pub const STIX_MEDIA: &str = "application/stix+json;version=2.1";
/// Largest page a client may ask for; larger `limit`s are clamped.
pub const MAX_PAGE: i64 = 1000;
/// Page size when the client gives no `limit`.
pub const DEFAULT_PAGE: i64 = 100;

/// An error rendered as a TAXII error resource.
#[derive(Debug)]
pub struct TaxiiError(pub ApiError);

impl<E: Into<ApiError>> From<E> for TaxiiError {
    fn from(e: E) -> Self {
        TaxiiError(e.into())
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let body = json!({
            "title": e.code.replace('_', " "),
            "description": e.message,
            "error_code": e.code,
            "http_status": e.status.as_u16().to_string(),
            "details": e.details,
        });
        let mut r = taxii_json(e.status, body.to_string());
        if e.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"cairn\", charset=\"UTF-8\""),
            );
            r.headers_mut().append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cairn\""),
            );
        }
        if let Some(secs) = e.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

type TaxiiResult = Result<Response, TaxiiError>;

fn taxii_json(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII_MEDIA));
    r
}

fn bad(message: impl Into<String>) -> TaxiiError {
    TaxiiError(ApiError::bad_request(message))
}

/// The caller, if credentials were sent; refusals rendered as TAXII errors.
#[derive(Debug)]
pub struct TaxiiCaller(pub Option<Session>);

impl FromRequestParts<AppState> for TaxiiCaller {
    type Rejection = TaxiiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, TaxiiError> {
        check_accept(&parts.headers)?;
        let MaybeCaller(session) = MaybeCaller::from_request_parts(parts, state).await?;
        Ok(TaxiiCaller(session))
    }
}

impl TaxiiCaller {
    fn actor(&self) -> Option<&Actor> {
        self.0.as_ref().map(|s| &s.actor)
    }

    fn require(&self) -> Result<&Actor, TaxiiError> {
        self.actor()
            .ok_or_else(|| TaxiiError(ApiError::unauthenticated()))
    }

    /// Map "not found" to 401 for anonymous callers: they may simply not have logged in.
    fn hide(&self, e: CoreError) -> TaxiiError {
        match (&e, &self.0) {
            (CoreError::NotFound(_), None) => TaxiiError(ApiError::unauthenticated()),
            _ => e.into(),
        }
    }
}

/// Parse one media type into (type, version parameter).
fn media(text: &str) -> (String, Option<String>) {
    let mut parts = text.split(';');
    let ty = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let mut version = None;
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("version") {
                version = Some(v.trim().trim_matches('"').to_string());
            }
        }
    }
    (ty, version)
}

/// Accept must allow TAXII 2.1 JSON (leniently: spacing, quality values, `*/*`); a missing
/// header is taken as `*/*`.
fn check_accept(headers: &HeaderMap) -> Result<(), TaxiiError> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(());
    };
    let text = accept.to_str().unwrap_or("");
    let ok = text.split(',').any(|range| {
        let (ty, version) = media(range);
        let q_zero = range.split(';').any(|p| p.trim().replace(' ', "") == "q=0");
        !q_zero
            && match ty.as_str() {
                "application/taxii+json" => version.is_none_or(|v| v == "2.1"),
                "*/*" | "application/*" => true,
                _ => false,
            }
    });
    if ok {
        Ok(())
    } else {
        Err(TaxiiError(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            format!(
                "this endpoint serves {TAXII_MEDIA}; the Accept header `{}` does not allow it",
                cairn_core::validate::clip(text)
            ),
        )))
    }
}

// ---------- filters ----------

/// Which filters an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Objects,
    Manifest,
    Object,
    Versions,
    Delete,
}

impl Endpoint {
    fn takes(self, key: &str) -> bool {
        match self {
            Endpoint::Objects | Endpoint::Manifest => true,
            Endpoint::Object => !matches!(key, "match[id]" | "match[type]"),
            Endpoint::Versions => matches!(
                key,
                "added_after" | "limit" | "next" | "match[spec_version]"
            ),
            Endpoint::Delete => matches!(key, "match[version]" | "match[spec_version]"),
        }
    }
}

struct Filters {
    query: ObjectQuery,
    fingerprint: String,
    next: Option<String>,
}

fn split_values(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_filters(
    endpoint: Endpoint,
    params: &[(String, String)],
    default_versions: VersionMatch,
) -> Result<Filters, TaxiiError> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in params {
        if !endpoint.takes(k) {
            continue;
        }
        if seen.insert(k.as_str(), v.as_str()).is_some() {
            return Err(bad(format!("the parameter `{}` is given more than once; give several values separated by commas", cairn_core::validate::clip(k))));
        }
    }
    let mut q = ObjectQuery {
        limit: DEFAULT_PAGE,
        versions: default_versions,
        ..Default::default()
    };
    if let Some(v) = seen.get("added_after") {
        let at = ts::parse(v).ok_or_else(|| bad(format!("added_after: `{}` is not an RFC 3339 timestamp such as 2026-01-31T12:00:00.000000Z", cairn_core::validate::clip(v))))?;
        q.added_after = Some(at);
    }
    if let Some(v) = seen.get("limit") {
        let n: i64 = v.parse().map_err(|_| {
            bad(format!(
                "limit: `{}` is not a positive whole number",
                cairn_core::validate::clip(v)
            ))
        })?;
        if n <= 0 {
            return Err(bad(format!("limit: must be at least 1, not {n}")));
        }
        q.limit = n.min(MAX_PAGE);
    }
    if let Some(v) = seen.get("match[id]") {
        q.ids = split_values(v);
    }
    if let Some(v) = seen.get("match[type]") {
        q.types = split_values(v);
    }
    if let Some(v) = seen.get("match[spec_version]") {
        q.spec_versions = split_values(v);
    }
    if let Some(v) = seen.get("match[version]") {
        let values = split_values(v);
        q.versions = match values.as_slice() {
            [one] if one == "last" => VersionMatch::Last,
            [one] if one == "first" => VersionMatch::First,
            [one] if one == "all" => VersionMatch::All,
            _ => {
                let (mut first, mut last, mut keys) = (false, false, Vec::new());
                for value in &values {
                    match value.as_str() {
                        "all" => return Err(bad("match[version]: `all` cannot be combined with other values")),
                        "first" => first = true,
                        "last" => last = true,
                        _ => keys.push(cairn_core::sharing::parse_version_key(value).ok_or_else(|| {
                            bad(format!("match[version]: `{}` is neither last, first, all nor a timestamp", cairn_core::validate::clip(value)))
                        })?),
                    }
                }
                if values.is_empty() {
                    return Err(bad("match[version]: give last, first, all or timestamps"));
                }
                VersionMatch::AnyOf { first, last, keys }
            }
        };
    }
    let fingerprint_parts: Vec<String> = seen
        .iter()
        .filter(|(k, _)| !matches!(**k, "next" | "limit"))
        .map(|(k, v)| format!("{k}={v}"))
        .chain(std::iter::once(format!("{endpoint:?}")))
        .collect();
    let refs: Vec<&str> = fingerprint_parts.iter().map(String::as_str).collect();
    Ok(Filters {
        query: q,
        fingerprint: paging::fingerprint(&refs),
        next: seen.get("next").map(|s| s.to_string()),
    })
}

/// Resolve `next` into a position, or refuse it.
fn apply_next(state: &AppState, filters: &mut Filters) -> Result<(), TaxiiError> {
    if let Some(token) = &filters.next {
        let now = ts::now().unix_timestamp();
        let position = paging::open(state.cairn.master_key(), token, &filters.fingerprint, now)
            .map_err(|e| bad(e.message()))?;
        filters.query.after_seq = Some(position);
    }
    Ok(())
}

fn next_token(state: &AppState, filters: &Filters, page: &ObjectPage) -> Option<String> {
    if !page.more {
        return None;
    }
    let last = page.objects.last()?;
    Some(paging::seal(
        state.cairn.master_key(),
        last.seq,
        &filters.fingerprint,
        ts::now().unix_timestamp(),
    ))
}

fn with_date_headers(mut r: Response, page: &ObjectPage) -> Response {
    if let (Some(first), Some(last)) = (page.objects.first(), page.objects.last()) {
        for (name, at) in [
            ("x-taxii-date-added-first", first.date_added),
            ("x-taxii-date-added-last", last.date_added),
        ] {
            if let Ok(v) = HeaderValue::from_str(&ts::format(at)) {
                r.headers_mut().insert(name, v);
            }
        }
    }
    r
}

// ---------- handlers ----------

/// `GET /taxii2/`: the API roots the caller may read.
pub async fn discovery(State(state): State<AppState>, caller: TaxiiCaller) -> TaxiiResult {
    let roots: Vec<String> = state
        .cairn
        .readable_communities(caller.actor())
        .await?
        .iter()
        .map(|c| format!("/taxii2/{}/", c.slug))
        .collect();
    let mut body = json!({
        "title": "Cairn",
        "description": "Information exchange between organizations: one API root per community.",
        "contact": "the node operator",
    });
    if let Some(first) = roots.first() {
        body["default"] = json!(first);
        body["api_roots"] = json!(roots);
    }
    Ok(taxii_json(StatusCode::OK, body.to_string()))
}

async fn community(
    state: &AppState,
    caller: &TaxiiCaller,
    root: &str,
) -> Result<(Community, bool, bool), TaxiiError> {
    state
        .cairn
        .collection_rights(caller.actor(), root)
        .await
        .map_err(|e| caller.hide(e))
}

/// `GET /taxii2/{root}/`.
pub async fn api_root(
    State(state): State<AppState>,
    caller: TaxiiCaller,
    Path(root): Path<String>,
) -> TaxiiResult {
    let (c, _, _) = community(&state, &caller, &root).await?;
    let body = json!({
        "title": c.name,
        "description": c.description,
        "versions": [TAXII_MEDIA],
        "max_content_length": state.settings.taxii_max_content_length,
    });
    Ok(taxii_json(StatusCode::OK, body.to_string()))
}

fn collection_body(c: &Community, can_read: bool, can_write: bool) -> Value {
    json!({
        "id": c.id,
        "title": format!("{} shared objects", c.name),
        "description": format!("STIX 2.1 objects shared in {}; each object is visible as its TLP marking and audience allow (default marking TLP:{}).", c.name, c.default_tlp.as_str().to_ascii_uppercase().replace('_', "+")),
        "can_read": can_read,
        "can_write": can_write,
        "media_types": [STIX_MEDIA],
    })
}

/// `GET /taxii2/{root}/collections/`.
pub async fn collections(
    State(state): State<AppState>,
    caller: TaxiiCaller,
    Path(root): Path<String>,
) -> TaxiiResult {
    let (c, r, w) = community(&state, &caller, &root).await?;
    Ok(taxii_json(
        StatusCode::OK,
        json!({"collections": [collection_body(&c, r, w)]}).to_string(),
    ))
}

async fn collection_of(
    state: &AppState,
    caller: &TaxiiCaller,
    root: &str,
    id: &str,
) -> Result<(Community, bool, bool), TaxiiError> {
    let (c, r, w) = community(state, caller, root).await?;
    if Uuid::parse_str(id).ok() != Some(c.id) {
        return Err(TaxiiError(ApiError::not_found(format!(
            "collection `{}` not found",
            cairn_core::validate::clip(id)
        ))));
    }
    Ok((c, r, w))
}

fn must_read(can_read: bool) -> Result<(), TaxiiError> {
    if can_read {
        Ok(())
    } else {
        Err(TaxiiError(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "you may not read this collection",
        )))
    }
}

/// `GET {collection}/`.
pub async fn collection(
    State(state): State<AppState>,
    caller: TaxiiCaller,
    Path((root, id)): Path<(String, String)>,
) -> TaxiiResult {
    let (c, r, w) = collection_of(&state, &caller, &root, &id).await?;
    Ok(taxii_json(
        StatusCode::OK,
        collection_body(&c, r, w).to_string(),
    ))
}

async fn read_page(
    state: &AppState,
    caller: &TaxiiCaller,
    root: &str,
    id: &str,
    endpoint: Endpoint,
    params: &[(String, String)],
    object: Option<&str>,
) -> Result<(Filters, ObjectPage), TaxiiError> {
    let default = if endpoint == Endpoint::Versions {
        VersionMatch::All
    } else {
        VersionMatch::Last
    };
    let mut filters = parse_filters(endpoint, params, default)?;
    if let Some(o) = object {
        filters.query.ids = vec![o.to_string()];
    }
    apply_next(state, &mut filters)?;
    // The core finds the community and the viewer once: whoever it lets read the page may read
    // the collection (a member, or anyone on a public feed).
    let page = state
        .cairn
        .objects(caller.actor(), root, &filters.query)
        .await
        .map_err(|e| caller.hide(e))?;
    if Uuid::parse_str(id).ok() != Some(page.community.id) {
        return Err(TaxiiError(ApiError::not_found(format!(
            "collection `{}` not found",
            cairn_core::validate::clip(id)
        ))));
    }
    Ok((filters, page))
}

fn envelope(state: &AppState, filters: &Filters, page: &ObjectPage) -> Response {
    if page.objects.is_empty() {
        return taxii_json(StatusCode::OK, "{}".into());
    }
    let mut body =
        String::with_capacity(page.objects.iter().map(|o| o.raw.len() + 1).sum::<usize>() + 64);
    body.push_str(&format!("{{\"more\":{}", page.more));
    if let Some(next) = next_token(state, filters, page) {
        body.push_str(&format!(",\"next\":{}", json!(next)));
    }
    body.push_str(",\"objects\":[");
    for (i, o) in page.objects.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&o.raw);
    }
    body.push_str("]}");
    with_date_headers(taxii_json(StatusCode::OK, body), page)
}

/// `GET {collection}/objects/`.
pub async fn get_objects(
    State(state): State<AppState>,
    caller: TaxiiCaller,
    Path((root, id)): Path<(String, String)>,
    params: Params,
) -> TaxiiResult {
    let (filters, page) = read_page(
        &state,
        &caller,
        &root,
        &id,
        Endpoint::Objects,
        &params.0,
        None,
    )
    .await?;
    Ok(envelope(&state, &filters, &page))
}

/// `GET {collection}/manifest/`.
pub async fn manifest(
    State(state): State<AppState>,
    caller: TaxiiCaller,
    Path((root, id)): Path<(String, String)>,
    params: Params,
) -> TaxiiResult {
    let (filters, page) = read_page(
        &state,
        &caller,
        &root,
        &id,
        Endpoint::Manifest,
        &params.0,
        None,
    )
    .await?;
    if page.objects.is_empty() {
        return Ok(taxii_json(StatusCode::OK, "{}".into()));
    }
    let objects: Vec<Value> = page
        .objects
        .iter()
        .map(|o| json!({"id": o.object_id, "date_added": ts::format(o.date_added), "version": o.version, "media_type": STIX_MEDIA}))
        .collect();
    let mut body = json!({"more": page.more, "objects": objects});
    if let Some(next) = next_token(&state, &filters, &page) {
        body["next"] = json!(next);
    }
    Ok(with_date_headers(
        taxii_json(StatusCode::OK, body.to_string()),
        &page,
    ))
}

/// 404 if the viewer can see no version of the object at all (filters aside).
async fn exists(
    state: &AppState,
    caller: &TaxiiCaller,
    community: &str,
    object: &str,
) -> Result<(), TaxiiError> {
    let q = ObjectQuery {
        ids: vec![object.to_string()],
        versions: VersionMatch::All,
        limit: 1,
        ..Default::default()
    };
    let page = state
        .cairn
        .objects(caller.actor(), community, &q)
        .await
        .map_err(|e| caller.hide(e))?;
    if page.objects.is_empty() {
        return Err(TaxiiError(ApiError::not_found(format!(
            "object `{}` not found",
            cairn_core::validate::clip(object)
        ))));
    }
    Ok(())
}

/// `GET {collection}/objects/{object}/`.
pub async fn get_object(
    State(state): State<AppState>,
    caller: TaxiiCaller,
    Path((root, id, object)): Path<(String, String, String)>,
    params: Params,
) -> TaxiiResult {
    let (filters, page) = read_page(
        &state,
        &caller,
        &root,
        &id,
        Endpoint::Object,
        &params.0,
        Some(&object),
    )
    .await?;
    if page.objects.is_empty() {
        exists(&state, &caller, &page.community.id.to_string(), &object).await?;
    }
    Ok(envelope(&state, &filters, &page))
}

/// `GET {collection}/objects/{object}/versions/`.
pub async fn versions(
    State(state): State<AppState>,
    caller: TaxiiCaller,
    Path((root, id, object)): Path<(String, String, String)>,
    params: Params,
) -> TaxiiResult {
    let (filters, page) = read_page(
        &state,
        &caller,
        &root,
        &id,
        Endpoint::Versions,
        &params.0,
        Some(&object),
    )
    .await?;
    if page.objects.is_empty() {
        exists(&state, &caller, &page.community.id.to_string(), &object).await?;
        return Ok(taxii_json(StatusCode::OK, "{}".into()));
    }
    let versions: Vec<&str> = page.objects.iter().map(|o| o.version.as_str()).collect();
    let mut body = json!({"more": page.more, "versions": versions});
    if let Some(next) = next_token(&state, &filters, &page) {
        body["next"] = json!(next);
    }
    Ok(with_date_headers(
        taxii_json(StatusCode::OK, body.to_string()),
        &page,
    ))
}

/// `DELETE {collection}/objects/{object}/`: the source organization only.
pub async fn delete_object(
    State(state): State<AppState>,
    caller: TaxiiCaller,
    Path((root, id, object)): Path<(String, String, String)>,
    params: Params,
) -> TaxiiResult {
    let actor = caller.require()?;
    let (c, can_read, can_write) = collection_of(&state, &caller, &root, &id).await?;
    if !can_read && !can_write {
        return Err(TaxiiError(ApiError::not_found("collection not found")));
    }
    must_read(can_read)?;
    let filters = parse_filters(Endpoint::Delete, &params.0, VersionMatch::All)?;
    state
        .cairn
        .delete_object(actor, &c.id.to_string(), &object, &filters.query)
        .await?;
    let mut r = Response::new(Body::empty());
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII_MEDIA));
    Ok(r)
}

/// A status resource's text, written straight from the report (an envelope of 1,000 objects
/// has 1,000 entries).
fn status_body(status_id: Uuid, requested: &str, report: &ShareReport) -> String {
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        id: &'a str,
        version: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<&'a str>,
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        id: Uuid,
        status: &'static str,
        request_timestamp: &'a str,
        total_count: usize,
        success_count: usize,
        failure_count: usize,
        pending_count: usize,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        successes: Vec<Entry<'a>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        failures: Vec<Entry<'a>>,
    }
    fn entry(r: &cairn_core::exchange::ObjectResult) -> Entry<'_> {
        Entry {
            id: &r.id,
            version: &r.version,
            message: r.message.as_deref(),
        }
    }
    let (failed, succeeded): (Vec<_>, Vec<_>) = report
        .results
        .iter()
        .partition(|r| r.outcome == ResultKind::Refused);
    let body = Body {
        id: status_id,
        status: "complete",
        request_timestamp: requested,
        total_count: report.results.len(),
        success_count: succeeded.len(),
        failure_count: failed.len(),
        pending_count: 0,
        successes: succeeded.into_iter().map(entry).collect(),
        failures: failed.into_iter().map(entry).collect(),
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// `POST {collection}/objects/`: publish an envelope; 202 with a complete status.
pub async fn post_objects(
    State(state): State<AppState>,
    caller: TaxiiCaller,
    Path((root, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> TaxiiResult {
    let actor = caller.require()?.clone();
    let (c, can_read, can_write) = collection_of(&state, &caller, &root, &id).await?;
    if !can_write {
        return Err(TaxiiError(if can_read {
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", "you may not write to this collection (members' analysts and admins may; observers and read-only users may not)")
        } else {
            ApiError::not_found("collection not found")
        }));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (ty, version) = media(content_type);
    if ty != "application/taxii+json" || version.is_some_and(|v| v != "2.1") {
        return Err(TaxiiError(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "send the envelope as Content-Type: {TAXII_MEDIA}, not `{}`",
                cairn_core::validate::clip(content_type)
            ),
        )));
    }
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            TaxiiError(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the envelope is larger than max_content_length ({} bytes)",
                    state.settings.taxii_max_content_length
                ),
            ))
        } else {
            bad(r.body_text())
        }
    })?;
    let requested = ts::format(ts::now());
    let user_id = actor
        .user_id
        .ok_or_else(|| TaxiiError(ApiError::unauthenticated()))?;
    let status_id = Uuid::new_v4();
    // The status is kept in the share's own transaction.
    let keep = cairn_core::exchange::StatusRequest {
        id: status_id,
        user_id,
        body: Box::new(move |report| status_body(status_id, &requested, report)),
    };
    let (_, _, status) = state
        .cairn
        .share_envelope_with_status(
            &actor,
            &c.id.to_string(),
            &body,
            cairn_core::exchange::ShareOptions::default(),
            keep,
        )
        .await
        .map_err(|e| match e {
            CoreError::Invalid { message, .. } => TaxiiError(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable",
                message,
            )),
            other => other.into(),
        })?;
    Ok(taxii_json(StatusCode::ACCEPTED, status.body))
}

/// `GET {root}/status/{id}/`: only for the poster.
pub async fn status(
    State(state): State<AppState>,
    caller: TaxiiCaller,
    Path((root, id)): Path<(String, String)>,
) -> TaxiiResult {
    let actor = caller.require()?;
    let (c, _, _) = community(&state, &caller, &root).await?;
    let status = state.cairn.status(actor, &c, &id).await?;
    Ok(taxii_json(StatusCode::OK, status.body))
}

/// Query parameters as pairs (so `match[type]` and repeated keys can be seen).
#[derive(Debug)]
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = TaxiiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, TaxiiError> {
        Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|e| bad(format!("query string: {}", e.body_text())))
    }
}

/// 404 in the TAXII shape for anything else under `/taxii2/`.
pub async fn not_found() -> TaxiiError {
    TaxiiError(ApiError::not_found(
        "no such TAXII endpoint (paths end in `/`)",
    ))
}
