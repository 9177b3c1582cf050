//! A panic while the watchdog reports a stall (a tracing layer, a callback) must not stop stall
//! detection for the rest of the process. Its own binary: the test installs a global subscriber
//! whose layer panics on the first stall event it sees.
#![cfg(feature = "tokio")]

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pollwatch::{Builder, Config, DebugMode, async_timed, targets};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::{Layer, Registry};

static STALL_EVENTS: AtomicUsize = AtomicUsize::new(0);
static STALLED_FNS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Panics on the first stall report, records the `fn` of the others.
struct PanicsOnFirstStall;

struct FnField(Option<String>);
impl Visit for FnField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "fn" {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "fn" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for PanicsOnFirstStall {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != targets::STALL {
            return;
        }
        if STALL_EVENTS.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("a layer that panics while the watchdog reports");
        }
        let mut f = FnField(None);
        event.record(&mut f);
        if let Some(name) = f.0 {
            STALLED_FNS.lock().unwrap().push(name);
        }
    }
}

#[async_timed]
async fn first_blocker() {
    std::thread::sleep(Duration::from_millis(400));
}

#[async_timed]
async fn second_blocker() {
    std::thread::sleep(Duration::from_millis(400));
}

#[test]
fn the_watchdog_survives_a_panicking_layer() {
    tracing::subscriber::set_global_default(Registry::default().with(PanicsOnFirstStall)).unwrap();
    Config::default()
        .debug_mode(DebugMode::On)
        .slow_poll(Duration::from_millis(100))
        .apply();
    let rt = Builder::new_current_thread().build().unwrap();
    rt.block_on(first_blocker());
    assert!(
        STALL_EVENTS.load(Ordering::SeqCst) >= 1,
        "the first stall was reported (and the layer panicked)"
    );
    rt.block_on(second_blocker());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !STALLED_FNS
        .lock()
        .unwrap()
        .iter()
        .any(|f| f == "second_blocker")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no stall reported after the panic: {:?}",
            STALLED_FNS.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
