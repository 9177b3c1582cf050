//! Capturing argument, field and return values as bounded strings.
//!
//! Arguments are moved into the instrumented future, so they are formatted at the call, into one
//! buffer per call. Which formatting a value gets is decided at compile time in the user's crate by
//! autoref specialization: `(&&&Wrap(&v)).__pollwatch_auto(buf)` resolves to the `Display` impl if
//! the type has one, else `Debug`, else writes `_` — so no argument ever needs `skip` to compile.

use std::fmt::{self, Write as _};

/// The captured values of one call, in one buffer: each value at most `limit` chars (longer
/// ones end in `…`), line breaks flattened to spaces (a `{:#?}` or a multi-line `Display`
/// stays on one log line).
#[derive(Debug)]
pub struct Values {
    buf: String,
    /// `(start, end)` of each value in `buf`; `None` for one not recorded.
    spans: Vec<Option<(usize, usize)>>,
    limit: usize,
    /// Still capturing arguments (they come first), and arguments are not to be recorded.
    skipping_args: bool,
}

impl Default for Values {
    fn default() -> Self {
        Values::new(0, usize::MAX, true)
    }
}

impl Values {
    /// An empty buffer for `n` values of at most `limit` chars each; `args`: whether the
    /// arguments, which are captured first, are recorded (`POLLWATCH_ARGS=0` says no).
    pub(crate) fn new(n: usize, limit: usize, args: bool) -> Self {
        Values {
            buf: String::with_capacity(n * 8),
            spans: Vec::with_capacity(n),
            limit: limit.max(1),
            skipping_args: !args,
        }
    }

    /// The arguments are captured; what follows (`fields(...)`) is always recorded.
    pub fn fields_follow(&mut self) {
        self.skipping_args = false;
    }

    /// The `i`-th captured value, if it was recorded.
    pub fn get(&self, i: usize) -> Option<&str> {
        let (start, end) = (*self.spans.get(i)?)?;
        self.buf.get(start..end)
    }

    /// Number of values captured (recorded or not).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// `true` when nothing was captured.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn push_with(&mut self, f: impl FnOnce(&mut Bounded<'_>) -> fmt::Result) {
        if self.skipping_args {
            self.spans.push(None);
            return;
        }
        let start = self.buf.len();
        let mut w = Bounded {
            buf: &mut self.buf,
            left: self.limit,
            cut: false,
            pending_space: false,
        };
        // An Err means either our limit (the `…` is already written) or a failing user impl:
        // either way keep what was written; instrumentation must never panic.
        let _ = f(&mut w);
        self.spans.push(Some((start, self.buf.len())));
    }

    /// Captures `v` with `Debug`.
    pub fn debug<T: fmt::Debug + ?Sized>(&mut self, v: &T) {
        self.push_with(|w| write!(w, "{v:?}"));
    }

    /// Captures `v` with `Display`.
    pub fn display<T: fmt::Display + ?Sized>(&mut self, v: &T) {
        self.push_with(|w| write!(w, "{v}"));
    }

    /// Captures a placeholder for a value that can't be formatted.
    pub fn opaque(&mut self) {
        self.push_with(|w| w.write_str("_"));
    }

    /// The only value, if exactly one was captured (used for return values and errors).
    pub(crate) fn single(&self) -> Option<&str> {
        if self.len() == 1 { self.get(0) } else { None }
    }
}

/// A writer that stops after `left` chars and marks the cut with `…`, and turns line breaks
/// (with the indentation after them) into one space.
struct Bounded<'a> {
    buf: &'a mut String,
    left: usize,
    cut: bool,
    /// A line break was skipped: a space goes before the next visible char.
    pending_space: bool,
}

impl Bounded<'_> {
    fn put(&mut self, c: char) -> fmt::Result {
        if self.left == 0 {
            self.buf.push('…');
            self.cut = true;
            return Err(fmt::Error);
        }
        self.left -= 1;
        self.buf.push(c);
        Ok(())
    }
}

impl fmt::Write for Bounded<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut {
            return Err(fmt::Error);
        }
        if !self.pending_space && !s.contains(['\n', '\r']) {
            // The common case, a chunk at a time.
            return match s.char_indices().nth(self.left) {
                None => {
                    self.left -= s.chars().count();
                    self.buf.push_str(s);
                    Ok(())
                }
                // Also reached when the limit fell exactly between two writes (`left == 0`).
                Some((cut, _)) => {
                    self.buf.push_str(&s[..cut]);
                    self.buf.push('…');
                    self.cut = true;
                    Err(fmt::Error)
                }
            };
        }
        for c in s.chars() {
            if c == '\n' || c == '\r' {
                self.pending_space = true;
            } else if self.pending_space && c.is_whitespace() {
                // The indentation of the next line.
            } else {
                if std::mem::take(&mut self.pending_space) && !self.buf.is_empty() {
                    self.put(' ')?;
                }
                self.put(c)?;
            }
        }
        Ok(())
    }
}

/// The receiver of the autoref-specialized capture methods.
#[derive(Debug)]
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

/// Tier 1 of `__pollwatch_auto`: `Display`.
pub trait AutoDisplay {
    /// Captures the value.
    fn __pollwatch_auto(&self, out: &mut Values);
}
/// Tier 2 of `__pollwatch_auto`, tier 1 of `__pollwatch_debug`: `Debug`.
pub trait AutoDebug {
    /// Captures the value.
    fn __pollwatch_auto(&self, out: &mut Values);
    /// Captures the value.
    fn __pollwatch_debug(&self, out: &mut Values);
}
/// Last tier: anything, shown as `_`.
pub trait AutoOpaque {
    /// Captures the value.
    fn __pollwatch_auto(&self, out: &mut Values);
    /// Captures the value.
    fn __pollwatch_debug(&self, out: &mut Values);
}

impl<T: fmt::Display + ?Sized> AutoDisplay for &&Wrap<'_, T> {
    fn __pollwatch_auto(&self, out: &mut Values) {
        out.display(self.0);
    }
}
impl<T: fmt::Debug + ?Sized> AutoDebug for &Wrap<'_, T> {
    fn __pollwatch_auto(&self, out: &mut Values) {
        out.debug(self.0);
    }
    fn __pollwatch_debug(&self, out: &mut Values) {
        out.debug(self.0);
    }
}
impl<T: ?Sized> AutoOpaque for Wrap<'_, T> {
    fn __pollwatch_auto(&self, out: &mut Values) {
        out.opaque();
    }
    fn __pollwatch_debug(&self, out: &mut Values) {
        out.opaque();
    }
}

/// What the finish event says about the returned value (`ret`) or error (`err`).
#[derive(Debug, Default)]
pub struct Outcome {
    /// The captured return value, when `ret` was asked for.
    pub ret: Values,
    /// The captured error, when `err` was asked for and the fn returned `Err`.
    pub err: Values,
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NotDebug;
    #[derive(Debug)]
    struct OnlyDebug(#[allow(dead_code)] u8);

    #[test]
    // The extra borrows are the mechanism under test, as the macro writes them.
    #[allow(clippy::needless_borrow)]
    fn autoref_picks_display_then_debug_then_placeholder() {
        let mut v = Values::default();
        (&&&Wrap("text")).__pollwatch_auto(&mut v);
        (&&&Wrap(&OnlyDebug(7))).__pollwatch_auto(&mut v);
        (&&&Wrap(&NotDebug)).__pollwatch_auto(&mut v);
        (&&Wrap("text")).__pollwatch_debug(&mut v);
        (&&Wrap(&NotDebug)).__pollwatch_debug(&mut v);
        let got: Vec<_> = (0..v.len()).map(|i| v.get(i).unwrap()).collect();
        assert_eq!(got, ["text", "OnlyDebug(7)", "_", "\"text\"", "_"]);
    }

    const LIMIT: usize = 256;

    fn limited() -> Values {
        Values::new(4, LIMIT, true)
    }

    #[test]
    fn long_values_are_cut_at_the_limit() {
        let mut v = limited();
        let long = "é".repeat(1000);
        v.display(&long);
        v.debug(&vec![1u8; 10]);
        let first = v.get(0).unwrap();
        assert_eq!(first.chars().count(), LIMIT + 1);
        assert!(first.ends_with('…'));
        assert_eq!(v.get(1), Some("[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"));
        assert_eq!(v.get(2), None);
    }

    #[test]
    fn a_cut_between_two_writes_is_marked() {
        let mut v = limited();
        v.debug(&vec![7u8; 1000]);
        let s = v.single().unwrap();
        assert_eq!(s.chars().count(), LIMIT + 1);
        assert!(s.ends_with('…'));
        let mut exact = limited();
        exact.display(&"x".repeat(LIMIT));
        assert!(
            !exact.single().unwrap().ends_with('…'),
            "exactly at the limit is not cut"
        );
    }

    #[test]
    fn failing_impls_do_not_panic() {
        struct Fails;
        impl fmt::Display for Fails {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("partial")?;
                Err(fmt::Error)
            }
        }
        let mut v = Values::default();
        v.display(&Fails);
        assert_eq!(v.single(), Some("partial"));
    }

    #[test]
    fn multi_line_values_are_flattened() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Conn {
            host: &'static str,
            port: u16,
        }
        let mut v = limited();
        v.display(&format!(
            "{:#?}",
            Conn {
                host: "db",
                port: 5432
            }
        ));
        v.display(&"first line\r\n   second line\n");
        assert_eq!(v.get(0), Some("Conn { host: \"db\", port: 5432, }"));
        assert_eq!(v.get(1), Some("first line second line"));
    }

    #[test]
    fn the_limit_counts_flattened_chars() {
        let mut v = Values::new(1, 5, true);
        v.display(&"ab\n    cdefg");
        assert_eq!(v.single(), Some("ab cd…"));
    }

    #[test]
    fn arguments_can_be_left_out_and_fields_still_recorded() {
        let mut v = Values::new(3, LIMIT, false);
        v.debug(&"secret");
        v.display(&42);
        v.fields_follow();
        v.display(&"field");
        assert_eq!((v.len(), v.get(0), v.get(1)), (3, None, None));
        assert_eq!(v.get(2), Some("field"));
    }
}
