//! Checks of the configuration at start, beyond what parsing a value checks: each problem
//! names its setting by the environment name of the configuration table, and all are told
//! at once.

use crate::config::{Common, Serve};

fn url(problems: &mut Vec<String>, name: &str, value: Option<&str>, schemes: &[&str]) {
    let Some(raw) = value else { return };
    match url::Url::parse(raw) {
        Ok(u) if schemes.contains(&u.scheme()) => {}
        Ok(u) => problems.push(format!(
            "{name}: the scheme must be {} (not `{}`)",
            schemes.join(" or "),
            u.scheme()
        )),
        Err(e) => problems.push(format!("{name}: not a URL ({e})")),
    }
}

fn dir(problems: &mut Vec<String>, name: &str, path: &std::path::Path) {
    if !path.is_dir() {
        problems.push(format!("{name}: {} is not a directory", path.display()));
    }
}

fn address(problems: &mut Vec<String>, name: &str, value: Option<&str>) {
    let Some(raw) = value else { return };
    let ok = raw
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !ok {
        problems.push(format!(
            "{name}: `{raw}` is not host:port (e.g. 127.0.0.1:8080)"
        ));
    }
}

/// The settings every command reads.
pub fn common(c: &Common) -> Vec<String> {
    let mut p = Vec::new();
    if let Err(e) = crate::store::DbTarget::parse(&c.database_url) {
        p.push(format!("DATABASE_URL: {e}"));
    }
    if c.db_pool_size == Some(0) {
        p.push("ACCREDO_DB_POOL_SIZE: must be at least 1".into());
    }
    url(
        &mut p,
        "ACCREDO_DOCUMENTS_URL",
        c.documents_url.as_deref(),
        &["s3"],
    );
    if let Some(s) = &c.session_secret
        && s.len() < 32
    {
        p.push("ACCREDO_SESSION_SECRET: must be at least 32 bytes long".into());
    }
    if c.session_idle_minutes < 1 {
        p.push("ACCREDO_SESSION_IDLE_MINUTES: must be at least 1".into());
    }
    if c.session_lifetime_hours < 1 {
        p.push("ACCREDO_SESSION_LIFETIME_HOURS: must be at least 1".into());
    }
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&c.log) {
        p.push(format!("ACCREDO_LOG: {e}"));
    }
    let n = &c.notify;
    url(
        &mut p,
        "ACCREDO_SMTP_URL",
        n.smtp_url.as_deref(),
        &["smtp", "smtps"],
    );
    for (name, value) in [
        ("ACCREDO_SMS_WEBHOOK_URL", &n.sms_webhook_url),
        ("ACCREDO_PUSH_WEBHOOK_URL", &n.push_webhook_url),
        ("ACCREDO_REGISTER_WEBHOOK_URL", &n.register_webhook_url),
    ] {
        url(&mut p, name, value.as_deref(), &["http", "https"]);
    }
    address(
        &mut p,
        "ACCREDO_SUPPORT_MAIL_LISTEN",
        n.support_mail_listen.as_deref(),
    );
    if n.support_mail_listen.is_some()
        && crate::mail_intake::Address::parse(&n.support_mail_address).is_none()
    {
        p.push(format!(
            "ACCREDO_SUPPORT_MAIL_ADDRESS: `{}` is not local@domain without '+'",
            n.support_mail_address
        ));
    }
    p
}

/// The settings of `serve` and `demo` (with the files and directories they read).
pub fn serve(c: &Common, s: &Serve) -> Vec<String> {
    let mut p = Vec::new();
    dir(&mut p, "ACCREDO_WORKFLOWS_DIR", &c.workflows_dir);
    dir(&mut p, "ACCREDO_SCHEMAS_DIR", &c.schemas_dir);
    dir(&mut p, "ACCREDO_TEMPLATES_DIR", &c.templates_dir);
    if let Some(t) = &c.trust_store
        && !t.is_file()
    {
        p.push(format!(
            "ACCREDO_TRUST_STORE: {} is not a file",
            t.display()
        ));
    }

    address(&mut p, "ACCREDO_BIND", Some(&s.bind));
    url(
        &mut p,
        "ACCREDO_PUBLIC_URL",
        s.public_url.as_deref(),
        &["http", "https"],
    );
    url(
        &mut p,
        "ACCREDO_OIDC_ISSUER",
        s.oidc.oidc_issuer.as_deref(),
        &["http", "https"],
    );
    url(
        &mut p,
        "ACCREDO_OIDC_PERSONS_BASE",
        s.oidc.oidc_persons_base.as_deref(),
        &["http", "https"],
    );
    if s.workers == Some(0) {
        p.push("ACCREDO_WORKERS: must be at least 1".into());
    }
    if let Err(e) = crate::http::client_ip::TrustedProxies::parse(&s.trusted_proxies) {
        p.push(format!("ACCREDO_TRUSTED_PROXIES: {e}"));
    }
    p
}
