//! Where a report about a thread is made: here, or, for a thread a `#[pollwatch::test]` runs,
//! on that test's printer thread (`tokio::gate`), so that it lands in the test's captured
//! output. Detectors hold a [`Route`] per watched thread and hand it the dispatcher's call.

/// A report to make on another thread.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// Where reports about a thread are made when they are made elsewhere: a `#[pollwatch::test]`
/// routes the watchdog's reports about its threads to a thread of its own, started from the
/// test, so they land in that test's captured output and not in another test's.
#[derive(Clone, Debug)]
pub(crate) struct Route(std::sync::mpsc::Sender<Option<Job>>);

impl Route {
    /// A route to the thread receiving from `tx` (a `#[pollwatch::test]`'s printer).
    #[cfg(feature = "tokio")]
    pub(crate) fn new(tx: std::sync::mpsc::Sender<Option<Job>>) -> Self {
        Route(tx)
    }

    /// Runs `job` where `route` says, or here without one.
    pub(crate) fn run_or_here(route: Option<&Route>, job: impl FnOnce() + Send + 'static) {
        match route {
            Some(route) => route.run(Box::new(job)),
            None => job(),
        }
    }

    /// Runs `job` on the route's thread. Once that thread has stopped (its test is over), the
    /// report is dropped rather than made in another test's output: only a late follow-up (a
    /// stall's native stack) can arrive then, and the stall itself is stored for the report.
    pub(crate) fn run(&self, job: Job) {
        let _ = self.0.send(Some(job));
    }
}
