//! A static multi-threaded program whose output must be the same natively and in the sandbox:
//! 8 threads, mutexes, condvars, channels, thread-local storage, a panic caught in a thread,
//! and std::process::Command (fork/exec + pipes + wait).
use std::cell::Cell;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

thread_local! {
    static MINE: Cell<u64> = const { Cell::new(0) };
}

fn main() {
    // Mutex + 8 threads.
    let total = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..8u64)
        .map(|i| {
            let total = Arc::clone(&total);
            thread::spawn(move || {
                MINE.with(|m| m.set(i * 1000));
                for _ in 0..10_000 {
                    *total.lock().unwrap() += 1;
                }
                MINE.with(|m| m.get())
            })
        })
        .collect();
    let tls: Vec<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    println!("mutex total {}", *total.lock().unwrap());
    println!("thread-locals {tls:?}");

    // Condvar ping-pong.
    let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
    let p2 = Arc::clone(&pair);
    let h = thread::spawn(move || {
        let (m, cv) = &*p2;
        for want in (1..100).step_by(2) {
            let mut v = m.lock().unwrap();
            while *v != want {
                v = cv.wait(v).unwrap();
            }
            *v += 1;
            cv.notify_all();
        }
    });
    {
        let (m, cv) = &*pair;
        for want in (0..100).step_by(2) {
            let mut v = m.lock().unwrap();
            while *v != want {
                v = cv.wait(v).unwrap();
            }
            *v += 1;
            cv.notify_all();
        }
    }
    h.join().unwrap();
    println!("condvar reached {}", *pair.0.lock().unwrap());

    // Channels from 4 producers.
    let (tx, rx) = mpsc::channel();
    for p in 0..4u32 {
        let tx = tx.clone();
        thread::spawn(move || {
            for i in 0..250u32 {
                tx.send(p * 1000 + i).unwrap();
            }
        });
    }
    drop(tx);
    let mut got: Vec<u32> = rx.iter().collect();
    got.sort_unstable();
    println!("channel got {} values, sum {}", got.len(), got.iter().map(|&v| u64::from(v)).sum::<u64>());

    // A panic caught at join.
    std::panic::set_hook(Box::new(|_| {}));
    let r = thread::spawn(|| panic!("boom")).join();
    println!("panicking thread joined: {}", if r.is_err() { "Err" } else { "Ok" });

    // std::process::Command.
    let out = std::process::Command::new("/bin/busybox")
        .args(["sh", "-c", "echo from child; exit 3"])
        .output()
        .unwrap();
    println!("child said {:?}, status {:?}", String::from_utf8_lossy(&out.stdout), out.status.code());
}
