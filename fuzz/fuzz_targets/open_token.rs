//! Opens arbitrary input with a fixed key ring: it must never panic, and nothing but the one
//! token this target sealed itself may ever open.
//!
//! The input is tried three ways: as a (lossy UTF-8) string, which exercises the length cap and
//! the base64 decoder; base64url-encoded, which hands arbitrary bytes straight to the parser; and
//! behind a valid header naming a key of the ring, so every run also reaches the AEAD without the
//! fuzzer first having to guess a version byte and a key id.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cookieless::token::{Binding, Key, KeyRing, SessionId};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const NOW: u64 = 1_760_000_000;
const TTL: u64 = 86_400;
const BINDING: Binding<'static> = Binding {
    host: "shop.example.com",
    client_ip: Some("203.0.113.7"),
    user_agent: Some("Mozilla/5.0"),
    path: None,
};

struct Fixture {
    ring: KeyRing,
    genuine: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let keys = [
            Key {
                id: "k2026".to_owned(),
                secret: [0x42; 32],
            },
            Key {
                id: "k2025".to_owned(),
                secret: [0x24; 32],
            },
        ];
        let ring = KeyRing::new(&keys).expect("valid fixed ring");
        let genuine = ring
            .seal(SessionId([7; 16]), NOW, &BINDING, [9; 12])
            .expect("sealing the fixture");
        Fixture { ring, genuine }
    })
}

fn check(fixture: &Fixture, token: &str) {
    if let Ok(opened) = fixture.ring.open(token, &BINDING, NOW, TTL) {
        assert_eq!(token, fixture.genuine, "a token we never issued opened");
        assert_eq!(opened.session, SessionId([7; 16]));
    }
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    check(fixture, &String::from_utf8_lossy(data));
    check(fixture, &URL_SAFE_NO_PAD.encode(data));
    let mut raw = Vec::with_capacity(data.len() + 7);
    raw.extend_from_slice(b"\x01\x05k2026");
    raw.extend_from_slice(data);
    check(fixture, &URL_SAFE_NO_PAD.encode(raw));
});
