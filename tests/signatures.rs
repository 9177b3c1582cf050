//! Every signature `#[async_timed]` must accept, each checked for behaviour (same output as the
//! plain fn) and for its start/finish events.

mod support;

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use pollwatch::async_timed;
use support::capture;

fn block_on<F: Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

fn assert_send<T: Send>(_: &T) {}

#[async_timed]
async fn free(a: u32, b: &str) -> usize {
    a as usize + b.len()
}

#[async_timed]
async fn unit_return() {}

#[async_timed]
async fn early_return_and_question_mark(x: i32) -> Result<i32, std::num::ParseIntError> {
    if x < 0 {
        return Ok(-1);
    }
    let parsed: i32 = "41".parse()?;
    Ok(parsed + x)
}

#[async_timed]
async fn question_mark_with_conversion(
    s: &str,
) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    Ok(s.parse::<u8>()?)
}

#[async_timed]
async fn generic<T: Debug + Clone + Send, U>(t: T, _u: U) -> T
where
    U: Send,
{
    t.clone()
}

#[async_timed]
async fn lifetimes<'a, 'b: 'a>(x: &'a str, y: &'b str) -> &'a str {
    if x.len() > y.len() { x } else { y }
}

#[async_timed]
async fn elided(x: &[u8]) -> &[u8] {
    &x[1..]
}

#[async_timed]
async fn impl_trait_arg(x: impl Debug + Send, n: impl Into<u64>) -> u64 {
    let _ = format!("{x:?}");
    n.into()
}

#[async_timed]
async fn impl_trait_return(n: u32) -> impl std::fmt::Display {
    n * 2
}

#[async_timed]
async fn patterns((a, b): (u32, u32), _: u8, mut c: u32, Wrapper(d): Wrapper) -> u32 {
    c += 1;
    a + b + c + d
}

struct Wrapper(u32);

#[async_timed]
fn returns_impl_future(n: u32) -> impl Future<Output = u32> {
    let doubled = n * 2;
    async move { doubled + 1 }
}

#[async_timed]
fn returns_impl_future_with_early_return(n: u32) -> impl Future<Output = u32> + Send {
    if n == 0 {
        return futures::future::Either::Left(async { 0 });
    }
    futures::future::Either::Right(async move { n })
}

#[async_timed]
async fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        Box::pin(fib(n - 1)).await + Box::pin(fib(n - 2)).await
    }
}

#[derive(Debug, Default)]
struct Counter {
    n: u64,
}

struct NotDebug(u64);

impl Counter {
    #[async_timed]
    async fn by_ref(&self, add: u64) -> u64 {
        self.n + add
    }

    #[async_timed]
    async fn by_mut(&mut self) -> u64 {
        self.n += 1;
        self.n
    }

    #[async_timed]
    async fn by_value(self) -> u64 {
        self.n
    }

    #[async_timed]
    async fn by_mut_value(mut self) -> u64 {
        self.n += 10;
        self.n
    }

    #[async_timed]
    async fn by_arc(self: Arc<Self>) -> u64 {
        self.n
    }

    #[async_timed]
    async fn constructor(n: u64) -> Self {
        Counter { n }
    }

    #[async_timed]
    async fn generic_method<T: Into<u64>>(&self, t: T) -> u64 {
        self.n + t.into()
    }

    #[async_timed]
    async fn not_debug_arg(&self, x: NotDebug) -> u64 {
        x.0
    }
}

trait Service {
    async fn call(&self, req: u32) -> u32;
    fn call_send(&self, req: u32) -> impl Future<Output = u32> + Send;
    #[async_timed]
    async fn provided(&self, req: u32) -> u32 {
        req + 1000
    }
}

impl Service for Counter {
    #[async_timed]
    async fn call(&self, req: u32) -> u32 {
        req + self.n as u32
    }

    #[async_timed]
    async fn call_send(&self, req: u32) -> u32 {
        req * 2
    }
}

#[async_trait::async_trait]
trait DynService {
    async fn handle(&self, req: String) -> usize;
}

#[async_trait::async_trait]
impl DynService for Counter {
    #[async_timed]
    async fn handle(&self, req: String) -> usize {
        req.len() + self.n as usize
    }
}

#[test]
fn free_fns_behave_like_the_originals() {
    let ((), events) = capture(|| {
        block_on(async {
            assert_eq!(free(2, "abc").await, 5);
            unit_return().await;
            assert_eq!(early_return_and_question_mark(-5).await, Ok(-1));
            assert_eq!(early_return_and_question_mark(1).await, Ok(42));
            assert!(question_mark_with_conversion("300").await.is_err());
            assert_eq!(generic(vec![1], "u").await, vec![1]);
            assert_eq!(lifetimes("ab", "abc").await, "abc");
            assert_eq!(elided(&[1, 2, 3]).await, &[2, 3]);
            assert_eq!(impl_trait_arg("x", 7u8).await, 7);
            assert_eq!(impl_trait_return(21).await.to_string(), "42");
            assert_eq!(patterns((1, 2), 0, 3, Wrapper(4)).await, 11);
            assert_eq!(returns_impl_future(5).await, 11);
            assert_eq!(returns_impl_future_with_early_return(0).await, 0);
            assert_eq!(returns_impl_future_with_early_return(3).await, 3);
            assert_eq!(fib(10).await, 55);
        })
    });
    let started = events.with_target("pollwatch");
    let start = started
        .iter()
        .find(|e| e.field("fn") == Some("free"))
        .unwrap();
    assert_eq!(start.field("a"), Some("2"));
    assert_eq!(start.field("b"), Some("\"abc\""));
    let pat = started
        .iter()
        .find(|e| e.field("fn") == Some("patterns"))
        .unwrap();
    assert_eq!(pat.field("(a, b)"), Some("(1, 2)"));
    assert_eq!(pat.field("c"), Some("3"));
    // 177 calls of fib(10): start + finish each.
    assert_eq!(events.of_fn("pollwatch", "fib").len(), 2 * 177);
}

#[test]
fn methods_with_every_receiver() {
    let ((), events) = capture(|| {
        block_on(async {
            let mut c = Counter::constructor(1).await;
            assert_eq!(c.by_ref(2).await, 3);
            assert_eq!(c.by_mut().await, 2);
            assert_eq!(c.generic_method(3u8).await, 5);
            assert_eq!(c.not_debug_arg(NotDebug(9)).await, 9);
            assert_eq!(Arc::new(Counter { n: 4 }).by_arc().await, 4);
            assert_eq!(Counter { n: 1 }.by_mut_value().await, 11);
            assert_eq!(c.by_value().await, 2);
        })
    });
    // Methods are named after their type, everywhere.
    let e = events.of_fn("pollwatch", "Counter::by_ref");
    assert_eq!(e[0].field("self"), Some("Counter { n: 1 }"));
    assert_eq!(e[0].field("add"), Some("2"));
    let nd = events.of_fn("pollwatch", "Counter::not_debug_arg");
    assert_eq!(
        nd[0].field("x"),
        Some("_"),
        "a non-Debug argument is shown as `_`"
    );
}

#[test]
fn trait_methods_native_and_async_trait() {
    let ((), events) = capture(|| {
        block_on(async {
            let c = Counter { n: 1 };
            assert_eq!(c.call(1).await, 2);
            assert_eq!(c.call_send(2).await, 4);
            assert_eq!(c.provided(1).await, 1001);
            let dynamic: Box<dyn DynService + Send + Sync> = Box::new(Counter { n: 2 });
            assert_eq!(dynamic.handle("abc".into()).await, 5);
        })
    });
    // A trait impl's method by its type; a provided method by its trait.
    for name in [
        "Counter::call",
        "Counter::call_send",
        "Service::provided",
        "Counter::handle",
    ] {
        let e = events.of_fn("pollwatch", name);
        assert_eq!(e.len(), 2, "start and finish of {name}: {e:?}");
    }
    let handle = events.of_fn("pollwatch", "Counter::handle");
    assert_eq!(handle[0].field("req"), Some("\"abc\""));
}

#[test]
fn futures_stay_send() {
    let c = Counter::default();
    assert_send(&free(1, "x"));
    assert_send(&generic(1u8, 2u8));
    assert_send(&c.by_ref(1));
    assert_send(&fib(3));
    assert_send(&c.call_send(1));
    assert_send(&patterns((1, 2), 0, 3, Wrapper(4)));
    assert_send(&returns_impl_future(1));
}

#[test]
fn spawned_on_tokio_multi_thread() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let out = rt.block_on(async {
        let h = tokio::spawn(fib(12));
        let c = Arc::new(Counter { n: 3 });
        let h2 = tokio::spawn(c.by_arc());
        (h.await.unwrap(), h2.await.unwrap())
    });
    assert_eq!(out, (144, 3));
}
