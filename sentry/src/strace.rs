//! `--strace`: one line when a syscall enters and one when it exits, with arguments decoded
//! from the table's [`ArgFmt`]s, errno names and the time spent in the sentry.
//!
//! Gating is a per-syscall bitmap test, so a disabled strace costs one load per syscall. Lines
//! go to the `strace` tracing target at info level; the CLI routes them to stderr or the debug
//! log.

use std::fmt::Write as _;
use std::time::Duration;

use abi::signal::Signal;
use abi::sysno::NR_SYSCALLS;

use crate::kernel::Task;
use crate::syscalls::table::{ArgFmt, SyscallEntry};
use crate::syscalls::{SyscallArgs, SyscallResult, SyscallReturn};

/// Which syscalls are traced, and how much of a buffer is shown.
#[derive(Clone, Debug)]
pub struct Strace {
    /// Indexed by syscall number; the last slot covers numbers the table does not know.
    enabled: Vec<bool>,
    /// Bytes of a buffer printed before "...".
    pub log_size: usize,
}

impl Strace {
    /// Tracing off.
    pub fn disabled() -> Strace {
        Strace {
            enabled: vec![false; NR_SYSCALLS + 1],
            log_size: 64,
        }
    }

    /// Trace every syscall (`names` empty) or only those named (`--strace-syscalls`). Unknown
    /// names are returned as an error so the CLI can reject them.
    pub fn new(names: &[String], log_size: usize) -> Result<Strace, String> {
        let mut enabled = vec![names.is_empty(); NR_SYSCALLS + 1];
        for n in names {
            // Any x86-64 syscall name is accepted, implemented or not (abi::sysno knows them
            // all), so unimplemented calls can be traced too.
            let nr = (0..NR_SYSCALLS)
                .find(|&nr| abi::sysno::name(nr) == Some(n.as_str()))
                .ok_or_else(|| format!("unknown syscall name {n:?} in --strace-syscalls"))?;
            if let Some(slot) = enabled.get_mut(nr) {
                *slot = true;
            }
        }
        Ok(Strace { enabled, log_size })
    }

    /// Whether syscall `nr` is traced.
    pub fn enabled(&self, nr: u64) -> bool {
        let idx = usize::try_from(nr).unwrap_or(NR_SYSCALLS).min(NR_SYSCALLS);
        self.enabled.get(idx).copied().unwrap_or(false)
    }
}

fn name(nr: u64, entry: Option<&SyscallEntry>) -> String {
    entry.map_or_else(
        || crate::syscalls::table::name_of(nr),
        |e| e.name.to_string(),
    )
}

/// Logs the entry line.
pub fn enter(t: &Task, nr: u64, entry: Option<&SyscallEntry>, args: &SyscallArgs) {
    let line = format!(
        "{}({})",
        name(nr, entry),
        format_all(t, entry, args, None, false)
    );
    tracing::info!(target: "strace", "[{:>4}] E {line}", t.tid());
}

/// Logs the exit line.
pub fn exit(
    t: &Task,
    nr: u64,
    entry: Option<&SyscallEntry>,
    args: &SyscallArgs,
    res: &SyscallResult,
    took: Duration,
) {
    let rv = match res {
        Ok(SyscallReturn::Value(v)) => format_ret(*v),
        Ok(SyscallReturn::NoReturn) => "(registers set)".into(),
        Ok(SyscallReturn::Exit(s)) => format!("(thread exit {s})"),
        Ok(SyscallReturn::ExitGroup(s)) => format!("(exit {s:?})"),
        Err(e) => format!("-1 {} ({})", e.name().unwrap_or("E???"), e.raw()),
    };
    let ret_len = match res {
        Ok(SyscallReturn::Value(v)) => usize::try_from(*v).ok(),
        _ => None,
    };
    let line = format!(
        "{}({})",
        name(nr, entry),
        format_all(t, entry, args, ret_len, true)
    );
    tracing::info!(target: "strace", "[{:>4}] X {line} = {rv} ({:.1}µs)", t.tid(), took.as_secs_f64() * 1e6);
}

#[allow(clippy::cast_possible_wrap)]
fn format_ret(v: u64) -> String {
    // Addresses print in hex, counts in decimal.
    if v > 0xffff_ffff {
        format!("{v:#x}")
    } else {
        (v as i64).to_string()
    }
}

fn format_all(
    t: &Task,
    entry: Option<&SyscallEntry>,
    args: &SyscallArgs,
    ret: Option<usize>,
    post: bool,
) -> String {
    let Some(entry) = entry else {
        return args
            .0
            .iter()
            .map(|a| format!("{a:#x}"))
            .collect::<Vec<_>>()
            .join(", ");
    };
    let mut out = String::new();
    for (i, fmt) in entry.args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&format_arg(t, *fmt, args, i, ret, post));
    }
    out
}

#[allow(clippy::cast_possible_truncation)]
fn format_arg(
    t: &Task,
    fmt: ArgFmt,
    args: &SyscallArgs,
    i: usize,
    ret: Option<usize>,
    post: bool,
) -> String {
    let v = args.ulong(i);
    match fmt {
        ArgFmt::Hex => format!("{v:#x}"),
        ArgFmt::Int => args.int(i).to_string(),
        ArgFmt::Uint => v.to_string(),
        ArgFmt::Fd => args.fd(i).to_string(),
        ArgFmt::DirFd => {
            if args.dirfd(i) == abi::file::AT_FDCWD {
                "AT_FDCWD".into()
            } else {
                args.dirfd(i).to_string()
            }
        }
        ArgFmt::Path => match t.mm().copy_in_cstring(v, 4096) {
            Ok(p) => quote(&p, t.kernel().strace.log_size.max(256)),
            Err(e) => format!("{v:#x} ({})", e.name().unwrap_or("E???")),
        },
        ArgFmt::ReadBuf => match (post, ret) {
            (true, Some(n)) => dump(t, v, n),
            _ => format!("{v:#x}"),
        },
        ArgFmt::WriteBuf(len_arg) => {
            let n = usize::try_from(args.ulong(len_arg)).unwrap_or(usize::MAX);
            dump(t, v, n)
        }
        ArgFmt::OpenFlags => open_flags(args.uint(i)),
        ArgFmt::Mode => format!("{:#o}", args.uint(i)),
        ArgFmt::Whence => match args.int(i) {
            0 => "SEEK_SET".into(),
            1 => "SEEK_CUR".into(),
            2 => "SEEK_END".into(),
            3 => "SEEK_DATA".into(),
            4 => "SEEK_HOLE".into(),
            w => w.to_string(),
        },
        ArgFmt::Prot => flags(
            u64::from(args.uint(i)),
            &[(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC")],
            "PROT_NONE",
        ),
        ArgFmt::MmapFlags => flags(
            u64::from(args.uint(i)),
            &[
                (0x01, "MAP_SHARED"),
                (0x02, "MAP_PRIVATE"),
                (0x03, "MAP_SHARED_VALIDATE"),
                (0x10, "MAP_FIXED"),
                (0x20, "MAP_ANONYMOUS"),
                (0x100, "MAP_GROWSDOWN"),
                (0x800, "MAP_DENYWRITE"),
                (0x1000, "MAP_EXECUTABLE"),
                (0x2000, "MAP_LOCKED"),
                (0x4000, "MAP_NORESERVE"),
                (0x8000, "MAP_POPULATE"),
                (0x10000, "MAP_NONBLOCK"),
                (0x20000, "MAP_STACK"),
                (0x40000, "MAP_HUGETLB"),
                (0x100000, "MAP_FIXED_NOREPLACE"),
            ],
            "0",
        ),
        ArgFmt::Signal => Signal(args.int(i)).name().to_string(),
        ArgFmt::Timespec => timespec(t, v),
        ArgFmt::PostTimespec => {
            if post {
                timespec(t, v)
            } else {
                format!("{v:#x}")
            }
        }
        ArgFmt::ClockId => match args.int(i) {
            0 => "CLOCK_REALTIME".into(),
            1 => "CLOCK_MONOTONIC".into(),
            2 => "CLOCK_PROCESS_CPUTIME_ID".into(),
            3 => "CLOCK_THREAD_CPUTIME_ID".into(),
            4 => "CLOCK_MONOTONIC_RAW".into(),
            5 => "CLOCK_REALTIME_COARSE".into(),
            6 => "CLOCK_MONOTONIC_COARSE".into(),
            7 => "CLOCK_BOOTTIME".into(),
            c => c.to_string(),
        },
    }
}

fn timespec(t: &Task, addr: u64) -> String {
    if addr == 0 {
        return "NULL".into();
    }
    match t.mm().copy_in_obj::<abi::time::Timespec>(addr) {
        Ok(ts) => format!("{{sec={}, nsec={}}}", ts.sec, ts.nsec),
        Err(e) => format!("{addr:#x} ({})", e.name().unwrap_or("E???")),
    }
}

fn dump(t: &Task, addr: u64, len: usize) -> String {
    let max = t.kernel().strace.log_size;
    let n = len.min(max);
    let mut buf = vec![0u8; n];
    match t.mm().copy_in(addr, &mut buf) {
        Ok(()) => {
            let mut s = quote(&buf, max);
            if len > n {
                s.push_str("...");
            }
            s
        }
        Err(e) => format!("{addr:#x} ({})", e.name().unwrap_or("E???")),
    }
}

/// `"text"` with C escapes, at most `max` bytes shown.
pub fn quote(bytes: &[u8], max: usize) -> String {
    let mut s = String::from("\"");
    for &b in bytes.iter().take(max) {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    if bytes.len() > max {
        s.push_str("...");
    }
    s
}

fn flags(v: u64, names: &[(u64, &str)], zero: &str) -> String {
    if v == 0 {
        return zero.to_string();
    }
    let mut parts = Vec::new();
    let mut rest = v;
    // MAP_SHARED_VALIDATE (3) is a type, not a bit set: match the two-bit type field first.
    for &(bit, name) in names {
        if bit == 0x03 {
            if v & 0x03 == 0x03 {
                parts.push(name.to_string());
                rest &= !0x03;
            }
            continue;
        }
        if rest & bit == bit && bit != 0 {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    parts.join("|")
}

/// open(2) flags: the access mode by name, then the flag bits.
pub fn open_flags(v: u32) -> String {
    let acc = match v & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    };
    let rest = flags(
        u64::from(v & !3),
        &[
            (0o100, "O_CREAT"),
            (0o200, "O_EXCL"),
            (0o400, "O_NOCTTY"),
            (0o1000, "O_TRUNC"),
            (0o2000, "O_APPEND"),
            (0o4000, "O_NONBLOCK"),
            (0o10000, "O_DSYNC"),
            (0o20000, "O_ASYNC"),
            (0o40000, "O_DIRECT"),
            (0o100000, "O_LARGEFILE"),
            (0o200000, "O_DIRECTORY"),
            (0o400000, "O_NOFOLLOW"),
            (0o1000000, "O_NOATIME"),
            (0o2000000, "O_CLOEXEC"),
            (0o4000000, "O_SYNC"),
            (0o10000000, "O_PATH"),
            (0o20000000, "O_TMPFILE"),
        ],
        "",
    );
    if rest.is_empty() {
        acc.to_string()
    } else {
        format!("{acc}|{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_decode() {
        assert_eq!(open_flags(0), "O_RDONLY");
        assert_eq!(
            open_flags(0o2000000 | 0o100 | 1),
            "O_WRONLY|O_CREAT|O_CLOEXEC"
        );
        assert_eq!(open_flags(2 | 0x4000_0000), "O_RDWR|0x40000000");
    }

    #[test]
    fn quote_escapes_and_truncates() {
        assert_eq!(quote(b"a\n\"\x01", 64), "\"a\\n\\\"\\x01\"");
        assert_eq!(quote(b"abcdef", 3), "\"abc\"...");
    }

    #[test]
    fn strace_filter_by_name() {
        let s = Strace::new(&["read".to_string()], 64).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.enabled(0));
        assert!(!s.enabled(1));
        assert!(!s.enabled(u64::MAX));
        let _ = Strace::new(&["nosuchcall".to_string()], 64).unwrap_err();
        let all = Strace::new(&[], 64).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            all.enabled(u64::MAX),
            "unknown numbers are traced when all are"
        );
    }
}
