//! The help desk over the engine's support requests: the agents of each line (administered),
//! the author's «Мои обращения», and the queue of an agent's line. Support requests are cases
//! of a workflow whose audiences include the support line (`visible_to: [.., support_line]`);
//! everything they do runs through the same transitions as an application.

use super::access::assemble;
use super::commission::require_admin;
use super::{RefusalKind, ServiceError, pinned_workflow};
use crate::audit::{self, Entry};
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use crate::engine::Actor;
use crate::engine::catalog::Catalog;
use crate::engine::visibility::Audience;
use crate::store::schema::{case_messages as cm, cases, support_requests as sr};
use crate::store::support::{self as rows, Agent};
use crate::store::{DbConnection, StoreError, users, write_tx};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

/// The longest excerpt of the last comment a list shows, in characters.
const EXCERPT: usize = 200;

/// The workflows of support requests, by id.
fn support_workflows(catalog: &Catalog) -> Vec<String> {
    catalog
        .list()
        .filter(|w| w.definition.visible_to.contains(&Audience::SupportLine))
        .map(|w| w.definition.id.clone())
        .collect()
}

/// Every agent of the desk (administrators).
pub fn agents(conn: &mut DbConnection, actor: &Actor) -> Result<Vec<Agent>, ServiceError> {
    require_admin(actor)?;
    Ok(rows::agents(conn)?)
}

/// Puts a user with the `support` role on line 1 or 2 (as its lead or not), or, with `None`,
/// takes them off the desk; audited (`actor` is `None` for the operator's command line).
pub fn place_agent(
    conn: &mut DbConnection,
    actor: Option<&Actor>,
    user_id: &str,
    place: Option<(i16, bool)>,
    now: DateTime<Utc>,
) -> Result<Option<Agent>, ServiceError> {
    if let Some(a) = actor {
        require_admin(a)?;
    }
    if let Some((line, _)) = place
        && !(1..=2).contains(&line)
    {
        return Err(ServiceError::invalid_field(
            "invalid_support_line",
            "Линия поддержки — 1 (первая) или 2 (вторая)",
            "/line",
            "Допустимо 1 или 2",
        ));
    }
    write_tx(conn, |conn| {
        let id = UserId::from_stored(user_id.to_owned());
        if users::find(conn, &id)?.is_none() {
            return Err(ServiceError::refused(
                RefusalKind::NotFound,
                "user_not_found",
                "Пользователь не найден",
            ));
        }
        let changed = match place {
            Some((line, lead)) => {
                if !users::roles_of(conn, &id)?.contains(&Role::Support) {
                    return Err(ServiceError::refused(
                        RefusalKind::Invalid,
                        "not_support_role",
                        "На линию поддержки назначают пользователя с ролью сотрудника поддержки (support)",
                    ));
                }
                rows::put_agent(conn, user_id, line, lead, now.naive_utc())?;
                true
            }
            None => rows::remove_agent(conn, user_id)?,
        };
        if changed {
            audit::record(
                conn,
                Entry {
                    chain: "support:agents".into(),
                    kind: if place.is_some() {
                        "support.agent_placed"
                    } else {
                        "support.agent_removed"
                    },
                    actor: actor.map(|a| a.user.to_string()),
                    case: None,
                    at: now.naive_utc(),
                    payload: json!({
                        "user": user_id,
                        "line": place.map(|p| p.0),
                        "lead": place.map(|p| p.1),
                    }),
                },
            )?;
        }
        Ok(rows::agent(conn, user_id)?)
    })
}

/// The last comment of a request as a list shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LastComment {
    /// `applicant` (the author) or `support`.
    pub side: String,
    /// Its beginning (at most 200 characters).
    pub excerpt: String,
    /// When (UTC).
    pub at: DateTime<Utc>,
}

/// A support request in a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestSummary {
    /// Case id (`GET /api/v1/cases/{id}` for the whole request).
    pub id: String,
    /// `ACCREDO-123`.
    pub number: Option<String>,
    /// Subject.
    pub subject: String,
    /// Category code (`login`, `register`, `documents`, `signature`, `status`, `form`, `other`).
    pub category: Option<String>,
    /// `normal` or `urgent` (once sent).
    pub priority: Option<String>,
    /// `simple`, `data_check` or `complex`: what its resolution's norm depends on.
    pub kind: Option<String>,
    /// State code.
    pub state: String,
    /// Status as shown.
    pub state_label: String,
    /// Whether it is closed.
    pub closed: bool,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Expected completion of the current step (Moscow date), if it has a norm.
    pub due_on: Option<NaiveDate>,
    /// The exact moment, for a norm in working hours (UTC).
    pub due_at: Option<DateTime<Utc>>,
    /// The support line working it (once sent).
    pub line: Option<i16>,
    /// The agent it is assigned to.
    pub assignee_id: Option<String>,
    /// The number of the request this one repeats («повторное обращение»).
    pub repeat_of: Option<String>,
    /// The first answer of an agent (UTC).
    pub first_response_at: Option<DateTime<Utc>>,
    /// When it was resolved (UTC).
    pub resolved_at: Option<DateTime<Utc>>,
    /// The last comment, if any.
    pub last_comment: Option<LastComment>,
}

type Row = (crate::store::cases::Case, Option<rows::Request>);

fn summaries(
    conn: &mut DbConnection,
    catalog: &Catalog,
    found: Vec<Row>,
) -> Result<Vec<RequestSummary>, ServiceError> {
    let mut out = Vec::with_capacity(found.len());
    for (case, request) in found {
        let workflow = pinned_workflow(conn, catalog, &case.definition_hash)?;
        let def = &workflow.definition;
        let form: serde_json::Value = serde_json::from_str(&case.form_data)
            .map_err(|e| StoreError::Corrupt(format!("form of case {}: {e}", case.id)))?;
        let text = |p: &str| form.pointer(p).and_then(|v| v.as_str()).map(str::to_owned);
        let last: Option<(String, String, NaiveDateTime)> = cm::table
            .filter(cm::case_id.eq(&case.id))
            .order(cm::id.desc())
            .select((cm::side, cm::body, cm::created_at))
            .first(conn)
            .optional()
            .map_err(StoreError::from)?;
        let values = crate::engine::attributes::resolve(&def.attributes, &case.attributes, &form);
        let value = |name: &str| request.as_ref().and(values.get(name).cloned());
        // A norm in working time ends at a moment: the step timer's.
        let due_at: Option<NaiveDateTime> = match def.norm_of(&case.state, &values) {
            Some(crate::engine::definition::Sla::WorkingMinutes(_)) => {
                crate::store::timers::pending_due_at(conn, &case.id, "step")
                    .map_err(StoreError::from)?
            }
            _ => None,
        };
        let due_at = due_at.map(|t| t.and_utc());
        let repeat_of = match request.as_ref().and_then(|r| r.repeat_of.as_deref()) {
            Some(first) => cases::table
                .find(first)
                .select(cases::number)
                .first::<Option<String>>(conn)
                .optional()
                .map_err(StoreError::from)?
                .flatten(),
            None => text("/repeat_of"),
        };
        out.push(RequestSummary {
            number: case.number.clone(),
            subject: text("/subject").unwrap_or_default(),
            category: request
                .as_ref()
                .map(|r| r.category.clone())
                .or(text("/category")),
            priority: value("priority"),
            kind: value("kind"),
            state_label: def.label_of(&case.state).to_owned(),
            closed: def.state(&case.state).is_some_and(|s| s.r#final),
            created_at: case.created_at.and_utc(),
            due_on: case.due_on,
            due_at,
            line: request.as_ref().map(|r| r.line),
            assignee_id: case.assignee_id.clone(),
            repeat_of,
            first_response_at: request
                .as_ref()
                .and_then(|r| r.first_response_at)
                .map(|t| t.and_utc()),
            resolved_at: request
                .as_ref()
                .and_then(|r| r.resolved_at)
                .map(|t| t.and_utc()),
            last_comment: last.map(|(side, body, at)| LastComment {
                side,
                excerpt: body.chars().take(EXCERPT).collect(),
                at: at.and_utc(),
            }),
            state: case.state,
            id: case.id,
        });
    }
    Ok(out)
}

/// What a list of requests asks for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Closed requests too (the default list leaves them out).
    pub all: bool,
    /// Only requests whose number or subject contains this (case-insensitive).
    pub text: Option<String>,
    /// Only in this state.
    pub state: Option<String>,
    /// Only of this category.
    pub category: Option<String>,
    /// Only of this priority.
    pub priority: Option<String>,
    /// Only those assigned to the caller.
    pub mine: bool,
    /// Only those whose step is overdue.
    pub overdue: bool,
    /// At most this many (1–100).
    pub limit: i64,
}

fn keep(s: &RequestSummary, q: &Query, today: NaiveDate) -> bool {
    let text = q.text.as_deref().map(str::to_lowercase);
    (q.all || !s.closed || q.state.as_deref() == Some(s.state.as_str()))
        && q.state.as_deref().is_none_or(|st| st == s.state)
        && q.category
            .as_deref()
            .is_none_or(|c| s.category.as_deref() == Some(c))
        && q.priority
            .as_deref()
            .is_none_or(|p| s.priority.as_deref() == Some(p))
        && (!q.overdue || s.due_on.is_some_and(|d| d < today))
        && text.is_none_or(|t| {
            s.subject.to_lowercase().contains(&t)
                || s.number
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(&t))
        })
}

/// «Мои обращения»: the caller's own requests, newest first; closed ones only with
/// `all` (or asked for by state or text).
pub fn mine(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    q: &Query,
    now: DateTime<Utc>,
) -> Result<Vec<RequestSummary>, ServiceError> {
    let found: Vec<Row> = cases::table
        .left_join(sr::table.on(sr::case_id.eq(cases::id)))
        .filter(cases::owner_id.eq(actor.user.as_str()))
        .filter(cases::workflow_id.eq_any(support_workflows(catalog)))
        .order(cases::id.desc())
        .limit(500)
        .select((
            crate::store::cases::Case::as_select(),
            Option::<rows::Request>::as_select(),
        ))
        .load(conn)
        .map_err(StoreError::from)?;
    let today = crate::domain::calendar::moscow(now).date();
    let q = Query {
        all: q.all || q.text.is_some(),
        ..q.clone()
    };
    let mut list = summaries(conn, catalog, found)?;
    list.retain(|s| keep(s, &q, today));
    list.truncate(usize::try_from(q.limit.clamp(1, 100)).unwrap_or(100));
    Ok(list)
}

/// The queue of the caller's support line (and the requests assigned to them): overdue first,
/// then urgent, then by due date and age. Open requests unless `all`.
pub fn queue(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    q: &Query,
    now: DateTime<Utc>,
) -> Result<Vec<RequestSummary>, ServiceError> {
    if !actor.has(Role::Support) {
        return Err(ServiceError::refused(
            RefusalKind::Forbidden,
            "not_support",
            "Очередь обращений доступна сотрудникам службы поддержки",
        ));
    }
    let lines: Vec<i16> = actor.support_lines.keys().map(|l| i16::from(*l)).collect();
    let me = actor.user.as_str();
    let mut query = cases::table
        .inner_join(sr::table.on(sr::case_id.eq(cases::id)))
        .filter(sr::line.eq_any(lines).or(cases::assignee_id.eq(me)))
        .into_boxed();
    if q.mine {
        query = query.filter(cases::assignee_id.eq(me));
    }
    if let Some(c) = &q.category {
        query = query.filter(sr::category.eq(c.clone()));
    }
    if let Some(s) = &q.state {
        query = query.filter(cases::state.eq(s.clone()));
    }
    let found: Vec<(crate::store::cases::Case, rows::Request)> = query
        .order(cases::id.desc())
        .limit(2000)
        .select((
            crate::store::cases::Case::as_select(),
            rows::Request::as_select(),
        ))
        .load(conn)
        .map_err(StoreError::from)?;
    // The access rules decide, as for one request.
    let mut visible = Vec::with_capacity(found.len());
    for (case, request) in found {
        let workflow = pinned_workflow(conn, catalog, &case.definition_hash)?;
        let v = assemble(conn, case, workflow)?;
        if crate::engine::can_view(&v.workflow.definition, v.view(), actor) {
            visible.push((v.case, Some(request)));
        }
    }
    let today = crate::domain::calendar::moscow(now).date();
    let mut list = summaries(conn, catalog, visible)?;
    list.retain(|s| keep(s, q, today));
    list.sort_by_key(|s| {
        (
            s.due_on.is_none_or(|d| d >= today),
            s.priority.as_deref() != Some("urgent"),
            s.due_at.map(|t| t.naive_utc()),
            s.due_on.unwrap_or(NaiveDate::MAX),
            s.created_at,
        )
    });
    list.truncate(usize::try_from(q.limit.clamp(1, 100)).unwrap_or(100));
    Ok(list)
}

/// Hands a request to line 2: its line becomes 2 and its least loaded agent (counting the
/// requests of `def` in open states) takes it over. Returns the new agent (none while line 2
/// has nobody) and who is to hear of it: that agent and line 2's leads.
pub(crate) fn hand_to_line_2(
    conn: &mut DbConnection,
    def: &crate::engine::definition::Definition,
    case_id: &str,
) -> Result<(Option<String>, Vec<String>), StoreError> {
    let open = def.open_states();
    rows::set_line(conn, case_id, 2)?;
    let agent = rows::least_loaded(conn, 2, &open)?;
    let mut told = rows::leads(conn, 2)?;
    if let Some(a) = &agent
        && !told.contains(a)
    {
        told.insert(0, a.clone());
    }
    Ok((agent, told))
}

/// A case of a person as the desk sees it in a search: a summary, read-only.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonCase {
    /// Case id.
    pub id: String,
    /// Its number.
    pub number: Option<String>,
    /// Workflow id.
    pub workflow: String,
    /// The workflow's title.
    pub workflow_title: String,
    /// State code.
    pub state: String,
    /// Status as shown.
    pub state_label: String,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// When it was handed over (UTC), if it was.
    pub submitted_at: Option<DateTime<Utc>>,
    /// The current step's due date.
    pub due_on: Option<NaiveDate>,
}

/// A person the desk found, with their cases.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Person {
    /// User id.
    pub user_id: String,
    /// Full name as the identity provider (or the filed form) gives it.
    pub name: Option<String>,
    /// SNILS, `XXX-XXX-XXX XX`.
    pub snils: Option<String>,
    /// Their cases, newest first (at most 50).
    pub cases: Vec<PersonCase>,
}

/// How the desk looks a person up.
#[derive(Debug, Clone)]
pub enum PersonQuery {
    /// By SNILS, in any spelling.
    Snils(String),
    /// By the start of the full name (case, ё/е and spacing ignored).
    Name(String),
}

/// The most people one search returns.
const PEOPLE: i64 = 20;

/// Finds people by SNILS or name for a support agent, with their cases (summaries: an
/// application itself opens only through a request about it). Audited without the query.
pub fn find_people(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    q: &PersonQuery,
    now: DateTime<Utc>,
) -> Result<Vec<Person>, ServiceError> {
    use crate::store::schema::person_profiles as pp;
    if !actor.has(Role::Support) {
        return Err(ServiceError::refused(
            RefusalKind::Forbidden,
            "not_support",
            "Поиск заявителей доступен сотрудникам службы поддержки",
        ));
    }
    let mut owners: Vec<String> = match q {
        PersonQuery::Snils(raw) => {
            let snils = crate::domain::snils::Snils::parse(raw).map_err(|_| {
                ServiceError::invalid_field(
                    "invalid_snils",
                    "СНИЛС указан с ошибкой: 11 цифр, например 112-233-445 95",
                    "/snils",
                    "Неверный СНИЛС",
                )
            })?;
            let digits = snils.digits().to_owned();
            let mut found: Vec<String> = pp::table
                .filter(pp::snils.eq(&digits))
                .select(pp::user_id)
                .limit(PEOPLE)
                .load(conn)
                .map_err(StoreError::from)?;
            let filed: Vec<String> = cases::table
                .filter(cases::snils.eq(&digits))
                .select(cases::owner_id)
                .distinct()
                .limit(PEOPLE)
                .load(conn)
                .map_err(StoreError::from)?;
            found.extend(filed);
            found
        }
        PersonQuery::Name(raw) => {
            let key = crate::domain::person_name::search_key(raw);
            if key.chars().count() < 3 {
                return Err(ServiceError::invalid_field(
                    "name_too_short",
                    "Для поиска по ФИО укажите не меньше трёх букв фамилии",
                    "/name",
                    "Слишком коротко",
                ));
            }
            let pattern = format!(
                "{}%",
                key.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            cases::table
                .filter(cases::name_key.like(pattern).escape('\\'))
                .select(cases::owner_id)
                .distinct()
                .limit(PEOPLE)
                .load(conn)
                .map_err(StoreError::from)?
        }
    };
    owners.sort();
    owners.dedup();
    let mut people = Vec::with_capacity(owners.len());
    for owner in owners {
        let profile = crate::store::profiles::find(conn, &owner)?;
        let rows: Vec<crate::store::cases::Case> = cases::table
            .filter(cases::owner_id.eq(&owner))
            .order(cases::id.desc())
            .limit(50)
            .select(crate::store::cases::Case::as_select())
            .load(conn)
            .map_err(StoreError::from)?;
        let name = profile
            .as_ref()
            .map(|p| {
                [&p.last_name, &p.first_name, &p.middle_name]
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|n| !n.is_empty())
            .or_else(|| rows.iter().find_map(|c| c.applicant_name.clone()));
        let snils = profile
            .as_ref()
            .and_then(|p| p.snils.clone())
            .or_else(|| rows.iter().find_map(|c| c.snils.clone()))
            .and_then(|s| crate::domain::snils::Snils::parse(&s).ok())
            .map(|s| s.to_string());
        let mut list = Vec::with_capacity(rows.len());
        for c in rows {
            let w = pinned_workflow(conn, catalog, &c.definition_hash)?;
            list.push(PersonCase {
                state_label: w.definition.label_of(&c.state).to_owned(),
                workflow_title: w.definition.title.clone(),
                id: c.id,
                number: c.number,
                workflow: c.workflow_id,
                state: c.state,
                created_at: c.created_at.and_utc(),
                submitted_at: c.submitted_at.map(|t| t.and_utc()),
                due_on: c.due_on,
            });
        }
        people.push(Person {
            user_id: owner,
            name,
            snils,
            cases: list,
        });
    }
    // Looking people up is access to personal data: who searched, how, and how many were found
    // (never the query).
    let by = match q {
        PersonQuery::Snils(_) => "snils",
        PersonQuery::Name(_) => "name",
    };
    crate::service::access::record_event(
        conn,
        actor,
        "support.person_search",
        json!({"by": by, "found": people.len()}),
        now.naive_utc(),
    )?;
    Ok(people)
}

/// Russian names of the request categories.
pub const CATEGORIES: [(&str, &str); 7] = [
    ("login", "Вход и ЕСИА"),
    ("register", "Данные регистра"),
    ("documents", "Загрузка документов"),
    ("signature", "Электронная подпись"),
    ("status", "Статус заявления"),
    ("form", "Вопрос по заполнению"),
    ("other", "Другое"),
];

/// Requests of one category in the statistics.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryStats {
    /// Category code.
    pub category: String,
    /// Its name.
    pub label: String,
    /// Requests sent in the period.
    pub total: i64,
    /// Of them, urgent.
    pub urgent: i64,
    /// Of them, resolved.
    pub resolved: i64,
    /// Of them, handed to line 2.
    pub line_2: i64,
    /// Mean minutes from sending to the first answer, over those answered.
    pub first_response_minutes: Option<i64>,
    /// Mean minutes from sending to the resolution, over those resolved.
    pub resolution_minutes: Option<i64>,
}

/// The desk's statistics of a period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// First day of the period (Moscow).
    pub from: NaiveDate,
    /// Last day of the period (Moscow).
    pub to: NaiveDate,
    /// Per category, in the catalogue's order (categories without requests too).
    pub by_category: Vec<CategoryStats>,
}

/// Requests by category sent in the last three months (from the same day three months ago,
/// Moscow time), for support agents and administrators.
pub fn stats(
    conn: &mut DbConnection,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Stats, ServiceError> {
    if !(actor.has(Role::Support) || actor.has(Role::Admin)) {
        return Err(ServiceError::refused(
            RefusalKind::Forbidden,
            "not_support",
            "Статистика обращений доступна сотрудникам службы поддержки",
        ));
    }
    let to = crate::domain::calendar::moscow(now).date();
    let from = to.checked_sub_months(chrono::Months::new(3)).unwrap_or(to);
    let start =
        crate::domain::calendar::from_moscow(from.and_time(chrono::NaiveTime::MIN)).naive_utc();
    let rows: Vec<(rows::Request, String)> = sr::table
        .inner_join(cases::table.on(cases::id.eq(sr::case_id)))
        .filter(sr::created_at.ge(start))
        .select((rows::Request::as_select(), cases::attributes))
        .load(conn)
        .map_err(StoreError::from)?;
    // Every request sent has its priority set (by `open_support_request` or an agent).
    let urgent = |attributes: &str| {
        serde_json::from_str::<serde_json::Value>(attributes)
            .is_ok_and(|a| a["priority"] == "urgent")
    };
    let mean = |v: Vec<i64>| {
        let n = i64::try_from(v.len()).unwrap_or(i64::MAX);
        (n > 0).then(|| v.iter().sum::<i64>() / n)
    };
    let by_category = CATEGORIES
        .iter()
        .map(|(code, label)| {
            let of: Vec<&(rows::Request, String)> =
                rows.iter().filter(|(r, _)| r.category == *code).collect();
            let count = |f: &dyn Fn(&(rows::Request, String)) -> bool| {
                i64::try_from(of.iter().filter(|r| f(r)).count()).unwrap_or(i64::MAX)
            };
            CategoryStats {
                category: (*code).to_owned(),
                label: (*label).to_owned(),
                total: i64::try_from(of.len()).unwrap_or(i64::MAX),
                urgent: count(&|(_, a)| urgent(a)),
                resolved: count(&|(r, _)| r.resolved_at.is_some()),
                line_2: count(&|(r, _)| r.line == 2),
                first_response_minutes: mean(
                    of.iter()
                        .filter_map(|(r, _)| {
                            r.first_response_at
                                .map(|t| (t - r.created_at).num_minutes())
                        })
                        .collect(),
                ),
                resolution_minutes: mean(
                    of.iter()
                        .filter_map(|(r, _)| {
                            r.resolved_at.map(|t| (t - r.created_at).num_minutes())
                        })
                        .collect(),
                ),
            }
        })
        .collect();
    Ok(Stats {
        from,
        to,
        by_category,
    })
}
