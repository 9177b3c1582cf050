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

    use super::super::memory::{StackCopy, read_memory};
    use super::MAX_FRAMES;

    /// The unwinder for this process's modules, and its rule cache.
    pub(in crate::detect::stacks) struct Unwinding {
        unwinder: UnwinderX86_64<Vec<u8>>,
        cache: CacheX86_64,
        /// The modules' address ranges: a word pointing in one may be a return address.
        code: Vec<Range<u64>>,
    }

    impl Unwinding {
        /// Loads the unwind information of every module loaded now.
        pub(in crate::detect::stacks) fn new() -> Self {
            let mut unwinder = UnwinderX86_64::new();
            let mut code = Vec::new();
            for module in loaded_modules() {
                code.push(module.avma_range());
                unwinder.add_module(module);
            }
            Unwinding {
                unwinder,
                cache: CacheX86_64::new(),
                code,
            }
        }

        fn is_code(&self, addr: u64) -> bool {
            self.code.iter().any(|r| r.contains(&addr))
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

        fn guess_bp(
            &mut self,
            current: FrameAddress,
            regs: UnwindRegsX86_64,
            stack: &StackCopy,
        ) -> Vec<FrameAddress> {
            let mut read = |addr: u64| stack.word(addr).ok_or(());
            let mut best: Vec<FrameAddress> = Vec::new();
            let top = regs.sp().saturating_add(4096);
            for slot in (regs.sp()..top).step_by(8) {
                let Some(next) = stack.word(slot.saturating_add(8)) else {
                    break;
                };
                if !self.is_code(next) {
                    continue;
                }
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
                if clean && tail.len() > best.len() {
                    best = tail;
                }
            }
            best
        }
    }

    /// The unwind information of every module loaded now, copied.
    fn loaded_modules() -> Vec<Module<Vec<u8>>> {
        unsafe extern "C" fn each(
            info: *mut libc::dl_phdr_info,
            _size: usize,
            out: *mut libc::c_void,
        ) -> libc::c_int {
            // SAFETY: `dl_iterate_phdr` passes a valid `dl_phdr_info` for the duration of the
            // call, and `out` is the `Vec` below, exclusively ours for the iteration.
            let (info, out) = unsafe { (&*info, &mut *out.cast::<Vec<Module<Vec<u8>>>>()) };
            if let Some(m) = module(info) {
                out.push(m);
            }
            0
        }
        let mut out: Vec<Module<Vec<u8>>> = Vec::new();
        // SAFETY: the callback only reads the info it is given and pushes to `out`.
        unsafe {
            libc::dl_iterate_phdr(Some(each), std::ptr::from_mut(&mut out).cast());
        }
        out
    }

    /// One module's unwind sections: `PT_GNU_EH_FRAME` is the mapped `.eh_frame_hdr`, whose
    /// `eh_frame_ptr` locates `.eh_frame`.
    fn module(info: &libc::dl_phdr_info) -> Option<Module<Vec<u8>>> {
        if info.dlpi_phdr.is_null() {
            return None;
        }
        let bias = info.dlpi_addr;
        // SAFETY: the loader's program headers for this module, `dlpi_phnum` of them.
        let headers =
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
        let loads = || headers.iter().filter(|p| p.p_type == libc::PT_LOAD);
        let base_svma = loads().map(|p| p.p_vaddr).min()?;
        let end_svma = loads().map(|p| p.p_vaddr + p.p_memsz).max()?;
        let text = loads().find(|p| p.p_flags & libc::PF_X != 0)?;
        let hdr = headers.iter().find(|p| p.p_type == libc::PT_GNU_EH_FRAME)?;
        let hdr_bytes = read_memory(
            hdr.p_vaddr.checked_add(bias)?,
            usize::try_from(hdr.p_memsz).ok()?,
        )?;
        let eh_frame = eh_frame_address(&hdr_bytes, hdr.p_vaddr)?;
        // `.eh_frame` runs at most to the end of its segment; with `.eh_frame_hdr` only the
        // entries its table points to are read.
        let segment = loads().find(|p| (p.p_vaddr..p.p_vaddr + p.p_filesz).contains(&eh_frame))?;
        let eh_len = segment.p_vaddr + segment.p_filesz - eh_frame;
        let eh_bytes = read_memory(eh_frame.checked_add(bias)?, usize::try_from(eh_len).ok()?)?;
        let name = if info.dlpi_name.is_null() {
            String::new()
        } else {
            // SAFETY: a NUL-terminated name owned by the loader.
            unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) }
                .to_string_lossy()
                .into_owned()
        };
        Some(Module::new(
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
        ))
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
