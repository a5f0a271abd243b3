//! The thin proxy-wasm shell: maps Envoy's callbacks onto `session::Exchange`, and implements
//! `Host` with proxy-wasm host calls. No decision is taken here.

use crate::config::Config;
use crate::headers::{CachedHeaders, HeaderCache, HeaderMap, HeaderMaps};
use crate::host::{Host, SharedDataError};
use crate::metrics::Metric;
use crate::session::{Exchange, Next, Resume, Settings};
use crate::store::CallReply;
use log::{debug, error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType, Status};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(CookielessRoot::default()) });
}}

#[derive(Default)]
struct CookielessRoot {
    settings: Option<Arc<Settings>>,
    metric_ids: Arc<Vec<u32>>,
}

impl Context for CookielessRoot {}

impl RootContext for CookielessRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let json = self.get_plugin_configuration().unwrap_or_default();
        let env = |name: &str| std::env::var(name).ok();
        let settings = Config::parse(&json, &env).and_then(Settings::from_config);
        match settings {
            Ok(settings) => {
                self.metric_ids = Arc::new(define_metrics());
                self.settings = Some(Arc::new(settings));
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
        let exchange = self.settings.as_ref().map(|s| Exchange::new(Arc::clone(s)));
        Some(Box::new(CookielessHttp { exchange, host: WasmHost::new(Arc::clone(&self.metric_ids)) }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
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
    metric_ids: Arc<Vec<u32>>,
    headers: HeaderMaps<ProxyMap>,
}

impl WasmHost {
    fn new(metric_ids: Arc<Vec<u32>>) -> WasmHost {
        WasmHost {
            metric_ids,
            headers: HeaderMaps {
                request: HeaderCache::new(ProxyMap(MapType::HttpRequestHeaders)),
                response: HeaderCache::new(ProxyMap(MapType::HttpResponseHeaders)),
            },
        }
    }
}

impl CachedHeaders for WasmHost {
    type Map = ProxyMap;

    fn header_maps(&self) -> &HeaderMaps<ProxyMap> {
        &self.headers
    }

    fn header_maps_mut(&mut self) -> &mut HeaderMaps<ProxyMap> {
        &mut self.headers
    }
}

/// One of Envoy's header maps through proxy-wasm host calls (bytes getters: see `headers`).
struct ProxyMap(MapType);

impl HeaderMap for ProxyMap {
    fn read_all(&self) -> Vec<(String, Vec<u8>)> {
        logged("get headers", hostcalls::get_map_bytes(self.0))
    }

    fn write(&self, name: &str, value: Option<&[u8]>) {
        logged("set header", hostcalls::set_map_value_bytes(self.0, name, value));
    }

    fn add(&self, name: &str, value: &[u8]) {
        logged("add header", hostcalls::add_map_value_bytes(self.0, name, value));
    }
}

fn logged<T: Default>(what: &str, result: Result<T, Status>) -> T {
    result.unwrap_or_else(|status| {
        debug!("cookieless: {what} failed: {status:?}");
        T::default()
    })
}

impl Host for WasmHost {
    fn now(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs())
    }

    fn fill_random(&mut self, buf: &mut [u8]) -> bool {
        getrandom::fill(buf).map_err(|e| warn!("cookieless: random source failed: {e}")).is_ok()
    }

    fn client_address(&self) -> Option<String> {
        let bytes = logged("get_property", hostcalls::get_property(vec!["source", "address"]))?;
        String::from_utf8(bytes).ok()
    }

    fn request_body(&self, size: usize) -> Option<Vec<u8>> {
        logged("get request body", hostcalls::get_buffer(BufferType::HttpRequestBody, 0, size))
    }

    fn replace_request_body(&mut self, size: usize, body: &[u8]) {
        logged("set request body", hostcalls::set_buffer(BufferType::HttpRequestBody, 0, size, body))
    }

    fn read_response_body(&self, size: usize, read: &mut dyn FnMut(&[u8])) {
        if let Some(body) = logged("get response body", hostcalls::get_buffer(BufferType::HttpResponseBody, 0, size)) {
            read(&body);
        }
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
