//! Where a token travels on a request: the query string, a form field in a request body
//! (`application/x-www-form-urlencoded`, `multipart/form-data` or `text/plain`, whatever the
//! method), or a header. This module finds it and removes it, so the upstream never sees a token.
//!
//! Field names are read as apps read them (see `url::take_pairs`): a name any common framework
//! reads as the parameter is the parameter. A body that may still hold the parameter after that
//! (a multipart part this module cannot delimit) cannot be cleaned: the request is refused.

use crate::url::{php_name, take_pairs};
use memchr::memmem;

/// The form encodings that can carry the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormEncoding {
    UrlEncoded,
    Multipart { boundary: String },
    /// `enctype="text/plain"`: `name=value` lines, nothing escaped.
    TextPlain,
    /// A multipart `Content-Type` that names `boundary` more than once: apps pick different
    /// ones (PHP the first substring), so the body cannot be cleaned for all of them.
    AmbiguousMultipart,
}

/// A token taken out of a form body.
#[derive(Debug, PartialEq, Eq)]
pub struct Taken {
    pub token: Option<String>,
    /// The body without the field; `None` when the body is unchanged.
    pub body: Option<Vec<u8>>,
}

/// A body that may still carry the parameter after every field of it was taken out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unclean;

impl FormEncoding {
    /// The encoding named by a request's `Content-Type`, if it is a form.
    pub fn from_content_type(content_type: &str) -> Option<FormEncoding> {
        let mut parts = content_type.split(';');
        let media = parts.next()?.trim();
        if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Some(FormEncoding::UrlEncoded);
        }
        if media.eq_ignore_ascii_case("text/plain") {
            return Some(FormEncoding::TextPlain);
        }
        if !media.eq_ignore_ascii_case("multipart/form-data") {
            return None;
        }
        if content_type.to_ascii_lowercase().matches("boundary").count() > 1 {
            return Some(FormEncoding::AmbiguousMultipart);
        }
        // RFC 2046 allows 70 characters; servers read longer ones, so this does too.
        let boundary = parts.find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"'))
        })?;
        (!boundary.is_empty()).then(|| FormEncoding::Multipart { boundary: boundary.to_string() })
    }

    /// Finds the `param` field and removes every occurrence of it from the body.
    pub fn take_token(&self, body: &[u8], param: &str) -> Result<Taken, Unclean> {
        match self {
            FormEncoding::UrlEncoded => {
                let taken = take_pairs(body, param);
                Ok(Taken { token: taken.values.into_iter().next(), body: taken.rest })
            }
            FormEncoding::TextPlain => Ok(take_text_plain(body, param)),
            FormEncoding::Multipart { boundary } => take_multipart(body, boundary, param),
            FormEncoding::AmbiguousMultipart if find_ascii_ci(body, param.as_bytes(), |_| true).is_some() => Err(Unclean),
            FormEncoding::AmbiguousMultipart => Ok(Taken { token: None, body: None }),
        }
    }
}

/// `text/plain` bodies are lines `name=value` ending in CRLF (browsers write no escapes): the
/// parameter's lines go.
fn take_text_plain(body: &[u8], param: &str) -> Taken {
    let mut token = None;
    let mut kept = Vec::with_capacity(body.len());
    let mut changed = false;
    for line in body.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        let (name, value) = match memchr::memchr(b'=', content) {
            Some(eq) => (content.get(..eq).unwrap_or_default(), content.get(eq + 1..).unwrap_or_default()),
            None => (content, &b""[..]),
        };
        if name == param.as_bytes() {
            token.get_or_insert_with(|| String::from_utf8_lossy(value).into_owned());
            changed = true;
        } else {
            kept.extend_from_slice(line);
        }
    }
    Taken { token, body: changed.then_some(kept) }
}

/// Parts are delimited by `--boundary`; the part to drop runs from its delimiter up to the next.
/// Lines may end in CRLF or, as some clients write them, LF alone.
fn take_multipart(body: &[u8], boundary: &str, param: &str) -> Result<Taken, Unclean> {
    let delimiter = format!("--{boundary}");
    let starts: Vec<usize> = memmem::find_iter(body, delimiter.as_bytes()).collect();
    let mut token = None;
    let mut kept = Vec::with_capacity(body.len());
    let mut copied_to = 0;
    for window in starts.windows(2) {
        let (start, end) = match window {
            [s, e] => (*s, *e),
            _ => continue,
        };
        let part = body.get(start..end).unwrap_or_default();
        if let Some(value) = multipart_field_value(part, param) {
            token.get_or_insert(value);
            kept.extend_from_slice(body.get(copied_to..start).unwrap_or_default());
            copied_to = end;
        }
    }
    kept.extend_from_slice(body.get(copied_to..).unwrap_or_default());
    if names_param(&kept, delimiter.as_bytes(), param) {
        return Err(Unclean);
    }
    let changed = copied_to > 0;
    Ok(Taken { token, body: changed.then_some(kept) })
}

/// The value of a part named `param`: headers end at the first blank line; the value ends with the
/// line break before the next delimiter.
fn multipart_field_value(part: &[u8], param: &str) -> Option<String> {
    let (header_end, blank) = [&b"\r\n\r\n"[..], b"\n\n"]
        .iter()
        .filter_map(|blank| memmem::find(part, blank).map(|at| (at, blank.len())))
        .min()?;
    let headers = part.get(..header_end)?;
    let named = headers.split(|&b| b == b'\n').any(|line| disposition_name(line).is_some_and(|n| field_is(&n, param)));
    if !named {
        return None;
    }
    let value = part.get(header_end + blank..)?;
    let value = value.strip_suffix(b"\n").unwrap_or(value);
    let value = value.strip_suffix(b"\r").unwrap_or(value);
    Some(String::from_utf8_lossy(value).into_owned())
}

/// The `name` of a `Content-Disposition: form-data; name="..."` header line, unquoted.
fn disposition_name(line: &[u8]) -> Option<Vec<u8>> {
    let (header, params) = line.split_at(memchr::memchr(b':', line)?);
    if !header.trim_ascii().eq_ignore_ascii_case(b"content-disposition") {
        return None;
    }
    let at = name_param(params)?;
    Some(name_value(params.get(at..)?))
}

/// Where the value of the first `name=` parameter starts (`name = ` too, as Go reads it; not
/// `filename=`).
fn name_param(params: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = find_ascii_ci(params.get(from..)?, b"name", |b| b.is_none_or(|b| !b.is_ascii_alphanumeric())) {
        let after = from + at + 4;
        let rest = params.get(after..)?;
        let spaces = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if rest.get(spaces) == Some(&b'=') {
            return Some(after + spaces + 1);
        }
        from = after;
    }
    None
}

/// The value after `name=`: a quoted string (with `\` escapes) or a bare token.
fn name_value(value: &[u8]) -> Vec<u8> {
    let value = value.trim_ascii_start();
    let Some(quoted) = value.strip_prefix(b"\"") else {
        return value.iter().take_while(|&&b| b != b';' && !b.is_ascii_whitespace()).copied().collect();
    };
    let mut name = Vec::new();
    let mut bytes = quoted.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'"' => break,
            b'\\' => name.extend(bytes.next()),
            _ => name.push(b),
        }
    }
    name
}

/// The first `needle` in `hay` (ASCII case-insensitive) whose preceding byte passes `before`
/// (`filename=` is not `name=`).
fn find_ascii_ci(hay: &[u8], needle: &[u8], before: impl Fn(Option<u8>) -> bool) -> Option<usize> {
    (0..hay.len()).find(|&i| {
        hay.get(i..i + needle.len()).is_some_and(|w| w.eq_ignore_ascii_case(needle))
            && before(i.checked_sub(1).and_then(|p| hay.get(p)).map(u8::to_ascii_lowercase))
    })
}

/// Multipart field names are not percent-decoded by frameworks; PHP still reads `a[]` as `a`.
fn field_is(name: &[u8], param: &str) -> bool {
    name == param.as_bytes() || php_name(name) == param.as_bytes()
}

/// Does a part left in the body still name the parameter where its headers are (the whole part
/// when it has no blank line)? Then the part was not read as the app may read it (a folded header,
/// the name in another header).
fn names_param(body: &[u8], delimiter: &[u8], param: &str) -> bool {
    memmem::find_iter(body, delimiter).any(|start| {
        let part = body.get(start..).unwrap_or_default();
        let end = memmem::find(part.get(delimiter.len()..).unwrap_or_default(), delimiter).map_or(part.len(), |e| e + delimiter.len());
        let part = part.get(..end).unwrap_or(part);
        let headers = [&b"\r\n\r\n"[..], b"\n\n"].iter().filter_map(|blank| memmem::find(part, blank)).min().unwrap_or(part.len());
        names_in(part.get(..headers).unwrap_or(part), param)
    })
}

/// A `name=` (ASCII case-insensitive, not `filename=`) anywhere in `headers` whose value is the
/// parameter as a field name.
/// A `name*=` (RFC 2231/5987, read by Go) anywhere beside the parameter's name counts too.
fn names_in(headers: &[u8], param: &str) -> bool {
    let extended = find_ascii_ci(headers, b"name*", |_| true).is_some();
    if extended && find_ascii_ci(headers, param.as_bytes(), |_| true).is_some() {
        return true;
    }
    let mut from = 0;
    while let Some(at) = headers.get(from..).and_then(name_param) {
        if field_is(&name_value(headers.get(from + at..).unwrap_or_default()), param) {
            return true;
        }
        from += at;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            FormEncoding::from_content_type("application/x-www-form-urlencoded; charset=UTF-8"),
            Some(FormEncoding::UrlEncoded)
        );
        assert_eq!(
            FormEncoding::from_content_type("multipart/form-data; boundary=\"----abc\""),
            Some(FormEncoding::Multipart { boundary: "----abc".into() })
        );
        assert_eq!(FormEncoding::from_content_type("multipart/form-data"), None);
        assert_eq!(FormEncoding::from_content_type("text/plain;charset=UTF-8"), Some(FormEncoding::TextPlain));
        let long = "b".repeat(200);
        assert_eq!(
            FormEncoding::from_content_type(&format!("multipart/form-data; boundary={long}")),
            Some(FormEncoding::Multipart { boundary: long })
        );
        assert_eq!(FormEncoding::from_content_type("application/json"), None);
    }

    #[test]
    fn urlencoded_token_is_taken_out() {
        let taken = FormEncoding::UrlEncoded.take_token(b"name=Ada&sessionid=TOK&csrf=c", "sessionid").unwrap();
        assert_eq!(taken.token.as_deref(), Some("TOK"));
        assert_eq!(taken.body.as_deref(), Some(&b"name=Ada&csrf=c"[..]));
        let untouched = FormEncoding::UrlEncoded.take_token(b"name=Ada", "sessionid").unwrap();
        assert_eq!(untouched, Taken { token: None, body: None });
    }

    fn multipart(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut body = String::new();
        for (name, value) in fields {
            body += &format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n");
        }
        body += "--XyZ--\r\n";
        body.into_bytes()
    }

    #[test]
    fn multipart_token_is_taken_out_wherever_it_is() {
        let encoding = FormEncoding::Multipart { boundary: "XyZ".into() };
        for fields in [
            vec![("sessionid", "TOK"), ("name", "Ada")],
            vec![("name", "Ada"), ("sessionid", "TOK")],
            vec![("a", "1"), ("sessionid", "TOK"), ("b", "2")],
        ] {
            let taken = encoding.take_token(&multipart(&fields), "sessionid").unwrap();
            assert_eq!(taken.token.as_deref(), Some("TOK"));
            let rest: Vec<_> = fields.iter().copied().filter(|(n, _)| *n != "sessionid").collect();
            assert_eq!(taken.body.unwrap(), multipart(&rest));
        }
        let none = encoding.take_token(&multipart(&[("name", "sessionid")]), "sessionid").unwrap();
        assert_eq!(none, Taken { token: None, body: None });
    }

    #[test]
    fn garbage_bodies_yield_nothing() {
        let encoding = FormEncoding::Multipart { boundary: "XyZ".into() };
        assert_eq!(encoding.take_token(b"--XyZ\r\nno headers end", "sessionid").unwrap().token, None);
        assert_eq!(FormEncoding::UrlEncoded.take_token(&[0xff, 0x00], "sessionid").unwrap().token, None);
    }

    #[test]
    fn text_plain_lines_of_the_parameter_go() {
        let taken = FormEncoding::TextPlain.take_token(b"name=Ada\r\nsessionid=TOK\r\nnote=a=b\r\n", "sessionid").unwrap();
        assert_eq!(taken.token.as_deref(), Some("TOK"));
        assert_eq!(taken.body.as_deref(), Some(&b"name=Ada\r\nnote=a=b\r\n"[..]));
        let last = FormEncoding::TextPlain.take_token(b"a=1\r\nsessionid=TOK", "sessionid").unwrap();
        assert_eq!(last.body.as_deref(), Some(&b"a=1\r\n"[..]));
        assert_eq!(FormEncoding::TextPlain.take_token(b"xsessionid=1\r\n", "sessionid").unwrap().body, None);
    }

    #[test]
    fn multipart_with_lf_lines_php_names_and_quoted_names() {
        let encoding = FormEncoding::Multipart { boundary: "XyZ".into() };
        let lf = b"--XyZ\nContent-Disposition: form-data; name=\"a\"\n\n1\n--XyZ\ncontent-disposition: form-data; name=sessionid\n\nTOK\n--XyZ--\n";
        let taken = encoding.take_token(lf, "sessionid").unwrap();
        assert_eq!(taken.token.as_deref(), Some("TOK"));
        assert_eq!(taken.body.as_deref(), Some(&b"--XyZ\nContent-Disposition: form-data; name=\"a\"\n\n1\n--XyZ--\n"[..]));
        let php = multipart(&[("sessionid[]", "TOK"), ("a", "1")]);
        assert_eq!(encoding.take_token(&php, "sessionid").unwrap().body.unwrap(), multipart(&[("a", "1")]));
        // A file named like the parameter is not the parameter.
        let file = b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"sessionid\"\r\n\r\nx\r\n--XyZ--\r\n";
        assert_eq!(encoding.take_token(file, "sessionid").unwrap().body, None);
        // Fields merely starting with the parameter's name stay.
        let other = multipart(&[("sessionid_hint", "x")]);
        assert_eq!(encoding.take_token(&other, "sessionid").unwrap().body, None);
    }

    #[test]
    fn names_go_reads_and_ambiguous_boundaries_are_unclean() {
        let encoding = FormEncoding::Multipart { boundary: "XyZ".into() };
        let spaced = b"--XyZ\r\nContent-Disposition: form-data; name = \"sessionid\"\r\n\r\nTOK\r\n--XyZ--\r\n";
        let taken = encoding.take_token(spaced, "sessionid").unwrap();
        assert_eq!(taken.token.as_deref(), Some("TOK"));
        let extended = b"--XyZ\r\nContent-Disposition: form-data; name*=UTF-8''sessionid\r\n\r\nTOK\r\n--XyZ--\r\n";
        assert_eq!(encoding.take_token(extended, "sessionid"), Err(Unclean));
        let two = FormEncoding::from_content_type("multipart/form-data; xboundary=AAA; boundary=BBB");
        assert_eq!(two, Some(FormEncoding::AmbiguousMultipart));
        let two = two.unwrap();
        assert_eq!(two.take_token(b"--AAA\r\n...sessionid...", "sessionid"), Err(Unclean));
        assert_eq!(two.take_token(b"--AAA\r\n...", "sessionid"), Ok(Taken { token: None, body: None }));
    }

    #[test]
    fn a_part_that_cannot_be_delimited_is_unclean() {
        let encoding = FormEncoding::Multipart { boundary: "XyZ".into() };
        // A folded header line: some parsers unfold it and read the name.
        let folded = b"--XyZ\r\nContent-Disposition: form-data;\r\n name=\"sessionid\"\r\n\r\nTOK\r\n--XyZ--\r\n";
        assert_eq!(encoding.take_token(folded, "sessionid"), Err(Unclean));
        // A part whose headers never end.
        let open = b"--XyZ\r\nContent-Disposition: form-data; name=\"sessionid\"\r\nTOK";
        assert_eq!(encoding.take_token(open, "sessionid"), Err(Unclean));
    }
}
