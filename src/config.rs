//! Configuration: command-line flags, each also settable by an `ACCREDO_*` environment
//! variable (and `DATABASE_URL`).

use clap::Args;
use std::path::PathBuf;

/// Settings every subcommand shares.
#[derive(Debug, Clone, Args)]
pub struct Common {
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
    /// Database connection pool size (default: 16 for PostgreSQL, 4 for SQLite).
    #[arg(long, env = "ACCREDO_DB_POOL_SIZE", global = true)]
    pub db_pool_size: Option<u32>,
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "ACCREDO_LOG", default_value = "info", global = true)]
    pub log: String,
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
    /// HTTP worker threads (default: number of CPUs).
    #[arg(long, env = "ACCREDO_WORKERS")]
    pub workers: Option<usize>,
}
