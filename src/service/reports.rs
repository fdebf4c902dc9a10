//! The commission's reports: the filtered queue and the decisions as tables (CSV or XLSX,
//! written row by row through [`crate::reports::table`]), and the stage analytics per workflow
//! step (median and 90th percentile working days against the step's norm, and the share that
//! breached it). Each reads in pages, so memory stays flat however many cases there are.

use super::ServiceError;
use super::review::{self, QueueQuery};
use crate::engine::Actor;
use crate::engine::catalog::Catalog;
use crate::reports::stages::{StageAccumulator, StageStats, Step};
use crate::reports::table::{Cell, Column, TableSink};
use crate::store::schema::{case_decisions as cd, cases, users};
use crate::store::{DbConnection, StoreError};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// Columns of the queue export.
pub const QUEUE_COLUMNS: &[Column] = &[
    Column {
        key: "number",
        title: "Номер заявления",
    },
    Column {
        key: "workflow",
        title: "Вид",
    },
    Column {
        key: "state",
        title: "Статус",
    },
    Column {
        key: "specialty",
        title: "Специальность",
    },
    Column {
        key: "region",
        title: "Регион",
    },
    Column {
        key: "applicant",
        title: "Заявитель",
    },
    Column {
        key: "snils",
        title: "СНИЛС",
    },
    Column {
        key: "assignee",
        title: "Рассматривает",
    },
    Column {
        key: "due_on",
        title: "Срок",
    },
    Column {
        key: "overdue",
        title: "Просрочено",
    },
    Column {
        key: "submitted_at",
        title: "Подано",
    },
];

/// Columns of the decisions export.
pub const DECISION_COLUMNS: &[Column] = &[
    Column {
        key: "decided_at",
        title: "Дата решения",
    },
    Column {
        key: "number",
        title: "Номер заявления",
    },
    Column {
        key: "decision",
        title: "Решение",
    },
    Column {
        key: "specialty",
        title: "Специальность",
    },
    Column {
        key: "applicant",
        title: "Заявитель",
    },
    Column {
        key: "decided_by",
        title: "Решение принял",
    },
    Column {
        key: "reasons",
        title: "Причины",
    },
    Column {
        key: "recommendations",
        title: "Рекомендации",
    },
    Column {
        key: "fixes",
        title: "Замечаний к доработке",
    },
];

/// Writes every case of the queue matching `q` (whatever its `limit` and `cursor`) to `sink`,
/// a page at a time; returns how many rows were written.
pub fn export_queue<S: TableSink>(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    q: &QueueQuery,
    sink: &mut S,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, ServiceError> {
    let mut q = QueueQuery {
        limit: Some(100),
        cursor: None,
        ..q.clone()
    };
    let mut written = 0;
    loop {
        let page = review::page(conn, catalog, actor, &q, now)?;
        for i in &page.items {
            let w = catalog.current(&i.workflow);
            let row = [
                Cell::from(i.number.clone()),
                Cell::from(
                    w.map(|w| w.definition.title.clone())
                        .unwrap_or_else(|| i.workflow.clone()),
                ),
                Cell::from(i.state_label.clone()),
                Cell::from(i.specialty.clone()),
                Cell::from(i.region.clone()),
                Cell::from(i.applicant_name.clone()),
                Cell::from(i.snils.clone()),
                Cell::from(i.assignee_name.clone()),
                Cell::from(i.due_on),
                Cell::from(if i.overdue { "да" } else { "нет" }),
                Cell::from(i.submitted_at),
            ];
            sink.write_row(&row).map_err(export_failed)?;
            written += 1;
        }
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return Ok(written),
        }
    }
}

fn export_failed(e: crate::reports::table::ExportError) -> ServiceError {
    StoreError::Corrupt(format!("export: {e}")).into()
}

/// The decision a transition records, as the report names it.
fn decision_label(transition: &str) -> &str {
    match transition {
        "approve" => "Одобрено",
        "reject" => "Отказано",
        "request_revision" => "Возвращено на доработку",
        other => other,
    }
}

/// Writes the decisions made on `from..=to` (Moscow dates, by the decision's UTC day) on the
/// cases the caller's subcommissions see, oldest first; returns how many rows were written.
pub fn export_decisions<S: TableSink>(
    conn: &mut DbConnection,
    actor: &Actor,
    from: NaiveDate,
    to: NaiveDate,
    sink: &mut S,
) -> Result<u64, ServiceError> {
    super::commission::require_commission(actor, "Отчёты")?;
    let start =
        crate::domain::calendar::from_moscow(from.and_time(chrono::NaiveTime::MIN)).naive_utc();
    let end = crate::domain::calendar::from_moscow(
        to.succ_opt().unwrap_or(to).and_time(chrono::NaiveTime::MIN),
    )
    .naive_utc();
    let specialties: Option<Vec<String>> = actor.specialty_scope();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut after: Option<(chrono::NaiveDateTime, String)> = None;
    let mut written = 0;
    type Row = (
        String,
        chrono::NaiveDateTime,
        String,
        Option<String>,
        String,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    loop {
        let mut query = cd::table
            .inner_join(cases::table.on(cases::id.eq(cd::case_id)))
            .filter(cd::decided_at.ge(start))
            .filter(cd::decided_at.lt(end))
            .filter(cases::owner_id.ne(actor.user.as_str().to_owned()))
            .select((
                cd::id,
                cd::decided_at,
                cd::transition,
                cd::decided_by,
                cd::reasons,
                cd::recommendations,
                cd::fixes,
                cases::number,
                cases::specialty,
                cases::applicant_name,
            ))
            .order((cd::decided_at, cd::id))
            .limit(1000)
            .into_boxed();
        if let Some(s) = &specialties {
            query = query.filter(cases::specialty.eq_any(s.clone()));
        }
        if let Some((at, id)) = &after {
            // `decided_at >= at` first: the index range starts at the cursor.
            query = query
                .filter(cd::decided_at.ge(*at))
                .filter(cd::decided_at.gt(*at).or(cd::id.gt(id.clone())));
        }
        let rows: Vec<Row> = query.load(conn).map_err(StoreError::from)?;
        let Some(last) = rows.last() else {
            return Ok(written);
        };
        after = Some((last.1, last.0.clone()));
        for (_, at, transition, by, reasons, recommendations, fixes, number, specialty, name) in
            rows
        {
            let by_name = match &by {
                Some(id) => match names.get(id) {
                    Some(n) => Some(n.clone()),
                    None => {
                        let n: Option<String> = users::table
                            .find(id)
                            .select(users::display_name)
                            .first(conn)
                            .optional()
                            .map_err(StoreError::from)?;
                        if let Some(n) = &n {
                            names.insert(id.clone(), n.clone());
                        }
                        n
                    }
                },
                None => None,
            };
            let reasons: Value = serde_json::from_str(&reasons).unwrap_or(Value::Null);
            let texts: Vec<&str> = reasons
                .as_array()
                .map(|a| a.iter().filter_map(|r| r["text"].as_str()).collect())
                .unwrap_or_default();
            let fixes: Value = serde_json::from_str(&fixes).unwrap_or(Value::Null);
            let count = ["fields", "documents"]
                .iter()
                .map(|k| fixes[k].as_array().map_or(0, Vec::len))
                .sum::<usize>();
            let row = [
                Cell::from(at.and_utc()),
                Cell::from(number),
                Cell::from(decision_label(&transition)),
                Cell::from(specialty),
                Cell::from(name),
                Cell::from(by_name),
                Cell::from((!texts.is_empty()).then(|| texts.join("; "))),
                Cell::from(recommendations),
                Cell::Int(i64::try_from(count).unwrap_or(i64::MAX)),
            ];
            sink.write_row(&row).map_err(export_failed)?;
            written += 1;
        }
    }
}

/// One step of the stage analytics.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StageDto {
    /// Workflow id.
    pub workflow: String,
    /// State code.
    pub state: String,
    /// Its label.
    pub label: String,
    /// Finished steps.
    pub count: u64,
    /// Median working days.
    pub median_working_days: f64,
    /// 90th percentile working days.
    pub p90_working_days: f64,
    /// The norm in working days (the smallest and largest where the entering transition sets
    /// its own, as after a revision).
    pub sla_min: Option<u32>,
    /// See `sla_min`.
    pub sla_max: Option<u32>,
    /// Share of the steps with a norm that took longer, 0..=1.
    pub breached_share: Option<f64>,
}

/// The stage analytics of every finished step of the cases the caller's subcommissions see
/// (of `workflow`, when given), counted like the history counts them: an aggregate of the
/// steps the transitions recorded ([`super::steps`]).
pub fn stages(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    workflow: Option<&str>,
) -> Result<Vec<StageDto>, ServiceError> {
    super::commission::require_commission(actor, "Отчёты")?;
    let specialties: Option<Vec<String>> = actor.specialty_scope();
    let mut acc = StageAccumulator::default();
    // The commission's workflows only (not the help desk's requests).
    let seen = catalog.seen_by(crate::engine::visibility::Audience::Commission);
    for (workflow, state, working_days, sla, n) in
        crate::store::steps::buckets(conn, specialties.as_deref(), workflow)?
            .into_iter()
            .filter(|b| seen.contains(&b.0))
    {
        acc.push_many(
            Step {
                workflow,
                state,
                working_days,
                sla_working_days: sla.and_then(|d| u32::try_from(d).ok()),
            },
            u64::try_from(n).unwrap_or(0),
        );
    }
    Ok(acc
        .finish()
        .into_iter()
        .map(|s: StageStats| StageDto {
            label: catalog
                .current(&s.workflow)
                .map(|w| w.definition.label_of(&s.state).to_owned())
                .unwrap_or_else(|| s.state.clone()),
            breached_share: s.breached_share(),
            sla_min: s.sla.map(|r| r.min),
            sla_max: s.sla.map(|r| r.max),
            workflow: s.workflow,
            state: s.state,
            count: s.count,
            median_working_days: s.median,
            p90_working_days: s.p90,
        })
        .collect())
}
