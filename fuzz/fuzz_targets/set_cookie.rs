//! Fuzzes reading cookies: `parse_set_cookie` (the upstream's `Set-Cookie`, folded into a jar) and
//! `parse_cookie_header` (the browser's `Cookie`). Holds on any input: no panic; a change always
//! names a non-empty cookie; a jar built from header values (no CR, LF or NUL, as HTTP carries
//! them) survives its stored encoding unchanged; the `Cookie` header a jar sends upstream reads
//! back as the jar's names; `Jar::fits` is what it says.
//!
//! Input layout: bytes 0..8 = `now` (little endian), the rest = header text; `\n` separates
//! several `Set-Cookie` values folded into one jar.
//! Run: `cargo +nightly fuzz run set_cookie`.
#![no_main]

use cookieless::cookies::{parse_cookie_header, parse_set_cookie, JarChange};
use cookieless::jar::{Jar, MAX_JAR_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (now, text) = match data.split_first_chunk::<8>() {
        Some((now, rest)) => (u64::from_le_bytes(*now), rest),
        None => (1_790_000_000, data),
    };
    let text = String::from_utf8_lossy(text);

    // The browser's header: names are trimmed and non-empty, and come from the input.
    for (name, value) in parse_cookie_header(&text) {
        assert!(!name.is_empty());
        assert_eq!(name, name.trim());
        assert_eq!(value, value.trim());
        assert!(!name.contains(';') && !value.contains(';'));
    }

    let mut jar = Jar::default();
    let mut expected = std::collections::BTreeMap::new();
    for header in text.split('\n') {
        let change = parse_set_cookie(header, now);
        let Some(change) = change else { continue };
        match &change {
            JarChange::Set { name, value } => {
                assert!(!name.is_empty(), "a cookie without a name from {header:?}");
                expected.insert(name.clone(), value.clone());
            }
            JarChange::Delete { name } => {
                assert!(!name.is_empty(), "a deletion without a name from {header:?}");
                expected.remove(name);
            }
        }
        let had = jar.clone();
        let changed = jar.apply(change);
        assert_eq!(changed, had != jar, "apply() said {changed} for {header:?}");
    }
    for (name, value) in &expected {
        assert_eq!(jar.get(name), Some(value.as_str()));
    }
    assert_eq!(jar.is_empty(), expected.is_empty());

    let size: usize = expected.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
    assert_eq!(jar.fits(), size <= MAX_JAR_BYTES);

    // What HTTP can carry in a header value: no CR, LF or NUL. Such jars must store and load back.
    let http_safe = !text.contains(['\r', '\0']);
    if http_safe {
        assert_eq!(Jar::decode(&jar.encode()).as_ref(), Some(&jar), "the jar did not survive the store: {text:?}");
        let header = jar.cookie_header(None);
        let names: Vec<&str> = parse_cookie_header(&header).map(|(n, _)| n).collect();
        let jar_names: Vec<&str> = expected.keys().map(String::as_str).collect();
        assert_eq!(names, jar_names, "the upstream would see other cookies: {header:?}");
    }
});
