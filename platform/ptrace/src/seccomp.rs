//! The seccomp filter every stub installs on itself before running its first injected call.
//!
//! The filter allows exactly what the sentry injects through the stub page and kills the whole
//! stub (SECCOMP_RET_KILL_PROCESS, reported to the tracer as death by SIGSYS) on anything else.
//! Application syscalls never reach it: PTRACE_SYSEMU stops the thread at syscall entry *before*
//! seccomp runs and then skips the call (kernel/entry/common.c, `syscall_trace_enter`). The
//! filter is therefore a second wall for the case where a bug or an attacker gets a `syscall`
//! instruction executed without SYSEMU.
//!
//! Built with `seccompiler` once per platform, before any fork (compiling allocates, and the
//! forked child may not).
//!
//! Besides the injected calls, three stub-page paths make syscalls of their own: the park
//! loop (`pause`), the clone that creates a new stub thread (`clone` with exactly
//! [`STUB_CLONE_FLAGS`]) and the master stub's fork of a new stub process (`clone` with
//! exactly [`MASTER_FORK_FLAGS`]), whose child runs `prctl(PR_SET_PDEATHSIG, SIGKILL)`,
//! `getppid` and, if that is not the master, `exit_group`; see `stub` for the code.
//!
//! # vsyscall
//!
//! On hosts whose vsyscall page is execute-only (CONFIG_LEGACY_VSYSCALL_XONLY, "--xp" in
//! /proc/self/maps), a `call 0xffffffffff600000` by the application does not fault: the host
//! kernel emulates the call (arch/x86/entry/vsyscall/vsyscall_64.c, `emulate_vsyscall`) and,
//! instead of reporting a syscall stop, runs *this filter* for the emulated syscall. The
//! rules would kill the stub (gettimeofday is not allowed). So a hand-written prefix runs
//! first: if `seccomp_data.instruction_pointer` lies in the vsyscall page, return
//! SECCOMP_RET_TRAP. The kernel then skips the call, emulates its `ret` and forces SIGSYS
//! (si_code SYS_SECCOMP, si_call_addr = the vsyscall address, si_syscall = the number), which
//! the tracer sees as a signal-delivery-stop and turns into `SwitchOutcome::Vsyscall` (see
//! `context`). Prepending is safe: classic BPF jumps are relative to the next instruction and
//! seccompiler's program starts by loading `seccomp_data.arch` itself, assuming no prior
//! state. The prefix falls through to seccompiler's first instruction for every other
//! address.

use std::collections::BTreeMap;

use platform::PlatformError;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

use crate::stub::STUB_FD;

/// Setup errors of the filter (they become `PlatformError::Internal`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum StubFilterError {
    #[error("building the stub seccomp rule failed: {0}")]
    Rule(seccompiler::BackendError),
    #[error("compiling the stub seccomp filter failed: {0}")]
    Compile(seccompiler::BackendError),
}

impl From<StubFilterError> for PlatformError {
    fn from(e: StubFilterError) -> PlatformError {
        PlatformError::Internal(e.to_string())
    }
}

/// `PROT_READ | PROT_WRITE | PROT_EXEC`: the only protection bits injected calls use.
const PROT_RWX: u64 = (libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as u64;
/// `RSEQ_FLAG_UNREGISTER` (include/uapi/linux/rseq.h).
pub(crate) const RSEQ_FLAG_UNREGISTER: u64 = 1;
/// The only mmap flags injected calls use (`AddressSpace::map`).
pub(crate) const STUB_MMAP_FLAGS: u64 = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
/// The only clone flags the stub may use: a new thread of the stub process
/// (`AddressSpace::new_context`). No CLONE_SETTLS/CLONE_*TID (no pointers), no CLONE_PTRACE
/// (the thread starts untraced and parks).
pub(crate) const STUB_CLONE_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM) as u64;

/// The only flags of the fork injected into the master stub (`forker`, stub page
/// FORK_SYSCALL_OFFSET): a new process (no CLONE_VM) that is traced by the master's tracer
/// (the forker thread) from its first instruction, with SIGCHLD as exit signal so the master,
/// which ignores SIGCHLD, has it reaped by the kernel.
pub(crate) const MASTER_FORK_FLAGS: u64 = (libc::CLONE_PTRACE | libc::SIGCHLD) as u64;

/// The legacy vsyscall page (arch/x86/include/asm/vsyscall.h, VSYSCALL_ADDR): one page.
pub(crate) const VSYSCALL_ADDR: u64 = 0xffff_ffff_ff60_0000;
/// `SECCOMP_RET_TRAP` (include/uapi/linux/seccomp.h).
const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
/// Offsets in `struct seccomp_data` (include/uapi/linux/seccomp.h): nr (0), arch (4),
/// instruction_pointer (8, a u64: low half at 8, high half at 12 on little-endian).
const SECCOMP_DATA_IP_LO: u32 = 8;
const SECCOMP_DATA_IP_HI: u32 = 12;
// Classic BPF opcodes (include/uapi/linux/bpf_common.h).
const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K

fn cond(
    arg: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, StubFilterError> {
    SeccompCondition::new(arg, len, op, value).map_err(StubFilterError::Rule)
}

/// "prot (argument `arg`) has no bit outside RWX" — so PROT_GROWSDOWN/PROT_SEM and friends are
/// refused. Qword: the kernel reads `unsigned long prot`.
fn prot_is_rwx(arg: u8) -> Result<SeccompCondition, StubFilterError> {
    cond(
        arg,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(!PROT_RWX),
        0,
    )
}

/// The rules, one per allowed syscall, each with the code path that injects it.
fn stub_rules() -> Result<BTreeMap<i64, Vec<SeccompRule>>, StubFilterError> {
    let mmap_rule = SeccompRule::new(vec![
        prot_is_rwx(2)?,
        // flags == MAP_SHARED|MAP_FIXED exactly: no anonymous or private memory, no
        // MAP_GROWSDOWN; the kernel reads `unsigned long flags`.
        cond(
            3,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::Eq,
            STUB_MMAP_FLAGS,
        )?,
        // fd == the MemoryFile. The kernel reads the fd as `unsigned int` (fget), so only the
        // low 32 bits matter.
        cond(
            4,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Eq,
            u64::from(STUB_FD.unsigned_abs()),
        )?,
    ])
    .map_err(StubFilterError::Rule)?;
    let mprotect_rule = SeccompRule::new(vec![prot_is_rwx(2)?]).map_err(StubFilterError::Rule)?;
    // clone(flags, newsp, ...): exactly STUB_CLONE_FLAGS (`unsigned long`), newsp == 0 (the
    // child shares the parent's rsp, and the park loop needs no stack).
    let clone_rule = SeccompRule::new(vec![
        cond(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::Eq,
            STUB_CLONE_FLAGS,
        )?,
        cond(1, SeccompCmpArgLen::Qword, SeccompCmpOp::Eq, 0)?,
    ])
    .map_err(StubFilterError::Rule)?;
    // The master's fork: clone(MASTER_FORK_FLAGS, newsp = 0) (the child shares nothing and
    // needs no stack either: it runs register-only code, then parks).
    let fork_rule = SeccompRule::new(vec![
        cond(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::Eq,
            MASTER_FORK_FLAGS,
        )?,
        cond(1, SeccompCmpArgLen::Qword, SeccompCmpOp::Eq, 0)?,
    ])
    .map_err(StubFilterError::Rule)?;
    // prctl(PR_SET_PDEATHSIG, SIGKILL) only; the kernel reads `int option` and
    // `unsigned long arg2`.
    let pdeathsig_rule = SeccompRule::new(vec![
        cond(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Eq,
            libc::PR_SET_PDEATHSIG.unsigned_abs().into(),
        )?,
        cond(
            1,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::Eq,
            libc::SIGKILL.unsigned_abs().into(),
        )?,
    ])
    .map_err(StubFilterError::Rule)?;
    let rseq_unregister_rule = SeccompRule::new(vec![cond(
        2,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::Eq,
        RSEQ_FLAG_UNREGISTER,
    )?])
    .map_err(StubFilterError::Rule)?;
    Ok(BTreeMap::from([
        // AddressSpace::map: mmap(addr, len, prot, MAP_SHARED|MAP_FIXED, STUB_FD, offset).
        (libc::SYS_mmap, vec![mmap_rule]),
        // AddressSpace::unmap, and stub setup (removing everything fork inherited).
        (libc::SYS_munmap, vec![]),
        // AddressSpace::protect.
        (libc::SYS_mprotect, vec![mprotect_rule]),
        // Stub setup: drop the rseq(2) registration inherited from the forking sentry thread,
        // whose area is unmapped next (the kernel would SIGSEGV the stub on its next signal
        // or preemption). Only unregistering is allowed.
        (libc::SYS_rseq, vec![rseq_unregister_rule]),
        // The park loop of every untraced stub thread (stub page, PARK_OFFSET).
        (libc::SYS_pause, vec![]),
        // AddressSpace::new_context: a new stub thread, cloned at the stub page's clone site.
        // ... and the master stub's fork of a new stub process (stub page, fork site).
        (libc::SYS_clone, vec![clone_rule, fork_rule]),
        // The fork child's setup path (stub page, after the fork site): die with the master,
        // then check the master is still its parent.
        (libc::SYS_prctl, vec![pdeathsig_rule]),
        (libc::SYS_getppid, vec![]),
        // Not injected today; allowed so a future orderly stub shutdown needs no filter change.
        (libc::SYS_exit, vec![]),
        (libc::SYS_exit_group, vec![]),
    ]))
}

/// The vsyscall prefix (module doc, "vsyscall"): "instruction pointer in
/// [VSYSCALL_ADDR, VSYSCALL_ADDR + 4096) → SECCOMP_RET_TRAP", else fall through past the
/// prefix (instruction 6).
fn vsyscall_prefix() -> [sock_filter; 6] {
    let ins = |code, k, jt, jf| sock_filter { code, jt, jf, k };
    let hi = (VSYSCALL_ADDR >> 32) as u32;
    let lo = VSYSCALL_ADDR as u32;
    [
        /* 0 */ ins(BPF_LD_W_ABS, SECCOMP_DATA_IP_HI, 0, 0),
        /* 1 */ ins(BPF_JEQ_K, hi, 0, 4), // high half differs: to 6
        /* 2 */ ins(BPF_LD_W_ABS, SECCOMP_DATA_IP_LO, 0, 0),
        /* 3 */ ins(BPF_JGE_K, lo, 0, 2), // below the page: to 6
        /* 4 */ ins(BPF_JGE_K, lo + 4096, 1, 0), // above the page: to 6
        /* 5 */ ins(BPF_RET_K, SECCOMP_RET_TRAP, 0, 0),
    ]
}

/// Compiles the stub filter to BPF: the vsyscall prefix, then seccompiler's program.
pub(crate) fn stub_filter() -> Result<BpfProgram, StubFilterError> {
    let filter = SeccompFilter::new(
        stub_rules()?,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(StubFilterError::Compile)?;
    let rules = BpfProgram::try_from(filter).map_err(StubFilterError::Compile)?;
    let mut prog = vsyscall_prefix().to_vec();
    prog.extend(rules);
    Ok(prog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_compiles_and_fits_a_sock_fprog() {
        let prog = stub_filter().expect("the static rules are valid");
        assert!(!prog.is_empty());
        assert!(prog.len() <= usize::from(u16::MAX));
    }

    /// Runs the prefix on a `seccomp_data` with this instruction pointer: Some(ret value) if it
    /// returns, None if it falls through to the rules.
    fn run_prefix(ip: u64) -> Option<u32> {
        let prefix = vsyscall_prefix();
        let mut pc = 0usize;
        let mut acc = 0u32;
        while let Some(ins) = prefix.get(pc) {
            match ins.code {
                BPF_LD_W_ABS if ins.k == SECCOMP_DATA_IP_LO => acc = ip as u32,
                BPF_LD_W_ABS if ins.k == SECCOMP_DATA_IP_HI => acc = (ip >> 32) as u32,
                BPF_JEQ_K | BPF_JGE_K => {
                    let taken = if ins.code == BPF_JEQ_K {
                        acc == ins.k
                    } else {
                        acc >= ins.k
                    };
                    pc += usize::from(if taken { ins.jt } else { ins.jf });
                }
                BPF_RET_K => return Some(ins.k),
                other => panic!("unexpected opcode {other:#x}"),
            }
            pc += 1;
        }
        assert_eq!(
            pc,
            prefix.len(),
            "every jump must land inside or right after the prefix"
        );
        None
    }

    #[test]
    fn vsyscall_prefix_traps_exactly_the_vsyscall_page() {
        for ip in [
            VSYSCALL_ADDR,
            VSYSCALL_ADDR + 0x400,
            VSYSCALL_ADDR + 0x800,
            VSYSCALL_ADDR + 4095,
        ] {
            assert_eq!(run_prefix(ip), Some(SECCOMP_RET_TRAP), "{ip:#x}");
        }
        for ip in [
            0,
            0x40_0000,
            VSYSCALL_ADDR - 1,
            VSYSCALL_ADDR + 4096,
            0x7fff_ffff_f000,
            0xff60_0000,
        ] {
            assert_eq!(run_prefix(ip), None, "{ip:#x}");
        }
    }

    #[test]
    fn only_injected_calls_are_allowed() {
        let rules = stub_rules().expect("the static rules are valid");
        let allowed: Vec<i64> = rules.keys().copied().collect();
        let mut expected = vec![
            libc::SYS_mmap,
            libc::SYS_munmap,
            libc::SYS_mprotect,
            libc::SYS_exit,
            libc::SYS_exit_group,
            libc::SYS_rseq,
            libc::SYS_pause,
            libc::SYS_clone,
            libc::SYS_prctl,
            libc::SYS_getppid,
        ];
        expected.sort_unstable();
        assert_eq!(allowed, expected);
    }
}
