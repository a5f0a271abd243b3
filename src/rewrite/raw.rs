//! Where the regions that are not markup end: comments, CDATA sections, bogus comments (`<!...>`,
//! `<?...>`, DOCTYPE), raw-text and RCDATA elements (`<style>`, `<title>`, ...) and `<script>`
//! with its escaped and double-escaped states. Nothing inside them is rewritten (but for the
//! split of CDATA text after each `<`, `html.rs`'s `CDATA_SPLIT`), so the scanners only track how
//! each region ends, with the HTML standard's rules, resumably across chunks. Where `<![CDATA[`
//! opens a section at all (only in foreign content) is `html.rs`'s to decide.

use super::tag::is_ws;

/// Outcome of scanning a raw-text element's content.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RawEnd {
    /// The closing tag's `<` is at this offset: the caller tokenizes it as an ordinary end tag.
    Found(usize),
    /// The slice ends inside a possible closing tag starting at this offset: carry from there.
    NeedMore(usize),
    /// No closing tag in the slice.
    NotFound,
}

/// Is `<name` (or `</name` when `end`) followed by whitespace, `/` or `>` at the start of `s`?
/// `None` when `s` ends before that can be told.
pub(super) fn tag_at(s: &[u8], end: bool, name: &[u8]) -> Option<bool> {
    let slash: &[u8] = if end { b"/" } else { b"" };
    let mut expected = b"<".iter().chain(slash).chain(name);
    let mut bytes = s.iter();
    for &want in expected.by_ref() {
        let &got = bytes.next()?;
        if !got.eq_ignore_ascii_case(&want) {
            return Some(false);
        }
    }
    let &delim = bytes.next()?;
    Some(is_ws(delim) || delim == b'/' || delim == b'>')
}

/// Does `s` start with `lit`? `None` when `s` is a proper prefix of it.
pub(super) fn literal_at(s: &[u8], lit: &[u8]) -> Option<bool> {
    if s.len() >= lit.len() {
        Some(s.starts_with(lit))
    } else if lit.starts_with(s) {
        None
    } else {
        Some(false)
    }
}

/// The end of an RCDATA or RAWTEXT element's content: its own closing tag, nothing else.
pub(super) fn find_end_tag(s: &[u8], name: &[u8]) -> RawEnd {
    let mut i = 0;
    while let Some(k) = s.get(i..).and_then(|r| memchr::memchr(b'<', r)) {
        let lt = i + k;
        match tag_at(s.get(lt..).unwrap_or_default(), true, name) {
            Some(true) => return RawEnd::Found(lt),
            Some(false) => i = lt + 1,
            None => return RawEnd::NeedMore(lt),
        }
    }
    RawEnd::NotFound
}

/// Comment states after `<!--`, reduced to what decides where the comment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Comment {
    Start,
    StartDash,
    Body,
    EndDash,
    End,
    EndBang,
}

/// Returns the offset just past the comment's closing `>`, if it is in `s`.
pub(super) fn scan_comment(state: &mut Comment, s: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        if *state == Comment::Body {
            i += memchr::memchr(b'-', s.get(i..)?)?;
        }
        let &b = s.get(i)?;
        let (next, consumed) = match (*state, b) {
            (Comment::Start | Comment::StartDash | Comment::End | Comment::EndBang, b'>') => {
                return Some(i + 1)
            }
            (Comment::Start, b'-') => (Comment::StartDash, true),
            (Comment::StartDash | Comment::EndDash, b'-') => (Comment::End, true),
            (Comment::Body, _) => (Comment::EndDash, true),
            (Comment::End, b'!') => (Comment::EndBang, true),
            (Comment::End, b'-') => (Comment::End, true),
            (Comment::EndBang, b'-') => (Comment::EndDash, true),
            // Anything else goes back to the body and is looked at again there.
            _ => (Comment::Body, false),
        };
        *state = next;
        if consumed {
            i += 1;
        }
    }
}

/// A CDATA section ends at `]]>`; the state counts the `]` seen just before.
pub(super) fn scan_cdata(brackets: &mut u8, s: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        if *brackets == 0 {
            i += memchr::memchr(b']', s.get(i..)?)?;
        }
        let &b = s.get(i)?;
        *brackets = match (b, *brackets) {
            (b']', n) => (n + 1).min(2),
            (b'>', 2) => return Some(i + 1),
            _ => 0,
        };
        i += 1;
    }
}

/// Script data states (HTML standard 13.2.5.4 ff.), minus the `<` states, which are decided by
/// looking ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Script {
    Data,
    Escaped,
    EscapedDash,
    EscapedDashDash,
    DoubleEscaped,
    DoubleEscapedDash,
    DoubleEscapedDashDash,
}

/// Finds the `</script` that ends the script, honouring `<!--` ... `<script>` ... `-->` escapes.
pub(super) fn scan_script(state: &mut Script, s: &[u8]) -> RawEnd {
    let mut i = 0;
    loop {
        let rest = s.get(i..).unwrap_or_default();
        match *state {
            Script::Data => {
                let Some(k) = memchr::memchr(b'<', rest) else {
                    return RawEnd::NotFound;
                };
                let lt = i + k;
                let at = s.get(lt..).unwrap_or_default();
                match (tag_at(at, true, b"script"), literal_at(at, b"<!--")) {
                    (Some(true), _) => return RawEnd::Found(lt),
                    (None, _) | (_, None) => return RawEnd::NeedMore(lt),
                    (_, Some(true)) => {
                        *state = Script::EscapedDashDash;
                        i = lt + 4;
                    }
                    (_, Some(false)) => i = lt + 1,
                }
            }
            Script::Escaped | Script::DoubleEscaped => {
                let Some(k) = memchr::memchr2(b'-', b'<', rest) else {
                    return RawEnd::NotFound;
                };
                let j = i + k;
                let double = *state == Script::DoubleEscaped;
                if s.get(j) == Some(&b'-') {
                    *state = if double {
                        Script::DoubleEscapedDash
                    } else {
                        Script::EscapedDash
                    };
                    i = j + 1;
                    continue;
                }
                let at = s.get(j..).unwrap_or_default();
                if double {
                    // `</script>` only leaves the double escape.
                    match tag_at(at, true, b"script") {
                        Some(true) => {
                            *state = Script::Escaped;
                            i = j + 9;
                        }
                        Some(false) => i = j + 1,
                        None => return RawEnd::NeedMore(j),
                    }
                } else {
                    match (tag_at(at, true, b"script"), tag_at(at, false, b"script")) {
                        (Some(true), _) => return RawEnd::Found(j),
                        (None, _) | (_, None) => return RawEnd::NeedMore(j),
                        (_, Some(true)) => {
                            *state = Script::DoubleEscaped;
                            i = j + 8;
                        }
                        (_, Some(false)) => i = j + 1,
                    }
                }
            }
            dash => {
                let Some(&b) = s.get(i) else {
                    return RawEnd::NotFound;
                };
                let double = matches!(
                    dash,
                    Script::DoubleEscapedDash | Script::DoubleEscapedDashDash
                );
                let base = if double {
                    Script::DoubleEscaped
                } else {
                    Script::Escaped
                };
                *state = match b {
                    b'-' if double => Script::DoubleEscapedDashDash,
                    b'-' => Script::EscapedDashDash,
                    b'>' if matches!(
                        dash,
                        Script::EscapedDashDash | Script::DoubleEscapedDashDash
                    ) =>
                    {
                        Script::Data
                    }
                    _ => base,
                };
                // A `<` is looked at again by the base state.
                if b != b'<' {
                    i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script_end(s: &[u8]) -> RawEnd {
        let mut st = Script::Data;
        scan_script(&mut st, s)
    }

    #[test]
    fn tag_at_needs_a_delimiter() {
        assert_eq!(tag_at(b"</script>", true, b"script"), Some(true));
        assert_eq!(tag_at(b"</SCRIPT\n", true, b"script"), Some(true));
        assert_eq!(tag_at(b"</script/", true, b"script"), Some(true));
        assert_eq!(tag_at(b"</scripts>", true, b"script"), Some(false));
        assert_eq!(tag_at(b"</scri", true, b"script"), None);
        assert_eq!(tag_at(b"</script", true, b"script"), None);
        assert_eq!(tag_at(b"<script ", false, b"script"), Some(true));
        assert_eq!(tag_at(b"<x", true, b"script"), Some(false));
    }

    #[test]
    fn comments_end_like_browsers_say() {
        for (s, end) in [
            (&b">rest"[..], Some(1)),
            (b"->rest", Some(2)),
            (b"-->", Some(3)),
            (b" a -- b -->", Some(11)),
            (b" a --!>x", Some(7)),
            (b" a ---->x", Some(8)),
            (b" <!-- nested -->x", Some(16)),
            (b" a -- > b", None),
            (b" a ->", None),
        ] {
            let mut st = Comment::Start;
            assert_eq!(scan_comment(&mut st, s), end, "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn comment_resumes_across_slices() {
        let s = b" x --!- y --->z";
        let whole = {
            let mut st = Comment::Start;
            scan_comment(&mut st, s)
        };
        for split in 0..s.len() {
            let mut st = Comment::Start;
            let got = match scan_comment(&mut st, &s[..split]) {
                Some(n) => Some(n),
                None => scan_comment(&mut st, &s[split..]).map(|n| n + split),
            };
            assert_eq!(got, whole, "split {split}");
        }
    }

    #[test]
    fn cdata_ends_at_brackets_gt() {
        let mut n = 0;
        assert_eq!(scan_cdata(&mut n, b"a]b]]c]]]>d"), Some(10));
        let mut n = 0;
        assert_eq!(scan_cdata(&mut n, b"a]"), None);
        assert_eq!(scan_cdata(&mut n, b"]>"), Some(2));
    }

    #[test]
    fn raw_text_ends_at_its_own_tag_only() {
        assert_eq!(find_end_tag(b"a</b></style>", b"style"), RawEnd::Found(5));
        assert_eq!(find_end_tag(b"a</styles></Style >", b"style"), RawEnd::Found(10));
        assert_eq!(find_end_tag(b"a</sty", b"style"), RawEnd::NeedMore(1));
        assert_eq!(find_end_tag(b"a<b>", b"style"), RawEnd::NotFound);
    }

    #[test]
    fn script_escapes() {
        assert_eq!(script_end(b"x='<a>';</script>"), RawEnd::Found(8));
        assert_eq!(script_end(b"<!-- x </script> y"), RawEnd::Found(7));
        // Double escape: the inner </script> does not end the element.
        let s = b"<!-- document.write('<script>x</script>') --></script>";
        assert_eq!(script_end(s), RawEnd::Found(45));
        let s = b"<!-- <script> </script> <a href=/x> --> </script>";
        assert_eq!(script_end(s), RawEnd::Found(40));
        // "-->" inside the double escape goes back to plain script data.
        let s = b"<!-- <script> --> </script>";
        assert_eq!(script_end(s), RawEnd::Found(18));
        assert_eq!(script_end(b"a <!-"), RawEnd::NeedMore(2));
        assert_eq!(script_end(b"a </scr"), RawEnd::NeedMore(2));
        assert_eq!(script_end(b"<!--<scr"), RawEnd::NeedMore(4));
    }

    #[test]
    fn script_resumes_across_slices() {
        let s: &[u8] = b"if(a<b){}<!-- w('<script>x</script>') - -- --> y</script>z";
        let whole = script_end(s);
        for split in 0..s.len() {
            let mut st = Script::Data;
            let got = match scan_script(&mut st, &s[..split]) {
                RawEnd::Found(n) => RawEnd::Found(n),
                RawEnd::NeedMore(k) => match scan_script(&mut st, &s[k..]) {
                    RawEnd::Found(n) => RawEnd::Found(n + k),
                    other => other,
                },
                RawEnd::NotFound => match scan_script(&mut st, &s[split..]) {
                    RawEnd::Found(n) => RawEnd::Found(n + split),
                    other => other,
                },
            };
            assert_eq!(got, whole, "split {split}");
        }
    }
}
