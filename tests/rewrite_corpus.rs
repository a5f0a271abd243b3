#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The rewriter against a corpus of real-world-shaped pages: every `tests/corpus/NAME.html` must
//! rewrite to `NAME.expected.html`, in one piece and in any chunking. Also: a property test that
//! streaming equals one-shot for random HTML-ish pages and random split points, and the
//! allocation budget. Set `UPDATE_CORPUS=1` to (re)write the expected files, then review the diff.
//!
//! Fixed options: token "TOKEN", param "sessionid", host "www.example.com", allowed host
//! "partner.example.com", placeholder "__COOKIELESS_TOKEN__", links and forms on.

use cookieless::rewrite::{RewriteOptions, Rewriter, MAX_CARRY};
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

fn options() -> RewriteOptions {
    RewriteOptions {
        param: "sessionid".to_owned(),
        token: "TOKEN".to_owned(),
        links: true,
        forms: true,
        placeholder: "__COOKIELESS_TOKEN__".to_owned(),
        host: "www.example.com".to_owned(),
        allowed_hosts: vec!["partner.example.com".to_owned()],
        path: "/dir/page".to_owned(),
        form_id: "cl-0123456789abcdef".to_owned(),
    }
}

fn all_off() -> RewriteOptions {
    RewriteOptions {
        links: false,
        forms: false,
        placeholder: String::new(),
        ..options()
    }
}

/// The corpus pages are judged byte for byte: their charset counts as declared (otherwise an
/// ESC byte would be written as U+FFFD, see `rewrite::ESC`).
fn rewriter(opts: RewriteOptions) -> Rewriter {
    Rewriter::new(opts).charset_declared(true)
}

fn one_shot(opts: RewriteOptions, input: &[u8]) -> Vec<u8> {
    let mut r = rewriter(opts);
    let mut out = Vec::new();
    r.write(input, &mut out);
    r.end(&mut out);
    out
}

fn in_chunks(opts: RewriteOptions, input: &[u8], size: usize) -> Vec<u8> {
    let mut r = rewriter(opts);
    let mut out = Vec::new();
    for c in input.chunks(size) {
        r.write(c, &mut out);
    }
    r.end(&mut out);
    out
}

fn split_at_points(opts: RewriteOptions, input: &[u8], points: &[usize]) -> Vec<u8> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut r = rewriter(opts);
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts {
        r.write(&input[start..cut], &mut out);
        start = cut;
    }
    r.write(&input[start..], &mut out);
    r.end(&mut out);
    out
}

fn expected_path(page: &Path) -> PathBuf {
    page.with_extension("expected.html")
}

/// First differing line, for a readable failure.
fn first_difference(got: &[u8], want: &[u8]) -> String {
    let got_lines: Vec<&[u8]> = got.split(|&b| b == b'\n').collect();
    let want_lines: Vec<&[u8]> = want.split(|&b| b == b'\n').collect();
    for (i, (g, w)) in got_lines.iter().zip(&want_lines).enumerate() {
        if g != w {
            return format!(
                "line {}:\n  got:  {}\n  want: {}",
                i + 1,
                String::from_utf8_lossy(g),
                String::from_utf8_lossy(w)
            );
        }
    }
    format!("{} lines vs {} lines", got_lines.len(), want_lines.len())
}

#[test]
fn corpus_matches_expected_output() {
    let update = std::env::var_os("UPDATE_CORPUS").is_some();
    for page in cookieless_testkit::corpus() {
        let input = std::fs::read(&page).unwrap();
        let got = one_shot(options(), &input);
        let expected = expected_path(&page);
        if update {
            std::fs::write(&expected, &got).unwrap();
            continue;
        }
        let want = std::fs::read(&expected)
            .unwrap_or_else(|_| panic!("{} missing (UPDATE_CORPUS=1 writes it)", expected.display()));
        assert!(
            got == want,
            "{}: {}",
            page.display(),
            first_difference(&got, &want)
        );
    }
}

#[test]
fn corpus_streaming_equals_one_shot() {
    for page in cookieless_testkit::corpus() {
        let input = std::fs::read(&page).unwrap();
        let whole = one_shot(options(), &input);
        for size in [1, 2, 3, 7, 16, 100, 4096, MAX_CARRY, MAX_CARRY + 1] {
            assert!(
                in_chunks(options(), &input, size) == whole,
                "{} in {size}-byte chunks",
                page.display()
            );
        }
    }
}

/// The overrides the rewriter puts first into tags, whatever is switched off (and into tags too
/// long to read), taken out again.
fn without_guards(mut out: Vec<u8>) -> Vec<u8> {
    let guards = [
        &b" ping=\"\" referrerpolicy=\"same-origin\""[..],
        b" ping=\"\"",
        b" referrerpolicy=\"same-origin\"",
        b" content=\"same-origin\"",
        b" name=\"\" http-equiv=\"\"",
    ];
    for guard in guards {
        while let Some(at) = out.windows(guard.len()).position(|w| w == guard) {
            out.drain(at..at + guard.len());
        }
    }
    out
}

/// With links, forms and placeholder off no token goes into the page, and the only changes left
/// are the overrides that keep the page's own URL (which may carry a token) from leaving: a
/// `ping=""` before a foreign `ping`, a safe referrer policy before an unsafe one.
#[test]
fn corpus_passes_through_with_everything_off_but_the_referrer_guards() {
    for page in cookieless_testkit::corpus() {
        let input = std::fs::read(&page).unwrap();
        assert!(without_guards(one_shot(all_off(), &input)) == input, "{}", page.display());
        assert!(without_guards(in_chunks(all_off(), &input, 1)) == input, "{}", page.display());
    }
}

#[test]
fn corpus_changes_are_only_insertions() {
    // Everything the rewriter does adds bytes (or replaces an old token with "TOKEN", or spells
    // the character references of a rewritten value anew): the input must remain a subsequence
    // of the output once replaced values are accounted for.
    for page in cookieless_testkit::corpus() {
        let input = std::fs::read(&page).unwrap();
        let input = String::from_utf8_lossy(&input)
            .replace("__COOKIELESS_TOKEN__", "TOKEN")
            .replace("&#x26;sessionid=OLD", "&amp;sessionid=TOKEN")
            .replace("sessionid=OLD", "sessionid=TOKEN")
            .replace("url = &quot;/entity-quoted&quot;", "url = &#34;/entity-quoted&#34;");
        let output = String::from_utf8_lossy(&one_shot(options(), input.as_bytes())).into_owned();
        let mut rest = output.as_bytes().iter();
        for b in input.as_bytes() {
            assert!(
                rest.any(|o| o == b),
                "{}: input is not kept inside the output",
                page.display()
            );
        }
    }
}

// Allocation budget: a per-thread counting allocator, so parallel tests do not disturb it.
struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    let _ = ALLOCATED.try_with(|c| c.set(c.get() + bytes));
}

// SAFETY: forwards every call unchanged to the system allocator; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn ordinary_page(size: usize) -> Vec<u8> {
    let mut s = String::from("<!DOCTYPE html><html><head><title>t</title></head><body>\n");
    let mut n = 0;
    while s.len() < size {
        n += 1;
        s.push_str("<p class=\"x\">Lorem ipsum dolor sit amet, <em>consectetur</em> adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.</p>\n");
        if n % 5 == 0 {
            s.push_str(&format!("<a href=\"/p/{n}?a=1&amp;b=2\">item</a> <a href=\"https://evil.example/{n}\">x</a>\n"));
        }
        if n % 100 == 0 {
            s.push_str("<form action=\"/f\" method=post><input name=q></form>\n");
        }
    }
    s.into_bytes()
}

#[test]
fn allocation_stays_under_two_bytes_per_input_byte() {
    let page = ordinary_page(100 * 1024);
    for chunk in [page.len(), 16 * 1024, 1024, 1] {
        let mut out = Vec::with_capacity(page.len() * 2);
        let before = ALLOCATED.with(Cell::get);
        let mut r = Rewriter::new(options());
        for c in page.chunks(chunk) {
            r.write(c, &mut out);
        }
        r.end(&mut out);
        let allocated = ALLOCATED.with(Cell::get) - before;
        assert!(out.capacity() == page.len() * 2, "output buffer grew");
        let ratio = allocated as f64 / page.len() as f64;
        assert!(ratio <= 2.0, "{ratio} bytes allocated per input byte ({chunk}-byte chunks)");
    }
}

/// HTML-ish fragments: the constructs the rewriter distinguishes, their pieces, and noise.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<&'static [u8]> = vec![
        b"text ",
        b"\n",
        b"<p>",
        b"</p>",
        b"<a href=\"/x\">",
        b"<a href='/y?a=1&amp;sessionid=old#f'>",
        b"<a href=//evil.example/>",
        b"<A HREF=z title='>'>",
        b"</a>",
        b"<area href=\"#\">",
        b"<iframe src=/f>",
        b"</iframe>",
        b"<form action=\"/p\">",
        b"<form action=https://evil.example/>",
        b"</form>",
        b"<base href=\"http://other.example/\">",
        b"<meta http-equiv=refresh content=\"0; url=/r\">",
        b"<script>",
        b"</script>",
        b"<script><!--",
        b"-->",
        b"<!--",
        b"--!>",
        b"<!-->",
        b"<![CDATA[",
        b"]]>",
        b"<style>",
        b"</style>",
        b"<title>",
        b"</TITLE>",
        b"<textarea>",
        b"</textarea>",
        b"<template>",
        b"</template>",
        b"<plaintext>",
        b"<!DOCTYPE html>",
        b"<?php x ?>",
        b"<",
        b">",
        b"</",
        b"<!",
        b"<!-",
        b"\"",
        b"'",
        b"=",
        b"/",
        b" ",
        b"&amp;",
        b"&#58;",
        b"__COOKIELESS_TOKEN__",
        b"__COOKIE",
        b"LESS_TOKEN__",
        b"\xff\xfe",
        b"\xe9\x00",
    ];
    prop_oneof![
        20 => proptest::sample::select(fixed).prop_map(<[u8]>::to_vec),
        3 => proptest::collection::vec(any::<u8>(), 0..8),
        1 => (1usize..3).prop_map(|n| {
            let mut v = b"<a title=\"".to_vec();
            v.extend(std::iter::repeat_n(b'x', MAX_CARRY * n / 2 + 10));
            v.extend_from_slice(b"\" href=/big>");
            v
        }),
    ]
}

fn page() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(fragment(), 0..60).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn streaming_equals_one_shot(input in page(), points in proptest::collection::vec(any::<usize>(), 0..12)) {
        let whole = one_shot(options(), &input);
        prop_assert_eq!(&split_at_points(options(), &input, &points), &whole);
    }

    #[test]
    fn bytewise_equals_one_shot(input in page()) {
        let whole = one_shot(options(), &input);
        prop_assert_eq!(&in_chunks(options(), &input, 1), &whole);
    }

    #[test]
    fn nothing_changes_with_everything_off(input in page(), points in proptest::collection::vec(any::<usize>(), 0..6)) {
        prop_assert_eq!(&without_guards(split_at_points(all_off(), &input, &points)), &input);
    }
}
