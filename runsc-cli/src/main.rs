//! `rvisor`: the OCI runtime binary (runc/runsc-compatible verbs arrive issue by issue).
//!
//! Today it provides `rvisor do CMD ARGS...` (run a command in a sandbox over the host's root,
//! read-only), `rvisor syscalls` (the syscall compatibility table) and the hidden `gofer`
//! subcommand, which `do` starts as a separate process to serve the root over 9P.
//!
//! Neighbours: builds the sentry (`sentry::kernel`), the platform (`platform-ptrace`), the VFS
//! mounts (`vfs`) and the gofer connection (`vfs::p9client`). `anyhow` lives only here.

// Its stats/version/dirs API is used by its tests; the CLI reports the sentry's accounting.
#[allow(dead_code)]
mod cgroup;
mod cmd_do;
mod cmd_exec;
mod cmd_gofer;
mod cmd_install;
mod cmd_oci;
mod cmd_syscalls;
mod console;
mod control;
mod dns_relay;
mod hostcall;
mod logging;
mod netns;

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
    /// Also append errors to this file (runc's `--log`; containerd and Docker read it).
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<std::path::PathBuf>,
    /// How `--log` lines look: `text`, or `json` (`{"level":"error","msg":...,"time":...}`).
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// `linux.cgroupsPath` may be systemd's `slice:prefix:name` (mapped to the cgroupfs path
    /// systemd uses; recognised without the flag too).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Networking of OCI containers: `sandbox` (the container's network namespace, from the
    /// spec), `none` (a new, empty network namespace whatever the spec says), `host` (not
    /// built: refused).
    #[arg(long, global = true, value_enum, default_value_t = NetworkMode::Sandbox)]
    network: NetworkMode,
    /// runsc's `--overlay2` for OCI containers: `none` (default) writes reach the bundle's
    /// rootfs as under runc; `root:memory` keeps them in an in-memory overlay.
    #[arg(long = "overlay2", global = true, value_enum, default_value_t = Overlay2::None)]
    overlay2: Overlay2,
    #[command(subcommand)]
    command: Command,
}

/// `--network`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NetworkMode {
    Sandbox,
    None,
    Host,
}

/// `--overlay2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Overlay2 {
    None,
    #[value(name = "root:memory")]
    RootMemory,
}

/// Platforms `--platform` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Appends `msg` to the `--log` file as an error line in `format` (best effort: the error is
/// on stderr anyway).
fn log_error(path: &std::path::Path, format: LogFormat, msg: &str) {
    use std::io::Write as _;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let line = match format {
        LogFormat::Json => serde_json::json!({
            "level": "error",
            "msg": msg,
            "time": humantime_utc(now.as_secs()),
        })
        .to_string(),
        LogFormat::Text => format!(
            "time=\"{}\" level=error msg={msg:?}",
            humantime_utc(now.as_secs())
        ),
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// `secs` since the epoch as RFC 3339 UTC (`2026-12-01T12:00:00Z`), as runc's logs have it.
fn humantime_utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm), for the proleptic Gregorian calendar.
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

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
    /// Run a container from an OCI bundle (in the foreground unless --detach).
    Run(cmd_oci::RunArgs),
    /// Create a container from an OCI bundle: its init is loaded, not running.
    Create(cmd_oci::CreateArgs),
    /// Start a created container's init.
    Start(cmd_oci::IdArgs),
    #[command(hide = true)]
    Boot(cmd_oci::BootArgs),
    /// Print a container's OCI state.
    State(cmd_oci::IdArgs),
    /// Send a signal to a container.
    Kill(cmd_oci::KillArgs),
    /// Delete a container's state (`--force`: kill it first).
    Delete(cmd_oci::DeleteArgs),
    /// List containers.
    List(cmd_oci::ListArgs),
    /// What this runtime supports (runc's JSON shape).
    Features,
    /// Run a process in a running container.
    Exec(cmd_exec::ExecArgs),
    /// The processes of a container (`--format json`: their host pids).
    Ps(cmd_exec::PsArgs),
    /// Stop scheduling a container's processes.
    Pause(cmd_oci::IdArgs),
    /// Resume a paused container.
    Resume(cmd_oci::IdArgs),
    /// Change a running container's resource limits.
    Update(cmd_exec::UpdateArgs),
    /// A container's statistics (`--stats`: once).
    Events(cmd_exec::EventsArgs),
    /// Register rvisor as a Docker runtime in /etc/docker/daemon.json.
    Install(cmd_install::InstallArgs),
    /// Remove rvisor's runtime entry from /etc/docker/daemon.json.
    Uninstall(cmd_install::UninstallArgs),
    /// Internal: serve a directory over 9P2000.L on an inherited socket.
    #[command(hide = true)]
    Gofer(cmd_gofer::GoferArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The container-facing commands start from a clean fd table (`rvisor gofer` gets its
    // socket as stdin).
    if !matches!(cli.command, Command::Syscalls(_) | Command::Features) {
        hostcall::close_inherited_fds();
    }
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
        Command::Create(a) => cmd_oci::create(&cli, a),
        Command::Start(a) => cmd_oci::start(&cli, a),
        Command::Boot(a) => cmd_oci::boot(&cli, a),
        Command::State(a) => cmd_oci::state(&cli, a),
        Command::Kill(a) => cmd_oci::kill(&cli, a),
        Command::Delete(a) => cmd_oci::delete(&cli, a),
        Command::List(a) => cmd_oci::list(&cli, a),
        Command::Features => cmd_oci::features(),
        Command::Exec(a) => cmd_exec::exec(&cli, a),
        Command::Ps(a) => cmd_exec::ps(&cli, a),
        Command::Pause(a) => cmd_exec::pause(&cli, &a.id, true),
        Command::Resume(a) => cmd_exec::pause(&cli, &a.id, false),
        Command::Update(a) => cmd_exec::update(&cli, a),
        Command::Events(a) => cmd_exec::events(&cli, a),
        Command::Install(a) => cmd_install::install(a),
        Command::Uninstall(a) => cmd_install::uninstall(a),
        Command::Gofer(a) => cmd_gofer::run(a).map(|()| 0),
    };
    match res {
        Ok(code) => ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1)),
        Err(e) => {
            eprintln!("rvisor: {e:#}");
            if let Some(path) = &cli.log {
                log_error(path, cli.log_format, &format!("{e:#}"));
            }
            // 125 like `docker run`/runc for a runtime failure before the command ran.
            ExitCode::from(125)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::humantime_utc;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(humantime_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(humantime_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(humantime_utc(1_796_126_400), "2026-12-01T12:00:00Z");
    }
}
