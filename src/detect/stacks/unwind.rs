//! Unwinding a copied stack from its registers with the modules' DWARF call-frame information
//! (`.eh_frame`, found through `.eh_frame_hdr`), with framehop (samply's unwinder): the real
//! chain of calls, not a scan for words that look like return addresses.
//!
//! The modules are the ones loaded when the unwinder is built (`dl_iterate_phdr`), their unwind
//! sections copied once (a few MiB at most), so a library unloaded later cannot leave a dangling
//! slice behind. A frame in a module loaded later does not unwind; the caller then falls back
//! to scanning.

#[cfg(target_arch = "x86_64")]
pub(super) use x86_64::Unwinding;

#[cfg(not(target_arch = "x86_64"))]
pub(super) use fallback::Unwinding;

/// Frames kept at most.
const MAX_FRAMES: usize = 128;

#[cfg(target_arch = "x86_64")]
mod x86_64 {
    use std::ops::Range;

    use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
    use framehop::{ExplicitModuleSectionInfo, FrameAddress, Module, Unwinder};

    use super::super::memory::{Maps, Proc, StackCopy, read_memory_of};
    use super::MAX_FRAMES;

    /// The unwinder for a process's modules, and its rule cache.
    pub(in crate::detect::stacks) struct Unwinding {
        /// Whose modules these are.
        proc: Proc,
        unwinder: UnwinderX86_64<Vec<u8>>,
        cache: CacheX86_64,
        /// The modules' address ranges: a word pointing in one may be a return address.
        code: Vec<Range<u64>>,
        /// Where each module's functions start, from its `.eh_frame_hdr` search table.
        starts: Vec<FunctionStarts>,
    }

    /// A module's function start addresses (SVMAs, sorted) and where it is loaded.
    pub(super) struct FunctionStarts {
        avma: Range<u64>,
        bias: u64,
        svmas: Vec<u64>,
    }

    impl Unwinding {
        /// Loads the unwind information of every module loaded now.
        pub(in crate::detect::stacks) fn new() -> Self {
            Self::with_modules(Proc::This, loaded_modules())
        }

        /// Loads the unwind information of every module `maps` shows loaded in their process,
        /// read from that process's memory.
        pub(in crate::detect::stacks) fn of(maps: &Maps) -> Self {
            Self::with_modules(maps.proc, modules_of(maps))
        }

        fn with_modules(
            proc: Proc,
            modules: Vec<(Module<Vec<u8>>, Option<FunctionStarts>)>,
        ) -> Self {
            let mut unwinder = UnwinderX86_64::new();
            let mut code = Vec::new();
            let mut starts = Vec::new();
            for (module, functions) in modules {
                code.push(module.avma_range());
                unwinder.add_module(module);
                starts.extend(functions);
            }
            Unwinding {
                proc,
                unwinder,
                cache: CacheX86_64::new(),
                code,
                starts,
            }
        }

        fn is_code(&self, addr: u64) -> bool {
            self.code.iter().any(|r| r.contains(&addr))
        }

        /// Where the function containing `pc` starts (its FDE's initial location).
        fn function_start(&self, pc: u64) -> Option<u64> {
            let m = self.starts.iter().find(|m| m.avma.contains(&pc))?;
            let svma = pc.checked_sub(m.bias)?;
            let i = m
                .svmas
                .partition_point(|&start| start <= svma)
                .checked_sub(1)?;
            m.svmas.get(i)?.checked_add(m.bias)
        }

        /// Whether the instruction before `ra` is a direct call to `target` (`Some(false)`: a
        /// direct call elsewhere; `None`: not a direct call, so nothing can be told).
        fn calls(&self, ra: u64, target: u64) -> Option<bool> {
            let bytes = read_memory_of(self.proc, ra.checked_sub(5)?, 5)?;
            if bytes.first() != Some(&0xe8) {
                return None;
            }
            let rel = i32::from_le_bytes(bytes.get(1..5)?.try_into().ok()?);
            Some(ra.checked_add_signed(i64::from(rel)) == Some(target))
        }

        /// The frames of the stack in `stack`, from the thread's registers; `bp` is unknown for
        /// a thread blocked in a system call (the kernel reports only `sp` and `pc`). Lookup
        /// addresses, innermost first; `None` if the walk gets nowhere.
        pub(in crate::detect::stacks) fn unwind(
            &mut self,
            pc: u64,
            bp: Option<u64>,
            stack: &StackCopy,
        ) -> Option<Vec<u64>> {
            let mut read = |addr: u64| stack.word(addr).ok_or(());
            let mut regs = UnwindRegsX86_64::new(pc, stack.sp, bp.unwrap_or(0));
            let mut frames = vec![FrameAddress::from_instruction_pointer(pc)];
            while frames.len() < MAX_FRAMES {
                let current = *frames.last()?;
                let before = regs;
                match self
                    .unwinder
                    .unwind_frame(current, &mut regs, &mut self.cache, &mut read)
                {
                    Ok(Some(ra)) => match FrameAddress::from_return_address(ra) {
                        Some(f) => frames.push(f),
                        None => break,
                    },
                    // With `bp` unknown, a frame whose CFA is `rbp`-based (Rust's std is built
                    // with frame pointers) ends the walk early: guess `rbp` among the slots
                    // above `sp` that are followed by a code address, and keep the guess that
                    // unwinds furthest and ends cleanly.
                    Ok(None) if bp.is_none() && before.bp() == 0 => {
                        frames.extend(self.guess_bp(current, before, stack));
                        break;
                    }
                    _ => break,
                }
            }
            Some(frames.iter().map(|f| f.address_for_lookup()).collect())
        }

        /// `rbp` is unknown (a thread frozen in a system call): candidates are the slots above
        /// `sp` followed by a code address, as a saved `rbp` is followed by its return address.
        /// A slot whose return address follows a direct call to the frame's own function is
        /// the saved `rbp` of this frame: the first such that unwinds cleanly is taken. Only
        /// where no call can be checked (indirect calls), the guess that unwinds furthest
        /// and ends cleanly (a stale slot, left by an earlier call, could add a frame).
        fn guess_bp(
            &mut self,
            current: FrameAddress,
            regs: UnwindRegsX86_64,
            stack: &StackCopy,
        ) -> Vec<FrameAddress> {
            let own_start = self.function_start(current.address_for_lookup());
            let mut unchecked_best: Vec<FrameAddress> = Vec::new();
            let top = regs.sp().saturating_add(4096);
            for slot in (regs.sp()..top).step_by(8) {
                let Some(next) = stack.word(slot.saturating_add(8)) else {
                    break;
                };
                if !self.is_code(next) {
                    continue;
                }
                let checked = own_start.and_then(|start| self.calls(next, start));
                if checked == Some(false) {
                    // A return address of a call to another function: not this frame's.
                    continue;
                }
                let Some(tail) = self.walk_from(current, regs, slot, stack) else {
                    continue;
                };
                if checked == Some(true) {
                    return tail;
                }
                if tail.len() > unchecked_best.len() {
                    unchecked_best = tail;
                }
            }
            unchecked_best
        }

        /// The frames above `current` with `rbp` = `slot`, if the walk ends cleanly.
        fn walk_from(
            &mut self,
            current: FrameAddress,
            regs: UnwindRegsX86_64,
            slot: u64,
            stack: &StackCopy,
        ) -> Option<Vec<FrameAddress>> {
            let mut read = |addr: u64| stack.word(addr).ok_or(());
            {
                let (mut r, mut c) = (regs, current);
                r.set_bp(slot);
                let mut tail = Vec::new();
                let clean = loop {
                    match self
                        .unwinder
                        .unwind_frame(c, &mut r, &mut self.cache, &mut read)
                    {
                        Ok(Some(ra)) => match FrameAddress::from_return_address(ra) {
                            Some(f) => {
                                c = f;
                                tail.push(f);
                                if tail.len() >= MAX_FRAMES {
                                    break false;
                                }
                            }
                            None => break true,
                        },
                        Ok(None) => break true,
                        Err(_) => break false,
                    }
                };
                (clean && !tail.is_empty()).then_some(tail)
            }
        }
    }

    /// The unwind information of every module loaded now, copied, with its function starts.
    fn loaded_modules() -> Vec<(Module<Vec<u8>>, Option<FunctionStarts>)> {
        unsafe extern "C" fn each(
            info: *mut libc::dl_phdr_info,
            _size: usize,
            out: *mut libc::c_void,
        ) -> libc::c_int {
            // SAFETY: `dl_iterate_phdr` passes a valid `dl_phdr_info` for the duration of the
            // call, and `out` is the `Vec` below, exclusively ours for the iteration.
            let (info, out) = unsafe {
                (
                    &*info,
                    &mut *out.cast::<Vec<(Module<Vec<u8>>, Option<FunctionStarts>)>>(),
                )
            };
            if let Some(m) = module(info) {
                out.push(m);
            }
            0
        }
        let mut out: Vec<(Module<Vec<u8>>, Option<FunctionStarts>)> = Vec::new();
        // SAFETY: the callback only reads the info it is given and pushes to `out`.
        unsafe {
            libc::dl_iterate_phdr(Some(each), std::ptr::from_mut(&mut out).cast());
        }
        out
    }

    /// One module of this process, as the loader describes it.
    fn module(info: &libc::dl_phdr_info) -> Option<(Module<Vec<u8>>, Option<FunctionStarts>)> {
        if info.dlpi_phdr.is_null() {
            return None;
        }
        // SAFETY: the loader's program headers for this module, `dlpi_phnum` of them.
        let headers =
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
        let name = if info.dlpi_name.is_null() {
            String::new()
        } else {
            // SAFETY: a NUL-terminated name owned by the loader.
            unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) }
                .to_string_lossy()
                .into_owned()
        };
        module_from(headers, info.dlpi_addr, name, |addr, len| {
            read_memory_of(Proc::This, addr, len)
        })
    }

    /// The modules of another process: each file (and the vDSO) mapped from its start holds
    /// its ELF header and program headers there, in the process's memory.
    fn modules_of(maps: &Maps) -> Vec<(Module<Vec<u8>>, Option<FunctionStarts>)> {
        let mut seen = std::collections::HashSet::new();
        maps.mappings
            .iter()
            .filter(|m| m.offset == 0)
            .filter_map(|m| {
                let path = m.path.as_deref()?;
                if (path.starts_with('[') && path != "[vdso]") || !seen.insert(path) {
                    return None;
                }
                let headers = program_headers(maps, m.start)?;
                let loads = headers.iter().filter(|p| p.p_type == libc::PT_LOAD);
                let first = loads.min_by_key(|p| p.p_vaddr)?;
                let bias = m.start.checked_sub(first.p_vaddr & !0xfff)?;
                module_from(&headers, bias, path.to_owned(), |addr, len| {
                    maps.copy(addr, len)
                })
            })
            .collect()
    }

    /// The program headers of the ELF image mapped at `start`, if it is one (64-bit, this
    /// machine's byte order).
    fn program_headers(maps: &Maps, start: u64) -> Option<Vec<libc::Elf64_Phdr>> {
        let ehdr = maps.copy(start, 64)?;
        if ehdr.get(..4)? != b"\x7fELF" || ehdr.get(4) != Some(&2) {
            return None;
        }
        let u16_at = |i: usize| Some(u16::from_le_bytes(ehdr.get(i..i + 2)?.try_into().ok()?));
        let phoff = u64::from_le_bytes(ehdr.get(32..40)?.try_into().ok()?);
        let (entsize, count) = (usize::from(u16_at(54)?), usize::from(u16_at(56)?));
        if entsize < std::mem::size_of::<libc::Elf64_Phdr>() || count == 0 {
            return None;
        }
        let bytes = maps.copy(start.checked_add(phoff)?, entsize.checked_mul(count)?)?;
        let u32_at =
            |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or_default());
        let u64_at =
            |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
        Some(
            bytes
                .chunks_exact(entsize)
                .map(|b| libc::Elf64_Phdr {
                    p_type: u32_at(b, 0),
                    p_flags: u32_at(b, 4),
                    p_offset: u64_at(b, 8),
                    p_vaddr: u64_at(b, 16),
                    p_paddr: u64_at(b, 24),
                    p_filesz: u64_at(b, 32),
                    p_memsz: u64_at(b, 40),
                    p_align: u64_at(b, 48),
                })
                .collect(),
        )
    }

    /// One module's unwind sections: `PT_GNU_EH_FRAME` is the mapped `.eh_frame_hdr`, whose
    /// `eh_frame_ptr` locates `.eh_frame`; `read` copies the process's memory.
    fn module_from(
        headers: &[libc::Elf64_Phdr],
        bias: u64,
        name: String,
        read: impl Fn(u64, usize) -> Option<Vec<u8>>,
    ) -> Option<(Module<Vec<u8>>, Option<FunctionStarts>)> {
        let loads = || headers.iter().filter(|p| p.p_type == libc::PT_LOAD);
        let base_svma = loads().map(|p| p.p_vaddr).min()?;
        let end_svma = loads().map(|p| p.p_vaddr + p.p_memsz).max()?;
        let text = loads().find(|p| p.p_flags & libc::PF_X != 0)?;
        let hdr = headers.iter().find(|p| p.p_type == libc::PT_GNU_EH_FRAME)?;
        let hdr_bytes = read(
            hdr.p_vaddr.checked_add(bias)?,
            usize::try_from(hdr.p_memsz).ok()?,
        )?;
        let eh_frame = eh_frame_address(&hdr_bytes, hdr.p_vaddr)?;
        // `.eh_frame` runs at most to the end of its segment; with `.eh_frame_hdr` only the
        // entries its table points to are read.
        let segment = loads().find(|p| (p.p_vaddr..p.p_vaddr + p.p_filesz).contains(&eh_frame))?;
        let eh_len = segment.p_vaddr + segment.p_filesz - eh_frame;
        let eh_bytes = read(eh_frame.checked_add(bias)?, usize::try_from(eh_len).ok()?)?;
        let starts = function_starts(&hdr_bytes, hdr.p_vaddr).map(|svmas| FunctionStarts {
            avma: base_svma + bias..end_svma + bias,
            bias,
            svmas,
        });
        let module = Module::new(
            name,
            base_svma + bias..end_svma + bias,
            base_svma + bias,
            ExplicitModuleSectionInfo {
                base_svma,
                text_svma: Some(text.p_vaddr..text.p_vaddr + text.p_memsz),
                eh_frame_hdr_svma: Some(hdr.p_vaddr..hdr.p_vaddr + hdr.p_memsz),
                eh_frame_hdr: Some(hdr_bytes),
                eh_frame_svma: Some(eh_frame..eh_frame + eh_len),
                eh_frame: Some(eh_bytes),
                ..Default::default()
            },
        );
        Some((module, starts))
    }

    /// The function start addresses (SVMAs, sorted) in an `.eh_frame_hdr` at `hdr_svma`: its
    /// binary-search table, in the encoding every linker writes (`datarel | sdata4` entries,
    /// a `udata4` count).
    pub(super) fn function_starts(hdr: &[u8], hdr_svma: u64) -> Option<Vec<u64>> {
        let (&ptr_enc, &count_enc, &table_enc) = (hdr.get(1)?, hdr.get(2)?, hdr.get(3)?);
        if count_enc != 0x03 || table_enc != 0x3b {
            return None;
        }
        let ptr_len = match ptr_enc & 0x0f {
            0x03 | 0x0b => 4,
            0x00 | 0x04 | 0x0c => 8,
            _ => return None,
        };
        let count_at = 4 + ptr_len;
        let count = u32::from_le_bytes(hdr.get(count_at..count_at + 4)?.try_into().ok()?);
        let table = hdr.get(count_at + 4..)?;
        let mut starts: Vec<u64> = table
            .chunks_exact(8)
            .take(usize::try_from(count).ok()?)
            .filter_map(|entry| {
                let rel = i32::from_le_bytes(entry.get(..4)?.try_into().ok()?);
                hdr_svma.checked_add_signed(i64::from(rel))
            })
            .collect();
        starts.sort_unstable();
        Some(starts)
    }

    /// The `.eh_frame` address (SVMA) that an `.eh_frame_hdr` at `hdr_svma` points to.
    pub(super) fn eh_frame_address(hdr: &[u8], hdr_svma: u64) -> Option<u64> {
        let (&version, &encoding) = (hdr.first()?, hdr.get(1)?);
        if version != 1 {
            return None;
        }
        let field = hdr.get(4..)?;
        let value: i64 = match encoding & 0x0f {
            0x00 | 0x04 => i64::from_le_bytes(field.get(..8)?.try_into().ok()?), // absptr, udata8
            0x03 => i64::from(u32::from_le_bytes(field.get(..4)?.try_into().ok()?)), // udata4
            0x0b => i64::from(i32::from_le_bytes(field.get(..4)?.try_into().ok()?)), // sdata4
            0x0c => i64::from_le_bytes(field.get(..8)?.try_into().ok()?),        // sdata8
            _ => return None,
        };
        let base = match encoding & 0x70 {
            0x00 => 0,                        // absolute
            0x10 => hdr_svma.checked_add(4)?, // pcrel: from the field itself
            0x30 => hdr_svma,                 // datarel: from the header
            _ => return None,
        };
        base.checked_add_signed(value)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn eh_frame_hdr_pointers_decode() {
            // version 1, pcrel|sdata4, then -0x100 from the field at hdr + 4.
            let mut hdr = vec![1u8, 0x1b, 0x03, 0x3b];
            hdr.extend_from_slice(&(-0x100i32).to_le_bytes());
            assert_eq!(eh_frame_address(&hdr, 0x2000), Some(0x2004 - 0x100));
            let mut abs = vec![1u8, 0x03, 0x03, 0x3b];
            abs.extend_from_slice(&0x5000u32.to_le_bytes());
            assert_eq!(eh_frame_address(&abs, 0x2000), Some(0x5000));
            assert_eq!(eh_frame_address(&[2, 0x1b, 0, 0, 0, 0, 0, 0], 0), None);
        }

        #[test]
        fn this_process_has_modules_with_unwind_information() {
            let unwinding = Unwinding::new();
            let here = this_process_has_modules_with_unwind_information as *const () as u64;
            assert!(unwinding.is_code(here));
            // The search table knows where this very function starts.
            assert_eq!(unwinding.function_start(here + 3), Some(here));
        }

        #[test]
        fn the_search_table_gives_function_starts() {
            // version 1, eh_frame_ptr pcrel|sdata4, count udata4, table datarel|sdata4.
            let mut hdr = vec![1u8, 0x1b, 0x03, 0x3b];
            hdr.extend_from_slice(&0i32.to_le_bytes());
            hdr.extend_from_slice(&2u32.to_le_bytes());
            for (start, fde) in [(0x300i32, 0x900i32), (0x100, 0x800)] {
                hdr.extend_from_slice(&start.to_le_bytes());
                hdr.extend_from_slice(&fde.to_le_bytes());
            }
            assert_eq!(function_starts(&hdr, 0x1000), Some(vec![0x1100, 0x1300]));
            hdr[3] = 0x1b;
            assert_eq!(function_starts(&hdr, 0x1000), None);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod fallback {
    use super::super::memory::StackCopy;

    /// No unwinder for this architecture here: frames come from scanning.
    pub(in crate::detect::stacks) struct Unwinding;

    impl Unwinding {
        pub(in crate::detect::stacks) fn new() -> Self {
            Unwinding
        }

        pub(in crate::detect::stacks) fn of(_maps: &super::super::memory::Maps) -> Self {
            Unwinding
        }

        pub(in crate::detect::stacks) fn unwind(
            &mut self,
            _pc: u64,
            _bp: Option<u64>,
            _stack: &StackCopy,
        ) -> Option<Vec<u64>> {
            None
        }
    }
}
