//! Untrusted files are parsed in a worker process: the same binary as `accredo
//! inspect-worker`, with limits on CPU time, memory (data segment) and file writes set on itself
//! before it reads a byte, and a wall-clock limit enforced by the server, which kills it.
//! A parser that panics, aborts on a failed allocation, overflows its stack or loops ends the
//! worker, never the server; the upload gets a clean refusal. At most N inspections run at
//! once.

use super::inspect::{self, Limits, Problem, Report};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

/// How inspections are run.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The `accredo` binary.
    pub exe: PathBuf,
    /// Inspections at once.
    pub parallel: usize,
    /// Wall-clock limit per file.
    pub wall: Duration,
    /// CPU seconds per file.
    pub cpu_secs: u64,
    /// Data segment (heap and private writable mappings) of the worker, in MiB.
    pub memory_mib: u64,
    /// Decoder limits.
    pub limits: Limits,
}

impl WorkerConfig {
    /// Defaults: this binary, two at once, 1.5 s wall, 1 CPU second, 1 GiB.
    pub fn new(exe: PathBuf) -> Self {
        Self {
            exe,
            parallel: 2,
            wall: Duration::from_millis(1_500),
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
        Self { config, permits }
    }

    /// Inspects `bytes` in a worker.
    pub async fn inspect(&self, bytes: Arc<Vec<u8>>) -> Result<Report, InspectError> {
        // The format is decided here too: a file that is nothing we accept never reaches a
        // parser.
        inspect::sniff(&bytes).map_err(InspectError::Refused)?;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| InspectError::Unavailable(e.to_string()))?;
        let c = &self.config;
        let mut child = tokio::process::Command::new(&c.exe)
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
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| InspectError::Unavailable(e.to_string()))?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| InspectError::Unavailable("no stdin".into()))?;
        let input = bytes.clone();
        let feed = tokio::spawn(async move {
            // A worker that dies early closes the pipe: that is its answer, not an error here.
            let _ = stdin.write_all(&input).await;
            let _ = stdin.shutdown().await;
        });
        let waited = tokio::time::timeout(c.wall, child.wait_with_output()).await;
        feed.abort();
        let output = match waited {
            Err(_) => {
                // Dropping the child on timeout kills it (kill_on_drop).
                return Err(InspectError::Refused(Problem {
                    code: "inspection_timeout".into(),
                    message: "Файл обрабатывается слишком долго: вероятно, он повреждён или \
                              устроен необычно. Сохраните документ заново и загрузите ещё раз"
                        .into(),
                }));
            }
            Ok(Err(e)) => return Err(InspectError::Unavailable(e.to_string())),
            Ok(Ok(output)) => output,
        };
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
