//! URLs and query strings as the filter meets them: paths with queries (`:path`), query
//! parameters to read, strip, add or replace (requests, `Location` headers, HTML attributes), and
//! `host:port` authorities. The one place these are parsed, so every module reads them alike.
//!
//! Two readings of a query, on purpose. In what the filter writes (`Location`, HTML attributes) a
//! query is split into `name=value` pairs at `&` (in attributes also at `&amp;`), and a pair is the
//! parameter's when its name is the parameter exactly (`PARAM=...` or a bare `PARAM`): the filter
//! replaces its own pair. In what a request brings ([`take_pairs`]) a pair is the parameter's when
//! any common framework would read it so: what is taken out there must cover every app's reading.

use std::borrow::Cow;

/// The path of a `:path`, without query or fragment.
pub fn path_without_query(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

/// The path a browser requests for `reference` written on a page whose path is `page_path`: the
/// path of an absolute or scheme-relative URL, or the reference resolved against the page's
/// directory, `\` read as `/`, with `.` and `..` segments (also `%2e`) removed, without query or
/// fragment. For the route check of a URL the filter would give the token.
pub fn resolved_path(page_path: &str, reference: &str) -> String {
    let reference = as_parsed(reference);
    let reference = reference.split(['?', '#']).next().unwrap_or_default();
    // Borrowed where the path is already written out: this runs for every link of a page.
    let joined: Cow<'_, str> = if let Some(rest) = reference.strip_prefix("//").or_else(|| after_scheme(reference)) {
        Cow::Borrowed(rest.find('/').and_then(|at| rest.get(at..)).unwrap_or("/"))
    } else if reference.starts_with('/') {
        Cow::Borrowed(reference)
    } else if reference.is_empty() {
        Cow::Borrowed(path_without_query(page_path))
    } else {
        let page = path_without_query(page_path);
        let directory = page.rfind('/').and_then(|at| page.get(..=at)).unwrap_or("/");
        Cow::Owned(format!("{directory}{reference}"))
    };
    remove_dot_segments(&joined)
}

/// RFC 3986 §5.2.4, with WHATWG's `%2e` spellings of the dots.
fn remove_dot_segments(path: &str) -> String {
    if path.starts_with('/') && !path.contains(['.', '%']) {
        // No segment can be a dot segment: the path is its own result.
        return path.to_string();
    }
    let is_dot = |s: &str| s == "." || s.eq_ignore_ascii_case("%2e");
    let is_dot_dot = |s: &str| ["..", ".%2e", "%2e.", "%2e%2e"].iter().any(|d| s.eq_ignore_ascii_case(d));
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, &segment) in segments.iter().enumerate() {
        let dot_dot = is_dot_dot(segment);
        if dot_dot || is_dot(segment) {
            if dot_dot {
                out.pop();
            }
            if i == last {
                out.push("");
            }
        } else {
            out.push(segment);
        }
    }
    format!("/{}", out.join("/"))
}

/// The authority a reference names, if it names one: `scheme://host/...` or `//host/...` (`\\`
/// read as `/`); `None` for one relative to the page.
pub fn reference_authority(reference: &str) -> Option<String> {
    let reference = as_parsed(reference);
    let rest = after_scheme(&reference).or_else(|| reference.strip_prefix("//"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end)?;
    // `user@host`: the host is after the last `@`.
    let host = authority.rsplit('@').next().unwrap_or(authority);
    Some(host.to_ascii_lowercase())
}

/// A URL as the WHATWG parser sees it before parsing: C0 controls and spaces trimmed at both
/// ends, tabs and newlines removed everywhere, `\` read as `/` (http(s) URLs).
fn as_parsed(url: &str) -> Cow<'_, str> {
    let trimmed = url.trim_matches(|c: char| c <= ' ');
    if !trimmed.contains(['\t', '\n', '\r', '\\']) {
        return Cow::Borrowed(trimmed);
    }
    trimmed.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).map(|c| if c == '\\' { '/' } else { c }).collect()
}

/// What follows `scheme://` when the URL starts with a valid scheme (a letter, then letters,
/// digits, `+`, `-`, `.`): `/x/http://y` has none.
fn after_scheme(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(rest)
}

/// An absolute URL's authority and what follows it (path, query): `http://h:1/p?q` →
/// `("h:1", "/p?q")`; `None` for a URL without `scheme://`.
pub fn split_absolute(url: &str) -> Option<(&str, &str)> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(rest.split_at(end))
}

/// `host:port` → `host`, also for bracketed IPv6 (`[::1]:80` → `::1`); a bare IPv6 address or
/// anything whose port is not digits stays as it is.
pub fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The token's pairs taken out of a request's query or urlencoded body.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TakenPairs {
    /// Their values as written, in order.
    pub values: Vec<String>,
    /// The query or body without them; `None` when there was none.
    pub rest: Option<Vec<u8>>,
}

/// Takes every pair of `param` out of a request's query or urlencoded body (bytes: a body need
/// not be UTF-8). A pair is the parameter's when an app could read it as the parameter: the
/// common frameworks split at `&` and decode `%XX` and `+` in names, and PHP reads `PARAM[]=` or
/// `PARAM[x]=` as PARAM and turns `.` and spaces of a name into `_`. Some (Python's old cgi,
/// older Java and Perl) also split at `;`: a `;PARAM=` inside a pair cuts the pair there, since
/// for those apps the rest is the parameter's. Every reading counts: the upstream never sees a
/// token.
pub fn take_pairs(query: &[u8], param: &str) -> TakenPairs {
    let mut taken = TakenPairs::default();
    let mut rest = Vec::with_capacity(query.len());
    let mut removed = false;
    for (index, pair) in query.split(|&b| b == b'&').enumerate() {
        let (name, value) = split_pair(pair);
        let kept = if reads_as(name, param) {
            taken.values.push(String::from_utf8_lossy(value).into_owned());
            None
        } else {
            match semicolon_param(pair, param) {
                Some((at, value)) => {
                    taken.values.push(String::from_utf8_lossy(value).into_owned());
                    pair.get(..at)
                }
                None => Some(pair),
            }
        };
        removed |= kept != Some(pair);
        if let Some(kept) = kept {
            // The `&` before a kept pair stays, unless nothing was kept before it.
            if index > 0 && !rest.is_empty() {
                rest.push(b'&');
            }
            rest.extend_from_slice(kept);
        }
    }
    taken.rest = removed.then_some(rest);
    taken
}

/// `name=value` → (name, value); a bare name has an empty value.
fn split_pair(pair: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b'=', pair) {
        Some(eq) => (pair.get(..eq).unwrap_or_default(), pair.get(eq + 1..).unwrap_or_default()),
        None => (pair, &b""[..]),
    }
}

/// The first `;` of a pair after which `PARAM=...` follows: its position, and the value up to the
/// next `;`.
fn semicolon_param<'a>(pair: &'a [u8], param: &str) -> Option<(usize, &'a [u8])> {
    memchr::memchr_iter(b';', pair).find_map(|at| {
        let segment = pair.get(at + 1..)?;
        let segment = segment.split(|&b| b == b';').next().unwrap_or(segment);
        let (name, value) = split_pair(segment);
        reads_as(name, param).then_some((at, value))
    })
}

/// `path` (a request's `:path`, or a `Referer`) with every pair of `param` taken out of its query
/// (see [`take_pairs`]): the pairs' values, and the stripped path (`None` when there was none),
/// every other byte as it was.
pub fn take_query_param(path: &[u8], param: &str) -> (Vec<String>, Option<Vec<u8>>) {
    let Some(q) = memchr::memchr(b'?', path) else {
        return (Vec::new(), None);
    };
    let (base, query) = (path.get(..q).unwrap_or_default(), path.get(q + 1..).unwrap_or_default());
    let taken = take_pairs(query, param);
    let stripped = taken.rest.map(|kept| {
        let mut out = base.to_vec();
        if !kept.is_empty() {
            out.push(b'?');
            out.extend_from_slice(&kept);
        }
        out
    });
    (taken.values, stripped)
}

/// Can an app read this raw name as `param`?
///
/// A superset of the frameworks' readings, on purpose (dropping a look-alike parameter of the app
/// costs little, passing the token on a lot): ASCII case ignored (ASP.NET), the name cut at NUL
/// (PHP), brackets around it dropped (`[PARAM]`, `PARAM]`: Rack, qs), `%uXXXX` decoded (classic
/// ASP.NET).
fn reads_as(raw_name: &[u8], param: &str) -> bool {
    let name = form_decode(raw_name);
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    let same = |candidate: &[u8]| candidate.eq_ignore_ascii_case(param.as_bytes());
    same(name) || same(&php_name(name)) || same(bracketed_name(name))
}

/// Rack's and qs's reading of a name: leading `[`/`]` dropped, then up to the next bracket.
fn bracketed_name(name: &[u8]) -> &[u8] {
    let start = name.iter().position(|&b| b != b'[' && b != b']').unwrap_or(name.len());
    let name = name.get(start..).unwrap_or_default();
    let end = name.iter().position(|&b| b == b'[' || b == b']').unwrap_or(name.len());
    name.get(..end).unwrap_or_default()
}

/// `+` as a space and `%XX` as its byte, as forms are decoded.
fn form_decode(raw: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    percent_encoding::percent_decode(&decode_percent_u(&spaced)).collect()
}

/// Classic ASP.NET's `%uXXXX`, for the ASCII characters a parameter name has; the rest as it is.
fn decode_percent_u(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let ascii = raw
            .get(i + 2..i + 6)
            .filter(|_| b == b'%' && matches!(raw.get(i + 1), Some(b'u' | b'U')))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(u8::is_ascii);
        match ascii {
            Some(c) => {
                out.push(c);
                i += 6;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The variable a name is to PHP: leading spaces dropped, the part before `[` when a `]` follows
/// (`a[]`, `a[x]` are `a`), with `.` and spaces turned into `_`.
pub fn php_name(name: &[u8]) -> Vec<u8> {
    let start = name.iter().position(|&b| b != b' ').unwrap_or(name.len());
    let name = name.get(start..).unwrap_or_default();
    let base = match memchr::memchr(b'[', name) {
        Some(open) if name.get(open..).is_some_and(|tail| tail.contains(&b']')) => name.get(..open).unwrap_or(name),
        _ => name,
    };
    base.iter().map(|&b| if b == b'.' || b == b' ' { b'_' } else { b }).collect()
}

/// "&" (Location headers) vs "&amp;" (HTML attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuerySeparator {
    Amp,
    AmpEntity,
}

/// Returns url with PARAM=VALUE set: inserted before any #fragment; "?" if no query yet, else
/// separator; if PARAM is already present in the query (as `PARAM=` or a bare `PARAM` after `?`
/// or `&`, or after `&amp;` with [`QuerySeparator::AmpEntity`]), its value is REPLACED instead of
/// adding a second. Leading and trailing whitespace stays outside the URL. `&amp;` counts as a
/// separator only in the AmpEntity form: in a header it is a literal `&` followed by `amp;`.
pub fn with_query_param(url: &str, param: &str, value: &str, sep: QuerySeparator) -> String {
    let mut out = Vec::with_capacity(url.len() + param.len() + value.len() + 6);
    push_with_query_param(
        &mut out,
        url.as_bytes(),
        param.as_bytes(),
        value.as_bytes(),
        sep,
    );
    // Only ASCII was added, at ASCII positions of a str: the bytes stay valid UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// [`with_query_param`] over bytes, appending to `out` (the rewriter's path: no allocation).
pub(crate) fn push_with_query_param(
    out: &mut Vec<u8>,
    url: &[u8],
    param: &[u8],
    value: &[u8],
    sep: QuerySeparator,
) {
    // What the URL parser strips around a URL: C0 controls and spaces, but not NUL, which the
    // HTML tokenizer has turned into U+FFFD by then.
    let kept = |b: u8| b > b' ' || b == 0;
    let start = url.iter().position(|&b| kept(b)).unwrap_or(url.len());
    let end = url.iter().rposition(|&b| kept(b)).map_or(start, |p| p + 1);
    let (lead, rest) = url.split_at(start);
    let (core, trail) = rest.split_at(end - start);
    out.extend_from_slice(lead);
    // In an attribute, `&#` starts a character reference, not a fragment.
    let frag = memchr::memchr_iter(b'#', core)
        .find(|&k| sep == QuerySeparator::Amp || k == 0 || core.get(k - 1) != Some(&b'&'))
        .unwrap_or(core.len());
    let (before_frag, fragment) = core.split_at(frag);
    match memchr::memchr(b'?', before_frag) {
        Some(q) => {
            let (path, query) = before_frag.split_at(q + 1);
            out.extend_from_slice(path);
            if !replace_param(out, query, param, value, sep) {
                out.extend_from_slice(query);
                if !query.is_empty() && !ends_with_separator(query, sep) {
                    out.extend_from_slice(match sep {
                        QuerySeparator::Amp => b"&",
                        QuerySeparator::AmpEntity => b"&amp;",
                    });
                }
                push_pair(out, param, value);
            }
        }
        None => {
            out.extend_from_slice(before_frag);
            out.push(b'?');
            push_pair(out, param, value);
        }
    }
    out.extend_from_slice(fragment);
    out.extend_from_slice(trail);
}

fn push_pair(out: &mut Vec<u8>, param: &[u8], value: &[u8]) {
    out.extend_from_slice(param);
    out.push(b'=');
    out.extend_from_slice(value);
}

fn ends_with_separator(query: &[u8], sep: QuerySeparator) -> bool {
    query.ends_with(b"&") || (sep == QuerySeparator::AmpEntity && query.ends_with(b"&amp;"))
}

/// Copies `query` to `out` with every `param` pair's value set to `value`; false (and nothing
/// written) when `param` does not occur.
fn replace_param(
    out: &mut Vec<u8>,
    query: &[u8],
    param: &[u8],
    value: &[u8],
    sep: QuerySeparator,
) -> bool {
    if param.is_empty() || !pairs(query, sep).any(|(pair, _)| pair_is(pair, param)) {
        return false;
    }
    for (pair, separator) in pairs(query, sep) {
        if pair_is(pair, param) {
            push_pair(out, param, value);
        } else {
            out.extend_from_slice(pair);
        }
        out.extend_from_slice(separator);
    }
    true
}

/// The query's `name=value` pairs, each with the separator that follows it; together they cover
/// every byte of `query`.
fn pairs(query: &[u8], sep: QuerySeparator) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = Some(query);
    std::iter::from_fn(move || {
        let tail = rest?;
        let Some(amp) = memchr::memchr(b'&', tail) else {
            rest = None;
            return Some((tail, &b""[..]));
        };
        let (pair, after) = tail.split_at(amp);
        let len = if sep == QuerySeparator::AmpEntity && after.starts_with(b"&amp;") {
            5
        } else {
            1
        };
        let (separator, next) = after.split_at(len.min(after.len()));
        rest = (!next.is_empty()).then_some(next);
        Some((pair, separator))
    })
}

/// `PARAM=...` or a bare `PARAM`.
fn pair_is(pair: &[u8], param: &[u8]) -> bool {
    match pair.strip_prefix(param) {
        Some(rest) => rest.is_empty() || rest.first() == Some(&b'='),
        None => false,
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn strip(path: &str) -> (Vec<String>, Option<String>) {
        strip_as(path, "sessionid")
    }

    fn strip_as(path: &str, param: &str) -> (Vec<String>, Option<String>) {
        let (values, stripped) = take_query_param(path.as_bytes(), param);
        (values, stripped.map(|s| String::from_utf8(s).unwrap()))
    }

    #[test]
    fn query_token_taken_and_stripped() {
        assert_eq!(strip("/a?x=1&sessionid=TOK&y=2"), (vec!["TOK".into()], Some("/a?x=1&y=2".into())));
        assert_eq!(strip("/a?sessionid=TOK"), (vec!["TOK".into()], Some("/a".into())));
        assert_eq!(strip("/a?sessionid=1&sessionid=2"), (vec!["1".into(), "2".into()], Some("/a".into())));
        assert_eq!(strip("/a?sessionid"), (vec![String::new()], Some("/a".into())));
        assert_eq!(strip("/a?sessionid=TOK&x=1").1.as_deref(), Some("/a?x=1"));
        assert_eq!(strip("/a?xsessionid=TOK"), (vec![], None));
        assert_eq!(strip("/a?x=1"), (vec![], None));
        assert_eq!(strip("/a"), (vec![], None));
        // Empty pairs stay as they were.
        assert_eq!(strip("/a?x=1&&sessionid=T&&y").1.as_deref(), Some("/a?x=1&&&y"));
        // For an app that splits at `&` only, the token's value runs to the next `&`.
        assert_eq!(strip("/a?a=1&sessionid=;;;"), (vec![";;;".into()], Some("/a?a=1".into())));
        // For one that also splits at `;`, a `;PARAM=` cuts its pair.
        assert_eq!(strip("/a?a=1;sessionid=T;b&c=2"), (vec!["T".into()], Some("/a?a=1&c=2".into())));
        assert_eq!(strip("/a?a=1;b=2").1, None);
    }

    #[test]
    fn names_are_read_as_frameworks_read_them() {
        for query in [
            "session%69d=TOK",   // a percent-encoded name
            "%73essionid=TOK",
            "sessionid[]=TOK",   // PHP arrays
            "sessionid[x]=TOK",
            "+sessionid=TOK",    // `+` is a space, and PHP drops leading spaces
            "a=1;sessionid=TOK", // `;` separators (Python's cgi, older Java and Perl)
        ] {
            let (values, rest) = strip(&format!("/p?{query}"));
            assert_eq!(values.last().map(String::as_str), Some("TOK"), "{query}");
            assert!(!rest.unwrap_or_default().contains("TOK"), "{query}");
        }
        // PHP reads `session.id` and `session id` as `session_id`.
        assert_eq!(strip_as("/p?session.id=T", "session_id").0, vec!["T".to_string()]);
        assert_eq!(strip_as("/p?session%20id=T", "session_id").0, vec!["T".to_string()]);
        // Case, NUL, brackets and `%u`, as ASP.NET, PHP, Rack and qs read them.
        for query in ["SessionID=T", "sessionid%00x=T", "[sessionid]=T", "sessionid]=T", "]sessionid=T", "%u0073essionid=T", "sessionid[=T"] {
            assert_eq!(strip(&format!("/p?{query}")).0, vec!["T".to_string()], "{query}");
        }
        assert_eq!(strip("/p?sessionidx=T&xsessionid=T&session=T").0, Vec::<String>::new());
        // Values stay as written: a token has no escapes.
        assert_eq!(strip("/p?sessionid=a%2Db+c").0, vec!["a%2Db+c".to_string()]);
    }

    #[test]
    fn bodies_and_paths_need_not_be_utf8() {
        assert_eq!(take_query_param(b"/caf\xe9?sessionid=T&a=\xff", "sessionid").1.as_deref(), Some(&b"/caf\xe9?a=\xff"[..]));
        let taken = take_pairs(b"name=caf\xe9&sessionid=TOK", "sessionid");
        assert_eq!(taken.values, vec!["TOK".to_string()]);
        assert_eq!(taken.rest.as_deref(), Some(&b"name=caf\xe9"[..]));
        let first = take_pairs(b"sessionid=TOK&name=x", "sessionid");
        assert_eq!(first.rest.as_deref(), Some(&b"name=x"[..]));
    }

    #[test]
    fn ports_are_stripped_from_hosts_and_addresses() {
        assert_eq!(strip_port("a.example:80"), "a.example");
        assert_eq!(strip_port("[::1]:10000"), "::1");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(strip_port("127.0.0.1"), "127.0.0.1");
        assert_eq!(strip_port("a.example:x"), "a.example:x");
    }

    #[test]
    fn references_resolve_to_the_path_the_browser_requests() {
        for (page, reference, path) in [
            ("/shop/cart", "/admin/users", "/admin/users"),
            ("/shop/cart", "checkout?x=1", "/shop/checkout"),
            ("/shop/cart", "../admin/", "/admin/"),
            ("/shop/cart", "./x/../../admin", "/admin"),
            ("/shop/cart", "%2e%2e/admin", "/admin"),
            ("/shop/cart", "\\admin", "/admin"),
            ("/shop/cart", "//www.example.com/admin#f", "/admin"),
            ("/shop/cart", "http://www.example.com", "/"),
            ("/shop/cart", "https://www.example.com/a/./b/..", "/a/"),
            ("/shop/cart", "", "/shop/cart"),
            // Not a scheme: `/x/http://y` is a path. Tabs and newlines go, controls are trimmed.
            ("/shop/cart", "/admin/go/http://x", "/admin/go/http://x"),
            ("/shop/cart", "admin/a://b", "/shop/admin/a://b"),
            ("/shop/cart", "/ad\tmin/us\ners", "/admin/users"),
            ("/shop/cart", "\u{1}/admin", "/admin"),
            ("/", "../../x", "/x"),
            // Dots spelled in any case; a path without dots is its own result, empty segments kept.
            ("/shop/cart", "%2E%2e/admin", "/admin"),
            ("/shop/cart", ".%2E/x/%2E", "/x/"),
            ("/shop/cart", "/a//b/", "/a//b/"),
            ("/shop/cart", "a//b", "/shop/a//b"),
        ] {
            assert_eq!(resolved_path(page, reference), path, "{reference} on {page}");
        }
    }

    #[test]
    fn references_name_their_authority() {
        assert_eq!(reference_authority("https://Shop.example:8443/x").as_deref(), Some("shop.example:8443"));
        assert_eq!(reference_authority(" \\\\shop.example\\x").as_deref(), Some("shop.example"));
        assert_eq!(reference_authority("/x?u=http://evil"), None);
        assert_eq!(reference_authority("x"), None);
        assert_eq!(reference_authority("//x@Admin.example/").as_deref(), Some("admin.example"));
        assert_eq!(reference_authority("/admin/go/http://x"), None);
        assert_eq!(reference_authority("\t//ad\nmin.example/").as_deref(), Some("admin.example"));
    }

    #[test]
    fn absolute_urls_split_at_the_authority() {
        assert_eq!(split_absolute("http://h:1/p?q"), Some(("h:1", "/p?q")));
        assert_eq!(split_absolute("https://h?q"), Some(("h", "?q")));
        assert_eq!(split_absolute("https://h"), Some(("h", "")));
        assert_eq!(split_absolute("/p"), None);
    }

    #[test]
    fn paths_lose_query_and_fragment() {
        assert_eq!(path_without_query("/a?b#c"), "/a");
        assert_eq!(path_without_query("/a#c?b"), "/a");
        assert_eq!(path_without_query(""), "");
    }

    #[test]
    fn query_param_added() {
        use QuerySeparator::*;
        assert_eq!(with_query_param("/x", "s", "T", AmpEntity), "/x?s=T");
        assert_eq!(with_query_param("", "s", "T", AmpEntity), "?s=T");
        assert_eq!(with_query_param("/x?a=1", "s", "T", AmpEntity), "/x?a=1&amp;s=T");
        assert_eq!(with_query_param("/x?a=1", "s", "T", Amp), "/x?a=1&s=T");
        assert_eq!(with_query_param("/x?", "s", "T", Amp), "/x?s=T");
        assert_eq!(with_query_param("/x?a&", "s", "T", Amp), "/x?a&s=T");
        assert_eq!(with_query_param("/x?a&amp;", "s", "T", AmpEntity), "/x?a&amp;s=T");
        assert_eq!(with_query_param("/x#frag", "s", "T", AmpEntity), "/x?s=T#frag");
        assert_eq!(with_query_param("/x?a=1#f?g", "s", "T", Amp), "/x?a=1&s=T#f?g");
        assert_eq!(with_query_param("/x#f?g", "s", "T", Amp), "/x?s=T#f?g");
        assert_eq!(with_query_param(" /x \n", "s", "T", Amp), " /x?s=T \n");
        assert_eq!(with_query_param("?q", "s", "T", AmpEntity), "?q&amp;s=T");
        assert_eq!(with_query_param("#", "s", "T", Amp), "?s=T#");
    }

    #[test]
    fn query_param_replaced_not_duplicated() {
        use QuerySeparator::*;
        assert_eq!(with_query_param("/x?s=old", "s", "T", Amp), "/x?s=T");
        assert_eq!(with_query_param("/x?a=1&s=old&b=2", "s", "T", Amp), "/x?a=1&s=T&b=2");
        assert_eq!(
            with_query_param("/x?a=1&amp;s=old&amp;b=2#f", "s", "T", AmpEntity),
            "/x?a=1&amp;s=T&amp;b=2#f"
        );
        assert_eq!(with_query_param("/x?s", "s", "T", Amp), "/x?s=T");
        assert_eq!(with_query_param("/x?s=1&s=2", "s", "T", Amp), "/x?s=T&s=T");
        assert_eq!(with_query_param("/x?s=", "s", "T", Amp), "/x?s=T");
        // Other names that merely contain the param are not it.
        assert_eq!(with_query_param("/x?xs=1", "s", "T", Amp), "/x?xs=1&s=T");
        assert_eq!(with_query_param("/x?sx=1", "s", "T", Amp), "/x?sx=1&s=T");
        // In a header `&amp;` is not a separator: the pair there is named "amp;s".
        assert_eq!(with_query_param("/x?a&amp;s=1", "s", "T", Amp), "/x?a&amp;s=1&s=T");
        // The fragment's "s=" is not the query's.
        assert_eq!(with_query_param("/x#s=1", "s", "T", Amp), "/x?s=T#s=1");
    }
}
