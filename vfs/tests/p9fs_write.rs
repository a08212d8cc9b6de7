//! The p9fs write path end to end (mknod, hard links, extended attributes, renameat2 flags):
//! a real gofer serves a temporary directory over a socketpair, the VFS mounts it, and the
//! results are checked against what the host sees (rustix for the host's xattrs).

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, symlink};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::thread;

use abi::Errno;
use abi::file as f;
use rustix::fs::XattrFlags;
use vfs::xattr::XattrMode;
use vfs::{Creds, Lookup, MountNamespace, RenameFlags, p9client, p9fs};

fn mount(dir: &Path, readonly: bool) -> Arc<MountNamespace> {
    let (a, b) = UnixStream::pair().unwrap();
    let root: OwnedFd = fs::File::open(dir).unwrap().into();
    let opts = gofer::ServeOptions {
        readonly,
        no_fd_donation: false,
    };
    thread::spawn(move || gofer::serve(root, b, opts));
    let client = p9client::Client::new(a).unwrap();
    MountNamespace::new(
        p9fs::new_filesystem(
            client,
            p9fs::Options {
                readonly,
                shared: false,
                memfile: None,
            },
        )
        .unwrap(),
    )
}

/// Runs `body` with a root lookup over a fresh mount of `dir`.
fn with_lookup(dir: &Path, readonly: bool, body: impl FnOnce(&Lookup<'_>)) {
    let ns = mount(dir, readonly);
    let root = ns.root();
    let c = Creds::root();
    body(&Lookup {
        root: &root,
        start: &root,
        creds: &c,
    });
}

fn host_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = [0u8; 256];
    let n = rustix::fs::getxattr(path, name, &mut buf[..]).ok()?;
    Some(buf[..n].to_vec())
}

fn names(l: &Lookup<'_>, path: &[u8]) -> Vec<Vec<u8>> {
    let list = l
        .resolve(path, false)
        .unwrap()
        .listxattr(&Creds::root())
        .unwrap();
    let mut v: Vec<Vec<u8>> = list
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    v.sort();
    v
}

#[test]
fn mknod_makes_fifos_and_sockets_and_refuses_devices() {
    let tmp = tempfile::tempdir().unwrap();
    with_lookup(tmp.path(), false, |l| {
        l.mknod(b"/fifo", f::S_IFIFO | 0o640, 0).unwrap();
        l.mknod(b"/sock", f::S_IFSOCK | 0o600, 0).unwrap();
        let md = fs::symlink_metadata(tmp.path().join("fifo")).unwrap();
        assert!(md.file_type().is_fifo());
        assert_eq!(md.mode() & 0o777, 0o640);
        assert!(
            fs::symlink_metadata(tmp.path().join("sock"))
                .unwrap()
                .file_type()
                .is_socket()
        );
        let st = l.resolve(b"/fifo", false).unwrap().stat().unwrap();
        assert_eq!(st.mode & f::S_IFMT, f::S_IFIFO);
        assert_eq!(
            l.mknod(b"/null", f::S_IFCHR | 0o666, f::makedev(1, 3))
                .unwrap_err(),
            Errno::EPERM
        );
        assert_eq!(
            l.mknod(b"/fifo", f::S_IFIFO | 0o640, 0).unwrap_err(),
            Errno::EEXIST
        );
    });
}

#[test]
fn link_adds_a_host_hard_link() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("a"), b"x").unwrap();
    fs::create_dir(tmp.path().join("d")).unwrap();
    with_lookup(tmp.path(), false, |l| {
        l.link(b"/a", l, b"/d/b", false).unwrap();
        let (a, b) = (
            fs::metadata(tmp.path().join("a")).unwrap(),
            fs::metadata(tmp.path().join("d/b")).unwrap(),
        );
        assert_eq!(a.ino(), b.ino());
        assert_eq!(a.nlink(), 2);
        // The cached attributes of the target were refreshed.
        assert_eq!(l.resolve(b"/a", false).unwrap().stat().unwrap().nlink, 2);
        assert_eq!(l.link(b"/a", l, b"/d/b", false).unwrap_err(), Errno::EEXIST);
        assert_eq!(l.link(b"/d", l, b"/e", false).unwrap_err(), Errno::EPERM);
    });
}

#[test]
fn xattrs_set_get_list_and_remove_on_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f"), b"x").unwrap();
    fs::create_dir(tmp.path().join("d")).unwrap();
    let host_f = tmp.path().join("f");
    rustix::fs::setxattr(&host_f, "user.host", b"h", XattrFlags::empty()).unwrap();
    with_lookup(tmp.path(), false, |l| {
        let c = Creds::root();
        let p = l.resolve(b"/f", false).unwrap();
        assert_eq!(p.getxattr(&c, b"user.host").unwrap(), b"h");
        p.setxattr(&c, b"user.a", b"one", XattrMode::Any).unwrap();
        assert_eq!(host_xattr(&host_f, "user.a").unwrap(), b"one");
        assert_eq!(p.getxattr(&c, b"user.a").unwrap(), b"one");
        assert_eq!(
            p.setxattr(&c, b"user.a", b"two", XattrMode::Create)
                .unwrap_err(),
            Errno::EEXIST
        );
        assert_eq!(
            p.setxattr(&c, b"user.b", b"two", XattrMode::Replace)
                .unwrap_err(),
            Errno::ENODATA
        );
        p.setxattr(&c, b"user.a", b"two", XattrMode::Replace)
            .unwrap();
        assert_eq!(host_xattr(&host_f, "user.a").unwrap(), b"two");
        // An empty value is a value, not a removal.
        p.setxattr(&c, b"user.empty", b"", XattrMode::Any).unwrap();
        assert_eq!(host_xattr(&host_f, "user.empty").unwrap(), b"");
        assert_eq!(
            names(l, b"/f"),
            vec![
                b"user.a".to_vec(),
                b"user.empty".to_vec(),
                b"user.host".to_vec()
            ]
        );
        p.removexattr(&c, b"user.a").unwrap();
        assert_eq!(host_xattr(&host_f, "user.a"), None);
        assert_eq!(p.getxattr(&c, b"user.a").unwrap_err(), Errno::ENODATA);
        assert_eq!(p.removexattr(&c, b"user.a").unwrap_err(), Errno::ENODATA);
        // A value bigger than one Twrite/Rread still round trips.
        let big: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        p.setxattr(&c, b"user.big", &big, XattrMode::Any).unwrap();
        assert_eq!(p.getxattr(&c, b"user.big").unwrap(), big);
        // Directories too; trusted.* passes through for a privileged gofer.
        let d = l.resolve(b"/d", false).unwrap();
        d.setxattr(&c, b"user.dir", b"d", XattrMode::Any).unwrap();
        assert_eq!(host_xattr(&tmp.path().join("d"), "user.dir").unwrap(), b"d");
        d.setxattr(&c, b"trusted.t", b"t", XattrMode::Any).unwrap();
        assert_eq!(d.getxattr(&c, b"trusted.t").unwrap(), b"t");
    });
}

#[test]
fn xattrs_of_symlinks_are_empty_and_user_ones_refused() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f"), b"x").unwrap();
    symlink("f", tmp.path().join("l")).unwrap();
    with_lookup(tmp.path(), false, |l| {
        let c = Creds::root();
        let link = l.resolve(b"/l", false).unwrap();
        assert!(names(l, b"/l").is_empty());
        assert_eq!(link.getxattr(&c, b"user.a").unwrap_err(), Errno::ENODATA);
        assert_eq!(
            link.setxattr(&c, b"user.a", b"v", XattrMode::Any)
                .unwrap_err(),
            Errno::EPERM
        );
        // Through the link, the target's attributes.
        let target = l.resolve(b"/l", true).unwrap();
        target
            .setxattr(&c, b"user.t", b"v", XattrMode::Any)
            .unwrap();
        assert_eq!(host_xattr(&tmp.path().join("f"), "user.t").unwrap(), b"v");
    });
}

#[test]
fn rename_flags_noreplace_exchange_and_whiteout() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("a"), b"A").unwrap();
    fs::write(tmp.path().join("b"), b"B").unwrap();
    fs::create_dir(tmp.path().join("d")).unwrap();
    with_lookup(tmp.path(), false, |l| {
        let noreplace = RenameFlags {
            noreplace: true,
            ..RenameFlags::default()
        };
        let exchange = RenameFlags {
            exchange: true,
            ..RenameFlags::default()
        };
        assert_eq!(
            l.rename2(b"/a", l, b"/b", noreplace).unwrap_err(),
            Errno::EEXIST
        );
        l.rename2(b"/a", l, b"/c", noreplace).unwrap();
        assert_eq!(fs::read(tmp.path().join("c")).unwrap(), b"A");
        l.rename2(b"/c", l, b"/b", exchange).unwrap();
        assert_eq!(fs::read(tmp.path().join("c")).unwrap(), b"B");
        assert_eq!(fs::read(tmp.path().join("b")).unwrap(), b"A");
        // The dentry cache follows the swap.
        let st_b = l.resolve(b"/b", false).unwrap().stat().unwrap();
        assert_eq!(st_b.ino, fs::metadata(tmp.path().join("b")).unwrap().ino());
        // A file and a directory swap too.
        l.rename2(b"/c", l, b"/d", exchange).unwrap();
        assert!(tmp.path().join("c").is_dir());
        assert!(l.resolve(b"/c", false).unwrap().is_dir());
        assert_eq!(
            l.rename2(b"/b", l, b"/missing", exchange).unwrap_err(),
            Errno::ENOENT
        );
        let whiteout = RenameFlags {
            whiteout: true,
            ..RenameFlags::default()
        };
        assert_eq!(
            l.rename2(b"/b", l, b"/w", whiteout).unwrap_err(),
            Errno::EINVAL
        );
    });
}

#[test]
fn readonly_export_refuses_every_new_mutation_but_reads_xattrs() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f"), b"x").unwrap();
    fs::write(tmp.path().join("g"), b"y").unwrap();
    rustix::fs::setxattr(tmp.path().join("f"), "user.k", b"v", XattrFlags::empty()).unwrap();
    with_lookup(tmp.path(), true, |l| {
        let c = Creds::root();
        let p = l.resolve(b"/f", false).unwrap();
        assert_eq!(p.getxattr(&c, b"user.k").unwrap(), b"v");
        assert_eq!(names(l, b"/f"), vec![b"user.k".to_vec()]);
        assert_eq!(
            p.setxattr(&c, b"user.k", b"w", XattrMode::Any).unwrap_err(),
            Errno::EROFS
        );
        assert_eq!(p.removexattr(&c, b"user.k").unwrap_err(), Errno::EROFS);
        assert_eq!(
            l.mknod(b"/fifo", f::S_IFIFO | 0o644, 0).unwrap_err(),
            Errno::EROFS
        );
        assert_eq!(l.link(b"/f", l, b"/h", false).unwrap_err(), Errno::EROFS);
        let exchange = RenameFlags {
            exchange: true,
            ..RenameFlags::default()
        };
        assert_eq!(
            l.rename2(b"/f", l, b"/g", exchange).unwrap_err(),
            Errno::EROFS
        );
    });
    assert_eq!(host_xattr(&tmp.path().join("f"), "user.k").unwrap(), b"v");
}
