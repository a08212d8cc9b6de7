//! The in-sandbox out-of-memory killer: what happens when a page fault needs a MemoryFile page
//! and the sandbox's memory limit (`MemoryFile::set_limit`) refuses it.
//!
//! Linux's OOM killer picks the process with the highest badness (mostly its resident set)
//! and SIGKILLs it; the faulting task retries its fault once memory was freed. We do the same
//! inside the sandbox: [`out_of_memory`] picks the live process with the largest resident set
//! (`MemoryManager::resident_bytes`, threads of one process counted once), logs one line
//! naming it, and SIGKILLs it. The faulting task then re-runs its instruction (after a short
//! sleep, so the victim's exit can free its pages) or, if it is the victim, dies. While a
//! victim is still exiting no second one is chosen (Linux's `oom_reaper` wait), so one
//! shortage kills one process; a victim that has not gone after [`VICTIM_GRACE`] lets the
//! next fault choose again. The host never sees an allocation past the limit, so neither the
//! host's OOM killer nor the sentry is involved.
//!
//! Shortcuts: no `oom_score_adj` (every process is eligible, init included, though init's
//! death ends the sandbox as it would end a container); tmpfs data charged to nobody cannot be
//! freed by a kill (as on Linux, shmem pages survive the OOM kill).
//!
//! Lock order: `Kernel::oom` first, then the task tree (read to pick), released before the
//! kill; resident sets are counted under each manager's own lock, with the tree not held.

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::signal::Signal;

use super::Kernel;
use super::signal::{self, Target};
use super::task::TaskShared;
use super::tree::ProcState;
use crate::kernel::thread_group::ThreadGroup;

/// How long a chosen victim may take to exit before another is chosen.
pub const VICTIM_GRACE: Duration = Duration::from_secs(5);

/// What the faulting task does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OomAction {
    /// Another process was (or is being) killed: sleep briefly and fault again.
    Retry,
    /// The faulting process is the victim: it dies of SIGKILL.
    KillSelf,
}

/// The victim being killed (tgid, when).
pub(crate) type OomState = Option<(i32, Instant)>;

/// A page fault of process `tgid` could not get memory: choose and kill a victim.
pub(crate) fn out_of_memory(kernel: &Arc<Kernel>, tgid: i32) -> OomAction {
    let mut state = kernel
        .oom
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((victim, when)) = *state
        && when.elapsed() < VICTIM_GRACE
        && is_alive(kernel, victim)
    {
        return if victim == tgid {
            OomAction::KillSelf
        } else {
            OomAction::Retry
        };
    }
    let candidates: Vec<(i32, Arc<ThreadGroup>, Arc<TaskShared>)> = {
        let tree = kernel.tree();
        tree.procs
            .iter()
            .filter(|(_, p)| p.state == ProcState::Alive)
            .filter_map(|(&id, p)| {
                let leader = p.threads.first().and_then(|t| tree.tasks.get(t))?;
                Some((id, Arc::clone(&p.tg), Arc::clone(leader)))
            })
            .collect()
    };
    let victim = candidates
        .into_iter()
        .filter(|(_, tg, _)| !tg.is_exiting())
        .map(|(id, tg, leader)| {
            let rss = crate::fs::proc::mm_of_task(&leader).map_or(0, |mm| mm.resident_bytes());
            (rss, id, tg, leader)
        })
        .max_by_key(|(rss, id, _, _)| (*rss, *id));
    let Some((rss, id, tg, leader)) = victim else {
        *state = None;
        return OomAction::KillSelf;
    };
    let comm = {
        let c = leader
            .comm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let end = c.iter().position(|b| *b == 0).unwrap_or(c.len());
        String::from_utf8_lossy(c.get(..end).unwrap_or_default()).into_owned()
    };
    // Error level: shown on the terminal by default, as an OOM kill is something the user of
    // `rvisor do` must hear about (Linux logs it to the kernel log).
    tracing::error!(target: "sentry::oom",
        "out of memory: sandbox memory limit {} bytes reached ({} allocated); killed process {} ({}), resident {} KiB, faulting process {}",
        kernel.memfile.limit().unwrap_or(u64::MAX), kernel.memfile.allocated_bytes(),
        id, comm, rss / 1024, tgid);
    *state = Some((id, Instant::now()));
    drop(state);
    let _ = signal::send(
        kernel,
        &Target::Process(tg),
        abi::signal::SigInfo::new(Signal::SIGKILL, 0),
    );
    if id == tgid {
        OomAction::KillSelf
    } else {
        OomAction::Retry
    }
}

fn is_alive(kernel: &Kernel, tgid: i32) -> bool {
    kernel
        .tree()
        .procs
        .get(&tgid)
        .is_some_and(|p| p.state == ProcState::Alive)
}

/// Parses a memory size as `--memory-limit` takes it: a number of bytes with an optional
/// binary suffix `k`, `m`, `g` or `t` (either case, optionally followed by `b`/`B`, as
/// `docker run --memory`): `512m` is 512 MiB. Errors name what was wrong.
pub fn parse_memory_size(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let t = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, shift) = match t.as_bytes().last() {
        Some(b'k') => (t.get(..t.len() - 1), 10),
        Some(b'm') => (t.get(..t.len() - 1), 20),
        Some(b'g') => (t.get(..t.len() - 1), 30),
        Some(b't') => (t.get(..t.len() - 1), 40),
        _ => (Some(t), 0),
    };
    let n: u64 = digits
        .unwrap_or_default()
        .parse()
        .map_err(|_| format!("{s:?} is not a size in bytes (e.g. 4096, 512m, 2g)"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_memory_size as p;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(p("4096"), Ok(4096));
        assert_eq!(p("4096b"), Ok(4096));
        assert_eq!(p("64k"), Ok(64 << 10));
        assert_eq!(p("512M"), Ok(512 << 20));
        assert_eq!(p("2g"), Ok(2 << 30));
        assert_eq!(p("2GB"), Ok(2 << 30));
        assert_eq!(p("1t"), Ok(1 << 40));
        p("").unwrap_err();
        p("m").unwrap_err();
        p("12x").unwrap_err();
        p("-1").unwrap_err();
        p("99999999999999999999g").unwrap_err();
        p("18446744073709551615k").unwrap_err();
    }
}

/// Memory as the sandbox should report it (sysinfo(2), /proc/meminfo): the host's numbers, or
/// with a memory limit the limit as total RAM (capped by the host's), what the MemoryFile has
/// not handed out as free, and no swap — as LXCFS shows a limited container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemView {
    pub total: u64,
    pub free: u64,
    pub swap_total: u64,
    pub swap_free: u64,
}

/// The [`MemView`] of `kernel`'s sandbox.
pub fn mem_view(kernel: &Kernel) -> MemView {
    let host = nix::sys::sysinfo::sysinfo().ok();
    let host_total = host.as_ref().map_or(u64::MAX, |i| i.ram_total());
    match kernel.memfile.limit() {
        Some(limit) => {
            let total = limit.min(host_total);
            MemView {
                total,
                free: total.saturating_sub(kernel.memfile.allocated_bytes()),
                swap_total: 0,
                swap_free: 0,
            }
        }
        None => host.map_or_else(MemView::default, |i| MemView {
            total: i.ram_total(),
            free: i.ram_unused(),
            swap_total: i.swap_total(),
            swap_free: i.swap_free(),
        }),
    }
}
