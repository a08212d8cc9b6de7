//! `struct new_utsname` (include/uapi/linux/utsname.h) and arch_prctl codes
//! (arch/x86/include/uapi/asm/prctl.h).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Length of each utsname field, NUL included.
pub const UTS_LEN: usize = 65;

/// `struct new_utsname`.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Utsname {
    pub sysname: [u8; UTS_LEN],
    pub nodename: [u8; UTS_LEN],
    pub release: [u8; UTS_LEN],
    pub version: [u8; UTS_LEN],
    pub machine: [u8; UTS_LEN],
    pub domainname: [u8; UTS_LEN],
}

impl Utsname {
    /// Copies `s` into a field, truncated to leave room for the NUL.
    pub fn field(s: &[u8]) -> [u8; UTS_LEN] {
        let mut f = [0u8; UTS_LEN];
        let n = s.len().min(UTS_LEN - 1);
        f[..n].copy_from_slice(&s[..n]);
        f
    }
}

pub const ARCH_SET_GS: i32 = 0x1001;
pub const ARCH_SET_FS: i32 = 0x1002;
pub const ARCH_GET_FS: i32 = 0x1003;
pub const ARCH_GET_GS: i32 = 0x1004;
pub const ARCH_GET_CPUID: i32 = 0x1011;
pub const ARCH_SET_CPUID: i32 = 0x1012;
