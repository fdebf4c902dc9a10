//! Embedded migrations for both backends.

use super::{DbConnection, StoreError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Migration(e.to_string())
}

/// Applies pending migrations; returns the versions applied.
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let applied = match conn {
        DbConnection::Pg(c) => c.run_pending_migrations(POSTGRES).map_err(err)?,
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE).map_err(err)?,
    };
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// Reverts every applied migration (used by `accredo migrate --revert-all` and tests).
pub fn revert_all(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let reverted = match conn {
        DbConnection::Pg(c) => c.revert_all_migrations(POSTGRES).map_err(err)?,
        DbConnection::Sqlite(c) => c.revert_all_migrations(SQLITE).map_err(err)?,
    };
    Ok(reverted.iter().map(ToString::to_string).collect())
}

/// Whether migrations are pending.
pub fn has_pending(conn: &mut DbConnection) -> Result<bool, StoreError> {
    Ok(match conn {
        DbConnection::Pg(c) => c.has_pending_migration(POSTGRES).map_err(err)?,
        DbConnection::Sqlite(c) => c.has_pending_migration(SQLITE).map_err(err)?,
    })
}
