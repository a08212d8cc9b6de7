//! The bounded dentry cache over p9fs (a process of its own: the cache is global).
//!
//! A gofer thread serves a temporary directory of many files; looking them all up must keep
//! the number of p9fs dentries near the limit (each holds a fid and a gofer fd), without
//! forgetting dentries in use, and every file must still resolve afterwards.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::thread;

use abi::file as f;
use vfs::{
    Creds, Lookup, MountNamespace, evictable_dentries, p9client, p9fs, set_dentry_cache_limit,
};

#[test]
fn lookups_beyond_the_limit_forget_unused_dentries_only() {
    let tmp = tempfile::tempdir().unwrap();
    for d in 0..10 {
        fs::create_dir(tmp.path().join(format!("d{d}"))).unwrap();
        for i in 0..60 {
            fs::write(tmp.path().join(format!("d{d}/f{i}")), format!("{d}/{i}")).unwrap();
        }
    }
    let (a, b) = UnixStream::pair().unwrap();
    let root: OwnedFd = fs::File::open(tmp.path()).unwrap().into();
    thread::spawn(move || gofer::serve(root, b, gofer::ServeOptions::default()));
    let fsys =
        p9fs::new_filesystem(p9client::Client::new(a).unwrap(), p9fs::Options::default()).unwrap();
    let ns = MountNamespace::new(fsys);
    let root = ns.root();
    let c = Creds::root();
    let l = Lookup {
        root: &root,
        start: &root,
        creds: &c,
    };
    set_dentry_cache_limit(100);
    // Held open across all the lookups: its dentry (and its directory's) must survive.
    let held = l.open(b"/d0/f0", f::O_RDONLY, 0).unwrap();
    let mut peak = 0;
    for d in 0..10 {
        for i in 0..60 {
            let st = l
                .resolve(format!("/d{d}/f{i}").as_bytes(), true)
                .unwrap()
                .stat()
                .unwrap();
            let host = fs::metadata(tmp.path().join(format!("d{d}/f{i}"))).unwrap();
            assert_eq!(st.ino, host.ino());
            peak = peak.max(evictable_dentries());
        }
    }
    // 610 p9fs dentries were looked up; at most the limit plus a lookup's worth stay.
    assert!(peak <= 100 + 2, "peak {peak}");
    assert_eq!(
        held.stat().unwrap().ino,
        fs::metadata(tmp.path().join("d0/f0")).unwrap().ino()
    );
    // Forgotten names resolve again (a new walk).
    for i in 0..60 {
        l.resolve(format!("/d3/f{i}").as_bytes(), true).unwrap();
    }
    let mut buf = [0u8; 8];
    let n = held.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"0/0");
}
