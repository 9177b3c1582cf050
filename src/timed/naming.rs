//! The names `pollwatch::spawn` gives tasks (with the `console` feature and `--cfg
//! tokio_unstable`): the registry belongs to its producer, the `Timed` constructor.
//!
//! A future's type says nothing pollwatch can read at run time, and stable Rust has no
//! specialization to ask "is this a `Timed`?". So each `Timed` constructor leaves its own type's
//! name and call site in a thread-local, and `spawn` names the task only if the future it was
//! given *is* (or wraps) that type: `spawn(work(1))` and `spawn(work(1).instrument(span))` are
//! named `work`; a future made earlier and spawned after another one was created is compared,
//! does not match, and stays unnamed rather than misnamed.

use std::cell::Cell;
use std::sync::OnceLock;

use super::Timed;
use crate::site::CallSite;

thread_local! {
    /// The type name of the last `Timed` created on this thread, and its call site.
    static LAST: Cell<Option<(&'static str, &'static CallSite)>> = const { Cell::new(None) };
}

/// Called by every `Timed` constructor.
#[inline]
pub(crate) fn created<T>(cs: &'static CallSite) {
    let _ = LAST.try_with(|last| last.set(Some((std::any::type_name::<T>(), cs))));
}

/// Called after a `Timed` whose type does not identify its fn (one wrapping the future a
/// plain fn returned: two such fns may both return `Timed<Sleep>`): nothing to name.
#[inline]
pub(crate) fn forget() {
    let _ = LAST.try_with(|last| last.set(None));
}

/// `pollwatch::timed::Timed<`, however the compiler spells it.
fn timed_prefix() -> &'static str {
    static PREFIX: OnceLock<&'static str> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let full = std::any::type_name::<Timed<std::future::Ready<()>>>();
        full.find('<').map_or(full, |i| &full[..=i])
    })
}

/// The fn name for a future of type `F`: if the last `Timed` created here is `F` or inside
/// it, and it is the only `Timed` in `F` (`select(a(), b())` is neither `a` nor `b`).
pub(crate) fn name_of<F>() -> Option<&'static str> {
    let (timed, cs) = LAST.try_with(Cell::get).ok().flatten()?;
    let spawned = std::any::type_name::<F>();
    if std::ptr::eq(timed, spawned) {
        return Some(cs.name());
    }
    let only = spawned.matches(timed_prefix()).count() == 1;
    (only && spawned.contains(timed)).then(|| cs.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::no_events;

    static CS: CallSite = CallSite::new("work", "m", "a.rs", 1, 0, no_events);

    struct Wrapper<T>(T);
    type A = Timed<std::future::Ready<u8>>;
    type B = Timed<std::future::Ready<u16>>;

    #[test]
    fn names_the_type_created_last_or_a_wrapper_of_it() {
        created::<A>(&CS);
        assert_eq!(name_of::<A>(), Some("work"));
        assert_eq!(name_of::<Wrapper<A>>(), Some("work"));
        assert_eq!(name_of::<B>(), None);
        created::<B>(&CS);
        assert_eq!(name_of::<A>(), None, "an older future is not misnamed");
        forget();
        assert_eq!(name_of::<B>(), None, "forgotten");
    }

    #[test]
    fn a_future_holding_two_timed_futures_is_neither() {
        created::<B>(&CS);
        assert_eq!(name_of::<Wrapper<B>>(), Some("work"));
        assert_eq!(name_of::<(A, B)>(), None);
        assert_eq!(name_of::<Wrapper<(B, B)>>(), None);
    }
}
