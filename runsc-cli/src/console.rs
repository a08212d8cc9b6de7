//! The host side of `--console-socket`, as runc does it: a host pty pair
//! ([`open_host_pty`]), whose master goes to the AF_UNIX stream socket the caller listens on
//! ([`send_console`]: one `sendmsg` carrying the master fd as SCM_RIGHTS, with the master's
//! file name, "/dev/ptmx", as the payload — runc's `utils.SendFile` of containerd/console's
//! master file), and whose slave the sentry's console bridge
//! (`sentry::tty::console::attach_console`) joins to the sandbox's own pty.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::Context as _;
use nix::fcntl::OFlag;
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

/// The payload runc sends with the master fd.
const MASTER_NAME: &[u8] = b"/dev/ptmx";

/// A new host pty pair: (master, slave), both close-on-exec, the slave opened without
/// becoming our controlling terminal.
pub fn open_host_pty() -> anyhow::Result<(OwnedFd, OwnedFd)> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .context("posix_openpt")?;
    nix::pty::grantpt(&master).context("grantpt")?;
    nix::pty::unlockpt(&master).context("unlockpt")?;
    let name = nix::pty::ptsname_r(&master).context("ptsname")?;
    let slave = nix::fcntl::open(
        Path::new(&name),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("opening {name}"))?;
    // SAFETY: into_raw_fd hands over sole ownership of the open master fd.
    let master = unsafe { OwnedFd::from_raw_fd(master.into_raw_fd()) };
    Ok((master, slave))
}

/// Connects to the console socket at `socket_path` and sends `master` over it.
pub fn send_console(socket_path: &Path, master: &OwnedFd) -> anyhow::Result<()> {
    let sock = UnixStream::connect(socket_path)
        .with_context(|| format!("connecting to the console socket {}", socket_path.display()))?;
    let fds = [master.as_raw_fd()];
    let iov = [IoSlice::new(MASTER_NAME)];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .context("sending the console master")?;
    Ok(())
}

/// For `--console-socket PATH`: a host pty whose master has been sent to PATH; the slave is
/// returned (the terminal the sandbox bridges). `None` without a socket.
pub fn console_for_socket(socket: Option<&Path>) -> anyhow::Result<Option<OwnedFd>> {
    let Some(sock) = socket else {
        return Ok(None);
    };
    let (master, slave) = open_host_pty()?;
    send_console(sock, &master)?;
    Ok(Some(slave))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{ControlMessageOwned, recvmsg};
    use std::io::IoSliceMut;
    use std::os::unix::net::UnixListener;

    #[test]
    fn the_master_arrives_and_carries_bytes_to_the_slave() {
        let dir = std::env::temp_dir().join(format!("rvisor-console-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("console.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let (master, slave) = open_host_pty().unwrap();
        send_console(&path, &master).unwrap();
        drop(master);
        let (conn, _) = listener.accept().unwrap();
        let mut name = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut name)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .unwrap();
        let mut got = None;
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                got = fds.first().copied();
            }
        }
        let n = msg.bytes;
        assert_eq!(name.get(..n).unwrap(), MASTER_NAME);
        // SAFETY: the fd just arrived over SCM_RIGHTS and nothing else owns it.
        let received = unsafe { OwnedFd::from_raw_fd(got.expect("an fd arrived")) };
        // Raw slave so the line discipline does not get in the way of the check.
        let mut t = nix::sys::termios::tcgetattr(&slave).unwrap();
        nix::sys::termios::cfmakeraw(&mut t);
        nix::sys::termios::tcsetattr(&slave, nix::sys::termios::SetArg::TCSANOW, &t).unwrap();
        nix::unistd::write(&received, b"ping").unwrap();
        let mut buf = [0u8; 4];
        let mut done = 0;
        while done < 4 {
            done += nix::unistd::read(&slave, &mut buf[done..]).unwrap();
        }
        assert_eq!(&buf, b"ping");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
