//! Credentials: the set*id family, setgroups, capabilities (capget/capset, the bounding set,
//! keep-caps), and the permission checks that follow from them (files, kill).
//!
//! The suite runs as root; every test changes its ids in a forked child
//! ([`fork_and_check`]), so the test process keeps its own. Raw syscalls throughout: glibc's
//! wrappers would broadcast the change to all threads, which is not what is under test.
#![deny(unsafe_code)]

use std::process::ExitCode;

use syscall_tests::libc;
use syscall_tests::task::fork_and_check;
use syscall_tests::{
    Errno, Fd, Outcome, TempDir, check, ensure, ensure_eq, fails_with, run_tests, succeeds,
    succeeds_with, syscall, tests,
};

const NOBODY: u32 = 65534;
const USER: u32 = 1000;
const CAP_V3: u32 = 0x2008_0522;
const CAP_CHOWN: u32 = 0;
const CAP_KILL: u32 = 5;
const PR_CAPBSET_READ: i32 = 23;
const PR_CAPBSET_DROP: i32 = 24;
const PR_GET_KEEPCAPS: i32 = 7;
const PR_SET_KEEPCAPS: i32 = 8;
const UNCHANGED: u32 = u32::MAX;
const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_SETPCAP: u32 = 8;
const PR_GET_SECUREBITS: i32 = 27;
const PR_SET_SECUREBITS: i32 = 28;
const PR_CAP_AMBIENT: i32 = 47;
const AMBIENT_IS_SET: u64 = 1;
const AMBIENT_RAISE: u64 = 2;
const AMBIENT_LOWER: u64 = 3;
const AMBIENT_CLEAR_ALL: u64 = 4;
const SECBIT_NOROOT: u64 = 1;
const SECBIT_KEEP_CAPS: u64 = 1 << 4;
const SECBIT_KEEP_CAPS_LOCKED: u64 = 1 << 5;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn resuid() -> Result<[u32; 3], String> {
    let mut ids = [0u32; 3];
    check!(
        syscall!(
            libc::SYS_getresuid,
            &raw mut ids[0],
            &raw mut ids[1],
            &raw mut ids[2]
        ),
        succeeds()
    );
    Ok(ids)
}

fn resgid() -> Result<[u32; 3], String> {
    let mut ids = [0u32; 3];
    check!(
        syscall!(
            libc::SYS_getresgid,
            &raw mut ids[0],
            &raw mut ids[1],
            &raw mut ids[2]
        ),
        succeeds()
    );
    Ok(ids)
}

/// The calling thread's (effective, permitted, inheritable) sets, low 64 bits.
fn caps() -> Result<(u64, u64, u64), String> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    check!(
        syscall!(libc::SYS_capget, &raw mut hdr, data.as_mut_ptr()),
        succeeds()
    );
    let join = |f: fn(&CapData) -> u32| u64::from(f(&data[0])) | u64::from(f(&data[1])) << 32;
    Ok((
        join(|d| d.effective),
        join(|d| d.permitted),
        join(|d| d.inheritable),
    ))
}

fn setresuid(r: u32, e: u32, s: u32) -> i64 {
    syscall!(libc::SYS_setresuid, r, e, s)
}

fn bit(cap: u32) -> u64 {
    1 << cap
}

// ---------------------------------------------------------------- set*id

/// setuid(2) as root sets all three uids and, with every uid nonzero, clears the permitted
/// and effective capabilities; going back is then EPERM.
fn setuid_as_root_drops_every_uid_and_capability() -> Outcome {
    fork_and_check(|| {
        check!(syscall!(libc::SYS_setuid, USER), succeeds_with(0));
        ensure_eq!(resuid()?, [USER; 3]);
        let (e, p, _) = caps()?;
        ensure_eq!((e, p), (0, 0));
        check!(syscall!(libc::SYS_setuid, 0), fails_with(Errno::EPERM));
        Ok(())
    })
}

/// An effective uid away from 0 clears the effective set only; back at 0 (the real uid is
/// still 0) the effective set is the permitted one again.
fn effective_uid_away_and_back_restores_effective_capabilities() -> Outcome {
    fork_and_check(|| {
        let (_, full, _) = caps()?;
        check!(setresuid(UNCHANGED, USER, UNCHANGED), succeeds_with(0));
        ensure_eq!(resuid()?, [0, USER, 0]);
        let (e, p, _) = caps()?;
        ensure_eq!((e, p), (0, full));
        check!(setresuid(UNCHANGED, 0, UNCHANGED), succeeds_with(0));
        ensure_eq!(caps()?.0, full);
        Ok(())
    })
}

/// Unprivileged, setresuid may only pick among the current real/effective/saved uids.
fn unprivileged_setresuid_is_limited_to_current_ids() -> Outcome {
    fork_and_check(|| {
        check!(setresuid(USER, NOBODY, 0), succeeds_with(0));
        // Now unprivileged (euid != 0 clears the effective set), ids {1000, 65534, 0}.
        check!(
            setresuid(2000, UNCHANGED, UNCHANGED),
            fails_with(Errno::EPERM)
        );
        check!(setresuid(NOBODY, USER, UNCHANGED), succeeds_with(0));
        ensure_eq!(resuid()?, [NOBODY, USER, 0]);
        // The saved 0 allows getting root back.
        check!(setresuid(UNCHANGED, 0, UNCHANGED), succeeds_with(0));
        Ok(())
    })
}

/// setreuid(2): setting the real uid makes the saved uid the new effective uid.
fn setreuid_updates_the_saved_uid() -> Outcome {
    fork_and_check(|| {
        check!(syscall!(libc::SYS_setreuid, USER, NOBODY), succeeds_with(0));
        ensure_eq!(resuid()?, [USER, NOBODY, NOBODY]);
        // Unprivileged: the real uid may become the effective one (a swap back).
        check!(syscall!(libc::SYS_setreuid, NOBODY, USER), succeeds_with(0));
        ensure_eq!(resuid()?, [NOBODY, USER, USER]);
        check!(
            syscall!(libc::SYS_setreuid, 0, UNCHANGED),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

/// setfsuid(2) always returns the previous fsuid; unprivileged, a foreign id is ignored.
fn setfsuid_returns_the_old_value_and_ignores_foreign_ids() -> Outcome {
    fork_and_check(|| {
        check!(syscall!(libc::SYS_setfsuid, USER), succeeds_with(0));
        check!(syscall!(libc::SYS_setfsuid, UNCHANGED), succeeds_with(1000));
        check!(syscall!(libc::SYS_setfsuid, 0), succeeds_with(1000));
        check!(syscall!(libc::SYS_setuid, NOBODY), succeeds_with(0));
        // The fsuid follows the euid; 4242 is none of the ids: unchanged.
        check!(syscall!(libc::SYS_setfsuid, 4242), succeeds_with(65534));
        check!(
            syscall!(libc::SYS_setfsuid, UNCHANGED),
            succeeds_with(65534)
        );
        Ok(())
    })
}

/// setgid/setresgid/setgroups: root may; afterwards unprivileged setgroups is EPERM.
fn gids_and_groups() -> Outcome {
    fork_and_check(|| {
        let groups = [5u32, 7, 9];
        check!(
            syscall!(libc::SYS_setgroups, groups.len(), groups.as_ptr()),
            succeeds_with(0)
        );
        let mut got = [0u32; 8];
        check!(
            syscall!(libc::SYS_getgroups, got.len(), got.as_mut_ptr()),
            succeeds_with(3)
        );
        ensure_eq!(&got[..3], &groups[..]);
        check!(syscall!(libc::SYS_setresgid, 10, 20, 30), succeeds_with(0));
        ensure_eq!(resgid()?, [10, 20, 30]);
        check!(syscall!(libc::SYS_setgid, 40), succeeds_with(0));
        ensure_eq!(resgid()?, [40; 3]);
        check!(syscall!(libc::SYS_setuid, USER), succeeds_with(0));
        check!(
            syscall!(libc::SYS_setgroups, groups.len(), groups.as_ptr()),
            fails_with(Errno::EPERM)
        );
        check!(syscall!(libc::SYS_setgid, 41), fails_with(Errno::EPERM));
        Ok(())
    })
}

/// setgroups(2) with more than NGROUPS_MAX (65536) groups or a negative size: EINVAL.
fn setgroups_too_many_fails_einval() -> Outcome {
    fork_and_check(|| {
        check!(
            syscall!(libc::SYS_setgroups, 65537, 0usize),
            fails_with(Errno::EINVAL)
        );
        check!(
            syscall!(libc::SYS_setgroups, -1i64, 0usize),
            fails_with(Errno::EINVAL)
        );
        Ok(())
    })
}

// ---------------------------------------------------------------- capabilities

/// capget(2) with an unknown version: EINVAL, and the preferred version written back; with
/// a NULL data pointer, a valid version is a successful probe.
fn capget_version_negotiation() -> Outcome {
    let mut hdr = CapHeader {
        version: 0x1234,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    check!(
        syscall!(libc::SYS_capget, &raw mut hdr, data.as_mut_ptr()),
        fails_with(Errno::EINVAL)
    );
    ensure_eq!(hdr.version, CAP_V3);
    check!(
        syscall!(libc::SYS_capget, &raw mut hdr, 0usize),
        succeeds_with(0)
    );
    Ok(())
}

/// Root starts with CAP_CHOWN and CAP_KILL effective and permitted, none inheritable.
fn root_has_capabilities() -> Outcome {
    let (e, p, i) = caps()?;
    ensure!(
        e & bit(CAP_CHOWN) != 0 && e & bit(CAP_KILL) != 0,
        "effective {e:#x}"
    );
    ensure!(p & bit(CAP_CHOWN) != 0, "permitted {p:#x}");
    ensure_eq!(i, 0);
    Ok(())
}

/// capset(2): a dropped permitted capability cannot be raised again (EPERM), and the
/// effective set must stay within the permitted one.
fn capset_cannot_raise_what_was_dropped() -> Outcome {
    fork_and_check(|| {
        let (e, p, _) = caps()?;
        let no_chown = !bit(CAP_CHOWN);
        check!(set_caps(e & no_chown, p & no_chown, 0), succeeds_with(0));
        ensure_eq!(caps()?.1 & bit(CAP_CHOWN), 0);
        check!(set_caps(e, p, 0), fails_with(Errno::EPERM));
        check!(
            set_caps(e & no_chown | bit(CAP_CHOWN), p & no_chown, 0),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

/// Without CAP_CHOWN (dropped with capset), even root cannot chown a file it does not own.
fn without_cap_chown_root_cannot_chown() -> Outcome {
    let dir = TempDir::new()?;
    dir.create_file("f", b"x")?;
    let path = dir.join("f");
    check!(
        syscall!(libc::SYS_chown, path.as_ptr(), USER, USER),
        succeeds_with(0)
    );
    fork_and_check(|| {
        let (e, p, _) = caps()?;
        let mut hdr = CapHeader {
            version: CAP_V3,
            pid: 0,
        };
        let drop = !bit(CAP_CHOWN);
        let data = [
            CapData {
                effective: u32::try_from((e & drop) & 0xffff_ffff).unwrap_or(0),
                permitted: u32::try_from((p & drop) & 0xffff_ffff).unwrap_or(0),
                inheritable: 0,
            },
            CapData {
                effective: u32::try_from(e >> 32).unwrap_or(0),
                permitted: u32::try_from(p >> 32).unwrap_or(0),
                inheritable: 0,
            },
        ];
        check!(
            syscall!(libc::SYS_capset, &raw mut hdr, data.as_ptr()),
            succeeds_with(0)
        );
        check!(
            syscall!(libc::SYS_chown, path.as_ptr(), 0, 0),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

/// PR_CAPBSET_READ/DROP: a dropped capability leaves the bounding set; unknown numbers are
/// EINVAL; dropping needs CAP_SETPCAP.
fn bounding_set_read_and_drop() -> Outcome {
    fork_and_check(|| {
        check!(
            syscall!(libc::SYS_prctl, PR_CAPBSET_READ, CAP_KILL, 0, 0, 0),
            succeeds_with(1)
        );
        check!(
            syscall!(libc::SYS_prctl, PR_CAPBSET_DROP, CAP_KILL, 0, 0, 0),
            succeeds_with(0)
        );
        check!(
            syscall!(libc::SYS_prctl, PR_CAPBSET_READ, CAP_KILL, 0, 0, 0),
            succeeds_with(0)
        );
        check!(
            syscall!(libc::SYS_prctl, PR_CAPBSET_READ, 64, 0, 0, 0),
            fails_with(Errno::EINVAL)
        );
        check!(syscall!(libc::SYS_setuid, USER), succeeds_with(0));
        check!(
            syscall!(libc::SYS_prctl, PR_CAPBSET_DROP, CAP_CHOWN, 0, 0, 0),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

/// PR_SET_KEEPCAPS keeps the permitted set when all uids leave 0 (the effective set is still
/// cleared by the euid change).
fn keepcaps_keeps_the_permitted_set() -> Outcome {
    fork_and_check(|| {
        let (_, full, _) = caps()?;
        check!(
            syscall!(libc::SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0),
            succeeds_with(0)
        );
        check!(
            syscall!(libc::SYS_prctl, PR_GET_KEEPCAPS, 0, 0, 0, 0),
            succeeds_with(1)
        );
        check!(setresuid(USER, USER, USER), succeeds_with(0));
        let (e, p, _) = caps()?;
        ensure_eq!((e, p), (0, full));
        Ok(())
    })
}

// ---------------------------------------------------------------- what follows

/// After setuid to a user, a root-only file cannot be opened (EACCES), and open(2) of a
/// file the user owns works.
fn unprivileged_file_access_follows_mode_bits() -> Outcome {
    let dir = TempDir::new()?;
    dir.create_file("secret", b"s")?;
    dir.create_file("mine", b"m")?;
    let secret = dir.join("secret");
    let mine = dir.join("mine");
    check!(
        syscall!(libc::SYS_chmod, secret.as_ptr(), 0o600),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_chmod, dir.path().as_ptr(), 0o755),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_chown, mine.as_ptr(), USER, USER),
        succeeds_with(0)
    );
    fork_and_check(|| {
        check!(syscall!(libc::SYS_setgid, USER), succeeds_with(0));
        check!(syscall!(libc::SYS_setuid, USER), succeeds_with(0));
        let open = |p: &std::ffi::CStr| {
            syscall!(
                libc::SYS_openat,
                libc::AT_FDCWD,
                p.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC
            )
        };
        check!(open(&secret), fails_with(Errno::EACCES));
        let fd = Fd::from_ret(check!(open(&mine), succeeds()))?;
        ensure_eq!(fd.read_up_to(4)?, b"m".to_vec());
        check!(
            syscall!(libc::SYS_chown, mine.as_ptr(), 0, 0),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

/// access(2) checks with the real uid: a process whose effective uid is a user but whose
/// real uid is 0 still passes; AT_EACCESS checks with the effective one.
fn access_uses_real_ids_faccessat_eaccess_effective() -> Outcome {
    let dir = TempDir::new()?;
    dir.create_file("secret", b"s")?;
    let secret = dir.join("secret");
    check!(
        syscall!(libc::SYS_chmod, secret.as_ptr(), 0o600),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_chmod, dir.path().as_ptr(), 0o755),
        succeeds_with(0)
    );
    fork_and_check(|| {
        check!(setresuid(UNCHANGED, USER, UNCHANGED), succeeds_with(0));
        check!(
            syscall!(
                libc::SYS_faccessat,
                libc::AT_FDCWD,
                secret.as_ptr(),
                libc::R_OK
            ),
            succeeds_with(0)
        );
        check!(
            syscall!(
                libc::SYS_faccessat2,
                libc::AT_FDCWD,
                secret.as_ptr(),
                libc::R_OK,
                libc::AT_EACCESS
            ),
            fails_with(Errno::EACCES)
        );
        Ok(())
    })
}

/// kill(2) of a process of another user is EPERM; signal 0 (the probe) too; one's own
/// processes may be signalled.
fn kill_needs_matching_ids() -> Outcome {
    let parent = syscall!(libc::SYS_getpid);
    fork_and_check(|| {
        check!(syscall!(libc::SYS_setuid, USER), succeeds_with(0));
        check!(
            syscall!(libc::SYS_kill, parent, 0),
            fails_with(Errno::EPERM)
        );
        check!(
            syscall!(libc::SYS_kill, parent, libc::SIGUSR1),
            fails_with(Errno::EPERM)
        );
        let me = syscall!(libc::SYS_getpid);
        check!(syscall!(libc::SYS_kill, me, 0), succeeds_with(0));
        Ok(())
    })
}

/// chroot(2): the new root is where "/" (and "/..") resolves; a file is ENOTDIR; without
/// CAP_SYS_CHROOT, EPERM.
fn chroot_changes_what_slash_means() -> Outcome {
    let dir = TempDir::new()?;
    dir.create_file("inside", b"in")?;
    let inside = dir.join("inside");
    fork_and_check(|| {
        check!(
            syscall!(libc::SYS_chroot, inside.as_ptr()),
            fails_with(Errno::ENOTDIR)
        );
        check!(
            syscall!(libc::SYS_chroot, dir.path().as_ptr()),
            succeeds_with(0)
        );
        check!(syscall!(libc::SYS_chdir, c"/".as_ptr()), succeeds_with(0));
        let fd = Fd::open(c"/../../inside", libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
        ensure_eq!(fd.read_up_to(4)?, b"in".to_vec());
        check!(
            syscall!(
                libc::SYS_openat,
                libc::AT_FDCWD,
                c"/etc/passwd".as_ptr(),
                libc::O_RDONLY
            ),
            fails_with(Errno::ENOENT)
        );
        Ok(())
    })?;
    fork_and_check(|| {
        check!(syscall!(libc::SYS_setuid, USER), succeeds_with(0));
        check!(
            syscall!(libc::SYS_chroot, dir.path().as_ptr()),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

// ---------------------------------------------------------------- ambient set, securebits

/// capset(2) of all three sets.
fn set_caps(e: u64, p: u64, i: u64) -> i64 {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let lo = |v: u64| u32::try_from(v & 0xffff_ffff).unwrap_or(0);
    let hi = |v: u64| u32::try_from(v >> 32).unwrap_or(0);
    let data = [
        CapData {
            effective: lo(e),
            permitted: lo(p),
            inheritable: lo(i),
        },
        CapData {
            effective: hi(e),
            permitted: hi(p),
            inheritable: hi(i),
        },
    ];
    syscall!(libc::SYS_capset, &raw mut hdr, data.as_ptr())
}

fn ambient(op: u64, cap: u64) -> i64 {
    syscall!(libc::SYS_prctl, PR_CAP_AMBIENT, op, cap, 0, 0)
}

/// A field (`CapAmb:` ...) of /proc/self/status as a process exec'd now sees it (busybox cat).
fn status_after_exec(field: &str) -> Result<u64, String> {
    let out = std::process::Command::new("/bin/busybox")
        .args(["cat", "/proc/self/status"])
        .output()
        .map_err(|e| format!("running busybox: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .ok_or_else(|| format!("no {field} in /proc/self/status"))?;
    u64::from_str_radix(line.trim(), 16).map_err(|e| format!("{field} {line}: {e}"))
}

/// PR_CAP_AMBIENT_RAISE needs the capability in both the permitted and inheritable sets;
/// IS_SET, LOWER and CLEAR_ALL do what they say; bad arguments are EINVAL.
fn ambient_raise_needs_permitted_and_inheritable() -> Outcome {
    fork_and_check(|| {
        let b = u64::from(CAP_NET_BIND_SERVICE);
        check!(ambient(AMBIENT_RAISE, b), fails_with(Errno::EPERM));
        let (e, p, _) = caps()?;
        check!(set_caps(e, p, bit(CAP_NET_BIND_SERVICE)), succeeds_with(0));
        check!(ambient(AMBIENT_IS_SET, b), succeeds_with(0));
        check!(ambient(AMBIENT_RAISE, b), succeeds_with(0));
        check!(ambient(AMBIENT_IS_SET, b), succeeds_with(1));
        check!(ambient(AMBIENT_LOWER, b), succeeds_with(0));
        check!(ambient(AMBIENT_IS_SET, b), succeeds_with(0));
        check!(ambient(AMBIENT_RAISE, b), succeeds_with(0));
        check!(ambient(AMBIENT_CLEAR_ALL, 0), succeeds_with(0));
        check!(ambient(AMBIENT_IS_SET, b), succeeds_with(0));
        check!(ambient(AMBIENT_IS_SET, 64), fails_with(Errno::EINVAL));
        check!(ambient(9, b), fails_with(Errno::EINVAL));
        check!(
            syscall!(libc::SYS_prctl, PR_CAP_AMBIENT, AMBIENT_IS_SET, b, 1, 0),
            fails_with(Errno::EINVAL)
        );
        Ok(())
    })
}

/// Dropping a capability from the inheritable set drops it from the ambient set too.
fn ambient_follows_the_inheritable_set() -> Outcome {
    fork_and_check(|| {
        let b = u64::from(CAP_NET_BIND_SERVICE);
        let (e, p, _) = caps()?;
        check!(set_caps(e, p, bit(CAP_NET_BIND_SERVICE)), succeeds_with(0));
        check!(ambient(AMBIENT_RAISE, b), succeeds_with(0));
        check!(set_caps(e, p, 0), succeeds_with(0));
        check!(ambient(AMBIENT_IS_SET, b), succeeds_with(0));
        Ok(())
    })
}

/// Leaving root clears the ambient set (even with keep-caps); raised again afterwards, an
/// ambient capability survives an execve of an ordinary program, where it is permitted and
/// effective.
fn ambient_capability_survives_exec_as_user() -> Outcome {
    fork_and_check(|| {
        let b = u64::from(CAP_NET_BIND_SERVICE);
        let (e, p, _) = caps()?;
        check!(set_caps(e, p, bit(CAP_NET_BIND_SERVICE)), succeeds_with(0));
        check!(ambient(AMBIENT_RAISE, b), succeeds_with(0));
        check!(
            syscall!(libc::SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0),
            succeeds_with(0)
        );
        check!(setresuid(USER, USER, USER), succeeds_with(0));
        check!(ambient(AMBIENT_IS_SET, b), succeeds_with(0));
        let (_, p, i) = caps()?;
        ensure!(
            p & bit(CAP_NET_BIND_SERVICE) != 0,
            "keep-caps lost the permitted set"
        );
        check!(set_caps(0, p, i), succeeds_with(0));
        check!(ambient(AMBIENT_RAISE, b), succeeds_with(0));
        ensure_eq!(status_after_exec("CapAmb:")?, bit(CAP_NET_BIND_SERVICE));
        ensure_eq!(status_after_exec("CapEff:")?, bit(CAP_NET_BIND_SERVICE));
        ensure_eq!(status_after_exec("CapPrm:")?, bit(CAP_NET_BIND_SERVICE));
        Ok(())
    })
}

/// Without an ambient set, an execve by a user leaves no capabilities.
fn exec_as_user_without_ambient_has_no_capabilities() -> Outcome {
    fork_and_check(|| {
        check!(setresuid(USER, USER, USER), succeeds_with(0));
        ensure_eq!(status_after_exec("CapEff:")?, 0);
        ensure_eq!(status_after_exec("CapAmb:")?, 0);
        Ok(())
    })
}

/// PR_SET_SECUREBITS: KEEP_CAPS is PR_SET_KEEPCAPS's flag; a locked flag cannot change;
/// unknown bits and a caller without CAP_SETPCAP get EPERM.
fn securebits_keep_caps_and_locks() -> Outcome {
    fork_and_check(|| {
        check!(
            syscall!(libc::SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0),
            succeeds_with(0)
        );
        check!(
            syscall!(
                libc::SYS_prctl,
                PR_SET_SECUREBITS,
                SECBIT_KEEP_CAPS,
                0,
                0,
                0
            ),
            succeeds_with(0)
        );
        check!(
            syscall!(libc::SYS_prctl, PR_GET_KEEPCAPS, 0, 0, 0, 0),
            succeeds_with(1)
        );
        check!(
            syscall!(libc::SYS_prctl, PR_SET_SECUREBITS, 1u64 << 12, 0, 0, 0),
            fails_with(Errno::EPERM)
        );
        let both = SECBIT_KEEP_CAPS | SECBIT_KEEP_CAPS_LOCKED;
        check!(
            syscall!(libc::SYS_prctl, PR_SET_SECUREBITS, both, 0, 0, 0),
            succeeds_with(0)
        );
        check!(
            syscall!(libc::SYS_prctl, PR_SET_KEEPCAPS, 0, 0, 0, 0),
            fails_with(Errno::EPERM)
        );
        check!(
            syscall!(
                libc::SYS_prctl,
                PR_SET_SECUREBITS,
                SECBIT_KEEP_CAPS_LOCKED,
                0,
                0,
                0
            ),
            fails_with(Errno::EPERM)
        );
        let (e, p, i) = caps()?;
        let no = !bit(CAP_SETPCAP);
        check!(set_caps(e & no, p & no, i), succeeds_with(0));
        check!(
            syscall!(
                libc::SYS_prctl,
                PR_SET_SECUREBITS,
                both | SECBIT_NOROOT,
                0,
                0,
                0
            ),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

/// SECBIT_NOROOT: an execve by root grants no capabilities.
fn securebit_noroot_exec_grants_root_nothing() -> Outcome {
    fork_and_check(|| {
        check!(
            syscall!(libc::SYS_prctl, PR_SET_SECUREBITS, SECBIT_NOROOT, 0, 0, 0),
            succeeds_with(0)
        );
        ensure_eq!(status_after_exec("CapEff:")?, 0);
        ensure_eq!(status_after_exec("CapPrm:")?, 0);
        Ok(())
    })
}

/// /proc/sys/kernel/cap_last_cap names the highest capability PR_CAPBSET_READ knows.
fn cap_last_cap_matches_capbset_read() -> Outcome {
    let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .map_err(|e| format!("reading cap_last_cap: {e}"))?;
    let last: u64 = text
        .trim()
        .parse()
        .map_err(|e| format!("cap_last_cap {text:?}: {e}"))?;
    check!(
        syscall!(libc::SYS_prctl, PR_CAPBSET_READ, last, 0, 0, 0),
        succeeds()
    );
    check!(
        syscall!(libc::SYS_prctl, PR_CAPBSET_READ, last + 1, 0, 0, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn main() -> ExitCode {
    run_tests(tests![
        ambient_raise_needs_permitted_and_inheritable,
        ambient_follows_the_inheritable_set,
        ambient_capability_survives_exec_as_user,
        exec_as_user_without_ambient_has_no_capabilities,
        securebits_keep_caps_and_locks,
        securebit_noroot_exec_grants_root_nothing,
        cap_last_cap_matches_capbset_read,
        setuid_as_root_drops_every_uid_and_capability,
        effective_uid_away_and_back_restores_effective_capabilities,
        unprivileged_setresuid_is_limited_to_current_ids,
        setreuid_updates_the_saved_uid,
        setfsuid_returns_the_old_value_and_ignores_foreign_ids,
        gids_and_groups,
        setgroups_too_many_fails_einval,
        capget_version_negotiation,
        root_has_capabilities,
        capset_cannot_raise_what_was_dropped,
        without_cap_chown_root_cannot_chown,
        bounding_set_read_and_drop,
        keepcaps_keeps_the_permitted_set,
        unprivileged_file_access_follows_mode_bits,
        access_uses_real_ids_faccessat_eaccess_effective,
        kill_needs_matching_ids,
        chroot_changes_what_slash_means,
    ])
}
