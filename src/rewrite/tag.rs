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

/// Lowercased tag names are kept up to this length: every name we act on is shorter.
const NAME_CAP: usize = 10;

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
    name: [u8; NAME_CAP],
    name_len: usize,
    record: bool,
    pub attrs: Vec<Attr>,
}

impl TagScanner {
    pub fn new() -> Self {
        TagScanner {
            state: State::TagName,
            pos: 0,
            end_tag: false,
            name: [0; NAME_CAP],
            name_len: 0,
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
        self.name_len = 0;
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

    /// The lowercased tag name, or `None` when it is longer than any name we act on.
    pub fn name(&self) -> Option<&[u8]> {
        if self.name_len > NAME_CAP {
            None
        } else {
            self.name.get(..self.name_len)
        }
    }

    /// Scans `tag` (the tag's bytes so far, from its `<`; in oversized mode, the next slice) from
    /// where the previous call stopped.
    pub fn scan(&mut self, tag: &[u8]) -> Scan {
        let mut p = self.pos;
        while let Some(&b) = tag.get(p) {
            match self.state {
                State::TagName => match b {
                    b'/' => self.leave_name(State::SelfClosing),
                    b'>' => return self.complete(p),
                    _ if is_ws(b) => self.leave_name(State::BeforeAttrName),
                    _ => self.push_name(b),
                },
                State::BeforeAttrName => match b {
                    b'/' => self.state = State::SelfClosing,
                    b'>' => return self.complete(p),
                    _ if is_ws(b) => {}
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
                    _ => {}
                },
                State::AfterAttrName => match b {
                    b'/' => self.state = State::SelfClosing,
                    b'=' => self.state = State::BeforeAttrValue,
                    b'>' => return self.complete(p),
                    _ if is_ws(b) => {}
                    _ => self.start_attr(p),
                },
                State::BeforeAttrValue => match b {
                    b'"' | b'\'' => {
                        self.set_value(p + 1, p + 1);
                        self.state = State::ValueQuoted(b);
                    }
                    b'>' => {
                        self.set_value(p, p);
                        return self.complete(p);
                    }
                    _ if is_ws(b) => {}
                    _ => {
                        self.set_value(p, p);
                        self.state = State::ValueUnquoted;
                    }
                },
                State::ValueQuoted(q) => {
                    let rest = tag.get(p..).unwrap_or_default();
                    match memchr::memchr(q, rest) {
                        Some(k) => {
                            p += k;
                            self.end_value(p);
                            self.state = State::AfterValueQuoted;
                        }
                        None => {
                            p = tag.len();
                            break;
                        }
                    }
                }
                State::ValueUnquoted => match b {
                    b'>' => {
                        self.end_value(p);
                        return self.complete(p);
                    }
                    _ if is_ws(b) => {
                        self.end_value(p);
                        self.state = State::BeforeAttrName;
                    }
                    _ => {}
                },
                State::AfterValueQuoted => match b {
                    b'/' => self.state = State::SelfClosing,
                    b'>' => return self.complete(p),
                    _ if is_ws(b) => self.state = State::BeforeAttrName,
                    _ => {
                        self.state = State::BeforeAttrName;
                        continue;
                    }
                },
                State::SelfClosing => match b {
                    b'>' => return self.complete(p),
                    _ => {
                        self.state = State::BeforeAttrName;
                        continue;
                    }
                },
            }
            p += 1;
        }
        self.pos = p;
        Scan::NeedMore
    }

    fn complete(&mut self, gt: usize) -> Scan {
        if self.state == State::TagName {
            self.decide_recording();
        }
        self.pos = gt + 1;
        Scan::Complete(gt + 1)
    }

    fn push_name(&mut self, b: u8) {
        if let Some(slot) = self.name.get_mut(self.name_len) {
            *slot = b.to_ascii_lowercase();
        }
        self.name_len = (self.name_len + 1).min(NAME_CAP + 1);
    }

    fn leave_name(&mut self, next: State) {
        self.decide_recording();
        self.state = next;
    }

    /// Only the start tags whose attributes we may read or rewrite are worth recording.
    fn decide_recording(&mut self) {
        self.record = !self.end_tag
            && matches!(
                self.name(),
                Some(b"a" | b"area" | b"iframe" | b"frame" | b"form" | b"meta" | b"base")
            );
    }

    fn start_attr(&mut self, p: usize) {
        if self.record {
            self.attrs.push(Attr {
                name: (p, p + 1),
                value: None,
            });
        }
        self.state = State::AttrName;
    }

    fn end_name(&mut self, p: usize, next: State) {
        if let Some(a) = self.recording() {
            a.name.1 = p;
        }
        self.state = next;
    }

    fn set_value(&mut self, start: usize, end: usize) {
        if let Some(a) = self.recording() {
            a.value = Some((start, end));
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
        assert_eq!(s.name(), Some(&b"iframe"[..]));
        let (_, s) = scan_all(b"<averyveryverylongname>");
        assert_eq!(s.name(), None);
        let (_, s) = scan_all(b"</FORM >");
        assert_eq!(s.name(), Some(&b"form"[..]));
        assert!(s.end_tag);
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
