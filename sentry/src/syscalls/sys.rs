//! System information and limits: uname, sysinfo, getrandom, CPU affinity, rlimits.

use abi::Errno;
use abi::time::{RLIM_NLIMITS, Rlimit, Sysinfo};

use super::{SyscallArgs, SyscallResult, ok_usize, ok_zero};
use crate::kernel::Task;

/// uname(2).
pub fn sys_uname(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let uts = t.kernel().uts;
    t.copy_out_obj(args.ptr(0), &uts)?;
    ok_zero()
}

/// sysinfo(2): uptime of the sandbox, memory figures of the host (the sandbox has no memory
/// limit of its own yet), one process.
pub fn sys_sysinfo(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    // The host's numbers, or the sandbox's memory limit (kernel/oom.rs).
    let mem = crate::kernel::oom::mem_view(t.kernel());
    let info = Sysinfo {
        uptime: i64::try_from(t.kernel().boot.elapsed().as_secs()).unwrap_or(i64::MAX),
        totalram: mem.total,
        freeram: mem.free,
        totalswap: mem.swap_total,
        freeswap: mem.swap_free,
        procs: 1,
        mem_unit: 1,
        ..Sysinfo::default()
    };
    t.copy_out_obj(args.ptr(0), &info)?;
    ok_zero()
}

const GRND_NONBLOCK: u32 = 1;
const GRND_RANDOM: u32 = 2;
const GRND_INSECURE: u32 = 4;

/// getrandom(2). Large requests are served in chunks; the count is capped at 32 MiB - 1 per
/// call (the kernel may return short counts for requests over 256 bytes).
pub fn sys_getrandom(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = args.uint(2);
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
    {
        return Err(Errno::EINVAL);
    }
    let len = usize::try_from(args.size(1).min((32 << 20) - 1)).unwrap_or(0);
    let mut buf = vec![0u8; len.min(1 << 20)];
    let mut done = 0usize;
    while done < len {
        let n = (len - done).min(buf.len());
        let Some(chunk) = buf.get_mut(..n) else { break };
        crate::kernel::task::getrandom_host(chunk);
        let dst = args.ptr(0).checked_add(done as u64).ok_or(Errno::EFAULT)?;
        let (c, err) = t.mm.copy_out_partial(dst, chunk);
        done += c;
        if err.is_some() {
            return super::io_result(done, err);
        }
    }
    ok_usize(done)
}

/// sched_yield(2).
pub fn sys_sched_yield(_t: &mut Task, _: &SyscallArgs) -> SyscallResult {
    std::thread::yield_now();
    ok_zero()
}

/// sched_getaffinity(2): the sandbox may run on as many CPUs as the host gave it. Returns the
/// size of the kernel's mask (8 bytes for up to 64 CPUs).
pub fn sys_sched_getaffinity(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let pid = args.int(0);
    if pid != 0 && pid != t.tid() {
        return Err(Errno::ESRCH);
    }
    let len = args.uint(1);
    // EINVAL if the buffer is smaller than the kernel's mask or not a multiple of a long.
    if len < 8 || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let n = t.kernel().ncpus.clamp(1, 64);
    let mask: u64 = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    t.copy_out_obj(args.ptr(2), &mask)?;
    ok_usize(8)
}

fn rlimit_index(resource: u32) -> Result<usize, Errno> {
    usize::try_from(resource)
        .ok()
        .filter(|&r| r < RLIM_NLIMITS)
        .ok_or(Errno::EINVAL)
}

/// prlimit64(2).
pub fn sys_prlimit64(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let pid = args.int(0);
    let idx = rlimit_index(args.uint(1))?;
    if pid != 0 && pid != t.tgid() {
        return Err(Errno::ESRCH);
    }
    do_rlimit(t, idx, args.ptr(2), args.ptr(3))
}

/// getrlimit(2).
pub fn sys_getrlimit(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let idx = rlimit_index(args.uint(0))?;
    do_rlimit(t, idx, 0, args.ptr(1))
}

/// setrlimit(2).
pub fn sys_setrlimit(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let idx = rlimit_index(args.uint(0))?;
    do_rlimit(t, idx, args.ptr(1), 0)
}

fn do_rlimit(t: &mut Task, idx: usize, new_addr: u64, old_addr: u64) -> SyscallResult {
    let new: Option<Rlimit> = if new_addr != 0 {
        Some(t.copy_in_obj(new_addr)?)
    } else {
        None
    };
    let limits = t.tg().limits();
    let old = *limits.get(idx).ok_or(Errno::EINVAL)?;
    if let Some(n) = new {
        if n.cur > n.max {
            return Err(Errno::EINVAL);
        }
        // Raising the hard limit needs CAP_SYS_RESOURCE.
        if n.max > old.max && !t.creds.has_cap(abi::cap::CAP_SYS_RESOURCE) {
            return Err(Errno::EPERM);
        }
        // RLIMIT_NOFILE may not exceed fs.nr_open (1048576).
        if idx == abi::time::RLIMIT_NOFILE as usize && n.max > 1_048_576 {
            return Err(Errno::EPERM);
        }
    }
    if old_addr != 0 {
        t.copy_out_obj(old_addr, &old)?;
    }
    if let (Some(n), Ok(r)) = (new, u32::try_from(idx)) {
        t.tg().set_rlimit(r, n);
    }
    ok_zero()
}

/// This process's usage so far (the platform's CPU clock of its address space) and what its
/// reaped children used.
fn usages(t: &Task) -> (crate::kernel::tree::Usage, crate::kernel::tree::Usage) {
    let own = crate::kernel::tree::Usage::of_mm(t.mm());
    let children = t
        .kernel()
        .tree()
        .proc(t.tgid())
        .map(|p| p.children_usage)
        .unwrap_or_default();
    (own, children)
}

/// getrusage(2): RUSAGE_SELF and RUSAGE_THREAD (the process's figure: per-thread CPU time is
/// not measured) and RUSAGE_CHILDREN (reaped descendants); anything else EINVAL.
pub fn sys_getrusage(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    const RUSAGE_SELF: i32 = 0;
    const RUSAGE_CHILDREN: i32 = -1;
    const RUSAGE_THREAD: i32 = 1;
    let (own, children) = usages(t);
    let r = match args.int(0) {
        RUSAGE_SELF | RUSAGE_THREAD => own.to_rusage(),
        RUSAGE_CHILDREN => children.to_rusage(),
        _ => return Err(Errno::EINVAL),
    };
    t.copy_out_obj(args.ptr(1), &r)?;
    ok_zero()
}

/// times(2): clock ticks (USER_HZ = 100) since the sandbox booted, and the process's and its
/// reaped children's CPU times.
pub fn sys_times(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let ticks = |d: std::time::Duration| i64::try_from(d.as_millis() / 10).unwrap_or(i64::MAX);
    if args.ptr(0) != 0 {
        let (own, children) = usages(t);
        let tms = abi::clone::Tms {
            utime: ticks(own.user),
            stime: ticks(own.system),
            cutime: ticks(children.user),
            cstime: ticks(children.system),
        };
        t.copy_out_obj(args.ptr(0), &tms)?;
    }
    let up = t.kernel().boot.elapsed();
    let now = u64::try_from(up.as_millis() / 10).unwrap_or(u64::MAX);
    Ok(super::SyscallReturn::Value(now))
}
