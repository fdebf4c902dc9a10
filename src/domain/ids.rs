//! Typed identifiers. All ids are UUIDv7 rendered as text, so they sort by creation time
//! and are portable between PostgreSQL and SQLite.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new time-ordered id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7().to_string())
            }

            /// Parses an id given by a client; anything but a UUID is refused.
            pub fn parse(raw: &str) -> Option<Self> {
                Uuid::parse_str(raw).ok().map(|u| Self(u.to_string()))
            }

            /// Wraps an id read back from our own storage.
            pub fn from_stored(raw: String) -> Self {
                Self(raw)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

typed_id!(
    /// Identifier of a case (an application or a support request).
    CaseId
);
typed_id!(
    /// Identifier of a user (principal).
    UserId
);
typed_id!(
    /// Identifier of a server-side session.
    SessionId
);
