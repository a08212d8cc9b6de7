//! Release-mode benchmark of the ptrace platform's switch: a stub runs `mov eax, 39; syscall;
//! jmp back` (getpid in a loop) and the sentry side answers every trapped syscall with one
//! `Context::switch`. Prints µs per switch for three placements of tracer and stub thread:
//!
//! - `free`: nothing pinned by the benchmark (what the sentry gets);
//! - `migrating`: the tracer thread moves to another CPU every 1000 switches (the platform
//!   should follow with the stub thread);
//! - `cross-cpu`: the stub is forced onto another CPU than the tracer behind the platform's
//!   back (the cost the CPU placement avoids).
//!
//! Run: `cargo run -p platform-ptrace --release --example switch_bench [iterations]`.
//! Figures and what they showed are recorded in `context`'s and `thread`'s module docs. On a
//! shared, noisy host, `chrt -f 1 <binary>` (as root) shields the measurement from other load.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::unistd::Pid;
use platform::{AddressSpace, Context, Perms, Regs, SwitchOutcome};
use platform_ptrace::PtraceContext;
use platform_ptrace::PtracePlatform;

const CODE: u64 = 0x40_0000;
const PAGE: u64 = 4096;
/// `mov eax, 39; syscall; jmp -9` (back to the mov).
const GETPID_LOOP: [u8; 9] = [0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7];

fn pin_self(cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu).expect("cpu index");
    sched_setaffinity(Pid::from_raw(0), &set).expect("sched_setaffinity(self)");
}

fn run(ctx: &mut PtraceContext, regs: &mut Regs, n: u32, mut between: impl FnMut(u32)) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        between(i);
        let outcome = ctx.switch(regs).expect("switch");
        assert!(
            matches!(outcome, SwitchOutcome::Syscall { .. }),
            "{outcome:?}"
        );
        regs.rax = 1;
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .map_or(200_000, |s| s.parse().expect("iterations"));
    let allowed = sched_getaffinity(Pid::from_raw(0)).expect("sched_getaffinity");
    let cpus: Vec<usize> = (0..CpuSet::count())
        .filter(|&c| allowed.is_set(c).unwrap_or(false))
        .collect();

    let mem = File::from(memfd_create(c"switch-bench", MFdFlags::MFD_CLOEXEC).expect("memfd"));
    mem.set_len(PAGE).expect("ftruncate");
    mem.write_all_at(&GETPID_LOOP, 0).expect("pwrite");
    let platform = PtracePlatform::new(mem.as_fd()).expect("platform");
    let asp = platform.new_ptrace_address_space().expect("address space");
    let mut ctx = asp.new_ptrace_context().expect("context");
    ctx.attach().expect("attach");
    let stub_tid = ctx.stub_tid();
    asp.map(CODE, PAGE, 0, Perms::READ | Perms::EXEC)
        .expect("map");
    let mut regs = Regs::new_user(CODE, 0);
    run(&mut ctx, &mut regs, 10_000, |_| {});

    // The host may be shared and noisy: report the median and the best of 10 batches.
    let mut batches: Vec<f64> = (0..10)
        .map(|_| run(&mut ctx, &mut regs, n / 10, |_| {}))
        .collect();
    batches.sort_by(f64::total_cmp);
    println!(
        "free:      {:.2} µs/switch median, {:.2} best of 10 batches of {}",
        batches[5],
        batches[0],
        n / 10
    );

    // Life-cycle costs: a new address space (fork on the forker thread), a new context
    // (clone injected through ours) attached and dropped (parked), a reused one.
    let rounds = 20u32;
    let (mut new_time, mut drop_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds * 10 {
        let t = Instant::now();
        let fresh = platform.new_ptrace_address_space().expect("address space");
        let t2 = Instant::now();
        drop(fresh);
        drop_time += t2.elapsed();
        new_time += t2 - t;
    }
    let new_us = new_time.as_secs_f64() * 1e6 / f64::from(rounds * 10);
    let drop_us = drop_time.as_secs_f64() * 1e6 / f64::from(rounds * 10);
    let asp_us = new_us + drop_us;
    let t = Instant::now();
    let mut clones = Vec::new();
    for _ in 0..rounds {
        let mut c = asp.new_ptrace_context().expect("context");
        c.attach().expect("attach");
        clones.push(c);
    }
    let clone_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    let t = Instant::now();
    drop(clones);
    let park_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    let t = Instant::now();
    for _ in 0..rounds {
        let mut c = asp.new_ptrace_context().expect("context");
        c.attach().expect("attach");
    }
    let reuse_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    println!(
        "life cycle: new address space + drop {asp_us:.0} µs ({new_us:.0} + {drop_us:.0}); new context (clone) + attach \
         {clone_us:.0} µs; park + detach on drop {park_us:.0} µs; reuse + attach + park \
         {reuse_us:.0} µs"
    );

    if cpus.len() < 2 {
        println!("migrating, cross-cpu: skipped (one CPU allowed)");
        return;
    }
    let (a, b) = (cpus[0], cpus[1]);
    let migrating = run(&mut ctx, &mut regs, n, |i| {
        if i % 1000 == 0 {
            pin_self(if (i / 1000) % 2 == 0 { a } else { b });
        }
    });
    println!("migrating: {migrating:.2} µs/switch (tracer moves every 1000 switches)");

    pin_self(a);
    run(&mut ctx, &mut regs, 1000, |_| {}); // let the platform place the stub next to us
    let mut other = CpuSet::new();
    other.set(b).expect("cpu index");
    sched_setaffinity(Pid::from_raw(stub_tid), &other).expect("pin stub");
    let cross = run(&mut ctx, &mut regs, n, |_| {});
    println!(
        "cross-cpu: {cross:.2} µs/switch (tracer on CPU {}, stub forced onto CPU {b})",
        sched_getcpu().unwrap_or(usize::MAX)
    );
}
