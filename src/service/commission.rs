//! The accreditation subcommissions (by specialty) and the assignment of cases to their
//! members: who an actor is to the commission, the admin's management of subcommissions, and
//! assigning, claiming, reassigning and releasing a case — each audited.

use super::access::{Visible, load_visible};
use super::cases::{CaseDto, to_dto};
use super::{Change, RefusalKind, ServiceError, apply_staged, stage_change};
use crate::audit::{self, Entry};
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use crate::engine::Actor;
use crate::engine::catalog::Catalog;
use crate::identity::session::Authenticated;
use crate::store::subcommissions::{self as rows, Subcommission};
use crate::store::{DbConnection, StoreError, single_write_tx, users, write_tx};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::BTreeSet;

/// The actor of an authenticated session, with the specialties of their subcommissions when
/// they hold a commission role, and their support line when they work the help desk.
pub fn actor(conn: &mut DbConnection, auth: &Authenticated) -> Result<Actor, StoreError> {
    let mut actor = Actor::new(auth.user.clone(), auth.roles.clone());
    if actor.has(Role::Reviewer) || actor.has(Role::Secretary) {
        actor.specialties = rows::specialties_of(conn, auth.user.as_str())?;
    }
    if actor.has(Role::Support)
        && let Some(a) = crate::store::support::agent(conn, auth.user.as_str())?
        && let Ok(line) = u8::try_from(a.line)
    {
        actor.support_lines.insert(line, a.lead);
    }
    Ok(actor)
}

/// Refuses (403 `not_admin`) anyone but an administrator.
pub(crate) fn require_admin(actor: &Actor) -> Result<(), ServiceError> {
    if actor.has(Role::Admin) {
        Ok(())
    } else {
        Err(ServiceError::refused(
            RefusalKind::Forbidden,
            "not_admin",
            "Это действие доступно только администратору",
        ))
    }
}

/// A subcommission to create or change.
#[derive(Debug, Clone)]
pub struct Definition {
    /// Stable code: 1–50 characters of a-z, 0-9, `_` and `-`.
    pub code: String,
    /// Name (Russian), 1–300 characters.
    pub name: String,
    /// Specialty codes (`31.08.49`), at least one.
    pub specialties: BTreeSet<String>,
}

fn is_specialty_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 8
        && b.iter().enumerate().all(|(i, c)| {
            if i == 2 || i == 5 {
                *c == b'.'
            } else {
                c.is_ascii_digit()
            }
        })
}

fn check_definition(d: &Definition) -> Result<(), ServiceError> {
    let code_ok = !d.code.is_empty()
        && d.code.len() <= 50
        && d.code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !code_ok {
        return Err(ServiceError::invalid_field(
            "invalid_subcommission_code",
            "Код подкомиссии — от 1 до 50 символов: строчные латинские буквы, цифры, «_» и «-»",
            "/code",
            "Недопустимый код",
        ));
    }
    let name_len = d.name.trim().chars().count();
    if name_len == 0 || name_len > 300 {
        return Err(ServiceError::invalid_field(
            "invalid_subcommission_name",
            "Укажите название подкомиссии (до 300 символов)",
            "/name",
            "Обязательное поле",
        ));
    }
    if d.specialties.is_empty() {
        return Err(ServiceError::invalid_field(
            "specialties_required",
            "Укажите хотя бы одну специальность подкомиссии",
            "/specialties",
            "Обязательное поле",
        ));
    }
    if let Some(bad) = d.specialties.iter().find(|s| !is_specialty_code(s)) {
        return Err(ServiceError::invalid_field(
            "invalid_specialty_code",
            format!("Код специальности «{bad}» записывается как 31.08.49"),
            "/specialties",
            "Недопустимый код специальности",
        ));
    }
    Ok(())
}

fn audit_admin(
    conn: &mut DbConnection,
    actor: Option<&Actor>,
    code: &str,
    kind: &'static str,
    payload: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    audit::record(
        conn,
        Entry {
            chain: format!("subcommission:{code}"),
            kind,
            actor: actor.map(|a| a.user.to_string()),
            case: None,
            at: now.naive_utc(),
            payload,
        },
    )?;
    Ok(())
}

/// Creates or changes a subcommission (`actor` is `None` for the operator's command line).
pub fn define(
    conn: &mut DbConnection,
    actor: Option<&Actor>,
    d: &Definition,
    now: DateTime<Utc>,
) -> Result<Subcommission, ServiceError> {
    if let Some(a) = actor {
        require_admin(a)?;
    }
    check_definition(d)?;
    write_tx(conn, |conn| {
        let created = rows::define(
            conn,
            &d.code,
            d.name.trim(),
            &d.specialties,
            now.naive_utc(),
        )?;
        audit_admin(
            conn,
            actor,
            &d.code,
            if created {
                "subcommission.created"
            } else {
                "subcommission.changed"
            },
            json!({"code": d.code, "name": d.name.trim(), "specialties": d.specialties}),
            now,
        )?;
        Ok::<_, StoreError>(())
    })?;
    find(conn, &d.code)
}

fn find(conn: &mut DbConnection, code: &str) -> Result<Subcommission, ServiceError> {
    rows::list(conn)?
        .into_iter()
        .find(|s| s.code == code)
        .ok_or_else(|| {
            ServiceError::refused(
                RefusalKind::NotFound,
                "subcommission_not_found",
                "Подкомиссия не найдена",
            )
        })
}

/// Refuses (403 `not_commission`) anyone who does not work for the commission; `what` names
/// what they asked for, in Russian («Очередь заявлений»).
pub fn require_commission(actor: &Actor, what: &str) -> Result<(), ServiceError> {
    if actor.on_commission() {
        Ok(())
    } else {
        Err(ServiceError::refused(
            RefusalKind::Forbidden,
            "not_commission",
            format!("{what}: доступно членам аккредитационных подкомиссий и администратору"),
        ))
    }
}

/// Every subcommission (administrators and commission staff).
pub fn list(conn: &mut DbConnection, actor: &Actor) -> Result<Vec<Subcommission>, ServiceError> {
    require_commission(actor, "Список подкомиссий")?;
    Ok(rows::list(conn)?)
}

/// Adds (`add`) or removes a member: a user holding the reviewer or the secretary role.
pub fn membership(
    conn: &mut DbConnection,
    actor: Option<&Actor>,
    code: &str,
    user_id: &str,
    add: bool,
    now: DateTime<Utc>,
) -> Result<Subcommission, ServiceError> {
    if let Some(a) = actor {
        require_admin(a)?;
    }
    write_tx(conn, |conn| {
        if !rows::exists(conn, code)? {
            return Err(ServiceError::refused(
                RefusalKind::NotFound,
                "subcommission_not_found",
                "Подкомиссия не найдена",
            ));
        }
        let id = UserId::from_stored(user_id.to_owned());
        if users::find(conn, &id)?.is_none() {
            return Err(ServiceError::refused(
                RefusalKind::NotFound,
                "user_not_found",
                "Пользователь не найден",
            ));
        }
        let changed = if add {
            let roles = users::roles_of(conn, &id)?;
            if !(roles.contains(&Role::Reviewer) || roles.contains(&Role::Secretary)) {
                return Err(ServiceError::refused(
                    RefusalKind::Invalid,
                    "not_commission_role",
                    "В подкомиссию включают пользователя с ролью члена подкомиссии (reviewer) или ответственного секретаря (secretary)",
                ));
            }
            rows::add_member(conn, code, user_id, now.naive_utc())?
        } else {
            rows::remove_member(conn, code, user_id)?
        };
        if changed {
            audit_admin(
                conn,
                actor,
                code,
                if add {
                    "subcommission.member_added"
                } else {
                    "subcommission.member_removed"
                },
                json!({"code": code, "user": user_id}),
                now,
            )?;
        }
        Ok(())
    })?;
    find(conn, code)
}

/// A request to change who a case is assigned to.
#[derive(Debug, Clone)]
pub struct Assign {
    /// The case.
    pub case_id: String,
    /// The new assignee; `None` releases the case.
    pub assignee: Option<String>,
    /// Why (required to reassign or release).
    pub reason: Option<String>,
}

fn refuse(kind: RefusalKind, code: &'static str, message: &str) -> ServiceError {
    ServiceError::refused(kind, code, message)
}

/// Assigns, claims, reassigns or releases a case.
///
/// - The secretary (or an administrator) assigns any reviewer of a subcommission of the
///   case's specialty; replacing an assignee or releasing the case needs a reason.
/// - A reviewer claims an unassigned case for themselves, or releases their own with a reason.
/// - Nobody is assigned their own application; a finished case is not assigned.
pub fn assign(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    req: &Assign,
    now: DateTime<Utc>,
) -> Result<CaseDto, ServiceError> {
    let at = now.naive_utc();
    single_write_tx(conn, |conn| {
        let v = load_visible(conn, catalog, actor, &req.case_id)?;
        let Visible { case, .. } = &v;
        let def = &v.workflow.definition;
        let manager = actor.has(Role::Admin) || actor.has(Role::Secretary);
        if v.owner == actor.user {
            return Err(ServiceError::Transition(
                crate::engine::TransitionError::OwnCase,
            ));
        }
        if !manager && !actor.has(Role::Reviewer) {
            return Err(refuse(
                RefusalKind::Forbidden,
                "role_not_allowed",
                "Назначать заявления может ответственный секретарь; член подкомиссии может взять заявление себе",
            ));
        }
        if case.submitted_at.is_none() || def.state(&case.state).is_none_or(|s| s.r#final) {
            return Err(refuse(
                RefusalKind::Conflict,
                "case_not_assignable",
                &format!(
                    "Заявление в статусе «{}» не назначают",
                    def.label_of(&case.state)
                ),
            ));
        }
        let current = case.assignee_id.as_deref();
        let next = req.assignee.as_deref();
        if current == next {
            return to_dto(&v, actor, now);
        }
        let reason = req
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let action = match (current, next) {
            (None, Some(n)) if n == actor.user.as_str() => "claim",
            (None, Some(_)) => "assign",
            (Some(_), Some(_)) => "reassign",
            (Some(_), None) => "release",
            (None, None) => unreachable!("equal assignees returned above"),
        };
        if !manager {
            let own = current == Some(actor.user.as_str());
            let allowed = match action {
                "claim" => true,
                "release" => own,
                _ => false,
            };
            if !allowed {
                return Err(refuse(
                    RefusalKind::Forbidden,
                    "assignment_not_allowed",
                    if current.is_some() {
                        "Заявление уже назначено другому члену подкомиссии: переназначает ответственный секретарь"
                    } else {
                        "Член подкомиссии может взять заявление только себе"
                    },
                ));
            }
        }
        if matches!(action, "reassign" | "release") && reason.is_none() {
            return Err(ServiceError::invalid_field(
                "reason_required",
                "Укажите причину переназначения или снятия назначения",
                "/reason",
                "Обязательное поле",
            ));
        }
        if let Some(n) = next {
            if n == case.owner_id {
                return Err(refuse(
                    RefusalKind::Invalid,
                    "own_case",
                    "Нельзя назначить заявителю его собственное заявление",
                ));
            }
            let id = UserId::from_stored(n.to_owned());
            let roles = users::roles_of(conn, &id)?;
            let member = match case.specialty.as_deref() {
                Some(s) => rows::member_for(conn, n, s)?,
                None => false,
            };
            if !roles.contains(&Role::Reviewer) || !member {
                return Err(ServiceError::invalid_field(
                    "assignee_not_eligible",
                    "Назначить можно члена подкомиссии по специальности заявления",
                    "/assignee",
                    "Не член подкомиссии по этой специальности",
                ));
            }
        }
        let change = Change {
            submitted: false,
            state: None,
            form_data: None,
            kind: "case.assigned",
            step: None,
            payload: json!({"action": action, "from": current, "to": next, "reason": reason}),
        };
        let mut staged = stage_change(case, case.version, change, Some(actor), at);
        staged.next.assignee_id = next.map(str::to_owned);
        let next_row = apply_staged(conn, staged, &super::Extras::default())?;
        to_dto(&v.with(next_row), actor, now)
    })
}
