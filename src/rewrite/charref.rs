//! Attribute values as the browser reads them: character references decoded before any decision,
//! so that `href="git-fsmonitor&#45;&#45;daemon.html"` is the relative link it is and
//! `href="http&#58;//evil.example/"` the foreign one.
//!
//! Only references that stand for ASCII are decoded (numeric ones below 0x80, and the named ones
//! in [`ASCII_REFS`]); every other reference stays as written. That is exact for every decision
//! made here: a non-ASCII character can be neither URL syntax (`:`, `/`, `?`, `#`, `\`, tab) nor
//! part of a host we compare equal, and leaving it encoded keeps its `&` where it makes a scheme
//! or host invalid, as the decoded character would. Decoding follows the HTML standard's rules
//! for attribute values: legacy names need no `;` unless an alphanumeric or `=` follows.

use std::borrow::Cow;

/// Named references that stand for ASCII text (all need their `;`), with what they stand for.
const ASCII_REFS: &[(&[u8], &[u8])] = &[
    (b"Tab", b"\t"), (b"NewLine", b"\n"), (b"excl", b"!"), (b"quot", b"\""), (b"QUOT", b"\""),
    (b"num", b"#"), (b"dollar", b"$"), (b"percnt", b"%"), (b"amp", b"&"), (b"AMP", b"&"),
    (b"apos", b"'"), (b"lpar", b"("), (b"rpar", b")"), (b"ast", b"*"), (b"midast", b"*"),
    (b"plus", b"+"), (b"comma", b","), (b"period", b"."), (b"sol", b"/"), (b"colon", b":"),
    (b"semi", b";"), (b"lt", b"<"), (b"LT", b"<"), (b"equals", b"="), (b"gt", b">"), (b"GT", b">"),
    (b"quest", b"?"), (b"commat", b"@"), (b"lsqb", b"["), (b"lbrack", b"["), (b"bsol", b"\\"),
    (b"rsqb", b"]"), (b"rbrack", b"]"), (b"Hat", b"^"), (b"lowbar", b"_"), (b"UnderBar", b"_"),
    (b"grave", b"`"), (b"DiacriticalGrave", b"`"), (b"lcub", b"{"), (b"lbrace", b"{"),
    (b"verbar", b"|"), (b"vert", b"|"), (b"VerticalLine", b"|"), (b"rcub", b"}"),
    (b"rbrace", b"}"), (b"fjlig", b"fj"),
];

/// Legacy references that browsers also decode without `;`.
const LEGACY_ASCII_REFS: &[&[u8]] = &[b"amp", b"AMP", b"lt", b"LT", b"gt", b"GT", b"quot", b"QUOT"];

/// An attribute value after decoding, and the same value written so that every decoded
/// character has a place of its own (`written`): what a rewrite edits and writes back.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Decoded<'r> {
    pub text: Cow<'r, [u8]>,
    /// The value as written, with each decoded reference written again one character at a time
    /// (`&amp;` for `&`, `&#NN;` for what could end or confuse a value): it reads as `text`, and
    /// a `&` hidden as `&#38;` is now a visible separator. Bytes that were not references stay.
    pub written: Cow<'r, [u8]>,
    /// `written_at[i]`: where decoded byte `i` starts in `written`; one more entry for the end.
    /// `None`: nothing was decoded, positions are equal.
    written_at: Option<Vec<usize>>,
}

impl Decoded<'_> {
    /// Where decoded position `i` (0..=len) starts in `written`.
    pub fn written_pos(&self, i: usize) -> usize {
        match &self.written_at {
            None => i.min(self.text.len()),
            Some(at) => at.get(i).or(at.last()).copied().unwrap_or(0),
        }
    }
}

/// The value as the browser reads it. Without any `&`, it is the raw value itself.
pub(super) fn decode(raw: &[u8]) -> Decoded<'_> {
    if memchr::memchr2(b'&', 0, raw).is_none() {
        return Decoded { text: Cow::Borrowed(raw), written: Cow::Borrowed(raw), written_at: None };
    }
    let mut text = Vec::with_capacity(raw.len());
    let mut written = Vec::with_capacity(raw.len() + 8);
    let mut written_at = Vec::with_capacity(raw.len() + 1);
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let found = if b == b'&' { reference(raw.get(i + 1..).unwrap_or_default()) } else { None };
        if b == 0 {
            // The tokenizer reads NUL in an attribute value as U+FFFD; it stays NUL as written.
            for &c in "\u{fffd}".as_bytes() {
                text.push(c);
                written_at.push(written.len());
            }
            written.push(0);
            i += 1;
            continue;
        }
        match found {
            Some((len, chars)) => {
                for &c in chars.as_slice() {
                    text.push(c);
                    written_at.push(written.len());
                    write_char(c, ends_in_open_reference(&written), &mut written);
                }
                i += 1 + len;
            }
            None => {
                text.push(b);
                written_at.push(written.len());
                written.push(b);
                i += 1;
            }
        }
    }
    written_at.push(written.len());
    Decoded { text: Cow::Owned(text), written: Cow::Owned(written), written_at: Some(written_at) }
}

/// The reference that writes `b` where the byte itself could end or confuse an attribute value
/// in some quoting style (or start a reference); `None` for every other byte.
pub(super) fn reference_for(b: u8) -> Option<&'static [u8]> {
    Some(match b {
        b'&' => b"&amp;",
        b'"' => b"&quot;",
        b'\'' => b"&#39;",
        b'<' => b"&lt;",
        b'>' => b"&gt;",
        b'=' => b"&#61;",
        b'`' => b"&#96;",
        _ => return None,
    })
}

/// Does `written` end in a reference left as written without its `;` (`&#128`, `&eacute`), which a
/// following letter, digit or `;` would extend?
fn ends_in_open_reference(written: &[u8]) -> bool {
    let Some(amp) = written.iter().rposition(|&b| b == b'&') else {
        return false;
    };
    let tail = written.get(amp + 1..).unwrap_or_default();
    let tail = tail.strip_prefix(b"#").unwrap_or(tail);
    tail.iter().all(u8::is_ascii_alphanumeric) && !written.ends_with(b"&amp;")
}

/// A decoded ASCII character written back: as itself where it cannot end or confuse a value in
/// any quoting, is no reference, and does not extend one before it; else as `&amp;` or `&#NN;`.
fn write_char(c: u8, after_open_reference: bool, out: &mut Vec<u8>) {
    let extends = after_open_reference && (c.is_ascii_alphanumeric() || c == b';');
    if !extends && (c.is_ascii_alphanumeric() || b"-._~:/?#[]@!$()*+,;%".contains(&c)) {
        out.push(c);
    } else if c == b'&' {
        out.extend_from_slice(b"&amp;");
    } else {
        out.extend_from_slice(format!("&#{c};").as_bytes());
    }
}

/// Up to two ASCII bytes a reference stands for.
struct Chars {
    bytes: [u8; 2],
    len: usize,
}

impl Chars {
    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// The reference that starts after an `&`: how many bytes it takes (after the `&`) and the ASCII
/// it stands for; `None` when it is not one that decodes to ASCII.
fn reference(s: &[u8]) -> Option<(usize, Chars)> {
    if let Some(num) = s.strip_prefix(b"#") {
        let (len, value) = numeric(num)?;
        // `&#0;` stands for U+FFFD (not ASCII): left as written, like other non-ASCII.
        let byte = u8::try_from(value).ok().filter(|&v| (1..0x80).contains(&v))?;
        return Some((1 + len, Chars { bytes: [byte, 0], len: 1 }));
    }
    let name_len = s.iter().take_while(|b| b.is_ascii_alphanumeric()).count();
    let (name, after) = s.split_at(name_len);
    match after.first() {
        Some(b';') => {
            let (_, chars) = ASCII_REFS.iter().find(|(n, _)| *n == name)?;
            let mut bytes = [0; 2];
            for (slot, &c) in bytes.iter_mut().zip(chars.iter()) {
                *slot = c;
            }
            Some((name_len + 1, Chars { bytes, len: chars.len() }))
        }
        Some(b'=') => None,
        _ if LEGACY_ASCII_REFS.contains(&name) => {
            let (_, chars) = ASCII_REFS.iter().find(|(n, _)| *n == name)?;
            Some((name_len, Chars { bytes: [*chars.first()?, 0], len: 1 }))
        }
        _ => None,
    }
}

/// `&#...` after the `#`: decimal or `x`/`X` hex digits, `;` optional. Returns the bytes taken and
/// the value (saturating: a huge value is simply not ASCII).
fn numeric(s: &[u8]) -> Option<(usize, u32)> {
    let (skip, radix) = match s.first() {
        Some(b'x' | b'X') => (1, 16),
        _ => (0, 10),
    };
    let digits = s.get(skip..).unwrap_or_default();
    let count = digits.iter().take_while(|&&b| char::from(b).is_digit(radix)).count();
    if count == 0 {
        return None;
    }
    let value = digits.iter().take(count).fold(0u32, |v, &b| {
        let d = char::from(b).to_digit(radix).unwrap_or(0);
        v.saturating_mul(radix).saturating_add(d)
    });
    let semicolon = usize::from(digits.get(count) == Some(&b';'));
    Some((skip + count + semicolon, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(raw: &str) -> String {
        String::from_utf8(decode(raw.as_bytes()).text.into_owned()).unwrap()
    }

    #[test]
    fn ascii_references_are_decoded() {
        for (raw, want) in [
            ("http&#58;//evil", "http://evil"),
            ("http&#x3a;//evil", "http://evil"),
            ("http&#X3A//evil", "http://evil"),
            ("http&colon;//evil", "http://evil"),
            ("&sol;&sol;evil", "//evil"),
            ("&num;x", "#x"),
            ("a&lt b", "a< b"),
            ("&#00000000000000000000000047;", "/"),
            ("&AMP;x", "&x"),
            ("&fjlig;", "fj"),
            ("git-fsmonitor&#45;&#45;daemon.html", "git-fsmonitor--daemon.html"),
            ("/x?a=1&amp;b=2", "/x?a=1&b=2"),
            ("java&Tab;script:", "java\tscript:"),
        ] {
            assert_eq!(text(raw), want, "{raw}");
        }
    }

    #[test]
    fn other_references_stay_as_written() {
        for raw in [
            "/x?a=1&b=2",
            "/caf&eacute;",
            "&#233;",
            "&#x80;",
            "&#0;",
            "&ampsessionid=1",
            "&lt=1",
            "&colon",
            "&#;",
            "&#x;",
            "&",
            "&#99999999999999999999999;",
        ] {
            assert_eq!(text(raw), raw, "{raw}");
        }
    }

    #[test]
    fn a_written_character_never_extends_a_reference_left_before_it() {
        let d = decode(b"x&#0&#53;");
        assert_eq!(&d.text[..], b"x&#05");
        assert_eq!(&d.written[..], b"x&#0&#53;");
        let d = decode(b"&eacute&#59;");
        assert_eq!(&d.written[..], b"&eacute&#59;");
        assert_eq!(&decode(b"a&amp;b&#99;").written[..], b"a&amp;bc");
    }

    #[test]
    fn references_are_written_back_one_character_each() {
        let d = decode(b"a&#47;b&amp;c&#38;sessionid=OLD&#32;&eacute;");
        assert_eq!(&d.text[..], b"a/b&c&sessionid=OLD &eacute;");
        assert_eq!(&d.written[..], b"a/b&amp;c&amp;sessionid=OLD&#32;&eacute;");
        let at: Vec<usize> = (0..=3).map(|i| d.written_pos(i)).collect();
        assert_eq!(at, vec![0, 1, 2, 3]);
        assert_eq!(d.written_pos(4), 8, "after `&amp;`");
        assert_eq!(d.written_pos(d.text.len()), d.written.len());
        let d = decode(b"&fjlig;x");
        assert_eq!((&d.written[..], d.written_pos(2)), (&b"fjx"[..], 2));
        let plain = decode(b"/x?a=1");
        assert!(matches!(plain.written, Cow::Borrowed(_)) && plain.written_pos(3) == 3);
    }
}
