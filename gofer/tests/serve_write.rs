//! The gofer's write-path requests (Tmknod, Tlink, Txattrwalk/Txattrcreate, the Trenameat2
//! extension) straight through the client, with the read-only export refusing each of them
//! with EROFS at the server (the VFS above is not involved).
#![allow(clippy::tests_outside_test_module)]

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use abi::Errno;
use gofer::{ServeOptions, serve};
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use tempfile::TempDir;
use vfs::p9client::{Client, Fid};

const S_IFIFO: u32 = 0o010000;
const S_IFCHR: u32 = 0o020000;
const RENAME_NOREPLACE: u32 = 1;
const RENAME_EXCHANGE: u32 = 2;

fn start(readonly: bool) -> (TempDir, Arc<Client>, Fid) {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("a"), b"A").unwrap();
    fs::write(dir.path().join("b"), b"B").unwrap();
    let root_fd: OwnedFd = open(
        dir.path(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let (ours, theirs) = UnixStream::pair().unwrap();
    std::thread::spawn(move || {
        serve(
            root_fd,
            theirs,
            ServeOptions {
                readonly,
                ..ServeOptions::default()
            },
        )
    });
    let client = Client::new(ours).unwrap();
    let (root, _) = client.attach(b"").unwrap();
    (dir, client, root)
}

#[test]
fn mknod_link_xattr_and_renameat2_change_the_host() {
    let (dir, _client, root) = start(false);
    root.mknod(b"fifo", S_IFIFO | 0o600, (0, 0), 0).unwrap();
    assert!(
        fs::symlink_metadata(dir.path().join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(
        root.mknod(b"tty", S_IFCHR | 0o600, (5, 0), 0).unwrap_err(),
        Errno::EPERM
    );
    let (a, _) = root.walk(&[b"a"]).unwrap();
    root.link(&a, b"a2").unwrap();
    assert_eq!(fs::read(dir.path().join("a2")).unwrap(), b"A");
    a.xattr_write(b"user.k", b"value", 0).unwrap();
    assert_eq!(a.xattr_read(b"user.k", 65536).unwrap(), b"value");
    assert_eq!(a.xattr_read(b"user.k", 2).unwrap_err(), Errno::E2BIG);
    assert_eq!(a.xattr_read(b"", 65536).unwrap(), b"user.k\0");
    assert_eq!(
        a.xattr_write(b"user.k", b"v", 1).unwrap_err(),
        Errno::EEXIST
    );
    a.xattr_write(b"user.k", b"", p9::XATTR_REMOVE).unwrap();
    assert_eq!(a.xattr_read(b"user.k", 65536).unwrap_err(), Errno::ENODATA);
    assert_eq!(
        root.renameat2(b"a", &root, b"b", RENAME_NOREPLACE)
            .unwrap_err(),
        Errno::EEXIST
    );
    root.renameat2(b"a", &root, b"b", RENAME_EXCHANGE).unwrap();
    assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"B");
    assert_eq!(
        root.renameat2(b"a", &root, b"b", 4).unwrap_err(),
        Errno::EINVAL
    );
}

#[test]
fn symlink_and_fifo_xattrs_go_through_the_parent_without_following() {
    let (dir, _client, root) = start(false);
    std::os::unix::fs::symlink("a", dir.path().join("l")).unwrap();
    root.mknod(b"fifo", S_IFIFO | 0o600, (0, 0), 0).unwrap();
    let (l, _) = root.walk(&[b"l"]).unwrap();
    let (fifo, _) = root.walk(&[b"fifo"]).unwrap();
    // user.* is for regular files and directories only (the host says so).
    assert_eq!(l.xattr_write(b"user.k", b"v", 0).unwrap_err(), Errno::EPERM);
    assert_eq!(l.xattr_read(b"user.k", 65536).unwrap_err(), Errno::ENODATA);
    // trusted.* works for a privileged gofer where the host has the *xattrat calls.
    match l.xattr_write(b"trusted.t", b"link", 0) {
        Ok(()) => {
            let mut buf = [0u8; 16];
            let n = rustix::fs::lgetxattr(dir.path().join("l"), "trusted.t", &mut buf[..]).unwrap();
            assert_eq!(&buf[..n], b"link");
            assert_eq!(l.xattr_read(b"", 65536).unwrap(), b"trusted.t\0");
            // Not followed: the target has nothing.
            rustix::fs::getxattr(dir.path().join("a"), "trusted.t", &mut buf[..]).unwrap_err();
            fifo.xattr_write(b"trusted.f", b"f", 0).unwrap();
            assert_eq!(fifo.xattr_read(b"trusted.f", 16).unwrap(), b"f");
            fifo.xattr_write(b"trusted.f", b"", p9::XATTR_REMOVE)
                .unwrap();
            assert_eq!(fifo.xattr_read(b"", 16).unwrap(), b"");
        }
        // Older host (no setxattrat), or an unprivileged test run.
        Err(e) => assert!(e == Errno::EOPNOTSUPP || e == Errno::EPERM, "{e:?}"),
    }
}

#[test]
fn readonly_export_refuses_the_write_path_with_erofs() {
    let (dir, _client, root) = start(true);
    assert_eq!(
        root.mknod(b"fifo", S_IFIFO | 0o600, (0, 0), 0).unwrap_err(),
        Errno::EROFS
    );
    let (a, _) = root.walk(&[b"a"]).unwrap();
    assert_eq!(root.link(&a, b"a2").unwrap_err(), Errno::EROFS);
    assert_eq!(a.xattr_write(b"user.k", b"v", 0).unwrap_err(), Errno::EROFS);
    assert_eq!(
        a.xattr_write(b"user.k", b"", p9::XATTR_REMOVE).unwrap_err(),
        Errno::EROFS
    );
    assert_eq!(
        root.renameat2(b"a", &root, b"b", RENAME_EXCHANGE)
            .unwrap_err(),
        Errno::EROFS
    );
    // Reading attributes is not a mutation.
    assert_eq!(a.xattr_read(b"", 65536).unwrap(), b"");
    assert!(!dir.path().join("fifo").exists());
    assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"A");
}
