//! Sockets: AF_UNIX (unix(7)) in [`unix`]; AF_NETLINK's route family (rtnetlink(7)), answered
//! by the sentry itself, in [`netlink`]; AF_INET/AF_INET6 over the sandbox's netstack in
//! [`inet`].
//!
//! What this owns: the socket objects (endpoints with their receive queues, listeners with their
//! backlogs), the name registry that maps a bound address (an abstract name or a socket inode)
//! to its endpoint, and the [`vfs::FileOps`] of a socket file description. What it does not
//! own: argument decoding, user memory, fd installation and the blocking loops — those are in
//! `syscalls/socket.rs`, which calls the non-blocking operations here and sleeps on the
//! endpoints' wait queues with `syscalls::fs::blocking`, as pipes do. Path names are created in
//! the VFS by the syscall layer (`Lookup::mknod` with `S_IFSOCK`); this module only sees the
//! resulting `(dev, ino)` key.
//!
//! Neighbours: `kernel/pipe.rs` (the same readiness and EPIPE rules), `vfs::waiter`, and
//! `syscalls::fs::blocking` (read/write on a socket), which asks [`unix::block_timeout`] and
//! [`inet::block_timeout`] for SO_RCVTIMEO/SO_SNDTIMEO. No VFS hooks were needed: path names use tmpfs's existing mknod.
//!
//! Lock order: at most one endpoint's `state` is held at a time (a send locks the receiver
//! only, a receive locks the receiver only and notifies the sender's queue after unlocking);
//! `REGISTRY` is taken alone, never with an endpoint's state. Wait queues are notified either
//! with the owning state held or after it is released (both are safe with the
//! prepare/check/wait protocol of `vfs::waiter`).
//!
//! Shortcuts (written down so they do not become architecture):
//! - One abstract namespace per sentry process (Linux has one per network namespace).
//! - Sockets are not garbage-collected: a socket sent over itself in SCM_RIGHTS and never
//!   received keeps itself alive until the sentry exits (Linux's unix_gc breaks such cycles).
//! - The credentials a message carries are those of the sender when it comes through
//!   sendmsg/sendto; through write(2) (where the file layer has no task) they are those of the
//!   task that created the socket.
//! - Connecting to a path checks write permission on the socket file; the listener's own
//!   permission bits are those given at bind (mode 0777 minus umask), as on Linux.

pub mod inet;
pub mod netlink;
pub mod unix;

/// fstat(2) of a socket: S_IFSOCK 0777 on sockfs's anonymous device (0:8 on Linux).
pub(crate) fn socket_stat(ino: u64) -> abi::file::Stat {
    abi::file::Stat {
        mode: abi::file::S_IFSOCK | 0o777,
        nlink: 1,
        ino,
        blksize: 4096,
        dev: 8,
        ..abi::file::Stat::default()
    }
}
