//! The thin proxy-wasm shell: maps Envoy's callbacks onto `session::Exchange`, and implements
//! `Host` with proxy-wasm host calls. No decision is taken here.

use crate::config::{Config, ConfigError, OnError, Store};
use crate::host::{Host, SharedDataError};
use crate::metrics::Metric;
use crate::session::{Exchange, Next, Resume, Settings};
use crate::store::shared_data::SharedDataStore;
use crate::store::grpc::GrpcStore;
use crate::store::{CallReply, SessionStore};
use crate::token::KeyRing;
use log::{debug, error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType, Status};
use std::cell::OnceCell;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(CookielessRoot::default()) });
}}

#[derive(Default)]
struct CookielessRoot {
    settings: Option<Rc<Settings>>,
    metric_ids: Rc<Vec<u32>>,
}

impl Context for CookielessRoot {}

impl RootContext for CookielessRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let json = self.get_plugin_configuration().unwrap_or_default();
        let env = |name: &str| std::env::var(name).ok();
        let settings = Config::parse(&json, &env).and_then(|config| {
            let ring = KeyRing::new(&config.keys).ok_or_else(|| ConfigError {
                field: "keys".into(),
                problem: "the key ring could not be built".into(),
            })?;
            let on_store_error = match &config.store {
                Store::Grpc { on_error, .. } => *on_error,
                Store::SharedData { .. } => OnError::FailOpen,
            };
            Ok(Settings { store: store_for(&config), ring, config, on_store_error })
        });
        match settings {
            Ok(settings) => {
                self.metric_ids = Rc::new(define_metrics());
                self.settings = Some(Rc::new(settings));
                info!("cookieless: configured");
                true
            }
            Err(e) => {
                error!("{e}");
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let exchange = self.settings.as_ref().map(|s| Exchange::new(Rc::clone(s)));
        Some(Box::new(CookielessHttp { exchange, host: WasmHost::new(Rc::clone(&self.metric_ids)) }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

fn store_for(config: &Config) -> Box<dyn SessionStore> {
    match &config.store {
        Store::SharedData { max_sessions, idle_timeout_seconds } => {
            Box::new(SharedDataStore::new(*max_sessions, *idle_timeout_seconds))
        }
        Store::Grpc { cluster, timeout_ms, idle_timeout_seconds, .. } => Box::new(GrpcStore {
            cluster: cluster.clone(),
            timeout_ms: *timeout_ms,
            idle_timeout_seconds: *idle_timeout_seconds,
        }),
    }
}

fn define_metrics() -> Vec<u32> {
    Metric::ALL
        .iter()
        .map(|m| hostcalls::define_metric(MetricType::Counter, m.name()).unwrap_or(u32::MAX))
        .collect()
}

struct CookielessHttp {
    /// `None` only if configuration failed, and then Envoy does not serve.
    exchange: Option<Exchange>,
    host: WasmHost,
}

fn action(next: Next) -> Action {
    match next {
        Next::Continue => Action::Continue,
        Next::Pause => Action::Pause,
    }
}

impl Context for CookielessHttp {
    fn on_grpc_call_response(&mut self, token_id: u32, status_code: u32, response_size: usize) {
        let Some(exchange) = self.exchange.as_mut() else { return };
        let body = logged(
            "get grpc reply",
            hostcalls::get_buffer(BufferType::GrpcReceiveBuffer, 0, response_size),
        )
        .unwrap_or_default();
        let resumed = match exchange.on_store_reply(&mut self.host, token_id, CallReply { status: status_code, body }) {
            Resume::Request => hostcalls::resume_http_request(),
            Resume::Response => hostcalls::resume_http_response(),
            Resume::Nothing => Ok(()),
        };
        logged("resume", resumed);
    }
}

impl HttpContext for CookielessHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some(exchange) = self.exchange.as_mut() else { return Action::Continue };
        action(exchange.on_request_headers(&mut self.host, end_of_stream))
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(exchange) = self.exchange.as_mut() else { return Action::Continue };
        action(exchange.on_request_body(&mut self.host, body_size, end_of_stream))
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some(exchange) = self.exchange.as_mut() else { return Action::Continue };
        action(exchange.on_response_headers(&mut self.host, end_of_stream))
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(exchange) = self.exchange.as_mut() else { return Action::Continue };
        action(exchange.on_response_body(&mut self.host, body_size, end_of_stream))
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        let Some(exchange) = self.exchange.as_mut() else { return Action::Continue };
        action(exchange.on_response_trailers(&mut self.host))
    }
}

/// `Host` through proxy-wasm host calls. Failures are logged at debug and treated as absent:
/// the SDK's own wrappers panic on them, which would kill the VM.
struct WasmHost {
    metric_ids: Rc<Vec<u32>>,
    request_headers: HeaderCache,
    response_headers: HeaderCache,
}

impl WasmHost {
    fn new(metric_ids: Rc<Vec<u32>>) -> WasmHost {
        WasmHost {
            metric_ids,
            request_headers: HeaderCache::new(MapType::HttpRequestHeaders),
            response_headers: HeaderCache::new(MapType::HttpResponseHeaders),
        }
    }
}

/// One header map as the filter last saw it. Reading one header is a round trip V8 → Envoy → V8
/// (Envoy calls into the VM to allocate the value), about 1.6 µs measured in this Envoy; reading
/// the whole map costs about one and a half of those. So the map is read once, on first use, and
/// kept in step with the filter's own writes; removing a header that is not there costs nothing.
struct HeaderCache {
    map: MapType,
    pairs: OnceCell<Vec<(String, String)>>,
}

impl HeaderCache {
    fn new(map: MapType) -> HeaderCache {
        HeaderCache { map, pairs: OnceCell::new() }
    }

    fn pairs(&self) -> &[(String, String)] {
        self.pairs.get_or_init(|| {
            let pairs = logged("get headers", hostcalls::get_map_bytes(self.map));
            pairs.into_iter().map(|(name, value)| (name, text(value))).collect()
        })
    }

    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a String> {
        self.pairs().iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    fn get(&self, name: &str) -> Option<String> {
        self.values(name).next().cloned()
    }

    fn add(&mut self, name: &str, value: &str) {
        logged("add header", hostcalls::add_map_value(self.map, name, value));
        if let Some(pairs) = self.pairs.get_mut() {
            pairs.push((name.to_string(), value.to_string()));
        }
    }

    fn set(&mut self, name: &str, value: Option<&str>) {
        if value.is_none() && self.values(name).next().is_none() {
            return;
        }
        logged("set header", hostcalls::set_map_value(self.map, name, value));
        if let Some(pairs) = self.pairs.get_mut() {
            pairs.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            pairs.extend(value.map(|v| (name.to_string(), v.to_string())));
        }
    }
}

fn logged<T: Default>(what: &str, result: Result<T, Status>) -> T {
    result.unwrap_or_else(|status| {
        debug!("cookieless: {what} failed: {status:?}");
        T::default()
    })
}

/// A header value as text. Envoy passes on bytes that are not UTF-8 (obs-text, e.g. Latin-1 in a
/// Cookie or Content-Disposition), and the SDK's `String` getters (`get_map_value`, `get_map`)
/// unwrap `String::from_utf8` on them: a panic that kills the VM, and Envoy then answers 503 to
/// every later request. The `_bytes` getters are used instead; such bytes read as U+FFFD. (Names
/// still go through that unwrap: Envoy's codecs refuse a name that is not a token, see
/// `tests/bad_input.rs`.)
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

impl Host for WasmHost {
    fn now(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs())
    }

    fn client_address(&self) -> Option<String> {
        let bytes = logged("get_property", hostcalls::get_property(vec!["source", "address"]))?;
        String::from_utf8(bytes).ok()
    }

    fn request_header(&self, name: &str) -> Option<String> {
        self.request_headers.get(name)
    }

    fn set_request_header(&mut self, name: &str, value: Option<&str>) {
        self.request_headers.set(name, value)
    }

    fn request_body(&self, size: usize) -> Option<Vec<u8>> {
        logged("get request body", hostcalls::get_buffer(BufferType::HttpRequestBody, 0, size))
    }

    fn replace_request_body(&mut self, size: usize, body: &[u8]) {
        logged("set request body", hostcalls::set_buffer(BufferType::HttpRequestBody, 0, size, body))
    }

    fn response_header(&self, name: &str) -> Option<String> {
        self.response_headers.get(name)
    }

    fn response_header_values(&self, name: &str) -> Vec<String> {
        self.response_headers.values(name).cloned().collect()
    }

    fn set_response_header(&mut self, name: &str, value: Option<&str>) {
        self.response_headers.set(name, value)
    }

    fn add_response_header(&mut self, name: &str, value: &str) {
        self.response_headers.add(name, value)
    }

    fn response_body(&self, start: usize, size: usize) -> Option<Vec<u8>> {
        logged("get response body", hostcalls::get_buffer(BufferType::HttpResponseBody, start, size))
    }

    fn replace_response_body(&mut self, start: usize, size: usize, body: &[u8]) -> bool {
        let replaced = hostcalls::set_buffer(BufferType::HttpResponseBody, start, size, body);
        replaced.map_err(|status| debug!("cookieless: set response body failed: {status:?}")).is_ok()
    }

    fn shared_data(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        logged("get shared data", hostcalls::get_shared_data(key))
    }

    fn set_shared_data(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedDataError> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(|status| match status {
            Status::CasMismatch => SharedDataError::CasMismatch,
            _ => SharedDataError::Failed,
        })
    }

    fn count(&self, metric: Metric) {
        if let Some(id) = self.metric_ids.get(metric.index()) {
            logged("increment metric", hostcalls::increment_metric(*id, 1));
        }
    }

    fn dispatch_grpc(&mut self, cluster: &str, service: &str, method: &str, message: &[u8], timeout_ms: u32) -> Option<u32> {
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        hostcalls::dispatch_grpc_call(cluster, service, method, Vec::new(), Some(message), timeout)
            .map_err(|status| warn!("cookieless: cannot call the session service on cluster {cluster:?}: {status:?}"))
            .ok()
    }

    fn send_reply(&mut self, status: u32, body: &str) {
        let headers = vec![("content-type", "text/plain; charset=utf-8")];
        logged("send reply", hostcalls::send_http_response(status, headers, Some(body.as_bytes())));
    }
}
