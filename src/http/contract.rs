//! What the OpenAPI document says beyond each handler's own annotation: the answers every
//! operation may give (the middleware's, the extractors', the session check's), the exact
//! shape of the shared headers, and the limits the handlers check on bodies and parameters.
//! Applied to the generated document once, so that the document is what the server does
//! (schemathesis in CI checks it with every check).

use serde_json::{Map, Value, json};

/// The answers any operation may give, by when they apply.
const COMMON: &[(&str, &str)] = &[
    (
        "400",
        "Malformed request: a query, header or body that cannot be parsed",
    ),
    (
        "401",
        "Not authenticated: the token is missing, invalid, expired, idle or revoked",
    ),
    (
        "403",
        "Not allowed for this role, or the consent to the transfer of data is pending",
    ),
    ("404", "No such resource (or not yours to see)"),
    ("413", "Body larger than allowed"),
    ("415", "The body is not JSON (Content-Type)"),
    (
        "429",
        "Too many failed logins or invalid tokens from this address: retry after Retry-After",
    ),
    (
        "503",
        "The database is unavailable: retry after Retry-After",
    ),
];

const UUID: &str = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    })
}

fn param_schema(path: &str, name: &str, location: &str) -> Option<Value> {
    Some(match (name, location) {
        ("If-Match", "header") => json!({
            "type": "string", "pattern": "^(W/)?\"[0-9]{1,18}\"$", "example": "\"3\""
        }),
        ("Idempotency-Key", "header") => json!({
            "type": "string", "pattern": "^[!-~]{1,255}$", "minLength": 1, "maxLength": 255
        }),
        ("format", "path") if path.contains("/reports/") => {
            json!({"type": "string", "enum": ["csv", "xlsx"]})
        }
        ("sort", "query") if path == "/api/v1/cases" => {
            json!({"type": ["string", "null"], "enum": ["created", "due", null]})
        }
        ("sort", "query") => json!({"type": ["string", "null"], "enum": ["due", "newest", null]}),
        ("assignee", "query") => {
            json!({"type": ["string", "null"], "pattern": format!("^(none|me|{UUID})$")})
        }
        ("code", "path") if path.contains("/subcommissions/") => {
            json!({"type": "string", "pattern": "^[a-z0-9_-]{1,50}$"})
        }
        _ => return None,
    })
}

fn operation(path: &str, op: &mut Map<String, Value>) {
    let params: Vec<(String, String)> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or_default().to_owned(),
                        p["in"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let secured = op.get("security").is_some_and(|s| s != &json!([]));
    let body = op.get("requestBody").cloned();
    let json_body = body
        .as_ref()
        .and_then(|b| b["content"].as_object())
        .is_some_and(|c| c.keys().any(|k| k.contains("json")));
    let mut codes: Vec<&str> = Vec::new();
    if secured {
        codes.extend(["401", "403", "429"]);
    }
    if body.is_some() || params.iter().any(|(_, at)| at == "query" || at == "header") {
        codes.push("400");
    }
    if params.iter().any(|(_, at)| at == "path") {
        codes.push("404");
    }
    if json_body {
        codes.extend(["413", "415"]);
    }
    if path != "/healthz" {
        codes.push("503");
    }
    if let Some(Value::Object(responses)) = op.get_mut("responses") {
        for code in codes {
            if let Some((_, description)) = COMMON.iter().find(|(c, _)| *c == code) {
                responses
                    .entry(code.to_owned())
                    .or_insert_with(|| error_response(description));
            }
        }
    }
    if let Some(Value::Array(ps)) = op.get_mut("parameters") {
        for p in ps.iter_mut() {
            let (name, at) = (
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["in"].as_str().unwrap_or_default().to_owned(),
            );
            if let Some(schema) = param_schema(path, &name, &at) {
                p["schema"] = schema;
            }
        }
    }
}

/// Limits the handlers check on bodies, by schema and property.
fn schemas(s: &mut Map<String, Value>) {
    let mut set = |schema: &str, property: &str, limits: Value| {
        if let Some(Value::Object(p)) = s
            .get_mut(schema)
            .and_then(|v| v.get_mut("properties"))
            .and_then(|v| v.get_mut(property))
            && let Value::Object(limits) = limits
        {
            p.extend(limits);
        }
    };
    set(
        "CreateCase",
        "workflow",
        json!({"minLength": 1, "maxLength": 100}),
    );
    set(
        "MessageBody",
        "body",
        json!({"minLength": 1, "maxLength": 4000, "pattern": "\\S"}),
    );
    set("MessageBody", "attachments", json!({"maxItems": 10}));
    set(
        "AttributesBody",
        "attributes",
        json!({"minProperties": 1, "maxProperties": 10}),
    );
    set("AttributesBody", "reason", json!({"maxLength": 4000}));
    set("TransitionBody", "reasons", json!({"maxItems": 20}));
    set("TransitionBody", "reason", json!({"maxLength": 4000}));
    set(
        "TransitionBody",
        "recommendations",
        json!({"maxLength": 4000}),
    );
    set("TransitionBody", "signature", json!({"maxLength": 700000}));
    set(
        "SubcommissionBody",
        "name",
        json!({"pattern": "\\S", "maxLength": 300}),
    );
    set("SubcommissionBody", "specialties", json!({"minItems": 1}));
    set("AgentBody", "line", json!({"enum": [1, 2]}));
    if let Some(Value::Object(items)) = s
        .get_mut("SubcommissionBody")
        .and_then(|v| v.pointer_mut("/properties/specialties/items"))
    {
        items.insert("pattern".into(), json!("^[0-9]{2}\\.[0-9]{2}\\.[0-9]{2}$"));
    }
    // The upload form: the type first, never empty (the file's limits depend on it).
    if let Some(Value::Object(form)) = s.get_mut("UploadForm")
        && let Some(Value::Object(props)) = form.get_mut("properties")
        && let (Some(mut ty), Some(file)) = (props.remove("type"), props.remove("file"))
    {
        ty["minLength"] = json!(1);
        props.insert("type".into(), ty);
        props.insert("file".into(), file);
    }
}

/// The document with the common answers, header shapes and body limits.
pub fn apply(mut doc: Value) -> Value {
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        for (path, item) in paths.iter_mut() {
            let Value::Object(item) = item else { continue };
            for method in ["get", "put", "post", "patch", "delete"] {
                if let Some(Value::Object(op)) = item.get_mut(method) {
                    operation(path, op);
                }
            }
        }
    }
    // A transition needing neither reason nor signature may be sent without a body.
    if let Some(Value::Object(body)) =
        doc.pointer_mut("/paths/~1api~1v1~1cases~1{id}~1transitions~1{name}/post/requestBody")
    {
        body.insert("required".into(), json!(false));
    }
    // The queue counts take the queue's filters but not its paging or order.
    if let Some(Value::Array(ps)) =
        doc.pointer_mut("/paths/~1api~1v1~1review~1queue~1counts/get/parameters")
    {
        ps.retain(|p| !matches!(p["name"].as_str(), Some("sort" | "cursor" | "limit")));
    }
    if let Some(Value::Object(s)) = doc.pointer_mut("/components/schemas") {
        schemas(s);
    }
    doc
}
