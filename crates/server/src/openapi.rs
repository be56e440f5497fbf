//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    audit, communities, documents, feedback, meta, objects, organizations, release, search, users,
};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Cairn API", description = "Information exchange between organizations (ISO 22396) and coordinated incident management (ISO/IEC 27035-4)."),
    modifiers(&Security),
    paths(
        meta::healthz, meta::readyz, meta::metrics, meta::me,
        organizations::list, organizations::create, organizations::get, organizations::update,
        organizations::verify, organizations::keys, organizations::rotate_key,
        organizations::published_keys,
        users::list, users::create, users::get, users::update, users::tokens, users::create_token,
        users::revoke_token,
        communities::list, communities::create, communities::get, communities::update,
        communities::members, communities::put_member, communities::remove_member,
        communities::designate, communities::withdraw,
        objects::list, objects::publish, objects::signatures, objects::community_keys,
        objects::preview_sanitization, objects::get_sanitization, objects::put_sanitization,
        objects::reveal, objects::reveals,
        release::change_marking, release::marking_history, release::request_release, release::list,
        release::get, release::decide, release::notifications, release::mark_read,
        release::reviews_due,
        feedback::post_sighting, feedback::put_opinion, feedback::post_comment, feedback::comments,
        feedback::summary,
        documents::publish, documents::content,
        search::values, search::text, search::correlations,
        audit::list,
    ),
    components(schemas(crate::error::ErrorBody, cairn_core::TlpLevel))
)]
struct ApiDoc;

/// The document served at `/api/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
