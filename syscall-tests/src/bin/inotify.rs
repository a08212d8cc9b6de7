//! inotify(7) and open(2) O_TMPFILE, as a Debian userland uses them (systemd, tail -f,
//! file managers, build tools; mkstemp-like O_TMPFILE + linkat publishing).
//!
//! Every instance is opened IN_NONBLOCK so a test reads what is queued and sees EAGAIN at
//! the end instead of blocking; events are compared as (wd, mask, name) lists. The files
//! live in TempDirs under /tmp (a private tmpfs under `rvisor do`).
#![deny(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use syscall_tests::libc::{self, c_int};
use syscall_tests::task::{Child, pipe};
use syscall_tests::{
    Errno, Fd, Outcome, TempDir, check, ensure, ensure_eq, fails_with, run_tests, succeeds,
    succeeds_with, syscall, tests,
};

const IN_ACCESS: u32 = 0x1;
const IN_MODIFY: u32 = 0x2;
const IN_ATTRIB: u32 = 0x4;
const IN_CLOSE_WRITE: u32 = 0x8;
const IN_CLOSE_NOWRITE: u32 = 0x10;
const IN_OPEN: u32 = 0x20;
const IN_MOVED_FROM: u32 = 0x40;
const IN_MOVED_TO: u32 = 0x80;
const IN_CREATE: u32 = 0x100;
const IN_DELETE: u32 = 0x200;
const IN_DELETE_SELF: u32 = 0x400;
const IN_MOVE_SELF: u32 = 0x800;
const IN_MOVE: u32 = IN_MOVED_FROM | IN_MOVED_TO;
const IN_Q_OVERFLOW: u32 = 0x4000;
const IN_IGNORED: u32 = 0x8000;
const IN_ALL_EVENTS: u32 = 0xfff;
const IN_ONLYDIR: u32 = 0x0100_0000;
const IN_DONT_FOLLOW: u32 = 0x0200_0000;
const IN_EXCL_UNLINK: u32 = 0x0400_0000;
const IN_MASK_CREATE: u32 = 0x1000_0000;
const IN_MASK_ADD: u32 = 0x2000_0000;
const IN_ISDIR: u32 = 0x4000_0000;
const IN_ONESHOT: u32 = 0x8000_0000;
const IN_NONBLOCK: c_int = libc::O_NONBLOCK;
const IN_CLOEXEC: c_int = libc::O_CLOEXEC;
const O_TMPFILE: c_int = libc::O_TMPFILE;

/// One decoded `struct inotify_event`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Ev {
    wd: i32,
    mask: u32,
    cookie: u32,
    len: u32,
    name: String,
}

fn ino() -> Result<Fd, String> {
    Fd::from_ret(check!(
        syscall!(libc::SYS_inotify_init1, IN_NONBLOCK | IN_CLOEXEC),
        succeeds()
    ))
}

fn add(fd: &Fd, path: &std::ffi::CStr, mask: u32) -> Result<i32, String> {
    let wd = check!(
        syscall!(libc::SYS_inotify_add_watch, fd.raw(), path, mask),
        succeeds()
    );
    i32::try_from(wd).map_err(|e| e.to_string())
}

fn parse(buf: &[u8]) -> Result<Vec<Ev>, String> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let word = |i: usize| -> Result<u32, String> {
            let b = rest.get(i..i + 4).ok_or("short event header")?;
            Ok(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        };
        let (wd, mask, cookie, len) = (word(0)?.cast_signed(), word(4)?, word(8)?, word(12)?);
        let end = 16 + len as usize;
        let name_area = rest.get(16..end).ok_or("name past the buffer")?;
        let nul = name_area
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(name_area.len());
        out.push(Ev {
            wd,
            mask,
            cookie,
            len,
            name: String::from_utf8_lossy(&name_area[..nul]).into_owned(),
        });
        rest = &rest[end..];
    }
    Ok(out)
}

/// Everything queued now (the instance is non-blocking: reads until EAGAIN).
fn drain(fd: &Fd) -> Result<Vec<Ev>, String> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), buf.len());
        if n == -1 {
            let e = syscall_tests::last_errno();
            ensure_eq!(e, libc::EAGAIN, "read errno");
            return Ok(all);
        }
        all.extend(parse(&buf[..n as usize])?);
    }
}

/// (wd, mask, name) of each event.
fn simple(evs: &[Ev]) -> Vec<(i32, u32, String)> {
    evs.iter().map(|e| (e.wd, e.mask, e.name.clone())).collect()
}

fn e(wd: i32, mask: u32, name: &str) -> (i32, u32, String) {
    (wd, mask, name.to_owned())
}

fn touch(path: &std::ffi::CStr) -> Outcome {
    let fd = check!(
        syscall!(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path,
            libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
            0o644
        ),
        succeeds()
    );
    check!(syscall!(libc::SYS_close, fd), succeeds());
    Ok(())
}

fn open(path: &std::ffi::CStr, flags: c_int) -> Result<Fd, String> {
    Fd::open(path, flags | libc::O_CLOEXEC, 0o644)
}

// ---------------------------------------------------------------- instances and watches

fn init1_rejects_unknown_flags() -> Outcome {
    check!(
        syscall!(libc::SYS_inotify_init1, 0x1),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn init1_flags_set_cloexec_and_nonblock() -> Outcome {
    let fd = ino()?;
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), libc::F_GETFD),
        succeeds_with(i64::from(libc::FD_CLOEXEC))
    );
    let fl = check!(
        syscall!(libc::SYS_fcntl, fd.raw(), libc::F_GETFL),
        succeeds()
    );
    ensure!(fl & i64::from(libc::O_NONBLOCK) != 0, "flags {fl:#x}");
    let plain = Fd::from_ret(check!(syscall!(libc::SYS_inotify_init), succeeds()))?;
    check!(
        syscall!(libc::SYS_fcntl, plain.raw(), libc::F_GETFD),
        succeeds_with(0)
    );
    Ok(())
}

fn read_with_nothing_queued_is_eagain() -> Outcome {
    let fd = ino()?;
    let mut buf = [0u8; 64];
    check!(
        syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), buf.len()),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn add_watch_argument_errors() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    check!(
        syscall!(libc::SYS_inotify_add_watch, fd.raw(), d.path(), 0),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(
            libc::SYS_inotify_add_watch,
            fd.raw(),
            d.path(),
            IN_CREATE | IN_MASK_ADD | IN_MASK_CREATE
        ),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_inotify_add_watch, 999, d.path(), IN_CREATE),
        fails_with(Errno::EBADF)
    );
    let (r, _w) = pipe()?;
    check!(
        syscall!(libc::SYS_inotify_add_watch, r.raw(), d.path(), IN_CREATE),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(
            libc::SYS_inotify_add_watch,
            fd.raw(),
            d.join("missing").as_c_str(),
            IN_CREATE
        ),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

fn onlydir_on_a_file_is_enotdir() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("f", b"")?;
    let fd = ino()?;
    check!(
        syscall!(
            libc::SYS_inotify_add_watch,
            fd.raw(),
            d.join("f").as_c_str(),
            IN_MODIFY | IN_ONLYDIR
        ),
        fails_with(Errno::ENOTDIR)
    );
    let wd = add(&fd, d.path(), IN_CREATE | IN_ONLYDIR)?;
    ensure!(wd >= 1, "wd {wd}");
    Ok(())
}

fn same_inode_twice_gives_the_same_wd() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("f", b"")?;
    let fd = ino()?;
    let a = add(&fd, d.join("f").as_c_str(), IN_MODIFY)?;
    let b = add(&fd, d.join("./f").as_c_str(), IN_ATTRIB)?;
    ensure_eq!(a, b);
    let c = add(&fd, d.path(), IN_CREATE)?;
    ensure!(c != a, "a directory gets its own wd");
    // A hard link is the same inode.
    check!(
        syscall!(
            libc::SYS_linkat,
            libc::AT_FDCWD,
            d.join("f").as_c_str(),
            libc::AT_FDCWD,
            d.join("g").as_c_str(),
            0
        ),
        succeeds()
    );
    ensure_eq!(add(&fd, d.join("g").as_c_str(), IN_MODIFY)?, a);
    Ok(())
}

fn mask_create_on_a_watched_inode_is_eexist() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    add(&fd, d.path(), IN_CREATE | IN_MASK_CREATE)?;
    check!(
        syscall!(
            libc::SYS_inotify_add_watch,
            fd.raw(),
            d.path(),
            IN_DELETE | IN_MASK_CREATE
        ),
        fails_with(Errno::EEXIST)
    );
    Ok(())
}

fn rm_watch_queues_ignored_and_unknown_wd_is_einval() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    let wd = add(&fd, d.path(), IN_CREATE)?;
    check!(
        syscall!(libc::SYS_inotify_rm_watch, fd.raw(), wd),
        succeeds_with(0)
    );
    ensure_eq!(simple(&drain(&fd)?), vec![e(wd, IN_IGNORED, "")]);
    check!(
        syscall!(libc::SYS_inotify_rm_watch, fd.raw(), wd),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_inotify_rm_watch, fd.raw(), 12345),
        fails_with(Errno::EINVAL)
    );
    // After removal nothing more arrives.
    touch(d.join("x").as_c_str())?;
    ensure_eq!(drain(&fd)?, vec![]);
    Ok(())
}

fn mask_add_extends_and_plain_add_replaces() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    let wd = add(&fd, d.path(), IN_CREATE)?;
    add(&fd, d.path(), IN_DELETE | IN_MASK_ADD)?;
    touch(d.join("a").as_c_str())?;
    check!(
        syscall!(
            libc::SYS_unlinkat,
            libc::AT_FDCWD,
            d.join("a").as_c_str(),
            0
        ),
        succeeds()
    );
    ensure_eq!(
        simple(&drain(&fd)?),
        vec![e(wd, IN_CREATE, "a"), e(wd, IN_DELETE, "a")]
    );
    add(&fd, d.path(), IN_DELETE)?;
    touch(d.join("b").as_c_str())?;
    check!(
        syscall!(
            libc::SYS_unlinkat,
            libc::AT_FDCWD,
            d.join("b").as_c_str(),
            0
        ),
        succeeds()
    );
    ensure_eq!(simple(&drain(&fd)?), vec![e(wd, IN_DELETE, "b")]);
    Ok(())
}

// ---------------------------------------------------------------- events

fn create_reports_the_name_padded() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    let wd = add(&fd, d.path(), IN_CREATE)?;
    touch(d.join("hello").as_c_str())?;
    touch(d.join("exactly16chars_x").as_c_str())?;
    let evs = drain(&fd)?;
    ensure_eq!(
        simple(&evs),
        vec![
            e(wd, IN_CREATE, "hello"),
            e(wd, IN_CREATE, "exactly16chars_x")
        ]
    );
    ensure_eq!(evs[0].len, 16);
    ensure_eq!(evs[1].len, 32);
    ensure_eq!(evs[0].cookie, 0);
    Ok(())
}

fn mkdir_and_rmdir_carry_isdir() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    let wd = add(&fd, d.path(), IN_CREATE | IN_DELETE)?;
    let sub = d.join("sub");
    check!(
        syscall!(libc::SYS_mkdirat, libc::AT_FDCWD, sub.as_c_str(), 0o755),
        succeeds()
    );
    check!(
        syscall!(
            libc::SYS_unlinkat,
            libc::AT_FDCWD,
            sub.as_c_str(),
            libc::AT_REMOVEDIR
        ),
        succeeds()
    );
    ensure_eq!(
        simple(&drain(&fd)?),
        vec![
            e(wd, IN_CREATE | IN_ISDIR, "sub"),
            e(wd, IN_DELETE | IN_ISDIR, "sub")
        ]
    );
    Ok(())
}

fn create_open_write_close_sequence() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    let wd = add(&fd, d.path(), IN_ALL_EVENTS)?;
    {
        let f = open(
            d.join("f").as_c_str(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
        )?;
        f.write_all(b"abc")?;
    }
    ensure_eq!(
        simple(&drain(&fd)?),
        vec![
            e(wd, IN_CREATE, "f"),
            e(wd, IN_OPEN, "f"),
            e(wd, IN_MODIFY, "f"),
            e(wd, IN_CLOSE_WRITE, "f")
        ]
    );
    Ok(())
}

fn read_gives_access_and_close_nowrite() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("f", b"data")?;
    let fd = ino()?;
    let wd = add(&fd, d.join("f").as_c_str(), IN_ALL_EVENTS)?;
    {
        let f = open(d.join("f").as_c_str(), libc::O_RDONLY)?;
        ensure_eq!(f.read_up_to(16)?, b"data".to_vec());
        // At EOF: no bytes, no event.
        ensure_eq!(f.read_up_to(16)?, Vec::<u8>::new());
    }
    ensure_eq!(
        simple(&drain(&fd)?),
        vec![
            e(wd, IN_OPEN, ""),
            e(wd, IN_ACCESS, ""),
            e(wd, IN_CLOSE_NOWRITE, "")
        ]
    );
    Ok(())
}

fn parent_and_child_watches_both_hear() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("f", b"")?;
    let fd = ino()?;
    let wdd = add(&fd, d.path(), IN_MODIFY)?;
    let wdf = add(&fd, d.join("f").as_c_str(), IN_MODIFY)?;
    open(d.join("f").as_c_str(), libc::O_WRONLY)?.write_all(b"x")?;
    ensure_eq!(
        simple(&drain(&fd)?),
        vec![e(wdd, IN_MODIFY, "f"), e(wdf, IN_MODIFY, "")]
    );
    Ok(())
}

fn identical_consecutive_events_coalesce() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("f", b"")?;
    let fd = ino()?;
    let wd = add(&fd, d.join("f").as_c_str(), IN_MODIFY)?;
    let f = open(d.join("f").as_c_str(), libc::O_WRONLY)?;
    for _ in 0..5 {
        f.write_all(b"x")?;
    }
    ensure_eq!(simple(&drain(&fd)?), vec![e(wd, IN_MODIFY, "")]);
    Ok(())
}

fn truncate_is_modify_and_chmod_is_attrib() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("f", b"12345")?;
    let fd = ino()?;
    let wd = add(&fd, d.path(), IN_MODIFY | IN_ATTRIB)?;
    let p = d.join("f");
    check!(syscall!(libc::SYS_truncate, p.as_c_str(), 2), succeeds());
    check!(
        syscall!(libc::SYS_fchmodat, libc::AT_FDCWD, p.as_c_str(), 0o600),
        succeeds()
    );
    let f = open(p.as_c_str(), libc::O_WRONLY)?;
    check!(syscall!(libc::SYS_ftruncate, f.raw(), 0), succeeds());
    ensure_eq!(
        simple(&drain(&fd)?),
        vec![
            e(wd, IN_MODIFY, "f"),
            e(wd, IN_ATTRIB, "f"),
            e(wd, IN_MODIFY, "f")
        ]
    );
    Ok(())
}

/// chown(2) to explicit ids is IN_ATTRIB; chown(-1, -1) changes nothing and sends nothing
/// (fsnotify_change only looks at ATTR_UID/ATTR_GID/ATTR_MODE/times).
fn chown_is_attrib_unless_nothing_changes() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("f", b"")?;
    let fd = ino()?;
    let p = d.join("f");
    let wd = add(&fd, p.as_c_str(), IN_ATTRIB)?;
    let (uid, gid) = (syscall!(libc::SYS_getuid), syscall!(libc::SYS_getgid));
    check!(
        syscall!(
            libc::SYS_fchownat,
            libc::AT_FDCWD,
            p.as_c_str(),
            uid,
            gid,
            0
        ),
        succeeds()
    );
    ensure_eq!(simple(&drain(&fd)?), vec![e(wd, IN_ATTRIB, "")]);
    check!(
        syscall!(libc::SYS_fchownat, libc::AT_FDCWD, p.as_c_str(), -1, -1, 0),
        succeeds()
    );
    ensure_eq!(drain(&fd)?, vec![]);
    Ok(())
}

fn rename_pairs_moved_from_and_to_by_cookie() -> Outcome {
    let a = TempDir::new()?;
    let b = TempDir::new()?;
    a.create_file("f", b"")?;
    let fd = ino()?;
    let wa = add(&fd, a.path(), IN_MOVE)?;
    let wb = add(&fd, b.path(), IN_MOVE)?;
    let wf = add(&fd, a.join("f").as_c_str(), IN_MOVE_SELF)?;
    check!(
        syscall!(
            libc::SYS_renameat,
            libc::AT_FDCWD,
            a.join("f").as_c_str(),
            libc::AT_FDCWD,
            b.join("g").as_c_str()
        ),
        succeeds()
    );
    let evs = drain(&fd)?;
    ensure_eq!(
        simple(&evs),
        vec![
            e(wa, IN_MOVED_FROM, "f"),
            e(wb, IN_MOVED_TO, "g"),
            e(wf, IN_MOVE_SELF, "")
        ]
    );
    ensure!(evs[0].cookie != 0, "cookie is set");
    ensure_eq!(evs[0].cookie, evs[1].cookie);
    // A second rename gets a different cookie.
    check!(
        syscall!(
            libc::SYS_renameat,
            libc::AT_FDCWD,
            b.join("g").as_c_str(),
            libc::AT_FDCWD,
            a.join("h").as_c_str()
        ),
        succeeds()
    );
    let evs2 = drain(&fd)?;
    ensure_eq!(evs2.len(), 3);
    ensure!(evs2[0].cookie != evs[0].cookie, "fresh cookie");
    Ok(())
}

fn renaming_a_directory_sets_isdir() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    check!(
        syscall!(
            libc::SYS_mkdirat,
            libc::AT_FDCWD,
            d.join("x").as_c_str(),
            0o755
        ),
        succeeds()
    );
    let wd = add(&fd, d.path(), IN_MOVE)?;
    check!(
        syscall!(
            libc::SYS_renameat,
            libc::AT_FDCWD,
            d.join("x").as_c_str(),
            libc::AT_FDCWD,
            d.join("y").as_c_str()
        ),
        succeeds()
    );
    ensure_eq!(
        simple(&drain(&fd)?),
        vec![
            e(wd, IN_MOVED_FROM | IN_ISDIR, "x"),
            e(wd, IN_MOVED_TO | IN_ISDIR, "y")
        ]
    );
    Ok(())
}

fn unlink_sends_attrib_delete_self_ignored_then_delete() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("f", b"")?;
    let fd = ino()?;
    let wdf = add(&fd, d.join("f").as_c_str(), IN_ALL_EVENTS)?;
    let wdd = add(&fd, d.path(), IN_DELETE)?;
    check!(
        syscall!(
            libc::SYS_unlinkat,
            libc::AT_FDCWD,
            d.join("f").as_c_str(),
            0
        ),
        succeeds()
    );
    ensure_eq!(
        simple(&drain(&fd)?),
        vec![
            e(wdf, IN_ATTRIB, ""),
            e(wdf, IN_DELETE_SELF, ""),
            e(wdf, IN_IGNORED, ""),
            e(wdd, IN_DELETE, "f")
        ]
    );
    // The watch is gone.
    check!(
        syscall!(libc::SYS_inotify_rm_watch, fd.raw(), wdf),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn unlinking_one_of_two_links_is_only_attrib() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("f", b"")?;
    check!(
        syscall!(
            libc::SYS_linkat,
            libc::AT_FDCWD,
            d.join("f").as_c_str(),
            libc::AT_FDCWD,
            d.join("g").as_c_str(),
            0
        ),
        succeeds()
    );
    let fd = ino()?;
    let wd = add(&fd, d.join("f").as_c_str(), IN_ALL_EVENTS)?;
    check!(
        syscall!(
            libc::SYS_unlinkat,
            libc::AT_FDCWD,
            d.join("g").as_c_str(),
            0
        ),
        succeeds()
    );
    ensure_eq!(simple(&drain(&fd)?), vec![e(wd, IN_ATTRIB, "")]);
    Ok(())
}

fn link_is_attrib_on_file_and_create_in_dir() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("f", b"")?;
    let fd = ino()?;
    let wdf = add(&fd, d.join("f").as_c_str(), IN_ATTRIB)?;
    let wdd = add(&fd, d.path(), IN_CREATE)?;
    check!(
        syscall!(
            libc::SYS_linkat,
            libc::AT_FDCWD,
            d.join("f").as_c_str(),
            libc::AT_FDCWD,
            d.join("g").as_c_str(),
            0
        ),
        succeeds()
    );
    ensure_eq!(
        simple(&drain(&fd)?),
        vec![e(wdf, IN_ATTRIB, ""), e(wdd, IN_CREATE, "g")]
    );
    Ok(())
}

fn rmdir_of_a_watched_directory_is_delete_self() -> Outcome {
    let d = TempDir::new()?;
    let sub = d.join("sub");
    check!(
        syscall!(libc::SYS_mkdirat, libc::AT_FDCWD, sub.as_c_str(), 0o755),
        succeeds()
    );
    let fd = ino()?;
    let wd = add(&fd, sub.as_c_str(), IN_DELETE_SELF)?;
    check!(
        syscall!(
            libc::SYS_unlinkat,
            libc::AT_FDCWD,
            sub.as_c_str(),
            libc::AT_REMOVEDIR
        ),
        succeeds()
    );
    let evs = drain(&fd)?;
    ensure_eq!(evs.len(), 2, "{evs:?}");
    ensure_eq!(evs[0].mask & !IN_ISDIR, IN_DELETE_SELF);
    ensure_eq!(simple(&evs[1..]), vec![e(wd, IN_IGNORED, "")]);
    Ok(())
}

fn opening_a_watched_directory_is_open_isdir() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    let wd = add(&fd, d.path(), IN_OPEN | IN_CLOSE_NOWRITE)?;
    drop(d.open()?);
    ensure_eq!(
        simple(&drain(&fd)?),
        vec![
            e(wd, IN_OPEN | IN_ISDIR, ""),
            e(wd, IN_CLOSE_NOWRITE | IN_ISDIR, "")
        ]
    );
    Ok(())
}

fn o_path_opens_send_nothing() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("f", b"")?;
    let fd = ino()?;
    add(&fd, d.path(), IN_ALL_EVENTS)?;
    drop(open(d.join("f").as_c_str(), libc::O_PATH)?);
    ensure_eq!(drain(&fd)?, vec![]);
    Ok(())
}

fn oneshot_reports_once_then_ignored() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    let wd = add(&fd, d.path(), IN_CREATE | IN_ONESHOT)?;
    touch(d.join("a").as_c_str())?;
    touch(d.join("b").as_c_str())?;
    ensure_eq!(
        simple(&drain(&fd)?),
        vec![e(wd, IN_CREATE, "a"), e(wd, IN_IGNORED, "")]
    );
    Ok(())
}

fn dont_follow_watches_the_symlink_itself() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("target", b"")?;
    check!(
        syscall!(
            libc::SYS_symlinkat,
            c"target",
            libc::AT_FDCWD,
            d.join("link").as_c_str()
        ),
        succeeds()
    );
    let fd = ino()?;
    let followed = add(&fd, d.join("link").as_c_str(), IN_MODIFY)?;
    let own = add(&fd, d.join("link").as_c_str(), IN_MODIFY | IN_DONT_FOLLOW)?;
    ensure!(followed != own, "link and target are different inodes");
    ensure_eq!(add(&fd, d.join("target").as_c_str(), IN_MODIFY)?, followed);
    Ok(())
}

fn excl_unlink_silences_unlinked_children() -> Outcome {
    for (flag, expect) in [(0, 1usize), (IN_EXCL_UNLINK, 0usize)] {
        let d = TempDir::new()?;
        d.create_file("f", b"")?;
        let fd = ino()?;
        add(&fd, d.path(), IN_MODIFY | flag)?;
        let f = open(d.join("f").as_c_str(), libc::O_WRONLY)?;
        check!(
            syscall!(
                libc::SYS_unlinkat,
                libc::AT_FDCWD,
                d.join("f").as_c_str(),
                0
            ),
            succeeds()
        );
        f.write_all(b"x")?;
        let evs = drain(&fd)?;
        ensure_eq!(evs.len(), expect, "flag {flag:#x}: {evs:?}");
    }
    Ok(())
}

fn symlink_is_create() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    let wd = add(&fd, d.path(), IN_CREATE)?;
    check!(
        syscall!(
            libc::SYS_symlinkat,
            c"x",
            libc::AT_FDCWD,
            d.join("l").as_c_str()
        ),
        succeeds()
    );
    ensure_eq!(simple(&drain(&fd)?), vec![e(wd, IN_CREATE, "l")]);
    Ok(())
}

// ---------------------------------------------------------------- the queue

fn buffer_too_small_for_the_next_event_is_einval() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    add(&fd, d.path(), IN_CREATE)?;
    touch(d.join("name").as_c_str())?;
    touch(d.join("other").as_c_str())?;
    let mut buf = [0u8; 31];
    check!(
        syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), buf.len()),
        fails_with(Errno::EINVAL)
    );
    // Room for one record and a half: one record.
    let mut buf = [0u8; 40];
    check!(
        syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), buf.len()),
        succeeds_with(32)
    );
    ensure_eq!(parse(&buf[..32])?[0].name, "name");
    ensure_eq!(drain(&fd)?.len(), 1);
    Ok(())
}

fn fionread_counts_queued_bytes() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    add(&fd, d.path(), IN_CREATE)?;
    let mut n: c_int = -1;
    check!(
        syscall!(
            libc::SYS_ioctl,
            fd.raw(),
            libc::FIONREAD,
            std::ptr::from_mut(&mut n)
        ),
        succeeds()
    );
    ensure_eq!(n, 0);
    touch(d.join("a").as_c_str())?;
    touch(d.join("b_is_a_longer_name").as_c_str())?;
    check!(
        syscall!(
            libc::SYS_ioctl,
            fd.raw(),
            libc::FIONREAD,
            std::ptr::from_mut(&mut n)
        ),
        succeeds()
    );
    ensure_eq!(n, 32 + 48);
    Ok(())
}

fn poll_and_epoll_see_readiness() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    add(&fd, d.path(), IN_CREATE)?;
    let mut p = libc::pollfd {
        fd: fd.raw(),
        events: libc::POLLIN,
        revents: 0,
    };
    check!(
        syscall!(libc::SYS_poll, std::ptr::from_mut(&mut p), 1, 0),
        succeeds_with(0)
    );
    let ep = Fd::from_ret(check!(
        syscall!(libc::SYS_epoll_create1, libc::EPOLL_CLOEXEC),
        succeeds()
    ))?;
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 7,
    };
    check!(
        syscall!(
            libc::SYS_epoll_ctl,
            ep.raw(),
            libc::EPOLL_CTL_ADD,
            fd.raw(),
            std::ptr::from_mut(&mut ev)
        ),
        succeeds()
    );
    touch(d.join("a").as_c_str())?;
    check!(
        syscall!(libc::SYS_poll, std::ptr::from_mut(&mut p), 1, 0),
        succeeds_with(1)
    );
    ensure_eq!(p.revents, libc::POLLIN);
    let mut out = [libc::epoll_event { events: 0, u64: 0 }; 2];
    check!(
        syscall!(libc::SYS_epoll_wait, ep.raw(), out.as_mut_ptr(), 2, 1000),
        succeeds_with(1)
    );
    let got = out[0].u64;
    ensure_eq!(got, 7);
    drain(&fd)?;
    check!(
        syscall!(libc::SYS_epoll_wait, ep.raw(), out.as_mut_ptr(), 2, 0),
        succeeds_with(0)
    );
    Ok(())
}

fn blocking_read_wakes_on_an_event() -> Outcome {
    let d = TempDir::new()?;
    let fd = Fd::from_ret(check!(
        syscall!(libc::SYS_inotify_init1, IN_CLOEXEC),
        succeeds()
    ))?;
    let wd = add(&fd, d.path(), IN_CREATE)?;
    let path = d.join("late");
    let mut child = Child::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        if touch(path.as_c_str()).is_ok() { 0 } else { 1 }
    })?;
    let mut buf = [0u8; 256];
    let n = check!(
        syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), buf.len()),
        succeeds()
    );
    ensure_eq!(
        simple(&parse(&buf[..n as usize])?),
        vec![e(wd, IN_CREATE, "late")]
    );
    ensure_eq!(child.wait()?.exit_code(), Some(0));
    Ok(())
}

fn queue_overflow_adds_one_q_overflow() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("f", b"")?;
    let fd = ino()?;
    add(&fd, d.join("f").as_c_str(), IN_OPEN | IN_CLOSE_NOWRITE)?;
    // 16384 is /proc/sys/fs/inotify/max_queued_events' default.
    for _ in 0..8200 {
        drop(open(d.join("f").as_c_str(), libc::O_RDONLY)?);
    }
    let evs = drain(&fd)?;
    ensure_eq!(evs.len(), 16385);
    let last = &evs[16384];
    ensure_eq!((last.wd, last.mask), (-1, IN_Q_OVERFLOW));
    ensure!(
        evs[..16384].iter().all(|e| e.mask != IN_Q_OVERFLOW),
        "one overflow, at the end"
    );
    Ok(())
}

/// inotify files are opened O_RDONLY, so write(2) fails before reaching the file.
fn write_to_an_instance_is_ebadf() -> Outcome {
    let fd = ino()?;
    check!(
        syscall!(libc::SYS_write, fd.raw(), b"x".as_ptr(), 1),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn closing_the_instance_drops_its_watches() -> Outcome {
    let d = TempDir::new()?;
    {
        let fd = ino()?;
        add(&fd, d.path(), IN_ALL_EVENTS)?;
    }
    let fd = ino()?;
    let wd = add(&fd, d.path(), IN_CREATE)?;
    ensure_eq!(wd, 1, "a new instance numbers from 1");
    touch(d.join("a").as_c_str())?;
    ensure_eq!(drain(&fd)?.len(), 1);
    Ok(())
}

fn no_read_permission_is_eacces() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("secret", b"")?;
    check!(
        syscall!(
            libc::SYS_fchmodat,
            libc::AT_FDCWD,
            d.join("secret").as_c_str(),
            0o000
        ),
        succeeds()
    );
    syscall_tests::task::fork_and_check(|| {
        check!(
            syscall!(libc::SYS_setresuid, 65534, 65534, 65534),
            succeeds()
        );
        let fd = ino()?;
        check!(
            syscall!(
                libc::SYS_inotify_add_watch,
                fd.raw(),
                d.join("secret").as_c_str(),
                IN_MODIFY
            ),
            fails_with(Errno::EACCES)
        );
        Ok(())
    })
}

fn proc_sys_fs_inotify_shows_the_limits() -> Outcome {
    for name in [
        "max_queued_events",
        "max_user_instances",
        "max_user_watches",
    ] {
        let text = std::fs::read_to_string(format!("/proc/sys/fs/inotify/{name}"))
            .map_err(|e| format!("{name}: {e}"))?;
        let n: u64 = text
            .trim()
            .parse()
            .map_err(|e| format!("{name}: {text:?}: {e}"))?;
        ensure!(n > 0, "{name} is {n}");
        if name == "max_queued_events" {
            ensure_eq!(n, 16384, "the overflow test assumes the default");
        }
    }
    Ok(())
}

/// max_user_instances (128 by default) bounds the live instances of a user: EMFILE beyond.
fn instances_are_bounded_by_max_user_instances() -> Outcome {
    let mut held = Vec::new();
    loop {
        let r = syscall!(libc::SYS_inotify_init1, IN_CLOEXEC);
        if r == -1 {
            ensure_eq!(syscall_tests::last_errno(), libc::EMFILE);
            break;
        }
        held.push(Fd::from_ret(r)?);
        ensure!(held.len() <= 128, "more than 128 instances");
    }
    // Closing one makes room for one.
    ensure!(!held.is_empty(), "no instance could be created");
    held.pop();
    held.push(ino()?);
    Ok(())
}

// ---------------------------------------------------------------- O_TMPFILE

fn tmpfile(dir: &TempDir, flags: c_int) -> Result<Fd, String> {
    Fd::from_ret(check!(
        syscall!(
            libc::SYS_openat,
            libc::AT_FDCWD,
            dir.path(),
            O_TMPFILE | flags | libc::O_CLOEXEC,
            0o600
        ),
        succeeds()
    ))
}

fn entries(dir: &TempDir) -> Result<Vec<String>, String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.path().to_string_lossy().as_ref())
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Ok(v)
}

fn o_tmpfile_is_an_unnamed_regular_file() -> Outcome {
    let d = TempDir::new()?;
    let f = tmpfile(&d, libc::O_RDWR)?;
    let mut st: libc::stat = syscall_tests::zeroed();
    check!(
        syscall!(libc::SYS_fstat, f.raw(), std::ptr::from_mut(&mut st)),
        succeeds()
    );
    ensure_eq!(st.st_mode & libc::S_IFMT, libc::S_IFREG);
    ensure_eq!(st.st_nlink, 0);
    ensure_eq!(st.st_mode & 0o777, 0o600);
    ensure_eq!(entries(&d)?, Vec::<String>::new());
    f.write_all(b"tmpdata")?;
    check!(
        syscall!(libc::SYS_lseek, f.raw(), 0, libc::SEEK_SET),
        succeeds_with(0)
    );
    ensure_eq!(f.read_up_to(64)?, b"tmpdata".to_vec());
    Ok(())
}

/// /proc/self/fd/N of an O_TMPFILE file names the directory, `#<ino>` and " (deleted)"
/// (d_tmpfile's name).
fn o_tmpfile_proc_fd_link_names_the_directory() -> Outcome {
    let d = TempDir::new()?;
    let f = tmpfile(&d, libc::O_RDWR)?;
    let link =
        std::fs::read_link(format!("/proc/self/fd/{}", f.raw())).map_err(|e| e.to_string())?;
    let mut st: libc::stat = syscall_tests::zeroed();
    check!(
        syscall!(libc::SYS_fstat, f.raw(), std::ptr::from_mut(&mut st)),
        succeeds()
    );
    let want = format!("{}/#{} (deleted)", d.path().to_string_lossy(), st.st_ino);
    ensure_eq!(link.to_string_lossy(), want);
    Ok(())
}

fn o_tmpfile_flag_errors() -> Outcome {
    let d = TempDir::new()?;
    d.create_file("reg", b"")?;
    let try_open = |path: &std::ffi::CStr, flags: c_int| {
        syscall!(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path,
            flags | libc::O_CLOEXEC,
            0o600
        )
    };
    // Read-only: EINVAL (build_open_flags wants write access).
    check!(
        try_open(d.path(), O_TMPFILE | libc::O_RDONLY),
        fails_with(Errno::EINVAL)
    );
    // With O_CREAT: EINVAL.
    check!(
        try_open(d.path(), O_TMPFILE | libc::O_RDWR | libc::O_CREAT),
        fails_with(Errno::EINVAL)
    );
    check!(
        try_open(d.join("reg").as_c_str(), O_TMPFILE | libc::O_RDWR),
        fails_with(Errno::ENOTDIR)
    );
    check!(
        try_open(d.join("missing").as_c_str(), O_TMPFILE | libc::O_RDWR),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

fn o_tmpfile_linked_through_proc_fd_becomes_visible() -> Outcome {
    let d = TempDir::new()?;
    let f = tmpfile(&d, libc::O_WRONLY)?;
    f.write_all(b"published")?;
    let proc_path = syscall_tests::cstring(&format!("/proc/self/fd/{}", f.raw()));
    check!(
        syscall!(
            libc::SYS_linkat,
            libc::AT_FDCWD,
            proc_path.as_c_str(),
            libc::AT_FDCWD,
            d.join("named").as_c_str(),
            libc::AT_SYMLINK_FOLLOW
        ),
        succeeds_with(0)
    );
    ensure_eq!(entries(&d)?, vec!["named".to_owned()]);
    let back = open(d.join("named").as_c_str(), libc::O_RDONLY)?;
    ensure_eq!(back.read_up_to(64)?, b"published".to_vec());
    let mut st: libc::stat = syscall_tests::zeroed();
    check!(
        syscall!(libc::SYS_fstat, f.raw(), std::ptr::from_mut(&mut st)),
        succeeds()
    );
    ensure_eq!(st.st_nlink, 1);
    Ok(())
}

fn o_tmpfile_linked_with_at_empty_path() -> Outcome {
    let d = TempDir::new()?;
    let f = tmpfile(&d, libc::O_RDWR)?;
    check!(
        syscall!(
            libc::SYS_linkat,
            f.raw(),
            c"",
            libc::AT_FDCWD,
            d.join("n").as_c_str(),
            libc::AT_EMPTY_PATH
        ),
        succeeds_with(0)
    );
    ensure_eq!(entries(&d)?, vec!["n".to_owned()]);
    Ok(())
}

fn o_tmpfile_with_o_excl_cannot_be_linked() -> Outcome {
    let d = TempDir::new()?;
    let f = tmpfile(&d, libc::O_RDWR | libc::O_EXCL)?;
    let proc_path = syscall_tests::cstring(&format!("/proc/self/fd/{}", f.raw()));
    check!(
        syscall!(
            libc::SYS_linkat,
            libc::AT_FDCWD,
            proc_path.as_c_str(),
            libc::AT_FDCWD,
            d.join("named").as_c_str(),
            libc::AT_SYMLINK_FOLLOW
        ),
        fails_with(Errno::ENOENT)
    );
    ensure_eq!(entries(&d)?, Vec::<String>::new());
    Ok(())
}

fn o_tmpfile_sends_no_create_until_linked() -> Outcome {
    let d = TempDir::new()?;
    let fd = ino()?;
    let wd = add(&fd, d.path(), IN_CREATE)?;
    let f = tmpfile(&d, libc::O_RDWR)?;
    ensure_eq!(drain(&fd)?, vec![]);
    check!(
        syscall!(
            libc::SYS_linkat,
            f.raw(),
            c"",
            libc::AT_FDCWD,
            d.join("now").as_c_str(),
            libc::AT_EMPTY_PATH
        ),
        succeeds_with(0)
    );
    ensure_eq!(simple(&drain(&fd)?), vec![e(wd, IN_CREATE, "now")]);
    Ok(())
}

fn main() -> ExitCode {
    run_tests(tests![
        init1_rejects_unknown_flags,
        init1_flags_set_cloexec_and_nonblock,
        read_with_nothing_queued_is_eagain,
        add_watch_argument_errors,
        onlydir_on_a_file_is_enotdir,
        same_inode_twice_gives_the_same_wd,
        mask_create_on_a_watched_inode_is_eexist,
        rm_watch_queues_ignored_and_unknown_wd_is_einval,
        mask_add_extends_and_plain_add_replaces,
        create_reports_the_name_padded,
        mkdir_and_rmdir_carry_isdir,
        create_open_write_close_sequence,
        read_gives_access_and_close_nowrite,
        parent_and_child_watches_both_hear,
        identical_consecutive_events_coalesce,
        truncate_is_modify_and_chmod_is_attrib,
        chown_is_attrib_unless_nothing_changes,
        rename_pairs_moved_from_and_to_by_cookie,
        renaming_a_directory_sets_isdir,
        unlink_sends_attrib_delete_self_ignored_then_delete,
        unlinking_one_of_two_links_is_only_attrib,
        link_is_attrib_on_file_and_create_in_dir,
        rmdir_of_a_watched_directory_is_delete_self,
        opening_a_watched_directory_is_open_isdir,
        o_path_opens_send_nothing,
        oneshot_reports_once_then_ignored,
        dont_follow_watches_the_symlink_itself,
        excl_unlink_silences_unlinked_children,
        symlink_is_create,
        buffer_too_small_for_the_next_event_is_einval,
        fionread_counts_queued_bytes,
        poll_and_epoll_see_readiness,
        blocking_read_wakes_on_an_event,
        queue_overflow_adds_one_q_overflow,
        write_to_an_instance_is_ebadf,
        closing_the_instance_drops_its_watches,
        proc_sys_fs_inotify_shows_the_limits,
        instances_are_bounded_by_max_user_instances,
        no_read_permission_is_eacces,
        o_tmpfile_is_an_unnamed_regular_file,
        o_tmpfile_proc_fd_link_names_the_directory,
        o_tmpfile_flag_errors,
        o_tmpfile_linked_through_proc_fd_becomes_visible,
        o_tmpfile_linked_with_at_empty_path,
        o_tmpfile_with_o_excl_cannot_be_linked,
        o_tmpfile_sends_no_create_until_linked,
    ])
}
