//! A header map as the filter last saw it, read from the host once and kept in step with the
//! filter's own writes, and the header half of `Host` for a shell that keeps its maps so
//! ([`CachedHeaders`]).
//!
//! Why: in Envoy's V8, reading one header is a round trip V8 → Envoy → V8 (Envoy calls into the VM
//! to allocate the value), about 1.6 µs measured; reading the whole map costs about one and a half
//! of those. So a shell reads the map once, on first use, through its [`HeaderMap`], and removing a
//! header that is not there costs no host call at all. Pure: the shell supplies the host calls.

use crate::host::Headers;
use std::cell::OnceCell;

/// The host calls behind one header map.
pub trait HeaderMap {
    /// Every header, in order (values as bytes: they need not be UTF-8).
    fn read_all(&self) -> Vec<(String, Vec<u8>)>;
    /// Sets (replacing all of that name) or, with `None`, removes a header.
    fn write(&self, name: &str, value: Option<&[u8]>);
    /// Adds a header beside any of the same name.
    fn add(&self, name: &str, value: &[u8]);
}

/// The map, values kept as the bytes Envoy has: a value the filter rewrites (`Location`,
/// `Referer`, `:path`) keeps every byte it does not change, UTF-8 or not.
pub struct HeaderCache<M> {
    map: M,
    pairs: OnceCell<Vec<(String, Vec<u8>)>>,
}

impl<M: HeaderMap> HeaderCache<M> {
    pub fn new(map: M) -> HeaderCache<M> {
        HeaderCache { map, pairs: OnceCell::new() }
    }

    fn pairs(&self) -> &[(String, Vec<u8>)] {
        self.pairs.get_or_init(|| self.map.read_all())
    }

    fn raw_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        self.pairs().iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }

    /// Every value of `name` (case-insensitive), in order, as text.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = String> + 'a {
        self.raw_values(name).map(text)
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.values(name).next()
    }

    /// The first value of `name`, byte for byte.
    pub fn get_bytes(&self, name: &str) -> Option<Vec<u8>> {
        self.raw_values(name).next().map(<[u8]>::to_vec)
    }

    pub fn set(&mut self, name: &str, value: Option<&str>) {
        self.set_bytes(name, value.map(str::as_bytes));
    }

    pub fn set_bytes(&mut self, name: &str, value: Option<&[u8]>) {
        if value.is_none() && self.raw_values(name).next().is_none() {
            return;
        }
        self.map.write(name, value);
        if let Some(pairs) = self.pairs.get_mut() {
            pairs.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            pairs.extend(value.map(|v| (name.to_string(), v.to_vec())));
        }
    }

    pub fn add(&mut self, name: &str, value: &str) {
        self.map.add(name, value.as_bytes());
        if let Some(pairs) = self.pairs.get_mut() {
            pairs.push((name.to_string(), value.as_bytes().to_vec()));
        }
    }
}

/// The request's and the response's header maps of one stream.
pub struct HeaderMaps<M> {
    pub request: HeaderCache<M>,
    pub response: HeaderCache<M>,
}

/// A shell whose header maps are [`HeaderMaps`]: all of `host::Headers` follows from them.
pub trait CachedHeaders {
    type Map: HeaderMap;
    fn header_maps(&self) -> &HeaderMaps<Self::Map>;
    fn header_maps_mut(&mut self) -> &mut HeaderMaps<Self::Map>;
}

impl<T: CachedHeaders> Headers for T {
    fn request_header(&self, name: &str) -> Option<String> {
        self.header_maps().request.get(name)
    }

    fn set_request_header(&mut self, name: &str, value: Option<&str>) {
        self.header_maps_mut().request.set(name, value)
    }

    fn request_header_bytes(&self, name: &str) -> Option<Vec<u8>> {
        self.header_maps().request.get_bytes(name)
    }

    fn set_request_header_bytes(&mut self, name: &str, value: &[u8]) {
        self.header_maps_mut().request.set_bytes(name, Some(value))
    }

    fn response_header(&self, name: &str) -> Option<String> {
        self.header_maps().response.get(name)
    }

    fn response_header_values(&self, name: &str) -> Vec<String> {
        self.header_maps().response.values(name).collect()
    }

    fn response_header_bytes(&self, name: &str) -> Option<Vec<u8>> {
        self.header_maps().response.get_bytes(name)
    }

    fn set_response_header_bytes(&mut self, name: &str, value: &[u8]) {
        self.header_maps_mut().response.set_bytes(name, Some(value))
    }

    fn set_response_header(&mut self, name: &str, value: Option<&str>) {
        self.header_maps_mut().response.set(name, value)
    }

    fn add_response_header(&mut self, name: &str, value: &str) {
        self.header_maps_mut().response.add(name, value)
    }
}

/// A header value as text. Envoy passes on bytes that are not UTF-8 (obs-text, e.g. Latin-1 in a
/// Cookie or Content-Disposition); such bytes read as U+FFFD. (The proxy-wasm SDK's `String`
/// getters unwrap `String::from_utf8` on them: a panic that kills the VM, so shells read bytes.)
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    type Pairs = Vec<(String, Vec<u8>)>;

    /// A map that records every host call made on it.
    #[derive(Default, Clone)]
    struct Recorded {
        headers: Rc<RefCell<Pairs>>,
        calls: Rc<RefCell<Vec<String>>>,
    }

    impl HeaderMap for Recorded {
        fn read_all(&self) -> Vec<(String, Vec<u8>)> {
            self.calls.borrow_mut().push("read_all".into());
            self.headers.borrow().clone()
        }
        fn write(&self, name: &str, value: Option<&[u8]>) {
            self.calls.borrow_mut().push(format!("write {name}"));
            let mut headers = self.headers.borrow_mut();
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            headers.extend(value.map(|v| (name.to_string(), v.to_vec())));
        }
        fn add(&self, name: &str, value: &[u8]) {
            self.calls.borrow_mut().push(format!("add {name}"));
            self.headers.borrow_mut().push((name.to_string(), value.to_vec()));
        }
    }

    fn map(pairs: &[(&str, &[u8])]) -> Recorded {
        let map = Recorded::default();
        *map.headers.borrow_mut() = pairs.iter().map(|(n, v)| (n.to_string(), v.to_vec())).collect();
        map
    }

    #[test]
    fn the_map_is_read_once_and_kept_in_step_with_writes() {
        let host = map(&[("cookie", b"a=1"), ("Set-Cookie", b"x=1"), ("set-cookie", b"y=2")]);
        let mut cache = HeaderCache::new(host.clone());
        assert_eq!(cache.get("COOKIE").as_deref(), Some("a=1"));
        assert_eq!(cache.values("set-cookie").collect::<Vec<_>>(), ["x=1", "y=2"]);
        cache.set("cookie", Some("b=2"));
        cache.add("content-security-policy", "base-uri 'self'");
        cache.set("set-cookie", None);
        assert_eq!(cache.get("cookie").as_deref(), Some("b=2"));
        assert_eq!(cache.values("set-cookie").count(), 0);
        assert_eq!(cache.get("content-security-policy").as_deref(), Some("base-uri 'self'"));
        assert_eq!(*host.calls.borrow(), ["read_all", "write cookie", "add content-security-policy", "write set-cookie"]);
    }

    #[test]
    fn removing_an_absent_header_makes_no_host_call() {
        let host = map(&[("a", b"1")]);
        let mut cache = HeaderCache::new(host.clone());
        cache.set("b", None);
        cache.set("b", None);
        assert_eq!(*host.calls.borrow(), ["read_all"]);
    }

    #[test]
    fn values_that_are_not_utf8_read_as_replacement_characters() {
        let cache = HeaderCache::new(map(&[("x", b"caf\xe9")]));
        assert_eq!(cache.get("x").as_deref(), Some("caf\u{fffd}"));
    }

    #[test]
    fn values_are_kept_and_written_byte_for_byte() {
        let host = map(&[("location", b"/caf\xe9")]);
        let mut cache = HeaderCache::new(host.clone());
        assert_eq!(cache.get_bytes("Location").as_deref(), Some(&b"/caf\xe9"[..]));
        cache.set_bytes("location", Some(b"/caf\xe9?s=1"));
        assert_eq!(cache.get_bytes("location").as_deref(), Some(&b"/caf\xe9?s=1"[..]));
        assert_eq!(*host.headers.borrow(), [("location".to_string(), b"/caf\xe9?s=1".to_vec())]);
    }
}
