//! OpenAPI 3.1 document generated from the code, and an offline Swagger UI viewer.

use actix_web::{HttpResponse, get, http::header};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "accredo", description = "Кабинет аккредитации медицинских работников: API движка процессов"),
    paths(
        super::cases::create_case,
        super::cases::get_case,
        super::cases::list_cases,
        super::cases::patch_form,
        super::cases::run_transition,
        super::cases::put_attributes,
        super::cases::case_history,
        super::documents::upload,
        super::documents::list,
        super::documents::download,
        super::documents::remove,
        super::documents::replace,
        super::documents::readiness,
        super::signing::signing_payload,
        super::signing::receipt_pdf,
        super::signing::receipt_xml,
        super::workflows::list_workflows,
        super::workflows::get_workflow,
        super::me::me,
        super::me::consent,
        super::me::sessions,
        super::me::end_session,
        super::me::notifications,
        super::me::notification_read,
        super::preferences::get_preferences,
        super::preferences::put_preferences,
        super::reports::cases_table,
        super::reports::decisions_table,
        super::reports::stages,
        super::results::result_pdf,
        super::results::result_xml,
        super::messages::list,
        super::messages::post,
        super::review::queue,
        super::review::queue_counts,
        super::review::assign,
        super::review::list_subcommissions,
        super::review::put_subcommission,
        super::review::add_member,
        super::review::remove_member,
        super::support::my_requests,
        super::support::queue,
        super::support::people,
        super::support::stats,
        super::support::agents,
        super::support::put_agent,
        super::support::remove_agent,
        super::admin::registry_runs,
        super::admin::notifications,
        super::admin::retry_notification,
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        super::login::begin,
        super::login::callback,
        super::login::logout,
        super::login::refresh,
    ),
    modifiers(&SessionAuth)
)]
struct ApiDoc;

struct SessionAuth;

impl Modify for SessionAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The served document: the generated one with the answers, header shapes and limits every
/// operation shares ([`super::contract`]).
pub fn document() -> &'static serde_json::Value {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| super::contract::apply(serde_json::to_value(openapi()).unwrap_or_default()))
}

#[get("/api-docs/openapi.json")]
async fn openapi_json(state: actix_web::web::Data<super::AppState>) -> HttpResponse {
    // The workflows a case may be opened in are this server's catalogue.
    let mut doc = document().clone();
    let ids: Vec<&str> = state
        .catalog
        .list()
        .map(|w| w.definition.id.as_str())
        .collect();
    if let Some(p) = doc.pointer_mut("/components/schemas/CreateCase/properties/workflow") {
        p["enum"] = serde_json::json!(ids);
    }
    HttpResponse::Ok().json(doc)
}

const INDEX: &str = r##"<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>accredo API</title>
<link rel="stylesheet" href="/api-docs/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/api-docs/swagger-ui-bundle.js"></script>
<script src="/api-docs/init.js"></script>
</body></html>"##;

/// The viewer page's policy: its own scripts, styles and the spec from this server, images
/// from here or inline `data:` (the stylesheet's icons), nothing from anywhere else, no inline
/// code, and no framing. Swagger UI sets element styles through the DOM, which `style-src`
/// does not govern, so `'unsafe-inline'` is not needed.
pub const VIEWER_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

#[get("/api-docs/")]
async fn viewer() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, VIEWER_POLICY))
        .body(INDEX)
}

#[get("/api-docs/init.js")]
async fn viewer_init() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(&include_bytes!("viewer/init.js")[..])
}

#[get("/api-docs/swagger-ui-bundle.js")]
async fn viewer_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(&include_bytes!("viewer/swagger-ui-bundle.js")[..])
}

#[get("/api-docs/swagger-ui.css")]
async fn viewer_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(&include_bytes!("viewer/swagger-ui.css")[..])
}

/// Registers the documentation routes.
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(openapi_json)
        .service(viewer)
        .service(viewer_init)
        .service(viewer_js)
        .service(viewer_css);
}
