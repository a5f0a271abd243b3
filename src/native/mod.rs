//! The native shell: the same filter as an Envoy dynamic module (`libcookieless.so`), beside the
//! proxy-wasm shell of `filter`. It maps the module's hooks onto `session::Exchange` and
//! implements `Host` with the dynamic-module ABI; no decision is taken here.
//!
//! - `abi`: the C ABI of Envoy 1.40.0, declared by hand (only what is used);
//! - `hooks`: the functions Envoy calls, each behind a panic guard;
//! - `host`: `Host` for one stream;
//! - `headers`: its header half, one header at a time;
//! - `grpc`: unary gRPC calls over Envoy's HTTP streams (the `grpc` store);
//! - `shared`: the process-wide map the `shared_data` store keeps its buckets in.
//!
//! Threads: Envoy creates the configuration on its main thread and shares it with every worker,
//! so [`NativeConfig`] is `Send + Sync` (the settings behind an `Arc`); a stream's hooks all run
//! on its worker, so a [`NativeFilter`] is only ever used by one thread.

mod abi;
mod grpc;
mod headers;
mod hooks;
mod host;
mod shared;

use crate::config::Config;
use crate::metrics::Metric;
use crate::session::{Exchange, Next, Settings};
use abi::{EnvoyFilterConfig, ModuleBuffer};
use host::NativeHost;
use std::cell::{Cell, UnsafeCell};
use std::rc::Rc;
use std::sync::Arc;

/// What `filter_config` configured: built once, shared by every worker.
pub struct NativeConfig {
    settings: Arc<Settings>,
    /// Envoy's id of each counter, by `Metric::index`.
    counters: Arc<[usize]>,
}

/// Compile-time proof that one configuration may be shared by Envoy's worker threads.
const _: fn() = || {
    fn shared_by_workers<T: Send + Sync>() {}
    shared_by_workers::<NativeConfig>();
};

impl NativeConfig {
    /// The same JSON as the Wasm build's `configuration`; the same one-line error naming the field.
    fn new(envoy: EnvoyFilterConfig, json: &[u8]) -> Result<NativeConfig, String> {
        let env = |name: &str| std::env::var(name).ok();
        let settings = Config::parse(json, &env).and_then(Settings::from_config).map_err(|e| e.to_string())?;
        let counters = Metric::ALL.iter().map(|m| define_counter(envoy, m.name())).collect::<Result<Vec<_>, _>>()?;
        Ok(NativeConfig { settings: Arc::new(settings), counters: counters.into() })
    }
}

/// Counters exist only if defined while the configuration is created.
fn define_counter(envoy: EnvoyFilterConfig, name: &str) -> Result<usize, String> {
    let mut id = 0usize;
    // SAFETY: `envoy` is the configuration Envoy is creating now; it copies the name.
    let result = unsafe {
        abi::envoy_dynamic_module_callback_http_filter_config_define_counter(envoy, ModuleBuffer::of(name.as_bytes()), std::ptr::null_mut(), 0, &mut id)
    };
    if result == abi::METRICS_SUCCESS {
        Ok(id)
    } else {
        Err(format!("cookieless: cannot define the counter {name} (result {result})"))
    }
}

/// One HTTP stream.
///
/// Envoy may call back into the filter from inside a callback the filter made: a stream to the
/// session service that fails at once (no healthy host) ends inside `start_http_stream`; a local
/// reply is encoded, through this filter's response hooks, inside `send_response`. So the hooks
/// share the filter (`&NativeFilter`), and only the outermost one works on its state. A paused
/// request or response is continued only after the hook is done (`hooks::finish_call`): what
/// Envoy then runs inside the continue call reaches the hooks as any other event.
pub struct NativeFilter {
    state: UnsafeCell<FilterState>,
    /// A hook is running: a nested one only notes which stream ended in `early`.
    busy: Cell<bool>,
    early: EarlyEnds,
}

pub struct FilterState {
    /// `None` after a panic: the stream then passes untouched.
    exchange: Option<Exchange>,
    host: NativeHost,
}

/// Streams to the session service whose events arrived inside the call that started them: such a
/// call never started, as far as the exchange is concerned. Shared by the filter and its host.
pub type EarlyEnds = Rc<Cell<Vec<u64>>>;

impl NativeFilter {
    fn new(config: &NativeConfig, envoy: abi::EnvoyFilter) -> NativeFilter {
        NativeFilter::with(Arc::clone(&config.settings), Arc::clone(&config.counters), envoy)
    }

    fn with(settings: Arc<Settings>, counters: Arc<[usize]>, envoy: abi::EnvoyFilter) -> NativeFilter {
        let early = EarlyEnds::default();
        let state = FilterState { exchange: Some(Exchange::new(settings)), host: NativeHost::new(envoy, counters, Rc::clone(&early)) };
        NativeFilter { state: UnsafeCell::new(state), busy: Cell::new(false), early }
    }
}

/// A hook's status: Continue, or StopIteration (headers, trailers) / StopIterationAndBuffer
/// (bodies), which share the value 1.
fn status(next: Next) -> u32 {
    match next {
        Next::Continue => abi::CONTINUE,
        Next::Pause => abi::STOP_ITERATION,
    }
}

/// `log` lines go to Envoy's log, under its `dynamic_modules` logger.
struct EnvoyLogger;

impl log::Log for EnvoyLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = match record.level() {
            log::Level::Error => abi::LOG_ERROR,
            log::Level::Warn => abi::LOG_WARN,
            log::Level::Info => abi::LOG_INFO,
            log::Level::Debug | log::Level::Trace => abi::LOG_DEBUG,
        };
        let line = record.args().to_string();
        // SAFETY: Envoy copies the message during the call.
        unsafe { abi::envoy_dynamic_module_callback_log(level, ModuleBuffer::of(line.as_bytes())) };
    }

    fn flush(&self) {}
}

static LOGGER: EnvoyLogger = EnvoyLogger;
