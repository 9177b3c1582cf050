//! The native stack of a thread blocked in a system call, captured without touching the thread.
//!
//! Signal-based capture (interrupt the worker, unwind in the handler) is what profilers do, but it
//! changes what the program does: `poll`, `epoll_wait`, `nanosleep`, timed futex waits and others
//! return `EINTR` even with `SA_RESTART`, and code that does not retry breaks. A thread blocked in
//! a system call, though, has a frozen stack, and Linux tells us where it is: the watchdog reads
//! the syscall, stack pointer and program counter from `/proc/self/task/<tid>/syscall`, copies
//! the stack with `process_vm_readv` (the kernel checks every address), keeps the words that are
//! return addresses (they point right after a call instruction in executable memory) and
//! symbolizes them. All of it runs on the watchdog thread. The scan is a heuristic: a stale
//! return address left in a live frame can add a frame, so the output says "approximately".
//!
//! A CPU-bound thread is not in a system call, so it has no stack to read this way.

use std::fmt::Write as _;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

use crate::record::{Blocked, Kind, Route, Stall};

/// Bytes of stack scanned above the stack pointer.
const SCAN_BYTES: usize = 64 * 1024;
/// Frames kept.
const MAX_FRAMES: usize = 12;

/// A blocked thread's syscall and the raw return addresses on its stack, captured quickly on the
/// watchdog thread; [`Raw::symbolize`] (slow) runs elsewhere.
#[derive(Debug)]
pub(crate) struct Raw {
    syscall: i64,
    addresses: Vec<u64>,
}

impl Raw {
    /// Resolves function names and source lines (the first call parses debug info).
    pub(crate) fn symbolize(&self) -> Blocked {
        let frames = symbolize(&self.addresses);
        let user_frame = frames.iter().find(|f| is_user_frame(f)).cloned();
        Blocked {
            syscall: syscall_name(self.syscall),
            frames,
            user_frame,
        }
    }
}

/// Reads what thread `tid` of this process is blocked in; `None` if it is running (not in a
/// system call) or anything is unavailable.
pub(crate) fn capture(tid: i64) -> Option<Raw> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    let mut parts = text.split_whitespace();
    // "running" when the thread is on CPU; -1 when it is blocked but not in a syscall.
    let nr: i64 = parts.next()?.parse().ok()?;
    if nr < 0 {
        return None;
    }
    let regs: Vec<u64> = parts.filter_map(hex).collect();
    let (&sp, &pc) = (regs.get(6)?, regs.get(7)?);
    let maps = Maps::read()?;
    let stack_end = maps.containing(sp)?.1;
    let len = usize::try_from(stack_end - sp).ok()?.min(SCAN_BYTES);
    let stack = read_memory(sp, len)?;

    let mut addresses = vec![pc];
    for word in stack.chunks_exact(8) {
        let Ok(bytes) = <[u8; 8]>::try_from(word) else {
            continue;
        };
        let addr = u64::from_ne_bytes(bytes);
        if maps.executable(addr) && is_return_address(addr) {
            addresses.push(addr);
        }
        if addresses.len() >= MAX_FRAMES * 4 {
            break;
        }
    }
    Some(Raw {
        syscall: nr,
        addresses,
    })
}

/// Native stacks of stalled threads, captured on the watchdog thread and symbolized and
/// reported by a thread of their own, started and stopped with the watchdog.
pub(crate) struct Stacks(Option<Symbolizer>);

/// Where the watchdog sends captured stacks, and the symbolizer thread to join.
type Symbolizer = (Sender<(Stall, Raw, Option<Route>)>, JoinHandle<()>);

impl Stacks {
    /// Starts the symbolizer thread (`Stacks` that show nothing if it cannot start).
    pub(crate) fn start() -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<(Stall, Raw, Option<Route>)>();
        let handle = std::thread::Builder::new()
            .name("pollwatch-syms".into())
            .spawn(move || {
                // Parse some debug info up front, so the first stack comes sooner.
                let here = Stacks::start as *const () as usize;
                backtrace::resolve(here as *mut std::ffi::c_void, |_| {});
                for (stall, raw, route) in rx {
                    // A panicking layer must not end the thread: later stalls still get stacks.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let blocked = raw.symbolize();
                        Route::run_or_here(route.as_ref(), move || {
                            crate::dispatch::stall_stack(&stall, &blocked);
                        });
                    }));
                }
            })
            .ok();
        Stacks(handle.map(|h| (tx, h)))
    }

    /// Captures what thread `tid` is blocked in and hands it to the symbolizer, to be reported
    /// after `stall`; `true` once that is done (or there is nothing to show).
    pub(crate) fn show(&self, tid: i64, kind: Kind, stall: &Stall, route: Option<Route>) -> bool {
        // A CPU-bound thread is not in a system call: there is no frozen stack to read.
        if kind == Kind::CpuBound || tid <= 0 {
            return false;
        }
        let (Some((tx, _)), Some(raw)) = (&self.0, capture(tid)) else {
            return false;
        };
        let _ = tx.send((stall.clone(), raw, route));
        true
    }

    /// Stops the symbolizer after the stacks already handed over.
    pub(crate) fn stop(self) {
        if let Some((tx, handle)) = self.0 {
            drop(tx);
            let _ = handle.join();
        }
    }
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// The process's mappings: `(start, end, executable)`.
struct Maps(Vec<(u64, u64, bool)>);

impl Maps {
    fn read() -> Option<Maps> {
        let text = std::fs::read_to_string("/proc/self/maps").ok()?;
        let ranges = text
            .lines()
            .filter_map(|line| {
                let mut f = line.split_whitespace();
                let (start, end) = f.next()?.split_once('-')?;
                let perms = f.next()?;
                Some((hex(start)?, hex(end)?, perms.contains('x')))
            })
            .collect();
        Some(Maps(ranges))
    }

    fn containing(&self, addr: u64) -> Option<(u64, u64)> {
        self.0
            .iter()
            .find(|(s, e, _)| (*s..*e).contains(&addr))
            .map(|(s, e, _)| (*s, *e))
    }

    fn executable(&self, addr: u64) -> bool {
        self.0
            .iter()
            .any(|(s, e, x)| *x && (*s..*e).contains(&addr))
    }
}

/// Copies `len` bytes at `addr` of this process; the kernel validates the range, so a bad
/// address is an error, never a fault.
fn read_memory(addr: u64, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: usize::try_from(addr).ok()? as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: `local` describes our own buffer of `len` bytes; `remote` is only read, by the
    // kernel, which checks it.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    let n = usize::try_from(n).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Whether the instruction before `addr` is a call (so `addr` is a return address).
#[cfg(target_arch = "x86_64")]
fn is_return_address(addr: u64) -> bool {
    let Some(b) = addr.checked_sub(7).and_then(|a| read_memory(a, 7)) else {
        return false;
    };
    if b.len() != 7 {
        return false;
    }
    let modrm_is_call = |m: u8| m & 0x38 == 0x10; // FF /2
    b[2] == 0xE8 // call rel32
        || b[5] == 0xFF && modrm_is_call(b[6]) && b[6] & 0xC0 == 0xC0 // call reg
        || b[4] == 0xFF && modrm_is_call(b[5]) // call [reg+disp8] / [sib]
        || b[1] == 0xFF && modrm_is_call(b[2]) // call [rip+disp32] / [reg+disp32]
        || b[0] == 0xFF && modrm_is_call(b[1]) // call [sib+disp32]
}

#[cfg(target_arch = "aarch64")]
fn is_return_address(addr: u64) -> bool {
    let Some(b) = addr.checked_sub(4).and_then(|a| read_memory(a, 4)) else {
        return false;
    };
    let Ok(bytes) = <[u8; 4]>::try_from(b.as_slice()) else {
        return false;
    };
    let insn = u32::from_le_bytes(bytes);
    insn & 0xFC00_0000 == 0x9400_0000 // BL
        || insn & 0xFFFF_FC1F == 0xD63F_0000 // BLR
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn is_return_address(_addr: u64) -> bool {
    false
}

fn symbolize(addresses: &[u64]) -> Vec<String> {
    let cwd = std::env::current_dir().ok();
    let mut frames: Vec<String> = Vec::new();
    for (i, &addr) in addresses.iter().enumerate() {
        // A return address points after the call; look up the call itself (not for the PC).
        let lookup = if i == 0 { addr } else { addr.saturating_sub(1) };
        let Ok(lookup) = usize::try_from(lookup) else {
            continue;
        };
        backtrace::resolve(lookup as *mut std::ffi::c_void, |sym| {
            let Some(name) = sym.name() else { return };
            let mut frame = format!("{name:#}");
            if let (Some(file), Some(line)) = (sym.filename(), sym.lineno()) {
                let file = cwd
                    .as_deref()
                    .and_then(|cwd| file.strip_prefix(cwd).ok())
                    .unwrap_or(file);
                let _ = write!(frame, " ({}:{line})", file.display());
            }
            if frames.last() != Some(&frame) {
                frames.push(frame);
            }
        });
        if frames.len() >= MAX_FRAMES {
            break;
        }
    }
    frames.truncate(MAX_FRAMES);
    frames
}

/// A frame in a Rust file outside the toolchain and the registry: the user's code.
fn is_user_frame(frame: &str) -> bool {
    let Some(open) = frame.rfind(" (") else {
        return false;
    };
    let file = &frame[open + 2..];
    file.contains(".rs:")
        && !(file.starts_with('/')
            || file.starts_with("./")
            || file.contains("/rustc/")
            || file.starts_with("library/")
            || file.contains(".cargo/registry"))
}

fn syscall_name(nr: i64) -> String {
    #[cfg(target_arch = "x86_64")]
    const NAMES: &[(i64, &str)] = &[
        (0, "read"),
        (1, "write"),
        (7, "poll"),
        (17, "pread64"),
        (18, "pwrite64"),
        (23, "select"),
        (35, "nanosleep"),
        (42, "connect"),
        (43, "accept"),
        (45, "recvfrom"),
        (47, "recvmsg"),
        (61, "wait4"),
        (74, "fsync"),
        (202, "futex"),
        (230, "clock_nanosleep"),
        (232, "epoll_wait"),
        (257, "openat"),
        (270, "pselect6"),
        (271, "ppoll"),
        (281, "epoll_pwait"),
        (288, "accept4"),
    ];
    #[cfg(target_arch = "aarch64")]
    const NAMES: &[(i64, &str)] = &[
        (22, "epoll_pwait"),
        (56, "openat"),
        (63, "read"),
        (64, "write"),
        (67, "pread64"),
        (68, "pwrite64"),
        (72, "pselect6"),
        (73, "ppoll"),
        (82, "fsync"),
        (98, "futex"),
        (101, "nanosleep"),
        (115, "clock_nanosleep"),
        (202, "accept"),
        (203, "connect"),
        (207, "recvfrom"),
        (212, "recvmsg"),
        (242, "accept4"),
        (260, "wait4"),
    ];
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const NAMES: &[(i64, &str)] = &[];
    NAMES
        .iter()
        .find(|(n, _)| *n == nr)
        .map_or_else(|| format!("syscall {nr}"), |(_, name)| (*name).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_sleeping_thread_is_seen_in_its_syscall_with_its_caller() {
        let (tx, rx) = std::sync::mpsc::channel();
        let sleeper = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::gettid() }).unwrap();
            sleeping_here();
        });
        let tid = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let blocked = capture(i64::from(tid))
            .expect("the thread is in a syscall")
            .symbolize();
        sleeper.join().unwrap();
        assert!(blocked.syscall.contains("sleep"), "{blocked:?}");
        assert!(
            blocked.frames.iter().any(|f| f.contains("sleeping_here")),
            "{blocked:?}"
        );
        assert!(
            blocked
                .user_frame
                .as_deref()
                .is_some_and(|f| f.contains("src/detect/stacks.rs")),
            "{blocked:?}"
        );
    }

    #[inline(never)]
    fn sleeping_here() {
        std::thread::sleep(Duration::from_millis(400));
        std::hint::black_box(());
    }

    #[test]
    fn a_running_thread_has_no_syscall_stack() {
        // SAFETY: gettid has no preconditions.
        let me = i64::from(unsafe { libc::gettid() });
        // This thread is running (reading /proc), so there is nothing frozen to read.
        let _ = capture(me);
        assert!(capture(-5).is_none());
    }
}
