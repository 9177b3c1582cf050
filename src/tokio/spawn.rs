//! `spawn` / `spawn_local`: Tokio's, plus a task name taken from the `#[async_timed]` fn that
//! made the future (with the `console` feature and `--cfg tokio_unstable`), found by
//! `crate::timed::naming`.

use std::future::Future;

use tokio::task::JoinHandle;

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
    if let Some(name) = crate::timed::naming::name_of::<F>() {
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
    if let Some(name) = crate::timed::naming::name_of::<F>() {
        return match tokio::task::Builder::new().name(name).spawn_local(future) {
            Ok(handle) => handle,
            Err(e) => panic!("pollwatch::spawn_local: Tokio could not spawn the task: {e}"),
        };
    }
    tokio::task::spawn_local(future)
}
