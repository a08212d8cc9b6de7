//! The rules that change a task's [`Credentials`]: the set*id family, supplementary groups,
//! capability sets (capget/capset, the bounding set, keep-caps), and what execve does to them
//! (set-user-ID and set-group-ID files, root's capabilities).
//!
//! Everything here is a pure function of the old credentials and the request, so the syscall
//! handlers (`syscalls/creds.rs`) only decode arguments, and the rules are unit-tested here.
//! Facts from credentials(7), capabilities(7) and setresuid(2): an unprivileged caller may set
//! an id only to one of its current real/effective/saved ids; CAP_SETUID / CAP_SETGID may set
//! any; the filesystem id follows the effective id. Capability effects of uid changes
//! ("Effect of user ID changes on capabilities"): when all of the real, effective and saved
//! uids leave 0, the permitted and effective sets are cleared (unless keep-caps); when the
//! effective uid goes 0 → nonzero the effective set is cleared, nonzero → 0 it becomes the
//! permitted set; when the filesystem uid goes 0 → nonzero the filesystem capabilities leave
//! the effective set, and back to 0 they return from the permitted set.
//!
//! The ambient set (PR_CAP_AMBIENT) stays within permitted ∩ inheritable (trimmed after
//! every change of either) and is what an unprivileged execve keeps; a set-user-ID or
//! set-group-ID execve clears it. Securebits (PR_SET_SECUREBITS, CAP_SETPCAP): NOROOT (root's
//! execve grants no capabilities), NO_SETUID_FIXUP (uid changes leave the capability sets
//! alone), KEEP_CAPS (the `keep_caps` flag; cleared by execve), NO_CAP_AMBIENT_RAISE, each
//! with its lock bit.
//!
//! Shortcuts: no file capabilities (xattrs); user namespaces are not modelled (the sandbox
//! has one).

use abi::cap::{
    CAP_FS_MASK, CAP_FULL_SET, CAP_SETGID, CAP_SETPCAP, CAP_SETUID, CapData,
    LINUX_CAPABILITY_VERSION_1, LINUX_CAPABILITY_VERSION_2, LINUX_CAPABILITY_VERSION_3,
};
use abi::{Errno, SysResult};

use super::task::Credentials;

/// Securebits (include/uapi/linux/securebits.h): each flag, then its lock one bit up.
pub const SECBIT_NOROOT: u32 = 1 << 0;
pub const SECBIT_NO_SETUID_FIXUP: u32 = 1 << 2;
pub const SECBIT_KEEP_CAPS: u32 = 1 << 4;
pub const SECBIT_NO_CAP_AMBIENT_RAISE: u32 = 1 << 6;
/// Every flag and lock bit: the four above, and (since Linux 6.14) EXEC_RESTRICT_FILE and
/// EXEC_DENY_INTERACTIVE at bits 8 and 10, which the kernel only records: interpreters read
/// them back and decide for themselves.
const SECBIT_ALL: u32 = 0xfff;
/// The lock bits (odd positions).
const SECBIT_LOCKS: u32 = 0xaaa;

/// setgroups(2) accepts at most this many groups (NGROUPS_MAX).
pub const NGROUPS_MAX: usize = 65536;

/// An id argument: `None` is -1 ("unchanged").
fn id_arg(raw: u32) -> Option<u32> {
    (raw != u32::MAX).then_some(raw)
}

/// setuid/setgid on a (real, effective, saved) triple: privileged, all three become `id`;
/// otherwise the effective id may become the real or saved one (EPERM else).
fn set_id([r, _, s]: [u32; 3], id: u32, privileged: bool) -> SysResult<[u32; 3]> {
    if privileged {
        Ok([id; 3])
    } else if id == r || id == s {
        Ok([r, id, s])
    } else {
        Err(Errno::EPERM)
    }
}

/// setreuid/setregid (raw -1 = unchanged): unprivileged, the real id may become the real or
/// effective one and the effective id any of the three. The saved id becomes the new
/// effective id when the real id is set, or the effective id is set to something other than
/// the old real id.
fn set_re_ids(cur: [u32; 3], real: u32, eff: u32, privileged: bool) -> SysResult<[u32; 3]> {
    let [r, e, s] = cur;
    let (nr, ne) = (id_arg(real), id_arg(eff));
    if !privileged
        && (nr.is_some_and(|x| x != r && x != e) || ne.is_some_and(|x| !cur.contains(&x)))
    {
        return Err(Errno::EPERM);
    }
    let (r2, e2) = (nr.unwrap_or(r), ne.unwrap_or(e));
    let s2 = if nr.is_some() || ne.is_some_and(|x| x != r) {
        e2
    } else {
        s
    };
    Ok([r2, e2, s2])
}

/// setresuid/setresgid (raw -1 = unchanged): unprivileged, each new id must be a current one.
fn set_res_ids(cur: [u32; 3], new: [u32; 3], privileged: bool) -> SysResult<[u32; 3]> {
    let new = new.map(id_arg);
    if !privileged && new.iter().flatten().any(|id| !cur.contains(id)) {
        return Err(Errno::EPERM);
    }
    Ok([0, 1, 2].map(|i| new[i].unwrap_or(cur[i])))
}

/// setfsuid/setfsgid: allowed when privileged or the id is one of the current ones (and not
/// -1, which only queries).
fn fs_id_allowed(cur: [u32; 3], fs: u32, id: u32, privileged: bool) -> bool {
    id != u32::MAX && (privileged || cur.contains(&id) || id == fs)
}

impl Credentials {
    fn uids(&self) -> [u32; 3] {
        [self.uid, self.euid, self.suid]
    }

    fn gids(&self) -> [u32; 3] {
        [self.gid, self.egid, self.sgid]
    }

    /// Applies the capability effects of a uid change from `old` (module doc).
    fn fix_caps_after_uid_change(&mut self, old: &Credentials) {
        if self.securebits & SECBIT_NO_SETUID_FIXUP != 0 {
            return;
        }
        let was_root = old.uids().contains(&0);
        let is_root = self.uids().contains(&0);
        if was_root && !is_root {
            if !self.keep_caps {
                self.cap_permitted = 0;
                self.cap_effective = 0;
            }
            // Leaving root always clears the ambient set, so that setuid-then-exec keeps
            // dropping capabilities for programs that predate it (commoncap.c).
            self.cap_ambient = 0;
        }
        if old.euid == 0 && self.euid != 0 {
            self.cap_effective = 0;
        }
        if old.euid != 0 && self.euid == 0 {
            self.cap_effective = self.cap_permitted;
        }
        if old.fsuid == 0 && self.fsuid != 0 {
            self.cap_effective &= !CAP_FS_MASK;
        }
        if old.fsuid != 0 && self.fsuid == 0 {
            self.cap_effective |= self.cap_permitted & CAP_FS_MASK;
        }
        self.trim_ambient();
    }

    /// Keeps the ambient set within permitted ∩ inheritable.
    fn trim_ambient(&mut self) {
        self.cap_ambient &= self.cap_permitted & self.cap_inheritable;
    }

    /// PR_GET_SECUREBITS.
    pub fn securebits(&self) -> u32 {
        self.securebits | if self.keep_caps { SECBIT_KEEP_CAPS } else { 0 }
    }

    /// PR_SET_SECUREBITS: EPERM without CAP_SETPCAP, for a change to a locked flag, and for
    /// an unknown bit (commoncap.c answers EPERM to all three).
    pub fn set_securebits(&self, bits: u64) -> SysResult<Credentials> {
        let bits = u32::try_from(bits)
            .ok()
            .filter(|b| b & !SECBIT_ALL == 0)
            .ok_or(Errno::EPERM)?;
        let old = self.securebits();
        // A set lock bit freezes the flag below it, and itself.
        let locked = (old & SECBIT_LOCKS) >> 1;
        if !self.has_cap(CAP_SETPCAP) || (old ^ bits) & (locked | (old & SECBIT_LOCKS)) != 0 {
            return Err(Errno::EPERM);
        }
        let mut n = self.clone();
        n.keep_caps = bits & SECBIT_KEEP_CAPS != 0;
        n.securebits = bits & !SECBIT_KEEP_CAPS;
        Ok(n)
    }

    /// PR_SET_KEEPCAPS: EPERM once SECBIT_KEEP_CAPS is locked.
    pub fn set_keep_caps(&self, on: bool) -> SysResult<Credentials> {
        if self.securebits & (SECBIT_KEEP_CAPS << 1) != 0 {
            return Err(Errno::EPERM);
        }
        let mut n = self.clone();
        n.keep_caps = on;
        Ok(n)
    }

    /// PR_CAP_AMBIENT_RAISE: the capability must be permitted and inheritable and raising
    /// not forbidden by SECBIT_NO_CAP_AMBIENT_RAISE (EPERM).
    pub fn ambient_raise(&self, cap: u64) -> SysResult<Credentials> {
        let bit = cap_bit(cap)?;
        if self.cap_permitted & self.cap_inheritable & bit == 0
            || self.securebits & SECBIT_NO_CAP_AMBIENT_RAISE != 0
        {
            return Err(Errno::EPERM);
        }
        let mut n = self.clone();
        n.cap_ambient |= bit;
        Ok(n)
    }

    /// PR_CAP_AMBIENT_LOWER.
    pub fn ambient_lower(&self, cap: u64) -> SysResult<Credentials> {
        let bit = cap_bit(cap)?;
        let mut n = self.clone();
        n.cap_ambient &= !bit;
        Ok(n)
    }

    /// PR_CAP_AMBIENT_IS_SET.
    pub fn ambient_is_set(&self, cap: u64) -> SysResult<bool> {
        Ok(self.cap_ambient & cap_bit(cap)? != 0)
    }

    /// Installs a new (real, effective, saved) uid triple; the fsuid follows the euid and the
    /// capabilities move as the module doc says.
    fn with_uids(&self, [uid, euid, suid]: [u32; 3]) -> Credentials {
        let mut n = self.clone();
        (n.uid, n.euid, n.suid, n.fsuid) = (uid, euid, suid, euid);
        n.fix_caps_after_uid_change(self);
        n
    }

    /// Installs a new gid triple; the fsgid follows the egid.
    fn with_gids(&self, [gid, egid, sgid]: [u32; 3]) -> Credentials {
        let mut n = self.clone();
        (n.gid, n.egid, n.sgid, n.fsgid) = (gid, egid, sgid, egid);
        n
    }

    /// setuid(2).
    pub fn set_uid(&self, uid: u32) -> SysResult<Credentials> {
        Ok(self.with_uids(set_id(self.uids(), uid, self.has_cap(CAP_SETUID))?))
    }

    /// setreuid(2) (raw -1 = unchanged).
    pub fn set_reuid(&self, ruid: u32, euid: u32) -> SysResult<Credentials> {
        Ok(self.with_uids(set_re_ids(
            self.uids(),
            ruid,
            euid,
            self.has_cap(CAP_SETUID),
        )?))
    }

    /// setresuid(2) (raw -1 = unchanged).
    pub fn set_resuid(&self, ruid: u32, euid: u32, suid: u32) -> SysResult<Credentials> {
        let ids = set_res_ids(self.uids(), [ruid, euid, suid], self.has_cap(CAP_SETUID))?;
        Ok(self.with_uids(ids))
    }

    /// setfsuid(2): returns the new credentials (unchanged if not allowed) and the old fsuid.
    pub fn set_fsuid(&self, fsuid: u32) -> (Credentials, u32) {
        let mut n = self.clone();
        if fs_id_allowed(self.uids(), self.fsuid, fsuid, self.has_cap(CAP_SETUID)) {
            n.fsuid = fsuid;
            n.fix_caps_after_uid_change(self);
        }
        (n, self.fsuid)
    }

    /// setgid(2).
    pub fn set_gid(&self, gid: u32) -> SysResult<Credentials> {
        Ok(self.with_gids(set_id(self.gids(), gid, self.has_cap(CAP_SETGID))?))
    }

    /// setregid(2).
    pub fn set_regid(&self, rgid: u32, egid: u32) -> SysResult<Credentials> {
        Ok(self.with_gids(set_re_ids(
            self.gids(),
            rgid,
            egid,
            self.has_cap(CAP_SETGID),
        )?))
    }

    /// setresgid(2).
    pub fn set_resgid(&self, rgid: u32, egid: u32, sgid: u32) -> SysResult<Credentials> {
        let ids = set_res_ids(self.gids(), [rgid, egid, sgid], self.has_cap(CAP_SETGID))?;
        Ok(self.with_gids(ids))
    }

    /// setfsgid(2): new credentials and the old fsgid.
    pub fn set_fsgid(&self, fsgid: u32) -> (Credentials, u32) {
        let mut n = self.clone();
        if fs_id_allowed(self.gids(), self.fsgid, fsgid, self.has_cap(CAP_SETGID)) {
            n.fsgid = fsgid;
        }
        (n, self.fsgid)
    }

    /// setgroups(2): CAP_SETGID only (EPERM), at most [`NGROUPS_MAX`] (EINVAL, checked by the
    /// caller before copying).
    pub fn set_groups(&self, groups: Vec<u32>) -> SysResult<Credentials> {
        if !self.has_cap(CAP_SETGID) {
            return Err(Errno::EPERM);
        }
        let mut n = self.clone();
        let mut groups = groups;
        groups.sort_unstable();
        groups.dedup();
        n.groups = groups;
        Ok(n)
    }

    /// capset(2)'s rules (capabilities(7) "Programmatically adjusting capability sets"):
    /// the new permitted set within the old one, the new effective set within the new
    /// permitted one, and the new inheritable set within the old inheritable plus the
    /// permitted set (plus the bounding set with CAP_SETPCAP). EPERM otherwise.
    pub fn set_caps(
        &self,
        effective: u64,
        permitted: u64,
        inheritable: u64,
    ) -> SysResult<Credentials> {
        let (e, p, i) = (
            effective & CAP_FULL_SET,
            permitted & CAP_FULL_SET,
            inheritable & CAP_FULL_SET,
        );
        let inh_limit = self.cap_inheritable
            | if self.has_cap(CAP_SETPCAP) {
                self.cap_bounding
            } else {
                self.cap_permitted
            };
        if p & !self.cap_permitted != 0 || e & !p != 0 || i & !inh_limit != 0 {
            return Err(Errno::EPERM);
        }
        let mut n = self.clone();
        n.cap_effective = e;
        n.cap_permitted = p;
        n.cap_inheritable = i;
        n.trim_ambient();
        Ok(n)
    }

    /// PR_CAPBSET_DROP: needs CAP_SETPCAP (EPERM); EINVAL for an unknown capability.
    pub fn drop_bounding(&self, cap: u64) -> SysResult<Credentials> {
        let cap = u32::try_from(cap)
            .ok()
            .filter(|c| *c <= abi::cap::CAP_LAST_CAP)
            .ok_or(Errno::EINVAL)?;
        if !self.has_cap(CAP_SETPCAP) {
            return Err(Errno::EPERM);
        }
        let mut n = self.clone();
        n.cap_bounding &= !abi::cap::bit(cap);
        Ok(n)
    }

    /// The credentials after execve of a file owned by `owner` (uid, gid) with mode `mode`:
    /// set-user-ID and set-group-ID (the latter only with group execute) take effect unless
    /// `no_new_privs`; the saved ids become the effective ones; and, with no file
    /// capabilities, a process whose real or effective uid is 0 gets the bounding set (plus
    /// its inheritable set) as permitted, effective too if the effective uid is 0; any other
    /// gets none (capabilities(7), "Capabilities and execution of programs by root").
    pub fn after_exec(&self, owner: (u32, u32), mode: u32, no_new_privs: bool) -> Credentials {
        let mut n = self.clone();
        let (euid, egid) = (n.euid, n.egid);
        if !no_new_privs {
            if mode & abi::file::S_ISUID != 0 {
                n.euid = owner.0;
            }
            if mode & abi::file::S_ISGID != 0 && mode & 0o010 != 0 {
                n.egid = owner.1;
            }
        }
        n.suid = n.euid;
        n.fsuid = n.euid;
        n.sgid = n.egid;
        n.fsgid = n.egid;
        // A privileged execve (the set-id bits changed an id) starts with no ambient set.
        if (n.euid, n.egid) != (euid, egid) {
            n.cap_ambient = 0;
        }
        let ambient = n.cap_ambient;
        if (n.uid == 0 || n.euid == 0) && n.securebits & SECBIT_NOROOT == 0 {
            // Root's files count as having every capability: P' = (pI & F_I) | (F_P & bounding)
            // | A' with F_I = F_P = all, and F_E set only for an effective uid 0.
            n.cap_permitted = (n.cap_inheritable | n.cap_bounding | ambient) & CAP_FULL_SET;
            n.cap_effective = if n.euid == 0 {
                n.cap_permitted
            } else {
                ambient
            };
        } else {
            // No file capabilities: P' = E' = A'.
            n.cap_permitted = ambient;
            n.cap_effective = ambient;
        }
        n.keep_caps = false;
        n
    }
}

/// The bit of capability number `cap` (EINVAL past CAP_LAST_CAP).
fn cap_bit(cap: u64) -> SysResult<u64> {
    u32::try_from(cap)
        .ok()
        .filter(|c| *c <= abi::cap::CAP_LAST_CAP)
        .map(abi::cap::bit)
        .ok_or(Errno::EINVAL)
}

/// The capget/capset version's number of data structs (1 for version 1, 2 for 2 and 3), or
/// None for an unknown version.
pub fn cap_data_count(version: u32) -> Option<usize> {
    match version {
        LINUX_CAPABILITY_VERSION_1 => Some(1),
        LINUX_CAPABILITY_VERSION_2 | LINUX_CAPABILITY_VERSION_3 => Some(2),
        _ => None,
    }
}

/// Splits 64-bit sets into capget's data structs (low 32 capabilities first).
pub fn to_cap_data(c: &Credentials) -> [CapData; 2] {
    let lo = |v: u64| u32::try_from(v & 0xffff_ffff).unwrap_or(0);
    let hi = |v: u64| u32::try_from(v >> 32).unwrap_or(0);
    [
        CapData {
            effective: lo(c.cap_effective),
            permitted: lo(c.cap_permitted),
            inheritable: lo(c.cap_inheritable),
        },
        CapData {
            effective: hi(c.cap_effective),
            permitted: hi(c.cap_permitted),
            inheritable: hi(c.cap_inheritable),
        },
    ]
}

/// Joins capset's data structs into (effective, permitted, inheritable).
pub fn from_cap_data(d: &[CapData]) -> (u64, u64, u64) {
    let get = |i: usize, f: fn(&CapData) -> u32| d.get(i).map_or(0, |x| u64::from(f(x)));
    (
        get(0, |x| x.effective) | get(1, |x| x.effective) << 32,
        get(0, |x| x.permitted) | get(1, |x| x.permitted) << 32,
        get(0, |x| x.inheritable) | get(1, |x| x.inheritable) << 32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::cap::{CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_KILL};

    #[test]
    fn root_dropping_all_uids_loses_capabilities_unless_keepcaps() {
        let root = Credentials::root();
        let u = root.set_resuid(1000, 1000, 1000).unwrap();
        assert_eq!((u.cap_permitted, u.cap_effective), (0, 0));
        assert_eq!(u.fsuid, 1000);
        let keep = Credentials {
            keep_caps: true,
            ..Credentials::root()
        };
        let k = keep.set_resuid(1000, 1000, 1000).unwrap();
        assert_eq!(k.cap_permitted, CAP_FULL_SET);
        assert_eq!(
            k.cap_effective, 0,
            "the effective set is cleared by euid 0 -> 1000"
        );
    }

    #[test]
    fn effective_uid_round_trip_restores_effective_from_permitted() {
        let root = Credentials::root();
        let away = root.set_reuid(u32::MAX, 1000).unwrap();
        assert_eq!((away.uid, away.euid, away.suid), (0, 1000, 1000));
        assert_eq!(away.cap_effective, 0);
        assert_eq!(away.cap_permitted, CAP_FULL_SET);
        // The real uid is still 0: setuid(0) as an unprivileged euid may go back to it.
        let back = away.set_uid(0).unwrap();
        assert_eq!(back.euid, 0);
        assert_eq!(back.cap_effective, CAP_FULL_SET);
    }

    #[test]
    fn unprivileged_changes_are_limited_to_current_ids() {
        let u = Credentials::user(1000, 1000)
            .set_resuid(1000, 1000, 2000)
            .unwrap_err();
        assert_eq!(u, Errno::EPERM);
        let mixed = Credentials {
            suid: 2000,
            ..Credentials::user(1000, 1000)
        };
        let n = mixed.set_uid(2000).unwrap();
        assert_eq!((n.uid, n.euid, n.suid), (1000, 2000, 2000));
        assert_eq!(mixed.set_uid(3000).unwrap_err(), Errno::EPERM);
        assert_eq!(
            Credentials::user(5, 5).set_groups(vec![1]).unwrap_err(),
            Errno::EPERM
        );
        assert_eq!(
            Credentials::user(5, 5).set_gid(6).unwrap_err(),
            Errno::EPERM
        );
    }

    #[test]
    fn fsuid_changes_move_the_filesystem_capabilities() {
        let (n, old) = Credentials::root().set_fsuid(1000);
        assert_eq!(old, 0);
        assert!(!n.has_cap(CAP_CHOWN) && !n.has_cap(CAP_DAC_OVERRIDE));
        assert!(n.has_cap(CAP_KILL));
        let (back, old) = n.set_fsuid(0);
        assert_eq!(old, 1000);
        assert!(back.has_cap(CAP_CHOWN));
        // Not allowed: unchanged, but the old value is still returned.
        let (same, old) = Credentials::user(7, 7).set_fsuid(0);
        assert_eq!((same.fsuid, old), (7, 7));
    }

    #[test]
    fn capset_rules() {
        let root = Credentials::root();
        let less = root.set_caps(0, abi::cap::bit(CAP_KILL), 0).unwrap();
        assert_eq!(less.cap_permitted, abi::cap::bit(CAP_KILL));
        // Not above the permitted set, effective within permitted.
        assert_eq!(less.set_caps(0, CAP_FULL_SET, 0).unwrap_err(), Errno::EPERM);
        assert_eq!(
            less.set_caps(abi::cap::bit(CAP_CHOWN), abi::cap::bit(CAP_KILL), 0)
                .unwrap_err(),
            Errno::EPERM
        );
    }

    #[test]
    fn exec_gives_root_its_capabilities_and_honours_setuid() {
        let u = Credentials::user(1000, 1000);
        let after = u.after_exec((0, 0), 0o4755, false);
        assert_eq!((after.uid, after.euid, after.suid), (1000, 0, 0));
        assert_eq!(after.cap_effective, CAP_FULL_SET);
        let nnp = u.after_exec((0, 0), 0o4755, true);
        assert_eq!(nnp.euid, 1000);
        assert_eq!(nnp.cap_effective, 0);
        let plain = u.after_exec((0, 0), 0o755, false);
        assert_eq!((plain.euid, plain.cap_permitted), (1000, 0));
    }

    #[test]
    fn cap_data_round_trip() {
        let c = Credentials {
            cap_inheritable: 1 << 35 | 1,
            ..Credentials::root()
        };
        let d = to_cap_data(&c);
        assert_eq!(
            from_cap_data(&d),
            (c.cap_effective, c.cap_permitted, c.cap_inheritable)
        );
    }
}
