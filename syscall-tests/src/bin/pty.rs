//! Pseudo-terminals: /dev/ptmx and devpts (TIOCGPTN, TIOCSPTLCK, TIOCGPTPEER, the slave
//! nodes, ttyname), the line discipline (canonical editing, echo, output processing, raw mode
//! with VMIN, ISIG), window sizes, readiness, hangup, and controlling terminals with job
//! control (TIOCSCTTY, TIOCSPGRP/TIOCGPGRP/TIOCGSID, /dev/tty, SIGTTIN/SIGTTOU).
//!
//! Linux moves pty input through a work queue, so a byte written to one side is not always
//! readable on the other at once: reads here wait with poll(2) (bounded) before reading, and
//! "nothing arrived" checks wait a short while. Tests that change the session or process
//! group run in a forked child (`fork_and_check`).
#![deny(unsafe_code)]

use std::ffi::CString;
use std::time::Duration;

use abi::ioctl::{self as io, Termios, Winsize, cc, iflag, lflag, oflag};
use syscall_tests::libc;
use syscall_tests::sys::signal_count;
use syscall_tests::task::{
    Child, block, eventually, fork_and_check, getpid, ignore, install_recorder, pipe, wait4,
};
use syscall_tests::{
    Errno, Fd, Outcome, check, cstring, ensure, ensure_eq, fails_with, run_tests, succeeds,
    succeeds_with, syscall, tests,
};

const MS: Duration = Duration::from_millis(1);

/// One pty pair: master, slave (both O_NOCTTY unless asked), index.
struct Pair {
    m: Fd,
    s: Fd,
    n: i32,
}

fn open_master(flags: i32) -> Result<(Fd, i32), String> {
    let m = Fd::open(c"/dev/ptmx", libc::O_RDWR | flags, 0)?;
    let zero: i32 = 0;
    check!(
        syscall!(libc::SYS_ioctl, m.raw(), io::TIOCSPTLCK, &raw const zero),
        succeeds_with(0)
    );
    let mut n: i32 = -1;
    check!(
        syscall!(libc::SYS_ioctl, m.raw(), io::TIOCGPTN, &raw mut n),
        succeeds_with(0)
    );
    Ok((m, n))
}

fn pts(n: i32) -> CString {
    cstring(&format!("/dev/pts/{n}"))
}

fn pair_with(slave_flags: i32) -> Result<Pair, String> {
    let (m, n) = open_master(libc::O_NOCTTY)?;
    let s = Fd::open(&pts(n), libc::O_RDWR | slave_flags, 0)?;
    Ok(Pair { m, s, n })
}

fn pair() -> Result<Pair, String> {
    pair_with(libc::O_NOCTTY)
}

fn tcgets(fd: &Fd) -> Result<Termios, String> {
    let mut t = Termios::default();
    check!(
        syscall!(libc::SYS_ioctl, fd.raw(), io::TCGETS, &raw mut t),
        succeeds_with(0)
    );
    Ok(t)
}

fn tcsets(fd: &Fd, t: &Termios) -> Outcome {
    check!(
        syscall!(libc::SYS_ioctl, fd.raw(), io::TCSETS, std::ptr::from_ref(t)),
        succeeds_with(0)
    );
    Ok(())
}

/// Changes the slave's termios with `f`.
fn modify(fd: &Fd, f: impl FnOnce(&mut Termios)) -> Outcome {
    let mut t = tcgets(fd)?;
    f(&mut t);
    tcsets(fd, &t)
}

fn raw_mode(t: &mut Termios) {
    t.lflag &= !(lflag::ICANON | lflag::ECHO | lflag::ISIG | lflag::IEXTEN);
    t.iflag &= !(iflag::ICRNL | iflag::IXON);
    t.oflag &= !oflag::OPOST;
    t.cc[cc::VMIN] = 1;
    t.cc[cc::VTIME] = 0;
}

fn poll1(fd: &Fd, events: i16, ms: i32) -> Result<i16, String> {
    let mut p = libc::pollfd {
        fd: fd.raw(),
        events,
        revents: 0,
    };
    check!(syscall!(libc::SYS_poll, &raw mut p, 1u64, ms), succeeds());
    Ok(p.revents)
}

fn readable(fd: &Fd, ms: i32) -> Result<bool, String> {
    Ok(poll1(fd, libc::POLLIN, ms)? & libc::POLLIN != 0)
}

fn write(fd: &Fd, data: &[u8]) -> Outcome {
    check!(
        syscall!(libc::SYS_write, fd.raw(), data.as_ptr(), data.len()),
        succeeds_with(i64::try_from(data.len()).unwrap_or(-1))
    );
    Ok(())
}

/// One read after waiting (up to 2 s) for the fd to be readable.
fn read_once(fd: &Fd, max: usize) -> Result<Vec<u8>, String> {
    readable(fd, 2000)?;
    let mut buf = vec![0u8; max];
    let n = check!(
        syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), max),
        succeeds()
    );
    buf.truncate(usize::try_from(n).unwrap_or(0));
    Ok(buf)
}

/// Reads until `want` bytes arrived (or 2 s passed with nothing new).
fn read_n(fd: &Fd, want: usize) -> Result<Vec<u8>, String> {
    let mut got = Vec::new();
    while got.len() < want {
        if !readable(fd, 2000)? {
            break;
        }
        let mut buf = vec![0u8; want - got.len()];
        let n = check!(
            syscall!(libc::SYS_read, fd.raw(), buf.as_mut_ptr(), buf.len()),
            succeeds()
        );
        if n == 0 {
            break;
        }
        buf.truncate(usize::try_from(n).unwrap_or(0));
        got.extend(buf);
    }
    Ok(got)
}

/// The master's output: exactly `expect`, and nothing after it for a moment.
fn master_says(p: &Pair, expect: &[u8]) -> Outcome {
    let got = read_n(&p.m, expect.len())?;
    ensure_eq!(got.as_slice(), expect);
    ensure!(!readable(&p.m, 30)?, "more output than expected");
    Ok(())
}

fn fionread(fd: &Fd) -> Result<i32, String> {
    let mut n: i32 = -1;
    check!(
        syscall!(libc::SYS_ioctl, fd.raw(), io::FIONREAD, &raw mut n),
        succeeds_with(0)
    );
    Ok(n)
}

fn stat_path(p: &CString) -> Result<libc::stat, String> {
    let mut st = syscall_tests::zeroed::<libc::stat>();
    check!(
        syscall!(libc::SYS_stat, p.as_c_str(), &raw mut st),
        succeeds_with(0)
    );
    Ok(st)
}

fn fstat(fd: &Fd) -> Result<libc::stat, String> {
    let mut st = syscall_tests::zeroed::<libc::stat>();
    check!(
        syscall!(libc::SYS_fstat, fd.raw(), &raw mut st),
        succeeds_with(0)
    );
    Ok(st)
}

fn setsid() -> Outcome {
    check!(syscall!(libc::SYS_setsid), succeeds());
    Ok(())
}

/// In a fresh session, a pair whose slave is the controlling terminal. SIGHUP is ignored:
/// closing the master at the end of the test hangs the terminal up, which sends it to us.
fn ctty_pair() -> Result<Pair, String> {
    setsid()?;
    ignore(libc::SIGHUP)?;
    pair_with(0)
}

fn tiocgpgrp(fd: &Fd) -> Result<i64, String> {
    let mut pg: i32 = -1;
    let r = syscall!(libc::SYS_ioctl, fd.raw(), io::TIOCGPGRP, &raw mut pg);
    if r == -1 {
        return Ok(-i64::from(syscall_tests::last_errno()));
    }
    Ok(i64::from(pg))
}

fn set_winsize(fd: &Fd, row: u16, col: u16) -> Outcome {
    let ws = Winsize {
        row,
        col,
        xpixel: 0,
        ypixel: 0,
    };
    check!(
        syscall!(libc::SYS_ioctl, fd.raw(), io::TIOCSWINSZ, &raw const ws),
        succeeds_with(0)
    );
    Ok(())
}

// ------------------------------------------------------------------ ptmx and devpts

fn ptmx_open_allocates_an_index() -> Outcome {
    let (_m, n) = open_master(libc::O_NOCTTY)?;
    ensure!(n >= 0, "TIOCGPTN gave {n}");
    Ok(())
}

fn two_masters_get_different_indexes() -> Outcome {
    let (_a, x) = open_master(libc::O_NOCTTY)?;
    let (_b, y) = open_master(libc::O_NOCTTY)?;
    ensure!(x != y, "both got {x}");
    Ok(())
}

fn slave_open_fails_with_eio_while_locked() -> Outcome {
    let m = Fd::open(c"/dev/ptmx", libc::O_RDWR | libc::O_NOCTTY, 0)?;
    let mut n: i32 = -1;
    check!(
        syscall!(libc::SYS_ioctl, m.raw(), io::TIOCGPTN, &raw mut n),
        succeeds_with(0)
    );
    check!(
        syscall!(
            libc::SYS_open,
            pts(n).as_c_str(),
            libc::O_RDWR | libc::O_NOCTTY
        ),
        fails_with(Errno::EIO)
    );
    Ok(())
}

fn slave_node_is_char_device_136_n() -> Outcome {
    let p = pair()?;
    let st = stat_path(&pts(p.n))?;
    ensure_eq!(st.st_mode & libc::S_IFMT, libc::S_IFCHR);
    ensure_eq!(libc::major(st.st_rdev), 136);
    ensure_eq!(i64::from(libc::minor(st.st_rdev)), i64::from(p.n));
    Ok(())
}

/// 0620 under a devpts mounted as containers mount it (mode=620,gid=5), 0600 with devpts's
/// default mode.
fn slave_node_mode_0620_owned_by_opener() -> Outcome {
    let p = pair()?;
    let st = stat_path(&pts(p.n))?;
    let mode = st.st_mode & 0o777;
    ensure!(mode == 0o620 || mode == 0o600, "mode {mode:o}");
    ensure_eq!(i64::from(st.st_uid), syscall!(libc::SYS_geteuid));
    Ok(())
}

fn fstat_of_slave_matches_its_node() -> Outcome {
    let p = pair()?;
    let a = stat_path(&pts(p.n))?;
    let b = fstat(&p.s)?;
    ensure_eq!(a.st_ino, b.st_ino);
    ensure_eq!(a.st_dev, b.st_dev);
    ensure_eq!(a.st_rdev, b.st_rdev);
    Ok(())
}

fn ttyname_link_names_the_slave() -> Outcome {
    let p = pair()?;
    let link = cstring(&format!("/proc/self/fd/{}", p.s.raw()));
    let mut buf = [0u8; 64];
    let n = check!(
        syscall!(
            libc::SYS_readlink,
            link.as_c_str(),
            buf.as_mut_ptr(),
            buf.len()
        ),
        succeeds()
    );
    let got = buf
        .get(..usize::try_from(n).unwrap_or(0))
        .unwrap_or_default();
    ensure_eq!(
        String::from_utf8_lossy(got).into_owned(),
        format!("/dev/pts/{}", p.n)
    );
    Ok(())
}

fn dev_pts_ptmx_opens_a_master() -> Outcome {
    let m = Fd::open(c"/dev/pts/ptmx", libc::O_RDWR | libc::O_NOCTTY, 0)?;
    let mut n: i32 = -1;
    check!(
        syscall!(libc::SYS_ioctl, m.raw(), io::TIOCGPTN, &raw mut n),
        succeeds_with(0)
    );
    Ok(())
}

fn readdir_of_dev_pts_lists_the_pair() -> Outcome {
    let p = pair()?;
    let names: Vec<String> = std::fs::read_dir("/dev/pts")
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ensure!(names.contains(&p.n.to_string()), "{names:?}");
    ensure!(names.contains(&"ptmx".to_owned()), "{names:?}");
    Ok(())
}

fn statfs_of_dev_pts_is_devpts() -> Outcome {
    let mut sf = syscall_tests::zeroed::<libc::statfs>();
    check!(
        syscall!(libc::SYS_statfs, c"/dev/pts", &raw mut sf),
        succeeds_with(0)
    );
    ensure_eq!(sf.f_type, 0x1cd1);
    Ok(())
}

fn slave_node_goes_away_when_the_pair_closes() -> Outcome {
    let p = pair()?;
    let path = pts(p.n);
    drop(p);
    let mut st = syscall_tests::zeroed::<libc::stat>();
    ensure!(
        eventually(Duration::from_secs(2), || syscall!(
            libc::SYS_stat,
            path.as_c_str(),
            &raw mut st
        ) == -1),
        "node still there"
    );
    Ok(())
}

fn tiocgptpeer_opens_the_slave() -> Outcome {
    let (m, n) = open_master(libc::O_NOCTTY)?;
    let fd = check!(
        syscall!(
            libc::SYS_ioctl,
            m.raw(),
            io::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY
        ),
        succeeds()
    );
    let s = Fd::from_ret(fd)?;
    let st = fstat(&s)?;
    ensure_eq!(i64::from(libc::minor(st.st_rdev)), i64::from(n));
    write(&m, b"x\n")?;
    ensure_eq!(read_once(&s, 10)?, b"x\n".to_vec());
    Ok(())
}

fn tiocgptlck_reports_the_lock() -> Outcome {
    let m = Fd::open(c"/dev/ptmx", libc::O_RDWR | libc::O_NOCTTY, 0)?;
    let mut l: i32 = -1;
    check!(
        syscall!(libc::SYS_ioctl, m.raw(), io::TIOCGPTLCK, &raw mut l),
        succeeds_with(0)
    );
    ensure_eq!(l, 1);
    let zero: i32 = 0;
    check!(
        syscall!(libc::SYS_ioctl, m.raw(), io::TIOCSPTLCK, &raw const zero),
        succeeds_with(0)
    );
    check!(
        syscall!(libc::SYS_ioctl, m.raw(), io::TIOCGPTLCK, &raw mut l),
        succeeds_with(0)
    );
    ensure_eq!(l, 0);
    Ok(())
}

/// TIOCGPTPEER without O_NOCTTY, by a session leader without a terminal, acquires it (the
/// peer open is an ordinary tty open).
fn tiocgptpeer_without_noctty_acquires_the_ctty() -> Outcome {
    fork_and_check(|| {
        setsid()?;
        ignore(libc::SIGHUP)?;
        let (m, _) = open_master(libc::O_NOCTTY)?;
        let s = Fd::from_ret(check!(
            syscall!(libc::SYS_ioctl, m.raw(), io::TIOCGPTPEER, libc::O_RDWR),
            succeeds()
        ))?;
        ensure_eq!(tiocgpgrp(&s)?, i64::from(getpid()));
        Ok(())
    })
}

fn tiocgptn_on_slave_is_enotty() -> Outcome {
    let p = pair()?;
    let mut n: i32 = 0;
    check!(
        syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCGPTN, &raw mut n),
        fails_with(Errno::ENOTTY)
    );
    Ok(())
}

fn tcgets_on_a_pipe_is_enotty() -> Outcome {
    let (r, _w) = pipe()?;
    let mut t = Termios::default();
    check!(
        syscall!(libc::SYS_ioctl, r.raw(), io::TCGETS, &raw mut t),
        fails_with(Errno::ENOTTY)
    );
    Ok(())
}

// ------------------------------------------------------------------ termios

fn new_slave_has_the_standard_termios() -> Outcome {
    let p = pair()?;
    let t = tcgets(&p.s)?;
    let l = lflag::ICANON | lflag::ECHO | lflag::ISIG | lflag::ECHOE | lflag::ECHOK;
    ensure_eq!(t.lflag & l, l);
    ensure_eq!(
        t.oflag & (oflag::OPOST | oflag::ONLCR),
        oflag::OPOST | oflag::ONLCR
    );
    ensure_eq!(t.iflag & iflag::ICRNL, iflag::ICRNL);
    ensure_eq!(t.cc[cc::VINTR], 3);
    ensure_eq!(t.cc[cc::VEOF], 4);
    ensure_eq!(t.cc[cc::VERASE], 0x7f);
    ensure_eq!(t.cc[cc::VKILL], 0x15);
    ensure_eq!(t.cc[cc::VMIN], 1);
    Ok(())
}

fn master_tcgets_shows_the_slave_termios() -> Outcome {
    let p = pair()?;
    modify(&p.s, |t| t.lflag &= !lflag::ECHO)?;
    let t = tcgets(&p.m)?;
    ensure_eq!(t.lflag & lflag::ECHO, 0);
    Ok(())
}

fn termios2_requests_mirror_termios() -> Outcome {
    let p = pair()?;
    let mut t2 = io::Termios2::default();
    check!(
        syscall!(libc::SYS_ioctl, p.s.raw(), io::TCGETS2, &raw mut t2),
        succeeds_with(0)
    );
    ensure_eq!(t2.termios, tcgets(&p.s)?);
    t2.termios.lflag &= !lflag::ECHO;
    check!(
        syscall!(libc::SYS_ioctl, p.s.raw(), io::TCSETS2, &raw const t2),
        succeeds_with(0)
    );
    ensure_eq!(tcgets(&p.s)?.lflag & lflag::ECHO, 0);
    Ok(())
}

fn tiocgetd_is_n_tty() -> Outcome {
    let p = pair()?;
    let mut d: i32 = -1;
    check!(
        syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCGETD, &raw mut d),
        succeeds_with(0)
    );
    ensure_eq!(d, 0);
    Ok(())
}

/// As root (CAP_SYS_ADMIN) TIOCSTI may fake input on any terminal (with the default
/// dev.tty.legacy_tiocsti=1).
fn tiocsti_fakes_input_as_root() -> Outcome {
    let p = pair()?;
    for c in b"q\n" {
        check!(
            syscall!(
                libc::SYS_ioctl,
                p.s.raw(),
                io::TIOCSTI,
                std::ptr::from_ref(c)
            ),
            succeeds_with(0)
        );
    }
    ensure_eq!(read_once(&p.s, 10)?, b"q\n".to_vec());
    Ok(())
}

// ------------------------------------------------------------------ canonical mode

fn canonical_read_waits_for_a_newline() -> Outcome {
    let p = pair()?;
    write(&p.m, b"abc")?;
    ensure!(!readable(&p.s, 100)?, "readable before the newline");
    write(&p.m, b"\n")?;
    ensure_eq!(read_once(&p.s, 100)?, b"abc\n".to_vec());
    Ok(())
}

fn canonical_read_returns_one_line() -> Outcome {
    let p = pair()?;
    write(&p.m, b"a\nb\n")?;
    ensure_eq!(read_once(&p.s, 100)?, b"a\n".to_vec());
    ensure_eq!(read_once(&p.s, 100)?, b"b\n".to_vec());
    Ok(())
}

fn canonical_erase_removes_a_character() -> Outcome {
    let p = pair()?;
    write(&p.m, b"abx\x7fc\n")?;
    ensure_eq!(read_once(&p.s, 100)?, b"abc\n".to_vec());
    Ok(())
}

fn canonical_kill_removes_the_line() -> Outcome {
    let p = pair()?;
    write(&p.m, b"junk\x15ok\n")?;
    ensure_eq!(read_once(&p.s, 100)?, b"ok\n".to_vec());
    Ok(())
}

fn canonical_werase_removes_a_word() -> Outcome {
    let p = pair()?;
    write(&p.m, b"one two\x17three\n")?;
    ensure_eq!(read_once(&p.s, 100)?, b"one three\n".to_vec());
    Ok(())
}

fn veof_ends_a_partial_line_without_itself() -> Outcome {
    let p = pair()?;
    write(&p.m, b"ab\x04")?;
    ensure_eq!(read_once(&p.s, 100)?, b"ab".to_vec());
    Ok(())
}

fn veof_on_an_empty_line_reads_zero() -> Outcome {
    let p = pair()?;
    write(&p.m, b"\x04")?;
    ensure!(readable(&p.s, 2000)?, "not readable");
    ensure_eq!(read_once(&p.s, 100)?, Vec::<u8>::new());
    Ok(())
}

fn veol_ends_a_line() -> Outcome {
    let p = pair()?;
    modify(&p.s, |t| t.cc[cc::VEOL] = b'!')?;
    write(&p.m, b"hey!")?;
    ensure_eq!(read_once(&p.s, 100)?, b"hey!".to_vec());
    Ok(())
}

fn vlnext_quotes_a_signal_character() -> Outcome {
    let p = pair()?;
    write(&p.m, b"\x16\x03\n")?;
    ensure_eq!(read_once(&p.s, 100)?, b"\x03\n".to_vec());
    Ok(())
}

fn short_read_leaves_the_rest_of_the_line() -> Outcome {
    let p = pair()?;
    write(&p.m, b"abcdef\n")?;
    ensure_eq!(read_once(&p.s, 2)?, b"ab".to_vec());
    ensure_eq!(read_once(&p.s, 100)?, b"cdef\n".to_vec());
    Ok(())
}

fn fionread_counts_complete_lines_only() -> Outcome {
    let p = pair()?;
    write(&p.m, b"ab")?;
    std::thread::sleep(50 * MS);
    ensure_eq!(fionread(&p.s)?, 0);
    write(&p.m, b"\n")?;
    ensure!(readable(&p.s, 2000)?, "no line");
    ensure_eq!(fionread(&p.s)?, 3);
    Ok(())
}

fn icrnl_turns_cr_into_nl() -> Outcome {
    let p = pair()?;
    write(&p.m, b"x\r")?;
    ensure_eq!(read_once(&p.s, 100)?, b"x\n".to_vec());
    Ok(())
}

fn igncr_drops_cr() -> Outcome {
    let p = pair()?;
    modify(&p.s, |t| t.iflag |= iflag::IGNCR)?;
    write(&p.m, b"a\rb\n")?;
    ensure_eq!(read_once(&p.s, 100)?, b"ab\n".to_vec());
    Ok(())
}

fn inlcr_turns_nl_into_cr() -> Outcome {
    let p = pair()?;
    modify(&p.s, |t| {
        raw_mode(t);
        t.iflag |= iflag::INLCR;
    })?;
    write(&p.m, b"\n")?;
    ensure_eq!(read_once(&p.s, 100)?, b"\r".to_vec());
    Ok(())
}

// ------------------------------------------------------------------ echo

fn echo_shows_input_on_the_master() -> Outcome {
    let p = pair()?;
    write(&p.m, b"hi\n")?;
    master_says(&p, b"hi\r\n")
}

fn no_echo_without_echo() -> Outcome {
    let p = pair()?;
    modify(&p.s, |t| t.lflag &= !lflag::ECHO)?;
    write(&p.m, b"hi\n")?;
    ensure_eq!(read_once(&p.s, 100)?, b"hi\n".to_vec());
    ensure!(!readable(&p.m, 50)?, "echoed");
    Ok(())
}

fn echoe_erases_with_backspace_space_backspace() -> Outcome {
    let p = pair()?;
    write(&p.m, b"ab\x7f")?;
    master_says(&p, b"ab\x08 \x08")
}

fn echoctl_shows_control_characters_as_caret() -> Outcome {
    let p = pair()?;
    write(&p.m, b"\x01")?;
    master_says(&p, b"^A")
}

fn echonl_echoes_newline_without_echo() -> Outcome {
    let p = pair()?;
    modify(&p.s, |t| {
        t.lflag &= !lflag::ECHO;
        t.lflag |= lflag::ECHONL;
    })?;
    write(&p.m, b"a\n")?;
    master_says(&p, b"\r\n")
}

fn signal_character_is_echoed() -> Outcome {
    fork_and_check(|| {
        let p = pair()?;
        // No controlling terminal, so no foreground group gets the signal.
        write(&p.m, b"\x03")?;
        master_says(&p, b"^C")
    })
}

// ------------------------------------------------------------------ output

fn onlcr_maps_nl_to_crnl() -> Outcome {
    let p = pair()?;
    write(&p.s, b"a\nb")?;
    master_says(&p, b"a\r\nb")
}

fn opost_off_passes_output_unchanged() -> Outcome {
    let p = pair()?;
    modify(&p.s, |t| t.oflag &= !oflag::OPOST)?;
    write(&p.s, b"a\nb")?;
    master_says(&p, b"a\nb")
}

fn ocrnl_maps_cr_to_nl() -> Outcome {
    let p = pair()?;
    modify(&p.s, |t| t.oflag |= oflag::OCRNL)?;
    write(&p.s, b"a\r")?;
    master_says(&p, b"a\n")
}

fn fionread_on_master_counts_output() -> Outcome {
    let p = pair()?;
    write(&p.s, b"hello")?;
    ensure!(readable(&p.m, 2000)?, "no output");
    ensure_eq!(fionread(&p.m)?, 5);
    Ok(())
}

fn tiocoutq_succeeds_on_the_slave() -> Outcome {
    let p = pair()?;
    let mut n: i32 = -1;
    check!(
        syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCOUTQ, &raw mut n),
        succeeds_with(0)
    );
    ensure!(n >= 0, "TIOCOUTQ {n}");
    Ok(())
}

// ------------------------------------------------------------------ raw mode

fn raw_read_returns_each_byte() -> Outcome {
    let p = pair()?;
    modify(&p.s, raw_mode)?;
    write(&p.m, b"q")?;
    ensure_eq!(read_once(&p.s, 100)?, b"q".to_vec());
    Ok(())
}

fn raw_mode_passes_ctrl_c_as_data() -> Outcome {
    let p = pair()?;
    modify(&p.s, raw_mode)?;
    write(&p.m, b"\x03\x7f")?;
    ensure_eq!(read_n(&p.s, 2)?, b"\x03\x7f".to_vec());
    Ok(())
}

fn vmin0_vtime0_read_returns_zero_when_empty() -> Outcome {
    let p = pair()?;
    modify(&p.s, |t| {
        raw_mode(t);
        t.cc[cc::VMIN] = 0;
    })?;
    let mut b = [0u8; 4];
    check!(
        syscall!(libc::SYS_read, p.s.raw(), b.as_mut_ptr(), 4),
        succeeds_with(0)
    );
    Ok(())
}

fn vmin2_waits_for_two_bytes() -> Outcome {
    let p = pair()?;
    modify(&p.s, |t| {
        raw_mode(t);
        t.cc[cc::VMIN] = 2;
    })?;
    write(&p.m, b"a")?;
    let m = p.m.raw();
    let _c = Child::spawn(move || {
        std::thread::sleep(100 * MS);
        let r = syscall!(libc::SYS_write, m, b"b".as_ptr(), 1);
        i32::from(r != 1)
    })?;
    let mut b = [0u8; 8];
    let n = check!(
        syscall!(libc::SYS_read, p.s.raw(), b.as_mut_ptr(), 8),
        succeeds()
    );
    ensure_eq!(n, 2);
    ensure_eq!(&b[..2], b"ab");
    Ok(())
}

fn poll_in_raw_mode_waits_for_vmin_bytes() -> Outcome {
    let p = pair()?;
    modify(&p.s, |t| {
        raw_mode(t);
        t.cc[cc::VMIN] = 3;
    })?;
    write(&p.m, b"ab")?;
    ensure!(!readable(&p.s, 100)?, "readable with 2 of 3 bytes");
    write(&p.m, b"c")?;
    ensure!(readable(&p.s, 2000)?, "not readable with 3 bytes");
    Ok(())
}

fn nonblocking_raw_read_returns_fewer_than_vmin() -> Outcome {
    let p = pair_with(libc::O_NOCTTY | libc::O_NONBLOCK)?;
    modify(&p.s, |t| {
        raw_mode(t);
        t.cc[cc::VMIN] = 3;
        t.cc[cc::VTIME] = 0;
    })?;
    write(&p.m, b"a")?;
    std::thread::sleep(50 * MS);
    let mut b = [0u8; 8];
    check!(
        syscall!(libc::SYS_read, p.s.raw(), b.as_mut_ptr(), 8),
        succeeds_with(1)
    );
    Ok(())
}

fn vmin0_vtime_read_times_out_with_zero() -> Outcome {
    let p = pair()?;
    modify(&p.s, |t| {
        raw_mode(t);
        t.cc[cc::VMIN] = 0;
        t.cc[cc::VTIME] = 2;
    })?;
    let start = std::time::Instant::now();
    let mut b = [0u8; 4];
    check!(
        syscall!(libc::SYS_read, p.s.raw(), b.as_mut_ptr(), 4),
        succeeds_with(0)
    );
    let took = start.elapsed();
    ensure!(took >= 150 * MS, "returned after {took:?}");
    Ok(())
}

fn vmin0_vtime_read_returns_a_byte_that_arrives() -> Outcome {
    let p = pair()?;
    modify(&p.s, |t| {
        raw_mode(t);
        t.cc[cc::VMIN] = 0;
        t.cc[cc::VTIME] = 20;
    })?;
    let m = p.m.raw();
    let _c = Child::spawn(move || {
        std::thread::sleep(50 * MS);
        let r = syscall!(libc::SYS_write, m, b"k".as_ptr(), 1);
        i32::from(r != 1)
    })?;
    let mut b = [0u8; 4];
    check!(
        syscall!(libc::SYS_read, p.s.raw(), b.as_mut_ptr(), 4),
        succeeds_with(1)
    );
    ensure_eq!(b[0], b'k');
    Ok(())
}

fn vmin_with_vtime_returns_early_after_the_inter_byte_timeout() -> Outcome {
    let p = pair()?;
    modify(&p.s, |t| {
        raw_mode(t);
        t.cc[cc::VMIN] = 5;
        t.cc[cc::VTIME] = 2;
    })?;
    write(&p.m, b"ab")?;
    ensure!(readable(&p.s, 2000)?, "no input");
    let mut b = [0u8; 8];
    check!(
        syscall!(libc::SYS_read, p.s.raw(), b.as_mut_ptr(), 8),
        succeeds_with(2)
    );
    ensure_eq!(&b[..2], b"ab");
    Ok(())
}

fn leaving_canonical_mode_makes_the_partial_line_readable() -> Outcome {
    let p = pair()?;
    write(&p.m, b"xy")?;
    std::thread::sleep(50 * MS);
    modify(&p.s, raw_mode)?;
    ensure_eq!(read_n(&p.s, 2)?, b"xy".to_vec());
    Ok(())
}

// ------------------------------------------------------------------ flushing, nonblocking, poll

fn tcflsh_discards_input() -> Outcome {
    let p = pair()?;
    write(&p.m, b"abc\n")?;
    ensure!(readable(&p.s, 2000)?, "no input");
    check!(
        syscall!(libc::SYS_ioctl, p.s.raw(), io::TCFLSH, io::TCIFLUSH),
        succeeds_with(0)
    );
    ensure_eq!(fionread(&p.s)?, 0);
    Ok(())
}

fn tcflsh_with_a_bad_queue_is_einval() -> Outcome {
    let p = pair()?;
    check!(
        syscall!(libc::SYS_ioctl, p.s.raw(), io::TCFLSH, 7),
        fails_with(Errno::EINVAL)
    );
    Ok(())
}

fn tcsetsf_flushes_input() -> Outcome {
    let p = pair()?;
    write(&p.m, b"abc\n")?;
    ensure!(readable(&p.s, 2000)?, "no input");
    let t = tcgets(&p.s)?;
    check!(
        syscall!(libc::SYS_ioctl, p.s.raw(), io::TCSETSF, &raw const t),
        succeeds_with(0)
    );
    ensure_eq!(fionread(&p.s)?, 0);
    Ok(())
}

fn nonblocking_slave_read_is_eagain() -> Outcome {
    let p = pair_with(libc::O_NOCTTY | libc::O_NONBLOCK)?;
    let mut b = [0u8; 4];
    check!(
        syscall!(libc::SYS_read, p.s.raw(), b.as_mut_ptr(), 4),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

fn nonblocking_master_read_is_eagain() -> Outcome {
    let (m, n) = open_master(libc::O_NOCTTY | libc::O_NONBLOCK)?;
    let _s = Fd::open(&pts(n), libc::O_RDWR | libc::O_NOCTTY, 0)?;
    let mut b = [0u8; 4];
    check!(
        syscall!(libc::SYS_read, m.raw(), b.as_mut_ptr(), 4),
        fails_with(Errno::EAGAIN)
    );
    Ok(())
}

/// Input nobody reads fills a bounded queue: a non-blocking master write then fails with
/// EAGAIN (Linux buffers about 64 KiB more than the sandbox's 4 KiB).
fn master_write_is_bounded_when_nobody_reads() -> Outcome {
    let (m, n) = open_master(libc::O_NOCTTY | libc::O_NONBLOCK)?;
    let s = Fd::open(&pts(n), libc::O_RDWR | libc::O_NOCTTY, 0)?;
    modify(&s, raw_mode)?;
    let chunk = [b'z'; 4096];
    let mut total = 0usize;
    while total < (1 << 20) {
        let r = syscall!(libc::SYS_write, m.raw(), chunk.as_ptr(), chunk.len());
        if r == -1 {
            ensure_eq!(syscall_tests::last_errno(), libc::EAGAIN);
            return Ok(());
        }
        total += usize::try_from(r).unwrap_or(0);
    }
    Err(format!("{total} bytes accepted without EAGAIN"))
}

/// The slave's output nobody reads fills a bounded queue too.
fn slave_write_is_bounded_when_nobody_reads() -> Outcome {
    let p = pair_with(libc::O_NOCTTY | libc::O_NONBLOCK)?;
    let chunk = [b'z'; 4096];
    let mut total = 0usize;
    while total < (1 << 20) {
        let r = syscall!(libc::SYS_write, p.s.raw(), chunk.as_ptr(), chunk.len());
        if r == -1 {
            ensure_eq!(syscall_tests::last_errno(), libc::EAGAIN);
            return Ok(());
        }
        total += usize::try_from(r).unwrap_or(0);
    }
    Err(format!("{total} bytes accepted without EAGAIN"))
}

fn poll_slave_is_writable_not_readable_when_idle() -> Outcome {
    let p = pair()?;
    let ev = poll1(&p.s, libc::POLLIN | libc::POLLOUT, 0)?;
    ensure_eq!(ev, libc::POLLOUT);
    Ok(())
}

fn poll_master_becomes_readable_after_a_slave_write() -> Outcome {
    let p = pair()?;
    ensure!(!readable(&p.m, 0)?, "readable at first");
    write(&p.s, b"z")?;
    ensure!(readable(&p.m, 2000)?, "not readable");
    Ok(())
}

/// script(1) polls the master with stdin's slot set to -1 after EOF: the negative entry is
/// ignored, so poll still waits for the master.
fn poll_with_a_negative_fd_still_waits_for_the_master() -> Outcome {
    let p = pair()?;
    let mut fds = [
        libc::pollfd {
            fd: p.m.raw(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: -1,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let start = std::time::Instant::now();
    check!(
        syscall!(libc::SYS_poll, fds.as_mut_ptr(), 2u64, 100),
        succeeds_with(0)
    );
    ensure!(
        start.elapsed() >= 80 * MS,
        "returned after {:?}",
        start.elapsed()
    );
    write(&p.s, b"out")?;
    check!(
        syscall!(libc::SYS_poll, fds.as_mut_ptr(), 2u64, 2000),
        succeeds_with(1)
    );
    ensure_eq!(fds[0].revents, libc::POLLIN);
    ensure_eq!(fds[1].revents, 0);
    Ok(())
}

fn epoll_sees_the_slave_become_readable() -> Outcome {
    let p = pair()?;
    let ep = Fd::from_ret(check!(syscall!(libc::SYS_epoll_create1, 0), succeeds()))?;
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 7,
    };
    check!(
        syscall!(
            libc::SYS_epoll_ctl,
            ep.raw(),
            libc::EPOLL_CTL_ADD,
            p.s.raw(),
            &raw mut ev
        ),
        succeeds_with(0)
    );
    let mut out = [libc::epoll_event { events: 0, u64: 0 }; 2];
    check!(
        syscall!(libc::SYS_epoll_wait, ep.raw(), out.as_mut_ptr(), 2, 0),
        succeeds_with(0)
    );
    let m = p.m.raw();
    let _c = Child::spawn(move || {
        std::thread::sleep(50 * MS);
        let r = syscall!(libc::SYS_write, m, b"e\n".as_ptr(), 2);
        i32::from(r != 2)
    })?;
    check!(
        syscall!(libc::SYS_epoll_wait, ep.raw(), out.as_mut_ptr(), 2, 3000),
        succeeds_with(1)
    );
    let got = out[0];
    ensure_eq!({ got.u64 }, 7);
    ensure_eq!({ got.events } & libc::EPOLLIN as u32, libc::EPOLLIN as u32);
    Ok(())
}

fn select_sees_the_master_become_readable() -> Outcome {
    let p = pair()?;
    let s = p.s.raw();
    let _c = Child::spawn(move || {
        std::thread::sleep(50 * MS);
        let r = syscall!(libc::SYS_write, s, b"sel".as_ptr(), 3);
        i32::from(r != 3)
    })?;
    let mut set = [0u64; 16];
    let fd = usize::try_from(p.m.raw()).unwrap_or(0);
    if let Some(w) = set.get_mut(fd / 64) {
        *w |= 1 << (fd % 64);
    }
    let mut tv = libc::timeval {
        tv_sec: 3,
        tv_usec: 0,
    };
    check!(
        syscall!(
            libc::SYS_select,
            p.m.raw() + 1,
            set.as_mut_ptr(),
            0usize,
            0usize,
            &raw mut tv
        ),
        succeeds_with(1)
    );
    Ok(())
}

fn blocked_slave_read_wakes_for_a_line() -> Outcome {
    let p = pair()?;
    let m = p.m.raw();
    let _c = Child::spawn(move || {
        std::thread::sleep(50 * MS);
        let r = syscall!(libc::SYS_write, m, b"go\n".as_ptr(), 3);
        i32::from(r != 3)
    })?;
    let mut b = [0u8; 8];
    let n = check!(
        syscall!(libc::SYS_read, p.s.raw(), b.as_mut_ptr(), 8),
        succeeds_with(3)
    );
    ensure_eq!(&b[..3], b"go\n");
    let _ = n;
    Ok(())
}

// ------------------------------------------------------------------ hangup

fn master_read_is_eio_after_the_slave_closes() -> Outcome {
    let p = pair()?;
    let m = p.m;
    drop(p.s);
    let mut b = [0u8; 4];
    check!(
        syscall!(libc::SYS_read, m.raw(), b.as_mut_ptr(), 4),
        fails_with(Errno::EIO)
    );
    Ok(())
}

fn master_polls_hup_after_the_slave_closes() -> Outcome {
    let p = pair()?;
    let m = p.m;
    drop(p.s);
    let ev = poll1(&m, libc::POLLIN, 1000)?;
    ensure!(ev & libc::POLLHUP != 0, "revents {ev:#x}");
    Ok(())
}

fn slave_write_is_eio_after_the_master_closes() -> Outcome {
    let p = pair()?;
    let s = p.s;
    drop(p.m);
    check!(
        syscall!(libc::SYS_write, s.raw(), b"x".as_ptr(), 1),
        fails_with(Errno::EIO)
    );
    Ok(())
}

fn slave_read_is_eof_after_the_master_closes() -> Outcome {
    let p = pair()?;
    let s = p.s;
    drop(p.m);
    let mut b = [0u8; 4];
    check!(
        syscall!(libc::SYS_read, s.raw(), b.as_mut_ptr(), 4),
        succeeds_with(0)
    );
    let ev = poll1(&s, libc::POLLIN, 0)?;
    ensure!(ev & libc::POLLHUP != 0, "revents {ev:#x}");
    Ok(())
}

fn master_close_sends_sighup_to_the_session_leader() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        install_recorder(libc::SIGHUP, 0, 0)?;
        ensure_eq!(signal_count(libc::SIGHUP), 0);
        install_recorder(libc::SIGCONT, 0, 0)?;
        drop(p.m);
        ensure!(
            eventually(Duration::from_secs(2), || signal_count(libc::SIGHUP) >= 1
                && signal_count(libc::SIGCONT) >= 1),
            "no SIGHUP/SIGCONT"
        );
        Ok(())
    })
}

// ------------------------------------------------------------------ window size

fn new_pair_has_a_zero_window_size() -> Outcome {
    let p = pair()?;
    let mut ws = Winsize {
        row: 9,
        ..Winsize::default()
    };
    check!(
        syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCGWINSZ, &raw mut ws),
        succeeds_with(0)
    );
    ensure_eq!(ws, Winsize::default());
    Ok(())
}

fn winsize_set_on_the_master_shows_on_the_slave() -> Outcome {
    let p = pair()?;
    set_winsize(&p.m, 40, 120)?;
    let mut ws = Winsize::default();
    check!(
        syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCGWINSZ, &raw mut ws),
        succeeds_with(0)
    );
    ensure_eq!((ws.row, ws.col), (40, 120));
    Ok(())
}

fn winsize_change_sends_sigwinch_to_the_foreground_group() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        install_recorder(libc::SIGWINCH, 0, 0)?;
        set_winsize(&p.m, 30, 100)?;
        ensure!(
            eventually(Duration::from_secs(2), || signal_count(libc::SIGWINCH) == 1),
            "no SIGWINCH"
        );
        set_winsize(&p.m, 30, 100)?;
        std::thread::sleep(50 * MS);
        ensure_eq!(signal_count(libc::SIGWINCH), 1);
        Ok(())
    })
}

// ------------------------------------------------------------------ ISIG

fn isig_sig(input: u8, sig: i32) -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        install_recorder(sig, 0, 0)?;
        write(&p.m, &[input])?;
        ensure!(
            eventually(Duration::from_secs(2), || signal_count(sig) >= 1),
            "no signal {sig}"
        );
        Ok(())
    })
}

fn vintr_sends_sigint_to_the_foreground_group() -> Outcome {
    isig_sig(3, libc::SIGINT)
}

fn vquit_sends_sigquit() -> Outcome {
    isig_sig(0x1c, libc::SIGQUIT)
}

fn vsusp_sends_sigtstp() -> Outcome {
    isig_sig(0x1a, libc::SIGTSTP)
}

fn vintr_flushes_pending_input() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        install_recorder(libc::SIGINT, 0, 0)?;
        write(&p.m, b"abc\x03")?;
        ensure!(
            eventually(Duration::from_secs(2), || signal_count(libc::SIGINT) >= 1),
            "no SIGINT"
        );
        write(&p.m, b"d\n")?;
        ensure_eq!(read_once(&p.s, 100)?, b"d\n".to_vec());
        Ok(())
    })
}

fn noflsh_keeps_input_on_vintr() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        install_recorder(libc::SIGINT, 0, 0)?;
        modify(&p.s, |t| t.lflag |= lflag::NOFLSH)?;
        write(&p.m, b"abc\x03")?;
        ensure!(
            eventually(Duration::from_secs(2), || signal_count(libc::SIGINT) >= 1),
            "no SIGINT"
        );
        write(&p.m, b"d\n")?;
        ensure_eq!(read_once(&p.s, 100)?, b"abcd\n".to_vec());
        Ok(())
    })
}

fn vintr_signals_only_the_foreground_group() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        // A child in its own group becomes the foreground; the leader must not hear ^C.
        let mut c = Child::spawn(|| {
            let _ = syscall!(libc::SYS_setpgid, 0, 0);
            std::thread::sleep(Duration::from_secs(5));
            0
        })?;
        install_recorder(libc::SIGINT, 0, 0)?;
        let pid = c.pid();
        let _ = syscall!(libc::SYS_setpgid, pid, pid);
        check!(
            syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCSPGRP, &raw const pid),
            succeeds_with(0)
        );
        write(&p.m, b"\x03")?;
        let st = c.wait()?;
        ensure_eq!(st.term_signal(), Some(libc::SIGINT));
        ensure_eq!(signal_count(libc::SIGINT), 0);
        Ok(())
    })
}

// ------------------------------------------------------------------ controlling terminal

fn opening_a_slave_makes_it_the_session_leaders_ctty() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        ensure_eq!(tiocgpgrp(&p.s)?, i64::from(getpid()));
        Ok(())
    })
}

fn o_noctty_does_not_acquire() -> Outcome {
    fork_and_check(|| {
        setsid()?;
        let _p = pair()?;
        check!(
            syscall!(libc::SYS_open, c"/dev/tty", libc::O_RDWR),
            fails_with(Errno::ENXIO)
        );
        Ok(())
    })
}

fn dev_tty_without_a_ctty_is_enxio() -> Outcome {
    fork_and_check(|| {
        setsid()?;
        check!(
            syscall!(libc::SYS_open, c"/dev/tty", libc::O_RDWR),
            fails_with(Errno::ENXIO)
        );
        Ok(())
    })
}

fn dev_tty_opens_the_ctty() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        let t = Fd::open(c"/dev/tty", libc::O_RDWR, 0)?;
        write(&t, b"via tty")?;
        master_says(&p, b"via tty")
    })
}

fn tiocgpgrp_on_a_tty_that_is_not_ours_is_enotty() -> Outcome {
    fork_and_check(|| {
        setsid()?;
        let p = pair()?;
        ensure_eq!(tiocgpgrp(&p.s)?, -i64::from(libc::ENOTTY));
        Ok(())
    })
}

fn tiocgpgrp_on_the_master_needs_no_ctty() -> Outcome {
    fork_and_check(|| {
        setsid()?;
        let p = pair()?;
        ensure_eq!(tiocgpgrp(&p.m)?, 0);
        Ok(())
    })
}

fn tiocspgrp_on_a_tty_that_is_not_ours_is_enotty() -> Outcome {
    fork_and_check(|| {
        setsid()?;
        let p = pair()?;
        let pg = getpid();
        check!(
            syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCSPGRP, &raw const pg),
            fails_with(Errno::ENOTTY)
        );
        Ok(())
    })
}

fn tiocspgrp_negative_is_einval() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        let pg: i32 = -5;
        check!(
            syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCSPGRP, &raw const pg),
            fails_with(Errno::EINVAL)
        );
        Ok(())
    })
}

fn tiocspgrp_of_another_session_is_eperm() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        let c = Child::spawn(|| {
            let _ = syscall!(libc::SYS_setsid);
            std::thread::sleep(Duration::from_secs(5));
            0
        })?;
        let pid = c.pid();
        ensure!(
            eventually(Duration::from_secs(2), || syscall!(libc::SYS_getsid, pid)
                == i64::from(pid)),
            "child never made its session"
        );
        check!(
            syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCSPGRP, &raw const pid),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

fn tiocspgrp_moves_the_foreground_group() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        let c = Child::spawn(|| {
            let _ = syscall!(libc::SYS_setpgid, 0, 0);
            std::thread::sleep(Duration::from_secs(5));
            0
        })?;
        let pid = c.pid();
        let _ = syscall!(libc::SYS_setpgid, pid, pid);
        ignore(libc::SIGTTOU)?;
        check!(
            syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCSPGRP, &raw const pid),
            succeeds_with(0)
        );
        ensure_eq!(tiocgpgrp(&p.s)?, i64::from(pid));
        Ok(())
    })
}

fn tiocgsid_names_the_session() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        let mut sid: i32 = 0;
        check!(
            syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCGSID, &raw mut sid),
            succeeds_with(0)
        );
        ensure_eq!(sid, getpid());
        Ok(())
    })
}

fn tiocgsid_of_a_tty_that_is_not_ours_is_enotty() -> Outcome {
    fork_and_check(|| {
        setsid()?;
        let p = pair()?;
        let mut sid: i32 = 0;
        check!(
            syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCGSID, &raw mut sid),
            fails_with(Errno::ENOTTY)
        );
        Ok(())
    })
}

fn tiocsctty_makes_the_ctty() -> Outcome {
    fork_and_check(|| {
        setsid()?;
        ignore(libc::SIGHUP)?;
        let p = pair()?;
        check!(
            syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCSCTTY, 0),
            succeeds_with(0)
        );
        ensure_eq!(tiocgpgrp(&p.s)?, i64::from(getpid()));
        Ok(())
    })
}

fn tiocsctty_by_a_non_leader_is_eperm() -> Outcome {
    fork_and_check(|| {
        let p = pair()?;
        check!(
            syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCSCTTY, 0),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

fn tiocsctty_with_a_ctty_already_is_eperm() -> Outcome {
    fork_and_check(|| {
        let _p = ctty_pair()?;
        let q = pair()?;
        check!(
            syscall!(libc::SYS_ioctl, q.s.raw(), io::TIOCSCTTY, 0),
            fails_with(Errno::EPERM)
        );
        Ok(())
    })
}

fn tiocsctty_of_another_sessions_tty_without_steal_is_eperm() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        let s = p.s.raw();
        let mut c = Child::spawn(move || {
            if syscall!(libc::SYS_setsid) == -1 {
                return 2;
            }
            let r = syscall!(libc::SYS_ioctl, s, io::TIOCSCTTY, 0);
            if r == -1 && syscall_tests::last_errno() == libc::EPERM {
                0
            } else {
                1
            }
        })?;
        ensure_eq!(c.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

fn setsid_leaves_the_ctty_behind() -> Outcome {
    fork_and_check(|| {
        let _p = ctty_pair()?;
        let mut c = Child::spawn(|| {
            if syscall!(libc::SYS_setsid) == -1 {
                return 2;
            }
            let r = syscall!(libc::SYS_open, c"/dev/tty", libc::O_RDWR);
            i32::from(!(r == -1 && syscall_tests::last_errno() == libc::ENXIO))
        })?;
        ensure_eq!(c.wait()?.exit_code(), Some(0));
        Ok(())
    })
}

fn tiocnotty_by_the_leader_drops_the_ctty() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        ignore(libc::SIGHUP)?;
        check!(
            syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCNOTTY),
            succeeds_with(0)
        );
        check!(
            syscall!(libc::SYS_open, c"/dev/tty", libc::O_RDWR),
            fails_with(Errno::ENXIO)
        );
        Ok(())
    })
}

fn tiocnotty_on_a_tty_that_is_not_ours_is_enotty() -> Outcome {
    fork_and_check(|| {
        setsid()?;
        let p = pair()?;
        check!(
            syscall!(libc::SYS_ioctl, p.s.raw(), io::TIOCNOTTY),
            fails_with(Errno::ENOTTY)
        );
        Ok(())
    })
}

fn session_leader_exit_sends_sighup_to_the_foreground_group() -> Outcome {
    fork_and_check(|| {
        // We keep the master; the leader's exit alone must reach its foreground group.
        let (m, n) = open_master(libc::O_NOCTTY)?;
        let (r, w) = pipe()?;
        let (mfd, wfd) = (m.raw(), w.raw());
        let mut leader = Child::spawn(move || {
            let _ = syscall!(libc::SYS_close, mfd);
            if syscall!(libc::SYS_setsid) == -1 {
                return 2;
            }
            let path = pts(n);
            if syscall!(libc::SYS_open, path.as_c_str(), libc::O_RDWR) == -1 {
                return 3;
            }
            // A member of the leader's (foreground) group that lives until SIGHUP; it holds
            // the pipe's write end, so its death shows as EOF.
            let g = syscall_tests::sys::fork();
            if g == 0 {
                loop {
                    let _ = syscall!(libc::SYS_pause);
                }
            }
            let _ = syscall!(libc::SYS_close, wfd);
            i32::from(g == -1)
        })?;
        drop(w);
        ensure_eq!(leader.wait()?.exit_code(), Some(0));
        let ev = poll1(&r, libc::POLLIN, 3000)?;
        ensure!(ev != 0, "the group member is still alive");
        let mut b = [0u8; 1];
        check!(
            syscall!(libc::SYS_read, r.raw(), b.as_mut_ptr(), 1),
            succeeds_with(0)
        );
        drop(m);
        Ok(())
    })
}

fn proc_stat_shows_tty_nr_and_tpgid() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| e.to_string())?;
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let tty_nr: u32 = f.get(4).and_then(|v| v.parse().ok()).unwrap_or(0);
        let tpgid: i32 = f.get(5).and_then(|v| v.parse().ok()).unwrap_or(0);
        let minor = u32::try_from(p.n).unwrap_or(0);
        ensure_eq!(
            tty_nr,
            (minor & 0xff) | (136 << 8) | ((minor & !0xff) << 12)
        );
        ensure_eq!(tpgid, getpid());
        Ok(())
    })
}

fn proc_stat_without_a_ctty_has_no_tty() -> Outcome {
    fork_and_check(|| {
        setsid()?;
        let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| e.to_string())?;
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        ensure_eq!(f.get(4).copied(), Some("0"));
        ensure_eq!(f.get(5).copied(), Some("-1"));
        Ok(())
    })
}

// ------------------------------------------------------------------ job control

/// Runs `f` in a child moved to a background group of the caller's session; returns how
/// it ended (`WUNTRACED`: a stop shows as a stop).
fn in_background(
    p: &Pair,
    f: impl FnOnce(i32) -> i32,
) -> Result<syscall_tests::task::WaitStatus, String> {
    let s = p.s.raw();
    let (r, w) = pipe()?;
    let (rr, ww) = (r.raw(), w.raw());
    let c = Child::spawn(move || {
        let _ = syscall!(libc::SYS_setpgid, 0, 0);
        let mut b = [0u8; 1];
        let _ = syscall!(libc::SYS_read, rr, b.as_mut_ptr(), 1);
        f(s)
    })?;
    let pid = c.pid();
    let _ = syscall!(libc::SYS_setpgid, pid, pid);
    let _ = syscall!(libc::SYS_write, ww, b"g".as_ptr(), 1);
    let (_, st) = wait4(pid, libc::WUNTRACED)?;
    if st.stop_signal().is_some() {
        let _ = syscall!(libc::SYS_kill, pid, libc::SIGKILL);
    }
    drop(c);
    Ok(st)
}

fn background_read_stops_with_sigttin() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        let st = in_background(&p, |s| {
            let mut b = [0u8; 4];
            let _ = syscall!(libc::SYS_read, s, b.as_mut_ptr(), 4);
            0
        })?;
        ensure_eq!(st.stop_signal(), Some(libc::SIGTTIN));
        Ok(())
    })
}

fn background_readv_stops_with_sigttin() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        let st = in_background(&p, |s| {
            let mut b = [0u8; 4];
            let iov = libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            };
            let _ = syscall!(libc::SYS_readv, s, &raw const iov, 1);
            0
        })?;
        ensure_eq!(st.stop_signal(), Some(libc::SIGTTIN));
        Ok(())
    })
}

fn background_writev_with_tostop_stops_with_sigttou() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        modify(&p.s, |t| t.lflag |= lflag::TOSTOP)?;
        let st = in_background(&p, |s| {
            let b = *b"bg";
            let iov = libc::iovec {
                iov_base: b.as_ptr().cast_mut().cast(),
                iov_len: b.len(),
            };
            let _ = syscall!(libc::SYS_writev, s, &raw const iov, 1);
            0
        })?;
        ensure_eq!(st.stop_signal(), Some(libc::SIGTTOU));
        Ok(())
    })
}

fn background_read_with_sigttin_ignored_is_eio() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        let st = in_background(&p, |s| {
            if ignore(libc::SIGTTIN).is_err() {
                return 3;
            }
            let mut b = [0u8; 4];
            let r = syscall!(libc::SYS_read, s, b.as_mut_ptr(), 4);
            i32::from(!(r == -1 && syscall_tests::last_errno() == libc::EIO))
        })?;
        ensure_eq!(st.exit_code(), Some(0));
        Ok(())
    })
}

fn background_read_with_sigttin_blocked_is_eio() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        let st = in_background(&p, |s| {
            if block(libc::SIGTTIN).is_err() {
                return 3;
            }
            let mut b = [0u8; 4];
            let r = syscall!(libc::SYS_read, s, b.as_mut_ptr(), 4);
            i32::from(!(r == -1 && syscall_tests::last_errno() == libc::EIO))
        })?;
        ensure_eq!(st.exit_code(), Some(0));
        Ok(())
    })
}

fn background_write_without_tostop_goes_through() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        let st = in_background(&p, |s| {
            let r = syscall!(libc::SYS_write, s, b"bg".as_ptr(), 2);
            i32::from(r != 2)
        })?;
        ensure_eq!(st.exit_code(), Some(0));
        master_says(&p, b"bg")
    })
}

fn background_write_with_tostop_stops_with_sigttou() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        modify(&p.s, |t| t.lflag |= lflag::TOSTOP)?;
        let st = in_background(&p, |s| {
            let _ = syscall!(libc::SYS_write, s, b"bg".as_ptr(), 2);
            0
        })?;
        ensure_eq!(st.stop_signal(), Some(libc::SIGTTOU));
        Ok(())
    })
}

fn background_tcsetattr_stops_with_sigttou() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        let t = tcgets(&p.s)?;
        let st = in_background(&p, move |s| {
            let _ = syscall!(libc::SYS_ioctl, s, io::TCSETS, &raw const t);
            0
        })?;
        ensure_eq!(st.stop_signal(), Some(libc::SIGTTOU));
        Ok(())
    })
}

fn background_tcsetattr_with_sigttou_ignored_goes_through() -> Outcome {
    fork_and_check(|| {
        let p = ctty_pair()?;
        let t = tcgets(&p.s)?;
        let st = in_background(&p, move |s| {
            if ignore(libc::SIGTTOU).is_err() {
                return 3;
            }
            let r = syscall!(libc::SYS_ioctl, s, io::TCSETS, &raw const t);
            i32::from(r != 0)
        })?;
        ensure_eq!(st.exit_code(), Some(0));
        Ok(())
    })
}

fn main() -> std::process::ExitCode {
    run_tests(tests![
        ptmx_open_allocates_an_index,
        two_masters_get_different_indexes,
        slave_open_fails_with_eio_while_locked,
        slave_node_is_char_device_136_n,
        slave_node_mode_0620_owned_by_opener,
        fstat_of_slave_matches_its_node,
        ttyname_link_names_the_slave,
        dev_pts_ptmx_opens_a_master,
        readdir_of_dev_pts_lists_the_pair,
        statfs_of_dev_pts_is_devpts,
        slave_node_goes_away_when_the_pair_closes,
        tiocgptpeer_opens_the_slave,
        tiocgptlck_reports_the_lock,
        tiocgptpeer_without_noctty_acquires_the_ctty,
        tiocgptn_on_slave_is_enotty,
        tcgets_on_a_pipe_is_enotty,
        new_slave_has_the_standard_termios,
        master_tcgets_shows_the_slave_termios,
        termios2_requests_mirror_termios,
        tiocgetd_is_n_tty,
        tiocsti_fakes_input_as_root,
        canonical_read_waits_for_a_newline,
        canonical_read_returns_one_line,
        canonical_erase_removes_a_character,
        canonical_kill_removes_the_line,
        canonical_werase_removes_a_word,
        veof_ends_a_partial_line_without_itself,
        veof_on_an_empty_line_reads_zero,
        veol_ends_a_line,
        vlnext_quotes_a_signal_character,
        short_read_leaves_the_rest_of_the_line,
        fionread_counts_complete_lines_only,
        icrnl_turns_cr_into_nl,
        igncr_drops_cr,
        inlcr_turns_nl_into_cr,
        echo_shows_input_on_the_master,
        no_echo_without_echo,
        echoe_erases_with_backspace_space_backspace,
        echoctl_shows_control_characters_as_caret,
        echonl_echoes_newline_without_echo,
        signal_character_is_echoed,
        onlcr_maps_nl_to_crnl,
        opost_off_passes_output_unchanged,
        ocrnl_maps_cr_to_nl,
        fionread_on_master_counts_output,
        tiocoutq_succeeds_on_the_slave,
        raw_read_returns_each_byte,
        raw_mode_passes_ctrl_c_as_data,
        vmin0_vtime0_read_returns_zero_when_empty,
        vmin2_waits_for_two_bytes,
        poll_in_raw_mode_waits_for_vmin_bytes,
        nonblocking_raw_read_returns_fewer_than_vmin,
        vmin0_vtime_read_times_out_with_zero,
        vmin0_vtime_read_returns_a_byte_that_arrives,
        vmin_with_vtime_returns_early_after_the_inter_byte_timeout,
        leaving_canonical_mode_makes_the_partial_line_readable,
        tcflsh_discards_input,
        tcflsh_with_a_bad_queue_is_einval,
        tcsetsf_flushes_input,
        nonblocking_slave_read_is_eagain,
        nonblocking_master_read_is_eagain,
        master_write_is_bounded_when_nobody_reads,
        slave_write_is_bounded_when_nobody_reads,
        poll_slave_is_writable_not_readable_when_idle,
        poll_master_becomes_readable_after_a_slave_write,
        poll_with_a_negative_fd_still_waits_for_the_master,
        epoll_sees_the_slave_become_readable,
        select_sees_the_master_become_readable,
        blocked_slave_read_wakes_for_a_line,
        master_read_is_eio_after_the_slave_closes,
        master_polls_hup_after_the_slave_closes,
        slave_write_is_eio_after_the_master_closes,
        slave_read_is_eof_after_the_master_closes,
        master_close_sends_sighup_to_the_session_leader,
        new_pair_has_a_zero_window_size,
        winsize_set_on_the_master_shows_on_the_slave,
        winsize_change_sends_sigwinch_to_the_foreground_group,
        vintr_sends_sigint_to_the_foreground_group,
        vquit_sends_sigquit,
        vsusp_sends_sigtstp,
        vintr_flushes_pending_input,
        noflsh_keeps_input_on_vintr,
        vintr_signals_only_the_foreground_group,
        opening_a_slave_makes_it_the_session_leaders_ctty,
        o_noctty_does_not_acquire,
        dev_tty_without_a_ctty_is_enxio,
        dev_tty_opens_the_ctty,
        tiocgpgrp_on_a_tty_that_is_not_ours_is_enotty,
        tiocgpgrp_on_the_master_needs_no_ctty,
        tiocspgrp_on_a_tty_that_is_not_ours_is_enotty,
        tiocspgrp_negative_is_einval,
        tiocspgrp_of_another_session_is_eperm,
        tiocspgrp_moves_the_foreground_group,
        tiocgsid_names_the_session,
        tiocgsid_of_a_tty_that_is_not_ours_is_enotty,
        tiocsctty_makes_the_ctty,
        tiocsctty_by_a_non_leader_is_eperm,
        tiocsctty_with_a_ctty_already_is_eperm,
        tiocsctty_of_another_sessions_tty_without_steal_is_eperm,
        setsid_leaves_the_ctty_behind,
        tiocnotty_by_the_leader_drops_the_ctty,
        tiocnotty_on_a_tty_that_is_not_ours_is_enotty,
        session_leader_exit_sends_sighup_to_the_foreground_group,
        proc_stat_shows_tty_nr_and_tpgid,
        proc_stat_without_a_ctty_has_no_tty,
        background_read_stops_with_sigttin,
        background_readv_stops_with_sigttin,
        background_writev_with_tostop_stops_with_sigttou,
        background_read_with_sigttin_ignored_is_eio,
        background_read_with_sigttin_blocked_is_eio,
        background_write_without_tostop_goes_through,
        background_write_with_tostop_stops_with_sigttou,
        background_tcsetattr_stops_with_sigttou,
        background_tcsetattr_with_sigttou_ignored_goes_through,
    ])
}
