//! The provider's signing keys (JWKS), read at discovery and read again when a token names a
//! key we do not have, or fails its signature check with keys older than a few minutes:
//! providers rotate their keys, and a login must not fail until restart when they do.

use crate::domain::clock::SharedClock;
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet};
use openidconnect::{JsonWebKeySetUrl, SignatureVerificationError};
use std::sync::RwLock;

/// A key set older than this is read again on a failed signature check.
const STALE_AFTER: Duration = Duration::minutes(5);
/// At most one fetch in this interval, whatever the tokens say (an attacker's tokens with
/// random key ids must not make us hammer the provider).
const MIN_INTERVAL: Duration = Duration::seconds(30);

#[derive(Debug)]
struct Held {
    set: CoreJsonWebKeySet,
    fetched_at: DateTime<Utc>,
}

/// The provider's current key set.
#[derive(Debug)]
pub struct ProviderKeys {
    uri: JsonWebKeySetUrl,
    clock: SharedClock,
    held: RwLock<Held>,
}

impl ProviderKeys {
    /// Keys read at discovery from `uri`.
    pub fn new(uri: JsonWebKeySetUrl, set: CoreJsonWebKeySet, clock: SharedClock) -> Self {
        let fetched_at = clock.now();
        Self {
            uri,
            clock,
            held: RwLock::new(Held { set, fetched_at }),
        }
    }

    /// The keys as held now.
    pub fn current(&self) -> CoreJsonWebKeySet {
        match self.held.read() {
            Ok(h) => h.set.clone(),
            Err(poisoned) => poisoned.into_inner().set.clone(),
        }
    }

    /// Whether a failed check is worth one more try with freshly read keys: the token names a
    /// key we do not have, or its signature failed with keys held for a while; and no fetch
    /// happened in the last [`MIN_INTERVAL`].
    pub fn worth_refreshing(&self, error: &SignatureVerificationError) -> bool {
        let fetched_at = match self.held.read() {
            Ok(h) => h.fetched_at,
            Err(poisoned) => poisoned.into_inner().fetched_at,
        };
        let age = self.clock.now() - fetched_at;
        let suspicious = match error {
            SignatureVerificationError::NoMatchingKey => true,
            SignatureVerificationError::CryptoError(_)
            | SignatureVerificationError::InvalidKey(_) => age >= STALE_AFTER,
            _ => false,
        };
        suspicious && age >= MIN_INTERVAL
    }

    /// Reads the key set again.
    pub async fn refresh(&self, http: &reqwest::Client) -> Result<(), String> {
        let set: openidconnect::JsonWebKeySet<CoreJsonWebKey> =
            openidconnect::JsonWebKeySet::fetch_async(&self.uri, http)
                .await
                .map_err(|e| format!("keys: {e}"))?;
        let fetched_at = self.clock.now();
        match self.held.write() {
            Ok(mut h) => *h = Held { set, fetched_at },
            Err(poisoned) => *poisoned.into_inner() = Held { set, fetched_at },
        }
        tracing::info!(uri = %self.uri.as_str(), "identity provider keys read again");
        Ok(())
    }
}
