//! p9fs end to end: the gofer serves a temporary directory over a socketpair, the VFS mounts
//! it through `p9client` and `p9fs`, and results are compared with what the host sees.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, symlink};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread;

use abi::Errno;
use abi::file as f;
use vfs::memfile::MemoryFile;
use vfs::{Creds, Lookup, MountNamespace, OpenFile, p9client, p9fs};

/// Serves `dir` on one end of a socketpair from a thread; returns the mounted namespace.
fn mount(dir: &std::path::Path, readonly: bool) -> Arc<MountNamespace> {
    mount_with(dir, readonly, true)
}

/// [`mount`], choosing whether the gofer donates fds (else data goes through Tread/Twrite).
fn mount_with(dir: &std::path::Path, readonly: bool, donation: bool) -> Arc<MountNamespace> {
    let (a, b) = UnixStream::pair().unwrap();
    let root: OwnedFd = fs::File::open(dir).unwrap().into();
    let opts = gofer::ServeOptions {
        readonly,
        no_fd_donation: !donation,
    };
    thread::spawn(move || gofer::serve(root, b, opts));
    let client = p9client::Client::new(a).unwrap();
    MountNamespace::new(
        p9fs::new_filesystem(
            client,
            p9fs::Options {
                readonly,
                shared: false,
                memfile: Some(Arc::new(MemoryFile::with_size(64 << 20).unwrap())),
            },
        )
        .unwrap(),
    )
}

fn read_to_end(file: &OpenFile) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn dirent_names(buf: &[u8]) -> Vec<Vec<u8>> {
    let mut names = Vec::new();
    let mut rest = buf;
    while rest.len() >= f::DIRENT64_NAME_OFFSET {
        let reclen = usize::from(u16::from_ne_bytes([rest[16], rest[17]]));
        let area = &rest[f::DIRENT64_NAME_OFFSET..reclen];
        let nul = area.iter().position(|b| *b == 0).unwrap();
        names.push(area[..nul].to_vec());
        rest = &rest[reclen..];
    }
    names.sort();
    names
}

#[test]
fn readonly_rootfs_reads_walks_and_refuses_writes() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("etc")).unwrap();
    fs::write(tmp.path().join("etc/hostname"), b"sandbox\n").unwrap();
    symlink("etc/hostname", tmp.path().join("link")).unwrap();
    symlink("/etc", tmp.path().join("abs")).unwrap();
    let ns = mount(tmp.path(), true);
    let root = ns.root();
    let c = Creds::root();
    let l = Lookup {
        root: &root,
        start: &root,
        creds: &c,
    };

    let file = l.open(b"/link", f::O_RDONLY, 0).unwrap();
    assert_eq!(read_to_end(&file), b"sandbox\n");
    let st = l.resolve(b"/abs/hostname", true).unwrap().stat().unwrap();
    let host = fs::metadata(tmp.path().join("etc/hostname")).unwrap();
    assert_eq!(st.size, 8);
    assert_eq!(st.ino, host.ino());
    assert_eq!(st.mode, host.mode());
    assert_eq!(l.readlink(b"/abs").unwrap(), b"/etc");
    let mut b = [0u8; 3];
    assert_eq!(file.pread(&mut b, 2).unwrap(), 3);
    assert_eq!(&b, b"ndb");

    let d = l.open(b"/", f::O_RDONLY | f::O_DIRECTORY, 0).unwrap();
    let names = dirent_names(&d.getdents64(4096).unwrap());
    assert_eq!(names, [&b"."[..], b"..", b"abs", b"etc", b"link"]);

    assert_eq!(
        l.open(b"/etc/hostname", f::O_RDWR, 0).unwrap_err(),
        Errno::EROFS
    );
    assert_eq!(
        l.open(b"/new", f::O_CREAT | f::O_RDWR, 0o644).unwrap_err(),
        Errno::EROFS
    );
    assert_eq!(l.mkdir(b"/dir", 0o755).unwrap_err(), Errno::EROFS);
    assert_eq!(l.unlink(b"/link").unwrap_err(), Errno::EROFS);
    assert_eq!(l.resolve(b"/missing", true).unwrap_err(), Errno::ENOENT);
    assert_eq!(root.statfs().unwrap().ty, f::V9FS_MAGIC);
    assert_eq!(root.statfs().unwrap().flags & f::ST_RDONLY, f::ST_RDONLY);
}

#[test]
fn writable_p9fs_creates_writes_renames_and_removes() {
    writable_round(true);
}

#[test]
fn writable_p9fs_without_fd_donation_goes_through_twrite() {
    writable_round(false);
}

/// Names in directory `path`, sorted.
fn listing(l: &Lookup<'_>, path: &[u8]) -> Vec<Vec<u8>> {
    let d = l.open(path, f::O_RDONLY | f::O_DIRECTORY, 0).unwrap();
    let mut names = dirent_names(&d.getdents64(1 << 16).unwrap());
    names.retain(|n| n != b"." && n != b"..");
    names.sort();
    names
}

fn writable_round(donation: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let ns = mount_with(tmp.path(), false, donation);
    let root = ns.root();
    let c = Creds::root();
    let l = Lookup {
        root: &root,
        start: &root,
        creds: &c,
    };

    l.mkdir(b"/d", 0o755).unwrap();
    assert!(listing(&l, b"/d").is_empty());
    let file = l.open(b"/d/f", f::O_CREAT | f::O_RDWR, 0o640).unwrap();
    // The cached listing of /d was dropped by the create.
    assert_eq!(listing(&l, b"/d"), vec![b"f".to_vec()]);
    assert_eq!(file.write(b"hello").unwrap(), 5);
    assert_eq!(fs::read(tmp.path().join("d/f")).unwrap(), b"hello");
    assert_eq!(file.stat().unwrap().size, 5);
    // A second open (with donation: the inode's cached fd) reads what the first wrote, at
    // its own offset.
    let again = l.open(b"/d/f", f::O_RDONLY, 0).unwrap();
    assert_eq!(read_to_end(&again), b"hello");
    assert_eq!(file.pwrite(b"J", 0).unwrap(), 1);
    assert_eq!(again.pread(&mut [0u8; 5], 0).unwrap(), 5);
    let mut five = [0u8; 5];
    again.pread(&mut five, 0).unwrap();
    assert_eq!(&five, b"Jello");
    assert_eq!(again.write(b"x").unwrap_err(), Errno::EBADF);
    file.fsync(false).unwrap();
    file.fsync(true).unwrap();
    assert_eq!(fs::read(tmp.path().join("d/f")).unwrap(), b"Jello");
    file.pwrite(b"h", 0).unwrap();
    let app = l.open(b"/d/f", f::O_WRONLY | f::O_APPEND, 0).unwrap();
    app.write(b"!").unwrap();
    assert_eq!(fs::read(tmp.path().join("d/f")).unwrap(), b"hello!");
    l.open(b"/d/f", f::O_WRONLY | f::O_TRUNC, 0).unwrap();
    assert_eq!(fs::metadata(tmp.path().join("d/f")).unwrap().len(), 0);

    l.symlink(b"f", b"/d/s").unwrap();
    assert_eq!(
        fs::read_link(tmp.path().join("d/s")).unwrap().as_os_str(),
        "f"
    );
    assert_eq!(listing(&l, b"/d"), vec![b"f".to_vec(), b"s".to_vec()]);
    l.rename(b"/d/f", &l, b"/g").unwrap();
    assert_eq!(listing(&l, b"/d"), vec![b"s".to_vec()]);
    assert!(listing(&l, b"/").contains(&b"g".to_vec()));
    assert!(tmp.path().join("g").exists());
    assert!(!tmp.path().join("d/f").exists());
    assert_eq!(l.rmdir(b"/d").unwrap_err(), Errno::ENOTEMPTY);
    l.unlink(b"/d/s").unwrap();
    l.rmdir(b"/d").unwrap();
    assert!(!tmp.path().join("d").exists());
    assert_eq!(l.resolve(b"/d", true).unwrap_err(), Errno::ENOENT);
}

#[test]
fn page_cache_shares_pages_between_opens_and_drops_them_on_write() {
    let tmp = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(tmp.path().join("f"), &content).unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    let root: OwnedFd = fs::File::open(tmp.path()).unwrap().into();
    thread::spawn(move || gofer::serve(root, b, gofer::ServeOptions::default()));
    let mf = Arc::new(MemoryFile::with_size(64 << 20).unwrap());
    let fsys = p9fs::new_filesystem(
        p9client::Client::new(a).unwrap(),
        p9fs::Options {
            memfile: Some(Arc::clone(&mf)),
            ..p9fs::Options::default()
        },
    )
    .unwrap();
    let ns = MountNamespace::new(fsys);
    let root = ns.root();
    let c = Creds::root();
    let l = Lookup {
        root: &root,
        start: &root,
        creds: &c,
    };
    let one = l.open(b"/f", f::O_RDONLY, 0).unwrap();
    let two = l.open(b"/f", f::O_RDWR, 0).unwrap();
    // Page 4 holds bytes 16384..20000 and zeros after EOF; page 5 is past EOF.
    let p4 = one.memfile_page(4).unwrap().unwrap();
    assert_eq!(two.memfile_page(4).unwrap().unwrap(), p4, "one cached page");
    let mut page = vec![0u8; 4096];
    mf.read(p4, &mut page).unwrap();
    assert_eq!(&page[..20_000 - 16_384], &content[16_384..]);
    assert!(page[20_000 - 16_384..].iter().all(|&x| x == 0));
    assert_eq!(one.memfile_page(5).unwrap().unwrap_err(), Errno::EFAULT);
    // A run: pages 0-3 are read together on this miss (up to the cached page 4, which came
    // from another read and so sits elsewhere in the MemoryFile).
    let (p0, n) = one.memfile_pages(0, 64).unwrap().unwrap();
    assert_eq!(n, 4);
    let mut all = vec![0u8; 4 * 4096];
    mf.read(p0, &mut all).unwrap();
    assert_eq!(&all[..], &content[..4 * 4096]);
    assert_eq!(one.memfile_pages(1, 2).unwrap().unwrap(), (p0 + 4096, 2));
    // The cache holds one reference per page, each answer one more per page.
    let refs: Vec<u32> = (0..4).map(|k| mf.ref_count(p0 + k * 4096)).collect();
    assert_eq!(refs, vec![2, 3, 3, 2]);
    mf.release(p0, 4 * 4096).unwrap();
    mf.release(p0 + 4096, 2 * 4096).unwrap();
    // The cache's reference plus one per caller.
    assert_eq!(mf.ref_count(p4), 3);
    mf.release(p4, 4096).unwrap();
    mf.release(p4, 4096).unwrap();
    // A write through the sandbox drops the cache; the next fault reads the new data.
    two.pwrite(b"NEW", 16_384).unwrap();
    let q4 = one.memfile_page(4).unwrap().unwrap();
    mf.read(q4, &mut page[..3]).unwrap();
    assert_eq!(&page[..3], b"NEW");
    mf.release(q4, 4096).unwrap();
    drop((one, two, root, ns));
    // The inodes went with the namespace, and their cached pages with them.
    assert_eq!(mf.allocated_bytes(), 0);
}
