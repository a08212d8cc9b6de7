//! `rvisor do CMD ARGS...`: run one command in a sandbox whose root is the host's "/" (or
//! `--rootfs DIR`), served by a gofer process, with a sandbox devfs at /dev and a tmpfs at
//! /dev/shm. By default the root is an overlay (`vfs::overlay`): the gofer serves it read-only
//! and every write lands in an in-sentry tmpfs layer that vanishes with the sandbox, as
//! `runsc do` (`--overlay2=root:memory`) does — so the host's /tmp is visible and a write to
//! it stays in the sandbox. `--overlay=none` writes through the gofer to the directory itself;
//! `--read-only` serves the root read-only with no layer on top (EROFS). Stdio is passed
//! through; the exit status is the command's (128+N if killed by signal N).
//!
//! `--volume HOST:SANDBOX[:ro]` serves more host directories, each through a gofer of its
//! own, mounted at SANDBOX (created through the overlay if missing): an OCI bind mount, with
//! writes going straight to the host directory unless read-only.
//!
//! /proc and /sys are the sandbox's own procfs and sysfs (sentry::fs), generated from its task
//! table, so the gofer never serves the host's.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use abi::Errno;
use anyhow::{Context as _, bail};
use clap::Args;
use sentry::kernel::{Credentials, Kernel, KernelConfig, Spawn, Task, TaskCreateError};
use sentry::strace::Strace;
use vfs::memfile::MemoryFile;
use vfs::{Creds, Lookup, MountNamespace};

use crate::{Cli, PlatformKind};

#[derive(Debug, Args)]
pub struct DoArgs {
    /// The most tasks (threads of all processes) the sandbox may hold, like `docker run
    /// --pids-limit`; fork and clone fail with EAGAIN beyond it.
    #[arg(long, default_value_t = sentry::kernel::MAX_TASKS)]
    pids_limit: usize,
    /// The most memory the sandbox may use, in bytes or with a k/m/g/t suffix (like `docker
    /// run --memory`): application memory and tmpfs/overlay file data count against it;
    /// allocations past it fail (mmap ENOMEM, tmpfs ENOSPC) and a page fault past it
    /// OOM-kills the sandbox process with the largest resident set.
    #[arg(long, value_parser = sentry::kernel::oom::parse_memory_size)]
    memory_limit: Option<u64>,
    /// How the root may be cached (as runsc's flag): `exclusive` — the sandbox owns the
    /// files, so attributes, directory listings and open host fds are cached and only the
    /// sandbox's own changes invalidate them; `shared` — files may change outside the
    /// sandbox, so every open asks the gofer again and re-reads the attributes.
    #[arg(long, value_enum, default_value_t = FileAccess::Exclusive)]
    file_access: FileAccess,
    /// Let the gofer hand the sentry host fds of opened files, so file data moves with
    /// pread/pwrite straight into the application's memory (as runsc's lisafs does);
    /// `false` moves every byte through 9P Tread/Twrite instead.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    fd_donation: bool,
    /// The directory that becomes the sandbox's root (default: the host's "/"). The command
    /// then starts in "/" unless `--cwd` says otherwise.
    #[arg(long, value_name = "DIR")]
    rootfs: Option<std::path::PathBuf>,
    /// Where writes to the root go: `memory` — an overlay, in the sandbox's memory, over the
    /// root served read-only (the host directory never changes; runsc's
    /// `--overlay2=root:memory`); `none` — straight through the gofer to the directory
    /// (runsc's `--overlay2=none`).
    #[arg(long, value_enum, default_value_t = Overlay::Memory)]
    overlay: Overlay,
    /// Serve the root read-only with no overlay: every write to it fails with EROFS (like an
    /// OCI spec's `root.readonly`).
    #[arg(long)]
    read_only: bool,
    /// A host directory (or file's directory) to serve at a path in the sandbox, like
    /// `docker run -v` and an OCI bind mount: `HOST:SANDBOX[:ro|:rw]`. Each is served by a
    /// gofer of its own; writes go straight to the host directory (no overlay), unless `ro`.
    /// A missing mount point is created in the root (through the overlay). Repeatable.
    #[arg(long = "volume", short = 'v', value_name = "HOST:SANDBOX[:ro]")]
    volumes: Vec<String>,
    /// The working directory the command starts in (default: the caller's, or "/" with
    /// `--rootfs`).
    #[arg(long, value_name = "DIR")]
    cwd: Option<std::path::PathBuf>,
    /// OCI-style console: make a host pty, send its master to the AF_UNIX socket at PATH and
    /// run the command on a sandbox pty bridged to it (hidden: for tests of the bridge).
    #[arg(long, hide = true, value_name = "PATH")]
    console_socket: Option<std::path::PathBuf>,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<OsString>,
}

/// One `--volume HOST:SANDBOX[:ro|:rw]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub host: std::path::PathBuf,
    pub target: Vec<u8>,
    pub readonly: bool,
}

/// Parses `HOST:SANDBOX[:ro|:rw]`: both paths absolute.
fn parse_volume(spec: &str) -> anyhow::Result<Volume> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, target, readonly) = match parts.as_slice() {
        [h, t] => (*h, *t, false),
        [h, t, "ro"] => (*h, *t, true),
        [h, t, "rw"] => (*h, *t, false),
        _ => bail!("--volume {spec}: expected HOST:SANDBOX[:ro|:rw]"),
    };
    if !host.starts_with('/') || !target.starts_with('/') {
        bail!("--volume {spec}: both paths must be absolute");
    }
    let meta = std::fs::metadata(host).with_context(|| format!("--volume {spec}: {host}"))?;
    if !meta.is_dir() && !meta.is_file() {
        bail!("--volume {spec}: {host} is neither a directory nor a regular file");
    }
    Ok(Volume {
        host: host.into(),
        target: target.as_bytes().to_vec(),
        readonly,
    })
}

/// The runtime's view of the sandbox's tree while it builds it: root's credentials, from the
/// namespace root.
struct RootView {
    root: vfs::VfsPath,
    creds: Creds,
}

impl RootView {
    fn new(ns: &MountNamespace) -> RootView {
        RootView {
            root: ns.root(),
            creds: Creds::root(),
        }
    }

    fn lookup(&self) -> Lookup<'_> {
        Lookup {
            root: &self.root,
            start: &self.root,
            creds: &self.creds,
        }
    }
}

/// An OCI spec's `linux.maskedPaths` and `linux.readonlyPaths`, as runc applies them: a
/// masked directory is covered by an empty read-only tmpfs, a masked file by a null device
/// (reads give nothing, writes vanish); a read-only path is a read-only bind mount of itself.
/// Paths that do not exist are skipped.
fn mask_paths(
    ns: &MountNamespace,
    mf: &Arc<MemoryFile>,
    masked: &[Vec<u8>],
    readonly: &[Vec<u8>],
) -> anyhow::Result<()> {
    let view = RootView::new(ns);
    let l = view.lookup();
    let fail = |what: &str, p: &[u8], e: Errno| {
        anyhow::anyhow!("{what} {}: {}", String::from_utf8_lossy(p), describe(e))
    };
    // One small tmpfs holds the null device masked files show.
    let nullfs = vfs::tmpfs::new_filesystem(0o755, &view.creds, Arc::clone(mf));
    nullfs
        .root()
        .mknod(
            b"null",
            vfs::InodeKind::CharDev,
            0o666,
            abi::file::makedev(vfs::device::MEM_MAJOR, vfs::device::NULL_MINOR),
            &view.creds,
        )
        .map_err(|e| fail("masking", b"(null device)", e))?;
    let null = nullfs
        .root()
        .lookup(b"null")
        .map_err(|e| fail("masking", b"(null device)", e))?;
    for p in masked {
        let Ok(target) = l.resolve(p, true) else {
            continue;
        };
        if target.is_dir() {
            let empty = vfs::tmpfs::new_filesystem(0o755, &view.creds, Arc::clone(mf));
            let eroot = empty.root();
            ns.mount_inode(&target, empty, eroot)
                .map_err(|e| fail("masking", p, e))?
                .set_readonly(true);
        } else {
            ns.mount_inode(&target, Arc::clone(&nullfs), Arc::clone(&null))
                .map_err(|e| fail("masking", p, e))?;
        }
    }
    for p in readonly {
        let Ok(target) = l.resolve(p, true) else {
            continue;
        };
        let fs = Arc::clone(target.mount().filesystem());
        let inode = Arc::clone(target.inode());
        ns.mount_inode(&target, fs, inode)
            .map_err(|e| fail("making read-only", p, e))?
            .set_readonly(true);
    }
    Ok(())
}

/// Creates `path` as an empty file (mode 0644; its parents as directories) unless something
/// is there already: the mount point of a file bind mount.
fn make_file_mount_point(ns: &MountNamespace, path: &[u8]) -> anyhow::Result<()> {
    let parent = match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[..i],
        None => b"",
    };
    make_mount_point(ns, parent)?;
    let view = RootView::new(ns);
    let l = view.lookup();
    match l.mknod(path, abi::file::S_IFREG | 0o644, 0) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => bail!(
            "creating mount point {}: {}",
            String::from_utf8_lossy(path),
            describe(e)
        ),
    }
}

/// Creates `path` and its missing parents in the sandbox's root (mode 0755), as runsc makes
/// mount points in its overlay.
fn make_mount_point(ns: &MountNamespace, path: &[u8]) -> anyhow::Result<()> {
    let view = RootView::new(ns);
    let l = view.lookup();
    let mut cur = Vec::new();
    for comp in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        cur.push(b'/');
        cur.extend_from_slice(comp);
        match l.mkdir(&cur, 0o755) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => bail!(
                "creating mount point {}: {}",
                String::from_utf8_lossy(path),
                describe(e)
            ),
        }
    }
    Ok(())
}

/// `--overlay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Overlay {
    Memory,
    None,
}

/// `--file-access`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum FileAccess {
    Exclusive,
    Shared,
}

/// The gofer child; killed and reaped when dropped, so no path leaves it behind.
pub struct GoferProcess(Child);

impl Drop for GoferProcess {
    fn drop(&mut self) {
        // It exits by itself when the socket closes; kill covers the error paths.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_gofer(
    root: &std::path::Path,
    readonly: bool,
    fd_donation: bool,
) -> anyhow::Result<(GoferProcess, UnixStream)> {
    let (ours, theirs) = UnixStream::pair().context("creating the gofer socket pair")?;
    let exe = std::env::current_exe().context("locating the rvisor binary")?;
    let mut args: Vec<&std::ffi::OsStr> = vec!["gofer".as_ref(), "--root".as_ref(), root.as_ref()];
    if readonly {
        args.push("--readonly".as_ref());
    }
    if !fd_donation {
        args.push("--no-fd-donation".as_ref());
    }
    let child = Command::new(exe)
        .args(args)
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the gofer")?;
    Ok((GoferProcess(child), ours))
}

/// The sandbox's stdin, stdout and stderr: host-fd files over duplicates of ours. Host fds
/// that share one open file description (the shell's `>out 2>&1`) share one sandbox
/// description too, so their offset stays common and the output interleaves as natively.
fn stdio_files() -> anyhow::Result<[Arc<vfs::OpenFile>; 3]> {
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let mut dups = Vec::with_capacity(3);
    for (i, fd) in [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()]
        .iter()
        .enumerate()
    {
        dups.push(
            fd.try_clone_to_owned()
                .with_context(|| format!("duplicating stdio fd {i}"))?,
        );
    }
    let dups: [std::os::fd::OwnedFd; 3] = dups
        .try_into()
        .map_err(|_| anyhow::anyhow!("stdio: expected three files"))?;
    host_stdio(dups)
}

/// The application's stdin, stdout and stderr over three host fds; fds that share one open
/// file description (a terminal on all three, `2>&1`) become one sandbox file, so they share
/// offset and flags as they would on Linux.
pub(crate) fn host_stdio(
    fds: [std::os::fd::OwnedFd; 3],
) -> anyhow::Result<[Arc<vfs::OpenFile>; 3]> {
    let mut files: Vec<Arc<vfs::OpenFile>> = Vec::with_capacity(3);
    let mut seen: Vec<std::os::fd::OwnedFd> = Vec::with_capacity(3);
    for (i, fd) in fds.into_iter().enumerate() {
        let earlier = seen
            .iter()
            .position(|e| crate::hostcall::same_description(e.as_fd(), fd.as_fd()) == Some(true));
        if let Some(f) = earlier.and_then(|j| files.get(j)) {
            let f = Arc::clone(f);
            files.push(f);
            seen.push(fd);
            continue;
        }
        let dup = fd
            .try_clone()
            .with_context(|| format!("duplicating stdio fd {i}"))?;
        seen.push(fd);
        let f = vfs::hostfd::host_file(dup)
            .map_err(|e| anyhow::anyhow!("wrapping stdio fd {i}: {}", describe(e)))?;
        files.push(f);
    }
    files
        .try_into()
        .map_err(|_| anyhow::anyhow!("stdio: expected three files"))
}

/// Human text for an errno, as the host's strerror has it (this is the CLI, a host boundary).
pub(crate) fn describe(e: Errno) -> String {
    let s = std::io::Error::from_raw_os_error(e.raw()).to_string();
    s.split(" (os error").next().unwrap_or(&s).to_string()
}

fn host_uts() -> abi::uts::Utsname {
    let u = nix::sys::utsname::uname().ok();
    let get = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr,
               dflt: &[u8]|
     -> [u8; abi::uts::UTS_LEN] {
        abi::uts::Utsname::field(u.as_ref().map_or(dflt, |u| f(u).as_bytes()))
    };
    abi::uts::Utsname {
        sysname: abi::uts::Utsname::field(b"Linux"),
        nodename: get(|u| u.nodename(), b"rvisor"),
        release: get(|u| u.release(), b"6.1.0"),
        version: get(|u| u.version(), b"#1 SMP"),
        machine: abi::uts::Utsname::field(b"x86_64"),
        domainname: get(|u| u.domainname(), b"(none)"),
    }
}

/// Mounts `fs` on `path` if that directory exists in the root.
fn mount_if_present(
    ns: &MountNamespace,
    path: &[u8],
    fs: Arc<dyn vfs::Filesystem>,
) -> anyhow::Result<()> {
    let view = RootView::new(ns);
    let l = view.lookup();
    match l.resolve(path, true) {
        Ok(target) if target.is_dir() => ns.mount(&target, fs).map_err(|e| {
            anyhow::anyhow!(
                "mounting {}: {}",
                String::from_utf8_lossy(path),
                describe(e)
            )
        }),
        _ => {
            tracing::info!(path = %String::from_utf8_lossy(path), "mount point missing in the root; skipped");
            Ok(())
        }
    }
}

/// Finds `cmd` the way execvp(3) does: as given if it contains a '/', else in each PATH
/// directory of the sandbox, first executable regular file wins.
pub(crate) fn find_command(ns: &MountNamespace, cmd: &[u8], path_env: &[u8]) -> Vec<u8> {
    if cmd.contains(&b'/') {
        return cmd.to_vec();
    }
    let view = RootView::new(ns);
    let l = view.lookup();
    for dir in path_env.split(|&b| b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let mut cand = dir.to_vec();
        cand.push(b'/');
        cand.extend_from_slice(cmd);
        if let Ok(p) = l.resolve(&cand, true)
            && p.stat()
                .is_ok_and(|st| st.mode & abi::file::S_IFMT == abi::file::S_IFREG)
            && p.check_access(&view.creds, 1).is_ok()
        {
            return cand;
        }
    }
    cmd.to_vec()
}

/// Signals `rvisor do` passes on to the sandbox's init (as `runsc do` does): a `kill` of the
/// runtime process means the workload.
const FORWARDED: [nix::sys::signal::Signal; 6] = [
    nix::sys::signal::Signal::SIGHUP,
    nix::sys::signal::Signal::SIGINT,
    nix::sys::signal::Signal::SIGQUIT,
    nix::sys::signal::Signal::SIGTERM,
    nix::sys::signal::Signal::SIGUSR1,
    nix::sys::signal::Signal::SIGUSR2,
];

/// Blocks the forwarded signals in this thread (every thread started later inherits the
/// mask) and returns the set for the forwarding thread to wait on.
fn block_forwarded_signals() -> anyhow::Result<nix::sys::signal::SigSet> {
    let mut set = nix::sys::signal::SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set.thread_block()
        .context("blocking the forwarded signals")?;
    Ok(set)
}

/// Forwards each signal the runtime receives to init until the kernel is gone.
fn start_signal_forwarder(kernel: &Arc<Kernel>, set: nix::sys::signal::SigSet, oci: bool) {
    let k = Arc::downgrade(kernel);
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            while let Ok(sig) = set.wait() {
                let Some(k) = k.upgrade() else {
                    return;
                };
                tracing::debug!(signal = ?sig, "forwarding a host signal to init");
                if oci {
                    // As runc forwards to the container's init: pid_namespaces(7) rules.
                    let _ = k.signal_process(1, sig as i32);
                } else {
                    k.signal_init_from_host(sig as i32);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(%e, "no signal forwarding: cannot start its thread");
    }
}

/// A tmpfs mounted at `target` (`--tmpfs`, an OCI tmpfs mount).
#[derive(Debug, Clone)]
pub struct TmpfsMount {
    pub target: Vec<u8>,
    pub size: Option<u64>,
    pub mode: u32,
}

/// A process to start in the sandbox (init, or an `exec`'d one).
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// Absolute, in the sandbox.
    pub cwd: Vec<u8>,
    pub creds: Credentials,
    pub umask: u32,
    pub no_new_privs: bool,
    /// (RLIMIT_*, soft, hard) replacing the defaults.
    pub rlimits: Vec<(u32, u64, u64)>,
}

/// Everything one sandbox run needs, whoever asked for it (`rvisor do`, `rvisor run`).
#[derive(Debug)]
pub struct SandboxConfig {
    /// Host directory served as the root.
    pub rootfs: std::path::PathBuf,
    /// Writes land in an in-memory overlay (else they go through to `rootfs`).
    pub overlay: bool,
    /// The root refuses writes (EROFS); wins over `overlay`.
    pub read_only: bool,
    pub volumes: Vec<Volume>,
    pub tmpfs: Vec<TmpfsMount>,
    pub memory_limit: Option<u64>,
    pub pids_limit: usize,
    /// `--file-access=shared`.
    pub shared_files: bool,
    pub fd_donation: bool,
    /// uname's nodename (default: the host's).
    pub hostname: Option<Vec<u8>>,
    /// init.
    pub process: ProcessConfig,
    /// uname's domainname (default: "(none)").
    pub domainname: Option<Vec<u8>>,
    /// Paths hidden (`linux.maskedPaths`) and made read-only (`linux.readonlyPaths`).
    pub masked_paths: Vec<Vec<u8>>,
    pub readonly_paths: Vec<Vec<u8>>,
    /// A host terminal (a pty slave) to bridge to a sandbox pty that becomes init's stdio and
    /// controlling terminal (`--console-socket`, an OCI `process.terminal`).
    pub console: Option<std::os::fd::OwnedFd>,
}

/// The PATH a command is looked up in: the sandbox environment's, else the default.
pub(crate) fn path_of(envp: &[Vec<u8>]) -> Vec<u8> {
    envp.iter()
        .find_map(|e| e.strip_prefix(b"PATH="))
        .map_or_else(
            || b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_vec(),
            <[u8]>::to_vec,
        )
}

pub fn run(cli: &Cli, a: &DoArgs) -> anyhow::Result<i32> {
    let console = crate::console::console_for_socket(a.console_socket.as_deref())?;
    let rootfs = match &a.rootfs {
        Some(d) => {
            let meta = std::fs::metadata(d).with_context(|| format!("--rootfs {}", d.display()))?;
            if !meta.is_dir() {
                bail!("--rootfs {}: not a directory", d.display());
            }
            d.clone()
        }
        None => std::path::PathBuf::from("/"),
    };
    let volumes = a
        .volumes
        .iter()
        .map(|v| parse_volume(v))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let argv: Vec<Vec<u8>> = a.cmd.iter().map(|s| s.as_bytes().to_vec()).collect();
    let envp: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k.into_vec();
            e.push(b'=');
            e.extend_from_slice(v.as_bytes());
            e
        })
        .collect();
    // Like `runsc do`, the command starts in the caller's working directory (which is the
    // same place inside when the root is the host's).
    let cwd = match (&a.cwd, &a.rootfs) {
        (Some(d), _) => d.clone().into_os_string().into_vec(),
        (None, Some(_)) => b"/".to_vec(),
        (None, None) => std::env::current_dir()
            .map_or_else(|_| b"/".to_vec(), |p| p.into_os_string().into_vec()),
    };
    run_sandbox(
        cli,
        SandboxConfig {
            rootfs,
            overlay: a.overlay == Overlay::Memory,
            read_only: a.read_only,
            volumes,
            tmpfs: Vec::new(),
            memory_limit: a.memory_limit,
            pids_limit: a.pids_limit,
            shared_files: a.file_access == FileAccess::Shared,
            fd_donation: a.fd_donation,
            hostname: None,
            process: ProcessConfig {
                argv,
                envp,
                cwd,
                creds: Credentials::root(),
                umask: 0o022,
                no_new_privs: false,
                rlimits: Vec::new(),
            },
            domainname: None,
            masked_paths: Vec::new(),
            readonly_paths: Vec::new(),
            console,
        },
    )
}

/// Builds the sandbox `c` describes, runs its init to the end and returns the shell-style
/// exit status (128+N for a signal; 127/126 when the command is missing / not executable).
pub fn run_sandbox(cli: &Cli, c: SandboxConfig) -> anyhow::Result<i32> {
    match prepare_sandbox(cli, c)? {
        Prepared::Ready(s) => s.run(),
        Prepared::Exit(code, why) => {
            eprintln!("rvisor: {why}");
            Ok(code)
        }
    }
}

/// A sandbox whose init is loaded but not running yet (`rvisor create`), or the exit status
/// to report when the command could not be loaded, with the reason.
pub enum Prepared {
    Ready(Box<ReadySandbox>),
    Exit(i32, String),
}

/// See [`Prepared`].
pub struct ReadySandbox {
    kernel: Arc<Kernel>,
    task: Task,
    mounts: Arc<MountNamespace>,
    gofers: Vec<GoferProcess>,
    forwarded: nix::sys::signal::SigSet,
    /// Host signals reach init with the rules of a sender in an ancestor pid namespace (the
    /// OCI commands), not as `rvisor do`'s "the command itself was signalled".
    oci_signals: bool,
    console: Option<sentry::tty::console::ConsoleHandle>,
}

impl std::fmt::Debug for ReadySandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadySandbox").finish_non_exhaustive()
    }
}

impl ReadySandbox {
    /// The sandbox's kernel (the OCI control server adds processes to it).
    pub fn kernel(&self) -> &Arc<Kernel> {
        &self.kernel
    }

    /// Host signals to this process reach init as `kill` from outside a pid namespace does.
    pub fn use_oci_signals(&mut self) {
        self.oci_signals = true;
    }

    /// Runs init to the end; the shell-style exit status.
    pub fn run(self) -> anyhow::Result<i32> {
        start_signal_forwarder(&self.kernel, self.forwarded, self.oci_signals);
        let status = self
            .kernel
            .run_init(self.task)
            .context("sandbox platform failure")?;
        tracing::debug!(?status, "init exited");
        drop(self.console);
        drop(self.kernel);
        drop(self.mounts);
        drop(self.gofers);
        Ok(status.shell_code())
    }
}

/// Builds the sandbox `c` describes and loads its init, without running it.
pub fn prepare_sandbox(cli: &Cli, c: SandboxConfig) -> anyhow::Result<Prepared> {
    let forwarded = block_forwarded_signals()?;
    if cli.platform == PlatformKind::Kvm {
        platform_kvm::KvmPlatform::new().map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let strace = if cli.strace || !cli.strace_syscalls.is_empty() {
        Strace::new(&cli.strace_syscalls, cli.strace_log_size).map_err(|e| anyhow::anyhow!(e))?
    } else {
        Strace::disabled()
    };
    let Some(cmd0) = c.process.argv.first().cloned() else {
        bail!("no command given")
    };

    // The sentry keeps donated host fds of the rootfs open (vfs::p9fs caches up to 1024), and
    // the gofer holds an fd per cached dentry: keep that cache within half of what the gofer
    // (which inherits our limit and raises it the same way) may open.
    let nofile = crate::hostcall::raise_nofile_limit();
    vfs::set_dentry_cache_limit(vfs::MAX_EVICTABLE.min(nofile / 2));
    // The gofer serves read-only unless the sandbox writes through to the directory.
    // A read-only root is an overlay too (so the runtime can make mount points in its upper
    // layer) whose mount is then made read-only, as runc remounts the root read-only after
    // setting up its mounts; `--overlay=none --read-only` serves the host tree read-only.
    let overlay = c.overlay;
    let gofer_readonly = c.read_only || overlay;
    let (gofer, sock) = spawn_gofer(&c.rootfs, gofer_readonly, c.fd_donation)?;
    let client = vfs::p9client::Client::new(sock)
        .map_err(|e| anyhow::anyhow!("connecting to the gofer: {}", describe(e)))?;
    // tmpfs files keep their pages in the MemoryFile, so MAP_SHARED mappings of them share;
    // the rootfs caches mapped file pages there too.
    let memfile = Arc::new(MemoryFile::new().context("creating the memory file")?);
    memfile.set_limit(c.memory_limit);
    let opts = vfs::p9fs::Options {
        readonly: gofer_readonly,
        shared: c.shared_files,
        memfile: Some(Arc::clone(&memfile)),
    };
    let rootfs = vfs::p9fs::new_filesystem(client, opts)
        .map_err(|e| anyhow::anyhow!("attaching the root filesystem: {}", describe(e)))?;
    let rootfs = if overlay {
        vfs::overlay::new_filesystem(rootfs, Arc::clone(&memfile))
            .map_err(|e| anyhow::anyhow!("building the root overlay: {}", describe(e)))?
    } else {
        rootfs
    };
    let mounts = MountNamespace::new(rootfs);
    let root_creds = Creds::root();
    // A container rootfs may lack the directories the sandbox mounts on: make them where the
    // root is writable (runc does); a read-only host tree simply goes without.
    for dir in [&b"/dev"[..], b"/proc", b"/sys"] {
        let _ = make_mount_point(&mounts, dir);
    }
    mount_if_present(
        &mounts,
        b"/dev",
        vfs::devfs::new_filesystem(Arc::clone(&memfile)),
    )?;
    // Like runc/runsc: a writable tmpfs on /dev/shm (mode 1777), for shm_open(3) and
    // sem_open(3) (Python's multiprocessing locks). devfs has the directory. An OCI spec that
    // mounts its own (Docker's, with its size) replaces it.
    let shm_in_spec = c.tmpfs.iter().any(|t| t.target == b"/dev/shm")
        || c.volumes.iter().any(|v| v.target == b"/dev/shm");
    if !shm_in_spec {
        mount_if_present(
            &mounts,
            b"/dev/shm",
            vfs::tmpfs::new_filesystem(0o1777, &root_creds, Arc::clone(&memfile)),
        )?;
    }
    mount_if_present(
        &mounts,
        b"/dev/pts",
        sentry::tty::new_devpts(Arc::clone(&memfile)),
    )?;

    let platform = platform_ptrace::PtracePlatform::new(memfile.fd())
        .context("starting the ptrace platform")?;
    let mut uts = host_uts();
    if let Some(h) = &c.hostname {
        uts.nodename = abi::uts::Utsname::field(h);
    }
    if let Some(d) = &c.domainname {
        uts.domainname = abi::uts::Utsname::field(d);
    }
    let kernel = Kernel::new(
        platform,
        Arc::clone(&memfile),
        Arc::clone(&mounts),
        KernelConfig {
            uts,
            strace,
            max_tasks: c.pids_limit.clamp(1, sentry::kernel::MAX_TASKS),
        },
    );
    // Bind mounts, each directory from its own gofer, writable through to the host unless
    // `ro`. A file is served by a gofer of its parent directory (one per directory and mode:
    // Docker's resolv.conf, hosts and hostname share one) and only the file is mounted.
    let mut volume_gofers = Vec::new();
    let mut file_parents: Vec<(std::path::PathBuf, bool, Arc<dyn vfs::Filesystem>)> = Vec::new();
    let attach = |host: &std::path::Path, readonly: bool, gofers: &mut Vec<GoferProcess>| {
        let (g, sock) = spawn_gofer(host, readonly, c.fd_donation)?;
        gofers.push(g);
        let client = vfs::p9client::Client::new(sock).map_err(|e| {
            anyhow::anyhow!(
                "connecting to the gofer of {}: {}",
                host.display(),
                describe(e)
            )
        })?;
        vfs::p9fs::new_filesystem(
            client,
            vfs::p9fs::Options {
                readonly,
                shared: c.shared_files,
                memfile: Some(Arc::clone(&memfile)),
            },
        )
        .map_err(|e| anyhow::anyhow!("attaching {}: {}", host.display(), describe(e)))
    };
    for v in &c.volumes {
        if v.host.is_dir() {
            let fs = attach(&v.host, v.readonly, &mut volume_gofers)?;
            make_mount_point(&mounts, &v.target)?;
            mount_if_present(&mounts, &v.target, fs)?;
            continue;
        }
        let (Some(dir), Some(name)) = (v.host.parent(), v.host.file_name()) else {
            bail!("bind mount {}: not a file in a directory", v.host.display());
        };
        let known = file_parents
            .iter()
            .find(|(d, ro, _)| d == dir && *ro == v.readonly)
            .map(|(_, _, fs)| Arc::clone(fs));
        let fs = match known {
            Some(fs) => fs,
            None => {
                let fs = attach(dir, v.readonly, &mut volume_gofers)?;
                file_parents.push((dir.to_path_buf(), v.readonly, Arc::clone(&fs)));
                fs
            }
        };
        let inode = fs
            .root()
            .lookup(name.as_bytes())
            .map_err(|e| anyhow::anyhow!("bind mount {}: {}", v.host.display(), describe(e)))?;
        make_file_mount_point(&mounts, &v.target)?;
        let view = RootView::new(&mounts);
        let l = view.lookup();
        let target = l.resolve(&v.target, true).map_err(|e| {
            anyhow::anyhow!(
                "bind mount target {}: {}",
                String::from_utf8_lossy(&v.target),
                describe(e)
            )
        })?;
        mounts
            .mount_inode(&target, fs, inode)
            .map(|_| ())
            .map_err(|e| {
                anyhow::anyhow!(
                    "bind mount {} -> {}: {}",
                    v.host.display(),
                    String::from_utf8_lossy(&v.target),
                    describe(e)
                )
            })?;
    }
    for t in &c.tmpfs {
        let fs: Arc<dyn vfs::Filesystem> = match t.size {
            Some(size) => {
                vfs::tmpfs::Tmpfs::with_size(t.mode, &root_creds, Arc::clone(&memfile), size)
            }
            None => vfs::tmpfs::Tmpfs::new(t.mode, &root_creds, Arc::clone(&memfile)),
        };
        make_mount_point(&mounts, &t.target)?;
        mount_if_present(&mounts, &t.target, fs)?;
    }
    mount_if_present(&mounts, b"/proc", sentry::fs::proc::new_filesystem())?;
    mount_if_present(
        &mounts,
        b"/sys",
        sentry::fs::sys::new_filesystem(kernel.ncpus),
    )?;

    mask_paths(&mounts, &memfile, &c.masked_paths, &c.readonly_paths)?;

    if c.read_only {
        mounts.root().mount().set_readonly(true);
    }
    let path = find_command(&mounts, &cmd0, &path_of(&c.process.envp));
    let console = match c.console {
        Some(host_tty) => Some(
            sentry::tty::console::attach_console(&kernel, host_tty)
                .map_err(|e| anyhow::anyhow!("attaching the console: {}", describe(e)))?,
        ),
        None => None,
    };
    let [s0, s1, s2] = match &console {
        Some(c) => [c.ctty(), c.ctty(), c.ctty()],
        None => stdio_files()?,
    };
    let spawn = Spawn {
        path,
        argv: c.process.argv,
        envp: c.process.envp,
        cwd: c.process.cwd,
        stdio: [s0, s1, s2],
        creds: c.process.creds,
        umask: c.process.umask,
        no_new_privs: c.process.no_new_privs,
        rlimits: c.process.rlimits,
        ctty: console.as_ref().map(|c| c.ctty()),
    };

    let task = match Task::new_init(&kernel, spawn) {
        Ok(t) => t,
        Err(TaskCreateError::Open { path, errno }) | Err(TaskCreateError::Load { path, errno }) => {
            // The shell's conventions: 127 when the command is missing, 126 when it exists but
            // cannot be executed.
            return Ok(Prepared::Exit(
                if errno == Errno::ENOENT || errno == Errno::ENOTDIR {
                    127
                } else {
                    126
                },
                format!("{path}: {}", describe(errno)),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let mut gofers = volume_gofers;
    gofers.push(gofer);
    Ok(Prepared::Ready(Box::new(ReadySandbox {
        kernel,
        task,
        mounts,
        gofers,
        forwarded,
        oci_signals: false,
        console,
    })))
}
