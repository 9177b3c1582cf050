//! [`DebugMode`]: whether polls are watched, and how loudly.

use std::fmt;

/// Whether pollwatch watches polls, how exactly, and how loudly it complains.
///
/// The start/finish events of `#[async_timed]` are logged in every mode; the mode decides whether
/// polls are checked against the slow-poll threshold (asyncio's `loop.set_debug(True)`).
///
/// | | `Off` | `Watch` (production) | `On` (debug), `Strict` |
/// |---|---|---|---|
/// | slow polls reported, with culprit, chain, kind, duration | no | yes | yes |
/// | stalls reported while they last, with the stack | no | yes | yes |
/// | every poll timed: per-fn poll histograms, busy time, blame by exact self time | no | no | yes |
/// | `#[pollwatch::test]` | — | — | always `On` |
///
/// In `Watch` mode no poll reads the clock: the outermost poll on a thread records a coarse
/// timestamp (kept by a 1 ms ticker thread), and only a poll the watchdog saw running for half
/// the threshold reads the clock when it ends. A slow poll's duration is then within about a
/// millisecond; it is blamed on the fn the watchdog saw blocking, not on the fn with the most
/// self time (see the guide's chapter "Production", `pollwatch::guide::production`).
///
/// # Examples
///
/// ```
/// use pollwatch::DebugMode;
///
/// pollwatch::set_debug_mode(DebugMode::On);
/// assert!(pollwatch::debug_mode().is_on());
/// assert!(!DebugMode::Off.is_on());
/// assert!(DebugMode::Strict.is_strict());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DebugMode {
    /// Only the `#[async_timed]` start/finish events; polls are not checked.
    Off,
    /// Slow polls are reported as `WARN` events (asyncio's debug mode).
    On,
    /// Slow polls are reported as `ERROR` events, for CI.
    Strict,
    /// The production profile: slow polls and stalls are caught and reported with their culprit,
    /// chain, kind and duration, at a fraction of `On`'s cost per poll; fast polls are not timed.
    /// The default of `#[pollwatch::main]` and `pollwatch::run` in release builds.
    Watch,
}

impl DebugMode {
    /// The mode used when neither code nor environment chose one: [`DebugMode::On`] when the
    /// crate was built with `debug_assertions` (like `python -X dev`), [`DebugMode::Off`] otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// # use pollwatch::DebugMode;
    /// assert_eq!(DebugMode::build_default().is_on(), cfg!(debug_assertions));
    /// ```
    pub const fn build_default() -> Self {
        if cfg!(debug_assertions) {
            DebugMode::On
        } else {
            DebugMode::Off
        }
    }

    /// `true` when polls are checked: every mode but [`DebugMode::Off`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use pollwatch::DebugMode;
    /// assert!(DebugMode::On.is_on() && DebugMode::Strict.is_on() && DebugMode::Watch.is_on());
    /// assert!(!DebugMode::Off.is_on());
    /// ```
    pub const fn is_on(self) -> bool {
        !matches!(self, DebugMode::Off)
    }

    /// `true` when every poll is timed exactly: [`DebugMode::On`] and [`DebugMode::Strict`], not
    /// the production profile [`DebugMode::Watch`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use pollwatch::DebugMode;
    /// assert!(DebugMode::On.is_exact() && DebugMode::Strict.is_exact());
    /// assert!(!DebugMode::Watch.is_exact() && !DebugMode::Off.is_exact());
    /// ```
    pub const fn is_exact(self) -> bool {
        matches!(self, DebugMode::On | DebugMode::Strict)
    }

    /// `true` for the production profile, [`DebugMode::Watch`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use pollwatch::DebugMode;
    /// assert!(DebugMode::Watch.is_watch() && !DebugMode::On.is_watch());
    /// ```
    pub const fn is_watch(self) -> bool {
        matches!(self, DebugMode::Watch)
    }

    /// `true` for [`DebugMode::Strict`] only.
    ///
    /// # Examples
    ///
    /// ```
    /// # use pollwatch::DebugMode;
    /// assert!(DebugMode::Strict.is_strict() && !DebugMode::On.is_strict());
    /// ```
    pub const fn is_strict(self) -> bool {
        matches!(self, DebugMode::Strict)
    }

    /// For the process-wide atomic; 0 is reserved for "not initialized yet".
    pub(crate) const fn to_u8(self) -> u8 {
        match self {
            DebugMode::Off => 1,
            DebugMode::On => 2,
            DebugMode::Strict => 3,
            DebugMode::Watch => 4,
        }
    }

    /// The inverse of [`DebugMode::to_u8`]; `None` for "not initialized yet".
    #[inline]
    pub(crate) const fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(DebugMode::Off),
            2 => Some(DebugMode::On),
            3 => Some(DebugMode::Strict),
            4 => Some(DebugMode::Watch),
            _ => None,
        }
    }
}

impl fmt::Display for DebugMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DebugMode::Off => "off",
            DebugMode::On => "on",
            DebugMode::Strict => "strict",
            DebugMode::Watch => "watch",
        })
    }
}
