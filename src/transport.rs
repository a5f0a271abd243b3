//! Where a token travels on a request: the query string, a form field in a POST body
//! (`application/x-www-form-urlencoded` or `multipart/form-data`), or a header. This module finds
//! it and removes it, so the upstream never sees a token.

use crate::url::{query_value_in, without_param};
use memchr::memmem;

/// The two form encodings that can carry the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormEncoding {
    UrlEncoded,
    Multipart { boundary: String },
}

/// A token taken out of a form body.
#[derive(Debug, PartialEq, Eq)]
pub struct Taken {
    pub token: Option<String>,
    /// The body without the field; `None` when the body is unchanged.
    pub body: Option<Vec<u8>>,
}

impl FormEncoding {
    /// The encoding named by a request's `Content-Type`, if it is a form.
    pub fn from_content_type(content_type: &str) -> Option<FormEncoding> {
        let mut parts = content_type.split(';');
        let media = parts.next()?.trim();
        if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Some(FormEncoding::UrlEncoded);
        }
        if !media.eq_ignore_ascii_case("multipart/form-data") {
            return None;
        }
        let boundary = parts.find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"'))
        })?;
        (!boundary.is_empty() && boundary.len() <= 70)
            .then(|| FormEncoding::Multipart { boundary: boundary.to_string() })
    }

    /// Finds the `param` field and removes every occurrence of it from the body.
    pub fn take_token(&self, body: &[u8], param: &str) -> Taken {
        match self {
            FormEncoding::UrlEncoded => take_urlencoded(body, param),
            FormEncoding::Multipart { boundary } => take_multipart(body, boundary, param),
        }
    }
}

fn take_urlencoded(body: &[u8], param: &str) -> Taken {
    let Ok(text) = std::str::from_utf8(body) else {
        return Taken { token: None, body: None };
    };
    Taken {
        token: query_value_in(text, param).map(str::to_string),
        body: without_param(text, param).map(String::into_bytes),
    }
}

/// Parts are delimited by `--boundary`; the part to drop runs from its delimiter up to the next.
fn take_multipart(body: &[u8], boundary: &str, param: &str) -> Taken {
    let delimiter = format!("--{boundary}");
    let starts: Vec<usize> = memmem::find_iter(body, delimiter.as_bytes()).collect();
    let mut token = None;
    let mut kept = Vec::with_capacity(body.len());
    let mut changed = false;
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
            changed = true;
        }
    }
    if !changed {
        return Taken { token: None, body: None };
    }
    kept.extend_from_slice(body.get(copied_to..).unwrap_or_default());
    Taken { token, body: Some(kept) }
}

/// The value of a part named `param`: headers end at the first blank line; the value ends with the
/// CRLF before the next delimiter.
fn multipart_field_value(part: &[u8], param: &str) -> Option<String> {
    let header_end = memmem::find(part, b"\r\n\r\n")?;
    let headers = std::str::from_utf8(part.get(..header_end)?).ok()?;
    let named = headers.lines().any(|line| {
        let lower = line.to_ascii_lowercase();
        lower.starts_with("content-disposition:")
            && line.split(';').any(|attr| {
                attr.trim().strip_prefix("name=").map(|v| v.trim_matches('"')) == Some(param)
            })
    });
    if !named {
        return None;
    }
    let value = part.get(header_end + 4..)?;
    let value = value.strip_suffix(b"\r\n").unwrap_or(value);
    String::from_utf8(value.to_vec()).ok()
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
        assert_eq!(FormEncoding::from_content_type("application/json"), None);
    }

    #[test]
    fn urlencoded_token_is_taken_out() {
        let taken = FormEncoding::UrlEncoded.take_token(b"name=Ada&sessionid=TOK&csrf=c", "sessionid");
        assert_eq!(taken.token.as_deref(), Some("TOK"));
        assert_eq!(taken.body.as_deref(), Some(&b"name=Ada&csrf=c"[..]));
        let untouched = FormEncoding::UrlEncoded.take_token(b"name=Ada", "sessionid");
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
            let taken = encoding.take_token(&multipart(&fields), "sessionid");
            assert_eq!(taken.token.as_deref(), Some("TOK"));
            let rest: Vec<_> = fields.iter().copied().filter(|(n, _)| *n != "sessionid").collect();
            assert_eq!(taken.body.unwrap(), multipart(&rest));
        }
        let none = encoding.take_token(&multipart(&[("name", "sessionid")]), "sessionid");
        assert_eq!(none, Taken { token: None, body: None });
    }

    #[test]
    fn garbage_bodies_yield_nothing() {
        let encoding = FormEncoding::Multipart { boundary: "XyZ".into() };
        assert_eq!(encoding.take_token(b"--XyZ\r\nno headers end", "sessionid").token, None);
        assert_eq!(FormEncoding::UrlEncoded.take_token(&[0xff, 0x00], "sessionid").token, None);
    }
}
