//! The gofer served over a socketpair against a `TempDir`, checked through the real client
//! (`vfs::p9client`) against what the host reports via `std::fs` (rust-p9's `check_attr`
//! approach). No privileges needed.
// An integration-test crate is compiled only for tests; the lint targets unit tests in
// library code.
#![allow(clippy::tests_outside_test_module)]

use std::collections::BTreeSet;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use abi::Errno;
use gofer::{GoferError, ServeOptions, serve};
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use tempfile::TempDir;
use vfs::p9client::{Client, Fid};

const O_RDONLY: u32 = 0;
const O_WRONLY: u32 = 1;
const O_RDWR: u32 = 2;
const O_DIRECTORY: u32 = 0o200000;
const AT_REMOVEDIR: u32 = 0x200;
const S_IFMT: u32 = 0o170000;
const S_IFLNK: u32 = 0o120000;

struct Fixture {
    dir: TempDir,
    root: Option<Fid>,
    client: Option<Arc<Client>>,
    server: Option<JoinHandle<Result<(), GoferError>>>,
}

impl Fixture {
    fn root(&self) -> &Fid {
        self.root.as_ref().unwrap()
    }
    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }
    /// Drops the client side and checks that the server loop ended cleanly.
    fn finish(mut self) {
        drop(self.root.take());
        drop(self.client.take());
        self.server.take().unwrap().join().unwrap().unwrap();
    }
}

fn big_content() -> Vec<u8> {
    // 1.25 MiB: more than two 512 KiB messages, with a position-dependent pattern.
    (0..1_310_720u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn populate(root: &Path) {
    fs::write(root.join("hello.txt"), b"hello, gofer\n").unwrap();
    fs::write(root.join("big.bin"), big_content()).unwrap();
    fs::create_dir(root.join("sub")).unwrap();
    fs::write(root.join("sub/inner.txt"), b"inner").unwrap();
    fs::create_dir(root.join("many")).unwrap();
    for i in 0..300 {
        fs::write(
            root.join(format!("many/entry-with-a-longish-name-{i:04}")),
            b"",
        )
        .unwrap();
    }
    symlink("hello.txt", root.join("link_rel")).unwrap();
    symlink("sub", root.join("link_dir")).unwrap();
    // Points outside the export: the server must never follow it.
    symlink("/etc", root.join("escape")).unwrap();
    symlink("/etc/passwd", root.join("escape_file")).unwrap();
    symlink("nowhere", root.join("dangling")).unwrap();
}

fn start(opts: ServeOptions) -> Fixture {
    let dir = TempDir::new().unwrap();
    populate(dir.path());
    let root_fd: OwnedFd = open(
        dir.path(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let server = std::thread::spawn(move || serve(root_fd, theirs, opts));
    let client = Client::new(ours).unwrap();
    let (root, qid) = client.attach(b"").unwrap();
    assert_eq!(qid.ty, p9::qid_type::DIR);
    assert_eq!(qid.path, fs::metadata(dir.path()).unwrap().ino());
    Fixture {
        dir,
        root: Some(root),
        client: Some(client),
        server: Some(server),
    }
}

fn assert_attr_matches(attr: &p9::Attr, host: &fs::Metadata, what: &str) {
    assert_eq!(attr.mode, host.mode(), "{what}: mode");
    assert_eq!(attr.size, host.size(), "{what}: size");
    assert_eq!(attr.qid.path, host.ino(), "{what}: ino");
    assert_eq!(attr.nlink, host.nlink(), "{what}: nlink");
    assert_eq!(attr.uid, host.uid(), "{what}: uid");
    assert_eq!(attr.gid, host.gid(), "{what}: gid");
    assert_eq!(attr.blocks, host.blocks(), "{what}: blocks");
    assert_eq!(attr.mtime_sec.cast_signed(), host.mtime(), "{what}: mtime");
    assert_eq!(
        attr.mtime_nsec.cast_signed(),
        host.mtime_nsec(),
        "{what}: mtime_nsec"
    );
    assert_eq!(
        attr.valid & p9::getattr::BASIC,
        p9::getattr::BASIC,
        "{what}: valid"
    );
}

#[test]
fn getattr_matches_host_symlink_metadata() {
    let fx = start(ServeOptions::default());
    for name in [
        "hello.txt",
        "big.bin",
        "sub",
        "link_rel",
        "escape",
        "dangling",
    ] {
        let (fid, attr) = fx.root().walk_getattr(name.as_bytes()).unwrap();
        let host = fs::symlink_metadata(fx.path(name)).unwrap();
        assert_attr_matches(&attr, &host, name);
        // A separate Tgetattr agrees with the pipelined one.
        assert_eq!(fid.getattr().unwrap(), attr, "{name}");
    }
    let (_, escape) = fx.root().walk_getattr(b"escape").unwrap();
    assert_eq!(
        escape.mode & S_IFMT,
        S_IFLNK,
        "the symlink itself, not /etc"
    );
    assert_eq!(escape.qid.ty, p9::qid_type::SYMLINK);
    fx.finish();
}

#[test]
fn walk_of_missing_name_fails_enoent() {
    let fx = start(ServeOptions::default());
    assert_eq!(fx.root().walk_getattr(b"nope").unwrap_err(), Errno::ENOENT);
    assert_eq!(
        fx.root().walk(&[b"sub", b"nope"]).unwrap_err(),
        Errno::ENOENT
    );
    fx.finish();
}

#[test]
fn multi_component_walk_returns_one_qid_per_name() {
    let fx = start(ServeOptions::default());
    let (fid, qids) = fx.root().walk(&[b"sub", b"inner.txt"]).unwrap();
    assert_eq!(qids.len(), 2);
    assert_eq!(qids[0].ty, p9::qid_type::DIR);
    assert_eq!(
        qids[1].path,
        fs::metadata(fx.path("sub/inner.txt")).unwrap().ino()
    );
    let attr = fid.getattr().unwrap();
    assert_eq!(attr.size, 5);
    // Cloning (empty walk) yields the same file.
    let (clone, qids) = fid.walk(&[]).unwrap();
    assert!(qids.is_empty());
    assert_eq!(clone.getattr().unwrap().qid, attr.qid);
    drop((fid, clone));
    fx.finish();
}

#[test]
fn read_returns_file_contents_across_msize_chunks() {
    let fx = start(ServeOptions::default());
    let (fid, _) = fx.root().walk(&[b"big.bin"]).unwrap();
    let (qid, iounit) = fid.lopen(O_RDONLY).unwrap();
    assert_eq!(qid.ty, p9::qid_type::FILE);
    assert!(iounit > 0);
    let want = big_content();
    let mut buf = vec![0u8; want.len() + 100];
    let n = fid.read(0, &mut buf).unwrap();
    assert_eq!(n, want.len());
    assert_eq!(&buf[..n], &want[..]);
    // Reading at an offset, and past the end.
    let mut small = [0u8; 10];
    assert_eq!(fid.read(1000, &mut small).unwrap(), 10);
    assert_eq!(&small, &want[1000..1010]);
    assert_eq!(fid.read(want.len() as u64 + 5, &mut small).unwrap(), 0);
    drop(fid);
    fx.finish();
}

#[test]
fn read_on_unopened_fid_fails_ebadf() {
    let fx = start(ServeOptions::default());
    let (fid, _) = fx.root().walk(&[b"hello.txt"]).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(fid.read(0, &mut buf).unwrap_err(), Errno::EBADF);
    drop(fid);
    fx.finish();
}

fn read_all_entries(dir: &Fid, count: u32) -> Vec<p9::DirEntry> {
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let batch = dir.readdir(offset, count).unwrap();
        let Some(last) = batch.last() else { break };
        offset = last.offset;
        all.extend(batch);
    }
    all
}

#[test]
fn readdir_resumes_with_entry_offsets_and_lists_every_name_once() {
    let fx = start(ServeOptions::default());
    let (dir, _) = fx.root().walk(&[b"many"]).unwrap();
    dir.lopen(O_RDONLY | O_DIRECTORY).unwrap();
    // A small budget forces many requests: each fits only a few entries.
    let entries = read_all_entries(&dir, 200);
    let names: Vec<String> = entries
        .iter()
        .map(|e| String::from_utf8(e.name.clone()).unwrap())
        .filter(|n| n != "." && n != "..")
        .collect();
    let unique: BTreeSet<String> = names.iter().cloned().collect();
    assert_eq!(unique.len(), names.len(), "no duplicates");
    let host: BTreeSet<String> = fs::read_dir(fx.path("many"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(unique, host);
    // A single large request returns the same set.
    let again: BTreeSet<Vec<u8>> = read_all_entries(&dir, 64 * 1024)
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(again.len(), 302);
    drop(dir);
    fx.finish();
}

#[test]
fn readdir_reports_types_and_inodes() {
    let fx = start(ServeOptions::default());
    let (dir, _) = fx.root().walk(&[]).unwrap();
    dir.lopen(O_RDONLY).unwrap();
    for e in read_all_entries(&dir, 8192) {
        let name = String::from_utf8(e.name.clone()).unwrap();
        if name == "." || name == ".." {
            continue;
        }
        let host = fs::symlink_metadata(fx.path(&name)).unwrap();
        assert_eq!(e.qid.path, host.ino(), "{name}");
        let want_ty = if host.is_dir() {
            4
        } else if host.file_type().is_symlink() {
            10
        } else {
            8
        };
        assert_eq!(e.ty, want_ty, "{name}");
    }
    drop(dir);
    fx.finish();
}

#[test]
fn readlink_returns_target_without_following() {
    let fx = start(ServeOptions::default());
    for (name, target) in [
        ("link_rel", "hello.txt"),
        ("escape", "/etc"),
        ("escape_file", "/etc/passwd"),
        ("dangling", "nowhere"),
    ] {
        let (fid, _) = fx.root().walk(&[name.as_bytes()]).unwrap();
        assert_eq!(fid.readlink().unwrap(), target.as_bytes(), "{name}");
        assert_eq!(
            fs::read_link(fx.path(name)).unwrap().as_os_str().len(),
            target.len()
        );
    }
    let (file, _) = fx.root().walk(&[b"hello.txt"]).unwrap();
    assert_eq!(file.readlink().unwrap_err(), Errno::EINVAL);
    drop(file);
    fx.finish();
}

#[test]
fn walk_through_symlink_component_is_refused() {
    let fx = start(ServeOptions::default());
    // Outside the root: would reach the host's /etc/passwd if followed.
    assert_eq!(
        fx.root().walk(&[b"escape", b"passwd"]).unwrap_err(),
        Errno::ELOOP
    );
    // Even inside the root, the server does not resolve symlinks: the client does.
    assert_eq!(
        fx.root().walk(&[b"link_dir", b"inner.txt"]).unwrap_err(),
        Errno::ELOOP
    );
    fx.finish();
}

#[test]
fn opening_a_symlink_fid_is_refused() {
    let fx = start(ServeOptions::default());
    let (fid, _) = fx.root().walk(&[b"escape_file"]).unwrap();
    assert_eq!(fid.lopen(O_RDONLY).unwrap_err(), Errno::ELOOP);
    drop(fid);
    fx.finish();
}

#[test]
fn dotdot_from_root_stays_at_root() {
    let fx = start(ServeOptions::default());
    let root_ino = fs::metadata(fx.dir.path()).unwrap().ino();
    let (up, qids) = fx.root().walk(&[b"..", b"..", b".."]).unwrap();
    assert!(qids.iter().all(|q| q.path == root_ino));
    assert_eq!(up.getattr().unwrap().qid.path, root_ino);
    // ".." then a name resolves inside the export, not in the host parent directory.
    let (hello, _) = fx.root().walk(&[b"..", b"hello.txt"]).unwrap();
    assert_eq!(
        hello.getattr().unwrap().qid.path,
        fs::metadata(fx.path("hello.txt")).unwrap().ino()
    );
    // sub/.. is the root.
    let (_, qids) = fx.root().walk(&[b"sub", b".."]).unwrap();
    assert_eq!(qids[1].path, root_ino);
    drop((up, hello));
    fx.finish();
}

#[test]
fn names_that_are_not_single_components_are_rejected() {
    let fx = start(ServeOptions::default());
    assert_eq!(
        fx.root().walk(&[b"sub/inner.txt"]).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(fx.root().walk(&[b"."]).unwrap_err(), Errno::EINVAL);
    assert_eq!(fx.root().walk(&[b""]).unwrap_err(), Errno::EINVAL);
    fx.finish();
}

#[test]
fn statfs_reports_the_host_filesystem() {
    let fx = start(ServeOptions::default());
    let s = fx.root().statfs().unwrap();
    let host = nix::sys::statfs::statfs(fx.dir.path()).unwrap();
    assert_eq!(u64::from(s.bsize), host.block_size() as u64);
    assert_eq!(s.blocks, host.blocks());
    assert_eq!(u64::from(s.namelen), host.maximum_name_length() as u64);
    fx.finish();
}

#[test]
fn readonly_mode_refuses_mutations_with_erofs() {
    let fx = start(ServeOptions {
        readonly: true,
        ..ServeOptions::default()
    });
    let root = fx.root();
    assert_eq!(root.mkdir(b"newdir", 0o755, 0).unwrap_err(), Errno::EROFS);
    assert_eq!(root.unlinkat(b"hello.txt", 0).unwrap_err(), Errno::EROFS);
    assert_eq!(root.symlink(b"l", b"t", 0).unwrap_err(), Errno::EROFS);
    let (file, _) = root.walk(&[b"hello.txt"]).unwrap();
    assert_eq!(file.lopen(O_WRONLY).unwrap_err(), Errno::EROFS);
    assert_eq!(file.lopen(O_RDWR).unwrap_err(), Errno::EROFS);
    let (dir, _) = root.walk(&[]).unwrap();
    assert_eq!(
        dir.lcreate(b"new.txt", O_WRONLY, 0o644, 0).unwrap_err(),
        Errno::EROFS
    );
    assert!(!fx.path("newdir").exists());
    assert!(!fx.path("new.txt").exists());
    assert!(fx.path("hello.txt").exists());
    // Reading still works.
    file.lopen(O_RDONLY).unwrap();
    let mut buf = [0u8; 5];
    assert_eq!(file.read(0, &mut buf).unwrap(), 5);
    assert_eq!(&buf, b"hello");
    drop((file, dir));
    fx.finish();
}

#[test]
fn write_path_changes_the_host_tree() {
    let fx = start(ServeOptions::default());
    let root = fx.root();
    // lcreate + write.
    let (newf, _) = root.walk(&[]).unwrap();
    let (qid, _) = newf.lcreate(b"new.txt", O_RDWR, 0o640, 0).unwrap();
    assert_eq!(newf.write(0, b"written through 9p").unwrap(), 18);
    newf.fsync().unwrap();
    assert_eq!(fs::read(fx.path("new.txt")).unwrap(), b"written through 9p");
    let host = fs::metadata(fx.path("new.txt")).unwrap();
    assert_eq!(qid.path, host.ino());
    assert_eq!(host.permissions().mode() & 0o777, 0o640);
    drop(newf);
    // mkdir, symlink.
    root.mkdir(b"d", 0o750, 0).unwrap();
    assert!(fx.path("d").is_dir());
    root.symlink(b"s", b"/nowhere/at/all", 0).unwrap();
    assert_eq!(
        fs::read_link(fx.path("s")).unwrap(),
        Path::new("/nowhere/at/all")
    );
    // renameat into the new directory.
    let (d, _) = root.walk(&[b"d"]).unwrap();
    root.renameat(b"new.txt", &d, b"moved.txt").unwrap();
    assert!(fx.path("d/moved.txt").exists());
    // setattr: truncate and chmod.
    let (moved, _) = d.walk(&[b"moved.txt"]).unwrap();
    moved
        .setattr(&p9::SetAttr {
            valid: p9::setattr::SIZE | p9::setattr::MODE,
            size: 7,
            mode: 0o600,
            ..p9::SetAttr::default()
        })
        .unwrap();
    let host = fs::metadata(fx.path("d/moved.txt")).unwrap();
    assert_eq!(host.len(), 7);
    assert_eq!(host.permissions().mode() & 0o777, 0o600);
    // unlinkat file, then the (now empty) directory.
    d.unlinkat(b"moved.txt", 0).unwrap();
    root.unlinkat(b"d", AT_REMOVEDIR).unwrap();
    assert!(!fx.path("d").exists());
    // Creating over an existing name fails as open(O_CREAT|O_EXCL) does.
    let (again, _) = root.walk(&[]).unwrap();
    assert_eq!(
        again.lcreate(b"hello.txt", O_WRONLY, 0o644, 0).unwrap_err(),
        Errno::EEXIST
    );
    drop((moved, d, again));
    fx.finish();
}

#[test]
fn symlink_created_by_client_is_not_followed_by_later_opens() {
    let fx = start(ServeOptions::default());
    fx.root().symlink(b"to_passwd", b"/etc/passwd", 0).unwrap();
    let (fid, _) = fx.root().walk(&[b"to_passwd"]).unwrap();
    assert_eq!(fid.lopen(O_RDONLY).unwrap_err(), Errno::ELOOP);
    drop(fid);
    fx.finish();
}

#[test]
fn lopen_with_trunc_truncates_after_verifying_the_file() {
    let fx = start(ServeOptions::default());
    let (fid, _) = fx.root().walk(&[b"hello.txt"]).unwrap();
    fid.lopen(O_WRONLY | 0o1000).unwrap();
    assert_eq!(fs::metadata(fx.path("hello.txt")).unwrap().len(), 0);
    drop(fid);
    fx.finish();
}

#[test]
fn stale_fid_after_host_replacement_fails_estale() {
    let fx = start(ServeOptions::default());
    let (fid, _) = fx.root().walk(&[b"hello.txt"]).unwrap();
    // Another host process replaces the file behind the gofer's back.
    fs::remove_file(fx.path("hello.txt")).unwrap();
    fs::write(fx.path("hello.txt"), b"impostor").unwrap();
    assert_eq!(fid.lopen(O_RDONLY).unwrap_err(), Errno::ESTALE);
    drop(fid);
    fx.finish();
}

#[test]
fn concurrent_clients_threads_share_one_connection() {
    let fx = start(ServeOptions::default());
    let client = Arc::clone(fx.client.as_ref().unwrap());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let client = Arc::clone(&client);
            std::thread::spawn(move || {
                let (root, _) = client.attach(b"").unwrap();
                for _ in 0..50 {
                    let (f, attr) = root.walk_getattr(b"hello.txt").unwrap();
                    assert_eq!(attr.size, 13);
                    drop(f);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(client);
    fx.finish();
}

/// Sends raw frames, for requests the client never produces.
fn raw_server(opts: ServeOptions) -> (TempDir, UnixStream, JoinHandle<Result<(), GoferError>>) {
    let dir = TempDir::new().unwrap();
    populate(dir.path());
    let root_fd: OwnedFd = open(
        dir.path(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let server = std::thread::spawn(move || serve(root_fd, theirs, opts));
    (dir, ours, server)
}

fn raw_reply(sock: &mut UnixStream) -> (u16, p9::Rmessage) {
    use std::io::Read;
    let mut prefix = [0u8; 4];
    sock.read_exact(&mut prefix).unwrap();
    let size = p9::frame_size(prefix, 1 << 20).unwrap();
    let mut frame = vec![0u8; size];
    frame[..4].copy_from_slice(&prefix);
    sock.read_exact(&mut frame[4..]).unwrap();
    p9::Rmessage::decode(&frame, 1 << 20).unwrap()
}

#[test]
fn malformed_and_unknown_requests_get_rlerror_and_the_server_carries_on() {
    use std::io::Write;
    let (_dir, mut sock, server) = raw_server(ServeOptions::default());
    // Tclunk with a truncated body (size agrees with the 2 body bytes sent).
    sock.write_all(&[9, 0, 0, 0, 120, 7, 0, 1, 0]).unwrap();
    assert_eq!(
        raw_reply(&mut sock),
        (7, p9::Rmessage::Lerror { ecode: 22 })
    );
    // An unknown message type.
    sock.write_all(&[7, 0, 0, 0, 250, 8, 0]).unwrap();
    assert_eq!(
        raw_reply(&mut sock),
        (8, p9::Rmessage::Lerror { ecode: 95 })
    );
    // Requests on a fid that was never attached.
    let mut buf = Vec::new();
    p9::Tmessage::Getattr {
        fid: 42,
        request_mask: p9::getattr::BASIC,
    }
    .encode(9, &mut buf)
    .unwrap();
    sock.write_all(&buf).unwrap();
    assert_eq!(raw_reply(&mut sock), (9, p9::Rmessage::Lerror { ecode: 9 }));
    // Still serving: Tversion works.
    buf.clear();
    p9::Tmessage::Version {
        msize: 65536,
        version: p9::VERSION_9P2000_L.to_vec(),
    }
    .encode(p9::NOTAG, &mut buf)
    .unwrap();
    sock.write_all(&buf).unwrap();
    assert_eq!(
        raw_reply(&mut sock),
        (
            p9::NOTAG,
            p9::Rmessage::Version {
                msize: 65536,
                version: p9::VERSION_9P2000_L.to_vec()
            }
        )
    );
    drop(sock);
    server.join().unwrap().unwrap();
}

#[test]
fn unknown_version_is_answered_with_unknown() {
    use std::io::Write;
    let (_dir, mut sock, server) = raw_server(ServeOptions::default());
    let mut buf = Vec::new();
    p9::Tmessage::Version {
        msize: 65536,
        version: b"9P2000.u".to_vec(),
    }
    .encode(p9::NOTAG, &mut buf)
    .unwrap();
    sock.write_all(&buf).unwrap();
    let (_, reply) = raw_reply(&mut sock);
    assert!(matches!(reply, p9::Rmessage::Version { version, .. } if version == b"unknown"));
    drop(sock);
    server.join().unwrap().unwrap();
}

#[test]
fn oversized_frame_ends_the_connection_with_a_framing_error() {
    use std::io::Write;
    let (_dir, mut sock, server) = raw_server(ServeOptions::default());
    sock.write_all(&[0xff, 0xff, 0xff, 0x7f, 100, 0, 0])
        .unwrap();
    let res = server.join().unwrap();
    assert!(matches!(res, Err(GoferError::Framing(_))), "{res:?}");
}

/// Reads all of a donated fd with pread (its offset is the gofer's business).
fn pread_all(fd: &OwnedFd) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = nix::sys::uio::pread(fd, &mut buf, i64::try_from(out.len()).unwrap()).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn lopenfd_donates_an_fd_of_the_file_and_leaves_the_fid_unopened() {
    let fx = start(ServeOptions::default());
    let (file, _) = fx.root().walk(&[b"big.bin"]).unwrap();
    let (attr, fd) = file.lopenfd(O_RDONLY).unwrap();
    assert_attr_matches(&attr, &fs::metadata(fx.path("big.bin")).unwrap(), "big.bin");
    assert_eq!(pread_all(&fd), big_content());
    // Close-on-exec in the receiver (MSG_CMSG_CLOEXEC).
    let fl = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFD).unwrap();
    assert_ne!(fl & libc::FD_CLOEXEC, 0);
    // The fid was not opened: it can still be Tlopened, and donated again.
    file.lopen(O_RDONLY).unwrap();
    let (walked, _) = fx.root().walk(&[b"hello.txt"]).unwrap();
    let (_, fd2) = walked.lopenfd(O_RDONLY).unwrap();
    assert_eq!(pread_all(&fd2), b"hello, gofer\n");
    // Regular files only.
    let (dir, _) = fx.root().walk(&[b"sub"]).unwrap();
    assert_eq!(dir.lopenfd(O_RDONLY).unwrap_err(), Errno::EINVAL);
    let (link, _) = fx.root().walk(&[b"link_rel"]).unwrap();
    assert_eq!(link.lopenfd(O_RDONLY).unwrap_err(), Errno::EINVAL);
    // A writable fd on a writable export reaches the host file; O_TRUNC truncates first.
    let (attr, wfd) = walked.lopenfd(O_RDWR | 0o1000).unwrap();
    assert_eq!(attr.size, 0);
    nix::sys::uio::pwrite(&wfd, b"rewritten", 0).unwrap();
    assert_eq!(fs::read(fx.path("hello.txt")).unwrap(), b"rewritten");
    drop((file, walked, dir, link));
    fx.finish();
}

#[test]
fn lopenfd_on_a_readonly_export_donates_only_readonly_fds() {
    let fx = start(ServeOptions {
        readonly: true,
        ..ServeOptions::default()
    });
    let (file, _) = fx.root().walk(&[b"hello.txt"]).unwrap();
    assert_eq!(file.lopenfd(O_RDWR).unwrap_err(), Errno::EROFS);
    assert_eq!(file.lopenfd(O_WRONLY).unwrap_err(), Errno::EROFS);
    assert_eq!(file.lopenfd(O_RDONLY | 0o1000).unwrap_err(), Errno::EROFS);
    let (_, fd) = file.lopenfd(O_RDONLY).unwrap();
    // The host kernel enforces the access mode of what was donated.
    assert_eq!(
        nix::sys::uio::pwrite(&fd, b"x", 0).unwrap_err(),
        nix::errno::Errno::EBADF
    );
    assert_eq!(fs::read(fx.path("hello.txt")).unwrap(), b"hello, gofer\n");
    drop(file);
    fx.finish();
}

#[test]
fn without_donation_lopenfd_is_eopnotsupp_and_tlopen_still_works() {
    let fx = start(ServeOptions {
        no_fd_donation: true,
        ..ServeOptions::default()
    });
    let (file, _) = fx.root().walk(&[b"hello.txt"]).unwrap();
    assert_eq!(file.lopenfd(O_RDONLY).unwrap_err(), Errno::EOPNOTSUPP);
    // The client remembers: the second attempt fails without asking.
    assert_eq!(file.lopenfd(O_RDONLY).unwrap_err(), Errno::EOPNOTSUPP);
    let opened = file.walk_lopen(O_RDONLY).unwrap();
    let mut buf = [0u8; 5];
    assert_eq!(opened.read(0, &mut buf).unwrap(), 5);
    assert_eq!(&buf, b"hello");
    drop((file, opened));
    fx.finish();
}

#[test]
fn clunks_are_not_awaited_yet_every_later_reply_matches() {
    let fx = start(ServeOptions::default());
    // Far more unawaited clunks than the orphan bound, interleaved with awaited requests.
    for i in 0..1000 {
        let (fid, attr) = fx.root().walk_getattr(b"hello.txt").unwrap();
        assert_eq!(attr.size, 13, "round {i}");
        drop(fid);
    }
    let (_, attr) = fx.root().walk_getattr(b"big.bin").unwrap();
    assert_eq!(attr.size, big_content().len() as u64);
    fx.finish();
}
