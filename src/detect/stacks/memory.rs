//! A process's memory, read safely: its mappings (`/proc/<pid>/maps`) and copies made with
//! `process_vm_readv`, for which the kernel checks every address (a bad one is an error, never a
//! fault). The process is this one, or (for `pollwatch attach`) another one the caller may
//! read: the same user and ptrace rights, which the kernel checks on each read.

/// The process whose threads are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proc {
    /// This process.
    This,
    /// Another process, by pid.
    Other(libc::pid_t),
}

impl Proc {
    /// Its `/proc` directory.
    pub(crate) fn dir(self) -> String {
        match self {
            Proc::This => "/proc/self".to_owned(),
            Proc::Other(pid) => format!("/proc/{pid}"),
        }
    }

    fn pid(self) -> libc::pid_t {
        match self {
            // SAFETY: getpid has no preconditions.
            Proc::This => unsafe { libc::getpid() },
            Proc::Other(pid) => pid,
        }
    }
}

/// One line of `/proc/<pid>/maps`.
#[derive(Clone, Debug)]
pub(crate) struct Mapping {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) executable: bool,
    /// Offset in the file mapped.
    pub(crate) offset: u64,
    /// The file (or `[vdso]`, `[stack]`), if any.
    pub(crate) path: Option<String>,
}

/// A process's mappings, and which process they are of.
pub(crate) struct Maps {
    pub(crate) proc: Proc,
    pub(crate) mappings: Vec<Mapping>,
}

impl Maps {
    /// This process's mappings.
    pub(super) fn read() -> Option<Maps> {
        Maps::read_of(Proc::This).ok()
    }

    /// `proc`'s mappings (an error says why they could not be read: no such process, or not
    /// allowed).
    pub(crate) fn read_of(proc: Proc) -> std::io::Result<Maps> {
        let text = std::fs::read_to_string(format!("{}/maps", proc.dir()))?;
        let mappings = text.lines().filter_map(parse_mapping).collect();
        Ok(Maps { proc, mappings })
    }

    /// The mapping holding `addr`.
    pub(super) fn containing(&self, addr: u64) -> Option<(u64, u64)> {
        self.mappings
            .iter()
            .find(|m| (m.start..m.end).contains(&addr))
            .map(|m| (m.start, m.end))
    }

    pub(super) fn executable(&self, addr: u64) -> bool {
        self.mappings
            .iter()
            .any(|m| m.executable && (m.start..m.end).contains(&addr))
    }

    /// Copies `len` bytes at `addr` of the process (fewer if the range ends in unmapped
    /// memory).
    pub(crate) fn copy(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        read_memory_of(self.proc, addr, len)
    }
}

/// `start-end perms offset dev inode [path]`.
fn parse_mapping(line: &str) -> Option<Mapping> {
    let mut f = line.split_whitespace();
    let (start, end) = f.next()?.split_once('-')?;
    let perms = f.next()?;
    let offset = hex(f.next()?)?;
    let path = f.nth(2).map(str::to_owned);
    Some(Mapping {
        start: hex(start)?,
        end: hex(end)?,
        executable: perms.contains('x'),
        offset,
        path,
    })
}

pub(crate) fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// Copies `len` bytes at `addr` of `proc` (fewer if the range ends in unmapped memory).
pub(crate) fn read_memory_of(proc: Proc, addr: u64, len: usize) -> Option<Vec<u8>> {
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
    // kernel, which checks it (and that we may read that process).
    let n = unsafe { libc::process_vm_readv(proc.pid(), &local, 1, &remote, 1, 0) };
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
