//! This process's memory, read safely: the mappings (`/proc/self/maps`) and copies made with
//! `process_vm_readv`, for which the kernel checks every address (a bad one is an error, never a
//! fault).

/// The process's mappings: `(start, end, executable)`.
pub(super) struct Maps(Vec<(u64, u64, bool)>);

impl Maps {
    pub(super) fn read() -> Option<Maps> {
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

    /// The mapping holding `addr`.
    pub(super) fn containing(&self, addr: u64) -> Option<(u64, u64)> {
        self.0
            .iter()
            .find(|(s, e, _)| (*s..*e).contains(&addr))
            .map(|(s, e, _)| (*s, *e))
    }

    pub(super) fn executable(&self, addr: u64) -> bool {
        self.0
            .iter()
            .any(|(s, e, x)| *x && (*s..*e).contains(&addr))
    }
}

pub(super) fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// Copies `len` bytes at `addr` of this process (fewer if the range ends in unmapped memory).
pub(super) fn read_memory(addr: u64, len: usize) -> Option<Vec<u8>> {
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

/// A copy of a stack: the bytes from `sp` up.
pub(super) struct StackCopy {
    pub(super) sp: u64,
    pub(super) bytes: Vec<u8>,
}

impl StackCopy {
    /// The word at `addr`, if the copy holds it.
    pub(super) fn word(&self, addr: u64) -> Option<u64> {
        let off = usize::try_from(addr.checked_sub(self.sp)?).ok()?;
        let bytes = self.bytes.get(off..off.checked_add(8)?)?;
        Some(u64::from_ne_bytes(bytes.try_into().ok()?))
    }
}
