//! Cost of sealing and opening one token natively, with a typical binding (host, client IP and a
//! browser-length User-Agent). Run: `cargo bench --bench token`.

use cookieless::token::{Binding, Key, KeyRing, SessionId};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

const NOW: u64 = 1_760_000_000;
const TTL: u64 = 86_400;

fn binding() -> Binding<'static> {
    Binding {
        host: "shop.example.com",
        client_ip: Some("203.0.113.7"),
        user_agent: Some(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
             (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        ),
        path: None,
    }
}

fn ring() -> Option<KeyRing> {
    KeyRing::new(&[
        Key {
            id: "k2026".to_owned(),
            secret: [0x42; 32],
        },
        Key {
            id: "k2025".to_owned(),
            secret: [0x24; 32],
        },
    ])
}

fn bench(c: &mut Criterion) {
    let Some(ring) = ring() else {
        eprintln!("token bench: the key ring did not build");
        return;
    };
    let session = SessionId([7; 16]);
    let binding = binding();
    let Ok(token) = ring.seal(session, NOW, &binding, [9; 12]) else {
        eprintln!("token bench: sealing failed");
        return;
    };

    // As the filter seals: a fresh nonce from the random source (its `Host::fill_random`), then
    // the seal itself.
    c.bench_function("token/seal", |b| {
        b.iter(|| {
            let mut nonce = [0u8; 12];
            let _ = getrandom::fill(&mut nonce);
            ring.seal(black_box(session), black_box(NOW), black_box(&binding), nonce)
        })
    });
    c.bench_function("token/seal_with_nonce", |b| {
        b.iter(|| ring.seal(black_box(session), black_box(NOW), black_box(&binding), black_box([9; 12])))
    });
    c.bench_function("token/open", |b| {
        b.iter(|| ring.open(black_box(&token), black_box(&binding), black_box(NOW), TTL))
    });
    // A changed character in the sealed part: decodes and parses, then fails authentication.
    let mut chars: Vec<char> = token.chars().collect();
    if let Some(c) = chars.get_mut(40) {
        *c = if *c == 'A' { 'B' } else { 'A' };
    }
    let forged: String = chars.into_iter().collect();
    c.bench_function("token/open_forged", |b| {
        b.iter(|| ring.open(black_box(&forged), black_box(&binding), black_box(NOW), TTL))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
