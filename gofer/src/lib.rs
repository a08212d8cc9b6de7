//! The gofer: a 9P2000.L file server, the only rvisor process that touches host files.
//!
//! `rvisor gofer` (runsc-cli) calls [`enter_root`] to chroot into the container rootfs and get
//! an O_PATH fd of its "/", then [`serve`]s the sentry over a Unix socketpair until the sentry
//! closes its end. Wire format: crate `p9`. Client: `vfs::p9client`.
//!
//! Key pieces: `server` (fid table, one handler per message, the security rules: every host
//! call is relative to a held fd with O_NOFOLLOW, no walk above the root, request errors are
//! Rlerror and never fatal), `hostfs` (the only unsafe code: getdents64 and fstatfs).
//!
//! Write path: Tmknod (no device nodes), Tlink, Txattrwalk/Txattrcreate (removal with the
//! rvisor flag `p9::XATTR_REMOVE`) and the rvisor extension Trenameat2 (renameat2 flags); see
//! `server`'s module doc.
//!
//! Tlopenfd (an rvisor extension to 9P2000.L) opens a regular file exactly as Tlopen would and
//! sends the fd beside the reply (SCM_RIGHTS), so the sentry moves file data with
//! pread/pwrite; `ServeOptions::no_fd_donation` refuses it (EOPNOTSUPP) and the client falls
//! back to Tread/Twrite. The client does not wait for Rclunk, so a peer hanging up with replies
//! unread (EPIPE/ECONNRESET) is a normal end.
//!
//! Between requests the server polls its socket for a while (`SPIN`) before it sleeps, so a
//! client's next request rarely has to wake it (see `vfs::p9client`, which does the same for
//! replies).
//!
//! Shortcut, written down: requests are served one at a time on the calling thread. That is
//! enough while the client also sends one request at a time; a pool of workers keyed by tag is
//! the next step when the sentry pipelines more.
#![deny(unsafe_code)]

mod hostfs;
mod server;

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use p9::{Header, P9Error, Rmessage, Tmessage};

/// Setup and connection failures of the gofer (request errors never end up here).
#[derive(Debug, thiserror::Error)]
pub enum GoferError {
    /// chdir("/") after chroot failed.
    #[error("chdir to the new root: {0}")]
    Chdir(#[source] nix::Error),
    /// chroot(2) into the rootfs failed (needs CAP_SYS_CHROOT).
    #[error("chroot into {path}: {err}")]
    Chroot { path: String, err: nix::Error },
    /// The peer sent a frame that cannot be framed (bad size): the stream is out of sync.
    #[error("9p framing: {0}")]
    Framing(#[source] P9Error),
    /// Opening the root directory failed.
    #[error("open root: {0}")]
    OpenRoot(#[source] nix::Error),
    /// The root fd is not a usable directory.
    #[error("root is not a directory: {0}")]
    Root(abi::Errno),
    /// Reading from or writing to the socket failed.
    #[error("socket i/o: {0}")]
    Socket(#[source] io::Error),
}

/// Options for [`serve`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeOptions {
    /// Refuse every mutation with EROFS.
    pub readonly: bool,
    /// Refuse Tlopenfd (the client then reads and writes through Tread/Twrite).
    pub no_fd_donation: bool,
}

/// Chroots into `root`, chdirs to "/", and returns an O_PATH fd of the new "/".
/// Used by `rvisor gofer` before serving; needs CAP_SYS_CHROOT.
pub fn enter_root(root: &Path) -> Result<OwnedFd, GoferError> {
    nix::unistd::chroot(root).map_err(|err| GoferError::Chroot {
        path: root.display().to_string(),
        err,
    })?;
    nix::unistd::chdir("/").map_err(GoferError::Chdir)?;
    open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(GoferError::OpenRoot)
}

/// Serves 9P2000.L on `sock` for the directory `root` (an O_PATH or ordinary directory fd)
/// until the peer closes the connection (`Ok(())`). Fails only on socket errors or on a frame
/// whose size is unusable, after which the stream cannot be resynchronised.
pub fn serve(root: OwnedFd, mut sock: UnixStream, opts: ServeOptions) -> Result<(), GoferError> {
    let mut server =
        server::Server::new(root, opts.readonly, !opts.no_fd_donation).map_err(GoferError::Root)?;
    tracing::info!(target: "gofer", readonly = opts.readonly, donation = !opts.no_fd_donation, "serving");
    let mut out = Vec::new();
    loop {
        let msize = server.msize();
        let Some(frame) = read_frame(&mut sock, msize)? else {
            tracing::info!(target: "gofer", "peer closed the connection");
            return Ok(());
        };
        let mut donated = None;
        let (tag, reply) = match Tmessage::decode(&frame, msize) {
            Ok((tag, msg)) => {
                tracing::trace!(target: "gofer", tag, ?msg, "request");
                let (reply, fd) = server.handle(msg);
                donated = fd;
                (tag, reply)
            }
            Err(P9Error::UnknownType { ty, tag }) => {
                tracing::debug!(target: "gofer", ty, "unsupported message type");
                (tag, lerror(abi::Errno::EOPNOTSUPP))
            }
            Err(err) => {
                // The frame boundary is intact (read_frame checked it), so answer on its tag.
                let tag = Header::parse(&frame, msize)
                    .map_err(GoferError::Framing)?
                    .tag;
                tracing::debug!(target: "gofer", ?err, "malformed request");
                (tag, lerror(abi::Errno::EINVAL))
            }
        };
        out.clear();
        if let Err(err) = reply.encode(tag, &mut out) {
            tracing::warn!(target: "gofer", ?err, "reply not encodable");
            out.clear();
            lerror(abi::Errno::EIO)
                .encode(tag, &mut out)
                .map_err(GoferError::Framing)?;
        }
        let sent = match donated {
            Some(fd) if !out.is_empty() => send_with_fd(&sock, &out, fd),
            _ => sock.write_all(&out).map_err(GoferError::Socket),
        };
        match sent {
            // The client does not wait for every reply (Tclunk), so it may hang up with
            // replies still to come: that is a normal end.
            Err(GoferError::Socket(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) =>
            {
                tracing::info!(target: "gofer", "peer closed the connection");
                return Ok(());
            }
            r => r?,
        }
    }
}

/// Sends one reply frame with `fd` attached (SCM_RIGHTS on its first byte), then the rest of
/// the frame if the socket took only part of it. Our copy of the fd is closed afterwards.
fn send_with_fd(mut sock: &UnixStream, frame: &[u8], fd: OwnedFd) -> Result<(), GoferError> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [io::IoSlice::new(frame)];
    let n = loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) => break n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(GoferError::Socket(io::Error::from(e))),
        }
    };
    drop(fd);
    sock.write_all(frame.get(n..).unwrap_or_default())
        .map_err(GoferError::Socket)
}

fn lerror(e: abi::Errno) -> Rmessage {
    Rmessage::Lerror {
        ecode: u32::try_from(e.raw()).unwrap_or(5),
    }
}

/// How long the server polls for the next request before sleeping in read(2): a client that
/// sends its next request within it (the common case while a program walks or opens files)
/// is served without a cross-CPU wake-up of this process.
const SPIN: std::time::Duration = std::time::Duration::from_micros(50);

fn spin_until_readable(sock: &UnixStream) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let start = std::time::Instant::now();
    loop {
        let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(0) => {}
            _ => return,
        }
        if start.elapsed() >= SPIN {
            return;
        }
        std::hint::spin_loop();
    }
}

/// Reads one whole frame; `None` on a clean EOF before its first byte.
fn read_frame(sock: &mut UnixStream, msize: u32) -> Result<Option<Vec<u8>>, GoferError> {
    spin_until_readable(sock);
    let mut prefix = [0u8; 4];
    match sock.read_exact(&mut prefix) {
        Ok(()) => {}
        // ECONNRESET: the peer closed with replies of ours unread (unawaited Tclunks).
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(GoferError::Socket(e)),
    }
    let size = p9::frame_size(prefix, msize).map_err(GoferError::Framing)?;
    let mut frame = vec![0u8; size];
    let (head, body) = frame.split_at_mut(4);
    head.copy_from_slice(&prefix);
    match sock.read_exact(body) {
        Ok(()) => Ok(Some(frame)),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(None),
        Err(e) => Err(GoferError::Socket(e)),
    }
}
