//! Pipe plumbing and friends a Debian userland uses: splice(2), tee(2), vmsplice(2);
//! getpriority/setpriority (nice values, the raw `20 - nice` ABI, CAP_SYS_NICE) and
//! sched_get_priority_max/min; openat2(2) with `struct open_how` checks and RESOLVE_*.
#![deny(unsafe_code)]

use std::ffi::CStr;

use syscall_tests::libc::{self, c_int};
use syscall_tests::sys::signal_count;
use syscall_tests::task::{self, Child, fork_and_check, install_recorder, pipe, pipe2};
use syscall_tests::{
    Errno, Fd, Outcome, TempDir, TempFile, check, cstring, ensure, ensure_eq, fails_with,
    run_tests, succeeds, succeeds_with, syscall, tests,
};

const SPLICE_F_MOVE: u32 = 1;
const SPLICE_F_NONBLOCK: u32 = 2;
const SPLICE_F_MORE: u32 = 4;
const SYS_OPENAT2: libc::c_long = 437;
const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;
const RESOLVE_IN_ROOT: u64 = 0x10;
const RESOLVE_CACHED: u64 = 0x20;
const NULL: usize = 0;

fn splice(
    fin: &Fd,
    off_in: Option<&mut i64>,
    fout: &Fd,
    off_out: Option<&mut i64>,
    len: usize,
    flags: u32,
) -> i64 {
    let p_in = off_in.map_or(std::ptr::null_mut(), std::ptr::from_mut);
    let p_out = off_out.map_or(std::ptr::null_mut(), std::ptr::from_mut);
    syscall!(
        libc::SYS_splice,
        fin.raw(),
        p_in,
        fout.raw(),
        p_out,
        len,
        flags
    )
}

fn tee(fin: &Fd, fout: &Fd, len: usize, flags: u32) -> i64 {
    syscall!(libc::SYS_tee, fin.raw(), fout.raw(), len, flags)
}

fn pread_all(fd: &Fd, len: usize, off: i64) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; len];
    let n = check!(
        syscall!(libc::SYS_pread64, fd.raw(), buf.as_mut_ptr(), len, off),
        succeeds()
    );
    buf.truncate(usize::try_from(n).unwrap_or(0));
    Ok(buf)
}

fn offset(fd: &Fd) -> i64 {
    syscall!(libc::SYS_lseek, fd.raw(), 0, libc::SEEK_CUR)
}

// ---------------------------------------------------------------- splice

fn splice_file_to_pipe_moves_bytes_and_the_file_offset() -> Outcome {
    let f = TempFile::with_contents(b"hello world")?;
    let fd = f.open(libc::O_RDONLY)?;
    let (r, w) = pipe()?;
    check!(splice(&fd, None, &w, None, 5, 0), succeeds_with(5));
    ensure_eq!(offset(&fd), 5);
    ensure_eq!(r.read_up_to(64)?, b"hello".to_vec());
    Ok(())
}

fn splice_with_an_offset_updates_it_and_not_the_file_position() -> Outcome {
    let f = TempFile::with_contents(b"hello world")?;
    let fd = f.open(libc::O_RDONLY)?;
    let (r, w) = pipe()?;
    let mut off = 6i64;
    check!(
        splice(&fd, Some(&mut off), &w, None, 100, 0),
        succeeds_with(5)
    );
    ensure_eq!(off, 11);
    ensure_eq!(offset(&fd), 0);
    ensure_eq!(r.read_up_to(64)?, b"world".to_vec());
    Ok(())
}

fn splice_pipe_to_file_at_an_offset() -> Outcome {
    let f = TempFile::with_contents(b"..........")?;
    let fd = f.open(libc::O_RDWR)?;
    let (r, w) = pipe()?;
    w.write_all(b"abc")?;
    let mut off = 2i64;
    check!(
        splice(&r, None, &fd, Some(&mut off), 3, 0),
        succeeds_with(3)
    );
    ensure_eq!(off, 5);
    ensure_eq!(offset(&fd), 0);
    ensure_eq!(pread_all(&fd, 10, 0)?, b"..abc.....".to_vec());
    Ok(())
}

fn splice_pipe_to_file_at_the_file_position() -> Outcome {
    let f = TempFile::new()?;
    let fd = f.open(libc::O_RDWR)?;
    let (r, w) = pipe()?;
    w.write_all(b"0123456789")?;
    check!(
        splice(&r, None, &fd, None, 4, SPLICE_F_MORE),
        succeeds_with(4)
    );
    check!(
        splice(&r, None, &fd, None, 100, SPLICE_F_MOVE),
        succeeds_with(6)
    );
    ensure_eq!(offset(&fd), 10);
    ensure_eq!(pread_all(&fd, 20, 0)?, b"0123456789".to_vec());
    Ok(())
}

fn splice_pipe_to_pipe_moves_the_bytes() -> Outcome {
    let (r1, w1) = pipe()?;
    let (r2, w2) = pipe()?;
    w1.write_all(b"abcdef")?;
    check!(splice(&r1, None, &w2, None, 4, 0), succeeds_with(4));
    ensure_eq!(r2.read_up_to(64)?, b"abcd".to_vec());
    ensure_eq!(r1.read_up_to(64)?, b"ef".to_vec());
    Ok(())
}

fn splice_between_two_files_is_einval() -> Outcome {
    let f = TempFile::with_contents(b"x")?;
    let g = TempFile::new()?;
    let (a, b) = (f.open(libc::O_RDONLY)?, g.open(libc::O_WRONLY)?);
    check!(splice(&a, None, &b, None, 1, 0), fails_with(Errno::EINVAL));
    Ok(())
}

fn splice_with_an_offset_on_a_pipe_is_espipe() -> Outcome {
    let f = TempFile::with_contents(b"xyz")?;
    let fd = f.open(libc::O_RDWR)?;
    let (r, w) = pipe()?;
    w.write_all(b"x")?;
    let mut off = 0i64;
    check!(
        splice(&r, Some(&mut off), &fd, None, 1, 0),
        fails_with(Errno::ESPIPE)
    );
    let mut off = 0i64;
    check!(
        splice(&fd, None, &w, Some(&mut off), 1, 0),
        fails_with(Errno::ESPIPE)
    );
    Ok(())
}

fn splice_from_an_empty_pipe_nonblocking_is_eagain() -> Outcome {
    let f = TempFile::new()?;
    let fd = f.open(libc::O_RDWR)?;
    let (r, _w) = pipe()?;
    check!(
        splice(&r, None, &fd, None, 1, SPLICE_F_NONBLOCK),
        fails_with(Errno::EAGAIN)
    );
    let (r2, _w2) = pipe2(libc::O_NONBLOCK | libc::O_CLOEXEC)?;
    check!(
        splice(&r2, None, &fd, None, 1, 0),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn splice_from_a_pipe_without_writers_is_end_of_file() -> Outcome {
    let f = TempFile::new()?;
    let fd = f.open(libc::O_RDWR)?;
    let (r, w) = pipe()?;
    drop(w);
    check!(splice(&r, None, &fd, None, 10, 0), succeeds_with(0));
    Ok(())
}

fn splice_of_zero_bytes_returns_zero_even_for_bad_fds() -> Outcome {
    let (r, w) = pipe()?;
    check!(splice(&r, None, &w, None, 0, 0), succeeds_with(0));
    check!(
        syscall!(libc::SYS_splice, 999, NULL, 998, NULL, 0, 0),
        succeeds_with(0)
    );
    Ok(())
}

fn splice_rejects_unknown_flags_and_bad_fds() -> Outcome {
    let (r, w) = pipe()?;
    let (r2, w2) = pipe()?;
    w.write_all(b"x")?;
    check!(
        splice(&r, None, &w2, None, 1, 0x10),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_splice, 999, NULL, w2.raw(), NULL, 1, 0),
        fails_with(Errno::EBADF)
    );
    // Input must be readable, output writable.
    check!(splice(&w, None, &r2, None, 1, 0), fails_with(Errno::EBADF));
    Ok(())
}

fn splice_within_one_pipe_is_einval() -> Outcome {
    let (r, w) = pipe()?;
    w.write_all(b"x")?;
    check!(splice(&r, None, &w, None, 1, 0), fails_with(Errno::EINVAL));
    Ok(())
}

fn splice_to_an_append_only_file_is_einval() -> Outcome {
    let f = TempFile::new()?;
    let fd = f.open(libc::O_WRONLY | libc::O_APPEND)?;
    let (r, w) = pipe()?;
    w.write_all(b"x")?;
    check!(splice(&r, None, &fd, None, 1, 0), fails_with(Errno::EINVAL));
    Ok(())
}

fn splice_with_a_negative_offset_is_einval() -> Outcome {
    let f = TempFile::with_contents(b"abc")?;
    let fd = f.open(libc::O_RDONLY)?;
    let (_r, w) = pipe()?;
    let mut off = -1i64;
    check!(
        splice(&fd, Some(&mut off), &w, None, 1, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn splice_from_a_file_at_end_returns_zero() -> Outcome {
    let f = TempFile::with_contents(b"abc")?;
    let fd = f.open(libc::O_RDONLY)?;
    let (_r, w) = pipe()?;
    let mut off = 3i64;
    check!(
        splice(&fd, Some(&mut off), &w, None, 10, 0),
        succeeds_with(0)
    );
    ensure_eq!(off, 3);
    Ok(())
}

fn splice_waits_for_data_in_the_pipe() -> Outcome {
    let f = TempFile::new()?;
    let fd = f.open(libc::O_RDWR)?;
    let (r, w) = pipe()?;
    let _writer = Child::spawn(|| {
        task::sleep_ms(100);
        i32::from(w.write_all(b"late").is_err())
    })?;
    drop(w);
    check!(splice(&r, None, &fd, None, 100, 0), succeeds_with(4));
    ensure_eq!(pread_all(&fd, 10, 0)?, b"late".to_vec());
    Ok(())
}

fn splice_into_a_pipe_without_readers_is_epipe_with_sigpipe() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGPIPE, 0, 0)?;
        let f = TempFile::with_contents(b"abc")?;
        let fd = f.open(libc::O_RDONLY)?;
        let (r, w) = pipe()?;
        drop(r);
        check!(splice(&fd, None, &w, None, 3, 0), fails_with(Errno::EPIPE));
        ensure_eq!(signal_count(libc::SIGPIPE), 1);
        Ok(())
    })
}

fn splice_into_a_full_pipe_nonblocking_is_eagain() -> Outcome {
    let f = TempFile::with_contents(b"abc")?;
    let fd = f.open(libc::O_RDONLY)?;
    let (_r, w) = pipe2(libc::O_NONBLOCK | libc::O_CLOEXEC)?;
    let chunk = vec![0u8; 4096];
    while syscall!(libc::SYS_write, w.raw(), chunk.as_ptr(), chunk.len()) > 0 {}
    check!(
        splice(&fd, None, &w, None, 3, SPLICE_F_NONBLOCK),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn splice_moves_bytes_between_a_pipe_and_a_socket() -> Outcome {
    let mut sv = [0i32; 2];
    check!(
        syscall!(
            libc::SYS_socketpair,
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr()
        ),
        succeeds_with(0)
    );
    let (s0, s1) = (Fd::from_ret(sv[0].into())?, Fd::from_ret(sv[1].into())?);
    let (r, w) = pipe()?;
    w.write_all(b"to-socket")?;
    check!(splice(&r, None, &s0, None, 64, 0), succeeds_with(9));
    ensure_eq!(s1.read_up_to(64)?, b"to-socket".to_vec());
    s1.write_all(b"back")?;
    check!(splice(&s0, None, &w, None, 64, 0), succeeds_with(4));
    ensure_eq!(r.read_up_to(64)?, b"back".to_vec());
    Ok(())
}

// ---------------------------------------------------------------- tee

fn tee_copies_without_consuming() -> Outcome {
    let (r1, w1) = pipe()?;
    let (r2, w2) = pipe()?;
    w1.write_all(b"hello")?;
    check!(tee(&r1, &w2, 3, 0), succeeds_with(3));
    ensure_eq!(r2.read_up_to(64)?, b"hel".to_vec());
    check!(tee(&r1, &w2, 100, 0), succeeds_with(5));
    ensure_eq!(r2.read_up_to(64)?, b"hello".to_vec());
    ensure_eq!(r1.read_up_to(64)?, b"hello".to_vec());
    Ok(())
}

fn tee_needs_two_different_pipes() -> Outcome {
    let f = TempFile::with_contents(b"x")?;
    let fd = f.open(libc::O_RDWR)?;
    let (r, w) = pipe()?;
    w.write_all(b"x")?;
    check!(tee(&fd, &w, 1, 0), fails_with(Errno::EINVAL));
    check!(tee(&r, &fd, 1, 0), fails_with(Errno::EINVAL));
    check!(tee(&r, &w, 1, 0), fails_with(Errno::EINVAL));
    check!(tee(&r, &w, 1, 0x10), fails_with(Errno::EINVAL));
    Ok(())
}

fn tee_from_an_empty_pipe() -> Outcome {
    let (r1, w1) = pipe()?;
    let (_r2, w2) = pipe()?;
    check!(
        tee(&r1, &w2, 1, SPLICE_F_NONBLOCK),
        fails_with(Errno::EAGAIN)
    );
    drop(w1);
    check!(tee(&r1, &w2, 1, 0), succeeds_with(0));
    check!(tee(&r1, &w2, 0, 0), succeeds_with(0));
    Ok(())
}

fn tee_waits_for_data() -> Outcome {
    let (r1, w1) = pipe()?;
    let (r2, w2) = pipe()?;
    let _writer = Child::spawn(|| {
        task::sleep_ms(100);
        i32::from(w1.write_all(b"zz").is_err())
    })?;
    drop(w1);
    check!(tee(&r1, &w2, 10, 0), succeeds_with(2));
    ensure_eq!(r2.read_up_to(8)?, b"zz".to_vec());
    Ok(())
}

// ---------------------------------------------------------------- vmsplice

fn vmsplice_writes_iovecs_into_a_pipe() -> Outcome {
    let (r, w) = pipe()?;
    let (a, b) = (*b"abc", *b"defg");
    let iov = [
        libc::iovec {
            iov_base: a.as_ptr() as *mut libc::c_void,
            iov_len: 3,
        },
        libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: 4,
        },
    ];
    check!(
        syscall!(libc::SYS_vmsplice, w.raw(), iov.as_ptr(), 2, 0),
        succeeds_with(7)
    );
    ensure_eq!(r.read_up_to(64)?, b"abcdefg".to_vec());
    Ok(())
}

fn vmsplice_reads_a_pipe_into_iovecs() -> Outcome {
    let (r, w) = pipe()?;
    w.write_all(b"12345")?;
    let (mut a, mut b) = ([0u8; 2], [0u8; 8]);
    let iov = [
        libc::iovec {
            iov_base: a.as_mut_ptr().cast(),
            iov_len: 2,
        },
        libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: 8,
        },
    ];
    check!(
        syscall!(libc::SYS_vmsplice, r.raw(), iov.as_ptr(), 2, 0),
        succeeds_with(5)
    );
    ensure_eq!(&a, b"12");
    ensure_eq!(b.get(..3), Some(&b"345"[..]));
    Ok(())
}

fn vmsplice_on_a_regular_file_is_ebadf() -> Outcome {
    let f = TempFile::new()?;
    let fd = f.open(libc::O_RDWR)?;
    let a = *b"x";
    let iov = libc::iovec {
        iov_base: a.as_ptr() as *mut libc::c_void,
        iov_len: 1,
    };
    check!(
        syscall!(libc::SYS_vmsplice, fd.raw(), &raw const iov, 1, 0),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn vmsplice_nonblocking_on_a_full_or_empty_pipe_is_eagain() -> Outcome {
    let (r, w) = pipe()?;
    let mut big = vec![7u8; 1 << 20];
    let iov = libc::iovec {
        iov_base: big.as_mut_ptr().cast(),
        iov_len: big.len(),
    };
    // The pipe takes what fits (64 KiB by default), then refuses.
    let n = check!(
        syscall!(
            libc::SYS_vmsplice,
            w.raw(),
            &raw const iov,
            1,
            SPLICE_F_NONBLOCK
        ),
        succeeds()
    );
    ensure!(n > 0 && n < (1 << 20), "partial write: {n}");
    check!(
        syscall!(
            libc::SYS_vmsplice,
            w.raw(),
            &raw const iov,
            1,
            SPLICE_F_NONBLOCK
        ),
        fails_with(Errno::EAGAIN)
    );
    let (r2, _w2) = pipe()?;
    check!(
        syscall!(
            libc::SYS_vmsplice,
            r2.raw(),
            &raw const iov,
            1,
            SPLICE_F_NONBLOCK
        ),
        fails_with(Errno::EAGAIN)
    );
    drop(r);
    Ok(())
}

fn vmsplice_rejects_unknown_flags_and_too_many_iovecs() -> Outcome {
    let (_r, w) = pipe()?;
    let a = *b"x";
    let iov = libc::iovec {
        iov_base: a.as_ptr() as *mut libc::c_void,
        iov_len: 1,
    };
    check!(
        syscall!(libc::SYS_vmsplice, w.raw(), &raw const iov, 1, 0x10),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_vmsplice, w.raw(), &raw const iov, 1025, 0),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_vmsplice, w.raw(), &raw const iov, 0, 0),
        succeeds_with(0)
    );
    Ok(())
}

// ---------------------------------------------------------------- priority

/// The calling thread's nice value, from the raw syscall's `20 - nice`.
fn nice_now() -> Result<i64, String> {
    let raw = check!(
        syscall!(libc::SYS_getpriority, libc::PRIO_PROCESS, 0),
        succeeds()
    );
    ensure!(
        (1..=40).contains(&raw),
        "raw getpriority {raw} outside 1..=40"
    );
    Ok(20 - raw)
}

fn setprio(which: u32, who: i64, nice: i64) -> i64 {
    syscall!(libc::SYS_setpriority, which, who, nice)
}

/// Drops to an unprivileged uid (no CAP_SYS_NICE) with RLIMIT_NICE 0.
fn become_nobody() -> Outcome {
    let lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    check!(
        syscall!(libc::SYS_setrlimit, libc::RLIMIT_NICE, &raw const lim),
        succeeds_with(0)
    );
    if syscall!(libc::SYS_getuid) == 0 {
        check!(
            syscall!(libc::SYS_setresuid, 65534, 65534, 65534),
            succeeds_with(0)
        );
    }
    Ok(())
}

fn getpriority_returns_twenty_minus_nice() -> Outcome {
    fork_and_check(|| {
        let n0 = nice_now()?;
        ensure!(n0 < 15, "test needs room to raise nice (nice is {n0})");
        check!(setprio(libc::PRIO_PROCESS, 0, n0 + 3), succeeds_with(0));
        check!(
            syscall!(libc::SYS_getpriority, libc::PRIO_PROCESS, 0),
            succeeds_with(20 - (n0 + 3))
        );
        Ok(())
    })
}

fn setpriority_clamps_to_the_nice_range() -> Outcome {
    fork_and_check(|| {
        check!(setprio(libc::PRIO_PROCESS, 0, 100), succeeds_with(0));
        ensure_eq!(nice_now()?, 19);
        Ok(())
    })
}

fn lowering_nice_needs_cap_sys_nice() -> Outcome {
    fork_and_check(|| {
        let n0 = nice_now()?;
        become_nobody()?;
        check!(setprio(libc::PRIO_PROCESS, 0, n0 + 5), succeeds_with(0));
        check!(
            setprio(libc::PRIO_PROCESS, 0, n0 + 2),
            fails_with(Errno::EACCES)
        );
        // Raising further (or setting the same value) needs nothing.
        check!(setprio(libc::PRIO_PROCESS, 0, n0 + 5), succeeds_with(0));
        check!(setprio(libc::PRIO_PROCESS, 0, n0 + 6), succeeds_with(0));
        ensure_eq!(nice_now()?, n0 + 6);
        Ok(())
    })
}

fn privileged_callers_may_lower_nice() -> Outcome {
    fork_and_check(|| {
        let n0 = nice_now()?;
        check!(setprio(libc::PRIO_PROCESS, 0, n0 + 4), succeeds_with(0));
        check!(setprio(libc::PRIO_PROCESS, 0, n0 + 1), succeeds_with(0));
        ensure_eq!(nice_now()?, n0 + 1);
        Ok(())
    })
}

fn setpriority_on_another_users_process_is_eperm() -> Outcome {
    let parent = task::getpid();
    fork_and_check(|| {
        become_nobody()?;
        check!(
            setprio(libc::PRIO_PROCESS, i64::from(parent), 19),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

fn priority_rejects_bad_which_and_unknown_ids() -> Outcome {
    check!(
        syscall!(libc::SYS_getpriority, 7, 0),
        fails_with(Errno::EINVAL)
    );
    check!(setprio(7, 0, 0), fails_with(Errno::EINVAL));
    check!(
        syscall!(libc::SYS_getpriority, libc::PRIO_PROCESS, 0x3fff_fff0),
        fails_with(Errno::ESRCH)
    );
    check!(
        setprio(libc::PRIO_PROCESS, 0x3fff_fff0, 0),
        fails_with(Errno::ESRCH)
    );
    check!(
        syscall!(libc::SYS_getpriority, libc::PRIO_PGRP, 0x3fff_fff0),
        fails_with(Errno::ESRCH)
    );
    Ok(())
}

fn process_group_and_user_priorities() -> Outcome {
    fork_and_check(|| {
        // A process group of its own, so the group is just this process.
        check!(syscall!(libc::SYS_setpgid, 0, 0), succeeds_with(0));
        let n0 = nice_now()?;
        check!(setprio(libc::PRIO_PGRP, 0, n0 + 2), succeeds_with(0));
        ensure_eq!(nice_now()?, n0 + 2);
        check!(
            syscall!(libc::SYS_getpriority, libc::PRIO_PGRP, 0),
            succeeds_with(20 - (n0 + 2))
        );
        // PRIO_USER 0: the caller's uid, whose processes include this one.
        check!(
            syscall!(libc::SYS_getpriority, libc::PRIO_USER, 0),
            succeeds()
        );
        Ok(())
    })
}

fn nice_is_inherited_by_fork() -> Outcome {
    fork_and_check(|| {
        let n0 = nice_now()?;
        check!(setprio(libc::PRIO_PROCESS, 0, n0 + 3), succeeds_with(0));
        fork_and_check(|| {
            ensure_eq!(nice_now()?, n0 + 3);
            Ok(())
        })
    })
}

fn nice_shows_in_proc_stat() -> Outcome {
    fork_and_check(|| {
        let n0 = nice_now()?;
        check!(setprio(libc::PRIO_PROCESS, 0, n0 + 3), succeeds_with(0));
        let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| e.to_string())?;
        let after = stat
            .rsplit_once(')')
            .map(|(_, r)| r.to_string())
            .unwrap_or_default();
        // Fields 3.. follow the comm; priority is field 18, nice 19.
        let fields: Vec<&str> = after.split_whitespace().collect();
        let want_nice = (n0 + 3).to_string();
        let want_prio = (20 + n0 + 3).to_string();
        ensure_eq!(fields.get(16).copied(), Some(want_nice.as_str()));
        ensure_eq!(fields.get(15).copied(), Some(want_prio.as_str()));
        Ok(())
    })
}

fn sched_priority_ranges() -> Outcome {
    check!(
        syscall!(libc::SYS_sched_get_priority_max, libc::SCHED_FIFO),
        succeeds_with(99)
    );
    check!(
        syscall!(libc::SYS_sched_get_priority_min, libc::SCHED_RR),
        succeeds_with(1)
    );
    check!(
        syscall!(libc::SYS_sched_get_priority_max, libc::SCHED_OTHER),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_sched_get_priority_min, libc::SCHED_BATCH),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_sched_get_priority_max, 42),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_sched_get_priority_min, -1),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_sched_getscheduler, 0),
        succeeds_with(i64::from(libc::SCHED_OTHER))
    );
    Ok(())
}

// ---------------------------------------------------------------- openat2

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn openat2_sized(dirfd: c_int, path: &CStr, how: &[u8]) -> i64 {
    syscall!(SYS_OPENAT2, dirfd, path, how.as_ptr(), how.len())
}

fn openat2(dirfd: c_int, path: &CStr, flags: c_int, mode: u64, resolve: u64) -> i64 {
    let how = OpenHow {
        flags: u64::from(flags.cast_unsigned()),
        mode,
        resolve,
    };
    syscall!(SYS_OPENAT2, dirfd, path, &raw const how, 24usize)
}

fn how_bytes(flags: u64, mode: u64, resolve: u64, extra: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&mode.to_ne_bytes());
    v.extend_from_slice(&resolve.to_ne_bytes());
    v.extend_from_slice(extra);
    v
}

/// Closes a descriptor a successful openat2 returned.
fn opened(ret: i64) -> Outcome {
    drop(Fd::from_ret(ret)?);
    Ok(())
}

fn openat2_opens_like_openat() -> Outcome {
    let f = TempFile::with_contents(b"data")?;
    let fd = Fd::from_ret(check!(
        openat2(
            libc::AT_FDCWD,
            f.path(),
            libc::O_RDONLY | libc::O_CLOEXEC,
            0,
            0
        ),
        succeeds()
    ))?;
    ensure_eq!(fd.read_up_to(16)?, b"data".to_vec());
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), libc::F_GETFD),
        succeeds_with(i64::from(libc::FD_CLOEXEC))
    );
    let d = TempDir::new()?;
    let path = d.join("new");
    opened(check!(
        openat2(
            libc::AT_FDCWD,
            &path,
            libc::O_CREAT | libc::O_WRONLY | libc::O_EXCL,
            0o600,
            0
        ),
        succeeds()
    ))
}

fn openat2_checks_the_struct_size() -> Outcome {
    let f = TempFile::new()?;
    let how = how_bytes(0, 0, 0, &[]);
    check!(
        openat2_sized(libc::AT_FDCWD, f.path(), how.get(..16).unwrap_or_default()),
        fails_with(Errno::EINVAL)
    );
    // A larger struct is fine while the unknown tail is zero.
    opened(check!(
        openat2_sized(libc::AT_FDCWD, f.path(), &how_bytes(0, 0, 0, &[0; 40])),
        succeeds()
    ))?;
    check!(
        openat2_sized(libc::AT_FDCWD, f.path(), &how_bytes(0, 0, 0, &[0, 0, 1, 0])),
        fails_with(Errno::E2BIG)
    );
    check!(
        openat2_sized(libc::AT_FDCWD, f.path(), &how_bytes(0, 0, 0, &[0; 4096])),
        fails_with(Errno::E2BIG)
    );
    check!(
        syscall!(SYS_OPENAT2, libc::AT_FDCWD, f.path(), 8usize, 24usize),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn openat2_rejects_unknown_flags_modes_and_resolve_bits() -> Outcome {
    let f = TempFile::new()?;
    let p = f.path();
    check!(
        openat2_sized(libc::AT_FDCWD, p, &how_bytes(1 << 40, 0, 0, &[])),
        fails_with(Errno::EINVAL)
    );
    check!(
        openat2(libc::AT_FDCWD, p, libc::O_RDONLY, 0o644, 0),
        fails_with(Errno::EINVAL)
    );
    check!(
        openat2(libc::AT_FDCWD, p, libc::O_CREAT | libc::O_RDWR, 0o10644, 0),
        fails_with(Errno::EINVAL)
    );
    check!(
        openat2(libc::AT_FDCWD, p, libc::O_RDONLY, 0, 0x40),
        fails_with(Errno::EINVAL)
    );
    check!(
        openat2(
            libc::AT_FDCWD,
            p,
            libc::O_RDONLY,
            0,
            RESOLVE_BENEATH | RESOLVE_IN_ROOT
        ),
        fails_with(Errno::EINVAL)
    );
    check!(
        openat2(libc::AT_FDCWD, p, libc::O_PATH | libc::O_RDWR, 0, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// A tree for the RESOLVE_* tests: root/{file, sub/inner, up -> ../file, abs -> /<root>/file,
/// rel -> sub/inner}, opened as `dir`.
struct Tree {
    _d: TempDir,
    dir: Fd,
}

fn tree() -> Result<Tree, String> {
    let d = TempDir::new()?;
    d.create_file("file", b"top")?;
    check!(
        syscall!(
            libc::SYS_mkdirat,
            libc::AT_FDCWD,
            d.join("sub").as_c_str(),
            0o755
        ),
        succeeds_with(0)
    );
    d.create_file("sub/inner", b"in")?;
    let link = |target: &str, name: &str| -> Outcome {
        check!(
            syscall!(
                libc::SYS_symlinkat,
                cstring(target).as_c_str(),
                libc::AT_FDCWD,
                d.join(name).as_c_str()
            ),
            succeeds_with(0)
        );
        Ok(())
    };
    link("sub/inner", "rel")?;
    link("/file", "abs")?;
    link("../file", "sub/up")?;
    let dir = d.open()?;
    Ok(Tree { _d: d, dir })
}

fn resolve_beneath_refuses_to_leave_the_directory() -> Outcome {
    let t = tree()?;
    let sub = Fd::from_ret(check!(
        openat2(t.dir.raw(), c"sub", libc::O_PATH | libc::O_DIRECTORY, 0, 0),
        succeeds()
    ))?;
    check!(
        openat2(sub.raw(), c"../file", libc::O_RDONLY, 0, RESOLVE_BENEATH),
        fails_with(Errno::EXDEV)
    );
    check!(
        openat2(sub.raw(), c"up", libc::O_RDONLY, 0, RESOLVE_BENEATH),
        fails_with(Errno::EXDEV)
    );
    check!(
        openat2(
            t.dir.raw(),
            c"/etc/passwd",
            libc::O_RDONLY,
            0,
            RESOLVE_BENEATH
        ),
        fails_with(Errno::EXDEV)
    );
    check!(
        openat2(t.dir.raw(), c"abs", libc::O_RDONLY, 0, RESOLVE_BENEATH),
        fails_with(Errno::EXDEV)
    );
    // Staying inside is fine, ".." included.
    opened(check!(
        openat2(
            t.dir.raw(),
            c"sub/../file",
            libc::O_RDONLY,
            0,
            RESOLVE_BENEATH
        ),
        succeeds()
    ))?;
    opened(check!(
        openat2(t.dir.raw(), c"sub/up", libc::O_RDONLY, 0, RESOLVE_BENEATH),
        succeeds()
    ))?;
    opened(check!(
        openat2(t.dir.raw(), c"rel", libc::O_RDONLY, 0, RESOLVE_BENEATH),
        succeeds()
    ))
}

fn resolve_in_root_treats_the_directory_as_root() -> Outcome {
    let t = tree()?;
    let read = |path: &CStr| -> Result<Vec<u8>, String> {
        let fd = Fd::from_ret(check!(
            openat2(t.dir.raw(), path, libc::O_RDONLY, 0, RESOLVE_IN_ROOT),
            succeeds()
        ))?;
        fd.read_up_to(16)
    };
    ensure_eq!(read(c"/file")?, b"top".to_vec());
    ensure_eq!(read(c"abs")?, b"top".to_vec());
    ensure_eq!(read(c"../../../file")?, b"top".to_vec());
    ensure_eq!(read(c"/sub/../../file")?, b"top".to_vec());
    check!(
        openat2(
            t.dir.raw(),
            c"/etc/passwd",
            libc::O_RDONLY,
            0,
            RESOLVE_IN_ROOT
        ),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

fn resolve_in_root_creates_through_an_absolute_dangling_symlink() -> Outcome {
    let t = tree()?;
    check!(
        syscall!(
            libc::SYS_symlinkat,
            c"/made".as_ptr(),
            t.dir.raw(),
            c"dangling".as_ptr()
        ),
        succeeds_with(0)
    );
    opened(check!(
        openat2(
            t.dir.raw(),
            c"dangling",
            libc::O_CREAT | libc::O_WRONLY,
            0o600,
            RESOLVE_IN_ROOT
        ),
        succeeds()
    ))?;
    check!(
        syscall!(
            libc::SYS_faccessat,
            t.dir.raw(),
            c"made".as_ptr(),
            libc::F_OK
        ),
        succeeds_with(0)
    );
    check!(
        openat2(
            t.dir.raw(),
            c"../escaped",
            libc::O_CREAT | libc::O_WRONLY,
            0o600,
            RESOLVE_BENEATH
        ),
        fails_with(Errno::EXDEV)
    );
    Ok(())
}

fn resolve_no_symlinks_refuses_every_symlink() -> Outcome {
    let t = tree()?;
    check!(
        openat2(t.dir.raw(), c"rel", libc::O_RDONLY, 0, RESOLVE_NO_SYMLINKS),
        fails_with(Errno::ELOOP)
    );
    check!(
        openat2(
            t.dir.raw(),
            c"sub/up",
            libc::O_RDONLY,
            0,
            RESOLVE_NO_SYMLINKS
        ),
        fails_with(Errno::ELOOP)
    );
    // The link itself can still be opened with O_PATH | O_NOFOLLOW.
    opened(check!(
        openat2(
            t.dir.raw(),
            c"rel",
            libc::O_PATH | libc::O_NOFOLLOW,
            0,
            RESOLVE_NO_SYMLINKS
        ),
        succeeds()
    ))?;
    opened(check!(
        openat2(
            t.dir.raw(),
            c"sub/inner",
            libc::O_RDONLY,
            0,
            RESOLVE_NO_SYMLINKS
        ),
        succeeds()
    ))
}

fn resolve_no_magiclinks_refuses_proc_fd_links() -> Outcome {
    let f = TempFile::with_contents(b"m")?;
    let fd = f.open(libc::O_RDONLY)?;
    let path = cstring(&format!("/proc/self/fd/{}", fd.raw()));
    check!(
        openat2(
            libc::AT_FDCWD,
            &path,
            libc::O_RDONLY,
            0,
            RESOLVE_NO_MAGICLINKS
        ),
        fails_with(Errno::ELOOP)
    );
    opened(check!(
        openat2(libc::AT_FDCWD, &path, libc::O_RDONLY, 0, 0),
        succeeds()
    ))?;
    // Scoped lookups refuse magic links too.
    let proc_self = Fd::from_ret(check!(
        openat2(
            libc::AT_FDCWD,
            c"/proc/self",
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            0
        ),
        succeeds()
    ))?;
    let rel = cstring(&format!("fd/{}", fd.raw()));
    check!(
        openat2(proc_self.raw(), &rel, libc::O_RDONLY, 0, RESOLVE_BENEATH),
        fails_with(Errno::EXDEV)
    );
    Ok(())
}

fn resolve_no_xdev_refuses_mount_crossings() -> Outcome {
    check!(
        openat2(
            libc::AT_FDCWD,
            c"/proc/self/stat",
            libc::O_RDONLY,
            0,
            RESOLVE_NO_XDEV
        ),
        fails_with(Errno::EXDEV)
    );
    let proc_dir = Fd::from_ret(check!(
        openat2(
            libc::AT_FDCWD,
            c"/proc",
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            0
        ),
        succeeds()
    ))?;
    check!(
        openat2(proc_dir.raw(), c"..", libc::O_PATH, 0, RESOLVE_NO_XDEV),
        fails_with(Errno::EXDEV)
    );
    opened(check!(
        openat2(
            proc_dir.raw(),
            c"self/stat",
            libc::O_RDONLY,
            0,
            RESOLVE_NO_XDEV
        ),
        succeeds()
    ))?;
    let t = tree()?;
    opened(check!(
        openat2(
            t.dir.raw(),
            c"sub/inner",
            libc::O_RDONLY,
            0,
            RESOLVE_NO_XDEV
        ),
        succeeds()
    ))
}

fn resolve_cached_refuses_creating_and_truncating_opens() -> Outcome {
    let t = tree()?;
    check!(
        openat2(
            t.dir.raw(),
            c"newfile",
            libc::O_CREAT | libc::O_WRONLY,
            0o600,
            RESOLVE_CACHED
        ),
        fails_with(Errno::EAGAIN)
    );
    check!(
        openat2(
            t.dir.raw(),
            c"file",
            libc::O_TRUNC | libc::O_WRONLY,
            0,
            RESOLVE_CACHED
        ),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    run_tests(tests![
        splice_file_to_pipe_moves_bytes_and_the_file_offset,
        splice_with_an_offset_updates_it_and_not_the_file_position,
        splice_pipe_to_file_at_an_offset,
        splice_pipe_to_file_at_the_file_position,
        splice_pipe_to_pipe_moves_the_bytes,
        splice_between_two_files_is_einval,
        splice_with_an_offset_on_a_pipe_is_espipe,
        splice_from_an_empty_pipe_nonblocking_is_eagain,
        splice_from_a_pipe_without_writers_is_end_of_file,
        splice_of_zero_bytes_returns_zero_even_for_bad_fds,
        splice_rejects_unknown_flags_and_bad_fds,
        splice_within_one_pipe_is_einval,
        splice_to_an_append_only_file_is_einval,
        splice_with_a_negative_offset_is_einval,
        splice_from_a_file_at_end_returns_zero,
        splice_waits_for_data_in_the_pipe,
        splice_into_a_pipe_without_readers_is_epipe_with_sigpipe,
        splice_into_a_full_pipe_nonblocking_is_eagain,
        splice_moves_bytes_between_a_pipe_and_a_socket,
        tee_copies_without_consuming,
        tee_needs_two_different_pipes,
        tee_from_an_empty_pipe,
        tee_waits_for_data,
        vmsplice_writes_iovecs_into_a_pipe,
        vmsplice_reads_a_pipe_into_iovecs,
        vmsplice_on_a_regular_file_is_ebadf,
        vmsplice_nonblocking_on_a_full_or_empty_pipe_is_eagain,
        vmsplice_rejects_unknown_flags_and_too_many_iovecs,
        getpriority_returns_twenty_minus_nice,
        setpriority_clamps_to_the_nice_range,
        lowering_nice_needs_cap_sys_nice,
        privileged_callers_may_lower_nice,
        setpriority_on_another_users_process_is_eperm,
        priority_rejects_bad_which_and_unknown_ids,
        process_group_and_user_priorities,
        nice_is_inherited_by_fork,
        nice_shows_in_proc_stat,
        sched_priority_ranges,
        openat2_opens_like_openat,
        openat2_checks_the_struct_size,
        openat2_rejects_unknown_flags_modes_and_resolve_bits,
        resolve_beneath_refuses_to_leave_the_directory,
        resolve_in_root_treats_the_directory_as_root,
        resolve_in_root_creates_through_an_absolute_dangling_symlink,
        resolve_no_symlinks_refuses_every_symlink,
        resolve_no_magiclinks_refuses_proc_fd_links,
        resolve_no_xdev_refuses_mount_crossings,
        resolve_cached_refuses_creating_and_truncating_opens,
    ])
}
