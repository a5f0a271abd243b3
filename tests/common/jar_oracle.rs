//! The jar judged by `cookie_store` (a well-kept RFC 6265 cookie store): the same `Set-Cookie`
//! headers received for the same URLs must give the same cookies for a request, as a set (order is
//! ours to prove: longest path first, in `src/jar.rs`'s tests).
//!
//! Where the two may differ by design, the oracle's input is filtered first: `cookie_store` keeps
//! RFC 6265's rules, the filter RFC 6265bis's, which also ignore a `Secure` cookie set over http
//! and a `__Secure-`/`__Host-` name without what its prefix demands. Times are real (the oracle
//! reads the clock): a generated `Max-Age` is 0 or an hour, never near a second's edge.

use cookie_store::CookieStore;
use cookieless::cookies::{parse_set_cookie, CookieContext};
use cookieless::jar::Jar;
use std::time::{SystemTime, UNIX_EPOCH};
use url::Url;

pub const HOST: &str = "shop.example.com";

/// One response: where it came from (`https`, path) and its `Set-Cookie` header.
#[derive(Debug, Clone)]
pub struct Response {
    pub https: bool,
    pub path: String,
    pub set_cookie: String,
}

fn url(https: bool, path: &str) -> Url {
    let scheme = if https { "https" } else { "http" };
    Url::parse(&format!("{scheme}://{HOST}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What RFC 6265bis ignores and RFC 6265 keeps.
fn bis_ignores(set_cookie: &str, https: bool) -> bool {
    let Ok(parsed) = cookie::Cookie::parse(set_cookie) else { return false };
    let secure = parsed.secure().unwrap_or(false);
    let name = parsed.name().to_ascii_lowercase();
    let host_prefix_ok = secure && parsed.domain().is_none_or(str::is_empty) && parsed.path() == Some("/");
    (secure && !https) || (name.starts_with("__secure-") && !secure) || (name.starts_with("__host-") && !host_prefix_ok)
}

/// The cookies each side sends with a request to `(https, path)` after `responses`, sorted; `Err`
/// names the difference.
pub fn compare(responses: &[Response], https: bool, path: &str) -> Result<(), String> {
    let now = now();
    let mut jar = Jar::default();
    let mut store = CookieStore::new();
    for r in responses {
        let ctx = CookieContext { host: HOST, path: &r.path, secure: r.https, now };
        if let Some(change) = parse_set_cookie(&r.set_cookie, &ctx) {
            jar.apply(change);
        }
        if !bis_ignores(&r.set_cookie, r.https) {
            let _ = store.parse(&r.set_cookie, &url(r.https, &r.path));
        }
    }
    let ctx = CookieContext { host: HOST, path, secure: https, now };
    let header = jar.cookie_header(&ctx, None);
    let mut ours: Vec<(String, String)> = cookieless::cookies::parse_cookie_header(&header)
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let mut theirs: Vec<(String, String)> =
        store.get_request_values(&url(https, path)).map(|(n, v)| (n.to_string(), v.to_string())).collect();
    ours.sort();
    theirs.sort();
    if ours == theirs {
        Ok(())
    } else {
        Err(format!("after {responses:#?}\nfor {} {path}: the jar sends {ours:?}, cookie_store {theirs:?}", if https { "https" } else { "http" }))
    }
}
