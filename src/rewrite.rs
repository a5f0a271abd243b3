//! The streaming HTML rewriter: puts the token into a page's same-origin forms (a hidden input
//! tied to its form), links (`a`/`area` href, `iframe`/`frame` src, meta refresh URL) and
//! placeholders, chunk by chunk, and decides which response bodies may be rewritten at all.
//!
//! It owns the HTML side of the job; whether a URL is same-origin is `origin`'s call. The body is
//! treated as bytes, never as UTF-8, and everything not rewritten comes out byte for byte. Feed
//! chunks with [`Rewriter::write`] and finish with [`Rewriter::end`]; output is the same for any
//! chunking of the input.
//!
//! Pipeline: a two-byte sniff (a UTF-16 byte-order mark overrides any declared charset in
//! browsers, so such a body passes through untouched), then the HTML stage: `html` (the tokenizer
//! states, raw text, comments, CDATA, the form element pointer, the document's base), `foreign`
//! (svg/math and their integration points), `tag` (one tag's attributes), `charref` (attribute
//! values as the browser reads them) and `edit` (what each tag gets: the token in its URL, written
//! absolute, the placeholder where it stays here, overrides of referrer policies and pings,
//! `disabled` on submit buttons that would post the token elsewhere). The README's "The token never
//! leaves its origin" lists what is modelled and the known limits.

mod base;
mod charref;
mod edit;
mod element;
mod foreign;
mod formatting;
mod form_ids;
mod html;
mod raw;
mod tag;

use crate::routes::Routes;
use html::{HtmlStage, Settings};
use std::sync::Arc;

/// A tag longer than this (from `<` to `>`, after placeholder substitution) passes unmodified;
/// it is also the most the rewriter holds back between chunks, plus a placeholder's length.
pub const MAX_CARRY: usize = 8192;

/// What to rewrite and with which token, for one response.
#[derive(Debug, Clone, Default)]
pub struct RewriteOptions {
    /// Query parameter and form field name.
    pub param: String,
    /// The sealed token (base64url).
    pub token: String,
    pub links: bool,
    pub forms: bool,
    /// Text replaced by the token wherever it occurs; "" = off.
    pub placeholder: String,
    /// The request's Host (with port, if it had one).
    pub host: String,
    /// The request's path without query (`/dir/page`): what relative URLs resolve against.
    pub path: String,
    pub allowed_hosts: Vec<String>,
    /// A per-response random `id` (`cl-` + hex) given to token forms that have none, so that the
    /// hidden input (`form="..."`) can belong to no other form.
    pub form_id: String,
}

/// The escape byte. ISO-2022-JP, the one stateful encoding browsers decode, switches to two-byte
/// text with it (`ESC $ B`), where `<`, `"` and `>` are no markup. A page whose charset the
/// header does not fix may be decoded that way (a `<meta charset>`, even a late one, or the
/// browser's own guess): markup would then read differently to the browser than here. Without
/// ESC, every encoding a browser may pick reads the markup as bytes do, so in such pages it is
/// written as U+FFFD. (Nothing else uses it: it is a control character, an HTML parse error.)
pub const ESC: u8 = 0x1b;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Fewer than two bytes seen: the byte-order mark is not known yet.
    Sniffing,
    Rewrite,
    Passthrough,
}

/// A streaming rewriter for one response body.
pub struct Rewriter {
    start: Start,
    sniffed: Vec<u8>,
    html: HtmlStage,
    charset_declared: bool,
}

impl Rewriter {
    pub fn new(opts: RewriteOptions) -> Rewriter {
        let mut attr_token = Vec::new();
        html_escape(&opts.token, &mut attr_token);
        let settings = Settings {
            edit: edit::Settings {
                links: opts.links,
                forms: opts.forms,
                url_param: percent_encode(opts.param.as_bytes()),
                param: opts.param.clone().into_bytes(),
                url_token: percent_encode(opts.token.as_bytes()),
                attr_token,
                placeholder: edit::Placeholder::new(opts.placeholder.as_bytes()),
                // Written into attributes as it is: only the characters an id of ours has.
                form_id: if opts.form_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    opts.form_id.into_bytes()
                } else {
                    Vec::new()
                },
                routes: None,
            },
            hidden_input: hidden_input(&opts.param, &opts.token),
            srcdoc_depth: 0,
            host: opts.host,
            path: opts.path,
            allowed_hosts: opts.allowed_hosts,
        };
        Rewriter {
            start: Start::Sniffing,
            sniffed: Vec::new(),
            html: HtmlStage::new(settings),
            charset_declared: false,
        }
    }

    /// Only URLs to these routes get the token (elsewhere the filter would not take it out
    /// again); without, every URL of this site does.
    pub fn routes(mut self, routes: Arc<Routes>) -> Rewriter {
        self.html.set_routes(routes);
        self
    }

    /// The response's `Content-Type` names its charset, which then beats any `<meta>` and any
    /// guessing in the browser: ESC bytes may stay (see [`ESC`]). Off by default.
    pub fn charset_declared(mut self, declared: bool) -> Rewriter {
        self.charset_declared = declared;
        self
    }

    /// Rewrites what it can of `chunk`, appending output to `out`; carries over at most
    /// `MAX_CARRY` bytes (an unfinished tag) plus an unfinished placeholder prefix.
    pub fn write(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        match self.start {
            Start::Rewrite => self.feed(chunk, out),
            Start::Passthrough => out.extend_from_slice(chunk),
            Start::Sniffing => {
                let take = chunk.len().min(2 - self.sniffed.len().min(2));
                let (head, rest) = chunk.split_at(take);
                self.sniffed.extend_from_slice(head);
                if self.sniffed.len() < 2 {
                    return;
                }
                self.decide_start(out);
                self.write(rest, out);
            }
        }
    }

    /// Flushes the carry-over.
    pub fn end(&mut self, out: &mut Vec<u8>) {
        if self.start == Start::Sniffing {
            self.decide_start(out);
        }
        if self.start == Start::Rewrite {
            self.html.end(out);
        }
    }

    /// Whether `end` would still output something: bytes held for an unfinished tag or
    /// placeholder, or the first bytes kept to sniff a byte-order mark.
    pub fn is_holding(&self) -> bool {
        !self.sniffed.is_empty() || self.html.is_holding()
    }

    fn decide_start(&mut self, out: &mut Vec<u8>) {
        let sniffed = std::mem::take(&mut self.sniffed);
        if matches!(sniffed.as_slice(), [0xFF, 0xFE] | [0xFE, 0xFF]) {
            self.start = Start::Passthrough;
            out.extend_from_slice(&sniffed);
        } else {
            self.start = Start::Rewrite;
            self.feed(&sniffed, out);
        }
    }

    /// ESC is replaced before the HTML stage reads the bytes, so that its decisions are about
    /// the page as the browser will get it.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.charset_declared || memchr::memchr(ESC, chunk).is_none() {
            self.html.write(chunk, out);
            return;
        }
        let mut replaced = Vec::with_capacity(chunk.len() + 8);
        for &b in chunk {
            if b == ESC {
                replaced.extend_from_slice("\u{fffd}".as_bytes());
            } else {
                replaced.push(b);
            }
        }
        self.html.write(&replaced, out);
    }
}

/// Bytes outside RFC 3986's unreserved set become `%XX`, so the query pair is safe in any
/// attribute quoting style, unquoted included.
fn percent_encode(s: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if s.iter().all(|&b| unreserved(b)) {
        return s.to_vec();
    }
    let mut out = Vec::with_capacity(s.len() * 3);
    for &b in s {
        if unreserved(b) {
            out.push(b);
        } else {
            out.push(b'%');
            out.extend(HEX.get(usize::from(b >> 4)));
            out.extend(HEX.get(usize::from(b & 15)));
        }
    }
    out
}

/// `s` as a double-quoted attribute value that reads back as `s`.
fn html_escape(s: &str, out: &mut Vec<u8>) {
    // Tokens and parameter names are made of characters that need no reference: one copy.
    if !s.bytes().any(|b| charref::reference_for(b).is_some()) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.reserve(s.len());
    for &b in s.as_bytes() {
        match charref::reference_for(b) {
            Some(reference) => out.extend_from_slice(reference),
            None => out.push(b),
        }
    }
}

/// The hidden input, in its wrapper, up to the input's closing `>` (the form it belongs to may
/// follow); [`HIDDEN_INPUT_END`] closes both.
///
/// Why the wrapper: an `<input>` start tag makes the parser reconstruct the formatting elements
/// left open before the form (`<p><a href=/l>x<form>`: a copy of the `<a>` becomes the form's
/// child, around the input). Nothing in an empty form would close that copy, and `</form>` pops
/// only the form, so what followed the form (a submitter with a foreign `formaction`) would land
/// inside it. An `<rp>` start tag reconstructs nothing and closes no `<p>` (a `<dialog>` would,
/// in a table: the form there is popped at once, and a foster-parented `<p>` may be open), and
/// `</rp>` pops every copy made inside it: after it the parser is where it was after `<form>`.
/// In a table the wrapper is foster-parented before it, where `form=` (the form's own id for a
/// form that has one: see `form_ids`) still ties the input to its form. `rp` is not rendered (`display: none`, and `hidden`), is no
/// form control, and sets nothing the parser remembers (the frameset-ok flag stays).
fn hidden_input(param: &str, token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(param.len() + token.len() + 64);
    out.extend_from_slice(b"<rp hidden><input type=\"hidden\" name=\"");
    html_escape(param, &mut out);
    out.extend_from_slice(b"\" value=\"");
    html_escape(token, &mut out);
    out.push(b'"');
    out
}

/// Closes the hidden input and its wrapper (see [`hidden_input`]).
const HIDDEN_INPUT_END: &[u8] = b"></rp>";

/// Media type match case-insensitive, ignoring parameters (in `allowed` too); false when the
/// charset is not ASCII-compatible (UTF-16/32, UCS-2/4, UTF-7, ISO-2022, HZ, EBCDIC), since the
/// rewriter reads and writes ASCII bytes.
pub fn is_rewritable_content_type(content_type: &str, allowed: &[String]) -> bool {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim_ascii();
    if !essence.contains('/') {
        return false;
    }
    let listed = allowed.iter().any(|a| {
        a.split(';')
            .next()
            .unwrap_or_default()
            .trim_ascii()
            .eq_ignore_ascii_case(essence)
    });
    if !listed {
        return false;
    }
    let charset = parts.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim_ascii()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim_ascii().trim_matches('"').trim_ascii())
    });
    charset.is_none_or(is_ascii_compatible_charset)
}

fn is_ascii_compatible_charset(label: &str) -> bool {
    const NOT_ASCII: &[&str] = &[
        "utf-16", "utf16", "utf-32", "utf32", "ucs-2", "ucs2", "ucs-4", "ucs4", "iso-10646-ucs",
        "csunicode", "unicode", "utf-7", "utf7", "csutf7", "iso-2022", "csiso2022", "hz-gb-2312",
        "replacement", "ebcdic", "x-ebcdic", "cp037", "ibm037", "ibm-037", "cp500", "ibm500",
        "cp875", "ibm875", "cp1026", "ibm1026", "cp1047", "ibm1047", "cp114", "ibm0114", "ibm114",
        "ibm-114",
    ];
    let label = label.to_ascii_lowercase();
    !NOT_ASCII.iter().any(|p| label.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> RewriteOptions {
        RewriteOptions {
            param: "sessionid".into(),
            token: "TOKEN".into(),
            links: true,
            forms: true,
            placeholder: "__COOKIELESS_TOKEN__".into(),
            host: "www.example.com".into(),
            path: "/dir/page".to_owned(),
            allowed_hosts: vec!["partner.example".into()],
            form_id: "cl-0123456789abcdef".to_owned(),
        }
    }

    fn rewrite_with(o: RewriteOptions, input: &str) -> String {
        let mut r = Rewriter::new(o);
        let mut out = Vec::new();
        r.write(input.as_bytes(), &mut out);
        r.end(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn rewrite(input: &str) -> String {
        rewrite_with(opts(), input)
    }

    #[test]
    fn urls_to_routes_that_are_not_cookieless_get_no_token() {
        use crate::routes::Matcher;
        let routes = Arc::new(Routes::new(
            vec![Matcher::prefix("/".into(), None)],
            vec![Matcher::prefix("/admin".into(), None), Matcher::prefix("/static".into(), None)],
        ));
        let page = "<a href=/admin/users>a</a><a href=../static/r.pdf>b</a><a href=%2e%2e/admin>c</a>\
            <a href=//www.example.com/admin/x>d</a><a href=next>e</a>\
            <form action=/admin/save></form><form action=save></form>";
        let mut r = Rewriter::new(RewriteOptions { form_id: String::new(), ..opts() }).routes(routes);
        let mut out = Vec::new();
        r.write(page.as_bytes(), &mut out);
        r.end(&mut out);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "<a href=/admin/users>a</a><a href=../static/r.pdf>b</a><a href=%2e%2e/admin>c</a>\
            <a href=//www.example.com/admin/x>d</a><a href=//www.example.com/dir/next?sessionid=TOKEN>e</a>\
            <form action=/admin/save></form><form action=//www.example.com/dir/save>\
            <rp hidden><input type=\"hidden\" name=\"sessionid\" value=\"TOKEN\"></rp></form>"
        );
    }

    fn rewrite_bytewise(o: RewriteOptions, input: &[u8]) -> Vec<u8> {
        let mut r = Rewriter::new(o);
        let mut out = Vec::new();
        for b in input.chunks(1) {
            r.write(b, &mut out);
        }
        r.end(&mut out);
        out
    }

    /// The hidden input tied to its form, and the id such a form gets.
    const HIDDEN: &str = r#"<rp hidden><input type="hidden" name="sessionid" value="TOKEN" form="cl-0123456789abcdef-1"></rp>"#;
    const ID: &str = r#" id="cl-0123456789abcdef-1""#;
    /// The hidden input of a form that keeps its own id (or sits in a template).
    const LOOSE: &str = r#"<rp hidden><input type="hidden" name="sessionid" value="TOKEN"></rp>"#;

    /// `<form` + the id + the rest of the tag.
    fn form_with_id(form: &str) -> String {
        format!("{}{ID}{}", &form[..5], &form[5..])
    }

    #[test]
    fn same_origin_form_gets_hidden_input_tied_to_it() {
        for (form, want) in [
            ("<form>", "<form>"),
            ("<form action=\"\">", "<form action=\"\">"),
            ("<form action>", "<form action>"),
            ("<FORM ACTION='/post'>", "<FORM ACTION='//www.example.com/post'>"),
            ("<form method=get action=next>", "<form method=get action=//www.example.com/dir/next>"),
            ("<form action=\"http://www.example.com/x\">", "<form action=\"http://www.example.com/x\">"),
            ("<form action=\"https://partner.example/x\">", "<form action=\"https://partner.example/x\">"),
            ("<form action='#frag'>", "<form action='//www.example.com/dir/page#frag'>"),
            ("<form action=\"/a\"\n  method=\"post\"\n  class=\"x > y\">", "<form action=\"//www.example.com/a\"\n  method=\"post\"\n  class=\"x > y\">"),
        ] {
            let page = format!("{form}<input name=q></form>");
            assert_eq!(rewrite(&page), format!("{}{HIDDEN}<input name=q></form>", form_with_id(want)), "{form}");
        }
        // A form with an id of its own keeps it; its input belongs to it by position.
        assert_eq!(rewrite("<form id=login>"), format!("<form id=login>{LOOSE}"));
        let no_id = RewriteOptions { form_id: String::new(), ..opts() };
        assert_eq!(rewrite_with(no_id, "<form>"), format!("<form>{LOOSE}"));
    }

    #[test]
    fn foreign_form_gets_nothing() {
        for form in [
            "<form action=\"https://evil.example/steal\">",
            "<form action=//evil.example/>",
            "<form action=\"javascript:go()\">",
            "<form action=\"http://www.example.com:8080/\">",
            "<form action=\"http&#58;//evil.example/\">",
            "<form action=\"/\\evil.example\">",
            "<form action=\"&#x2F;/evil.example\">",
        ] {
            let page = format!("{form}<input></form>");
            assert_eq!(rewrite(&page), page, "{form}");
        }
    }

    #[test]
    fn submit_buttons_cannot_send_a_token_form_elsewhere() {
        for (button, expected) in [
            ("<button formaction=\"https://evil.example/pay\">", "<button disabled formaction=\"https://evil.example/pay\">"),
            ("<BUTTON type=submit formaction=//evil.example/>", "<BUTTON disabled type=submit formaction=//evil.example/>"),
            ("<button type=\"&#115;ubmit\" formaction=//evil.example>", "<button disabled type=\"&#115;ubmit\" formaction=//evil.example>"),
            ("<input type=submit formaction='mailto:x@evil.example'>", "<input disabled type=submit formaction='mailto:x@evil.example'>"),
            ("<input type=IMAGE src=/b.png formaction=http&#58;//evil.example>", "<input disabled type=IMAGE src=/b.png formaction=http&#58;//evil.example>"),
            ("<button/formaction=//evil.example>", "<button disabled/formaction=//evil.example>"),
            // Same site: anchored; not a submitter: left alone.
            ("<button formaction=/other>", "<button formaction=//www.example.com/other>"),
            ("<button formaction=\"https://www.example.com/x\">", "<button formaction=\"https://www.example.com/x\">"),
            ("<button type=button formaction=//evil.example>", "<button type=button formaction=//evil.example>"),
            ("<button type=reset formaction=//evil.example>", "<button type=reset formaction=//evil.example>"),
            ("<input type=text formaction=//evil.example>", "<input type=text formaction=//evil.example>"),
            ("<button>", "<button>"),
        ] {
            let page = format!("<form>{button}</form>");
            assert_eq!(rewrite(&page), format!("<form{ID}>{HIDDEN}{expected}</form>"), "{button}");
        }
        // Forms without the token are not touched; a submitter joined to some form by `form=`
        // may join a token form, so a foreign formaction is disabled wherever it stands. So is
        // one after a token form's `</form>`: that end tag leaves the form open when a select, a
        // table cell, an object... stands between, and the adoption agency can move a button a
        // later form's pointer claimed back into it.
        for (page, want) in [
            ("<form action=https://evil.example/><button formaction=//evil.example></form>", "<form action=https://evil.example/><button formaction=//evil.example></form>"),
            ("<form action=https://evil.example/></form><button formaction=//evil.example>", "<form action=https://evil.example/></form><button formaction=//evil.example>"),
            ("<form></form><button formaction=//evil.example>", "<form></form><button disabled formaction=//evil.example>"),
            ("<form><table><td></form><button formaction=//evil.example>", "<form><table><td></form><button disabled formaction=//evil.example>"),
            ("<form><select></form><button formaction=/x>", "<form><select></form><button formaction=//www.example.com/x>"),
            ("<form></form><form action=https://evil.example/><button formaction=//evil.example>", "<form></form><form action=https://evil.example/><button disabled formaction=//evil.example>"),
            ("<form></form><form action=https://evil.example/></form><button formaction=//evil.example>", "<form></form><form action=https://evil.example/></form><button disabled formaction=//evil.example>"),
            ("<form id=f></form><button form=f formaction=//evil.example>", "<form id=f></form><button disabled form=f formaction=//evil.example>"),
            ("<input type=image form=f formaction=\"http&#x3A;//evil.example\">", "<input disabled type=image form=f formaction=\"http&#x3A;//evil.example\">"),
        ] {
            assert_eq!(rewrite(page).replace(HIDDEN, "").replace(LOOSE, "").replace(ID, ""), want);
        }
        let forms_off = RewriteOptions { forms: false, ..opts() };
        let page = "<form><button formaction=//evil.example></form>";
        assert_eq!(rewrite_with(forms_off, page), page);
    }

    #[test]
    fn the_form_element_pointer_is_followed_like_browsers_do() {
        let page = "<form action=https://evil.example/><form action=/x><input></form><form action=/y>";
        assert_eq!(
            rewrite(page),
            format!("<form action=https://evil.example/><form action=/x><input></form><form{ID} action=//www.example.com/y>{HIDDEN}")
        );
        // Inside a template every form is its own (and may be cloned: no id).
        let page = "<form action=https://evil.example/><template><form action=/x></form></template><form action=/z>";
        assert_eq!(
            rewrite(page),
            format!("<form action=https://evil.example/><template><form action=//www.example.com/x>{LOOSE}</form></template><form action=/z>")
        );
        // A template in foreign content is no template; `</form>` in noscript is text.
        for page in [
            "<svg><template/></svg><form action=http://evil.example/><form action=/local>",
            "<form action=http://evil.example/><noscript></form></noscript><form action=/local>",
            "<form action=http://evil.example/><svg></svg><form action=/local>",
        ] {
            assert_eq!(rewrite(page), page, "{page}");
        }
        // An HTML `</form>` inside foreign content closes the form but not the svg: the next
        // `<form>` is an svg element.
        let page = "<form action=http://evil.example/><svg></form><form action=/local>";
        assert_eq!(rewrite(page), page);
        let page = "<form action=http://evil.example/><svg></form></svg><form action=/local>";
        assert_eq!(rewrite(page), format!("<form action=http://evil.example/><svg></form></svg><form{ID} action=//www.example.com/local>{HIDDEN}"));
        // A whitespace-only action is parsed against the base, not the document's URL.
        assert_eq!(rewrite("<base href=//evil.example/><form action=\" \">"), "<base href=//evil.example/><form action=\" \">");
        // NUL in a value is U+FFFD to the parser: a path, not leading whitespace.
        assert_eq!(rewrite("<a href=\"\0x\">"), "<a href=\"//www.example.com/dir/\0x?sessionid=TOKEN\">");
    }

    #[test]
    fn links_matrix() {
        let cases = [
            ("<a href=\"/page\">", "<a href=\"//www.example.com/page?sessionid=TOKEN\">"),
            ("<a href='page?x=1'>", "<a href='//www.example.com/dir/page?x=1&amp;sessionid=TOKEN'>"),
            ("<a href=/p#top>", "<a href=//www.example.com/p?sessionid=TOKEN#top>"),
            ("<a href=\"/p?a=1&amp;b=2#f\">", "<a href=\"//www.example.com/p?a=1&amp;b=2&amp;sessionid=TOKEN#f\">"),
            ("<a href=\"/p?a=1&amp;sessionid=old\">", "<a href=\"//www.example.com/p?a=1&amp;sessionid=TOKEN\">"),
            ("<a href=\"/p?sessionid=old&b=2\">", "<a href=\"//www.example.com/p?sessionid=TOKEN&b=2\">"),
            ("<a href=\"http://www.example.com/x\">", "<a href=\"http://www.example.com/x?sessionid=TOKEN\">"),
            ("<a href=\"//WWW.EXAMPLE.COM\">", "<a href=\"//WWW.EXAMPLE.COM?sessionid=TOKEN\">"),
            ("<A HREF=\"?q\">", "<A HREF=\"//www.example.com/dir/page?q&amp;sessionid=TOKEN\">"),
            ("<a href=\"\">", "<a href=\"//www.example.com/dir/page?sessionid=TOKEN\">"),
            ("<a href=>", "<a href=//www.example.com/dir/page?sessionid=TOKEN>"),
            ("<a href>", "<a href=\"//www.example.com/dir/page?sessionid=TOKEN\" href>"),
            ("<a href=\" /x \">", "<a href=\" //www.example.com/x?sessionid=TOKEN \">"),
            ("<a href=\"../up\">", "<a href=\"//www.example.com/dir/../up?sessionid=TOKEN\">"),
            ("<area href=\"/map\" shape=rect>", "<area href=\"//www.example.com/map?sessionid=TOKEN\" shape=rect>"),
            ("<iframe src=\"/frame\"></iframe>", "<iframe src=\"//www.example.com/frame?sessionid=TOKEN\"></iframe>"),
            ("<frame src=f.html>", "<frame src=//www.example.com/dir/f.html?sessionid=TOKEN>"),
            ("<a\n  class=\"x\"\n  href=\"/multi\"\n>", "<a\n  class=\"x\"\n  href=\"//www.example.com/multi?sessionid=TOKEN\"\n>"),
            ("<a title='>' href=/gt>", "<a title='>' href=//www.example.com/gt?sessionid=TOKEN>"),
            ("<a href=/one href=/two>", "<a href=//www.example.com/one?sessionid=TOKEN href=/two>"),
            ("<a href=\"https://partner.example/\">", "<a href=\"https://partner.example/?sessionid=TOKEN\">"),
            ("<a href=\"/caf&eacute;\">", "<a href=\"//www.example.com/caf&eacute;?sessionid=TOKEN\">"),
            // Character references are read as the browser reads them.
            ("<a href=\"git-fsmonitor&#45;&#45;daemon.html\">", "<a href=\"//www.example.com/dir/git-fsmonitor--daemon.html?sessionid=TOKEN\">"),
            ("<a href=\"/num?x=&#x26;sessionid=OLD\">", "<a href=\"//www.example.com/num?x=&amp;sessionid=TOKEN\">"),
            ("<a href=\"&#47;x\">", "<a href=\"//www.example.com/x?sessionid=TOKEN\">"),
        ];
        for (input, want) in cases {
            assert_eq!(rewrite(input), want, "{input}");
        }
    }

    #[test]
    fn links_left_alone() {
        for input in [
            "<a href=\"#top\">",
            "<a href=\"javascript:void(0)\">",
            "<a href=\"JavaScript:x()\">",
            "<a href=\"java&#x09;script:x()\">",
            "<a href=\"mailto:a@www.example.com\">",
            "<a href=\"tel:+1555\">",
            "<a href=\"data:text/html,x\">",
            "<a href=\"ftp://www.example.com/\">",
            "<a href=\"http://evil.example/?next=www.example.com\">",
            "<a href=\"http://www.example.com:8080/\">",
            "<a href=\"//evil.example/\">",
            "<a href=\"\\\\evil.example/\">",
            "<a href=\"http&#58;//evil.example/\">",
            "<a href=\"&#x2F;/evil.example/\">",
            "<a href=\"&sol;&sol;evil.example/\">",
            "<a data-href=\"/x\">",
            "<span href=\"/x\">",
            "<abbr href=\"/x\">",
            "<link href=\"/style.css\">",
            "<img src=\"/i.png\">",
            "<script src=\"/s.js\"></script>",
            "<iframe src=\"\"></iframe>",
            "</a href=/x>",
            "<svg><a href=/x></a></svg>",
            "<math><a href=/x></math>",
        ] {
            assert_eq!(rewrite(input), input, "{input}");
        }
    }

    #[test]
    fn pings_are_switched_off() {
        // Even to this site: `Ping-From` carries the page's URL, and the ping URL may redirect.
        assert_eq!(
            rewrite("<a href=/x ping=\"/track /t2\">"),
            "<a ping=\"\" href=//www.example.com/x?sessionid=TOKEN ping=\"/track /t2\">"
        );
        assert_eq!(rewrite("<a href=/x ping=\" \">"), "<a href=//www.example.com/x?sessionid=TOKEN ping=\" \">");
        assert_eq!(
            rewrite("<a href=/x ping=\"/t https://evil.example/track\">"),
            "<a ping=\"\" href=//www.example.com/x?sessionid=TOKEN ping=\"/t https://evil.example/track\">"
        );
        assert_eq!(
            rewrite("<a href=https://evil.example/ ping=https://evil.example/>"),
            "<a ping=\"\" href=https://evil.example/ ping=https://evil.example/>"
        );
    }

    #[test]
    fn referrer_policies_that_send_the_url_elsewhere_are_overridden() {
        for (input, want) in [
            ("<meta name=referrer content=unsafe-url>", "<meta content=\"same-origin\" name=referrer content=unsafe-url>"),
            ("<META NAME=\"Referrer\" CONTENT=\"always\">", "<META content=\"same-origin\" NAME=\"Referrer\" CONTENT=\"always\">"),
            ("<meta http-equiv=Referrer-Policy content=unsafe-url>", "<meta content=\"same-origin\" http-equiv=Referrer-Policy content=unsafe-url>"),
            ("<meta name=referrer content=no-referrer-when-downgrade>", "<meta content=\"same-origin\" name=referrer content=no-referrer-when-downgrade>"),
            ("<img src=//evil.example/p referrerpolicy=unsafe-url>", "<img referrerpolicy=\"same-origin\" src=//evil.example/p referrerpolicy=unsafe-url>"),
            ("<link rel=prefetch href=//evil.example/ referrerpolicy=\"unsafe&#45;url\">", "<link referrerpolicy=\"same-origin\" rel=prefetch href=//evil.example/ referrerpolicy=\"unsafe&#45;url\">"),
            ("<svg><a href=/x></a></svg><iframe referrerpolicy=always src=//evil.example/>", "<svg><a href=/x></a></svg><iframe referrerpolicy=\"same-origin\" referrerpolicy=always src=//evil.example/>"),
        ] {
            assert_eq!(rewrite(input), want, "{input}");
        }
        for input in [
            "<meta name=referrer content=no-referrer>",
            "<meta name=referrer content=strict-origin-when-cross-origin>",
            "<meta name=description content=unsafe-url>",
            "<img src=//evil.example/p referrerpolicy=no-referrer>",
        ] {
            assert_eq!(rewrite(input), input, "{input}");
        }
    }

    #[test]
    fn meta_refresh() {
        let cases = [
            (
                "<meta http-equiv=\"refresh\" content=\"0; url=/next\">",
                "<meta http-equiv=\"refresh\" content=\"0; url=//www.example.com/next?sessionid=TOKEN\">",
            ),
            (
                "<META CONTENT=\"5;URL='/a?b=1'\" HTTP-EQUIV=Refresh>",
                "<META CONTENT=\"5;URL='//www.example.com/a?b=1&amp;sessionid=TOKEN'\" HTTP-EQUIV=Refresh>",
            ),
            (
                "<meta http-equiv=refresh content=0;url=http://www.example.com/>",
                "<meta http-equiv=refresh content=0;url=http://www.example.com/?sessionid=TOKEN>",
            ),
            (
                "<meta http-equiv=refresh content=\"0&#59;url=next\">",
                "<meta http-equiv=refresh content=\"0;url=//www.example.com/dir/next?sessionid=TOKEN\">",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(rewrite(input), want, "{input}");
        }
        for input in [
            "<meta http-equiv=\"refresh\" content=\"0; url=https://evil.example/\">",
            "<meta http-equiv=\"refresh\" content=\"0; url=http&#58;//evil.example/\">",
            "<meta http-equiv=\"refresh\" content=\"30\">",
            "<meta name=\"refresh\" content=\"0; url=/x\">",
            "<meta http-equiv=\"content-type\" content=\"0; url=/x\">",
        ] {
            assert_eq!(rewrite(input), input, "{input}");
        }
    }

    #[test]
    fn the_first_base_decides_relative_urls_unless_it_comes_too_late() {
        let page = "<base href=\"http://other.example/\"><a href=\"/x\"></a><a href=\"http://www.example.com/y\"></a><form action=/p></form><form></form>";
        assert_eq!(
            rewrite(page),
            format!("<base href=\"http://other.example/\"><a href=\"/x\"></a><a href=\"http://www.example.com/y?sessionid=TOKEN\"></a><form action=/p></form><form{ID}>{HIDDEN}</form>")
        );
        for (page, want) in [
            ("<base href=\"/sub/\"><a href=\"x\">", "<base href=\"/sub/\"><a href=\"//www.example.com/sub/x?sessionid=TOKEN\">"),
            ("<base href=\"sub/\"><a href=\"x\">", "<base href=\"sub/\"><a href=\"//www.example.com/dir/sub/x?sessionid=TOKEN\">"),
            ("<base href=\"https://www.example.com/b/c\"><a href=\"x\"><a href=?q>", "<base href=\"https://www.example.com/b/c\"><a href=\"//www.example.com/b/x?sessionid=TOKEN\"><a href=//www.example.com/b/c?q&amp;sessionid=TOKEN>"),
            ("<base href=\"https://partner.example/p/\"><a href=\"x\">", "<base href=\"https://partner.example/p/\"><a href=\"//partner.example/p/x?sessionid=TOKEN\">"),
            ("<base target=_top><a href=\"x\">", "<base target=_top><a href=\"//www.example.com/dir/x?sessionid=TOKEN\">"),
            // Only the first base with href counts, and not one in foreign content or a template.
            ("<base href=/one/><base href=//evil.example/><a href=x>", "<base href=/one/><base href=//evil.example/><a href=//www.example.com/one/x?sessionid=TOKEN>"),
            ("<svg><base href=//evil.example/></svg><a href=x>", "<svg><base href=//evil.example/></svg><a href=//www.example.com/dir/x?sessionid=TOKEN>"),
            ("<template><base href=//evil.example/></template><a href=x>", "<template><base href=//evil.example/></template><a href=//www.example.com/dir/x?sessionid=TOKEN>"),
            // Integration points and breakouts are HTML: that base is the document's.
            ("<svg><title><base href=//evil.example/></title></svg><a href=x>", "<svg><title><base href=//evil.example/></title></svg><a href=x>"),
            ("<svg><style><p></p><base href=//evil.example/><a href=x>", "<svg><style><p></p><base href=//evil.example/><a href=x>"),
            // A base after a URL was decided is neutralised.
            ("<a href=/early><base href=\"http://evil.example/\"><a href=late>", "<a href=//www.example.com/early?sessionid=TOKEN><base href=\"\" href=\"http://evil.example/\"><a href=//www.example.com/dir/late?sessionid=TOKEN>"),
        ] {
            assert_eq!(rewrite(page), want, "{page}");
        }
    }

    #[test]
    fn a_form_with_its_own_id_in_a_table_ties_its_input_by_that_id() {
        let input = |id: &str| format!(r#"<rp hidden><input type="hidden" name="sessionid" value="TOKEN" form="{id}"></rp>"#);
        let by_position = r#"<rp hidden><input type="hidden" name="sessionid" value="TOKEN"></rp>"#;
        // In a table the wrapper lands before the table, outside the form: `form=` ties it.
        assert_eq!(rewrite("<table><form id=save action=/s></form></table>"), format!("<table><form id=save action=//www.example.com/s>{}</form></table>", input("save")));
        assert_eq!(rewrite("<table><form id='a\"b'>"), format!("<table><form id='a\"b'>{}", input("a&quot;b")));
        // Elsewhere (a cell too) the wrapper is the form's first child: position ties it.
        assert_eq!(rewrite("<table><td><form id=save>"), format!("<table><td><form id=save>{by_position}"));
        // The id must name that form alone: a form met before with it, or an empty id, leaves
        // the table's form without the input; forms met after it lose it.
        assert_eq!(rewrite("<form id=x action=//evil.example/></form><table><form id=x>"), "<form id=x action=//evil.example/></form><table><form id=x>");
        assert_eq!(rewrite("<table><form id>"), "<table><form id>");
        // Only an id that reads the same to the browser: not one with a reference left as
        // written, a control or non-ASCII (`x&#128;` and `x€` are one id to the browser).
        for id in ["x&#128;", "x&eacute;", "x\r", "x\u{20ac}", "a b"] {
            let page = format!("<table><form id='{id}'>");
            assert_eq!(rewrite(&page), page, "{id}");
        }
        assert_eq!(
            rewrite("<table><form id=x></form></table><form id=x action=//evil.example/></form><form id=x></form>"),
            format!("<table><form id=x>{}</form></table><form id=\"\" id=x action=//evil.example/></form><form id=\"\" id=x>{by_position}</form>", input("x"))
        );
        // Template contents are a tree of their own.
        assert_eq!(rewrite("<table><form id=x></form></table><template><form id=x></form></template>"), format!("<table><form id=x>{}</form></table><template><form id=x>{by_position}</form></template>", input("x")));
    }

    #[test]
    fn a_base_foster_parented_out_of_a_table_comes_first_in_tree_order() {
        for (page, want) in [
            // Before the table: it is the document's base, and nothing was resolved yet.
            ("<table><td><base href=/x/><tr><base href=/y/><a href=z>", "<table><td><base href=/x/><tr><base href=/y/><a href=//www.example.com/y/z?sessionid=TOKEN>"),
            // Too late: it gets the href of the base the URLs were resolved against.
            ("<table><td><base href=/x/><a href=a><tr><base href=/y/><a href=z>", "<table><td><base href=/x/><a href=//www.example.com/x/a?sessionid=TOKEN><tr><base href=\"/x/\" href=/y/><a href=//www.example.com/x/z?sessionid=TOKEN>"),
            ("<a href=/e><table><td><base href=/x/><tr><base href=/y/>", "<a href=//www.example.com/e?sessionid=TOKEN><table><td><base href=\"\" href=/x/><tr><base href=\"\" href=/y/>"),
            // The copy is the value as written, in double quotes: it reads back as the same text,
            // references the rewriter does not decode included.
            ("<table><td><base href='/a b\"/'><a href=a><tr><base href=/y/>", "<table><td><base href='/a b\"/'><a href=//www.example.com/a%20b&quot;/a?sessionid=TOKEN><tr><base href=\"/a b&quot;/\" href=/y/>"),
            ("<table><td><base href='/caf&eacute;/'><a href=/abs><tr><base href=/y/>", "<table><td><base href='/caf&eacute;/'><a href=//www.example.com/abs?sessionid=TOKEN><tr><base href=\"/caf&eacute;/\" href=/y/>"),
            // Two out of one table, or one in a cell of the outer table: source order holds.
            ("<table><base href=/x/><base href=/y/><a href=z>", "<table><base href=/x/><base href=/y/><a href=//www.example.com/x/z?sessionid=TOKEN>"),
            ("<table><td><table><td><base href=/x/></table><base href=/y/><a href=z>", "<table><td><table><td><base href=/x/></table><base href=/y/><a href=//www.example.com/x/z?sessionid=TOKEN>"),
            ("<base href=/x/><table><base href=/y/><a href=z>", "<base href=/x/><table><base href=/y/><a href=//www.example.com/x/z?sessionid=TOKEN>"),
            // Out of the outer table: before the inner one too. A table closed and another
            // opened at its depth is another table.
            ("<table><td><table><td><base href=/x/></table></td><base href=/y/><a href=z>", "<table><td><table><td><base href=/x/></table></td><base href=/y/><a href=//www.example.com/y/z?sessionid=TOKEN>"),
            ("<table><td><base href=/x/></table><table><base href=/y/><a href=z>", "<table><td><base href=/x/></table><table><base href=/y/><a href=//www.example.com/x/z?sessionid=TOKEN>"),
            // Inside svg or a div foster-parented out of the table.
            ("<table><td><base href=/x/><tr><svg><title><base href=/y/></title></svg><a href=z>", "<table><td><base href=/x/><tr><svg><title><base href=/y/></title></svg><a href=//www.example.com/y/z?sessionid=TOKEN>"),
            ("<table><td><base href=/x/></td></tr><div><base href=/y/></div><a href=z>", "<table><td><base href=/x/></td></tr><div><base href=/y/></div><a href=//www.example.com/y/z?sessionid=TOKEN>"),
        ] {
            assert_eq!(rewrite(page), want, "{page}");
        }
    }

    #[test]
    fn what_the_differential_test_found() {
        let id = |n: u32| format!(" id=\"cl-0123456789abcdef-{n}\"");
        let hidden = |n: u32| format!(r#"<rp hidden><input type="hidden" name="sessionid" value="TOKEN" form="cl-0123456789abcdef-{n}"></rp>"#);
        // Every form gets an id of its own, so each input belongs to its form.
        assert_eq!(
            rewrite("<form></form><form></form>"),
            format!("<form{}>{}</form><form{}>{}</form>", id(1), hidden(1), id(2), hidden(2))
        );
        for (page, want) in [
            // Tags that write no URL do not make a later base too late.
            ("<meta charset=utf-8><a name=top><base href=/app/><a href=x>", "<meta charset=utf-8><a name=top><base href=/app/><a href=//www.example.com/app/x?sessionid=TOKEN>"),
            // Under a base of another scheme, `//host/x` is not ours.
            ("<base href=\"web+x:/\"><a href=\"//www.example.com/x\"><a href=\"http://www.example.com/y\">", "<base href=\"web+x:/\"><a href=\"//www.example.com/x\"><a href=\"http://www.example.com/y?sessionid=TOKEN\">"),
            // Under a base element a fragment link leaves the page: it gets the token.
            ("<base href=/other/><a href=#top>", "<base href=/other/><a href=//www.example.com/other/?sessionid=TOKEN#top>"),
            // `</form>` with no form open leaves svg open; `</template>` closes it.
            ("<svg></form><a href=/x></svg>", "<svg></form><a href=/x></svg>"),
            ("<template><math></template><a href=x>", "<template><math></template><a href=//www.example.com/dir/x?sessionid=TOKEN>"),
            // An HTML element inside svg:title keeps `</title>` from closing it.
            ("<svg><title><my-el></title><script>x='<p><a href=/x>'</script></svg>", "<svg><title><my-el></title><script>x='<p><a href=/x>'</script></svg>"),
            // `annotation-xml` is special whatever its encoding: the end tag of an HTML element
            // around the math closes nothing, and the `<a>` stays MathML.
            ("<mi><math><annotation-xml></mi><a href=/q>", "<mi><math><annotation-xml></mi><a href=/q>"),
            ("<div><math><annotation-xml></div><a href=/q>", "<div><math><annotation-xml></div><a href=/q>"),
            // Found by review: annotation-xml also stops an end tag from an integration point
            // further out and `</form>`; a long name's end tag closes no other long name.
            (
                "<svg><desc><div><math><annotation-xml></div><style><img referrerpolicy=unsafe-url>",
                "<svg><desc><div><math><annotation-xml></div><style><img referrerpolicy=\"same-origin\" referrerpolicy=unsafe-url>",
            ),
            (
                "<x-y><form action=https://evil.example/><math><annotation-xml></form></annotation-xml></math><svg></x-y><style><img referrerpolicy=unsafe-url>",
                "<x-y><form action=https://evil.example/><math><annotation-xml></form></annotation-xml></math><svg></x-y><style><img referrerpolicy=\"same-origin\" referrerpolicy=unsafe-url>",
            ),
            (
                "<x-aaaaaaaaaaaaaa><svg></x-aaaaaaaaaaaaab><style><img referrerpolicy=unsafe-url>",
                "<x-aaaaaaaaaaaaaa><svg></x-aaaaaaaaaaaaab><style><img referrerpolicy=\"same-origin\" referrerpolicy=unsafe-url>",
            ),
            // In a select `<option>` (`<optgroup>`, `<hr>`) closes the `<li>` before it: `</li>`
            // then closes nothing, and the math stays open.
            (
                "<select><li><option><math></li><style><img referrerpolicy=unsafe-url>",
                "<select><li><option><math></li><style><img referrerpolicy=\"same-origin\" referrerpolicy=unsafe-url>",
            ),
            // An input in svg's desc leaves the select around the svg open (a scope boundary
            // stands between): the form after it is still in the select.
            ("<select><svg><desc><input></desc><p><form>", "<select><svg><desc><input></desc><p><form>"),
            // A form in a select gets no input (it would close the select).
            ("<select><b><form action=/f></form></b></select>", "<select><b><form action=/f></form></b></select>"),
        ] {
            assert_eq!(rewrite(page), want, "{page}");
        }
        // In a frameset only frames count: svg and everything else is dropped by the parser.
        assert_eq!(
            rewrite("<frameset><svg><noframes><meta><a href=x></noframes><frame src=f>"),
            "<frameset><svg><noframes><meta><a href=x></noframes><frame src=//www.example.com/dir/f?sessionid=TOKEN>"
        );
        // A frameset that replaces the body drops a base taken in it: frames resolve against the
        // document's URL. One in the head stays.
        assert_eq!(
            rewrite("<p><base href=/app/><a href=q><frameset><frame src=f>"),
            "<p><base href=/app/><a href=//www.example.com/app/q?sessionid=TOKEN><frameset><frame src=//www.example.com/dir/f?sessionid=TOKEN>"
        );
        // An end tag the parser ignores before the body opens none: the base is still the head's.
        assert_eq!(
            rewrite("</div><base href=/app/><frameset><frame src=f>"),
            "</div><base href=/app/><frameset><frame src=//www.example.com/app/f?sessionid=TOKEN>"
        );
        assert_eq!(
            rewrite("<head><base href=/app/></head><frameset><frame src=f>"),
            "<head><base href=/app/></head><frameset><frame src=//www.example.com/app/f?sessionid=TOKEN>"
        );
        // A frameset started inside svg takes it off the stack: `<noframes>` is raw text again.
        assert_eq!(
            rewrite("<svg><a><foreignObject><frameset></frameset></a><noframes><a href=/x ping=/p>"),
            "<svg><a><foreignObject><frameset></frameset></a><noframes><a href=/x ping=/p>"
        );
        // A frameset after visible content is dropped by the parser: the page stays a page.
        assert_eq!(rewrite("x<frameset><a href=/y>"), "x<frameset><a href=//www.example.com/y?sessionid=TOKEN>");
        assert_eq!(rewrite("<img><frameset><a href=/y>"), "<img><frameset><a href=//www.example.com/y?sessionid=TOKEN>");
        // A srcdoc document is rewritten by the same rules and written back.
        assert_eq!(
            rewrite("<iframe srcdoc=\"<meta name=referrer content=unsafe-url><a href=/x>\"></iframe>"),
            "<iframe srcdoc=\"&lt;meta&#32;content&#61;&quot;same-origin&quot;&#32;name&#61;referrer&#32;content&#61;unsafe-url&gt;&lt;a&#32;href&#61;//www.example.com/x?sessionid&#61;TOKEN&gt;\"></iframe>"
        );
        assert_eq!(rewrite("<iframe srcdoc='<p>hi'></iframe>"), "<iframe srcdoc='<p>hi'></iframe>");
        // Template contents (also live ones: declarative shadow roots): a form in a table there
        // is dropped by the parser, so it gets no input.
        assert_eq!(
            rewrite("<template shadowrootmode=open><form action=//evil.example/x><table><form action=/x>"),
            "<template shadowrootmode=open><form action=//evil.example/x><table><form action=/x>"
        );
        // An explicit <body>, or a literal `<`, rules out a frameset.
        assert_eq!(rewrite("<body><frameset><img referrerpolicy=unsafe-url>"), "<body><frameset><img referrerpolicy=\"same-origin\" referrerpolicy=unsafe-url>");
        assert_eq!(rewrite("<<frameset><a href=/x>"), "<<frameset><a href=//www.example.com/x?sessionid=TOKEN>");
        assert_eq!(rewrite("<input type=hidden><frameset><a href=/x>"), "<input type=hidden><frameset><a href=/x>");
        // Tags read as svg still lose what could send the page's URL away.
        assert_eq!(
            rewrite("<div><svg></div><a href=https://evil.example/ referrerpolicy=unsafe-url>"),
            "<div><svg></div><a referrerpolicy=\"same-origin\" href=https://evil.example/ referrerpolicy=unsafe-url>"
        );
        // `http:x` is relative under an http base, another host otherwise: never the token.
        assert_eq!(rewrite("<base href=http://evil.example/><a href=http:www.example.com/x>"), "<base href=http://evil.example/><a href=http:www.example.com/x>");
        assert_eq!(rewrite("<a href=http:www.example.com/x>"), "<a href=http:www.example.com/x>");
        // Inside foreignObject with an HTML element open, `<![CDATA[` is a bogus comment.
        assert_eq!(
            rewrite("<svg><foreignObject><b><![CDATA[<p><a href='/q'>"),
            "<svg><foreignObject><b><![CDATA[<p><a href='//www.example.com/q?sessionid=TOKEN'>"
        );
        // The document's own end tags and stray table parts close no foreign content.
        assert_eq!(
            rewrite("<head/><math/t></head><script><img src=https://evil.example/i referrerpolicy=unsafe-url>"),
            "<head/><math/t></head><script><img referrerpolicy=\"same-origin\" src=https://evil.example/i referrerpolicy=unsafe-url>"
        );
        assert_eq!(rewrite("<td><svg></td><form action=/f></form>"), "<td><svg></td><form action=/f></form>");
        // After the select, forms get their input again.
        assert_eq!(rewrite("<select></select><form>"), format!("<select></select><form{}>{}", id(1), hidden(1)));
        assert_eq!(rewrite("<select><input><form>"), format!("<select><input><form{}>{}", id(1), hidden(1)));
    }

    #[test]
    fn nothing_inside_non_markup() {
        for input in [
            "<!-- <a href=/x> <form> -->",
            "<script>var s = '<form action=/x>' + \"<a href='/y'>\";</script>",
            "<SCRIPT type=module>if (a<b) x = '</scripty><a href=/x>'</SCRIPT>",
            "<script><!-- document.write('<script></script><a href=/x>') --></script>",
            "<style>a[href=\"/x\"] { }</style>",
            "<textarea><a href=/x></textarea>",
            "<title><a href=/x></title>",
            "<xmp><a href=/x></xmp>",
            "<noembed><a href=/x></noembed>",
            "<noframes><a href=/x></noframes>",
            "<noscript><a href=/ns></noscript>",
            "<noscript><p title=\"</noscript><base href=//evil.example/>\"></noscript>",
            "<svg><![CDATA[ a href=/x ]]></svg>",
            "<!DOCTYPE html>",
            "<?xml version=\"1.0\"?>",
            "<plaintext><a href=/x>",
            "<iframe src=\"javascript:x\"><a href=/x></iframe>",
        ] {
            assert_eq!(rewrite(input), input, "{input}");
        }
        for (input, want) in [
            ("<script>x</script><a href=/after>", "<script>x</script><a href=//www.example.com/after?sessionid=TOKEN>"),
            // Comments end as browsers end them.
            ("<!--><a href=/x>", "<!--><a href=//www.example.com/x?sessionid=TOKEN>"),
            ("<!---><a href=/x>", "<!---><a href=//www.example.com/x?sessionid=TOKEN>"),
            ("<!-- c --!><a href=/x>", "<!-- c --!><a href=//www.example.com/x?sessionid=TOKEN>"),
            ("<!-- c --><a href=/after>", "<!-- c --><a href=//www.example.com/after?sessionid=TOKEN>"),
            // CDATA outside foreign content is a bogus comment that ends at the first `>`.
            ("<![CDATA[><a href=/x>]]>", "<![CDATA[><a href=//www.example.com/x?sessionid=TOKEN>]]>"),
            // Inside, a section's text holds no tag for any reader: it ends and begins again after
            // each `<` (the same text to the tree builder).
            ("<svg><![CDATA[ <a href=/x> ]]></svg>", "<svg><![CDATA[ <]]><![CDATA[a href=/x> ]]></svg>"),
            ("<svg><![CDATA[<<]]><a href=/x>", "<svg><![CDATA[<]]><![CDATA[<]]><![CDATA[]]><a href=/x>"),
            ("<svg><foreignObject><![CDATA[<p><img>]]>", "<svg><foreignObject><![CDATA[<]]><![CDATA[p><]]><![CDATA[img>]]>"),
            ("<noscript></noscript><a href=/x>", "<noscript></noscript><a href=//www.example.com/x?sessionid=TOKEN>"),
            // Inside svg, style and title hold markup; after svg, HTML again.
            ("<svg><style></style></svg><a href=/x>", "<svg><style></style></svg><a href=//www.example.com/x?sessionid=TOKEN>"),
            ("<svg><foreignObject><a href=/x></foreignObject></svg>", "<svg><foreignObject><a href=//www.example.com/x?sessionid=TOKEN></foreignObject></svg>"),
            ("<math><mtext><form></mtext></math>", &format!("<math><mtext><form{ID}>{HIDDEN}</mtext></math>")),
            ("<svg><p><a href=/x>", "<svg><p><a href=//www.example.com/x?sessionid=TOKEN>"),
        ] {
            assert_eq!(rewrite(input), want, "{input}");
        }
    }

    #[test]
    fn the_placeholder_is_replaced_only_where_the_token_stays_here() {
        for (input, want) in [
            ("<a href=\"/x?sessionid=__COOKIELESS_TOKEN__\">", "<a href=\"//www.example.com/x?sessionid=TOKEN\">"),
            ("<img src=\"px?a=1&amp;sessionid=__COOKIELESS_TOKEN__\">", "<img src=\"//www.example.com/dir/px?a=1&amp;sessionid=TOKEN\">"),
            ("<form method=post action=\"/save?sessionid=__COOKIELESS_TOKEN__\">", "<form id=\"cl-0123456789abcdef-1\" method=post action=\"//www.example.com/save?sessionid=TOKEN\"><rp hidden><input type=\"hidden\" name=\"sessionid\" value=\"TOKEN\" form=\"cl-0123456789abcdef-1\"></rp>"),
            ("<script src=\"https://partner.example/s.js?sessionid=__COOKIELESS_TOKEN__\"></script>", "<script src=\"https://partner.example/s.js?sessionid=TOKEN\"></script>"),
            ("<form><input name=t value=\"__COOKIELESS_TOKEN__\"></form>", &format!("<form{ID}>{HIDDEN}<input name=t value=\"TOKEN\"></form>")),
        ] {
            assert_eq!(rewrite(input), want, "{input}");
        }
        for input in [
            "<script>t='__COOKIELESS_TOKEN__'</script><!-- __COOKIELESS_TOKEN__ -->x__COOKIELESS_TOKEN__",
            "<img src=\"http://evil.example/px?__COOKIELESS_TOKEN__\">",
            "<img src=\"px?__COOKIELESS_TOKEN__\">",
            "<img srcset=\"/a.png?__COOKIELESS_TOKEN__ 1x\">",
            "<div style=\"background:url(/x?__COOKIELESS_TOKEN__)\">",
            "<style>a{background:url(/x?__COOKIELESS_TOKEN__)}</style>",
            "<a href=\"http://evil.example/?__COOKIELESS_TOKEN__\">",
            "<a data-x=\"__COOKIELESS_TOKEN__\" href=\"#\">",
            "<form action=//evil.example/><input value=__COOKIELESS_TOKEN__></form>",
            "<input value=__COOKIELESS_TOKEN__>",
            "<svg><image href=\"/x?__COOKIELESS_TOKEN__\"/></svg>",
        ] {
            assert_eq!(rewrite(input), input, "{input}");
        }
        // Not as the token parameter's value: an open redirect could pass it on.
        for input in ["<a href=\"/x?t=__COOKIELESS_TOKEN__\">", "<a href=\"/redirect?to=http://evil.example/?sessionid=__COOKIELESS_TOKEN__\">"] {
            let out = rewrite(input);
            assert!(out.contains("__COOKIELESS_TOKEN__") && out.matches("TOKEN").count() == 2, "{input} -> {out}");
        }
        let input = b"<p>__COOKIELESS_TOKEN__</p><a href=\"/x?sessionid=__COOKIELESS_TOKEN__\">";
        let want = b"<p>__COOKIELESS_TOKEN__</p><a href=\"//www.example.com/x?sessionid=TOKEN\">".to_vec();
        assert_eq!(rewrite_bytewise(opts(), input), want);
        let off = RewriteOptions { placeholder: String::new(), ..opts() };
        assert_eq!(rewrite_with(off, "<img src=/__COOKIELESS_TOKEN__>"), "<img src=/__COOKIELESS_TOKEN__>");
    }

    #[test]
    fn options_switch_features_off() {
        let page = "<form action=/p><a href=/x>";
        let no_links = RewriteOptions { links: false, ..opts() };
        assert_eq!(
            rewrite_with(no_links, page),
            format!("<form{ID} action=//www.example.com/p>{HIDDEN}<a href=/x>")
        );
        let no_forms = RewriteOptions { forms: false, ..opts() };
        assert_eq!(rewrite_with(no_forms, page), "<form action=/p><a href=//www.example.com/x?sessionid=TOKEN>");
    }

    #[test]
    fn param_token_and_path_are_escaped() {
        let o = RewriteOptions {
            param: "a b\"<".into(),
            token: "T&1".into(),
            path: "/a b/\"&/p".into(),
            ..opts()
        };
        assert_eq!(
            rewrite_with(o, "<form><a href=x>"),
            "<form id=\"cl-0123456789abcdef-1\"><rp hidden><input type=\"hidden\" name=\"a b&quot;&lt;\" value=\"T&amp;1\" form=\"cl-0123456789abcdef-1\"></rp><a href=//www.example.com/a%20b/&quot;&amp;/x?a%20b%22%3C=T%261>"
        );
    }

    #[test]
    fn esc_is_written_as_a_replacement_character_unless_the_header_fixed_the_charset() {
        // `<p title="ESC$B"!ESC(B x="><meta name=referrer content=unsafe-url>">`: in ISO-2022-JP the
        // meta is live markup; without ESC it is an attribute value for every decoder.
        let page = "<p title=\"\x1b$B\"!\x1b(B x=\"><meta name=referrer content=unsafe-url>\">";
        assert_eq!(rewrite(page), page.replace('\x1b', "\u{fffd}"));
        let mut declared = Rewriter::new(opts()).charset_declared(true);
        let mut out = Vec::new();
        declared.write(page.as_bytes(), &mut out);
        declared.end(&mut out);
        assert_eq!(out, page.as_bytes());
        assert_eq!(rewrite_bytewise(opts(), page.as_bytes()), rewrite(page).as_bytes());
        // Replaced before reading: a leading ESC is no whitespace the URL parser would strip.
        assert_eq!(rewrite("<a href=\x1bq>"), "<a href=//www.example.com/dir/\u{fffd}q?sessionid=TOKEN>");
    }

    #[test]
    fn utf16_bom_passes_through() {
        let mut input = vec![0xFF, 0xFE];
        input.extend_from_slice(b"<a href=/x>");
        assert_eq!(rewrite_bytewise(opts(), &input), input);
        let mut r = Rewriter::new(opts());
        let mut out = Vec::new();
        r.write(&input, &mut out);
        r.end(&mut out);
        assert_eq!(out, input);
    }

    #[test]
    fn short_bodies() {
        assert_eq!(rewrite(""), "");
        assert_eq!(rewrite("<"), "<");
        assert_eq!(rewrite("x"), "x");
        assert_eq!(rewrite("<a href=/x"), "<a href=/x");
    }

    #[test]
    fn non_utf8_bytes_pass_through() {
        let input = b"\xff\x00<p \xe9=\xfa>\x80<a href=\"/\xe9t\xe9\">\xc3";
        let mut r = Rewriter::new(opts());
        let mut out = Vec::new();
        r.write(input, &mut out);
        r.end(&mut out);
        assert_eq!(
            out,
            b"\xff\x00<p \xe9=\xfa>\x80<a href=\"//www.example.com/\xe9t\xe9?sessionid=TOKEN\">\xc3".to_vec()
        );
    }

    #[test]
    fn oversized_tag_passes_untouched_whatever_the_chunking() {
        let long = "x".repeat(MAX_CARRY);
        let page = format!("<a title=\"{long}\" href=/x><a href=/y><script data-x=\"{long}\">'<a href=/z>'</script><a href=/w>");
        let want = format!("<a ping=\"\" referrerpolicy=\"same-origin\" title=\"{long}\" href=/x><a href=//www.example.com/y?sessionid=TOKEN><script referrerpolicy=\"same-origin\" data-x=\"{long}\">'<a href=/z>'</script><a href=//www.example.com/w?sessionid=TOKEN>");
        assert_eq!(rewrite(&page), want);
        assert_eq!(rewrite_bytewise(opts(), page.as_bytes()), want.as_bytes());
        // Right at the limit: a tag of exactly MAX_CARRY bytes is still rewritten.
        let fill = "y".repeat(MAX_CARRY - "<a href=/x title=>".len());
        let page = format!("<a href=/x title={fill}>");
        assert_eq!(page.len(), MAX_CARRY);
        let want = format!("<a href=//www.example.com/x?sessionid=TOKEN title={fill}>");
        assert_eq!(rewrite(&page), want);
        assert_eq!(rewrite_bytewise(opts(), page.as_bytes()), want.as_bytes());
        let page = format!("<a href=/x title={fill}y>");
        let want = format!("<a ping=\"\" referrerpolicy=\"same-origin\" href=/x title={fill}y>");
        assert_eq!(rewrite(&page), want);
        assert_eq!(rewrite_bytewise(opts(), page.as_bytes()), want.as_bytes());
    }

    #[test]
    fn oversized_tags_lose_what_they_could_do_with_the_pages_url() {
        let long = "x".repeat(MAX_CARRY);
        for (tag, guard) in [
            ("<meta name=referrer", " name=\"\" http-equiv=\"\""),
            ("<a href=//evil.example/ ping=//evil.example/", " ping=\"\" referrerpolicy=\"same-origin\""),
            ("<img src=//evil.example/ referrerpolicy=unsafe-url", " referrerpolicy=\"same-origin\""),
        ] {
            let page = format!("{tag} content=unsafe-url data-x=\"{long}\">");
            let name = tag.split(' ').next().unwrap();
            let want = format!("{name}{guard}{}", &page[name.len()..]);
            assert_eq!(rewrite(&page), want, "{tag}");
            assert_eq!(rewrite_bytewise(opts(), page.as_bytes()), want.as_bytes(), "{tag}");
        }
        let page = format!("<form><button formaction=//evil.example/ data-x=\"{long}\"></form>");
        assert_eq!(rewrite(&page), format!("<form{ID}>{HIDDEN}<button disabled formaction=//evil.example/ data-x=\"{long}\"></form>"));
        // A long submit input joined to a token form by `form=` is disabled too.
        let page = format!("<form id=f></form><input type=submit form=f formaction=//evil.example/ data-x=\"{long}\">");
        assert!(rewrite(&page).contains("<input disabled type=submit form=f"));
        let page = format!("<svg><a href=/x data-x=\"{long}\"></svg>");
        assert_eq!(rewrite(&page), page, "foreign content is not HTML");
    }

    #[test]
    fn oversized_form_and_base_still_count() {
        let long = "x".repeat(MAX_CARRY);
        let page = format!("<form action=https://evil.example/ data-x=\"{long}\"><form action=/x>");
        assert_eq!(rewrite(&page), page);
        let page = format!("<base href=/ data-x=\"{long}\"><a href=/x>");
        assert_eq!(rewrite(&page), page);
        let page = format!("<svg data-x=\"{long}\"><a href=/x></svg><a href=/y>");
        assert_eq!(rewrite(&page), format!("<svg data-x=\"{long}\"><a href=/x></svg><a href=//www.example.com/y?sessionid=TOKEN>"));
    }

    #[test]
    fn bytewise_equals_one_shot_on_tricky_input() {
        let page = "<!DOCTYPE html><html><head><title>a<b</title><meta http-equiv=refresh content='0;url=/r'>\
            <base href=/><style>p{}</style><script>if(a<!--b){'</script'}</script></head><body>\
            <!-- <a href=/c> --><p class=x>t</p><a href='/a?x=1&amp;sessionid=o#f'>l</a>\
            <form action=/f method=post><input name=q value=__COOKIELESS_TOKEN__></form><![CDATA[<a href=/cd>]]>\
            <svg><![CDATA[<a href=/cd>]]><title><a href=/t></title></svg><noscript><a href=/n></noscript>\
            <textarea></textarea ><a href=/ok>__COOKIELESS_TOKEN__<a href=/u";
        let one = rewrite(page);
        assert_eq!(rewrite_bytewise(opts(), page.as_bytes()), one.as_bytes());
        for size in [2, 3, 5, 7, 64] {
            let mut r = Rewriter::new(opts());
            let mut out = Vec::new();
            for c in page.as_bytes().chunks(size) {
                r.write(c, &mut out);
            }
            r.end(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), one, "size {size}");
        }
    }

    #[test]
    fn content_types() {
        let allowed = vec!["text/html".to_owned(), "application/xhtml+xml".to_owned()];
        for ct in [
            "text/html",
            "TEXT/HTML",
            " text/html ; charset=utf-8",
            "text/html;charset=\"ISO-8859-1\"",
            "application/xhtml+xml; charset=windows-1252",
            "text/html; charset=shift_jis",
        ] {
            assert!(is_rewritable_content_type(ct, &allowed), "{ct}");
        }
        for ct in [
            "application/json",
            "text/plain",
            "text/htmlx",
            "",
            "html",
            "text/html; charset=utf-16",
            "text/html; charset=UTF-16LE",
            "text/html; charset=\"utf-32\"",
            "text/html; charset=ucs-2",
            "text/html; charset=utf-7",
            "text/html; charset=iso-2022-jp",
            "text/html; charset=IBM037",
        ] {
            assert!(!is_rewritable_content_type(ct, &allowed), "{ct}");
        }
        assert!(!is_rewritable_content_type("text/html", &[]));
        assert!(is_rewritable_content_type(
            "text/html",
            &["Text/HTML; charset=utf-8".to_owned()]
        ));
    }
}
