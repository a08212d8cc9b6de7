//! In-process loopback TCP throughput: one connection, 64 MiB, prints MB/s.
//! `cargo run --release -p netstack --example throughput [MiB] [--host]`; `--host` runs the
//! same transfer over the host kernel's loopback (std::net) as the reference (what runc gets).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use abi::Errno;
use netstack::{Family, Stack, TcpSocket};
use vfs::waiter::{EventMask, Waiter, WakeReason};

fn block<T>(s: &TcpSocket, mask: EventMask, mut op: impl FnMut() -> Result<T, Errno>) -> T {
    let w = Waiter::new();
    let _r = s.wait_queue().register(w.clone(), mask);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        w.prepare();
        match op() {
            Err(e) if e == Errno::EAGAIN || e == Errno::EINPROGRESS || e == Errno::EALREADY => {}
            Ok(v) => return v,
            Err(e) => panic!("socket error {e:?}"),
        }
        assert_ne!(w.wait(Some(deadline)), WakeReason::TimedOut, "stalled");
    }
}

/// The reference: the same transfer through the host kernel.
fn host(total: usize) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let sender = thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        let chunk = vec![0x5au8; 128 * 1024];
        let mut left = total;
        while left > 0 {
            let n = left.min(chunk.len());
            s.write_all(&chunk[..n]).expect("write");
            left -= n;
        }
    });
    let (mut c, _) = l.accept().expect("accept");
    let start = Instant::now();
    let mut buf = vec![0u8; 128 * 1024];
    let mut got = 0;
    loop {
        let n = c.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        got += n;
    }
    let secs = start.elapsed().as_secs_f64();
    sender.join().expect("sender");
    println!(
        "host kernel loopback TCP: {} MiB in {:.3} s = {:.1} MB/s",
        got >> 20,
        secs,
        got as f64 / secs / 1e6
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mib: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(64);
    let total = mib << 20;
    if args.iter().any(|a| a == "--host") {
        host(total);
        return;
    }
    if args.iter().any(|a| a == "--rr") {
        rr();
        return;
    }
    let stack = Stack::new_loopback().expect("stack");
    let l = stack.tcp_socket(Family::V4);
    l.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .expect("bind");
    l.listen(1).expect("listen");
    let addr = l.local_addr();
    let sender = {
        let stack = stack.clone();
        thread::spawn(move || {
            let s = stack.tcp_socket(Family::V4);
            block(&s, EventMask::OUT, || s.connect(addr));
            let chunk = vec![0x5au8; 128 * 1024];
            let mut left = total;
            while left > 0 {
                let n = left.min(chunk.len());
                let sent = block(&s, EventMask::OUT, || s.send(&chunk[..n]));
                left -= sent;
            }
        })
    };
    let (c, _) = block(&l, EventMask::IN, || l.accept());
    let start = Instant::now();
    let mut buf = vec![0u8; 128 * 1024];
    let mut got = 0;
    loop {
        let n = block(&c, EventMask::IN, || c.recv(&mut buf, false));
        if n == 0 {
            break;
        }
        got += n;
        if got >= total {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    sender.join().expect("sender");
    println!(
        "netstack loopback TCP: {} MiB in {:.3} s = {:.1} MB/s",
        got >> 20,
        secs,
        got as f64 / secs / 1e6
    );
}

/// Request/response: 100-byte request, 100-byte reply, 2000 round trips (the pattern of an
/// HTTP server under load), to show no delayed-ACK/Nagle stalls.
fn rr() {
    const ROUNDS: usize = 2000;
    let stack = Stack::new_loopback().expect("stack");
    let l = stack.tcp_socket(Family::V4);
    l.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .expect("bind");
    l.listen(1).expect("listen");
    let addr = l.local_addr();
    let client = {
        let stack = stack.clone();
        thread::spawn(move || {
            let s = stack.tcp_socket(Family::V4);
            block(&s, EventMask::OUT, || s.connect(addr));
            let req = [1u8; 100];
            let mut buf = [0u8; 100];
            let start = Instant::now();
            for _ in 0..ROUNDS {
                let mut off = 0;
                while off < req.len() {
                    off += block(&s, EventMask::OUT, || s.send(&req[off..]));
                }
                let mut got = 0;
                while got < buf.len() {
                    got += block(&s, EventMask::IN, || s.recv(&mut buf[got..], false));
                }
            }
            start.elapsed()
        })
    };
    let (c, _) = block(&l, EventMask::IN, || l.accept());
    let mut buf = [0u8; 100];
    for _ in 0..ROUNDS {
        let mut got = 0;
        while got < buf.len() {
            got += block(&c, EventMask::IN, || c.recv(&mut buf[got..], false));
        }
        let mut off = 0;
        while off < buf.len() {
            off += block(&c, EventMask::OUT, || c.send(&buf[off..]));
        }
    }
    let t = client.join().expect("client");
    println!(
        "netstack loopback TCP request/response: {ROUNDS} round trips in {:.3} s = {:.0}/s",
        t.as_secs_f64(),
        ROUNDS as f64 / t.as_secs_f64()
    );
}
