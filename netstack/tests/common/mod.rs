//! Blocking helpers over the non-blocking API, as the sentry will block: register on the
//! socket's wait queue, retry the operation, sleep until notified. Every wait is bounded.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use abi::Errno;
use netstack::{TcpSocket, UdpSocket};
use vfs::waiter::{EventMask, WaitQueue, Waiter, WakeReason};

/// How long any single blocking step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(30);

/// Retries `op` while it would block (EAGAIN, EINPROGRESS, EALREADY), sleeping on `q`.
pub fn block<T>(
    q: &WaitQueue,
    mask: EventMask,
    mut op: impl FnMut() -> Result<T, Errno>,
) -> Result<T, Errno> {
    let w = Waiter::new();
    let _r = q.register(w.clone(), mask);
    let deadline = Instant::now() + STEP;
    loop {
        w.prepare();
        match op() {
            Err(e) if e == Errno::EAGAIN || e == Errno::EINPROGRESS || e == Errno::EALREADY => {}
            r => return r,
        }
        assert_ne!(
            w.wait(Some(deadline)),
            WakeReason::TimedOut,
            "blocked too long"
        );
    }
}

pub fn connect(s: &TcpSocket, addr: std::net::SocketAddr) -> Result<(), Errno> {
    block(s.wait_queue(), EventMask::OUT, || s.connect(addr))
}

pub fn accept(l: &TcpSocket) -> (TcpSocket, std::net::SocketAddr) {
    block(l.wait_queue(), EventMask::IN, || l.accept()).expect("accept")
}

pub fn send_all(s: &TcpSocket, mut buf: &[u8]) {
    while !buf.is_empty() {
        let n = block(s.wait_queue(), EventMask::OUT, || s.send(buf)).expect("send");
        buf = &buf[n..];
    }
}

/// Reads until `buf` is full or EOF; returns the bytes read.
pub fn recv_exact(s: &TcpSocket, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        let n = block(s.wait_queue(), EventMask::IN, || {
            s.recv(&mut buf[got..], false)
        })
        .expect("recv");
        if n == 0 {
            break;
        }
        got += n;
    }
    got
}

pub fn recv(s: &TcpSocket, buf: &mut [u8]) -> Result<usize, Errno> {
    block(s.wait_queue(), EventMask::IN, || s.recv(buf, false))
}

pub fn udp_recv(s: &UdpSocket, buf: &mut [u8], peek: bool) -> netstack::RecvMeta {
    block(s.wait_queue(), EventMask::IN, || s.recv_from(buf, peek)).expect("recv_from")
}

/// FNV-1a over a byte stream.
#[derive(Debug)]
pub struct Fnv(pub u64);

impl Fnv {
    pub fn new() -> Fnv {
        Fnv(0xcbf29ce484222325)
    }
    pub fn update(&mut self, data: &[u8]) {
        for b in data {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
}

/// Deterministic test data.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 8) as u8))
        .collect()
}
