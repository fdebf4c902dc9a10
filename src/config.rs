//! Configuration: command-line flags, each also settable by an `ACCREDO_*` environment
//! variable (and `DATABASE_URL`).

use clap::Args;
use std::path::PathBuf;

/// Settings every subcommand shares.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Configuration file (TOML; its keys are the environment names of the settings).
    #[arg(long, env = "ACCREDO_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Database: postgres://user@host:port/db or sqlite://PATH (default: SQLite under ./data/).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/accredo.db",
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,
    /// Directory with workflow definitions.
    #[arg(
        long,
        env = "ACCREDO_WORKFLOWS_DIR",
        default_value = "workflows",
        global = true
    )]
    pub workflows_dir: PathBuf,
    /// Directory with JSON Schemas of forms.
    #[arg(
        long,
        env = "ACCREDO_SCHEMAS_DIR",
        default_value = "schemas",
        global = true
    )]
    pub schemas_dir: PathBuf,
    /// Directory with notification templates (`notifications/{event}.{channel}.j2`).
    #[arg(
        long,
        env = "ACCREDO_TEMPLATES_DIR",
        default_value = "templates",
        global = true
    )]
    pub templates_dir: PathBuf,
    /// Database connection pool size (default: 16 for PostgreSQL, 4 for SQLite).
    #[arg(long, env = "ACCREDO_DB_POOL_SIZE", global = true)]
    pub db_pool_size: Option<u32>,
    /// Directory for document files (content-addressed blobs).
    #[arg(
        long,
        env = "ACCREDO_DOCUMENTS_DIR",
        default_value = "data/documents",
        global = true
    )]
    pub documents_dir: std::path::PathBuf,
    /// Keep document files in an S3-compatible bucket instead: `s3://bucket[/prefix]`, with
    /// credentials and endpoint from the standard AWS_* variables (see the README).
    #[arg(long, env = "ACCREDO_DOCUMENTS_URL", global = true)]
    pub documents_url: Option<String>,
    /// PEM file with the certificates of the certification authorities whose electronic
    /// signatures are accepted. Unset: signed submission is refused (`signature_not_configured`).
    #[arg(long, env = "ACCREDO_TRUST_STORE", global = true)]
    pub trust_store: Option<PathBuf>,
    /// Show applicants the names of the commission members who write to them (by default
    /// they see only the commission's role).
    #[arg(long, env = "ACCREDO_SHOW_COMMISSION_NAMES", global = true)]
    pub show_commission_names: bool,
    /// Region code in receipt numbers (`2026-77-000123`).
    #[arg(
        long,
        env = "ACCREDO_REGION_CODE",
        default_value = "77",
        value_parser = region_code,
        global = true
    )]
    pub region_code: String,
    /// Intake hours of a working day, Moscow time (`HH:MM-HH:MM`); a shortened day closes an
    /// hour earlier; a submission outside them is registered at the next opening.
    #[arg(
        long,
        env = "ACCREDO_INTAKE_HOURS",
        default_value = "09:00-18:00",
        value_parser = intake_hours,
        global = true
    )]
    pub intake_hours: crate::domain::calendar::Hours,
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "ACCREDO_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log line format: `json` (one object per line, the request's id and route in `span`),
    /// `text`, or `auto`: text on a terminal, JSON otherwise.
    #[arg(
        long,
        env = "ACCREDO_LOG_FORMAT",
        value_enum,
        default_value = "auto",
        global = true
    )]
    pub log_format: LogFormat,
    /// Session token secret (at least 32 bytes). Unset: read from, or created in, the key file.
    #[arg(
        long,
        env = "ACCREDO_SESSION_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub session_secret: Option<String>,
    /// File holding the session token secret when ACCREDO_SESSION_SECRET is unset.
    #[arg(
        long,
        env = "ACCREDO_SESSION_KEY_FILE",
        default_value = "data/session.key",
        global = true
    )]
    pub session_key_file: PathBuf,
    /// Minutes of inactivity after which a session ends.
    #[arg(
        long,
        env = "ACCREDO_SESSION_IDLE_MINUTES",
        default_value_t = 30,
        global = true
    )]
    pub session_idle_minutes: i64,
    /// Hours after login after which a session ends regardless of activity.
    #[arg(
        long,
        env = "ACCREDO_SESSION_LIFETIME_HOURS",
        default_value_t = 12,
        global = true
    )]
    pub session_lifetime_hours: i64,
    #[command(flatten)]
    pub notify: Notify,
}

/// Notification delivery: e-mail, the SMS and push gateways, retries, renewal reminders.
#[derive(Debug, Clone, Args)]
pub struct Notify {
    /// SMTP server for e-mail: `smtp://[user:pass@]host[:port][?tls=required]` (STARTTLS) or
    /// `smtps://…` (TLS). Unset: `serve` refuses the e-mail channel (and says so at start);
    /// `demo` keeps messages as `.eml` files.
    #[arg(long, env = "ACCREDO_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,
    /// Keep e-mails as `.eml` files in this directory instead of sending them (the `demo`
    /// default: data/mail).
    #[arg(long, env = "ACCREDO_MAIL_DIR", global = true)]
    pub mail_dir: Option<PathBuf>,
    /// The sender of e-mails.
    #[arg(
        long,
        env = "ACCREDO_MAIL_FROM",
        default_value = "Аккредитация специалистов <noreply@accredo.local>",
        global = true
    )]
    pub mail_from: String,
    /// The support desk's mail address: mail to it opens a support request, and e-mails about
    /// a request reply to `<local>+<token>@<domain>`.
    #[arg(
        long,
        env = "ACCREDO_SUPPORT_MAIL_ADDRESS",
        default_value = "support@accredo.local",
        global = true
    )]
    pub support_mail_address: String,
    /// Where the desk's own SMTP listener receives that mail, `host:port` (unset: no mail
    /// intake).
    #[arg(long, env = "ACCREDO_SUPPORT_MAIL_LISTEN", global = true)]
    pub support_mail_listen: Option<String>,
    /// SMTP connections kept open (and e-mails in flight).
    #[arg(long, env = "ACCREDO_SMTP_POOL", default_value_t = 8, global = true)]
    pub smtp_pool: u32,
    /// Seconds before an SMTP command times out.
    #[arg(
        long,
        env = "ACCREDO_SMTP_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub smtp_timeout_secs: u64,
    /// The SMS gateway's webhook (unset: no SMS).
    #[arg(long, env = "ACCREDO_SMS_WEBHOOK_URL", global = true)]
    pub sms_webhook_url: Option<String>,
    /// Its Standard Webhooks secret (`whsec_` and base64).
    #[arg(
        long,
        env = "ACCREDO_SMS_WEBHOOK_SECRET",
        hide_env_values = true,
        default_value = "",
        global = true
    )]
    pub sms_webhook_secret: String,
    /// The push gateway's webhook (unset: no push).
    #[arg(long, env = "ACCREDO_PUSH_WEBHOOK_URL", global = true)]
    pub push_webhook_url: Option<String>,
    /// Its Standard Webhooks secret (`whsec_` and base64).
    #[arg(
        long,
        env = "ACCREDO_PUSH_WEBHOOK_SECRET",
        hide_env_values = true,
        default_value = "",
        global = true
    )]
    pub push_webhook_secret: String,
    /// The register's (ФРМР) webhook that accreditation records are exported to (unset: they
    /// wait in the outbox).
    #[arg(long, env = "ACCREDO_REGISTER_WEBHOOK_URL", global = true)]
    pub register_webhook_url: Option<String>,
    /// Its Standard Webhooks secret (`whsec_` and base64).
    #[arg(
        long,
        env = "ACCREDO_REGISTER_WEBHOOK_SECRET",
        hide_env_values = true,
        default_value = "",
        global = true
    )]
    pub register_webhook_secret: String,
    /// Milliseconds before a webhook attempt times out.
    #[arg(
        long,
        env = "ACCREDO_WEBHOOK_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub webhook_timeout_ms: u64,
    /// Webhook requests in flight at once, per gateway.
    #[arg(
        long,
        env = "ACCREDO_WEBHOOK_CONCURRENCY",
        default_value_t = 64,
        global = true
    )]
    pub webhook_concurrency: usize,
    /// Milliseconds between passes of the dispatchers (0: none in this instance;
    /// `accredo notifications run-once` from cron then delivers).
    #[arg(
        long,
        env = "ACCREDO_NOTIFY_POLL_MS",
        default_value_t = 500,
        global = true
    )]
    pub notify_poll_ms: u64,
    /// Seconds a dispatcher's claim on a row holds (a process that dies mid-delivery gives
    /// its rows back after this).
    #[arg(
        long,
        env = "ACCREDO_NOTIFY_LEASE_SECS",
        default_value_t = 60,
        global = true
    )]
    pub notify_lease_secs: i64,
    /// Attempts before a row fails.
    #[arg(
        long,
        env = "ACCREDO_NOTIFY_MAX_ATTEMPTS",
        default_value_t = 8,
        global = true
    )]
    pub notify_max_attempts: i32,
    /// Milliseconds before the first retry; each next one doubles (with jitter).
    #[arg(
        long,
        env = "ACCREDO_NOTIFY_RETRY_BASE_MS",
        default_value_t = 5_000,
        global = true
    )]
    pub notify_retry_base_ms: i64,
    /// The longest delay between attempts, seconds.
    #[arg(
        long,
        env = "ACCREDO_NOTIFY_RETRY_MAX_SECS",
        default_value_t = 3_600,
        global = true
    )]
    pub notify_retry_max_secs: i64,
    /// Days before an accreditation's valid-until date at which renewal reminders go out,
    /// comma-separated.
    #[arg(
        long,
        env = "ACCREDO_REMINDER_OFFSETS",
        default_value = "30",
        value_delimiter = ',',
        global = true
    )]
    pub reminder_offsets: Vec<i64>,
    /// Open a draft periodic accreditation (form prefilled) with each renewal reminder.
    #[arg(long, env = "ACCREDO_REMINDER_DRAFTS", global = true)]
    pub reminder_drafts: bool,
    /// Seconds between the server's reminder runs (0: none in this instance; `accredo
    /// reminders run` from cron then sends them).
    #[arg(
        long,
        env = "ACCREDO_REMINDER_POLL_SECS",
        default_value_t = 3_600,
        global = true
    )]
    pub reminder_poll_secs: u64,
}

impl Notify {
    /// The mail directory: the configured one, else in `demo` (no SMTP server) `data/mail`
    /// next to the documents directory.
    pub fn mail_dir(&self, documents_dir: &std::path::Path, demo: bool) -> Option<PathBuf> {
        self.mail_dir.clone().or_else(|| {
            (demo && self.smtp_url.is_none()).then(|| documents_dir.with_file_name("mail"))
        })
    }

    /// The channels this configuration delivers besides the cabinet's: what rows are written
    /// for (by a server, a cron run of timers or reminders alike) and what dispatchers run.
    pub fn channels(&self, documents_dir: &std::path::Path, demo: bool) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.smtp_url.is_some() || self.mail_dir(documents_dir, demo).is_some() {
            out.push("email");
        }
        if self.sms_webhook_url.is_some() {
            out.push("sms");
        }
        if self.push_webhook_url.is_some() {
            out.push("push");
        }
        out
    }

    /// How dispatchers claim and retry.
    pub fn policy(&self) -> crate::notify::dispatch::Policy {
        crate::notify::dispatch::Policy {
            lease: chrono::Duration::seconds(self.notify_lease_secs.max(1)),
            max_attempts: self.notify_max_attempts.max(1),
            base_delay: chrono::Duration::milliseconds(self.notify_retry_base_ms.max(1)),
            max_delay: chrono::Duration::seconds(self.notify_retry_max_secs.max(1)),
            ..crate::notify::dispatch::Policy::default()
        }
    }

    /// What the reminders do.
    pub fn reminders(&self) -> crate::notify::reminders::Settings {
        crate::notify::reminders::Settings {
            offsets: self
                .reminder_offsets
                .iter()
                .copied()
                .filter(|d| *d >= 0)
                .collect(),
            open_drafts: self.reminder_drafts,
            ..crate::notify::reminders::Settings::default()
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise.
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Settings of the HTTP server.
#[derive(Debug, Clone, Args)]
pub struct Serve {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "ACCREDO_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Do not apply pending migrations on start (the server then refuses to start if any are pending).
    #[arg(long, env = "ACCREDO_NO_MIGRATE")]
    pub no_migrate: bool,
    /// Seconds between automatic audit checkpoints (0 disables them).
    #[arg(long, env = "ACCREDO_AUDIT_CHECKPOINT_SECS", default_value_t = 3600)]
    pub checkpoint_secs: u64,
    /// Milliseconds between passes of the timer worker, which fires due deadlines (0 disables
    /// it in this instance; `accredo timers run-once` from cron then does it).
    #[arg(long, env = "ACCREDO_TIMER_POLL_MS", default_value_t = 500)]
    pub timer_poll_ms: u64,
    /// Failed logins and invalid tokens allowed per client address per minute.
    #[arg(long, env = "ACCREDO_AUTH_FAILURES_PER_MINUTE", default_value_t = 20)]
    pub auth_failures_per_minute: u32,
    /// Reverse proxies (addresses or networks, comma-separated) whose `X-Forwarded-For` names
    /// the client; from anyone else the header is ignored.
    #[arg(long, env = "ACCREDO_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// HTTP worker threads (default: number of CPUs).
    #[arg(long, env = "ACCREDO_WORKERS")]
    pub workers: Option<usize>,
    /// Seconds a stopping server (SIGTERM) gives the requests in flight, and then the
    /// background workers' current passes, to finish.
    #[arg(long, env = "ACCREDO_SHUTDOWN_SECS", default_value_t = 20)]
    pub shutdown_secs: u64,
    /// Public base URL of this server (default: http://<bound address>); https:// makes
    /// session cookies Secure with the __Host- prefix.
    #[arg(long, env = "ACCREDO_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub oidc: Oidc,
    /// `demo` only: address of the built-in identity provider (loopback only).
    #[arg(long, env = "ACCREDO_DEMO_IDP_BIND", default_value = "127.0.0.1:0")]
    pub demo_idp_bind: String,
    /// `demo` only: let the demo identity provider listen on a non-loopback address.
    #[arg(long)]
    pub demo_idp_force: bool,
}

/// The OpenID Connect provider (ESIA or any standard one found by discovery).
#[derive(Debug, Clone, Args)]
pub struct Oidc {
    /// Issuer URL; login is off when unset (and in `demo`, the built-in provider is used).
    #[arg(long, env = "ACCREDO_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// Client id registered at the provider.
    #[arg(long, env = "ACCREDO_OIDC_CLIENT_ID", default_value = "accredo")]
    pub oidc_client_id: String,
    /// Client secret.
    #[arg(
        long,
        env = "ACCREDO_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        default_value = ""
    )]
    pub oidc_client_secret: String,
    /// Token endpoint authentication: basic (client_secret_basic) or post (client_secret_post).
    #[arg(
        long,
        env = "ACCREDO_OIDC_CLIENT_AUTH",
        value_enum,
        default_value = "basic"
    )]
    pub oidc_client_auth: crate::identity::oidc::ClientAuth,
    /// Accepted ID token signature algorithms, comma-separated.
    #[arg(
        long,
        env = "ACCREDO_OIDC_ALLOWED_ALGS",
        default_value = "RS256,ES256",
        value_delimiter = ','
    )]
    pub oidc_allowed_algs: Vec<String>,
    /// Claim with the person id: `sub`, or `urn:esia:sbj_id` for ESIA.
    #[arg(long, env = "ACCREDO_OIDC_SUBJECT_CLAIM", default_value = "sub")]
    pub oidc_subject_claim: String,
    /// Claims carrying the confirmed-account flag, comma-separated; the first present wins.
    #[arg(
        long,
        env = "ACCREDO_OIDC_TRUSTED_CLAIMS",
        default_value = "urn:esia:sbj:is_tru,trusted",
        value_delimiter = ','
    )]
    pub oidc_trusted_claims: Vec<String>,
    /// ESIA-style persons endpoint base (`{base}/rs/prns/{oid}`) for data missing from the token.
    #[arg(long, env = "ACCREDO_OIDC_PERSONS_BASE")]
    pub oidc_persons_base: Option<String>,
    /// Scopes to ask for, separated by spaces or commas (`openid` is always asked). For ESIA:
    /// `openid fullname birthdate snils inn`.
    #[arg(long, env = "ACCREDO_OIDC_SCOPES", default_value = crate::identity::oidc::DEFAULT_SCOPES)]
    pub oidc_scopes: String,
}

/// `09:00-18:00`: opening before closing, at least an hour apart (a shortened day loses one).
fn intake_hours(raw: &str) -> Result<crate::domain::calendar::Hours, String> {
    let parse = |t: &str| chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M").ok();
    match raw.split_once('-').map(|(a, b)| (parse(a), parse(b))) {
        Some((Some(start), Some(end))) if end - start > chrono::Duration::hours(1) => {
            Ok(crate::domain::calendar::Hours { start, end })
        }
        _ => Err("HH:MM-HH:MM, opening more than an hour before closing, e.g. 09:00-18:00".into()),
    }
}

/// Two digits.
fn region_code(raw: &str) -> Result<String, String> {
    if raw.len() == 2 && raw.bytes().all(|b| b.is_ascii_digit()) {
        Ok(raw.to_owned())
    } else {
        Err("two digits, e.g. 77".into())
    }
}

#[cfg(test)]
mod intake_tests {
    use super::intake_hours;

    #[test]
    fn intake_hours_are_parsed_and_nonsense_is_refused() {
        let h = intake_hours("08:30-17:00").unwrap_or_default();
        assert_eq!(
            (
                h.start.format("%H:%M").to_string(),
                h.end.format("%H:%M").to_string()
            ),
            ("08:30".to_owned(), "17:00".to_owned())
        );
        for bad in ["18:00-09:00", "09:00-09:30", "9-18", "09:00", ""] {
            assert!(intake_hours(bad).is_err(), "{bad}");
        }
    }
}
