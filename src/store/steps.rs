//! Finished steps of filed cases: how long each took in working days against its norm, one row
//! per step, written in the commit of the transition that ends it. Stage analytics aggregate
//! them in the database; [`delete_all`] and [`insert`] rewrite them from the audit log (after an upgrade, or
//! when the production calendar changed after the fact).

use super::DbConnection;
use super::schema::case_steps;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// One finished step.
#[derive(Debug, Clone, PartialEq, Eq, Insertable, Queryable, Selectable)]
#[diesel(table_name = case_steps)]
#[diesel(treat_none_as_default_value = false)]
pub struct StepRow {
    pub case_id: String,
    /// The audit sequence number of the transition that ended it.
    pub seq: i64,
    pub workflow_id: String,
    /// The case's specialty when the step ended (a reviewer's scope).
    pub specialty: Option<String>,
    /// The state the step was spent in.
    pub state: String,
    /// The transition that started it (none for the first step).
    pub started_by: Option<String>,
    pub started_at: NaiveDateTime,
    pub ended_at: NaiveDateTime,
    /// Working days it took.
    pub working_days: i64,
    /// The norm that applied, in working days.
    pub sla_working_days: Option<i32>,
}

/// Steps of one length in one stage: `(workflow, state, working days, norm, how many)`.
pub type StageBucket = (String, String, i64, Option<i32>, i64);

/// The finished steps grouped by workflow, state, length and norm, limited to these
/// specialties and this workflow when given.
pub fn buckets(
    conn: &mut DbConnection,
    specialties: Option<&[String]>,
    workflow: Option<&str>,
) -> QueryResult<Vec<StageBucket>> {
    let mut q = case_steps::table
        .group_by((
            case_steps::workflow_id,
            case_steps::state,
            case_steps::working_days,
            case_steps::sla_working_days,
        ))
        .select((
            case_steps::workflow_id,
            case_steps::state,
            case_steps::working_days,
            case_steps::sla_working_days,
            diesel::dsl::count_star(),
        ))
        .into_boxed();
    if let Some(s) = specialties {
        q = q.filter(case_steps::specialty.eq_any(s.to_vec()));
    }
    if let Some(w) = workflow {
        q = q.filter(case_steps::workflow_id.eq(w.to_owned()));
    }
    q.load(conn)
}

/// Whether any step is recorded.
pub fn any(conn: &mut DbConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        case_steps::table.select(case_steps::seq),
    ))
    .get_result(conn)
}

/// Forgets every recorded step (a rebuild starts with it, in its transaction).
pub fn delete_all(conn: &mut DbConnection) -> QueryResult<usize> {
    diesel::delete(case_steps::table).execute(conn)
}

/// Records finished steps: one binary `COPY` on PostgreSQL, row by row on SQLite.
pub fn insert(conn: &mut DbConnection, steps: &[StepRow]) -> QueryResult<usize> {
    if steps.is_empty() {
        return Ok(0);
    }
    match conn {
        DbConnection::Pg(pg) => diesel::copy_from(case_steps::table)
            .from_insertable(steps.iter().collect::<Vec<_>>())
            .execute(pg),
        DbConnection::Sqlite(_) => steps.iter().try_fold(0, |n, step| {
            Ok(n + diesel::insert_into(case_steps::table)
                .values(step)
                .execute(conn)?)
        }),
    }
}
