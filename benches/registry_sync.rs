//! Register sync of N synthetic records (default 1,000,000) on PostgreSQL, next to PostgreSQL
//! `COPY` (psql `\copy`) of the same rows into an empty table with the same indexes, in the
//! same run: a full sync, then a re-run with 1% of the records changed. Each sync is the
//! release binary (`accredo registry sync --full --file …`) as cron would run it; its peak
//! memory is the process's own high-water mark (VmHWM), which it prints. The same two syncs
//! on SQLite follow, for their figure.
//!
//! `cargo bench --bench registry_sync` (PostgreSQL from ACCREDO_BENCH_DATABASE_URL, default
//! postgres://postgres@127.0.0.1:5432/postgres; BENCH_REGISTRY_RECORDS sets N; psql on PATH).

use accredo::registry::generate;
use accredo::registry::sync::Record;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const DB: &str = "accredo_bench_registry";
const BIN: &str = env!("CARGO_BIN_EXE_accredo");

fn main() -> anyhow::Result<()> {
    let admin = std::env::var("ACCREDO_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let n: u64 = std::env::var("BENCH_REGISTRY_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    {
        let mut conn = diesel::PgConnection::establish(&admin)?;
        conn.batch_execute(&format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))?;
        conn.batch_execute(&format!("CREATE DATABASE {DB}"))?;
    }
    let mut url = url::Url::parse(&admin)?;
    url.set_path(&format!("/{DB}"));
    let db_url = url.to_string();

    let dir = tempfile::tempdir()?;
    let full = dir.path().join("full.jsonl");
    let rerun = dir.path().join("rerun.jsonl");
    let copy = dir.path().join("copy.tsv");
    let t = Instant::now();
    accredo_cli(
        &db_url,
        &[
            "registry",
            "generate",
            "--count",
            &n.to_string(),
            "--out",
            path(&full)?,
        ],
    )?;
    accredo_cli(
        &db_url,
        &[
            "registry",
            "generate",
            "--count",
            &n.to_string(),
            "--changed-every",
            "100",
            "--out",
            path(&rerun)?,
        ],
    )?;
    write_copy_rows(&copy, n)?;
    println!(
        "{n} records: {} MB of JSON Lines, generated in {:.1} s",
        std::fs::metadata(&full)?.len() / 1_000_000,
        t.elapsed().as_secs_f64()
    );

    accredo_cli(&db_url, &["migrate"])?;
    let mut conn = diesel::PgConnection::establish(&db_url)?;
    // The reference table: the same columns and the same indexes as registry_persons.
    conn.batch_execute("CREATE TABLE registry_copy (LIKE registry_persons INCLUDING ALL)")?;

    println!("\nPostgreSQL");
    let copy_1 = copy_reference(&mut conn, &db_url, &copy)?;
    let (full_secs, full_mem, out) = sync(&db_url, &full)?;
    println!(
        "  full sync     {full_secs:>7.2} s   COPY {copy_1:>6.2} s   ratio {:.2} (target ≤ 2)   peak memory {full_mem} MiB",
        full_secs / copy_1
    );
    println!("                {out}");
    let copy_2 = copy_reference(&mut conn, &db_url, &copy)?;
    let (re_secs, re_mem, out) = sync(&db_url, &rerun)?;
    println!(
        "  re-run (1%)   {re_secs:>7.2} s   COPY {copy_2:>6.2} s   ratio {:.2} (target ≤ 1)   peak memory {re_mem} MiB",
        re_secs / copy_2
    );
    println!("                {out}");

    println!("\nSQLite");
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    accredo_cli(&sqlite, &["migrate"])?;
    let (s_full, s_full_mem, out) = sync(&sqlite, &full)?;
    println!(
        "  full sync     {s_full:>7.2} s   ({:.2} × PostgreSQL COPY)   peak memory {s_full_mem} MiB",
        s_full / copy_1
    );
    println!("                {out}");
    let (s_re, s_re_mem, out) = sync(&sqlite, &rerun)?;
    println!(
        "  re-run (1%)   {s_re:>7.2} s   ({:.2} × PostgreSQL COPY)   peak memory {s_re_mem} MiB",
        s_re / copy_2
    );
    println!("                {out}");
    Ok(())
}

fn path(p: &Path) -> anyhow::Result<&str> {
    p.to_str().ok_or_else(|| anyhow::anyhow!("non-UTF-8 path"))
}

fn accredo_cli(db_url: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("ACCREDO_LOG", "warn")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "accredo {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs the sync binary; returns its wall time, its peak memory and its summary line.
fn sync(db_url: &str, file: &Path) -> anyhow::Result<(f64, u64, String)> {
    let t = Instant::now();
    let out = accredo_cli(
        db_url,
        &["registry", "sync", "--full", "--file", path(file)?],
    )?;
    let secs = t.elapsed().as_secs_f64();
    let summary = out.lines().last().unwrap_or_default().to_owned();
    let mem = summary
        .rsplit_once("peak memory ")
        .and_then(|(_, m)| m.trim_end_matches(" MiB").parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no peak memory in {summary:?}"))?;
    Ok((secs, mem, summary))
}

/// Empties the reference table and times psql `\copy` of the rows into it.
fn copy_reference(conn: &mut PgConnection, db_url: &str, rows: &Path) -> anyhow::Result<f64> {
    conn.batch_execute("TRUNCATE registry_copy; CHECKPOINT")?;
    let t = Instant::now();
    let out = Command::new("psql")
        .args([db_url, "-q", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!("\\copy registry_copy FROM '{}'", path(rows)?))
        .output()?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    conn.batch_execute("CHECKPOINT")?;
    Ok(secs)
}

/// The rows the full sync stores, in COPY text format.
fn write_copy_rows(file: &Path, n: u64) -> anyhow::Result<()> {
    fn field(out: &mut impl Write, v: Option<&str>) -> std::io::Result<()> {
        match v {
            None => out.write_all(b"\\N"),
            Some(s) => {
                for c in s.chars() {
                    match c {
                        '\\' => out.write_all(b"\\\\")?,
                        '\t' => out.write_all(b"\\t")?,
                        '\n' => out.write_all(b"\\n")?,
                        '\r' => out.write_all(b"\\r")?,
                        c => write!(out, "{c}")?,
                    }
                }
                Ok(())
            }
        }
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(file)?);
    for i in 0..n {
        let r = Record::new(i + 1, generate::person(i, 0)).row;
        let birth = r.birth_date.to_string();
        let updated = r.source_updated_at.map(|t| t.to_string());
        let cols = [
            Some(r.register_id.as_str()),
            Some(&r.snils),
            Some(&r.last_name),
            Some(&r.first_name),
            r.middle_name.as_deref(),
            Some(&birth),
            r.inn.as_deref(),
            r.gender.as_deref(),
            Some(&r.employments),
            Some(&r.educations),
            Some(&r.accreditations),
            updated.as_deref(),
            Some(&r.record_hash),
            None,
            Some("1"),
            Some("2026-11-22 00:00:00"),
        ];
        for (k, c) in cols.iter().enumerate() {
            if k > 0 {
                out.write_all(b"\t")?;
            }
            field(&mut out, *c)?;
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
