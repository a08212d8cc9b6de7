//! Extended attributes: the VFS half of getxattr(2)/setxattr(2)/listxattr(2)/removexattr(2)
//! and [`XattrMap`], the in-memory store tmpfs (and any filesystem without its own) keeps per
//! inode.
//!
//! The VFS does what Linux's fs/xattr.c and the commoncap LSM do for every filesystem, in
//! Linux's order: EROFS on a read-only mount, then `xattr_permission` (user.* only on regular
//! files and directories — EPERM to write, ENODATA to read elsewhere —, the sticky-directory
//! owner rule, then read/write permission on the file; trusted.* only with CAP_SYS_ADMIN),
//! then `cap_inode_setxattr`/`cap_inode_removexattr` (security.* needs CAP_SYS_ADMIN,
//! security.capability CAP_SETFCAP and a well-formed value), then `xattr_resolve_name` (a name
//! outside the four namespaces is EOPNOTSUPP, a bare prefix such as "user." EINVAL). Only then
//! is the filesystem's [`Inode`](crate::Inode) method called, which stores or fetches and
//! answers EEXIST/ENODATA. listxattr(2) hides trusted.* names from callers without
//! CAP_SYS_ADMIN (as tmpfs's `simple_xattr_list` does).
//!
//! The syscall layer checks the name (ERANGE when empty or longer than [`XATTR_NAME_MAX`]),
//! the flags (EINVAL) and the value size (E2BIG) before it resolves the path, and sizes the
//! user's buffer (ERANGE when too small) after; [`XattrMode`] is the typed form of the flags.
//!
//! Shortcuts: system.* (POSIX ACLs) is EOPNOTSUPP everywhere; there are no immutable or
//! append-only inodes, so those checks are absent; an [`XattrMap`] bounds its total size per
//! inode ([`XATTR_INODE_MAX`], ENOSPC beyond) where Linux tmpfs charges user.* attributes to
//! the instance's inode space.

use std::collections::BTreeMap;

use abi::file::{R_OK, S_ISVTX, W_OK};
use abi::{Errno, SysResult};

use crate::inode::InodeKind;
use crate::mount::VfsPath;
use crate::{Creds, perm};

/// setxattr(2) flag: fail with EEXIST if the attribute exists.
pub const XATTR_CREATE: u32 = 1;
/// setxattr(2) flag: fail with ENODATA if the attribute does not exist.
pub const XATTR_REPLACE: u32 = 2;
/// Largest attribute name (include/uapi/linux/limits.h).
pub const XATTR_NAME_MAX: usize = 255;
/// Largest attribute value.
pub const XATTR_SIZE_MAX: usize = 65536;
/// Largest listxattr(2) result.
pub const XATTR_LIST_MAX: usize = 65536;
/// Total bytes (names plus values) one [`XattrMap`] holds at most.
pub const XATTR_INODE_MAX: usize = 1 << 20;

/// The namespaces Linux knows (include/uapi/linux/xattr.h prefixes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XattrNamespace {
    User,
    Trusted,
    Security,
    System,
}

const PREFIXES: [(&[u8], XattrNamespace); 4] = [
    (b"user.", XattrNamespace::User),
    (b"trusted.", XattrNamespace::Trusted),
    (b"security.", XattrNamespace::Security),
    (b"system.", XattrNamespace::System),
];

/// The namespace `name` is in, if any.
pub fn namespace_of(name: &[u8]) -> Option<XattrNamespace> {
    PREFIXES
        .iter()
        .find(|(p, _)| name.starts_with(p))
        .map(|&(_, ns)| ns)
}

/// What setxattr(2)'s flags ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XattrMode {
    /// Create or replace.
    #[default]
    Any,
    /// XATTR_CREATE.
    Create,
    /// XATTR_REPLACE.
    Replace,
    /// Both flags: Linux tests each, so this always fails (EEXIST if the name exists,
    /// ENODATA if not).
    CreateReplace,
}

impl XattrMode {
    /// Decodes setxattr(2) flags: EINVAL for unknown bits.
    pub fn from_flags(flags: u32) -> SysResult<XattrMode> {
        if flags & !(XATTR_CREATE | XATTR_REPLACE) != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(
            match (flags & XATTR_CREATE != 0, flags & XATTR_REPLACE != 0) {
                (false, false) => XattrMode::Any,
                (true, false) => XattrMode::Create,
                (false, true) => XattrMode::Replace,
                (true, true) => XattrMode::CreateReplace,
            },
        )
    }

    /// The setxattr(2) flag bits.
    pub fn flags(self) -> u32 {
        match self {
            XattrMode::Any => 0,
            XattrMode::Create => XATTR_CREATE,
            XattrMode::Replace => XATTR_REPLACE,
            XattrMode::CreateReplace => XATTR_CREATE | XATTR_REPLACE,
        }
    }
}

/// The name check of the syscalls (fs/xattr.c `import_xattr_name`): ERANGE for an empty name
/// or one longer than [`XATTR_NAME_MAX`].
pub fn check_name(name: &[u8]) -> SysResult<()> {
    if name.is_empty() || name.len() > XATTR_NAME_MAX {
        return Err(Errno::ERANGE);
    }
    Ok(())
}

/// `xattr_resolve_name`: EOPNOTSUPP outside the namespaces this VFS supports, EINVAL for a
/// bare prefix.
fn resolve_name(name: &[u8]) -> SysResult<XattrNamespace> {
    let (prefix, ns) = PREFIXES
        .iter()
        .find(|(p, _)| name.starts_with(p))
        .ok_or(Errno::EOPNOTSUPP)?;
    if *ns == XattrNamespace::System {
        return Err(Errno::EOPNOTSUPP);
    }
    if name.len() == prefix.len() {
        return Err(Errno::EINVAL);
    }
    Ok(*ns)
}

/// Validates a security.capability value (security/commoncap.c `cap_convert_nscap` /
/// `validheader`): version 1 (12 bytes), 2 (20) or 3 (24) with a matching revision.
fn check_fcaps(value: &[u8]) -> SysResult<()> {
    let magic = value
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or(Errno::EINVAL)?;
    let want = match magic & 0xff00_0000 {
        0x0100_0000 => 12,
        0x0200_0000 => 20,
        0x0300_0000 => 24,
        _ => return Err(Errno::EINVAL),
    };
    if value.len() != want {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The error for an attribute call on a file without a VFS location (a pipe, socket or
/// anonymous file, whose fstat mode is `mode`): such files have no attribute handlers, so
/// after the permission rules (user.* on a non-regular file, trusted.* without
/// CAP_SYS_ADMIN, a security.* write without it) the answer is EOPNOTSUPP.
pub fn pathless_error(mode: u32, creds: &Creds, name: &[u8], is_write: bool) -> Errno {
    let denied = if is_write {
        Errno::EPERM
    } else {
        Errno::ENODATA
    };
    let is_reg_or_dir = matches!(
        InodeKind::from_mode(mode),
        Some(InodeKind::Regular | InodeKind::Dir)
    );
    match namespace_of(name) {
        Some(XattrNamespace::User) if !is_reg_or_dir => denied,
        Some(XattrNamespace::Trusted) if !creds.has_cap(abi::cap::CAP_SYS_ADMIN) => denied,
        _ if is_write => VfsPath::xattr_security_write(creds, name, None)
            .err()
            .unwrap_or(Errno::EOPNOTSUPP),
        _ => Errno::EOPNOTSUPP,
    }
}

impl VfsPath {
    /// `xattr_permission` for `mask` (R_OK or W_OK); `Err` carries what the app sees.
    fn xattr_permission(&self, creds: &Creds, name: &[u8], mask: u32) -> SysResult<()> {
        let is_write = mask & W_OK != 0;
        match namespace_of(name) {
            Some(XattrNamespace::Security | XattrNamespace::System) => return Ok(()),
            Some(XattrNamespace::Trusted) => {
                if creds.has_cap(abi::cap::CAP_SYS_ADMIN) {
                    return Ok(());
                }
                return Err(if is_write {
                    Errno::EPERM
                } else {
                    Errno::ENODATA
                });
            }
            Some(XattrNamespace::User) => {
                let attr = self.attr()?;
                if !matches!(attr.kind, InodeKind::Regular | InodeKind::Dir) {
                    return Err(if is_write {
                        Errno::EPERM
                    } else {
                        Errno::ENODATA
                    });
                }
                if attr.kind == InodeKind::Dir
                    && attr.perm & S_ISVTX != 0
                    && is_write
                    && attr.uid != creds.uid
                    && !creds.has_cap(abi::cap::CAP_FOWNER)
                {
                    return Err(Errno::EPERM);
                }
            }
            None => {}
        }
        perm::check(&self.attr()?, creds, mask)
    }

    /// The LSM hook of setxattr/removexattr (commoncap): security.* needs CAP_SYS_ADMIN,
    /// security.capability CAP_SETFCAP (and a valid value when set).
    fn xattr_security_write(creds: &Creds, name: &[u8], value: Option<&[u8]>) -> SysResult<()> {
        if name == b"security.capability" {
            if !creds.has_cap(abi::cap::CAP_SETFCAP) {
                return Err(Errno::EPERM);
            }
            if let Some(v) = value {
                check_fcaps(v)?;
            }
            return Ok(());
        }
        if namespace_of(name) == Some(XattrNamespace::Security)
            && !creds.has_cap(abi::cap::CAP_SYS_ADMIN)
        {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// getxattr(2) after the path walk: the whole value (the caller sizes the buffer).
    pub fn getxattr(&self, creds: &Creds, name: &[u8]) -> SysResult<Vec<u8>> {
        self.xattr_permission(creds, name, R_OK)?;
        resolve_name(name)?;
        self.inode().getxattr(name)
    }

    /// setxattr(2) after the path walk (name and size already checked by the caller).
    pub fn setxattr(
        &self,
        creds: &Creds,
        name: &[u8],
        value: &[u8],
        mode: XattrMode,
    ) -> SysResult<()> {
        if self.is_readonly() {
            return Err(Errno::EROFS);
        }
        self.xattr_permission(creds, name, W_OK)?;
        Self::xattr_security_write(creds, name, Some(value))?;
        resolve_name(name)?;
        self.inode().setxattr(name, value, mode)
    }

    /// removexattr(2) after the path walk.
    pub fn removexattr(&self, creds: &Creds, name: &[u8]) -> SysResult<()> {
        if self.is_readonly() {
            return Err(Errno::EROFS);
        }
        self.xattr_permission(creds, name, W_OK)?;
        Self::xattr_security_write(creds, name, None)?;
        resolve_name(name)?;
        self.inode().removexattr(name)
    }

    /// listxattr(2) after the path walk: the names as the syscall returns them (each followed
    /// by a NUL), trusted.* left out for callers without CAP_SYS_ADMIN.
    pub fn listxattr(&self, creds: &Creds) -> SysResult<Vec<u8>> {
        let show_trusted = creds.has_cap(abi::cap::CAP_SYS_ADMIN);
        let mut out = Vec::new();
        for name in self.inode().listxattr()? {
            if !show_trusted && namespace_of(&name) == Some(XattrNamespace::Trusted) {
                continue;
            }
            out.extend_from_slice(&name);
            out.push(0);
        }
        Ok(out)
    }
}

/// The attributes of one inode, in memory (Linux `simple_xattrs`): sorted by name, which is
/// the order listxattr(2) reports them in.
#[derive(Debug, Default, Clone)]
pub struct XattrMap {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Bytes of names plus values held.
    bytes: usize,
}

impl XattrMap {
    /// The value of `name`, ENODATA if absent.
    pub fn get(&self, name: &[u8]) -> SysResult<Vec<u8>> {
        self.map.get(name).cloned().ok_or(Errno::ENODATA)
    }

    /// Sets `name` as `mode` allows (EEXIST for Create of an existing name, ENODATA for
    /// Replace of a missing one); ENOSPC past [`XATTR_INODE_MAX`].
    pub fn set(&mut self, name: &[u8], value: &[u8], mode: XattrMode) -> SysResult<()> {
        let old = self.map.get(name).map(Vec::len);
        match (mode, old) {
            (XattrMode::Create | XattrMode::CreateReplace, Some(_)) => return Err(Errno::EEXIST),
            (XattrMode::Replace | XattrMode::CreateReplace, None) => {
                return Err(Errno::ENODATA);
            }
            _ => {}
        }
        let freed = old.map_or(0, |v| v.saturating_add(name.len()));
        let bytes = self
            .bytes
            .saturating_sub(freed)
            .saturating_add(name.len())
            .saturating_add(value.len());
        if bytes > XATTR_INODE_MAX {
            return Err(Errno::ENOSPC);
        }
        self.map.insert(name.to_vec(), value.to_vec());
        self.bytes = bytes;
        Ok(())
    }

    /// Removes `name`, ENODATA if absent.
    pub fn remove(&mut self, name: &[u8]) -> SysResult<()> {
        let v = self.map.remove(name).ok_or(Errno::ENODATA)?;
        self.bytes = self
            .bytes
            .saturating_sub(v.len().saturating_add(name.len()));
        Ok(())
    }

    /// Every name, in order.
    pub fn names(&self) -> Vec<Vec<u8>> {
        self.map.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_decode_like_linux() {
        assert_eq!(XattrMode::from_flags(0), Ok(XattrMode::Any));
        assert_eq!(XattrMode::from_flags(1), Ok(XattrMode::Create));
        assert_eq!(XattrMode::from_flags(2), Ok(XattrMode::Replace));
        assert_eq!(XattrMode::from_flags(3), Ok(XattrMode::CreateReplace));
        assert_eq!(XattrMode::CreateReplace.flags(), 3);
        assert_eq!(XattrMode::from_flags(4), Err(Errno::EINVAL));
    }

    #[test]
    fn names_resolve_by_namespace() {
        assert_eq!(resolve_name(b"user.a"), Ok(XattrNamespace::User));
        assert_eq!(resolve_name(b"trusted.a"), Ok(XattrNamespace::Trusted));
        assert_eq!(resolve_name(b"security.a"), Ok(XattrNamespace::Security));
        assert_eq!(resolve_name(b"user."), Err(Errno::EINVAL));
        assert_eq!(resolve_name(b"foo.a"), Err(Errno::EOPNOTSUPP));
        assert_eq!(
            resolve_name(b"system.posix_acl_access"),
            Err(Errno::EOPNOTSUPP)
        );
        assert_eq!(check_name(b""), Err(Errno::ERANGE));
        assert_eq!(check_name(&[b'a'; 256]), Err(Errno::ERANGE));
        assert_eq!(check_name(&[b'a'; 255]), Ok(()));
    }

    #[test]
    fn map_create_replace_remove_and_limit() {
        let mut m = XattrMap::default();
        assert_eq!(
            m.set(b"user.a", b"1", XattrMode::Replace),
            Err(Errno::ENODATA)
        );
        assert_eq!(
            m.set(b"user.a", b"1", XattrMode::CreateReplace),
            Err(Errno::ENODATA)
        );
        m.set(b"user.a", b"1", XattrMode::Create).unwrap();
        assert_eq!(
            m.set(b"user.a", b"1", XattrMode::CreateReplace),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            m.set(b"user.a", b"2", XattrMode::Create),
            Err(Errno::EEXIST)
        );
        m.set(b"user.a", b"22", XattrMode::Replace).unwrap();
        assert_eq!(m.get(b"user.a"), Ok(b"22".to_vec()));
        m.set(b"user.b", b"", XattrMode::Any).unwrap();
        assert_eq!(m.names(), vec![b"user.a".to_vec(), b"user.b".to_vec()]);
        m.remove(b"user.a").unwrap();
        assert_eq!(m.remove(b"user.a"), Err(Errno::ENODATA));
        assert_eq!(m.get(b"user.a"), Err(Errno::ENODATA));
        let big = vec![0u8; XATTR_SIZE_MAX];
        let mut i = 0;
        let err = loop {
            let name = format!("user.{i}");
            if let Err(e) = m.set(name.as_bytes(), &big, XattrMode::Any) {
                break e;
            }
            i += 1;
        };
        assert_eq!(err, Errno::ENOSPC);
        assert!(m.bytes <= XATTR_INODE_MAX);
    }

    #[test]
    fn fcaps_values_are_checked() {
        let mut v2 = vec![0u8; 20];
        v2[..4].copy_from_slice(&0x0200_0000u32.to_le_bytes());
        assert_eq!(check_fcaps(&v2), Ok(()));
        assert_eq!(check_fcaps(&v2[..12]), Err(Errno::EINVAL));
        assert_eq!(check_fcaps(b"xx"), Err(Errno::EINVAL));
    }
}
