//! The kind of a stall does not depend on how busy the machine is: a busy loop is `cpu-bound`
//! and a sleep, a mutex wait or a socket read is `blocking`, with no other load, with every
//! core busy, and with twice as many busy threads as cores. And a poll that spends most of its
//! time waiting for a CPU other threads hold is not blamed at all. The tests make the load
//! themselves, one at a time. (Their own binary: the load would disturb the timing of other
//! tests.)
#![cfg(all(feature = "tokio", target_os = "linux"))]

mod support;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pollwatch::{Builder, DebugMode, async_timed, targets};
use support::{Captured, busy_loop, capture, unrouted};

const BLOCK: Duration = Duration::from_millis(500);

/// `n` threads spinning until dropped: other work competing for every core.
struct Hogs(Vec<JoinHandle<()>>, Arc<AtomicBool>);

fn hogs(n: usize) -> Hogs {
    let stop = Arc::new(AtomicBool::new(false));
    let threads = (0..n)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    std::hint::black_box(0u64);
                }
            })
        })
        .collect();
    Hogs(threads, stop)
}

impl Drop for Hogs {
    fn drop(&mut self) {
        self.1.store(true, Relaxed);
        for t in self.0.drain(..) {
            let _ = t.join();
        }
    }
}

#[async_timed]
async fn spins() {
    busy_loop(BLOCK);
}

#[async_timed]
async fn sleeps() {
    std::thread::sleep(BLOCK);
}

#[async_timed]
async fn waits_on_a_mutex(lock: Arc<Mutex<()>>) {
    drop(lock.lock().unwrap());
}

#[async_timed]
async fn reads_a_socket(mut stream: TcpStream) {
    let mut byte = [0u8; 1];
    let _ = stream.read(&mut byte);
}

/// The first stall report of `name` after `since`.
fn first_stall(name: &str, since: Instant) -> Option<Captured> {
    unrouted()
        .of_fn(targets::STALL, name)
        .into_iter()
        .find(|e| e.at >= since && e.field("report") == Some("1"))
}

/// One test at a time: each loads the machine. Debug mode on, a 100 ms threshold.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let _ = unrouted();
    support::config()
        .debug_mode(DebugMode::On)
        .slow_poll(Duration::from_millis(100))
        .apply();
    serial
}

#[test]
fn the_kind_holds_at_0_100_and_200_percent_extra_load() {
    let _serial = one_at_a_time();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = Builder::new_current_thread().build().unwrap();
    let mut wrong = Vec::new();
    for extra in [0, cores, 2 * cores] {
        let _load = hogs(extra);
        let since = Instant::now();
        let ((), _) = capture(|| {
            rt.block_on(async {
                spins().await;
                sleeps().await;
                // Another thread holds the mutex for `BLOCK`.
                let lock = Arc::new(Mutex::new(()));
                let holder = {
                    let lock = lock.clone();
                    let (tx, rx) = std::sync::mpsc::channel();
                    let t = std::thread::spawn(move || {
                        let _g = lock.lock().unwrap();
                        tx.send(()).unwrap();
                        std::thread::sleep(BLOCK);
                    });
                    rx.recv().unwrap();
                    t
                };
                waits_on_a_mutex(lock).await;
                holder.join().unwrap();
                // The socket's peer writes after `BLOCK`.
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let writer = std::thread::spawn(move || {
                    let mut peer = TcpStream::connect(addr).unwrap();
                    std::thread::sleep(BLOCK);
                    let _ = peer.write_all(b"x");
                });
                let (stream, _) = listener.accept().unwrap();
                reads_a_socket(stream).await;
                writer.join().unwrap();
            })
        });
        for (name, expected) in [
            ("spins", "cpu-bound"),
            ("sleeps", "blocking"),
            ("waits_on_a_mutex", "blocking"),
            ("reads_a_socket", "blocking"),
        ] {
            let kind = support::eventually(&format!("{name}'s stall at +{extra}"), || {
                first_stall(name, since).map(|e| e.get("kind").to_owned())
            });
            if kind != expected {
                wrong.push(format!(
                    "{name} with {extra} busy threads: {kind}, not {expected}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Spins until this thread has had `cpu` of CPU time, however long that takes; its wall time.
#[async_timed]
async fn shares_its_cpu(cpu: Duration) -> Duration {
    let start = Instant::now();
    let used = || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    };
    let before = used();
    while used() - before < cpu {
        std::hint::black_box(0u64);
    }
    start.elapsed()
}

/// The calling thread's CPU affinity, and a mask of its first CPU alone.
fn affinity() -> Option<(libc::cpu_set_t, libc::cpu_set_t)> {
    // SAFETY: plain bitmasks the kernel reads and writes; 0 is the calling thread.
    unsafe {
        let mut all: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut all) != 0 {
            return None;
        }
        let cpu = (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &all))?;
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        Some((all, one))
    }
}

fn set_affinity(set: &libc::cpu_set_t) -> bool {
    // SAFETY: `set` is a valid mask; 0 is the calling thread.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) == 0 }
}

#[test]
fn a_poll_starved_of_its_cpu_by_other_threads_is_not_blamed() {
    let _serial = one_at_a_time();
    let rt = Builder::new_current_thread().build().unwrap();
    // This thread and five busy ones on one CPU: the poll gets about a sixth of it.
    let Some((all, one)) = affinity() else {
        panic!("sched_getaffinity failed");
    };
    assert!(set_affinity(&one), "sched_setaffinity failed");
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..5)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                assert!(set_affinity(&one));
                while !stop.load(Relaxed) {
                    std::hint::black_box(0u64);
                }
            })
        })
        .collect();
    // Let the busy threads take their places.
    std::thread::sleep(Duration::from_millis(50));
    let (wall, events) = capture(|| rt.block_on(shares_its_cpu(Duration::from_millis(25))));
    stop.store(true, Relaxed);
    for t in load {
        t.join().unwrap();
    }
    set_affinity(&all);
    // Long past the threshold on the wall clock: only the starvation rule keeps it quiet.
    assert!(wall >= Duration::from_millis(120), "not starved: {wall:?}");
    // No slow poll: nothing a `#[pollwatch::test]` fails for. (The watchdog may have reported
    // it as a stall while it ran: it goes by wall time then.)
    let slow = events.of_fn(targets::SLOW_POLL, "shares_its_cpu");
    assert!(slow.is_empty(), "{wall:?}: {slow:#?}");
}
