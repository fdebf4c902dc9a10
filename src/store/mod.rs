//! Storage: one diesel connection type that is PostgreSQL or SQLite, chosen by the scheme of
//! `DATABASE_URL`; pooled; migrations embedded for both backends.

pub mod audit;
pub mod calendar;
pub mod cases;
pub mod commit;
pub mod conn;
pub mod consents;
pub mod decisions;
pub mod definitions;
pub mod documents;
pub mod idempotency;
pub mod logins;
pub mod messages;
pub mod migrate;
pub mod notifications;
pub mod profiles;
pub mod queue;
pub mod registry;
pub mod schema;
pub mod sessions;
pub mod signatures;
pub mod steps;
pub mod subcommissions;
pub mod support;
pub mod timers;
pub mod users;

pub use conn::{Backend, DbConnection, DbTarget, Store, single_write_tx, snapshot_tx, write_tx};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is unusable (one line that names the problem).
    #[error("{0}")]
    BadUrl(String),
    /// The database the command needs does not exist or has not been migrated (a command
    /// that works on an existing database never creates one).
    #[error("database not found or not migrated: {0}")]
    NotMigrated(String),
    /// The database cannot be reached right now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Stored data could not be decoded (corruption or a bug).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the error is the database refusing a concurrent write (unique violation,
    /// serialization failure, SQLite busy), so the operation may be retried.
    pub fn is_conflict(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            StoreError::Query(Error::DatabaseError(kind, info)) => {
                matches!(
                    kind,
                    DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::SerializationFailure
                ) || info.message().contains("database is locked")
            }
            _ => false,
        }
    }
}
