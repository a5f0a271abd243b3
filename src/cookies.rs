//! Reading cookie headers: the browser's `Cookie` request header and the upstream's `Set-Cookie`
//! response headers, turned into changes of a session's jar as a browser would make them
//! (RFC 6265 §5.2-5.3, with RFC 6265bis's Secure and name-prefix rules).

use crate::jar::StoredCookie;
use crate::token::SessionId;
use cookie::Expiration;

/// What a request is, as far as cookies care: the host (lower case, no port), the path, whether
/// Envoy saw https, and the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieContext<'a> {
    pub host: &'a str,
    pub path: &'a str,
    pub secure: bool,
    pub now: u64,
}

/// What one `Set-Cookie` header does to the jar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JarChange {
    /// Store the cookie, replacing the one of the same name, domain and path.
    Set(StoredCookie),
    /// An expired cookie: the one of the same name, domain and path goes.
    Delete { name: String, domain: String, path: String },
    /// The session was rotated: its cookies moved to the session `to`, to which tokens of this
    /// one lead until `until` (unix seconds), and then nowhere.
    Retire { to: SessionId, until: u64 },
}

impl JarChange {
    /// A host-only session cookie for the whole site (path `/`).
    pub fn set(name: &str, value: &str) -> JarChange {
        JarChange::Set(StoredCookie::new(name, value))
    }

    /// The deletion of that cookie.
    pub fn delete(name: &str) -> JarChange {
        JarChange::Delete { name: name.to_string(), domain: String::new(), path: "/".to_string() }
    }
}

/// Interprets a `Set-Cookie` value received for a request, as a browser would. `None` for a header
/// that is not a cookie, and for a cookie the browser would ignore: a `Domain` that does not
/// cover the request's host, `Secure` over http, a `__Secure-` or `__Host-` name without what
/// its prefix demands. `Max-Age` wins over `Expires`; either in the past deletes.
pub fn parse_set_cookie(header: &str, ctx: &CookieContext<'_>) -> Option<JarChange> {
    let parsed = cookie::Cookie::parse(header).ok()?;
    let name = parsed.name();
    if name.is_empty() {
        return None;
    }
    let domain = match parsed.domain().map(|d| d.trim_start_matches('.').to_ascii_lowercase()) {
        None => None,
        Some(d) if d.is_empty() => None,
        Some(d) if domain_matches(ctx.host, &d) => Some(d),
        Some(_) => return None,
    };
    let host_only = domain.is_none();
    let domain = domain.unwrap_or_else(|| ctx.host.to_string());
    let path = parsed.path().filter(|p| p.starts_with('/')).map_or_else(|| default_path(ctx.path), str::to_string);
    let secure = parsed.secure().unwrap_or(false);
    let root_path_attribute = parsed.path() == Some("/");
    if (secure && !ctx.secure) || !prefix_allows(name, secure, host_only, root_path_attribute) {
        return None;
    }
    let expires = match expiry(&parsed, ctx.now) {
        Expiry::Past => return Some(JarChange::Delete { name: name.to_string(), domain, path }),
        Expiry::At(at) => Some(at),
        Expiry::Session => None,
    };
    let value = parsed.value().to_string();
    Some(JarChange::Set(StoredCookie { name: name.to_string(), value, domain, host_only, path, expires, secure, created: ctx.now }))
}

enum Expiry {
    Past,
    At(u64),
    /// Kept as long as the jar (a browser keeps it until it closes).
    Session,
}

fn expiry(parsed: &cookie::Cookie<'_>, now: u64) -> Expiry {
    if let Some(max_age) = parsed.max_age() {
        let seconds = max_age.whole_seconds();
        return match u64::try_from(seconds) {
            Ok(delta) if delta > 0 => Expiry::At(now.saturating_add(delta)),
            _ => Expiry::Past,
        };
    }
    match parsed.expires() {
        Some(Expiration::DateTime(at)) => match u64::try_from(at.unix_timestamp()) {
            Ok(at) if at > now => Expiry::At(at),
            _ => Expiry::Past,
        },
        _ => Expiry::Session,
    }
}

/// RFC 6265bis §5.7: `__Secure-` needs `Secure`; `__Host-` also a host-only cookie with the
/// attribute `Path=/` (a default path of `/` is not enough).
fn prefix_allows(name: &str, secure: bool, host_only: bool, root_path_attribute: bool) -> bool {
    let has = |prefix: &str| name.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix));
    if has("__Host-") {
        return secure && host_only && root_path_attribute;
    }
    !has("__Secure-") || secure
}

/// RFC 6265 §5.1.3: the host is the domain, or ends with `.domain` and is not an IP address.
pub fn domain_matches(host: &str, domain: &str) -> bool {
    if host == domain {
        return true;
    }
    let is_ip = host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[');
    !is_ip && host.len() > domain.len() && host.ends_with(domain) && host.as_bytes().get(host.len() - domain.len() - 1) == Some(&b'.')
}

/// RFC 6265 §5.1.4: the directory of the request's path, `/` when it has none.
fn default_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(last) if request_path.starts_with('/') => request_path.get(..last).unwrap_or("/").to_string(),
        Some(_) => "/".to_string(),
    }
}

/// RFC 6265 §5.1.4: the request path is the cookie path, or under it.
pub fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    match request_path.strip_prefix(cookie_path) {
        Some(rest) => rest.is_empty() || cookie_path.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// Splits a `Cookie` request header into name/value pairs, skipping malformed pieces.
pub fn parse_cookie_header(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let name = name.trim();
        (!name.is_empty()).then_some((name, value.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_790_000_000; // 2026-09

    fn ctx(host: &'static str, path: &'static str, secure: bool) -> CookieContext<'static> {
        CookieContext { host, path, secure, now: NOW }
    }

    const PAGE: CookieContext<'static> = CookieContext { host: "shop.example.com", path: "/account/orders", secure: false, now: NOW };

    fn stored(name: &str, value: &str, domain: Option<&str>, path: &str, expires: Option<u64>, secure: bool) -> Option<JarChange> {
        Some(JarChange::Set(StoredCookie {
            name: name.into(),
            value: value.into(),
            domain: domain.unwrap_or("shop.example.com").to_string(),
            host_only: domain.is_none(),
            path: path.into(),
            expires,
            secure,
            created: NOW,
        }))
    }

    fn deleted(name: &str, path: &str) -> Option<JarChange> {
        Some(JarChange::Delete { name: name.into(), domain: "shop.example.com".into(), path: path.into() })
    }

    #[test]
    fn set_cookie_is_read_as_a_browser_reads_it() {
        let https = ctx("shop.example.com", "/account/orders", true);
        let cases: Vec<(&str, CookieContext<'_>, Option<JarChange>)> = vec![
            // Attributes and defaults (RFC 6265 §5.2, §5.3).
            ("sessionid=abc123; Path=/; HttpOnly; SameSite=Lax", PAGE, stored("sessionid", "abc123", None, "/", None, false)),
            ("csrftoken=a=b=c", PAGE, stored("csrftoken", "a=b=c", None, "/account", None, false)),
            ("a=1; Path=relative", PAGE, stored("a", "1", None, "/account", None, false)),
            ("a=1", ctx("shop.example.com", "/", false), stored("a", "1", None, "/", None, false)),
            ("a=1", ctx("shop.example.com", "/x", false), stored("a", "1", None, "/", None, false)),
            // Expiry: Max-Age relative to now, over Expires; the past deletes.
            ("a=1; Max-Age=60", PAGE, stored("a", "1", None, "/account", Some(NOW + 60), false)),
            ("a=1; Max-Age=100; Expires=Thu, 01 Jan 1970 00:00:00 GMT", PAGE, stored("a", "1", None, "/account", Some(NOW + 100), false)),
            ("a=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT", PAGE, stored("a", "1", None, "/account", Some(4_102_444_800), false)),
            ("a=; Max-Age=0; Path=/", PAGE, deleted("a", "/")),
            ("a=x; Max-Age=-1; Path=/", PAGE, deleted("a", "/")),
            ("a=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/", PAGE, deleted("a", "/")),
            // Domain: host-only without it; with it only when it covers the host.
            ("a=1; Domain=example.com; Path=/", PAGE, stored("a", "1", Some("example.com"), "/", None, false)),
            ("a=1; Domain=.Example.COM; Path=/", PAGE, stored("a", "1", Some("example.com"), "/", None, false)),
            ("a=1; Domain=shop.example.com; Path=/", PAGE, stored("a", "1", Some("shop.example.com"), "/", None, false)),
            ("a=1; Domain=other.example; Path=/", PAGE, None),
            ("a=1; Domain=hop.example.com; Path=/", PAGE, None),
            ("a=1; Domain=0.0.1; Path=/", ctx("127.0.0.1", "/", false), None),
            // Secure only from https; prefixes as RFC 6265bis demands.
            ("a=1; Secure; Path=/", PAGE, None),
            ("a=1; Secure; Path=/", https, stored("a", "1", None, "/", None, true)),
            ("__Secure-a=1; Path=/", https, None),
            ("__Secure-a=1; Secure; Path=/", https, stored("__Secure-a", "1", None, "/", None, true)),
            ("__Host-a=1; Secure; Path=/", https, stored("__Host-a", "1", None, "/", None, true)),
            ("__host-a=1; Secure; Path=/; Domain=example.com", https, None),
            ("__Host-a=1; Secure; Path=/account", https, None),
            ("__Host-a=1; Path=/", https, None),
            ("__Host-a=1; Secure", ctx("shop.example.com", "/", true), None),
            // Not cookies.
            ("", PAGE, None),
            ("no equals sign", PAGE, None),
            ("=value", PAGE, None),
        ];
        for (header, ctx, want) in cases {
            assert_eq!(parse_set_cookie(header, &ctx), want, "{header} for {}{}", ctx.host, ctx.path);
        }
    }

    #[test]
    fn domains_and_paths_match_as_rfc_6265_says() {
        assert!(domain_matches("shop.example.com", "example.com"));
        assert!(domain_matches("example.com", "example.com"));
        assert!(!domain_matches("badexample.com", "example.com"));
        assert!(!domain_matches("example.com", "shop.example.com"));
        assert!(!domain_matches("10.0.0.1", "0.0.1"));
        for (request, cookie, matches) in [
            ("/", "/", true),
            ("/account", "/account", true),
            ("/account/orders", "/account", true),
            ("/account/orders", "/account/", true),
            ("/accounts", "/account", false),
            ("/", "/account", false),
            ("/account", "/account/", false),
        ] {
            assert_eq!(path_matches(request, cookie), matches, "{request} under {cookie}");
        }
    }

    #[test]
    fn cookie_header_pairs() {
        let pairs: Vec<_> = parse_cookie_header("a=1; b=x=y;junk; =z; c=").collect();
        assert_eq!(pairs, [("a", "1"), ("b", "x=y"), ("c", "")]);
    }
}
