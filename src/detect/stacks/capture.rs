//! A thread blocked in a system call, read without touching it: Linux reports its syscall,
//! stack pointer and program counter in `/proc/<pid>/task/<tid>/syscall`, and its stack, frozen
//! while it waits, is copied with `process_vm_readv`. The syscall line is read again after the
//! copy: if it changed, the thread moved on and the copy is discarded.
//!
//! The frames come from unwinding (see `unwind.rs`); where that fails, from scanning the copy
//! for words that point right after a call instruction in executable memory (approximate: a
//! stale return address left in a live frame can add a frame).

use super::memory::{Maps, StackCopy, hex};

/// Bytes of stack copied above the stack pointer: far more than a worker's stack holds in use.
const COPY_BYTES: usize = 256 * 1024;

/// Return addresses a scan keeps at most.
const MAX_SCANNED: usize = 48;

/// A thread frozen in a system call.
pub(super) struct Frozen {
    pub(super) syscall: i64,
    pub(super) pc: u64,
    pub(super) stack: StackCopy,
}

/// Reads thread `tid`'s system call and stack (of the process `maps` are of); `None` if it is
/// running (not in a system call), moved on while being read, or anything is unavailable.
pub(super) fn read_frozen(tid: i64, maps: &Maps) -> Option<Frozen> {
    let path = format!("{}/task/{tid}/syscall", maps.proc.dir());
    let line = std::fs::read_to_string(&path).ok()?;
    let mut parts = line.split_whitespace();
    // "running" when the thread is on a CPU; -1 when blocked but not in a system call.
    let syscall: i64 = parts.next()?.parse().ok()?;
    if syscall < 0 {
        return None;
    }
    let regs: Vec<u64> = parts.filter_map(hex).collect();
    let (&sp, &pc) = (regs.get(6)?, regs.get(7)?);
    let stack_end = maps.containing(sp)?.1;
    let len = usize::try_from(stack_end - sp).ok()?.min(COPY_BYTES);
    let bytes = maps.copy(sp, len)?;
    // Still in the same call: the copy is of a frozen stack.
    if std::fs::read_to_string(&path).ok()? != line {
        return None;
    }
    Some(Frozen {
        syscall,
        pc,
        stack: StackCopy { sp, bytes },
    })
}

/// The lookup addresses of a scan of `stack` (the fallback where unwinding fails): `pc`, then
/// each word that is a return address, pointing inside its call instruction.
pub(super) fn scan(pc: u64, stack: &StackCopy, maps: &Maps) -> Vec<u64> {
    let mut lookups = vec![pc];
    for word in stack.bytes.chunks_exact(8) {
        let Ok(bytes) = <[u8; 8]>::try_from(word) else {
            continue;
        };
        let addr = u64::from_ne_bytes(bytes);
        if maps.executable(addr) && is_return_address(maps, addr) {
            lookups.push(addr.saturating_sub(1));
        }
        if lookups.len() >= MAX_SCANNED {
            break;
        }
    }
    lookups
}

/// Whether the instruction before `addr` is a call (so `addr` is a return address).
#[cfg(target_arch = "x86_64")]
fn is_return_address(maps: &Maps, addr: u64) -> bool {
    let Some(b) = addr.checked_sub(7).and_then(|a| maps.copy(a, 7)) else {
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
fn is_return_address(maps: &Maps, addr: u64) -> bool {
    let Some(b) = addr.checked_sub(4).and_then(|a| maps.copy(a, 4)) else {
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
fn is_return_address(_maps: &Maps, _addr: u64) -> bool {
    false
}
