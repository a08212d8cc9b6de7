//! The OCI commands that talk to a running container's sandbox process over its control
//! socket (`control.rs`): `exec`, `ps`, `pause`, `resume`, `update`, `events`.
//!
//! `exec` builds the process as runc does (a `--process` JSON file, or the container's own
//! `process` from config.json with the command line's args, `--env` appended, `--cwd`,
//! `--user`, `--additional-gids`, `--cap` applied), sends it with this process's stdio and
//! waits for its status. `--detach` forks a waiter that holds the exec connection and exits
//! with the process's status; its pid goes to `--pid-file` (containerd's shim waits on it and
//! signals it: the waiter forwards signals to the process, and if it is SIGKILLed the sentry
//! kills the process).
//!
//! `--tty`: a host pty whose master goes to `--console-socket`; its slave is sent as the
//! process's stdio and the sentry bridges it to a sandbox pty, the controlling terminal of the
//! new process's session (sandbox line discipline and job control). `ps` reports the ptrace stubs' host pids
//! (`host_pid`), which is what `docker top` looks up in the host's `ps`.

use std::io::Write as _;
use std::os::fd::{AsFd as _, AsRawFd as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::Cli;
use crate::cmd_oci::{load_state, state_dir, write_state};
use crate::control;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// A JSON file with the OCI process to run (instead of the command line).
    #[arg(long, short = 'p')]
    process: Option<PathBuf>,
    /// Return once the process runs; a waiter process exits with its status.
    #[arg(long, short = 'd')]
    detach: bool,
    /// Write the host pid that exits with the process's status here.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Send the master of the process's terminal here (with --tty).
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Give the process a terminal.
    #[arg(long, short = 't')]
    tty: bool,
    /// Working directory in the container.
    #[arg(long)]
    cwd: Option<String>,
    /// Extra environment variables (KEY=VALUE).
    #[arg(long, short = 'e')]
    env: Vec<String>,
    /// UID[:GID] to run as.
    #[arg(long, short = 'u')]
    user: Option<String>,
    /// Additional group ids.
    #[arg(long = "additional-gids", short = 'g')]
    additional_gids: Vec<u32>,
    /// Extra capabilities (CAP_...).
    #[arg(long, short = 'c')]
    cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    no_new_privs: bool,
    /// Accepted for runc compatibility (no LSMs in the sandbox).
    #[arg(long)]
    process_label: Option<String>,
    /// Accepted for runc compatibility (no LSMs in the sandbox).
    #[arg(long)]
    apparmor: Option<String>,
    /// Exec even if the container is paused.
    #[arg(long)]
    ignore_paused: bool,
    /// The container id.
    id: String,
    /// The command and its arguments (without --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Signals `rvisor exec` passes on to the process it waits for.
const FORWARDED: [nix::sys::signal::Signal; 8] = {
    use nix::sys::signal::Signal::*;
    [
        SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT,
    ]
};

/// The OCI process `exec` runs.
fn exec_process(a: &ExecArgs, state: &Value) -> anyhow::Result<Value> {
    if let Some(p) = &a.process {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid {}: {e}", p.display()))?;
        return Ok(v);
    }
    if a.command.is_empty() {
        bail!("exec: no command given (and no --process)");
    }
    let bundle = state["bundle"].as_str().unwrap_or_default();
    let cfg = Path::new(bundle).join("config.json");
    let text =
        std::fs::read_to_string(&cfg).with_context(|| format!("reading {}", cfg.display()))?;
    let spec: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("invalid {}: {e}", cfg.display()))?;
    let mut p = spec["process"].clone();
    if !p.is_object() {
        p = json!({ "cwd": "/", "user": { "uid": 0, "gid": 0 } });
    }
    p["args"] = json!(a.command);
    if let Some(cwd) = &a.cwd {
        p["cwd"] = json!(cwd);
    }
    let mut env: Vec<Value> = p["env"].as_array().cloned().unwrap_or_default();
    env.extend(a.env.iter().map(|e| json!(e)));
    p["env"] = Value::Array(env);
    p["terminal"] = json!(a.tty);
    if a.no_new_privs {
        p["noNewPrivileges"] = json!(true);
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let uid: u32 = uid
            .parse()
            .map_err(|_| anyhow::anyhow!("--user {u}: expected UID[:GID] as numbers"))?;
        p["user"]["uid"] = json!(uid);
        if let Some(g) = gid {
            let gid: u32 = g
                .parse()
                .map_err(|_| anyhow::anyhow!("--user {u}: expected UID[:GID] as numbers"))?;
            p["user"]["gid"] = json!(gid);
        }
    }
    if !a.additional_gids.is_empty() {
        let mut g: Vec<Value> = p["user"]["additionalGids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        g.extend(a.additional_gids.iter().map(|x| json!(x)));
        p["user"]["additionalGids"] = Value::Array(g);
    }
    for c in &a.cap {
        let c = c.to_ascii_uppercase();
        for set in [
            "bounding",
            "effective",
            "permitted",
            "ambient",
            "inheritable",
        ] {
            let mut v: Vec<Value> = p["capabilities"][set]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !v.iter().any(|x| x.as_str() == Some(&c)) {
                v.push(json!(c));
            }
            p["capabilities"][set] = Value::Array(v);
        }
    }
    Ok(p)
}

/// `rvisor exec`.
pub fn exec(cli: &Cli, a: &ExecArgs) -> anyhow::Result<i32> {
    let state = load_state(&cli.root, &a.id)?;
    match state["status"].as_str() {
        Some("running" | "created") => {}
        Some("paused") if a.ignore_paused => {}
        Some("paused") => bail!("cannot exec in a paused container {}", a.id),
        _ => bail!("cannot exec in a stopped container {}", a.id),
    }
    let mut process = exec_process(a, &state)?;
    if a.tty {
        process["terminal"] = json!(true);
    }
    // The same checks the sandbox makes, here, so a bad process is one clear line.
    let parsed: oci_spec::runtime::Process = serde_json::from_value(process.clone())
        .map_err(|e| anyhow::anyhow!("exec: invalid process: {e}"))?;
    crate::cmd_oci::process_config(&parsed).map_err(|e| anyhow::anyhow!("exec: {e:#}"))?;
    let dir = state_dir(&cli.root, &a.id)?;

    // A terminal: a host pty whose master goes to the console socket; the slave is the
    // process's stdio.
    // Without a console socket, a foreground exec uses the caller's own terminal (its
    // settings are restored at the end).
    let mut saved_termios = None;
    let pty = if process["terminal"].as_bool() == Some(true) {
        match &a.console_socket {
            Some(sock) => {
                let (master, slave) = crate::console::open_host_pty()?;
                crate::console::send_console(sock, &master)?;
                Some(slave)
            }
            None if !a.detach && nix::unistd::isatty(std::io::stdin().as_fd()).unwrap_or(false) => {
                saved_termios = nix::sys::termios::tcgetattr(std::io::stdin().as_fd()).ok();
                Some(
                    std::io::stdin()
                        .as_fd()
                        .try_clone_to_owned()
                        .context("duplicating the terminal")?,
                )
            }
            None => bail!("exec --tty needs --console-socket or a terminal on stdin"),
        }
    } else {
        None
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let fds = match &pty {
        Some(s) => [s.as_fd(), s.as_fd(), s.as_fd()],
        None => [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()],
    };
    // Block the forwarded signals before anything can arrive for the process.
    let mut set = nix::sys::signal::SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set.thread_block()
        .context("blocking the forwarded signals")?;
    let (conn, answer) =
        control::request(&dir, &json!({ "op": "exec", "process": process }), &fds)?;
    drop(pty);
    let pid = answer["pid"].as_i64().unwrap_or(0);
    if a.detach {
        // SAFETY: the CLI is single-threaded here except for the logger, which the child never
        // touches: it only reads the socket, forwards signals and exits.
        match unsafe { nix::unistd::fork() }.context("starting the exec waiter")? {
            nix::unistd::ForkResult::Parent { child } => {
                if let Some(p) = &a.pid_file {
                    std::fs::write(p, child.as_raw().to_string())
                        .with_context(|| format!("writing --pid-file {}", p.display()))?;
                }
                return Ok(0);
            }
            nix::unistd::ForkResult::Child => {
                // Hold none of the caller's stdio: the sandbox has its own copies.
                if let Ok(null) = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/null")
                {
                    for fd in 0..3 {
                        // SAFETY: dup2 onto 0..3 of the forked child, whose stdio nothing
                        // else uses.
                        let _ = unsafe { libc::dup2(null.as_raw_fd(), fd) };
                    }
                }
                let code = wait_exec(&dir, &conn, pid, set);
                // SAFETY: _exit ends the forked child without running the parent's atexit
                // handlers or flushing its buffers twice.
                unsafe { libc::_exit(code) };
            }
        }
    }
    if let Some(p) = &a.pid_file {
        std::fs::write(p, std::process::id().to_string())
            .with_context(|| format!("writing --pid-file {}", p.display()))?;
    }
    let code = wait_exec(&dir, &conn, pid, set);
    if let Some(t) = saved_termios {
        // The sandbox put the caller's terminal in raw mode for its bridge.
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin().as_fd(),
            nix::sys::termios::SetArg::TCSANOW,
            &t,
        );
    }
    Ok(code)
}

/// Waits for the exec'd process `pid` to end (its status line on `conn`), passing the
/// signals in `set` on to it; returns its shell-style status.
fn wait_exec(
    dir: &Path,
    conn: &std::os::unix::net::UnixStream,
    pid: i64,
    set: nix::sys::signal::SigSet,
) -> i32 {
    let dir = dir.to_path_buf();
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            while let Ok(sig) = set.wait() {
                let _ = control::request(
                    &dir,
                    &json!({ "op": "kill", "pid": pid, "signal": sig as i32 }),
                    &[],
                );
            }
        });
    match control::read_answer(conn) {
        Ok(v) => i32::try_from(v["exit"].as_i64().unwrap_or(137)).unwrap_or(137),
        // The sandbox process died: everything in it is gone.
        Err(_) => 137,
    }
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// `table` or `json` (the host pids, as runc prints them).
    #[arg(long, short = 'f', default_value = "table")]
    format: String,
    /// The container id.
    id: String,
    /// Accepted for runc compatibility (`ps` options; the table is the sandbox's own).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

/// `rvisor ps`.
pub fn ps(cli: &Cli, a: &PsArgs) -> anyhow::Result<i32> {
    let state = load_state(&cli.root, &a.id)?;
    if state["status"] == "stopped" {
        bail!(
            "cannot list the processes of {}: container not running",
            a.id
        );
    }
    let dir = state_dir(&cli.root, &a.id)?;
    let (_, v) = control::request(&dir, &json!({ "op": "ps" }), &[])?;
    let procs = v["processes"].as_array().cloned().unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if a.format == "json" {
        let pids: Vec<i64> = procs
            .iter()
            .filter_map(|p| p["host_pid"].as_i64())
            .collect();
        writeln!(out, "{}", serde_json::to_string(&pids)?)?;
    } else if a.format == "table" {
        writeln!(
            out,
            "{:>7} {:>7} {:>8} {:>6} {:>4} CMD",
            "PID", "PPID", "HOSTPID", "UID", "THR"
        )?;
        for p in &procs {
            writeln!(
                out,
                "{:>7} {:>7} {:>8} {:>6} {:>4} {}",
                p["pid"],
                p["ppid"],
                p["host_pid"]
                    .as_i64()
                    .map_or_else(|| "-".into(), |x| x.to_string()),
                p["uid"],
                p["threads"],
                p["comm"].as_str().unwrap_or_default()
            )?;
        }
    } else {
        bail!("ps --format {}: expected table or json", a.format);
    }
    Ok(0)
}

/// `rvisor pause` / `resume`.
pub fn pause(cli: &Cli, id: &str, on: bool) -> anyhow::Result<i32> {
    let mut state = load_state(&cli.root, id)?;
    let (want, now) = if on {
        ("running", "paused")
    } else {
        ("paused", "running")
    };
    if state["status"] != want {
        bail!(
            "container {id} is not {want} (status: {})",
            state["status"].as_str().unwrap_or("unknown")
        );
    }
    let dir = state_dir(&cli.root, id)?;
    control::request(
        &dir,
        &json!({ "op": if on { "pause" } else { "resume" } }),
        &[],
    )?;
    state["status"] = json!(now);
    write_state(&dir, &state)?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// A JSON file with the new linux.resources ("-": stdin).
    #[arg(long, short = 'r')]
    resources: Option<PathBuf>,
    /// Memory limit in bytes (k/m/g suffixes).
    #[arg(long, short = 'm')]
    memory: Option<String>,
    /// Memory soft limit (recorded in the cgroup).
    #[arg(long)]
    memory_reservation: Option<String>,
    /// Memory plus swap limit (recorded in the cgroup).
    #[arg(long)]
    memory_swap: Option<String>,
    /// The most tasks.
    #[arg(long)]
    pids_limit: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long)]
    cpu_shares: Option<u64>,
    /// CFS quota in microseconds per period.
    #[arg(long)]
    cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    #[arg(long)]
    cpu_period: Option<u64>,
    /// CPUs to use.
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Memory nodes to use.
    #[arg(long)]
    cpuset_mems: Option<String>,
    /// Accepted for runc compatibility.
    #[arg(long)]
    kernel_memory: Option<String>,
    /// Block I/O weight.
    #[arg(long)]
    blkio_weight: Option<u16>,
    /// The container id.
    id: String,
}

fn size_arg(flag: &str, v: &str) -> anyhow::Result<i64> {
    if v == "-1" {
        return Ok(-1);
    }
    sentry::kernel::oom::parse_memory_size(v)
        .map_err(|e| anyhow::anyhow!("--{flag} {v}: {e}"))
        .and_then(|n| i64::try_from(n).map_err(|_| anyhow::anyhow!("--{flag} {v}: too large")))
}

/// The resources `update` asks for, as a linux.resources JSON object.
fn update_resources(a: &UpdateArgs) -> anyhow::Result<Value> {
    let mut r = match &a.resources {
        Some(p) => {
            let text = if p.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading resources from stdin")?
            } else {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
            };
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("invalid resources JSON: {e}"))?;
            serde_json::from_value::<oci_spec::runtime::LinuxResources>(v.clone())
                .map_err(|e| anyhow::anyhow!("invalid resources JSON: {e}"))?;
            v
        }
        None => json!({}),
    };
    if let Some(m) = &a.memory {
        r["memory"]["limit"] = json!(size_arg("memory", m)?);
    }
    if let Some(m) = &a.memory_reservation {
        r["memory"]["reservation"] = json!(size_arg("memory-reservation", m)?);
    }
    if let Some(m) = &a.memory_swap {
        r["memory"]["swap"] = json!(size_arg("memory-swap", m)?);
    }
    if let Some(p) = a.pids_limit {
        r["pids"]["limit"] = json!(p);
    }
    if let Some(s) = a.cpu_shares {
        r["cpu"]["shares"] = json!(s);
    }
    if let Some(q) = a.cpu_quota {
        r["cpu"]["quota"] = json!(q);
    }
    if let Some(p) = a.cpu_period {
        r["cpu"]["period"] = json!(p);
    }
    if let Some(c) = &a.cpuset_cpus {
        r["cpu"]["cpus"] = json!(c);
    }
    if let Some(m) = &a.cpuset_mems {
        r["cpu"]["mems"] = json!(m);
    }
    if let Some(w) = a.blkio_weight {
        r["blockIO"]["weight"] = json!(w);
    }
    let _ = &a.kernel_memory;
    Ok(r)
}

/// `rvisor update`: new resource limits for a running container. The sentry enforces the
/// memory limit (its MemoryFile) and the pids limit (its task limit); the whole set is
/// recorded in the state directory (`resources.json`).
pub fn update(cli: &Cli, a: &UpdateArgs) -> anyhow::Result<i32> {
    let state = load_state(&cli.root, &a.id)?;
    if state["status"] == "stopped" {
        bail!("cannot update {}: container not running", a.id);
    }
    let r = update_resources(a)?;
    let dir = state_dir(&cli.root, &a.id)?;
    let mut req = json!({ "op": "update" });
    if let Some(m) = r["memory"]["limit"].as_i64() {
        req["memory"] = json!(m);
    }
    if let Some(p) = r["pids"]["limit"].as_i64() {
        req["pids"] = json!(if p <= 0 {
            i64::try_from(sentry::kernel::MAX_TASKS).unwrap_or(4096)
        } else {
            p
        });
    }
    control::request(&dir, &req, &[])?;
    // The host side: the sandbox's cgroup, as runc updates the container's.
    let parsed: oci_spec::runtime::LinuxResources =
        serde_json::from_value(r.clone()).map_err(|e| anyhow::anyhow!("invalid resources: {e}"))?;
    if let Some(cg) = crate::cmd_oci::load_cgroup(
        state["bundle"].as_str().unwrap_or_default(),
        &a.id,
        cli.systemd_cgroup,
    ) {
        cg.apply(&crate::cmd_oci::host_resources(&parsed))?;
    }
    let path = dir.join("resources.json");
    let mut all: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({}));
    merge(&mut all, &r);
    std::fs::write(&path, all.to_string()).context("recording the resources")?;
    Ok(0)
}

/// Merges object `b` into `a`, key by key.
fn merge(a: &mut Value, b: &Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b.clone(),
    }
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Print the container's statistics once and exit.
    #[arg(long)]
    stats: bool,
    /// How often to print statistics (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s")]
    interval: String,
    /// The container id.
    id: String,
}

fn parse_interval(s: &str) -> anyhow::Result<std::time::Duration> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("--interval {s}: expected a duration like 5s"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => bail!("--interval {s}: unknown unit {unit:?}"),
    };
    if !(secs > 0.0 && secs < 86_400.0) {
        bail!("--interval {s}: out of range");
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// One stats event in runc's `events` shape, from the sentry's numbers.
fn stats_event(id: &str, v: &Value) -> Value {
    let user = v["cpu_user_ns"].as_u64().unwrap_or(0);
    let system = v["cpu_system_ns"].as_u64().unwrap_or(0);
    let st = crate::cgroup::CgroupStats {
        memory_usage: v["memory_usage"].as_u64().unwrap_or(0),
        memory_limit: v["memory_limit"].as_u64().unwrap_or(u64::MAX),
        memory_max_usage: 0,
        cpu_usage_ns: user.saturating_add(system),
        cpu_user_ns: user,
        cpu_system_ns: system,
        pids_current: v["pids"].as_u64().unwrap_or(0),
        pids_limit: v["pids_limit"].as_u64().unwrap_or(0),
    };
    json!({ "type": "stats", "id": id, "data": st.runc_json() })
}

/// `rvisor events`: statistics from the sentry's own accounting (memory: pages the
/// MemoryFile holds; CPU: application time as the platform measures it; pids: threads).
pub fn events(cli: &Cli, a: &EventsArgs) -> anyhow::Result<i32> {
    let interval = parse_interval(&a.interval)?;
    let dir = state_dir(&cli.root, &a.id)?;
    loop {
        let state = load_state(&cli.root, &a.id)?;
        if state["status"] == "stopped" {
            if a.stats {
                bail!("container {} is not running", a.id);
            }
            return Ok(0);
        }
        let (_, v) = control::request(&dir, &json!({ "op": "stats" }), &[])?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", stats_event(&a.id, &v))?;
        out.flush()?;
        drop(out);
        if a.stats {
            return Ok(0);
        }
        std::thread::sleep(interval);
    }
}
