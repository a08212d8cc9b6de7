//! Integration tests of the ptrace platform: real stubs running hand-assembled x86-64 code.
//!
//! Every test skips (with a printed reason) when the host forbids ptrace. All tests share one
//! platform, because the stub page is reserved at a fixed address once per process; each test
//! gets its own slice of the shared MemoryFile. Code and data are written to and read from the
//! MemoryFile with pwrite/pread, which sees the same page-cache pages the stub maps.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use abi::signal::Signal;
use nix::sys::memfd::{MFdFlags, memfd_create};
use platform::{AddressSpace, Perms, Platform, PlatformError, Regs, SwitchOutcome};
use platform_ptrace::{PtraceAddressSpace, PtracePlatform};

const CODE: u64 = 0x40_0000;
const DATA: u64 = 0x50_0000;
const FAULT_ADDR: u64 = 0x60_0000;
const PAGE: u64 = 4096;
/// MemoryFile pages per test.
const SLICE_PAGES: u64 = 4;
const MEMFILE_SIZE: u64 = 8 << 20;

/// A tiny x86-64 assembler: just the encodings these tests use.
#[derive(Default)]
struct Asm(Vec<u8>);

impl Asm {
    fn bytes(mut self, b: &[u8]) -> Asm {
        self.0.extend_from_slice(b);
        self
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
    fn ud2(self) -> Asm {
        self.bytes(&[0x0f, 0x0b])
    }
    /// `jmp $` (eb fe): spin forever.
    fn spin(self) -> Asm {
        self.bytes(&[0xeb, 0xfe])
    }
    /// `mov eax, 60; xor edi, edi; syscall`: exit(0), trapped by SYSEMU like any syscall.
    fn exit(self) -> Asm {
        self.mov_eax(60).bytes(&[0x31, 0xff]).syscall()
    }
}

struct Shared {
    platform: Arc<PtracePlatform>,
    mem: File,
}

static SHARED: OnceLock<Option<Shared>> = OnceLock::new();
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

fn shared() -> Option<&'static Shared> {
    SHARED
        .get_or_init(|| {
            let fd =
                memfd_create(c"rvisor-ptrace-test", MFdFlags::MFD_CLOEXEC).expect("memfd_create");
            let mem = File::from(fd);
            mem.set_len(MEMFILE_SIZE).expect("ftruncate memfd");
            match PtracePlatform::new(mem.as_fd()) {
                Ok(platform) => Some(Shared { platform, mem }),
                Err(e) if is_not_permitted(&e) => {
                    eprintln!("SKIP: ptrace platform unavailable on this host: {e}");
                    None
                }
                Err(e) => panic!("creating the ptrace platform failed: {e}"),
            }
        })
        .as_ref()
}

/// One test's address space plus its slice of the MemoryFile.
struct Fixture {
    asp: Arc<PtraceAddressSpace>,
    mem: &'static File,
    platform: &'static Arc<PtracePlatform>,
    slice: u64,
}

impl Fixture {
    /// None (after printing why) when ptrace is not permitted.
    fn new() -> Option<Fixture> {
        let shared = shared()?;
        let asp = match shared.platform.new_ptrace_address_space() {
            Ok(asp) => asp,
            Err(e) if is_not_permitted(&e) => {
                eprintln!("SKIP: cannot create a ptrace stub on this host: {e}");
                return None;
            }
            Err(e) => panic!("creating a stub failed: {e}"),
        };
        let slice = NEXT_SLICE.fetch_add(1, Ordering::SeqCst) * SLICE_PAGES * PAGE;
        assert!(
            slice + SLICE_PAGES * PAGE <= MEMFILE_SIZE,
            "too many tests for the memfile"
        );
        Some(Fixture {
            asp,
            mem: &shared.mem,
            platform: &shared.platform,
            slice,
        })
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
}

fn proc_exists(pid: i32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
}

#[test]
fn app_syscall_is_trapped_and_never_runs_on_the_host() {
    let Some(fx) = Fixture::new() else { return };
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
    let mut ctx = fx.asp.new_context().expect("context");
    let mut regs = Regs::new_user(CODE, 0);

    let outcome = ctx.switch(&mut regs).expect("switch");

    assert!(matches!(outcome, SwitchOutcome::Syscall), "got {outcome:?}");
    assert_eq!(regs.syscall_nr(), 83);
    assert_eq!(regs.syscall_args()[0], DATA);
    assert_eq!(regs.syscall_args()[1], 0o755);
    assert!(!path.exists(), "mkdir ran on the host");
}

#[test]
fn syscall_result_set_by_the_sentry_is_seen_by_the_app() {
    let Some(fx) = Fixture::new() else { return };
    // getpid(); store rax at DATA+0x100; exit(0)
    fx.load(
        Asm::default()
            .mov_eax(39)
            .syscall()
            .store_rax(DATA + 0x100)
            .exit(),
    );
    let mut ctx = fx.asp.new_context().expect("context");
    let mut regs = Regs::new_user(CODE, 0);
    let first = ctx.switch(&mut regs).expect("switch to getpid");
    assert!(matches!(first, SwitchOutcome::Syscall));
    assert_eq!(regs.orig_rax, 39);

    regs.rax = 1234;
    let second = ctx.switch(&mut regs).expect("switch to exit");

    assert!(matches!(second, SwitchOutcome::Syscall), "got {second:?}");
    assert_eq!(regs.orig_rax, 60);
    assert_eq!(fx.read_u64(1, 0x100), 1234);
}

#[test]
fn load_from_unmapped_page_faults_then_completes_once_mapped() {
    let Some(fx) = Fixture::new() else { return };
    fx.write(2, 0, &0xdead_beef_cafe_f00d_u64.to_le_bytes());
    fx.load(
        Asm::default()
            .load_rax(FAULT_ADDR)
            .store_rax(DATA + 0x100)
            .exit(),
    );
    let mut ctx = fx.asp.new_context().expect("context");
    let mut regs = Regs::new_user(CODE, 0);

    let outcome = ctx.switch(&mut regs).expect("switch");

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
    let outcome = ctx.switch(&mut regs).expect("switch after mapping");

    assert!(matches!(outcome, SwitchOutcome::Syscall), "got {outcome:?}");
    assert_eq!(regs.orig_rax, 60);
    assert_eq!(fx.read_u64(1, 0x100), 0xdead_beef_cafe_f00d);
}

#[test]
fn ud2_reports_sigill() {
    let Some(fx) = Fixture::new() else { return };
    fx.load(Asm::default().ud2());
    let mut ctx = fx.asp.new_context().expect("context");
    let mut regs = Regs::new_user(CODE, 0);

    let outcome = ctx.switch(&mut regs).expect("switch");

    match outcome {
        SwitchOutcome::Signal(info) => assert_eq!(info.signo, Signal::SIGILL.0),
        other => panic!("expected SIGILL, got {other:?}"),
    }
    assert_eq!(regs.rip, CODE);
}

#[test]
fn write_to_read_only_page_faults() {
    let Some(fx) = Fixture::new() else { return };
    fx.load(Asm::default().mov_eax(7).store_rax(DATA).exit());
    fx.asp.protect(DATA, PAGE, Perms::READ).expect("protect");
    let mut ctx = fx.asp.new_context().expect("context");
    let mut regs = Regs::new_user(CODE, 0);

    let outcome = ctx.switch(&mut regs).expect("switch");

    assert!(
        matches!(outcome, SwitchOutcome::Fault { addr: DATA, .. }),
        "got {outcome:?}"
    );
}

#[test]
fn unmapped_code_faults_at_its_address() {
    let Some(fx) = Fixture::new() else { return };
    fx.load(Asm::default().exit());
    fx.asp.unmap(CODE, PAGE).expect("unmap");
    let mut ctx = fx.asp.new_context().expect("context");
    let mut regs = Regs::new_user(CODE, 0);

    let outcome = ctx.switch(&mut regs).expect("switch");

    assert!(
        matches!(outcome, SwitchOutcome::Fault { addr: CODE, .. }),
        "got {outcome:?}"
    );
}

#[test]
fn seccomp_filter_kills_stub_on_non_injected_syscall() {
    let Some(fx) = Fixture::new() else { return };
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

#[test]
fn seccomp_filter_kills_stub_on_anonymous_mmap() {
    let Some(fx) = Fixture::new() else { return };
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

#[test]
fn fresh_stub_has_only_the_stub_page_the_memfile_and_a_filter() {
    let Some(fx) = Fixture::new() else { return };
    let pid = fx.asp.stub_pid();

    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");

    let stub_start = format!("{:x}-", fx.platform.max_user_address());
    let lines: Vec<&str> = maps.lines().filter(|l| !l.contains("[vsyscall]")).collect();
    assert_eq!(lines.len(), 1, "{maps}");
    assert!(
        lines.first().is_some_and(|l| l.starts_with(&stub_start)),
        "{maps}"
    );
    assert_eq!(fds, vec!["3".to_string()]);
    assert!(status.lines().any(|l| l == "Seccomp:\t2"), "{status}");
}

fn cpus_allowed(status_path: &str) -> String {
    let status = std::fs::read_to_string(status_path).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
        .expect("Cpus_allowed_list line")
}

#[test]
fn stub_and_tracer_thread_are_pinned_to_the_same_single_cpu() {
    let Some(fx) = Fixture::new() else { return };
    let pid = fx.asp.stub_pid();

    let stub_cpus = cpus_allowed(&format!("/proc/{pid}/status"));
    let tracer_cpus = cpus_allowed("/proc/thread-self/status");

    assert_eq!(stub_cpus, tracer_cpus);
    assert!(
        stub_cpus.parse::<u32>().is_ok(),
        "not a single CPU: {stub_cpus}"
    );
}

#[test]
fn map_up_to_max_user_address_works_and_beyond_is_refused() {
    let Some(fx) = Fixture::new() else { return };
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

#[test]
fn interrupt_from_another_thread_stops_a_spinning_app() {
    let Some(fx) = Fixture::new() else { return };
    fx.load(Asm::default().spin());
    let mut ctx = fx.asp.new_context().expect("context");
    let interrupter = ctx.interrupter();
    let mut regs = Regs::new_user(CODE, 0);
    let kicker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        interrupter.interrupt();
    });

    let outcome = ctx.switch(&mut regs).expect("switch");

    kicker.join().expect("kicker thread");
    assert!(
        matches!(outcome, SwitchOutcome::Interrupted),
        "got {outcome:?}"
    );
    assert_eq!(regs.rip, CODE, "interrupted inside the spin loop");
}

#[test]
fn interrupt_before_switch_makes_next_switch_return_promptly() {
    let Some(fx) = Fixture::new() else { return };
    fx.load(Asm::default().spin());
    let mut ctx = fx.asp.new_context().expect("context");
    let interrupter = ctx.interrupter();
    // Watchdog: if the pending interrupt were lost, the switch would spin forever; a late
    // second interrupt ends it, and the elapsed time shows the failure.
    let watchdog_interrupter = ctx.interrupter();
    let mut regs = Regs::new_user(CODE, 0);
    interrupter.interrupt();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(3)).is_err() {
            watchdog_interrupter.interrupt();
        }
    });

    let start = Instant::now();
    let outcome = ctx.switch(&mut regs).expect("switch");
    let elapsed = start.elapsed();
    let _ = done_tx.send(());

    assert!(
        matches!(outcome, SwitchOutcome::Interrupted),
        "got {outcome:?}"
    );
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    watchdog.join().expect("watchdog");
}

#[test]
fn interrupt_during_injection_is_reported_by_the_next_switch() {
    let Some(fx) = Fixture::new() else { return };
    fx.load(Asm::default().mov_eax(39).syscall().exit());
    let mut ctx = fx.asp.new_context().expect("context");
    ctx.interrupter().interrupt();
    // The pending signal is consumed by the next resume, which is this injected mmap.
    fx.asp
        .map(FAULT_ADDR, PAGE, fx.off(2), Perms::READ)
        .expect("map");
    let mut regs = Regs::new_user(CODE, 0);

    let first = ctx.switch(&mut regs).expect("switch");
    let second = ctx.switch(&mut regs).expect("switch");

    assert!(matches!(first, SwitchOutcome::Interrupted), "got {first:?}");
    assert!(matches!(second, SwitchOutcome::Syscall), "got {second:?}");
    assert_eq!(regs.orig_rax, 39);
}

#[test]
fn second_context_is_unavailable() {
    let Some(fx) = Fixture::new() else { return };
    let _first = fx.asp.new_context().expect("first context");

    let second = fx.asp.new_context();

    assert!(matches!(second, Err(PlatformError::Unavailable(_))));
}

#[test]
fn dropping_the_address_space_kills_and_reaps_the_stub() {
    let Some(fx) = Fixture::new() else { return };
    fx.load(Asm::default().mov_eax(39).syscall());
    let mut ctx = fx.asp.new_context().expect("context");
    let pid = fx.asp.stub_pid();
    assert!(proc_exists(pid));

    drop(fx);

    assert!(!proc_exists(pid), "stub {pid} still exists");
    let mut regs = Regs::new_user(CODE, 0);
    assert!(
        ctx.switch(&mut regs).is_err(),
        "switching into a killed stub must fail"
    );
}

#[cfg(debug_assertions)]
#[test]
fn use_from_another_thread_is_refused_in_debug_builds() {
    let Some(fx) = Fixture::new() else { return };
    let asp = Arc::clone(&fx.asp);

    let result = std::thread::spawn(move || asp.map(CODE, PAGE, 0, Perms::READ))
        .join()
        .expect("thread");

    assert!(
        matches!(result, Err(PlatformError::Internal(_))),
        "{result:?}"
    );
}

/// Round-trip cost of a trapped getpid (switch in, SYSEMU stop, switch out). Not an assertion:
/// run with `cargo test -p platform-ptrace --release -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark"]
fn bench_getpid_round_trip() {
    let Some(fx) = Fixture::new() else { return };
    // loop: mov eax, 39; syscall; jmp loop  (eb f7 = jmp -9)
    fx.load(Asm::default().mov_eax(39).syscall().bytes(&[0xeb, 0xf7]));
    let mut ctx = fx.asp.new_context().expect("context");
    let mut regs = Regs::new_user(CODE, 0);
    let iterations = 20_000u32;
    for _ in 0..1000 {
        ctx.switch(&mut regs).expect("warm-up switch");
        regs.rax = 1;
    }

    let start = Instant::now();
    for _ in 0..iterations {
        let outcome = ctx.switch(&mut regs).expect("switch");
        assert!(matches!(outcome, SwitchOutcome::Syscall));
        regs.rax = 1;
    }
    let per_call = start.elapsed() / iterations;

    println!(
        "ptrace getpid round trip: {:.2} µs",
        per_call.as_secs_f64() * 1e6
    );
}
