//! Capabilities (include/uapi/linux/capability.h): numbers, the capget/capset header and data
//! layouts, and the sets the sentry's credential rules use.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub const CAP_CHOWN: u32 = 0;
pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_FOWNER: u32 = 3;
pub const CAP_FSETID: u32 = 4;
pub const CAP_KILL: u32 = 5;
pub const CAP_SETGID: u32 = 6;
pub const CAP_SETUID: u32 = 7;
pub const CAP_SETPCAP: u32 = 8;
pub const CAP_LINUX_IMMUTABLE: u32 = 9;
pub const CAP_NET_BIND_SERVICE: u32 = 10;
pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;
pub const CAP_SYS_CHROOT: u32 = 18;
pub const CAP_SYS_PTRACE: u32 = 19;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_NICE: u32 = 23;
pub const CAP_SYS_RESOURCE: u32 = 24;
pub const CAP_MKNOD: u32 = 27;
pub const CAP_SETFCAP: u32 = 31;
pub const CAP_MAC_OVERRIDE: u32 = 32;
/// The highest capability number this kernel knows (CAP_CHECKPOINT_RESTORE).
pub const CAP_LAST_CAP: u32 = 40;

/// Every known capability.
pub const CAP_FULL_SET: u64 = (1 << (CAP_LAST_CAP + 1)) - 1;

/// Capability names by number, without the `CAP_` prefix (capabilities(7)).
pub const NAMES: [&str; CAP_LAST_CAP as usize + 1] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The number of the capability called `name` (`CAP_CHOWN` or `chown`, any case).
pub fn from_name(name: &str) -> Option<u32> {
    let bare = name
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("CAP_"))
        .map_or(name, |_| &name[4..]);
    NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(bare))
        .and_then(|i| u32::try_from(i).ok())
}

/// The bit of capability `cap` in a 64-bit set.
pub const fn bit(cap: u32) -> u64 {
    1 << cap
}

/// The capabilities dropped from the effective set when the filesystem uid leaves 0 (and
/// raised again from the permitted set when it returns): capabilities(7), "Effect of user ID
/// changes on capabilities".
pub const CAP_FS_MASK: u64 = bit(CAP_CHOWN)
    | bit(CAP_DAC_OVERRIDE)
    | bit(CAP_DAC_READ_SEARCH)
    | bit(CAP_FOWNER)
    | bit(CAP_FSETID)
    | bit(CAP_LINUX_IMMUTABLE)
    | bit(CAP_MAC_OVERRIDE)
    | bit(CAP_MKNOD);

/// capget/capset header versions.
pub const LINUX_CAPABILITY_VERSION_1: u32 = 0x1998_0330;
pub const LINUX_CAPABILITY_VERSION_2: u32 = 0x2007_1026;
pub const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CapHeader {
    pub version: u32,
    pub pid: i32,
}

/// `struct __user_cap_data_struct` (one per 32 capabilities; version 1 has one, 2 and 3 two).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CapData {
    pub effective: u32,
    pub permitted: u32,
    pub inheritable: u32,
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn names_match_numbers() {
        assert_eq!(from_name("CAP_CHOWN"), Some(CAP_CHOWN));
        assert_eq!(from_name("sys_admin"), Some(CAP_SYS_ADMIN));
        assert_eq!(from_name("CAP_MAC_OVERRIDE"), Some(CAP_MAC_OVERRIDE));
        assert_eq!(from_name("checkpoint_restore"), Some(CAP_LAST_CAP));
        assert_eq!(from_name("CAP_NOPE"), None);
        assert_eq!(NAMES[CAP_SETFCAP as usize], "SETFCAP");
    }
}
