//! [`DebugMode`]: whether polls are watched, and how loudly.

use std::fmt;

/// Whether pollwatch watches polls, and how loudly it complains.
///
/// The start/finish events of `#[async_timed]` are logged in every mode; the mode decides whether
/// each poll is timed against the slow-poll threshold (asyncio's `loop.set_debug(True)`).
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
pub enum DebugMode {
    /// Only the `#[async_timed]` start/finish events; polls are not checked.
    Off,
    /// Slow polls are reported as `WARN` events (asyncio's debug mode).
    On,
    /// Slow polls are reported as `ERROR` events, for CI.
    Strict,
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

    /// `true` for [`DebugMode::On`] and [`DebugMode::Strict`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use pollwatch::DebugMode;
    /// assert!(DebugMode::On.is_on() && DebugMode::Strict.is_on() && !DebugMode::Off.is_on());
    /// ```
    pub const fn is_on(self) -> bool {
        !matches!(self, DebugMode::Off)
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
        }
    }

    /// The inverse of [`DebugMode::to_u8`]; `None` for "not initialized yet".
    #[inline]
    pub(crate) const fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(DebugMode::Off),
            2 => Some(DebugMode::On),
            3 => Some(DebugMode::Strict),
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
        })
    }
}
