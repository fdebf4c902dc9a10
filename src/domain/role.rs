//! Roles of principals.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A role a principal can hold. `System` is never granted: it is the engine acting by itself
/// (timers), and only transitions that list it can be run that way. `Author` is never granted
/// either: it is a relation, the person who opened the case, whatever roles they hold (a
/// support request's author may be a specialist or a commission member).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A medical worker, the applicant.
    Specialist,
    /// A member of the accreditation subcommission.
    Reviewer,
    /// The responsible secretary: registers and assigns cases.
    Secretary,
    /// Help-desk staff.
    Support,
    /// Administrator.
    Admin,
    /// The engine itself (timers); not grantable.
    System,
    /// The case's author, whatever their roles; a relation, not grantable.
    Author,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 7] = [
        Role::Specialist,
        Role::Reviewer,
        Role::Secretary,
        Role::Support,
        Role::Admin,
        Role::System,
        Role::Author,
    ];

    /// The code used in storage, YAML and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Specialist => "specialist",
            Role::Reviewer => "reviewer",
            Role::Secretary => "secretary",
            Role::Support => "support",
            Role::Admin => "admin",
            Role::System => "system",
            Role::Author => "author",
        }
    }

    /// Russian name of the role, as a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            Role::Specialist => "медицинский работник",
            Role::Reviewer => "член аккредитационной подкомиссии",
            Role::Secretary => "ответственный секретарь",
            Role::Support => "сотрудник поддержки",
            Role::Admin => "администратор",
            Role::System => "система",
            Role::Author => "автор",
        }
    }

    /// Whether the role may be granted to a person.
    pub fn is_grantable(self) -> bool {
        !matches!(self, Role::System | Role::Author)
    }

    /// Staff roles that look at other people's cases.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Reviewer | Role::Secretary | Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a known role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}
