//! Throughput of the streaming HTML rewriter on generated ordinary pages (paragraphs, a nav, 40
//! links and a form per 100 KB, a script and a stylesheet in the head), fed in one piece and in
//! 16 KB chunks (Envoy's usual body slices). Also prints the bytes the rewriter allocates per
//! input byte (the output buffer, reserved up front, excluded). Run: `cargo bench --bench rewrite`.

use cookieless::rewrite::{RewriteOptions, Rewriter};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Counts every byte handed out, so the allocation ratio can be reported.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const TOKEN: &str = "AQAAAGsyMDI2AAAAAGjvN0Zq3pXc2mUuRzVLHbqkN2TKnfJ0-8Ts1QyM4c9u3QeUqXJZ5lYw0fR7h2sHnA";

fn options() -> RewriteOptions {
    RewriteOptions {
        param: "sessionid".to_owned(),
        token: TOKEN.to_owned(),
        links: true,
        forms: true,
        placeholder: "__COOKIELESS_TOKEN__".to_owned(),
        host: "www.example.com".to_owned(),
        allowed_hosts: Vec::new(),
    }
}

const PARAGRAPH: &str = "<p class=\"lead\">Lorem ipsum dolor sit amet, consectetur adipiscing \
elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim \
veniam, quis nostrud <em>exercitation</em> ullamco laboris nisi ut aliquip ex ea commodo \
consequat. Duis aute irure dolor in <strong>reprehenderit</strong> in voluptate velit esse \
cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt \
in culpa qui officia deserunt mollit anim id est laborum.</p>\n";

/// An ordinary page of about `size` bytes: per 100 KB, 40 links (same-site, external,
/// fragments, mailto) and one form.
fn page(size: usize) -> Vec<u8> {
    let mut s = String::with_capacity(size + 4096);
    s.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Example shop &mdash; checkout</title>\
         <link rel=\"stylesheet\" href=\"/static/site.css\">\
         <script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}</script>\
         </head>\n<body><nav class=\"top\"><a href=\"/\">Home</a> <a href=\"/shop/\">Shop</a></nav>\n\
         <main id=\"content\">\n",
    );
    let per_link = 100 * 1024 / 40;
    let mut next_link = s.len() + per_link;
    let mut next_form = s.len() + 50 * 1024;
    let mut n = 0usize;
    while s.len() < size {
        s.push_str(PARAGRAPH);
        if s.len() >= next_link {
            n += 1;
            let link = match n % 4 {
                0 => format!("<li><a href=\"/products/{n}?ref=list&amp;page=2\" class=\"item\">Item {n}</a></li>\n"),
                1 => format!("<li><a href=\"https://partner.example.org/p/{n}\" rel=\"noopener\">Partner {n}</a></li>\n"),
                2 => format!("<li><a href=\"#section-{n}\">Section {n}</a></li>\n"),
                _ => format!("<li><a href='/articles/{n}.html'>Article {n}</a></li>\n"),
            };
            s.push_str(&link);
            next_link += per_link;
        }
        if s.len() >= next_form {
            s.push_str(
                "<form action=\"/cart/add\" method=\"post\" class=\"add\">\
                 <input type=\"hidden\" name=\"sku\" value=\"A-17\">\
                 <label for=\"qty\">Quantity</label><input id=\"qty\" name=\"qty\" type=\"number\" value=\"1\">\
                 <button type=\"submit\">Add to cart</button></form>\n",
            );
            next_form += 100 * 1024;
        }
    }
    s.push_str("</main><footer><a href=\"mailto:help@example.com\">Help</a></footer></body></html>\n");
    s.into_bytes()
}

fn rewrite(input: &[u8], chunk: usize, out: &mut Vec<u8>) {
    out.clear();
    let mut r = Rewriter::new(options());
    for c in input.chunks(chunk) {
        r.write(c, out);
    }
    r.end(out);
}

/// Bytes allocated by the rewriter per input byte, `out` excluded.
fn allocation_ratio(input: &[u8], chunk: usize) -> f64 {
    let mut out = Vec::with_capacity(input.len() * 2);
    let before = ALLOCATED.load(Ordering::Relaxed);
    rewrite(input, chunk, &mut out);
    let after = ALLOCATED.load(Ordering::Relaxed);
    (after - before) as f64 / input.len() as f64
}

/// Nanoseconds of CPU time this thread has used (Linux; 10 ms resolution), so that a busy
/// machine does not count against the rewriter; `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) * 10_000_000)
}

/// GB/s (10^9 bytes) by wall clock and by CPU time, next to criterion's GiB/s.
fn quick_gbps(input: &[u8], chunk: usize) -> (f64, Option<f64>) {
    let mut out = Vec::with_capacity(input.len() * 2);
    let rounds = (500 * 1024 * 1024 / input.len()).max(1);
    let cpu_start = thread_cpu_ns();
    let start = Instant::now();
    for _ in 0..rounds {
        rewrite(black_box(input), chunk, &mut out);
        black_box(&out);
    }
    let bytes = (input.len() * rounds) as f64;
    let wall = bytes / start.elapsed().as_secs_f64() / 1e9;
    let cpu = match (cpu_start, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => Some(bytes / (b - a) as f64),
        _ => None,
    };
    (wall, cpu)
}

fn bench(c: &mut Criterion) {
    let sizes = [("4KB", 4 * 1024), ("100KB", 100 * 1024), ("1MB", 1024 * 1024)];
    for (name, size) in sizes {
        let input = page(size);
        for chunk in [usize::MAX, 16 * 1024] {
            let (wall, cpu) = quick_gbps(&input, chunk);
            eprintln!(
                "rewrite {name} ({} bytes) in {}: {wall:.2} GB/s wall clock, {} GB/s CPU time, \
                 {:.4} bytes allocated per input byte",
                input.len(),
                if chunk == usize::MAX { "one piece".to_owned() } else { format!("{chunk}-byte chunks") },
                cpu.map_or("?".to_owned(), |c| format!("{c:.2}")),
                allocation_ratio(&input, chunk),
            );
        }
    }
    let mut group = c.benchmark_group("rewrite");
    for (name, size) in sizes {
        let input = page(size);
        let mut out = Vec::with_capacity(input.len() * 2);
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_with_input(BenchmarkId::new("one_shot", name), &input, |b, input| {
            b.iter(|| rewrite(black_box(input), usize::MAX, &mut out));
        });
        group.bench_with_input(BenchmarkId::new("chunks_16k", name), &input, |b, input| {
            b.iter(|| rewrite(black_box(input), 16 * 1024, &mut out));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
