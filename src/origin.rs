//! Same-origin decisions for URLs as they appear in pages, `Location` headers and
//! `Origin`/`Referer` headers (query strings are `url`'s).
//!
//! This module owns the question "may the token travel to this URL?". Every answer errs towards
//! "no": a link we fail to rewrite costs one lost session, a token sent to another site hands the
//! session away. So the parsers below follow what browsers do with the same bytes (tabs and
//! newlines dropped, backslashes read as slashes, userinfo skipped, the port defaulted from the
//! scheme) and refuse whatever they cannot place exactly: percent-encoded or IDNA-mapped hosts,
//! trailing dots, numeric IPv4 spellings and protocol-relative URLs with a one-sided port all
//! compare unequal.
//!
//! A note on schemes: `SameOrigin` knows the request's host but not its scheme, so
//! `http://same-host/` counts as same-origin on an HTTPS page. Serving the site over HTTPS only
//! (HSTS) keeps that from exposing the token on the wire.

/// Which hosts count as same-origin: the request's own Host plus allowed_hosts.
#[derive(Debug, Clone, Copy)]
pub struct SameOrigin<'a> {
    pub host: &'a str,
    pub allowed_hosts: &'a [String],
}

/// What a URL written in a page points at, as far as the token is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlTarget {
    /// Nothing but whitespace: the base URL (links) or the document URL (form actions).
    Empty,
    /// `#...` only: stays on the same document.
    Fragment,
    /// Resolved against the document's base URL.
    Relative,
    /// `//host/...` or `http(s)://host/...`: `true` when the authority is one of ours.
    Absolute(bool),
    /// Any other scheme (`javascript:`, `mailto:`, `data:`, ...), or an authority we cannot read.
    Other,
}

impl SameOrigin<'_> {
    /// host[:port] comparison: hostnames case-insensitive; if both sides carry a port they must be
    /// equal; if only one side has a port, it must be the default port of `scheme` (80 for http and
    /// ws, 443 for https and wss). With no scheme (a protocol-relative URL, whose scheme is the
    /// page's, unknown here) a one-sided port never matches. A `user@` prefix is skipped, as
    /// browsers do. allowed_hosts entries may be "host" or "host:port".
    pub fn allows_authority(&self, authority: &str, scheme: Option<&str>) -> bool {
        self.allows_authority_bytes(authority.as_bytes(), scheme.and_then(default_port))
    }

    /// For a URL as written in a page or a Location header: relative ("x", "/x", "?q", "") → true;
    /// "//host/x" and "http(s)://host/x" → allows_authority; any other scheme → false;
    /// fragment-only "#x" → false (nothing to add). Browsers' leniencies are reproduced: leading
    /// and trailing C0/space trimmed, tabs and newlines ignored anywhere, schemes case-insensitive,
    /// `\` read as `/`.
    pub fn allows_url(&self, url: &str) -> bool {
        matches!(
            self.classify(url.as_bytes()),
            UrlTarget::Empty | UrlTarget::Relative | UrlTarget::Absolute(true)
        )
    }

    /// For Origin / Referer header values: parse the URL's authority and apply allows_authority.
    /// "null", non-http(s) schemes and anything a browser would not have sent (userinfo,
    /// backslashes, whitespace inside) → false.
    pub fn allows_origin_header(&self, value: &str) -> bool {
        let value = trim_ascii_ws(value.as_bytes());
        let Some((scheme, rest)) = split_scheme(value) else {
            return false;
        };
        let Some(rest) = rest.strip_prefix(b"//") else {
            return false;
        };
        let Some(port) = http_default_port(scheme) else {
            return false;
        };
        let end = rest
            .iter()
            .position(|&b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(rest.len());
        let authority = rest.get(..end).unwrap_or_default();
        if authority
            .iter()
            .any(|&b| b == b'@' || b == b'\\' || b <= b' ' || b == 0x7f)
        {
            return false;
        }
        self.allows_authority_bytes(authority, Some(port))
    }

    /// Places `url` as a browser would before deciding whether the token may follow it.
    pub(crate) fn classify(&self, url: &[u8]) -> UrlTarget {
        // Browsers drop tabs and newlines anywhere in a URL ("java\tscript:", "/\n/evil").
        let cleaned;
        let url = if memchr::memchr3(b'\t', b'\n', b'\r', url).is_some() {
            cleaned = url
                .iter()
                .copied()
                .filter(|b| !matches!(b, b'\t' | b'\n' | b'\r'))
                .collect::<Vec<u8>>();
            &cleaned[..]
        } else {
            url
        };
        let url = trim_c0_space(url);
        match url.first() {
            None => return UrlTarget::Empty,
            Some(b'#') => return UrlTarget::Fragment,
            _ => {}
        }
        if let Some((scheme, rest)) = split_scheme(url) {
            return match http_default_port(scheme) {
                // `http:x` without `//` is relative when the base has that scheme, another host
                // when not: the base decides, so the token never follows it.
                Some(_) if !matches!(rest, [a, b, ..] if is_slash(*a) && is_slash(*b)) => UrlTarget::Other,
                Some(port) => {
                    let authority = authority_of(skip_slashes(rest));
                    UrlTarget::Absolute(self.allows_authority_bytes(authority, Some(port)))
                }
                None => UrlTarget::Other,
            };
        }
        if matches!(url, [a, b, ..] if is_slash(*a) && is_slash(*b)) {
            let authority = authority_of(skip_slashes(url));
            return UrlTarget::Absolute(self.allows_authority_bytes(authority, None));
        }
        UrlTarget::Relative
    }

    fn allows_authority_bytes(&self, authority: &[u8], default: Option<u16>) -> bool {
        let Some(theirs) = HostPort::parse(authority) else {
            return false;
        };
        let own = std::iter::once(self.host).chain(self.allowed_hosts.iter().map(String::as_str));
        own.filter_map(|h| HostPort::parse(h.as_bytes()))
            .any(|ours| ours.matches(&theirs, default))
    }
}

/// `host[:port]` as found in an authority, after any `user@`.
#[derive(Debug, PartialEq, Eq)]
struct HostPort<'a> {
    host: &'a [u8],
    port: Option<u16>,
}

impl<'a> HostPort<'a> {
    fn parse(authority: &'a [u8]) -> Option<Self> {
        let authority = match memchr::memrchr(b'@', authority) {
            Some(at) => authority.get(at + 1..)?,
            None => authority,
        };
        let (host, port) = if authority.first() == Some(&b'[') {
            // IPv6 literal: the colons inside the brackets are not port separators.
            let close = memchr::memchr(b']', authority)?;
            let (host, rest) = authority.split_at(close + 1);
            match rest.split_first() {
                None => (host, None),
                Some((b':', port)) => (host, Some(port)),
                Some(_) => return None,
            }
        } else {
            match memchr::memrchr(b':', authority) {
                Some(colon) => {
                    let (host, rest) = authority.split_at(colon);
                    (host, rest.get(1..))
                }
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return None;
        }
        let port = match port {
            // "host:" means the default port, as in the URL standard.
            None | Some([]) => None,
            Some(digits) => Some(parse_port(digits)?),
        };
        Some(HostPort { host, port })
    }

    fn matches(&self, other: &HostPort<'_>, default: Option<u16>) -> bool {
        if !self.host.eq_ignore_ascii_case(other.host) {
            return false;
        }
        match (self.port, other.port) {
            (None, None) => true,
            (Some(a), Some(b)) => a == b,
            (Some(p), None) | (None, Some(p)) => default == Some(p),
        }
    }
}

/// `authority` without its port where that is `scheme`'s default (or empty). Written after `//`,
/// the URL then names the origin the browser made of it whatever the scheme it is resolved with:
/// `https://host:443/` as a base is `https://host/`, and `//host:443/x` against an http document
/// (one whose `<base>` the parser dropped) would be another origin.
pub fn without_default_port<'a>(authority: &'a [u8], scheme: &[u8]) -> &'a [u8] {
    let Some(parsed) = HostPort::parse(authority) else {
        return authority;
    };
    let default = parsed.port.is_none() || parsed.port == http_default_port(scheme);
    let colon = parsed.port.is_some() || authority.last() == Some(&b':');
    match memchr::memrchr(b':', authority) {
        Some(at) if colon && default => authority.get(..at).unwrap_or(authority),
        _ => authority,
    }
}

/// Digits only (leading zeros allowed, as browsers accept them), at most 65535.
fn parse_port(digits: &[u8]) -> Option<u16> {
    let mut value: u32 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(b - b'0');
        if value > u32::from(u16::MAX) {
            return None;
        }
    }
    u16::try_from(value).ok()
}

fn default_port(scheme: &str) -> Option<u16> {
    let s = scheme.as_bytes();
    if s.eq_ignore_ascii_case(b"http") || s.eq_ignore_ascii_case(b"ws") {
        Some(80)
    } else if s.eq_ignore_ascii_case(b"https") || s.eq_ignore_ascii_case(b"wss") {
        Some(443)
    } else {
        None
    }
}

/// Only http and https URLs can carry the token somewhere we recognise.
fn http_default_port(scheme: &[u8]) -> Option<u16> {
    if scheme.eq_ignore_ascii_case(b"http") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case(b"https") {
        Some(443)
    } else {
        None
    }
}

/// `scheme:` per the URL standard: an ASCII letter, then letters, digits, `+`, `-`, `.`.
fn split_scheme(url: &[u8]) -> Option<(&[u8], &[u8])> {
    if !url.first()?.is_ascii_alphabetic() {
        return None;
    }
    let end = url
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))?;
    if url.get(end) != Some(&b':') {
        return None;
    }
    Some((url.get(..end)?, url.get(end + 1..)?))
}

fn is_slash(b: u8) -> bool {
    b == b'/' || b == b'\\'
}

/// Browsers skip any run of slashes and backslashes before an http(s) authority.
fn skip_slashes(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| is_slash(b)).count();
    s.get(n..).unwrap_or_default()
}

fn authority_of(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .position(|&b| matches!(b, b'/' | b'\\' | b'?' | b'#'))
        .unwrap_or(s.len());
    s.get(..end).unwrap_or_default()
}

/// The URL parser strips leading and trailing C0 controls and spaces.
pub(crate) fn trim_c0_space(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b > b' ').unwrap_or(s.len());
    let end = s.iter().rposition(|&b| b > b' ').map_or(start, |p| p + 1);
    s.get(start..end).unwrap_or_default()
}

fn trim_ascii_ws(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin<'a>(host: &'a str, allowed: &'a [String]) -> SameOrigin<'a> {
        SameOrigin {
            host,
            allowed_hosts: allowed,
        }
    }

    #[test]
    fn authority_host_is_case_insensitive() {
        let o = origin("www.Example.com", &[]);
        assert!(o.allows_authority("WWW.EXAMPLE.COM", Some("http")));
        assert!(!o.allows_authority("example.com", Some("http")));
        assert!(!o.allows_authority("www.example.com.", Some("http")));
        assert!(!o.allows_authority("www.example.com.evil.example", Some("http")));
        assert!(!o.allows_authority("", Some("http")));
    }

    #[test]
    fn authority_ports_both_sides_must_be_equal() {
        let o = origin("www.example.com:8080", &[]);
        assert!(o.allows_authority("www.example.com:8080", Some("http")));
        assert!(o.allows_authority("www.example.com:08080", Some("https")));
        assert!(!o.allows_authority("www.example.com:8081", Some("http")));
    }

    #[test]
    fn default_ports_are_dropped_from_an_authority() {
        assert_eq!(without_default_port(b"Host:443", b"HTTPS"), b"Host");
        assert_eq!(without_default_port(b"host:0080", b"http"), b"host");
        assert_eq!(without_default_port(b"host:", b"http"), b"host");
        assert_eq!(without_default_port(b"u:p@host:443", b"https"), b"u:p@host");
        assert_eq!(without_default_port(b"[::1]:443", b"https"), b"[::1]");
        assert_eq!(without_default_port(b"host:443", b"http"), b"host:443");
        assert_eq!(without_default_port(b"host:8443", b"https"), b"host:8443");
        assert_eq!(without_default_port(b"[::1]", b"https"), b"[::1]");
        assert_eq!(without_default_port(b"host", b""), b"host");
    }

    #[test]
    fn authority_one_sided_port_must_be_the_scheme_default() {
        let plain = origin("www.example.com", &[]);
        assert!(plain.allows_authority("www.example.com:80", Some("http")));
        assert!(plain.allows_authority("www.example.com:443", Some("HTTPS")));
        assert!(!plain.allows_authority("www.example.com:443", Some("http")));
        assert!(!plain.allows_authority("www.example.com:80", Some("https")));
        assert!(!plain.allows_authority("www.example.com:8080", Some("http")));
        let with_port = origin("www.example.com:443", &[]);
        assert!(with_port.allows_authority("www.example.com", Some("https")));
        assert!(!with_port.allows_authority("www.example.com", Some("http")));
        // Unknown scheme (protocol-relative): a one-sided port is never assumed default.
        assert!(!plain.allows_authority("www.example.com:80", None));
        assert!(!with_port.allows_authority("www.example.com", None));
        assert!(plain.allows_authority("www.example.com", None));
        // "host:" is the default port.
        assert!(plain.allows_authority("www.example.com:", Some("http")));
    }

    #[test]
    fn authority_rejects_bad_ports() {
        let o = origin("www.example.com", &[]);
        assert!(!o.allows_authority("www.example.com:65536", Some("http")));
        assert!(!o.allows_authority("www.example.com:+80", Some("http")));
        assert!(!o.allows_authority("www.example.com:8o", Some("http")));
        assert!(!o.allows_authority("www.example.com:99999999999999999999", Some("http")));
    }

    #[test]
    fn authority_userinfo_is_skipped() {
        let o = origin("www.example.com", &[]);
        assert!(!o.allows_authority("www.example.com@evil.example", Some("http")));
        assert!(o.allows_authority("evil.example@www.example.com", Some("http")));
    }

    #[test]
    fn authority_allowed_hosts_with_and_without_port() {
        let allowed = vec!["static.example.com".to_owned(), "api.example.com:8443".to_owned()];
        let o = origin("www.example.com", &allowed);
        assert!(o.allows_authority("STATIC.example.com", Some("https")));
        assert!(o.allows_authority("static.example.com:443", Some("https")));
        assert!(!o.allows_authority("static.example.com:8443", Some("https")));
        assert!(o.allows_authority("api.example.com:8443", Some("https")));
        assert!(!o.allows_authority("api.example.com", Some("https")));
        assert!(!o.allows_authority("other.example.com", Some("https")));
    }

    #[test]
    fn authority_ipv6() {
        let o = origin("[::1]:8080", &[]);
        assert!(o.allows_authority("[::1]:8080", Some("http")));
        assert!(!o.allows_authority("[::1]", Some("http")));
        assert!(!o.allows_authority("[::1]:8080x", Some("http")));
        let o = origin("[2001:DB8::1]", &[]);
        assert!(o.allows_authority("[2001:db8::1]", Some("http")));
        assert!(o.allows_authority("[2001:db8::1]:80", Some("http")));
    }

    #[test]
    fn url_relative_forms_are_allowed() {
        let o = origin("www.example.com", &[]);
        for url in ["x", "/x", "?q", "", "  /x  ", "x/y?z#f", "./a", "../b", "1foo:bar", "\\x"] {
            assert!(o.allows_url(url), "{url:?}");
        }
    }

    #[test]
    fn url_absolute_same_and_foreign() {
        let o = origin("www.example.com", &[]);
        assert!(o.allows_url("http://www.example.com/x"));
        assert!(o.allows_url("HTTPS://WWW.EXAMPLE.COM"));
        assert!(o.allows_url("//www.example.com/x?y"));
        assert!(o.allows_url("http://www.example.com:80/x"));
        assert!(!o.allows_url("https://www.example.com:80/x"));
        assert!(!o.allows_url("http://evil.example/?next=www.example.com"));
        assert!(!o.allows_url("http://www.example.com.evil.example/"));
        assert!(!o.allows_url("//evil.example/x"));
        assert!(!o.allows_url("http://www.example.com@evil.example/"));
        assert!(!o.allows_url("http:"));
        assert!(!o.allows_url("http:///"));
    }

    #[test]
    fn url_other_schemes_and_fragments_are_refused() {
        let o = origin("www.example.com", &[]);
        for url in [
            "#x",
            "#",
            "  #top",
            "javascript:alert(1)",
            "JavaScript:void(0)",
            " javascript:x",
            "java\tscript:x",
            "java\nscript:x",
            "mailto:a@www.example.com",
            "tel:+123",
            "data:text/html,x",
            "ftp://www.example.com/",
            "ws://www.example.com/",
            "blob:http://www.example.com/x",
            "\u{1}javascript:x",
        ] {
            assert!(!o.allows_url(url), "{url:?}");
        }
    }

    #[test]
    fn url_backslashes_count_as_slashes() {
        let o = origin("www.example.com", &[]);
        assert!(!o.allows_url("\\\\evil.example"));
        assert!(!o.allows_url("/\\evil.example/x"));
        assert!(!o.allows_url("\\/evil.example"));
        assert!(!o.allows_url("http:\\\\evil.example"));
        assert!(!o.allows_url("https:/\\evil.example"));
        // The authority ends at the backslash: this one stays home.
        assert!(o.allows_url("http://www.example.com\\@evil.example/"));
        assert!(!o.allows_url("///evil.example"));
        assert!(!o.allows_url("/\t/evil.example"));
        assert!(!o.allows_url("/\n/evil.example"));
        assert!(o.allows_url("\\\\www.example.com\\x"));
    }

    #[test]
    fn url_allowed_hosts() {
        let allowed = vec!["shop.example.net".to_owned()];
        let o = origin("www.example.com", &allowed);
        assert!(o.allows_url("https://shop.example.net/cart"));
        assert!(!o.allows_url("https://shop.example.net:8443/cart"));
    }

    #[test]
    fn classify_targets() {
        let o = origin("www.example.com", &[]);
        assert_eq!(o.classify(b"  "), UrlTarget::Empty);
        assert_eq!(o.classify(b"#a"), UrlTarget::Fragment);
        assert_eq!(o.classify(b"a"), UrlTarget::Relative);
        assert_eq!(o.classify(b"//www.example.com"), UrlTarget::Absolute(true));
        assert_eq!(o.classify(b"//evil"), UrlTarget::Absolute(false));
        assert_eq!(o.classify(b"mailto:x"), UrlTarget::Other);
        assert_eq!(o.classify(b"\xff\xfe"), UrlTarget::Relative);
    }

    #[test]
    fn origin_header() {
        let allowed = vec!["partner.example:8443".to_owned()];
        let o = origin("www.example.com", &allowed);
        assert!(o.allows_origin_header("https://www.example.com"));
        assert!(o.allows_origin_header("http://www.example.com:80"));
        assert!(o.allows_origin_header(" https://www.example.com/page?x#y "));
        assert!(o.allows_origin_header("https://partner.example:8443"));
        assert!(!o.allows_origin_header("https://partner.example"));
        assert!(!o.allows_origin_header("null"));
        assert!(!o.allows_origin_header("NULL"));
        assert!(!o.allows_origin_header(""));
        assert!(!o.allows_origin_header("www.example.com"));
        assert!(!o.allows_origin_header("https:www.example.com"));
        assert!(!o.allows_origin_header("https://evil.example"));
        assert!(!o.allows_origin_header("https://www.example.com.evil.example"));
        assert!(!o.allows_origin_header("https://www.example.com@evil.example"));
        assert!(!o.allows_origin_header("https://evil.example@www.example.com"));
        assert!(!o.allows_origin_header("https://www.example.com\\.evil.example"));
        assert!(!o.allows_origin_header("chrome-extension://www.example.com"));
        assert!(!o.allows_origin_header("https://www.example.com:8443"));
        assert!(!o.allows_origin_header("https://www.example.com evil"));
    }
}
