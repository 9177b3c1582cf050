//! `spawn` / `spawn_local`: Tokio's, plus a task name taken from the `#[async_timed]` fn that
//! made the future (with the `console` feature and `--cfg tokio_unstable`).
//!
//! A future's type says nothing pollwatch can read at run time, and stable Rust has no
//! specialization to ask "is this a `Timed`?". So each `Timed` constructor leaves its own type's
//! name and call site in a thread-local, and `spawn` names the task only if the future it was
//! given *is* (or wraps) that type: `spawn(work(1))` and `spawn(work(1).instrument(span))` are
//! named `work`; a future made earlier and spawned after another one was created is compared,
//! does not match, and stays unnamed rather than misnamed.

use std::future::Future;

use tokio::task::JoinHandle;

#[cfg(all(tokio_unstable, feature = "console"))]
mod naming {
    use std::cell::Cell;
    use std::sync::OnceLock;

    use crate::callsite::CallSite;
    use crate::timed::Timed;

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
}

#[cfg(all(tokio_unstable, feature = "console"))]
pub(crate) use naming::{created, forget};

/// [`tokio::spawn`], naming the task after the `#[async_timed]` fn that made `future`.
///
/// With the `console` feature and `--cfg tokio_unstable`, tokio-console (and anything else that
/// reads Tokio's task spans) lists the task as `fetch_prices` instead of a bare id. The name is
/// found when `future` is the value an annotated fn returned, possibly wrapped (as in
/// `spawn(fetch_prices().instrument(span))`) and created on this thread since the last other
/// annotated call. Otherwise, or in other builds, the task is unnamed, exactly as
/// [`tokio::spawn`] would make it.
///
/// `#[track_caller]`: the task's spawn location (the console's *Location* column, pollwatch's
/// `spawned_at`) is the caller's line, not a line of pollwatch.
///
/// # Panics
///
/// Like [`tokio::spawn`], when called outside a Tokio runtime.
///
/// # Examples
///
/// ```
/// #[pollwatch::async_timed]
/// async fn fetch_prices(n: u32) -> u32 {
///     n * 2
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let task = pollwatch::spawn(fetch_prices(21)); // listed as `fetch_prices` in tokio-console
/// assert_eq!(task.await.unwrap(), 42);
/// # }
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg(all(tokio_unstable, feature = "console"))]
    if let Some(name) = naming::name_of::<F>() {
        return match tokio::task::Builder::new().name(name).spawn(future) {
            Ok(handle) => handle,
            Err(e) => panic!("pollwatch::spawn: Tokio could not spawn the task: {e}"),
        };
    }
    tokio::spawn(future)
}

/// [`tokio::task::spawn_local`], naming the task like [`spawn`] does: for futures that are not
/// `Send`, on a [`LocalSet`](tokio::task::LocalSet).
///
/// # Panics
///
/// Like [`tokio::task::spawn_local`], when called outside a `LocalSet` (or a local runtime).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// #[pollwatch::async_timed(skip(shared))]
/// async fn render(shared: Rc<String>) -> usize {
///     shared.len()
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let local = tokio::task::LocalSet::new();
/// let len = local
///     .run_until(async {
///         let page = Rc::new("<html>".to_owned());
///         pollwatch::spawn_local(render(page)).await.unwrap()
///     })
///     .await;
/// assert_eq!(len, 6);
/// # }
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    #[cfg(all(tokio_unstable, feature = "console"))]
    if let Some(name) = naming::name_of::<F>() {
        return match tokio::task::Builder::new().name(name).spawn_local(future) {
            Ok(handle) => handle,
            Err(e) => panic!("pollwatch::spawn_local: Tokio could not spawn the task: {e}"),
        };
    }
    tokio::task::spawn_local(future)
}

#[cfg(all(test, tokio_unstable, feature = "console"))]
mod tests {
    use super::naming::{created, name_of};
    use crate::callsite::{CallSite, Emit};
    use crate::timed::Timed;

    fn nop(_: &'static CallSite, _: Emit<'_>) -> bool {
        false
    }
    static CS: CallSite = CallSite::new("work", "m", "a.rs", 1, 0, nop);

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
        super::forget();
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
