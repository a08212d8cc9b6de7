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

use std::collections::BTreeMap;

use platform::PlatformError;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
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
        // Not injected today; allowed so a future orderly stub shutdown needs no filter change.
        (libc::SYS_exit, vec![]),
        (libc::SYS_exit_group, vec![]),
    ]))
}

/// Compiles the stub filter to BPF.
pub(crate) fn stub_filter() -> Result<BpfProgram, StubFilterError> {
    let filter = SeccompFilter::new(
        stub_rules()?,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(StubFilterError::Compile)?;
    BpfProgram::try_from(filter).map_err(StubFilterError::Compile)
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
        ];
        expected.sort_unstable();
        assert_eq!(allowed, expected);
    }
}
