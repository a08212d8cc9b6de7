//! File locks: flock(2), POSIX record locks (fcntl F_GETLK/F_SETLK/F_SETLKW) and open file
//! description locks (F_OFD_*): conflicts between processes and descriptions, byte ranges
//! with splitting and merging, whence and negative lengths, release-on-close rules, blocking
//! waits (woken by release, interrupted by signals) and deadlock detection.
#![deny(unsafe_code)]

use std::time::Duration;

use syscall_tests::libc::{self, c_int};
use syscall_tests::sys::signal_count;
use syscall_tests::task::{
    self, Child, Helper, exec_self, fork_and_check, install_recorder, pipe, run_tests_with_helpers,
    set_real_timer,
};
use syscall_tests::{
    Errno, Fd, Outcome, TempFile, check, ensure, ensure_eq, fails_with, succeeds, succeeds_with,
    syscall, tests,
};

const F_OFD_GETLK: c_int = 36;
const F_OFD_SETLK: c_int = 37;
const F_OFD_SETLKW: c_int = 38;
const RD: i16 = libc::F_RDLCK as i16;
const WR: i16 = libc::F_WRLCK as i16;
const UN: i16 = libc::F_UNLCK as i16;
const SET: i16 = libc::SEEK_SET as i16;

fn file() -> Result<TempFile, String> {
    TempFile::with_contents(&[0u8; 200])
}

fn rw(f: &TempFile) -> Result<Fd, String> {
    f.open(libc::O_RDWR)
}

fn flock(fd: &Fd, op: c_int) -> i64 {
    syscall!(libc::SYS_flock, fd.raw(), op)
}

fn req(ty: i16, whence: i16, start: i64, len: i64) -> libc::flock {
    libc::flock {
        l_type: ty,
        l_whence: whence,
        l_start: start,
        l_len: len,
        l_pid: 0,
    }
}

/// fcntl(fd, cmd, &{ty, whence, start, len, pid 0}).
fn lk(fd: &Fd, cmd: c_int, ty: i16, whence: i16, start: i64, len: i64) -> i64 {
    let fl = req(ty, whence, start, len);
    syscall!(libc::SYS_fcntl, fd.raw(), cmd, &raw const fl)
}

/// F_GETLK (or F_OFD_GETLK) for a write lock over `[start, start+len)`: the reply.
fn getlk(fd: &Fd, cmd: c_int, ty: i16, start: i64, len: i64) -> Result<libc::flock, String> {
    let mut fl = req(ty, SET, start, len);
    check!(
        syscall!(libc::SYS_fcntl, fd.raw(), cmd, &raw mut fl),
        succeeds_with(0)
    );
    Ok(fl)
}

/// (type, start, len, pid) of a GETLK reply.
fn summary(fl: &libc::flock) -> (i16, i64, i64, i32) {
    (fl.l_type, fl.l_start, fl.l_len, fl.l_pid)
}

/// A child process that runs `setup`, reports it done, and holds what it set up until the
/// holder is released (or for `hold_ms`, if given, then exits).
struct Holder {
    child: Child,
    release: Option<Fd>,
}

fn holder(hold_ms: Option<u64>, setup: impl FnOnce() -> Outcome) -> Result<Holder, String> {
    let (ready_r, ready_w) = pipe()?;
    let (rel_r, rel_w) = pipe()?;
    let child = Child::spawn(|| {
        close(&ready_r);
        close(&rel_w);
        if setup().is_err() {
            return 2;
        }
        if ready_w.write_all(b"x").is_err() {
            return 3;
        }
        match hold_ms {
            Some(ms) => task::sleep_ms(ms),
            None => {
                let _ = rel_r.read_up_to(1);
            }
        }
        0
    })?;
    drop(ready_w);
    drop(rel_r);
    let got = ready_r.read_up_to(1)?;
    ensure_eq!(got, b"x".to_vec(), "holder setup failed");
    Ok(Holder {
        child,
        release: Some(rel_w),
    })
}

impl Holder {
    fn pid(&self) -> i32 {
        self.child.pid()
    }

    fn finish(mut self) -> Outcome {
        drop(self.release.take());
        let st = self.child.wait()?;
        ensure_eq!(st.exit_code(), Some(0), "holder child");
        Ok(())
    }
}

/// Closes the child's copy of a descriptor the parent keeps (in a forked child).
fn close(fd: &Fd) {
    let _ = syscall!(libc::SYS_close, fd.raw());
}

/// Arms SIGALRM (a handler without SA_RESTART) to fire in 100 ms.
fn alarm_soon() -> Outcome {
    install_recorder(libc::SIGALRM, 0, 0)?;
    set_real_timer(Duration::from_millis(100), Duration::ZERO)
}

// ---------------------------------------------------------------- flock

fn flock_exclusive_conflicts_between_descriptions() -> Outcome {
    let f = file()?;
    let (a, b) = (rw(&f)?, rw(&f)?);
    check!(flock(&a, libc::LOCK_EX), succeeds_with(0));
    check!(
        flock(&b, libc::LOCK_EX | libc::LOCK_NB),
        fails_with(Errno::EAGAIN)
    );
    check!(
        flock(&b, libc::LOCK_SH | libc::LOCK_NB),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn flock_shared_locks_coexist() -> Outcome {
    let f = file()?;
    let (a, b, c) = (rw(&f)?, rw(&f)?, rw(&f)?);
    check!(flock(&a, libc::LOCK_SH), succeeds_with(0));
    check!(flock(&b, libc::LOCK_SH | libc::LOCK_NB), succeeds_with(0));
    check!(
        flock(&c, libc::LOCK_EX | libc::LOCK_NB),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn flock_unlock_lets_others_lock() -> Outcome {
    let f = file()?;
    let (a, b) = (rw(&f)?, rw(&f)?);
    check!(flock(&a, libc::LOCK_EX), succeeds_with(0));
    check!(flock(&a, libc::LOCK_UN), succeeds_with(0));
    check!(flock(&b, libc::LOCK_EX | libc::LOCK_NB), succeeds_with(0));
    // Unlocking what is not locked succeeds.
    check!(flock(&a, libc::LOCK_UN), succeeds_with(0));
    Ok(())
}

fn flock_is_shared_by_dup_and_released_at_last_close() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    let a2 = Fd::from_ret(check!(syscall!(libc::SYS_dup, a.raw()), succeeds()))?;
    let b = rw(&f)?;
    check!(flock(&a, libc::LOCK_EX), succeeds_with(0));
    // The dup is the same description: locking again through it is a no-op.
    check!(flock(&a2, libc::LOCK_EX | libc::LOCK_NB), succeeds_with(0));
    drop(a);
    check!(
        flock(&b, libc::LOCK_EX | libc::LOCK_NB),
        fails_with(Errno::EAGAIN)
    );
    drop(a2);
    check!(flock(&b, libc::LOCK_EX | libc::LOCK_NB), succeeds_with(0));
    Ok(())
}

fn flock_is_shared_with_a_forked_child() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(flock(&a, libc::LOCK_EX), succeeds_with(0));
    fork_and_check(|| {
        // Same open file description: the child owns the lock too, and may unlock it.
        check!(flock(&a, libc::LOCK_EX | libc::LOCK_NB), succeeds_with(0));
        let b = rw(&f)?;
        check!(
            flock(&b, libc::LOCK_EX | libc::LOCK_NB),
            fails_with(Errno::EAGAIN)
        );
        check!(flock(&a, libc::LOCK_UN), succeeds_with(0));
        Ok(())
    })?;
    let b = rw(&f)?;
    check!(flock(&b, libc::LOCK_EX | libc::LOCK_NB), succeeds_with(0));
    Ok(())
}

fn flock_converts_shared_to_exclusive_and_back() -> Outcome {
    let f = file()?;
    let (a, b) = (rw(&f)?, rw(&f)?);
    check!(flock(&a, libc::LOCK_SH), succeeds_with(0));
    check!(flock(&a, libc::LOCK_EX | libc::LOCK_NB), succeeds_with(0));
    check!(
        flock(&b, libc::LOCK_SH | libc::LOCK_NB),
        fails_with(Errno::EAGAIN)
    );
    check!(flock(&a, libc::LOCK_SH), succeeds_with(0));
    check!(flock(&b, libc::LOCK_SH | libc::LOCK_NB), succeeds_with(0));
    Ok(())
}

fn flock_failed_conversion_drops_the_old_lock() -> Outcome {
    let f = file()?;
    let (a, b, c) = (rw(&f)?, rw(&f)?, rw(&f)?);
    check!(flock(&a, libc::LOCK_SH), succeeds_with(0));
    check!(flock(&b, libc::LOCK_SH), succeeds_with(0));
    check!(
        flock(&a, libc::LOCK_EX | libc::LOCK_NB),
        fails_with(Errno::EAGAIN)
    );
    check!(flock(&b, libc::LOCK_UN), succeeds_with(0));
    // a's shared lock went with the failed conversion.
    check!(flock(&c, libc::LOCK_EX | libc::LOCK_NB), succeeds_with(0));
    Ok(())
}

fn flock_rejects_bad_operations() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(flock(&a, 0), fails_with(Errno::EINVAL));
    check!(flock(&a, libc::LOCK_NB), fails_with(Errno::EINVAL));
    check!(
        flock(&a, libc::LOCK_SH | libc::LOCK_EX),
        fails_with(Errno::EINVAL)
    );
    check!(
        syscall!(libc::SYS_flock, 999, libc::LOCK_SH),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn flock_works_on_read_only_and_write_only_fds() -> Outcome {
    let f = file()?;
    let r = f.open(libc::O_RDONLY)?;
    let w = f.open(libc::O_WRONLY)?;
    check!(flock(&r, libc::LOCK_EX | libc::LOCK_NB), succeeds_with(0));
    check!(
        flock(&w, libc::LOCK_SH | libc::LOCK_NB),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn flock_blocking_waits_for_the_holder() -> Outcome {
    let f = file()?;
    let h = holder(Some(150), || {
        let a = rw(&f)?;
        check!(flock(&a, libc::LOCK_EX), succeeds_with(0));
        std::mem::forget(a);
        Ok(())
    })?;
    let b = rw(&f)?;
    check!(
        flock(&b, libc::LOCK_EX | libc::LOCK_NB),
        fails_with(Errno::EAGAIN)
    );
    // Blocks until the holder exits (its description closes).
    check!(flock(&b, libc::LOCK_EX), succeeds_with(0));
    h.finish()
}

fn flock_blocking_wait_is_interrupted_by_a_signal() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(flock(&a, libc::LOCK_EX), succeeds_with(0));
    fork_and_check(|| {
        let b = rw(&f)?;
        alarm_soon()?;
        check!(flock(&b, libc::LOCK_EX), fails_with(Errno::EINTR));
        Ok(())
    })
}

fn flock_and_record_locks_are_independent() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(flock(&a, libc::LOCK_EX), succeeds_with(0));
    fork_and_check(|| {
        let b = rw(&f)?;
        check!(lk(&b, libc::F_SETLK, WR, SET, 0, 0), succeeds_with(0));
        Ok(())
    })
}

// ---------------------------------------------------------------- POSIX record locks

fn write_lock_conflicts_with_another_process() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, libc::F_SETLK, WR, SET, 0, 10), succeeds_with(0));
    fork_and_check(|| {
        let b = rw(&f)?;
        check!(
            lk(&b, libc::F_SETLK, WR, SET, 5, 1),
            fails_with(Errno::EAGAIN)
        );
        check!(
            lk(&b, libc::F_SETLK, RD, SET, 9, 1),
            fails_with(Errno::EAGAIN)
        );
        check!(lk(&b, libc::F_SETLK, WR, SET, 10, 10), succeeds_with(0));
        Ok(())
    })
}

fn read_locks_are_shared_between_processes() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, libc::F_SETLK, RD, SET, 0, 100), succeeds_with(0));
    fork_and_check(|| {
        let b = rw(&f)?;
        check!(lk(&b, libc::F_SETLK, RD, SET, 50, 100), succeeds_with(0));
        check!(
            lk(&b, libc::F_SETLK, WR, SET, 99, 1),
            fails_with(Errno::EAGAIN)
        );
        Ok(())
    })
}

fn getlk_reports_the_conflicting_lock_and_its_pid() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, libc::F_SETLK, WR, SET, 10, 20), succeeds_with(0));
    let me = task::getpid();
    fork_and_check(|| {
        let b = rw(&f)?;
        let fl = getlk(&b, libc::F_GETLK, RD, 0, 15)?;
        ensure_eq!(summary(&fl), (WR, 10, 20, me));
        ensure_eq!(fl.l_whence, SET);
        Ok(())
    })
}

fn getlk_without_conflict_answers_unlck() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, libc::F_SETLK, RD, SET, 0, 10), succeeds_with(0));
    fork_and_check(|| {
        let b = rw(&f)?;
        // A read lock does not conflict with a read request; the rest of the struct stays.
        let fl = getlk(&b, libc::F_GETLK, RD, 0, 10)?;
        ensure_eq!(summary(&fl), (UN, 0, 10, 0));
        let fl = getlk(&b, libc::F_GETLK, WR, 10, 10)?;
        ensure_eq!(fl.l_type, UN);
        Ok(())
    })
}

fn a_process_never_conflicts_with_itself() -> Outcome {
    let f = file()?;
    let (a, b) = (rw(&f)?, rw(&f)?);
    check!(lk(&a, libc::F_SETLK, WR, SET, 0, 10), succeeds_with(0));
    check!(lk(&b, libc::F_SETLK, WR, SET, 0, 10), succeeds_with(0));
    let fl = getlk(&b, libc::F_GETLK, WR, 0, 10)?;
    ensure_eq!(fl.l_type, UN);
    Ok(())
}

fn unlocking_the_middle_splits_a_lock() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, libc::F_SETLK, WR, SET, 0, 100), succeeds_with(0));
    check!(lk(&a, libc::F_SETLK, UN, SET, 10, 10), succeeds_with(0));
    let me = task::getpid();
    fork_and_check(|| {
        let b = rw(&f)?;
        ensure_eq!(getlk(&b, libc::F_GETLK, WR, 10, 10)?.l_type, UN);
        ensure_eq!(
            summary(&getlk(&b, libc::F_GETLK, WR, 0, 15)?),
            (WR, 0, 10, me)
        );
        ensure_eq!(
            summary(&getlk(&b, libc::F_GETLK, WR, 15, 0)?),
            (WR, 20, 80, me)
        );
        Ok(())
    })
}

fn adjacent_locks_of_one_type_merge() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, libc::F_SETLK, WR, SET, 0, 10), succeeds_with(0));
    check!(lk(&a, libc::F_SETLK, WR, SET, 10, 10), succeeds_with(0));
    let me = task::getpid();
    fork_and_check(|| {
        let b = rw(&f)?;
        ensure_eq!(
            summary(&getlk(&b, libc::F_GETLK, WR, 15, 1)?),
            (WR, 0, 20, me)
        );
        Ok(())
    })
}

fn changing_the_type_of_a_subrange_splits() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, libc::F_SETLK, WR, SET, 0, 30), succeeds_with(0));
    check!(lk(&a, libc::F_SETLK, RD, SET, 10, 10), succeeds_with(0));
    fork_and_check(|| {
        let b = rw(&f)?;
        check!(lk(&b, libc::F_SETLK, RD, SET, 10, 10), succeeds_with(0));
        check!(
            lk(&b, libc::F_SETLK, RD, SET, 9, 1),
            fails_with(Errno::EAGAIN)
        );
        check!(
            lk(&b, libc::F_SETLK, RD, SET, 20, 1),
            fails_with(Errno::EAGAIN)
        );
        Ok(())
    })
}

fn zero_length_locks_to_end_of_file_and_beyond() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, libc::F_SETLK, WR, SET, 100, 0), succeeds_with(0));
    let me = task::getpid();
    fork_and_check(|| {
        let b = rw(&f)?;
        ensure_eq!(
            summary(&getlk(&b, libc::F_GETLK, RD, 1 << 40, 1)?),
            (WR, 100, 0, me)
        );
        ensure_eq!(getlk(&b, libc::F_GETLK, WR, 0, 100)?.l_type, UN);
        Ok(())
    })
}

fn negative_length_locks_the_bytes_before_start() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, libc::F_SETLK, WR, SET, 10, -5), succeeds_with(0));
    let me = task::getpid();
    fork_and_check(|| {
        let b = rw(&f)?;
        ensure_eq!(
            summary(&getlk(&b, libc::F_GETLK, WR, 0, 0)?),
            (WR, 5, 5, me)
        );
        ensure_eq!(getlk(&b, libc::F_GETLK, WR, 10, 1)?.l_type, UN);
        Ok(())
    })
}

fn ranges_before_offset_zero_are_einval() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(
        lk(&a, libc::F_SETLK, WR, SET, 2, -5),
        fails_with(Errno::EINVAL)
    );
    check!(
        lk(&a, libc::F_SETLK, WR, SET, -1, 5),
        fails_with(Errno::EINVAL)
    );
    check!(
        lk(&a, libc::F_SETLK, WR, libc::SEEK_END as i16, -201, 1),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn ranges_past_offset_max_are_eoverflow() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(
        lk(&a, libc::F_SETLK, WR, SET, i64::MAX, 2),
        fails_with(Errno::EOVERFLOW)
    );
    check!(
        lk(&a, libc::F_SETLK, WR, SET, i64::MAX, 1),
        succeeds_with(0)
    );
    Ok(())
}

fn seek_cur_and_seek_end_are_relative_to_offset_and_size() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(
        syscall!(libc::SYS_lseek, a.raw(), 50, libc::SEEK_SET),
        succeeds_with(50)
    );
    check!(
        lk(&a, libc::F_SETLK, WR, libc::SEEK_CUR as i16, 5, 10),
        succeeds_with(0)
    );
    check!(
        lk(&a, libc::F_SETLK, RD, libc::SEEK_END as i16, -10, 10),
        succeeds_with(0)
    );
    let me = task::getpid();
    fork_and_check(|| {
        let b = rw(&f)?;
        ensure_eq!(
            summary(&getlk(&b, libc::F_GETLK, WR, 0, 100)?),
            (WR, 55, 10, me)
        );
        ensure_eq!(
            summary(&getlk(&b, libc::F_GETLK, WR, 150, 0)?),
            (RD, 190, 10, me)
        );
        Ok(())
    })
}

fn bad_type_whence_and_getlk_unlck_are_einval() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(
        lk(&a, libc::F_SETLK, 7, SET, 0, 1),
        fails_with(Errno::EINVAL)
    );
    check!(
        lk(&a, libc::F_SETLK, WR, 9, 0, 1),
        fails_with(Errno::EINVAL)
    );
    check!(
        lk(&a, libc::F_GETLK, UN, SET, 0, 1),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn lock_type_needs_a_matching_access_mode() -> Outcome {
    let f = file()?;
    let r = f.open(libc::O_RDONLY)?;
    let w = f.open(libc::O_WRONLY)?;
    check!(
        lk(&r, libc::F_SETLK, WR, SET, 0, 1),
        fails_with(Errno::EBADF)
    );
    check!(
        lk(&w, libc::F_SETLK, RD, SET, 0, 1),
        fails_with(Errno::EBADF)
    );
    check!(lk(&r, libc::F_SETLK, RD, SET, 0, 1), succeeds_with(0));
    check!(lk(&w, libc::F_SETLK, WR, SET, 1, 1), succeeds_with(0));
    // Unlocking needs neither.
    check!(lk(&r, libc::F_SETLK, UN, SET, 0, 0), succeeds_with(0));
    // Testing needs neither.
    ensure_eq!(getlk(&r, libc::F_GETLK, WR, 0, 0)?.l_type, UN);
    Ok(())
}

fn bad_fd_and_bad_pointer() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    let fl = req(WR, SET, 0, 1);
    check!(
        syscall!(libc::SYS_fcntl, 999, libc::F_SETLK, &raw const fl),
        fails_with(Errno::EBADF)
    );
    check!(
        syscall!(libc::SYS_fcntl, a.raw(), libc::F_SETLK, 8usize),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

fn closing_any_fd_of_the_file_releases_posix_locks() -> Outcome {
    let f = file()?;
    fork_and_check(|| {
        let a = rw(&f)?;
        let other = f.open(libc::O_RDONLY)?;
        check!(lk(&a, libc::F_SETLK, WR, SET, 0, 0), succeeds_with(0));
        let h = holder(None, || {
            let b = rw(&f)?;
            check!(
                lk(&b, libc::F_SETLK, WR, SET, 0, 1),
                fails_with(Errno::EAGAIN)
            );
            Ok(())
        })?;
        h.finish()?;
        // Closing a different descriptor of the same file drops the lock taken through `a`.
        drop(other);
        let h = holder(None, || {
            let b = rw(&f)?;
            check!(lk(&b, libc::F_SETLK, WR, SET, 0, 1), succeeds_with(0));
            Ok(())
        })?;
        h.finish()
    })
}

fn closing_a_dup_releases_posix_locks() -> Outcome {
    let f = file()?;
    fork_and_check(|| {
        let a = rw(&f)?;
        let d = Fd::from_ret(check!(syscall!(libc::SYS_dup, a.raw()), succeeds()))?;
        check!(lk(&a, libc::F_SETLK, WR, SET, 0, 0), succeeds_with(0));
        drop(d);
        let h = holder(None, || {
            let b = rw(&f)?;
            check!(lk(&b, libc::F_SETLK, WR, SET, 0, 1), succeeds_with(0));
            Ok(())
        })?;
        h.finish()
    })
}

fn closing_an_unrelated_file_keeps_posix_locks() -> Outcome {
    let (f, g) = (file()?, file()?);
    let a = rw(&f)?;
    check!(lk(&a, libc::F_SETLK, WR, SET, 0, 0), succeeds_with(0));
    drop(rw(&g)?);
    fork_and_check(|| {
        let b = rw(&f)?;
        check!(
            lk(&b, libc::F_SETLK, WR, SET, 0, 1),
            fails_with(Errno::EAGAIN)
        );
        Ok(())
    })
}

fn exit_releases_posix_locks() -> Outcome {
    let f = file()?;
    let h = holder(None, || {
        let a = rw(&f)?;
        check!(lk(&a, libc::F_SETLK, WR, SET, 0, 0), succeeds_with(0));
        std::mem::forget(a);
        Ok(())
    })?;
    let b = rw(&f)?;
    check!(
        lk(&b, libc::F_SETLK, WR, SET, 0, 1),
        fails_with(Errno::EAGAIN)
    );
    h.finish()?;
    check!(lk(&b, libc::F_SETLK, WR, SET, 0, 1), succeeds_with(0));
    Ok(())
}

fn posix_locks_are_not_inherited_by_fork() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, libc::F_SETLK, WR, SET, 0, 10), succeeds_with(0));
    fork_and_check(|| {
        // The same descriptor, but the child is another owner.
        check!(
            lk(&a, libc::F_SETLK, WR, SET, 0, 1),
            fails_with(Errno::EAGAIN)
        );
        ensure_eq!(getlk(&a, libc::F_GETLK, WR, 0, 1)?.l_type, WR);
        Ok(())
    })?;
    // The child's exit (closing its copy of `a`) did not release the parent's lock.
    fork_and_check(|| {
        check!(
            lk(&a, libc::F_SETLK, WR, SET, 0, 1),
            fails_with(Errno::EAGAIN)
        );
        Ok(())
    })
}

fn setlkw_waits_for_the_holder() -> Outcome {
    let f = file()?;
    let h = holder(Some(150), || {
        let a = rw(&f)?;
        check!(lk(&a, libc::F_SETLK, WR, SET, 0, 0), succeeds_with(0));
        std::mem::forget(a);
        Ok(())
    })?;
    let b = rw(&f)?;
    check!(lk(&b, libc::F_SETLKW, WR, SET, 0, 1), succeeds_with(0));
    h.finish()
}

fn setlkw_is_woken_by_an_unlock() -> Outcome {
    let f = file()?;
    let h = holder(None, || {
        let a = rw(&f)?;
        check!(lk(&a, libc::F_SETLK, RD, SET, 0, 0), succeeds_with(0));
        std::mem::forget(a);
        Ok(())
    })?;
    let b = rw(&f)?;
    let mut waiter = Child::spawn(|| {
        // Not this child's to keep open: the holder waits for its EOF.
        if let Some(rel) = h.release.as_ref() {
            close(rel);
        }
        i32::from(lk(&b, libc::F_SETLKW, WR, SET, 0, 1) != 0)
    })?;
    task::sleep_ms(50);
    // The holder exits: its read lock goes, and the waiting writer gets the range.
    h.finish()?;
    ensure_eq!(waiter.wait()?.exit_code(), Some(0));
    Ok(())
}

fn setlkw_is_interrupted_by_a_signal() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, libc::F_SETLK, WR, SET, 0, 0), succeeds_with(0));
    fork_and_check(|| {
        let b = rw(&f)?;
        alarm_soon()?;
        check!(
            lk(&b, libc::F_SETLKW, WR, SET, 0, 1),
            fails_with(Errno::EINTR)
        );
        Ok(())
    })
}

fn setlkw_restarts_after_a_signal_with_sa_restart() -> Outcome {
    let f = file()?;
    fork_and_check(|| {
        let h = holder(Some(300), || {
            let a = rw(&f)?;
            check!(lk(&a, libc::F_SETLK, WR, SET, 0, 0), succeeds_with(0));
            std::mem::forget(a);
            Ok(())
        })?;
        install_recorder(libc::SIGALRM, libc::SA_RESTART as u64, 0)?;
        set_real_timer(Duration::from_millis(100), Duration::ZERO)?;
        let b = rw(&f)?;
        check!(lk(&b, libc::F_SETLKW, WR, SET, 0, 1), succeeds_with(0));
        ensure_eq!(signal_count(libc::SIGALRM), 1);
        h.finish()
    })
}

fn flock_restarts_after_a_signal_with_sa_restart() -> Outcome {
    let f = file()?;
    fork_and_check(|| {
        let h = holder(Some(300), || {
            let a = rw(&f)?;
            check!(flock(&a, libc::LOCK_EX), succeeds_with(0));
            std::mem::forget(a);
            Ok(())
        })?;
        install_recorder(libc::SIGALRM, libc::SA_RESTART as u64, 0)?;
        set_real_timer(Duration::from_millis(100), Duration::ZERO)?;
        let b = rw(&f)?;
        check!(flock(&b, libc::LOCK_SH), succeeds_with(0));
        ensure_eq!(signal_count(libc::SIGALRM), 1);
        h.finish()
    })
}

fn threads_of_one_process_share_posix_locks() -> Outcome {
    let f = file()?;
    fork_and_check(|| {
        let a = rw(&f)?;
        check!(lk(&a, libc::F_SETLK, WR, SET, 0, 0), succeeds_with(0));
        let path = f.path().to_owned();
        let r = std::thread::spawn(move || {
            let Ok(b) = Fd::open(&path, libc::O_RDWR | libc::O_CLOEXEC, 0) else {
                return -2;
            };
            lk(&b, libc::F_SETLK, WR, SET, 0, 1)
        })
        .join()
        .map_err(|_| "thread panicked".to_string())?;
        // Same owner (the shared fd table): no conflict; and the thread's close of its own
        // descriptor of the file released the process's lock.
        ensure_eq!(r, 0);
        let h = holder(None, || {
            let c = rw(&f)?;
            check!(lk(&c, libc::F_SETLK, WR, SET, 0, 1), succeeds_with(0));
            Ok(())
        })?;
        h.finish()
    })
}

fn setlkw_detects_a_deadlock() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, libc::F_SETLK, WR, SET, 0, 1), succeeds_with(0));
    let (r, w) = pipe()?;
    let mut child = Child::spawn(|| {
        close(&r);
        let Ok(b) = rw(&f) else { return 2 };
        if lk(&b, libc::F_SETLK, WR, SET, 1, 1) != 0 {
            return 3;
        }
        let _ = w.write_all(b"x");
        // Blocks on the parent's byte 0 until the parent gives it up.
        if lk(&b, libc::F_SETLKW, WR, SET, 0, 1) != 0 {
            return 4;
        }
        0
    })?;
    drop(w);
    ensure_eq!(r.read_up_to(1)?, b"x".to_vec());
    task::sleep_ms(100);
    check!(
        lk(&a, libc::F_SETLKW, WR, SET, 1, 1),
        fails_with(Errno::EDEADLK)
    );
    check!(lk(&a, libc::F_SETLK, UN, SET, 0, 1), succeeds_with(0));
    ensure_eq!(child.wait()?.exit_code(), Some(0));
    Ok(())
}

fn unlocking_an_unlocked_range_succeeds() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, libc::F_SETLK, UN, SET, 0, 0), succeeds_with(0));
    check!(lk(&a, libc::F_SETLKW, UN, SET, 5, 5), succeeds_with(0));
    Ok(())
}

// ---------------------------------------------------------------- OFD locks

fn ofd_locks_conflict_between_descriptions_of_one_process() -> Outcome {
    let f = file()?;
    let (a, b) = (rw(&f)?, rw(&f)?);
    check!(lk(&a, F_OFD_SETLK, WR, SET, 0, 10), succeeds_with(0));
    check!(
        lk(&b, F_OFD_SETLK, RD, SET, 5, 1),
        fails_with(Errno::EAGAIN)
    );
    check!(lk(&b, F_OFD_SETLK, RD, SET, 10, 1), succeeds_with(0));
    Ok(())
}

fn ofd_commands_need_pid_zero() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    for cmd in [F_OFD_SETLK, F_OFD_SETLKW, F_OFD_GETLK] {
        let mut fl = req(WR, SET, 0, 1);
        fl.l_pid = 1;
        check!(
            syscall!(libc::SYS_fcntl, a.raw(), cmd, &raw mut fl),
            fails_with(Errno::EINVAL)
        );
    }
    Ok(())
}

fn ofd_getlk_reports_pid_minus_one() -> Outcome {
    let f = file()?;
    let (a, b) = (rw(&f)?, rw(&f)?);
    check!(lk(&a, F_OFD_SETLK, WR, SET, 3, 4), succeeds_with(0));
    ensure_eq!(summary(&getlk(&b, F_OFD_GETLK, RD, 0, 0)?), (WR, 3, 4, -1));
    // The owning description sees no conflict.
    ensure_eq!(getlk(&a, F_OFD_GETLK, WR, 0, 0)?.l_type, UN);
    // F_GETLK from another process reports the OFD lock with pid -1 too.
    fork_and_check(|| {
        let c = rw(&f)?;
        ensure_eq!(
            summary(&getlk(&c, libc::F_GETLK, RD, 0, 0)?),
            (WR, 3, 4, -1)
        );
        Ok(())
    })
}

fn ofd_locks_conflict_with_the_same_process_posix_locks() -> Outcome {
    let f = file()?;
    let (a, b) = (rw(&f)?, rw(&f)?);
    check!(lk(&a, libc::F_SETLK, WR, SET, 0, 10), succeeds_with(0));
    check!(
        lk(&b, F_OFD_SETLK, WR, SET, 0, 1),
        fails_with(Errno::EAGAIN)
    );
    let me = task::getpid();
    ensure_eq!(summary(&getlk(&b, F_OFD_GETLK, WR, 0, 1)?), (WR, 0, 10, me));
    Ok(())
}

fn ofd_locks_survive_closing_other_fds_of_the_file() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, F_OFD_SETLK, WR, SET, 0, 0), succeeds_with(0));
    drop(rw(&f)?);
    let b = rw(&f)?;
    check!(
        lk(&b, F_OFD_SETLK, WR, SET, 0, 1),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn ofd_locks_go_when_the_description_closes() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    let d = Fd::from_ret(check!(syscall!(libc::SYS_dup, a.raw()), succeeds()))?;
    let b = rw(&f)?;
    check!(lk(&a, F_OFD_SETLK, WR, SET, 0, 0), succeeds_with(0));
    drop(a);
    check!(
        lk(&b, F_OFD_SETLK, WR, SET, 0, 1),
        fails_with(Errno::EAGAIN)
    );
    drop(d);
    check!(lk(&b, F_OFD_SETLK, WR, SET, 0, 1), succeeds_with(0));
    Ok(())
}

fn ofd_locks_are_shared_with_a_forked_child() -> Outcome {
    let f = file()?;
    let a = rw(&f)?;
    check!(lk(&a, F_OFD_SETLK, WR, SET, 0, 10), succeeds_with(0));
    fork_and_check(|| {
        check!(lk(&a, F_OFD_SETLK, WR, SET, 0, 10), succeeds_with(0));
        let b = rw(&f)?;
        check!(
            lk(&b, F_OFD_SETLK, RD, SET, 0, 1),
            fails_with(Errno::EAGAIN)
        );
        Ok(())
    })?;
    // The child's exit did not release the shared description's lock.
    let b = rw(&f)?;
    check!(
        lk(&b, F_OFD_SETLK, RD, SET, 0, 1),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn ofd_setlkw_waits_for_the_holder() -> Outcome {
    let f = file()?;
    let h = holder(Some(150), || {
        let a = rw(&f)?;
        check!(lk(&a, F_OFD_SETLK, WR, SET, 0, 0), succeeds_with(0));
        std::mem::forget(a);
        Ok(())
    })?;
    let b = rw(&f)?;
    check!(
        lk(&b, F_OFD_SETLK, WR, SET, 0, 1),
        fails_with(Errno::EAGAIN)
    );
    check!(lk(&b, F_OFD_SETLKW, WR, SET, 0, 1), succeeds_with(0));
    h.finish()
}

fn ofd_unlock_releases_the_range() -> Outcome {
    let f = file()?;
    let (a, b) = (rw(&f)?, rw(&f)?);
    check!(lk(&a, F_OFD_SETLK, WR, SET, 0, 20), succeeds_with(0));
    check!(lk(&a, F_OFD_SETLK, UN, SET, 0, 10), succeeds_with(0));
    check!(lk(&b, F_OFD_SETLK, WR, SET, 0, 10), succeeds_with(0));
    check!(
        lk(&b, F_OFD_SETLK, WR, SET, 10, 1),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn holder_pid_is_the_lock_pid() -> Outcome {
    let f = file()?;
    let h = holder(None, || {
        let a = rw(&f)?;
        check!(lk(&a, libc::F_SETLK, RD, SET, 7, 1), succeeds_with(0));
        std::mem::forget(a);
        Ok(())
    })?;
    let b = rw(&f)?;
    ensure_eq!(
        summary(&getlk(&b, libc::F_GETLK, WR, 0, 0)?),
        (RD, 7, 1, h.pid())
    );
    h.finish()
}

// ---------------------------------------------------------------- /proc/locks

/// The "MAJ:MIN:INO" /proc/locks prints for `fd`'s file.
fn proc_locks_id(fd: &Fd) -> Result<String, String> {
    let mut st = syscall_tests::zeroed::<libc::stat>();
    check!(
        syscall!(libc::SYS_fstat, fd.raw(), &raw mut st),
        succeeds_with(0)
    );
    Ok(format!(
        "{:02x}:{:02x}:{}",
        libc::major(st.st_dev),
        libc::minor(st.st_dev),
        st.st_ino
    ))
}

fn proc_locks_lists_held_locks() -> Outcome {
    let (f, g) = (file()?, file()?);
    fork_and_check(|| {
        let a = rw(&f)?;
        let b = rw(&g)?;
        check!(lk(&a, libc::F_SETLK, WR, SET, 5, 0), succeeds_with(0));
        check!(flock(&b, libc::LOCK_SH), succeeds_with(0));
        let me = task::getpid();
        let text = std::fs::read_to_string("/proc/locks").map_err(|e| e.to_string())?;
        let posix = format!(": POSIX  ADVISORY  WRITE {me} {} 5 EOF", proc_locks_id(&a)?);
        let fl = format!(": FLOCK  ADVISORY  READ {me} {} 0 EOF", proc_locks_id(&b)?);
        ensure!(
            text.lines().any(|l| l.ends_with(&posix)),
            "no `{posix}` in {text}"
        );
        ensure!(
            text.lines().any(|l| l.ends_with(&fl)),
            "no `{fl}` in {text}"
        );
        Ok(())
    })
}

// ---------------------------------------------------------------- execve

/// Helper mode `hold READY_FD RELEASE_FD`: reports that the new image runs, then waits for
/// EOF on the release pipe.
fn hold_helper(args: &[String]) -> i32 {
    let fd = |i: usize| -> i32 { args.get(i).and_then(|a| a.parse().ok()).unwrap_or(-1) };
    let b = [b'x'];
    if syscall!(libc::SYS_write, fd(0), b.as_ptr(), 1usize) != 1 {
        return 2;
    }
    let mut r = [0u8; 1];
    let _ = syscall!(libc::SYS_read, fd(1), r.as_mut_ptr(), 1usize);
    0
}

fn execve_keeps_posix_locks_but_not_on_cloexec_fds() -> Outcome {
    let (f, g) = (file()?, file()?);
    let (ready_r, ready_w) = pipe()?;
    let (rel_r, rel_w) = pipe()?;
    let mut child = Child::spawn(|| {
        let Ok(a) = Fd::open(f.path(), libc::O_RDWR, 0) else {
            return 2;
        };
        let Ok(b) = g.open(libc::O_RDWR) else {
            return 3;
        };
        if lk(&a, libc::F_SETLK, WR, SET, 0, 0) != 0 || lk(&b, libc::F_SETLK, WR, SET, 0, 0) != 0 {
            return 4;
        }
        // Descriptors without close-on-exec for the helper.
        let ready = syscall!(libc::SYS_dup, ready_w.raw());
        let release = syscall!(libc::SYS_dup, rel_r.raw());
        std::mem::forget(a);
        std::mem::forget(b);
        let _ = exec_self("hold", &[&ready.to_string(), &release.to_string()], &[]);
        126
    })?;
    drop(ready_w);
    drop(rel_r);
    ensure_eq!(
        ready_r.read_up_to(1)?,
        b"x".to_vec(),
        "helper did not start"
    );
    let holder = child.pid();
    let res = fork_and_check(|| {
        let a = rw(&f)?;
        ensure_eq!(
            summary(&getlk(&a, libc::F_GETLK, WR, 0, 0)?),
            (WR, 0, 0, holder)
        );
        let b = rw(&g)?;
        check!(lk(&b, libc::F_SETLK, WR, SET, 0, 0), succeeds_with(0));
        Ok(())
    });
    drop(rel_w);
    ensure_eq!(child.wait()?.exit_code(), Some(0));
    res
}

fn main() -> std::process::ExitCode {
    const HELPERS: &[Helper] = &[("hold", hold_helper)];
    run_tests_with_helpers(
        tests![
            flock_exclusive_conflicts_between_descriptions,
            flock_shared_locks_coexist,
            flock_unlock_lets_others_lock,
            flock_is_shared_by_dup_and_released_at_last_close,
            flock_is_shared_with_a_forked_child,
            flock_converts_shared_to_exclusive_and_back,
            flock_failed_conversion_drops_the_old_lock,
            flock_rejects_bad_operations,
            flock_works_on_read_only_and_write_only_fds,
            flock_blocking_waits_for_the_holder,
            flock_blocking_wait_is_interrupted_by_a_signal,
            flock_and_record_locks_are_independent,
            write_lock_conflicts_with_another_process,
            read_locks_are_shared_between_processes,
            getlk_reports_the_conflicting_lock_and_its_pid,
            getlk_without_conflict_answers_unlck,
            a_process_never_conflicts_with_itself,
            unlocking_the_middle_splits_a_lock,
            adjacent_locks_of_one_type_merge,
            changing_the_type_of_a_subrange_splits,
            zero_length_locks_to_end_of_file_and_beyond,
            negative_length_locks_the_bytes_before_start,
            ranges_before_offset_zero_are_einval,
            ranges_past_offset_max_are_eoverflow,
            seek_cur_and_seek_end_are_relative_to_offset_and_size,
            bad_type_whence_and_getlk_unlck_are_einval,
            lock_type_needs_a_matching_access_mode,
            bad_fd_and_bad_pointer,
            closing_any_fd_of_the_file_releases_posix_locks,
            closing_a_dup_releases_posix_locks,
            closing_an_unrelated_file_keeps_posix_locks,
            exit_releases_posix_locks,
            posix_locks_are_not_inherited_by_fork,
            setlkw_waits_for_the_holder,
            setlkw_is_woken_by_an_unlock,
            setlkw_is_interrupted_by_a_signal,
            setlkw_restarts_after_a_signal_with_sa_restart,
            flock_restarts_after_a_signal_with_sa_restart,
            threads_of_one_process_share_posix_locks,
            setlkw_detects_a_deadlock,
            unlocking_an_unlocked_range_succeeds,
            ofd_locks_conflict_between_descriptions_of_one_process,
            ofd_commands_need_pid_zero,
            ofd_getlk_reports_pid_minus_one,
            ofd_locks_conflict_with_the_same_process_posix_locks,
            ofd_locks_survive_closing_other_fds_of_the_file,
            ofd_locks_go_when_the_description_closes,
            ofd_locks_are_shared_with_a_forked_child,
            ofd_setlkw_waits_for_the_holder,
            ofd_unlock_releases_the_range,
            holder_pid_is_the_lock_pid,
            execve_keeps_posix_locks_but_not_on_cloexec_fds,
            proc_locks_lists_held_locks,
        ],
        HELPERS,
    )
}
