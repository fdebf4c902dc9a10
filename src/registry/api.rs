//! The register's paged REST API as a sync source.
//!
//! `GET {base}/person/list?offset=N&limit=M` (M ≤ 100) with `Authorization: Bearer <token>`
//! answers `{"total": T, "items": [person, …]}`, each person in the format of
//! `schemas/frmr-person.schema.json`. Requests are spaced to a requests-per-minute budget
//! (retries included). `429` and `503` are retried after their `Retry-After`; other 5xx,
//! timeouts and connection failures after an exponential backoff with jitter; `401`/`403`
//! and other answers stop the run at once. Each page is committed with the offset after it,
//! so a run that stops (or whose process dies) resumes from the page after the last committed
//! one.

use super::record::RegisterPerson;
use super::sync::{Chunk, Emit, Record, SyncError};
use crate::domain::clock::{SharedClock, SystemClock};
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

/// The largest page the register serves.
pub const MAX_PAGE: u32 = 100;
/// The largest page body we read (a page of 100 people is far smaller).
const MAX_BODY: usize = 16 << 20;

/// Where and how to read the register API.
#[derive(Clone)]
pub struct ApiSource {
    /// Base address; `person/list` is appended.
    pub base: Url,
    /// Bearer token (from configuration, never from the command line).
    pub token: Option<String>,
    /// Records per page (1..=100).
    pub page_size: u32,
    /// Requests per minute, retries included.
    pub per_minute: u32,
    /// Attempts per page before the run stops (it can then be resumed).
    pub max_attempts: u32,
    /// First backoff; doubles with each attempt.
    pub backoff: Duration,
    /// The longest single wait (backoff or `Retry-After`); a longer `Retry-After` stops the run.
    pub max_wait: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Measures a `Retry-After` given as an HTTP date.
    pub clock: SharedClock,
}

impl std::fmt::Debug for ApiSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSource")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("page_size", &self.page_size)
            .field("per_minute", &self.per_minute)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl ApiSource {
    /// A source with the defaults: pages of 100, 60 requests a minute, 6 attempts from 1 s.
    pub fn new(base: Url, token: Option<String>) -> Self {
        Self {
            base,
            token,
            page_size: MAX_PAGE,
            per_minute: 60,
            max_attempts: 6,
            backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(300),
            timeout: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
        }
    }

    /// The name runs of this source are stored under (resuming matches on it).
    pub fn name(&self) -> String {
        let mut url = self.base.clone();
        url.set_query(None);
        let _ = url.set_password(None);
        url.to_string()
    }

    fn page_url(&self, offset: i64, limit: u32) -> Result<Url, SyncError> {
        let mut base = self.base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let mut url = base
            .join("person/list")
            .map_err(|e| SyncError::Source(format!("bad register API address: {e}")))?;
        url.query_pairs_mut()
            .append_pair("offset", &offset.to_string())
            .append_pair("limit", &limit.to_string());
        Ok(url)
    }

    /// Reads pages from `from` until the register has no more, emitting one chunk per page.
    pub fn produce(&self, from: i64, emit: &mut Emit<'_>) -> Result<(), SyncError> {
        let limit = self.page_size.clamp(1, MAX_PAGE);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SyncError::Source(format!("cannot start the HTTP client: {e}")))?;
        let mut pacer = Pacer::new(self.per_minute);
        let mut offset = from;
        loop {
            let page = runtime.block_on(self.fetch(&client, &mut pacer, offset, limit))?;
            let n = page.items.len();
            if n == 0 {
                return Ok(());
            }
            let mut chunk = Chunk {
                read: i64::try_from(n).unwrap_or(i64::MAX),
                ..Chunk::default()
            };
            for (i, item) in page.items.into_iter().enumerate() {
                let line = u64::try_from(offset)
                    .unwrap_or(0)
                    .saturating_add(u64::try_from(i).unwrap_or(0))
                    + 1;
                match RegisterPerson::from_value(line, item) {
                    Ok(p) => chunk.records.push(Record::new(line, p)),
                    Err(rej) => chunk.rejected.push(rej),
                }
            }
            offset += chunk.read;
            chunk.resume_offset = Some(offset);
            if !emit(chunk) {
                return Ok(());
            }
            let short = n < usize::try_from(limit).unwrap_or(usize::MAX);
            if short || page.total.is_some_and(|total| offset >= total) {
                return Ok(());
            }
        }
    }

    async fn fetch(
        &self,
        client: &reqwest::Client,
        pacer: &mut Pacer,
        offset: i64,
        limit: u32,
    ) -> Result<Page, SyncError> {
        let url = self.page_url(offset, limit)?;
        let mut last = String::new();
        for attempt in 1..=self.max_attempts.max(1) {
            pacer.wait().await;
            let mut request = client.get(url.clone());
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let wait = match request.send().await {
                Err(e) => {
                    last = format!("request failed: {e}");
                    self.backoff(attempt)
                }
                Ok(res) => {
                    let status = res.status();
                    match status {
                        StatusCode::OK => match read_page(res).await {
                            Ok(page) => return Ok(page),
                            Err(e) => {
                                last = e;
                                self.backoff(attempt)
                            }
                        },
                        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                            last = format!("the register answered {status}");
                            match retry_after(&res, self.clock.now()) {
                                Some(wait) if wait > self.max_wait => {
                                    return Err(SyncError::Source(format!(
                                        "the register asks to wait {} s (Retry-After) at offset \
                                         {offset}; run the sync again later to resume",
                                        wait.as_secs()
                                    )));
                                }
                                Some(wait) => wait,
                                None => self.backoff(attempt),
                            }
                        }
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                            return Err(SyncError::Source(format!(
                                "the register refused the token ({status}); check \
                                 ACCREDO_REGISTRY_TOKEN"
                            )));
                        }
                        s if s.is_server_error() => {
                            last = format!("the register answered {status}");
                            self.backoff(attempt)
                        }
                        s => {
                            return Err(SyncError::Source(format!(
                                "the register answered {s} at offset {offset}"
                            )));
                        }
                    }
                }
            };
            if attempt < self.max_attempts {
                tracing::warn!(offset, attempt, wait_ms = wait.as_millis() as u64, error = %last, "register API page failed, retrying");
                tokio::time::sleep(wait).await;
            }
        }
        Err(SyncError::Source(format!(
            "the register API failed {} times at offset {offset}: {last}; run the sync again to \
             resume from there",
            self.max_attempts.max(1)
        )))
    }

    /// Exponential backoff with jitter ([`crate::domain::backoff`]), at most `max_wait`.
    fn backoff(&self, attempt: u32) -> Duration {
        crate::domain::backoff::jittered(self.backoff, self.max_wait, attempt)
    }
}

/// One page as the register sends it.
#[derive(Debug, serde::Deserialize)]
struct Page {
    #[serde(default)]
    total: Option<i64>,
    items: Vec<serde_json::Value>,
}

async fn read_page(mut res: reqwest::Response) -> Result<Page, String> {
    if res.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err("the page is too large".into());
    }
    let mut body = Vec::new();
    while let Some(part) = res
        .chunk()
        .await
        .map_err(|e| format!("reading the page failed: {e}"))?
    {
        if body.len() + part.len() > MAX_BODY {
            return Err("the page is too large".into());
        }
        body.extend_from_slice(&part);
    }
    serde_json::from_slice(&body).map_err(|e| format!("the page is not valid JSON: {e}"))
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(res: &reqwest::Response, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

/// Spaces requests to a per-minute budget.
#[derive(Debug)]
struct Pacer {
    interval: Duration,
    next: Option<Instant>,
}

impl Pacer {
    fn new(per_minute: u32) -> Self {
        Self {
            interval: Duration::from_secs(60) / per_minute.max(1),
            next: None,
        }
    }

    async fn wait(&mut self) {
        if let Some(next) = self.next {
            tokio::time::sleep_until(next).await;
        }
        self.next = Some(Instant::now() + self.interval);
    }
}
