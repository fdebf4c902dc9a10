//! The identity provider as the server holds it: discovered, or still being discovered. The
//! server starts whether or not the provider answers; discovery is retried with backoff and
//! login answers 503 until it succeeds.

use super::oidc::{LoginError, Oidc, OidcConfig};
use crate::domain::clock::SharedClock;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Discovery retries start at this delay and double up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct State {
    ready: Option<Arc<Oidc>>,
    last_error: Option<String>,
}

/// Login through an identity provider: the discovered client once there is one.
#[derive(Debug, Default)]
pub struct Provider {
    state: RwLock<State>,
}

impl Provider {
    /// A provider already discovered.
    pub fn ready(oidc: Arc<Oidc>) -> Self {
        Self {
            state: RwLock::new(State {
                ready: Some(oidc),
                last_error: None,
            }),
        }
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        match self.state.read() {
            Ok(s) => f(&s),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    fn write(&self, f: impl FnOnce(&mut State)) {
        match self.state.write() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// The discovered client, if discovery has succeeded.
    pub fn get(&self) -> Option<Arc<Oidc>> {
        self.read(|s| s.ready.clone())
    }

    /// Why discovery has not succeeded yet (for `/readyz` and the logs).
    pub fn last_error(&self) -> Option<String> {
        self.read(|s| s.last_error.clone())
    }

    /// Tries discovery once; on failure keeps the reason.
    pub async fn try_discover(
        &self,
        config: &OidcConfig,
        clock: &SharedClock,
    ) -> Result<(), LoginError> {
        match Oidc::discover(config.clone(), clock.clone()).await {
            Ok(oidc) => {
                self.write(|s| {
                    s.ready = Some(Arc::new(oidc));
                    s.last_error = None;
                });
                Ok(())
            }
            Err(e) => {
                let reason = e.to_string();
                self.write(|s| s.last_error = Some(reason));
                Err(e)
            }
        }
    }

    /// Retries discovery in the background, with backoff, until it succeeds.
    pub fn keep_discovering(self: &Arc<Self>, config: OidcConfig, clock: SharedClock) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut wait = FIRST_BACKOFF;
            loop {
                match me.try_discover(&config, &clock).await {
                    Ok(()) => {
                        tracing::info!(issuer = %config.issuer, "identity provider discovered");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(
                            issuer = %config.issuer,
                            error = %e,
                            retry_in_secs = wait.as_secs(),
                            "identity provider discovery failed; login answers 503 until it succeeds"
                        );
                    }
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        });
    }
}
