//! Creating and checking server-side sessions.

use super::token::{Claims, TokenError, TokenKeys};
use crate::domain::ids::{SessionId, UserId};
use crate::domain::role::Role;
use crate::store::sessions::{self, Session};
use crate::store::{DbConnection, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeSet;

/// Session lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after login whatever happens.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
        }
    }
}

/// A caller whose session checked out.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The user.
    pub user: UserId,
    /// Roles held now.
    pub roles: BTreeSet<Role>,
    /// The session.
    pub session: SessionId,
    /// The user has not consented to the transfer of their data yet.
    pub consent_pending: bool,
    /// When the session ends at the latest.
    pub expires_at: DateTime<Utc>,
}

/// Why a caller is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token was sent.
    #[error("no token")]
    Missing,
    /// The token is not valid.
    #[error("invalid token")]
    Invalid,
    /// The session's absolute lifetime is over.
    #[error("session expired")]
    Expired,
    /// The session was idle too long.
    #[error("session idle")]
    Idle,
    /// The session was ended.
    #[error("session revoked")]
    Revoked,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Activity is written back at most this often, to keep reads cheap.
const TOUCH_EVERY: Duration = Duration::seconds(30);

/// Starts a session for `user` and returns it with its token.
pub fn create(
    conn: &mut DbConnection,
    keys: &TokenKeys,
    user: &UserId,
    policy: SessionPolicy,
    now: DateTime<Utc>,
) -> Result<(Session, String), StoreError> {
    create_until(conn, keys, user, now, now + policy.absolute, false)
}

/// Starts a session ending at `expires_at` at the latest; `consent_pending` keeps it away from
/// cases until the user consents to the transfer of their data.
pub fn create_until(
    conn: &mut DbConnection,
    keys: &TokenKeys,
    user: &UserId,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    consent_pending: bool,
) -> Result<(Session, String), StoreError> {
    let session = Session {
        id: SessionId::generate(now).to_string(),
        user_id: user.to_string(),
        created_at: now.naive_utc(),
        last_seen_at: now.naive_utc(),
        expires_at: expires_at.naive_utc(),
        revoked_at: None,
        consent_pending,
    };
    let token = keys
        .issue(
            user.as_str(),
            &session.id,
            now.timestamp(),
            expires_at.timestamp(),
        )
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sessions::insert(conn, &session)?;
    Ok((session, token))
}

/// Checks a bearer token's signature, algorithm, issuer, audience and expiry at `now` (no
/// database).
pub fn verify_token(
    keys: &TokenKeys,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Claims, AuthError> {
    keys.verify(token, now).map_err(|e| match e {
        TokenError::Expired => AuthError::Expired,
        TokenError::Invalid => AuthError::Invalid,
    })
}

/// Checks that the session a verified token names is live; records activity.
pub fn check(
    conn: &mut DbConnection,
    claims: &Claims,
    policy: SessionPolicy,
    now: DateTime<Utc>,
) -> Result<Authenticated, AuthError> {
    let (session, roles) = sessions::find_with_roles(conn, &claims.sid)
        .map_err(StoreError::from)?
        .ok_or(AuthError::Invalid)?;
    if session.user_id != claims.sub {
        return Err(AuthError::Invalid);
    }
    let now_naive = now.naive_utc();
    if session.revoked_at.is_some() {
        return Err(AuthError::Revoked);
    }
    if now_naive >= session.expires_at {
        return Err(AuthError::Expired);
    }
    if now_naive - session.last_seen_at >= policy.idle {
        return Err(AuthError::Idle);
    }
    if now_naive - session.last_seen_at >= TOUCH_EVERY {
        sessions::touch(conn, &session.id, now_naive).map_err(StoreError::from)?;
    }
    Ok(Authenticated {
        user: UserId::from_stored(session.user_id),
        roles: roles.iter().filter_map(|r| r.parse().ok()).collect(),
        session: SessionId::from_stored(session.id),
        consent_pending: session.consent_pending,
        expires_at: session.expires_at.and_utc(),
    })
}
