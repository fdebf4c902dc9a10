//! The workflow engine: definitions, guards and the rules for running a transition.
//! Pure logic: no web framework, no database, no wall clock.

pub mod applicant;
pub mod attributes;
pub mod catalog;
pub mod decision;
pub mod definition;
pub mod effects;
pub mod escalations;
pub mod form;
pub mod guards;
pub mod reasons;
pub mod validate;
pub mod visibility;

use crate::domain::ids::UserId;
use crate::domain::role::Role;
use definition::{Definition, Transition};
use std::collections::BTreeSet;

/// Who is acting.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The user.
    pub user: UserId,
    /// Roles held.
    pub roles: BTreeSet<Role>,
    /// Specialty codes of the accreditation subcommissions the actor sits on: a reviewer or a
    /// secretary sees the cases of these specialties only.
    pub specialties: BTreeSet<String>,
    /// The support lines the actor works on (1: first line, 2: second), each with whether they
    /// lead it.
    pub support_lines: std::collections::BTreeMap<u8, bool>,
}

impl Actor {
    /// An actor on no subcommission.
    pub fn new(user: UserId, roles: BTreeSet<Role>) -> Self {
        Actor {
            user,
            roles,
            specialties: BTreeSet::new(),
            support_lines: std::collections::BTreeMap::new(),
        }
    }

    /// Whether the actor works for the commission at all (an administrator, a reviewer or a
    /// secretary).
    pub fn on_commission(&self) -> bool {
        self.has(Role::Admin) || self.has(Role::Reviewer) || self.has(Role::Secretary)
    }

    /// The specialties whose cases the actor works, for a query: `None` for every one (an
    /// administrator). The rule of [`Actor::covers`], as a filter.
    pub fn specialty_scope(&self) -> Option<Vec<String>> {
        (!self.has(Role::Admin)).then(|| self.specialties.iter().cloned().collect())
    }

    /// Whether the actor works the commission's cases of `specialty`: an administrator all of
    /// them, a reviewer or a secretary those of their subcommissions' specialties.
    pub fn covers(&self, specialty: Option<&str>) -> bool {
        self.has(Role::Admin)
            || ((self.has(Role::Reviewer) || self.has(Role::Secretary))
                && specialty.is_some_and(|s| self.specialties.contains(s)))
    }

    /// Whether the actor works support line `line` (as an agent or its lead).
    pub fn works_line(&self, line: u8) -> bool {
        self.support_lines.contains_key(&line)
    }

    /// Whether the actor holds a role.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// What the engine needs to know about a case to decide on a transition.
#[derive(Debug, Clone, Copy)]
pub struct CaseView<'a> {
    /// Current state.
    pub state: &'a str,
    /// The applicant.
    pub owner: &'a UserId,
    /// Whether the case was ever handed to the commission (left the draft other than by
    /// withdrawal).
    pub submitted: bool,
    /// The specialty it was filed for.
    pub specialty: Option<&'a str>,
    /// The staff member it is assigned to.
    pub assignee: Option<&'a str>,
    /// The support line working it (a support request's), if any.
    pub line: Option<u8>,
}

/// Why a transition cannot run (before guards).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The workflow has no such transition.
    #[error("unknown transition")]
    Unknown,
    /// Not allowed from the current state.
    #[error("not allowed from state {0}")]
    WrongState(String),
    /// The actor's roles do not allow it.
    #[error("role not allowed")]
    Forbidden,
    /// A staff transition on one's own case.
    #[error("own case")]
    OwnCase,
    /// A reason is required and missing.
    #[error("reason required")]
    ReasonRequired,
}

/// Whether `actor` may run `t` on a case owned by `owner`, as far as roles go.
///
/// The specialist role acts only on one's own case, and `author` is the case's own author
/// whatever roles they hold; every other role acts only on other people's cases, so nobody can
/// review their own application.
pub fn role_permits(
    t: &Transition,
    actor: &Actor,
    view: CaseView<'_>,
) -> Result<(), TransitionError> {
    let own = actor.user == *view.owner;
    let mut blocked_by_ownership = false;
    for role in &t.roles {
        if *role == Role::Author {
            if own {
                return Ok(());
            }
            continue;
        }
        let holds = *role != Role::System && actor.has(*role);
        if !holds {
            continue;
        }
        match (role, own) {
            (Role::Specialist, true) => return Ok(()),
            (Role::Specialist, false) => {}
            (_, false) => return Ok(()),
            (_, true) => blocked_by_ownership = true,
        }
    }
    Err(if blocked_by_ownership {
        TransitionError::OwnCase
    } else {
        TransitionError::Forbidden
    })
}

/// Checks everything but guards for running transition `name`.
pub fn check_transition<'d>(
    def: &'d Definition,
    view: CaseView<'_>,
    actor: &Actor,
    name: &str,
    reason: Option<&str>,
) -> Result<&'d Transition, TransitionError> {
    let t = def.transition(name).ok_or(TransitionError::Unknown)?;
    role_permits(t, actor, view)?;
    if !t.from.iter().any(|s| s == view.state) {
        return Err(TransitionError::WrongState(view.state.to_owned()));
    }
    if t.requires_reason && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(TransitionError::ReasonRequired);
    }
    Ok(t)
}

/// Checks everything but guards for the system (a timer) running transition `name`: only
/// transitions open to the `system` role, which no user holds.
pub fn check_system_transition<'d>(
    def: &'d Definition,
    state: &str,
    name: &str,
    reason: Option<&str>,
) -> Result<&'d Transition, TransitionError> {
    let t = def.transition(name).ok_or(TransitionError::Unknown)?;
    if !t.roles.contains(&Role::System) {
        return Err(TransitionError::Forbidden);
    }
    if !t.from.iter().any(|s| s == state) {
        return Err(TransitionError::WrongState(state.to_owned()));
    }
    if t.requires_reason && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(TransitionError::ReasonRequired);
    }
    Ok(t)
}

/// Transitions the actor could run from the case's current state (guards not evaluated).
pub fn available<'d>(
    def: &'d Definition,
    view: CaseView<'_>,
    actor: &Actor,
) -> Vec<&'d Transition> {
    def.transitions
        .iter()
        .filter(|t| t.from.iter().any(|s| s == view.state))
        .filter(|t| role_permits(t, actor, view).is_ok())
        .collect()
}

/// Whether the actor may see a case of `def` (one of its audiences, [`visibility`]).
pub fn can_view(def: &Definition, view: CaseView<'_>, actor: &Actor) -> bool {
    visibility::can_view(&def.visible_to, view, actor)
}

/// Whether running `t` from `from` hands the case to the commission: it leaves the initial
/// state for a state that is not final (withdrawing a draft does not).
pub fn submits(def: &Definition, from: &str, t: &Transition) -> bool {
    from == def.initial && def.state(&t.to).is_some_and(|s| !s.r#final)
}
