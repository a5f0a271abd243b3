//! What to change in one complete HTML start tag, decided on attribute values as the browser reads
//! them (character references decoded, see `charref`), against the URL the page's relative URLs
//! resolve to (the [`BaseUrl`]).
//!
//! The edits, and why each is safe:
//! - A URL that gets the token (`a`/`area` href, `iframe`/`frame` src, meta refresh) is written
//!   scheme-relative and absolute (`//host/dir/` + the URL as written), so that no `<base>` the
//!   browser sees later, or sees where this rewriter does not, can move it to another host. The
//!   same holds for the non-empty relative `action` of a form that gets the hidden input, the
//!   same-site `formaction` of its submitters, and any URL attribute the placeholder is put into.
//! - The placeholder becomes the token only inside a same-site URL attribute (`href`, `src`,
//!   `action`, `formaction`) and inside the `value` of a control of a form that got the token.
//! - Attributes that would send the token's page elsewhere are overridden by a duplicate placed
//!   first (browsers keep an attribute's first occurrence): `referrerpolicy` and
//!   `<meta name=referrer>` that would send the full URL cross-site, and `ping` to other sites.
//! - A submit button that would post a token form elsewhere (`formaction`) is `disabled`.

use super::charref::{self, Decoded};
use super::tag::{is_ws, Attr, Kind};
use crate::origin::{SameOrigin, UrlTarget};
use crate::routes::Routes;
use crate::url::{push_with_query_param, reference_authority, resolved_path, QuerySeparator};
use std::sync::Arc;

/// What relative URLs resolve against: the document's URL, or the page's first `<base href>`.
#[derive(Debug, Clone)]
pub(super) struct BaseUrl {
    /// Authority (`host[:port]`) of the base, as it is written into absolute URLs.
    pub authority: Vec<u8>,
    /// The base's path (no query): query-only URLs keep it, path-relative ones its directory.
    pub path: Vec<u8>,
    /// The base is another site's, or unknown: relative URLs never get the token.
    pub foreign: bool,
    /// The base's scheme is http(s) (or the document's): scheme-relative URLs keep their host
    /// there. Under another scheme (`<base href="web+x:/">`) they go nowhere of ours.
    pub http: bool,
    /// Set by a `<base>` element: even a fragment-only URL then leaves the document.
    pub element: bool,
}

impl BaseUrl {
    pub fn document(host: &str, path: &str) -> BaseUrl {
        let path = if path.starts_with('/') { path } else { "/" };
        BaseUrl {
            authority: host.as_bytes().to_vec(),
            path: path.as_bytes().to_vec(),
            foreign: false,
            http: true,
            element: false,
        }
    }

    fn directory(&self) -> &[u8] {
        let end = self.path.iter().rposition(|&b| b == b'/').map_or(0, |p| p + 1);
        self.path.get(..end).unwrap_or(b"/")
    }
}

/// Per-page settings the edits need.
#[derive(Clone)]
pub(super) struct Settings {
    pub links: bool,
    pub forms: bool,
    /// Param and token as they go into a query string (percent-encoded where needed).
    pub url_param: Vec<u8>,
    pub url_token: Vec<u8>,
    /// The token as it goes into an attribute value.
    pub attr_token: Vec<u8>,
    pub placeholder: Placeholder,
    /// The token parameter's name, as written in a query.
    pub param: Vec<u8>,
    /// `cl-...`: given to token forms without an `id`; `""` = not used.
    pub form_id: Vec<u8>,
    /// The cookieless routes: a URL to another route gets no token. `None`: every route is.
    pub routes: Option<Arc<Routes>>,
}

/// The placeholder the page may write where the token goes, with its searcher built once per page
/// (every start tag is searched for it). `None`: no placeholder.
#[derive(Clone)]
pub(super) struct Placeholder(Option<memchr::memmem::Finder<'static>>);

impl Placeholder {
    pub fn new(placeholder: &[u8]) -> Placeholder {
        Placeholder((!placeholder.is_empty()).then(|| memchr::memmem::Finder::new(placeholder).into_owned()))
    }

    /// The placeholder's bytes, `""` when there is none.
    fn bytes(&self) -> &[u8] {
        self.0.as_ref().map_or(b"", |f| f.needle())
    }

    /// Where the placeholder occurs in `hay`.
    fn find_in<'h>(&'h self, hay: &'h [u8]) -> impl Iterator<Item = usize> + 'h {
        self.0.iter().flat_map(move |f| f.find_iter(hay))
    }

    pub fn is_in(&self, hay: &[u8]) -> bool {
        self.0.as_ref().is_some_and(|f| f.find(hay).is_some())
    }
}

/// An attribute value: as written, where it sits in the tag, and as the browser reads it.
pub(super) struct Value<'t> {
    raw: &'t [u8],
    range: (usize, usize),
    decoded: Decoded<'t>,
}

impl Value<'_> {
    pub fn text(&self) -> &[u8] {
        &self.decoded.text
    }

    /// The value as written in the tag (between its quotes, if any).
    pub fn raw(&self) -> &[u8] {
        self.raw
    }
}

/// A start tag and its attributes.
pub(super) struct Tag<'t> {
    pub bytes: &'t [u8],
    pub attrs: &'t [Attr],
}

impl<'t> Tag<'t> {
    /// The first attribute called `name` (browsers ignore later duplicates): `Some(None)` when
    /// it has no value.
    pub fn attr(&self, name: &[u8]) -> Option<Option<Value<'t>>> {
        let a = self
            .attrs
            .iter()
            .find(|a| self.slice(a.name).eq_ignore_ascii_case(name))?;
        Some(a.value.map(|range| self.value(range)))
    }

    fn value(&self, range: (usize, usize)) -> Value<'t> {
        let raw = self.slice(range);
        Value { raw, range, decoded: charref::decode(raw) }
    }

    fn slice(&self, (start, end): (usize, usize)) -> &'t [u8] {
        self.bytes.get(start..end).unwrap_or_default()
    }

    fn has(&self, name: &[u8]) -> bool {
        self.attr(name).is_some()
    }

    /// The decoded value of `name`, trimmed, or `""`.
    fn text_of(&self, name: &[u8]) -> Vec<u8> {
        self.attr(name)
            .flatten()
            .map(|v| v.text().trim_ascii().to_vec())
            .unwrap_or_default()
    }
}

/// How one tag is written out.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// Inserted right after the tag name (overriding attributes, `disabled`, the form id).
    pub after_name: Vec<u8>,
    /// Attribute values replaced: `(start, end, new raw value)`, ranges within the tag.
    pub values: Vec<(usize, usize, Vec<u8>)>,
    /// Append the hidden input after the tag: `Some(id)` with `form="<id>"`, `None` owned by
    /// position only.
    pub hidden: Option<Option<Vec<u8>>>,
    /// A URL went in as a new attribute (`<a href>` without a value): it was resolved against the
    /// current base as much as a replaced value is.
    pub wrote_url: bool,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.after_name.is_empty() && self.values.is_empty() && self.hidden.is_none() && !self.wrote_url
    }

    /// Back to no edits, keeping the buffers.
    pub fn clear(&mut self) {
        self.after_name.clear();
        self.values.clear();
        self.hidden = None;
        self.wrote_url = false;
    }

    pub fn insert(&mut self, attribute: &[u8]) {
        self.after_name.push(b' ');
        self.after_name.extend_from_slice(attribute);
    }

    pub fn replace_with(&mut self, value: &Value<'_>, with: Vec<u8>) {
        self.replace(value, with);
    }

    fn replace(&mut self, value: &Value<'_>, with: Vec<u8>) {
        if self.values.iter().all(|(start, _, _)| *start != value.range.0) {
            self.values.push((value.range.0, value.range.1, with));
        }
    }

    /// The tag with the plan applied.
    pub fn write(&mut self, tag: &[u8], out: &mut Vec<u8>) {
        let name_end = name_end(tag);
        out.extend_from_slice(tag.get(..name_end).unwrap_or_default());
        out.extend_from_slice(&self.after_name);
        self.values.sort_by_key(|v| v.0);
        let mut pos = name_end;
        for (start, end, with) in &self.values {
            out.extend_from_slice(tag.get(pos..*start).unwrap_or_default());
            out.extend_from_slice(with);
            pos = *end;
        }
        out.extend_from_slice(tag.get(pos..).unwrap_or_default());
    }
}

/// Where the name of the tag starting at `tag[0]` (`<`) ends.
pub(super) fn name_end(tag: &[u8]) -> usize {
    tag.iter().skip(1).position(|&b| is_ws(b) || b == b'/' || b == b'>').map_or(tag.len(), |p| p + 1)
}

/// Where a URL sends the token, as far as this page knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goes {
    /// To this site (or an allowed host).
    Here,
    /// Nowhere worth a token: a fragment of this page, or an empty URL where that means nothing.
    Nowhere,
    Elsewhere,
}

/// What the rewriter knows about the page so far, for deciding one tag.
pub(super) struct Page<'a> {
    pub origin: SameOrigin<'a>,
    pub base: &'a BaseUrl,
    pub settings: &'a Settings,
}

impl Page<'_> {
    fn goes(&self, url: &[u8]) -> Goes {
        match self.origin.classify(url) {
            UrlTarget::Absolute(true) if !self.base.http && is_scheme_relative(url) => Goes::Elsewhere,
            UrlTarget::Absolute(true) => Goes::Here,
            UrlTarget::Empty | UrlTarget::Fragment | UrlTarget::Relative if self.base.foreign => {
                Goes::Elsewhere
            }
            UrlTarget::Relative => Goes::Here,
            UrlTarget::Empty | UrlTarget::Fragment => Goes::Nowhere,
            UrlTarget::Absolute(false) | UrlTarget::Other => Goes::Elsewhere,
        }
    }

    /// `url` (the decoded bytes `span` of `value`) written so that no base can move it: the value
    /// as written (references spelled out one character each, see `charref`) with a `//host/...`
    /// prefix where it is relative, the placeholder replaced, and the token added to its query
    /// (replacing an old one) when `with_token`.
    fn anchored(&self, value: &Value<'_>, span: (usize, usize), with_token: bool) -> Vec<u8> {
        let (start, end) = span;
        let url = value.decoded.text.get(start..end).unwrap_or_default();
        let written = &value.decoded.written;
        let written_start = value.decoded.written_pos(start);
        let written_end = value.decoded.written_pos(end);
        let (head, rest) = written.split_at(written_start.min(written.len()));
        let (body, tail) = rest.split_at(written_end.saturating_sub(written_start).min(rest.len()));
        // What the URL parser strips in front (NUL is no such byte: the tokenizer made it U+FFFD).
        let lead = body.iter().take_while(|&&b| b <= b' ' && b != 0).count();
        let (lead_ws, body) = body.split_at(lead);
        let mut anchored = Vec::with_capacity(value.raw.len() + 64);
        anchored.extend_from_slice(lead_ws);
        if self.origin.classify(url) != UrlTarget::Absolute(true) {
            self.push_prefix(url, &mut anchored);
        }
        anchored.extend_from_slice(body);
        let mut out = Vec::with_capacity(written.len() + anchored.len() + 64);
        out.extend_from_slice(head);
        if with_token {
            push_with_query_param(
                &mut out,
                &anchored,
                &self.settings.url_param,
                &self.settings.url_token,
                QuerySeparator::AmpEntity,
            );
        } else {
            out.extend_from_slice(&anchored);
        }
        out.extend_from_slice(tail);
        out
    }

    /// `//authority` plus what a relative `url` keeps of the base's path.
    fn push_prefix(&self, url: &[u8], out: &mut Vec<u8>) {
        let first = url.iter().copied().find(|&b| b > b' ');
        out.extend_from_slice(b"//");
        escape_into(&self.base.authority, out);
        match first {
            Some(b'/' | b'\\') => {}
            Some(b'?' | b'#') | None => escape_into(&self.base.path, out),
            Some(_) => escape_into(self.base.directory(), out),
        }
    }

    fn with_placeholder(&self, value: Vec<u8>) -> Vec<u8> {
        let placeholder = &self.settings.placeholder;
        if !placeholder.is_in(&value) {
            return value;
        }
        let mut out = Vec::with_capacity(value.len() + self.settings.attr_token.len());
        let mut pos = 0;
        for found in placeholder.find_in(&value) {
            out.extend_from_slice(value.get(pos..found).unwrap_or_default());
            out.extend_from_slice(&self.settings.attr_token);
            pos = found + placeholder.bytes().len();
        }
        out.extend_from_slice(value.get(pos..).unwrap_or_default());
        out
    }

    /// Does the query of `url` hold `PARAM=PLACEHOLDER`?
    fn placeholder_is_the_token(&self, url: &[u8]) -> bool {
        let (param, placeholder) = (&self.settings.param, self.settings.placeholder.bytes());
        let query = url.iter().position(|&b| b == b'?').and_then(|q| url.get(q + 1..)).unwrap_or_default();
        let query = query.split(|&b| b == b'#').next().unwrap_or_default();
        !placeholder.is_empty()
            && query.split(|&b| b == b'&').any(|pair| {
                pair.strip_prefix(param.as_slice()).and_then(|r| r.strip_prefix(b"=")) == Some(placeholder)
            })
    }

    fn holds_placeholder(&self, value: &Value<'_>) -> bool {
        self.settings.placeholder.is_in(value.raw)
    }

    /// The link URL of `a`/`area`/`iframe`/`frame`/meta refresh, when it gets the token.
    pub fn link(&self, kind: Kind, tag: &Tag<'_>, plan: &mut Plan) {
        let (name, empty_ok) = match kind {
            Kind::A | Kind::Area => (&b"href"[..], true),
            Kind::Iframe | Kind::Frame => (&b"src"[..], false),
            Kind::Meta => return self.refresh(tag, plan),
            _ => return,
        };
        let value = match tag.attr(name) {
            Some(Some(value)) => value,
            // `<a href>` is `href=""`: the base URL. The value goes in first, where it counts.
            Some(None) if empty_ok && !self.base.foreign && self.to_cookieless_route(b"") => {
                let mut href = b"href=\"".to_vec();
                let mut url = Vec::new();
                self.push_prefix(b"", &mut url);
                push_with_query_param(&mut href, &url, &self.settings.url_param, &self.settings.url_token, QuerySeparator::AmpEntity);
                href.push(b'"');
                plan.insert(&href);
                plan.wrote_url = true;
                return;
            }
            _ => return,
        };
        let len = value.text().len();
        if self.gets_token(value.text(), empty_ok) {
            let rewritten = self.anchored(&value, (0, len), true);
            plan.replace(&value, rewritten);
        }
    }

    /// Does `url`, resolved as the browser will, go to a cookieless route? Only there is the
    /// token taken out of the request again, and the response kept private.
    fn to_cookieless_route(&self, url: &[u8]) -> bool {
        let Some(routes) = &self.settings.routes else {
            return true;
        };
        let url = String::from_utf8_lossy(url);
        let path = resolved_path(&String::from_utf8_lossy(&self.base.path), &url);
        match reference_authority(&url) {
            Some(authority) => routes.is_cookieless(&path, &authority),
            None => routes.is_cookieless(&path, &String::from_utf8_lossy(&self.base.authority)),
        }
    }

    /// May a link to `url` carry the token? `empty_ok`: an empty URL means the base URL (links)
    /// rather than nothing (frames, whose empty src is about:blank).
    fn gets_token(&self, url: &[u8], empty_ok: bool) -> bool {
        // The cheaper test first: most links that get no token go to other sites.
        self.may_carry(url, empty_ok) && self.to_cookieless_route(url)
    }

    fn may_carry(&self, url: &[u8], empty_ok: bool) -> bool {
        match self.origin.classify(url) {
            UrlTarget::Empty => empty_ok && !self.base.foreign,
            UrlTarget::Relative => !self.base.foreign,
            UrlTarget::Absolute(_) => self.goes(url) == Goes::Here,
            // Under a base element a fragment link leaves the document (for the base's page).
            UrlTarget::Fragment => self.base.element && !self.base.foreign,
            UrlTarget::Other => false,
        }
    }

    /// `<meta http-equiv="refresh" content="N; url=...">`.
    fn refresh(&self, tag: &Tag<'_>, plan: &mut Plan) {
        if !tag.text_of(b"http-equiv").eq_ignore_ascii_case(b"refresh") {
            return;
        }
        let Some(Some(content)) = tag.attr(b"content") else {
            return;
        };
        let Some((start, end)) = refresh_url(content.text()) else {
            return;
        };
        let url = content.text().get(start..end).unwrap_or_default();
        if self.gets_token(url, false) {
            let rewritten = self.anchored(&content, (start, end), true);
            plan.replace(&content, rewritten);
        }
    }

    /// A `<form>` that the parser creates: does it get the hidden input? Its relative action is
    /// anchored, and it is given the page's form id plus `-number` when it has no id of its own
    /// (and is not in a template, whose forms may be cloned many times).
    pub fn form(&self, tag: &Tag<'_>, in_template: bool, number: u32, plan: &mut Plan) -> bool {
        let action = tag.attr(b"action").flatten();
        let allowed = match &action {
            // A missing or empty action is the document's own URL, never the base's. (Only an
            // empty value: `action=" "` is parsed, against the base.)
            None => true,
            Some(v) if v.text().is_empty() => true,
            Some(v) if self.origin.classify(v.text()) == UrlTarget::Empty => !self.base.foreign,
            Some(v) => self.goes(v.text()) != Goes::Elsewhere && self.to_cookieless_route(v.text()),
        };
        if !allowed {
            return false;
        }
        if let Some(v) = action.filter(|v| !v.text().is_empty()) {
            let with_token = self.placeholder_is_the_token(v.text());
            plan.replace(&v, self.anchored(&v, (0, v.text().len()), with_token));
        }
        let owned = !in_template && !tag.has(b"id") && !self.settings.form_id.is_empty();
        plan.hidden = Some(owned.then(|| {
            let id = [&self.settings.form_id[..], b"-", number.to_string().as_bytes()].concat();
            plan.insert(&attribute(b"id", &id));
            id
        }));
        true
    }

    /// A `button` or `input` that may submit a form carrying the token (inside such a form, or
    /// joined to any form by `form=`): disabled when its `formaction` sends it elsewhere,
    /// anchored when it stays here.
    pub fn submitter(&self, kind: Kind, tag: &Tag<'_>, plan: &mut Plan) {
        if !is_submitter(kind, tag) {
            return;
        }
        let Some(Some(action)) = tag.attr(b"formaction") else {
            return;
        };
        match self.goes(action.text()) {
            Goes::Elsewhere => plan.insert(b"disabled"),
            _ if action.text().is_empty() => {}
            // Whitespace only: parsed against the base, like any relative URL.
            Goes::Nowhere if self.base.foreign => plan.insert(b"disabled"),
            _ => {
                let with_token = self.placeholder_is_the_token(action.text());
                plan.replace(&action, self.anchored(&action, (0, action.text().len()), with_token));
            }
        }
    }

    /// The placeholder in the `value` of a control of a form that got the token.
    pub fn control_value(&self, tag: &Tag<'_>, plan: &mut Plan) {
        if let Some(Some(value)) = tag.attr(b"value") {
            if self.holds_placeholder(&value) {
                plan.replace(&value, self.with_placeholder(value.raw.to_vec()));
            }
        }
    }

    /// The placeholder in a same-site URL attribute of any HTML element (the URL is anchored).
    pub fn placeholder_urls(&self, tag: &Tag<'_>, plan: &mut Plan) {
        for a in tag.attrs {
            let Some(range) = a.value else { continue };
            let name = tag.slice(a.name);
            let is_url = [&b"href"[..], b"src", b"action", b"formaction"]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n));
            let value = tag.value(range);
            // Only the first of duplicate attributes counts for the browser.
            let first = tag.attr(name).flatten().is_some_and(|f| f.range == range);
            let here = self.goes(value.text()) == Goes::Here && self.to_cookieless_route(value.text());
            if is_url && first && self.placeholder_is_the_token(value.text()) && here {
                // The token goes in as the parameter's value (the filter strips it from the
                // request), never elsewhere in the URL, where an open redirect could pass it on.
                let anchored = self.anchored(&value, (0, value.text().len()), true);
                plan.replace(&value, anchored);
            }
        }
    }

    /// Overrides that keep the page's URL (with its token) from being sent elsewhere.
    pub fn referrer_and_ping(&self, kind: Kind, tag: &Tag<'_>, plan: &mut Plan) {
        let policy = tag.attr(b"referrerpolicy").flatten();
        if policy.is_some_and(|p| !is_safe_referrer_policy(p.text())) {
            plan.insert(b"referrerpolicy=\"same-origin\"");
        }
        // `http-equiv="referrer-policy"` is not in the standard, but costs nothing to cover.
        let sets_policy = || {
            tag.text_of(b"name").eq_ignore_ascii_case(b"referrer")
                || tag.text_of(b"http-equiv").eq_ignore_ascii_case(b"referrer-policy")
        };
        if kind == Kind::Meta
            && sets_policy()
            && tag.attr(b"content").flatten().is_some_and(|c| !is_safe_referrer_policy(c.text()))
        {
            plan.insert(b"content=\"same-origin\"");
        }
        // Any ping: `Ping-From` carries the page's URL, and a same-site ping URL may redirect.
        if matches!(kind, Kind::A | Kind::Area) && tag.attr(b"ping").flatten().is_some_and(|p| !p.text().trim_ascii().is_empty()) {
            plan.insert(b"ping=\"\"");
        }
    }

    /// A `<base>`: the base it makes for the URLs after it. `None` without href.
    pub fn base(&self, tag: &Tag<'_>) -> Option<BaseUrl> {
        let href = tag.attr(b"href")?;
        let text = href.as_ref().map_or(&b""[..], |v| v.text());
        let cleaned: Vec<u8> = text.iter().copied().filter(|b| !matches!(b, b'\t' | b'\n' | b'\r')).collect();
        let url = crate::origin::trim_c0_space(&cleaned);
        Some(match self.origin.classify(url) {
            UrlTarget::Empty | UrlTarget::Fragment => BaseUrl { element: true, ..self.base.clone() },
            UrlTarget::Absolute(true) => {
                let scheme_end = url
                    .iter()
                    .position(|&b| b == b':')
                    .filter(|&p| url.get(..p).is_some_and(|s| s.iter().all(u8::is_ascii_alphabetic)));
                let scheme = scheme_end.and_then(|p| url.get(..p)).unwrap_or_default();
                let rest = scheme_end.map_or(url, |p| url.get(p + 1..).unwrap_or_default());
                let rest = skip_slashes(rest);
                let auth_end = rest
                    .iter()
                    .position(|&b| matches!(b, b'/' | b'\\' | b'?' | b'#'))
                    .unwrap_or(rest.len());
                let (authority, path) = rest.split_at(auth_end);
                BaseUrl {
                    authority: crate::origin::without_default_port(authority, scheme).to_vec(),
                    path: base_path(&[], path),
                    foreign: false,
                    http: true,
                    element: true,
                }
            }
            UrlTarget::Relative if url.first() == Some(&b'?') => BaseUrl { element: true, ..self.base.clone() },
            UrlTarget::Relative => BaseUrl {
                authority: self.base.authority.clone(),
                path: base_path(self.base.directory(), url),
                foreign: false,
                http: true,
                element: true,
            },
            UrlTarget::Absolute(false) => BaseUrl { foreign: true, element: true, ..self.base.clone() },
            // `http:x` (no `//`) still has the http(s) scheme: scheme-relative URLs stay ours.
            UrlTarget::Other => {
                let http = [&b"http:"[..], b"https:"].iter().any(|s| url.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s)));
                BaseUrl { foreign: true, http, element: true, ..self.base.clone() }
            }
        })
    }
}

/// The path part of a base URL (query and fragment dropped, `\` read as `/`); a path-relative
/// one under `directory`.
fn base_path(directory: &[u8], url: &[u8]) -> Vec<u8> {
    let end = url.iter().position(|&b| b == b'?' || b == b'#').unwrap_or(url.len());
    let path = url.get(..end).unwrap_or_default().iter().map(|&b| if b == b'\\' { b'/' } else { b });
    let mut out: Vec<u8> = Vec::with_capacity(directory.len() + end);
    if url.first().is_none_or(|&b| b != b'/' && b != b'\\') {
        out.extend_from_slice(if directory.is_empty() { b"/" } else { directory });
    }
    out.extend(path);
    out
}

/// `//host/...` (any mix of `/` and `\\`, after what the URL parser strips): its scheme is the
/// base's.
fn is_scheme_relative(url: &[u8]) -> bool {
    let mut significant = url.iter().copied().filter(|b| !matches!(b, b'\t' | b'\n' | b'\r')).skip_while(|&b| b <= b' ');
    let slash = |b: Option<u8>| matches!(b, Some(b'/' | b'\\'));
    slash(significant.next()) && slash(significant.next())
}

fn skip_slashes(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b'/' || b == b'\\').count();
    s.get(n..).unwrap_or_default()
}

/// `text` as an attribute value that reads back as `text` in any quoting: what could end or
/// confuse it, and whitespace, as character references.
pub(super) fn attribute_text(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 8);
    for &b in text {
        match charref::reference_for(b) {
            Some(reference) => out.extend_from_slice(reference),
            None if is_ws(b) => out.extend_from_slice(format!("&#{b};").as_bytes()),
            None => out.push(b),
        }
    }
    out
}

/// `name="value"`, the value escaped for a double-quoted attribute.
fn attribute(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = name.to_vec();
    out.extend_from_slice(b"=\"");
    escape_into(value, &mut out);
    out.push(b'"');
    out
}

/// Bytes of a URL prefix made safe for any attribute quoting: the characters that could end or
/// confuse a value as character references (the browser reads them back as they were), and
/// whitespace, controls and non-ASCII percent-encoded (as the URL parser would encode them).
fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if let Some(reference) = charref::reference_for(b) {
            out.extend_from_slice(reference);
            continue;
        }
        match b {
            0..=b' ' | 0x7f..=0xff => {
                out.push(b'%');
                out.extend(HEX.get(usize::from(b >> 4)));
                out.extend(HEX.get(usize::from(b & 15)));
            }
            _ => out.push(b),
        }
    }
}

/// Referrer policies that never send the page's full URL to another site (unknown values are
/// refused: browsers may read them as something older and looser).
fn is_safe_referrer_policy(value: &[u8]) -> bool {
    const SAFE: &[&[u8]] = &[
        b"no-referrer", b"never", b"origin", b"same-origin", b"strict-origin",
        b"strict-origin-when-cross-origin", b"origin-when-cross-origin", b"origin-when-crossorigin",
        b"",
    ];
    let v = value.trim_ascii();
    SAFE.iter().any(|s| v.eq_ignore_ascii_case(s))
}

/// A submitter read as svg/math where an HTML one would be guarded (the parser may have left
/// foreign content unseen here, in a table's rules): its `formaction` cannot be anchored, as the
/// tag is not rewritten, so any but an empty one (the document's URL) disables it.
pub(super) fn foreign_submitter(kind: Kind, tag: &Tag<'_>, plan: &mut Plan) {
    if is_submitter(kind, tag) && tag.attr(b"formaction").flatten().is_some_and(|a| !a.text().is_empty()) {
        plan.insert(b"disabled");
    }
}

/// A `button` of type submit (the default, and what any unknown type means) or an `input` of type
/// submit or image.
pub(super) fn is_submitter(kind: Kind, tag: &Tag<'_>) -> bool {
    let ty = tag.text_of(b"type");
    let is = |name: &[u8]| ty.eq_ignore_ascii_case(name);
    match kind {
        Kind::Button => !(is(b"reset") || is(b"button")),
        Kind::Input => is(b"submit") || is(b"image"),
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn base_paths() {
        assert_eq!(base_path(b"/dir/", b"sub/"), b"/dir/sub/");
        assert_eq!(base_path(b"/dir/", b"/abs/x?q#f"), b"/abs/x");
        assert_eq!(base_path(b"", b""), b"/");
        assert_eq!(base_path(b"", b"\\x\\y"), b"/x/y");
        assert_eq!(base_path(b"/dir/", b""), b"/dir/");
    }

    #[test]
    fn referrer_policies() {
        for safe in ["no-referrer", " Same-Origin ", "strict-origin-when-cross-origin", "never", ""] {
            assert!(is_safe_referrer_policy(safe.as_bytes()), "{safe}");
        }
        for unsafe_ in ["unsafe-url", "always", "no-referrer-when-downgrade", "default", "x"] {
            assert!(!is_safe_referrer_policy(unsafe_.as_bytes()), "{unsafe_}");
        }
    }

    #[test]
    fn prefixes_are_escaped_for_any_quoting() {
        let mut out = Vec::new();
        escape_into(b"/a b/\"c'&<d>=`\xe9", &mut out);
        assert_eq!(out, b"/a%20b/&quot;c&#39;&amp;&lt;d&gt;&#61;&#96;%E9");
    }
}
