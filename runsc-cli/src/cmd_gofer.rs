//! `rvisor gofer` (hidden): the file server process. It receives its 9P socket as stdin,
//! confines itself to the served root and serves until the sentry hangs up.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

#[derive(Debug, Args)]
pub struct GoferArgs {
    /// Directory to serve (the container rootfs; "/" for `rvisor do`).
    #[arg(long)]
    root: PathBuf,
    /// Refuse every mutation with EROFS.
    #[arg(long)]
    readonly: bool,
    /// Serve file data only through Tread/Twrite (no host fds handed to the sentry).
    #[arg(long)]
    no_fd_donation: bool,
}

pub fn run(a: &GoferArgs) -> anyhow::Result<()> {
    // Die with the sentry that started us, even if it is killed before closing the socket.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context("setting the parent-death signal")?;
    // Every fid the sentry holds is an O_PATH fd here (the sentry bounds them with its
    // dentry cache, vfs::mount::MAX_EVICTABLE, plus open directories): allow what the host
    // allows.
    let _ = crate::hostcall::raise_nofile_limit();
    let sock = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("taking the 9P socket from stdin")?;
    let sock = UnixStream::from(sock);
    let root = gofer::enter_root(&a.root)
        .with_context(|| format!("entering root {}", a.root.display()))?;
    gofer::serve(
        root,
        sock,
        gofer::ServeOptions {
            readonly: a.readonly,
            no_fd_donation: a.no_fd_donation,
        },
    )
    .context("serving 9P")?;
    Ok(())
}
