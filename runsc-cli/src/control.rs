//! The control socket of a container's sandbox process (`control.sock` in its state
//! directory): how `rvisor start/exec/kill/ps/pause/resume/update/events` reach a running
//! sentry.
//!
//! Protocol: one request per connection, a JSON object on one line (`{"op": ...}`); the
//! answer is one JSON line, `{"ok": true, ...}` or `{"error": "..."}`. `exec` sends the
//! caller's stdin, stdout and stderr with the request (SCM_RIGHTS), answers with the new
//! process's sandbox pid, then, when the process ends, a second line `{"exit": STATUS}` (the
//! shell-style status: code, or 128 + signal). If the `exec` connection closes first (the
//! waiting `rvisor exec` was killed), the process is SIGKILLed, so no process outlives its
//! host-side waiter, whose pid containerd watches.
//!
//! Neighbours: the server runs in `rvisor boot` / a foreground `rvisor run` with the
//! sandbox's [`Kernel`]; the clients are the OCI commands (`cmd_oci.rs`, `cmd_exec.rs`).
//! Threads: one accepting thread, one per connection (an `exec` connection lives as long as
//! its process). No locks of its own.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use anyhow::{Context as _, bail};
use sentry::kernel::{ExitStatus, Kernel, Spawn};
use serde_json::{Value, json};

use crate::cmd_do::ProcessConfig;
use crate::cmd_oci::process_config;

/// The socket's path through an fd of its directory: state directories under Docker's
/// root (`/run/docker/runtime-runc/moby/<64 hex digits>`) are longer than sun_path allows, so
/// both sides name the socket as `/proc/self/fd/N/control.sock`.
fn short_path(dir: &Path) -> anyhow::Result<(std::fs::File, std::path::PathBuf)> {
    let d = std::fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    let p = std::path::PathBuf::from(format!("/proc/self/fd/{}/control.sock", d.as_raw_fd()));
    Ok((d, p))
}

/// Binds the control socket in the state directory `dir`.
pub fn bind(dir: &Path) -> anyhow::Result<UnixListener> {
    let (_d, p) = short_path(dir)?;
    UnixListener::bind(&p)
        .with_context(|| format!("binding {}", dir.join("control.sock").display()))
}

fn connect(dir: &Path) -> anyhow::Result<UnixStream> {
    let (_d, p) = short_path(dir)?;
    UnixStream::connect(&p).context("reaching the container's sandbox process")
}

/// Longest request line accepted (an OCI process JSON with a large environment fits).
const MAX_REQUEST: usize = 4 << 20;

/// Serves `listener` until the process exits. `start` receives one message when a `start`
/// request arrives (a created container); later ones are refused.
pub fn serve(listener: UnixListener, kernel: Arc<Kernel>, start: Option<mpsc::Sender<()>>) {
    let start = std::sync::Mutex::new(start);
    let start = Arc::new(start);
    let spawned = std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let kernel = Arc::clone(&kernel);
                let start = Arc::clone(&start);
                let _ = std::thread::Builder::new()
                    .name("control-conn".into())
                    .spawn(move || {
                        if let Err(e) = handle(&conn, &kernel, &start) {
                            let _ = reply(&conn, &json!({ "error": format!("{e:#}") }));
                        }
                    });
            }
        });
    if let Err(e) = spawned {
        tracing::error!(%e, "cannot start the control server thread");
    }
}

fn reply(mut conn: &UnixStream, v: &Value) -> std::io::Result<()> {
    let mut line = v.to_string();
    line.push('\n');
    conn.write_all(line.as_bytes())
}

/// Reads one request line and any fds sent with it.
fn read_request(conn: &UnixStream) -> anyhow::Result<(Value, Vec<OwnedFd>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg = nix::cmsg_space!([RawFd; 3]);
    let mut fds = Vec::new();
    let n = {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .context("reading the request")?;
        for c in msg.cmsgs().context("reading the request's fds")? {
            if let ControlMessageOwned::ScmRights(raw) = c {
                // SAFETY: SCM_RIGHTS hands us these fds; nothing else owns them.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        msg.bytes
    };
    buf.truncate(n);
    let mut r = BufReader::new(conn);
    while !buf.contains(&b'\n') {
        if buf.len() > MAX_REQUEST {
            bail!("request too long");
        }
        let mut more = Vec::new();
        let got = r
            .by_ref()
            .take(64 * 1024)
            .read_until(b'\n', &mut more)
            .context("reading the request")?;
        if got == 0 {
            break;
        }
        buf.extend_from_slice(&more);
    }
    let v: Value = serde_json::from_slice(&buf).context("malformed request")?;
    Ok((v, fds))
}

fn handle(
    conn: &UnixStream,
    kernel: &Arc<Kernel>,
    start: &std::sync::Mutex<Option<mpsc::Sender<()>>>,
) -> anyhow::Result<()> {
    let (req, fds) = read_request(conn)?;
    match req["op"].as_str().unwrap_or_default() {
        "start" => {
            let tx = start
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            match tx {
                Some(tx) if tx.send(()).is_ok() => reply(conn, &json!({ "ok": true }))?,
                _ => bail!("the container has already been started"),
            }
        }
        "kill" => {
            let signo = i32::try_from(req["signal"].as_i64().unwrap_or(15)).unwrap_or(-1);
            let started = start
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_none();
            if !started && signo == abi::signal::Signal::SIGKILL.0 {
                // A created container whose init never ran: SIGKILL ends the sandbox process
                // with init's status (its gofers and stubs die with it), so whoever waits on
                // the pid sees the container stop, as with runc's init.
                let _ = reply(conn, &json!({ "ok": true }));
                std::process::exit(128 + signo);
            }
            let r = if req["all"].as_bool() == Some(true) {
                kernel.signal_all(signo)
            } else {
                let pid = i32::try_from(req["pid"].as_i64().unwrap_or(1)).unwrap_or(-1);
                kernel.signal_process(pid, signo)
            };
            match r {
                Ok(()) => reply(conn, &json!({ "ok": true }))?,
                Err(abi::Errno::ESRCH) => bail!("container not running: no such process"),
                Err(e) => bail!("signal {signo}: {}", crate::cmd_do::describe(e)),
            }
        }
        "ps" => {
            let procs: Vec<Value> = kernel
                .processes()
                .into_iter()
                .map(|p| {
                    json!({
                        "pid": p.pid,
                        "ppid": p.ppid,
                        "host_pid": p.host_pid,
                        "uid": p.uid,
                        "threads": p.threads,
                        "comm": String::from_utf8_lossy(&p.comm),
                    })
                })
                .collect();
            reply(conn, &json!({ "ok": true, "processes": procs }))?;
        }
        "pause" => {
            kernel.set_paused(true);
            reply(conn, &json!({ "ok": true }))?;
        }
        "resume" => {
            kernel.set_paused(false);
            reply(conn, &json!({ "ok": true }))?;
        }
        "update" => {
            if let Some(limit) = req["memory"].as_i64() {
                // -1: unlimited.
                kernel.memfile.set_limit(u64::try_from(limit).ok());
            }
            if let Some(n) = req["pids"].as_i64() {
                kernel.set_max_tasks(usize::try_from(n).unwrap_or(sentry::kernel::MAX_TASKS));
            }
            reply(conn, &json!({ "ok": true }))?;
        }
        "stats" => {
            let procs = kernel.processes();
            let threads: usize = procs.iter().map(|p| p.threads).sum();
            let (user, system) = kernel.cpu_time();
            reply(
                conn,
                &json!({
                    "ok": true,
                    "memory_usage": kernel.memfile.allocated_bytes(),
                    "memory_limit": kernel.memory_limit(),
                    "pids": threads,
                    "processes": procs.len(),
                    "cpu_user_ns": user.as_nanos() as u64,
                    "cpu_system_ns": system.as_nanos() as u64,
                    "paused": kernel.is_paused(),
                }),
            )?;
        }
        "exec" => exec(conn, kernel, &req, fds)?,
        other => bail!("unknown request {other:?}"),
    }
    Ok(())
}

/// `exec`: starts the process, answers with its pid, waits for it (or for the caller to go
/// away) and sends its status.
fn exec(
    conn: &UnixStream,
    kernel: &Arc<Kernel>,
    req: &Value,
    fds: Vec<OwnedFd>,
) -> anyhow::Result<()> {
    let process: oci_spec::runtime::Process =
        serde_json::from_value(req["process"].clone()).context("exec: invalid process")?;
    let pc: ProcessConfig = process_config(&process)?;
    let stdio: [OwnedFd; 3] = fds
        .try_into()
        .map_err(|_| anyhow::anyhow!("exec: expected three stdio fds"))?;
    // A terminal: the host pty slave the caller sent is bridged to a sandbox pty, which is the
    // process's stdio and its session's controlling terminal.
    let (console, stdio) = if process.terminal().unwrap_or(false) {
        let [tty, _, _] = stdio;
        let c = sentry::tty::console::attach_console(kernel, tty).map_err(|e| {
            anyhow::anyhow!(
                "exec: attaching the terminal: {}",
                crate::cmd_do::describe(e)
            )
        })?;
        let files = [c.ctty(), c.ctty(), c.ctty()];
        (Some(c), files)
    } else {
        (None, crate::cmd_do::host_stdio(stdio)?)
    };
    let cmd0 = pc.argv.first().cloned().unwrap_or_default();
    let path =
        crate::cmd_do::find_command(&kernel.mounts, &cmd0, &crate::cmd_do::path_of(&pc.envp));
    let spawn = Spawn {
        path,
        argv: pc.argv,
        envp: pc.envp,
        cwd: pc.cwd,
        stdio,
        creds: pc.creds,
        umask: pc.umask,
        no_new_privs: pc.no_new_privs,
        rlimits: pc.rlimits,
        ctty: console.as_ref().map(|c| c.ctty()),
    };
    let (pid, rx) = kernel.exec_process(spawn).map_err(|e| match e {
        sentry::kernel::TaskCreateError::Open { path, errno }
        | sentry::kernel::TaskCreateError::Load { path, errno } => {
            anyhow::anyhow!("exec failed: {path}: {}", crate::cmd_do::describe(errno))
        }
        e => anyhow::anyhow!("exec failed: {e}"),
    })?;
    reply(conn, &json!({ "ok": true, "pid": pid }))?;
    // Watch for the caller going away while the process runs.
    let watcher = conn.try_clone().context("exec: watching the caller")?;
    let k = Arc::downgrade(kernel);
    // Set once the process has ended: its pid may then name another process.
    let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ended2 = Arc::clone(&ended);
    let _ = std::thread::Builder::new()
        .name("exec-watch".into())
        .spawn(move || {
            let mut b = [0u8; 64];
            // EOF (or an error): the caller is gone. Clients send nothing else.
            loop {
                match (&watcher).read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            if !ended2.load(std::sync::atomic::Ordering::SeqCst)
                && let Some(k) = k.upgrade()
            {
                let _ = k.signal_process(pid, abi::signal::Signal::SIGKILL.0);
            }
        });
    let code = match rx.recv() {
        Ok(st) => st.shell_code(),
        // The sandbox ended first: everything in it was killed.
        Err(_) => ExitStatus::Signaled(abi::signal::Signal::SIGKILL).shell_code(),
    };
    ended.store(true, std::sync::atomic::Ordering::SeqCst);
    // The bridge ends with the process (its output is through by then: the process has
    // closed the terminal).
    drop(console);
    let _ = reply(conn, &json!({ "exit": code }));
    Ok(())
}

/// Client side: sends `req` (with `fds`, if any) to the control socket of the container whose
/// state directory is `dir` and returns the connection and the first answer.
pub fn request(
    dir: &Path,
    req: &Value,
    fds: &[std::os::fd::BorrowedFd<'_>],
) -> anyhow::Result<(UnixStream, Value)> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let conn = connect(dir)?;
    let mut line = req.to_string();
    line.push('\n');
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let iov = [std::io::IoSlice::new(line.as_bytes())];
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &cmsg };
    let sent = sendmsg::<()>(conn.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None)
        .context("sending the request")?;
    if sent < line.len() {
        (&conn)
            .write_all(line.as_bytes().get(sent..).unwrap_or_default())
            .context("sending the request")?;
    }
    let v = read_answer(&conn)?;
    Ok((conn, v))
}

/// Reads one answer line; an `{"error": ...}` answer becomes an error with its text.
pub fn read_answer(conn: &UnixStream) -> anyhow::Result<Value> {
    let mut line = Vec::new();
    // One byte at a time: a second answer line (exec's status) must stay in the socket.
    let mut b = [0u8; 1];
    loop {
        match (&*conn).read(&mut b) {
            Ok(0) => break,
            Ok(_) => {
                if b[0] == b'\n' {
                    break;
                }
                line.push(b[0]);
                if line.len() > MAX_REQUEST {
                    bail!("answer too long");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading the answer"),
        }
    }
    if line.is_empty() {
        bail!("the sandbox process closed the control connection");
    }
    let v: Value = serde_json::from_slice(&line).context("malformed answer")?;
    if let Some(e) = v["error"].as_str() {
        bail!("{e}");
    }
    Ok(v)
}
