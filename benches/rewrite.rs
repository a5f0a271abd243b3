//! Throughput of the streaming HTML rewriter on generated ordinary pages (`common/page.rs`:
//! paragraphs, a nav, 40 links per 100 KB, forms, a script and a stylesheet), fed in one piece and in
//! 16 KB chunks (Envoy's usual body slices). Also prints the bytes the rewriter allocates per
//! input byte (the output buffer, reserved up front, excluded). Run: `cargo bench --bench rewrite`.

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/page.rs"]
mod page;

use cookieless::rewrite::Rewriter;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use page::page;
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

fn rewrite(input: &[u8], chunk: usize, out: &mut Vec<u8>) {
    out.clear();
    let mut r = Rewriter::new(page::options("www.example.com"));
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

/// GB/s (10^9 bytes) by wall clock and by CPU time, next to criterion's GiB/s.
fn quick_gbps(input: &[u8], chunk: usize) -> (f64, Option<f64>) {
    let mut out = Vec::with_capacity(input.len() * 2);
    let rounds = (500 * 1024 * 1024 / input.len()).max(1);
    let cpu_start = cpu::thread_cpu_ns();
    let start = Instant::now();
    for _ in 0..rounds {
        rewrite(black_box(input), chunk, &mut out);
        black_box(&out);
    }
    let bytes = (input.len() * rounds) as f64;
    let wall = bytes / start.elapsed().as_secs_f64() / 1e9;
    let cpu = match (cpu_start, cpu::thread_cpu_ns()) {
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
