//! Session tokens: JWTs signed with HS256 (pinned), carrying the session id. The token alone
//! never grants access: the session it names must be live on the server.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Claims of a session token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Session id.
    pub sid: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
}

/// Signs and verifies session tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token has expired.
    #[error("token expired")]
    Expired,
    /// Bad signature, algorithm, issuer, audience or shape.
    #[error("invalid token")]
    Invalid,
}

/// The token secret is too short to be safe.
#[derive(Debug, thiserror::Error)]
#[error("the session secret must be at least 32 bytes")]
pub struct WeakSecret;

impl TokenKeys {
    /// Keys from a shared secret of at least 32 bytes.
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> Result<Self, WeakSecret> {
        if secret.len() < 32 {
            return Err(WeakSecret);
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// Signs a token for a session.
    pub fn issue(
        &self,
        user: &str,
        session: &str,
        iat: i64,
        exp: i64,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.to_owned(),
            sid: session.to_owned(),
            iat,
            exp,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Invalid)
    }

    /// Verifies signature (HS256 only), issuer, audience and expiry at `now` (no leeway). The
    /// expiry is checked here, against the caller's clock: jsonwebtoken would read the wall clock.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|_| TokenError::Invalid)?;
        if now.timestamp() >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::clock::instant as at;

    fn keys() -> TokenKeys {
        TokenKeys::new(&[7u8; 32], "accredo", "accredo-api").unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn expiry_is_judged_by_the_given_clock_not_the_wall_clock() {
        let keys = keys();
        for (issued, label) in [
            ("1995-03-01T10:00:00Z", "decades before the wall clock"),
            ("2049-03-01T10:00:00Z", "decades after the wall clock"),
        ] {
            let iat = at(issued);
            let exp = iat + chrono::Duration::hours(12);
            let token = keys
                .issue("u", "s", iat.timestamp(), exp.timestamp())
                .unwrap_or_default();
            let claims = keys.verify(&token, iat + chrono::Duration::hours(11));
            assert_eq!(
                claims.map(|c| c.sid).ok(),
                Some("s".to_owned()),
                "{label}: live"
            );
            assert_eq!(
                keys.verify(&token, exp).err(),
                Some(TokenError::Expired),
                "{label}: expired exactly at exp"
            );
            assert_eq!(
                keys.verify(&token, exp - chrono::Duration::seconds(1))
                    .map(|c| c.exp)
                    .ok(),
                Some(exp.timestamp()),
                "{label}: live a second before exp"
            );
        }
    }

    #[test]
    fn a_token_without_expiry_or_from_another_key_is_invalid() {
        let keys = keys();
        let now = at("2026-11-23T09:00:00Z");
        let other =
            TokenKeys::new(&[8u8; 32], "accredo", "accredo-api").unwrap_or_else(|_| unreachable!());
        let foreign = other
            .issue("u", "s", now.timestamp(), now.timestamp() + 60)
            .unwrap_or_default();
        assert_eq!(keys.verify(&foreign, now).err(), Some(TokenError::Invalid));
        let no_exp = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"iss": "accredo", "aud": "accredo-api", "sub": "u", "sid": "s", "iat": 0}),
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap_or_default();
        assert_eq!(keys.verify(&no_exp, now).err(), Some(TokenError::Invalid));
    }
}
