//! Log routing: errors to stderr; with `--debug-log DIR`, everything at debug level (and the
//! strace lines) to `DIR/rvisor.<pid>.<command>.log`; `--strace` without a debug log prints the
//! strace lines on stderr.

use std::fs::OpenOptions;
use std::sync::Mutex;

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

use crate::Cli;

/// Keeps logging alive for the process's lifetime.
#[derive(Debug)]
pub struct LogGuard;

pub fn init(cli: &Cli) -> anyhow::Result<LogGuard> {
    let strace = cli.strace || !cli.strace_syscalls.is_empty();
    let base = if cli.debug { "debug" } else { "info" };
    if let Some(dir) = &cli.debug_log {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating debug log dir {}", dir.display()))?;
        let cmd = std::env::args().nth(1).unwrap_or_default();
        let cmd: String = cmd.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        let path = dir.join(format!("rvisor.{}.{}.log", std::process::id(), cmd));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening debug log {}", path.display()))?;
        let filter = EnvFilter::try_new(format!(
            "{base},strace={}",
            if strace { "info" } else { "off" }
        ))
        .context("log filter")?;
        let file_layer = tracing_subscriber::fmt::layer()
            .with_writer(Mutex::new(file))
            .with_ansi(false)
            .with_filter(filter);
        let stderr_layer = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_filter(EnvFilter::new("error,strace=off"));
        tracing_subscriber::registry()
            .with(file_layer)
            .with(stderr_layer)
            .init();
    } else {
        let directive = if strace { "error,strace=info" } else { "error" };
        let filter =
            EnvFilter::try_from_env("RVISOR_LOG").unwrap_or_else(|_| EnvFilter::new(directive));
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_target(false)
            .without_time()
            .with_level(false)
            .with_env_filter(filter)
            .init();
    }
    Ok(LogGuard)
}
