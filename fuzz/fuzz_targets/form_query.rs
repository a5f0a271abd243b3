//! Fuzzes finding and removing the token in a request: `take_query_param` on the path, and
//! `FormEncoding` (`from_content_type`, `take_token`) on a form body. Holds on any input: no
//! panic; a token is reported exactly when something was removed; after removal nothing the
//! frameworks would read as the parameter is left (taking again finds nothing), the path before
//! the query is kept; a body is either cleaned or refused (`Unclean`), never passed with it.
//!
//! Input layout: byte 0 = which parameter name, byte 1 = which content type, then the path and
//! the body separated by the first `\0`.
//! Run: `cargo +nightly fuzz run form_query`.
#![no_main]

use cookieless::transport::FormEncoding;
use cookieless::url::take_query_param;
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

    // Query.
    let (values, stripped) = take_query_param(path, param);
    assert_eq!(values.is_empty(), stripped.is_none(), "found and removed disagree on {path:?}");
    if let Some(stripped) = &stripped {
        assert!(stripped.len() < path.len());
        assert_eq!(take_query_param(stripped, param), (Vec::new(), None), "{path:?} -> {stripped:?} still has it");
        let base = path.split(|b| *b == b'?').next().unwrap_or_default();
        assert!(stripped.starts_with(base));
    }

    // Form body.
    let content_type = content_type(c, body);
    let Some(encoding) = FormEncoding::from_content_type(&content_type) else { return };
    let Ok(taken) = encoding.take_token(body, param) else { return };
    if taken.token.is_some() {
        assert!(taken.body.is_some(), "a token without removal");
    }
    if let Some(new_body) = &taken.body {
        assert!(new_body.len() < body.len(), "the body did not shrink");
        let again = encoding.take_token(new_body, param).unwrap_or_else(|_| panic!("a cleaned body is unclean"));
        assert_eq!(again.token, None, "a token left in {:?}", String::from_utf8_lossy(new_body));
        assert_eq!(again.body, None);
    }
});
