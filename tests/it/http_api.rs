//! HTTP behaviour: error bodies, limits, request ids, documentation.

use crate::support::{TestApp, json_of, serve_with_documents};
use accredo::workers::{Pass, Start};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn malformed_json_gets_400_with_request_id() {
    let app = TestApp::spawn().await;
    let me = app.specialist("alice");
    let res = app
        .client
        .post(format!("{}/api/v1/cases", app.base))
        .bearer_auth(&me)
        .header("content-type", "application/json")
        .body("{\"workflow\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 400);
    let rid = res.headers()["x-request-id"]
        .to_str()
        .expect("rid")
        .to_owned();
    let body = json_of(res).await;
    assert_eq!(body["code"], "malformed_json");
    assert_eq!(body["request_id"], rid.as_str());
    assert!(body["message"].as_str().expect("m").contains("JSON"));
    assert_eq!(body["details"], json!([]));
}

#[tokio::test]
async fn wrong_shape_and_content_type_are_refused() {
    let app = TestApp::spawn().await;
    let me = app.specialist("alice");
    let res = app
        .call(
            Method::POST,
            "/api/v1/cases",
            Some(&me),
            &[],
            Some(json!({"workflow": 5})),
        )
        .await;
    assert_eq!(
        (res.status().as_u16(), json_of(res).await["code"].clone()),
        (400, json!("invalid_body"))
    );
    let res = app
        .client
        .post(format!("{}/api/v1/cases", app.base))
        .bearer_auth(&me)
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .expect("send");
    assert_eq!(
        (res.status().as_u16(), json_of(res).await["code"].clone()),
        (415, json!("unsupported_media_type"))
    );
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused() {
    let app = TestApp::spawn().await;
    let me = app.specialist("alice");
    let (id, v) = app.create_case(&me, "periodic_accreditation").await;
    // Declared too large: refused before the body is read.
    let head = format!(
        "PATCH /api/v1/cases/{id}/form HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {me}\r\nIf-Match: \"{v}\"\r\nContent-Type: application/json\r\nContent-Length: 1100000\r\n\r\n"
    );
    let (status, body) = raw_exchange(&app, head, 1_100_000, false).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("payload_too_large"), "{body}");
    let head_lower = body.to_ascii_lowercase();
    assert!(
        head_lower.contains("cache-control: no-store")
            && head_lower.contains("x-content-type-options: nosniff"),
        "{body}"
    );
    // Streamed without a length: reading stops at the limit all the same.
    let head = format!(
        "PATCH /api/v1/cases/{id}/form HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {me}\r\nIf-Match: \"{v}\"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let (status, body) = raw_exchange(&app, head, 1_100_000, true).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("payload_too_large"), "{body}");
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    assert_eq!(case["version"].as_i64(), Some(v));
}

#[tokio::test]
async fn unknown_routes_and_ids_get_json_errors() {
    let app = TestApp::spawn().await;
    let me = app.specialist("alice");
    let res = app.get("/api/v1/nowhere", &me).await;
    assert_eq!(
        (res.status().as_u16(), json_of(res).await["code"].clone()),
        (404, json!("not_found"))
    );
    let res = app.get("/api/v1/cases/not-a-uuid", &me).await;
    assert_eq!(
        (res.status().as_u16(), json_of(res).await["code"].clone()),
        (404, json!("case_not_found"))
    );
    let res = app
        .call(Method::GET, "/api/v1/workflows/nope", None, &[], None)
        .await;
    assert_eq!(
        (res.status().as_u16(), json_of(res).await["code"].clone()),
        (404, json!("workflow_not_found"))
    );
}

#[tokio::test]
async fn workflows_are_listed() {
    let app = TestApp::spawn().await;
    let res = app
        .call(
            Method::GET,
            "/api/v1/workflows/periodic_accreditation",
            None,
            &[],
            None,
        )
        .await;
    let body = json_of(res).await;
    assert_eq!(body["version"], 5);
    assert_eq!(
        body["rejection_reasons"][0],
        json!({"code": "documents_incomplete", "text": "Представлен неполный комплект документов"})
    );
    assert_eq!(body["states"][2]["label"], "На рассмотрении");
    assert_eq!(body["document_types"][0]["max_size_kb"], 2048);
}

#[tokio::test]
async fn openapi_document_and_offline_viewer() {
    let app = TestApp::spawn().await;
    let doc = json_of(
        app.call(Method::GET, "/api-docs/openapi.json", None, &[], None)
            .await,
    )
    .await;
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    for path in [
        "/api/v1/cases",
        "/api/v1/cases/{id}/transitions/{name}",
        "/api/v1/cases/{id}/form",
        "/api/v1/cases/{id}/history",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    assert!(doc["components"]["schemas"].get("ErrorBody").is_some());
    let page = app
        .call(Method::GET, "/api-docs/", None, &[], None)
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("/api-docs/swagger-ui-bundle.js"));
    assert!(
        !page.contains("https://"),
        "viewer loads nothing from outside"
    );
    let js = app
        .call(
            Method::GET,
            "/api-docs/swagger-ui-bundle.js",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(js.status(), 200);
    assert!(js.bytes().await.expect("js").len() > 1_000_000);
}

#[tokio::test]
async fn readiness_names_each_part_and_a_stopped_worker_makes_it_503() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.call(Method::GET, "/healthz", None, &[], None)
            .await
            .status(),
        200
    );
    let r = app.call(Method::GET, "/readyz", None, &[], None).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["status"], "ready", "{body}");
    let checks = &body["checks"];
    for part in ["database", "migrations", "inspection_worker"] {
        assert_eq!(checks[part]["status"], "ok", "{part}: {body}");
    }
    let workflows: Vec<&str> = checks["workflows"]["details"]
        .as_array()
        .expect("workflows")
        .iter()
        .filter_map(|w| w["id"].as_str())
        .collect();
    assert!(
        workflows.contains(&"periodic_accreditation") && workflows.contains(&"support_request"),
        "{body}"
    );
    // No login and no background worker in this server: switched off is not a fault.
    assert_eq!(checks["identity_provider"]["status"], "not_configured");
    assert_eq!(checks["workers"]["status"], "not_configured");

    // A worker that runs, and one whose pass panics: the second stops, and readiness says so.
    app.state
        .workers
        .spawn("steady", Duration::from_millis(20), Start::Now, || async {
            Pass::Idle
        });
    app.state
        .workers
        .spawn("broken", Duration::from_millis(20), Start::Now, || async {
            panic!("a pass that panics")
        });
    let mut body = Value::Null;
    for _ in 0..100 {
        let r = app.call(Method::GET, "/readyz", None, &[], None).await;
        if r.status() == 503 {
            assert!(r.headers().contains_key("retry-after"));
            body = r.json().await.expect("json");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(body["status"], "not_ready", "{body}");
    let workers = &body["checks"]["workers"];
    assert_eq!(workers["status"], "not_running", "{body}");
    assert_eq!(workers["error"], "not running: broken", "{body}");
    let states: Vec<(&str, &str)> = workers["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|w| (w["name"].as_str().unwrap(), w["status"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("steady", "ok"), ("broken", "stopped")], "{body}");
    assert_eq!(body["checks"]["database"]["status"], "ok");
}

#[tokio::test]
async fn readiness_is_503_when_the_inspection_worker_cannot_be_started() {
    let app = TestApp::spawn().await;
    let base = serve_with_documents(
        &app,
        accredo::documents::Documents::new(
            app.state.documents.blobs.clone(),
            "/nonexistent/accredo".into(),
        ),
    );
    let r = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.expect("json");
    let part = &body["checks"]["inspection_worker"];
    assert_eq!(part["status"], "unavailable", "{body}");
    assert!(
        part["error"]
            .as_str()
            .is_some_and(|e| e.contains("/nonexistent/accredo")),
        "{body}"
    );
    assert_eq!(body["checks"]["database"]["status"], "ok");
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow_and_an_unknown_address_404() {
    let app = TestApp::spawn().await;
    let token = app.specialist("1000001");
    for (method, path, allow) in [
        (Method::DELETE, "/api/v1/cases", "GET, POST"),
        (
            Method::PUT,
            "/api/v1/cases/01JAAAAAAAAAAAAAAAAAAAAAAA",
            "GET",
        ),
        (
            Method::GET,
            "/api/v1/cases/01JAAAAAAAAAAAAAAAAAAAAAAA/transitions/submit",
            "POST",
        ),
        (Method::POST, "/readyz", "GET"),
        (Method::GET, "/auth/logout", "POST"),
    ] {
        let r = app
            .call(method.clone(), path, Some(&token), &[], None)
            .await;
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(r.headers()["allow"], allow, "{method} {path}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["code"], "method_not_allowed", "{body}");
    }
    for path in [
        "/api/v1/nothing",
        "/api/v1/cases/x/y/z/w",
        "/api/v1/cases//transitions/submit",
    ] {
        let r = app.call(Method::GET, path, Some(&token), &[], None).await;
        assert_eq!(r.status(), 404, "{path}");
        assert!(!r.headers().contains_key("allow"), "{path}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["code"], "not_found", "{body}");
    }
}

/// Sends a request head and then `len` body bytes (chunked or not) while reading the answer,
/// as a client that keeps sending after the server has answered would.
async fn raw_exchange(app: &TestApp, head: String, len: usize, chunked: bool) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < len {
            if chunked {
                wr.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await?;
                wr.write_all(&chunk).await?;
                wr.write_all(b"\r\n").await?;
            } else {
                wr.write_all(&chunk).await?;
            }
            sent += chunk.len();
        }
        Ok::<_, std::io::Error>(())
    });
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let read = async {
        loop {
            match rd.read(&mut tmp).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&tmp[..n]);
                    let text = String::from_utf8_lossy(&buf);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let body_len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + body_len {
                            break;
                        }
                    }
                }
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("answer within 10 s");
    writer.abort();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .map_or("", |v| v.to_str().unwrap_or("<not text>"))
}

/// Answers under /api/ and /auth/ can hold personal data, files or tokens: no browser or
/// proxy may store them, errors included. Nothing is content-sniffed, public files included.
#[tokio::test]
async fn authenticated_responses_are_never_stored_and_nothing_is_sniffed() {
    let app = TestApp::spawn().await;
    let me = app.specialist("cache-alice");
    let (id, _) = app.submitted_case(&me).await;
    let docs = json_of(app.get(&format!("/api/v1/cases/{id}/documents"), &me).await).await;
    let doc = docs[0]["id"].as_str().expect("document id").to_owned();
    for path in [
        "/api/v1/me".to_owned(),
        "/api/v1/me/sessions".to_owned(),
        "/api/v1/cases".to_owned(),
        format!("/api/v1/cases/{id}"),
        format!("/api/v1/cases/{id}/history"),
        format!("/api/v1/cases/{id}/documents"),
        format!("/api/v1/cases/{id}/documents/{doc}"),
        format!("/api/v1/cases/{id}/receipt.pdf"),
        format!("/api/v1/cases/{id}/receipt.xml"),
    ] {
        let res = app.get(&path, &me).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(header(&res, "cache-control"), "no-store", "{path}");
        assert_eq!(header(&res, "x-content-type-options"), "nosniff", "{path}");
    }
    for (method, path, token) in [
        (Method::GET, "/api/v1/me", None),
        (
            Method::GET,
            "/api/v1/cases/0192f0c8-0000-7000-8000-000000000000",
            Some(&me),
        ),
        (Method::GET, "/api/v1/nowhere", Some(&me)),
        (Method::GET, "/api/v1/workflows", None),
        (Method::POST, "/auth/refresh", Some(&me)),
        (Method::GET, "/auth/login", None),
    ] {
        let res = app
            .call(method.clone(), path, token.map(String::as_str), &[], None)
            .await;
        let status = res.status();
        assert_eq!(
            header(&res, "cache-control"),
            "no-store",
            "{method} {path} ({status})"
        );
        assert_eq!(
            header(&res, "x-content-type-options"),
            "nosniff",
            "{method} {path}"
        );
    }
    // Public, identical for everyone: the viewer's files stay cacheable.
    for path in ["/api-docs/swagger-ui.css", "/api-docs/swagger-ui-bundle.js"] {
        let res = app.call(Method::GET, path, None, &[], None).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(
            header(&res, "cache-control"),
            "public, max-age=86400",
            "{path}"
        );
        assert_eq!(header(&res, "x-content-type-options"), "nosniff", "{path}");
    }
    for path in [
        "/healthz",
        "/readyz",
        "/api-docs/",
        "/api-docs/openapi.json",
        "/nowhere",
    ] {
        let res = app.call(Method::GET, path, None, &[], None).await;
        assert_eq!(header(&res, "x-content-type-options"), "nosniff", "{path}");
    }
}

/// The viewer's policy lets it run its own vendored files and nothing else: no inline code,
/// no other origin, and every file the page names is served here.
#[tokio::test]
async fn api_viewer_policy_allows_only_its_own_files() {
    let app = TestApp::spawn().await;
    let res = app.call(Method::GET, "/api-docs/", None, &[], None).await;
    assert_eq!(res.status(), 200);
    let csp = header(&res, "content-security-policy").to_owned();
    let page = res.text().await.expect("page");
    let directives: std::collections::HashMap<&str, Vec<&str>> = csp
        .split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace();
            Some((words.next()?, words.collect()))
        })
        .collect();
    assert_eq!(
        directives.get("default-src"),
        Some(&vec!["'none'"]),
        "{csp}"
    );
    assert_eq!(directives.get("script-src"), Some(&vec!["'self'"]), "{csp}");
    assert_eq!(directives.get("style-src"), Some(&vec!["'self'"]), "{csp}");
    assert_eq!(
        directives.get("connect-src"),
        Some(&vec!["'self'"]),
        "{csp}"
    );
    assert_eq!(
        directives.get("frame-ancestors"),
        Some(&vec!["'none'"]),
        "{csp}"
    );
    for (name, sources) in &directives {
        for s in sources {
            assert!(
                ["'self'", "'none'", "data:"].contains(s),
                "{name} allows {s}: {csp}"
            );
        }
    }
    // No inline script or style for the policy to have to allow.
    let mut rest = page.as_str();
    let mut scripts = 0;
    while let Some(at) = rest.find("<script") {
        let tag_end = rest[at..].find('>').expect("tag end") + at;
        assert!(rest[at..tag_end].contains(" src="), "inline script: {page}");
        assert!(
            rest[tag_end + 1..].starts_with("</script>"),
            "script with inline code: {page}"
        );
        scripts += 1;
        rest = &rest[tag_end..];
    }
    assert!(scripts >= 2, "{page}");
    assert!(
        !page.contains("<style") && !page.contains(" style="),
        "{page}"
    );
    assert!(!page.contains(" on"), "inline event handler: {page}");
    // Every file the page names is ours and served.
    for attr in [" src=\"", " href=\""] {
        for part in page.split(attr).skip(1) {
            let url = part.split('"').next().expect("url");
            assert!(
                url.starts_with("/api-docs/"),
                "{url} is not the viewer's own"
            );
            let res = app.call(Method::GET, url, None, &[], None).await;
            assert_eq!(res.status(), 200, "{url}");
            let ct = header(&res, "content-type").to_owned();
            let want = if url.ends_with(".js") {
                "javascript"
            } else {
                "text/css"
            };
            assert!(ct.contains(want), "{url}: {ct}");
        }
    }
}

/// A form patch with 60,000 unknown fields is refused with a bounded body: the first 100
/// details and how many more there were, and nothing saved.
#[tokio::test]
async fn error_details_are_capped_with_a_count_of_the_rest() {
    let app = TestApp::spawn().await;
    let me = app.specialist("cap-alice");
    let (id, v) = app.create_case(&me, "periodic_accreditation").await;
    let patch: serde_json::Map<String, serde_json::Value> =
        (0..60_000).map(|i| (format!("f{i}"), json!(0))).collect();
    let started = std::time::Instant::now();
    let res = app
        .patch_form(&me, &id, v, serde_json::Value::Object(patch))
        .await;
    assert_eq!(res.status(), 422);
    let text = res.text().await.expect("body");
    let elapsed = started.elapsed();
    assert!(text.len() < 32 * 1024, "{} bytes of error", text.len());
    let body: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["code"], "invalid_form");
    let details = body["details"].as_array().expect("details");
    assert_eq!(details.len(), 100);
    assert!(
        details.iter().all(|d| d["code"] == "unknown_field"),
        "{text}"
    );
    assert_eq!(body["details_omitted"], 59_900, "{text}");
    println!("60,000 unknown fields: {} bytes in {elapsed:?}", text.len());
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    assert_eq!(case["version"].as_i64(), Some(v));
    // Short lists have no count.
    let res = app.patch_form(&me, &id, v, json!({"nope": 1})).await;
    let body = json_of(res).await;
    assert_eq!(body["details"].as_array().map(Vec::len), Some(1));
    assert!(body.get("details_omitted").is_none(), "{body}");
}

/// A transition needing nothing may be sent with no body and no Content-Type (`curl -X POST`):
/// it means `{}`. A body still has to be JSON.
#[tokio::test]
async fn a_transition_without_a_body_means_an_empty_object() {
    let app = TestApp::spawn().await;
    let me = app.specialist("empty-alice");
    // No Content-Type, no Content-Length: the request has no body.
    let (id, v) = app.create_case(&me, "periodic_accreditation").await;
    let head = format!(
        "POST /api/v1/cases/{id}/transitions/withdraw HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {me}\r\nIf-Match: \"{v}\"\r\nConnection: close\r\n\r\n"
    );
    let (status, text) = raw_exchange(&app, head, 0, false).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"state\":\"withdrawn\""), "{text}");
    // Content-Length: 0, as reqwest sends an empty POST.
    let (id, v) = app.create_case(&me, "periodic_accreditation").await;
    let res = app
        .client
        .post(format!(
            "{}/api/v1/cases/{id}/transitions/withdraw",
            app.base
        ))
        .bearer_auth(&me)
        .header("If-Match", format!("\"{v}\""))
        .header("Content-Length", "0")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    assert_eq!(json_of(res).await["state"], "withdrawn");
    // The rest of the rules stand: a body without a JSON type, an empty JSON body, a wrong field.
    let (id, v) = app.create_case(&me, "periodic_accreditation").await;
    let url = format!("{}/api/v1/cases/{id}/transitions/withdraw", app.base);
    let send = |content_type: Option<&'static str>, body: &'static str| {
        let mut req = app
            .client
            .post(&url)
            .bearer_auth(&me)
            .header("If-Match", format!("\"{v}\""))
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        req.send()
    };
    for (content_type, body, status, code) in [
        (None, "{}", 415, "unsupported_media_type"),
        (Some("text/plain"), "", 415, "unsupported_media_type"),
        (Some("application/json"), "", 400, "malformed_json"),
        (Some("application/json"), "{\"why\":1}", 400, "invalid_body"),
    ] {
        let res = send(content_type, body).await.expect("send");
        assert_eq!(res.status(), status, "{content_type:?} {body:?}");
        assert_eq!(
            json_of(res).await["code"],
            code,
            "{content_type:?} {body:?}"
        );
    }
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    assert_eq!(
        (case["state"].clone(), case["version"].as_i64()),
        (json!("draft"), Some(v))
    );
    // And the API document says so.
    let doc = json_of(
        app.call(Method::GET, "/api-docs/openapi.json", None, &[], None)
            .await,
    )
    .await;
    let body = &doc["paths"]["/api/v1/cases/{id}/transitions/{name}"]["post"]["requestBody"];
    assert!(body["content"]["application/json"].is_object(), "{body}");
    assert_ne!(body["required"], json!(true), "{body}");
}

/// The served document says what every operation may answer besides its own responses, the
/// exact shape of the shared headers, and this server's workflows; login is in it too.
#[tokio::test]
async fn the_document_declares_the_common_answers_headers_and_workflows() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .call(Method::GET, "/api-docs/openapi.json", None, &[], None)
        .await
        .json()
        .await
        .expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    for route in [
        "/auth/login",
        "/auth/callback",
        "/auth/logout",
        "/auth/refresh",
    ] {
        assert!(paths.contains_key(route), "{route} is not described");
    }
    let mut secured = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("item") {
            let responses = op["responses"].as_object().expect("responses");
            if op.get("security").is_some() {
                secured += 1;
                for code in ["401", "403", "429", "503"] {
                    assert!(responses.contains_key(code), "{method} {path}: no {code}");
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["name"] == "If-Match" {
                    assert_eq!(p["schema"]["pattern"], "^(W/)?\"[0-9]{1,18}\"$", "{path}");
                }
                if p["name"] == "Idempotency-Key" {
                    assert_eq!(p["schema"]["maxLength"], 255, "{path}");
                }
            }
        }
    }
    assert!(secured > 40, "{secured}");
    let workflows = &doc["components"]["schemas"]["CreateCase"]["properties"]["workflow"]["enum"];
    let mut ids: Vec<&str> = workflows
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "periodic_accreditation",
            "primary_accreditation",
            "support_request"
        ]
    );
}
