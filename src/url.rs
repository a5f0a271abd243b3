//! URLs and query strings as the filter meets them: paths with queries (`:path`), query
//! parameters to read, strip, add or replace (requests, `Location` headers, HTML attributes), and
//! `host:port` authorities. The one place these are parsed, so every module reads them alike.
//!
//! A query is split into `name=value` pairs at `&` (in HTML attributes also at `&amp;`); a pair is
//! the parameter's when its name is the parameter exactly (`PARAM=...` or a bare `PARAM`).

/// The path of a `:path`, without query or fragment.
pub fn path_without_query(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
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

/// The value of `param` in the query of `path` (first occurrence), as written.
pub fn query_value<'a>(path: &'a str, param: &str) -> Option<&'a str> {
    let (_, query) = path.split_once('?')?;
    query_value_in(query.split('#').next().unwrap_or(query), param)
}

/// The value of `param` in `query` (`a=1&b=2`, also a urlencoded body), first occurrence.
pub fn query_value_in<'a>(query: &'a str, param: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == param).then_some(value)
    })
}

/// `path` without any `param` pair in its query; `None` when there was none to remove.
pub fn strip_query_param(path: &str, param: &str) -> Option<String> {
    let (base, query) = path.split_once('?')?;
    let kept = without_param(query, param)?;
    Some(if kept.is_empty() { base.to_string() } else { format!("{base}?{kept}") })
}

/// `query` without any `param` pair; `None` when there was none.
pub fn without_param(query: &str, param: &str) -> Option<String> {
    let is_param = |pair: &&str| pair_is(pair.as_bytes(), param.as_bytes());
    if !query.split('&').any(|p| is_param(&p)) {
        return None;
    }
    Some(query.split('&').filter(|p| !is_param(p)).collect::<Vec<_>>().join("&"))
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

    #[test]
    fn query_value_and_strip() {
        assert_eq!(query_value("/a?x=1&sessionid=TOK&y=2", "sessionid"), Some("TOK"));
        assert_eq!(query_value("/a?sessionid=TOK#frag", "sessionid"), Some("TOK"));
        assert_eq!(query_value("/a?xsessionid=TOK", "sessionid"), None);
        assert_eq!(query_value("/a", "sessionid"), None);
        assert_eq!(strip_query_param("/a?x=1&sessionid=TOK&y=2", "sessionid").unwrap(), "/a?x=1&y=2");
        assert_eq!(strip_query_param("/a?sessionid=TOK", "sessionid").unwrap(), "/a");
        assert_eq!(strip_query_param("/a?sessionid=1&sessionid=2", "sessionid").unwrap(), "/a");
        assert_eq!(strip_query_param("/a?sessionid", "sessionid").unwrap(), "/a");
        assert_eq!(strip_query_param("/a?x=1", "sessionid"), None);
        assert_eq!(strip_query_param("/a", "sessionid"), None);
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
