//! Test harness: a fresh database per test (SQLite file, or a new PostgreSQL database when
//! `ACCREDO_TEST_DATABASE_URL` is set) and the real server on port 0.

use accredo::documents::storage::Blobs;
use accredo::domain::clock::{Clock, ManualClock, SharedClock};
use accredo::domain::ids::UserId;
use accredo::domain::role::Role;
use accredo::engine::catalog::{Catalog, workflow_files};
use accredo::http::client_ip::TrustedProxies;
use accredo::http::{self, AppState};
use accredo::identity::demo_idp::DemoClient;
use accredo::identity::oidc::{ClientAuth, Oidc, OidcConfig};
use accredo::identity::provider::Provider;
use accredo::identity::session::{self, SessionPolicy};
use accredo::identity::token::TokenKeys;
use accredo::store::{DbConnection, DbTarget, Store, definitions, migrate};
use diesel::Connection;
use diesel::connection::SimpleConnection;
use pdf_extract::dictionary;
use reqwest::{Client, Method, Response};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the suite's clock stands unless a test says otherwise: a fixed instant, so dates in
/// assertions are stable. It is deliberately not the wall clock; `clock_skew` runs whole flows
/// with the clock decades before and after the wall clock.
pub const SUITE_START: &str = "2026-11-23T09:00:00Z";

pub fn instant(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("date")
        .to_utc()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pg: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        match std::env::var("ACCREDO_TEST_DATABASE_URL") {
            Ok(admin) if !admin.is_empty() => {
                let name = format!("accredo_t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = diesel::PgConnection::establish(&admin)
                    .unwrap_or_else(|e| panic!("ACCREDO_TEST_DATABASE_URL unreachable: {e}"));
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create database");
                let mut url = url::Url::parse(&admin).expect("admin url");
                url.set_path(&format!("/{name}"));
                Self {
                    url: url.to_string(),
                    pg: Some((admin, name)),
                    _dir: dir,
                }
            }
            _ => {
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                Self {
                    url,
                    pg: None,
                    _dir: dir,
                }
            }
        }
    }

    /// The same PostgreSQL database reached through `addr` (a proxy) instead; the returned
    /// handle does not drop the database, `self` still does.
    pub fn through(&self, addr: std::net::SocketAddr) -> Option<Self> {
        self.pg.as_ref()?;
        let mut url = url::Url::parse(&self.url).expect("url");
        url.set_host(Some(&addr.ip().to_string())).expect("host");
        url.set_port(Some(addr.port())).expect("port");
        Some(Self {
            url: url.to_string(),
            pg: None,
            _dir: tempfile::tempdir().expect("tempdir"),
        })
    }

    /// The `host:port` of the PostgreSQL server, if the tests run on one.
    pub fn pg_server(&self) -> Option<String> {
        self.pg.as_ref()?;
        let url = url::Url::parse(&self.url).expect("url");
        Some(format!(
            "{}:{}",
            url.host_str().unwrap_or("127.0.0.1"),
            url.port().unwrap_or(5432)
        ))
    }

    pub fn conn(&self) -> DbConnection {
        DbTarget::parse(&self.url)
            .expect("url")
            .connect()
            .expect("connect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(mut conn) = diesel::PgConnection::establish(admin)
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// A running server on a fresh database.
pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub client: Client,
    pub db: Arc<TestDb>,
    /// Where the app's document blobs live (removed with the app).
    pub documents_dir: Arc<tempfile::TempDir>,
    /// The S3 location of the documents, when the tests run against S3.
    pub documents_url: Option<String>,
    /// The certification authority the app trusts (made for this app).
    pub ca: Arc<crate::pki::Ca>,
}

pub fn catalog_from(workflows: &Path) -> Catalog {
    let files = workflow_files(workflows).expect("workflow files");
    Catalog::load_with_reasons(&files, &repo().join("schemas"), &repo().join("workflows"))
        .expect("valid workflows")
}

/// How a test app logs people in.
pub struct Login {
    pub listener: TcpListener,
    pub provider: Arc<Provider>,
    /// Failed logins or invalid tokens per address per minute.
    pub max_failures: u32,
    pub proxies: TrustedProxies,
}

impl Login {
    pub fn new(listener: TcpListener, provider: Provider) -> Self {
        Self {
            listener,
            provider: Arc::new(provider),
            max_failures: 1_000,
            proxies: TrustedProxies::default(),
        }
    }
}

fn clock_at(start: chrono::DateTime<chrono::Utc>) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(start))
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_at(instant(SUITE_START)).await
    }

    /// A server whose clock starts at `start`.
    pub async fn spawn_at(start: chrono::DateTime<chrono::Utc>) -> Self {
        Self::start(
            Arc::new(TestDb::new()),
            &repo().join("workflows"),
            None,
            clock_at(start),
        )
        .await
    }

    /// A server whose clock starts at `start`, writing notification rows for `channels` as
    /// well as the cabinet's (as a server with those dispatchers configured does).
    pub async fn spawn_with_channels(
        start: chrono::DateTime<chrono::Utc>,
        channels: &[&str],
    ) -> Self {
        Self::start_full(
            Arc::new(TestDb::new()),
            &repo().join("workflows"),
            None,
            clock_at(start),
            channels,
        )
        .await
    }

    /// Starts a server on an existing database with the workflows of a directory.
    pub async fn spawn_on(db: Arc<TestDb>, workflows: &Path) -> Self {
        Self::start(db, workflows, None, clock_at(instant(SUITE_START))).await
    }

    /// Starts a server on an existing database with the workflows of a directory, its clock at
    /// `start`.
    pub async fn spawn_on_at(
        db: Arc<TestDb>,
        workflows: &Path,
        start: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        Self::start(db, workflows, None, clock_at(start)).await
    }

    /// Starts a server with login through a fresh built-in demo identity provider.
    pub async fn spawn_with_login(client_auth: ClientAuth) -> (Self, DemoIdp) {
        Self::spawn_with_login_limited(client_auth, 1_000).await
    }

    /// A server on `listener` with login through an already discovered provider, on `clock`
    /// (the provider's clock too).
    pub async fn start_with(
        listener: TcpListener,
        oidc: Arc<Oidc>,
        clock: Arc<ManualClock>,
    ) -> Self {
        Self::start(
            Arc::new(TestDb::new()),
            &repo().join("workflows"),
            Some(Login::new(listener, Provider::ready(oidc))),
            clock,
        )
        .await
    }

    /// A server with login as `login` says, on `clock`.
    pub async fn start_with_login(login: Login, clock: Arc<ManualClock>) -> Self {
        Self::start(
            Arc::new(TestDb::new()),
            &repo().join("workflows"),
            Some(login),
            clock,
        )
        .await
    }

    /// A clock at the suite's start, for a provider started before its app.
    pub fn suite_clock() -> Arc<ManualClock> {
        clock_at(instant(SUITE_START))
    }

    /// Like [`TestApp::spawn_with_login`], allowing `max_failures` failed logins or invalid
    /// tokens per address per minute.
    pub async fn spawn_with_login_limited(
        client_auth: ClientAuth,
        max_failures: u32,
    ) -> (Self, DemoIdp) {
        Self::spawn_with_login_at(client_auth, max_failures, instant(SUITE_START)).await
    }

    /// A server and its demo identity provider, both on a clock that starts at `start`.
    pub async fn spawn_with_login_at(
        client_auth: ClientAuth,
        max_failures: u32,
        start: chrono::DateTime<chrono::Utc>,
    ) -> (Self, DemoIdp) {
        let clock = clock_at(start);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let client = DemoClient {
            id: "accredo-test".into(),
            secret: "s3cr3t:with/special?chars".into(),
            redirect_uri: format!("{base}/auth/callback"),
            post_logout_redirect_uri: Some(format!("{base}/")),
        };
        let idp = DemoIdp::start(client.clone(), clock.clone());
        let config = OidcConfig {
            issuer: idp.issuer.clone(),
            client_id: client.id,
            client_secret: client.secret,
            client_auth,
            redirect_url: client.redirect_uri,
            allowed_algs: vec!["ES256".into(), "RS256".into()],
            subject_claim: "sub".into(),
            trusted_claims: vec!["urn:esia:sbj:is_tru".into(), "trusted".into()],
            persons_base: Some(idp.issuer.clone()),
            scopes: accredo::identity::oidc::parse_scopes("openid profile"),
        };
        let oidc = Oidc::discover(config, clock.clone())
            .await
            .expect("discovery");
        let app = Self::start(
            Arc::new(TestDb::new()),
            &repo().join("workflows"),
            Some(Login {
                max_failures,
                ..Login::new(listener, Provider::ready(Arc::new(oidc)))
            }),
            clock,
        )
        .await;
        (app, idp)
    }

    async fn start(
        db: Arc<TestDb>,
        workflows: &Path,
        login: Option<Login>,
        clock: Arc<ManualClock>,
    ) -> Self {
        Self::start_full(db, workflows, login, clock, &[]).await
    }

    async fn start_full(
        db: Arc<TestDb>,
        workflows: &Path,
        login: Option<Login>,
        clock: Arc<ManualClock>,
        channels: &[&str],
    ) -> Self {
        // The server's own error log goes to the test's captured output, so a failing test
        // shows why a request answered 500.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("accredo=warn"))
            .with_test_writer()
            .with_ansi(false)
            .try_init();
        let target = DbTarget::parse(&db.url).expect("url");
        let store = Store::open(&target).expect("store");
        let catalog = Arc::new(catalog_from(workflows));
        {
            let mut conn = store.conn().expect("conn");
            migrate::run_pending(&mut conn).expect("migrate");
            for w in catalog.list() {
                definitions::ensure(&mut conn, w, clock.now().naive_utc()).expect("definitions");
            }
        }
        let shared: SharedClock = clock.clone();
        let documents_dir = Arc::new(tempfile::tempdir().expect("documents dir"));
        let (blobs, documents_url) = test_blobs(documents_dir.path());
        let ca = Arc::new(crate::pki::Ca::new(
            "Тестовый удостоверяющий центр",
            unix(clock.now()),
        ));
        let state = AppState {
            store,
            catalog,
            clock: shared,
            keys: TokenKeys::new(&rand::random::<[u8; 32]>(), "accredo", "accredo-api")
                .expect("keys"),
            policy: SessionPolicy::default(),
            oidc: login.as_ref().map(|l| l.provider.clone()),
            proxies: Arc::new(
                login
                    .as_ref()
                    .map(|l| l.proxies.clone())
                    .unwrap_or_default(),
            ),
            https: false,
            failures: std::sync::Arc::new(accredo::http::limit::FailureLimiter::new(
                login.as_ref().map_or(1_000, |l| l.max_failures),
            )),
            signing: Arc::new(accredo::signature::Signing::new(
                accredo::signature::cms::TrustStore::from_pem(ca.pem().as_bytes()).expect("trust"),
                "77",
            )),
            notices: Arc::new(
                accredo::notify::templates::Templates::from_dir(
                    &repo().join("templates/notifications"),
                )
                .expect("templates")
                .with_channels(channels),
            ),
            messages: accredo::service::messages::Settings {
                hide_commission_names: true,
            },
            documents: Arc::new(accredo::documents::Documents::new(
                blobs,
                env!("CARGO_BIN_EXE_accredo").into(),
            )),
            workers: accredo::workers::Workers::default(),
        };
        let listener = match login {
            Some(l) => l.listener,
            None => TcpListener::bind("127.0.0.1:0").expect("bind"),
        };
        let addr = listener.local_addr().expect("addr");
        let server_state = state.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server =
                    http::server(server_state, listener, 2, std::time::Duration::from_secs(5))
                        .expect("server");
                let _ = server.await;
            })
        });
        Self {
            base: format!("http://{addr}"),
            state,
            clock,
            client: Client::new(),
            db,
            documents_dir,
            documents_url,
            ca,
        }
    }

    /// A user with roles and a live session; returns the bearer token.
    pub fn user(&self, subject: &str, roles: &[Role]) -> String {
        self.user_in(subject, roles, true)
    }

    /// A user with roles and a live session, on no subcommission; returns the bearer token.
    pub fn outsider(&self, subject: &str, roles: &[Role]) -> String {
        self.user_in(subject, roles, false)
    }

    fn user_in(&self, subject: &str, roles: &[Role], therapy: bool) -> String {
        let mut conn = self.state.store.conn().expect("conn");
        let now = self.clock.now();
        for role in roles {
            accredo::cli::grant(
                &mut conn,
                subject,
                &format!("Пользователь {subject}"),
                *role,
                now,
            )
            .expect("grant");
        }
        if roles.is_empty() {
            accredo::store::users::ensure(&mut conn, subject, subject, now.naive_utc())
                .expect("user");
        }
        let user = accredo::store::users::find_by_subject(&mut conn, subject)
            .expect("find")
            .expect("user");
        // Commission staff sit on the subcommission of the test form's specialty.
        if therapy && (roles.contains(&Role::Reviewer) || roles.contains(&Role::Secretary)) {
            join_subcommission(&mut conn, THERAPY, &[SPECIALTY], &user.id, now);
        }
        enrol(&mut conn, &user.id, subject, now.naive_utc());
        let (_, token) = session::create(
            &mut conn,
            &self.state.keys,
            &UserId::from_stored(user.id),
            self.state.policy,
            now,
        )
        .expect("session");
        token
    }

    pub fn specialist(&self, subject: &str) -> String {
        self.user(subject, &[Role::Specialist])
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, String)],
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, Some(token), &[], None).await
    }

    /// Creates a draft; returns (id, version).
    pub async fn create_case(&self, token: &str, workflow: &str) -> (String, i64) {
        let res = self
            .call(
                Method::POST,
                "/api/v1/cases",
                Some(token),
                &[],
                Some(json!({"workflow": workflow})),
            )
            .await;
        assert_eq!(res.status(), 201, "create case");
        let body: Value = res.json().await.expect("json");
        (
            body["id"].as_str().expect("id").to_owned(),
            body["version"].as_i64().expect("version"),
        )
    }

    pub async fn patch_form(&self, token: &str, id: &str, version: i64, patch: Value) -> Response {
        self.call(
            Method::PATCH,
            &format!("/api/v1/cases/{id}/form"),
            Some(token),
            &[("If-Match", format!("\"{version}\""))],
            Some(patch),
        )
        .await
    }

    pub async fn transition(
        &self,
        token: &str,
        id: &str,
        name: &str,
        version: i64,
        body: Value,
    ) -> Response {
        self.call(
            Method::POST,
            &format!("/api/v1/cases/{id}/transitions/{name}"),
            Some(token),
            &[("If-Match", format!("\"{version}\""))],
            Some(body),
        )
        .await
    }

    /// The caller's user id.
    pub async fn user_id(&self, token: &str) -> String {
        let me = json_of(self.get("/api/v1/me", token).await).await;
        me["id"].as_str().expect("id").to_owned()
    }

    /// Changes the case's assignee (`None` releases it); returns the response.
    pub async fn set_assignee(
        &self,
        token: &str,
        id: &str,
        assignee: Option<&str>,
        reason: Option<&str>,
    ) -> Response {
        self.call(
            Method::POST,
            &format!("/api/v1/cases/{id}/assignee"),
            Some(token),
            &[],
            Some(json!({"assignee": assignee, "reason": reason})),
        )
        .await
    }

    /// The reviewer `token` takes the case; returns its new version.
    pub async fn claim(&self, token: &str, id: &str) -> i64 {
        let me = self.user_id(token).await;
        let res = self.set_assignee(token, id, Some(&me), None).await;
        let status = res.status();
        let body = json_of(res).await;
        assert_eq!(status, 200, "claim: {body}");
        body["version"].as_i64().expect("version")
    }

    /// Runs a transition that must succeed; returns the new version.
    pub async fn step(&self, token: &str, id: &str, name: &str, version: i64, body: Value) -> i64 {
        let res = self.transition(token, id, name, version, body).await;
        let status = res.status();
        let text = res.text().await.expect("text");
        assert_eq!(status, 200, "{name}: {text}");
        serde_json::from_str::<Value>(&text).expect("json")["version"]
            .as_i64()
            .expect("version")
    }

    /// Uploads a valid text PDF for every required document the case's readiness report lists
    /// as not ready; returns the case's version afterwards.
    pub async fn attach_required(&self, token: &str, id: &str) -> i64 {
        let res = self
            .call(
                Method::GET,
                &format!("/api/v1/cases/{id}/readiness"),
                Some(token),
                &[],
                None,
            )
            .await;
        assert_eq!(res.status(), 200, "readiness");
        let report: Value = res.json().await.expect("json");
        for row in report["rows"].as_array().expect("rows") {
            let Some(ty) = row["item"]
                .as_str()
                .and_then(|i| i.strip_prefix("document:"))
            else {
                continue;
            };
            if row["ready"] == json!(true) {
                continue;
            }
            let form = reqwest::multipart::Form::new()
                .text("type", ty.to_owned())
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(text_pdf()).file_name(format!("{ty}.pdf")),
                );
            let res = self
                .client
                .post(format!("{}/api/v1/cases/{id}/documents", self.base))
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .expect("upload");
            let status = res.status();
            assert_eq!(
                status,
                201,
                "upload {ty}: {}",
                res.text().await.unwrap_or_default()
            );
        }
        let res = self
            .call(
                Method::GET,
                &format!("/api/v1/cases/{id}"),
                Some(token),
                &[],
                None,
            )
            .await;
        assert_eq!(res.status(), 200, "case");
        res.json::<Value>().await.expect("json")["version"]
            .as_i64()
            .expect("version")
    }

    /// The case's signing payload as the cabinet gets it: (bytes, case version).
    pub async fn signing_payload(&self, token: &str, id: &str) -> (Vec<u8>, i64) {
        let res = self
            .call(
                Method::GET,
                &format!("/api/v1/cases/{id}/signing-payload"),
                Some(token),
                &[],
                None,
            )
            .await;
        assert_eq!(res.status(), 200, "signing payload");
        let body: Value = res.json().await.expect("json");
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body["payload_base64"].as_str().expect("payload"))
            .expect("base64");
        (bytes, body["case_version"].as_i64().expect("version"))
    }

    /// The SNILS the identity provider gave the owner of case `id` (none: eleven zeros).
    pub fn owner_snils(&self, id: &str) -> String {
        use accredo::store::schema::{cases, person_profiles};
        use diesel::prelude::*;
        let mut conn = self.state.store.conn().expect("conn");
        cases::table
            .inner_join(person_profiles::table.on(person_profiles::user_id.eq(cases::owner_id)))
            .filter(cases::id.eq(id))
            .select(person_profiles::snils)
            .first::<Option<String>>(&mut *conn)
            .expect("profile")
            .unwrap_or_else(|| "00000000000".into())
    }

    /// A transition body carrying the applicant's valid signature (ECDSA, from the app's CA)
    /// over the case's payload as it is now.
    pub async fn signed(&self, token: &str, id: &str) -> Value {
        let (payload, _) = self.signing_payload(token, id).await;
        let now = unix(self.clock.now());
        let signer =
            crate::pki::Signer::ecdsa(&self.ca, "Тестова Мария", &self.owner_snils(id), now);
        json!({ "signature": signer.sign_base64(&payload, now) })
    }

    /// A periodic accreditation case with a complete form and every required document,
    /// ready to sign and submit; returns (id, version).
    pub async fn ready_case(&self, token: &str) -> (String, i64) {
        let (id, v) = self.create_case(token, "periodic_accreditation").await;
        let res = self.patch_form(token, &id, v, complete_form()).await;
        assert_eq!(
            res.status(),
            200,
            "{}",
            res.text().await.unwrap_or_default()
        );
        let v = self.attach_required(token, &id).await;
        (id, v)
    }

    /// A case whose form is complete and which was submitted; returns (id, version).
    pub async fn submitted_case(&self, token: &str) -> (String, i64) {
        let (id, v) = self.ready_case(token).await;
        let body = self.signed(token, &id).await;
        let v = self.step(token, &id, "submit", v, body).await;
        (id, v)
    }

    /// A submitted case taken into review by a secretary and sent back for revision by
    /// `reviewer`; returns (id, version).
    pub async fn case_in_revision(
        &self,
        owner: &str,
        reviewer: &str,
        reason: &str,
    ) -> (String, i64) {
        let secretary = self.user("secretary", &[Role::Secretary]);
        let (id, v) = self.submitted_case(owner).await;
        self.step(&secretary, &id, "start_review", v, json!({}))
            .await;
        let v = self.claim(reviewer, &id).await;
        let v = self
            .step(reviewer, &id, "request_revision", v, revision_body(reason))
            .await;
        (id, v)
    }

    /// What transitions of this app run by.
    pub fn rules(&self) -> accredo::service::Rules<'_> {
        accredo::service::Rules {
            catalog: &self.state.catalog,
            signing: &self.state.signing,
            notices: &self.state.notices,
        }
    }

    /// The counters the queue's counts are read from agree with a count of the filed cases
    /// per workflow, specialty, state and due date, and hold no row that came down to zero.
    pub fn assert_counters_agree(&self) {
        use accredo::store::schema::{case_state_counts as k, cases};
        use diesel::dsl::{count_star, sql};
        use diesel::prelude::*;
        use diesel::sql_types::BigInt;
        let mut conn = self.state.store.conn().expect("conn");
        let rows: Vec<i64> = k::table.select(k::n).load(&mut *conn).expect("rows");
        assert!(rows.iter().all(|n| *n > 0), "counter rows {rows:?}");
        // (workflow, specialty, state, due date, number of cases)
        type Row<S, D> = (String, S, String, D, i64);
        let mut kept: Vec<Row<String, chrono::NaiveDate>> = k::table
            .group_by((k::workflow_id, k::specialty, k::state, k::due_on))
            .select((
                k::workflow_id,
                k::specialty,
                k::state,
                k::due_on,
                sql::<BigInt>("CAST(SUM(n) AS BIGINT)"),
            ))
            .load(&mut *conn)
            .expect("kept");
        let live: Vec<Row<Option<String>, Option<chrono::NaiveDate>>> = cases::table
            .filter(cases::submitted_at.is_not_null())
            .group_by((
                cases::workflow_id,
                cases::specialty,
                cases::state,
                cases::due_on,
            ))
            .select((
                cases::workflow_id,
                cases::specialty,
                cases::state,
                cases::due_on,
                count_star(),
            ))
            .load(&mut *conn)
            .expect("live");
        let none = chrono::NaiveDate::from_ymd_opt(9999, 12, 31).expect("date");
        let mut live: Vec<_> = live
            .into_iter()
            .map(|(w, s, st, d, n)| (w, s.unwrap_or_default(), st, d.unwrap_or(none), n))
            .collect();
        kept.sort();
        live.sort();
        assert_eq!(kept, live, "kept counters against the cases");
    }

    pub fn audit_count(&self) -> i64 {
        use accredo::store::schema::audit_events;
        use diesel::prelude::*;
        let mut conn = self.state.store.conn().expect("conn");
        audit_events::table
            .count()
            .get_result(&mut *conn)
            .expect("count")
    }
}

/// The documents' blob store of a test app: an S3 bucket when ACCREDO_TEST_S3_URL is set
/// (`s3://bucket`, with AWS_ENDPOINT etc. in the environment; each app gets its own prefix),
/// else the local directory `dir`. Returns the store and its S3 URL if any.
pub fn test_blobs(dir: &Path) -> (Blobs, Option<String>) {
    match std::env::var("ACCREDO_TEST_S3_URL") {
        Ok(url) if !url.is_empty() => {
            let url = format!("{}/{}", url.trim_end_matches('/'), uuid::Uuid::new_v4());
            (Blobs::s3(&url).expect("s3 blobs"), Some(url))
        }
        _ => (Blobs::local(dir).expect("local blobs"), None),
    }
}

/// The built-in demo identity provider, running in its own thread.
pub struct DemoIdp {
    pub issuer: String,
    pub handle: actix_web::dev::ServerHandle,
}

impl DemoIdp {
    /// A provider dating its ID tokens by `clock` (the app's).
    pub fn start(client: DemoClient, clock: SharedClock) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let running =
                    accredo::identity::demo_idp::start("127.0.0.1:0", client, false, clock)
                        .expect("demo idp");
                tx.send((running.issuer.clone(), running.handle.clone()))
                    .expect("send");
                std::future::pending::<()>().await;
            })
        });
        let (issuer, handle) = rx.recv().expect("demo idp started");
        Self { issuer, handle }
    }
}

/// The specialty of [`complete_form`], and the test subcommission that reviews it.
pub const SPECIALTY: &str = "31.08.49";
pub const THERAPY: &str = "therapy";

/// Puts `user_id` on subcommission `code` (created with `specialties` if it does not exist).
pub fn join_subcommission(
    conn: &mut DbConnection,
    code: &str,
    specialties: &[&str],
    user_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) {
    use accredo::store::subcommissions as sc;
    if !sc::exists(conn, code).expect("exists") {
        let set = specialties.iter().map(|s| (*s).to_owned()).collect();
        sc::define(
            conn,
            code,
            "Терапевтическая подкомиссия",
            &set,
            now.naive_utc(),
        )
        .expect("define");
    }
    sc::add_member(conn, code, user_id, now.naive_utc()).expect("member");
}

/// A return for revision asking to fix the employment position, with `comment`.
pub fn revision_body(comment: &str) -> Value {
    json!({"fixes": {"fields": [{"pointer": "/employment/position", "comment": comment}]}})
}

/// A rejection with one reason from the catalogue.
pub fn rejection_body() -> Value {
    json!({"reasons": ["experience_insufficient"], "recommendations": "Наберите стаж по специальности"})
}

/// A form that passes every rule of the periodic accreditation schema.
/// The applicant's name, SNILS and birth date are not in it: a new draft has them already,
/// filled in from the login (and the form must agree with the login).
pub fn complete_form() -> Value {
    json!({
        "applicant": {
            "inn": "500100732259",
            "phone": "+7 (912) 345-67-89",
            "email": "ivanova@example.ru"
        },
        "specialty": {"code": "31.08.49", "name": "Терапия"},
        "employment": {"organization": "ГБУЗ «Городская поликлиника № 1»", "organization_inn": "7707329152", "position": "Врач-терапевт участковый"},
        "personal_data_consent": true
    })
}

pub async fn json_of(res: Response) -> Value {
    res.json().await.expect("json body")
}

/// The SNILS test user `subject` has (derived from the name, so it is stable).
pub fn snils_of(subject: &str) -> String {
    let hash = subject.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    accredo::domain::snils::Snils::from_number(2_000_000 + hash % 900_000_000)
        .digits()
        .to_owned()
}

/// The SNILS of test user `subject` as the form writes it (`XXX-XXX-XXX YY`).
pub fn formatted_snils(subject: &str) -> String {
    accredo::domain::snils::Snils::parse(&snils_of(subject))
        .expect("snils")
        .to_string()
}

/// Gives test user `subject` what a login through Gosuslugi gives a real one: a register
/// record (ФРМР) and a profile checked against it, so their applications pass
/// `registry_match`. Tests about mismatches change the register record afterwards.
pub fn enrol(conn: &mut DbConnection, user_id: &str, subject: &str, now: chrono::NaiveDateTime) {
    use accredo::store::registry as rows;
    let snils = snils_of(subject);
    let birth_date = chrono::NaiveDate::from_ymd_opt(1980, 1, 1).expect("date");
    if rows::by_snils(conn, &snils).expect("register").is_none() {
        rows::insert(
            conn,
            &rows::PersonRow {
                register_id: format!("test-{subject}"),
                snils: snils.clone(),
                last_name: "Тестова".into(),
                first_name: subject.into(),
                middle_name: None,
                birth_date,
                inn: None,
                gender: None,
                employments: "[]".into(),
                educations: "[]".into(),
                accreditations: "[]".into(),
                source_updated_at: None,
                record_hash: String::new(),
                removed_at: None,
                last_seen_run: 0,
                synced_at: now,
            },
        )
        .expect("register record");
    }
    let identity = accredo::identity::oidc::Identity {
        subject: subject.into(),
        trusted: true,
        last_name: Some("Тестова".into()),
        first_name: Some(subject.into()),
        middle_name: None,
        birth_date: Some("1980-01-01".into()),
        snils: Some(snils),
        inn: None,
    };
    accredo::registry::check::at_login(conn, user_id, &identity, now).expect("profile");
}

/// A one-page A4 PDF whose page content is `content` (with `filter` if given).
pub fn pdf(content: Vec<u8>, filter: Option<&str>) -> Vec<u8> {
    pdf_with_font(content, filter, |_| {
        dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" }
    })
}

/// Like [`pdf`], with the page's font `/F1` made by `font` (which may add objects it refers to).
pub fn pdf_with_font(
    content: Vec<u8>,
    filter: Option<&str>,
    font: impl FnOnce(&mut pdf_extract::Document) -> pdf_extract::Dictionary,
) -> Vec<u8> {
    one_page_pdf(|doc| {
        let font = font(doc);
        let font_id = doc.add_object(font);
        let mut dict = dictionary! {};
        if let Some(f) = filter {
            dict.set("Filter", pdf_extract::Object::Name(f.as_bytes().to_vec()));
        }
        let mut stream = pdf_extract::Stream::new(dict, content);
        stream.allows_compression = false;
        (
            dictionary! { "Font" => dictionary! { "F1" => font_id } },
            stream,
        )
    })
}

/// A one-page A4 PDF whose page resources and content stream `page` makes (it may add the
/// objects they refer to).
pub fn one_page_pdf(
    page: impl FnOnce(&mut pdf_extract::Document) -> (pdf_extract::Dictionary, pdf_extract::Stream),
) -> Vec<u8> {
    let mut doc = pdf_extract::Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let (resources, content) = page(&mut doc);
    let resources_id = doc.add_object(resources);
    let content_id = doc.add_object(content);
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => content_id,
        "Resources" => resources_id,
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    });
    doc.objects.insert(
        pages_id,
        pdf_extract::Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save");
    out
}

/// A valid one-page text PDF.
pub fn text_pdf() -> Vec<u8> {
    pdf(
        b"BT /F1 24 Tf 100 700 Td (Diploma of a physician, 2024) Tj ET".to_vec(),
        None,
    )
}

/// Seconds since the epoch.
pub fn unix(t: chrono::DateTime<chrono::Utc>) -> u64 {
    u64::try_from(t.timestamp()).expect("after 1970")
}

/// Serves `app`'s state again on a new port, with other document settings (a stand-in
/// inspection worker, other limits); returns the new server's base URL.
pub fn serve_with_documents(app: &TestApp, documents: accredo::documents::Documents) -> String {
    let mut state = app.state.clone();
    state.documents = Arc::new(documents);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = http::server(state, listener, 2, std::time::Duration::from_secs(5))
                .expect("server");
            let _ = server.await;
        })
    });
    base
}

/// The `accredo` binary run from the repository with none of the caller's `ACCREDO_*`
/// settings (an SMTP server or a gateway configured on the developer's machine must not
/// receive the tests' mail), background reminder runs off, logging at `warn`.
pub fn accredo_command(database_url: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_accredo"));
    for (key, _) in std::env::vars() {
        if key.starts_with("ACCREDO_") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(repo())
        .env("DATABASE_URL", database_url)
        .env("ACCREDO_REMINDER_POLL_SECS", "0")
        .env("ACCREDO_LOG", "warn");
    cmd
}
