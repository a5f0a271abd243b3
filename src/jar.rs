//! A session's jar: the upstream's cookies that the filter keeps on the server side instead of in
//! the browser, kept and sent back as a browser would (RFC 6265 §5.3-5.4): each cookie with its
//! path, domain (or host-only), expiry, `Secure` flag and creation time; replaced by name, domain
//! and path; sent only to paths under its own, over https when `Secure`, never once expired,
//! longest paths first. A jar serves one host (tokens are bound to it).
//!
//! A rotated session's jar holds no cookies, only where they went ([`Moved`]): tokens of the old
//! session follow it there for a short grace, then open nothing.
//!
//! Stored as JSON; a jar stored by an older version (`name=value` lines) still reads, each
//! cookie host-only on `/` without expiry, its host unrecorded (the jar's own).

use crate::cookies::{domain_matches, parse_cookie_header, path_matches, CookieContext, JarChange};
use crate::token::SessionId;
use serde::{Deserialize, Serialize};

pub use cookieless_proto::MAX_JAR_BYTES;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jar {
    /// In creation order.
    cookies: Vec<StoredCookie>,
    moved: Option<Moved>,
}

/// One cookie as the jar keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCookie {
    #[serde(rename = "n")]
    pub name: String,
    #[serde(rename = "v")]
    pub value: String,
    /// `Domain` (lower case, no leading dot), or the host that set a host-only cookie; `""`: the
    /// jar's own host, not recorded (older jars).
    #[serde(rename = "d", default)]
    pub domain: String,
    /// No `Domain` attribute: sent to its host only, not to its subdomains.
    #[serde(rename = "h", default, skip_serializing_if = "std::ops::Not::not")]
    pub host_only: bool,
    #[serde(rename = "p")]
    pub path: String,
    /// Unix seconds; `None`: a session cookie, kept as long as the jar.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    #[serde(rename = "s", default, skip_serializing_if = "std::ops::Not::not")]
    pub secure: bool,
    /// Unix seconds: orders cookies of equal path length.
    #[serde(rename = "c", default)]
    pub created: u64,
}

impl StoredCookie {
    /// A host-only session cookie on `/`.
    pub fn new(name: &str, value: &str) -> StoredCookie {
        StoredCookie { name: name.into(), value: value.into(), domain: String::new(), host_only: true, path: "/".into(), expires: None, secure: false, created: 0 }
    }

    /// RFC 6265 §5.3 step 11: the same name, domain and path (a host-only cookie's domain is its
    /// host, so `Domain=` the host itself replaces it). An unrecorded host is the jar's.
    fn same_key(&self, name: &str, domain: &str, path: &str) -> bool {
        let domains = self.domain == domain || self.domain.is_empty() || domain.is_empty();
        self.name == name && self.path == path && domains
    }

    fn expired(&self, now: u64) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }

    /// RFC 6265 §5.4 step 1: would a browser send it with this request?
    fn goes_with(&self, ctx: &CookieContext<'_>) -> bool {
        let domain = if self.host_only {
            self.domain.is_empty() || self.domain == ctx.host
        } else {
            domain_matches(ctx.host, &self.domain)
        };
        domain && path_matches(ctx.path, &self.path) && (!self.secure || ctx.secure) && !self.expired(ctx.now)
    }
}

/// Where a rotated session's cookies went, and until when its tokens may follow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub to: SessionId,
    /// Unix seconds.
    pub until: u64,
}

/// The stored form.
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(rename = "c", default)]
    cookies: Vec<StoredCookie>,
    /// The new session's id (hex) and the end of the grace.
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    moved: Option<(String, u64)>,
}

impl Jar {
    /// Nothing to keep: no cookie and not a rotated session's forwarding.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty() && self.moved.is_none()
    }

    /// Set when the session was rotated.
    pub fn moved(&self) -> Option<Moved> {
        self.moved
    }

    /// The value of the first cookie of that name (any path or domain).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies.iter().find(|c| c.name == name).map(|c| c.value.as_str())
    }

    /// The changes that rebuild this jar's cookies in another session.
    pub fn to_changes(&self) -> Vec<JarChange> {
        self.cookies.iter().cloned().map(JarChange::Set).collect()
    }

    /// Applies one change; returns whether the jar changed. A rotated session takes no more
    /// cookies: requests that still carry its tokens write to the session it moved to.
    pub fn apply(&mut self, change: JarChange) -> bool {
        if self.moved.is_some() {
            return false;
        }
        match change {
            JarChange::Set(cookie) => self.store(cookie),
            JarChange::Delete { name, domain, path } => {
                let before = self.cookies.len();
                self.cookies.retain(|c| !c.same_key(&name, &domain, &path));
                self.cookies.len() != before
            }
            JarChange::Retire { to, until } => {
                self.cookies.clear();
                self.moved = Some(Moved { to, until });
                true
            }
        }
    }

    /// RFC 6265 §5.3 step 11: a cookie of the same name, domain and path is replaced, keeping its
    /// creation time. Expired cookies go on the way.
    fn store(&mut self, mut cookie: StoredCookie) -> bool {
        let now = cookie.created;
        let before = self.cookies.len();
        self.cookies.retain(|c| !c.expired(now));
        let purged = self.cookies.len() != before;
        match self.cookies.iter_mut().find(|c| c.same_key(&cookie.name, &cookie.domain, &cookie.path)) {
            Some(old) => {
                cookie.created = old.created;
                let changed = *old != cookie;
                *old = cookie;
                changed || purged
            }
            None => {
                self.cookies.push(cookie);
                true
            }
        }
    }

    /// The stored jar with the response's `Set-Cookie` changes applied, and whether any changed
    /// it: the one merge both stores use (an unchanged jar need not be written again).
    pub fn merge(mut stored: Jar, changes: &[JarChange]) -> (Jar, bool) {
        let mut changed = false;
        for change in changes {
            changed |= stored.apply(change.clone());
        }
        (stored, changed)
    }

    /// The `Cookie` header the upstream gets for this request (RFC 6265 §5.4): the cookies that
    /// go with it, longest path first, then oldest; plus `browser` cookies whose names it does
    /// not shadow (only when the browser's own cookies are kept).
    pub fn cookie_header(&self, ctx: &CookieContext<'_>, browser: Option<&str>) -> String {
        let mut sent: Vec<&StoredCookie> = self.cookies.iter().filter(|c| c.goes_with(ctx)).collect();
        sent.sort_by(|a, b| b.path.len().cmp(&a.path.len()).then(a.created.cmp(&b.created)));
        let mut pairs: Vec<(&str, &str)> = sent.iter().map(|c| (c.name.as_str(), c.value.as_str())).collect();
        if let Some(header) = browser {
            pairs.extend(parse_cookie_header(header).filter(|(n, _)| !sent.iter().any(|c| c.name == *n)));
        }
        let mut header = String::with_capacity(pairs.iter().map(|(n, v)| n.len() + v.len() + 3).sum());
        for (name, value) in pairs {
            if !header.is_empty() {
                header.push_str("; ");
            }
            header.push_str(name);
            header.push('=');
            header.push_str(value);
        }
        header
    }

    pub fn encode(&self) -> Vec<u8> {
        let stored = Stored { cookies: self.cookies.clone(), moved: self.moved.map(|m| (m.to.to_hex(), m.until)) };
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// The inverse of `encode`, and the older `name=value` lines; `None` when the bytes are
    /// neither.
    pub fn decode(bytes: &[u8]) -> Option<Jar> {
        if bytes.first() != Some(&b'{') {
            return decode_lines(bytes);
        }
        let stored: Stored = serde_json::from_slice(bytes).ok()?;
        let moved = match stored.moved {
            Some((to, until)) => Some(Moved { to: SessionId::from_hex(&to)?, until }),
            None => None,
        };
        Some(Jar { cookies: stored.cookies, moved })
    }

    /// Whether the jar is small enough to keep.
    pub fn fits(&self) -> bool {
        let size = |c: &StoredCookie| c.name.len() + c.value.len() + c.path.len() + c.domain.len() + 2;
        self.cookies.iter().map(size).sum::<usize>() <= MAX_JAR_BYTES
    }
}

/// The format before cookies had attributes: one `name=value` per line.
fn decode_lines(bytes: &[u8]) -> Option<Jar> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut jar = Jar::default();
    for line in text.lines() {
        let (name, value) = line.split_once('=')?;
        jar.cookies.push(StoredCookie::new(name, value));
    }
    Some(jar)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_790_000_000;

    fn set(name: &str, value: &str) -> JarChange {
        JarChange::set(name, value)
    }

    fn cookie(name: &str, path: &str) -> StoredCookie {
        StoredCookie { path: path.into(), created: NOW, domain: "shop.example.com".into(), ..StoredCookie::new(name, "v") }
    }

    fn at(path: &'static str, secure: bool, now: u64) -> CookieContext<'static> {
        CookieContext { host: "shop.example.com", path, secure, now }
    }

    #[test]
    fn set_replace_delete() {
        let mut jar = Jar::default();
        assert!(jar.is_empty());
        assert!(jar.apply(set("sessionid", "a")));
        assert!(!jar.apply(set("sessionid", "a")), "same value is no change");
        assert!(jar.apply(set("sessionid", "b")));
        assert_eq!(jar.get("sessionid"), Some("b"));
        assert!(jar.apply(JarChange::delete("sessionid")));
        assert!(!jar.apply(JarChange::delete("sessionid")));
        assert!(jar.is_empty());
    }

    #[test]
    fn cookies_are_keyed_by_name_domain_and_path() {
        let mut jar = Jar::default();
        jar.apply(JarChange::Set(cookie("a", "/")));
        jar.apply(JarChange::Set(cookie("a", "/account")));
        jar.apply(JarChange::Set(StoredCookie { domain: "example.com".into(), host_only: false, ..cookie("a", "/") }));
        assert_eq!(jar.cookies.len(), 3);
        // Deleting one path leaves the others.
        assert!(jar.apply(JarChange::Delete { name: "a".into(), domain: "shop.example.com".into(), path: "/account".into() }));
        assert_eq!(jar.cookies.len(), 2);
        // `Domain=` the host itself is the host-only cookie's key (RFC 6265 §5.3 step 11).
        jar.apply(JarChange::Set(StoredCookie { domain: "shop.example.com".into(), host_only: false, ..cookie("a", "/") }));
        assert_eq!(jar.cookies.len(), 2);
        // A replacement keeps the creation time: the order of the Cookie header stays.
        jar.apply(JarChange::Set(StoredCookie { value: "w".into(), created: NOW + 9, ..cookie("a", "/") }));
        assert_eq!(jar.cookies.first().map(|c| (c.value.as_str(), c.created)), Some(("w", NOW)));
    }

    #[test]
    fn the_cookie_header_holds_what_a_browser_would_send() {
        let mut jar = Jar::default();
        for change in [
            JarChange::Set(cookie("root", "/")),
            JarChange::Set(cookie("account", "/account")),
            JarChange::Set(StoredCookie { secure: true, ..cookie("secure", "/") }),
            JarChange::Set(StoredCookie { expires: Some(NOW + 2), ..cookie("sudo", "/") }),
            JarChange::Set(StoredCookie { domain: "example.com".into(), host_only: false, ..cookie("wide", "/") }),
            JarChange::Set(StoredCookie { created: NOW - 5, ..cookie("older", "/account") }),
        ] {
            jar.apply(change);
        }
        // Longest path first, then the oldest; secure only over https; expired never.
        assert_eq!(jar.cookie_header(&at("/account/x", false, NOW), None), "older=v; account=v; root=v; sudo=v; wide=v");
        assert_eq!(jar.cookie_header(&at("/", true, NOW + 3), None), "root=v; secure=v; wide=v");
        assert_eq!(jar.cookie_header(&at("/accounts", false, NOW), None), "root=v; sudo=v; wide=v");
        assert_eq!(jar.cookie_header(&at("/", false, NOW), Some("root=evil; theme=dark")), "root=v; sudo=v; wide=v; theme=dark");
    }

    #[test]
    fn expired_cookies_leave_the_jar_at_the_next_change() {
        let mut jar = Jar::default();
        jar.apply(JarChange::Set(StoredCookie { expires: Some(NOW + 2), ..cookie("sudo", "/") }));
        jar.apply(JarChange::Set(StoredCookie { created: NOW + 3, ..cookie("other", "/") }));
        assert_eq!(jar.get("sudo"), None);
    }

    #[test]
    fn merge_applies_changes_in_order_and_says_whether_anything_changed() {
        let mut stored = Jar::default();
        stored.apply(set("a", "1"));
        let (same, changed) = Jar::merge(stored.clone(), &[set("a", "1")]);
        assert_eq!((same, changed), (stored.clone(), false));
        let (jar, changed) = Jar::merge(stored, &[set("b", "2"), JarChange::delete("a"), set("b", "3")]);
        assert!(changed);
        assert_eq!((jar.get("a"), jar.get("b")), (None, Some("3")));
        let (empty, changed) = Jar::merge(Jar::default(), &[JarChange::delete("x")]);
        assert!(empty.is_empty() && !changed);
    }

    #[test]
    fn encoding_round_trips_and_reads_the_older_format() {
        let mut jar = Jar::default();
        jar.apply(set("a", "1=2"));
        jar.apply(JarChange::Set(StoredCookie { domain: "example.com".into(), host_only: false, expires: Some(9), secure: true, ..cookie("b", "/x") }));
        assert_eq!(Jar::decode(&jar.encode()), Some(jar));
        assert_eq!(Jar::decode(b""), Some(Jar::default()));
        let old = Jar::decode(b"a=1\nb=\n").unwrap();
        assert_eq!(old.cookie_header(&at("/", false, NOW), None), "a=1; b=");
        assert_eq!(Jar::decode(b"no-equals\n"), None);
        assert_eq!(Jar::decode(&[0xff, 0xfe]), None);
        assert_eq!(Jar::decode(b"{\"c\": 5}"), None);
    }

    #[test]
    fn a_retired_jar_forwards_keeps_nothing_and_round_trips() {
        let mut jar = Jar::default();
        jar.apply(set("PHPSESSID", "old"));
        let to = SessionId([7; 16]);
        assert_eq!(jar.to_changes(), vec![set("PHPSESSID", "old")]);
        assert!(jar.apply(JarChange::Retire { to, until: 99 }));
        assert_eq!(jar.moved(), Some(Moved { to, until: 99 }));
        assert!(!jar.is_empty() && jar.get("PHPSESSID").is_none());
        assert!(!jar.apply(set("PHPSESSID", "new")), "a retired session takes no cookie");
        assert_eq!(Jar::decode(&jar.encode()), Some(jar));
        assert_eq!(Jar::decode(b"{\"m\":[\"zz\",1]}"), None);
        assert_eq!(SessionId::from_hex(&to.to_hex()), Some(to));
        assert_eq!(SessionId::from_hex(&to.to_hex().to_ascii_uppercase().replace('0', "A")), None);
    }

    #[test]
    fn oversized_jars_do_not_fit() {
        let mut jar = Jar::default();
        jar.apply(set("big", &"x".repeat(MAX_JAR_BYTES)));
        assert!(!jar.fits());
    }
}
