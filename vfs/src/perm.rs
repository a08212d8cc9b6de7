//! Permission checks on inode attributes: generic_permission() of fs/namei.c, reduced to mode
//! bits (no ACLs, no capabilities beyond uid 0 standing for CAP_DAC_OVERRIDE and
//! CAP_DAC_READ_SEARCH, and CAP_FOWNER for the sticky-bit rule).

use abi::file::{S_ISVTX, X_OK};
use abi::{Errno, SysResult};

use crate::Creds;
use crate::inode::{InodeAttr, InodeKind};

/// Checks `mask` (R_OK 4 | W_OK 2 | X_OK 1) against `attr` for `creds`: EACCES if denied.
///
/// Root passes everything except executing a non-directory with no x bit at all
/// (generic_permission: "Read/write DACs are always overridable. Executable DACs are
/// overridable when there is at least one exec bit set").
pub fn check(attr: &InodeAttr, creds: &Creds, mask: u32) -> SysResult<()> {
    let mask = mask & 7;
    if creds.uid == 0 {
        if mask & X_OK != 0 && attr.kind != InodeKind::Dir && attr.perm & 0o111 == 0 {
            return Err(Errno::EACCES);
        }
        return Ok(());
    }
    let bits = if creds.uid == attr.uid {
        attr.perm >> 6
    } else if creds.gid == attr.gid || creds.groups.contains(&attr.gid) {
        attr.perm >> 3
    } else {
        attr.perm
    } & 7;
    if mask & !bits != 0 {
        Err(Errno::EACCES)
    } else {
        Ok(())
    }
}

/// The sticky-directory rule for unlink/rmdir/rename (check_sticky in fs/namei.c): in a
/// directory with S_ISVTX, only the file's owner, the directory's owner or root may remove or
/// rename an entry. EPERM otherwise.
pub fn check_sticky(dir: &InodeAttr, victim: &InodeAttr, creds: &Creds) -> SysResult<()> {
    if dir.perm & S_ISVTX == 0 || creds.uid == 0 || creds.uid == victim.uid || creds.uid == dir.uid
    {
        return Ok(());
    }
    Err(Errno::EPERM)
}
