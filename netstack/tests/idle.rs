//! An idle stack sleeps: the timer thread waits for smoltcp's next deadline, never spins, even
//! with full buffers (zero window), a listener, and a half-closed connection. Alone in its test
//! binary so the CPU time measured is this stack's.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::*;
use netstack::{Family, Shutdown, Stack};

/// utime + stime of this process, in clock ticks (proc(5): fields 14 and 15).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command name, field 3 is at index 0: utime (14) is index 11, stime index 12.
    f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0)
}

#[test]
fn idle_stack_does_not_spin() {
    let stack = Stack::new_loopback().expect("stack");
    let l = stack.tcp_socket(Family::V4);
    l.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .expect("bind");
    l.listen(8).expect("listen");
    // A connection whose receiver never reads: the sender's buffer fills, the window closes.
    let c = stack.tcp_socket(Family::V4);
    connect(&c, l.local_addr()).expect("connect");
    let (_s, _) = accept(&l);
    let big = vec![0u8; 1 << 20];
    while c.send(&big).is_ok() {}
    // A half-closed connection.
    let h = stack.tcp_socket(Family::V4);
    connect(&h, l.local_addr()).expect("connect");
    let (_hs, _) = accept(&l);
    h.shutdown(Shutdown::Write).expect("shutdown");
    // A UDP socket with a queued datagram.
    let u = stack.udp_socket(Family::V4);
    u.send_to(b"x", Some(l.local_addr())).expect("udp");
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks() - before;
    // 100 ticks a second: allow 10% of one core.
    assert!(used <= 10, "idle stack used {used} ticks in 1 s");
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn dropped_stacks_end_their_timer_threads() {
    let before = threads();
    for _ in 0..20 {
        let stack = Stack::new_loopback().expect("stack");
        let l = stack.tcp_socket(Family::V4);
        l.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
            .expect("bind");
        l.listen(1).expect("listen");
        let c = stack.tcp_socket(Family::V4);
        connect(&c, l.local_addr()).expect("connect");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    // The other test in this binary may hold a thread or two of its own.
    while threads() > before + 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} threads left",
            threads()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
