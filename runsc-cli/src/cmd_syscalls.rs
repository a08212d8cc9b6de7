//! `rvisor syscalls`: the compatibility table, generated from the sentry's syscall table.

use std::io::Write as _;

use clap::{Args, ValueEnum};
use sentry::syscalls::table::{self, Support};

#[derive(Debug, Args)]
pub struct SyscallsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Markdown,
}

pub fn run(a: &SyscallsArgs) -> anyhow::Result<()> {
    match print(a) {
        // A reader that stops early (`| head`, `| grep -q`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

fn print(a: &SyscallsArgs) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    for (nr, e) in table::all() {
        let (level, note) = match e.support {
            Support::Full => ("full", String::new()),
            Support::Partial(n) => ("partial", n.to_string()),
            Support::Error(errno, n) => (
                "error",
                format!("returns {}: {n}", errno.name().unwrap_or("E???")),
            ),
        };
        rows.push((nr, e.name, level, note));
    }
    match a.format {
        Format::Markdown => {
            writeln!(out, "| nr | name | support | note |\n|---:|---|---|---|")?;
            for (nr, name, level, note) in &rows {
                writeln!(out, "| {nr} | {name} | {level} | {note} |")?;
            }
            writeln!(
                out,
                "\nAll other syscall numbers return ENOSYS and are logged as unimplemented."
            )?;
        }
        Format::Table => {
            for (nr, name, level, note) in &rows {
                writeln!(out, "{nr:>4}  {name:<20} {level:<8} {note}")?;
            }
        }
    }
    Ok(())
}
