//! Fuzzes the streaming HTML rewriter. Holds on any bytes: no panic; the same output for any
//! chunking of the input as for one piece; with links, forms and the placeholder off, output is
//! input.
//!
//! Input layout: byte 0 = option bits, bytes 1..3 = seed for the chunk sizes, the rest = page.
//! Run: `cargo +nightly fuzz run rewrite_html` (from the fuzz/ directory's parent).
#![no_main]

use cookieless::rewrite::{RewriteOptions, Rewriter};
use libfuzzer_sys::fuzz_target;

fn options(bits: u8) -> RewriteOptions {
    RewriteOptions {
        param: if bits & 8 == 0 { "sessionid" } else { "s" }.to_owned(),
        token: "TOKEN".to_owned(),
        links: bits & 1 != 0,
        forms: bits & 2 != 0,
        placeholder: if bits & 4 != 0 { "__CL__" } else { "" }.to_owned(),
        host: "www.example.com".to_owned(),
        allowed_hosts: if bits & 16 != 0 {
            vec!["partner.example".to_owned()]
        } else {
            Vec::new()
        },
        path: "/dir/page".to_owned(),
        form_id: "cl-0123456789abcdef".to_owned(),
    }
}

fn one_shot(opts: RewriteOptions, page: &[u8]) -> Vec<u8> {
    let mut r = Rewriter::new(opts);
    let mut out = Vec::new();
    r.write(page, &mut out);
    r.end(&mut out);
    out
}

/// Chunk sizes from a small xorshift generator: mostly tiny, sometimes large.
fn chunked(opts: RewriteOptions, page: &[u8], seed: u16) -> Vec<u8> {
    let mut state = u32::from(seed) | 1;
    let mut r = Rewriter::new(opts);
    let mut out = Vec::new();
    let mut rest = page;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let size = match state % 8 {
            0 => 1,
            1..=5 => (state >> 8) as usize % 16 + 1,
            _ => (state >> 8) as usize % 10_000 + 1,
        };
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        r.write(chunk, &mut out);
        rest = tail;
    }
    r.end(&mut out);
    out
}

fuzz_target!(|data: &[u8]| {
    let (Some(&bits), Some(&s0), Some(&s1)) = (data.first(), data.get(1), data.get(2)) else {
        return;
    };
    let page = data.get(3..).unwrap_or_default();
    let seed = u16::from_le_bytes([s0, s1]);

    let whole = one_shot(options(bits), page);
    assert_eq!(chunked(options(bits), page, seed), whole, "chunked != one-shot");

    let off = RewriteOptions {
        links: false,
        forms: false,
        placeholder: String::new(),
        ..options(bits)
    };
    assert_eq!(chunked(off, page, seed), page, "changed with everything off");
});
