//! The streaming HTML rewriter: puts the token into a page's same-origin forms (a hidden input),
//! links (`a`/`area` href, `iframe`/`frame` src, meta refresh URL) and placeholders, chunk by
//! chunk, and decides which response bodies may be rewritten at all.
//!
//! It owns the HTML side of the job; whether a URL is same-origin is `origin`'s call. The body is
//! treated as bytes, never as UTF-8, and everything not rewritten comes out byte for byte. Feed
//! chunks with [`Rewriter::write`] and finish with [`Rewriter::end`]; output is the same for any
//! chunking of the input.
//!
//! Pipeline: a two-byte sniff (a UTF-16 byte-order mark overrides any declared charset in
//! browsers, so such a body passes through untouched), then the placeholder stage, then the HTML
//! stage (tokenizer and tag edits). What it does not model: foreign content (`<svg>`/`<math>`,
//! where `<style>` or `<title>` are not raw text: content after one that is never closed is left
//! alone), links that come before a `<base>` pointing elsewhere (already sent when the base is
//! seen), and `formaction` on buttons (a form that posts here gets the token even if one of its
//! buttons posts elsewhere).

mod edit;
mod html;
mod placeholder;
mod raw;
mod tag;

use html::{HtmlStage, Settings};
use placeholder::Placeholder;

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
    placeholder: Option<Placeholder>,
    html: HtmlStage,
}

impl Rewriter {
    pub fn new(opts: RewriteOptions) -> Rewriter {
        let settings = Settings {
            links: opts.links,
            forms: opts.forms,
            url_param: percent_encode(opts.param.as_bytes()),
            url_token: percent_encode(opts.token.as_bytes()),
            hidden_input: hidden_input(&opts.param, &opts.token),
            host: opts.host,
            allowed_hosts: opts.allowed_hosts,
        };
        Rewriter {
            start: Start::Sniffing,
            sniffed: Vec::new(),
            placeholder: Placeholder::new(opts.placeholder.as_bytes(), opts.token.as_bytes()),
            html: HtmlStage::new(settings),
        }
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
            let html = &mut self.html;
            if let Some(p) = self.placeholder.as_mut() {
                p.end(&mut |s: &[u8]| html.write(s, out));
            }
            html.end(out);
        }
    }

    /// Whether `end` would still output something: bytes held for an unfinished tag or
    /// placeholder, or the first bytes kept to sniff a byte-order mark.
    pub fn is_holding(&self) -> bool {
        !self.sniffed.is_empty()
            || self.placeholder.as_ref().is_some_and(Placeholder::is_holding)
            || self.html.is_holding()
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

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let html = &mut self.html;
        match self.placeholder.as_mut() {
            Some(p) => p.write(chunk, &mut |s: &[u8]| html.write(s, out)),
            None => html.write(chunk, out),
        }
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

fn html_escape(s: &str, out: &mut Vec<u8>) {
    let special = |b: &u8| matches!(b, b'&' | b'"' | b'\'' | b'<' | b'>');
    if !s.as_bytes().iter().any(special) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for &b in s.as_bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\'' => out.extend_from_slice(b"&#39;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            _ => out.push(b),
        }
    }
}

fn hidden_input(param: &str, token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(param.len() + token.len() + 48);
    out.extend_from_slice(b"<input type=\"hidden\" name=\"");
    html_escape(param, &mut out);
    out.extend_from_slice(b"\" value=\"");
    html_escape(token, &mut out);
    out.extend_from_slice(b"\">");
    out
}

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
            allowed_hosts: vec!["partner.example".into()],
            path: "/dir/page".to_owned(),
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

    fn rewrite_bytewise(o: RewriteOptions, input: &[u8]) -> Vec<u8> {
        let mut r = Rewriter::new(o);
        let mut out = Vec::new();
        for b in input.chunks(1) {
            r.write(b, &mut out);
        }
        r.end(&mut out);
        out
    }

    const HIDDEN: &str = r#"<input type="hidden" name="sessionid" value="TOKEN">"#;

    #[test]
    fn same_origin_form_gets_hidden_input() {
        for form in [
            "<form>",
            "<form action=\"\">",
            "<form action>",
            "<FORM ACTION='/post'>",
            "<form method=get action=next>",
            "<form action=\"http://www.example.com/x\">",
            "<form action=\"https://partner.example/x\">",
            "<form action='#frag'>",
            "<form action=\"/a\"\n  method=\"post\"\n  class=\"x > y\">",
        ] {
            let page = format!("{form}<input name=q></form>");
            assert_eq!(
                rewrite(&page),
                format!("{form}{HIDDEN}<input name=q></form>"),
                "{form}"
            );
        }
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
            // Same site, or not a submitter: left alone.
            ("<button formaction=/other>", "<button formaction=/other>"),
            ("<button formaction=\"https://www.example.com/x\">", "<button formaction=\"https://www.example.com/x\">"),
            ("<button type=button formaction=//evil.example>", "<button type=button formaction=//evil.example>"),
            ("<button type=reset formaction=//evil.example>", "<button type=reset formaction=//evil.example>"),
            ("<input type=text formaction=//evil.example>", "<input type=text formaction=//evil.example>"),
            ("<button>", "<button>"),
        ] {
            let page = format!("<form action=/post>{button}</form>");
            assert_eq!(rewrite(&page), format!("<form action=/post>{HIDDEN}{expected}</form>"), "{button}");
        }
        // Forms without the token, and buttons after the form closed, are not touched.
        for page in [
            "<form action=https://evil.example/><button formaction=//evil.example></form>",
            "<form action=/post></form><button formaction=//evil.example>",
        ] {
            assert_eq!(rewrite(page).replace(HIDDEN, ""), page);
        }
        let forms_off = RewriteOptions { forms: false, ..opts() };
        let page = "<form><button formaction=//evil.example></form>";
        assert_eq!(rewrite_with(forms_off, page), page);
    }

    #[test]
    fn nested_form_is_ignored_like_browsers_do() {
        let page = "<form action=https://evil.example/><form action=/x><input></form><form action=/y>";
        assert_eq!(
            rewrite(page),
            format!("<form action=https://evil.example/><form action=/x><input></form><form action=/y>{HIDDEN}")
        );
        // Inside a template every form is its own.
        let page = "<form action=https://evil.example/><template><form action=/x></form></template><form action=/z>";
        assert_eq!(
            rewrite(page),
            format!("<form action=https://evil.example/><template><form action=/x>{HIDDEN}</form></template><form action=/z>")
        );
    }

    #[test]
    fn links_matrix() {
        let cases = [
            ("<a href=\"/page\">", "<a href=\"/page?sessionid=TOKEN\">"),
            ("<a href='page?x=1'>", "<a href='page?x=1&amp;sessionid=TOKEN'>"),
            ("<a href=/p#top>", "<a href=/p?sessionid=TOKEN#top>"),
            ("<a href=\"/p?a=1&amp;b=2#f\">", "<a href=\"/p?a=1&amp;b=2&amp;sessionid=TOKEN#f\">"),
            ("<a href=\"/p?a=1&amp;sessionid=old\">", "<a href=\"/p?a=1&amp;sessionid=TOKEN\">"),
            ("<a href=\"/p?sessionid=old&b=2\">", "<a href=\"/p?sessionid=TOKEN&b=2\">"),
            ("<a href=\"http://www.example.com/x\">", "<a href=\"http://www.example.com/x?sessionid=TOKEN\">"),
            ("<a href=\"//WWW.EXAMPLE.COM\">", "<a href=\"//WWW.EXAMPLE.COM?sessionid=TOKEN\">"),
            ("<A HREF=\"?q\">", "<A HREF=\"?q&amp;sessionid=TOKEN\">"),
            ("<a href=\"\">", "<a href=\"?sessionid=TOKEN\">"),
            ("<a href=>", "<a href=?sessionid=TOKEN>"),
            ("<a href=\" /x \">", "<a href=\" /x?sessionid=TOKEN \">"),
            ("<area href=\"/map\" shape=rect>", "<area href=\"/map?sessionid=TOKEN\" shape=rect>"),
            ("<iframe src=\"/frame\"></iframe>", "<iframe src=\"/frame?sessionid=TOKEN\"></iframe>"),
            ("<frame src=f.html>", "<frame src=f.html?sessionid=TOKEN>"),
            ("<a\n  class=\"x\"\n  href=\"/multi\"\n>", "<a\n  class=\"x\"\n  href=\"/multi?sessionid=TOKEN\"\n>"),
            ("<a title='>' href=/gt>", "<a title='>' href=/gt?sessionid=TOKEN>"),
            ("<a href=/one href=/two>", "<a href=/one?sessionid=TOKEN href=/two>"),
            ("<a href=\"https://partner.example/\">", "<a href=\"https://partner.example/?sessionid=TOKEN\">"),
            ("<a href=\"/caf&eacute;\">", "<a href=\"/caf&eacute;?sessionid=TOKEN\">"),
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
            "<a href>",
            "<a data-href=\"/x\">",
            "<span href=\"/x\">",
            "<abbr href=\"/x\">",
            "<link href=\"/style.css\">",
            "<img src=\"/i.png\">",
            "<script src=\"/s.js\"></script>",
            "<iframe src=\"\"></iframe>",
            "<a href=/x ping=\"https://evil.example/track\">",
            "</a href=/x>",
        ] {
            assert_eq!(rewrite(input), input, "{input}");
        }
    }

    #[test]
    fn ping_to_us_is_fine() {
        assert_eq!(
            rewrite("<a href=/x ping=\"/track /t2\">"),
            "<a href=/x?sessionid=TOKEN ping=\"/track /t2\">"
        );
    }

    #[test]
    fn meta_refresh() {
        let cases = [
            (
                "<meta http-equiv=\"refresh\" content=\"0; url=/next\">",
                "<meta http-equiv=\"refresh\" content=\"0; url=/next?sessionid=TOKEN\">",
            ),
            (
                "<META CONTENT=\"5;URL='/a?b=1'\" HTTP-EQUIV=Refresh>",
                "<META CONTENT=\"5;URL='/a?b=1&amp;sessionid=TOKEN'\" HTTP-EQUIV=Refresh>",
            ),
            (
                "<meta http-equiv=refresh content=0;url=http://www.example.com/>",
                "<meta http-equiv=refresh content=0;url=http://www.example.com/?sessionid=TOKEN>",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(rewrite(input), want, "{input}");
        }
        for input in [
            "<meta http-equiv=\"refresh\" content=\"0; url=https://evil.example/\">",
            "<meta http-equiv=\"refresh\" content=\"30\">",
            "<meta name=\"refresh\" content=\"0; url=/x\">",
            "<meta http-equiv=\"content-type\" content=\"0; url=/x\">",
        ] {
            assert_eq!(rewrite(input), input, "{input}");
        }
    }

    #[test]
    fn base_href_decides_relative_urls() {
        let page = "<base href=\"http://other.example/\"><a href=\"/x\"></a><a href=\"http://www.example.com/y\"></a><form action=/p></form><form></form>";
        assert_eq!(
            rewrite(page),
            format!("<base href=\"http://other.example/\"><a href=\"/x\"></a><a href=\"http://www.example.com/y?sessionid=TOKEN\"></a><form action=/p></form><form>{HIDDEN}</form>")
        );
        let page = "<base href=\"/sub/\"><a href=\"x\">";
        assert_eq!(rewrite(page), "<base href=\"/sub/\"><a href=\"x?sessionid=TOKEN\">");
        let page = "<base href=\"https://www.example.com/\"><a href=\"x\">";
        assert_eq!(rewrite(page), "<base href=\"https://www.example.com/\"><a href=\"x?sessionid=TOKEN\">");
        let page = "<base target=_top><a href=\"x\">";
        assert_eq!(rewrite(page), "<base target=_top><a href=\"x?sessionid=TOKEN\">");
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
            "<![CDATA[ <a href=/x> ]]>",
            "<!DOCTYPE html>",
            "<?xml version=\"1.0\"?>",
            "<plaintext><a href=/x>",
            "<iframe src=\"javascript:x\"><a href=/x></iframe>",
        ] {
            assert_eq!(rewrite(input), input, "{input}");
        }
        assert_eq!(
            rewrite("<script>x</script><a href=/after>"),
            "<script>x</script><a href=/after?sessionid=TOKEN>"
        );
        // "<!-->" is a whole (empty) comment.
        assert_eq!(
            rewrite("<!--><a href=/x>"),
            "<!--><a href=/x?sessionid=TOKEN>"
        );
        assert_eq!(
            rewrite("<!-- c --><a href=/after>"),
            "<!-- c --><a href=/after?sessionid=TOKEN>"
        );
        assert_eq!(
            rewrite("<noscript><a href=/ns></noscript>"),
            "<noscript><a href=/ns?sessionid=TOKEN></noscript>"
        );
    }

    #[test]
    fn placeholder_everywhere() {
        assert_eq!(
            rewrite("<script>t='__COOKIELESS_TOKEN__'</script><!-- __COOKIELESS_TOKEN__ -->x__COOKIELESS_TOKEN__"),
            "<script>t='TOKEN'</script><!-- TOKEN -->xTOKEN"
        );
        let input = b"<p>__COOKIELESS_TOKEN__</p><a href=\"/x?sessionid=__COOKIELESS_TOKEN__\">";
        let want = b"<p>TOKEN</p><a href=\"/x?sessionid=TOKEN\">".to_vec();
        assert_eq!(rewrite_bytewise(opts(), input), want);
        let off = RewriteOptions {
            placeholder: String::new(),
            ..opts()
        };
        assert_eq!(rewrite_with(off, "__COOKIELESS_TOKEN__"), "__COOKIELESS_TOKEN__");
    }

    #[test]
    fn options_switch_features_off() {
        let page = "<form action=/p><a href=/x>__COOKIELESS_TOKEN__";
        let no_links = RewriteOptions {
            links: false,
            ..opts()
        };
        assert_eq!(
            rewrite_with(no_links, page),
            format!("<form action=/p>{HIDDEN}<a href=/x>TOKEN")
        );
        let no_forms = RewriteOptions {
            forms: false,
            ..opts()
        };
        assert_eq!(
            rewrite_with(no_forms, page),
            "<form action=/p><a href=/x?sessionid=TOKEN>TOKEN"
        );
    }

    #[test]
    fn param_and_token_are_escaped() {
        let o = RewriteOptions {
            param: "a b\"<".into(),
            token: "T&1".into(),
            ..opts()
        };
        assert_eq!(
            rewrite_with(o, "<form><a href=x>"),
            "<form><input type=\"hidden\" name=\"a b&quot;&lt;\" value=\"T&amp;1\"><a href=x?a%20b%22%3C=T%261>"
        );
    }

    #[test]
    fn utf16_bom_passes_through() {
        let mut input = vec![0xFF, 0xFE];
        input.extend_from_slice(b"<a href=/x>__COOKIELESS_TOKEN__");
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
            b"\xff\x00<p \xe9=\xfa>\x80<a href=\"/\xe9t\xe9?sessionid=TOKEN\">\xc3".to_vec()
        );
    }

    #[test]
    fn oversized_tag_passes_untouched_whatever_the_chunking() {
        let long = "x".repeat(MAX_CARRY);
        let page = format!("<a title=\"{long}\" href=/x><a href=/y><script data-x=\"{long}\">'<a href=/z>'</script><a href=/w>");
        let want = format!("<a title=\"{long}\" href=/x><a href=/y?sessionid=TOKEN><script data-x=\"{long}\">'<a href=/z>'</script><a href=/w?sessionid=TOKEN>");
        assert_eq!(rewrite(&page), want);
        assert_eq!(rewrite_bytewise(opts(), page.as_bytes()), want.as_bytes());
        // Right at the limit: a tag of exactly MAX_CARRY bytes is still rewritten.
        let fill = "y".repeat(MAX_CARRY - "<a href=/x title=>".len());
        let page = format!("<a href=/x title={fill}>");
        assert_eq!(page.len(), MAX_CARRY);
        let want = format!("<a href=/x?sessionid=TOKEN title={fill}>");
        assert_eq!(rewrite(&page), want);
        assert_eq!(rewrite_bytewise(opts(), page.as_bytes()), want.as_bytes());
        let page = format!("<a href=/x title={fill}y>");
        assert_eq!(rewrite(&page), page);
        assert_eq!(rewrite_bytewise(opts(), page.as_bytes()), page.as_bytes());
    }

    #[test]
    fn oversized_form_still_opens_a_form() {
        let long = "x".repeat(MAX_CARRY);
        let page = format!("<form action=https://evil.example/ data-x=\"{long}\"><form action=/x>");
        assert_eq!(rewrite(&page), page);
        let page = format!("<base href=/ data-x=\"{long}\"><a href=/x>");
        assert_eq!(rewrite(&page), page);
    }

    #[test]
    fn bytewise_equals_one_shot_on_tricky_input() {
        let page = "<!DOCTYPE html><html><head><title>a<b</title><meta http-equiv=refresh content='0;url=/r'>\
            <base href=/><style>p{}</style><script>if(a<!--b){'</script'}</script></head><body>\
            <!-- <a href=/c> --><p class=x>t</p><a href='/a?x=1&amp;sessionid=o#f'>l</a>\
            <form action=/f method=post><input name=q></form><![CDATA[<a href=/cd>]]>\
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
