//! The webhook dispatcher, for SMS and push gateways: each row as a JSON POST signed the
//! Standard Webhooks way (<https://www.standardwebhooks.com/>): `webhook-id` is the row's id
//! (the receiver drops repeats by it), `webhook-timestamp` the Unix time of the attempt, and
//! `webhook-signature` is `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under
//! the secret (`whsec_` and base64, as the convention issues them).
//!
//! A 2xx answer delivers the row. 408, 429, 5xx, a timeout or a gateway that cannot be reached are
//! retried; any other answer (a 4xx: the gateway refuses the request itself) fails at once.
//!
//! The body:
//! ```json
//! {"type": "notification.sms", "timestamp": "2026-04-23T09:00:00Z",
//!  "data": {"id": "…", "channel": "sms", "event": "status_changed", "recipient_id": "…",
//!           "address": "+79161234567", "case_id": "…", "subject": "…", "text": "…",
//!           "created_at": "2026-04-23T09:00:00Z"}}
//! ```

use super::dispatch::{Dispatcher, Failure};
use crate::domain::clock::SharedClock;
use crate::store::notifications::Outgoing;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The dispatcher of one channel to one gateway.
#[derive(Debug)]
pub struct Webhook {
    channel: &'static str,
    url: url::Url,
    key: Vec<u8>,
    client: reqwest::Client,
    clock: SharedClock,
    concurrency: usize,
    /// Rows carry their own JSON body.
    own_bodies: bool,
}

/// The key of a `whsec_…` secret (the prefix is optional; the rest is base64).
pub fn parse_secret(secret: &str) -> Result<Vec<u8>, String> {
    let raw = secret.trim();
    let b64 = raw.strip_prefix("whsec_").unwrap_or(raw);
    let key = STANDARD
        .decode(b64)
        .map_err(|e| format!("the webhook secret is not whsec_ and base64: {e}"))?;
    if key.len() < 24 {
        return Err("the webhook secret must hold at least 24 bytes".into());
    }
    Ok(key)
}

/// The `webhook-signature` header of `body` sent as message `id` at `timestamp`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

impl Webhook {
    /// A dispatcher of `channel` posting to `url`, signing with `secret`, giving up on an
    /// attempt after `timeout`.
    pub fn new(
        channel: &'static str,
        url: &str,
        secret: &str,
        timeout: std::time::Duration,
        clock: SharedClock,
        concurrency: usize,
    ) -> anyhow::Result<Self> {
        let url = url::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("the {channel} webhook URL {url:?} is invalid: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("the {channel} webhook URL must be http:// or https://");
        }
        let key = parse_secret(secret).map_err(|e| anyhow::anyhow!("{channel}: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(concurrency)
            .build()?;
        Ok(Webhook {
            channel,
            url,
            key,
            client,
            clock,
            concurrency,
            own_bodies: false,
        })
    }

    /// A dispatcher whose rows carry their own JSON body, sent as it is (the register export:
    /// the same bytes on every retry).
    pub fn with_own_bodies(mut self) -> Self {
        self.own_bodies = true;
        self
    }

    /// The JSON body of `row`.
    pub fn body(&self, row: &Outgoing) -> Vec<u8> {
        if self.own_bodies {
            return row.body.clone().into_bytes();
        }
        let at = |t: chrono::NaiveDateTime| {
            t.and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        serde_json::json!({
            "type": format!("notification.{}", self.channel),
            "timestamp": self.clock.now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "data": {
                "id": row.id,
                "channel": row.channel,
                "event": row.event,
                "recipient_id": row.recipient_id,
                "address": row.address,
                "case_id": row.case_id,
                "subject": row.subject,
                "text": row.body,
                "created_at": at(row.created_at),
            }
        })
        .to_string()
        .into_bytes()
    }
}

/// Reads at most 64 KiB of an answer (so the connection can be reused) and drops the rest.
async fn discard_body(mut res: reqwest::Response) {
    let mut read = 0;
    while let Ok(Some(chunk)) = res.chunk().await {
        read += chunk.len();
        if read > 64 << 10 {
            break;
        }
    }
}

impl Dispatcher for Webhook {
    fn channel(&self) -> &'static str {
        self.channel
    }

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn deliver<'a>(&'a self, row: &'a Outgoing) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let body = self.body(row);
            let timestamp = self.clock.now().timestamp();
            let signature = sign(&self.key, &row.id, timestamp, &body);
            let sent = self
                .client
                .post(self.url.clone())
                .header("content-type", "application/json")
                .header("webhook-id", &row.id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(body)
                .send()
                .await;
            match sent {
                Ok(res) => {
                    let status = res.status();
                    discard_body(res).await;
                    if status.is_success() {
                        Ok(())
                    } else if matches!(status.as_u16(), 408 | 429) || status.is_server_error() {
                        Err(Failure::Transient(format!("gateway answered {status}")))
                    } else {
                        Err(Failure::Permanent(format!("gateway refused: {status}")))
                    }
                }
                Err(e) if e.is_timeout() => {
                    Err(Failure::Transient(format!("gateway timed out: {e}")))
                }
                Err(e) if e.is_connect() || e.is_request() => {
                    Err(Failure::Transient(format!("gateway unreachable: {e}")))
                }
                Err(e) => Err(Failure::Permanent(format!("webhook request failed: {e}"))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification (and its reference libraries).
        let key = parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(parse_secret("whsec_c2hvcnQ=").is_err(), "too short");
        assert!(parse_secret("whsec_%%%").is_err(), "not base64");
    }
}
