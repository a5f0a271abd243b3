//! Fuzzes the jar against `cookie_store` (tests/common/jar_oracle.rs): any `Set-Cookie` headers,
//! received over http or https on some path, must leave the jar sending what an RFC 6265 store
//! sends (as RFC 6265bis narrows it), and `parse_cookie_header` must never panic. The same oracle
//! runs as a proptest in `tests/cookie_jar.rs`.
//!
//! Input layout: byte 0 = the request (bit 0: https; the rest picks its path), then one response
//! a line: its first byte the same way, the rest its `Set-Cookie` header.
//! Run: `cargo +nightly fuzz run set_cookie`.
#![no_main]

#[path = "../../tests/common/jar_oracle.rs"]
mod jar_oracle;

use cookieless::cookies::parse_cookie_header;
use jar_oracle::Response;
use libfuzzer_sys::fuzz_target;

const PATHS: [&str; 6] = ["/", "/a", "/a/", "/a/b", "/a/b/c", "/ab"];

fn request(selector: u8) -> (bool, &'static str) {
    (selector & 1 == 1, PATHS[usize::from(selector >> 1) % PATHS.len()])
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    for (name, value) in parse_cookie_header(&text) {
        assert!(!name.is_empty() && !name.contains(';') && !value.contains(';'));
    }
    // What HTTP carries in a header value: no CR, LF (they separate responses here) or NUL.
    let responses: Vec<Response> = text
        .split('\n')
        .filter(|line| !line.contains(['\r', '\0']))
        .filter_map(|line| {
            let mut chars = line.chars();
            let selector = chars.next()? as u32;
            let (https, path) = request(u8::try_from(selector % 256).unwrap_or(0));
            Some(Response { https, path: path.to_string(), set_cookie: chars.as_str().to_string() })
        })
        .collect();
    let (https, path) = request(first);
    if let Err(difference) = jar_oracle::compare(&responses, https, path) {
        panic!("{difference}");
    }
});
