//! The commission's queue: the filed cases of the caller's subcommissions by the filters they
//! work with, in due-date order with keyset paging, and the counts per state for a dashboard.

use super::{ServiceError, pinned_workflow};
use crate::domain::calendar::moscow;
use crate::engine::Actor;
use crate::engine::catalog::Catalog;
use crate::engine::visibility::Audience;
use crate::store::queue::{self, AssigneeFilter, Cursor, Order, QueueFilter};
use crate::store::schema::users;
use crate::store::{DbConnection, StoreError};
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

/// What the caller asks the queue for.
#[derive(Debug, Clone, Default)]
pub struct QueueQuery {
    /// Workflow id.
    pub workflow: Option<String>,
    /// State code.
    pub state: Option<String>,
    /// Specialty code.
    pub specialty: Option<String>,
    /// Region code.
    pub region: Option<String>,
    /// `none` (unassigned), `me`, or a user id.
    pub assignee: Option<String>,
    /// Due on or before this date.
    pub due_before: Option<NaiveDate>,
    /// Only past due.
    pub overdue: bool,
    /// Application number.
    pub number: Option<String>,
    /// SNILS, in any spelling.
    pub snils: Option<String>,
    /// The start of the applicant's name.
    pub name: Option<String>,
    /// `due` (default) or `newest`.
    pub sort: Option<String>,
    /// Where the previous page ended.
    pub cursor: Option<String>,
    /// Page size, 1..=100 (default 50).
    pub limit: Option<i64>,
}

/// One case in the queue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueItem {
    /// Case id.
    pub id: String,
    /// Application number.
    pub number: Option<String>,
    /// Workflow id.
    pub workflow: String,
    /// State code.
    pub state: String,
    /// State label.
    pub state_label: String,
    /// Specialty code.
    pub specialty: Option<String>,
    /// Region code.
    pub region: Option<String>,
    /// Applicant's full name.
    pub applicant_name: Option<String>,
    /// Applicant's SNILS (11 digits).
    pub snils: Option<String>,
    /// Assigned commission member.
    pub assignee_id: Option<String>,
    /// Their name.
    pub assignee_name: Option<String>,
    /// The Moscow date the current step is due.
    pub due_on: Option<NaiveDate>,
    /// Past due.
    pub overdue: bool,
    /// When the case was first filed (UTC).
    pub submitted_at: Option<DateTime<Utc>>,
}

/// A page of the queue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueuePage {
    /// The cases.
    pub items: Vec<QueueItem>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// How many cases of one state match.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StateCount {
    /// State code.
    pub state: String,
    /// Cases.
    pub count: i64,
}

/// The dashboard counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueCounts {
    /// Per state (the `state` filter is not applied to these).
    pub by_state: Vec<StateCount>,
    /// All of them.
    pub total: i64,
    /// Past due (with the `state` filter).
    pub overdue: i64,
}

fn bad(code: &'static str, field: &str, message: &str) -> ServiceError {
    ServiceError::invalid_field(code, "Неверные параметры очереди", field, message)
}

fn encode(c: &Cursor) -> String {
    let text = match c {
        Cursor::Due(d, id) => format!("d|{d}|{id}"),
        Cursor::Undated(id) => format!("u|{id}"),
        Cursor::Before(id) => format!("b|{id}"),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode(raw: &str, order: Order) -> Result<Cursor, ServiceError> {
    let invalid = || {
        bad(
            "invalid_cursor",
            "/cursor",
            "Курсор страницы недействителен",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let parts: Vec<&str> = text.split('|').collect();
    let id = |s: &str| {
        crate::domain::ids::CaseId::parse(s)
            .map(|i| i.to_string())
            .ok_or_else(invalid)
    };
    match (order, parts.as_slice()) {
        (Order::Due, ["d", d, i]) => Ok(Cursor::Due(d.parse().map_err(|_| invalid())?, id(i)?)),
        (Order::Due, ["u", i]) => Ok(Cursor::Undated(id(i)?)),
        (Order::Newest, ["b", i]) => Ok(Cursor::Before(id(i)?)),
        _ => Err(invalid()),
    }
}

/// The filter for `actor` and `q`: their subcommissions' specialties, never their own case.
fn filter_of(
    catalog: &Catalog,
    actor: &Actor,
    q: &QueueQuery,
    now: DateTime<Utc>,
) -> Result<QueueFilter, ServiceError> {
    let assignee = match q.assignee.as_deref() {
        None | Some("") => None,
        Some("none") => Some(AssigneeFilter::Unassigned),
        Some("me") => Some(AssigneeFilter::User(actor.user.to_string())),
        Some(id) => Some(AssigneeFilter::User(
            crate::domain::ids::UserId::parse(id)
                .ok_or_else(|| {
                    bad(
                        "invalid_assignee",
                        "/assignee",
                        "Укажите none, me или идентификатор пользователя",
                    )
                })?
                .to_string(),
        )),
    };
    let snils = match q.snils.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            crate::domain::snils::Snils::parse(s)
                .map_err(|_| bad("invalid_snils", "/snils", "СНИЛС указан с ошибкой"))?
                .digits()
                .to_owned(),
        ),
    };
    let yesterday = moscow(now).date() - chrono::Duration::days(1);
    let due_by = match (q.overdue, q.due_before) {
        (true, by) => Some(by.map_or(yesterday, |b| b.min(yesterday))),
        (false, by) => by,
    };
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Ok(QueueFilter {
        specialties: actor.specialty_scope(),
        not_owner: Some(actor.user.to_string()),
        // Support requests and other workflows the commission does not see stay out.
        workflows: Some(catalog.seen_by(Audience::Commission)),
        workflow: text(&q.workflow),
        state: text(&q.state),
        specialty: text(&q.specialty),
        region: text(&q.region),
        assignee,
        due_by,
        number: text(&q.number),
        snils,
        name_prefix: text(&q.name)
            .map(|n| crate::domain::person_name::search_key(&n))
            .filter(|n| !n.is_empty()),
    })
}

/// A page of the queue.
pub fn page(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    q: &QueueQuery,
    now: DateTime<Utc>,
) -> Result<QueuePage, ServiceError> {
    super::commission::require_commission(actor, "Очередь заявлений")?;
    let order = match q.sort.as_deref() {
        None | Some("due") => Order::Due,
        Some("newest") => Order::Newest,
        Some(_) => return Err(bad("invalid_sort", "/sort", "Сортировка: due или newest")),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(bad(
            "invalid_limit",
            "/limit",
            "Размер страницы — от 1 до 100",
        ));
    }
    let after = q.cursor.as_deref().map(|c| decode(c, order)).transpose()?;
    let filter = filter_of(catalog, actor, q, now)?;
    let (rows, next) = queue::page(conn, &filter, order, after.as_ref(), limit)?;
    let ids: Vec<String> = rows.iter().filter_map(|c| c.assignee_id.clone()).collect();
    let names: HashMap<String, String> = if ids.is_empty() {
        HashMap::new()
    } else {
        users::table
            .filter(users::id.eq_any(ids))
            .select((users::id, users::display_name))
            .load::<(String, String)>(conn)
            .map_err(StoreError::from)?
            .into_iter()
            .collect()
    };
    let today = moscow(now).date();
    let mut items = Vec::with_capacity(rows.len());
    for c in rows {
        let w = pinned_workflow(conn, catalog, &c.definition_hash)?;
        items.push(QueueItem {
            state_label: w.definition.label_of(&c.state).to_owned(),
            assignee_name: c.assignee_id.as_ref().and_then(|a| names.get(a).cloned()),
            overdue: c.due_on.is_some_and(|d| today > d),
            submitted_at: c.submitted_at.map(|t| t.and_utc()),
            id: c.id,
            number: c.number,
            workflow: c.workflow_id,
            state: c.state,
            specialty: c.specialty,
            region: c.region,
            applicant_name: c.applicant_name,
            snils: c.snils,
            assignee_id: c.assignee_id,
            due_on: c.due_on,
        });
    }
    Ok(QueuePage {
        items,
        next_cursor: next.as_ref().map(encode),
    })
}

/// The counts per state of the cases matching `q` (but its state), and how many are past due.
pub fn counts(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    q: &QueueQuery,
    now: DateTime<Utc>,
) -> Result<QueueCounts, ServiceError> {
    super::commission::require_commission(actor, "Очередь заявлений")?;
    let filter = filter_of(catalog, actor, q, now)?;
    let yesterday = moscow(now).date() - chrono::Duration::days(1);
    let (by_state, overdue) = queue::counts(conn, &filter, yesterday)?;
    Ok(QueueCounts {
        total: by_state.iter().map(|(_, n)| n).sum(),
        by_state: by_state
            .into_iter()
            .map(|(state, count)| StateCount { state, count })
            .collect(),
        overdue,
    })
}
