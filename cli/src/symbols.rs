//! Another process's code addresses as names and lines, with blazesym: it reads the process's
//! modules from their files (through `/proc/<pid>/map_files`, so also in another mount
//! namespace or after the file was replaced), their DWARF for lines and inlined calls, or their
//! symbol tables where there is no debug information.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use blazesym::symbolize::source::{Process, Source};
use blazesym::symbolize::{CodeInfo, Input, Symbolized, Symbolizer};
use pollwatch::__attach::Frame;

/// What the binaries of the target give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Detail {
    /// Functions and lines (debug information).
    Lines,
    /// Function names only (a symbol table, no debug information).
    Names,
    /// Nothing: the binary is stripped.
    Addresses,
}

/// The symbolizer for one process, with the frames of every address it has named (a
/// worker's stacks repeat the same addresses from sample to sample).
pub(crate) struct Symbols {
    symbolizer: Symbolizer,
    pid: u32,
    cwd: Option<PathBuf>,
    /// Innermost first, per lookup address.
    cache: HashMap<u64, Vec<Frame>>,
    /// `/proc/<pid>/map_files` could not be used (it needs more rights on old kernels): the
    /// paths in `maps` are used.
    by_path: bool,
}

impl Symbols {
    pub(crate) fn new(pid: i32) -> Self {
        Symbols {
            symbolizer: Symbolizer::new(),
            pid: u32::try_from(pid).unwrap_or_default(),
            cwd: crate::process::cwd(pid),
            cache: HashMap::new(),
            by_path: false,
        }
    }

    fn source(&self) -> Source<'static> {
        let mut process = Process::new(self.pid.into());
        process.map_files = !self.by_path;
        process.perf_map = false;
        Source::Process(process)
    }

    /// The frames of each of `addresses` (innermost first; an address in inlined code gives
    /// several); `module_of` names the file an unnamed address is in.
    pub(crate) fn frames(
        &mut self,
        addresses: &[u64],
        module_of: impl Fn(u64) -> Option<String>,
    ) -> Vec<Vec<Frame>> {
        let missing: Vec<u64> = addresses
            .iter()
            .copied()
            .filter(|a| !self.cache.contains_key(a))
            .collect();
        if !missing.is_empty() {
            let mut named = self.symbolize(&missing);
            if !self.by_path && named.iter().all(Option::is_none) {
                self.by_path = true;
                named = self.symbolize(&missing);
            }
            for (addr, frames) in missing.iter().zip(named) {
                let frames = frames.unwrap_or_else(|| {
                    vec![Frame {
                        name: match module_of(*addr) {
                            Some(module) => format!("{addr:#x} in {module}"),
                            None => format!("{addr:#x}"),
                        },
                        file: None,
                        line: None,
                    }]
                });
                self.cache.insert(*addr, frames);
            }
        }
        addresses
            .iter()
            .map(|a| self.cache.get(a).cloned().unwrap_or_default())
            .collect()
    }

    fn symbolize(&self, addresses: &[u64]) -> Vec<Option<Vec<Frame>>> {
        let Ok(found) = self
            .symbolizer
            .symbolize(&self.source(), Input::AbsAddr(addresses))
        else {
            return vec![None; addresses.len()];
        };
        found
            .into_iter()
            .map(|s| match s {
                Symbolized::Sym(sym) => {
                    let mut frames: Vec<Frame> = sym
                        .inlined
                        .iter()
                        .rev()
                        .map(|f| self.frame(&f.name, f.code_info.as_ref()))
                        .collect();
                    frames.push(self.frame(&sym.name, sym.code_info.as_deref()));
                    Some(frames)
                }
                Symbolized::Unknown(_) => None,
            })
            .collect()
    }

    fn frame(&self, name: &str, code: Option<&CodeInfo<'_>>) -> Frame {
        let file = code.map(|c| {
            let path = c.to_path();
            self.relative(&path)
        });
        Frame {
            name: name.to_owned(),
            file,
            line: code.and_then(|c| c.line),
        }
    }

    /// A source path relative to the process's working directory when under it (a server
    /// started from its checkout), as pollwatch shows the user's files.
    fn relative(&self, path: &Path) -> String {
        self.cwd
            .as_deref()
            .filter(|cwd| cwd != &Path::new("/"))
            .and_then(|cwd| path.strip_prefix(cwd).ok())
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// What symbolized frames say about the program's own binary: its Rust frames (the C
/// library's may have lines from a system debug package when the program has none).
pub(crate) fn detail(frames: &[Frame]) -> Detail {
    let rust = || frames.iter().filter(|f| f.name.contains("::"));
    if rust().any(|f| f.line.is_some()) {
        Detail::Lines
    } else if rust().next().is_some() {
        Detail::Names
    } else {
        Detail::Addresses
    }
}
