//! mount(2) and umount2(2) inside the sandbox: new tmpfs (`size=`, `mode=`, `uid=`, `gid=`),
//! proc and sysfs instances on a directory, propagation changes (accepted: the sandbox has
//! one mount namespace, so there is nothing to propagate to), and unmounting. CAP_SYS_ADMIN
//! only (EPERM).
//!
//! Not built (EINVAL, as the table note says): bind mounts, remounts, moves, read-only and
//! nosuid/nodev/noexec mounts (the VFS has no per-mount flags yet); other filesystem types are
//! ENODEV ("not configured"), as Linux answers.

use std::sync::Arc;

use abi::cap::CAP_SYS_ADMIN;
use abi::file as f;
use abi::{Errno, SysResult};
use vfs::Filesystem;

use super::{SyscallArgs, SyscallResult, ok_zero};
use crate::kernel::Task;

const MS_RDONLY: u64 = 1;
const MS_NOSUID: u64 = 2;
const MS_NODEV: u64 = 4;
const MS_NOEXEC: u64 = 8;
const MS_REMOUNT: u64 = 32;
const MS_NOATIME: u64 = 1024;
const MS_NODIRATIME: u64 = 2048;
const MS_BIND: u64 = 4096;
const MS_MOVE: u64 = 8192;
const MS_REC: u64 = 16384;
const MS_SILENT: u64 = 32768;
const MS_UNBINDABLE: u64 = 1 << 17;
const MS_PRIVATE: u64 = 1 << 18;
const MS_SLAVE: u64 = 1 << 19;
const MS_SHARED: u64 = 1 << 20;
const MS_RELATIME: u64 = 1 << 21;
const MS_STRICTATIME: u64 = 1 << 24;
/// The magic number old callers put in the top half of the flags (ignored, as Linux does).
const MS_MGC_MSK: u64 = 0xffff_0000;
const MS_MGC_VAL: u64 = 0xc0ed_0000;

const MNT_FORCE: u32 = 1;
const MNT_DETACH: u32 = 2;
const MNT_EXPIRE: u32 = 4;
const UMOUNT_NOFOLLOW: u32 = 8;

/// Flags with no effect here: atime policy (the sentry's filesystems do not update atime on
/// read) and MS_SILENT.
const HARMLESS: u64 = MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | MS_SILENT;

/// `tmpfs` mount options (shmem_parse_one): `size=` with a k/m/g suffix, `mode=` (octal),
/// `uid=`, `gid=`. EINVAL for anything else (nr_inodes, huge, percentages: not built).
#[derive(Debug, Default, PartialEq, Eq)]
struct TmpfsOpts {
    size: Option<u64>,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
}

fn parse_size(v: &str) -> SysResult<u64> {
    let (num, mult) = match v.as_bytes().last() {
        Some(b'k' | b'K') => (&v[..v.len() - 1], 1u64 << 10),
        Some(b'm' | b'M') => (&v[..v.len() - 1], 1 << 20),
        Some(b'g' | b'G') => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or(Errno::EINVAL)
}

fn parse_tmpfs_opts(data: &str) -> SysResult<TmpfsOpts> {
    let mut o = TmpfsOpts::default();
    for opt in data.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = opt.split_once('=').ok_or(Errno::EINVAL)?;
        match k {
            "size" => o.size = Some(parse_size(v)?),
            "mode" => {
                o.mode = Some(
                    u32::from_str_radix(v, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or(Errno::EINVAL)?,
                );
            }
            "uid" => o.uid = Some(v.parse().map_err(|_| Errno::EINVAL)?),
            "gid" => o.gid = Some(v.parse().map_err(|_| Errno::EINVAL)?),
            _ => return Err(Errno::EINVAL),
        }
    }
    Ok(o)
}

/// A NUL-terminated string argument of at most a page, or None for a NULL pointer.
fn opt_string(t: &Task, addr: u64) -> SysResult<Option<String>> {
    if addr == 0 {
        return Ok(None);
    }
    let bytes = t.copy_in_path(addr)?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| Errno::EINVAL)
}

/// mount(2).
pub fn sys_mount(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = {
        let raw = args.ulong(3);
        if raw & MS_MGC_MSK == MS_MGC_VAL {
            raw & !MS_MGC_MSK
        } else {
            raw
        }
    };
    if !t.creds.has_cap(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let target_path = t.copy_in_path(args.ptr(1))?;
    let target = t.with_lookup(f::AT_FDCWD, &target_path, |l| l.resolve(&target_path, true))?;
    let propagation = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;
    if flags & propagation != 0 {
        // One mount namespace: nothing to propagate to or from, so every propagation type
        // behaves the same. Linux still wants exactly one type and a mount point.
        if (flags & propagation).count_ones() != 1
            || flags & !(propagation | MS_REC | HARMLESS) != 0
        {
            return Err(Errno::EINVAL);
        }
        if !target.is_mount_root() {
            return Err(Errno::EINVAL);
        }
        return ok_zero();
    }
    if flags & (MS_REMOUNT | MS_BIND | MS_MOVE | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) != 0
        || flags & !(HARMLESS | MS_REC) != 0
    {
        return Err(Errno::EINVAL);
    }
    let fstype = opt_string(t, args.ptr(2))?.ok_or(Errno::EINVAL)?;
    let data = opt_string(t, args.ptr(4))?.unwrap_or_default();
    if !target.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let fs: Arc<dyn Filesystem> = match fstype.as_str() {
        "tmpfs" => {
            let o = parse_tmpfs_opts(&data)?;
            let mut creds = t.creds.fs_creds();
            if let Some(u) = o.uid {
                creds.uid = u;
            }
            if let Some(g) = o.gid {
                creds.gid = g;
            }
            let mode = o.mode.unwrap_or(0o1777);
            let mf = Arc::clone(&t.kernel.memfile);
            match o.size {
                Some(s) => vfs::tmpfs::Tmpfs::with_size(mode, &creds, mf, s),
                None => vfs::tmpfs::Tmpfs::new(mode, &creds, mf),
            }
        }
        "proc" => crate::fs::proc::new_filesystem(),
        "sysfs" => crate::fs::sys::new_filesystem(t.kernel.ncpus),
        _ => return Err(Errno::ENODEV),
    };
    t.kernel.mounts.mount(&target, fs)?;
    ok_zero()
}

/// umount2(2) (and umount, which is umount2 with no flags).
pub fn sys_umount2(t: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let flags = args.uint(1);
    if flags & !(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW) != 0
        || (flags & MNT_EXPIRE != 0 && flags & (MNT_FORCE | MNT_DETACH) != 0)
    {
        return Err(Errno::EINVAL);
    }
    if !t.creds.has_cap(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let path = t.copy_in_path(args.ptr(0))?;
    let follow = flags & UMOUNT_NOFOLLOW == 0;
    let target = t.with_lookup(f::AT_FDCWD, &path, |l| l.resolve(&path, follow))?;
    t.kernel.mounts.unmount(&target, flags & MNT_DETACH != 0)?;
    ok_zero()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_options_parse_like_shmem() {
        assert_eq!(
            parse_tmpfs_opts("size=10m,mode=755,uid=1,gid=2"),
            Ok(TmpfsOpts {
                size: Some(10 << 20),
                mode: Some(0o755),
                uid: Some(1),
                gid: Some(2),
            })
        );
        assert_eq!(parse_tmpfs_opts(""), Ok(TmpfsOpts::default()));
        assert_eq!(parse_tmpfs_opts("size=1x"), Err(Errno::EINVAL));
        assert_eq!(parse_tmpfs_opts("nr_inodes=5"), Err(Errno::EINVAL));
        assert_eq!(parse_tmpfs_opts("mode=9"), Err(Errno::EINVAL));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
    }
}
