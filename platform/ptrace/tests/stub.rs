//! Integration tests of the ptrace platform: real stubs running hand-assembled x86-64 code.
//!
//! `harness = false` (libtest-mimic): each trial checks the capability it needs (ptrace and
//! seccomp; for one test the FSGSBASE instructions) at run time and, if the host lacks it, is
//! reported as *ignored* with the reason — never as passed. With `RVISOR_REQUIRE_CAPS=1` a
//! missing capability is a failure instead (CI machines that have it must run everything).
//!
//! All tests share one platform, because the stub page is reserved at a fixed address once per
//! process; each test gets its own slice of the shared MemoryFile. Code and data are written to
//! and read from the MemoryFile with pwrite/pread, which sees the same page-cache pages the stub
//! maps. Trials run in parallel on libtest-mimic's worker threads, which is itself a test of
//! "address spaces from any host thread".
#![allow(clippy::tests_outside_test_module)]

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use abi::signal::Signal;
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use nix::sys::memfd::{MFdFlags, memfd_create};
use platform::{
    AddressSpace, Context, FpState, Perms, Platform, PlatformError, Regs, SwitchOutcome, SyscallAbi,
};
use platform_ptrace::{PtraceAddressSpace, PtraceContext, PtracePlatform};

const CODE: u64 = 0x40_0000;
const DATA: u64 = 0x50_0000;
const FAULT_ADDR: u64 = 0x60_0000;
const PAGE: u64 = 4096;
/// MemoryFile pages per test.
const SLICE_PAGES: u64 = 4;
const MEMFILE_SIZE: u64 = 8 << 20;
const VSYSCALL: u64 = 0xffff_ffff_ff60_0000;
/// A kernel-half address `wrfsbase` accepts (canonical) and PTRACE_SETREGS refuses.
const KERNEL_HALF_BASE: u64 = 0xffff_8000_0000_1000;
/// Offsets in the XSAVE layout (Intel SDM vol. 1, 13.4): XMM0 in the legacy area, the header's
/// XSTATE_BV.
const XMM0_OFFSET: usize = 160;
const XSTATE_BV_OFFSET: usize = 512;

/// A tiny x86-64 assembler: just the encodings these tests use.
#[derive(Default)]
struct Asm(Vec<u8>);

impl Asm {
    fn bytes(mut self, b: &[u8]) -> Asm {
        self.0.extend_from_slice(b);
        self
    }
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    /// `mov eax, imm32` (b8 id)
    fn mov_eax(self, v: u32) -> Asm {
        self.bytes(&[0xb8]).bytes(&v.to_le_bytes())
    }
    /// `mov esi, imm32` (be id)
    fn mov_esi(self, v: u32) -> Asm {
        self.bytes(&[0xbe]).bytes(&v.to_le_bytes())
    }
    /// `movabs rdi, imm64` (48 bf io)
    fn mov_rdi(self, v: u64) -> Asm {
        self.bytes(&[0x48, 0xbf]).bytes(&v.to_le_bytes())
    }
    /// `movabs rax, imm64` (48 b8 io)
    fn mov_rax(self, v: u64) -> Asm {
        self.bytes(&[0x48, 0xb8]).bytes(&v.to_le_bytes())
    }
    /// `mov [moffs64], rax` (48 a3 io)
    fn store_rax(self, addr: u64) -> Asm {
        self.bytes(&[0x48, 0xa3]).bytes(&addr.to_le_bytes())
    }
    /// `mov rax, [moffs64]` (48 a1 io)
    fn load_rax(self, addr: u64) -> Asm {
        self.bytes(&[0x48, 0xa1]).bytes(&addr.to_le_bytes())
    }
    fn syscall(self) -> Asm {
        self.bytes(&[0x0f, 0x05])
    }
    /// `int 0x80` (cd 80)
    fn int80(self) -> Asm {
        self.bytes(&[0xcd, 0x80])
    }
    /// `call rax` (ff d0)
    fn call_rax(self) -> Asm {
        self.bytes(&[0xff, 0xd0])
    }
    /// `wrfsbase rax` (f3 48 0f ae d0)
    fn wrfsbase_rax(self) -> Asm {
        self.bytes(&[0xf3, 0x48, 0x0f, 0xae, 0xd0])
    }
    /// `movq rax, xmm0` (66 48 0f 7e c0)
    fn movq_rax_xmm0(self) -> Asm {
        self.bytes(&[0x66, 0x48, 0x0f, 0x7e, 0xc0])
    }
    /// `movq xmm1, rax` (66 48 0f 6e c8)
    fn movq_xmm1_rax(self) -> Asm {
        self.bytes(&[0x66, 0x48, 0x0f, 0x6e, 0xc8])
    }
    /// `stmxcsr [disp32]` (0f ae 1c 25 id): absolute address below 2 GiB.
    fn stmxcsr(self, addr: u32) -> Asm {
        self.bytes(&[0x0f, 0xae, 0x1c, 0x25])
            .bytes(&addr.to_le_bytes())
    }
    /// `test rax, rax; jz <back to the start of this Asm>`: the loop is `[start, here)`.
    fn jz_to_start(self) -> Asm {
        let back = -(i64::try_from(self.len()).expect("short code") + 5);
        let rel = i8::try_from(back).expect("short loop").to_le_bytes();
        self.bytes(&[0x48, 0x85, 0xc0, 0x74]).bytes(&rel)
    }
    fn ud2(self) -> Asm {
        self.bytes(&[0x0f, 0x0b])
    }
    /// `jmp $` (eb fe): spin forever.
    fn spin(self) -> Asm {
        self.bytes(&[0xeb, 0xfe])
    }
    /// `mov eax, 39; syscall; jmp <back to the mov>`: getpid forever.
    fn getpid_loop(self) -> Asm {
        self.mov_eax(39).syscall().bytes(&[0xeb, 0xf7])
    }
    /// `mov eax, 60; xor edi, edi; syscall`: exit(0), trapped by SYSEMU like any syscall.
    fn exit(self) -> Asm {
        self.mov_eax(60).bytes(&[0x31, 0xff]).syscall()
    }
}

// ---------------------------------------------------------------------------------------------
// Capabilities and the shared platform.

struct Shared {
    platform: Arc<PtracePlatform>,
    mem: File,
}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
static NEXT_SLICE: AtomicU64 = AtomicU64::new(0);

/// Whether a setup error means "ptrace/seccomp not permitted here" rather than a bug.
fn is_not_permitted(e: &PlatformError) -> bool {
    match e {
        PlatformError::Unavailable(_) => true,
        PlatformError::Host { source, .. } => {
            matches!(
                source.raw_os_error(),
                Some(libc::EPERM | libc::EACCES | libc::ENOSYS)
            )
        }
        PlatformError::Internal(msg) => msg.contains("PTRACE_TRACEME") || msg.contains("seccomp"),
    }
}

/// The shared platform, or why this host cannot run stubs. A stub is created and attached
/// once, so PTRACE_SEIZE permission is probed too. Other failures are bugs and panic.
fn shared() -> Result<&'static Shared, String> {
    SHARED
        .get_or_init(|| {
            let fd =
                memfd_create(c"rvisor-ptrace-test", MFdFlags::MFD_CLOEXEC).expect("memfd_create");
            let mem = File::from(fd);
            mem.set_len(MEMFILE_SIZE).expect("ftruncate memfd");
            let platform = match PtracePlatform::new(mem.as_fd()) {
                Ok(platform) => platform,
                Err(e) if is_not_permitted(&e) => {
                    return Err(format!("ptrace platform unavailable on this host: {e}"));
                }
                Err(e) => panic!("creating the ptrace platform failed: {e}"),
            };
            let probe = platform
                .new_ptrace_address_space()
                .and_then(|asp| asp.new_ptrace_context().and_then(|mut c| c.attach()));
            match probe {
                Ok(()) => Ok(Shared { platform, mem }),
                Err(e) if is_not_permitted(&e) => Err(format!(
                    "cannot create and attach a ptrace stub on this host: {e}"
                )),
                Err(e) => panic!("creating a stub failed: {e}"),
            }
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// What a trial needs from the host.
#[derive(Clone, Copy)]
enum Need {
    Ptrace,
    /// Ptrace, and `wrfsbase` usable in user mode (CR4.FSGSBASE, reported as HWCAP2_FSGSBASE).
    PtraceAndFsgsbase,
}

/// `HWCAP2_FSGSBASE` (arch/x86/include/uapi/asm/hwcap2.h): the kernel enabled the
/// FSGSBASE instructions for user space.
const HWCAP2_FSGSBASE: u64 = 1 << 1;

fn missing_capability(need: Need) -> Option<String> {
    if let Err(why) = shared() {
        return Some(why);
    }
    if matches!(need, Need::PtraceAndFsgsbase) {
        // SAFETY: getauxval reads the process's auxiliary vector; any type value is allowed.
        let hwcap2 = unsafe { libc::getauxval(libc::AT_HWCAP2) };
        if hwcap2 & HWCAP2_FSGSBASE == 0 {
            return Some("wrfsbase is not enabled on this host (no HWCAP2_FSGSBASE)".into());
        }
    }
    None
}

fn trial(name: &'static str, need: Need, test: fn()) -> Trial {
    Trial::ignorable_test(name, move || {
        if let Some(why) = missing_capability(need) {
            if std::env::var("RVISOR_REQUIRE_CAPS").as_deref() == Ok("1") {
                return Err(Failed::from(format!(
                    "RVISOR_REQUIRE_CAPS=1 but the host lacks a capability: {why}"
                )));
            }
            eprintln!("SKIP {name}: {why}");
            return Ok(Completion::ignored_with(why));
        }
        test();
        Ok(Completion::Completed)
    })
}

// ---------------------------------------------------------------------------------------------
// Fixture.

/// One test's address space, its first context (attached to the test's thread), and its slice
/// of the MemoryFile.
struct Fixture {
    ctx: PtraceContext,
    asp: Arc<PtraceAddressSpace>,
    mem: &'static File,
    platform: &'static Arc<PtracePlatform>,
    slice: u64,
}

impl Fixture {
    fn new() -> Fixture {
        let shared = shared().expect("capability checked by the harness");
        let asp = shared
            .platform
            .new_ptrace_address_space()
            .expect("creating a stub");
        let mut ctx = asp.new_ptrace_context().expect("first context");
        ctx.attach().expect("attach");
        let slice = NEXT_SLICE.fetch_add(1, Ordering::SeqCst) * SLICE_PAGES * PAGE;
        assert!(
            slice + SLICE_PAGES * PAGE <= MEMFILE_SIZE,
            "too many tests for the memfile"
        );
        Fixture {
            ctx,
            asp,
            mem: &shared.mem,
            platform: &shared.platform,
            slice,
        }
    }

    /// MemoryFile offset of this test's page `n`.
    fn off(&self, n: u64) -> u64 {
        self.slice + n * PAGE
    }

    fn write(&self, page: u64, at: u64, bytes: &[u8]) {
        self.mem
            .write_all_at(bytes, self.off(page) + at)
            .expect("pwrite memfd");
    }

    fn read_u64(&self, page: u64, at: u64) -> u64 {
        let mut b = [0u8; 8];
        self.mem
            .read_exact_at(&mut b, self.off(page) + at)
            .expect("pread memfd");
        u64::from_le_bytes(b)
    }

    /// Writes `code` to page 0 and maps it at CODE (r-x); maps page 1 at DATA (rw-).
    fn load(&self, code: Asm) {
        self.write(0, 0, &code.0);
        self.asp
            .map(CODE, PAGE, self.off(0), Perms::READ | Perms::EXEC)
            .expect("map code");
        self.asp
            .map(DATA, PAGE, self.off(1), Perms::READ | Perms::WRITE)
            .expect("map data");
    }

    /// A second context of this address space, created on the test thread (which is
    /// attached through `ctx`), not yet attached.
    fn new_context(&self) -> PtraceContext {
        self.asp.new_ptrace_context().expect("new context")
    }
}

fn proc_exists(pid: i32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
}

fn stub_threads(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(Iterator::count)
        .unwrap_or(0)
}

/// Whether `pid` is listed as a child of any thread of this (test) process.
fn is_our_child(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return false;
    };
    tasks.filter_map(Result::ok).any(|task| {
        std::fs::read_to_string(task.path().join("children"))
            .is_ok_and(|c| c.split_whitespace().any(|p| p == pid.to_string()))
    })
}

fn is_syscall(outcome: &SwitchOutcome, abi: SyscallAbi) -> bool {
    matches!(outcome, SwitchOutcome::Syscall { abi: got } if *got == abi)
}

// ---------------------------------------------------------------------------------------------
// Single-thread behaviour.

fn app_syscall_is_trapped_and_never_runs_on_the_host() {
    let mut fx = Fixture::new();
    let path = std::env::temp_dir().join(format!("rvisor-ptrace-mkdir-{}", std::process::id()));
    let mut c_path = path.as_os_str().as_encoded_bytes().to_vec();
    c_path.push(0);
    fx.write(1, 0, &c_path);
    // mkdir(path, 0755); store rax at DATA+0x100; exit(0)
    fx.load(
        Asm::default()
            .mov_eax(83)
            .mov_rdi(DATA)
            .mov_esi(0o755)
            .syscall()
            .store_rax(DATA + 0x100)
            .exit(),
    );
    let mut regs = Regs::new_user(CODE, 0);

    let outcome = fx.ctx.switch(&mut regs).expect("switch");

    assert!(is_syscall(&outcome, SyscallAbi::X86_64), "got {outcome:?}");
    assert_eq!(regs.syscall_nr(), 83);
    assert_eq!(regs.syscall_args()[0], DATA);
    assert_eq!(regs.syscall_args()[1], 0o755);
    assert!(!path.exists(), "mkdir ran on the host");
}

fn syscall_result_set_by_the_sentry_is_seen_by_the_app() {
    let mut fx = Fixture::new();
    // getpid(); store rax at DATA+0x100; exit(0)
    fx.load(
        Asm::default()
            .mov_eax(39)
            .syscall()
            .store_rax(DATA + 0x100)
            .exit(),
    );
    let mut regs = Regs::new_user(CODE, 0);
    let first = fx.ctx.switch(&mut regs).expect("switch to getpid");
    assert!(is_syscall(&first, SyscallAbi::X86_64));
    assert_eq!(regs.orig_rax, 39);

    regs.rax = 1234;
    let second = fx.ctx.switch(&mut regs).expect("switch to exit");

    assert!(is_syscall(&second, SyscallAbi::X86_64), "got {second:?}");
    assert_eq!(regs.orig_rax, 60);
    assert_eq!(fx.read_u64(1, 0x100), 1234);
}

fn load_from_unmapped_page_faults_then_completes_once_mapped() {
    let mut fx = Fixture::new();
    fx.write(2, 0, &0xdead_beef_cafe_f00d_u64.to_le_bytes());
    fx.load(
        Asm::default()
            .load_rax(FAULT_ADDR)
            .store_rax(DATA + 0x100)
            .exit(),
    );
    let mut regs = Regs::new_user(CODE, 0);

    let outcome = fx.ctx.switch(&mut regs).expect("switch");

    match outcome {
        SwitchOutcome::Fault { addr, access, info } => {
            assert_eq!(addr, FAULT_ADDR);
            assert!(access.is_empty());
            assert_eq!(info.signo, Signal::SIGSEGV.0);
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    assert_eq!(regs.rip, CODE, "the faulting instruction must be re-run");

    fx.asp
        .map(FAULT_ADDR, PAGE, fx.off(2), Perms::READ)
        .expect("map the faulting page");
    let outcome = fx.ctx.switch(&mut regs).expect("switch after mapping");

    assert!(is_syscall(&outcome, SyscallAbi::X86_64), "got {outcome:?}");
    assert_eq!(regs.orig_rax, 60);
    assert_eq!(fx.read_u64(1, 0x100), 0xdead_beef_cafe_f00d);
}

fn ud2_reports_sigill() {
    let mut fx = Fixture::new();
    fx.load(Asm::default().ud2());
    let mut regs = Regs::new_user(CODE, 0);

    let outcome = fx.ctx.switch(&mut regs).expect("switch");

    match outcome {
        SwitchOutcome::Signal(info) => assert_eq!(info.signo, Signal::SIGILL.0),
        other => panic!("expected SIGILL, got {other:?}"),
    }
    assert_eq!(regs.rip, CODE);
}

fn write_to_read_only_page_faults() {
    let mut fx = Fixture::new();
    fx.load(Asm::default().mov_eax(7).store_rax(DATA).exit());
    fx.asp.protect(DATA, PAGE, Perms::READ).expect("protect");
    let mut regs = Regs::new_user(CODE, 0);

    let outcome = fx.ctx.switch(&mut regs).expect("switch");

    assert!(
        matches!(outcome, SwitchOutcome::Fault { addr: DATA, .. }),
        "got {outcome:?}"
    );
}

fn unmapped_code_faults_at_its_address() {
    let mut fx = Fixture::new();
    fx.load(Asm::default().exit());
    fx.asp.unmap(CODE, PAGE).expect("unmap");
    let mut regs = Regs::new_user(CODE, 0);

    let outcome = fx.ctx.switch(&mut regs).expect("switch");

    assert!(
        matches!(outcome, SwitchOutcome::Fault { addr: CODE, .. }),
        "got {outcome:?}"
    );
}

fn seccomp_filter_kills_stub_on_non_injected_syscall() {
    let fx = Fixture::new();
    let pid = fx.asp.stub_pid();

    // getpid is not in the stub's allow-list.
    let err = fx
        .asp
        .inject_syscall_for_test(libc::SYS_getpid, [0; 6])
        .expect_err("must die");

    match err {
        PlatformError::Internal(msg) => assert!(msg.contains("SIGSYS"), "{msg}"),
        other => panic!("expected the stub to die by SIGSYS, got {other:?}"),
    }
    assert!(!proc_exists(pid), "the dead stub was not reaped");
}

fn seccomp_filter_kills_stub_on_anonymous_mmap() {
    let fx = Fixture::new();
    let flags = u64::from((libc::MAP_PRIVATE | libc::MAP_ANONYMOUS).unsigned_abs());
    let args = [0x70_0000, PAGE, 3, flags, u64::MAX, 0];

    let err = fx
        .asp
        .inject_syscall_for_test(libc::SYS_mmap, args)
        .expect_err("must die");

    assert!(
        matches!(&err, PlatformError::Internal(m) if m.contains("SIGSYS")),
        "{err:?}"
    );
}

fn seccomp_filter_kills_stub_on_clone_with_other_flags() {
    let fx = Fixture::new();
    // A fork-like clone (no CLONE_VM/CLONE_THREAD) must not be allowed.
    let args = [u64::from(libc::SIGCHLD.unsigned_abs()), 0, 0, 0, 0, 0];

    let err = fx
        .asp
        .inject_syscall_for_test(libc::SYS_clone, args)
        .expect_err("must die");

    assert!(
        matches!(&err, PlatformError::Internal(m) if m.contains("SIGSYS")),
        "{err:?}"
    );
}

fn seccomp_filter_kills_stub_on_prctl_other_than_pdeathsig_sigkill() {
    for args in [
        // PR_SET_PDEATHSIG with another signal.
        [1, u64::from(libc::SIGTERM.unsigned_abs()), 0, 0, 0, 0],
        // Another option (PR_SET_DUMPABLE).
        [4, 1, 0, 0, 0, 0],
    ] {
        let fx = Fixture::new();
        let err = fx
            .asp
            .inject_syscall_for_test(libc::SYS_prctl, args)
            .expect_err("must die");
        assert!(
            matches!(&err, PlatformError::Internal(m) if m.contains("SIGSYS")),
            "{args:?}: {err:?}"
        );
    }
    // The one allowed form.
    let fx = Fixture::new();
    let args = [1, u64::from(libc::SIGKILL.unsigned_abs()), 0, 0, 0, 0];
    assert_eq!(
        fx.asp
            .inject_syscall_for_test(libc::SYS_prctl, args)
            .expect("allowed"),
        0
    );
}

fn fresh_stub_has_only_the_stub_page_the_memfile_and_a_filter() {
    let fx = Fixture::new();
    let pid = fx.asp.stub_pid();

    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let worker_status =
        std::fs::read_to_string(format!("/proc/{pid}/task/{}/status", fx.ctx.stub_tid()))
            .expect("worker status");

    let stub_start = format!("{:x}-", fx.platform.max_user_address());
    let lines: Vec<&str> = maps.lines().filter(|l| !l.contains("[vsyscall]")).collect();
    assert_eq!(lines.len(), 1, "{maps}");
    assert!(
        lines.first().is_some_and(|l| l.starts_with(&stub_start)),
        "{maps}"
    );
    assert_eq!(fds, vec!["3".to_string()]);
    assert!(status.lines().any(|l| l == "Seccomp:\t2"), "{status}");
    assert!(
        worker_status.lines().any(|l| l == "Seccomp:\t2"),
        "{worker_status}"
    );
    // The parked leader and the worker of the first context.
    assert_eq!(stub_threads(pid), 2);
}

fn cpus_allowed(status_path: &str) -> String {
    let status = std::fs::read_to_string(status_path).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
        .expect("Cpus_allowed_list line")
}

/// The platform's pin of a tracer thread lasts at most this long before one switch runs
/// unpinned (platform-ptrace `thread::REPIN_PERIOD` is 1 s).
const REPIN_PERIOD_UPPER_BOUND: Duration = Duration::from_millis(1100);

fn stub_thread_and_tracer_share_one_cpu_and_the_tracer_pin_is_temporary() {
    // A fresh thread, so its mask is the process's, not a pin left by an earlier trial.
    std::thread::spawn(|| {
        let tracer_before = cpus_allowed("/proc/thread-self/status");
        let mut fx = Fixture::new();
        fx.load(Asm::default().getpid_loop());
        let pid = fx.asp.stub_pid();
        let stub_status = format!("/proc/{pid}/task/{}/status", fx.ctx.stub_tid());
        let mut regs = Regs::new_user(CODE, 0);

        let first = fx.ctx.switch(&mut regs).expect("switch");
        let stub_cpus = cpus_allowed(&stub_status);
        let tracer_pinned = cpus_allowed("/proc/thread-self/status");
        std::thread::sleep(REPIN_PERIOD_UPPER_BOUND);
        regs.rax = 1;
        let released = fx
            .ctx
            .switch(&mut regs)
            .expect("switch after the pin period");
        let tracer_released = cpus_allowed("/proc/thread-self/status");
        regs.rax = 1;
        let repinned = fx.ctx.switch(&mut regs).expect("switch");
        let tracer_repinned = cpus_allowed("/proc/thread-self/status");
        drop(fx);
        let tracer_after_drop = cpus_allowed("/proc/thread-self/status");

        for o in [&first, &released, &repinned] {
            assert!(is_syscall(o, SyscallAbi::X86_64), "got {o:?}");
        }
        assert!(
            stub_cpus.parse::<u32>().is_ok(),
            "not a single CPU: {stub_cpus}"
        );
        assert_eq!(tracer_pinned, stub_cpus, "tracer and stub share a CPU");
        assert_eq!(tracer_released, tracer_before, "the pin is released");
        assert!(tracer_repinned.parse::<u32>().is_ok(), "{tracer_repinned}");
        assert_eq!(
            tracer_after_drop, tracer_before,
            "dropping the context unpins"
        );
    })
    .join()
    .expect("test thread");
}

fn map_up_to_max_user_address_works_and_beyond_is_refused() {
    let fx = Fixture::new();
    let max = fx.platform.max_user_address();

    fx.asp
        .map(max - PAGE, PAGE, fx.off(0), Perms::READ)
        .expect("last app page");
    let err = fx
        .asp
        .map(max, PAGE, fx.off(0), Perms::READ)
        .expect_err("stub page");

    assert!(matches!(err, PlatformError::Internal(_)));
}

fn interrupt_from_another_thread_stops_a_spinning_app() {
    let mut fx = Fixture::new();
    fx.load(Asm::default().spin());
    let interrupter = fx.ctx.interrupter();
    let mut regs = Regs::new_user(CODE, 0);
    let kicker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        interrupter.interrupt();
    });

    let outcome = fx.ctx.switch(&mut regs).expect("switch");

    kicker.join().expect("kicker thread");
    assert!(
        matches!(outcome, SwitchOutcome::Interrupted),
        "got {outcome:?}"
    );
    assert_eq!(regs.rip, CODE, "interrupted inside the spin loop");
}

/// Runs `ctx.switch` with a watchdog that interrupts it after 3 s; returns the outcome and
/// how long it took.
fn switch_with_watchdog(ctx: &mut dyn Context, regs: &mut Regs) -> (SwitchOutcome, Duration) {
    let watchdog_interrupter = ctx.interrupter();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(3)).is_err() {
            watchdog_interrupter.interrupt();
        }
    });
    let start = Instant::now();
    let outcome = ctx.switch(regs).expect("switch");
    let elapsed = start.elapsed();
    let _ = done_tx.send(());
    watchdog.join().expect("watchdog");
    (outcome, elapsed)
}

fn interrupt_before_switch_makes_next_switch_return_promptly() {
    let mut fx = Fixture::new();
    fx.load(Asm::default().spin());
    let interrupter = fx.ctx.interrupter();
    let mut regs = Regs::new_user(CODE, 0);
    interrupter.interrupt();

    // Watchdog: if the pending interrupt were lost, the switch would spin forever; a late
    // second interrupt ends it, and the elapsed time shows the failure.
    let (outcome, elapsed) = switch_with_watchdog(&mut fx.ctx, &mut regs);

    assert!(
        matches!(outcome, SwitchOutcome::Interrupted),
        "got {outcome:?}"
    );
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

fn interrupt_before_attach_makes_the_first_switch_return_promptly() {
    let fx = Fixture::new();
    fx.load(Asm::default().spin());
    let mut ctx = fx.new_context();
    ctx.interrupter().interrupt();

    let result = std::thread::scope(|s| {
        s.spawn(|| {
            let mut regs = Regs::new_user(CODE, 0);
            let (outcome, elapsed) = switch_with_watchdog(&mut ctx, &mut regs);
            drop(ctx);
            (outcome, elapsed)
        })
        .join()
    });

    let (outcome, elapsed) = result.expect("runner thread");
    assert!(
        matches!(outcome, SwitchOutcome::Interrupted),
        "got {outcome:?}"
    );
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

fn interrupt_during_injection_is_reported_by_the_next_switch() {
    let mut fx = Fixture::new();
    fx.load(Asm::default().mov_eax(39).syscall().exit());
    fx.ctx.interrupter().interrupt();
    // The pending signal is consumed by the next resume, which is this injected mmap.
    fx.asp
        .map(FAULT_ADDR, PAGE, fx.off(2), Perms::READ)
        .expect("map");
    let mut regs = Regs::new_user(CODE, 0);

    let first = fx.ctx.switch(&mut regs).expect("switch");
    let second = fx.ctx.switch(&mut regs).expect("switch");

    assert!(matches!(first, SwitchOutcome::Interrupted), "got {first:?}");
    assert!(is_syscall(&second, SyscallAbi::X86_64), "got {second:?}");
    assert_eq!(regs.orig_rax, 39);
}

fn interrupter_of_a_dropped_context_does_not_disturb_its_successor() {
    let fx = Fixture::new();
    fx.load(Asm::default().getpid_loop());
    let mut old = fx.new_context();
    old.attach().expect("attach");
    let stale = old.interrupter();
    let tid = old.stub_tid();
    drop(old);
    let mut new = fx.new_context();
    assert_eq!(new.stub_tid(), tid, "the parked thread is reused");
    let mut regs = Regs::new_user(CODE, 0);

    stale.interrupt();
    let outcome = new.switch(&mut regs).expect("switch");

    assert!(is_syscall(&outcome, SyscallAbi::X86_64), "got {outcome:?}");
}

fn dropping_the_address_space_kills_and_reaps_the_stub() {
    let fx = Fixture::new();
    fx.load(Asm::default().mov_eax(39).syscall());
    let Fixture { mut ctx, asp, .. } = fx;
    let pid = asp.stub_pid();
    assert!(proc_exists(pid));

    drop(asp);

    assert!(!proc_exists(pid), "stub {pid} still exists");
    let mut regs = Regs::new_user(CODE, 0);
    assert!(
        ctx.switch(&mut regs).is_err(),
        "switching into a killed stub must fail"
    );
}

fn map_from_a_thread_attached_to_no_context_is_refused() {
    let fx = Fixture::new();
    let asp = Arc::clone(&fx.asp);

    let result = std::thread::spawn(move || asp.map(CODE, PAGE, 0, Perms::READ))
        .join()
        .expect("thread");

    assert!(
        matches!(&result, Err(PlatformError::Internal(m)) if m.contains("attached to no context")),
        "{result:?}"
    );
}

fn new_context_from_an_unattached_thread_without_parked_threads_is_refused() {
    let fx = Fixture::new();
    let asp = Arc::clone(&fx.asp);

    let result = std::thread::spawn(move || asp.new_ptrace_context().map(|_| ()))
        .join()
        .expect("thread");

    assert!(
        matches!(&result, Err(PlatformError::Internal(_))),
        "{result:?}"
    );
}

fn switch_from_a_thread_that_is_not_the_tracer_is_refused() {
    let mut fx = Fixture::new();
    fx.load(Asm::default().getpid_loop());
    let ctx = &mut fx.ctx;

    let result = std::thread::scope(|s| {
        s.spawn(|| {
            let mut regs = Regs::new_user(CODE, 0);
            ctx.switch(&mut regs).map(|_| ())
        })
        .join()
        .expect("thread")
    });

    assert!(
        matches!(&result, Err(PlatformError::Internal(_))),
        "{result:?}"
    );
    // Still usable on its own thread.
    let mut regs = Regs::new_user(CODE, 0);
    let outcome = fx.ctx.switch(&mut regs).expect("switch on the tracer");
    assert!(is_syscall(&outcome, SyscallAbi::X86_64), "got {outcome:?}");
}

// ---------------------------------------------------------------------------------------------
// Many threads per address space.

fn two_contexts_of_one_address_space_run_concurrently_on_two_threads() {
    let mut fx = Fixture::new();
    let flag = DATA + 0x200;
    // A (at CODE): spin until [flag] != 0, then getpid. B (at CODE+0x100): set [flag], getpid.
    let a = Asm::default()
        .load_rax(flag)
        .jz_to_start()
        .mov_eax(39)
        .syscall();
    let b = Asm::default()
        .mov_eax(1)
        .store_rax(flag)
        .mov_eax(39)
        .syscall();
    fx.write(0, 0x100, &b.0);
    fx.load(a);
    let mut ctx_b = fx.new_context();
    let barrier = Barrier::new(2);

    let (outcome_a, outcome_b, tid_b) = std::thread::scope(|s| {
        let runner_b = s.spawn(|| {
            ctx_b.attach().expect("attach B");
            barrier.wait();
            // Give A time to enter its spin loop, so B runs while A's switch is blocked.
            std::thread::sleep(Duration::from_millis(20));
            let mut regs = Regs::new_user(CODE + 0x100, 0);
            let outcome = ctx_b.switch(&mut regs).expect("switch B");
            let tid = ctx_b.stub_tid();
            drop(ctx_b);
            (outcome, tid)
        });
        barrier.wait();
        let mut regs = Regs::new_user(CODE, 0);
        // If B could not run while A's switch is blocked, the watchdog interrupts A.
        let (outcome_a, _) = switch_with_watchdog(&mut fx.ctx, &mut regs);
        let (outcome_b, tid_b) = runner_b.join().expect("runner B");
        (outcome_a, outcome_b, tid_b)
    });

    assert!(
        is_syscall(&outcome_a, SyscallAbi::X86_64),
        "A: {outcome_a:?}"
    );
    assert!(
        is_syscall(&outcome_b, SyscallAbi::X86_64),
        "B: {outcome_b:?}"
    );
    assert_ne!(tid_b, fx.ctx.stub_tid());
}

fn context_created_on_one_thread_runs_on_another() {
    let fx = Fixture::new();
    fx.load(Asm::default().getpid_loop());
    let mut ctx = fx.new_context();

    let outcomes = std::thread::spawn(move || {
        let mut regs = Regs::new_user(CODE, 0);
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            outcomes.push(ctx.switch(&mut regs).expect("switch"));
            regs.rax = 1;
        }
        outcomes
    })
    .join()
    .expect("runner thread");

    assert!(
        outcomes.iter().all(|o| is_syscall(o, SyscallAbi::X86_64)),
        "{outcomes:?}"
    );
}

fn address_space_created_on_one_thread_is_used_on_another() {
    let shared = shared().expect("capability checked by the harness");
    let slice = NEXT_SLICE.fetch_add(1, Ordering::SeqCst) * SLICE_PAGES * PAGE;
    shared
        .mem
        .write_all_at(&Asm::default().getpid_loop().0, slice)
        .expect("pwrite");
    let asp = std::thread::spawn(|| shared.platform.new_address_space().expect("address space"))
        .join()
        .expect("creator thread");

    let outcome = std::thread::spawn(move || {
        let mut ctx = asp.new_context().expect("first context");
        ctx.attach().expect("attach");
        asp.map(CODE, PAGE, slice, Perms::READ | Perms::EXEC)
            .expect("map");
        let mut regs = Regs::new_user(CODE, 0);
        let outcome = ctx.switch(&mut regs).expect("switch");
        drop(ctx);
        outcome
    })
    .join()
    .expect("user thread");

    assert!(is_syscall(&outcome, SyscallAbi::X86_64), "got {outcome:?}");
}

fn mapping_made_from_thread_b_is_seen_by_thread_a() {
    let mut fx = Fixture::new();
    fx.write(2, 0, &0x1234_5678_9abc_def0_u64.to_le_bytes());
    fx.load(
        Asm::default()
            .load_rax(FAULT_ADDR)
            .store_rax(DATA + 0x100)
            .mov_eax(39)
            .syscall(),
    );
    let mut ctx_b = fx.new_context();
    let asp = &fx.asp;
    let offset = fx.off(2);

    std::thread::scope(|s| {
        s.spawn(|| {
            ctx_b.attach().expect("attach B");
            asp.map(FAULT_ADDR, PAGE, offset, Perms::READ)
                .expect("map from B");
            drop(ctx_b);
        })
        .join()
        .expect("thread B");
    });
    let mut regs = Regs::new_user(CODE, 0);
    let outcome = fx.ctx.switch(&mut regs).expect("switch A");

    assert!(is_syscall(&outcome, SyscallAbi::X86_64), "got {outcome:?}");
    assert_eq!(fx.read_u64(1, 0x100), 0x1234_5678_9abc_def0);
}

fn interrupt_of_one_thread_does_not_disturb_the_other() {
    let mut fx = Fixture::new();
    let b = Asm::default().getpid_loop();
    fx.write(0, 0x100, &b.0);
    fx.load(Asm::default().spin());
    let mut ctx_b = fx.new_context();
    let interrupter_a = fx.ctx.interrupter();
    let barrier = Barrier::new(2);

    let (outcome_a, outcomes_b) = std::thread::scope(|s| {
        let runner_b = s.spawn(|| {
            ctx_b.attach().expect("attach B");
            barrier.wait();
            let mut regs = Regs::new_user(CODE + 0x100, 0);
            let start = Instant::now();
            let mut outcomes = Vec::new();
            // Keep switching while A is interrupted (A's kicker fires at 50 ms).
            while start.elapsed() < Duration::from_millis(200) {
                outcomes.push(ctx_b.switch(&mut regs).expect("switch B"));
                regs.rax = 1;
            }
            drop(ctx_b);
            outcomes
        });
        let kicker = s.spawn(|| {
            barrier.wait();
            std::thread::sleep(Duration::from_millis(50));
            interrupter_a.interrupt();
        });
        let mut regs = Regs::new_user(CODE, 0);
        let outcome_a = fx.ctx.switch(&mut regs).expect("switch A");
        kicker.join().expect("kicker");
        (outcome_a, runner_b.join().expect("runner B"))
    });

    assert!(
        matches!(outcome_a, SwitchOutcome::Interrupted),
        "A: {outcome_a:?}"
    );
    assert!(!outcomes_b.is_empty());
    let bad: Vec<_> = outcomes_b
        .iter()
        .filter(|o| !is_syscall(o, SyscallAbi::X86_64))
        .collect();
    assert!(bad.is_empty(), "B was disturbed: {bad:?}");
}

fn dropped_context_parks_its_thread_for_reuse() {
    let fx = Fixture::new();
    fx.load(Asm::default().getpid_loop());
    let pid = fx.asp.stub_pid();
    let mut second = fx.new_context();
    second.attach().expect("attach");
    let tid = second.stub_tid();
    let threads = stub_threads(pid);

    drop(second);
    let parked_state = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status"))
        .expect("parked thread status");
    let third = fx.new_context();

    assert_eq!(third.stub_tid(), tid);
    assert_eq!(stub_threads(pid), threads, "no new stub thread");
    assert!(
        parked_state.lines().any(|l| l == "TracerPid:\t0"),
        "{parked_state}"
    );
    // The reused thread runs on yet another host thread.
    let outcome = std::thread::spawn(move || {
        let mut third = third;
        let mut regs = Regs::new_user(CODE, 0);
        third.switch(&mut regs).expect("switch")
    })
    .join()
    .expect("runner");
    assert!(is_syscall(&outcome, SyscallAbi::X86_64), "got {outcome:?}");
}

fn dropping_everything_leaves_no_stub_process() {
    let shared = shared().expect("capability checked by the harness");
    let asp = shared
        .platform
        .new_ptrace_address_space()
        .expect("address space");
    let pid = asp.stub_pid();
    let mut first = asp.new_ptrace_context().expect("first");
    first.attach().expect("attach");
    let second = asp.new_ptrace_context().expect("second");
    let third = asp.new_ptrace_context().expect("third");
    let tids = [first.stub_tid(), second.stub_tid(), third.stub_tid()];
    // One context attached on another thread and dropped there, one never attached.
    std::thread::spawn(move || {
        let mut second = second;
        second.attach().expect("attach second");
    })
    .join()
    .expect("thread");
    let master = asp.master_pid();
    assert_eq!(
        parent_of(pid),
        Some(master),
        "the stub is the master's child"
    );
    assert!(
        is_our_child(master),
        "the master stub is a child of this process"
    );
    assert!(
        !is_our_child(pid),
        "the stub is not forked from this process"
    );

    drop(third);
    drop(first);
    drop(asp);

    assert!(!proc_exists(pid), "stub {pid} still exists");
    for tid in tids {
        assert!(!proc_exists(tid), "stub thread {tid} still exists");
    }
    // The platform still holds its master (other tests' stubs may be its children).
    assert!(
        proc_exists(master),
        "the master lives as long as its platform"
    );
    assert!(
        !children_of(master).contains(&pid.to_string()),
        "stub {pid} is still the master's child"
    );
}

/// The parent pid of `pid` (/proc/<pid>/status, PPid).
fn parent_of(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The children of (the only thread of) process `pid`.
fn children_of(pid: i32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|c| c.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// A platform of its own: its master dies when the platform and its last address space are
/// dropped, and a stub killed from outside leaves no zombie (the master ignores SIGCHLD).
fn dropping_a_platform_and_its_address_spaces_kills_its_master() {
    let fd = memfd_create(c"rvisor-ptrace-test-own", MFdFlags::MFD_CLOEXEC).expect("memfd");
    let mem = File::from(fd);
    mem.set_len(16 * PAGE).expect("ftruncate memfd");
    let platform = PtracePlatform::new(mem.as_fd()).expect("platform");
    let first = platform.new_ptrace_address_space().expect("first");
    let second = platform.new_ptrace_address_space().expect("second");
    let master = first.master_pid();
    assert_eq!(second.master_pid(), master, "one master per platform");
    assert_ne!(
        master,
        shared()
            .expect("harness")
            .platform
            .new_ptrace_address_space()
            .expect("asp")
            .master_pid(),
        "each platform has its own master"
    );
    let (a, b) = (first.stub_pid(), second.stub_pid());
    let children = children_of(master);
    // Both stubs, plus at most the spare the forker forks ahead of the next request.
    assert!(children.contains(&a.to_string()), "{children:?}");
    assert!(children.contains(&b.to_string()), "{children:?}");
    assert!(children.len() <= 3, "{children:?}");

    // Killed from outside: the kernel reaps it at once (no zombie under the master).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(b),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_exists(b) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        !proc_exists(b),
        "a killed stub is reaped by the kernel, not left a zombie"
    );
    drop(second);

    drop(platform);
    assert!(
        proc_exists(master),
        "the master outlives the platform while a stub lives"
    );
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_exists(master) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!proc_exists(master), "master {master} still exists");
    assert!(!proc_exists(a), "stub {a} still exists");
    for spare in children
        .iter()
        .filter(|c| **c != a.to_string() && **c != b.to_string())
    {
        let pid: i32 = spare.parse().expect("pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        while proc_exists(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!proc_exists(pid), "spare stub {pid} outlived its master");
    }
}

// ---------------------------------------------------------------------------------------------
// FP state, syscall ABI, vsyscall, fs_base.

fn fpstate_round_trip_through_xmm_registers() {
    let mut fx = Fixture::new();
    // movq rax, xmm0; store it; then put a constant in xmm1; getpid.
    fx.load(
        Asm::default()
            .movq_rax_xmm0()
            .store_rax(DATA + 0x100)
            .mov_rax(0x0bad_cafe_f00d_d00d)
            .movq_xmm1_rax()
            .mov_eax(39)
            .syscall(),
    );
    let FpState(mut state) = fx.ctx.fpstate().expect("fpstate");
    assert!(state.len() >= 576, "XSAVE area of {} bytes", state.len());
    let xmm0 = 0x1122_3344_5566_7788_u64;
    state[XMM0_OFFSET..XMM0_OFFSET + 8].copy_from_slice(&xmm0.to_le_bytes());
    // XSTATE_BV bit 1 (SSE): the XMM registers are in the buffer, not in their init state.
    state[XSTATE_BV_OFFSET] |= 0x2;

    let accepted = fx.ctx.set_fpstate(&FpState(state)).expect("set_fpstate");
    let mut regs = Regs::new_user(CODE, 0);
    let outcome = fx.ctx.switch(&mut regs).expect("switch");

    assert!(accepted);
    assert!(is_syscall(&outcome, SyscallAbi::X86_64), "got {outcome:?}");
    assert_eq!(fx.read_u64(1, 0x100), xmm0);
    let FpState(after) = fx.ctx.fpstate().expect("fpstate after");
    let xmm1 = after
        .get(XMM0_OFFSET + 16..XMM0_OFFSET + 24)
        .expect("xmm1 bytes");
    assert_eq!(xmm1, 0x0bad_cafe_f00d_d00d_u64.to_le_bytes());
}

/// The recipe `context`'s module doc gives the sentry for an exec: a zeroed buffer of the
/// host's size with only MXCSR set (XSTATE_BV = 0: every component in its init state).
fn zeroed_fpstate_with_default_mxcsr_is_an_accepted_init_state() {
    let mut fx = Fixture::new();
    fx.load(
        Asm::default()
            .movq_rax_xmm0()
            .store_rax(DATA + 0x100)
            .stmxcsr(u32::try_from(DATA + 0x108).expect("low address"))
            .mov_eax(39)
            .syscall(),
    );
    let FpState(mut dirty) = fx.ctx.fpstate().expect("fpstate");
    dirty[XMM0_OFFSET..XMM0_OFFSET + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    dirty[XSTATE_BV_OFFSET] |= 0x2;
    assert!(fx.ctx.set_fpstate(&FpState(dirty.clone())).expect("dirty"));
    let mut init = vec![0u8; dirty.len()];
    init[24..28].copy_from_slice(&0x1f80_u32.to_le_bytes());

    let accepted = fx.ctx.set_fpstate(&FpState(init)).expect("init");
    let mut regs = Regs::new_user(CODE, 0);
    let outcome = fx.ctx.switch(&mut regs).expect("switch");

    assert!(accepted);
    assert!(is_syscall(&outcome, SyscallAbi::X86_64), "got {outcome:?}");
    assert_eq!(fx.read_u64(1, 0x100), 0, "xmm0 is in its init state");
    assert_eq!(fx.read_u64(1, 0x108) & 0xffff_ffff, 0x1f80, "MXCSR");
}

fn malformed_fpstate_is_rejected_with_ok_false_and_changes_nothing() {
    let mut fx = Fixture::new();
    let before = fx.ctx.fpstate().expect("fpstate");
    let short = FpState(before.0.get(..100).expect("100 bytes").to_vec());
    let mut bad_header = before.clone();
    // XSTATE_BV bit 63 is reserved (and never a supported feature): EINVAL.
    if let Some(b) = bad_header.0.get_mut(XSTATE_BV_OFFSET + 7) {
        *b |= 0x80;
    }

    let short_result = fx.ctx.set_fpstate(&short).expect("short buffer");
    let header_result = fx.ctx.set_fpstate(&bad_header).expect("bad header");

    assert!(!short_result, "a truncated buffer must be refused");
    assert!(!header_result, "a reserved XSTATE_BV bit must be refused");
    assert_eq!(fx.ctx.fpstate().expect("fpstate after"), before);
}

fn int80_is_reported_as_an_i386_syscall() {
    let mut fx = Fixture::new();
    // i386 getpid is 20.
    fx.load(Asm::default().mov_eax(20).int80().mov_eax(39).syscall());
    let mut regs = Regs::new_user(CODE, 0);

    let first = fx.ctx.switch(&mut regs).expect("switch to int 0x80");
    let nr = regs.orig_rax;
    regs.rax = 7;
    let second = fx.ctx.switch(&mut regs).expect("switch to syscall");

    assert!(is_syscall(&first, SyscallAbi::I386), "got {first:?}");
    assert_eq!(nr, 20);
    assert!(is_syscall(&second, SyscallAbi::X86_64), "got {second:?}");
    assert_eq!(regs.orig_rax, 39);
}

/// Calls `VSYSCALL + entry` with a stack in DATA; checks the Vsyscall outcome and that the
/// stub runs on after the sentry emulates the `ret`.
fn check_vsyscall_call(entry: u64) {
    let mut fx = Fixture::new();
    let code = Asm::default().mov_rax(VSYSCALL + entry).call_rax();
    let return_addr = CODE + code.len();
    fx.load(code.mov_eax(39).syscall());
    let stack_top = DATA + 0x800;
    let mut regs = Regs::new_user(CODE, stack_top);

    let outcome = fx.ctx.switch(&mut regs).expect("switch");

    assert!(
        matches!(outcome, SwitchOutcome::Vsyscall),
        "got {outcome:?}"
    );
    assert_eq!(regs.rip, VSYSCALL + entry);
    assert_eq!(regs.rsp, stack_top - 8);
    assert_eq!(
        fx.read_u64(1, 0x800 - 8),
        return_addr,
        "return address at [rsp]"
    );
    // Emulate `ret` with a result, as the sentry would.
    regs.rip = return_addr;
    regs.rsp += 8;
    regs.rax = 0;
    let next = fx.ctx.switch(&mut regs).expect("switch after the vsyscall");
    assert!(is_syscall(&next, SyscallAbi::X86_64), "got {next:?}");
    assert_eq!(regs.orig_rax, 39);
}

fn vsyscall_gettimeofday_yields_vsyscall_and_the_stub_lives_on() {
    check_vsyscall_call(0);
}

fn vsyscall_time_yields_vsyscall_and_the_stub_lives_on() {
    check_vsyscall_call(0x400);
}

fn misaligned_vsyscall_entry_yields_vsyscall() {
    check_vsyscall_call(0x10);
}

fn kernel_half_fs_base_from_wrfsbase_survives_switches_and_injections() {
    let mut fx = Fixture::new();
    fx.load(
        Asm::default()
            .mov_rax(KERNEL_HALF_BASE)
            .wrfsbase_rax()
            .mov_eax(39)
            .syscall()
            .mov_eax(39)
            .syscall()
            .mov_eax(39)
            .syscall(),
    );
    let mut regs = Regs::new_user(CODE, 0);

    let first = fx
        .ctx
        .switch(&mut regs)
        .expect("switch to the first getpid");
    assert!(is_syscall(&first, SyscallAbi::X86_64), "got {first:?}");
    assert_eq!(regs.fs_base, KERNEL_HALF_BASE);
    regs.rax = 1;
    let second = fx
        .ctx
        .switch(&mut regs)
        .expect("switch with a kernel-half fs_base");
    assert!(is_syscall(&second, SyscallAbi::X86_64), "got {second:?}");
    // An injected call in between must not lose the base either.
    fx.asp
        .map(FAULT_ADDR, PAGE, fx.off(2), Perms::READ)
        .expect("map");
    let third = fx.ctx.switch(&mut regs).expect("switch after an injection");

    assert!(is_syscall(&third, SyscallAbi::X86_64), "got {third:?}");
    assert_eq!(regs.fs_base, KERNEL_HALF_BASE);
    assert_eq!(regs.rip, CODE + 10 + 5 + 3 * 7);
}

fn main() {
    let args = Arguments::from_args();
    let p = Need::Ptrace;
    let tests: Vec<Trial> = vec![
        trial(
            "app_syscall_is_trapped_and_never_runs_on_the_host",
            p,
            app_syscall_is_trapped_and_never_runs_on_the_host,
        ),
        trial(
            "syscall_result_set_by_the_sentry_is_seen_by_the_app",
            p,
            syscall_result_set_by_the_sentry_is_seen_by_the_app,
        ),
        trial(
            "load_from_unmapped_page_faults_then_completes_once_mapped",
            p,
            load_from_unmapped_page_faults_then_completes_once_mapped,
        ),
        trial("ud2_reports_sigill", p, ud2_reports_sigill),
        trial(
            "write_to_read_only_page_faults",
            p,
            write_to_read_only_page_faults,
        ),
        trial(
            "unmapped_code_faults_at_its_address",
            p,
            unmapped_code_faults_at_its_address,
        ),
        trial(
            "seccomp_filter_kills_stub_on_non_injected_syscall",
            p,
            seccomp_filter_kills_stub_on_non_injected_syscall,
        ),
        trial(
            "seccomp_filter_kills_stub_on_anonymous_mmap",
            p,
            seccomp_filter_kills_stub_on_anonymous_mmap,
        ),
        trial(
            "seccomp_filter_kills_stub_on_clone_with_other_flags",
            p,
            seccomp_filter_kills_stub_on_clone_with_other_flags,
        ),
        trial(
            "fresh_stub_has_only_the_stub_page_the_memfile_and_a_filter",
            p,
            fresh_stub_has_only_the_stub_page_the_memfile_and_a_filter,
        ),
        trial(
            "stub_thread_and_tracer_share_one_cpu_and_the_tracer_pin_is_temporary",
            p,
            stub_thread_and_tracer_share_one_cpu_and_the_tracer_pin_is_temporary,
        ),
        trial(
            "map_up_to_max_user_address_works_and_beyond_is_refused",
            p,
            map_up_to_max_user_address_works_and_beyond_is_refused,
        ),
        trial(
            "interrupt_from_another_thread_stops_a_spinning_app",
            p,
            interrupt_from_another_thread_stops_a_spinning_app,
        ),
        trial(
            "interrupt_before_switch_makes_next_switch_return_promptly",
            p,
            interrupt_before_switch_makes_next_switch_return_promptly,
        ),
        trial(
            "interrupt_before_attach_makes_the_first_switch_return_promptly",
            p,
            interrupt_before_attach_makes_the_first_switch_return_promptly,
        ),
        trial(
            "interrupt_during_injection_is_reported_by_the_next_switch",
            p,
            interrupt_during_injection_is_reported_by_the_next_switch,
        ),
        trial(
            "interrupter_of_a_dropped_context_does_not_disturb_its_successor",
            p,
            interrupter_of_a_dropped_context_does_not_disturb_its_successor,
        ),
        trial(
            "dropping_the_address_space_kills_and_reaps_the_stub",
            p,
            dropping_the_address_space_kills_and_reaps_the_stub,
        ),
        trial(
            "map_from_a_thread_attached_to_no_context_is_refused",
            p,
            map_from_a_thread_attached_to_no_context_is_refused,
        ),
        trial(
            "new_context_from_an_unattached_thread_without_parked_threads_is_refused",
            p,
            new_context_from_an_unattached_thread_without_parked_threads_is_refused,
        ),
        trial(
            "switch_from_a_thread_that_is_not_the_tracer_is_refused",
            p,
            switch_from_a_thread_that_is_not_the_tracer_is_refused,
        ),
        trial(
            "two_contexts_of_one_address_space_run_concurrently_on_two_threads",
            p,
            two_contexts_of_one_address_space_run_concurrently_on_two_threads,
        ),
        trial(
            "context_created_on_one_thread_runs_on_another",
            p,
            context_created_on_one_thread_runs_on_another,
        ),
        trial(
            "address_space_created_on_one_thread_is_used_on_another",
            p,
            address_space_created_on_one_thread_is_used_on_another,
        ),
        trial(
            "mapping_made_from_thread_b_is_seen_by_thread_a",
            p,
            mapping_made_from_thread_b_is_seen_by_thread_a,
        ),
        trial(
            "interrupt_of_one_thread_does_not_disturb_the_other",
            p,
            interrupt_of_one_thread_does_not_disturb_the_other,
        ),
        trial(
            "dropped_context_parks_its_thread_for_reuse",
            p,
            dropped_context_parks_its_thread_for_reuse,
        ),
        trial(
            "dropping_everything_leaves_no_stub_process",
            p,
            dropping_everything_leaves_no_stub_process,
        ),
        trial(
            "fpstate_round_trip_through_xmm_registers",
            p,
            fpstate_round_trip_through_xmm_registers,
        ),
        trial(
            "zeroed_fpstate_with_default_mxcsr_is_an_accepted_init_state",
            p,
            zeroed_fpstate_with_default_mxcsr_is_an_accepted_init_state,
        ),
        trial(
            "malformed_fpstate_is_rejected_with_ok_false_and_changes_nothing",
            p,
            malformed_fpstate_is_rejected_with_ok_false_and_changes_nothing,
        ),
        trial(
            "int80_is_reported_as_an_i386_syscall",
            p,
            int80_is_reported_as_an_i386_syscall,
        ),
        trial(
            "vsyscall_gettimeofday_yields_vsyscall_and_the_stub_lives_on",
            p,
            vsyscall_gettimeofday_yields_vsyscall_and_the_stub_lives_on,
        ),
        trial(
            "vsyscall_time_yields_vsyscall_and_the_stub_lives_on",
            p,
            vsyscall_time_yields_vsyscall_and_the_stub_lives_on,
        ),
        trial(
            "misaligned_vsyscall_entry_yields_vsyscall",
            p,
            misaligned_vsyscall_entry_yields_vsyscall,
        ),
        trial(
            "seccomp_filter_kills_stub_on_prctl_other_than_pdeathsig_sigkill",
            p,
            seccomp_filter_kills_stub_on_prctl_other_than_pdeathsig_sigkill,
        ),
        trial(
            "dropping_a_platform_and_its_address_spaces_kills_its_master",
            p,
            dropping_a_platform_and_its_address_spaces_kills_its_master,
        ),
        trial(
            "kernel_half_fs_base_from_wrfsbase_survives_switches_and_injections",
            Need::PtraceAndFsgsbase,
            kernel_half_fs_base_from_wrfsbase_survives_switches_and_injections,
        ),
    ];
    libtest_mimic::run(&args, tests).exit();
}
