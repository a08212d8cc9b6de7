//! The host side of an Ethernet interface: one AF_PACKET socket (packet(7)) bound to the
//! container's interface in its network namespace, moving whole Ethernet frames. This is the
//! only host socket the stack uses; the host kernel never sees the sandbox's TCP or UDP
//! sockets, only frames.
//!
//! What it owns: the socket fd (shared by the stack, which sends under its lock, and the
//! interface's receive thread, which waits for frames without it). Received frames carry
//! the kernel's checksum status (`PACKET_AUXDATA`): a frame the host produced itself (from
//! the bridge, with checksum offload) has only a partial transport checksum, and one the
//! kernel already verified need not be verified again; [`Frame::csum_trusted`] says so.
//! Frames this socket sent are not received back (`PACKET_IGNORE_OUTGOING`, and the
//! `PACKET_OUTGOING` type is dropped as well for older kernels).
//!
//! Neighbours: `ether.rs` (ARP, framing, checksums) calls [`PacketSocket::send`] and
//! [`PacketSocket::recv`]; the runtime opens the socket with [`PacketSocket::open`] in the
//! container's namespace and hands it to [`crate::Stack::attach_ethernet`]. No locks here.
//!
//! The crate forbids unsafe code except in this module, whose `unsafe` blocks are the libc
//! calls with the buffers and structures they are given.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use abi::Errno;

/// `SOL_PACKET` (include/linux/socket.h).
const SOL_PACKET: i32 = 263;
/// `PACKET_AUXDATA` (include/uapi/linux/if_packet.h).
const PACKET_AUXDATA: i32 = 8;
/// `PACKET_IGNORE_OUTGOING` (Linux 4.20).
const PACKET_IGNORE_OUTGOING: i32 = 23;
/// `TP_STATUS_CSUMNOTREADY`: the transport checksum is partial (offloaded, not computed).
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
/// `TP_STATUS_CSUM_VALID`: the kernel (or the NIC) verified the transport checksum.
const TP_STATUS_CSUM_VALID: u32 = 1 << 7;
/// `PACKET_OUTGOING` (`sll_pkttype` of a frame this host sent).
const PACKET_OUTGOING: u8 = 4;
/// `ETH_P_ALL`.
const ETH_P_ALL: u16 = 0x0003;
/// Socket buffer size asked for in each direction (bursts of a fast TCP stream).
const SOCKET_BUFFER: i32 = 4 << 20;

/// A received frame's length and checksum status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Bytes of the frame in the caller's buffer.
    pub len: usize,
    /// The transport checksum need not be verified (partial from the host, or verified).
    pub csum_trusted: bool,
}

/// An AF_PACKET socket bound to one interface.
#[derive(Clone, Debug)]
pub struct PacketSocket {
    fd: Arc<OwnedFd>,
}

fn last_errno() -> Errno {
    let n = std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO);
    Errno::from_raw(u16::try_from(n).unwrap_or(5))
}

fn setsockopt_int(fd: i32, level: i32, name: i32, v: i32) -> Result<(), Errno> {
    // SAFETY: `v` is a live i32 and the length passed is its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if r < 0 { Err(last_errno()) } else { Ok(()) }
}

impl PacketSocket {
    /// A non-blocking packet socket on the interface with index `ifindex` of the calling
    /// thread's network namespace, receiving every protocol. Needs CAP_NET_RAW there.
    pub fn open(ifindex: u32) -> Result<PacketSocket, Errno> {
        let proto = i32::from(ETH_P_ALL.to_be());
        // SAFETY: plain socket(2); the result is checked and owned below.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                proto,
            )
        };
        if raw < 0 {
            return Err(last_errno());
        }
        // SAFETY: `raw` is a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let ifindex_c = i32::try_from(ifindex).map_err(|_| Errno::EINVAL)?;
        // SAFETY: an all-zero sockaddr_ll is valid; the fields are set below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = ifindex_c;
        // SAFETY: `sll` is a live sockaddr_ll and its size is passed.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(last_errno());
        }
        setsockopt_int(fd.as_raw_fd(), SOL_PACKET, PACKET_AUXDATA, 1)?;
        // Older kernels lack it; outgoing frames are then dropped by type in `recv`.
        let _ = setsockopt_int(fd.as_raw_fd(), SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
        for (force, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            if setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, force, SOCKET_BUFFER).is_err() {
                let _ = setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, plain, SOCKET_BUFFER);
            }
        }
        Ok(PacketSocket { fd: Arc::new(fd) })
    }

    /// Sends one frame without blocking. `EAGAIN`/`ENOBUFS` when the host queue is full (the
    /// frame is dropped, as a full NIC queue would drop it).
    pub fn send(&self, frame: &[u8]) -> Result<(), Errno> {
        // SAFETY: `frame` is a live slice of the length passed.
        let r = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if r < 0 { Err(last_errno()) } else { Ok(()) }
    }

    /// Receives one frame into `buf` without blocking: `None` when none is queued. Frames that
    /// do not fit `buf`, and frames this host sent, are skipped.
    pub fn recv(&self, buf: &mut [u8]) -> Result<Option<Frame>, Errno> {
        loop {
            // SAFETY: all-zero sockaddr_ll and cmsg space are valid initial values.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut cmsg = [0u64; 8];
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cmsg.as_mut_ptr().cast();
            msg.msg_controllen = size_of_val(&cmsg);
            // SAFETY: `msg` describes live buffers of the sizes given.
            let n = unsafe {
                libc::recvmsg(
                    self.fd.as_raw_fd(),
                    &mut msg,
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = last_errno();
                return if e == Errno::EAGAIN { Ok(None) } else { Err(e) };
            }
            let len = usize::try_from(n).unwrap_or(0);
            if len > buf.len() || from.sll_pkttype == PACKET_OUTGOING {
                continue;
            }
            let mut status = 0u32;
            // SAFETY: the CMSG_* walk stays inside `msg.msg_control`, which the kernel filled
            // up to `msg_controllen`; the auxdata payload is read unaligned.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    if (*c).cmsg_level == SOL_PACKET && (*c).cmsg_type == PACKET_AUXDATA {
                        let aux: libc::tpacket_auxdata =
                            std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                        status = aux.tp_status;
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
            }
            return Ok(Some(Frame {
                len,
                csum_trusted: status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID) != 0,
            }));
        }
    }

    /// Waits until a frame may be readable or `timeout_ms` passed; `true` if readable.
    pub fn wait_readable(&self, timeout_ms: i32) -> bool {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        r > 0 && p.revents & libc::POLLIN != 0
    }
}
