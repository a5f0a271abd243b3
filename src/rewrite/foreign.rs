//! Foreign content: where a page is inside `<svg>` or `<math>`, as the HTML standard's tree
//! construction decides it, reduced to what matters for the token.
//!
//! Inside foreign content no element is an HTML one: `<a>`, `<form>`, `<base>`, `<template>` are
//! SVG or MathML elements that carry no token and move no form pointer, `<style>`, `<title>`,
//! `<script>`, `<noscript>` hold markup rather than raw text, and `<![CDATA[` is a CDATA section
//! (elsewhere it is a bogus comment that ends at the first `>`). The HTML integration points (SVG
//! `foreignObject`, `desc`, `title`; MathML `mi`, `mo`, `mn`, `ms`, `mtext`, and `annotation-xml`
//! whose `encoding` is HTML) switch back to HTML for the tags inside them, and the breakout tags
//! (`<p>`, `<div>`, `<img>`, `<table>`, ... and `<font>` with `color`, `face` or `size`) close
//! foreign content altogether.
//!
//! What is kept is the stack of open foreign elements. HTML elements opened inside an integration
//! point are not tracked: while the innermost foreign element is an integration point, tags are
//! read as HTML. The stack is bounded; elements nested deeper than [`MAX_DEPTH`] are not recorded,
//! so their end tags match nothing (they only ever close foreign content later than a browser).

/// Open foreign elements kept at most.
pub(super) const MAX_DEPTH: usize = 64;

/// Names are compared on their first bytes and their length.
const NAME_BYTES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Namespace {
    Svg,
    MathMl,
}

/// A tag name, kept as its first bytes and its length.
#[derive(Debug, Clone, Copy)]
struct Name {
    bytes: [u8; NAME_BYTES],
    len: usize,
}

impl Name {
    fn new(name: &[u8]) -> Name {
        let mut bytes = [0; NAME_BYTES];
        for (slot, &b) in bytes.iter_mut().zip(name) {
            *slot = b;
        }
        Name { bytes, len: name.len() }
    }

    fn is(&self, name: &[u8]) -> bool {
        self.len == name.len() && self.bytes.iter().zip(name).all(|(a, b)| a == b)
    }
}

#[derive(Debug, Clone)]
struct Frame {
    namespace: Namespace,
    name: Name,
    /// Start tags inside are read as HTML.
    integration_point: bool,
    /// HTML elements open inside this integration point (at most `MAX_DEPTH`): an end tag that
    /// names none of them closes nothing here, as the parser stops at the special integration
    /// point.
    html_open: Vec<Name>,
}

impl Frame {
    fn named(&self, name: &[u8]) -> bool {
        self.name.is(name)
    }
}

/// The open foreign elements, innermost last, and the HTML elements open outside foreign
/// content (by name, at most `MAX_DEPTH`; elements the parser closes implicitly may linger).
#[derive(Debug, Default)]
pub(super) struct Foreign {
    frames: Vec<Frame>,
    outer: Vec<Name>,
}

/// A start tag as far as foreign content cares: its lowercased name and what decides a breakout.
pub(super) struct StartTag<'a> {
    pub name: &'a [u8],
    pub self_closing: bool,
    /// `font` with a `color`, `face` or `size` attribute.
    pub font_breaks_out: bool,
    /// `annotation-xml` whose `encoding` is `text/html` or `application/xhtml+xml`.
    pub html_annotation: bool,
}

/// How a tag is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reading {
    /// As an HTML tag (it may open or close HTML elements, raw text, forms, links).
    Html,
    /// As a foreign element's tag: it changes nothing for the token.
    Foreign,
}

impl Foreign {
    /// Is the page inside `<svg>`/`<math>` (so that `<![CDATA[` opens a CDATA section)?
    pub fn is_open(&self) -> bool {
        !self.frames.is_empty()
    }

    /// Does `<![CDATA[` open a CDATA section here: is the current node a foreign element (not an
    /// HTML element inside an integration point)?
    pub fn cdata_allowed(&self) -> bool {
        self.frames.last().is_some_and(|f| f.html_open.is_empty())
    }

    /// Are tags read as HTML here: outside foreign content, or right inside an integration point?
    fn html_here(&self) -> bool {
        self.frames.last().is_none_or(|f| f.integration_point)
    }

    /// A start tag: opens foreign content (`svg`, `math` read as HTML), nests in it, or breaks
    /// out of it; says how the tag itself is to be read.
    pub fn start(&mut self, tag: &StartTag<'_>) -> Reading {
        if self.html_here() {
            let namespace = match tag.name {
                b"svg" => Namespace::Svg,
                b"math" => Namespace::MathMl,
                _ => {
                    // HTML ignores `/>` on non-void elements: they open all the same. Outside
                    // foreign content only containers that close nowhere but at their own end tag
                    // are kept: staying in foreign content too long is the safe error (tags read as
                    // foreign still get the page-URL overrides), leaving it too early is not.
                    let keep = match self.frames.last() {
                        Some(_) => !is_void(tag.name) && !is_dropped_in_body(tag.name),
                        None => is_plain_container(tag.name),
                    };
                    if keep {
                        let open = match self.frames.last_mut() {
                            Some(point) => &mut point.html_open,
                            None => &mut self.outer,
                        };
                        if open.len() < MAX_DEPTH {
                            open.push(Name::new(tag.name));
                        }
                    }
                    return Reading::Html;
                }
            };
            self.push(namespace, tag);
            return Reading::Foreign;
        }
        if breaks_out(tag) {
            self.close_to_html();
            return Reading::Html;
        }
        let namespace = self.frames.last().map_or(Namespace::Svg, |f| f.namespace);
        self.push(namespace, tag);
        Reading::Foreign
    }

    /// An end tag: closes the foreign element it names (and everything inside it), or is read as
    /// HTML. `</p>` and `</br>` in foreign content break out of it first.
    pub fn end(&mut self, name: &[u8]) -> Reading {
        if !self.is_open() {
            if let Some(at) = self.outer.iter().rposition(|n| n.is(name)) {
                self.outer.truncate(at);
            }
            return Reading::Html;
        }
        if let Some(point) = self.frames.last_mut().filter(|f| f.integration_point && !f.html_open.is_empty()) {
            if let Some(at) = point.html_open.iter().rposition(|n| n.is(name)) {
                point.html_open.truncate(at);
            }
            return Reading::Html;
        }
        if !self.html_here() && matches!(name, b"p" | b"br") {
            self.close_to_html();
            return Reading::Html;
        }
        if let Some(at) = self.frames.iter().rposition(|f| f.named(name)) {
            self.frames.truncate(at);
            return Reading::Foreign;
        }
        // An HTML element open around the foreign content (`<div><svg></div>`): the parser pops
        // everything up to it. (`</form>` is special: it takes only the form off the stack.)
        if let Some(at) = self.outer.iter().rposition(|n| n.is(name)).filter(|_| name != b"form") {
            self.outer.truncate(at);
            self.frames.clear();
        }
        Reading::Html
    }

    fn push(&mut self, namespace: Namespace, tag: &StartTag<'_>) {
        if tag.self_closing || self.frames.len() >= MAX_DEPTH {
            return;
        }
        let integration_point = match namespace {
            Namespace::Svg => matches!(tag.name, b"foreignobject" | b"desc" | b"title"),
            Namespace::MathMl => {
                matches!(tag.name, b"mi" | b"mo" | b"mn" | b"ms" | b"mtext") || tag.html_annotation
            }
        };
        self.frames.push(Frame { namespace, name: Name::new(tag.name), integration_point, html_open: Vec::new() });
    }

    /// Pops foreign elements until an integration point is innermost, or none is left.
    pub fn close_to_html(&mut self) {
        while self.frames.last().is_some_and(|f| !f.integration_point) {
            self.frames.pop();
        }
    }
}

/// Elements whose end tag pops foreign content opened inside them: containers the parser closes
/// only at their own end tag (no implied end tags, no table or select rules), and the formatting
/// elements.
fn is_plain_container(name: &[u8]) -> bool {
    const PLAIN: &[&[u8]] = &[
        b"div", b"section", b"article", b"main", b"nav", b"aside", b"header", b"footer",
        b"figure", b"figcaption", b"blockquote", b"details", b"summary", b"fieldset", b"address",
        b"center", b"dl", b"ol", b"ul", b"menu", b"search", b"hgroup", b"dialog",
        // Formatting elements: their end tag runs the adoption agency, which pops foreign content.
        b"a", b"b", b"big", b"code", b"em", b"font", b"i", b"nobr", b"s", b"small", b"strike",
        b"strong", b"tt", b"u", b"span",
    ];
    PLAIN.contains(&name)
}

/// Start tags the parser drops in body content (table parts outside a table, the document's own
/// elements, frames): they open nothing.
fn is_dropped_in_body(name: &[u8]) -> bool {
    const DROPPED: &[&[u8]] = &[
        b"tr", b"td", b"th", b"tbody", b"thead", b"tfoot", b"caption", b"col", b"colgroup",
        b"html", b"head", b"body", b"frame", b"frameset",
    ];
    DROPPED.contains(&name)
}

/// HTML elements that have no end tag (they never stay open).
fn is_void(name: &[u8]) -> bool {
    const VOID: &[&[u8]] = &[
        b"area", b"base", b"br", b"col", b"embed", b"hr", b"img", b"input", b"link", b"meta",
        b"param", b"source", b"track", b"wbr", b"keygen", b"basefont", b"bgsound", b"frame",
    ];
    VOID.contains(&name)
}

/// The start tags that end foreign content (HTML standard, "rules for parsing tokens in foreign
/// content").
fn breaks_out(tag: &StartTag<'_>) -> bool {
    const BREAKOUT: &[&[u8]] = &[
        b"b", b"big", b"blockquote", b"body", b"br", b"center", b"code", b"dd", b"div", b"dl",
        b"dt", b"em", b"embed", b"h1", b"h2", b"h3", b"h4", b"h5", b"h6", b"head", b"hr", b"i",
        b"img", b"li", b"listing", b"menu", b"meta", b"nobr", b"ol", b"p", b"pre", b"ruby", b"s",
        b"small", b"span", b"strong", b"strike", b"sub", b"sup", b"table", b"tt", b"u", b"ul",
        b"var",
    ];
    BREAKOUT.contains(&tag.name) || (tag.name == b"font" && tag.font_breaks_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(f: &mut Foreign, name: &str) -> Reading {
        f.start(&StartTag {
            name: name.as_bytes(),
            self_closing: false,
            font_breaks_out: false,
            html_annotation: false,
        })
    }

    #[test]
    fn svg_and_math_open_foreign_content_and_their_end_tags_close_it() {
        let mut f = Foreign::default();
        assert_eq!(start(&mut f, "a"), Reading::Html);
        assert_eq!(start(&mut f, "svg"), Reading::Foreign);
        assert!(f.is_open());
        assert_eq!(start(&mut f, "a"), Reading::Foreign);
        assert_eq!(start(&mut f, "template"), Reading::Foreign);
        assert_eq!(f.end(b"svg"), Reading::Foreign);
        assert!(!f.is_open());
        assert_eq!(start(&mut f, "form"), Reading::Html);
    }

    #[test]
    fn integration_points_read_tags_as_html_until_they_close() {
        let mut f = Foreign::default();
        start(&mut f, "svg");
        start(&mut f, "title");
        assert_eq!(start(&mut f, "base"), Reading::Html);
        assert_eq!(start(&mut f, "svg"), Reading::Foreign);
        assert_eq!(start(&mut f, "base"), Reading::Foreign);
        f.end(b"svg");
        assert_eq!(start(&mut f, "form"), Reading::Html);
        // The form is open inside the title: `</title>` closes nothing until it is closed.
        f.end(b"title");
        assert_eq!(start(&mut f, "form"), Reading::Html);
        f.end(b"form");
        f.end(b"form");
        f.end(b"title");
        assert_eq!(start(&mut f, "form"), Reading::Foreign);
        let mut m = Foreign::default();
        start(&mut m, "math");
        start(&mut m, "mtext");
        assert_eq!(start(&mut m, "a"), Reading::Html);
    }

    #[test]
    fn breakout_tags_leave_foreign_content() {
        for tag in ["p", "div", "img", "table", "meta", "h1"] {
            let mut f = Foreign::default();
            start(&mut f, "svg");
            start(&mut f, "g");
            assert_eq!(start(&mut f, tag), Reading::Html, "{tag}");
            assert!(!f.is_open(), "{tag}");
        }
        let mut f = Foreign::default();
        start(&mut f, "svg");
        assert_eq!(start(&mut f, "font"), Reading::Foreign);
        let font = StartTag { name: b"font", self_closing: false, font_breaks_out: true, html_annotation: false };
        assert_eq!(f.start(&font), Reading::Html);
        let mut f = Foreign::default();
        start(&mut f, "svg");
        assert_eq!(f.end(b"p"), Reading::Html);
        assert!(!f.is_open());
    }

    #[test]
    fn self_closing_and_unmatched_tags() {
        let mut f = Foreign::default();
        start(&mut f, "svg");
        let closed = StartTag { name: b"style", self_closing: true, font_breaks_out: false, html_annotation: false };
        f.start(&closed);
        assert_eq!(start(&mut f, "a"), Reading::Foreign);
        assert_eq!(f.end(b"a"), Reading::Foreign);
        assert_eq!(f.end(b"div"), Reading::Html);
        assert!(f.is_open());
        assert_eq!(f.end(b"form"), Reading::Html);
        assert!(f.is_open(), "an HTML </form> is html.rs's to judge");
        f.close_to_html();
        assert!(!f.is_open());
    }

    #[test]
    fn an_html_element_inside_an_integration_point_keeps_it_open() {
        let mut f = Foreign::default();
        start(&mut f, "svg");
        start(&mut f, "title");
        assert_eq!(start(&mut f, "my-el"), Reading::Html);
        start(&mut f, "br");
        // The parser stops at the special svg title: this </title> closes nothing.
        assert_eq!(f.end(b"title"), Reading::Html);
        assert_eq!(start(&mut f, "script"), Reading::Html, "still inside the title, in HTML");
        assert_eq!(f.end(b"script"), Reading::Html);
        assert_eq!(f.end(b"my-el"), Reading::Html);
        assert_eq!(f.end(b"title"), Reading::Foreign);
        assert_eq!(start(&mut f, "script"), Reading::Foreign);
    }

    #[test]
    fn an_end_tag_of_an_html_element_around_svg_closes_it() {
        let mut f = Foreign::default();
        start(&mut f, "div");
        start(&mut f, "svg");
        start(&mut f, "g");
        assert_eq!(f.end(b"span"), Reading::Html);
        assert!(f.is_open(), "no span is open: ignored");
        assert_eq!(f.end(b"div"), Reading::Html);
        assert!(!f.is_open());
    }

    #[test]
    fn depth_is_bounded() {
        let mut f = Foreign::default();
        for _ in 0..10 * MAX_DEPTH {
            start(&mut f, "svg");
            start(&mut f, "g");
        }
        assert_eq!(f.frames.len(), MAX_DEPTH);
    }
}
