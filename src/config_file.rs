//! The configuration file: a TOML table whose keys are the settings' environment names
//! (`DATABASE_URL = "postgres://…"`, `ACCREDO_BIND = "0.0.0.0:8080"`), read from `--config`
//! or `ACCREDO_CONFIG`. Its values stand in for the defaults, so the command line wins over
//! the environment, the environment over the file, and the file over the built-in default.

use anyhow::{Context, anyhow, bail};
use clap::Command;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

/// The environment variable naming the file.
pub const ENV: &str = "ACCREDO_CONFIG";

/// The file named by `--config PATH` (or `--config=PATH`) in `args`, else by `ACCREDO_CONFIG`.
pub fn path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(p));
        }
    }
    std::env::var_os(ENV).map(PathBuf::from)
}

/// Every environment name the command's settings read, in every subcommand.
pub fn settings(cmd: &Command) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    collect(cmd, &mut out);
    out
}

fn collect(cmd: &Command, out: &mut BTreeMap<String, String>) {
    for a in cmd.get_arguments() {
        if let Some(env) = a.get_env() {
            let help = a.get_help().map(ToString::to_string).unwrap_or_default();
            out.entry(env.to_string_lossy().into_owned())
                .or_insert(help);
        }
    }
    for s in cmd.get_subcommands() {
        collect(s, out);
    }
}

/// Reads the file: each key must be a setting's environment name, each value a string,
/// number, boolean or array of those (joined with commas).
pub fn read(path: &std::path::Path, cmd: &Command) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| anyhow!("configuration file {}: {e}", path.display()))?;
    let known = settings(cmd);
    let mut values = BTreeMap::new();
    let mut problems = Vec::new();
    for (key, value) in table {
        if !known.contains_key(&key) {
            problems.push(format!(
                "{key}: no such setting (the keys are the environment names of the \
                 configuration table, e.g. ACCREDO_BIND)"
            ));
            continue;
        }
        match scalar(&value).or_else(|| match &value {
            toml::Value::Array(items) => items
                .iter()
                .map(scalar)
                .collect::<Option<Vec<_>>>()
                .map(|v| v.join(",")),
            _ => None,
        }) {
            Some(v) => {
                values.insert(key, v);
            }
            None => problems.push(format!(
                "{key}: must be a string, a number, a boolean or a list of them"
            )),
        }
    }
    if !problems.is_empty() {
        bail!(
            "configuration file {}:\n  {}",
            path.display(),
            problems.join("\n  ")
        );
    }
    Ok(values)
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The command with the file's values as the defaults of the settings they name.
pub fn apply(cmd: Command, values: &BTreeMap<String, String>) -> Command {
    let ids: Vec<(clap::Id, &'static str)> = cmd
        .get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_string_lossy();
            let v = values.get(env.as_ref())?;
            // Read once at start; clap keeps defaults as 'static strings.
            Some((a.get_id().clone(), &*Box::leak(v.clone().into_boxed_str())))
        })
        .collect();
    let mut cmd = cmd;
    for (id, v) in ids {
        cmd = cmd.mut_arg(id, |a| a.default_value(v));
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for s in subs {
        cmd = cmd.mut_subcommand(s, |sc| apply(sc, values));
    }
    cmd
}
