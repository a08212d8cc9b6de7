//! Host cgroups for a container, the way runc's cgroupfs driver makes them: one directory per
//! hierarchy (cgroup v1) or one in the unified tree (cgroup v2), `linux.resources` written
//! into it, the sandbox's host processes (sentry, gofers, stubs) added to it, its statistics
//! read back for `rvisor events --stats`, and the directories removed on `delete`.
//!
//! Neighbours: the OCI commands (`cmd_oci`) call [`Cgroup::create`] at `create`,
//! [`Cgroup::add_pid`] for each host process of the sandbox, [`Cgroup::apply`] at `update`,
//! [`Cgroup::stats`] for `events`, and [`Cgroup::load`] + [`Cgroup::destroy`] at `delete`.
//! Only the host is touched here (plain files under the cgroup mounts); nothing here is
//! guest-facing. No locks: every call is a handful of file reads and writes.
//!
//! # Where the cgroup is
//! The hierarchies come from `/proc/self/mountinfo` (every `cgroup` mount, and the `cgroup2`
//! one) matched to the lines of `/proc/self/cgroup`. If there is any v1 hierarchy the machine
//! is v1 ("legacy", or "hybrid" with a controller-less unified mount, where the directory is
//! made too, for membership only, as runc does); otherwise it is pure v2. The cgroups path:
//! - absolute (`/a/b`): relative to the root of each hierarchy as mounted here;
//! - relative (`a/b`): relative to this process's own cgroup in that hierarchy
//!   (`/proc/self/cgroup`, less the mount's root); `None` is runc's default for the cgroupfs
//!   driver, the relative path `<id>`;
//! - systemd's `slice:prefix:name` (what Docker passes with the systemd driver): the path
//!   systemd would use, `/<expanded slice>/<prefix>-<name>.scope` (`a-b.slice` expands to
//!   `/a.slice/a-b.slice`; an empty slice is `system.slice`; a name ending in `.slice` is used
//!   as is). No D-Bus: the directories are made directly, which systemd does not know about.
//!
//! # Shortcuts
//! - `devices`, `hugetlb`, `net_cls`/`net_prio`, realtime cpu, kernel memory, swappiness and
//!   the per-device blkio settings of `linux.resources` are not written (the sandbox opens no
//!   host devices for the app; the sentry is the only thing the app's memory is charged to).
//! - `destroy` removes only the leaf directory (like runc), not parents it may have made.
//! - [`Cgroup::load`] recomputes the directories from the cgroups path; a relative path
//!   resolves against the *caller's* cgroup, so callers that may run elsewhere should store
//!   [`Cgroup::dirs`] instead (runc stores the resolved paths in its state).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use oci_spec::runtime::LinuxResources;

/// The cgroups path runc's systemd driver uses when the spec gives none.
pub fn systemd_default_path(id: &str) -> String {
    format!("system.slice:rvisor:{id}")
}

/// One cgroup hierarchy as mounted on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Hierarchy {
    /// v1 controllers bound to it (`["cpu"]`, `["cpu", "cpuacct"]`, `["name=systemd"]`);
    /// empty for the v2 (unified) hierarchy.
    controllers: Vec<String>,
    /// Where it is mounted.
    mountpoint: PathBuf,
    /// The part of the hierarchy that mount shows (mountinfo's root field; `/` usually).
    mount_root: String,
    /// This process's cgroup in it (from `/proc/self/cgroup`).
    own_path: String,
}

impl Hierarchy {
    fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }

    fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// The directory of `cgroup` (a normalised absolute or relative path) in this hierarchy.
    fn dir_of(&self, cgroup: &str) -> PathBuf {
        let base = if cgroup.starts_with('/') {
            String::new()
        } else {
            // Our own cgroup as seen through this mount (a mount showing `/docker/x` makes
            // `/docker/x/y` appear as `<mountpoint>/y`).
            let own = self.own_path.as_str();
            let root = self.mount_root.trim_end_matches('/');
            match own.strip_prefix(root) {
                Some(rest) if root.is_empty() || rest.is_empty() || rest.starts_with('/') => {
                    rest.to_string()
                }
                _ => own.to_string(),
            }
        };
        let mut dir = self.mountpoint.clone();
        for part in base.split('/').chain(cgroup.split('/')) {
            if !part.is_empty() {
                dir.push(part);
            }
        }
        dir
    }
}

/// Which cgroup version the machine's controllers are on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// Controllers on v1 hierarchies (a unified mount, if any, has none: "hybrid").
    V1,
    /// Pure cgroup v2.
    V2,
}

/// A directory of the container's cgroup in one hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupDir {
    /// v1 controllers of that hierarchy (empty for the unified one).
    pub controllers: Vec<String>,
    /// The directory.
    pub path: PathBuf,
}

/// A container's cgroup: its directory in each hierarchy.
#[derive(Clone, Debug)]
pub struct Cgroup {
    version: Version,
    /// The normalised path (`/a/b` or `a/b`) every directory was made from.
    path: String,
    dirs: Vec<CgroupDir>,
}

/// What `rvisor events --stats` reports, read from the cgroup's files (bytes, nanoseconds,
/// counts; a limit of 0 means none was readable, `u64::MAX` means unlimited memory).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupStats {
    pub memory_usage: u64,
    pub memory_limit: u64,
    pub memory_max_usage: u64,
    pub cpu_usage_ns: u64,
    pub cpu_user_ns: u64,
    pub cpu_system_ns: u64,
    pub pids_current: u64,
    /// 0 when unlimited (runc's events JSON then omits it).
    pub pids_limit: u64,
}

impl CgroupStats {
    /// The `data` object of a runc `{"type":"stats","id":...,"data":...}` event (runc's
    /// `types.Stats`; zero values of its `omitempty` fields are left out as Go does).
    pub fn runc_json(&self) -> serde_json::Value {
        use serde_json::{Map, Value, json};
        fn put(m: &mut Map<String, Value>, key: &str, v: u64, omit_zero: bool) {
            if v != 0 || !omit_zero {
                m.insert(key.to_string(), json!(v));
            }
        }
        let mut usage = Map::new();
        put(&mut usage, "total", self.cpu_usage_ns, true);
        put(&mut usage, "kernel", self.cpu_system_ns, false);
        put(&mut usage, "user", self.cpu_user_ns, false);
        let mut mem = Map::new();
        put(&mut mem, "limit", self.memory_limit, false);
        put(&mut mem, "usage", self.memory_usage, true);
        put(&mut mem, "max", self.memory_max_usage, true);
        put(&mut mem, "failcnt", 0, false);
        let mut pids = Map::new();
        put(&mut pids, "current", self.pids_current, true);
        put(&mut pids, "limit", self.pids_limit, true);
        let empty_entry = json!({ "limit": 0, "failcnt": 0 });
        json!({
            "cpu": { "usage": usage, "throttling": {} },
            "cpuset": { "cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0,
                        "memory_migrate": 0, "memory_spread_page": 0,
                        "memory_spread_slab": 0, "memory_pressure": 0,
                        "sched_load_balance": 0, "sched_relax_domain_level": 0 },
            "memory": { "usage": mem, "swap": empty_entry.clone(),
                        "kernel": empty_entry.clone(), "kernelTCP": empty_entry },
            "pids": pids,
            "blkio": {},
            "hugetlb": {},
            "intel_rdt": {},
            "network_interfaces": null,
        })
    }
}

impl Cgroup {
    /// Makes the container's cgroup (see the module doc for what `cgroups_path` means; `id`
    /// names it when `cgroups_path` is `None`) and applies `resources`. On error nothing this
    /// call created is left behind.
    pub fn create(
        cgroups_path: Option<&str>,
        id: &str,
        resources: Option<&LinuxResources>,
    ) -> anyhow::Result<Cgroup> {
        let cg = Self::resolve(cgroups_path, id)?;
        let mut made: Vec<PathBuf> = Vec::new();
        let res = cg.make_dirs(&mut made).and_then(|()| match resources {
            Some(r) => cg.apply(r),
            None => Ok(()),
        });
        if let Err(e) = res {
            // Innermost first, so parents we made are empty when their turn comes.
            for dir in made.iter().rev() {
                let _ = rmdir_retrying(dir);
            }
            return Err(e);
        }
        Ok(cg)
    }

    /// Reopens a cgroup [`Cgroup::create`] made, in a later `rvisor` invocation. Fails if it
    /// exists in no hierarchy.
    pub fn load(cgroups_path: Option<&str>, id: &str) -> anyhow::Result<Cgroup> {
        let cg = Self::resolve(cgroups_path, id)?;
        if !cg.dirs.iter().any(|d| d.path.is_dir()) {
            bail!("cgroup {} does not exist", cg.path);
        }
        Ok(cg)
    }

    /// Which cgroup version the directories are in.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The directory in each hierarchy.
    pub fn dirs(&self) -> &[CgroupDir] {
        &self.dirs
    }

    fn resolve(cgroups_path: Option<&str>, id: &str) -> anyhow::Result<Cgroup> {
        let path = match cgroups_path {
            Some(p) if !p.is_empty() => cgroup_path_from_spec(p)?,
            _ => {
                if id.is_empty() || id.contains('/') || id == "." || id == ".." {
                    bail!("invalid container id {id:?} for a cgroup name");
                }
                id.to_string()
            }
        };
        let mountinfo =
            fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
        let own = fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
        let hierarchies = parse_hierarchies(&mountinfo, &own);
        if hierarchies.is_empty() {
            bail!("no cgroup filesystem is mounted (see /proc/self/mountinfo)");
        }
        let version = if hierarchies.iter().any(|h| !h.is_v2()) {
            Version::V1
        } else {
            Version::V2
        };
        let dirs = hierarchies
            .iter()
            .map(|h| CgroupDir {
                controllers: h.controllers.clone(),
                path: h.dir_of(&path),
            })
            .collect();
        Ok(Cgroup {
            version,
            path,
            dirs,
        })
    }

    /// Makes every directory (and missing parents), recording the ones it made in `made`.
    fn make_dirs(&self, made: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        for dir in &self.dirs {
            let mut missing = Vec::new();
            let mut p = dir.path.as_path();
            while !p.exists() {
                missing.push(p.to_path_buf());
                match p.parent() {
                    Some(parent) => p = parent,
                    None => break,
                }
            }
            for m in missing.iter().rev() {
                match fs::create_dir(m) {
                    Ok(()) => made.push(m.clone()),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => bail!("creating cgroup {}: {e}", m.display()),
                }
            }
            let is_cpuset = dir.controllers.iter().any(|c| c == "cpuset");
            if is_cpuset {
                // A v1 cpuset with empty cpus/mems refuses tasks: inherit the parent's, from
                // the top down.
                let mut chain: Vec<&Path> = dir.path.ancestors().collect();
                chain.reverse();
                for w in chain.windows(2) {
                    if let [parent, child] = w {
                        if !parent.join("cpuset.cpus").exists() {
                            continue;
                        }
                        for file in ["cpuset.cpus", "cpuset.mems"] {
                            let cur = read_trimmed(&child.join(file)).unwrap_or_default();
                            if cur.is_empty() {
                                let val = read_trimmed(&parent.join(file))?;
                                write_file(&child.join(file), &val)?;
                            }
                        }
                    }
                }
            }
            if self.version == Version::V2 && dir.controllers.is_empty() {
                enable_v2_controllers(&dir.path);
            }
        }
        Ok(())
    }

    /// Writes `resources` (memory, pids, cpu, cpuset, blkio weight) into the cgroup. Used at
    /// create and by `rvisor update`; the first write the kernel refuses is the error, naming
    /// the file and the value.
    pub fn apply(&self, resources: &LinuxResources) -> anyhow::Result<()> {
        let r = Resources::from_spec(resources);
        match self.version {
            Version::V1 => self.apply_v1(&r),
            Version::V2 => self.apply_v2(&r),
        }
    }

    fn dir_with(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| d.path.as_path())
    }

    fn unified_dir(&self) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.controllers.is_empty())
            .map(|d| d.path.as_path())
    }

    /// The directory for `controller` or an error saying the machine lacks it.
    fn need(&self, controller: &str) -> anyhow::Result<&Path> {
        self.dir_with(controller)
            .with_context(|| format!("the cgroup controller {controller} is not mounted"))
    }

    fn apply_v1(&self, r: &Resources) -> anyhow::Result<()> {
        if r.memory != 0 || r.swap != 0 || r.reservation != 0 {
            let dir = self.need("memory")?;
            let limit = dir.join("memory.limit_in_bytes");
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            let has_swap = memsw.exists();
            let mut swap = r.swap;
            if r.memory == -1 && swap == 0 && has_swap {
                swap = -1;
            }
            if swap != 0 && !has_swap {
                bail!(
                    "{} does not exist: swap limits are not enabled",
                    memsw.display()
                );
            }
            // memory.limit_in_bytes must stay <= memsw: write them in the order that keeps it.
            let swap_first = r.memory != 0
                && swap != 0
                && (swap == -1
                    || read_u64(&limit)
                        .is_ok_and(|cur| u64::try_from(swap).is_ok_and(|s| cur < s)));
            if swap_first {
                write_file(&memsw, &swap.to_string())?;
                write_file(&limit, &r.memory.to_string())?;
            } else {
                if r.memory != 0 {
                    write_file(&limit, &r.memory.to_string())?;
                }
                if swap != 0 {
                    write_file(&memsw, &swap.to_string())?;
                }
            }
            if r.reservation != 0 {
                write_file(
                    &dir.join("memory.soft_limit_in_bytes"),
                    &r.reservation.to_string(),
                )?;
            }
        }
        if r.pids != 0 {
            write_file(&self.need("pids")?.join("pids.max"), &pids_max(r.pids))?;
        }
        if r.shares != 0 {
            let file = self.need("cpu")?.join("cpu.shares");
            write_file(&file, &r.shares.to_string())?;
            // The kernel clamps (2..262144): say so rather than pretend.
            if let Ok(got) = read_u64(&file)
                && got != r.shares
            {
                bail!(
                    "{}: the value {} was set as {got} (out of range)",
                    file.display(),
                    r.shares
                );
            }
        }
        if r.period != 0 || r.quota != 0 {
            let dir = self.need("cpu")?;
            let period = dir.join("cpu.cfs_period_us");
            let quota = dir.join("cpu.cfs_quota_us");
            // A new period can conflict with the old quota and the other way round: if the
            // period is refused, set the quota first and then the period.
            let period_res = if r.period != 0 {
                write_file(&period, &r.period.to_string())
            } else {
                Ok(())
            };
            if r.quota != 0 {
                write_file(&quota, &r.quota.to_string())?;
            }
            if period_res.is_err() {
                write_file(&period, &r.period.to_string())?;
            }
        }
        if r.cpus.is_some() || r.mems.is_some() {
            let dir = self.need("cpuset")?;
            if let Some(c) = &r.cpus {
                write_file(&dir.join("cpuset.cpus"), c)?;
            }
            if let Some(m) = &r.mems {
                write_file(&dir.join("cpuset.mems"), m)?;
            }
        }
        if r.blkio_weight != 0 {
            let dir = self.need("blkio")?;
            let plain = dir.join("blkio.weight");
            let file = if plain.exists() {
                plain
            } else {
                dir.join("blkio.bfq.weight")
            };
            write_file(&file, &r.blkio_weight.to_string())?;
        }
        Ok(())
    }

    fn apply_v2(&self, r: &Resources) -> anyhow::Result<()> {
        let Some(dir) = self.unified_dir() else {
            bail!("no cgroup v2 directory");
        };
        if r.memory != 0 || r.swap != 0 || r.reservation != 0 {
            let swap = v2_swap(r.swap, r.memory)?;
            if swap != 0 {
                let file = dir.join("memory.swap.max");
                if file.exists() || swap != -1 {
                    write_file(&file, &v2_max(swap))?;
                }
            }
            if r.memory != 0 {
                write_file(&dir.join("memory.max"), &v2_max(r.memory))?;
            }
            if r.reservation != 0 {
                write_file(&dir.join("memory.low"), &v2_max(r.reservation))?;
            }
        }
        if r.pids != 0 {
            write_file(&dir.join("pids.max"), &pids_max(r.pids))?;
        }
        if r.shares != 0 {
            write_file(
                &dir.join("cpu.weight"),
                &shares_to_weight(r.shares).to_string(),
            )?;
        }
        if r.period != 0 || r.quota != 0 {
            let mut v = if r.quota > 0 {
                r.quota.to_string()
            } else {
                "max".to_string()
            };
            if r.period != 0 {
                v.push_str(&format!(" {}", r.period));
            }
            write_file(&dir.join("cpu.max"), &v)?;
        }
        if let Some(c) = &r.cpus {
            write_file(&dir.join("cpuset.cpus"), c)?;
        }
        if let Some(m) = &r.mems {
            write_file(&dir.join("cpuset.mems"), m)?;
        }
        if r.blkio_weight != 0 {
            let plain = dir.join("io.weight");
            if plain.exists() {
                let w = blkio_to_io_weight(r.blkio_weight);
                write_file(&plain, &format!("default {w}"))?;
            } else {
                write_file(&dir.join("io.bfq.weight"), &r.blkio_weight.to_string())?;
            }
        }
        Ok(())
    }

    /// Moves host process `pid` (and, on v1, only that thread group) into the cgroup in every
    /// hierarchy.
    pub fn add_pid(&self, pid: i32) -> anyhow::Result<()> {
        if pid <= 0 {
            bail!("invalid pid {pid} for a cgroup");
        }
        for dir in &self.dirs {
            write_file(&dir.path.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Every process in the cgroup or below it, sorted, each once.
    pub fn pids(&self) -> anyhow::Result<Vec<i32>> {
        let mut out = Vec::new();
        for dir in &self.dirs {
            if dir.path.is_dir() {
                collect_procs(&dir.path, &mut out)?;
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Memory, cpu and pids figures (whatever files exist; missing ones read as 0).
    pub fn stats(&self) -> anyhow::Result<CgroupStats> {
        let mut s = CgroupStats::default();
        match self.version {
            Version::V1 => {
                if let Some(d) = self.dir_with("memory") {
                    s.memory_usage = read_u64(&d.join("memory.usage_in_bytes")).unwrap_or(0);
                    s.memory_limit = read_u64(&d.join("memory.limit_in_bytes")).unwrap_or(0);
                    s.memory_max_usage =
                        read_u64(&d.join("memory.max_usage_in_bytes")).unwrap_or(0);
                }
                if let Some(d) = self.dir_with("cpuacct") {
                    s.cpu_usage_ns = read_u64(&d.join("cpuacct.usage")).unwrap_or(0);
                    let stat = read_trimmed(&d.join("cpuacct.stat")).unwrap_or_default();
                    let tick_ns = clock_tick_ns();
                    s.cpu_user_ns = flat_key(&stat, "user").saturating_mul(tick_ns);
                    s.cpu_system_ns = flat_key(&stat, "system").saturating_mul(tick_ns);
                }
                if let Some(d) = self.dir_with("pids") {
                    s.pids_current = read_u64(&d.join("pids.current")).unwrap_or(0);
                    s.pids_limit = read_u64(&d.join("pids.max")).unwrap_or(0);
                }
            }
            Version::V2 => {
                let Some(d) = self.unified_dir() else {
                    bail!("no cgroup v2 directory");
                };
                s.memory_usage = read_u64(&d.join("memory.current")).unwrap_or(0);
                s.memory_limit = match read_trimmed(&d.join("memory.max")).as_deref() {
                    Ok("max") => u64::MAX,
                    Ok(v) => v.parse().unwrap_or(0),
                    Err(_) => 0,
                };
                s.memory_max_usage = read_u64(&d.join("memory.peak")).unwrap_or(0);
                let stat = read_trimmed(&d.join("cpu.stat")).unwrap_or_default();
                s.cpu_usage_ns = flat_key(&stat, "usage_usec").saturating_mul(1000);
                s.cpu_user_ns = flat_key(&stat, "user_usec").saturating_mul(1000);
                s.cpu_system_ns = flat_key(&stat, "system_usec").saturating_mul(1000);
                s.pids_current = read_u64(&d.join("pids.current")).unwrap_or(0);
                s.pids_limit = read_u64(&d.join("pids.max")).unwrap_or(0);
            }
        }
        Ok(s)
    }

    /// Removes the cgroup's directory in every hierarchy, waiting briefly for exiting
    /// processes to leave it. A directory that is already gone is fine.
    pub fn destroy(&self) -> anyhow::Result<()> {
        let mut first_err = None;
        for dir in &self.dirs {
            if let Err(e) = rmdir_retrying(&dir.path) {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// `linux.resources` reduced to runc's convention: 0 (or `None`) = leave alone.
#[derive(Debug, Default)]
struct Resources {
    memory: i64,
    reservation: i64,
    swap: i64,
    pids: i64,
    shares: u64,
    quota: i64,
    period: u64,
    cpus: Option<String>,
    mems: Option<String>,
    blkio_weight: u16,
}

impl Resources {
    fn from_spec(r: &LinuxResources) -> Resources {
        let mut out = Resources::default();
        if let Some(m) = r.memory() {
            out.memory = m.limit().unwrap_or(0);
            out.reservation = m.reservation().unwrap_or(0);
            out.swap = m.swap().unwrap_or(0);
        }
        if let Some(p) = r.pids() {
            out.pids = p.limit();
        }
        if let Some(c) = r.cpu() {
            out.shares = c.shares().unwrap_or(0);
            out.quota = c.quota().unwrap_or(0);
            out.period = c.period().unwrap_or(0);
            out.cpus = c.cpus().clone().filter(|s| !s.is_empty());
            out.mems = c.mems().clone().filter(|s| !s.is_empty());
        }
        if let Some(b) = r.block_io() {
            out.blkio_weight = b.weight().unwrap_or(0);
        }
        out
    }
}

/// The normalised cgroup path for a spec's `linux.cgroupsPath`: `/a/b` or `a/b` (no `.`,
/// `..` or empty parts), or systemd's `slice:prefix:name` turned into its cgroupfs path.
fn cgroup_path_from_spec(p: &str) -> anyhow::Result<String> {
    let abs = p.starts_with('/');
    if !abs && !p.contains('/') && p.matches(':').count() == 2 {
        return systemd_path(p);
    }
    let mut parts = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => bail!("cgroupsPath {p:?} must not contain \"..\""),
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    if abs {
        Ok(format!("/{joined}"))
    } else if joined.is_empty() {
        bail!("cgroupsPath {p:?} names no cgroup");
    } else {
        Ok(joined)
    }
}

/// systemd's `slice:prefix:name` as the cgroupfs path systemd gives that unit.
fn systemd_path(p: &str) -> anyhow::Result<String> {
    let mut it = p.splitn(3, ':');
    let (slice, prefix, name) = match (it.next(), it.next(), it.next()) {
        (Some(s), Some(pre), Some(n)) => (s, pre, n),
        _ => bail!("cgroupsPath {p:?} is not slice:prefix:name"),
    };
    if name.is_empty() {
        bail!("cgroupsPath {p:?}: the name part is empty");
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let mut path = expand_slice(slice).with_context(|| format!("cgroupsPath {p:?}"))?;
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    if path != "/" {
        path.push('/');
    }
    path.push_str(&unit);
    Ok(path)
}

/// `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` (the root slice) → `/`.
fn expand_slice(slice: &str) -> anyhow::Result<String> {
    let Some(stem) = slice.strip_suffix(".slice") else {
        bail!("{slice:?} is not a systemd slice (no .slice suffix)");
    };
    if stem == "-" {
        return Ok("/".to_string());
    }
    if stem.is_empty() || slice.contains('/') || stem.starts_with('-') || stem.contains("--") {
        bail!("{slice:?} is not a valid systemd slice name");
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for comp in stem.split('-') {
        if comp.is_empty() {
            bail!("{slice:?} is not a valid systemd slice name");
        }
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(comp);
        path.push('/');
        path.push_str(&prefix);
        path.push_str(".slice");
    }
    Ok(path)
}

/// The hierarchies in `mountinfo` that `own_cgroup` (`/proc/self/cgroup`) places us in, in
/// `/proc/self/cgroup`'s order; each hierarchy once.
fn parse_hierarchies(mountinfo: &str, own_cgroup: &str) -> Vec<Hierarchy> {
    struct Mount {
        root: String,
        mountpoint: PathBuf,
        v2: bool,
        opts: Vec<String>,
    }
    let mut mounts = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let (Some(root), Some(mp), Some(fstype), Some(superopts)) =
            (pre.get(3), pre.get(4), post.first(), post.get(2))
        else {
            continue;
        };
        let v2 = match *fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        mounts.push(Mount {
            root: unescape_mountinfo(root),
            mountpoint: PathBuf::from(unescape_mountinfo(mp)),
            v2,
            opts: superopts.split(',').map(str::to_string).collect(),
        });
    }
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in own_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_id), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let controllers: Vec<String> = ctrls
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        let mount = if controllers.is_empty() {
            mounts.iter().find(|m| m.v2)
        } else {
            mounts
                .iter()
                .find(|m| !m.v2 && controllers.iter().all(|c| m.opts.contains(c)))
        };
        let Some(m) = mount else { continue };
        if out.iter().any(|h| h.mountpoint == m.mountpoint) {
            continue;
        }
        out.push(Hierarchy {
            controllers,
            mountpoint: m.mountpoint.clone(),
            mount_root: m.root.clone(),
            own_path: path.to_string(),
        });
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && let Some(oct) = b.get(i + 1..i + 4)
            && oct.iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = oct
                .iter()
                .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// In pure v2, a cgroup can use only controllers its parent enabled in
/// `cgroup.subtree_control`: enable the ones we write, from the mount down to the parent.
/// Best effort (a parent with processes of its own refuses with EBUSY); a missing controller
/// shows up as a missing file when `apply` writes it.
fn enable_v2_controllers(leaf: &Path) {
    let mut chain: Vec<&Path> = leaf.ancestors().skip(1).collect();
    chain.reverse();
    for dir in chain {
        let Ok(avail) = read_trimmed(&dir.join("cgroup.controllers")) else {
            continue;
        };
        let enabled = read_trimmed(&dir.join("cgroup.subtree_control")).unwrap_or_default();
        for c in ["cpu", "cpuset", "io", "memory", "pids"] {
            if avail.split(' ').any(|a| a == c)
                && !enabled.split(' ').any(|e| e == c)
                && let Err(e) = fs::write(dir.join("cgroup.subtree_control"), format!("+{c}"))
            {
                tracing::debug!("enabling {c} in {}: {e}", dir.display());
            }
        }
    }
}

/// runc's `pids.max` value: a positive limit, or `max` for a negative one.
fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    }
}

/// A v2 `*.max` value: -1 is `max`.
fn v2_max(v: i64) -> String {
    if v == -1 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// OCI's swap is memory+swap (v1's memsw); v2's `memory.swap.max` is swap alone. 0 = unset,
/// -1 = unlimited (also when memory is unlimited and swap unset), as runc converts it.
fn v2_swap(swap: i64, memory: i64) -> anyhow::Result<i64> {
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if memory == 0 || memory == -1 {
        bail!("memory.swap {swap} needs a memory limit");
    }
    if memory < 0 || swap < memory {
        bail!("memory.swap {swap} must be >= memory.limit {memory} (it is memory+swap)");
    }
    Ok(swap - memory)
}

/// v1 cpu.shares (2..262144, default 1024) to v2 cpu.weight (1..10000, default 100): runc's
/// linear map (2 → 1, 262144 → 10000).
fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let s = shares.clamp(2, 262_144);
    1 + (s - 2) * 9999 / 262_142
}

/// v1 blkio weight (10..1000) to v2 io.weight (1..10000), as runc maps it.
fn blkio_to_io_weight(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// The value of `key` in a flat-keyed file (`key value` lines); 0 if absent.
fn flat_key(text: &str, key: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Nanoseconds per USER_HZ tick (cpuacct.stat's unit).
fn clock_tick_ns() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    match u64::try_from(hz) {
        Ok(hz) if hz > 0 => 1_000_000_000 / hz,
        _ => 10_000_000,
    }
}

fn collect_procs(dir: &Path, out: &mut Vec<i32>) -> anyhow::Result<()> {
    let procs = match fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => bail!("reading {}: {e}", dir.join("cgroup.procs").display()),
    };
    out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => bail!("listing {}: {e}", dir.display()),
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_procs(&entry.path(), out)?;
        }
    }
    Ok(())
}

/// rmdir, retried for about a second while the kernel still counts exiting tasks (EBUSY);
/// a missing directory is success.
fn rmdir_retrying(dir: &Path) -> anyhow::Result<()> {
    let mut tries = 0;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if tries < 100 && e.raw_os_error() == Some(libc::EBUSY) => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => bail!("removing cgroup {}: {e}", dir.display()),
        }
    }
}

fn read_trimmed(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .with_context(|| format!("reading {}", path.display()))
}

fn read_u64(path: &Path) -> anyhow::Result<u64> {
    let s = read_trimmed(path)?;
    if s == "max" {
        return Ok(0);
    }
    s.parse()
        .with_context(|| format!("{}: {s:?} is not a number", path.display()))
}

/// One write(2) of `value` (cgroup files take one value per write).
fn write_file(path: &Path, value: &str) -> anyhow::Result<()> {
    fs::write(path, value).with_context(|| format!("writing {value:?} to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO_V1: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
35 31 0:32 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 / /mnt/my\\040dir rw - ext4 /dev/sda rw
";
    const OWN_V1: &str = "\
9:name=systemd:/user.slice
4:memory:/docker/abc/inner
3:cpuset:/
2:cpu,cpuacct:/a
0::/user.slice
";

    #[test]
    fn hierarchies_from_mountinfo() {
        let h = parse_hierarchies(MOUNTINFO_V1, OWN_V1);
        assert_eq!(h.len(), 5);
        assert_eq!(h[0].controllers, vec!["name=systemd"]);
        assert_eq!(h[1].mount_root, "/docker/abc");
        assert_eq!(h[3].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(h[3].mountpoint, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert!(h[4].is_v2());
        // Absolute: under each mount as it is mounted.
        assert_eq!(h[1].dir_of("/x/y"), Path::new("/sys/fs/cgroup/memory/x/y"));
        // Relative: under our own cgroup, less the mount's root.
        assert_eq!(
            h[1].dir_of("c1"),
            Path::new("/sys/fs/cgroup/memory/inner/c1")
        );
        assert_eq!(
            h[3].dir_of("c1"),
            Path::new("/sys/fs/cgroup/cpu,cpuacct/a/c1")
        );
        assert_eq!(h[2].dir_of("c1"), Path::new("/sys/fs/cgroup/cpuset/c1"));
        assert_eq!(
            h[4].dir_of("c1"),
            Path::new("/sys/fs/cgroup/unified/user.slice/c1")
        );
    }

    #[test]
    fn pure_v2_hierarchy() {
        let mi = "25 20 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = parse_hierarchies(mi, "0::/init.scope\n");
        assert_eq!(h.len(), 1);
        assert!(h[0].is_v2());
        assert_eq!(h[0].dir_of("/k/c"), Path::new("/sys/fs/cgroup/k/c"));
        assert_eq!(h[0].dir_of("c"), Path::new("/sys/fs/cgroup/init.scope/c"));
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo("/mnt/my\\040dir"), "/mnt/my dir");
        assert_eq!(unescape_mountinfo("a\\\\b"), "a\\\\b");
        assert_eq!(unescape_mountinfo("x\\9"), "x\\9");
    }

    #[test]
    fn spec_paths() {
        assert_eq!(cgroup_path_from_spec("/a//b/").unwrap(), "/a/b");
        assert_eq!(cgroup_path_from_spec("a/./b").unwrap(), "a/b");
        assert_eq!(cgroup_path_from_spec("/").unwrap(), "/");
        cgroup_path_from_spec("/a/../b").unwrap_err();
        cgroup_path_from_spec(".").unwrap_err();
        assert_eq!(
            cgroup_path_from_spec("system.slice:docker:abc").unwrap(),
            "/system.slice/docker-abc.scope"
        );
        assert_eq!(
            cgroup_path_from_spec("kubepods-besteffort-pod1.slice:cri-containerd:x").unwrap(),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/\
             cri-containerd-x.scope"
        );
        assert_eq!(
            cgroup_path_from_spec(":rvisor:c").unwrap(),
            "/system.slice/rvisor-c.scope"
        );
        assert_eq!(
            cgroup_path_from_spec("-.slice:p:my.slice").unwrap(),
            "/my.slice"
        );
        assert_eq!(
            cgroup_path_from_spec("user.slice::c").unwrap(),
            "/user.slice/c.scope"
        );
        cgroup_path_from_spec("nota:p:c").unwrap_err();
        cgroup_path_from_spec("a--b.slice:p:c").unwrap_err();
        assert_eq!(
            cgroup_path_from_spec(&systemd_default_path("id1")).unwrap(),
            "/system.slice/rvisor-id1.scope"
        );
    }

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(v2_swap(0, -1).unwrap(), -1);
        assert_eq!(v2_swap(0, 100).unwrap(), 0);
        assert_eq!(v2_swap(-1, 100).unwrap(), -1);
        assert_eq!(v2_swap(300, 100).unwrap(), 200);
        v2_swap(50, 100).unwrap_err();
        v2_swap(50, 0).unwrap_err();
        assert_eq!(pids_max(-1), "max");
        assert_eq!(pids_max(5), "5");
        assert_eq!(v2_max(-1), "max");
        assert_eq!(flat_key("user 12\nsystem 3\n", "system"), 3);
        assert_eq!(flat_key("usage_usec 5", "user_usec"), 0);
    }

    #[test]
    fn stats_json_shape() {
        let s = CgroupStats {
            memory_usage: 10,
            memory_limit: 100,
            memory_max_usage: 20,
            cpu_usage_ns: 5,
            cpu_user_ns: 3,
            cpu_system_ns: 2,
            pids_current: 1,
            pids_limit: 0,
        };
        let j = s.runc_json();
        assert_eq!(j["memory"]["usage"]["usage"], 10);
        assert_eq!(j["memory"]["usage"]["limit"], 100);
        assert_eq!(j["memory"]["usage"]["max"], 20);
        assert_eq!(j["cpu"]["usage"]["total"], 5);
        assert_eq!(j["cpu"]["usage"]["user"], 3);
        assert_eq!(j["cpu"]["usage"]["kernel"], 2);
        assert_eq!(j["pids"]["current"], 1);
        assert!(j["pids"].get("limit").is_none());
    }

    /// Why the host test cannot run here, if it cannot.
    fn host_skip_reason() -> Option<String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Some("not root".into());
        }
        match fs::read_to_string("/proc/self/mountinfo") {
            Ok(mi) if mi.contains(" - cgroup") => None,
            _ => Some("no cgroup filesystem mounted".into()),
        }
    }

    fn resources(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    fn unique_path(tag: &str) -> String {
        format!("/rvisor-cgtest-{}-{tag}", std::process::id())
    }

    #[test]
    fn host_create_apply_join_stats_destroy() {
        if let Some(why) = host_skip_reason() {
            crate::hostcall::skip_or_fail(&why);
            return;
        }
        let path = unique_path("life");
        if let Ok(probe) = Cgroup::resolve(Some(&path), "x")
            && probe.version() == Version::V2
        {
            let root = probe
                .unified_dir()
                .and_then(Path::parent)
                .map(Path::to_path_buf);
            let avail = root
                .and_then(|r| read_trimmed(&r.join("cgroup.controllers")).ok())
                .unwrap_or_default();
            if !avail.contains("memory") || !avail.contains("pids") {
                crate::hostcall::skip_or_fail("cgroup v2 without the memory and pids controllers");
                return;
            }
        }
        let res = resources(serde_json::json!({
            "memory": { "limit": 64 * 1024 * 1024, "reservation": 32 * 1024 * 1024 },
            "pids": { "limit": 42 },
            "cpu": { "shares": 512, "quota": 50000, "period": 100000 },
        }));
        let cg = Cgroup::create(Some(&path), "ignored", Some(&res)).unwrap();
        for d in cg.dirs() {
            assert!(d.path.is_dir(), "{} made", d.path.display());
            assert!(d.path.ends_with(path.trim_start_matches('/')));
        }
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        cg.add_pid(pid).unwrap();
        assert!(cg.pids().unwrap().contains(&pid));
        let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert!(own.lines().any(|l| l.ends_with(&path)), "{own}");
        let st = cg.stats().unwrap();
        assert_eq!(st.memory_limit, 64 * 1024 * 1024);
        assert_eq!(st.pids_limit, 42);
        assert_eq!(st.pids_current, 1);
        if cg.version() == Version::V1 {
            let cpu = cg.dir_with("cpu").unwrap();
            assert_eq!(read_u64(&cpu.join("cpu.shares")).unwrap(), 512);
            assert_eq!(read_u64(&cpu.join("cpu.cfs_quota_us")).unwrap(), 50000);
        }

        // update: raise the memory limit with swap (memsw first), lower pids.
        let has_memsw = cg
            .dir_with("memory")
            .is_some_and(|d| d.join("memory.memsw.limit_in_bytes").exists());
        let upd = if has_memsw {
            serde_json::json!({ "memory": { "limit": 128 * 1024 * 1024,
                                            "swap": 256 * 1024 * 1024 },
                                "pids": { "limit": 7 } })
        } else {
            serde_json::json!({ "memory": { "limit": 128 * 1024 * 1024 },
                                "pids": { "limit": 7 } })
        };
        cg.apply(&resources(upd)).unwrap();
        let st = cg.stats().unwrap();
        assert_eq!(st.memory_limit, 128 * 1024 * 1024);
        assert_eq!(st.pids_limit, 7);
        // A reopened handle sees the same cgroup.
        let again = Cgroup::load(Some(&path), "ignored").unwrap();
        assert_eq!(again.pids().unwrap(), vec![pid]);

        // Gone once the child has exited.
        child.kill().unwrap();
        child.wait().unwrap();
        cg.destroy().unwrap();
        for d in cg.dirs() {
            assert!(!d.path.exists(), "{} removed", d.path.display());
        }
        // Already gone: still fine; load now fails.
        cg.destroy().unwrap();
        Cgroup::load(Some(&path), "ignored").unwrap_err();
    }

    #[test]
    fn host_bad_value_names_file_and_leaves_nothing() {
        if let Some(why) = host_skip_reason() {
            crate::hostcall::skip_or_fail(&why);
            return;
        }
        let path = unique_path("bad");
        let res = resources(serde_json::json!({ "cpu": { "cpus": "0-4095" } }));
        let err = format!(
            "{:#}",
            Cgroup::create(Some(&path), "x", Some(&res)).unwrap_err()
        );
        assert!(
            err.contains("cpuset.cpus") && err.contains("0-4095"),
            "{err}"
        );
        let cg = Cgroup::resolve(Some(&path), "x").unwrap();
        for d in cg.dirs() {
            assert!(!d.path.exists(), "{} left behind", d.path.display());
        }
    }

    #[test]
    fn host_default_path_is_relative_to_own_cgroup() {
        if let Some(why) = host_skip_reason() {
            crate::hostcall::skip_or_fail(&why);
            return;
        }
        let id = format!("rvisor-cgtest-{}-rel", std::process::id());
        let cg = Cgroup::create(None, &id, None).unwrap();
        let own = fs::read_to_string("/proc/self/cgroup").unwrap();
        let hier = parse_hierarchies(&fs::read_to_string("/proc/self/mountinfo").unwrap(), &own);
        for (d, h) in cg.dirs().iter().zip(&hier) {
            assert_eq!(d.path, h.dir_of(&id));
            assert!(d.path.is_dir());
        }
        cg.destroy().unwrap();
    }

    #[test]
    fn host_systemd_form_and_nested_pids() {
        if let Some(why) = host_skip_reason() {
            crate::hostcall::skip_or_fail(&why);
            return;
        }
        let slice = format!("rvisorcgtest{}.slice", std::process::id());
        let cg = Cgroup::create(Some(&format!("{slice}:pre:ctr")), "x", None).unwrap();
        for d in cg.dirs() {
            assert!(
                d.path.ends_with(format!("{slice}/pre-ctr.scope")),
                "{}",
                d.path.display()
            );
            assert!(d.path.is_dir());
        }
        // A process in a sub-cgroup counts as the container's.
        let sub = cg.dirs()[0].path.join("sub");
        fs::create_dir(&sub).unwrap();
        if cg.dirs()[0].controllers.iter().any(|c| c == "cpuset") {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let v = read_trimmed(&cg.dirs()[0].path.join(f)).unwrap();
                write_file(&sub.join(f), &v).unwrap();
            }
        }
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        write_file(&sub.join("cgroup.procs"), &pid.to_string()).unwrap();
        assert_eq!(cg.pids().unwrap(), vec![pid]);
        child.kill().unwrap();
        child.wait().unwrap();
        rmdir_retrying(&sub).unwrap();
        cg.destroy().unwrap();
        for d in cg.dirs() {
            assert!(!d.path.exists());
            // The slice is a parent this test made: remove it too.
            rmdir_retrying(d.path.parent().unwrap()).unwrap();
        }
    }
}
