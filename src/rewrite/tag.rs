//! The tag tokenizer: finds where a start or end tag ends, the way the HTML standard's tokenizer
//! does (a `>` inside a quoted value does not end it, a quote inside a name or an unquoted value
//! does not open one), and records where the attributes of interesting tags sit.
//!
//! It is resumable: positions are relative to the tag's `<`, so the same state carries on whether
//! the tag's bytes arrive in one chunk or in many.

/// ASCII whitespace as the tokenizer sees it (CR becomes LF before tokenizing).
pub(super) fn is_ws(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

use super::element::{Element, Name};

/// The tags the rewriter acts on (by name: `element`'s table); everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    A,
    Area,
    Iframe,
    Frame,
    Form,
    /// `button` and `input`: submitters may carry a `formaction`.
    Button,
    Input,
    Meta,
    Base,
    Script,
    /// A form inside it gets no hidden input (the input would close the select).
    Select,
    /// After it, the document is a frameset: only frames and `noframes` remain.
    Frameset,
    /// Inside a template, a `<form>` in a table is dropped by the parser.
    Table,
    /// Read for `referrerpolicy` only.
    Img,
    Link,
    /// Read for what decides foreign content: `encoding`, and `color`/`face`/`size`.
    AnnotationXml,
    Font,
    /// RAWTEXT and RCDATA elements: their content ends only at their own end tag.
    RawText(Raw),
    Plaintext,
    Template,
    Other,
}

/// The RAWTEXT and RCDATA elements (a name of their own: `Kind` stays one byte wide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Raw {
    Noscript,
    Style,
    Xmp,
    Noembed,
    Noframes,
    Textarea,
    Title,
    Iframe,
}

impl Raw {
    /// The name that ends its content.
    pub fn name(self) -> &'static [u8] {
        match self {
            Raw::Noscript => b"noscript",
            Raw::Style => b"style",
            Raw::Xmp => b"xmp",
            Raw::Noembed => b"noembed",
            Raw::Noframes => b"noframes",
            Raw::Textarea => b"textarea",
            Raw::Title => b"title",
            Raw::Iframe => b"iframe",
        }
    }
}

impl Kind {
    /// Tags whose attributes may be read or rewritten.
    fn has_url_attrs(self) -> bool {
        matches!(
            self,
            Kind::A
                | Kind::Area
                | Kind::Iframe
                | Kind::Frame
                | Kind::Form
                | Kind::Button
                | Kind::Input
                | Kind::Meta
                | Kind::Base
                | Kind::Script
                | Kind::Img
                | Kind::Link
                | Kind::AnnotationXml
                | Kind::Font
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    TagName,
    BeforeAttrName,
    AttrName,
    AfterAttrName,
    BeforeAttrValue,
    ValueQuoted(u8),
    ValueUnquoted,
    AfterValueQuoted,
    SelfClosing,
}

/// One attribute, as byte ranges relative to the tag's `<`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Attr {
    pub name: (usize, usize),
    /// `None` when the attribute has no `=`. Quotes are excluded; a value missing after `=`
    /// (`href=>`) is an empty range where the value would go.
    pub value: Option<(usize, usize)>,
}

pub(super) enum Scan {
    /// The tag ends just before this position (relative to the slice given).
    Complete(usize),
    /// The slice ended inside the tag.
    NeedMore,
}

#[derive(Debug)]
pub(super) struct TagScanner {
    state: State,
    /// Next byte to look at, relative to the tag's `<` (or to the slice in oversized mode).
    pos: usize,
    pub end_tag: bool,
    /// The tag ended in `/>`.
    pub self_closing: bool,
    name: Name,
    element: Element,
    record: bool,
    pub attrs: Vec<Attr>,
}

impl TagScanner {
    pub fn new() -> Self {
        TagScanner {
            state: State::TagName,
            pos: 0,
            end_tag: false,
            self_closing: false,
            name: Name::default(),
            element: Element::UNNAMED,
            record: false,
            attrs: Vec::new(),
        }
    }

    /// Starts a tag whose `<` is at relative position 0 and whose name starts right after `<`
    /// (start tag) or `</` (end tag).
    pub fn begin(&mut self, end_tag: bool) {
        self.state = State::TagName;
        self.pos = if end_tag { 2 } else { 1 };
        self.end_tag = end_tag;
        self.self_closing = false;
        self.name = Name::default();
        self.element = Element::UNNAMED;
        self.record = false;
        self.attrs.clear();
    }

    /// The tag grew past the carry limit: it will pass through untouched, so attribute positions
    /// no longer matter and scanning restarts at the start of each new slice.
    pub fn oversize(&mut self) {
        self.record = false;
        self.attrs.clear();
        self.pos = 0;
    }

    /// What the tag is, once its name has been read.
    pub fn kind(&self) -> Kind {
        self.element.kind
    }

    /// The tag's element, once its name has been read.
    pub fn element(&self) -> Element {
        self.element
    }

    /// Every attribute of a complete start tag, whatever its kind.
    pub fn all_attrs(tag: &[u8]) -> Vec<Attr> {
        let mut scanner = TagScanner::new();
        scanner.begin(false);
        let _ = scanner.scan_with(tag, true);
        scanner.attrs
    }

    /// Scans `tag` (the tag's bytes so far, from its `<`; in oversized mode, the next slice) from
    /// where the previous call stopped.
    pub fn scan(&mut self, tag: &[u8]) -> Scan {
        self.scan_with(tag, false)
    }

    fn scan_with(&mut self, tag: &[u8], record_all: bool) -> Scan {
        let mut p = self.pos;
        let mut state = self.state;
        if state == State::TagName {
            p = self.read_name(tag, p);
            let Some(&after_name) = tag.get(p) else {
                self.pos = p;
                return Scan::NeedMore;
            };
            self.name_done();
            self.record |= record_all;
            // Most end tags, and many start tags, end right after their name.
            if after_name == b'>' {
                return self.complete(p);
            }
            state = State::BeforeAttrName;
        }
        loop {
            // Runs of bytes that leave the state as it is are skipped in one go.
            p = skip(tag, p, state.stays());
            let Some(&b) = tag.get(p) else {
                break;
            };
            state = match state {
                State::TagName | State::BeforeAttrName => match b {
                    b'/' => State::SelfClosing,
                    b'>' => return self.complete(p),
                    _ if is_ws(b) => State::BeforeAttrName,
                    // Any other byte, `=` included, starts a name.
                    _ => self.start_attr(p),
                },
                State::AttrName => match b {
                    b'/' => self.end_name(p, State::SelfClosing),
                    b'>' => {
                        self.end_name(p, State::BeforeAttrName);
                        return self.complete(p);
                    }
                    b'=' => self.end_name(p, State::BeforeAttrValue),
                    _ if is_ws(b) => self.end_name(p, State::AfterAttrName),
                    _ => State::AttrName,
                },
                State::AfterAttrName => match b {
                    b'/' => State::SelfClosing,
                    b'=' => State::BeforeAttrValue,
                    b'>' => return self.complete(p),
                    _ if is_ws(b) => State::AfterAttrName,
                    _ => self.start_attr(p),
                },
                State::BeforeAttrValue => match b {
                    b'"' | b'\'' => {
                        self.set_value(p + 1);
                        State::ValueQuoted(b)
                    }
                    b'>' => {
                        self.set_value(p);
                        return self.complete(p);
                    }
                    _ if is_ws(b) => State::BeforeAttrValue,
                    _ => {
                        self.set_value(p);
                        State::ValueUnquoted
                    }
                },
                State::ValueQuoted(q) => match find(q, tag, p) {
                    Some(close) => {
                        p = close;
                        self.end_value(p);
                        State::AfterValueQuoted
                    }
                    None => {
                        p = tag.len();
                        break;
                    }
                },
                State::ValueUnquoted => match b {
                    b'>' => {
                        self.end_value(p);
                        return self.complete(p);
                    }
                    _ if is_ws(b) => {
                        self.end_value(p);
                        State::BeforeAttrName
                    }
                    _ => State::ValueUnquoted,
                },
                // After a quoted value or `/`, anything but `>` (and, after a value, `/`) is
                // looked at again as the start of another attribute.
                State::AfterValueQuoted | State::SelfClosing => match b {
                    b'>' => {
                        self.self_closing = state == State::SelfClosing;
                        return self.complete(p);
                    }
                    b'/' if state == State::AfterValueQuoted => State::SelfClosing,
                    _ if is_ws(b) => State::BeforeAttrName,
                    _ => {
                        state = State::BeforeAttrName;
                        continue;
                    }
                },
            };
            p += 1;
        }
        self.state = state;
        self.pos = p;
        Scan::NeedMore
    }

    /// Reads the name's bytes from `from` on into `self.name`, lowercased, in one pass; returns
    /// where the name ends (or the end of `tag`, when it goes on in the next slice).
    fn read_name(&mut self, tag: &[u8], from: usize) -> usize {
        let mut name = self.name;
        let mut p = from;
        while let Some(&b) = tag.get(p) {
            if class(b) & NAME == 0 {
                break;
            }
            name.push(b.to_ascii_lowercase());
            p += 1;
        }
        self.name = name;
        p
    }

    fn name_done(&mut self) {
        self.element = Element::lookup(self.name);
        self.record = !self.end_tag && self.kind().has_url_attrs();
    }

    fn complete(&mut self, gt: usize) -> Scan {
        self.pos = gt + 1;
        Scan::Complete(gt + 1)
    }

    fn start_attr(&mut self, p: usize) -> State {
        if self.record {
            self.attrs.push(Attr {
                name: (p, p + 1),
                value: None,
            });
        }
        State::AttrName
    }

    fn end_name(&mut self, p: usize, next: State) -> State {
        if let Some(a) = self.recording() {
            a.name.1 = p;
        }
        next
    }

    fn set_value(&mut self, start: usize) {
        if let Some(a) = self.recording() {
            a.value = Some((start, start));
        }
    }

    fn end_value(&mut self, p: usize) {
        if let Some(a) = self.recording() {
            if let Some(v) = a.value.as_mut() {
                v.1 = p;
            }
        }
    }

    fn recording(&mut self) -> Option<&mut Attr> {
        if self.record {
            self.attrs.last_mut()
        } else {
            None
        }
    }
}

/// Byte classes, as bits, for skipping runs of bytes that do not change the tokenizer's state.
const OTHER: u8 = 1;
const WS: u8 = 2;
const SLASH: u8 = 4;
const GT: u8 = 8;
const EQ: u8 = 16;
const QUOTE: u8 = 32;
/// What a tag name is made of.
const NAME: u8 = OTHER | EQ | QUOTE;

const fn class_of(b: u8) -> u8 {
    match b {
        b'\t' | b'\n' | 0x0c | b'\r' | b' ' => WS,
        b'/' => SLASH,
        b'>' => GT,
        b'=' => EQ,
        b'"' | b'\'' => QUOTE,
        _ => OTHER,
    }
}

const CLASS: [u8; 256] = {
    let mut table = [OTHER; 256];
    let mut rest: &mut [u8] = &mut table;
    let mut b: u8 = 0;
    while let [slot, tail @ ..] = rest {
        *slot = class_of(b);
        rest = tail;
        b = b.wrapping_add(1);
    }
    table
};

/// The class of byte `b`, from [`CLASS`].
fn class(b: u8) -> u8 {
    CLASS.get(usize::from(b)).copied().unwrap_or(OTHER)
}

impl State {
    /// The byte classes this state consumes without changing.
    fn stays(self) -> u8 {
        match self {
            State::BeforeAttrName | State::AfterAttrName | State::BeforeAttrValue => WS,
            State::AttrName => OTHER | QUOTE,
            State::ValueUnquoted => OTHER | QUOTE | EQ | SLASH,
            State::TagName => NAME,
            State::ValueQuoted(_) | State::AfterValueQuoted | State::SelfClosing => 0,
        }
    }
}

/// The first position at or after `p` whose byte is not in `classes`.
fn skip(s: &[u8], mut p: usize, classes: u8) -> usize {
    while let Some(&b) = s.get(p) {
        if class(b) & classes == 0 {
            break;
        }
        p += 1;
    }
    p
}

/// Position of the next `q` at or after `from`. Attribute values are mostly short: eight bytes
/// at a time in a register beats a vectorised search's setup there; long ones go to memchr.
fn find(q: u8, s: &[u8], from: usize) -> Option<usize> {
    const LOW: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let rest = s.get(from..)?;
    let pattern = u64::from_le_bytes([q; 8]);
    let mut offset = 0;
    for chunk in rest.chunks_exact(8).take(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ pattern;
        // The lowest zero byte of x is the first match (borrows only disturb bytes above it).
        let zero = x.wrapping_sub(LOW) & !x & HIGH;
        if zero != 0 {
            return Some(from + offset + (zero.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    memchr::memchr(q, rest.get(offset..)?).map(|k| from + offset + k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(tag: &[u8]) -> (Option<usize>, TagScanner) {
        let mut s = TagScanner::new();
        s.begin(tag.get(1) == Some(&b'/'));
        match s.scan(tag) {
            Scan::Complete(n) => (Some(n), s),
            Scan::NeedMore => (None, s),
        }
    }

    fn attrs(tag: &[u8]) -> Vec<(String, Option<String>)> {
        let (_, s) = scan_all(tag);
        s.attrs
            .iter()
            .map(|a| {
                let name = String::from_utf8_lossy(&tag[a.name.0..a.name.1]).into_owned();
                let value = a
                    .value
                    .map(|(x, y)| String::from_utf8_lossy(&tag[x..y]).into_owned());
                (name, value)
            })
            .collect()
    }

    #[test]
    fn ends_at_first_unquoted_gt() {
        assert_eq!(scan_all(b"<a href='>'>x").0, Some(12));
        assert_eq!(scan_all(b"<a href=\"a>b\" x>y").0, Some(16));
        assert_eq!(scan_all(b"<a title=x\"y>z").0, Some(13));
        assert_eq!(scan_all(b"<a \"foo>bar\">").0, Some(8));
        assert_eq!(scan_all(b"<a href='x").0, None);
        assert_eq!(scan_all(b"<a =\"x>y\">").0, Some(7));
        assert_eq!(scan_all(b"<a b==\"x>y\">").0, Some(9));
        assert_eq!(scan_all(b"</a title='>'>").0, Some(14));
    }

    #[test]
    fn records_attributes_of_interesting_tags() {
        assert_eq!(
            attrs(b"<A HREF = '/x' class=c\nid=\"i\" checked>"),
            vec![
                ("HREF".into(), Some("/x".into())),
                ("class".into(), Some("c".into())),
                ("id".into(), Some("i".into())),
                ("checked".into(), None),
            ]
        );
        assert_eq!(attrs(b"<a href=>"), vec![("href".into(), Some("".into()))]);
        assert_eq!(
            attrs(b"<a/href=/x/>"),
            vec![("href".into(), Some("/x/".into()))]
        );
        assert_eq!(
            attrs(b"<a href='a'x=y>"),
            vec![("href".into(), Some("a".into())), ("x".into(), Some("y".into()))]
        );
        assert!(attrs(b"<p href=x>").is_empty());
        assert!(attrs(b"<abbr href=x>").is_empty());
    }

    #[test]
    fn names_are_lowercased_and_capped() {
        let (_, s) = scan_all(b"<IFrame src=x>");
        assert_eq!(s.kind(), Kind::Iframe);
        let (_, s) = scan_all(b"<TextArea>");
        assert_eq!(s.kind(), Kind::RawText(Raw::Textarea));
        let (_, s) = scan_all(b"<scriptaaaaaaaaaaaaaaaaaaaaaaaaa>");
        assert_eq!(s.kind(), Kind::Other);
        let (_, s) = scan_all(b"<averyveryverylongname>");
        assert_eq!(s.kind(), Kind::Other);
        let (_, s) = scan_all(b"</FORM >");
        assert_eq!(s.kind(), Kind::Form);
        assert!(s.end_tag);
    }

    #[test]
    fn class_table_agrees_with_whitespace() {
        for b in 0..=255u8 {
            assert_eq!(CLASS[usize::from(b)], class_of(b));
            assert_eq!(CLASS[usize::from(b)] == WS, is_ws(b), "{b}");
        }
    }

    #[test]
    fn find_matches_a_plain_search() {
        let hay: Vec<u8> = (0..200u8)
            .map(|i| if i % 37 == 36 { b'"' } else { b'a' + i % 26 })
            .collect();
        for from in 0..=hay.len() {
            let want = hay[from..].iter().position(|&b| b == b'"').map(|k| k + from);
            assert_eq!(find(b'"', &hay, from), want, "from {from}");
        }
        assert_eq!(find(b'"', b"\x80\xff\x22", 0), Some(2));
        assert_eq!(find(b'"', b"\x21\x22\x23\x22\x00\x00\x00\x00\x22", 0), Some(1));
        assert_eq!(find(b'\'', b"", 0), None);
        assert_eq!(find(b'\'', b"ab", 5), None);
    }

    #[test]
    fn resumes_across_slices() {
        let tag = b"<a class=\"q>\" href='/x?a=1' data-x=y>";
        for split in 1..tag.len() {
            let mut s = TagScanner::new();
            s.begin(false);
            assert!(matches!(s.scan(&tag[..split]), Scan::NeedMore));
            assert!(matches!(s.scan(tag), Scan::Complete(n) if n == tag.len()));
            let (_, whole) = scan_all(tag);
            assert_eq!(s.attrs.len(), whole.attrs.len());
            for (a, b) in s.attrs.iter().zip(&whole.attrs) {
                assert_eq!(a.name, b.name);
                assert_eq!(a.value, b.value);
            }
        }
    }
}
