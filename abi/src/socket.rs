//! Socket ABI: address families, types, flags, options and the structs of sendmsg/recvmsg
//! (include/linux/socket.h, include/uapi/asm-generic/socket.h, include/uapi/linux/un.h).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// AF_UNIX / AF_LOCAL.
pub const AF_UNIX: i32 = 1;
/// AF_INET.
pub const AF_INET: i32 = 2;
/// AF_INET6.
pub const AF_INET6: i32 = 10;
/// AF_NETLINK.
pub const AF_NETLINK: i32 = 16;

/// SOCK_STREAM.
pub const SOCK_STREAM: i32 = 1;
/// SOCK_DGRAM.
pub const SOCK_DGRAM: i32 = 2;
/// SOCK_SEQPACKET.
pub const SOCK_SEQPACKET: i32 = 5;
/// Mask of the type part of socket(2)'s `type` (include/linux/net.h SOCK_TYPE_MASK).
pub const SOCK_TYPE_MASK: i32 = 0xf;
/// SOCK_NONBLOCK (= O_NONBLOCK).
pub const SOCK_NONBLOCK: i32 = 0o4000;
/// SOCK_CLOEXEC (= O_CLOEXEC).
pub const SOCK_CLOEXEC: i32 = 0o2000000;

/// shutdown(2) `how`.
pub const SHUT_RD: i32 = 0;
pub const SHUT_WR: i32 = 1;
pub const SHUT_RDWR: i32 = 2;

/// Message flags (include/linux/socket.h).
pub const MSG_OOB: u32 = 0x1;
pub const MSG_PEEK: u32 = 0x2;
pub const MSG_CTRUNC: u32 = 0x8;
pub const MSG_TRUNC: u32 = 0x20;
pub const MSG_DONTWAIT: u32 = 0x40;
pub const MSG_EOR: u32 = 0x80;
pub const MSG_WAITALL: u32 = 0x100;
pub const MSG_NOSIGNAL: u32 = 0x4000;
pub const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;

/// SOL_SOCKET level and its options (include/uapi/asm-generic/socket.h).
pub const SOL_SOCKET: i32 = 1;
pub const SO_REUSEADDR: i32 = 2;
pub const SO_TYPE: i32 = 3;
pub const SO_ERROR: i32 = 4;
pub const SO_SNDBUF: i32 = 7;
pub const SO_RCVBUF: i32 = 8;
pub const SO_PASSCRED: i32 = 16;
pub const SO_RCVTIMEO: i32 = 20;
pub const SO_SNDTIMEO: i32 = 21;
pub const SO_PEERCRED: i32 = 17;
pub const SO_ACCEPTCONN: i32 = 30;
pub const SO_PROTOCOL: i32 = 38;
pub const SO_DOMAIN: i32 = 39;

/// Control message types at SOL_SOCKET.
pub const SCM_RIGHTS: i32 = 1;
pub const SCM_CREDENTIALS: i32 = 2;
/// Most descriptors one SCM_RIGHTS message may carry (include/net/scm.h SCM_MAX_FD).
pub const SCM_MAX_FD: usize = 253;

/// `sizeof(struct sockaddr_un)`: a 2-byte family and a 108-byte path.
pub const SOCKADDR_UN_SIZE: usize = 110;
/// `offsetof(struct sockaddr_un, sun_path)`.
pub const SUN_PATH_OFFSET: usize = 2;

/// `struct msghdr` for x86_64 (include/linux/socket.h `user_msghdr`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct MsgHdr {
    pub name: u64,
    pub namelen: u32,
    pub _pad0: u32,
    pub iov: u64,
    pub iovlen: u64,
    pub control: u64,
    pub controllen: u64,
    pub flags: u32,
    pub _pad1: u32,
}
const _: () = assert!(size_of::<MsgHdr>() == 56);

/// `struct cmsghdr` (include/linux/socket.h): the data follows, 8-byte aligned.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CmsgHdr {
    pub len: u64,
    pub level: i32,
    pub kind: i32,
}
pub const CMSG_HDR_SIZE: usize = 16;

/// CMSG_ALIGN: control data is aligned to `sizeof(long)`.
pub const fn cmsg_align(n: usize) -> usize {
    n.saturating_add(7) & !7
}

/// `struct ucred` (include/linux/socket.h): SO_PEERCRED and SCM_CREDENTIALS.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Ucred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}
