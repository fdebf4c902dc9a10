//! The `accredo` command line.

use crate::app;
use crate::audit::{checkpoint, verify};
use crate::config::{Common, Serve};
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use crate::engine::catalog::Catalog;
use crate::identity::session;
use crate::store::{DbTarget, Store, migrate, users, write_tx};
use anyhow::{Context, anyhow};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// accredo — accreditation of medical workers as an audited workflow.
#[derive(Debug, Parser)]
#[command(name = "accredo", version, about)]
pub struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (migrates on start unless --no-migrate).
    Serve(Serve),
    /// Run the server with demo users and print their session tokens (for trying it out).
    Demo(Serve),
    /// Apply pending migrations.
    Migrate {
        /// Revert every migration instead (destroys all data).
        #[arg(long)]
        revert_all: bool,
    },
    /// Workflow definitions.
    #[command(subcommand)]
    Workflows(WorkflowsCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Users and roles.
    #[command(subcommand)]
    Users(UsersCmd),
    /// The register of medical workers (ФРМР).
    #[command(subcommand)]
    Registry(RegistryCmd),
    /// Document files.
    #[command(subcommand)]
    Documents(DocumentsCmd),
    /// The production calendar (working days, Moscow time).
    #[command(subcommand)]
    Calendar(CalendarCmd),
    /// Deadline timers.
    #[command(subcommand)]
    Timers(TimersCmd),
    /// The notification outbox.
    #[command(subcommand)]
    Notifications(NotificationsCmd),
    /// Renewal reminders.
    #[command(subcommand)]
    Reminders(RemindersCmd),
    /// Reports' stored data.
    #[command(subcommand)]
    Reports(ReportsCmd),
    /// Inspect one untrusted file from standard input (started by the server with limits).
    #[command(hide = true)]
    InspectWorker {
        /// CPU seconds.
        #[arg(long, default_value_t = 1)]
        cpu_secs: u64,
        /// Memory (data segment), MiB.
        #[arg(long, default_value_t = 1024)]
        memory_mib: u64,
        /// Largest image side, pixels.
        #[arg(long, default_value_t = 20_000)]
        max_side: u32,
        /// Largest decoder allocation, bytes.
        #[arg(long, default_value_t = 256 << 20)]
        max_alloc: u64,
        /// Least resolution, dpi.
        #[arg(long, default_value_t = 300)]
        min_dpi: u32,
    },
}

#[derive(Debug, Subcommand)]
enum RegistryCmd {
    /// Sync our copy from an export file (JSON Lines or CSV) or from the register's API.
    /// The API's bearer token is read from ACCREDO_REGISTRY_TOKEN.
    Sync(SyncArgs),
    /// Write synthetic register records (valid, deterministic) for trials and benchmarks.
    Generate {
        /// How many records.
        #[arg(long)]
        count: u64,
        /// Make every N-th record a changed version of itself (0: none).
        #[arg(long, default_value_t = 0)]
        changed_every: u64,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Recent sync runs and their reports.
    Runs {
        /// How many.
        #[arg(long, default_value_t = 10)]
        limit: i64,
    },
}

/// What `registry sync` reads and how.
#[derive(Debug, clap::Args)]
struct SyncArgs {
    /// The export file (`.csv` is read as CSV unless --format says otherwise).
    #[arg(long, required_unless_present = "url", conflicts_with = "url")]
    file: Option<PathBuf>,
    /// Format of the file.
    #[arg(long, value_enum)]
    format: Option<ExportFormat>,
    /// The register API's base address (`person/list` is appended).
    #[arg(long)]
    url: Option<url::Url>,
    /// The source is the whole register: mark everyone absent from it as removed.
    #[arg(long)]
    full: bool,
    /// API requests per minute, retries included.
    #[arg(long, env = "ACCREDO_REGISTRY_PER_MINUTE", default_value_t = 60)]
    per_minute: u32,
    /// API page size (at most 100).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100))]
    page_size: u32,
    /// API attempts per page before the run stops (run again to resume).
    #[arg(long, default_value_t = 6)]
    attempts: u32,
    /// First API retry backoff, in milliseconds (doubles with each attempt).
    #[arg(long, default_value_t = 1000)]
    backoff_ms: u64,
}

/// Format of an export file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    /// One JSON object per line (schemas/frmr-person.schema.json).
    Jsonl,
    /// CSV with the header documented in the README.
    Csv,
}

#[derive(Debug, Subcommand)]
enum WorkflowsCmd {
    /// Validate definitions (default: every file in the workflows directory).
    Check {
        /// Files to check.
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum DocumentsCmd {
    /// Remove stored files no live document refers to (deleted documents, replaced content).
    Sweep {
        /// Keep files written less than this many minutes ago (an upload in flight writes its
        /// file before its record).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(i64).range(0..))]
        grace_minutes: i64,
        /// Only count what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum NotificationsCmd {
    /// Deliver every due row of the configured channels once, then exit (for cron).
    RunOnce,
    /// How many rows wait and how many failed, per channel.
    Status,
}

#[derive(Debug, Subcommand)]
enum RemindersCmd {
    /// Send the renewal reminders due today, once each (for cron).
    Run,
}

#[derive(Debug, Subcommand)]
enum ReportsCmd {
    /// Recompute every finished step of the stage analytics from the audit log (after the
    /// production calendar changed for days already past).
    RebuildSteps,
}

#[derive(Debug, Subcommand)]
enum TimersCmd {
    /// Fire every timer due now and exit (for cron, beside or instead of the server's worker).
    RunOnce,
    /// How many timers are pending and how many are due.
    Status,
}

#[derive(Debug, Subcommand)]
enum CalendarCmd {
    /// Every non-working, transferred, working-weekend and shortened day of a year.
    Show {
        /// The year.
        year: i32,
    },
    /// The date N working days after DATE (YYYY-MM-DD or DD.MM.YYYY).
    AddWorkingDays {
        /// The date.
        date: String,
        /// Working days to add.
        n: u32,
    },
    /// Make one date a day off or a working day (an extraordinary decree), audited.
    Override {
        /// The date (YYYY-MM-DD or DD.MM.YYYY).
        date: String,
        /// Make it a day off.
        #[arg(long, conflicts_with = "working", required_unless_present = "working")]
        day_off: bool,
        /// Make it a working day.
        #[arg(long)]
        working: bool,
        /// Why (the decree or order).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCmd {
    /// Recompute all hash chains and checkpoints; exit 2 naming the first bad event.
    Verify,
    /// Write a checkpoint over events since the previous one.
    Checkpoint,
}

#[derive(Debug, Subcommand)]
enum UsersCmd {
    /// Grant a role to a user (created if unknown).
    GrantRole {
        /// The identity provider's subject of the user.
        #[arg(long)]
        subject: String,
        /// Role: specialist, reviewer, secretary, support or admin.
        #[arg(long)]
        role: String,
        /// Display name for a new user.
        #[arg(long)]
        name: Option<String>,
    },
    /// Start a session for a user and print its bearer token (operators and scripts).
    IssueSession {
        /// The identity provider's subject of the user.
        #[arg(long)]
        subject: String,
    },
    /// Create an accreditation subcommission, or rename it and replace its specialties.
    SetSubcommission {
        /// Stable code, e.g. `therapy`.
        #[arg(long)]
        code: String,
        /// Name (Russian).
        #[arg(long)]
        name: String,
        /// A specialty code it reviews, e.g. 31.08.49 (repeat for several).
        #[arg(long = "specialty", required = true)]
        specialties: Vec<String>,
    },
    /// Add a reviewer or a secretary to a subcommission.
    AddMember {
        /// Subcommission code.
        #[arg(long)]
        code: String,
        /// The identity provider's subject of the user.
        #[arg(long)]
        subject: String,
    },
    /// Remove a member from a subcommission.
    RemoveMember {
        /// Subcommission code.
        #[arg(long)]
        code: String,
        /// The identity provider's subject of the user.
        #[arg(long)]
        subject: String,
    },
    /// Print every subcommission with its specialties and members (JSON).
    Subcommissions,
}

fn init_logging(filter: &str, format: crate::config::LogFormat) {
    use crate::config::LogFormat;
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let json = match format {
        LogFormat::Auto => !terminal,
        LogFormat::Json => true,
        LogFormat::Text => false,
    };
    // A line written inside a request carries the request span (its id, method, route, path).
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.with_ansi(terminal).try_init()
    };
}

/// Every setting by its environment name, with its help text: the configuration table.
pub fn settings() -> std::collections::BTreeMap<String, String> {
    crate::config_file::settings(&Cli::command())
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut command = Cli::command();
    if let Some(path) = crate::config_file::path(&args) {
        match crate::config_file::read(&path, &command) {
            Ok(values) => command = crate::config_file::apply(command, &values),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::FAILURE;
            }
        }
    }
    let cli = match command
        .try_get_matches_from(args)
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let mut problems = crate::config_check::common(&cli.common);
    if let Command::Serve(s) | Command::Demo(s) = &cli.command {
        problems.extend(crate::config_check::serve(&cli.common, s));
    }
    match problems.as_slice() {
        [] => {}
        [one] => {
            eprintln!("error: {one}");
            return ExitCode::FAILURE;
        }
        many => {
            eprintln!(
                "error: the configuration has {} problems:\n  {}",
                many.len(),
                many.join("\n  ")
            );
            return ExitCode::FAILURE;
        }
    }
    init_logging(&cli.common.log, cli.common.log_format);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', "\n  "));
            ExitCode::FAILURE
        }
    }
}

fn parse_date(raw: &str) -> anyhow::Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(raw, "%d.%m.%Y"))
        .map_err(|_| anyhow!("`{raw}` is not a date (YYYY-MM-DD or DD.MM.YYYY)"))
}

fn calendar_command(common: &Common, cmd: CalendarCmd) -> anyhow::Result<ExitCode> {
    use crate::domain::calendar::Hours;
    let store = existing_store(common)?;
    let mut conn = store.conn()?;
    let calendar = crate::service::calendar::load(&mut conn, Hours::default())?;
    let provisional = |p: bool| {
        if p {
            " (предварительно)"
        } else {
            ""
        }
    };
    match cmd {
        CalendarCmd::Show { year } => {
            for day in calendar.special_days(year) {
                println!(
                    "{}  {:<28} {}{}",
                    day.date.format("%d.%m.%Y"),
                    day.kind.code(),
                    day.kind.label(),
                    if day.shortened && day.kind.code() != "shortened" {
                        ", сокращённый"
                    } else {
                        ""
                    },
                );
            }
            let (Some(first), Some(next)) = (
                chrono::NaiveDate::from_ymd_opt(year, 1, 1),
                chrono::NaiveDate::from_ymd_opt(year + 1, 1, 1),
            ) else {
                return Err(anyhow!("no such year: {year}"));
            };
            let working = calendar.working_days_between(first, next);
            println!(
                "{year}: {} рабочих дней{}",
                working.value,
                provisional(working.provisional)
            );
        }
        CalendarCmd::AddWorkingDays { date, n } => {
            let r = calendar.add_working_days(parse_date(&date)?, n);
            println!(
                "{}{}",
                r.value.format("%Y-%m-%d"),
                provisional(r.provisional)
            );
        }
        CalendarCmd::Override {
            date,
            day_off: _,
            working,
            reason,
        } => {
            let day = parse_date(&date)?;
            crate::service::calendar::set_override(
                &mut conn,
                day,
                working,
                &reason,
                SystemClock.now(),
            )
            .map_err(|e| anyhow!("{e}"))?;
            println!(
                "{}: {}",
                day.format("%d.%m.%Y"),
                if working {
                    "рабочий день"
                } else {
                    "нерабочий день"
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn timers_command(common: &Common, cmd: TimersCmd) -> anyhow::Result<ExitCode> {
    let store = existing_store(common)?;
    let mut conn = store.conn()?;
    let now = SystemClock.now();
    match cmd {
        TimersCmd::RunOnce => {
            let catalog = app::load_catalog(common)?;
            let signing = app::signing(common)?;
            let notices = app::load_templates(common, false)?;
            let rules = crate::service::Rules {
                catalog: &catalog,
                signing: &signing,
                notices: &notices,
            };
            let r = crate::service::timers::drain(
                &mut conn,
                rules,
                &app::worker_name(),
                app::TIMER_BATCH,
                &SystemClock,
                usize::MAX,
            )
            .map_err(|e| anyhow!("{e}"))?;
            println!(
                "timers: {} fired, {} stale, {} refused",
                r.fired, r.stale, r.failed
            );
        }
        TimersCmd::Status => {
            let (pending, due) = crate::store::timers::pending(&mut conn, now.naive_utc())?;
            println!("timers: {pending} pending, {due} due now");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The store of an existing, migrated database. Every command but `migrate`, `serve` and
/// `demo` works on one: a missing or unmigrated database is refused, never created.
fn notifications_command(common: &Common, cmd: NotificationsCmd) -> anyhow::Result<ExitCode> {
    let store = existing_store(common)?;
    match cmd {
        NotificationsCmd::RunOnce => {
            let clock: crate::domain::clock::SharedClock =
                std::sync::Arc::new(crate::domain::clock::SystemClock);
            let policy = common.notify.policy();
            let owner = app::worker_name();
            let mut failed = false;
            tokio::runtime::Runtime::new()?.block_on(async {
                let dispatchers = app::dispatchers(common, &store, &clock, false).await?;
                for d in &dispatchers {
                    let r =
                        crate::notify::dispatch::drain(&store, d.as_ref(), &policy, &owner, &clock)
                            .await?;
                    println!(
                        "{}: {} delivered, {} to retry, {} failed",
                        d.channel(),
                        r.delivered,
                        r.retried,
                        r.failed
                    );
                    failed |= r.failed > 0;
                }
                Ok::<_, anyhow::Error>(())
            })?;
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        NotificationsCmd::Status => {
            let rows = crate::store::notifications::backlog(&mut *store.conn()?)?;
            if rows.is_empty() {
                println!("notifications: nothing pending or failed");
            }
            for (channel, status, count) in rows {
                println!("{channel}: {count} {status}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn reminders_command(common: &Common) -> anyhow::Result<ExitCode> {
    let store = existing_store(common)?;
    let catalog = app::load_catalog(common)?;
    let clock = crate::domain::clock::SystemClock;
    // Rows for the channels this configuration delivers (the server's dispatchers send them).
    let templates = app::load_templates(common, false)?;
    let r = crate::notify::reminders::run(
        &mut *store.conn()?,
        &catalog,
        &templates,
        &common.notify.reminders(),
        clock.now(),
    )?;
    println!(
        "reminders: {} sent ({} with a draft), {} sent before",
        r.sent, r.drafts, r.already_sent
    );
    Ok(ExitCode::SUCCESS)
}

fn existing_store(common: &Common) -> anyhow::Result<Store> {
    let target = DbTarget::parse(&common.database_url)?;
    Ok(Store::open_existing(&target, common.db_pool_size)?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let common = cli.common;
    match cli.command {
        Command::Serve(serve) => serve_blocking(&common, &serve, false),
        Command::Demo(serve) => serve_blocking(&common, &serve, true),
        Command::Migrate { revert_all } => {
            let store = app::open_store(&common)?;
            let mut conn = store.conn()?;
            let done = if revert_all {
                migrate::revert_all(&mut conn)?
            } else {
                migrate::run_pending(&mut conn)?
            };
            let verb = if revert_all { "reverted" } else { "applied" };
            println!(
                "{verb} {} migration(s){}",
                done.len(),
                if done.is_empty() {
                    String::new()
                } else {
                    format!(": {}", done.join(", "))
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Workflows(WorkflowsCmd::Check { files }) => check_workflows(&common, files),
        Command::Calendar(cmd) => calendar_command(&common, cmd),
        Command::Timers(cmd) => timers_command(&common, cmd),
        Command::Notifications(cmd) => notifications_command(&common, cmd),
        Command::Reminders(RemindersCmd::Run) => reminders_command(&common),
        Command::Reports(ReportsCmd::RebuildSteps) => {
            let store = existing_store(&common)?;
            let catalog = app::load_catalog(&common)?;
            let mut conn = store.conn()?;
            let n = write_tx(&mut conn, |conn| {
                let calendar = crate::service::calendar::load(conn, common.intake_hours)?;
                crate::service::steps::rebuild(conn, &catalog, &calendar)
            })
            .map_err(|e| anyhow!("{e}"))?;
            println!("stage analytics: {n} finished steps recomputed from the audit log");
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCmd::Verify) => {
            let store = existing_store(&common)?;
            let report = verify::run(&mut *store.conn()?)?;
            println!(
                "checked {} events in {} chains and {} checkpoints",
                report.events, report.chains, report.checkpoints
            );
            match report.findings.first() {
                None => {
                    println!("audit log intact");
                    Ok(ExitCode::SUCCESS)
                }
                Some(first) => {
                    println!("FIRST: {first}");
                    for f in report.findings.iter().skip(1) {
                        println!("also: {f}");
                    }
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Documents(DocumentsCmd::Sweep {
            grace_minutes,
            dry_run,
        }) => {
            let store = existing_store(&common)?;
            let blobs = app::blobs(&common)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(async {
                let now = blobs.now().await?;
                crate::documents::sweep::sweep(
                    &blobs,
                    &store,
                    now,
                    chrono::Duration::minutes(grace_minutes),
                    dry_run,
                )
                .await
                .map_err(anyhow::Error::from)
            })?;
            println!(
                "{} {} file(s), {} byte(s); kept {} referenced and {} recent of {} listed",
                if dry_run { "would remove" } else { "removed" },
                report.removed,
                report.removed_bytes,
                report.referenced,
                report.recent,
                report.blobs
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCmd::Checkpoint) => {
            let store = existing_store(&common)?;
            match checkpoint::write(&mut *store.conn()?, SystemClock.now().naive_utc())? {
                Some(cp) => println!(
                    "checkpoint over events {}..={} ({} events), merkle root {}",
                    cp.first_event_id, cp.last_event_id, cp.event_count, cp.merkle_root
                ),
                None => println!("no new events since the last checkpoint"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::InspectWorker {
            cpu_secs,
            memory_mib,
            max_side,
            max_alloc,
            min_dpi,
        } => Ok(crate::documents::worker::worker_main(
            cpu_secs,
            memory_mib,
            crate::documents::inspect::Limits {
                max_side,
                max_alloc,
                min_dpi,
            },
        )),
        Command::Registry(RegistryCmd::Sync(args)) => registry_sync(&common, args),
        Command::Registry(RegistryCmd::Generate {
            count,
            changed_every,
            format,
            out,
        }) => {
            use crate::registry::generate;
            let file = std::fs::File::create(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
            match format {
                ExportFormat::Jsonl => generate::write_json_lines(&mut w, count, changed_every)?,
                ExportFormat::Csv => generate::write_csv(&mut w, count, changed_every)?,
            }
            std::io::Write::flush(&mut w)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Registry(RegistryCmd::Runs { limit }) => {
            let store = existing_store(&common)?;
            let runs = crate::store::registry::runs(&mut *store.conn()?, limit)?;
            println!("{}", serde_json::to_string_pretty(&runs)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Users(UsersCmd::GrantRole {
            subject,
            role,
            name,
        }) => {
            let role: Role = role.parse().map_err(|e| {
                anyhow!("{e}: use specialist, reviewer, secretary, support or admin")
            })?;
            if !role.is_grantable() {
                return Err(anyhow!("role `{role}` cannot be granted"));
            }
            let store = existing_store(&common)?;
            let mut conn = store.conn()?;
            let now = SystemClock.now();
            let added = grant(
                &mut conn,
                &subject,
                name.as_deref().unwrap_or(&subject),
                role,
                now,
            )?;
            println!(
                "{}",
                if added {
                    format!("granted {role} to {subject}")
                } else {
                    format!("{subject} already has {role}")
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Users(UsersCmd::SetSubcommission {
            code,
            name,
            specialties,
        }) => {
            let store = existing_store(&common)?;
            let d = crate::service::commission::Definition {
                code,
                name,
                specialties: specialties.into_iter().collect(),
            };
            let s = crate::service::commission::define(
                &mut *store.conn()?,
                None,
                &d,
                SystemClock.now(),
            )
            .map_err(service_error)?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Users(cmd @ (UsersCmd::AddMember { .. } | UsersCmd::RemoveMember { .. })) => {
            let (code, subject, add) = match cmd {
                UsersCmd::AddMember { code, subject } => (code, subject, true),
                UsersCmd::RemoveMember { code, subject } => (code, subject, false),
                _ => unreachable!("matched above"),
            };
            let store = existing_store(&common)?;
            let mut conn = store.conn()?;
            let user = users::find_by_subject(&mut conn, &subject)?
                .ok_or_else(|| anyhow!("no user with subject {subject}: grant a role first"))?;
            let s = crate::service::commission::membership(
                &mut conn,
                None,
                &code,
                &user.id,
                add,
                SystemClock.now(),
            )
            .map_err(service_error)?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Users(UsersCmd::Subcommissions) => {
            let store = existing_store(&common)?;
            let list = crate::store::subcommissions::list(&mut *store.conn()?)?;
            println!("{}", serde_json::to_string_pretty(&list)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Users(UsersCmd::IssueSession { subject }) => {
            let store = existing_store(&common)?;
            let keys = app::session_keys(&common)?;
            let mut conn = store.conn()?;
            let user = users::find_by_subject(&mut conn, &subject)?
                .ok_or_else(|| anyhow!("no user with subject {subject}: grant a role first"))?;
            let (_, token) = session::create(
                &mut conn,
                &keys,
                &UserId::from_stored(user.id),
                app::session_policy(&common),
                SystemClock.now(),
            )?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Progress for people (a bar on a terminal) and for cron (a plain line every few seconds).
struct Progress {
    bar: indicatif::ProgressBar,
    plain: bool,
    last: std::time::Instant,
}

impl Progress {
    fn new(bytes: Option<u64>) -> Self {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        use std::io::IsTerminal;
        let terminal = std::io::stderr().is_terminal();
        let bar = match (terminal, bytes) {
            (false, _) => ProgressBar::hidden(),
            (true, Some(len)) => {
                ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()).with_style(
                    ProgressStyle::with_template(
                        "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} ~{eta} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                )
            }
            (true, None) => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{elapsed_precise} {spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        Self {
            bar,
            plain: !terminal,
            last: std::time::Instant::now(),
        }
    }

    fn update(&mut self, c: &crate::store::registry::Counts) {
        let line = format!(
            "read {} inserted {} updated {} unchanged {} rejected {}",
            c.read, c.inserted, c.updated, c.unchanged, c.rejected
        );
        if self.plain {
            if self.last.elapsed() >= std::time::Duration::from_secs(5) {
                self.last = std::time::Instant::now();
                eprintln!("progress: {line}");
            }
        } else {
            self.bar.set_message(line);
            self.bar.tick();
        }
    }
}

/// This process's peak resident memory (Linux), in MiB.
fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.div_ceil(1024))
}

fn registry_sync(common: &Common, args: SyncArgs) -> anyhow::Result<ExitCode> {
    use crate::registry::{api::ApiSource, sync};
    let SyncArgs {
        file,
        format,
        url,
        full,
        per_minute,
        page_size,
        attempts,
        backoff_ms,
    } = args;
    let store = existing_store(common)?;
    let mut conn = store.conn()?;
    let started = std::time::Instant::now();
    let result = match (file, url) {
        (Some(file), _) => {
            let input = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let len = input.metadata().ok().map(|m| m.len());
            let csv = match format {
                Some(f) => f == ExportFormat::Csv,
                None => file
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv")),
            };
            let mut progress = Progress::new(len);
            let reader = std::io::BufReader::with_capacity(1 << 20, progress.bar.wrap_read(input));
            let name = file.display().to_string();
            let plan = sync::Plan {
                source: &name,
                full,
                resumable: false,
            };
            let result = sync::run(
                &mut conn,
                &SystemClock,
                plan,
                |_, emit| {
                    if csv {
                        sync::read_csv(reader, sync::FILE_BATCH, emit)
                    } else {
                        sync::read_json_lines(reader, sync::FILE_BATCH, emit)
                    }
                },
                |c| progress.update(c),
            );
            progress.bar.finish_and_clear();
            result
        }
        (None, Some(url)) => {
            let token = std::env::var("ACCREDO_REGISTRY_TOKEN")
                .ok()
                .filter(|t| !t.is_empty());
            let source = ApiSource {
                per_minute,
                page_size,
                max_attempts: attempts,
                backoff: std::time::Duration::from_millis(backoff_ms),
                ..ApiSource::new(url, token)
            };
            let name = source.name();
            let plan = sync::Plan {
                source: &name,
                full,
                resumable: true,
            };
            let mut progress = Progress::new(None);
            let result = sync::run(
                &mut conn,
                &SystemClock,
                plan,
                |from, emit| source.produce(from, emit),
                |c| progress.update(c),
            );
            progress.bar.finish_and_clear();
            result
        }
        (None, None) => return Err(anyhow!("give --file or --url")),
    };
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "sync failed after {:.1} s: {e}",
                started.elapsed().as_secs_f64()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    // The register may now say something else about people waiting on a mismatch.
    let rechecked = crate::registry::check::recheck_waiting(&mut conn, &SystemClock)?;
    let c = summary.counts;
    if let Some(from) = summary.resumed_from {
        println!("resumed run {} from offset {from}", summary.run);
    }
    for r in &summary.rejections {
        println!("rejected line {}: {} ({})", r.line, r.reason, r.code);
    }
    if c.rejected > i64::try_from(summary.rejections.len()).unwrap_or(i64::MAX) {
        println!(
            "… {} rejections in all; `accredo registry runs` has the report",
            c.rejected
        );
    }
    println!(
        "run {}: read {} inserted {} updated {} unchanged {} removed {} rejected {} in {:.1} s{}",
        summary.run,
        c.read,
        c.inserted,
        c.updated,
        c.unchanged,
        c.removed,
        c.rejected,
        started.elapsed().as_secs_f64(),
        peak_memory_mib()
            .map(|m| format!(", peak memory {m} MiB"))
            .unwrap_or_default()
    );
    if rechecked.cases > 0 || rechecked.profiles > 0 {
        println!(
            "re-checked {} waiting cases ({} now match the register) and {} profiles",
            rechecked.cases, rechecked.cases_matching, rechecked.profiles
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A use case's refusal as an operator reads it: its code and Russian message.
fn service_error(e: crate::service::ServiceError) -> anyhow::Error {
    match e {
        crate::service::ServiceError::Refused(r) => anyhow!("{}: {}", r.code, r.message),
        other => anyhow!(other),
    }
}

/// Grants a role and audits it, in one transaction.
pub fn grant(
    conn: &mut crate::store::DbConnection,
    subject: &str,
    name: &str,
    role: Role,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<bool> {
    let now = now.naive_utc();
    let added = write_tx(conn, |conn| {
        let user = users::ensure(conn, subject, name, now)?;
        let id = UserId::from_stored(user.id);
        let added = users::grant_role(conn, &id, role, now)?;
        if added {
            crate::audit::record(
                conn,
                crate::audit::Entry {
                    chain: format!("user:{id}"),
                    kind: "role.granted",
                    actor: None,
                    case: None,
                    at: now,
                    payload: serde_json::json!({"user": id.as_str(), "role": role.as_str()}),
                },
            )?;
        }
        Ok::<_, crate::store::StoreError>(added)
    })?;
    Ok(added)
}

fn check_workflows(common: &Common, files: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let files = if files.is_empty() {
        crate::engine::catalog::workflow_files(&common.workflows_dir)
            .with_context(|| format!("cannot read {}", common.workflows_dir.display()))?
    } else {
        files
    };
    let templates =
        crate::notify::templates::Templates::from_dir(&common.templates_dir.join("notifications"));
    let loaded = Catalog::load_with_reasons(&files, &common.schemas_dir, &common.workflows_dir);
    match (loaded, templates) {
        (Ok(catalog), Ok(_)) => {
            for w in catalog.list() {
                println!(
                    "ok {} version {} ({})",
                    w.definition.id,
                    w.definition.version,
                    &w.definition.hash[..12]
                );
            }
            println!("ok notification templates");
            Ok(ExitCode::SUCCESS)
        }
        (workflows, templates) => {
            let mut lines: Vec<String> = workflows
                .err()
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .collect();
            lines.extend(
                templates
                    .err()
                    .unwrap_or_default()
                    .iter()
                    .map(ToString::to_string),
            );
            for line in &lines {
                println!("{line}");
            }
            println!("{} problem(s)", lines.len());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prepares the demo accounts of the built-in identity provider (their roles in the cabinet)
/// and an administrator, and starts a session for each so the API can be tried without a
/// browser. Returns the line to print for each.
fn demo_accounts(state: &crate::http::AppState) -> anyhow::Result<Vec<String>> {
    use crate::identity::demo_idp::ACCOUNTS;
    let mut conn = state.store.conn()?;
    let now = state.clock.now();
    let mut people: Vec<(String, String, &[Role])> = ACCOUNTS
        .iter()
        .filter(|a| a.trusted)
        .map(|a| {
            (
                a.oid.to_string(),
                format!("{} {} {}", a.last_name, a.first_name, a.middle_name),
                a.roles,
            )
        })
        .collect();
    people.push((
        "demo-support".into(),
        "Агент поддержки".into(),
        &[Role::Support],
    ));
    people.push(("demo-admin".into(), "Администратор".into(), &[Role::Admin]));
    let mut out = Vec::new();
    for (subject, name, roles) in people {
        for role in roles {
            grant(&mut conn, &subject, &name, *role, now)?;
        }
        let user = users::find_by_subject(&mut conn, &subject)?
            .ok_or_else(|| anyhow!("demo user vanished"))?;
        if roles.contains(&Role::Support) {
            // On the first line of the desk, so that requests reach them.
            crate::store::support::put_agent(&mut conn, &user.id, 1, false, now.naive_utc())?;
        }
        let (_, token) = session::create(
            &mut conn,
            &state.keys,
            &UserId::from_stored(user.id),
            state.policy,
            now,
        )?;
        out.push(demo_session_line(&subject, &name, roles, &token));
    }
    Ok(out)
}

/// The line `accredo demo` prints for a demo session: whose role it is first, since that is
/// what someone trying the API picks a token by.
fn demo_session_line(subject: &str, name: &str, roles: &[Role], token: &str) -> String {
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    format!(
        "demo session [{}] {subject} ({name}): {token}",
        roles.join(", ")
    )
}

fn serve_blocking(common: &Common, serve: &Serve, demo: bool) -> anyhow::Result<ExitCode> {
    let mut state = app::prepare(common, !serve.no_migrate, demo)?;
    let demo_signers = if demo && common.trust_store.is_none() {
        let people: Vec<(String, String)> = crate::identity::demo_idp::ACCOUNTS
            .iter()
            .filter(|a| a.trusted && a.roles.contains(&Role::Specialist))
            .map(|a| {
                (
                    format!("{} {} {}", a.last_name, a.first_name, a.middle_name),
                    a.snils.chars().filter(char::is_ascii_digit).collect(),
                )
            })
            .collect();
        let pki = crate::signature::demo::ensure(
            &common.documents_dir.with_file_name("demo-pki"),
            &people,
            state.clock.now(),
        )?;
        let mut signing = crate::signature::Signing::new(pki.trust, common.region_code.clone());
        signing.intake = common.intake_hours;
        state.signing = std::sync::Arc::new(signing);
        pki.signers
    } else {
        if common.trust_store.is_none() {
            tracing::warn!(
                "ACCREDO_TRUST_STORE is not set: applications cannot be submitted with a signature"
            );
        }
        Vec::new()
    };
    let tokens = if demo {
        demo_accounts(&state)?
    } else {
        Vec::new()
    };
    if demo {
        let lines = crate::identity::demo_idp::register_export().join("\n");
        let summary = crate::registry::sync::from_json_lines(
            &mut *state.store.conn()?,
            state.clock.as_ref(),
            "demo register data",
            lines.as_bytes(),
            false,
            |_| {},
        )?;
        crate::registry::check::recheck_waiting(&mut *state.store.conn()?, state.clock.as_ref())?;
        tracing::info!(
            inserted = summary.counts.inserted,
            updated = summary.counts.updated,
            "demo register data loaded"
        );
    }
    let checkpoint_secs = serve.checkpoint_secs;
    let timer_poll_ms = serve.timer_poll_ms;
    let shutdown = std::time::Duration::from_secs(serve.shutdown_secs);
    let workers = serve
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    actix_web::rt::System::new().block_on(async move {
        let mut state = state;
        app::configure_edge(&mut state, serve)?;
        let listener = app::bind(serve)?;
        let addr = listener.local_addr()?;
        let public_url = serve
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        state.https = public_url.starts_with("https://");
        let idp = app::connect_login(&mut state, serve, &public_url, demo).await?;
        app::spawn_checkpoints(&state, checkpoint_secs);
        app::spawn_timers(&state, timer_poll_ms);
        let dispatchers = app::dispatchers(common, &state.store, &state.clock, demo).await?;
        if common.notify.notify_poll_ms > 0 {
            crate::notify::dispatch::spawn(
                &state.workers,
                state.store.clone(),
                dispatchers,
                common.notify.policy(),
                app::worker_name(),
                state.clock.clone(),
                std::time::Duration::from_millis(common.notify.notify_poll_ms),
            );
        }
        app::spawn_reminders(
            &state,
            common.notify.reminders(),
            common.notify.reminder_poll_secs,
        );
        if let Some(listen) = &common.notify.support_mail_listen {
            let desk = crate::mail_intake::Address::parse(&common.notify.support_mail_address)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "ACCREDO_SUPPORT_MAIL_ADDRESS must be local@domain without '+': {:?}",
                        common.notify.support_mail_address
                    )
                })?;
            let mail = std::net::TcpListener::bind(listen)
                .map_err(|e| anyhow::anyhow!("ACCREDO_SUPPORT_MAIL_LISTEN {listen}: {e}"))?;
            crate::mail_intake::spawn(mail, state.clone(), desk)?;
        }
        let background = state.workers.clone();
        let server = crate::http::server(state, listener, workers, shutdown)?;
        println!("accredo listening on {public_url}");
        println!("API documentation: {public_url}/api-docs/");
        if let Some(idp) = &idp {
            println!(
                "demo identity provider: {} (log in at {public_url}/auth/login)",
                idp.issuer
            );
        }
        for line in &tokens {
            println!("{line}");
        }
        for s in &demo_signers {
            println!(
                "demo signature of {}: openssl cms -sign -binary -md sha256 -in payload.json \
                 -signer {} -inkey {} -outform DER -out payload.p7s",
                s.name,
                s.cert.display(),
                s.key.display()
            );
        }
        // SIGTERM: the server stops accepting and gives the requests in flight `shutdown`
        // to finish; then each worker finishes the pass it is in. SIGINT (Ctrl-C): at once.
        let handle = server.handle();
        let mut served = actix_web::rt::spawn(server);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            ended = &mut served => {
                ended.context("server task failed")?.context("server failed")?;
            }
            _ = term.recv() => {
                tracing::info!("SIGTERM: finishing the requests in flight");
                let stopping = handle.stop(true);
                // The server's own task ends once its workers have finished.
                let (_, ended) = tokio::join!(stopping, &mut served);
                if let Err(e) = ended {
                    tracing::warn!(error = %e, "the server task ended abnormally");
                }
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("SIGINT: stopping");
                handle.stop(false).await;
            }
        }
        if let Some(idp) = &idp {
            idp.handle.stop(true).await;
        }
        tracing::info!("server stopped; waiting for the workers' current passes");
        let late = background.stop(shutdown).await;
        if !late.is_empty() {
            tracing::warn!(workers = ?late, "workers still busy after the shutdown period were stopped");
        }
        println!("accredo stopped");
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
