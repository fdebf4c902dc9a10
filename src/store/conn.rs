//! Connections, the pool and write transactions.

use super::StoreError;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// PostgreSQL (production).
    Pg(PgConnection),
    /// SQLite (embedded default).
    Sqlite(SqliteConnection),
}

impl std::fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DbConnection::Pg(_) => "DbConnection::Pg",
            DbConnection::Sqlite(_) => "DbConnection::Sqlite",
        })
    }
}

/// Which backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

/// A parsed `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// `postgres://` or `postgresql://` URL, passed to libpq as is.
    Postgres(String),
    /// A SQLite database file.
    Sqlite(PathBuf),
}

impl DbTarget {
    /// Parses `postgres://…`, `postgresql://…`, `sqlite://PATH`, `sqlite:PATH` or a bare file path.
    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(StoreError::BadUrl("DATABASE_URL is empty".into()));
        }
        if let Some((scheme, rest)) = raw.split_once(':') {
            match scheme.to_ascii_lowercase().as_str() {
                "postgres" | "postgresql" => {
                    let parsed = url::Url::parse(raw).map_err(|e| {
                        StoreError::BadUrl(format!(
                            "DATABASE_URL is not a valid PostgreSQL URL: {e}"
                        ))
                    })?;
                    if parsed.host_str().is_none_or(str::is_empty)
                        && !parsed.query_pairs().any(|(k, _)| k == "host")
                    {
                        return Err(StoreError::BadUrl(
                            "DATABASE_URL names no PostgreSQL host (expected postgres://user@host:port/db)".into(),
                        ));
                    }
                    return Ok(Self::Postgres(raw.to_owned()));
                }
                "sqlite" => {
                    let path = rest.strip_prefix("//").unwrap_or(rest);
                    if path.is_empty() {
                        return Err(StoreError::BadUrl(
                            "DATABASE_URL names no SQLite file (expected sqlite://PATH)".into(),
                        ));
                    }
                    return Ok(Self::Sqlite(PathBuf::from(path)));
                }
                s if s.len() > 1 && rest.starts_with("//") => {
                    return Err(StoreError::BadUrl(format!(
                        "DATABASE_URL scheme `{scheme}` is not supported: use postgres://… or sqlite://…"
                    )));
                }
                _ => {}
            }
        }
        Ok(Self::Sqlite(PathBuf::from(raw)))
    }

    /// The backend this target uses.
    pub fn backend(&self) -> Backend {
        match self {
            DbTarget::Postgres(_) => Backend::Postgres,
            DbTarget::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The target with any password removed, for logs and messages.
    pub fn redacted(&self) -> String {
        match self {
            DbTarget::Postgres(raw) => match url::Url::parse(raw) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    u.to_string()
                }
                Err(_) => "postgres://…".into(),
            },
            DbTarget::Sqlite(p) => format!("sqlite://{}", p.display()),
        }
    }

    /// Opens one connection, with a one-line error naming the problem.
    pub fn connect(&self) -> Result<DbConnection, StoreError> {
        match self {
            DbTarget::Postgres(url) => {
                PgConnection::establish(url)
                    .map(DbConnection::Pg)
                    .map_err(|e| {
                        StoreError::Unavailable(format!(
                            "cannot connect to PostgreSQL at {}: {}",
                            self.redacted(),
                            first_line(&e)
                        ))
                    })
            }
            DbTarget::Sqlite(path) => {
                open_sqlite(path, SqliteOpen::Create).map(DbConnection::Sqlite)
            }
        }
    }

    /// Opens one connection to a database that must already exist: a SQLite file is never
    /// created.
    fn connect_existing(&self, mode: SqliteOpen) -> Result<DbConnection, StoreError> {
        match self {
            DbTarget::Postgres(_) => self.connect(),
            DbTarget::Sqlite(path) => {
                if !path.is_file() {
                    return Err(StoreError::NotMigrated(format!(
                        "{} does not exist (create it with `accredo migrate`)",
                        self.redacted()
                    )));
                }
                open_sqlite(path, mode).map(DbConnection::Sqlite)
            }
        }
    }
}

/// How a SQLite file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SqliteOpen {
    /// Read-write, created when missing (`migrate`, `serve`, `demo`).
    Create,
    /// Read-write, never created.
    Existing,
    /// Read-only and without setting anything (journal mode included), to look at a file that
    /// may not be ours before touching it.
    Probe,
}

/// `path` as a SQLite URI (`file:` with `?`, `#` and `%` escaped) opened in `mode`.
fn sqlite_uri(path: &Path, mode: &str) -> String {
    let text = path.to_string_lossy();
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '%' => escaped.push_str("%25"),
            '?' => escaped.push_str("%3f"),
            '#' => escaped.push_str("%23"),
            c => escaped.push(c),
        }
    }
    // An absolute path needs an empty authority, else its first segment would be read as one.
    let prefix = if escaped.starts_with('/') {
        "file://"
    } else {
        "file:"
    };
    format!("{prefix}{escaped}?mode={mode}")
}

/// Refuses a database without accredo's schema or with migrations not applied, reading only:
/// a file that is someone else's is left exactly as it was.
fn check_migrated(conn: &mut DbConnection, target: &DbTarget) -> Result<(), StoreError> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Present {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        present: bool,
    }
    let present = match conn {
        DbConnection::Pg(c) => diesel::sql_query(
            "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS present",
        )
        .get_result::<Present>(c),
        DbConnection::Sqlite(c) => diesel::sql_query(
            "SELECT count(*) > 0 AS present FROM sqlite_master \
             WHERE type = 'table' AND name = '__diesel_schema_migrations'",
        )
        .get_result::<Present>(c),
    }
    .map_err(|e| {
        StoreError::NotMigrated(format!(
            "cannot read {}: {e} (is it an accredo database? create one with `accredo migrate`)",
            target.redacted()
        ))
    })?
    .present;
    if !present {
        return Err(StoreError::NotMigrated(format!(
            "{} has no accredo schema (run `accredo migrate`)",
            target.redacted()
        )));
    }
    if super::migrate::has_pending(conn)? {
        return Err(StoreError::NotMigrated(format!(
            "{} has migrations not applied yet (run `accredo migrate`)",
            target.redacted()
        )));
    }
    Ok(())
}

fn first_line(e: &ConnectionError) -> String {
    let text = e.to_string();
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unknown error");
    line.trim_start_matches("connection to server ").to_owned()
}

fn open_sqlite(path: &Path, mode: SqliteOpen) -> Result<SqliteConnection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(StoreError::BadUrl(format!(
            "cannot open SQLite database {}: directory {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    let text = match mode {
        SqliteOpen::Create => path.to_string_lossy().into_owned(),
        SqliteOpen::Existing => sqlite_uri(path, "rw"),
        SqliteOpen::Probe => sqlite_uri(path, "ro"),
    };
    let mut conn = SqliteConnection::establish(&text).map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot open SQLite database {}: {}",
            path.display(),
            first_line(&e)
        ))
    })?;
    if mode == SqliteOpen::Probe {
        conn.batch_execute("PRAGMA busy_timeout = 10000;")
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot open SQLite database {}: {e}",
                    path.display()
                ))
            })?;
        return Ok(conn);
    }
    conn.batch_execute(
        "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )
    .map_err(|e| StoreError::Unavailable(format!("cannot open SQLite database {}: {e}", path.display())))?;
    Ok(conn)
}

/// How long a request waits for a pooled connection while the database answers.
const WAIT: Duration = Duration::from_secs(10);
/// How long it waits while the last attempt to connect failed: the database is unreachable,
/// so the answer (503) comes at once instead of after [`WAIT`].
const WAIT_WHILE_DOWN: Duration = Duration::from_millis(200);
/// The pool's own connection timeout; r2d2 retries a failed connect with a backoff capped at
/// half of it, so this bounds how late the pool notices that the database is back.
const RECONNECT: Duration = Duration::from_secs(1);

/// Whether the last attempt to open a connection failed (the database is unreachable).
#[derive(Debug, Default)]
struct Reachability {
    down: std::sync::atomic::AtomicBool,
}

impl Reachability {
    fn record<T>(&self, result: &Result<T, StoreError>) {
        let down = result.is_err();
        if self.down.swap(down, std::sync::atomic::Ordering::SeqCst) != down {
            if down {
                tracing::error!("database unreachable: answering 503 at once until it is back");
            } else {
                tracing::info!("database reachable again");
            }
        }
    }

    fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// r2d2 manager that opens connections through [`DbTarget::connect`] (or, for a store of an
/// existing database, without ever creating a SQLite file).
#[derive(Debug)]
pub struct Manager {
    target: DbTarget,
    existing: bool,
    reach: std::sync::Arc<Reachability>,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConnection, StoreError> {
        let conn = if self.existing {
            self.target.connect_existing(SqliteOpen::Existing)
        } else {
            self.target.connect()
        };
        self.reach.record(&conn);
        conn
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        conn.ping().map_err(StoreError::Query)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// The pool plus what we know about the backend.
#[derive(Debug, Clone)]
pub struct Store {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
    reach: std::sync::Arc<Reachability>,
}

impl Store {
    /// Connects (once, to report a bad URL clearly) and builds the pool with the default size.
    pub fn open(target: &DbTarget) -> Result<Self, StoreError> {
        Self::open_with(target, None)
    }

    /// Like [`Store::open`] with a pool size (default: 16 for PostgreSQL, 4 for SQLite).
    pub fn open_with(target: &DbTarget, pool_size: Option<u32>) -> Result<Self, StoreError> {
        drop(target.connect()?);
        Self::pool(target, pool_size, false)
    }

    /// Opens a database that must exist with every migration applied, for commands that work
    /// on one (`audit verify`, `registry sync`, ...): anything else is refused with
    /// [`StoreError::NotMigrated`], a missing SQLite file is not created, and a file that is not
    /// an accredo database is only read.
    pub fn open_existing(target: &DbTarget, pool_size: Option<u32>) -> Result<Self, StoreError> {
        let mut probe = target.connect_existing(SqliteOpen::Probe)?;
        check_migrated(&mut probe, target)?;
        drop(probe);
        Self::pool(target, pool_size, true)
    }

    fn pool(target: &DbTarget, pool_size: Option<u32>, existing: bool) -> Result<Self, StoreError> {
        let size = pool_size
            .filter(|n| *n > 0)
            .unwrap_or(match target.backend() {
                Backend::Postgres => 16,
                Backend::Sqlite => 4,
            });
        let reach = std::sync::Arc::new(Reachability::default());
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(1))
            .connection_timeout(RECONNECT)
            .build(Manager {
                target: target.clone(),
                existing,
                reach: reach.clone(),
            })
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self {
            pool,
            backend: target.backend(),
            reach,
        })
    }

    /// Connections open and idle, and the pool's size.
    pub fn pool_state(&self) -> (u32, u32, u32) {
        let st = self.pool.state();
        (st.connections, st.idle_connections, self.pool.max_size())
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A pooled connection (blocking).
    pub fn conn(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        checkout(&self.pool, &self.reach)
    }

    /// Runs blocking database work off the async executor.
    pub async fn run<T, E>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (pool, reach) = (self.pool.clone(), self.reach.clone());
        // Keep the request's span (and its request id) on log lines written by the work.
        let span = tracing::Span::current();
        let joined = tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                let mut conn = checkout(&pool, &reach)?;
                work(&mut conn)
            })
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(e) => Err(StoreError::Corrupt(format!("database task failed: {e}")).into()),
        }
    }
}

/// A pooled connection: waiting up to [`WAIT`] for one while the database answers, only
/// [`WAIT_WHILE_DOWN`] once an attempt to connect has failed. The wait is taken in slices so
/// that a request already waiting learns of the failure too.
fn checkout(
    pool: &r2d2::Pool<Manager>,
    reach: &Reachability,
) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
    const SLICE: Duration = Duration::from_millis(100);
    let start = std::time::Instant::now();
    let waited = || {
        crate::metrics::get()
            .pool_wait
            .observe(start.elapsed().as_secs_f64());
    };
    loop {
        let down = reach.is_down();
        let slice = if down {
            WAIT_WHILE_DOWN
        } else {
            SLICE.min(WAIT.saturating_sub(start.elapsed()))
        };
        match pool.get_timeout(slice) {
            Ok(conn) => {
                waited();
                return Ok(conn);
            }
            Err(e) if down || reach.is_down() || start.elapsed() >= WAIT => {
                waited();
                return Err(StoreError::Unavailable(e.to_string()));
            }
            Err(_) => {}
        }
    }
}

/// Runs `work` in a write transaction. On SQLite the transaction is `BEGIN IMMEDIATE`, so it
/// takes the write lock up front (waiting on `busy_timeout`) instead of failing when a read
/// turns into a write; on PostgreSQL it is a plain read-committed transaction where the
/// version-checked `UPDATE` of the case row serializes writers of one case.
pub fn write_tx<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    transaction(conn, "BEGIN IMMEDIATE", "BEGIN", work)
}

/// Runs `work` on one consistent snapshot of the database (for `audit verify` on a live
/// database): PostgreSQL `REPEATABLE READ READ ONLY`, SQLite a deferred read transaction.
pub fn snapshot_tx<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    transaction(
        conn,
        "BEGIN",
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        work,
    )
}

/// Whether `conn` is inside a transaction.
pub fn in_transaction(conn: &mut DbConnection) -> bool {
    type Manager = DbConnection;
    <Manager as TransactionManager<Manager>>::transaction_manager_status_mut(conn)
        .transaction_depth()
        .ok()
        .flatten()
        .is_some()
}

fn transaction<T, E>(
    conn: &mut DbConnection,
    sqlite_begin: &str,
    pg_begin: &str,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    type Manager = DbConnection;
    // Inside a transaction already (a timer's firing runs the transition pipeline inside the
    // claim's transaction): a savepoint, so the work still commits or rolls back as a whole.
    let nested = in_transaction(conn);
    let begun = match conn {
        _ if nested => <Manager as TransactionManager<Manager>>::begin_transaction(conn),
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, sqlite_begin),
        DbConnection::Pg(c) => AnsiTransactionManager::begin_transaction_sql(c, pg_begin),
    };
    begun.map_err(|e| E::from(StoreError::Query(e)))?;
    // What the work stages for the metrics counts only if it commits.
    if !nested {
        crate::metrics::discard(0);
    }
    let mark = crate::metrics::staged_mark();
    match work(conn) {
        Ok(value) => match <Manager as TransactionManager<Manager>>::commit_transaction(conn) {
            Ok(()) => {
                if !nested {
                    crate::metrics::commit();
                }
                Ok(value)
            }
            Err(e) => {
                let _ = <Manager as TransactionManager<Manager>>::rollback_transaction(conn);
                crate::metrics::discard(mark);
                Err(E::from(StoreError::Query(e)))
            }
        },
        Err(err) => {
            let _ = <Manager as TransactionManager<Manager>>::rollback_transaction(conn);
            crate::metrics::discard(mark);
            Err(err)
        }
    }
}

/// A transaction for use cases whose only write is one [`super::cases::apply`]: on SQLite a
/// `BEGIN IMMEDIATE` write transaction around the reads and the write; on PostgreSQL no explicit
/// transaction, because that write is a single atomic statement checked against the version
/// the reads saw. Any other write inside `work` must use [`write_tx`] instead.
pub fn single_write_tx<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    match conn {
        DbConnection::Sqlite(_) => write_tx(conn, work),
        DbConnection::Pg(_) => work(conn),
    }
}

/// Inside [`single_write_tx`], for a use case that turns out to write more than its one
/// version-checked change: on SQLite the write transaction is already open, so `work` runs
/// in it; on PostgreSQL `work` gets a read-committed write transaction of its own (the reads
/// before it stay safe: the change inside is still checked against the version they saw).
pub fn more_writes_tx<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    match conn {
        DbConnection::Sqlite(_) => work(conn),
        DbConnection::Pg(_) => write_tx(conn, work),
    }
}
