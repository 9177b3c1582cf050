//! A CPU-bound thread is not in a system call, so its stack is not frozen. Linux's perf events
//! can still sample that one thread's user registers and the top of its user stack: a
//! task-clock event on the thread, enabled for a few milliseconds, fires from an in-kernel
//! timer while the thread runs. No signal is involved (none is asked for), so the thread's
//! system calls are never interrupted; a thread asleep is simply never sampled.
//!
//! Permission: a process may sample its own threads' user space when
//! `/proc/sys/kernel/perf_event_paranoid` is 2 or lower (the upstream default is 2); higher
//! values (some distributions' 3 or 4), a container's seccomp profile without `CAP_PERFMON`,
//! and kernels without perf events refuse it. Then CPU-bound stalls are reported without a
//! stack, and pollwatch says so once.

use std::io;
use std::time::Duration;

use perf_event_open_sys as sys;
use sys::bindings::{self, perf_event_attr, perf_event_mmap_page};

use super::memory::StackCopy;

/// Data pages of the ring (a power of two); each sample holds up to `STACK_BYTES`.
const DATA_PAGES: usize = 16;
/// Bytes of user stack copied with each sample (a multiple of 8, below 64 KiB).
const STACK_BYTES: u32 = 32 * 1024;
/// Sample every this much of the thread's CPU time.
const PERIOD_NS: u64 = 1_000_000;
/// How long the event stays enabled at most: a few periods of a thread that runs (it is
/// disabled as soon as one sample is in).
const WINDOW: Duration = Duration::from_millis(8);
/// How often the ring is checked for that sample.
const CHECK: Duration = Duration::from_millis(1);

/// One sample of a running thread: `bp`, `sp` (the copy's start) and `ip`, and its stack.
pub(super) struct Sample {
    pub(super) ip: u64,
    pub(super) bp: u64,
    pub(super) stack: StackCopy,
}

/// Why no sample came.
pub(super) enum SampleError {
    /// perf events are not allowed or not available here: do not try again.
    Denied(io::Error),
    /// Nothing was sampled this time (the thread went to sleep, or it ended).
    NoSample,
}

/// Samples thread `tid` of this process once.
pub(super) fn sample(tid: i64) -> Result<Sample, SampleError> {
    let tid = libc::pid_t::try_from(tid).map_err(|_| SampleError::NoSample)?;
    let event = Event::open(tid)?;
    let ring = Ring::map(&event)?;
    // SAFETY: an ioctl on the perf event fd we own.
    unsafe { sys::ioctls::ENABLE(event.0, 0) };
    let deadline = std::time::Instant::now() + WINDOW;
    while std::time::Instant::now() < deadline && ring.head() == 0 {
        std::thread::sleep(CHECK);
    }
    // SAFETY: as above.
    unsafe { sys::ioctls::DISABLE(event.0, 0) };
    ring.newest_sample().ok_or(SampleError::NoSample)
}

/// An open perf event, closed when dropped.
struct Event(libc::c_int);

impl Event {
    fn open(tid: libc::pid_t) -> Result<Event, SampleError> {
        // SAFETY: all-zero is a valid `perf_event_attr` (every field is an integer or a union
        // of integers).
        let mut attr: perf_event_attr = unsafe { std::mem::zeroed() };
        attr.size = u32::try_from(std::mem::size_of::<perf_event_attr>()).unwrap_or(0);
        attr.type_ = bindings::PERF_TYPE_SOFTWARE;
        attr.config = u64::from(bindings::PERF_COUNT_SW_TASK_CLOCK);
        attr.__bindgen_anon_1.sample_period = PERIOD_NS;
        attr.sample_type = u64::from(
            bindings::PERF_SAMPLE_IP
                | bindings::PERF_SAMPLE_TID
                | bindings::PERF_SAMPLE_REGS_USER
                | bindings::PERF_SAMPLE_STACK_USER,
        );
        attr.sample_regs_user = REGS_MASK;
        attr.sample_stack_user = STACK_BYTES;
        attr.set_disabled(1);
        attr.set_exclude_kernel(1);
        attr.set_exclude_hv(1);
        // SAFETY: `attr` is a valid attribute; the event observes one thread of this process.
        let fd = unsafe {
            sys::perf_event_open(
                &mut attr,
                tid,
                -1,
                -1,
                libc::c_ulong::from(bindings::PERF_FLAG_FD_CLOEXEC),
            )
        };
        if fd < 0 {
            let err = io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                // The thread is gone.
                Some(libc::ESRCH) => SampleError::NoSample,
                _ => SampleError::Denied(err),
            });
        }
        Ok(Event(fd))
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: our fd, closed once.
        unsafe { libc::close(self.0) };
    }
}

/// `bp`, `sp`, `ip`: the registers an unwind starts from (they come in this bit order).
#[cfg(target_arch = "x86_64")]
const REGS_MASK: u64 = (1 << bindings::PERF_REG_X86_BP)
    | (1 << bindings::PERF_REG_X86_SP)
    | (1 << bindings::PERF_REG_X86_IP);

#[cfg(not(target_arch = "x86_64"))]
const REGS_MASK: u64 = 0;

/// The event's mmapped ring: a control page, then `DATA_PAGES` of records.
struct Ring {
    base: *mut libc::c_void,
    len: usize,
}

impl Ring {
    fn map(event: &Event) -> Result<Ring, SampleError> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let len = page * (1 + DATA_PAGES);
        // SAFETY: a shared read-write mapping of the event's ring, as perf_event_open(2)
        // describes; checked for MAP_FAILED below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                event.0,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            // Over the locked-memory budget (EPERM): as good as denied.
            return Err(SampleError::Denied(io::Error::last_os_error()));
        }
        Ok(Ring { base, len })
    }

    /// How many bytes of records the kernel has written so far.
    fn head(&self) -> u64 {
        let control = self.base.cast::<perf_event_mmap_page>();
        // SAFETY: the control page is mapped; the kernel updates `data_head`.
        unsafe { std::ptr::addr_of!((*control).data_head).read_volatile() }
    }

    /// The last `PERF_RECORD_SAMPLE` written, if any.
    fn newest_sample(&self) -> Option<Sample> {
        let control = self.base.cast::<perf_event_mmap_page>();
        // SAFETY: the control page is mapped and the kernel updates `data_head` only; a
        // volatile read then an acquire fence, as the ABI says.
        let (head, offset, size) = unsafe {
            let head = std::ptr::addr_of!((*control).data_head).read_volatile();
            std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
            (
                head,
                std::ptr::addr_of!((*control).data_offset).read_volatile(),
                std::ptr::addr_of!((*control).data_size).read_volatile(),
            )
        };
        let (offset, size) = (usize::try_from(offset).ok()?, usize::try_from(size).ok()?);
        if size == 0 || offset.checked_add(size)? > self.len {
            return None;
        }
        // SAFETY: `[offset, offset + size)` of our mapping is the data area; the event is
        // disabled, so nothing writes it any more.
        let data = unsafe { std::slice::from_raw_parts(self.base.cast::<u8>().add(offset), size) };
        // Records are read from the start (the tail was never advanced); positions wrap.
        let read = |pos: u64, n: usize| -> Vec<u8> {
            (0..n)
                .map(|i| data[(pos as usize + i) % size])
                .collect::<Vec<u8>>()
        };
        let mut pos = 0u64;
        let mut newest = None;
        while pos + 8 <= head {
            let header = read(pos, 8);
            let kind = u32::from_ne_bytes(header[..4].try_into().ok()?);
            let len = u16::from_ne_bytes(header[6..8].try_into().ok()?);
            if len < 8 {
                break;
            }
            if kind == bindings::PERF_RECORD_SAMPLE && pos + u64::from(len) <= head {
                newest = Some((pos + 8, usize::from(len) - 8));
            }
            pos += u64::from(len);
        }
        let (at, len) = newest?;
        parse_sample(&read(at, len))
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in `map`, once.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// A sample's body: `ip`, `pid, tid`, `abi`, `regs[bp, sp, ip]`, `size`, `data[size]`,
/// `dyn_size` (how much of `data` is valid).
fn parse_sample(body: &[u8]) -> Option<Sample> {
    let word = |at: usize| -> Option<u64> {
        Some(u64::from_ne_bytes(body.get(at..at + 8)?.try_into().ok()?))
    };
    let ip = word(0)?;
    let abi = word(16)?;
    if abi == 0 {
        // No user registers: the sample hit the kernel.
        return None;
    }
    let (bp, sp) = (word(24)?, word(32)?);
    let size = usize::try_from(word(48)?).ok()?;
    let data_at = 56;
    let dyn_size = usize::try_from(word(data_at + size)?).ok()?.min(size);
    let bytes = body.get(data_at..data_at + dyn_size)?.to_vec();
    Some(Sample {
        ip,
        bp,
        stack: StackCopy { sp, bytes },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

    #[test]
    fn a_spinning_thread_is_sampled_with_its_stack_or_perf_is_denied() {
        static STOP: AtomicBool = AtomicBool::new(false);
        let (tx, rx) = std::sync::mpsc::channel();
        let spinner = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(i64::from(unsafe { libc::gettid() })).unwrap();
            while !STOP.load(Relaxed) {
                std::hint::black_box(0u64);
            }
        });
        let tid = rx.recv().unwrap();
        let result = sample(tid);
        STOP.store(true, Relaxed);
        spinner.join().unwrap();
        match result {
            Ok(s) => {
                assert!(s.ip != 0 && s.stack.sp != 0);
                assert!(!s.stack.bytes.is_empty());
            }
            // A machine (or container) that forbids perf events: said once, elsewhere.
            Err(SampleError::Denied(e)) => eprintln!("perf events denied here: {e}"),
            Err(SampleError::NoSample) => panic!("a spinning thread is sampled"),
        }
    }
}
