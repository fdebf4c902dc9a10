//! What a signed-in person does with their own account: consent to the transfer of their data,
//! see and end their sessions, refresh their session token.

use super::session::Authenticated;
use super::token::TokenKeys;
use crate::audit::{self, Entry};
use crate::store::sessions::{self, Session};
use crate::store::{DbConnection, StoreError, consents, write_tx};
use chrono::{DateTime, Utc};
use serde_json::json;

fn event(user: &str, kind: &'static str, at: DateTime<Utc>, payload: serde_json::Value) -> Entry {
    Entry {
        chain: format!("user:{user}"),
        kind,
        actor: Some(user.to_owned()),
        case: None,
        at: at.naive_utc(),
        payload,
    }
}

/// Records the person's decision on the transfer of their data; a consent opens all their
/// sessions to cases, a withdrawal closes them all at once.
pub fn decide_consent(
    conn: &mut DbConnection,
    user: &str,
    granted: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    write_tx(conn, |conn| {
        consents::record(conn, user, granted, now.naive_utc())?;
        sessions::set_consent(conn, user, granted)?;
        let kind = if granted {
            "consent.given"
        } else {
            "consent.refused"
        };
        audit::record(conn, event(user, kind, now, json!({})))?;
        Ok(())
    })
}

/// The person's active sessions.
pub fn sessions(
    conn: &mut DbConnection,
    user: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Session>, StoreError> {
    Ok(sessions::active_for_user(conn, user, now.naive_utc())?)
}

/// Ends one of the person's sessions; `false` if they have no such active session.
pub fn end_session(
    conn: &mut DbConnection,
    user: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    write_tx(conn, |conn| {
        let ended = sessions::revoke_own(conn, user, id, now.naive_utc())?;
        if ended {
            audit::record(
                conn,
                event(user, "session.ended", now, json!({"session": id})),
            )?;
        }
        Ok(ended)
    })
}

/// Replaces the caller's session with a new one (new id and token) that ends no later than the
/// old one would have: refreshing never extends the absolute lifetime.
pub fn refresh(
    conn: &mut DbConnection,
    keys: &TokenKeys,
    who: &Authenticated,
    now: DateTime<Utc>,
) -> Result<(Session, String), StoreError> {
    write_tx(conn, |conn| {
        sessions::revoke(conn, who.session.as_str(), now.naive_utc())?;
        let (session, token) = super::session::create_until(
            conn,
            keys,
            &who.user,
            now,
            who.expires_at,
            who.consent_pending,
        )?;
        audit::record(
            conn,
            event(
                who.user.as_str(),
                "session.refreshed",
                now,
                json!({"from": who.session.as_str(), "to": session.id}),
            ),
        )?;
        Ok((session, token))
    })
}
