//! Readiness: poll, ppoll, select, pselect6 and epoll (create1/ctl/wait/pwait/pwait2) over
//! pipes and eventfds — POLLIN/POLLOUT/POLLHUP/POLLERR/POLLNVAL, timeouts, the temporary
//! signal masks of ppoll/pselect6/epoll_pwait, EINTR, level vs edge triggering, EPOLLONESHOT
//! and the error cases.
//!
//! Tests that block, install handlers or fork run in a forked child ([`fork_and_check`]).
#![deny(unsafe_code)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use syscall_tests::libc;
use syscall_tests::sys::signal_count;
use syscall_tests::task::{
    Child, SIGSET_SIZE, block, closed_fd, current_mask, fork_and_check, getpid, install_recorder,
    pipe, set_real_timer, sig_bit, sleep_ms,
};
use syscall_tests::{
    Errno, Fd, LOW_ADDR, Outcome, TempFile, check, ensure, ensure_eq, fails_with, run_tests,
    succeeds, succeeds_with, syscall, tests, with_junk_upper_bits,
};

fn pfd(fd: &Fd, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd: fd.raw(),
        events,
        revents: 0,
    }
}

fn poll1(p: &mut libc::pollfd, timeout_ms: i32) -> i64 {
    syscall!(libc::SYS_poll, std::ptr::from_mut(p), 1, timeout_ms)
}

fn eventfd(init: u32) -> Result<Fd, String> {
    Fd::from_ret(check!(
        syscall!(
            libc::SYS_eventfd2,
            init,
            libc::EFD_CLOEXEC | libc::EFD_NONBLOCK
        ),
        succeeds()
    ))
}

fn kill_self(sig: i32) -> Outcome {
    check!(syscall!(libc::SYS_kill, getpid(), sig), succeeds_with(0));
    Ok(())
}

// ---------------------------------------------------------------- poll

fn poll_empty_pipe_write_end_is_writable_read_end_is_not_readable() -> Outcome {
    let (r, w) = pipe()?;
    let mut fds = [pfd(&r, libc::POLLIN), pfd(&w, libc::POLLOUT)];
    check!(
        syscall!(libc::SYS_poll, fds.as_mut_ptr(), 2, 0),
        succeeds_with(1)
    );
    ensure_eq!(fds[0].revents, 0);
    ensure_eq!(fds[1].revents, libc::POLLOUT);
    Ok(())
}

fn poll_pipe_with_data_reports_pollin() -> Outcome {
    let (r, w) = pipe()?;
    w.write_all(b"x")?;
    let mut p = pfd(&r, libc::POLLIN);
    check!(poll1(&mut p, 0), succeeds_with(1));
    ensure_eq!(p.revents, libc::POLLIN);
    Ok(())
}

/// poll(2) POLLHUP on a pipe's read end once every writer closed ("Hang up").
fn poll_read_end_after_writers_closed_reports_pollhup() -> Outcome {
    let (r, w) = pipe()?;
    drop(w);
    let mut p = pfd(&r, libc::POLLIN);
    check!(poll1(&mut p, 0), succeeds_with(1));
    ensure_eq!(p.revents, libc::POLLHUP);
    Ok(())
}

/// POLLHUP is reported even when not requested (poll(2): "ignored in events").
fn poll_reports_pollhup_even_when_not_requested() -> Outcome {
    let (r, w) = pipe()?;
    drop(w);
    let mut p = pfd(&r, 0);
    check!(poll1(&mut p, 0), succeeds_with(1));
    ensure_eq!(p.revents, libc::POLLHUP);
    Ok(())
}

/// The write end of a pipe without readers reports POLLERR.
fn poll_write_end_after_reader_closed_reports_pollerr() -> Outcome {
    let (r, w) = pipe()?;
    drop(r);
    let mut p = pfd(&w, libc::POLLOUT);
    check!(poll1(&mut p, 0), succeeds_with(1));
    ensure!(p.revents & libc::POLLERR != 0, "revents {:#x}", p.revents);
    Ok(())
}

/// poll(2) POLLNVAL: "Invalid request: fd not open".
fn poll_closed_fd_reports_pollnval() -> Outcome {
    let fd = closed_fd()?;
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    check!(poll1(&mut p, 0), succeeds_with(1));
    ensure_eq!(p.revents, libc::POLLNVAL);
    Ok(())
}

/// poll(2): "If this field is negative, then the corresponding events field is ignored and
/// the revents field returns zero."
fn poll_negative_fd_is_ignored_with_zero_revents() -> Outcome {
    let mut p = libc::pollfd {
        fd: -1,
        events: libc::POLLIN,
        revents: 0x7,
    };
    check!(poll1(&mut p, 0), succeeds_with(0));
    ensure_eq!(p.revents, 0);
    Ok(())
}

fn poll_eventfd_with_nonzero_counter_is_readable() -> Outcome {
    let fd = eventfd(1)?;
    let mut p = pfd(&fd, libc::POLLIN | libc::POLLOUT);
    check!(poll1(&mut p, 0), succeeds_with(1));
    ensure_eq!(p.revents, libc::POLLIN | libc::POLLOUT);
    Ok(())
}

/// An eventfd at its maximum value cannot take another write: not POLLOUT.
fn poll_eventfd_at_maximum_is_not_writable() -> Outcome {
    let fd = eventfd(0)?;
    let v = 0xffff_ffff_ffff_fffe_u64;
    check!(
        syscall!(libc::SYS_write, fd.raw(), &raw const v, 8),
        succeeds_with(8)
    );
    let mut p = pfd(&fd, libc::POLLOUT);
    check!(poll1(&mut p, 0), succeeds_with(0));
    Ok(())
}

fn poll_20ms_timeout_waits_at_least_20ms() -> Outcome {
    fork_and_check(|| {
        let (r, _w) = pipe()?;
        let mut p = pfd(&r, libc::POLLIN);
        let start = Instant::now();
        check!(poll1(&mut p, 20), succeeds_with(0));
        ensure!(
            start.elapsed() >= Duration::from_millis(20),
            "{:?}",
            start.elapsed()
        );
        Ok(())
    })
}

/// poll(2): EINVAL "The nfds value exceeds the RLIMIT_NOFILE value".
fn poll_nfds_above_rlimit_nofile_fails_einval() -> Outcome {
    fork_and_check(|| {
        let lim = libc::rlimit64 {
            rlim_cur: 16,
            rlim_max: 16,
        };
        check!(
            syscall!(
                libc::SYS_prlimit64,
                0,
                libc::RLIMIT_NOFILE,
                &raw const lim,
                0usize
            ),
            succeeds_with(0)
        );
        let mut fds = [libc::pollfd {
            fd: -1,
            events: 0,
            revents: 0,
        }; 17];
        check!(
            syscall!(libc::SYS_poll, fds.as_mut_ptr(), 17, 0),
            fails_with(Errno::EINVAL)
        );
        Ok(())
    })
}

fn poll_bad_fds_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_poll, LOW_ADDR, 1, 0),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// nfds is an `unsigned int`: junk in the upper half is ignored.
fn poll_nfds_upper_bits_are_ignored() -> Outcome {
    let (r, w) = pipe()?;
    w.write_all(b"x")?;
    let mut p = pfd(&r, libc::POLLIN);
    check!(
        syscall!(libc::SYS_poll, &raw mut p, with_junk_upper_bits(1), 0),
        succeeds_with(1)
    );
    Ok(())
}

fn poll_wakes_when_other_process_writes() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe()?;
        let _child = Child::spawn(move || {
            sleep_ms(20);
            i32::from(w.write_all(b"x").is_err())
        })?;
        let mut p = pfd(&r, libc::POLLIN);
        check!(poll1(&mut p, 5000), succeeds_with(1));
        // The writer may have exited by now, adding POLLHUP.
        ensure_eq!(p.revents & libc::POLLIN, libc::POLLIN);
        Ok(())
    })
}

/// poll(2): EINTR "A signal occurred before any requested event" — poll is never restarted
/// after a handler, even with SA_RESTART.
fn poll_interrupted_by_handler_fails_eintr_even_with_sa_restart() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGALRM, libc::SA_RESTART as u64, 0)?;
        let (r, _w) = pipe()?;
        set_real_timer(Duration::from_millis(10), Duration::from_millis(10))?;
        let mut p = pfd(&r, libc::POLLIN);
        check!(poll1(&mut p, -1), fails_with(Errno::EINTR));
        Ok(())
    })
}

// ---------------------------------------------------------------- ppoll

fn ts(ns: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: ns / 1_000_000_000,
        tv_nsec: ns % 1_000_000_000,
    }
}

fn ppoll_zero_timeout_with_nothing_ready_returns_zero() -> Outcome {
    let (r, _w) = pipe()?;
    let mut p = pfd(&r, libc::POLLIN);
    let t = ts(0);
    check!(
        syscall!(
            libc::SYS_ppoll,
            &raw mut p,
            1,
            &raw const t,
            0usize,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    Ok(())
}

/// ppoll(2) with a NULL timeout returns at once when an fd is already ready.
fn ppoll_null_timeout_with_ready_fd_returns_it() -> Outcome {
    let (r, w) = pipe()?;
    w.write_all(b"x")?;
    let mut p = pfd(&r, libc::POLLIN);
    check!(
        syscall!(libc::SYS_ppoll, &raw mut p, 1, 0usize, 0usize, SIGSET_SIZE),
        succeeds_with(1)
    );
    Ok(())
}

/// ppoll(2) installs its sigmask for the wait: a pending signal blocked outside is delivered
/// during the call, which fails with EINTR.
fn ppoll_sigmask_unblocks_pending_signal_and_fails_eintr() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        block(libc::SIGUSR1)?;
        kill_self(libc::SIGUSR1)?;
        let (r, _w) = pipe()?;
        let mut p = pfd(&r, libc::POLLIN);
        let empty = 0u64;
        check!(
            syscall!(
                libc::SYS_ppoll,
                &raw mut p,
                1,
                0usize,
                &raw const empty,
                SIGSET_SIZE
            ),
            fails_with(Errno::EINTR)
        );
        ensure_eq!(signal_count(libc::SIGUSR1), 1);
        ensure_eq!(current_mask()?, sig_bit(libc::SIGUSR1));
        Ok(())
    })
}

fn ppoll_bad_sigsetsize_fails_einval() -> Outcome {
    let (r, _w) = pipe()?;
    let mut p = pfd(&r, libc::POLLIN);
    let t = ts(0);
    let empty = 0u64;
    check!(
        syscall!(
            libc::SYS_ppoll,
            &raw mut p,
            1,
            &raw const t,
            &raw const empty,
            4
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn ppoll_timeout_nsec_one_billion_fails_einval() -> Outcome {
    let (r, _w) = pipe()?;
    let mut p = pfd(&r, libc::POLLIN);
    let t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    };
    check!(
        syscall!(
            libc::SYS_ppoll,
            &raw mut p,
            1,
            &raw const t,
            0usize,
            SIGSET_SIZE
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

// ---------------------------------------------------------------- select, pselect6

/// An fd_set with the given descriptors set.
fn fdset(fds: &[i32]) -> [u64; 16] {
    let mut set = [0u64; 16];
    for fd in fds {
        let i = usize::try_from(*fd).unwrap_or(0);
        if let Some(w) = set.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
    set
}

fn is_set(set: &[u64; 16], fd: i32) -> bool {
    let i = usize::try_from(fd).unwrap_or(0);
    set.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

fn select_reports_readable_pipe() -> Outcome {
    let (r, w) = pipe()?;
    w.write_all(b"x")?;
    let mut rs = fdset(&[r.raw()]);
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    check!(
        syscall!(
            libc::SYS_select,
            r.raw() + 1,
            rs.as_mut_ptr(),
            0usize,
            0usize,
            &raw mut tv
        ),
        succeeds_with(1)
    );
    ensure!(is_set(&rs, r.raw()), "read end not set");
    Ok(())
}

fn select_reports_writable_pipe() -> Outcome {
    let (r, w) = pipe()?;
    let mut rs = fdset(&[r.raw()]);
    let mut ws = fdset(&[w.raw()]);
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let nfds = r.raw().max(w.raw()) + 1;
    check!(
        syscall!(
            libc::SYS_select,
            nfds,
            rs.as_mut_ptr(),
            ws.as_mut_ptr(),
            0usize,
            &raw mut tv
        ),
        succeeds_with(1)
    );
    ensure!(is_set(&ws, w.raw()), "write end not set");
    ensure!(!is_set(&rs, r.raw()), "empty read end set");
    Ok(())
}

/// select(2): EBADF "An invalid file descriptor was given in one of the sets". (The fd must
/// be below the fd table's size: select silently caps nfds there.)
fn select_with_closed_fd_in_set_fails_ebadf() -> Outcome {
    let (_r, w) = pipe()?;
    let fd = w.raw();
    drop(w);
    let mut rs = fdset(&[fd]);
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    check!(
        syscall!(
            libc::SYS_select,
            fd + 1,
            rs.as_mut_ptr(),
            0usize,
            0usize,
            &raw mut tv
        ),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

/// select(2): EINVAL "nfds is negative".
fn select_negative_nfds_fails_einval() -> Outcome {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    check!(
        syscall!(libc::SYS_select, -1, 0usize, 0usize, 0usize, &raw mut tv),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn select_negative_timeout_fails_einval() -> Outcome {
    let mut tv = libc::timeval {
        tv_sec: -1,
        tv_usec: 0,
    };
    check!(
        syscall!(libc::SYS_select, 0, 0usize, 0usize, 0usize, &raw mut tv),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// On timeout select returns 0 and clears the sets.
fn select_timeout_with_nothing_ready_returns_zero_and_clears_set() -> Outcome {
    fork_and_check(|| {
        let (r, _w) = pipe()?;
        let mut rs = fdset(&[r.raw()]);
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 1000,
        };
        check!(
            syscall!(
                libc::SYS_select,
                r.raw() + 1,
                rs.as_mut_ptr(),
                0usize,
                0usize,
                &raw mut tv
            ),
            succeeds_with(0)
        );
        ensure!(!is_set(&rs, r.raw()), "set not cleared");
        Ok(())
    })
}

/// select(2) on Linux "modifies timeout to reflect the amount of time not slept": zero after
/// a full timeout.
fn select_timeout_is_zeroed_after_full_wait() -> Outcome {
    fork_and_check(|| {
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 10_000,
        };
        let start = Instant::now();
        check!(
            syscall!(libc::SYS_select, 0, 0usize, 0usize, 0usize, &raw mut tv),
            succeeds_with(0)
        );
        ensure!(
            start.elapsed() >= Duration::from_millis(10),
            "{:?}",
            start.elapsed()
        );
        ensure_eq!((tv.tv_sec, tv.tv_usec), (0, 0));
        Ok(())
    })
}

/// pselect6 takes its sigmask as {sigset pointer, size}.
#[repr(C)]
struct SigsetArg {
    set: *const u64,
    size: usize,
}

fn pselect6_zero_timeout_returns_zero() -> Outcome {
    let (r, _w) = pipe()?;
    let mut rs = fdset(&[r.raw()]);
    let t = ts(0);
    check!(
        syscall!(
            libc::SYS_pselect6,
            r.raw() + 1,
            rs.as_mut_ptr(),
            0usize,
            0usize,
            &raw const t,
            0usize
        ),
        succeeds_with(0)
    );
    Ok(())
}

fn pselect6_reports_readable_eventfd() -> Outcome {
    let fd = eventfd(3)?;
    let mut rs = fdset(&[fd.raw()]);
    let t = ts(0);
    check!(
        syscall!(
            libc::SYS_pselect6,
            fd.raw() + 1,
            rs.as_mut_ptr(),
            0usize,
            0usize,
            &raw const t,
            0usize
        ),
        succeeds_with(1)
    );
    ensure!(is_set(&rs, fd.raw()), "eventfd not readable");
    Ok(())
}

/// pselect(2): the sigmask applies during the wait; a pending blocked signal interrupts it.
fn pselect6_sigmask_unblocks_pending_signal_and_fails_eintr() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR2, 0, 0)?;
        block(libc::SIGUSR2)?;
        kill_self(libc::SIGUSR2)?;
        let (r, _w) = pipe()?;
        let mut rs = fdset(&[r.raw()]);
        let empty = 0u64;
        let arg = SigsetArg {
            set: &raw const empty,
            size: SIGSET_SIZE,
        };
        check!(
            syscall!(
                libc::SYS_pselect6,
                r.raw() + 1,
                rs.as_mut_ptr(),
                0usize,
                0usize,
                0usize,
                &raw const arg
            ),
            fails_with(Errno::EINTR)
        );
        ensure_eq!(signal_count(libc::SIGUSR2), 1);
        ensure_eq!(current_mask()?, sig_bit(libc::SIGUSR2));
        Ok(())
    })
}

// ---------------------------------------------------------------- epoll

fn epoll() -> Result<Fd, String> {
    Fd::from_ret(check!(
        syscall!(libc::SYS_epoll_create1, libc::EPOLL_CLOEXEC),
        succeeds()
    ))
}

fn ev(events: u32, data: u64) -> libc::epoll_event {
    libc::epoll_event { events, u64: data }
}

fn ctl(ep: &Fd, op: i32, fd: i32, events: u32, data: u64) -> i64 {
    let e = ev(events, data);
    syscall!(libc::SYS_epoll_ctl, ep.raw(), op, fd, &raw const e)
}

fn add(ep: &Fd, fd: &Fd, events: u32, data: u64) -> Outcome {
    check!(
        ctl(ep, libc::EPOLL_CTL_ADD, fd.raw(), events, data),
        succeeds_with(0)
    );
    Ok(())
}

fn wait(ep: &Fd, timeout_ms: i32) -> Result<Vec<(u32, u64)>, String> {
    let mut evs = [ev(0, 0); 8];
    let n = check!(
        syscall!(
            libc::SYS_epoll_wait,
            ep.raw(),
            evs.as_mut_ptr(),
            evs.len(),
            timeout_ms
        ),
        succeeds()
    );
    Ok(evs
        .iter()
        .take(usize::try_from(n).unwrap_or(0))
        .map(|e| {
            let (events, data) = (e.events, e.u64);
            (events, data)
        })
        .collect())
}

const IN: u32 = libc::EPOLLIN as u32;
const OUT: u32 = libc::EPOLLOUT as u32;

fn epoll_create1_unknown_flag_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_epoll_create1, 0x1),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// epoll_create(2): EINVAL "size is not positive".
fn epoll_create_size_zero_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_epoll_create, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn epoll_create1_cloexec_sets_fd_cloexec() -> Outcome {
    let ep = epoll()?;
    check!(
        syscall!(libc::SYS_fcntl, ep.raw(), libc::F_GETFD),
        succeeds_with(i64::from(libc::FD_CLOEXEC))
    );
    Ok(())
}

/// epoll_wait(2) returns the ready fd's events with the data registered for it.
fn epoll_wait_returns_events_with_registered_data() -> Outcome {
    let ep = epoll()?;
    let (r, w) = pipe()?;
    add(&ep, &r, IN, 0xabcd_ef01_2345)?;
    w.write_all(b"x")?;
    ensure_eq!(wait(&ep, 0)?, vec![(IN, 0xabcd_ef01_2345)]);
    Ok(())
}

/// epoll_ctl(2): EEXIST "op was EPOLL_CTL_ADD, and the supplied file descriptor fd is already
/// registered with this epoll instance".
fn epoll_ctl_add_twice_fails_eexist() -> Outcome {
    let ep = epoll()?;
    let (r, _w) = pipe()?;
    add(&ep, &r, IN, 1)?;
    check!(
        ctl(&ep, libc::EPOLL_CTL_ADD, r.raw(), IN, 1),
        fails_with(Errno::EEXIST)
    );
    Ok(())
}

fn epoll_ctl_mod_of_unregistered_fd_fails_enoent() -> Outcome {
    let ep = epoll()?;
    let (r, _w) = pipe()?;
    check!(
        ctl(&ep, libc::EPOLL_CTL_MOD, r.raw(), IN, 1),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

fn epoll_ctl_del_of_unregistered_fd_fails_enoent() -> Outcome {
    let ep = epoll()?;
    let (r, _w) = pipe()?;
    check!(
        ctl(&ep, libc::EPOLL_CTL_DEL, r.raw(), 0, 0),
        fails_with(Errno::ENOENT)
    );
    Ok(())
}

/// epoll_ctl(2): EINVAL "fd is the same as epfd".
fn epoll_ctl_add_epoll_to_itself_fails_einval() -> Outcome {
    let ep = epoll()?;
    check!(
        ctl(&ep, libc::EPOLL_CTL_ADD, ep.raw(), IN, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// epoll_ctl(2): ELOOP "fd refers to an epoll instance and this EPOLL_CTL_ADD operation would
/// result in a circular loop of epoll instances monitoring one another".
fn epoll_ctl_circular_epoll_nesting_fails_eloop() -> Outcome {
    let a = epoll()?;
    let b = epoll()?;
    add(&a, &b, IN, 0)?;
    check!(
        ctl(&b, libc::EPOLL_CTL_ADD, a.raw(), IN, 0),
        fails_with(Errno::ELOOP)
    );
    Ok(())
}

/// epoll_ctl(2): EPERM "The target file fd does not support epoll" (a regular file).
fn epoll_ctl_add_regular_file_fails_eperm() -> Outcome {
    let ep = epoll()?;
    let file = TempFile::new()?;
    let fd = file.open(libc::O_RDONLY)?;
    check!(
        ctl(&ep, libc::EPOLL_CTL_ADD, fd.raw(), IN, 0),
        fails_with(Errno::EPERM)
    );
    Ok(())
}

/// epoll_ctl(2)'s op and fd are `int`s: upper-half junk is ignored.
fn epoll_ctl_op_and_fd_upper_bits_are_ignored() -> Outcome {
    let ep = epoll()?;
    let (r, w) = pipe()?;
    let e = ev(IN, 6);
    check!(
        syscall!(
            libc::SYS_epoll_ctl,
            ep.raw(),
            with_junk_upper_bits(libc::EPOLL_CTL_ADD),
            with_junk_upper_bits(r.raw()),
            &raw const e
        ),
        succeeds_with(0)
    );
    w.write_all(b"x")?;
    ensure_eq!(wait(&ep, 0)?, vec![(IN, 6)]);
    Ok(())
}

/// epoll_wait(2)'s maxevents and timeout are `int`s: upper-half junk is ignored.
fn epoll_wait_maxevents_and_timeout_upper_bits_are_ignored() -> Outcome {
    let ep = epoll()?;
    let (r, w) = pipe()?;
    add(&ep, &r, IN, 6)?;
    w.write_all(b"x")?;
    let mut evs = [ev(0, 0); 2];
    check!(
        syscall!(
            libc::SYS_epoll_wait,
            ep.raw(),
            evs.as_mut_ptr(),
            with_junk_upper_bits(2),
            with_junk_upper_bits(0)
        ),
        succeeds_with(1)
    );
    Ok(())
}

fn epoll_ctl_unknown_op_fails_einval() -> Outcome {
    let ep = epoll()?;
    let (r, _w) = pipe()?;
    check!(ctl(&ep, 42, r.raw(), IN, 0), fails_with(Errno::EINVAL));
    Ok(())
}

/// epoll_ctl(2): EINVAL "epfd is not an epoll file descriptor".
fn epoll_ctl_on_non_epoll_fd_fails_einval() -> Outcome {
    let (r, w) = pipe()?;
    check!(
        ctl(&r, libc::EPOLL_CTL_ADD, w.raw(), IN, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn epoll_ctl_add_closed_fd_fails_ebadf() -> Outcome {
    let ep = epoll()?;
    let fd = closed_fd()?;
    check!(
        ctl(&ep, libc::EPOLL_CTL_ADD, fd, IN, 0),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

fn epoll_ctl_bad_event_pointer_fails_efault() -> Outcome {
    let ep = epoll()?;
    let (r, _w) = pipe()?;
    check!(
        syscall!(
            libc::SYS_epoll_ctl,
            ep.raw(),
            libc::EPOLL_CTL_ADD,
            r.raw(),
            LOW_ADDR
        ),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// epoll_wait(2): EINVAL "maxevents is less than or equal to zero".
fn epoll_wait_maxevents_zero_fails_einval() -> Outcome {
    let ep = epoll()?;
    let mut evs = [ev(0, 0); 1];
    check!(
        syscall!(libc::SYS_epoll_wait, ep.raw(), evs.as_mut_ptr(), 0, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn epoll_wait_negative_maxevents_fails_einval() -> Outcome {
    let ep = epoll()?;
    let mut evs = [ev(0, 0); 1];
    check!(
        syscall!(libc::SYS_epoll_wait, ep.raw(), evs.as_mut_ptr(), -1, 0),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn epoll_wait_zero_timeout_with_nothing_ready_returns_zero() -> Outcome {
    let ep = epoll()?;
    let (r, _w) = pipe()?;
    add(&ep, &r, IN, 0)?;
    ensure_eq!(wait(&ep, 0)?, vec![]);
    Ok(())
}

fn epoll_wait_20ms_timeout_waits_at_least_20ms() -> Outcome {
    fork_and_check(|| {
        let ep = epoll()?;
        let start = Instant::now();
        ensure_eq!(wait(&ep, 20)?, vec![]);
        ensure!(
            start.elapsed() >= Duration::from_millis(20),
            "{:?}",
            start.elapsed()
        );
        Ok(())
    })
}

fn epoll_wait_bad_events_pointer_fails_efault() -> Outcome {
    let ep = epoll()?;
    let (r, w) = pipe()?;
    add(&ep, &r, IN, 0)?;
    w.write_all(b"x")?;
    check!(
        syscall!(libc::SYS_epoll_wait, ep.raw(), LOW_ADDR, 1, 0),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// Level-triggered (the default): the event is reported on every wait while data remains.
fn epoll_level_triggered_reports_again_while_data_remains() -> Outcome {
    let ep = epoll()?;
    let (r, w) = pipe()?;
    add(&ep, &r, IN, 7)?;
    w.write_all(b"xy")?;
    ensure_eq!(wait(&ep, 0)?, vec![(IN, 7)]);
    ensure_eq!(wait(&ep, 0)?, vec![(IN, 7)]);
    Ok(())
}

/// EPOLLET: reported once per change; data left unread does not report again.
fn epoll_edge_triggered_reports_once_until_new_data() -> Outcome {
    let ep = epoll()?;
    let (r, w) = pipe()?;
    add(&ep, &r, IN | libc::EPOLLET as u32, 7)?;
    w.write_all(b"xy")?;
    ensure_eq!(wait(&ep, 0)?, vec![(IN, 7)]);
    ensure_eq!(wait(&ep, 0)?, vec![]);
    Ok(())
}

/// A new write is a new edge.
fn epoll_edge_triggered_new_write_reports_again() -> Outcome {
    let ep = epoll()?;
    let (r, w) = pipe()?;
    add(&ep, &r, IN | libc::EPOLLET as u32, 7)?;
    w.write_all(b"x")?;
    ensure_eq!(wait(&ep, 0)?, vec![(IN, 7)]);
    w.write_all(b"y")?;
    ensure_eq!(wait(&ep, 0)?, vec![(IN, 7)]);
    Ok(())
}

/// EPOLLONESHOT: "after an event notification is pulled out with epoll_wait(2), the
/// associated file descriptor is internally disabled".
fn epoll_oneshot_disables_fd_after_first_event() -> Outcome {
    let ep = epoll()?;
    let (r, w) = pipe()?;
    add(&ep, &r, IN | libc::EPOLLONESHOT as u32, 3)?;
    w.write_all(b"x")?;
    ensure_eq!(wait(&ep, 0)?, vec![(IN, 3)]);
    w.write_all(b"y")?;
    ensure_eq!(wait(&ep, 0)?, vec![]);
    Ok(())
}

/// "The user must call epoll_ctl() with EPOLL_CTL_MOD to rearm the file descriptor".
fn epoll_oneshot_is_rearmed_by_ctl_mod() -> Outcome {
    let ep = epoll()?;
    let (r, w) = pipe()?;
    add(&ep, &r, IN | libc::EPOLLONESHOT as u32, 3)?;
    w.write_all(b"x")?;
    ensure_eq!(wait(&ep, 0)?, vec![(IN, 3)]);
    check!(
        ctl(
            &ep,
            libc::EPOLL_CTL_MOD,
            r.raw(),
            IN | libc::EPOLLONESHOT as u32,
            4
        ),
        succeeds_with(0)
    );
    ensure_eq!(wait(&ep, 0)?, vec![(IN, 4)]);
    Ok(())
}

/// EPOLL_CTL_MOD replaces the event mask and the data.
fn epoll_ctl_mod_changes_events_and_data() -> Outcome {
    let ep = epoll()?;
    let (_r, w) = pipe()?;
    add(&ep, &w, 0, 1)?;
    ensure_eq!(wait(&ep, 0)?, vec![]);
    check!(
        ctl(&ep, libc::EPOLL_CTL_MOD, w.raw(), OUT, 2),
        succeeds_with(0)
    );
    ensure_eq!(wait(&ep, 0)?, vec![(OUT, 2)]);
    Ok(())
}

fn epoll_ctl_del_stops_reports() -> Outcome {
    let ep = epoll()?;
    let (r, w) = pipe()?;
    add(&ep, &r, IN, 1)?;
    w.write_all(b"x")?;
    check!(
        ctl(&ep, libc::EPOLL_CTL_DEL, r.raw(), 0, 0),
        succeeds_with(0)
    );
    ensure_eq!(wait(&ep, 0)?, vec![]);
    Ok(())
}

/// EPOLLEXCLUSIVE is accepted with EPOLL_CTL_ADD.
fn epoll_exclusive_add_is_accepted_and_reports() -> Outcome {
    let ep = epoll()?;
    let (r, w) = pipe()?;
    add(&ep, &r, IN | libc::EPOLLEXCLUSIVE as u32, 5)?;
    w.write_all(b"x")?;
    ensure_eq!(wait(&ep, 0)?, vec![(IN, 5)]);
    Ok(())
}

/// epoll_ctl(2): EINVAL "op is EPOLL_CTL_MOD and events included EPOLLEXCLUSIVE".
fn epoll_ctl_mod_with_epollexclusive_fails_einval() -> Outcome {
    let ep = epoll()?;
    let (r, _w) = pipe()?;
    add(&ep, &r, IN, 5)?;
    check!(
        ctl(
            &ep,
            libc::EPOLL_CTL_MOD,
            r.raw(),
            IN | libc::EPOLLEXCLUSIVE as u32,
            5
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// epoll(7): closing the only descriptor for an open file removes it from every interest
/// list; the number can then be registered afresh.
fn epoll_closed_fd_is_removed_from_interest_list() -> Outcome {
    let ep = epoll()?;
    let (r, w) = pipe()?;
    let num = r.raw();
    add(&ep, &r, IN, 1)?;
    w.write_all(b"x")?;
    drop(r);
    ensure_eq!(wait(&ep, 0)?, vec![]);
    let (r2, w2) = pipe()?;
    ensure_eq!(r2.raw(), num);
    add(&ep, &r2, IN, 2)?;
    w2.write_all(b"y")?;
    ensure_eq!(wait(&ep, 0)?, vec![(IN, 2)]);
    Ok(())
}

/// EPOLLHUP is always reported, for a pipe whose writers are gone.
fn epoll_reports_epollhup_for_pipe_without_writers() -> Outcome {
    let ep = epoll()?;
    let (r, w) = pipe()?;
    add(&ep, &r, IN, 9)?;
    drop(w);
    ensure_eq!(wait(&ep, 0)?, vec![(libc::EPOLLHUP as u32, 9)]);
    Ok(())
}

fn epoll_reports_eventfd_readiness() -> Outcome {
    let ep = epoll()?;
    let fd = eventfd(0)?;
    add(&ep, &fd, IN, 1)?;
    ensure_eq!(wait(&ep, 0)?, vec![]);
    let v = 1u64;
    check!(
        syscall!(libc::SYS_write, fd.raw(), &raw const v, 8),
        succeeds_with(8)
    );
    ensure_eq!(wait(&ep, 0)?, vec![(IN, 1)]);
    Ok(())
}

fn epoll_wait_wakes_when_other_process_writes() -> Outcome {
    fork_and_check(|| {
        let ep = epoll()?;
        let (r, w) = pipe()?;
        add(&ep, &r, IN, 8)?;
        let _child = Child::spawn(move || {
            sleep_ms(20);
            i32::from(w.write_all(b"x").is_err())
        })?;
        let got = wait(&ep, 5000)?;
        // The writer may have exited by now, adding EPOLLHUP.
        ensure!(
            got.len() == 1 && got[0].0 & IN != 0 && got[0].1 == 8,
            "{got:?}"
        );
        Ok(())
    })
}

/// epoll_pwait(2) applies its sigmask during the wait, like ppoll.
fn epoll_pwait_sigmask_unblocks_pending_signal_and_fails_eintr() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGUSR1, 0, 0)?;
        block(libc::SIGUSR1)?;
        kill_self(libc::SIGUSR1)?;
        let ep = epoll()?;
        let mut evs = [ev(0, 0); 1];
        let empty = 0u64;
        check!(
            syscall!(
                libc::SYS_epoll_pwait,
                ep.raw(),
                evs.as_mut_ptr(),
                1,
                -1,
                &raw const empty,
                SIGSET_SIZE
            ),
            fails_with(Errno::EINTR)
        );
        ensure_eq!(signal_count(libc::SIGUSR1), 1);
        ensure_eq!(current_mask()?, sig_bit(libc::SIGUSR1));
        Ok(())
    })
}

/// epoll_wait is never restarted after a handler (epoll(7), signal(7)): EINTR.
fn epoll_wait_interrupted_by_handler_fails_eintr() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGALRM, libc::SA_RESTART as u64, 0)?;
        set_real_timer(Duration::from_millis(10), Duration::from_millis(10))?;
        let ep = epoll()?;
        let mut evs = [ev(0, 0); 1];
        check!(
            syscall!(libc::SYS_epoll_wait, ep.raw(), evs.as_mut_ptr(), 1, -1),
            fails_with(Errno::EINTR)
        );
        Ok(())
    })
}

fn epoll_pwait2_zero_timespec_returns_zero() -> Outcome {
    let ep = epoll()?;
    let mut evs = [ev(0, 0); 1];
    let t = ts(0);
    check!(
        syscall!(
            libc::SYS_epoll_pwait2,
            ep.raw(),
            evs.as_mut_ptr(),
            1,
            &raw const t,
            0usize,
            SIGSET_SIZE
        ),
        succeeds_with(0)
    );
    Ok(())
}

/// epoll_pwait2(2) takes a timespec: a 20 ms timeout waits at least 20 ms.
fn epoll_pwait2_20ms_timespec_waits_at_least_20ms() -> Outcome {
    fork_and_check(|| {
        let ep = epoll()?;
        let mut evs = [ev(0, 0); 1];
        let t = ts(20_000_000);
        let start = Instant::now();
        check!(
            syscall!(
                libc::SYS_epoll_pwait2,
                ep.raw(),
                evs.as_mut_ptr(),
                1,
                &raw const t,
                0usize,
                SIGSET_SIZE
            ),
            succeeds_with(0)
        );
        ensure!(
            start.elapsed() >= Duration::from_millis(20),
            "{:?}",
            start.elapsed()
        );
        Ok(())
    })
}

fn epoll_pwait2_timespec_nsec_one_billion_fails_einval() -> Outcome {
    let ep = epoll()?;
    let mut evs = [ev(0, 0); 1];
    let t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    };
    check!(
        syscall!(
            libc::SYS_epoll_pwait2,
            ep.raw(),
            evs.as_mut_ptr(),
            1,
            &raw const t,
            0usize,
            SIGSET_SIZE
        ),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn main() -> ExitCode {
    run_tests(tests![
        poll_empty_pipe_write_end_is_writable_read_end_is_not_readable,
        poll_pipe_with_data_reports_pollin,
        poll_read_end_after_writers_closed_reports_pollhup,
        poll_reports_pollhup_even_when_not_requested,
        poll_write_end_after_reader_closed_reports_pollerr,
        poll_closed_fd_reports_pollnval,
        poll_negative_fd_is_ignored_with_zero_revents,
        poll_eventfd_with_nonzero_counter_is_readable,
        poll_eventfd_at_maximum_is_not_writable,
        poll_20ms_timeout_waits_at_least_20ms,
        poll_nfds_above_rlimit_nofile_fails_einval,
        poll_bad_fds_pointer_fails_efault,
        poll_nfds_upper_bits_are_ignored,
        poll_wakes_when_other_process_writes,
        poll_interrupted_by_handler_fails_eintr_even_with_sa_restart,
        ppoll_zero_timeout_with_nothing_ready_returns_zero,
        ppoll_null_timeout_with_ready_fd_returns_it,
        ppoll_sigmask_unblocks_pending_signal_and_fails_eintr,
        ppoll_bad_sigsetsize_fails_einval,
        ppoll_timeout_nsec_one_billion_fails_einval,
        select_reports_readable_pipe,
        select_reports_writable_pipe,
        select_with_closed_fd_in_set_fails_ebadf,
        select_negative_nfds_fails_einval,
        select_negative_timeout_fails_einval,
        select_timeout_with_nothing_ready_returns_zero_and_clears_set,
        select_timeout_is_zeroed_after_full_wait,
        pselect6_zero_timeout_returns_zero,
        pselect6_reports_readable_eventfd,
        pselect6_sigmask_unblocks_pending_signal_and_fails_eintr,
        epoll_create1_unknown_flag_fails_einval,
        epoll_create_size_zero_fails_einval,
        epoll_create1_cloexec_sets_fd_cloexec,
        epoll_wait_returns_events_with_registered_data,
        epoll_ctl_add_twice_fails_eexist,
        epoll_ctl_mod_of_unregistered_fd_fails_enoent,
        epoll_ctl_del_of_unregistered_fd_fails_enoent,
        epoll_ctl_add_epoll_to_itself_fails_einval,
        epoll_ctl_circular_epoll_nesting_fails_eloop,
        epoll_ctl_add_regular_file_fails_eperm,
        epoll_ctl_unknown_op_fails_einval,
        epoll_ctl_op_and_fd_upper_bits_are_ignored,
        epoll_wait_maxevents_and_timeout_upper_bits_are_ignored,
        epoll_ctl_on_non_epoll_fd_fails_einval,
        epoll_ctl_add_closed_fd_fails_ebadf,
        epoll_ctl_bad_event_pointer_fails_efault,
        epoll_wait_maxevents_zero_fails_einval,
        epoll_wait_negative_maxevents_fails_einval,
        epoll_wait_zero_timeout_with_nothing_ready_returns_zero,
        epoll_wait_20ms_timeout_waits_at_least_20ms,
        epoll_wait_bad_events_pointer_fails_efault,
        epoll_level_triggered_reports_again_while_data_remains,
        epoll_edge_triggered_reports_once_until_new_data,
        epoll_edge_triggered_new_write_reports_again,
        epoll_oneshot_disables_fd_after_first_event,
        epoll_oneshot_is_rearmed_by_ctl_mod,
        epoll_ctl_mod_changes_events_and_data,
        epoll_ctl_del_stops_reports,
        epoll_exclusive_add_is_accepted_and_reports,
        epoll_ctl_mod_with_epollexclusive_fails_einval,
        epoll_closed_fd_is_removed_from_interest_list,
        epoll_reports_epollhup_for_pipe_without_writers,
        epoll_reports_eventfd_readiness,
        epoll_wait_wakes_when_other_process_writes,
        epoll_pwait_sigmask_unblocks_pending_signal_and_fails_eintr,
        epoll_wait_interrupted_by_handler_fails_eintr,
        epoll_pwait2_zero_timespec_returns_zero,
        epoll_pwait2_20ms_timespec_waits_at_least_20ms,
        epoll_pwait2_timespec_nsec_one_billion_fails_einval,
    ])
}
