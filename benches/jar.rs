//! The cookie jar work of one response: load the session's stored jar, fold the upstream's
//! `Set-Cookie` headers into it (`parse_set_cookie` + `Jar::apply`), store it again, and build the
//! `Cookie` header the next request sends upstream. Run: `cargo bench --bench jar`.
//!
//! Jars of 2, 10 and 40 cookies (a small app, a typical one, one with many analytics cookies);
//! per response, 2 `Set-Cookie` headers (one changed value, one refreshed with the same value),
//! or 2 plus a deletion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless::cookies::{parse_set_cookie, CookieContext};
use cookieless::jar::Jar;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

const NOW: u64 = 1_790_000_000;
/// A page of the app, over https.
const PAGE: CookieContext<'static> = CookieContext { host: "www.example.com", path: "/account/orders", secure: true, now: NOW };

/// A stored jar of `n` cookies shaped like a Django app's plus analytics.
fn stored_jar(n: usize) -> Vec<u8> {
    let mut jar = Jar::default();
    for header in ["sessionid=k3j5h2g6f7d8s9a0q1w2e3r4t5y6u7i8; Path=/", "csrftoken=Zk9vYmFyQmF6UXV4Q29yZ2VHcmF1bHRQbHVnaA; Path=/"] {
        jar.apply(parse_set_cookie(header, &PAGE).unwrap());
    }
    for i in 2..n {
        let value = format!("GS1.1.{}.{i}.1.1700000000.0.0.0", 1_700_000_000 + i);
        jar.apply(parse_set_cookie(&format!("_ga_{i}={value}; Max-Age=63072000; Domain=example.com; Path=/"), &PAGE).unwrap());
    }
    jar.encode()
}

const SET_COOKIES: [&str; 2] = [
    "sessionid=n3w5e6s7s8i9o0n1i2d3v4a5l6u7e8x9; expires=Fri, 01 Jan 2100 00:00:00 GMT; HttpOnly; Max-Age=1209600; Path=/; SameSite=Lax",
    "csrftoken=Zk9vYmFyQmF6UXV4Q29yZ2VHcmF1bHRQbHVnaA; expires=Fri, 01 Jan 2100 00:00:00 GMT; Max-Age=31449600; Path=/; SameSite=Lax",
];
const DELETE: &str = "messages=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/";

/// One response's jar work; returns the stored bytes and the next request's Cookie header.
fn merge(stored: &[u8], set_cookies: &[&str]) -> (Vec<u8>, String) {
    let mut jar = Jar::decode(stored).unwrap_or_default();
    let mut changed = false;
    for header in set_cookies {
        if let Some(change) = parse_set_cookie(header, &PAGE) {
            changed |= jar.apply(change);
        }
    }
    let bytes = if changed && jar.fits() { jar.encode() } else { Vec::new() };
    (bytes, jar.cookie_header(&PAGE, None))
}

fn bench(c: &mut Criterion) {
    let mut parse = c.benchmark_group("parse_set_cookie");
    for (name, header) in [("session", SET_COOKIES[0]), ("csrf", SET_COOKIES[1]), ("delete", DELETE), ("bare", "a=1")] {
        parse.throughput(Throughput::Bytes(header.len() as u64));
        parse.bench_with_input(BenchmarkId::from_parameter(name), header, |b, h| {
            b.iter(|| parse_set_cookie(black_box(h), &PAGE));
        });
    }
    parse.finish();

    let mut group = c.benchmark_group("jar_merge");
    for n in [2usize, 10, 40] {
        let stored = stored_jar(n);
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("two_set_cookies", n), &stored, |b, stored| {
            b.iter(|| merge(black_box(stored), &SET_COOKIES));
        });
        let three = [SET_COOKIES[0], SET_COOKIES[1], DELETE];
        group.bench_with_input(BenchmarkId::new("two_set_cookies_and_a_delete", n), &stored, |b, stored| {
            b.iter(|| merge(black_box(stored), &three));
        });
        group.bench_with_input(BenchmarkId::new("cookie_header_only", n), &stored, |b, stored| {
            b.iter(|| Jar::decode(black_box(stored)).unwrap_or_default().cookie_header(&PAGE, Some("theme=dark; old=1")));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
