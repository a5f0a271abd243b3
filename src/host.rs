//! Everything the filter asks of Envoy, behind one trait: the proxy-wasm implementation lives in
//! `filter`, the dynamic-module one in `native`, and `mock::MockHost` lets whole request flows run
//! in native unit tests. The header half, [`Headers`], is one trait for both shells: the Wasm
//! shell copies each map once into a `headers::HeaderCache` (`headers::CachedHeaders`), the
//! native one reads and writes Envoy's maps one header at a time (`native::headers`).

use crate::metrics::Metric;

/// Why a shared-data write did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedDataError {
    /// Another worker wrote the key since it was read: read again and retry.
    CasMismatch,
    Failed,
}

pub trait Host: Headers {
    /// Unix time in seconds.
    fn now(&self) -> u64;
    /// Fills `buf` from a cryptographically secure random source; `false` when it failed (then
    /// nothing random may be issued: no nonce, no session id).
    fn fill_random(&mut self, buf: &mut [u8]) -> bool;
    /// The downstream client's address as Envoy sees it (`source.address`), port included.
    fn client_address(&self) -> Option<String>;

    fn request_body(&self, size: usize) -> Option<Vec<u8>>;
    fn replace_request_body(&mut self, size: usize, body: &[u8]);

    /// The first `size` bytes of the body Envoy holds now (the current chunk, or everything
    /// buffered since the filter last paused), handed to `read` in pieces, in order: a host that
    /// holds the body in pieces hands each one over where it lies, without copying them together.
    /// Nothing when the body cannot be read.
    fn read_response_body(&self, size: usize, read: &mut dyn FnMut(&[u8]));
    /// As Envoy allows: `start == 0` replaces the first `size` bytes, `start` at or past the end
    /// appends; anything else fails. `false` when it failed.
    fn replace_response_body(&mut self, start: usize, size: usize, body: &[u8]) -> bool;

    /// The value and its CAS version.
    fn shared_data(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>);
    fn set_shared_data(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedDataError>;

    fn count(&self, metric: Metric);

    /// Starts a gRPC call to `cluster`; the reply comes later, to the filter, under the returned id.
    /// `None` when the call cannot even start (an unknown cluster).
    fn dispatch_grpc(&mut self, cluster: &str, service: &str, method: &str, message: &[u8], timeout_ms: u32) -> Option<u32>;
    /// Answers the client directly (the upstream is not asked).
    fn send_reply(&mut self, status: u32, body: &str);
}

/// The request's and the response's headers.
pub trait Headers {
    fn request_header(&self, name: &str) -> Option<String>;
    /// `None` removes the header.
    fn set_request_header(&mut self, name: &str, value: Option<&str>);
    /// A header byte for byte, for the ones the filter rewrites (`:path`, `Referer`, `Location`):
    /// values need not be UTF-8, and what the filter does not change must pass unchanged.
    fn request_header_bytes(&self, name: &str) -> Option<Vec<u8>>;
    fn set_request_header_bytes(&mut self, name: &str, value: &[u8]);
    fn response_header(&self, name: &str) -> Option<String>;
    fn response_header_values(&self, name: &str) -> Vec<String>;
    fn response_header_bytes(&self, name: &str) -> Option<Vec<u8>>;
    fn set_response_header_bytes(&mut self, name: &str, value: &[u8]);
    /// `None` removes every header of that name.
    fn set_response_header(&mut self, name: &str, value: Option<&str>);
    /// Adds a header beside any of the same name (a second `Content-Security-Policy`).
    fn add_response_header(&mut self, name: &str, value: &str);
}

#[cfg(test)]
pub mod mock {
    //! An in-memory host for native tests.
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;

    /// Shared data outlives one request, so tests share it between hosts.
    /// Key → (value, CAS version).
    type SharedMap = HashMap<String, (Vec<u8>, u32)>;

    /// Another worker's write, run once right before the next write's compare-and-set.
    pub type CompetingWrite = Box<dyn FnOnce(&SharedMemory)>;

    #[derive(Default, Clone)]
    pub struct SharedMemory {
        pub map: Rc<RefCell<SharedMap>>,
        /// Makes the next N writes fail with a CAS mismatch, the value unchanged (endless
        /// contention).
        pub conflicts: Rc<RefCell<u32>>,
        /// A real competing write: it changes the value under the writer, whose CAS then fails.
        pub competing: Rc<RefCell<Option<CompetingWrite>>>,
    }

    #[derive(Default)]
    pub struct MockHost {
        pub now: u64,
        /// Counts up to give each `fill_random` different bytes.
        pub random_calls: u64,
        pub client: Option<String>,
        pub request_headers: Vec<(String, String)>,
        pub request_body: Vec<u8>,
        pub response_headers: Vec<(String, String)>,
        pub response_body: Vec<u8>,
        /// Hands the response body over in pieces of this many bytes (0: one piece), as Envoy's
        /// chunks are.
        pub body_piece: usize,
        pub shared: SharedMemory,
        pub metrics: RefCell<HashMap<Metric, u64>>,
        /// (cluster, method, message) of each gRPC call dispatched.
        pub grpc_calls: RefCell<Vec<(String, String, Vec<u8>)>>,
        /// Makes dispatching fail, as for an unknown cluster.
        pub grpc_refuse: bool,
        pub local_reply: Option<(u32, String)>,
    }

    fn get(headers: &[(String, String)], name: &str) -> Option<String> {
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }

    fn set(headers: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if let Some(v) = value {
            headers.push((name.to_string(), v.to_string()));
        }
    }

    fn replace(buffer: &mut Vec<u8>, size: usize, body: &[u8]) {
        buffer.splice(0..size.min(buffer.len()), body.iter().copied());
    }

    impl MockHost {
        pub fn metric(&self, metric: Metric) -> u64 {
            self.metrics.borrow().get(&metric).copied().unwrap_or(0)
        }
    }

    impl Host for MockHost {
        fn now(&self) -> u64 {
            self.now
        }
        fn fill_random(&mut self, buf: &mut [u8]) -> bool {
            self.random_calls += 1;
            let seed = self.random_calls.to_le_bytes();
            for (i, b) in buf.iter_mut().enumerate() {
                *b = seed.get(i % 8).copied().unwrap_or(0) ^ (i as u8).wrapping_mul(151);
            }
            true
        }
        fn client_address(&self) -> Option<String> {
            self.client.clone()
        }
        fn request_body(&self, size: usize) -> Option<Vec<u8>> {
            Some(self.request_body[..size.min(self.request_body.len())].to_vec())
        }
        fn replace_request_body(&mut self, size: usize, body: &[u8]) {
            replace(&mut self.request_body, size, body)
        }
        fn read_response_body(&self, size: usize, read: &mut dyn FnMut(&[u8])) {
            let body = &self.response_body[..size.min(self.response_body.len())];
            match self.body_piece {
                0 => read(body),
                n => body.chunks(n).for_each(read),
            }
        }
        fn replace_response_body(&mut self, start: usize, size: usize, body: &[u8]) -> bool {
            let len = self.response_body.len();
            match start {
                0 => drop(self.response_body.splice(0..size.min(len), body.iter().copied())),
                s if s >= len => self.response_body.extend_from_slice(body),
                _ => return false,
            }
            true
        }
        fn shared_data(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
            match self.shared.map.borrow().get(key) {
                Some((v, cas)) => (Some(v.clone()), Some(*cas)),
                None => (None, None),
            }
        }
        fn set_shared_data(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedDataError> {
            let competing = self.shared.competing.borrow_mut().take();
            if let Some(write) = competing {
                write(&self.shared);
            }
            let mut conflicts = self.shared.conflicts.borrow_mut();
            let mut map = self.shared.map.borrow_mut();
            let current = map.get(key).map(|(_, c)| *c);
            if *conflicts > 0 {
                *conflicts -= 1;
                let bumped = current.unwrap_or(0) + 1;
                let old = map.get(key).map(|(v, _)| v.clone()).unwrap_or_default();
                map.insert(key.to_string(), (old, bumped));
                return Err(SharedDataError::CasMismatch);
            }
            // As Envoy: an absent key is written whatever the value, an existing one only when
            // the value is 0 (none) or its own.
            if current.is_some() && cas.is_some_and(|c| c != 0) && cas != current {
                return Err(SharedDataError::CasMismatch);
            }
            map.insert(key.to_string(), (value.to_vec(), current.unwrap_or(0) + 1));
            Ok(())
        }
        fn count(&self, metric: Metric) {
            *self.metrics.borrow_mut().entry(metric).or_default() += 1;
        }
        fn dispatch_grpc(&mut self, cluster: &str, _service: &str, method: &str, message: &[u8], _timeout_ms: u32) -> Option<u32> {
            if self.grpc_refuse {
                return None;
            }
            let mut calls = self.grpc_calls.borrow_mut();
            calls.push((cluster.to_string(), method.to_string(), message.to_vec()));
            Some(calls.len() as u32)
        }
        fn send_reply(&mut self, status: u32, body: &str) {
            self.local_reply = Some((status, body.to_string()));
        }
    }

    impl Headers for MockHost {
        fn request_header(&self, name: &str) -> Option<String> {
            get(&self.request_headers, name)
        }
        fn set_request_header(&mut self, name: &str, value: Option<&str>) {
            set(&mut self.request_headers, name, value)
        }
        // The mock keeps text: bytes that are not UTF-8 are the Envoy tests' to check.
        fn request_header_bytes(&self, name: &str) -> Option<Vec<u8>> {
            get(&self.request_headers, name).map(String::into_bytes)
        }
        fn set_request_header_bytes(&mut self, name: &str, value: &[u8]) {
            set(&mut self.request_headers, name, Some(&String::from_utf8_lossy(value)))
        }
        fn response_header(&self, name: &str) -> Option<String> {
            get(&self.response_headers, name)
        }
        fn response_header_values(&self, name: &str) -> Vec<String> {
            let named = self.response_headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
            named.map(|(_, v)| v.clone()).collect()
        }
        fn set_response_header(&mut self, name: &str, value: Option<&str>) {
            set(&mut self.response_headers, name, value)
        }
        fn response_header_bytes(&self, name: &str) -> Option<Vec<u8>> {
            get(&self.response_headers, name).map(String::into_bytes)
        }
        fn set_response_header_bytes(&mut self, name: &str, value: &[u8]) {
            set(&mut self.response_headers, name, Some(&String::from_utf8_lossy(value)))
        }
        fn add_response_header(&mut self, name: &str, value: &str) {
            self.response_headers.push((name.to_string(), value.to_string()));
        }
    }
}
