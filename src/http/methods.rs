//! The answer for an address the API has but a method it does not: 405 with `Allow`, from the
//! OpenAPI document (the routes outside it are listed here).

use super::error::ApiError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use std::sync::OnceLock;

/// Routes served but not described in the OpenAPI document: the document and its viewer.
const UNDESCRIBED: &[(&str, &str)] = &[
    ("/api-docs/", "GET"),
    ("/api-docs/openapi.json", "GET"),
    ("/api-docs/init.js", "GET"),
    ("/api-docs/swagger-ui-bundle.js", "GET"),
    ("/api-docs/swagger-ui.css", "GET"),
];

/// One path template (`/api/v1/cases/{id}`) split at `/`, with its methods.
struct Route {
    segments: Vec<Option<String>>,
    methods: Vec<String>,
}

impl Route {
    fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        parts.len() == self.segments.len()
            && parts.iter().zip(&self.segments).all(|(p, s)| match s {
                Some(literal) => literal == p,
                None => !p.is_empty(),
            })
    }
}

fn table() -> &'static [Route] {
    static TABLE: OnceLock<Vec<Route>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let doc = super::docs::openapi();
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("PATCH", &item.patch),
            ] {
                if op.is_some() {
                    pairs.push((path.clone(), method.to_owned()));
                }
            }
        }
        pairs.extend(
            UNDESCRIBED
                .iter()
                .map(|(p, m)| ((*p).to_owned(), (*m).to_owned())),
        );
        let mut routes: Vec<Route> = Vec::new();
        for (path, method) in pairs {
            let segments: Vec<Option<String>> = path
                .split('/')
                .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                .collect();
            match routes.iter_mut().find(|r| r.segments == segments) {
                Some(r) => r.methods.push(method),
                None => routes.push(Route {
                    segments,
                    methods: vec![method],
                }),
            }
        }
        routes
    })
}

/// The methods the API answers at `path` (empty: no such address).
pub fn allowed(path: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = table()
        .iter()
        .filter(|r| r.matches(path))
        .flat_map(|r| r.methods.iter().map(String::as_str))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The default service: 405 with `Allow` for a known address, else 404.
pub async fn fallback(req: HttpRequest) -> HttpResponse {
    let allow = allowed(req.path());
    if allow.is_empty() {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Такого адреса в API нет: см. /api-docs/",
        )
        .error_response();
    }
    let list = allow.join(", ");
    let mut res = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("Этот адрес принимает только {list}"),
    )
    .error_response();
    if let Ok(v) = header::HeaderValue::from_str(&list) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}
