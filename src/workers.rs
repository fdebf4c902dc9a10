//! Background workers (timers, audit checkpoints, notification dispatchers, reminders): each
//! runs passes on its own schedule under a name, beats a heartbeat that `/readyz` reads, and
//! on shutdown finishes the pass it is in and stops.
//!
//! A new background capability plugs in as one [`Workers::spawn`] with its name and its pass.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What one pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    /// Nothing more to do now: wait for the next tick.
    Idle,
    /// A full batch: run the next pass at once (a backlog drains at full speed).
    More,
    /// The pass failed (the pass has logged why): wait for the next tick.
    Failed(String),
}

/// When a worker runs its first pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At once.
    Now,
    /// After the first interval.
    AfterInterval,
}

/// A pass running longer than this counts as stalled.
pub const STALL: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
struct Beat {
    in_pass_since: Option<Instant>,
    last_done: Option<Instant>,
    last_error: Option<String>,
    passes: u64,
    stopped: bool,
}

#[derive(Debug)]
struct Entry {
    name: String,
    every: Duration,
    started: Instant,
    beat: Mutex<Beat>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Entry {
    fn beat(&self) -> std::sync::MutexGuard<'_, Beat> {
        self.beat.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How one worker is doing, as `/readyz` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// The worker's name.
    pub name: String,
    /// `ok`; `stalled` (a pass has run longer than [`STALL`], or no pass has begun for three
    /// intervals); `stopped` (the worker has ended: it panicked, or the server is stopping).
    pub status: &'static str,
    /// Passes finished.
    pub passes: u64,
    /// Seconds since the last pass finished (none finished yet: since the worker started).
    pub idle_secs: u64,
    /// Why the last pass failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Status {
    /// Whether the worker is running as it should.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// The process's background workers.
#[derive(Debug, Clone)]
pub struct Workers {
    entries: Arc<Mutex<Vec<Arc<Entry>>>>,
    stop: Arc<watch::Sender<bool>>,
}

impl Default for Workers {
    fn default() -> Self {
        Self {
            entries: Arc::default(),
            stop: Arc::new(watch::channel(false).0),
        }
    }
}

impl Workers {
    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `pass` every `every` (at once again after [`Pass::More`]) on the Tokio runtime
    /// until [`Workers::stop`]; a pass is never interrupted.
    pub fn spawn<F, Fut>(&self, name: &str, every: Duration, start: Start, mut pass: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Pass> + Send + 'static,
    {
        let entry = Arc::new(Entry {
            name: name.to_owned(),
            every,
            started: Instant::now(),
            beat: Mutex::default(),
            task: Mutex::default(),
        });
        let mut stop = self.stop.subscribe();
        let me = entry.clone();
        let task = tokio::spawn(async move {
            let mut wait = start == Start::AfterInterval;
            loop {
                if wait {
                    tokio::select! {
                        () = tokio::time::sleep(me.every) => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
                if *stop.borrow() {
                    break;
                }
                me.beat().in_pass_since = Some(Instant::now());
                let outcome = pass().await;
                let mut b = me.beat();
                b.in_pass_since = None;
                b.last_done = Some(Instant::now());
                b.passes += 1;
                wait = outcome != Pass::More;
                b.last_error = match outcome {
                    Pass::Failed(e) => Some(e),
                    _ => None,
                };
            }
            me.beat().stopped = true;
            tracing::info!(worker = %me.name, "worker stopped");
        });
        *entry.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        self.entries().push(entry);
    }

    /// Each worker's state, in the order they were started.
    pub fn status(&self) -> Vec<Status> {
        let now = Instant::now();
        self.entries()
            .iter()
            .map(|e| {
                let finished = e
                    .task
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                    .is_none_or(tokio::task::JoinHandle::is_finished);
                let b = e.beat();
                let idle = now.duration_since(b.last_done.unwrap_or(e.started));
                let status = if finished || b.stopped {
                    "stopped"
                } else if match b.in_pass_since {
                    Some(since) => now.duration_since(since) > STALL,
                    None => idle > e.every * 3 + Duration::from_secs(30),
                } {
                    "stalled"
                } else {
                    "ok"
                };
                Status {
                    name: e.name.clone(),
                    status,
                    passes: b.passes,
                    idle_secs: idle.as_secs(),
                    last_error: b.last_error.clone(),
                }
            })
            .collect()
    }

    /// Asks every worker to stop after the pass it is in and waits for them, at most
    /// `within`; the names of those still running after it.
    pub async fn stop(&self, within: Duration) -> Vec<String> {
        self.stop.send_replace(true);
        let tasks: Vec<(String, tokio::task::JoinHandle<()>)> = self
            .entries()
            .iter()
            .filter_map(|e| {
                let task = e.task.lock().unwrap_or_else(PoisonError::into_inner).take();
                task.map(|t| (e.name.clone(), t))
            })
            .collect();
        let deadline = tokio::time::Instant::now() + within;
        let mut late = Vec::new();
        for (name, task) in tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                abort.abort();
                late.push(name);
            }
        }
        late
    }
}
