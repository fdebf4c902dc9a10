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
use sha2::{Digest, Sha256};

/// How long a started login may wait for its callback.
pub const LOGIN_TTL: Duration = Duration::minutes(10);
/// Pending logins one client address may hold at once.
pub const MAX_PENDING_PER_CLIENT: i64 = 10;
/// Pending logins the server holds at once, from everyone.
pub const MAX_PENDING: i64 = 10_000;

/// Why a login cannot start now.
#[derive(Debug, thiserror::Error)]
pub enum StartRefusal {
    /// The client address holds [`MAX_PENDING_PER_CLIENT`] pending logins.
    #[error("too many pending logins from this address")]
    TooManyFromClient,
    /// The server holds [`MAX_PENDING`] pending logins.
    #[error("too many pending logins")]
    TooMany,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The value kept with a login for the browser's cookie value: its SHA-256, so that the
/// database never holds what the cookie holds.
pub fn browser_hash(cookie_value: &str) -> String {
    hex::encode(Sha256::digest(cookie_value.as_bytes()))
}

/// Remembers a started login, bound to the browser whose cookie hashes to `browser_hash`;
/// forgets expired ones and refuses when the client or the server holds too many.
pub fn remember(
    conn: &mut DbConnection,
    pending: &Pending,
    browser_hash: &str,
    client: &str,
    now: DateTime<Utc>,
) -> Result<(), StartRefusal> {
    let attempt = LoginAttempt {
        state: pending.state.clone(),
        nonce: pending.nonce.clone(),
        pkce_verifier: pending.pkce_verifier.clone(),
        created_at: now.naive_utc(),
        used_at: None,
        browser_hash: browser_hash.to_owned(),
        client: client.to_owned(),
    };
    let live_since = (now - LOGIN_TTL).naive_utc();
    write_tx(conn, |conn| {
        logins::prune(conn, live_since).map_err(StoreError::from)?;
        let (mine, all) = logins::pending(conn, client, live_since).map_err(StoreError::from)?;
        if mine >= MAX_PENDING_PER_CLIENT {
            return Err(StartRefusal::TooManyFromClient);
        }
        if all >= MAX_PENDING {
            return Err(StartRefusal::TooMany);
        }
        logins::insert(conn, &attempt).map_err(StoreError::from)?;
        Ok(())
    })
}

/// What a callback's `state` found.
#[derive(Debug)]
pub enum Taken {
    /// The pending login, now used up.
    Pending(Pending),
    /// A pending login that another browser started (or a callback without the login cookie):
    /// it stays for its owner.
    OtherBrowser,
    /// No such pending login: unknown, used or expired.
    Unknown,
}

/// Takes the login a callback's `state` names: once, only within [`LOGIN_TTL`], and only for
/// the browser that started it.
pub fn take(
    conn: &mut DbConnection,
    state: &str,
    browser_hash: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Taken, StoreError> {
    let live_since = (now - LOGIN_TTL).naive_utc();
    if let Some(hash) = browser_hash
        && let Some(a) = logins::take(conn, state, hash, live_since, now.naive_utc())?
    {
        return Ok(Taken::Pending(Pending {
            state: a.state,
            nonce: a.nonce,
            pkce_verifier: a.pkce_verifier,
        }));
    }
    Ok(if logins::is_pending(conn, state, live_since)? {
        Taken::OtherBrowser
    } else {
        Taken::Unknown
    })
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
