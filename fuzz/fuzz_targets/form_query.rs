//! Fuzzes finding and removing the token in a request: `query_value` / `strip_query_param` on the
//! path, and `FormEncoding` (`from_content_type`, `take_token`) on a form body. Holds on any
//! input: no panic; after removal no token is left (removing again changes nothing), the other
//! pairs keep their order, and a token is reported exactly when something was removed.
//!
//! Input layout: byte 0 = which parameter name, byte 1 = which content type, then the path and
//! the body separated by the first `\0`.
//! Run: `cargo +nightly fuzz run form_query`.
#![no_main]

use cookieless::transport::FormEncoding;
use cookieless::url::{query_value, strip_query_param};
use libfuzzer_sys::fuzz_target;

const PARAMS: [&str; 4] = ["sessionid", "s", "a.b~c-d_e", "x"];

fn content_type(selector: u8, body: &[u8]) -> String {
    match selector % 6 {
        0 => "application/x-www-form-urlencoded".into(),
        1 => "application/x-www-form-urlencoded; charset=UTF-8".into(),
        2 => "multipart/form-data; boundary=XyZ".into(),
        3 => "multipart/form-data; boundary=\"--b\"".into(),
        // A boundary from the body's first line, as a browser would pick one that occurs in it.
        4 => {
            let first = body.split(|b| *b == b'\r' || *b == b'\n').next().unwrap_or_default();
            let first = String::from_utf8_lossy(first);
            format!("multipart/form-data; boundary={}", first.trim_start_matches('-'))
        }
        _ => String::from_utf8_lossy(body.get(..body.len().min(80)).unwrap_or_default()).into_owned(),
    }
}

fuzz_target!(|data: &[u8]| {
    let (Some(&p), Some(&c)) = (data.first(), data.get(1)) else { return };
    let param = PARAMS[usize::from(p) % PARAMS.len()];
    let rest = &data[2..];
    let (path, body) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let path = String::from_utf8_lossy(path);

    // Query. Envoy refuses paths with a fragment, so the removal properties are checked without one.
    let value = query_value(&path, param);
    let stripped = strip_query_param(&path, param);
    if !path.contains('#') {
        assert_eq!(value.is_some(), stripped.is_some(), "found and removed disagree on {path:?}");
    }
    if let Some(stripped) = &stripped {
        assert!(stripped.len() < path.len());
        if !path.contains('#') {
            assert_eq!(query_value(stripped, param), None, "{path:?} -> {stripped:?} still has it");
        }
        assert_eq!(strip_query_param(stripped, param), None, "removing twice changed {stripped:?}");
        let (base, _) = path.split_once('?').unwrap_or((&path, ""));
        assert!(stripped.starts_with(base));
        let kept: Vec<&str> = path
            .split_once('?')
            .map(|(_, q)| q.split('&').filter(|pair| pair.split('=').next() != Some(param)).collect())
            .unwrap_or_default();
        let now: Vec<&str> = stripped.split_once('?').map(|(_, q)| q.split('&').collect()).unwrap_or_default();
        if !kept.iter().all(|k| k.is_empty()) || !now.is_empty() {
            assert_eq!(kept, now, "other pairs changed: {path:?} -> {stripped:?}");
        }
    }

    // Form body.
    let content_type = content_type(c, body);
    let Some(encoding) = FormEncoding::from_content_type(&content_type) else { return };
    let taken = encoding.take_token(body, param);
    assert_eq!(taken.token.is_some(), taken.body.is_some(), "a token without removal, or the reverse");
    if let Some(new_body) = &taken.body {
        assert!(new_body.len() < body.len(), "the body did not shrink");
        let again = encoding.take_token(new_body, param);
        assert_eq!(again.token, None, "a token left in {:?}", String::from_utf8_lossy(new_body));
        assert_eq!(again.body, None);
    }
    if encoding == FormEncoding::UrlEncoded {
        if let (Ok(text), Some(new_body)) = (std::str::from_utf8(body), &taken.body) {
            let kept: Vec<&str> = text.split('&').filter(|pair| pair.split('=').next() != Some(param)).collect();
            assert_eq!(kept.join("&").as_bytes(), new_body.as_slice());
        }
    }
});
