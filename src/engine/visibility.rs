//! Who sees a workflow's cases: the audiences its YAML lists under `visible_to`. Each is a
//! relation of the actor to the case (its author, its assignee) or a role with a scope (the
//! commission of its specialty once handed over, the support line working it). A case is seen
//! by whoever is in one of them; nobody else learns that it exists.

use super::{Actor, CaseView};
use crate::domain::role::Role;
use serde::Serialize;

/// One audience of a workflow's cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The person who opened the case.
    Author,
    /// The commission (administrators; reviewers and secretaries of the case's specialty),
    /// once the case was handed over.
    Commission,
    /// The staff member the case is assigned to.
    Assignee,
    /// Support agents of the line working the case (and that line's lead).
    SupportLine,
    /// Support agents who see a support request that links the case (read-only: no transition
    /// of the case is theirs). Decided with the store, by the service.
    LinkedRequest,
}

impl Audience {
    /// Every audience, in a stable order.
    pub const ALL: [Audience; 5] = [
        Audience::Author,
        Audience::Commission,
        Audience::Assignee,
        Audience::SupportLine,
        Audience::LinkedRequest,
    ];

    /// As the YAML names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Author => "author",
            Audience::Commission => "commission",
            Audience::Assignee => "assignee",
            Audience::SupportLine => "support_line",
            Audience::LinkedRequest => "linked_request",
        }
    }

    /// The audience a YAML name means.
    pub fn parse(s: &str) -> Option<Audience> {
        Audience::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether `actor` is in this audience of the case (`LinkedRequest`: never here, it needs
    /// the store).
    pub fn admits(self, view: CaseView<'_>, actor: &Actor) -> bool {
        match self {
            Audience::Author => actor.user == *view.owner,
            Audience::Commission => view.submitted && actor.covers(view.specialty),
            Audience::Assignee => view.assignee == Some(actor.user.as_str()),
            Audience::SupportLine => {
                actor.has(Role::Support) && view.line.is_some_and(|l| actor.works_line(l))
            }
            Audience::LinkedRequest => false,
        }
    }
}

/// The audiences of a workflow that declares none: its author and the commission.
pub const DEFAULT: [Audience; 2] = [Audience::Author, Audience::Commission];

/// Whether the actor may see the case: they are in one of the workflow's audiences.
pub fn can_view(audiences: &[Audience], view: CaseView<'_>, actor: &Actor) -> bool {
    audiences.iter().any(|a| a.admits(view, actor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::UserId;
    use std::collections::BTreeSet;

    fn actor(id: &str, roles: &[Role]) -> Actor {
        Actor::new(
            UserId::from_stored(id.into()),
            roles.iter().copied().collect::<BTreeSet<_>>(),
        )
    }

    fn view<'a>(owner: &'a UserId, assignee: Option<&'a str>, line: Option<u8>) -> CaseView<'a> {
        CaseView {
            state: "accepted",
            owner,
            submitted: true,
            specialty: None,
            assignee,
            line,
        }
    }

    #[test]
    fn a_support_request_is_seen_by_its_author_its_assignee_and_its_line_only() {
        let owner = UserId::from_stored("u-author".into());
        let audiences = [Audience::Author, Audience::Assignee, Audience::SupportLine];
        let v = view(&owner, Some("u-agent"), Some(1));
        let author = actor("u-author", &[Role::Specialist]);
        let assignee = actor("u-agent", &[Role::Support]);
        let mut line1 = actor("u-line1", &[Role::Support]);
        line1.support_lines.insert(1, false);
        let mut line2 = actor("u-line2", &[Role::Support]);
        line2.support_lines.insert(2, false);
        let mut lead2 = actor("u-lead2", &[Role::Support]);
        lead2.support_lines.insert(2, true);
        let admin = actor("u-admin", &[Role::Admin]);
        let other = actor("u-other", &[Role::Specialist]);
        assert!(can_view(&audiences, v, &author));
        assert!(can_view(&audiences, v, &assignee));
        assert!(can_view(&audiences, v, &line1));
        assert!(
            !can_view(&audiences, v, &line2),
            "line 2 sees escalated requests only"
        );
        assert!(!can_view(&audiences, v, &lead2));
        assert!(
            !can_view(&audiences, v, &admin),
            "the commission sees no requests"
        );
        assert!(!can_view(&audiences, v, &other));
        let escalated = view(&owner, None, Some(2));
        assert!(can_view(&audiences, escalated, &line2));
        assert!(can_view(&audiences, escalated, &lead2));
        assert!(!can_view(&audiences, escalated, &line1));
        // A line-1 agent holding the role but on no line sees nothing by the line.
        let unlined = actor("u-new", &[Role::Support]);
        assert!(!can_view(&audiences, escalated, &unlined));
    }

    #[test]
    fn an_application_is_seen_by_its_author_and_the_commission_as_before() {
        let owner = UserId::from_stored("u-author".into());
        let v = view(&owner, None, None);
        assert!(can_view(
            &DEFAULT,
            v,
            &actor("u-author", &[Role::Specialist])
        ));
        assert!(can_view(&DEFAULT, v, &actor("u-admin", &[Role::Admin])));
        let mut agent = actor("u-agent", &[Role::Support]);
        agent.support_lines.insert(1, true);
        assert!(!can_view(&DEFAULT, v, &agent));
        let draft = CaseView {
            submitted: false,
            ..v
        };
        assert!(!can_view(
            &DEFAULT,
            draft,
            &actor("u-admin", &[Role::Admin])
        ));
    }
}
