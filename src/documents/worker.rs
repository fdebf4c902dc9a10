//! Untrusted files are parsed in a worker process: the same binary as `accredo
//! inspect-worker`, with limits on CPU time, memory (data segment) and file writes set on itself
//! before it reads a byte, and a wall-clock limit enforced by the server, which kills it.
//! A parser that panics, aborts on a failed allocation, overflows its stack or loops ends the
//! worker, never the server; the upload gets a clean refusal. At most N inspections run at
//! once; the others wait for a slot in a bounded queue, for a bounded time.
//!
//! The answer for a file must not depend on the load: the same bytes get the same code every
//! time. So a worker that is computing is ended by its CPU limit, which counts its own CPU
//! time only, and the wall clock (from the worker's start) ends only a worker that is stuck.
//! Whatever the load decides (no slot in time, a full queue, a machine too busy to finish) is
//! [`InspectError::Busy`], never a verdict on the file.

use super::inspect::{self, Limits, Problem, Report};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, SemaphorePermit};

/// `ETXTBSY` on Linux: the executable is open for writing somewhere.
const ETXTBSY: i32 = 26;

/// How inspections are run.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The `accredo` binary.
    pub exe: PathBuf,
    /// Inspections at once.
    pub parallel: usize,
    /// Wall-clock limit for a worker that is stuck (neither running nor waiting to run),
    /// counted from its start: a worker that is computing is ended by its CPU limit instead,
    /// which does not depend on how busy the machine is.
    pub wall: Duration,
    /// The longest a worker may take in all, however it spends the time: past it the machine
    /// is too busy to finish the inspection, and the upload is answered as busy, not refused.
    pub wall_cap: Duration,
    /// How long an upload may wait for a free slot.
    pub slot_wait: Duration,
    /// How many uploads may wait for a slot; more are answered as busy at once.
    pub max_waiting: usize,
    /// CPU seconds per file.
    pub cpu_secs: u64,
    /// Data segment (heap and private writable mappings) of the worker, in MiB.
    pub memory_mib: u64,
    /// Decoder limits.
    pub limits: Limits,
}

impl WorkerConfig {
    /// Defaults: this binary, two at once, 1.5 s for a stuck worker and 10 s in all, a slot
    /// within 30 s for at most 64 waiting uploads, 1 CPU second, 1 GiB.
    pub fn new(exe: PathBuf) -> Self {
        Self {
            exe,
            parallel: 2,
            wall: Duration::from_millis(1_500),
            wall_cap: Duration::from_secs(10),
            slot_wait: Duration::from_secs(30),
            max_waiting: 64,
            cpu_secs: 1,
            memory_mib: 1_024,
            limits: Limits::default(),
        }
    }
}

/// Why a file could not be inspected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    /// The file is not acceptable (including: it broke or exhausted the worker).
    #[error("{}: {}", .0.code, .0.message)]
    Refused(Problem),
    /// No slot came free in time, too many uploads wait already, or the machine was too busy
    /// to finish the inspection: nothing is known about the file, try again later.
    #[error("inspection busy")]
    Busy,
    /// The worker could not be started (our fault, not the file's).
    #[error("inspection worker unavailable: {0}")]
    Unavailable(String),
}

/// What the worker writes to its standard output.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum Answer {
    Report(Report),
    Refused(Problem),
}

/// Runs inspections in worker processes.
#[derive(Debug, Clone)]
pub struct Inspector {
    config: WorkerConfig,
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

/// One upload counted among those waiting for a slot, while it waits.
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether the process `pid` is running or waiting to run (Linux `R`, or `D`: in the kernel,
/// as on a page fault), rather than stuck waiting for something that will not come. A zombie
/// has ended and is about to be collected. Without `/proc` every worker counts as stuck, and
/// the wall-clock limit is plain.
fn is_computing(pid: Option<u32>) -> bool {
    let Some(pid) = pid else {
        return false;
    };
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // "pid (comm) state ...": comm may hold spaces and parentheses.
            let after = stat.rsplit_once(')')?.1;
            after.split_whitespace().next().map(str::to_owned)
        })
        .is_some_and(|state| matches!(state.as_str(), "R" | "D" | "Z"))
}

fn timed_out() -> InspectError {
    InspectError::Refused(Problem {
        code: "inspection_timeout".into(),
        message: "Файл обрабатывается слишком долго: вероятно, он повреждён или устроен \
                  необычно. Сохраните документ заново и загрузите ещё раз"
            .into(),
    })
}

fn unreadable() -> InspectError {
    InspectError::Refused(Problem {
        code: "unreadable_file".into(),
        message:
            "Файл не удалось разобрать: он повреждён или устроен необычно. Сохраните документ \
                  заново (например, «Печать в PDF» или новое сканирование) и загрузите ещё раз"
                .into(),
    })
}

impl Inspector {
    /// An inspector with these settings.
    pub fn new(config: WorkerConfig) -> Self {
        let permits = Arc::new(Semaphore::new(config.parallel.max(1)));
        Self {
            config,
            permits,
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Whether inspections can run: the worker executable is a file this process may run;
    /// with the slots free and the uploads waiting for one.
    pub fn readiness(&self) -> Result<serde_json::Value, String> {
        let exe = &self.config.exe;
        let meta = std::fs::metadata(exe)
            .map_err(|e| format!("inspection worker {}: {e}", exe.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
                return Err(format!(
                    "inspection worker {} is not an executable file",
                    exe.display()
                ));
            }
        }
        Ok(serde_json::json!({
            "slots": self.config.parallel.max(1),
            "slots_free": self.permits.available_permits(),
            "waiting": self.waiting.load(Ordering::SeqCst),
        }))
    }

    /// A slot for one worker: at once if one is free, else after waiting in a bounded queue
    /// for a bounded time.
    async fn slot(&self) -> Result<SemaphorePermit<'_>, InspectError> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        let waiting = Waiting(self.waiting.clone());
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.config.max_waiting {
            return Err(InspectError::Busy);
        }
        let permit = tokio::time::timeout(self.config.slot_wait, self.permits.acquire())
            .await
            .map_err(|_| InspectError::Busy)?
            .map_err(|e| InspectError::Unavailable(e.to_string()))?;
        drop(waiting);
        Ok(permit)
    }

    /// Inspects `bytes` in a worker, counting the outcome and its time in the metrics.
    pub async fn inspect(&self, bytes: Arc<Vec<u8>>) -> Result<Report, InspectError> {
        let started = std::time::Instant::now();
        let result = self.inspect_in_worker(bytes).await;
        let outcome = match &result {
            Ok(_) => "accepted".to_owned(),
            Err(InspectError::Refused(p)) => p.code.clone(),
            Err(InspectError::Busy) => "busy".to_owned(),
            Err(InspectError::Unavailable(_)) => "unavailable".to_owned(),
        };
        let labels = crate::metrics::OutcomeLabels { outcome };
        let m = crate::metrics::get();
        m.inspections.get_or_create(&labels).inc();
        m.inspection_seconds
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        result
    }

    async fn inspect_in_worker(&self, bytes: Arc<Vec<u8>>) -> Result<Report, InspectError> {
        // The format is decided here too: a file that is nothing we accept never reaches a
        // parser.
        inspect::sniff(&bytes).map_err(InspectError::Refused)?;
        let _permit = self.slot().await?;
        let c = &self.config;
        let mut command = tokio::process::Command::new(&c.exe);
        command
            .arg("inspect-worker")
            .args(["--cpu-secs", &c.cpu_secs.to_string()])
            .args(["--memory-mib", &c.memory_mib.to_string()])
            .args(["--max-side", &c.limits.max_side.to_string()])
            .args(["--max-alloc", &c.limits.max_alloc.to_string()])
            .args(["--min-dpi", &c.limits.min_dpi.to_string()])
            .env_clear()
            // mimalloc reserves 1 GiB of address space per arena by default; under the
            // worker's RLIMIT_DATA that reservation itself sometimes failed (an abort on a
            // valid scan, about 1 run in 50). Small arenas keep the limit about real use.
            .env("MIMALLOC_ARENA_RESERVE", "64M")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        // "Text file busy" is passing: the binary is being replaced, or another thread of
        // this process forked while holding it open for writing. A few short retries.
        let mut attempt = 0;
        let mut child = loop {
            match command.spawn() {
                Err(e) if e.raw_os_error() == Some(ETXTBSY) && attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                }
                other => break other.map_err(|e| InspectError::Unavailable(e.to_string()))?,
            }
        };
        // The worker's clock starts here, when it does, not when the upload began to wait.
        let started = tokio::time::Instant::now();
        let pid = child.id();
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| InspectError::Unavailable("no stdin".into()))?;
        let input = bytes.clone();
        let fed = Arc::new(AtomicBool::new(false));
        let feed = tokio::spawn({
            let fed = fed.clone();
            async move {
                // A worker that dies early closes the pipe: that is its answer, not an error
                // here.
                let _ = stdin.write_all(&input).await;
                let _ = stdin.shutdown().await;
                fed.store(true, Ordering::SeqCst);
            }
        });
        let waited = child.wait_with_output();
        tokio::pin!(waited);
        let mut deadline = started + c.wall;
        // Dropping the child (on any return below) kills it (kill_on_drop).
        let waited = loop {
            tokio::select! {
                out = &mut waited => break out,
                () = tokio::time::sleep_until(deadline) => {
                    if started.elapsed() >= c.wall_cap {
                        feed.abort();
                        tracing::warn!(took = ?started.elapsed(), "inspection given up: machine too busy");
                        return Err(InspectError::Busy);
                    }
                    // A worker that is still being fed or is computing (if only waiting for
                    // a CPU on a busy machine) is given time: its CPU limit, the same on
                    // every run, ends a file that computes too long. Only a stuck worker is
                    // ended by the clock.
                    if !fed.load(Ordering::SeqCst) || is_computing(pid) {
                        deadline = tokio::time::Instant::now() + Duration::from_millis(50);
                    } else {
                        feed.abort();
                        return Err(timed_out());
                    }
                }
            }
        };
        feed.abort();
        let output = waited.map_err(|e| InspectError::Unavailable(e.to_string()))?;
        if !output.status.success() {
            tracing::warn!(status = %output.status, "inspection worker died");
            return Err(unreadable());
        }
        match serde_json::from_slice::<Answer>(&output.stdout) {
            Ok(Answer::Report(r)) => Ok(r),
            Ok(Answer::Refused(p)) => Err(InspectError::Refused(p)),
            Err(_) => Err(unreadable()),
        }
    }
}

/// The worker's side: limits itself, reads the file from standard input, answers on standard
/// output.
pub fn worker_main(cpu_secs: u64, memory_mib: u64, limits: Limits) -> ExitCode {
    use rlimit::Resource;
    let memory = memory_mib.saturating_mul(1 << 20);
    let limited = Resource::CPU
        .set(cpu_secs, cpu_secs.saturating_add(1))
        // DATA (heap and private writable mappings), not AS: the binary's own mapped code
        // and the allocator's address-space reservations must not count against the file.
        .and_then(|()| Resource::DATA.set(memory, memory))
        .and_then(|()| Resource::FSIZE.set(0, 0))
        .and_then(|()| Resource::CORE.set(0, 0));
    if limited.is_err() {
        // Without its limits the worker must not parse anything.
        return ExitCode::from(3);
    }
    let mut bytes = Vec::new();
    if std::io::stdin().lock().read_to_end(&mut bytes).is_err() {
        return ExitCode::from(4);
    }
    let answer = match std::panic::catch_unwind(|| inspect::inspect(&bytes, limits)) {
        Ok(Ok(report)) => Answer::Report(report),
        Ok(Err(problem)) => Answer::Refused(problem),
        Err(_) => return ExitCode::from(5),
    };
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut out, &answer)
        .map_err(std::io::Error::from)
        .and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(6),
    }
}
