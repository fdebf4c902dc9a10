//! Wiring: configuration to a running server.

use crate::config::{Common, Serve};
use crate::domain::clock::{SharedClock, SystemClock};
use crate::engine::catalog::{Catalog, workflow_files};
use crate::http::AppState;
use crate::identity::demo_idp;
use crate::identity::oidc::OidcConfig;
use crate::identity::provider::Provider;
use crate::identity::session::SessionPolicy;
use crate::identity::token::TokenKeys;
use crate::store::{DbConnection, DbTarget, Store, definitions, migrate};
use crate::workers::{Pass, Start};
use anyhow::{Context, anyhow, bail};
use chrono::Duration;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

/// Issuer and audience of session tokens.
pub const TOKEN_ISSUER: &str = "accredo";
/// Audience of session tokens.
pub const TOKEN_AUDIENCE: &str = "accredo-api";

/// Loads and validates every workflow; on any problem, the error lists them all.
pub fn load_catalog(common: &Common) -> anyhow::Result<Catalog> {
    let files = workflow_files(&common.workflows_dir).with_context(|| {
        format!(
            "cannot read workflows directory {}",
            common.workflows_dir.display()
        )
    })?;
    if files.is_empty() {
        bail!(
            "no workflow definitions (*.yaml) in {}",
            common.workflows_dir.display()
        );
    }
    Catalog::load_with_reasons(&files, &common.schemas_dir, &common.workflows_dir).map_err(
        |problems| {
            anyhow!(
                "invalid workflow definitions:\n{}",
                problems
                    .iter()
                    .map(|p| format!("  {p}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        },
    )
}

/// Loads and checks the notification templates, writing rows for the channels the
/// configuration delivers (`demo`: e-mail to files when no SMTP server is set); on any problem,
/// the error lists them all.
pub fn load_templates(
    common: &Common,
    demo: bool,
) -> anyhow::Result<crate::notify::templates::Templates> {
    crate::notify::templates::Templates::from_dir(&common.templates_dir.join("notifications"))
        .map(|t| t.with_channels(&common.notify.channels(&common.documents_dir, demo)))
        .map_err(|problems| {
            anyhow!(
                "invalid notification templates:\n{}",
                problems
                    .iter()
                    .map(|p| format!("  {p}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
}

/// Parses `DATABASE_URL` (creating `./data/` for the default SQLite file) and opens the pool.
pub fn open_store(common: &Common) -> anyhow::Result<Store> {
    let target = DbTarget::parse(&common.database_url)?;
    if let DbTarget::Sqlite(path) = &target
        && path.parent() == Some(Path::new("data"))
    {
        std::fs::create_dir_all("data").context("cannot create ./data")?;
    }
    Ok(Store::open_with(&target, common.db_pool_size)?)
}

/// Applies pending migrations, or refuses to go on if they are pending and `apply` is false.
pub fn migrate_or_check(conn: &mut DbConnection, apply: bool) -> anyhow::Result<()> {
    if apply {
        let applied = migrate::run_pending(conn)?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied migrations");
        }
    } else if migrate::has_pending(conn)? {
        bail!(
            "database schema is not up to date: run `accredo migrate` (or start without --no-migrate)"
        );
    }
    Ok(())
}

/// Session token keys from `ACCREDO_SESSION_SECRET` or the key file (created on first use).
pub fn session_keys(common: &Common) -> anyhow::Result<TokenKeys> {
    let secret = match &common.session_secret {
        Some(s) => s.as_bytes().to_vec(),
        None => read_or_create_key(&common.session_key_file)?,
    };
    TokenKeys::new(&secret, TOKEN_ISSUER, TOKEN_AUDIENCE).map_err(|e| anyhow!("{e}"))
}

fn read_or_create_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read session key file {}", path.display()))?;
        return Ok(text.trim().as_bytes().to_vec());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let key = hex::encode(rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create session key file {}", path.display()))?;
    file.write_all(key.as_bytes())?;
    Ok(key.into_bytes())
}

/// Session lifetimes from configuration.
pub fn session_policy(common: &Common) -> SessionPolicy {
    SessionPolicy {
        idle: Duration::minutes(common.session_idle_minutes.max(1)),
        absolute: Duration::hours(common.session_lifetime_hours.max(1)),
    }
}

/// Everything the server needs, prepared and checked: catalog, migrated store, keys.
pub fn prepare(common: &Common, migrate_on_start: bool, demo: bool) -> anyhow::Result<AppState> {
    let catalog = Arc::new(load_catalog(common)?);
    let notices = Arc::new(load_templates(common, demo)?);
    let store = open_store(common)?;
    let clock: SharedClock = Arc::new(SystemClock);
    {
        let mut conn = store.conn()?;
        migrate_or_check(&mut conn, migrate_on_start)?;
        let now = clock.now().naive_utc();
        for w in catalog.list() {
            definitions::ensure(&mut conn, w, now)?;
        }
        let steps = crate::store::write_tx(&mut conn, |conn| {
            let calendar = crate::service::calendar::load(conn, common.intake_hours)?;
            crate::service::steps::backfill_if_empty(conn, &catalog, &calendar)
        })
        .map_err(|e| anyhow!("cannot record the finished steps of stage analytics: {e}"))?;
        if steps > 0 {
            tracing::info!(steps, "recorded the finished steps from the audit log");
        }
    }
    Ok(AppState {
        store,
        catalog,
        clock,
        keys: session_keys(common)?,
        policy: session_policy(common),
        oidc: None,
        proxies: Arc::new(crate::http::client_ip::TrustedProxies::default()),
        https: false,
        failures: std::sync::Arc::new(crate::http::limit::FailureLimiter::new(1_000)),
        signing: Arc::new(signing(common)?),
        notices,
        messages: crate::service::messages::Settings {
            hide_commission_names: !common.show_commission_names,
        },
        documents: Arc::new(crate::documents::Documents::new(
            blobs(common)?,
            std::env::current_exe().context("cannot find the accredo binary")?,
        )),
        workers: crate::workers::Workers::default(),
    })
}

/// The configured blob store: the S3 bucket of `--documents-url`, else the local directory.
pub fn blobs(common: &Common) -> anyhow::Result<crate::documents::storage::Blobs> {
    Ok(crate::documents::storage::Blobs::from_config(
        common.documents_url.as_deref(),
        &common.documents_dir,
    )?)
}

/// Signature verification against the configured trust store (none configured: every signed
/// submission is refused as not configured, and the server says so at start).
pub fn signing(common: &Common) -> anyhow::Result<crate::signature::Signing> {
    let trust = match &common.trust_store {
        Some(path) => crate::signature::cms::TrustStore::load(path)
            .map_err(|e| anyhow!("cannot read the trust store: {e}"))?,
        None => crate::signature::cms::TrustStore::default(),
    };
    let mut signing = crate::signature::Signing::new(trust, common.region_code.clone());
    signing.intake = common.intake_hours;
    Ok(signing)
}

/// The settings of the server's edge: the failed-login limit and the trusted proxies.
pub fn configure_edge(state: &mut AppState, serve: &Serve) -> anyhow::Result<()> {
    state.failures = Arc::new(crate::http::limit::FailureLimiter::new(
        serve.auth_failures_per_minute,
    ));
    state.proxies = Arc::new(
        crate::http::client_ip::TrustedProxies::parse(&serve.trusted_proxies)
            .map_err(|e| anyhow!(e))?,
    );
    Ok(())
}

/// Binds the listener (port 0 allowed).
pub fn bind(serve: &Serve) -> anyhow::Result<TcpListener> {
    TcpListener::bind(&serve.bind).with_context(|| format!("cannot listen on {}", serve.bind))
}

/// Connects login to the identity provider: the built-in demo provider for `demo`, the
/// configured one otherwise (none configured: login stays off).
pub async fn connect_login(
    state: &mut AppState,
    serve: &Serve,
    public_url: &str,
    demo: bool,
) -> anyhow::Result<Option<demo_idp::Running>> {
    let callback = format!("{}/auth/callback", public_url.trim_end_matches('/'));
    let o = &serve.oidc;
    let (config, running) = if demo {
        let client = demo_idp::DemoClient {
            id: "accredo-demo".into(),
            secret: hex::encode(rand::random::<[u8; 16]>()),
            redirect_uri: callback.clone(),
            post_logout_redirect_uri: Some(format!("{}/", public_url.trim_end_matches('/'))),
        };
        let running = demo_idp::start(
            &serve.demo_idp_bind,
            client.clone(),
            serve.demo_idp_force,
            state.clock.clone(),
        )?;
        let config = OidcConfig {
            issuer: running.issuer.clone(),
            client_id: client.id,
            client_secret: client.secret,
            client_auth: o.oidc_client_auth,
            redirect_url: callback,
            allowed_algs: vec!["ES256".into()],
            subject_claim: o.oidc_subject_claim.clone(),
            trusted_claims: o.oidc_trusted_claims.clone(),
            persons_base: Some(running.issuer.clone()),
            scopes: crate::identity::oidc::parse_scopes(&o.oidc_scopes),
        };
        (config, Some(running))
    } else {
        let Some(issuer) = &o.oidc_issuer else {
            return Ok(None);
        };
        let config = OidcConfig {
            issuer: issuer.clone(),
            client_id: o.oidc_client_id.clone(),
            client_secret: o.oidc_client_secret.clone(),
            client_auth: o.oidc_client_auth,
            redirect_url: callback,
            allowed_algs: o.oidc_allowed_algs.clone(),
            subject_claim: o.oidc_subject_claim.clone(),
            trusted_claims: o.oidc_trusted_claims.clone(),
            persons_base: o.oidc_persons_base.clone(),
            scopes: crate::identity::oidc::parse_scopes(&o.oidc_scopes),
        };
        (config, None)
    };
    let provider = Arc::new(Provider::default());
    if let Err(e) = provider.try_discover(&config, &state.clock).await {
        if demo {
            return Err(anyhow!("cannot start the demo identity provider: {e}"));
        }
        // Start anyway: login answers 503 until the provider answers (and /readyz says so).
        tracing::warn!(issuer = %config.issuer, error = %e, "identity provider not reachable at start; retrying in the background");
        provider.keep_discovering(config, state.clock.clone());
    }
    state.oidc = Some(provider);
    Ok(running)
}

/// A name for this process's timer worker (its SQLite leases): host, process id, a random tag.
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    format!(
        "{host}:{}:{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Timers fired per claim.
pub const TIMER_BATCH: i64 = 64;

/// Fires due timers every `poll_ms` milliseconds until the server stops; a full batch is
/// followed at once by the next, so a backlog (timers that fell due while every instance was
/// down) drains at full speed.
pub fn spawn_timers(state: &AppState, poll_ms: u64) {
    if poll_ms == 0 {
        return;
    }
    let (store, catalog, signing, notices, clock) = (
        state.store.clone(),
        state.catalog.clone(),
        state.signing.clone(),
        state.notices.clone(),
        state.clock.clone(),
    );
    let owner = worker_name();
    let every = std::time::Duration::from_millis(poll_ms);
    state.workers.spawn("timers", every, Start::Now, move || {
        let (catalog, signing, notices, owner, clock) = (
            catalog.clone(),
            signing.clone(),
            notices.clone(),
            owner.clone(),
            clock.clone(),
        );
        let store = store.clone();
        async move {
            let pass = store
                .run(move |conn| {
                    let rules = crate::service::Rules {
                        catalog: &catalog,
                        signing: &signing,
                        notices: &notices,
                    };
                    crate::service::timers::run_due(
                        conn,
                        rules,
                        &owner,
                        TIMER_BATCH,
                        clock.as_ref(),
                    )
                })
                .await;
            match pass {
                Ok(r) if r.claimed as i64 >= TIMER_BATCH => Pass::More,
                Ok(r) => {
                    if r.claimed > 0 {
                        tracing::info!(
                            fired = r.fired,
                            stale = r.stale,
                            failed = r.failed,
                            "timers fired"
                        );
                    }
                    Pass::Idle
                }
                Err(e) => {
                    tracing::error!(error = %e, "timer pass failed");
                    Pass::Failed(e.to_string())
                }
            }
        }
    });
}

/// Writes audit checkpoints every `secs` seconds until the server stops.
pub fn spawn_checkpoints(state: &AppState, secs: u64) {
    if secs == 0 {
        return;
    }
    let store = state.store.clone();
    let clock = state.clock.clone();
    let every = std::time::Duration::from_secs(secs);
    state.workers.spawn(
        "audit_checkpoints",
        every,
        Start::AfterInterval,
        move || {
            let store = store.clone();
            let now = clock.now().naive_utc();
            async move {
                match store
                    .run(move |conn| crate::audit::checkpoint::write(conn, now))
                    .await
                {
                    Ok(Some(cp)) => {
                        tracing::info!(
                            last_event = cp.last_event_id,
                            events = cp.event_count,
                            "audit checkpoint written"
                        );
                        Pass::Idle
                    }
                    Ok(None) => Pass::Idle,
                    Err(e) => {
                        tracing::error!(error = %e, "audit checkpoint failed");
                        Pass::Failed(e.to_string())
                    }
                }
            }
        },
    );
}

/// The configured dispatchers. E-mail goes to the SMTP server when one is set, else to `.eml`
/// files when a mail directory is set (or, in `demo`, to `data/mail/`); with neither, the
/// e-mail channel is refused and the server says so loudly, instead of dropping mail.
///
/// Async because the SMTP connection pool starts its background task on the Tokio runtime it
/// is built on: built outside one, it panics.
pub async fn dispatchers(
    common: &Common,
    store: &Store,
    clock: &SharedClock,
    demo: bool,
) -> anyhow::Result<Vec<Arc<dyn crate::notify::dispatch::Dispatcher>>> {
    use crate::notify::{email, webhook};
    let n = &common.notify;
    let mut out: Vec<Arc<dyn crate::notify::dispatch::Dispatcher>> = Vec::new();
    let transport = match (&n.smtp_url, n.mail_dir(&common.documents_dir, demo)) {
        (Some(url), _) => {
            tracing::info!("e-mail: through the SMTP server of ACCREDO_SMTP_URL");
            Some(email::Email::smtp(&email::SmtpSettings {
                url: url.clone(),
                pool: n.smtp_pool,
                timeout_secs: n.smtp_timeout_secs,
            })?)
        }
        (None, Some(dir)) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the mail directory {}", dir.display()))?;
            println!(
                "e-mail: no SMTP server configured; messages are kept as .eml files in {}/",
                dir.display()
            );
            Some(email::Transport::Files(dir))
        }
        (None, None) => {
            tracing::error!(
                "E-MAIL CHANNEL REFUSED: no SMTP server is configured (ACCREDO_SMTP_URL) and no \
                 mail directory (ACCREDO_MAIL_DIR); no e-mail notifications are written"
            );
            None
        }
    };
    if let Some(t) = transport {
        let desk = n
            .support_mail_listen
            .as_ref()
            .and_then(|_| crate::mail_intake::Address::parse(&n.support_mail_address));
        out.push(Arc::new(
            email::Email::new(
                t,
                &n.mail_from,
                store.clone(),
                clock.clone(),
                n.smtp_pool.max(1) as usize,
            )?
            .replies_to(desk),
        ));
    }
    let timeout = std::time::Duration::from_millis(n.webhook_timeout_ms.max(1));
    for (channel, url, secret) in [
        ("sms", &n.sms_webhook_url, &n.sms_webhook_secret),
        ("push", &n.push_webhook_url, &n.push_webhook_secret),
    ] {
        if let Some(url) = url {
            out.push(Arc::new(webhook::Webhook::new(
                channel,
                url,
                secret,
                timeout,
                clock.clone(),
                n.webhook_concurrency.max(1),
            )?));
        }
    }
    if let Some(url) = &n.register_webhook_url {
        out.push(Arc::new(
            webhook::Webhook::new(
                crate::notify::templates::REGISTER_CHANNEL,
                url,
                &n.register_webhook_secret,
                timeout,
                clock.clone(),
                n.webhook_concurrency.max(1),
            )?
            .with_own_bodies(),
        ));
    }
    Ok(out)
}

/// Sends due renewal reminders every `secs` seconds until the server stops (the first run at
/// start).
pub fn spawn_reminders(state: &AppState, settings: crate::notify::reminders::Settings, secs: u64) {
    if secs == 0 {
        return;
    }
    let (store, catalog, notices, clock) = (
        state.store.clone(),
        state.catalog.clone(),
        state.notices.clone(),
        state.clock.clone(),
    );
    let every = std::time::Duration::from_secs(secs);
    state
        .workers
        .spawn("reminders", every, Start::Now, move || {
            let (store, catalog, notices, settings, now) = (
                store.clone(),
                catalog.clone(),
                notices.clone(),
                settings.clone(),
                clock.now(),
            );
            async move {
                match store
                    .run(move |conn| {
                        crate::notify::reminders::run(conn, &catalog, &notices, &settings, now)
                    })
                    .await
                {
                    Ok(r) => {
                        if r.sent > 0 {
                            tracing::info!(
                                sent = r.sent,
                                drafts = r.drafts,
                                "renewal reminders sent"
                            );
                        }
                        Pass::Idle
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "renewal reminders failed");
                        Pass::Failed(e.to_string())
                    }
                }
            }
        });
}
