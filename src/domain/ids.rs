//! Typed identifiers. All ids are UUIDv7 rendered as text, so they sort by creation time
//! and are portable between PostgreSQL and SQLite.
//!
//! The time in an id is the `now` its caller took from the [`Clock`](super::clock::Clock), never
//! the wall clock: a server whose clock is set in the past or the future writes ids of that time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

/// Process-wide sequence in the bits after the timestamp, so ids made within one millisecond
/// (a clock standing still in a test, or a busy server) still sort in creation order. The
/// timestamp itself is taken as given, so ids of different clocks never borrow each other's time.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A UUIDv7 for the instant `at` (instants before 1970 are taken as 1970).
pub fn uuid_v7(at: DateTime<Utc>) -> Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    // 42 bits of sequence, then 32 random bits: rand_a (12 bits) and the top 30 of rand_b.
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) & ((1 << 42) - 1);
    let random: [u8; 4] = rand::random();
    let mut bytes = [0u8; 10];
    bytes[0] = (seq >> 38) as u8 & 0x0f;
    bytes[1] = (seq >> 30) as u8;
    bytes[2] = (seq >> 24) as u8 & 0x3f;
    bytes[3] = (seq >> 16) as u8;
    bytes[4] = (seq >> 8) as u8;
    bytes[5] = seq as u8;
    bytes[6..].copy_from_slice(&random);
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
}

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new time-ordered id for the instant `now` (from the clock).
            pub fn generate(now: DateTime<Utc>) -> Self {
                Self(uuid_v7(now).to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::clock::instant as at;

    #[test]
    fn an_id_carries_the_given_instant_and_ids_of_one_instant_sort_in_creation_order() {
        for instant in [
            "1999-12-31T23:59:59.123Z",
            "2026-11-23T09:00:00Z",
            "2049-06-01T12:00:00.5Z",
        ] {
            let t = at(instant);
            let ids: Vec<Uuid> = (0..2_000).map(|_| uuid_v7(t)).collect();
            let mut sorted = ids.clone();
            sorted.sort();
            assert_eq!(ids, sorted, "ids of {instant} sort in creation order");
            for id in &ids {
                assert_eq!(id.get_version_num(), 7);
                let (secs, nanos) = id.get_timestamp().map(|ts| ts.to_unix()).unwrap_or((0, 0));
                assert_eq!(
                    secs as i64 * 1_000 + i64::from(nanos / 1_000_000),
                    t.timestamp_millis(),
                    "the id of {instant} carries its time"
                );
            }
        }
        let made_first = uuid_v7(at("2030-01-01T00:00:00.001Z"));
        let made_next_for_an_earlier_time = uuid_v7(at("2030-01-01T00:00:00Z"));
        assert!(
            made_next_for_an_earlier_time < made_first,
            "time orders ids before the sequence does"
        );
    }
}
