//! The text of the /proc files, as pure functions of plain data: what Linux's
//! fs/proc/{array.c,base.c,task_mmu.c,meminfo.c,stat.c,...} print, byte for byte where the
//! sandbox has the value, with zeros where it does not (CPU times, page-fault counts, RSS).
//!
//! The callers (`mod.rs`) gather the data from the task tree, the mm and the fd tables; keeping
//! the formatting separate lets the unit tests check the formats without a kernel.

use std::fmt::Write as _;

use abi::time::{RLIM_INFINITY, RLIM_NLIMITS, Rlimit};

/// The fields of /proc/[pid]/stat and /proc/[pid]/status the sandbox knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskInfo {
    /// The thread (for task/[tid]) or process id.
    pub pid: i32,
    pub tgid: i32,
    /// `comm`, without the NUL padding.
    pub comm: Vec<u8>,
    /// One of R S T Z X (fs/proc/array.c task_state_array).
    pub state: char,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// The controlling terminal (stat's tty_nr, new_encode_dev form; 0 for none) and its
    /// foreground process group (tpgid; -1 for none).
    pub tty_nr: u32,
    pub tpgid: i32,
    pub threads: usize,
    pub umask: u32,
    /// Real, effective, saved, filesystem.
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    /// Inheritable, permitted, effective, bounding capability sets.
    /// Inheritable, permitted, effective, bounding, ambient.
    pub caps: [u64; 5],
    pub groups: Vec<u32>,
    /// Descriptor table slots (FDSize).
    pub fd_size: usize,
    pub sig_pending: u64,
    pub shared_pending: u64,
    pub sig_blocked: u64,
    pub sig_ignored: u64,
    pub sig_caught: u64,
    /// RLIMIT_SIGPENDING soft limit (the SigQ denominator).
    pub sigq_limit: u64,
    pub exit_signal: i32,
    pub mem: MemInfo,
    pub no_new_privs: bool,
    pub ncpus: usize,
    /// The nice value (stat fields 18 and 19: priority 20 + nice, nice).
    pub nice: i32,
}

/// Address-space numbers in bytes (/proc/[pid]/status Vm*, statm, stat).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    pub size: u64,
    /// Private writable, not stack (VmData).
    pub data: u64,
    pub stack: u64,
    /// Executable file mappings of the program (VmExe).
    pub exe: u64,
    /// Other executable file mappings (VmLib).
    pub lib: u64,
    pub start_code: u64,
    pub end_code: u64,
    pub start_stack: u64,
    pub start_brk: u64,
    pub arg: (u64, u64),
    pub env: (u64, u64),
}

const PAGE: u64 = 4096;

/// The long name of a state letter (fs/proc/array.c task_state_array).
fn state_name(c: char) -> &'static str {
    match c {
        'R' => "R (running)",
        'S' => "S (sleeping)",
        'D' => "D (disk sleep)",
        'T' => "T (stopped)",
        't' => "t (tracing stop)",
        'Z' => "Z (zombie)",
        _ => "X (dead)",
    }
}

/// /proc/[pid]/stat (proc(5), fs/proc/array.c do_task_stat): 52 space-separated fields.
pub fn stat(t: &TaskInfo) -> String {
    let m = &t.mem;
    let mut s = String::with_capacity(320);
    let comm = String::from_utf8_lossy(&t.comm);
    // pid (comm) state ppid pgrp session tty_nr tpgid flags
    let _ = write!(
        s,
        "{} ({}) {} {} {} {} {} {} 4194304",
        t.pid, comm, t.state, t.ppid, t.pgid, t.sid, t.tty_nr, t.tpgid
    );
    // minflt cminflt majflt cmajflt utime stime cutime cstime priority nice
    let _ = write!(s, " 0 0 0 0 0 0 0 0 {} {}", 20 + t.nice, t.nice);
    // num_threads itrealvalue starttime vsize rss rsslim
    let _ = write!(s, " {} 0 0 {} 0 {}", t.threads, m.size, RLIM_INFINITY);
    // startcode endcode startstack kstkesp kstkeip
    let _ = write!(s, " {} {} {} 0 0", m.start_code, m.end_code, m.start_stack);
    // signal blocked sigignore sigcatch (obsolete decimal bitmaps) wchan nswap cnswap
    let _ = write!(
        s,
        " {} {} {} {} 0 0 0",
        t.sig_pending | t.shared_pending,
        t.sig_blocked,
        t.sig_ignored,
        t.sig_caught
    );
    // exit_signal processor rt_priority policy delayacct_blkio_ticks guest_time cguest_time
    let _ = write!(s, " {} 0 0 0 0 0 0", t.exit_signal);
    // start_data end_data start_brk arg_start arg_end env_start env_end exit_code
    let _ = writeln!(
        s,
        " 0 0 {} {} {} {} {} 0",
        m.start_brk, m.arg.0, m.arg.1, m.env.0, m.env.1
    );
    s
}

/// A "Vm...:\t    1234 kB" line (seq_put_decimal_ull_width with width 8).
fn vm_line(s: &mut String, name: &str, bytes: u64) {
    let _ = writeln!(s, "{name}:\t{:>8} kB", bytes / 1024);
}

/// A `cpus` CPU list as Linux prints it: "0", "0-3".
pub fn cpu_list(ncpus: usize) -> String {
    match ncpus {
        0 | 1 => "0".to_string(),
        n => format!("0-{}", n.saturating_sub(1)),
    }
}

/// The hex CPU mask of `ncpus` CPUs (Cpus_allowed), in 32-bit comma-separated groups.
fn cpu_mask(ncpus: usize) -> String {
    let n = ncpus.max(1);
    let groups = n.div_ceil(32);
    let mut parts = Vec::with_capacity(groups);
    for g in (0..groups).rev() {
        let bits = n.saturating_sub(g * 32).min(32);
        let word: u64 = if bits >= 32 {
            0xffff_ffff
        } else {
            (1u64 << bits) - 1
        };
        parts.push(if groups == 1 {
            format!("{word:x}")
        } else {
            format!("{word:08x}")
        });
    }
    parts.join(",")
}

/// /proc/[pid]/status (fs/proc/array.c proc_pid_status), in Linux 6.x's field order.
pub fn status(t: &TaskInfo) -> String {
    let m = &t.mem;
    let mut s = String::with_capacity(1400);
    let _ = writeln!(s, "Name:\t{}", String::from_utf8_lossy(&t.comm));
    let _ = writeln!(s, "Umask:\t{:04o}", t.umask);
    let _ = writeln!(s, "State:\t{}", state_name(t.state));
    let _ = writeln!(s, "Tgid:\t{}", t.tgid);
    s.push_str("Ngid:\t0\n");
    let _ = writeln!(s, "Pid:\t{}", t.pid);
    let _ = writeln!(s, "PPid:\t{}", t.ppid);
    s.push_str("TracerPid:\t0\n");
    let [u0, u1, u2, u3] = t.uids;
    let [g0, g1, g2, g3] = t.gids;
    let _ = writeln!(s, "Uid:\t{u0}\t{u1}\t{u2}\t{u3}");
    let _ = writeln!(s, "Gid:\t{g0}\t{g1}\t{g2}\t{g3}");
    let _ = writeln!(s, "FDSize:\t{}", t.fd_size);
    let groups: Vec<String> = t.groups.iter().map(u32::to_string).collect();
    // "Trailing space shouldn't have been added in the first place." (array.c)
    let _ = writeln!(s, "Groups:\t{} ", groups.join(" "));
    let _ = writeln!(s, "NStgid:\t{}", t.tgid);
    let _ = writeln!(s, "NSpid:\t{}", t.pid);
    let _ = writeln!(s, "NSpgid:\t{}", t.pgid);
    let _ = writeln!(s, "NSsid:\t{}", t.sid);
    s.push_str("Kthread:\t0\n");
    vm_line(&mut s, "VmPeak", m.size);
    vm_line(&mut s, "VmSize", m.size);
    vm_line(&mut s, "VmLck", 0);
    vm_line(&mut s, "VmPin", 0);
    vm_line(&mut s, "VmHWM", 0);
    vm_line(&mut s, "VmRSS", 0);
    vm_line(&mut s, "RssAnon", 0);
    vm_line(&mut s, "RssFile", 0);
    vm_line(&mut s, "RssShmem", 0);
    vm_line(&mut s, "VmData", m.data);
    vm_line(&mut s, "VmStk", m.stack);
    vm_line(&mut s, "VmExe", m.exe);
    vm_line(&mut s, "VmLib", m.lib);
    vm_line(&mut s, "VmPTE", 0);
    vm_line(&mut s, "VmSwap", 0);
    vm_line(&mut s, "HugetlbPages", 0);
    s.push_str("CoreDumping:\t0\nTHP_enabled:\t1\nuntag_mask:\t0xffffffffffffffff\n");
    let _ = writeln!(s, "Threads:\t{}", t.threads);
    let queued = u64::from((t.sig_pending | t.shared_pending).count_ones());
    let _ = writeln!(s, "SigQ:\t{queued}/{}", t.sigq_limit);
    let _ = writeln!(s, "SigPnd:\t{:016x}", t.sig_pending);
    let _ = writeln!(s, "ShdPnd:\t{:016x}", t.shared_pending);
    let _ = writeln!(s, "SigBlk:\t{:016x}", t.sig_blocked);
    let _ = writeln!(s, "SigIgn:\t{:016x}", t.sig_ignored);
    let _ = writeln!(s, "SigCgt:\t{:016x}", t.sig_caught);
    let [inh, prm, eff, bnd, amb] = t.caps;
    let _ = writeln!(s, "CapInh:\t{inh:016x}");
    let _ = writeln!(s, "CapPrm:\t{prm:016x}");
    let _ = writeln!(s, "CapEff:\t{eff:016x}");
    let _ = writeln!(s, "CapBnd:\t{bnd:016x}");
    let _ = writeln!(s, "CapAmb:\t{amb:016x}");
    let _ = writeln!(s, "NoNewPrivs:\t{}", u8::from(t.no_new_privs));
    s.push_str("Seccomp:\t0\nSeccomp_filters:\t0\n");
    s.push_str("Speculation_Store_Bypass:\tthread vulnerable\n");
    s.push_str("SpeculationIndirectBranch:\tconditional enabled\n");
    let _ = writeln!(s, "Cpus_allowed:\t{}", cpu_mask(t.ncpus));
    let _ = writeln!(s, "Cpus_allowed_list:\t{}", cpu_list(t.ncpus));
    s.push_str("Mems_allowed:\t1\nMems_allowed_list:\t0\n");
    s.push_str("voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n");
    s
}

/// /proc/[pid]/statm: size resident shared text lib data dt, in pages.
pub fn statm(m: &MemInfo) -> String {
    format!(
        "{} 0 0 {} 0 {} 0\n",
        m.size / PAGE,
        m.exe / PAGE,
        m.data.saturating_add(m.stack) / PAGE
    )
}

/// One VMA as /proc/[pid]/maps shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapsLine {
    pub start: u64,
    pub end: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    pub shared: bool,
    pub offset: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub ino: u64,
    /// Path, `[heap]`, `[stack]`, or empty.
    pub name: Vec<u8>,
}

/// One line of /proc/[pid]/maps (fs/proc/task_mmu.c show_vma_header_prefix): the name, if
/// any, starts at column 73 (`25 + sizeof(void *) * 6 - 1` plus the separating space); an
/// unnamed mapping ends with the space after the inode.
pub fn maps_line(l: &MapsLine) -> Vec<u8> {
    let flag = |b: bool, c: char| if b { c } else { '-' };
    let mut head = format!(
        "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
        l.start,
        l.end,
        flag(l.read, 'r'),
        flag(l.write, 'w'),
        flag(l.exec, 'x'),
        if l.shared { 's' } else { 'p' },
        l.offset,
        l.dev_major,
        l.dev_minor,
        l.ino
    );
    if !l.name.is_empty() {
        while head.len() < 73 {
            head.push(' ');
        }
    }
    let mut out = head.into_bytes();
    out.extend_from_slice(&l.name);
    out.push(b'\n');
    out
}

/// Names and units of the resource limits (fs/proc/base.c lnames).
const LIMIT_NAMES: [(&str, &str); RLIM_NLIMITS] = [
    ("Max cpu time", "seconds"),
    ("Max file size", "bytes"),
    ("Max data size", "bytes"),
    ("Max stack size", "bytes"),
    ("Max core file size", "bytes"),
    ("Max resident set", "bytes"),
    ("Max processes", "processes"),
    ("Max open files", "files"),
    ("Max locked memory", "bytes"),
    ("Max address space", "bytes"),
    ("Max file locks", "locks"),
    ("Max pending signals", "signals"),
    ("Max msgqueue size", "bytes"),
    ("Max nice priority", ""),
    ("Max realtime priority", ""),
    ("Max realtime timeout", "us"),
];

/// /proc/[pid]/limits (fs/proc/base.c proc_pid_limits).
pub fn limits(l: &[Rlimit; RLIM_NLIMITS]) -> String {
    let v = |x: u64| {
        if x == RLIM_INFINITY {
            "unlimited".to_string()
        } else {
            x.to_string()
        }
    };
    let mut s = format!(
        "{:<25} {:<20} {:<20} {:<10}\n",
        "Limit", "Soft Limit", "Hard Limit", "Units"
    );
    for ((name, unit), r) in LIMIT_NAMES.iter().zip(l.iter()) {
        let _ = write!(s, "{name:<25} {:<20} {:<20} ", v(r.cur), v(r.max));
        if unit.is_empty() {
            s.push('\n');
        } else {
            let _ = writeln!(s, "{unit:<10}");
        }
    }
    s
}

/// A path in /proc/[pid]/mounts: space, tab, newline and backslash as octal escapes
/// (fs/proc_namespace.c mangle, " \t\n\\"); other bytes as they are.
pub fn mangle(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for &b in path {
        match b {
            b' ' | b'\t' | b'\n' | b'\\' => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
            _ => out.push(b),
        }
    }
    out
}

/// One line of /proc/[pid]/mounts: "source target fstype options 0 0".
pub fn mounts_line(source: &str, target: &[u8], fstype: &str, readonly: bool) -> Vec<u8> {
    let mut out = format!("{source} ").into_bytes();
    out.extend_from_slice(&mangle(target));
    let opts = if readonly { "ro" } else { "rw" };
    out.extend_from_slice(format!(" {fstype} {opts},relatime 0 0\n").as_bytes());
    out
}

/// /proc/[pid]/fdinfo/N (fs/proc/fd.c seq_show): pos, flags in octal with a leading 0,
/// mount id, inode.
pub fn fdinfo(pos: u64, flags: u32, mnt_id: u64, ino: u64) -> String {
    format!("pos:\t{pos}\nflags:\t0{flags:o}\nmnt_id:\t{mnt_id}\nino:\t{ino}\n")
}

/// Host memory numbers for /proc/meminfo, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostMem {
    pub total: u64,
    pub free: u64,
    pub swap_total: u64,
    pub swap_free: u64,
}

/// /proc/meminfo (fs/proc/meminfo.c), the fields programs read; "kB" is KiB.
pub fn meminfo(m: &HostMem) -> String {
    let mut s = String::new();
    let line = |s: &mut String, name: &str, bytes: u64| {
        let label = format!("{name}:");
        let _ = writeln!(s, "{label:<16}{:>8} kB", bytes / 1024);
    };
    line(&mut s, "MemTotal", m.total);
    line(&mut s, "MemFree", m.free);
    line(&mut s, "MemAvailable", m.free);
    for name in ["Buffers", "Cached", "SwapCached", "Active", "Inactive"] {
        line(&mut s, name, 0);
    }
    line(&mut s, "SwapTotal", m.swap_total);
    line(&mut s, "SwapFree", m.swap_free);
    for name in [
        "Dirty",
        "Writeback",
        "AnonPages",
        "Mapped",
        "Shmem",
        "Slab",
        "SReclaimable",
        "SUnreclaim",
        "KernelStack",
        "PageTables",
        "CommitLimit",
        "Committed_AS",
    ] {
        line(&mut s, name, 0);
    }
    line(&mut s, "VmallocTotal", 34_359_738_367 * 1024);
    s
}

/// /proc/uptime: seconds since boot and idle seconds summed over CPUs, two decimals.
pub fn uptime(up_centis: u64, ncpus: usize) -> String {
    let idle = up_centis.saturating_mul(u64::try_from(ncpus.max(1)).unwrap_or(1));
    format!(
        "{}.{:02} {}.{:02}\n",
        up_centis / 100,
        up_centis % 100,
        idle / 100,
        idle % 100
    )
}

/// /proc/loadavg: the sandbox keeps no load average; runnable/total threads and the last
/// pid are its own.
pub fn loadavg(running: usize, total: usize, last_pid: i32) -> String {
    format!("0.00 0.00 0.00 {running}/{total} {last_pid}\n")
}

/// /proc/stat: no CPU time accounting yet (zeros); btime and process counts are real.
pub fn kernel_stat(ncpus: usize, btime: u64, processes: usize, running: usize) -> String {
    let zeros = " 0 0 0 0 0 0 0 0 0 0";
    let mut s = format!("cpu {zeros}\n");
    for i in 0..ncpus.max(1) {
        let _ = writeln!(s, "cpu{i}{zeros}");
    }
    let _ = writeln!(s, "intr 0\nctxt 0\nbtime {btime}\nprocesses {processes}");
    let _ = writeln!(s, "procs_running {running}\nprocs_blocked 0");
    s.push_str("softirq 0 0 0 0 0 0 0 0 0 0 0\n");
    s
}

/// /proc/locks (fs/locks.c lock_get_status): one line per held lock, numbered from 1.
pub fn locks(all: &[vfs::lock::LockInfo]) -> String {
    use vfs::lock::{LockClass, OFFSET_MAX};
    let mut s = String::new();
    for (i, l) in all.iter().enumerate() {
        let class = match l.class {
            LockClass::Flock => "FLOCK  ADVISORY  ",
            LockClass::Posix => "POSIX  ADVISORY  ",
            LockClass::Ofd => "OFDLCK ADVISORY  ",
        };
        let ty = if l.write { "WRITE " } else { "READ " };
        let (dev, ino) = l.key;
        let _ = write!(
            s,
            "{}: {class}{ty}{} {:02x}:{:02x}:{ino} ",
            i + 1,
            l.pid,
            abi::file::dev_major(dev),
            abi::file::dev_minor(dev)
        );
        let _ = match (l.class, l.end) {
            (LockClass::Flock, _) => writeln!(s, "0 EOF"),
            (_, OFFSET_MAX) => writeln!(s, "{} EOF", l.start),
            _ => writeln!(s, "{} {}", l.start, l.end),
        };
    }
    s
}

/// /proc/filesystems: the filesystem types the sandbox has.
pub fn filesystems() -> &'static str {
    "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevpts\nnodev\t9p\n"
}

/// CPU identification for /proc/cpuinfo.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuId {
    pub vendor: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub model_name: String,
    pub flags: Vec<&'static str>,
}

/// /proc/cpuinfo (arch/x86/kernel/cpu/proc.c show_cpuinfo), one block per sandbox CPU.
pub fn cpuinfo(c: &CpuId, ncpus: usize) -> String {
    let mut s = String::new();
    let n = ncpus.max(1);
    for i in 0..n {
        let _ = writeln!(s, "processor\t: {i}");
        let _ = writeln!(s, "vendor_id\t: {}", c.vendor);
        let _ = writeln!(s, "cpu family\t: {}", c.family);
        let _ = writeln!(s, "model\t\t: {}", c.model);
        let _ = writeln!(s, "model name\t: {}", c.model_name);
        let _ = writeln!(s, "stepping\t: {}", c.stepping);
        s.push_str("cpu MHz\t\t: 0.000\n");
        s.push_str("physical id\t: 0\n");
        let _ = writeln!(s, "siblings\t: {n}");
        let _ = writeln!(s, "core id\t\t: {i}");
        let _ = writeln!(s, "cpu cores\t: {n}");
        let _ = writeln!(s, "apicid\t\t: {i}");
        let _ = writeln!(s, "initial apicid\t: {i}");
        s.push_str("fpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: 13\nwp\t\t: yes\n");
        let _ = writeln!(s, "flags\t\t: {}", c.flags.join(" "));
        s.push_str("bogomips\t: 0.00\nclflush size\t: 64\ncache_alignment\t: 64\n");
        s.push_str("address sizes\t: 46 bits physical, 48 bits virtual\npower management:\n\n");
    }
    s
}

/// /proc/net/dev for `ifaces`, with the frame counters of the Ethernet ones (`stats`, by
/// index; loopback keeps no counters: zeros).
pub fn net_dev(
    ifaces: &[crate::socket::netlink::Interface],
    stats: &[(u32, netstack::WireStats)],
) -> String {
    let mut s = String::from(
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
    );
    for i in ifaces {
        let st = stats
            .iter()
            .find(|(idx, _)| i64::from(*idx) == i64::from(i.index))
            .map(|(_, st)| *st)
            .unwrap_or_default();
        s.push_str(&format!(
            "{:>6}: {:>7} {:>7} {:>4} {:>4} {:>4} {:>5} {:>10} {:>9} {:>8} {:>7} {:>4} {:>4} {:>4} {:>5} {:>7} {:>10}\n",
            i.name,
            st.rx_bytes,
            st.rx_packets,
            st.rx_errors,
            st.rx_dropped,
            0,
            0,
            0,
            0,
            st.tx_bytes,
            st.tx_packets,
            st.tx_errors,
            st.tx_dropped,
            0,
            0,
            0,
            0
        ));
    }
    s
}

/// /proc/net/route: the main table's IPv4 routes, addresses as little-endian hex words the
/// way fib_route_seq_show prints them (flags RTF_UP, plus RTF_GATEWAY for a gateway).
pub fn net_route(
    ifaces: &[crate::socket::netlink::Interface],
    routes: &[netstack::RouteInfo],
) -> String {
    let mut s = NET_ROUTE_HEADER.to_string();
    let hex = |a: std::net::Ipv4Addr| format!("{:08X}", u32::from_le_bytes(a.octets()));
    for r in routes {
        let std::net::IpAddr::V4(dst) = r.dst else {
            continue;
        };
        let gw = match r.gateway {
            Some(std::net::IpAddr::V4(g)) => g,
            _ => std::net::Ipv4Addr::UNSPECIFIED,
        };
        let flags = if r.gateway.is_some() { 0x3 } else { 0x1 };
        let p = u32::from(r.prefix.min(32));
        let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
        let name = ifaces
            .iter()
            .find(|i| i64::from(i.index) == i64::from(r.ifindex))
            .map_or("?", |i| i.name.as_str());
        let line = format!(
            "{name}\t{}\t{}\t{flags:04X}\t0\t0\t0\t{}\t0\t0\t0",
            hex(dst),
            hex(gw),
            hex(std::net::Ipv4Addr::from(mask))
        );
        s.push_str(&format!("{line:<127}\n"));
    }
    s
}

/// /proc/net/if_inet6: one line per IPv6 address (address, index, prefix length, scope,
/// flags, name), as net/ipv6/addrconf.c prints it.
pub fn net_if_inet6(ifaces: &[crate::socket::netlink::Interface]) -> String {
    let mut s = String::new();
    for i in ifaces {
        for (a, plen, _) in &i.addrs {
            if let std::net::IpAddr::V6(v6) = a {
                let hex: String = v6.octets().iter().map(|b| format!("{b:02x}")).collect();
                // The scope field is IPV6_ADDR_LOOPBACK (0x10) for ::1; flags IFA_F_PERMANENT.
                let scope = if v6.is_loopback() { 0x10 } else { 0 };
                s.push_str(&format!(
                    "{hex} {:02x} {plen:02x} {scope:02x} 80 {:>8}\n",
                    i.index, i.name
                ));
            }
        }
    }
    s
}

/// The header line of /proc/net/route.
pub const NET_ROUTE_HEADER: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       \n";
/// The header line of /proc/net/tcp.
pub const NET_TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n";
/// The header line of /proc/net/tcp6.
pub const NET_TCP6_HEADER: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
/// The header line of /proc/net/udp.
pub const NET_UDP_HEADER: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops             \n";
/// The header line of /proc/net/udp6.
pub const NET_UDP6_HEADER: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";

/// One address as /proc/net/{tcp,udp}{,6} print it: the address's 32-bit words in the host's
/// byte order (so 127.0.0.1 is `0100007F` on x86), then the port.
fn net_addr(a: std::net::SocketAddr, v6: bool) -> String {
    let words: Vec<u32> = match (a.ip(), v6) {
        (std::net::IpAddr::V4(ip), false) => vec![u32::from_ne_bytes(ip.octets())],
        (std::net::IpAddr::V6(ip), true) => ip
            .octets()
            .chunks(4)
            .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        (std::net::IpAddr::V4(ip), true) => ip
            .to_ipv6_mapped()
            .octets()
            .chunks(4)
            .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        (std::net::IpAddr::V6(ip), false) => {
            vec![u32::from_ne_bytes(
                ip.to_ipv4_mapped()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED)
                    .octets(),
            )]
        }
    };
    let hex: String = words.iter().map(|w| format!("{w:08X}")).collect();
    format!("{hex}:{:04X}", a.port())
}

/// /proc/net/tcp, tcp6, udp or udp6 (`tcp`, `v6`) listing `entries`. Timers, uid and inode
/// are not kept by the netstack: shown as 0.
pub fn net_sockets(entries: &[netstack::SocketEntry], tcp: bool, v6: bool) -> String {
    let mut s = String::from(match (tcp, v6) {
        (true, false) => NET_TCP_HEADER,
        (true, true) => NET_TCP6_HEADER,
        (false, false) => NET_UDP_HEADER,
        (false, true) => NET_UDP6_HEADER,
    });
    for (i, e) in entries.iter().enumerate() {
        s.push_str(&format!(
            "{i:>4}: {} {} {:02X} {:08X}:{:08X} 00:00000000 00000000 {:>5} {:>8} 0{}\n",
            net_addr(e.local, v6),
            net_addr(e.remote, v6),
            e.state,
            e.tx_queue,
            e.rx_queue,
            0,
            0,
            if tcp {
                " 1 0000000000000000 100 0 0 10 0"
            } else {
                " 2 0000000000000000 0"
            }
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TaskInfo {
        TaskInfo {
            pid: 7,
            tgid: 7,
            comm: b"sh".to_vec(),
            state: 'S',
            ppid: 1,
            pgid: 7,
            sid: 1,
            tpgid: -1,
            threads: 1,
            umask: 0o022,
            fd_size: 64,
            sigq_limit: 63_459,
            exit_signal: 17,
            ncpus: 2,
            sig_blocked: 1 << 1,
            mem: MemInfo {
                size: 8 << 20,
                data: 1 << 20,
                stack: 132 << 10,
                exe: 20 << 10,
                ..MemInfo::default()
            },
            ..TaskInfo::default()
        }
    }

    #[test]
    fn proc_locks_lines_match_linux() {
        use vfs::lock::{LockClass, LockInfo, OFFSET_MAX};
        let l = |class, write, pid, start, end| LockInfo {
            class,
            write,
            pid,
            key: (abi::file::makedev(0, 0x2f), 1234),
            start,
            end,
        };
        let out = locks(&[
            l(LockClass::Posix, true, 42, 0, OFFSET_MAX),
            l(LockClass::Flock, false, 7, 0, OFFSET_MAX),
            l(LockClass::Ofd, false, -1, 10, 19),
        ]);
        assert_eq!(
            out,
            "1: POSIX  ADVISORY  WRITE 42 00:2f:1234 0 EOF\n\
             2: FLOCK  ADVISORY  READ 7 00:2f:1234 0 EOF\n\
             3: OFDLCK ADVISORY  READ -1 00:2f:1234 10 19\n"
        );
    }

    #[test]
    fn stat_has_52_fields_with_comm_in_parentheses() {
        let s = stat(&sample());
        assert!(s.starts_with("7 (sh) S 1 7 1 0 -1 "));
        assert!(s.ends_with(" 0\n"));
        let after = s.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
        // 52 fields: pid and comm, then 50 after the closing parenthesis.
        assert_eq!(after.split_whitespace().count(), 50);
        let fields: Vec<&str> = after.split_whitespace().collect();
        // Field 20 (num_threads) and 23 (vsize), counting from 1 with pid as 1.
        assert_eq!(fields[17], "1");
        assert_eq!(fields[20], (8u64 << 20).to_string());
        assert_eq!(fields[35], "17");
    }

    #[test]
    fn status_lines_match_linux_shapes() {
        let s = status(&sample());
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "Name:\tsh");
        assert_eq!(lines[1], "Umask:\t0022");
        assert_eq!(lines[2], "State:\tS (sleeping)");
        assert!(lines.contains(&"Pid:\t7"));
        assert!(lines.contains(&"PPid:\t1"));
        assert!(lines.contains(&"Uid:\t0\t0\t0\t0"));
        assert!(lines.contains(&"Groups:\t "));
        assert!(lines.contains(&"VmSize:\t    8192 kB"));
        assert!(lines.contains(&"VmStk:\t     132 kB"));
        assert!(lines.contains(&"SigBlk:\t0000000000000002"));
        assert!(lines.contains(&"Cpus_allowed:\t3"));
        assert!(lines.contains(&"Cpus_allowed_list:\t0-1"));
        assert!(lines.contains(&"Threads:\t1"));
    }

    #[test]
    fn groups_line_keeps_linux_trailing_space() {
        let t = TaskInfo {
            groups: vec![10, 20],
            ..sample()
        };
        assert!(status(&t).contains("\nGroups:\t10 20 \n"));
    }

    #[test]
    fn cpu_mask_and_list() {
        assert_eq!(cpu_mask(1), "1");
        assert_eq!(cpu_mask(4), "f");
        assert_eq!(cpu_mask(32), "ffffffff");
        assert_eq!(cpu_mask(33), "00000001,ffffffff");
        assert_eq!(cpu_list(1), "0");
        assert_eq!(cpu_list(8), "0-7");
    }

    #[test]
    fn maps_line_pads_named_mappings_to_column_73() {
        let l = MapsLine {
            start: 0x5556_9518_3000,
            end: 0x5556_9518_5000,
            read: true,
            dev_major: 0xfe,
            ino: 247_282,
            name: b"/usr/bin/head".to_vec(),
            ..MapsLine::default()
        };
        assert_eq!(
            maps_line(&l),
            b"555695183000-555695185000 r--p 00000000 fe:00 247282                     /usr/bin/head\n"
        );
        let anon = MapsLine {
            start: 0x1000,
            end: 0x2000,
            read: true,
            write: true,
            ..MapsLine::default()
        };
        assert_eq!(
            maps_line(&anon),
            b"00001000-00002000 rw-p 00000000 00:00 0 \n"
        );
    }

    #[test]
    fn statm_is_in_pages() {
        let m = MemInfo {
            size: 10 * PAGE,
            exe: 2 * PAGE,
            data: 3 * PAGE,
            stack: PAGE,
            ..MemInfo::default()
        };
        assert_eq!(statm(&m), "10 0 0 2 0 4 0\n");
    }

    #[test]
    fn limits_table_matches_linux_columns() {
        let mut l = [Rlimit {
            cur: RLIM_INFINITY,
            max: RLIM_INFINITY,
        }; RLIM_NLIMITS];
        l[7] = Rlimit {
            cur: 1024,
            max: 1_048_576,
        };
        let s = limits(&l);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines[0],
            "Limit                     Soft Limit           Hard Limit           Units     "
        );
        assert_eq!(
            lines[1],
            "Max cpu time              unlimited            unlimited            seconds   "
        );
        assert_eq!(
            lines[8],
            "Max open files            1024                 1048576              files     "
        );
        assert_eq!(
            lines[14],
            "Max nice priority         unlimited            unlimited            "
        );
        assert_eq!(lines.len(), 17);
    }

    #[test]
    fn mounts_escape_spaces() {
        assert_eq!(
            mounts_line("tmpfs", b"/a b", "tmpfs", false),
            b"tmpfs /a\\040b tmpfs rw,relatime 0 0\n"
        );
        assert_eq!(
            mounts_line("none", b"/", "9p", true),
            b"none / 9p ro,relatime 0 0\n"
        );
    }

    #[test]
    fn fdinfo_flags_are_octal_with_leading_zero() {
        assert_eq!(
            fdinfo(5, 0o100002, 3, 42),
            "pos:\t5\nflags:\t0100002\nmnt_id:\t3\nino:\t42\n"
        );
    }

    #[test]
    fn uptime_loadavg_meminfo_shapes() {
        assert_eq!(uptime(12_345, 2), "123.45 246.90\n");
        assert_eq!(loadavg(1, 3, 12), "0.00 0.00 0.00 1/3 12\n");
        let m = meminfo(&HostMem {
            total: 16 << 30,
            free: 8 << 30,
            ..HostMem::default()
        });
        assert!(m.starts_with("MemTotal:       16777216 kB\nMemFree:         8388608 kB\n"));
    }

    #[test]
    fn kernel_stat_has_one_line_per_cpu() {
        let s = kernel_stat(2, 1_700_000_000, 5, 1);
        assert!(s.starts_with("cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 0 "));
        assert!(s.contains("\ncpu1 0 "));
        assert!(s.contains("\nbtime 1700000000\n"));
        assert!(s.contains("\nprocesses 5\n"));
    }
}
