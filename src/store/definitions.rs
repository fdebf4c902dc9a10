//! Stored workflow definition versions, so a case can always be run by the version it pinned.

use super::DbConnection;
use super::schema::workflow_definitions as wd;
use crate::engine::catalog::Workflow;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Stores a definition version unless it is already stored (call outside a transaction: a
/// concurrent insert of the same version is taken as success).
pub fn ensure(conn: &mut DbConnection, w: &Workflow, now: NaiveDateTime) -> QueryResult<()> {
    let d = &w.definition;
    let known = wd::table
        .filter(wd::hash.eq(&d.hash))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if known {
        return Ok(());
    }
    diesel::insert_into(wd::table)
        .values((
            wd::hash.eq(&d.hash),
            wd::workflow_id.eq(&d.id),
            wd::version.eq(i32::try_from(d.version).unwrap_or(i32::MAX)),
            wd::yaml.eq(&w.yaml),
            wd::form_schema.eq(&w.schema_json),
            wd::loaded_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
        .or_else(|e| match e {
            // Another instance starting at the same moment stored the same version.
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => Ok(()),
            other => Err(other),
        })
}

/// The YAML and form schema of a stored version.
pub fn sources(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<(String, String)>> {
    wd::table
        .filter(wd::hash.eq(hash))
        .select((wd::yaml, wd::form_schema))
        .first(conn)
        .optional()
}
