//! `rvisor`: the OCI runtime binary (runc/runsc-compatible verbs arrive issue by issue).
//!
//! Today it provides `rvisor do CMD ARGS...` (run a command in a sandbox over the host's root,
//! read-only), `rvisor syscalls` (the syscall compatibility table) and the hidden `gofer`
//! subcommand, which `do` starts as a separate process to serve the root over 9P.
//!
//! Neighbours: builds the sentry (`sentry::kernel`), the platform (`platform-ptrace`), the VFS
//! mounts (`vfs`) and the gofer connection (`vfs::p9client`). `anyhow` lives only here.

mod cmd_do;
mod cmd_gofer;
mod cmd_oci;
mod cmd_syscalls;
mod hostcall;
mod logging;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// rvisor: a userspace-kernel sandbox for containers.
#[derive(Debug, Parser)]
#[command(name = "rvisor", version, about)]
pub struct Cli {
    /// Platform that runs application code.
    #[arg(long, global = true, value_enum, default_value_t = PlatformKind::Ptrace)]
    platform: PlatformKind,
    /// Directory for debug logs (one file per rvisor process).
    #[arg(long = "debug-log", global = true, value_name = "DIR")]
    debug_log: Option<std::path::PathBuf>,
    /// Log every application syscall (to the debug log, or stderr without one).
    #[arg(long, global = true)]
    strace: bool,
    /// Only trace these syscalls (comma-separated names); implies --strace.
    #[arg(long = "strace-syscalls", global = true, value_delimiter = ',')]
    strace_syscalls: Vec<String>,
    /// Bytes of each buffer shown by --strace.
    #[arg(long = "strace-log-size", global = true, default_value_t = 64)]
    strace_log_size: usize,
    /// More logging (debug level) in the debug log.
    #[arg(long, global = true)]
    debug: bool,
    /// Where container state lives (runc's `--root`).
    #[arg(long, global = true, default_value = "/run/rvisor")]
    root: std::path::PathBuf,
    #[command(subcommand)]
    command: Command,
}

/// Platforms `--platform` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlatformKind {
    Ptrace,
    Kvm,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a command in a sandbox over the host's root filesystem (read-only; /tmp is a
    /// sandbox-private tmpfs).
    Do(cmd_do::DoArgs),
    /// Print the syscall compatibility table.
    Syscalls(cmd_syscalls::SyscallsArgs),
    /// Write a default OCI config.json into a bundle.
    Spec(cmd_oci::SpecArgs),
    /// Run a container from an OCI bundle, in the foreground.
    Run(cmd_oci::RunArgs),
    /// Print a container's OCI state.
    State(cmd_oci::IdArgs),
    /// Send a signal to a container.
    Kill(cmd_oci::KillArgs),
    /// Delete a container's state (`--force`: kill it first).
    Delete(cmd_oci::DeleteArgs),
    /// List containers.
    List(cmd_oci::ListArgs),
    /// Internal: serve a directory over 9P2000.L on an inherited socket.
    #[command(hide = true)]
    Gofer(cmd_gofer::GoferArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _guard = match logging::init(&cli) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("rvisor: {e:#}");
            return ExitCode::from(125);
        }
    };
    let res = match &cli.command {
        Command::Do(a) => cmd_do::run(&cli, a),
        Command::Syscalls(a) => cmd_syscalls::run(a).map(|()| 0),
        Command::Spec(a) => cmd_oci::spec(a),
        Command::Run(a) => cmd_oci::run(&cli, a),
        Command::State(a) => cmd_oci::state(&cli, a),
        Command::Kill(a) => cmd_oci::kill(&cli, a),
        Command::Delete(a) => cmd_oci::delete(&cli, a),
        Command::List(a) => cmd_oci::list(&cli, a),
        Command::Gofer(a) => cmd_gofer::run(a).map(|()| 0),
    };
    match res {
        Ok(code) => ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1)),
        Err(e) => {
            eprintln!("rvisor: {e:#}");
            // 125 like `docker run`/runc for a runtime failure before the command ran.
            ExitCode::from(125)
        }
    }
}
