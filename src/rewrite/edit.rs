//! What to change in one complete start tag: which URL gets the token (`a`/`area` href,
//! `iframe`/`frame` src, meta refresh), whether a form gets the hidden input, and what `<base>`
//! does to relative URLs.
//!
//! Decisions read attribute values as written. A character reference there can hide a `:`, `/`,
//! `#`, `?` or `&` from that reading (`http&#58;//evil.example/`), so a value holding any reference
//! that stands for an ASCII character, except the ubiquitous `&amp;`, is left alone.

use super::tag::{is_ws, Attr, Kind};
use crate::origin::{SameOrigin, UrlTarget};

/// What the rewriter knows about the page so far.
pub(super) struct Page<'a> {
    pub origin: SameOrigin<'a>,
    /// A `<base href>` pointing elsewhere (or unreadable) was seen: relative URLs are foreign.
    pub base_foreign: bool,
}

/// An attribute value as written, and where it sits in the tag.
struct Value<'t> {
    text: &'t [u8],
    range: (usize, usize),
}

/// The first attribute called `name` (later duplicates are ignored by browsers): `Some(None)`
/// when it has no value.
fn attr<'t>(tag: &'t [u8], attrs: &[Attr], name: &[u8]) -> Option<Option<Value<'t>>> {
    let a = attrs
        .iter()
        .find(|a| bytes(tag, a.name).eq_ignore_ascii_case(name))?;
    Some(a.value.map(|range| Value {
        text: bytes(tag, range),
        range,
    }))
}

fn bytes(tag: &[u8], (start, end): (usize, usize)) -> &[u8] {
    tag.get(start..end).unwrap_or_default()
}

impl Page<'_> {
    /// May the token be added to this link URL? `empty_ok`: an empty URL means the base URL
    /// (links) rather than nothing (frames, whose empty src is about:blank).
    fn link_allowed(&self, url: &[u8], empty_ok: bool) -> bool {
        if has_ascii_char_ref(url) {
            return false;
        }
        match self.origin.classify(url) {
            UrlTarget::Empty => empty_ok && !self.base_foreign,
            UrlTarget::Relative => !self.base_foreign,
            UrlTarget::Absolute(same) => same,
            UrlTarget::Fragment | UrlTarget::Other => false,
        }
    }

    /// The range of the URL to rewrite in a link-bearing tag, if any.
    pub fn link_edit(&self, kind: Kind, tag: &[u8], attrs: &[Attr]) -> Option<(usize, usize)> {
        let (attr_name, empty_ok) = match kind {
            Kind::A | Kind::Area => (&b"href"[..], true),
            Kind::Iframe | Kind::Frame => (&b"src"[..], false),
            Kind::Meta => return self.refresh_edit(tag, attrs),
            _ => return None,
        };
        let url = attr(tag, attrs, attr_name)??;
        if !self.link_allowed(url.text, empty_ok) {
            return None;
        }
        // `ping` would report the link's URL, token included, to every listed address.
        if let Some(Some(ping)) = attr(tag, attrs, b"ping") {
            if !self.pings_allowed(ping.text) {
                return None;
            }
        }
        Some(url.range)
    }

    fn pings_allowed(&self, ping: &[u8]) -> bool {
        !has_ascii_char_ref(ping)
            && ping
                .split(|&b| is_ws(b))
                .filter(|u| !u.is_empty())
                .all(|u| self.link_allowed(u, false))
    }

    /// `<meta http-equiv="refresh" content="N; url=...">`: the URL's range inside the tag.
    fn refresh_edit(&self, tag: &[u8], attrs: &[Attr]) -> Option<(usize, usize)> {
        let equiv = attr(tag, attrs, b"http-equiv")??;
        if !equiv.text.eq_ignore_ascii_case(b"refresh") {
            return None;
        }
        let Value {
            text: content,
            range: (offset, _),
        } = attr(tag, attrs, b"content")??;
        if has_ascii_char_ref(content) {
            return None;
        }
        let (start, end) = refresh_url(content)?;
        let url = content.get(start..end)?;
        self.link_allowed(url, false)
            .then_some((offset + start, offset + end))
    }

    /// Does a form submit to us? A missing or empty action means the document's own URL (not the
    /// base URL); anything else resolves against the base URL.
    pub fn form_allowed(&self, tag: &[u8], attrs: &[Attr]) -> bool {
        self.submission_allowed(tag, attrs, b"action")
    }

    /// May this `button` or `input` of a form that carries the token submit it? Not when it is a
    /// submit button whose `formaction` sends the form, token included, to another site.
    pub fn submitter_allowed(&self, kind: Kind, tag: &[u8], attrs: &[Attr]) -> bool {
        !is_submitter(kind, tag, attrs) || self.submission_allowed(tag, attrs, b"formaction")
    }

    /// Where the URL in attribute `name` sends a form: anywhere but this site is refused. A
    /// missing or empty URL is the page itself.
    fn submission_allowed(&self, tag: &[u8], attrs: &[Attr], name: &[u8]) -> bool {
        let Some(Some(Value { text: action, .. })) = attr(tag, attrs, name) else {
            return true;
        };
        if has_ascii_char_ref(action) {
            return false;
        }
        match self.origin.classify(action) {
            UrlTarget::Empty => true,
            UrlTarget::Fragment | UrlTarget::Relative => !self.base_foreign,
            UrlTarget::Absolute(same) => same,
            UrlTarget::Other => false,
        }
    }

    /// `Some(true)` when a `<base>` tag sends relative URLs elsewhere; `None` without href.
    pub fn base_is_foreign(&self, tag: &[u8], attrs: &[Attr]) -> Option<bool> {
        let href = attr(tag, attrs, b"href")?.map_or(&b""[..], |v| v.text);
        Some(
            has_ascii_char_ref(href)
                || !matches!(
                    self.origin.classify(href),
                    UrlTarget::Empty
                        | UrlTarget::Fragment
                        | UrlTarget::Relative
                        | UrlTarget::Absolute(true)
                ),
        )
    }
}

/// A `button` of type submit (the default, and what any unknown type means) or an `input` of type
/// submit or image. A type hidden behind a character reference counts as a submitter: the browser
/// decodes it, this scanner does not.
fn is_submitter(kind: Kind, tag: &[u8], attrs: &[Attr]) -> bool {
    let ty = attr(tag, attrs, b"type").flatten().map_or(&b""[..], |v| v.text);
    let behind_a_reference = ty.contains(&b'&');
    let is = |name: &[u8]| ty.eq_ignore_ascii_case(name);
    match kind {
        Kind::Button => behind_a_reference || !(is(b"reset") || is(b"button")),
        Kind::Input => behind_a_reference || is(b"submit") || is(b"image"),
        _ => false,
    }
}

/// The URL's range in a refresh `content` value, following the HTML standard's "shared
/// declarative refresh steps"; `None` when there is no URL (a plain reload) or the value is not a
/// valid refresh.
pub(super) fn refresh_url(c: &[u8]) -> Option<(usize, usize)> {
    let skip_ws = |mut p: usize| {
        while c.get(p).is_some_and(|&b| is_ws(b)) {
            p += 1;
        }
        p
    };
    let mut p = skip_ws(0);
    let time_start = p;
    while c.get(p).is_some_and(u8::is_ascii_digit) {
        p += 1;
    }
    if p == time_start && c.get(p) != Some(&b'.') {
        return None;
    }
    while c.get(p).is_some_and(|&b| b.is_ascii_digit() || b == b'.') {
        p += 1;
    }
    let &b = c.get(p)?;
    if !(b == b';' || b == b',' || is_ws(b)) {
        return None;
    }
    p = skip_ws(p);
    if matches!(c.get(p), Some(b';' | b',')) {
        p += 1;
    }
    p = skip_ws(p);
    c.get(p)?;
    let start = match url_equals(c, p) {
        Some(after) => skip_ws(after),
        None if matches!(c.get(p), Some(b'u' | b'U')) => return Some((p, c.len())),
        None => p,
    };
    // Skip quotes: a leading quote is dropped and the URL ends at its twin.
    match c.get(start) {
        Some(&q) if q == b'"' || q == b'\'' => {
            let rest = c.get(start + 1..).unwrap_or_default();
            let end = memchr::memchr(q, rest).map_or(c.len(), |k| start + 1 + k);
            Some((start + 1, end))
        }
        _ => Some((start, c.len())),
    }
}

/// After `url` `=` (any case, whitespace around `=`): the position after `=`.
fn url_equals(c: &[u8], p: usize) -> Option<usize> {
    let word = c.get(p..p + 3)?;
    if !word.eq_ignore_ascii_case(b"url") {
        return None;
    }
    let mut q = p + 3;
    while c.get(q).is_some_and(|&b| is_ws(b)) {
        q += 1;
    }
    (c.get(q) == Some(&b'=')).then_some(q + 1)
}

/// Named character references that stand for ASCII characters (all need their `;`).
const ASCII_REFS: &[&[u8]] = &[
    b"Tab", b"NewLine", b"excl", b"quot", b"QUOT", b"num", b"dollar", b"percnt", b"amp", b"AMP",
    b"apos", b"lpar", b"rpar", b"ast", b"midast", b"plus", b"comma", b"period", b"sol", b"colon",
    b"semi", b"lt", b"LT", b"equals", b"gt", b"GT", b"quest", b"commat", b"lsqb", b"lbrack",
    b"bsol", b"rsqb", b"rbrack", b"Hat", b"lowbar", b"UnderBar", b"grave", b"DiacriticalGrave",
    b"lcub", b"lbrace", b"verbar", b"vert", b"VerticalLine", b"rcub", b"rbrace", b"fjlig",
];

/// Legacy references that browsers also decode without `;` (in attribute values, only when not
/// followed by an alphanumeric or `=`).
const LEGACY_ASCII_REFS: &[&[u8]] = &[b"amp", b"AMP", b"lt", b"LT", b"gt", b"GT", b"quot", b"QUOT"];

/// Does `value` hold a character reference, other than `&amp;`, that decodes to ASCII?
pub(super) fn has_ascii_char_ref(value: &[u8]) -> bool {
    let mut rest = value;
    while let Some(k) = memchr::memchr(b'&', rest) {
        rest = rest.get(k + 1..).unwrap_or_default();
        if rest.starts_with(b"amp;") {
            continue;
        }
        if let Some(num) = rest.strip_prefix(b"#") {
            if numeric_ref_is_ascii(num) {
                return true;
            }
            continue;
        }
        let name_len = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let (name, after) = rest.split_at(name_len);
        let decoded = match after.first() {
            Some(b';') => ASCII_REFS.contains(&name),
            Some(b'=') => false,
            _ => LEGACY_ASCII_REFS.contains(&name),
        };
        if decoded {
            return true;
        }
    }
    false
}

/// `&#...` (after the `#`): decimal or `x`/`X` hex digits, `;` optional; below 0x80 is ASCII.
fn numeric_ref_is_ascii(s: &[u8]) -> bool {
    let (digits, radix) = match s.first() {
        Some(b'x' | b'X') => (s.get(1..).unwrap_or_default(), 16),
        _ => (s, 10),
    };
    let mut value: u32 = 0;
    let mut any = false;
    for &b in digits {
        let Some(d) = char::from(b).to_digit(radix) else {
            break;
        };
        any = true;
        value = value.saturating_mul(radix).saturating_add(d);
    }
    any && value < 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_char_refs() {
        for v in [
            &b"http&#58;//evil"[..],
            b"http&#x3a;//evil",
            b"http&#X3A//evil",
            b"http&colon;//evil",
            b"&sol;&sol;evil",
            b"&num;x",
            b"a&lt b",
            b"&#0;",
            b"&#00000000000000000000000047;",
            b"&AMP;x",
            b"&fjlig;",
        ] {
            assert!(has_ascii_char_ref(v), "{:?}", String::from_utf8_lossy(v));
        }
        for v in [
            &b"/x?a=1&amp;b=2"[..],
            b"/x?a=1&b=2",
            b"/caf&eacute;",
            b"&#233;",
            b"&#x80;",
            b"&ampsessionid=1",
            b"&lt=1",
            b"&colon",
            b"&#;",
            b"&#x;",
            b"&",
            b"&#99999999999999999999999;",
        ] {
            assert!(!has_ascii_char_ref(v), "{:?}", String::from_utf8_lossy(v));
        }
    }

    fn refresh(c: &str) -> Option<&str> {
        refresh_url(c.as_bytes()).map(|(s, e)| &c[s..e])
    }

    #[test]
    fn refresh_urls() {
        assert_eq!(refresh("0; url=/next"), Some("/next"));
        assert_eq!(refresh("5;URL = '/a b' x"), Some("/a b"));
        assert_eq!(refresh("0,url=\"/q?x=1\""), Some("/q?x=1"));
        assert_eq!(refresh("0 /plain"), Some("/plain"));
        assert_eq!(refresh("0;'/quoted'"), Some("/quoted"));
        assert_eq!(refresh(" 1.5 ; url=x "), Some("x "));
        assert_eq!(refresh("0; urx=/a"), Some("urx=/a"));
        assert_eq!(refresh("0; url/a"), Some("url/a"));
        assert_eq!(refresh(".5;url=y"), Some("y"));
        assert_eq!(refresh("5"), None);
        assert_eq!(refresh("5; "), None);
        assert_eq!(refresh("url=/x"), None);
        assert_eq!(refresh("0x;url=/x"), None);
        assert_eq!(refresh(""), None);
    }
}
