//! Finishing a login: only confirmed accounts get a session; every success and failure is
//! audited (without tokens, codes or secrets).

use super::oidc::{Identity, Pending};
use super::session::{self, SessionPolicy};
use super::token::TokenKeys;
use crate::audit::{self, Entry};
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use crate::store::logins::{self, LoginAttempt};
use crate::store::sessions::Session;
use crate::store::{DbConnection, StoreError, users, write_tx};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// How long a started login may wait for its callback.
pub const LOGIN_TTL: Duration = Duration::minutes(10);

/// Remembers a started login.
pub fn remember(
    conn: &mut DbConnection,
    pending: &Pending,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let attempt = LoginAttempt {
        state: pending.state.clone(),
        nonce: pending.nonce.clone(),
        pkce_verifier: pending.pkce_verifier.clone(),
        created_at: now.naive_utc(),
        used_at: None,
    };
    logins::insert(conn, &attempt, (now - LOGIN_TTL * 6).naive_utc()).map_err(StoreError::from)
}

/// Takes the login a callback's `state` names: once, and only within [`LOGIN_TTL`].
pub fn take(
    conn: &mut DbConnection,
    state: &str,
    now: DateTime<Utc>,
) -> Result<Option<Pending>, StoreError> {
    let taken = logins::take(conn, state, (now - LOGIN_TTL).naive_utc(), now.naive_utc())?;
    Ok(taken.map(|a| Pending {
        state: a.state,
        nonce: a.nonce,
        pkce_verifier: a.pkce_verifier,
    }))
}

/// Audits a failed login attempt (no user is known, so it goes to the `auth` chain).
pub fn record_failure(
    conn: &mut DbConnection,
    code: &str,
    client: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    write_tx(conn, |conn| {
        audit::record(
            conn,
            Entry {
                chain: "auth".into(),
                kind: "login.failed",
                actor: None,
                case: None,
                at: now.naive_utc(),
                payload: json!({"code": code, "client": client}),
            },
        )
        .map(drop)
        .map_err(StoreError::from)
    })
}

/// Why a verified person gets no session.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The account at the provider is not confirmed.
    #[error("account not confirmed")]
    NotConfirmed,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates (or finds) the user of a verified, confirmed person and starts a session, all in
/// one transaction with its audit event.
pub fn complete(
    conn: &mut DbConnection,
    keys: &TokenKeys,
    policy: SessionPolicy,
    identity: &Identity,
    client: &str,
    now: DateTime<Utc>,
) -> Result<(Session, String), Refusal> {
    if !identity.trusted {
        record_failure(conn, "account_not_confirmed", client, now)?;
        return Err(Refusal::NotConfirmed);
    }
    let at = now.naive_utc();
    let result = write_tx(conn, |conn| {
        let user = users::ensure(conn, &identity.subject, &identity.display_name(), at)?;
        let id = UserId::from_stored(user.id);
        if users::grant_role(conn, &id, Role::Specialist, at)? {
            audit::record(
                conn,
                Entry {
                    chain: format!("user:{id}"),
                    kind: "role.granted",
                    actor: None,
                    case: None,
                    at,
                    payload: json!({"user": id.as_str(), "role": "specialist", "by": "first_login"}),
                },
            )?;
        }
        // The register cross-check, kept on the profile the cabinet shows.
        let registry = crate::registry::check::at_login(conn, id.as_str(), identity, at)?;
        let pending = !crate::store::consents::granted(conn, id.as_str())?;
        let (session, token) =
            session::create_until(conn, keys, &id, now, now + policy.absolute, pending)?;
        audit::record(
            conn,
            Entry {
                chain: format!("user:{id}"),
                kind: "login.succeeded",
                actor: Some(id.to_string()),
                case: None,
                at,
                payload: json!({
                    "session": session.id,
                    "client": client,
                    "registry": registry.outcome.code(),
                }),
            },
        )?;
        Ok::<_, StoreError>((session, token))
    })?;
    Ok(result)
}
