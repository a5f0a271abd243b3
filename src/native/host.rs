//! `Host` over the dynamic-module ABI, for one HTTP stream: every call is one or two Envoy
//! callbacks on the stream's `filter_envoy_ptr`, made on the stream's worker thread.

use super::abi::{self, EnvoyBuffer, EnvoyFilter, ModuleBuffer, ModuleHeader};
use super::grpc::{self, Calls};
use super::headers::EnvoyMap;
use super::shared::SHARED;
use super::EarlyEnds;
use crate::host::{Host, SharedDataError};
use crate::metrics::Metric;
use log::warn;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Which body hook is running: only inside it does Envoy hold a received chunk besides what it
/// buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InBodyHook {
    None,
    Request,
    Response,
}

pub struct NativeHost {
    filter: EnvoyFilter,
    counters: Arc<[usize]>,
    pub body_hook: InBodyHook,
    pub calls: Calls,
    early: EarlyEnds,
}

impl NativeHost {
    pub fn new(filter: EnvoyFilter, counters: Arc<[usize]>, early: EarlyEnds) -> NativeHost {
        NativeHost {
            filter,
            counters,
            body_hook: InBodyHook::None,
            calls: Calls::default(),
            early,
        }
    }

    pub fn filter(&self) -> EnvoyFilter {
        self.filter
    }

    pub fn request_headers(&self) -> EnvoyMap {
        EnvoyMap { filter: self.filter, kind: abi::REQUEST_HEADERS }
    }

    pub fn response_headers(&self) -> EnvoyMap {
        EnvoyMap { filter: self.filter, kind: abi::RESPONSE_HEADERS }
    }

    /// The parts of the body Envoy holds now, in order: what it buffered while the filter paused,
    /// then, inside a body hook, the chunk just received (unless that chunk is the buffer itself,
    /// handed on again after a resume).
    fn body_parts(&self, response: bool) -> Vec<u32> {
        let (buffered, received, hook) = if response {
            (abi::BUFFERED_RESPONSE_BODY, abi::RECEIVED_RESPONSE_BODY, InBodyHook::Response)
        } else {
            (abi::BUFFERED_REQUEST_BODY, abi::RECEIVED_REQUEST_BODY, InBodyHook::Request)
        };
        let mut parts = vec![buffered];
        if self.body_hook == hook && !self.received_is_buffered(response) {
            parts.push(received);
        }
        parts
    }

    fn received_is_buffered(&self, response: bool) -> bool {
        // SAFETY: `filter` is the live stream's pointer Envoy gave this hook.
        unsafe {
            if response {
                abi::envoy_dynamic_module_callback_http_received_buffered_response_body(self.filter)
            } else {
                abi::envoy_dynamic_module_callback_http_received_buffered_request_body(self.filter)
            }
        }
    }

    /// The size of the body Envoy holds now (what `body` would return).
    pub fn body_size(&self, response: bool) -> usize {
        let parts = self.body_parts(response).into_iter();
        // SAFETY: `filter` is the live stream's pointer Envoy gave this hook.
        parts.map(|kind| unsafe { abi::envoy_dynamic_module_callback_http_get_body_size(self.filter, kind) }).sum()
    }

    /// The body Envoy holds now, as one copy.
    fn body(&self, response: bool) -> Vec<u8> {
        let mut body = Vec::new();
        self.read_body(response, usize::MAX, &mut |piece| body.extend_from_slice(piece));
        body
    }

    /// The first `size` bytes of the body, chunk by chunk where Envoy holds them.
    fn read_body(&self, response: bool, size: usize, read: &mut dyn FnMut(&[u8])) {
        let mut left = size;
        for kind in self.body_parts(response) {
            // SAFETY: `filter` is live; the vector has room for the count Envoy just gave; `read`
            // cannot reach the body (it has no host), so the slices stay valid while it runs and
            // none outlives this loop.
            unsafe {
                let count = abi::envoy_dynamic_module_callback_http_get_body_chunks_size(self.filter, kind);
                let mut chunks = vec![EnvoyBuffer::EMPTY; count];
                if count == 0 || !abi::envoy_dynamic_module_callback_http_get_body_chunks(self.filter, kind, chunks.as_mut_ptr()) {
                    continue;
                }
                for chunk in chunks {
                    let bytes = chunk.as_slice();
                    let piece = bytes.get(..left.min(bytes.len())).unwrap_or_default();
                    if !piece.is_empty() {
                        read(piece);
                    }
                    left -= piece.len();
                }
            }
        }
    }

    /// `Host`'s replacement of `size` bytes from `start`. The filter's usual ones, all of the body
    /// and an append at its end, read nothing back; anything else is read, spliced, written.
    fn replace_body(&self, response: bool, start: usize, size: usize, body: &[u8]) -> bool {
        let len = self.body_size(response);
        if start == 0 && size >= len {
            return self.set_body(response, body);
        }
        if start >= len {
            return self.append_body(response, body);
        }
        spliced(self.body(response), start, size, body).is_some_and(|new| self.set_body(response, &new))
    }

    /// Adds `body` after all Envoy holds (into the last part, see `set_body`).
    fn append_body(&self, response: bool, body: &[u8]) -> bool {
        let Some(kind) = self.body_parts(response).last().copied() else { return body.is_empty() };
        // SAFETY: `filter` is live; Envoy copies `body` during the call.
        unsafe { abi::envoy_dynamic_module_callback_http_append_body(self.filter, kind, ModuleBuffer::of(body)) }
    }

    /// Replaces the whole body Envoy holds by `body`: every part is drained, and `body` goes into
    /// the last part. Inside a body hook that is the received chunk, which Envoy then sends on
    /// (Continue) or adds to its buffer (StopIterationAndBuffer): written into the buffer, it would
    /// stay there after a Continue, unsent. Outside a body hook only the buffer is left.
    fn set_body(&self, response: bool, body: &[u8]) -> bool {
        let parts = self.body_parts(response);
        for kind in &parts {
            // SAFETY: `filter` is live; this only drains Envoy's own buffer.
            unsafe {
                let size = abi::envoy_dynamic_module_callback_http_get_body_size(self.filter, *kind);
                abi::envoy_dynamic_module_callback_http_drain_body(self.filter, *kind, size);
            }
        }
        self.append_body(response, body)
    }
}

/// `body` with `size` bytes from `start` replaced as `Host` defines it: from the start, or
/// appended at (or past) the end. `None` for anything else.
fn spliced(mut body: Vec<u8>, start: usize, size: usize, with: &[u8]) -> Option<Vec<u8>> {
    match start {
        0 => {
            body.splice(0..size.min(body.len()), with.iter().copied());
        }
        s if s >= body.len() => body.extend_from_slice(with),
        _ => return None,
    }
    Some(body)
}

impl Host for NativeHost {
    fn now(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }

    fn fill_random(&mut self, buf: &mut [u8]) -> bool {
        getrandom::fill(buf).map_err(|e| warn!("cookieless: random source failed: {e}")).is_ok()
    }

    fn client_address(&self) -> Option<String> {
        let mut out = EnvoyBuffer::EMPTY;
        // SAFETY: `filter` is live; the attribute's bytes are copied at once.
        let found = unsafe { abi::envoy_dynamic_module_callback_http_filter_get_attribute_string(self.filter, abi::ATTRIBUTE_SOURCE_ADDRESS, &mut out) };
        // SAFETY: Envoy just filled `out`.
        found.then(|| String::from_utf8(unsafe { out.to_vec() }).ok()).flatten()
    }

    fn request_body(&self, size: usize) -> Option<Vec<u8>> {
        let mut body = self.body(false);
        body.truncate(size);
        Some(body)
    }

    fn replace_request_body(&mut self, size: usize, body: &[u8]) {
        if !self.replace_body(false, 0, size, body) {
            warn!("cookieless: the request body could not be replaced");
        }
    }

    fn read_response_body(&self, size: usize, read: &mut dyn FnMut(&[u8])) {
        self.read_body(true, size, read);
    }

    fn replace_response_body(&mut self, start: usize, size: usize, body: &[u8]) -> bool {
        self.replace_body(true, start, size, body)
    }

    fn shared_data(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        SHARED.get(key)
    }

    fn set_shared_data(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedDataError> {
        SHARED.set(key, value, cas)
    }

    fn count(&self, metric: Metric) {
        if let Some(id) = self.counters.get(metric.index()) {
            // SAFETY: `filter` is live and was created from the config that defined `id`.
            unsafe { abi::envoy_dynamic_module_callback_http_filter_increment_counter(self.filter, *id, std::ptr::null_mut(), 0, 1) };
        }
    }

    fn dispatch_grpc(&mut self, cluster: &str, service: &str, method: &str, message: &[u8], timeout_ms: u32) -> Option<u32> {
        let path = format!("/{service}/{method}");
        let timeout = format!("{timeout_ms}m");
        let mut headers = [
            ModuleHeader::of(":method", b"POST"),
            ModuleHeader::of(":path", path.as_bytes()),
            ModuleHeader::of(":authority", cluster.as_bytes()),
            ModuleHeader::of("content-type", b"application/grpc"),
            ModuleHeader::of("te", b"trailers"),
            ModuleHeader::of("grpc-timeout", timeout.as_bytes()),
        ];
        let framed = grpc::frame(message);
        let mut stream = 0u64;
        // SAFETY: `filter` is live; Envoy copies the headers, cluster name and body during the call.
        let started = unsafe {
            abi::envoy_dynamic_module_callback_http_filter_start_http_stream(
                self.filter,
                &mut stream,
                ModuleBuffer::of(cluster.as_bytes()),
                headers.as_mut_ptr(),
                headers.len(),
                ModuleBuffer::of(&framed),
                true,
                u64::from(timeout_ms),
            )
        };
        let ended_at_once = self.early.take().contains(&stream);
        if started != abi::CALLOUT_SUCCESS || ended_at_once {
            warn!("cookieless: cannot call the session service on cluster {cluster:?} (result {started}, ended at once: {ended_at_once})");
            return None;
        }
        Some(self.calls.start(stream))
    }

    fn send_reply(&mut self, status: u32, body: &str) {
        let mut headers = [ModuleHeader::of("content-type", b"text/plain; charset=utf-8")];
        // SAFETY: `filter` is live; Envoy copies headers, body and details during the call.
        unsafe {
            abi::envoy_dynamic_module_callback_http_send_response(
                self.filter,
                status,
                headers.as_mut_ptr(),
                headers.len(),
                ModuleBuffer::of(body.as_bytes()),
                ModuleBuffer::of(b"cookieless"),
            )
        };
    }
}
