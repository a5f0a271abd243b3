//! `host::Headers` over the ABI, one header at a time. Natively, reading one header by name is a
//! lookup in Envoy's map (Envoy 1.40.0's `get_header`), so the shell asks for what the exchange
//! reads and nothing else: a route that is not cookieless reads three headers instead of copying
//! every one (the Wasm shell's `headers::HeaderCache` copies the map once, since each call into
//! Envoy from V8 costs more than the copy). Envoy's map is the only copy, so every read sees the
//! filter's earlier writes.

use super::abi::{self, EnvoyBuffer, EnvoyFilter, ModuleBuffer};
use super::host::NativeHost;
use crate::host::Headers;

/// The stream's request or response headers.
#[derive(Debug, Clone, Copy)]
pub struct EnvoyMap {
    pub filter: EnvoyFilter,
    pub kind: u32,
}

impl EnvoyMap {
    /// The `index`th value of `name`, copied (Envoy's bytes live only until the map changes).
    fn value(self, name: &str, index: usize) -> Option<Vec<u8>> {
        let mut out = EnvoyBuffer::EMPTY;
        // SAFETY: `filter` is the live stream's pointer; Envoy only reads the key during the call.
        let found = unsafe {
            abi::envoy_dynamic_module_callback_http_get_header(self.filter, self.kind, ModuleBuffer::of(name.as_bytes()), &mut out, index, std::ptr::null_mut())
        };
        // SAFETY: Envoy just filled `out` (null and empty for an empty value).
        found.then(|| unsafe { out.to_vec() })
    }

    fn values(self, name: &str) -> Vec<Vec<u8>> {
        (0..).map_while(|index| self.value(name, index)).collect()
    }

    /// Sets (replacing all of that name) or, with `None`, removes a header.
    fn set(self, name: &str, value: Option<&[u8]>) {
        let value = value.map_or(ModuleBuffer::NULL, ModuleBuffer::of);
        // SAFETY: `filter` is live; Envoy copies key and value (a null value removes the header).
        unsafe { abi::envoy_dynamic_module_callback_http_set_header(self.filter, self.kind, ModuleBuffer::of(name.as_bytes()), value) };
    }

    fn add(self, name: &str, value: &[u8]) {
        // SAFETY: as `set`.
        unsafe { abi::envoy_dynamic_module_callback_http_add_header(self.filter, self.kind, ModuleBuffer::of(name.as_bytes()), ModuleBuffer::of(value)) };
    }
}

/// A header value as text: bytes that are not UTF-8 (obs-text) read as U+FFFD, as in the Wasm
/// shell; valid UTF-8, the usual case, is not copied again.
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

impl Headers for NativeHost {
    fn request_header(&self, name: &str) -> Option<String> {
        self.request_headers().value(name, 0).map(text)
    }

    fn set_request_header(&mut self, name: &str, value: Option<&str>) {
        self.request_headers().set(name, value.map(str::as_bytes));
    }

    fn request_header_bytes(&self, name: &str) -> Option<Vec<u8>> {
        self.request_headers().value(name, 0)
    }

    fn set_request_header_bytes(&mut self, name: &str, value: &[u8]) {
        self.request_headers().set(name, Some(value));
    }

    fn response_header(&self, name: &str) -> Option<String> {
        self.response_headers().value(name, 0).map(text)
    }

    fn response_header_values(&self, name: &str) -> Vec<String> {
        self.response_headers().values(name).into_iter().map(text).collect()
    }

    fn response_header_bytes(&self, name: &str) -> Option<Vec<u8>> {
        self.response_headers().value(name, 0)
    }

    fn set_response_header_bytes(&mut self, name: &str, value: &[u8]) {
        self.response_headers().set(name, Some(value));
    }

    fn set_response_header(&mut self, name: &str, value: Option<&str>) {
        self.response_headers().set(name, value.map(str::as_bytes));
    }

    fn add_response_header(&mut self, name: &str, value: &str) {
        self.response_headers().add(name, value.as_bytes());
    }
}
