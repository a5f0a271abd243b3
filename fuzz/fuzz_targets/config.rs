//! Fuzzes the plugin configuration parser, `Config::parse`. Holds on any input: no panic (a panic
//! in `on_configure` kills the VM instead of printing the one error line), the same answer twice,
//! an error that names what is wrong, and a configuration that, once accepted, is usable: a key
//! ring can be built from it and its routes answer for any path.
//!
//! Raw JSON rarely gets past the first `{` by mutation alone, so half the runs build a
//! configuration from the contract's own field names with fuzzed values (byte 0 even), and half
//! hand the bytes over as they are (byte 0 odd).
//! Run: `cargo +nightly fuzz run config`.
#![no_main]

use cookieless::config::Config;
use cookieless::token::KeyRing;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn env(name: &str) -> Option<String> {
    match name {
        "COOKIELESS_KEY" => Some(KEY.to_string()),
        "SHORT_KEY" => Some("c2hvcnQ=".to_string()),
        _ => None,
    }
}

fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string that is often one the contract knows, sometimes anything.
fn string(u: &mut Unstructured) -> Result<String> {
    const KNOWN: [&str; 24] = [
        "", "/", "/admin", "sessionid", "k1", "site", "path", "shared_data", "grpc", "fail_open",
        "fail_closed", "text/html", "x-cookieless-token", "COOKIELESS_KEY", "SHORT_KEY", KEY,
        "example.com", "example.com:8080", "/forms/[0-9]+", "(", "same-origin", "private, no-store",
        "__COOKIELESS_TOKEN__", "a\u{0}b",
    ];
    Ok(if u.ratio(2, 3)? { u.choose(&KNOWN)?.to_string() } else { u.arbitrary::<String>()? })
}

fn value(u: &mut Unstructured, depth: u32) -> Result<String> {
    Ok(match u.int_in_range(0..=6)? {
        0 => u.arbitrary::<bool>()?.to_string(),
        1 => u.arbitrary::<u32>()?.to_string(),
        2 => u.arbitrary::<i64>()?.to_string(),
        3 => u.arbitrary::<f32>()?.to_string().replace("inf", "1e999").replace("NaN", "null"),
        4 if depth < 3 => {
            let n = u.int_in_range(0..=3)?;
            let items: Result<Vec<String>> = (0..n).map(|_| value(u, depth + 1)).collect();
            format!("[{}]", items?.join(","))
        }
        5 if depth < 3 => object(u, depth + 1)?,
        _ => quoted(&string(u)?),
    })
}

const FIELDS: [&str; 33] = [
    "param", "routes", "include", "exclude", "prefix", "exact", "regex", "host", "keys", "id",
    "secret", "secret_env", "token", "ttl_seconds", "bind_client_ip", "bind_user_agent", "scope",
    "transport", "query", "form", "header", "rewrite", "links", "forms", "redirects",
    "content_types", "placeholder", "allowed_hosts", "require_referer", "cookies", "store",
    "upstream_header", "response_headers",
];
const MORE_FIELDS: [&str; 10] = [
    "strip_request", "clear_browser", "kind", "max_sessions", "idle_timeout_seconds", "cluster",
    "timeout_ms", "on_error", "referrer_policy", "cache_control",
];

fn object(u: &mut Unstructured, depth: u32) -> Result<String> {
    let n = u.int_in_range(0..=5)?;
    let mut members = Vec::new();
    for _ in 0..n {
        let name = if u.ratio(1, 2)? { *u.choose(&FIELDS)? } else { *u.choose(&MORE_FIELDS)? };
        members.push(format!("{}:{}", quoted(name), value(u, depth)?));
    }
    Ok(format!("{{{}}}", members.join(",")))
}

/// A configuration with a valid key ring (most of the time) and fuzzed other fields.
fn configuration(u: &mut Unstructured) -> Result<String> {
    let keys = match u.int_in_range(0..=3)? {
        0 => format!("[{{\"id\":\"k1\",\"secret\":{}}}]", quoted(KEY)),
        1 => "[{\"id\":\"k1\",\"secret_env\":\"COOKIELESS_KEY\"},{\"id\":\"k0\",\"secret\":\"ZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=\"}]".to_string(),
        2 => value(u, 1)?,
        _ => format!("[{{\"id\":{},\"secret\":{}}}]", quoted(&string(u)?), quoted(&string(u)?)),
    };
    let rest = object(u, 0)?;
    let rest = rest.trim_start_matches('{').trim_end_matches('}');
    Ok(if rest.is_empty() { format!("{{\"keys\":{keys}}}") } else { format!("{{\"keys\":{keys},{rest}}}") })
}

fn check(json: &[u8]) {
    let first = Config::parse(json, &env);
    let second = Config::parse(json, &env);
    assert_eq!(format!("{first:?}"), format!("{second:?}"), "two parses differ");
    let _ = Config::parse(json, &|_| None);
    match first {
        Err(e) => {
            let line = e.to_string();
            assert!(line.starts_with("cookieless: invalid configuration: "), "{line}");
            assert!(!e.problem.is_empty(), "an error without a reason: {line}");
            assert!(!line.contains('\n'), "an error of more than one line: {line}");
        }
        Ok(config) => {
            assert!(!config.keys.is_empty());
            assert!(KeyRing::new(&config.keys).is_some(), "accepted keys that make no ring");
            assert!(!config.param.is_empty() && config.param.len() <= 64);
            for path in ["/", "/admin/x", "/forms/12?x=1", "", "*", "/%2e%2e/"] {
                let _ = config.routes.is_cookieless(path, "example.com:8080");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 0 => {
            let mut u = Unstructured::new(rest);
            if let Ok(json) = configuration(&mut u) {
                check(json.as_bytes());
            }
        }
        Some((_, rest)) => check(rest),
        None => check(data),
    }
});
