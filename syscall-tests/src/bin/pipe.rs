//! Pipes and eventfds: pipe2 flags (O_CLOEXEC, O_NONBLOCK, O_DIRECT), capacity and
//! F_GETPIPE_SZ/F_SETPIPE_SZ, EOF and EPIPE/SIGPIPE, PIPE_BUF atomicity, EAGAIN, FIONREAD,
//! blocking between processes; eventfd2 counters, EFD_SEMAPHORE, overflow and size rules.
//!
//! Tests that block, raise SIGPIPE or fork run in a forked child ([`fork_and_check`]).
#![deny(unsafe_code)]

use std::process::ExitCode;

use syscall_tests::libc;
use syscall_tests::sys::{KernelSigaction, signal_count};
use syscall_tests::task::{
    Child, closed_fd, fork_and_check, ignore, install_recorder, pipe, pipe2, sigaction, sleep_ms,
};
use syscall_tests::{
    Errno, Fd, LOW_ADDR, Outcome, check, ensure_eq, fails_with, run_tests, succeeds, succeeds_with,
    syscall, tests, with_junk_upper_bits, zeroed,
};

const CAPACITY: usize = 65536;
const PIPE_BUF: usize = 4096;
/// The same sizes as return values.
const CAPACITY_RET: i64 = 65536;
const PIPE_BUF_RET: i64 = 4096;

fn getfd(fd: &Fd) -> i64 {
    syscall!(libc::SYS_fcntl, fd.raw(), libc::F_GETFD)
}

fn getfl(fd: &Fd) -> i64 {
    syscall!(libc::SYS_fcntl, fd.raw(), libc::F_GETFL)
}

fn write(fd: &Fd, data: &[u8]) -> i64 {
    syscall!(libc::SYS_write, fd.raw(), data.as_ptr(), data.len())
}

fn read(fd: &Fd, buf: &mut [u8]) -> i64 {
    syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), buf.len())
}

fn fionread(fd: &Fd) -> Result<i32, String> {
    let mut n = -1i32;
    check!(
        syscall!(libc::SYS_ioctl, fd.raw(), libc::FIONREAD, &raw mut n),
        succeeds_with(0)
    );
    Ok(n)
}

/// Fills a non-blocking pipe's write end until EAGAIN; returns the bytes written.
fn fill(w: &Fd) -> usize {
    let chunk = [b'f'; 4096];
    let mut total = 0usize;
    loop {
        let n = write(w, &chunk);
        if n <= 0 {
            return total;
        }
        total += usize::try_from(n).unwrap_or(0);
    }
}

// ---------------------------------------------------------------- pipe2 flags

fn pipe2_o_cloexec_sets_fd_cloexec_on_both_ends() -> Outcome {
    let (r, w) = pipe2(libc::O_CLOEXEC)?;
    ensure_eq!(getfd(&r), i64::from(libc::FD_CLOEXEC));
    ensure_eq!(getfd(&w), i64::from(libc::FD_CLOEXEC));
    Ok(())
}

fn pipe2_without_flags_leaves_fd_flags_clear() -> Outcome {
    let (r, w) = pipe2(0)?;
    ensure_eq!(getfd(&r), 0);
    ensure_eq!(getfd(&w), 0);
    Ok(())
}

/// pipe2(2) O_NONBLOCK: "Set the O_NONBLOCK file status flag on the open file descriptions".
fn pipe2_o_nonblock_sets_status_flag_on_both_ends() -> Outcome {
    let (r, w) = pipe2(libc::O_NONBLOCK | libc::O_CLOEXEC)?;
    ensure_eq!(
        getfl(&r) & i64::from(libc::O_NONBLOCK),
        i64::from(libc::O_NONBLOCK)
    );
    ensure_eq!(
        getfl(&w) & i64::from(libc::O_NONBLOCK),
        i64::from(libc::O_NONBLOCK)
    );
    ensure_eq!(
        getfl(&r) & i64::from(libc::O_ACCMODE),
        i64::from(libc::O_RDONLY)
    );
    ensure_eq!(
        getfl(&w) & i64::from(libc::O_ACCMODE),
        i64::from(libc::O_WRONLY)
    );
    Ok(())
}

/// pipe2(2) O_DIRECT: packet mode, "each write(2) to the pipe is dealt with as a separate
/// packet, and read(2)s from the pipe will read one packet at a time".
fn pipe2_o_direct_reads_one_packet_per_write() -> Outcome {
    let (r, w) = pipe2(libc::O_DIRECT | libc::O_CLOEXEC)?;
    check!(write(&w, b"ab"), succeeds_with(2));
    check!(write(&w, b"cde"), succeeds_with(3));
    let mut buf = [0u8; 100];
    check!(read(&r, &mut buf), succeeds_with(2));
    check!(read(&r, &mut buf), succeeds_with(3));
    Ok(())
}

fn pipe2_unknown_flag_fails_einval() -> Outcome {
    let mut fds = [0i32; 2];
    check!(
        syscall!(libc::SYS_pipe2, fds.as_mut_ptr(), 0x1),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn pipe2_bad_pointer_fails_efault() -> Outcome {
    check!(
        syscall!(libc::SYS_pipe2, LOW_ADDR, libc::O_CLOEXEC),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// The legacy pipe(2) syscall works like pipe2 with no flags.
fn pipe_syscall_returns_connected_pair() -> Outcome {
    let mut fds = [0i32; 2];
    check!(syscall!(libc::SYS_pipe, fds.as_mut_ptr()), succeeds_with(0));
    let r = Fd::from_ret(fds[0].into())?;
    let w = Fd::from_ret(fds[1].into())?;
    w.write_all(b"hi")?;
    ensure_eq!(r.read_up_to(8)?, b"hi".to_vec());
    ensure_eq!(getfd(&r), 0);
    Ok(())
}

fn pipe_ends_are_fifos_in_fstat() -> Outcome {
    let (r, _w) = pipe()?;
    let mut st: libc::stat = zeroed();
    check!(
        syscall!(libc::SYS_fstat, r.raw(), &raw mut st),
        succeeds_with(0)
    );
    ensure_eq!(st.st_mode & libc::S_IFMT, libc::S_IFIFO);
    Ok(())
}

fn lseek_on_pipe_fails_espipe() -> Outcome {
    let (r, _w) = pipe()?;
    check!(
        syscall!(libc::SYS_lseek, r.raw(), 0, libc::SEEK_SET),
        fails_with(Errno::ESPIPE)
    );
    Ok(())
}

fn read_from_write_end_fails_ebadf() -> Outcome {
    let (_r, w) = pipe()?;
    let mut buf = [0u8; 1];
    check!(read(&w, &mut buf), fails_with(Errno::EBADF));
    Ok(())
}

fn write_to_read_end_fails_ebadf() -> Outcome {
    let (r, _w) = pipe()?;
    check!(write(&r, b"x"), fails_with(Errno::EBADF));
    Ok(())
}

// ---------------------------------------------------------------- capacity

/// pipe(7): "Since Linux 2.6.11, the pipe capacity is 16 pages (i.e., 65,536 bytes)".
fn f_getpipe_sz_reports_default_capacity_65536() -> Outcome {
    let (r, w) = pipe()?;
    check!(
        syscall!(libc::SYS_fcntl, r.raw(), libc::F_GETPIPE_SZ),
        succeeds_with(CAPACITY_RET)
    );
    check!(
        syscall!(libc::SYS_fcntl, w.raw(), libc::F_GETPIPE_SZ),
        succeeds_with(CAPACITY_RET)
    );
    Ok(())
}

fn nonblocking_pipe_accepts_exactly_its_capacity_then_fails_eagain() -> Outcome {
    let (_r, w) = pipe2(libc::O_NONBLOCK | libc::O_CLOEXEC)?;
    ensure_eq!(fill(&w), CAPACITY);
    check!(write(&w, b"x"), fails_with(Errno::EAGAIN));
    Ok(())
}

/// fcntl(2) F_SETPIPE_SZ: the kernel "may use a capacity larger than arg" — rounded up to a
/// power-of-two number of pages, and returns the size actually used.
fn f_setpipe_sz_rounds_up_to_power_of_two_pages() -> Outcome {
    let (r, _w) = pipe()?;
    check!(
        syscall!(libc::SYS_fcntl, r.raw(), libc::F_SETPIPE_SZ, 5000),
        succeeds_with(8192)
    );
    check!(
        syscall!(libc::SYS_fcntl, r.raw(), libc::F_GETPIPE_SZ),
        succeeds_with(8192)
    );
    Ok(())
}

fn f_setpipe_sz_below_a_page_rounds_to_one_page() -> Outcome {
    let (r, _w) = pipe()?;
    check!(
        syscall!(libc::SYS_fcntl, r.raw(), libc::F_SETPIPE_SZ, 1),
        succeeds_with(4096)
    );
    Ok(())
}

/// fcntl(2): EBUSY when "the pipe capacity would be smaller than the amount of buffer space
/// currently used to store data in the pipe".
fn f_setpipe_sz_below_buffered_data_fails_ebusy() -> Outcome {
    let (_r, w) = pipe2(libc::O_NONBLOCK | libc::O_CLOEXEC)?;
    w.write_all(&[1u8; 3 * 4096])?;
    check!(
        syscall!(libc::SYS_fcntl, w.raw(), libc::F_SETPIPE_SZ, 4096),
        fails_with(Errno::EBUSY)
    );
    Ok(())
}

/// A pipe resized to one page holds exactly one page.
fn pipe_resized_to_one_page_holds_4096_bytes() -> Outcome {
    let (_r, w) = pipe2(libc::O_NONBLOCK | libc::O_CLOEXEC)?;
    check!(
        syscall!(libc::SYS_fcntl, w.raw(), libc::F_SETPIPE_SZ, 4096),
        succeeds_with(4096)
    );
    ensure_eq!(fill(&w), 4096);
    Ok(())
}

// ---------------------------------------------------------------- EOF, EPIPE, SIGPIPE

/// pipe(7): "If all file descriptors referring to the write end of a pipe have been closed,
/// then an attempt to read(2) from the pipe will see end-of-file".
fn read_after_all_writers_closed_returns_eof() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe()?;
        drop(w);
        let mut buf = [0u8; 4];
        check!(read(&r, &mut buf), succeeds_with(0));
        Ok(())
    })
}

fn read_after_writers_closed_drains_data_before_eof() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe()?;
        w.write_all(b"tail")?;
        drop(w);
        let mut buf = [0u8; 8];
        check!(read(&r, &mut buf), succeeds_with(4));
        check!(read(&r, &mut buf), succeeds_with(0));
        Ok(())
    })
}

/// pipe(7): "If all file descriptors referring to the read end of a pipe have been closed,
/// then a write(2) will cause a SIGPIPE signal to be generated for the calling process ...
/// the write(2) fails with the error EPIPE."
fn pipe_write_after_reader_closed_fails_epipe_and_raises_sigpipe() -> Outcome {
    fork_and_check(|| {
        install_recorder(libc::SIGPIPE, 0, 0)?;
        let (r, w) = pipe()?;
        drop(r);
        check!(write(&w, b"x"), fails_with(Errno::EPIPE));
        ensure_eq!(signal_count(libc::SIGPIPE), 1);
        Ok(())
    })
}

fn pipe_write_after_reader_closed_with_sigpipe_ignored_fails_epipe() -> Outcome {
    fork_and_check(|| {
        ignore(libc::SIGPIPE)?;
        let (r, w) = pipe()?;
        drop(r);
        check!(write(&w, b"x"), fails_with(Errno::EPIPE));
        Ok(())
    })
}

/// SIGPIPE's default action terminates the writer. (The Rust runtime starts with SIGPIPE
/// ignored, so the child restores SIG_DFL first.)
fn pipe_write_after_reader_closed_default_sigpipe_kills_writer() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe()?;
        drop(r);
        let mut child = Child::spawn(move || {
            let _ = sigaction(libc::SIGPIPE, &KernelSigaction::default());
            let _ = write(&w, b"x");
            0
        })?;
        ensure_eq!(child.wait()?.term_signal(), Some(libc::SIGPIPE));
        Ok(())
    })
}

// ---------------------------------------------------------------- reading and writing

fn nonblocking_read_of_empty_pipe_fails_eagain() -> Outcome {
    let (r, _w) = pipe2(libc::O_NONBLOCK | libc::O_CLOEXEC)?;
    let mut buf = [0u8; 1];
    check!(read(&r, &mut buf), fails_with(Errno::EAGAIN));
    Ok(())
}

/// A read returns what is available without waiting for the full count.
fn read_returns_available_bytes_short_of_request() -> Outcome {
    let (r, w) = pipe()?;
    w.write_all(b"abc")?;
    let mut buf = [0u8; 100];
    check!(read(&r, &mut buf), succeeds_with(3));
    ensure_eq!(&buf[..3], b"abc");
    Ok(())
}

/// Data written in several writes is read back in order, across read boundaries.
fn pipe_preserves_byte_order_across_writes() -> Outcome {
    let (r, w) = pipe()?;
    w.write_all(b"one")?;
    w.write_all(b"two")?;
    let mut buf = [0u8; 4];
    check!(read(&r, &mut buf), succeeds_with(4));
    ensure_eq!(&buf, b"onet");
    check!(read(&r, &mut buf), succeeds_with(2));
    ensure_eq!(&buf[..2], b"wo");
    Ok(())
}

fn fionread_reports_buffered_byte_count() -> Outcome {
    let (r, w) = pipe()?;
    ensure_eq!(fionread(&r)?, 0);
    w.write_all(b"12345")?;
    ensure_eq!(fionread(&r)?, 5);
    Ok(())
}

fn fionread_bad_pointer_fails_efault() -> Outcome {
    let (r, _w) = pipe()?;
    check!(
        syscall!(libc::SYS_ioctl, r.raw(), libc::FIONREAD, LOW_ADDR),
        fails_with(Errno::EFAULT)
    );
    Ok(())
}

/// pipe(7): "O_NONBLOCK enabled, n <= PIPE_BUF: If there is room to write n bytes to the
/// pipe, then write(2) succeeds immediately ... otherwise write(2) fails, with errno set to
/// EAGAIN" — no partial write for a small write.
fn nonblocking_pipe_buf_write_without_room_fails_eagain_not_partial() -> Outcome {
    let (r, w) = pipe2(libc::O_NONBLOCK | libc::O_CLOEXEC)?;
    check!(
        syscall!(libc::SYS_fcntl, w.raw(), libc::F_SETPIPE_SZ, 4096),
        succeeds_with(4096)
    );
    w.write_all(&[0u8; 4000])?;
    check!(write(&w, &[1u8; 200]), fails_with(Errno::EAGAIN));
    ensure_eq!(fionread(&r)?, 4000);
    Ok(())
}

/// pipe(7): writes of at most PIPE_BUF bytes are atomic: blocks written concurrently by two
/// processes never interleave.
fn pipe_buf_sized_writes_from_two_processes_do_not_interleave() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe()?;
        let writer = |byte: u8| {
            let w_raw = w.raw();
            move || {
                let block = [byte; PIPE_BUF];
                for _ in 0..32 {
                    let n = syscall!(libc::SYS_write, w_raw, block.as_ptr(), block.len());
                    if n != PIPE_BUF_RET {
                        return 1;
                    }
                }
                0
            }
        };
        let mut a = Child::spawn(writer(b'a'))?;
        let mut b = Child::spawn(writer(b'b'))?;
        drop(w);
        let mut all = Vec::new();
        loop {
            let chunk = r.read_up_to(65536)?;
            if chunk.is_empty() {
                break;
            }
            all.extend_from_slice(&chunk);
        }
        ensure_eq!(a.wait()?.exit_code(), Some(0));
        ensure_eq!(b.wait()?.exit_code(), Some(0));
        ensure_eq!(all.len(), 2 * 32 * PIPE_BUF);
        let mixed = all
            .chunks(PIPE_BUF)
            .filter(|c| c.iter().any(|x| *x != c[0]))
            .count();
        ensure_eq!(mixed, 0);
        Ok(())
    })
}

/// A blocking read waits until another process writes.
fn blocking_read_waits_for_writer_in_other_process() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe()?;
        let mut child = Child::spawn(move || {
            sleep_ms(20);
            i32::from(w.write_all(b"late").is_err())
        })?;
        ensure_eq!(r.read_up_to(16)?, b"late".to_vec());
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

/// A blocking write into a full pipe completes once a reader drains it.
fn blocking_write_to_full_pipe_completes_after_reader_drains() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe()?;
        let mut child = Child::spawn(move || {
            sleep_ms(20);
            let mut total = 0usize;
            while total < CAPACITY + 10 {
                match r.read_up_to(65536) {
                    Ok(v) if !v.is_empty() => total += v.len(),
                    _ => return 1,
                }
            }
            0
        })?;
        let big = vec![7u8; CAPACITY + 10];
        check!(write(&w, &big), succeeds_with(CAPACITY_RET + 10));
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

/// A read blocked on an empty pipe returns EOF when the last writer (another process) closes.
fn blocking_read_returns_eof_when_last_writer_exits() -> Outcome {
    fork_and_check(|| {
        let (r, w) = pipe()?;
        let mut child = Child::spawn(move || {
            sleep_ms(20);
            drop(w);
            0
        })?;
        // `w` moved into the closure, which the parent dropped: only the child holds it now.
        let mut buf = [0u8; 4];
        check!(read(&r, &mut buf), succeeds_with(0));
        child.wait()?;
        Ok(())
    })
}

fn read_of_closed_fd_fails_ebadf() -> Outcome {
    let fd = closed_fd()?;
    let mut buf = [0u8; 1];
    check!(
        syscall!(libc::SYS_read, fd, buf.as_mut_ptr(), 1),
        fails_with(Errno::EBADF)
    );
    Ok(())
}

// ---------------------------------------------------------------- eventfd

fn eventfd(init: u32, flags: i32) -> Result<Fd, String> {
    Fd::from_ret(check!(
        syscall!(libc::SYS_eventfd2, init, flags | libc::EFD_CLOEXEC),
        succeeds()
    ))
}

fn read_u64(fd: &Fd) -> i64 {
    let mut v = 0u64;
    let ret = syscall!(libc::SYS_read, fd.raw(), &raw mut v, 8);
    if ret == 8 {
        i64::try_from(v).unwrap_or(-2)
    } else {
        ret
    }
}

fn write_u64(fd: &Fd, v: u64) -> i64 {
    syscall!(libc::SYS_write, fd.raw(), &raw const v, 8)
}

/// eventfd(2): a read "returns the 8-byte integer" counter and "the counter's value is reset
/// to zero".
fn eventfd_read_returns_counter_and_resets_it() -> Outcome {
    let fd = eventfd(5, libc::EFD_NONBLOCK)?;
    ensure_eq!(read_u64(&fd), 5);
    check!(read_u64(&fd), fails_with(Errno::EAGAIN));
    Ok(())
}

fn eventfd_writes_add_to_counter() -> Outcome {
    let fd = eventfd(1, 0)?;
    check!(write_u64(&fd, 2), succeeds_with(8));
    check!(write_u64(&fd, 40), succeeds_with(8));
    ensure_eq!(read_u64(&fd), 43);
    Ok(())
}

/// EFD_SEMAPHORE: each read returns 1 and decrements the counter by one.
fn eventfd_semaphore_read_returns_one_and_decrements() -> Outcome {
    let fd = eventfd(2, libc::EFD_SEMAPHORE | libc::EFD_NONBLOCK)?;
    ensure_eq!(read_u64(&fd), 1);
    ensure_eq!(read_u64(&fd), 1);
    check!(read_u64(&fd), fails_with(Errno::EAGAIN));
    Ok(())
}

fn eventfd_nonblock_read_at_zero_fails_eagain() -> Outcome {
    let fd = eventfd(0, libc::EFD_NONBLOCK)?;
    check!(read_u64(&fd), fails_with(Errno::EAGAIN));
    Ok(())
}

/// eventfd(2): "If the addition would cause the counter's value to exceed the maximum
/// (0xfffffffffffffffe), then the write(2) either blocks until a read(2) is performed ... or
/// fails with the error EAGAIN if the file descriptor has been made nonblocking."
fn eventfd_write_overflowing_counter_nonblock_fails_eagain() -> Outcome {
    let fd = eventfd(1, libc::EFD_NONBLOCK)?;
    check!(
        write_u64(&fd, 0xffff_ffff_ffff_fffe),
        fails_with(Errno::EAGAIN)
    );
    ensure_eq!(read_u64(&fd), 1);
    Ok(())
}

/// The counter can reach exactly 0xfffffffffffffffe.
fn eventfd_counter_can_reach_maximum() -> Outcome {
    let fd = eventfd(0, libc::EFD_NONBLOCK)?;
    check!(write_u64(&fd, 0xffff_ffff_ffff_fffe), succeeds_with(8));
    let mut v = 0u64;
    check!(
        syscall!(libc::SYS_read, fd.raw(), &raw mut v, 8),
        succeeds_with(8)
    );
    ensure_eq!(v, 0xffff_ffff_ffff_fffe);
    Ok(())
}

/// eventfd(2): "An attempt to write the value 0xffffffffffffffff" fails with EINVAL.
fn eventfd_write_of_all_ones_fails_einval() -> Outcome {
    let fd = eventfd(0, libc::EFD_NONBLOCK)?;
    check!(write_u64(&fd, u64::MAX), fails_with(Errno::EINVAL));
    Ok(())
}

/// eventfd(2): read "fails with the error EINVAL if the size of the supplied buffer is less
/// than 8 bytes".
fn eventfd_read_of_4_bytes_fails_einval() -> Outcome {
    let fd = eventfd(3, libc::EFD_NONBLOCK)?;
    let mut buf = [0u8; 4];
    check!(
        syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), 4),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn eventfd_write_of_4_bytes_fails_einval() -> Outcome {
    let fd = eventfd(0, libc::EFD_NONBLOCK)?;
    let buf = [1u8; 4];
    check!(
        syscall!(libc::SYS_write, fd.raw(), buf.as_ptr(), 4),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// A larger read buffer is fine: exactly 8 bytes are returned.
fn eventfd_read_with_16_byte_buffer_returns_8() -> Outcome {
    let fd = eventfd(9, libc::EFD_NONBLOCK)?;
    let mut buf = [0u8; 16];
    check!(
        syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), 16),
        succeeds_with(8)
    );
    ensure_eq!(
        u64::from_ne_bytes(buf[..8].try_into().unwrap_or_default()),
        9
    );
    Ok(())
}

fn eventfd2_unknown_flag_fails_einval() -> Outcome {
    check!(
        syscall!(libc::SYS_eventfd2, 0, 0x2),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

/// initval is an `unsigned int`: junk in the upper half of the register is ignored.
fn eventfd2_initval_upper_bits_are_ignored() -> Outcome {
    let fd = Fd::from_ret(check!(
        syscall!(
            libc::SYS_eventfd2,
            with_junk_upper_bits(7),
            libc::EFD_CLOEXEC | libc::EFD_NONBLOCK
        ),
        succeeds()
    ))?;
    ensure_eq!(read_u64(&fd), 7);
    Ok(())
}

fn eventfd2_efd_cloexec_sets_fd_cloexec() -> Outcome {
    let fd = eventfd(0, 0)?;
    ensure_eq!(getfd(&fd), i64::from(libc::FD_CLOEXEC));
    Ok(())
}

/// A blocking read on a zero counter waits for a write from another process.
fn eventfd_blocking_read_waits_for_write_from_other_process() -> Outcome {
    fork_and_check(|| {
        let fd = eventfd(0, 0)?;
        let raw = fd.raw();
        let mut child = Child::spawn(move || {
            sleep_ms(20);
            let v = 11u64;
            i32::from(syscall!(libc::SYS_write, raw, &raw const v, 8) != 8)
        })?;
        ensure_eq!(read_u64(&fd), 11);
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

/// A blocking write that would overflow waits until a read makes room.
fn eventfd_blocking_write_at_maximum_waits_for_read() -> Outcome {
    fork_and_check(|| {
        let fd = eventfd(0, 0)?;
        check!(write_u64(&fd, 0xffff_ffff_ffff_fffe), succeeds_with(8));
        let raw = fd.raw();
        let mut child = Child::spawn(move || {
            sleep_ms(20);
            let mut v = 0u64;
            i32::from(syscall!(libc::SYS_read, raw, &raw mut v, 8) != 8)
        })?;
        check!(write_u64(&fd, 5), succeeds_with(8));
        ensure_eq!(child.wait()?.exit_code(), Some(0));
        ensure_eq!(read_u64(&fd), 5);
        Ok(())
    })
}

fn main() -> ExitCode {
    run_tests(tests![
        pipe2_o_cloexec_sets_fd_cloexec_on_both_ends,
        pipe2_without_flags_leaves_fd_flags_clear,
        pipe2_o_nonblock_sets_status_flag_on_both_ends,
        pipe2_o_direct_reads_one_packet_per_write,
        pipe2_unknown_flag_fails_einval,
        pipe2_bad_pointer_fails_efault,
        pipe_syscall_returns_connected_pair,
        pipe_ends_are_fifos_in_fstat,
        lseek_on_pipe_fails_espipe,
        read_from_write_end_fails_ebadf,
        write_to_read_end_fails_ebadf,
        f_getpipe_sz_reports_default_capacity_65536,
        nonblocking_pipe_accepts_exactly_its_capacity_then_fails_eagain,
        f_setpipe_sz_rounds_up_to_power_of_two_pages,
        f_setpipe_sz_below_a_page_rounds_to_one_page,
        f_setpipe_sz_below_buffered_data_fails_ebusy,
        pipe_resized_to_one_page_holds_4096_bytes,
        read_after_all_writers_closed_returns_eof,
        read_after_writers_closed_drains_data_before_eof,
        pipe_write_after_reader_closed_fails_epipe_and_raises_sigpipe,
        pipe_write_after_reader_closed_with_sigpipe_ignored_fails_epipe,
        pipe_write_after_reader_closed_default_sigpipe_kills_writer,
        nonblocking_read_of_empty_pipe_fails_eagain,
        read_returns_available_bytes_short_of_request,
        pipe_preserves_byte_order_across_writes,
        fionread_reports_buffered_byte_count,
        fionread_bad_pointer_fails_efault,
        nonblocking_pipe_buf_write_without_room_fails_eagain_not_partial,
        pipe_buf_sized_writes_from_two_processes_do_not_interleave,
        blocking_read_waits_for_writer_in_other_process,
        blocking_write_to_full_pipe_completes_after_reader_drains,
        blocking_read_returns_eof_when_last_writer_exits,
        read_of_closed_fd_fails_ebadf,
        eventfd_read_returns_counter_and_resets_it,
        eventfd_writes_add_to_counter,
        eventfd_semaphore_read_returns_one_and_decrements,
        eventfd_nonblock_read_at_zero_fails_eagain,
        eventfd_write_overflowing_counter_nonblock_fails_eagain,
        eventfd_counter_can_reach_maximum,
        eventfd_write_of_all_ones_fails_einval,
        eventfd_read_of_4_bytes_fails_einval,
        eventfd_write_of_4_bytes_fails_einval,
        eventfd_read_with_16_byte_buffer_returns_8,
        eventfd2_unknown_flag_fails_einval,
        eventfd2_initval_upper_bits_are_ignored,
        eventfd2_efd_cloexec_sets_fd_cloexec,
        eventfd_blocking_read_waits_for_write_from_other_process,
        eventfd_blocking_write_at_maximum_waits_for_read,
    ])
}
