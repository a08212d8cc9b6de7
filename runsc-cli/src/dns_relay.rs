//! Docker's embedded DNS server for the sandbox: on a user-defined network, Docker writes
//! `nameserver 127.0.0.11` into the container's resolv.conf and serves that address from
//! dockerd, on the *host* loopback of the container's network namespace (iptables DNAT in
//! that namespace's OUTPUT chain sends port 53 to dockerd's real ports). The sandbox has its
//! own loopback, so a query from the app would never reach it. This relay closes the gap:
//!
//! * the sandbox's stack gets 127.0.0.11 on its `lo`, and a relay socket of the stack is
//!   bound to 127.0.0.11:53/udp;
//! * each query read there is sent, with its DNS transaction id rewritten to one of ours,
//!   through one host UDP socket connected to 127.0.0.11:53 in the container's namespace
//!   (the runtime's only host socket that carries app bytes, and it can reach only that
//!   address);
//! * each answer gets its id back and goes to the app's address from the stack's socket.
//!
//! Enabled only when the namespace has a resolver on 127.0.0.11 (a socket bound there in
//! /proc/net/udp, which is dockerd's). Two threads: `dns-relay-in` (stack → host) and
//! `dns-relay-out` (host → stack). The id map is their one shared lock (a leaf).
//! Shortcuts: UDP only (a truncated answer makes the resolver retry over TCP, which is not
//! relayed: EDNS0 answers up to the buffer size still work); at most 65536 queries in flight,
//! an unanswered one forgotten after 10 s.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use netstack::{Family, Stack, UdpSocket};
use vfs::waiter::{EventMask, Waiter};

/// Docker's embedded resolver address.
pub const DOCKER_DNS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// How long an unanswered query's id stays mapped.
const QUERY_TTL: Duration = Duration::from_secs(10);

/// Whether the calling thread's network namespace has a UDP socket bound to 127.0.0.11 (the
/// embedded DNS server of dockerd).
pub fn docker_dns_present() -> bool {
    // /proc/self/net is the reading thread's namespace; addresses are little-endian hex.
    let want = format!("{:08X}:", u32::from_le_bytes(DOCKER_DNS.octets()));
    std::fs::read_to_string("/proc/thread-self/net/udp")
        .map(|t| {
            t.lines().skip(1).any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|a| a.starts_with(&want))
            })
        })
        .unwrap_or(false)
}

struct Pending {
    orig_id: u16,
    from: SocketAddr,
    at: Instant,
}

/// Starts the relay for `stack` (see the module doc).
pub fn start(stack: &Arc<Stack>) -> anyhow::Result<()> {
    stack
        .add_loopback_address(DOCKER_DNS)
        .map_err(|e| anyhow::anyhow!("adding {DOCKER_DNS} to the sandbox's lo: {e}"))?;
    let inside = stack.udp_socket(Family::V4);
    inside
        .bind(SocketAddr::new(IpAddr::V4(DOCKER_DNS), 53))
        .map_err(|e| anyhow::anyhow!("binding the sandbox's {DOCKER_DNS}:53: {e}"))?;
    let host = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|h| h.connect((DOCKER_DNS, 53)).map(|()| h))
        .context("opening the host socket to Docker's DNS server")?;
    let inside = Arc::new(inside);
    let map: Arc<Mutex<HashMap<u16, Pending>>> = Arc::default();
    let host_out = host
        .try_clone()
        .context("duplicating the DNS relay socket")?;
    {
        let (inside, map) = (Arc::clone(&inside), Arc::clone(&map));
        std::thread::Builder::new()
            .name("dns-relay-in".into())
            .spawn(move || relay_in(&inside, &host_out, &map))
            .context("starting the DNS relay")?;
    }
    std::thread::Builder::new()
        .name("dns-relay-out".into())
        .spawn(move || relay_out(&inside, &host, &map))
        .context("starting the DNS relay")?;
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Queries from the app: rewrite the id and send them to the host resolver.
fn relay_in(inside: &UdpSocket, host: &std::net::UdpSocket, map: &Mutex<HashMap<u16, Pending>>) {
    let w = Waiter::new();
    let _reg = inside.wait_queue().register(w.clone(), EventMask::IN);
    let mut buf = vec![0u8; 65536];
    let mut next: u16 = std::process::id() as u16;
    loop {
        w.prepare();
        match inside.recv_from(&mut buf, false) {
            Ok(m) => {
                let Some(q) = buf.get_mut(..m.copied).filter(|q| q.len() >= 12) else {
                    continue;
                };
                let orig_id = u16::from_be_bytes([q[0], q[1]]);
                let id = {
                    let mut map = lock(map);
                    let now = Instant::now();
                    map.retain(|_, p| now.duration_since(p.at) < QUERY_TTL);
                    if map.len() >= usize::from(u16::MAX) {
                        continue;
                    }
                    while map.contains_key(&next) {
                        next = next.wrapping_add(1);
                    }
                    let id = next;
                    next = next.wrapping_add(1);
                    map.insert(
                        id,
                        Pending {
                            orig_id,
                            from: m.from,
                            at: now,
                        },
                    );
                    id
                };
                q[..2].copy_from_slice(&id.to_be_bytes());
                if let Err(e) = host.send(q) {
                    tracing::debug!(error = %e, "DNS relay: query not sent");
                }
            }
            Err(e) if e == abi::Errno::EAGAIN => {
                w.wait(None);
            }
            Err(e) => {
                tracing::warn!(error = %e, "DNS relay stopped");
                return;
            }
        }
    }
}

/// Answers from the host resolver: restore the id and send them to the asking app socket.
fn relay_out(inside: &UdpSocket, host: &std::net::UdpSocket, map: &Mutex<HashMap<u16, Pending>>) {
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match host.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // ECONNREFUSED: dockerd's resolver went away for a moment (an ICMP error).
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(e) => {
                tracing::warn!(error = %e, "DNS relay stopped");
                return;
            }
        };
        let Some(a) = buf.get_mut(..n).filter(|a| a.len() >= 12) else {
            continue;
        };
        let id = u16::from_be_bytes([a[0], a[1]]);
        let Some(p) = lock(map).remove(&id) else {
            continue;
        };
        a[..2].copy_from_slice(&p.orig_id.to_be_bytes());
        let _ = inside.send_to(a, Some(p.from));
    }
}
