//! The OCI runtime commands, runc's CLI: `spec`, `create`, `start`, `run`, `state`, `kill`,
//! `delete`, `list`, `features` (and the hidden `boot`); `exec`, `ps`, `pause`, `resume`,
//! `update`, `events` are in `cmd_exec.rs`, the control socket in `control.rs`.
//!
//! A bundle's config.json is read with the `oci-spec` crate and turned into the same
//! [`SandboxConfig`] `rvisor do` builds (root served by a gofer, written through as under runc;
//! an overlay only under a read-only root, for the mount points; bind mounts of directories
//! and files as gofer-served volumes, tmpfs mounts, masked and read-only paths, the user's
//! ids, capabilities, umask, rlimits and noNewPrivileges, hostname, domainname, the memory
//! limit).
//!
//! State: `--root DIR` (default `/run/rvisor`) holds one directory per container with its
//! OCI `state.json` (written whole: temporary file, then rename), `control.sock` and, after a
//! failed boot, `boot-error`. `pid` is the sandbox process (`rvisor boot`), which exits with
//! the container's status, as containerd expects of runc's init pid; a dead pid reads as
//! "stopped". `create` starts it and waits for "created"; it joins the container's cgroup and
//! network namespace before starting gofers and stubs, runs the create-time hooks, and serves
//! the control socket. A foreground `run` is create + start + wait + delete.
//!
//! # Shortcuts (written down, to be replaced)
//! - One sandbox process per container (no shared pod sentry).
//! - `process.terminal` is a host pty passed through to init (no sandbox line discipline).
//! - Mount options other than `ro` (bind mounts) and `size=`/`mode=` (tmpfs) — `nosuid`,
//!   `nodev`, `noexec`, atime flags — are not enforced; `linux.sysctl` (except
//!   net.ipv4.ip_unprivileged_port_start), `linux.devices` and the LSM/seccomp fields are
//!   ignored.

use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use oci_spec::runtime::{Capabilities, Spec};
use sentry::kernel::Credentials;

use crate::Cli;
use crate::cmd_do::{Prepared, ProcessConfig, SandboxConfig, TmpfsMount, Volume, prepare_sandbox};

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Where to write config.json.
    #[arg(long, short = 'b', default_value = ".")]
    bundle: PathBuf,
    /// A spec for a rootless container.
    #[arg(long)]
    rootless: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The bundle directory (config.json and the root filesystem).
    #[arg(long, short = 'b', default_value = ".")]
    bundle: PathBuf,
    /// Detach from the container (not supported yet).
    #[arg(long, short = 'd')]
    detach: bool,
    /// Write the container's host pid here.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Pass the terminal master here (not supported yet).
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility: a foreground run leaves no state behind anyway.
    #[arg(long)]
    rm: bool,
    /// Accepted for runc compatibility (the sandbox has no host mounts to pivot).
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc compatibility (no host keyrings are involved).
    #[arg(long)]
    no_new_keyring: bool,
    /// The container id.
    id: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The bundle directory (config.json and the root filesystem).
    #[arg(long, short = 'b', default_value = ".")]
    bundle: PathBuf,
    /// Write the container's host pid here.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Pass the terminal master here (not supported yet).
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility (the sandbox has no host mounts to pivot).
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc compatibility (no host keyrings are involved).
    #[arg(long)]
    no_new_keyring: bool,
    /// The container id.
    id: String,
}

#[derive(Debug, Args)]
pub struct BootArgs {
    #[arg(long)]
    bundle: PathBuf,
    id: String,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// The container id.
    pub(crate) id: String,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process of the container (the sandbox's init forwards nothing else).
    #[arg(long, short = 'a')]
    all: bool,
    /// The container id.
    id: String,
    /// The signal: a number or a name, with or without SIG (default TERM).
    #[arg(default_value = "TERM")]
    signal: String,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill a running container first; an unknown id is not an error.
    #[arg(long, short = 'f')]
    force: bool,
    /// The container id.
    id: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// `table` or `json`.
    #[arg(long, short = 'f', default_value = "table")]
    format: String,
    /// Only the ids.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// `rvisor spec`: a default config.json, with a process busybox's `sh` can run.
pub fn spec(a: &SpecArgs) -> anyhow::Result<i32> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let mut spec = if a.rootless {
        // oci-spec's rootless spec maps the caller's ids.
        Spec::rootless(
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )
    } else {
        Spec::default()
    };
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(false));
        p.set_args(Some(vec!["sh".to_owned()]));
    }
    spec.set_hostname(Some("rvisor".to_owned()));
    spec.save(&path)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(0)
}

/// The state directory of container `id` under `root`; EINVAL-like error for ids that are
/// not single path components.
pub(crate) fn state_dir(root: &Path, id: &str) -> anyhow::Result<PathBuf> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') || id.contains('\0') {
        bail!("invalid container id {id:?}");
    }
    Ok(root.join(id))
}

/// Whether host process `pid` is alive (not a zombie).
fn alive(pid: i32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    !text
        .lines()
        .any(|l| l.starts_with("State:") && l.contains('Z'))
}

/// The host pid a state records (0 if none).
fn state_pid(v: &serde_json::Value) -> i32 {
    v["pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or(0)
}

/// The container's recorded state with its status brought up to date.
pub(crate) fn load_state(root: &Path, id: &str) -> anyhow::Result<serde_json::Value> {
    let dir = state_dir(root, id)?;
    let text = match std::fs::read_to_string(dir.join("state.json")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("container {id} does not exist")
        }
        Err(e) => return Err(e).with_context(|| format!("reading the state of {id}")),
    };
    let mut v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("the state of {id} is corrupt"))?;
    if !alive(state_pid(&v)) {
        v["status"] = "stopped".into();
    }
    Ok(v)
}

/// Removes the state directory when dropped (the foreground run's end, or a failed start),
/// unless disarmed.
struct StateGuard(Option<PathBuf>);

impl StateGuard {
    fn new(dir: PathBuf) -> StateGuard {
        StateGuard(Some(dir))
    }

    /// The container lives on: keep its state.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for StateGuard {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Capability numbers of an OCI capability set.
fn cap_set(set: Option<&Capabilities>) -> anyhow::Result<u64> {
    let mut bits = 0u64;
    for c in set.into_iter().flatten() {
        let name = c.to_string();
        let n = abi::cap::from_name(&name)
            .ok_or_else(|| anyhow::anyhow!("unknown capability {name}"))?;
        bits |= abi::cap::bit(n);
    }
    Ok(bits)
}

/// Reads and checks `bundle`/config.json into a sandbox description.
fn sandbox_from_bundle(bundle: &Path) -> anyhow::Result<(SandboxConfig, Spec)> {
    let path = bundle.join("config.json");
    if !bundle.is_dir() {
        bail!("bundle {}: not a directory", bundle.display());
    }
    if !path.exists() {
        bail!("bundle {}: config.json: no such file", bundle.display());
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let spec: Spec = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("invalid {}: {e}", path.display()))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("config.json: no process"))?;
    let args = process.args().clone().unwrap_or_default();
    if args.first().is_none_or(String::is_empty) {
        bail!("config.json: process.args must name a program");
    }
    let cwd = process.cwd();
    if !cwd.is_absolute() {
        bail!(
            "config.json: process.cwd {} must be an absolute path",
            cwd.display()
        );
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("config.json: no root"))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    if !rootfs.is_dir() {
        bail!(
            "config.json: root.path {}: not a directory",
            rootfs.display()
        );
    }
    let mut volumes = Vec::new();
    let mut tmpfs = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let dest = m.destination().as_os_str().as_bytes().to_vec();
        let opts = m.options().clone().unwrap_or_default();
        let ty = m.typ().clone().unwrap_or_default();
        let is_bind = ty == "bind" || opts.iter().any(|o| o == "bind" || o == "rbind");
        if is_bind {
            let src = m.source().clone().ok_or_else(|| {
                anyhow::anyhow!("bind mount {}: no source", m.destination().display())
            })?;
            let src = if src.is_absolute() {
                src
            } else {
                bundle.join(src)
            };
            let meta = std::fs::metadata(&src).with_context(|| {
                format!(
                    "bind mount {} -> {}",
                    src.display(),
                    m.destination().display()
                )
            })?;
            if !meta.is_dir() && !meta.is_file() {
                bail!(
                    "bind mount {} -> {}: only directories and regular files can be bind-mounted",
                    src.display(),
                    m.destination().display()
                );
            }
            volumes.push(Volume {
                host: src,
                target: dest,
                readonly: opts.iter().any(|o| o == "ro"),
            });
            continue;
        }
        match ty.as_str() {
            // The sandbox's own procfs, sysfs and devfs serve these.
            "proc" | "sysfs" | "devpts" | "mqueue" | "cgroup" | "cgroup2" => {}
            "tmpfs" if dest == b"/dev" => {}
            "tmpfs" => {
                let mut t = TmpfsMount {
                    target: dest,
                    size: None,
                    mode: 0o1777,
                };
                for o in &opts {
                    if let Some(v) = o.strip_prefix("size=") {
                        t.size = Some(sentry::kernel::oom::parse_memory_size(v).map_err(|e| {
                            anyhow::anyhow!("tmpfs {}: {e}", m.destination().display())
                        })?);
                    } else if let Some(v) = o.strip_prefix("mode=") {
                        t.mode = u32::from_str_radix(v, 8)
                            .ok()
                            .filter(|m| *m <= 0o7777)
                            .ok_or_else(|| anyhow::anyhow!("tmpfs mode={v}: not an octal mode"))?;
                    }
                }
                tmpfs.push(t);
            }
            other => bail!(
                "mount {}: type {other:?} is not supported",
                m.destination().display()
            ),
        }
    }
    let pc = process_config(process)?;
    let memory_limit = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit())
        .and_then(|l| u64::try_from(l).ok());
    let cfg = SandboxConfig {
        rootfs,
        // As under runc, writes reach the bundle's rootfs (Docker's container layer: `docker
        // commit`, `docker build`, `docker diff` see them). A read-only root is an overlay
        // whose upper layer only holds the mount points the runtime makes.
        overlay: root.readonly().unwrap_or(false),
        read_only: root.readonly().unwrap_or(false),
        volumes,
        tmpfs,
        memory_limit,
        // The sentry enforces the pids limit on the sandbox's tasks; the cgroup gets room for
        // the host threads behind them (`host_resources`).
        pids_limit: spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.pids().as_ref())
            .map(|p| p.limit())
            .filter(|&l| l > 0)
            .and_then(|l| usize::try_from(l).ok())
            .map_or(sentry::kernel::MAX_TASKS, |l| {
                l.min(sentry::kernel::MAX_TASKS)
            }),
        shared_files: false,
        fd_donation: true,
        hostname: spec.hostname().as_ref().map(|h| h.as_bytes().to_vec()),
        process: pc,
        domainname: spec.domainname().as_ref().map(|d| d.as_bytes().to_vec()),
        masked_paths: linux_paths(&spec, |l| l.masked_paths().clone()),
        readonly_paths: linux_paths(&spec, |l| l.readonly_paths().clone()),
        console: None,
    };
    Ok((cfg, spec))
}

/// `linux.maskedPaths` or `linux.readonlyPaths` as sandbox paths.
fn linux_paths(
    spec: &Spec,
    get: impl Fn(&oci_spec::runtime::Linux) -> Option<Vec<String>>,
) -> Vec<Vec<u8>> {
    spec.linux()
        .as_ref()
        .and_then(get)
        .unwrap_or_default()
        .into_iter()
        .map(String::into_bytes)
        .collect()
}

/// `process.rlimits` as (RLIMIT_*, soft, hard); soft above hard is refused, as runc
/// (setrlimit would fail with EINVAL).
fn rlimits(process: &oci_spec::runtime::Process) -> anyhow::Result<Vec<(u32, u64, u64)>> {
    use oci_spec::runtime::PosixRlimitType as T;
    let mut out = Vec::new();
    for r in process.rlimits().iter().flatten() {
        let n = match r.typ() {
            T::RlimitCpu => abi::time::RLIMIT_CPU,
            T::RlimitFsize => abi::time::RLIMIT_FSIZE,
            T::RlimitData => abi::time::RLIMIT_DATA,
            T::RlimitStack => abi::time::RLIMIT_STACK,
            T::RlimitCore => abi::time::RLIMIT_CORE,
            T::RlimitRss => abi::time::RLIMIT_RSS,
            T::RlimitNproc => abi::time::RLIMIT_NPROC,
            T::RlimitNofile => abi::time::RLIMIT_NOFILE,
            T::RlimitMemlock => abi::time::RLIMIT_MEMLOCK,
            T::RlimitAs => abi::time::RLIMIT_AS,
            T::RlimitLocks => abi::time::RLIMIT_LOCKS,
            T::RlimitSigpending => abi::time::RLIMIT_SIGPENDING,
            T::RlimitMsgqueue => abi::time::RLIMIT_MSGQUEUE,
            T::RlimitNice => abi::time::RLIMIT_NICE,
            T::RlimitRtprio => abi::time::RLIMIT_RTPRIO,
            T::RlimitRttime => abi::time::RLIMIT_RTTIME,
        };
        if r.soft() > r.hard() {
            bail!(
                "process.rlimits {:?}: soft limit {} above hard limit {}",
                r.typ(),
                r.soft(),
                r.hard()
            );
        }
        out.push((n, r.soft(), r.hard()));
    }
    Ok(out)
}

/// Checks an OCI `process` and turns it into a [`ProcessConfig`].
pub(crate) fn process_config(
    process: &oci_spec::runtime::Process,
) -> anyhow::Result<ProcessConfig> {
    let args = process.args().clone().unwrap_or_default();
    if args.first().is_none_or(String::is_empty) {
        bail!("process.args must name a program");
    }
    let cwd = process.cwd();
    if !cwd.is_absolute() {
        bail!("process.cwd {} must be an absolute path", cwd.display());
    }
    let user = process.user();
    let caps = process.capabilities().as_ref();
    let mut creds = Credentials::user(user.uid(), user.gid());
    creds.groups = user.additional_gids().clone().unwrap_or_default();
    creds.groups.sort_unstable();
    creds.groups.dedup();
    creds.cap_effective = cap_set(caps.and_then(|c| c.effective().as_ref()))?;
    creds.cap_permitted = cap_set(caps.and_then(|c| c.permitted().as_ref()))?;
    creds.cap_inheritable = cap_set(caps.and_then(|c| c.inheritable().as_ref()))?;
    creds.cap_bounding = cap_set(caps.and_then(|c| c.bounding().as_ref()))?;
    creds.cap_ambient = cap_set(caps.and_then(|c| c.ambient().as_ref()))?
        & creds.cap_permitted
        & creds.cap_inheritable;
    Ok(ProcessConfig {
        argv: args.into_iter().map(String::into_bytes).collect(),
        envp: process
            .env()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(String::into_bytes)
            .collect(),
        cwd: cwd.as_os_str().as_bytes().to_vec(),
        creds,
        umask: user.umask().unwrap_or(0o022),
        no_new_privs: process.no_new_privileges().unwrap_or(false),
        rlimits: rlimits(process)?,
    })
}

impl RunArgs {
    /// The `create` half of this `run`.
    fn create_args(&self) -> CreateArgs {
        CreateArgs {
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            id: self.id.clone(),
        }
    }
}

/// `rvisor run`: the container in the foreground; the exit status is its init's.
pub fn run(cli: &Cli, a: &RunArgs) -> anyhow::Result<i32> {
    if a.detach {
        // runc: create, then start, and return.
        create(cli, &a.create_args())?;
        return start(cli, &IdArgs { id: a.id.clone() });
    }
    // Foreground: create + start, passing signals on to init, then wait for the sandbox
    // process and delete the container, as `runc run` does.
    let mut set = nix::sys::signal::SigSet::empty();
    for sig in FORWARDED_TO_INIT {
        set.add(sig);
    }
    set.thread_block()
        .context("blocking the forwarded signals")?;
    let create_args = a.create_args();
    // With `process.terminal` and no console socket, the sandbox bridges our own terminal
    // (raw on the host side): its settings are restored at the end.
    let saved_termios = if a.console_socket.is_none() {
        use std::os::fd::AsFd as _;
        nix::sys::termios::tcgetattr(std::io::stdin().as_fd()).ok()
    } else {
        None
    };
    let mut child = create_inner(cli, &create_args)?;
    let remove = |cli: &Cli| {
        let _ = delete(
            cli,
            &DeleteArgs {
                force: true,
                id: a.id.clone(),
            },
        );
    };
    if let Err(e) = start(cli, &IdArgs { id: a.id.clone() }) {
        let _ = child.kill();
        let _ = child.wait();
        remove(cli);
        return Err(e);
    }
    let dir = state_dir(&cli.root, &a.id)?;
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            while let Ok(sig) = set.wait() {
                let _ = crate::control::request(
                    &dir,
                    &serde_json::json!({ "op": "kill", "signal": sig as i32 }),
                    &[],
                );
            }
        });
    let status = child.wait().context("waiting for the sandbox process")?;
    if let Some(t) = saved_termios {
        use std::os::fd::AsFd as _;
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin().as_fd(),
            nix::sys::termios::SetArg::TCSANOW,
            &t,
        );
    }
    remove(cli);
    use std::os::unix::process::ExitStatusExt as _;
    Ok(status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1))
}

/// Signals a foreground `rvisor run` passes on to the container's init.
const FORWARDED_TO_INIT: [nix::sys::signal::Signal; 7] = {
    use nix::sys::signal::Signal::*;
    [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH]
};

/// Writes `state` as the container's state.json (whole or not at all: a temporary file
/// renamed over it).
pub(crate) fn write_state(dir: &Path, state: &serde_json::Value) -> anyhow::Result<()> {
    let tmp = dir.join("state.json.tmp");
    std::fs::write(&tmp, state.to_string()).context("writing the container state")?;
    std::fs::rename(&tmp, dir.join("state.json")).context("writing the container state")?;
    Ok(())
}

/// How long `create` waits for the sandbox process to report that init is loaded.
const CREATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// `rvisor create`: validates the bundle, starts the sandbox process (`rvisor boot`, which
/// builds the sandbox and loads init without running it), writes the pid file and returns.
/// The sandbox process keeps the caller's stdio, as runc's init does, and waits for `start`
/// on a control socket in the state directory.
pub fn create(cli: &Cli, a: &CreateArgs) -> anyhow::Result<i32> {
    // The sandbox process outlives us (containerd's shim reaps it).
    create_inner(cli, a).map(|_| 0)
}

/// `create`, returning the sandbox process.
fn create_inner(cli: &Cli, a: &CreateArgs) -> anyhow::Result<std::process::Child> {
    let dir = state_dir(&cli.root, &a.id)?;
    let bundle =
        std::path::absolute(&a.bundle).with_context(|| format!("bundle {}", a.bundle.display()))?;
    // Fail at create, not at start.
    let (_, spec) = sandbox_from_bundle(&bundle)?;
    let terminal = spec
        .process()
        .as_ref()
        .is_some_and(|p| p.terminal().unwrap_or(false));
    std::fs::create_dir_all(&cli.root)
        .with_context(|| format!("creating the state root {}", cli.root.display()))?;
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("container with id exists: {}", a.id)
        }
        Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
    }
    let mut guard = StateGuard::new(dir.clone());
    let exe = std::env::current_exe().context("locating the rvisor binary")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--root").arg(&cli.root);
    cmd.arg("--platform").arg(match cli.platform {
        crate::PlatformKind::Ptrace => "ptrace",
        crate::PlatformKind::Kvm => "kvm",
    });
    if cli.debug {
        cmd.arg("--debug");
    }
    if let Some(d) = &cli.debug_log {
        cmd.arg("--debug-log").arg(d);
    }
    cmd.arg("boot").arg("--bundle").arg(&bundle).arg(&a.id);
    let console = crate::console::console_for_socket(a.console_socket.as_deref())?;
    {
        use std::os::unix::process::CommandExt as _;
        if let Some(slave) = &console {
            // The terminal is the sandbox process's stdio; it bridges it to a sandbox pty
            // (raw on the host side: the sandbox's line discipline makes ^C a SIGINT for the
            // container's foreground process group).
            let dup = || -> anyhow::Result<std::process::Stdio> {
                Ok(slave
                    .try_clone()
                    .context("duplicating the terminal")?
                    .into())
            };
            cmd.stdin(dup()?).stdout(dup()?).stderr(dup()?);
        }
        // Its own process group: a terminal's signals to the caller are not the container's.
        // Except when it bridges the caller's own terminal (process.terminal without a
        // console socket): it must stay in the terminal's foreground group to change its
        // settings (raw mode turns the terminal's signals off anyway).
        if !(terminal && a.console_socket.is_none()) {
            cmd.process_group(0);
        }
    }
    let mut child = cmd.spawn().context("starting the sandbox process")?;
    // Until the sandbox process says "created", the state names it as "creating", so a
    // `kill` or `delete --force` in between finds it.
    let _ = write_state(
        &dir,
        &serde_json::json!({
            "ociVersion": spec.version(),
            "id": a.id,
            "status": "creating",
            "pid": child.id(),
            "bundle": bundle,
            "annotations": spec.annotations().clone().unwrap_or_default(),
        }),
    );
    let deadline = std::time::Instant::now() + CREATE_TIMEOUT;
    loop {
        if let Ok(v) = load_state(&cli.root, &a.id)
            && v["status"] == "created"
        {
            break;
        }
        if let Some(st) = child
            .try_wait()
            .context("waiting for the sandbox process")?
        {
            let why = std::fs::read_to_string(dir.join("boot-error")).unwrap_or_default();
            // Nothing of the failed container stays: its cgroup goes with the state directory.
            if let Some(cg) = load_cgroup(&bundle.to_string_lossy(), &a.id, cli.systemd_cgroup) {
                let _ = cg.destroy();
            }
            if why.is_empty() {
                bail!("the sandbox process exited before the container was created ({st})");
            }
            bail!("{why}");
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            if let Some(cg) = load_cgroup(&bundle.to_string_lossy(), &a.id, cli.systemd_cgroup) {
                let _ = cg.destroy();
            }
            bail!("the sandbox process did not get ready within {CREATE_TIMEOUT:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    if let Some(p) = &a.pid_file
        && let Err(e) = std::fs::write(p, child.id().to_string())
    {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e).with_context(|| format!("writing --pid-file {}", p.display()));
    }
    guard.disarm();
    Ok(child)
}

/// `rvisor boot` (hidden): the sandbox process of a created container.
pub fn boot(cli: &Cli, a: &BootArgs) -> anyhow::Result<i32> {
    let dir = state_dir(&cli.root, &a.id)?;
    let r = boot_inner(cli, a, &dir);
    if let Err(e) = &r
        && !load_state(&cli.root, &a.id)
            .is_ok_and(|v| matches!(v["status"].as_str(), Some("created" | "running" | "paused")))
    {
        // Before "created": `create` reports this as its one error line.
        let _ = std::fs::write(dir.join("boot-error"), format!("{e:#}"));
        return Ok(125);
    }
    r
}

fn boot_inner(cli: &Cli, a: &BootArgs, dir: &Path) -> anyhow::Result<i32> {
    let (mut cfg, spec) = sandbox_from_bundle(&a.bundle)?;
    cfg.overlay |= cli.overlay2 == crate::Overlay2::RootMemory;
    if spec
        .process()
        .as_ref()
        .is_some_and(|p| p.terminal().unwrap_or(false))
    {
        // The terminal `create` made (or the caller's, for a foreground run) is our stdin:
        // bridged to a sandbox pty, it is init's controlling terminal.
        use std::os::fd::AsFd as _;
        if !nix::unistd::isatty(std::io::stdin().as_fd()).unwrap_or(false) {
            bail!("process.terminal is set but there is no terminal (use --console-socket)");
        }
        cfg.console = Some(
            std::io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .context("duplicating the terminal")?,
        );
    }
    // Before any gofer or stub exists, so all of them start in the container's cgroup and
    // network namespace.
    join_cgroup(&spec, &a.id, cli.systemd_cgroup)?;
    let own_netns = enter_network_namespace(cli, &spec)?;
    let mut ready = match prepare_sandbox(cli, cfg)? {
        Prepared::Ready(r) => r,
        Prepared::Exit(_, why) => bail!("starting the container's process: {why}"),
    };
    ready.use_oci_signals();
    apply_sysctls(&spec, ready.kernel())?;
    let listener = crate::control::bind(dir)?;
    let (start_tx, start_rx) = std::sync::mpsc::channel();
    crate::control::serve(
        listener,
        std::sync::Arc::clone(ready.kernel()),
        Some(start_tx),
    );
    let mut state = serde_json::json!({
        "ociVersion": spec.version(),
        "id": a.id,
        "status": "creating",
        "pid": std::process::id(),
        "bundle": a.bundle,
        "annotations": spec.annotations().clone().unwrap_or_default(),
    });
    // The hooks of create, on the host, with `pid` (this process) in the container's network
    // namespace: Docker's prestart hook wires the container's interfaces there.
    if let Some(h) = spec.hooks() {
        #[allow(deprecated)]
        let prestart = h.prestart();
        run_hooks("prestart", prestart.as_deref(), &state)?;
        run_hooks("createRuntime", h.create_runtime().as_deref(), &state)?;
        run_hooks("createContainer", h.create_container().as_deref(), &state)?;
    }
    // The hooks (or the CNI plugins before create) have wired the namespace: the sandbox's
    // stack takes its interfaces over before init can run.
    if cli.network == crate::NetworkMode::Sandbox {
        take_over_network(ready.kernel(), own_netns)?;
    }
    state["status"] = "created".into();
    write_state(dir, &state)?;
    if start_rx.recv().is_err() {
        bail!("the control server ended before start");
    }
    if let Some(h) = spec.hooks() {
        run_hooks("startContainer", h.start_container().as_deref(), &state)?;
    }
    state["status"] = "running".into();
    write_state(dir, &state)?;
    ready.run()
}

/// `linux.sysctl`: the values the sandbox's kernel keeps are set (net.ipv4.
/// ip_unprivileged_port_start, as Docker lowers it to 0); net.ipv4.ping_group_range is
/// accepted as the sandbox has it (every group); the others are logged as not applied.
fn apply_sysctls(
    spec: &Spec,
    kernel: &std::sync::Arc<sentry::kernel::Kernel>,
) -> anyhow::Result<()> {
    let Some(sysctls) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for (key, value) in sysctls {
        match key.as_str() {
            "net.ipv4.ip_unprivileged_port_start" => {
                let v: u32 = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|v| *v <= 65535)
                    .with_context(|| format!("linux.sysctl {key}: bad value {value:?}"))?;
                kernel
                    .unprivileged_port_start
                    .store(v, std::sync::atomic::Ordering::Relaxed);
            }
            "net.ipv4.ping_group_range" => {}
            _ => tracing::info!(sysctl = %key, value = %value, "linux.sysctl not applied"),
        }
    }
    Ok(())
}

/// `--network=sandbox`: the sandbox's netstack takes over the Ethernet interfaces of the
/// network namespace this process is in (none in a namespace the runtime made itself).
fn take_over_network(
    kernel: &std::sync::Arc<sentry::kernel::Kernel>,
    own_netns: bool,
) -> anyhow::Result<()> {
    // Taking over the host's own namespace would strip the host's addresses: the sandbox
    // needs a namespace of its own (runsc refuses the same way). Fail closed: a spec without
    // one, or a namespace that is init's (when that can be read), is refused.
    let same_as_init = match (
        std::fs::read_link("/proc/thread-self/ns/net"),
        std::fs::read_link("/proc/1/ns/net"),
    ) {
        (Ok(ours), Ok(init)) => ours == init,
        _ => false,
    };
    if !own_netns || same_as_init {
        bail!(
            "the container would share the host's network namespace, which --network=sandbox \
             cannot take over: give it a network namespace of its own, or use --network=none \
             (host networking is not built)"
        );
    }
    let stack = kernel
        .net_stack()
        .map_err(|e| anyhow::anyhow!("starting the sandbox's network stack: {e}"))?;
    for t in crate::netns::take_over(&stack).context("taking over the container's network")? {
        tracing::info!(interface = %t.name, addrs = ?t.addrs, "interface served by the sandbox");
    }
    if crate::dns_relay::docker_dns_present() {
        crate::dns_relay::start(&stack).context("relaying Docker's embedded DNS")?;
    }
    Ok(())
}

/// The spec's `linux.cgroupsPath` (None: runc's default, named after the container; with
/// `--systemd-cgroup`, systemd's default unit).
fn cgroups_path(spec: &Spec, id: &str, systemd: bool) -> Option<String> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.display().to_string())
        .or_else(|| systemd.then(|| crate::cgroup::systemd_default_path(id)))
}

/// Makes the container's cgroup with `linux.resources` applied and moves this process (the
/// sandbox process, before it starts gofers and stubs) into it. A cgroup the spec names must
/// work; runc's default one is best effort (a warning), so a host without writable cgroups
/// still runs containers.
fn join_cgroup(spec: &Spec, id: &str, systemd: bool) -> anyhow::Result<()> {
    // process.oomScoreAdj, inherited by the gofers and stubs started after this.
    if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .with_context(|| format!("setting process.oomScoreAdj {adj}"))?;
    }
    let path = cgroups_path(spec, id, systemd);
    let resources = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .map(host_resources);
    let r = crate::cgroup::Cgroup::create(path.as_deref(), id, resources.as_ref()).and_then(|cg| {
        cg.add_pid(i32::try_from(std::process::id()).unwrap_or(0))
            .inspect_err(|_| {
                let _ = cg.destroy();
            })
    });
    match r {
        Ok(()) => Ok(()),
        Err(e) if path.is_none() => {
            tracing::warn!(error = %format!("{e:#}"), "no cgroup for the container");
            Ok(())
        }
        Err(e) => Err(e.context("setting up the container's cgroup")),
    }
}

/// `resources` as the sandbox's host cgroup needs them: each sandbox task is a sentry thread
/// plus a stub thread, and the sentry, gofers and stub processes have threads of their own,
/// so a pids limit N (which the sentry enforces on tasks itself) becomes 2N + 64 there.
pub(crate) fn host_resources(
    resources: &oci_spec::runtime::LinuxResources,
) -> oci_spec::runtime::LinuxResources {
    let mut r = resources.clone();
    if let Some(p) = r.pids().as_ref().map(|p| p.limit())
        && p > 0
    {
        let mut pids = oci_spec::runtime::LinuxPids::default();
        pids.set_limit(p.saturating_mul(2).saturating_add(64));
        r.set_pids(Some(pids));
    }
    r
}

/// The cgroup of the container whose bundle is `bundle`, if it has one.
pub(crate) fn load_cgroup(bundle: &str, id: &str, systemd: bool) -> Option<crate::cgroup::Cgroup> {
    let spec = bundle_spec(bundle)?;
    crate::cgroup::Cgroup::load(cgroups_path(&spec, id, systemd).as_deref(), id).ok()
}

/// `rvisor start`: runs a created container's init.
pub fn start(cli: &Cli, a: &IdArgs) -> anyhow::Result<i32> {
    let v = load_state(&cli.root, &a.id)?;
    match v["status"].as_str() {
        Some("created") => {}
        Some("running" | "paused") => bail!("cannot start an already running container {}", a.id),
        _ => bail!("cannot start a container that has stopped: {}", a.id),
    }
    let dir = state_dir(&cli.root, &a.id)?;
    crate::control::request(&dir, &serde_json::json!({ "op": "start" }), &[])
        .with_context(|| format!("starting {}", a.id))?;
    late_hooks(&v, "poststart", "running", |h| h.poststart().clone());
    Ok(0)
}

/// Runs the `kind` hooks of the container whose state is `state` (as `status`): poststart and
/// poststop, whose failures are warnings (runtime-spec), from a later `rvisor` command that
/// reads them from the bundle again.
fn late_hooks(
    state: &serde_json::Value,
    kind: &str,
    status: &str,
    pick: impl Fn(&oci_spec::runtime::Hooks) -> Option<Vec<oci_spec::runtime::Hook>>,
) {
    let Some(hooks) = bundle_spec(state["bundle"].as_str().unwrap_or_default())
        .and_then(|s| s.hooks().as_ref().and_then(&pick))
    else {
        return;
    };
    let mut st = state.clone();
    st["status"] = status.into();
    if let Err(e) = run_hooks(kind, Some(&hooks), &st) {
        eprintln!("rvisor: warning: {e:#}");
    }
}

/// The spec of a bundle, if it still reads.
fn bundle_spec(bundle: &str) -> Option<Spec> {
    let text = std::fs::read_to_string(Path::new(bundle).join("config.json")).ok()?;
    serde_json::from_str::<Spec>(&text).ok()
}

/// Runs OCI hooks in order on the host: `path` with `args` (args[0] as argv[0]) and exactly
/// `env`, the state JSON on stdin, killed after `timeout` seconds. The first failure ends it.
fn run_hooks(
    kind: &str,
    hooks: Option<&[oci_spec::runtime::Hook]>,
    state: &serde_json::Value,
) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt as _;
    for h in hooks.unwrap_or_default() {
        let path = h.path();
        let args = h.args().clone().unwrap_or_default();
        let mut cmd = std::process::Command::new(path);
        if let Some(a0) = args.first() {
            cmd.arg0(a0);
        }
        cmd.args(args.iter().skip(1));
        cmd.env_clear();
        for e in h.env().clone().unwrap_or_default() {
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("{kind} hook {}", path.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A hook that does not read its state is fine (EPIPE).
            let _ = stdin.write_all(state.to_string().as_bytes());
        }
        let timeout = h
            .timeout()
            .map(|t| std::time::Duration::from_secs(u64::try_from(t.max(1)).unwrap_or(1)));
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(st) = child
                .try_wait()
                .with_context(|| format!("{kind} hook {}", path.display()))?
            {
                break st;
            }
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{kind} hook {} timed out", path.display());
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        };
        if !status.success() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            bail!(
                "{kind} hook {} failed ({status}){}{}",
                path.display(),
                if err.trim().is_empty() { "" } else { ": " },
                err.trim()
            );
        }
    }
    Ok(())
}

/// Moves this process (before it starts gofers or stubs, which inherit it) into the
/// network namespace the spec asks for: the one at `path`, or a new one; none listed means
/// the host's, as runc does.
fn enter_network_namespace(cli: &Cli, spec: &Spec) -> anyhow::Result<bool> {
    use oci_spec::runtime::LinuxNamespaceType;
    match cli.network {
        crate::NetworkMode::Sandbox => {}
        crate::NetworkMode::None => {
            return nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .context("creating an empty network namespace (--network=none)")
                .map(|()| true);
        }
        crate::NetworkMode::Host => bail!(
            "--network=host is not built: the sandbox has no host-socket mode (use sandbox or none)"
        ),
    }
    let Some(ns) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|n| n.iter().find(|n| n.typ() == LinuxNamespaceType::Network))
    else {
        return Ok(false);
    };
    match ns.path() {
        Some(p) => {
            let f = std::fs::File::open(p)
                .with_context(|| format!("network namespace {}", p.display()))?;
            let before = netns_id()?;
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
                .with_context(|| format!("joining the network namespace {}", p.display()))?;
            // A path to the namespace we were already in (Docker's --network host names
            // the host's) is not one of the container's own.
            return Ok(netns_id()? != before);
        }
        None => nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .context("creating the container's network namespace")?,
    }
    Ok(true)
}

/// The calling thread's network namespace, as `net:[inode]`.
fn netns_id() -> anyhow::Result<PathBuf> {
    std::fs::read_link("/proc/thread-self/ns/net").context("reading /proc/thread-self/ns/net")
}

/// `rvisor state`: the OCI state JSON.
pub fn state(cli: &Cli, a: &IdArgs) -> anyhow::Result<i32> {
    let v = load_state(&cli.root, &a.id)?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(0)
}

/// A signal given as a number or a name, with or without SIG.
pub(crate) fn parse_signal(s: &str) -> anyhow::Result<nix::sys::signal::Signal> {
    use std::str::FromStr as _;
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n)
            .map_err(|_| anyhow::anyhow!("unknown signal {s:?}"));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    nix::sys::signal::Signal::from_str(&name).map_err(|_| anyhow::anyhow!("unknown signal {s:?}"))
}

/// `rvisor kill`: the signal goes to init as from outside its pid namespace (or, with
/// `--all`, to every process), through the control socket; SIGKILL also works when the
/// sandbox process no longer answers.
pub fn kill(cli: &Cli, a: &KillArgs) -> anyhow::Result<i32> {
    let sig = parse_signal(&a.signal)?;
    let v = load_state(&cli.root, &a.id)?;
    if !matches!(
        v["status"].as_str(),
        Some("running" | "created" | "paused" | "creating")
    ) {
        bail!("cannot kill {}: container not running", a.id);
    }
    let dir = state_dir(&cli.root, &a.id)?;
    let req = serde_json::json!({ "op": "kill", "signal": sig as i32, "all": a.all });
    match crate::control::request(&dir, &req, &[]) {
        Ok(_) => Ok(0),
        Err(_) if sig == nix::sys::signal::Signal::SIGKILL => {
            let pid = state_pid(&v);
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig)
                .with_context(|| format!("signalling {}", a.id))?;
            Ok(0)
        }
        Err(e) => Err(e).with_context(|| format!("signalling {}", a.id)),
    }
}

/// `rvisor delete`.
pub fn delete(cli: &Cli, a: &DeleteArgs) -> anyhow::Result<i32> {
    let dir = state_dir(&cli.root, &a.id)?;
    let v = match load_state(&cli.root, &a.id) {
        Ok(v) => v,
        Err(_) if a.force && !dir.exists() => return Ok(0),
        Err(e) => return Err(e),
    };
    // A created container is deleted with its sandbox process, as runc does; a running one
    // only with --force.
    if matches!(
        v["status"].as_str(),
        Some("running" | "created" | "paused" | "creating")
    ) {
        if matches!(v["status"].as_str(), Some("running" | "paused")) && !a.force {
            bail!(
                "cannot delete container {} that is not stopped: {}",
                a.id,
                v["status"].as_str().unwrap_or_default()
            );
        }
        let pid = state_pid(&v);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        for _ in 0..200 {
            if !alive(pid) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    late_hooks(&v, "poststop", "stopped", |h| h.poststop().clone());
    if let Some(cg) = load_cgroup(
        v["bundle"].as_str().unwrap_or_default(),
        &a.id,
        cli.systemd_cgroup,
    ) {
        // Whatever is still in the container's cgroup (a stub or gofer whose sandbox process
        // was killed) goes with it, as runc kills a cgroup's leftovers.
        for pid in cg.pids().unwrap_or_default() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = cg.destroy();
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(0)
}

/// `rvisor features`: what this runtime supports, in runc's JSON shape (only what is built:
/// no seccomp, AppArmor or SELinux handling; systemd cgroup paths are mapped, not managed
/// through systemd).
pub fn features() -> anyhow::Result<i32> {
    let caps: Vec<String> = abi::cap::NAMES.iter().map(|n| format!("CAP_{n}")).collect();
    let v = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["bind", "rbind", "ro", "rw", "size", "mode"],
        "linux": {
            "namespaces": ["mount", "pid", "ipc", "uts", "network"],
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": { "enabled": false },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
        },
        "annotations": { "io.github.rvisor.version": env!("CARGO_PKG_VERSION") },
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(0)
}

/// `rvisor list`.
pub fn list(cli: &Cli, a: &ListArgs) -> anyhow::Result<i32> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&cli.root) {
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if let Ok(v) = load_state(&cli.root, &id) {
                out.push(v);
            }
        }
    }
    out.sort_by(|x, y| x["id"].as_str().cmp(&y["id"].as_str()));
    let mut stdout = std::io::stdout().lock();
    if a.quiet {
        for v in &out {
            writeln!(stdout, "{}", v["id"].as_str().unwrap_or_default())?;
        }
    } else if a.format == "json" {
        writeln!(stdout, "{}", serde_json::to_string(&out)?)?;
    } else {
        writeln!(stdout, "ID\tPID\tSTATUS\tBUNDLE")?;
        for v in &out {
            writeln!(
                stdout,
                "{}\t{}\t{}\t{}",
                v["id"].as_str().unwrap_or_default(),
                v["pid"],
                v["status"].as_str().unwrap_or_default(),
                v["bundle"].as_str().unwrap_or_default()
            )?;
        }
    }
    Ok(0)
}
