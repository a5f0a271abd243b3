//! The functions Envoy 1.40.0 resolves in the module (all of them, or it refuses the filter
//! config). Each one that runs filter code runs it under `catch_unwind`: unwinding into Envoy's
//! C++ is undefined behaviour and, in practice, the end of the process. The native build is
//! compiled with `panic = "unwind"` for that reason (`make build`), though clippy already denies
//! the panicking calls. A stream whose code panicked passes untouched from then on, with an error
//! in Envoy's log. The hooks that do nothing have nothing to guard.

use super::abi::{self, EnvoyBuffer, EnvoyFilter, EnvoyFilterConfig, EnvoyHeader};
use super::host::{InBodyHook, NativeHost};
use super::{status, NativeConfig, NativeFilter, LOGGER};
use crate::session::{Exchange, Resume};
use log::{error, info};
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f` on the stream's exchange; after a panic, the stream passes untouched. Inside another
/// hook (Envoy calling back from a callback: a call to the session service that ends inside
/// `start_http_stream`, the filter's own local reply encoded inside `send_response`), `f` does not
/// run: a stream event (`stream`) is noted for the call that started it (`EarlyEnds`), anything
/// else is let through (a local reply is the filter's answer, with nothing to rewrite).
///
/// Safety: `module` is null or a pointer `envoy_dynamic_module_on_http_filter_new` returned and
/// Envoy has not destroyed, used only on its worker thread (Envoy's promise for hooks).
unsafe fn on_filter(module: *mut c_void, hook: &str, stream: Option<u64>, f: impl FnOnce(&mut Exchange, &mut NativeHost) -> u32) -> u32 {
    let Some(filter) = module.cast_const().cast::<NativeFilter>().as_ref() else { return abi::CONTINUE };
    if filter.busy.replace(true) {
        if let Some(stream) = stream {
            let mut early = filter.early.take();
            early.push(stream);
            filter.early.set(early);
        }
        return abi::CONTINUE;
    }
    // SAFETY: `busy` was false: no other hook of this stream is running, so this is the only
    // reference to the state until `busy` is cleared below.
    let state = &mut *filter.state.get();
    let status = match state.exchange.as_mut() {
        None => abi::CONTINUE,
        Some(exchange) => {
            let host = &mut state.host;
            catch_unwind(AssertUnwindSafe(|| f(exchange, host))).unwrap_or_else(|_| {
                state.exchange = None;
                error!("cookieless: a panic in {hook}; this stream now passes untouched");
                abi::CONTINUE
            })
        }
    };
    filter.busy.set(false);
    status
}

/// Runs a body hook: Envoy's received chunk is part of the body only while it runs. A chunk the
/// exchange has no use for passes without asking Envoy for the body's size.
unsafe fn on_body(module: *mut c_void, hook: &str, in_hook: InBodyHook, f: impl FnOnce(&mut Exchange, &mut NativeHost, usize) -> u32) -> u32 {
    on_filter(module, hook, None, |exchange, host| {
        if !exchange.wants_body() {
            return abi::CONTINUE;
        }
        host.body_hook = in_hook;
        let size = host.body_size(in_hook == InBodyHook::Response);
        let status = f(exchange, host, size);
        host.body_hook = InBodyHook::None;
        status
    })
}

/// Header pairs Envoy lends to a hook, copied. Safety: `headers` is null or valid for `size`.
unsafe fn copied(headers: *const EnvoyHeader, size: usize) -> Vec<(String, Vec<u8>)> {
    if headers.is_null() {
        return Vec::new();
    }
    let pairs = std::slice::from_raw_parts(headers, size);
    pairs.iter().map(|h| (String::from_utf8_lossy(&h.key.to_vec()).into_owned(), h.value.to_vec())).collect()
}

/// A store call's response headers or trailers (either may hold `grpc-status`).
unsafe fn call_headers(module: *mut c_void, hook: &str, stream: u64, headers: *const EnvoyHeader, size: usize) {
    on_filter(module, hook, Some(stream), |_, host| {
        host.calls.on_headers(stream, &copied(headers, size));
        abi::CONTINUE
    });
}

/// A store call's stream ended: the exchange goes on where it paused, once this hook is done with
/// it. Envoy runs the rest of the filter chain inside the continue call, and a response made
/// there at once (a route's direct response, the router's "no healthy upstream") comes into this
/// filter's response hooks inside it too: inside the guard of `on_filter` they would let that
/// response pass unseen (its `Set-Cookie` to the browser, its page without a token). So the
/// continue comes after the guard, as Envoy's Wasm host defers `proxy_continue_stream` to the end
/// of the VM call.
unsafe fn finish_call(module: *mut c_void, hook: &str, stream: u64, reset: bool) {
    let mut resume = None;
    on_filter(module, hook, Some(stream), |exchange, host| {
        if let Some((token, reply)) = host.calls.finish(stream, reset) {
            resume = Some((host.filter(), exchange.on_store_reply(host, token, reply)));
        }
        abi::CONTINUE
    });
    match resume {
        Some((filter, Resume::Request)) => abi::envoy_dynamic_module_callback_http_filter_continue_decoding(filter),
        Some((filter, Resume::Response)) => abi::envoy_dynamic_module_callback_http_filter_continue_encoding(filter),
        Some((_, Resume::Nothing)) | None => {}
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    let installed = catch_unwind(|| {
        // Already set only when Envoy loads the library twice; the first logger stays.
        let _ = log::set_logger(&LOGGER);
        log::set_max_level(log::LevelFilter::Info);
    });
    match installed {
        Ok(()) => abi::ABI_VERSION.as_ptr().cast(),
        Err(_) => std::ptr::null(),
    }
}

/// # Safety
/// Envoy's arguments: `config` valid for this call.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_new(envoy: EnvoyFilterConfig, _name: EnvoyBuffer, config: EnvoyBuffer) -> *const c_void {
    let created = catch_unwind(AssertUnwindSafe(|| NativeConfig::new(envoy, &config.to_vec())));
    match created {
        Ok(Ok(config)) => {
            info!("cookieless: configured");
            Box::into_raw(Box::new(config)).cast_const().cast()
        }
        Ok(Err(e)) => {
            error!("{e}");
            std::ptr::null()
        }
        Err(_) => {
            error!("cookieless: a panic while configuring");
            std::ptr::null()
        }
    }
}

/// # Safety
/// A pointer `config_new` returned, destroyed once.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config: *const c_void) {
    if !config.is_null() {
        drop(Box::from_raw(config.cast::<NativeConfig>().cast_mut()));
    }
}

/// # Safety
/// `config` is a live pointer `config_new` returned.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_new(config: *const c_void, envoy: EnvoyFilter) -> *mut c_void {
    let Some(config) = config.cast::<NativeConfig>().as_ref() else { return std::ptr::null_mut() };
    match catch_unwind(|| NativeFilter::new(config, envoy)) {
        Ok(filter) => Box::into_raw(Box::new(filter)).cast(),
        Err(_) => std::ptr::null_mut(),
    }
}

/// # Safety
/// A pointer `filter_new` returned, destroyed once.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_destroy(module: *mut c_void) {
    if !module.is_null() && catch_unwind(|| drop(Box::from_raw(module.cast::<NativeFilter>()))).is_err() {
        error!("cookieless: a panic while ending a stream");
    }
}

/// # Safety
/// Envoy's stream pointers (see `on_filter`).
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(_envoy: EnvoyFilter, module: *mut c_void, end_of_stream: bool) -> u32 {
    on_filter(module, "request_headers", None, |exchange, host| status(exchange.on_request_headers(host, end_of_stream)))
}

/// # Safety
/// Envoy's stream pointers (see `on_filter`).
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_body(_envoy: EnvoyFilter, module: *mut c_void, end_of_stream: bool) -> u32 {
    on_body(module, "request_body", InBodyHook::Request, |exchange, host, size| status(exchange.on_request_body(host, size, end_of_stream)))
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(_envoy: EnvoyFilter, _module: *mut c_void) -> u32 {
    abi::CONTINUE
}

/// # Safety
/// Envoy's stream pointers (see `on_filter`).
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(_envoy: EnvoyFilter, module: *mut c_void, end_of_stream: bool) -> u32 {
    on_filter(module, "response_headers", None, |exchange, host| status(exchange.on_response_headers(host, end_of_stream)))
}

/// # Safety
/// Envoy's stream pointers (see `on_filter`).
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_response_body(_envoy: EnvoyFilter, module: *mut c_void, end_of_stream: bool) -> u32 {
    on_body(module, "response_body", InBodyHook::Response, |exchange, host, size| status(exchange.on_response_body(host, size, end_of_stream)))
}

/// # Safety
/// Envoy's stream pointers (see `on_filter`).
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(_envoy: EnvoyFilter, module: *mut c_void) -> u32 {
    on_filter(module, "response_trailers", None, |exchange, host| status(exchange.on_response_trailers(host)))
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(_envoy: EnvoyFilter, _module: *mut c_void) {}

/// The filter schedules nothing.
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(_envoy: EnvoyFilter, _module: *mut c_void, _event: u64) {}

/// The filter makes no HTTP callouts (its gRPC calls are streams, which deliver trailers).
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    _envoy: EnvoyFilter,
    _module: *mut c_void,
    _callout: u64,
    _result: u32,
    _headers: *const EnvoyHeader,
    _headers_size: usize,
    _chunks: *const EnvoyBuffer,
    _chunks_size: usize,
) {
}

/// # Safety
/// Envoy's stream pointers (see `on_filter`); `headers` valid for `size` during the call.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
    _envoy: EnvoyFilter,
    module: *mut c_void,
    stream: u64,
    headers: *const EnvoyHeader,
    size: usize,
    _end_stream: bool,
) {
    call_headers(module, "http_stream_headers", stream, headers, size);
}

/// # Safety
/// Envoy's stream pointers (see `on_filter`); `data` valid for `count` during the call.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
    _envoy: EnvoyFilter,
    module: *mut c_void,
    stream: u64,
    data: *const EnvoyBuffer,
    count: usize,
    _end_stream: bool,
) {
    on_filter(module, "http_stream_data", Some(stream), |_, host| {
        if !data.is_null() {
            std::slice::from_raw_parts(data, count).iter().for_each(|chunk| host.calls.on_data(stream, &chunk.to_vec()));
        }
        abi::CONTINUE
    });
}

/// # Safety
/// Envoy's stream pointers (see `on_filter`); `trailers` valid for `size` during the call.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
    _envoy: EnvoyFilter,
    module: *mut c_void,
    stream: u64,
    trailers: *const EnvoyHeader,
    size: usize,
) {
    call_headers(module, "http_stream_trailers", stream, trailers, size);
}

/// # Safety
/// Envoy's stream pointers (see `on_filter`).
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(_envoy: EnvoyFilter, module: *mut c_void, stream: u64) {
    finish_call(module, "http_stream_complete", stream, false);
}

/// # Safety
/// Envoy's stream pointers (see `on_filter`).
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(_envoy: EnvoyFilter, module: *mut c_void, stream: u64, _reason: u32) {
    finish_call(module, "http_stream_reset", stream, true);
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(_envoy: EnvoyFilter, _module: *mut c_void) {}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(_envoy: EnvoyFilter, _module: *mut c_void) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::session::Settings;
    use std::sync::Arc;

    /// A stream's filter whose hooks never reach Envoy (the closures below make no host call).
    fn filter() -> NativeFilter {
        let json = format!(r#"{{"keys": [{{"id": "k1", "secret": "{}"}}]}}"#, "A".repeat(43) + "=");
        let settings = Settings::from_config(Config::parse(json.as_bytes(), &|_| None).unwrap()).unwrap();
        let counters: Arc<[usize]> = Arc::from(Vec::new());
        NativeFilter::with(Arc::new(settings), counters, std::ptr::null_mut())
    }

    fn module(filter: &NativeFilter) -> *mut c_void {
        std::ptr::from_ref(filter).cast_mut().cast()
    }

    #[test]
    fn a_hook_inside_a_hook_runs_nothing_and_notes_the_stream_it_ended() {
        let filter = filter();
        let m = module(&filter);
        let status = unsafe {
            on_filter(m, "outer", None, |_, _| {
                let nested = on_filter(m, "nested", Some(7), |_, _| panic!("a nested hook ran"));
                assert_eq!(nested, abi::CONTINUE);
                on_filter(m, "nested", None, |_, _| panic!("a nested hook ran"));
                abi::STOP_ITERATION
            })
        };
        assert_eq!(status, abi::STOP_ITERATION);
        assert_eq!(filter.early.take(), [7], "only the stream event is noted");
        let after = unsafe { on_filter(m, "after", None, |_, _| abi::STOP_ITERATION) };
        assert_eq!(after, abi::STOP_ITERATION, "the next hook runs again");
    }

    #[test]
    fn after_a_panic_the_stream_passes_untouched() {
        let filter = filter();
        let m = module(&filter);
        let status = unsafe { on_filter(m, "panicking", None, |_, _| panic!("a bug")) };
        assert_eq!(status, abi::CONTINUE);
        let after = unsafe { on_filter(m, "after", None, |_, _| abi::STOP_ITERATION) };
        assert_eq!(after, abi::CONTINUE, "the exchange is gone: nothing runs");
        assert_eq!(unsafe { on_filter(std::ptr::null_mut(), "null", None, |_, _| abi::STOP_ITERATION) }, abi::CONTINUE);
    }
}
