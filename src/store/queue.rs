//! The commission's queue: filed cases by the filters a reviewer or a secretary works with,
//! in due-date order with keyset paging, and their counts per state.
//!
//! The due-date order is read in two runs, so each is one index range on PostgreSQL and
//! SQLite alike: the cases with a due date by `(due_on, id)`, then those without one by `id`.

use super::DbConnection;
use super::cases::Case;
use super::schema::cases;
use chrono::NaiveDate;
use diesel::prelude::*;

/// Who the case is assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// Nobody yet.
    Unassigned,
    /// This user.
    User(String),
}

/// The queue's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Earliest due first (cases without a due date last), then by id.
    #[default]
    Due,
    /// Latest filed first (ids are time-ordered).
    Newest,
}

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// After this due date and id (due order).
    Due(NaiveDate, String),
    /// Among the cases without a due date, after this id (due order).
    Undated(String),
    /// Before this id (newest order).
    Before(String),
}

/// The filters (all optional; `specialties` limits to a commission member's specialties).
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    /// Only these specialties (`None`: every one).
    pub specialties: Option<Vec<String>>,
    /// Never this user's own cases.
    pub not_owner: Option<String>,
    /// Only cases of these workflows (those the commission sees; `None`: every one).
    pub workflows: Option<Vec<String>>,
    pub workflow: Option<String>,
    pub state: Option<String>,
    pub specialty: Option<String>,
    pub region: Option<String>,
    pub assignee: Option<AssigneeFilter>,
    /// Due on or before this date.
    pub due_by: Option<NaiveDate>,
    pub number: Option<String>,
    pub snils: Option<String>,
    /// A prefix of the name search key.
    pub name_prefix: Option<String>,
}

/// Applies the filters of `f` to the boxed query `q` (the state's when `with_state`).
macro_rules! filtered {
    ($q:expr, $f:expr, $with_state:expr) => {{
        let f: &QueueFilter = $f;
        let mut q = $q.filter(cases::submitted_at.is_not_null());
        if let Some(s) = &f.specialties {
            q = q.filter(cases::specialty.eq_any(s.clone()));
        }
        if let Some(me) = &f.not_owner {
            q = q.filter(cases::owner_id.ne(me.clone()));
        }
        if let Some(ws) = &f.workflows {
            q = q.filter(cases::workflow_id.eq_any(ws.clone()));
        }
        if let Some(w) = &f.workflow {
            q = q.filter(cases::workflow_id.eq(w.clone()));
        }
        if $with_state && let Some(s) = &f.state {
            q = q.filter(cases::state.eq(s.clone()));
        }
        if let Some(s) = &f.specialty {
            q = q.filter(cases::specialty.eq(s.clone()));
        }
        if let Some(r) = &f.region {
            q = q.filter(cases::region.eq(r.clone()));
        }
        match &f.assignee {
            Some(AssigneeFilter::Unassigned) => q = q.filter(cases::assignee_id.is_null()),
            Some(AssigneeFilter::User(u)) => q = q.filter(cases::assignee_id.eq(u.clone())),
            None => {}
        }
        if let Some(d) = f.due_by {
            q = q.filter(cases::due_on.le(d));
        }
        if let Some(n) = &f.number {
            q = q.filter(cases::number.eq(n.clone()));
        }
        if let Some(s) = &f.snils {
            q = q.filter(cases::snils.eq(s.clone()));
        }
        if let Some(p) = &f.name_prefix {
            q = q.filter(cases::name_key.like(like_prefix(p)).escape('\\'));
        }
        q
    }};
}

/// `p%` with `p`'s own `%`, `_` and `\` escaped.
fn like_prefix(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 1);
    for c in p.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// One page of the queue, and where the next starts (`None`: this was the last page).
///
/// A member's scope of several specialties is read one specialty at a time, each one ordered
/// index range (`specialty, due_on, id`), and the runs merged: a list of specialties in one
/// query would make the database read all their cases and sort them.
pub fn page(
    conn: &mut DbConnection,
    f: &QueueFilter,
    order: Order,
    after: Option<&Cursor>,
    limit: i64,
) -> QueryResult<(Vec<Case>, Option<Cursor>)> {
    let mut out = match &f.specialties {
        Some(scope) if scope.len() > 1 || f.specialty.is_some() => {
            let one = |s: &String| QueueFilter {
                specialties: None,
                specialty: Some(s.clone()),
                ..f.clone()
            };
            let parts: Vec<QueueFilter> = match &f.specialty {
                Some(s) if scope.contains(s) => vec![one(s)],
                Some(_) => Vec::new(),
                None => scope.iter().map(one).collect(),
            };
            let mut all = Vec::new();
            for part in &parts {
                all.extend(run(conn, part, order, after, limit)?);
            }
            match order {
                Order::Due => all.sort_by(|a, b| {
                    (a.due_on.is_none(), a.due_on, &a.id).cmp(&(
                        b.due_on.is_none(),
                        b.due_on,
                        &b.id,
                    ))
                }),
                Order::Newest => all.sort_by(|a, b| b.id.cmp(&a.id)),
            }
            all.truncate(usize::try_from(limit + 1).unwrap_or(0));
            all
        }
        _ => run(conn, f, order, after, limit)?,
    };
    let more = out.len() as i64 > limit;
    out.truncate(usize::try_from(limit).unwrap_or(0));
    let next = match (more, out.last()) {
        (true, Some(last)) => Some(match (order, last.due_on) {
            (Order::Newest, _) => Cursor::Before(last.id.clone()),
            (Order::Due, Some(d)) => Cursor::Due(d, last.id.clone()),
            (Order::Due, None) => Cursor::Undated(last.id.clone()),
        }),
        _ => None,
    };
    Ok((out, next))
}

/// Up to `limit + 1` cases after the cursor, in the order: one query, or two for the due order
/// once the dated cases run out.
fn run(
    conn: &mut DbConnection,
    f: &QueueFilter,
    order: Order,
    after: Option<&Cursor>,
    limit: i64,
) -> QueryResult<Vec<Case>> {
    let mut out: Vec<Case> = Vec::new();
    match order {
        Order::Newest => {
            let mut q = filtered!(cases::table.select(Case::as_select()).into_boxed(), f, true);
            if let Some(Cursor::Before(id)) = after {
                q = q.filter(cases::id.lt(id.clone()));
            }
            out = q.order(cases::id.desc()).limit(limit + 1).load(conn)?;
        }
        Order::Due => {
            if !matches!(after, Some(Cursor::Undated(_))) {
                let mut q = filtered!(cases::table.select(Case::as_select()).into_boxed(), f, true)
                    .filter(cases::due_on.is_not_null());
                if let Some(Cursor::Due(d, id)) = after {
                    // `due_on >= d` first, so the index range starts at the cursor instead of
                    // every page scanning from the earliest due date.
                    q = q
                        .filter(cases::due_on.ge(*d))
                        .filter(cases::due_on.gt(*d).or(cases::id.gt(id.clone())));
                }
                out = q
                    .order((cases::due_on.asc(), cases::id.asc()))
                    .limit(limit + 1)
                    .load(conn)?;
            }
            if (out.len() as i64) <= limit && f.due_by.is_none() {
                let mut q = filtered!(cases::table.select(Case::as_select()).into_boxed(), f, true)
                    .filter(cases::due_on.is_null());
                if let Some(Cursor::Undated(id)) = after {
                    q = q.filter(cases::id.gt(id.clone()));
                }
                let room = limit + 1 - out.len() as i64;
                out.extend(q.order(cases::id.asc()).limit(room).load(conn)?);
            }
        }
    }
    Ok(out)
}

/// How many cases match the filters (but the state), per state, and how many of them are due
/// on or before `overdue_by` (past due).
///
/// Without filters beyond the scope, the specialty, the workflow and the state, both are sums
/// over the counters a trigger keeps per workflow, specialty, state and due date
/// (`case_state_counts`), less the caller's own cases; otherwise they are counted from the
/// cases.
pub fn counts(
    conn: &mut DbConnection,
    f: &QueueFilter,
    overdue_by: NaiveDate,
) -> QueryResult<(Vec<(String, i64)>, i64)> {
    if kept_counts_serve(f) {
        return kept_counts(conn, f, overdue_by);
    }
    let grouped = cases::table
        .group_by(cases::state)
        .select((cases::state, diesel::dsl::count_star()))
        .order(cases::state)
        .into_boxed();
    let by_state = filtered!(grouped, f, false).load(conn)?;
    let overdue: i64 = filtered!(cases::table.count().into_boxed(), f, true)
        .filter(cases::due_on.le(overdue_by))
        .get_result(conn)?;
    Ok((by_state, overdue))
}

/// Whether the kept counters answer `f`: they know the workflow, specialty and state only.
fn kept_counts_serve(f: &QueueFilter) -> bool {
    let QueueFilter {
        specialties: _,
        not_owner: _,
        workflows: _,
        workflow: _,
        state: _,
        specialty: _,
        region,
        assignee,
        due_by,
        number,
        snils,
        name_prefix,
    } = f;
    region.is_none()
        && assignee.is_none()
        && due_by.is_none()
        && number.is_none()
        && snils.is_none()
        && name_prefix.is_none()
}

/// Applies the scope, specialty and workflow of `f` (and its state when `with_state`) to a
/// boxed query over the kept counters.
macro_rules! kept_filtered {
    ($q:expr, $f:expr, $with_state:expr) => {{
        use super::schema::case_state_counts as k;
        let f: &QueueFilter = $f;
        let mut q = $q;
        if let Some(s) = &f.specialties {
            q = q.filter(k::specialty.eq_any(s.clone()));
        }
        if let Some(s) = &f.specialty {
            q = q.filter(k::specialty.eq(s.clone()));
        }
        if let Some(ws) = &f.workflows {
            q = q.filter(k::workflow_id.eq_any(ws.clone()));
        }
        if let Some(w) = &f.workflow {
            q = q.filter(k::workflow_id.eq(w.clone()));
        }
        if $with_state && let Some(s) = &f.state {
            q = q.filter(k::state.eq(s.clone()));
        }
        q
    }};
}

fn kept_counts(
    conn: &mut DbConnection,
    f: &QueueFilter,
    overdue_by: NaiveDate,
) -> QueryResult<(Vec<(String, i64)>, i64)> {
    use super::schema::case_state_counts as k;
    use diesel::sql_types::{BigInt, Nullable};
    let grouped = k::table
        .group_by(k::state)
        .select((
            k::state,
            diesel::dsl::sql::<BigInt>("CAST(SUM(n) AS BIGINT)"),
        ))
        .order(k::state)
        .into_boxed();
    let mut by_state: Vec<(String, i64)> = kept_filtered!(grouped, f, false).load(conn)?;
    let due = k::table
        .select(diesel::dsl::sql::<Nullable<BigInt>>(
            "CAST(SUM(n) AS BIGINT)",
        ))
        .filter(k::due_on.le(overdue_by))
        .into_boxed();
    let mut overdue = kept_filtered!(due, f, true)
        .get_result::<Option<i64>>(conn)?
        .unwrap_or(0);
    if let Some(me) = &f.not_owner {
        // The caller's own filed cases, which the queue never shows: a few rows by the owner.
        let own = QueueFilter {
            not_owner: None,
            ..f.clone()
        };
        let grouped = cases::table
            .filter(cases::owner_id.eq(me.clone()))
            .group_by(cases::state)
            .select((cases::state, diesel::dsl::count_star()))
            .into_boxed();
        let mine: Vec<(String, i64)> = filtered!(grouped, &own, false).load(conn)?;
        for (state, n) in mine {
            if let Some(row) = by_state.iter_mut().find(|(s, _)| *s == state) {
                row.1 -= n;
            }
        }
        let mine_due = cases::table
            .filter(cases::owner_id.eq(me.clone()))
            .count()
            .into_boxed();
        let mine_overdue: i64 = filtered!(mine_due, &own, true)
            .filter(cases::due_on.le(overdue_by))
            .get_result(conn)?;
        overdue -= mine_overdue;
    }
    by_state.retain(|(_, n)| *n > 0);
    Ok((by_state, overdue))
}
