//! Static, per-annotated-fn metadata. Memory is per call site, never per call: each
//! `#[async_timed]` fn owns one `static CallSite`, and everything shared between its calls (the
//! statistics) lives in atomics inside it.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use tracing::Level;

use super::registry::{Link, Listed, Registry};
use super::stats::Stats;
use super::values::{Outcome, Values};
use crate::util::FileLine;

/// What a call site's generated emitter is asked to do. The start and finish events must be
/// emitted from the user's crate because their target, level and field names (the fn's
/// arguments) are chosen per fn; `__emit_timed!` writes both.
#[derive(Debug)]
pub enum Emit<'a> {
    /// Is the start/finish event enabled? (Decides whether arguments are captured.)
    Enabled,
    /// The first poll is about to happen.
    Start(&'a Values),
    /// The future completed.
    Finish(&'a Finished<'a>),
}

/// The numbers of a completed call.
#[derive(Debug)]
pub struct Finished<'a> {
    /// From the start of the first poll to the end of the last one.
    pub elapsed: Duration,
    /// Sum of the poll durations.
    pub busy: Duration,
    /// `elapsed - busy`: time spent waiting to be woken or scheduled.
    pub idle: Duration,
    /// Number of polls.
    pub polls: u64,
    /// The return value or error, when `ret` / `err` asked for them.
    pub outcome: Option<&'a Outcome>,
}

type EmitFn = fn(&'static CallSite, Emit<'_>) -> bool;

/// The emitter of a call site with no events of its own (the runtime's root future, tests):
/// nothing is enabled, nothing is written.
#[cfg(any(test, feature = "tokio"))]
pub(crate) fn no_events(_: &'static CallSite, _: Emit<'_>) -> bool {
    false
}

/// One annotated fn.
pub struct CallSite {
    /// `name = "…"`, or the fn's identifier.
    name: &'static str,
    /// When no `name` was given: where the fn is, as `type_name` spells a type defined in it
    /// (`my_app::cmd::Get::apply::__PollwatchScope`), from which its qualified name is made once.
    scope: Option<fn() -> &'static str>,
    qualified: OnceLock<&'static str>,
    cancelled_level: Level,
    /// `max_value_len`; 0: the process-wide setting.
    max_value_len: usize,
    module_path: &'static str,
    file: &'static str,
    line: u32,
    slow_ns: u64,
    emit: EmitFn,
    stats: Stats,
    link: Link<CallSite>,
    /// Scheduling delay (wake to poll), measured by tokio-metrics when asked for.
    #[cfg(feature = "scheduling-delay")]
    monitor: tokio_metrics::TaskMonitorCore,
}

impl fmt::Debug for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallSite")
            .field("name", &self.name)
            .field("module_path", &self.module_path)
            .field("location", &self.location())
            .field("slow_ns", &self.slow_ns)
            .finish_non_exhaustive()
    }
}

/// Every call site used in debug mode, for reports.
static CALL_SITES: Registry<CallSite> = Registry::new();

impl Listed for CallSite {
    fn link(&self) -> &Link<Self> {
        &self.link
    }
}

impl CallSite {
    /// Built by the macro in a `static`. `slow_ns == 0` means "the process-wide threshold".
    pub const fn new(
        name: &'static str,
        module_path: &'static str,
        file: &'static str,
        line: u32,
        slow_ns: u64,
        emit: EmitFn,
    ) -> Self {
        CallSite {
            name,
            scope: None,
            qualified: OnceLock::new(),
            cancelled_level: Level::DEBUG,
            max_value_len: 0,
            module_path,
            file,
            line,
            slow_ns,
            emit,
            stats: Stats::new(),
            link: Link::new(),
            #[cfg(feature = "scheduling-delay")]
            monitor: tokio_metrics::TaskMonitorCore::new(),
        }
    }

    /// Names the fn by where it is (`Get::apply` for a method), from `scope`: `type_name` of a
    /// type defined inside it. Without this, the name given to [`CallSite::new`] is used.
    pub const fn in_scope(mut self, scope: fn() -> &'static str) -> Self {
        self.scope = Some(scope);
        self
    }

    /// The level of this fn's `cancelled` event (by default `DEBUG`: cancellation is routine).
    pub const fn cancelled_at(mut self, level: Level) -> Self {
        self.cancelled_level = level;
        self
    }

    /// The longest recorded value of this fn, in chars (by default the process-wide setting).
    pub const fn max_value_len(mut self, chars: usize) -> Self {
        self.max_value_len = chars;
        self
    }

    /// The fn's name: its `name = "…"`, or the fn qualified by its type when it has one
    /// (`Get::apply`, computed once per call site), or its identifier.
    pub fn name(&self) -> &'static str {
        match self.scope {
            None => self.name,
            Some(scope) => self
                .qualified
                .get_or_init(|| qualified_name(scope(), self.module_path, self.name)),
        }
    }

    pub(crate) fn cancelled_level(&self) -> Level {
        self.cancelled_level
    }

    /// `max_value_len = …`, if given.
    pub(crate) fn own_max_value_len(&self) -> Option<usize> {
        (self.max_value_len != 0).then_some(self.max_value_len)
    }

    /// `file:line` of the fn's definition; `None` for a call site without one of its own (the
    /// root future of `block_on`, whose location is where it was created).
    pub(crate) fn location(&self) -> Option<FileLine> {
        (self.line != 0).then_some(FileLine {
            file: self.file,
            line: self.line,
        })
    }

    /// The per-fn threshold if `slow = "…"` was given.
    pub(crate) fn own_threshold_nanos(&self) -> Option<u64> {
        (self.slow_ns != 0).then_some(self.slow_ns)
    }

    pub(crate) fn emit(&'static self, what: Emit<'_>) -> bool {
        (self.emit)(self, what)
    }

    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Lists this call site for reports (once).
    #[inline]
    pub(crate) fn register(&'static self) {
        CALL_SITES.register(self);
    }

    #[cfg(feature = "scheduling-delay")]
    pub(crate) fn monitor(&'static self) -> &'static tokio_metrics::TaskMonitorCore {
        &self.monitor
    }

    /// The module the fn is defined in.
    pub(crate) fn module_path(&self) -> &'static str {
        self.module_path
    }
}

/// Every call site used in debug mode so far.
pub(crate) fn call_sites() -> Vec<&'static CallSite> {
    CALL_SITES.items()
}

/// The name of the marker type `#[async_timed]` defines inside each fn.
const SCOPE_MARKER: &str = "__PollwatchScope";

/// The readable name of the fn containing the marker whose `type_name` is `scope`: the fn's
/// own name, preceded by its type when it is a method (`Get::apply`; `<impl Trait for Type>`
/// counts as `Type`, a provided trait method as `Trait`), without generic arguments. A fn
/// inside another fn is named alone (`inner`): only a type (UpperCamelCase, as Rust's naming
/// lints keep them) qualifies a name. Falls back to `ident` if `scope` is not understood.
fn qualified_name(scope: &'static str, module_path: &str, ident: &'static str) -> &'static str {
    let path = scope
        .strip_suffix(SCOPE_MARKER)
        .and_then(|p| p.strip_suffix("::"))
        .unwrap_or(scope);
    let path = path
        .strip_prefix(module_path)
        .and_then(|p| p.strip_prefix("::"))
        .unwrap_or(path);
    let segments: Vec<String> = split_path(path)
        .into_iter()
        .filter(|s| !s.is_empty() && !s.starts_with("{{"))
        .map(|s| short_segment(&s))
        .collect();
    match segments.as_slice() {
        [.., owner, name] if owner.starts_with(|c: char| c.is_uppercase()) => {
            let qualified = format!("{owner}::{name}");
            match path.strip_suffix(qualified.as_str()) {
                // Already in `type_name`'s text: no allocation.
                Some(prefix) if prefix.is_empty() || prefix.ends_with("::") => {
                    &path[prefix.len()..]
                }
                // Once per call site: the name lives as long as the `static` it belongs to.
                _ => Box::leak(qualified.into_boxed_str()),
            }
        }
        _ => ident,
    }
}

/// `a::<impl T for b::C<u8>>::f` → `a`, `<impl T for b::C<u8>>`, `f`: `::` outside `<…>`.
fn split_path(path: &str) -> Vec<String> {
    let (mut out, mut depth, mut cur) = (Vec::new(), 0usize, String::new());
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ':' if depth == 0 && chars.peek() == Some(&':') => {
                chars.next();
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// `<impl Trait for a::b::Type<T>>` and `<a::Type as Trait>` → `Type`; `Type<T>` → `Type`.
fn short_segment(segment: &str) -> String {
    let inner = segment
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .map(|s| {
            let s = s.strip_prefix("impl ").unwrap_or(s);
            // `impl Trait for Type` → `Type`; `Type as Trait` → `Type`.
            match (s.rfind(" for "), s.find(" as ")) {
                (Some(i), _) => &s[i + 5..],
                (None, Some(i)) => &s[..i],
                (None, None) => s,
            }
        })
        .unwrap_or(segment);
    let without_generics = inner.split('<').next().unwrap_or(inner);
    let last = split_path(without_generics).pop().unwrap_or_default();
    last.trim_start_matches('&').trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::qualified_name;

    #[test]
    fn methods_are_named_by_their_type() {
        let cases = [
            (
                "app::cmd::get::Get::apply::__PollwatchScope",
                "app::cmd::get",
                "apply",
                "Get::apply",
            ),
            (
                "app::handler::__PollwatchScope",
                "app",
                "handler",
                "handler",
            ),
            (
                "app::cmd::<impl app::cmd::Command for app::cmd::get::Get>::apply::__PollwatchScope",
                "app::cmd",
                "apply",
                "Get::apply",
            ),
            (
                "app::db::Db<K, V>::get::__PollwatchScope",
                "app::db",
                "get",
                "Db::get",
            ),
            (
                "app::main::{{closure}}::__PollwatchScope",
                "app",
                "main",
                "main",
            ),
            (
                "app::outer::inner::__PollwatchScope",
                "app",
                "inner",
                "inner",
            ),
            (
                "app::tests::a_test::helper::__PollwatchScope",
                "app::tests",
                "helper",
                "helper",
            ),
            (
                "app::Service::provided::__PollwatchScope",
                "app",
                "provided",
                "Service::provided",
            ),
            (
                "app::<impl app::Db>::len::__PollwatchScope",
                "app",
                "len",
                "Db::len",
            ),
            ("something unexpected", "app", "f", "f"),
        ];
        for (scope, module, ident, expected) in cases {
            assert_eq!(qualified_name(scope, module, ident), expected, "{scope}");
        }
    }
}
