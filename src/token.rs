//! Session tokens: the only thing the browser ever holds.
//!
//! This module owns the token format, the key ring that seals and opens tokens (and remembers the
//! ones it opened lately, [`OpenedTokens`]), and the session id a token carries. It never reads
//! the clock (callers pass unix seconds), takes every nonce from its caller (the only randomness
//! it draws itself is std's `RandomState`, the key of the remembered tokens' fingerprints), never
//! logs, and never panics on any input. Nothing here implements `Debug` in a way that prints a
//! secret, a session id or a token.
//!
//! # Token layout (version 1)
//!
//! ```text
//! version (1) | key-id length (1) | key id (1..=16) | nonce (12) | ciphertext (24) | tag (16)
//! plaintext = session id (16) | issued_at (8, big-endian unix seconds)
//! ```
//!
//! The bytes are sealed with AES-256-GCM under a fresh random 96-bit nonce and written as base64url
//! without padding. The longest key id gives 70 bytes, i.e. 94 characters, so every token fits in
//! [`MAX_TOKEN_LEN`] (checked at compile time). The key id travels in clear rather than as a hash
//! or an index: it still fits, it cannot collide, and it survives reordering of the ring during
//! rotation. Key ids are therefore visible to clients and must not contain anything secret.
//!
//! # Associated data
//!
//! The tag authenticates, besides the ciphertext, an unambiguous encoding of: a purpose label,
//! the token header (version, key-id length, key id), the host (ASCII-lowercased here; the caller
//! decides about ports), and the optional client IP, user agent and path. Each field is
//! length-prefixed, and optional fields carry a presence marker, so `None` and `Some("")` differ
//! and no two different bindings encode alike. Changing any of them makes the token fail to open.
//!
//! # Time
//!
//! A token is refused from `issued_at + ttl` on ([`Rejection::Expired`]). A token issued more than
//! [`MAX_CLOCK_SKEW_SECONDS`] after `now` is refused as [`Rejection::FromTheFuture`]: the small
//! allowance covers replicas whose clocks differ slightly, without letting a forged clock extend
//! a token's life meaningfully.

use aes_gcm::aead::{self, AeadInOut, KeyInit};
use aes_gcm::Aes256Gcm;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Mutex;

/// Longest token (in characters, all ASCII) that is ever issued or accepted.
pub const MAX_TOKEN_LEN: usize = 96;

/// Longest key id accepted in a [`KeyRing`].
pub const MAX_KEY_ID_LEN: usize = 16;

/// How far in the future `issued_at` may lie before a token is refused.
pub const MAX_CLOCK_SKEW_SECONDS: u64 = 5;

const VERSION: u8 = 1;
const PURPOSE: &[u8] = b"cookieless/session-token/v1";
const NONCE_LEN: usize = 12;
const SESSION_LEN: usize = 16;
const TIME_LEN: usize = 8;
const PLAINTEXT_LEN: usize = SESSION_LEN + TIME_LEN;
const TAG_LEN: usize = 16;
const MAX_RAW_LEN: usize = 2 + MAX_KEY_ID_LEN + NONCE_LEN + PLAINTEXT_LEN + TAG_LEN;
/// Room for whatever a [`MAX_TOKEN_LEN`]-character string can decode to.
const DECODE_BUF_LEN: usize = MAX_TOKEN_LEN / 4 * 3;

const fn unpadded_base64_len(bytes: usize) -> usize {
    (bytes * 4).div_ceil(3)
}

const _: () = assert!(unpadded_base64_len(MAX_RAW_LEN) <= MAX_TOKEN_LEN);
const _: () = assert!(MAX_RAW_LEN <= DECODE_BUF_LEN);

/// One configured key: the id named in tokens it seals, and its 256-bit secret.
#[derive(Clone)]
pub struct Key {
    pub id: String,
    pub secret: [u8; 32],
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Whether `id` may name a key: 1 to 16 characters of `[A-Za-z0-9_-]`.
pub fn is_valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A key with its AES key schedule and GHASH key precomputed, plus its token header.
#[derive(Clone)]
struct RingKey {
    /// `version | id length | id`: the clear prefix of every token this key seals.
    header: Vec<u8>,
    cipher: Aes256Gcm,
}

impl RingKey {
    fn new(key: &Key) -> Option<RingKey> {
        if !is_valid_key_id(&key.id) {
            return None;
        }
        let id_len = u8::try_from(key.id.len()).ok()?;
        let mut header = Vec::with_capacity(2 + key.id.len());
        header.push(VERSION);
        header.push(id_len);
        header.extend_from_slice(key.id.as_bytes());
        let secret = aead::Key::<Aes256Gcm>::from(key.secret);
        Some(RingKey {
            header,
            cipher: Aes256Gcm::new(&secret),
        })
    }

    fn id(&self) -> &[u8] {
        self.header.get(2..).unwrap_or_default()
    }

    fn seal(
        &self,
        session: SessionId,
        issued_at: u64,
        binding: &Binding,
        nonce: [u8; NONCE_LEN],
    ) -> Result<String, SealError> {
        let aad = associated_data(&self.header, binding);
        let mut body = plaintext(session, issued_at);
        let tag = self
            .cipher
            .encrypt_inout_detached(&nonce.into(), &aad, body.as_mut_slice().into())
            .map_err(|_| SealError::Encrypt)?;
        let mut raw = Vec::with_capacity(MAX_RAW_LEN);
        raw.extend_from_slice(&self.header);
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&body);
        raw.extend_from_slice(&tag);
        Ok(URL_SAFE_NO_PAD.encode(&raw))
    }

    fn unseal(&self, sealed: &Sealed<'_>, binding: &Binding) -> Result<Opened, Rejection> {
        let aad = associated_data(sealed.header, binding);
        let mut body = sealed.body;
        self.cipher
            .decrypt_inout_detached(
                &sealed.nonce.into(),
                &aad,
                body.as_mut_slice().into(),
                &sealed.tag.into(),
            )
            .map_err(|_| Rejection::BadSeal)?;
        read_plaintext(&body)
    }
}

/// The configured keys, in order. The first seals; all open (rotation).
#[derive(Clone)]
pub struct KeyRing {
    primary: RingKey,
    older: Vec<RingKey>,
    opened: OpenedTokens,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self
            .keys()
            .map(|k| String::from_utf8_lossy(k.id()).into_owned())
            .collect();
        f.debug_struct("KeyRing").field("ids", &ids).finish()
    }
}

impl KeyRing {
    /// Builds the ring once (key schedules are computed here, not per request).
    ///
    /// `None` if `keys` is empty, if an id is not 1 to 16 characters of `[A-Za-z0-9_-]`, or if two
    /// keys share an id (a token names its key by id, so ids must be unambiguous).
    pub fn new(keys: &[Key]) -> Option<KeyRing> {
        let (first, rest) = keys.split_first()?;
        let has_duplicate = keys
            .iter()
            .enumerate()
            .any(|(i, k)| keys.iter().skip(i + 1).any(|other| other.id == k.id));
        if has_duplicate {
            return None;
        }
        Some(KeyRing {
            primary: RingKey::new(first)?,
            older: rest.iter().map(RingKey::new).collect::<Option<Vec<_>>>()?,
            opened: OpenedTokens::default(),
        })
    }

    fn keys(&self) -> impl Iterator<Item = &RingKey> {
        std::iter::once(&self.primary).chain(self.older.iter())
    }

    fn find(&self, id: &[u8]) -> Option<&RingKey> {
        self.keys().find(|k| k.id() == id)
    }

    /// Seals with the first key under `nonce`, which must be fresh from a cryptographically
    /// secure source (the filter takes it from `Host::fill_random`): a nonce used twice with one
    /// key breaks AES-GCM.
    pub fn seal(
        &self,
        session: SessionId,
        issued_at: u64,
        binding: &Binding,
        nonce: [u8; 12],
    ) -> Result<String, SealError> {
        self.primary.seal(session, issued_at, binding, nonce)
    }

    /// Opens a token issued for `binding`, refusing it if it is not valid at `now`. A token this
    /// ring opened lately for the same binding is not decrypted again (its time is checked again).
    pub fn open(
        &self,
        token: &str,
        binding: &Binding,
        now: u64,
        ttl_seconds: u64,
    ) -> Result<Opened, Rejection> {
        let opened = match self.opened.find(token, binding) {
            Some(opened) => opened,
            None => {
                let opened = self.unseal(token, binding)?;
                self.opened.remember(token, binding, opened);
                opened
            }
        };
        check_time(opened.issued_at, now, ttl_seconds)?;
        Ok(opened)
    }

    fn unseal(&self, token: &str, binding: &Binding) -> Result<Opened, Rejection> {
        let mut buf = [0u8; DECODE_BUF_LEN];
        let raw = decode(token, &mut buf)?;
        let sealed = parse(raw)?;
        let key = self.find(sealed.key_id).ok_or(Rejection::UnknownKey)?;
        key.unseal(&sealed, binding)
    }
}

/// How many opened tokens a ring remembers (per VM in Wasm, per filter configuration natively).
const REMEMBERED_TOKENS: usize = 32;

/// The tokens a ring opened lately: the token, the binding it opened for, what it held. A page's
/// links and forms all carry the page's token (and a script sends it with every call), so a
/// browser may present the same one several times; opening it again (AES-GCM in software in Wasm)
/// would give the same answer, since opening is a function of the token, the binding and the ring
/// alone. Only a token that opened goes in, and only the same token for the same binding comes
/// out: nothing here can make a token valid that would not open. The time is checked on every use
/// by [`KeyRing::open`].
#[derive(Default)]
struct OpenedTokens {
    /// Natively, one ring serves every worker thread: a lock taken only with `try_lock`, so a
    /// busy one means an ordinary open, never a wait.
    slots: Mutex<Slots>,
    /// Keys the tokens' fingerprints (SipHash under a random key): a lookup compares 64-bit
    /// fingerprints, which say nothing about a remembered token's bytes to whoever times it, and
    /// compares the token itself (in constant time) only where the fingerprint matched.
    hasher: RandomState,
}

#[derive(Default)]
struct Slots {
    entries: Vec<Remembered>,
    /// The entry the next token replaces once `entries` is full (oldest first).
    next: usize,
}

/// One remembered token. A replaced entry keeps its strings' room: after the first few tokens,
/// remembering one allocates nothing.
#[derive(Default)]
struct Remembered {
    fingerprint: u64,
    token: String,
    host: String,
    client_ip: Option<String>,
    user_agent: Option<String>,
    path: Option<String>,
    opened: Option<Opened>,
}

impl Remembered {
    fn is(&self, fingerprint: u64, token: &str, binding: &Binding) -> bool {
        self.fingerprint == fingerprint
            && constant_time_eq(self.token.as_bytes(), token.as_bytes())
            && self.host == binding.host
            && self.client_ip.as_deref() == binding.client_ip
            && self.user_agent.as_deref() == binding.user_agent
            && self.path.as_deref() == binding.path
    }

    fn set(&mut self, fingerprint: u64, token: &str, binding: &Binding, opened: Opened) {
        self.fingerprint = fingerprint;
        copy_into(&mut self.token, token);
        copy_into(&mut self.host, binding.host);
        copy_optional(&mut self.client_ip, binding.client_ip);
        copy_optional(&mut self.user_agent, binding.user_agent);
        copy_optional(&mut self.path, binding.path);
        self.opened = Some(opened);
    }
}

fn copy_into(to: &mut String, from: &str) {
    to.clear();
    to.push_str(from);
}

fn copy_optional(to: &mut Option<String>, from: Option<&str>) {
    match (to.as_mut(), from) {
        (Some(s), Some(from)) => copy_into(s, from),
        (_, from) => *to = from.map(str::to_owned),
    }
}

impl OpenedTokens {
    fn fingerprint(&self, token: &str) -> u64 {
        self.hasher.hash_one(token)
    }

    fn find(&self, token: &str, binding: &Binding) -> Option<Opened> {
        let slots = self.slots.try_lock().ok()?;
        let fingerprint = self.fingerprint(token);
        slots.entries.iter().find(|e| e.is(fingerprint, token, binding)).and_then(|e| e.opened)
    }

    fn remember(&self, token: &str, binding: &Binding, opened: Opened) {
        let Ok(mut slots) = self.slots.try_lock() else {
            return;
        };
        let fingerprint = self.fingerprint(token);
        let at = slots.next;
        slots.next = (at + 1) % REMEMBERED_TOKENS;
        if slots.entries.len() <= at {
            slots.entries.push(Remembered::default());
        }
        if let Some(entry) = slots.entries.get_mut(at) {
            entry.set(fingerprint, token, binding, opened);
        }
    }
}

/// A copy of a ring starts with nothing remembered.
impl Clone for OpenedTokens {
    fn clone(&self) -> OpenedTokens {
        OpenedTokens::default()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// A random 128-bit session id: the name of a server-side cookie jar.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; 16]);

impl fmt::Debug for SessionId {
    // Session ids are bearer credentials in the store: keep them out of every log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

impl SessionId {
    /// 32 lowercase hex digits: the session's key in the store.
    pub fn to_hex(&self) -> String {
        self.0
            .iter()
            .flat_map(|b| [b >> 4, b & 0x0f])
            .filter_map(|nibble| char::from_digit(u32::from(nibble), 16))
            .collect()
    }

    /// The inverse of [`SessionId::to_hex`]; `None` unless exactly 32 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Option<SessionId> {
        let digits: Vec<u8> = hex
            .chars()
            .map(|c| c.to_digit(16).filter(|_| !c.is_ascii_uppercase()).and_then(|d| u8::try_from(d).ok()))
            .collect::<Option<_>>()?;
        let mut id = [0u8; 16];
        if digits.len() != 2 * id.len() {
            return None;
        }
        for (byte, pair) in id.iter_mut().zip(digits.chunks_exact(2)) {
            if let [high, low] = pair {
                *byte = (high << 4) | low;
            }
        }
        Some(SessionId(id))
    }
}

/// What a token is bound to: it opens only for the same values. The caller chooses which fields
/// to bind (`None` = not bound) and normalizes them; only the host's ASCII case is folded here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding<'a> {
    pub host: &'a str,
    pub client_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub path: Option<&'a str>,
}

/// The content of a token that opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    pub session: SessionId,
    pub issued_at: u64,
}

/// Why a token was refused. Callers treat every variant as "no session"; the detail is for
/// debug logs and metrics only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    TooLong,
    Malformed,
    UnknownVersion,
    UnknownKey,
    BadSeal,
    Expired,
    FromTheFuture,
}

impl Rejection {
    pub fn as_str(&self) -> &'static str {
        match self {
            Rejection::TooLong => "too_long",
            Rejection::Malformed => "malformed",
            Rejection::UnknownVersion => "unknown_version",
            Rejection::UnknownKey => "unknown_key",
            Rejection::BadSeal => "bad_seal",
            Rejection::Expired => "expired",
            Rejection::FromTheFuture => "from_the_future",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for Rejection {}

/// Why a token could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// AES-GCM refused the input (only possible with absurdly long binding values).
    Encrypt,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::Encrypt => f.write_str("encryption failed"),
        }
    }
}

impl std::error::Error for SealError {}

/// A token's fields after decoding, before authentication.
struct Sealed<'t> {
    header: &'t [u8],
    key_id: &'t [u8],
    nonce: [u8; NONCE_LEN],
    body: [u8; PLAINTEXT_LEN],
    tag: [u8; TAG_LEN],
}

/// Length is capped before decoding so hostile input costs nothing proportional to its size.
fn decode<'b>(token: &str, buf: &'b mut [u8; DECODE_BUF_LEN]) -> Result<&'b [u8], Rejection> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Rejection::TooLong);
    }
    // The no-padding engine also refuses `=` and non-zero trailing bits, so each token has
    // exactly one spelling: any change to the string changes the bytes or fails here.
    let len = URL_SAFE_NO_PAD
        .decode_slice(token, buf)
        .map_err(|_| Rejection::Malformed)?;
    buf.get(..len).ok_or(Rejection::Malformed)
}

fn parse(raw: &[u8]) -> Result<Sealed<'_>, Rejection> {
    let (&version, rest) = raw.split_first().ok_or(Rejection::Malformed)?;
    if version != VERSION {
        return Err(Rejection::UnknownVersion);
    }
    let (&id_len, rest) = rest.split_first().ok_or(Rejection::Malformed)?;
    let id_len = usize::from(id_len);
    if !(1..=MAX_KEY_ID_LEN).contains(&id_len) {
        return Err(Rejection::Malformed);
    }
    let (key_id, rest) = rest.split_at_checked(id_len).ok_or(Rejection::Malformed)?;
    let (nonce, rest) = rest
        .split_at_checked(NONCE_LEN)
        .ok_or(Rejection::Malformed)?;
    let (body, tag) = rest
        .split_at_checked(PLAINTEXT_LEN)
        .ok_or(Rejection::Malformed)?;
    Ok(Sealed {
        header: raw.get(..2 + id_len).ok_or(Rejection::Malformed)?,
        key_id,
        nonce: exact(nonce)?,
        body: exact(body)?,
        tag: exact(tag)?,
    })
}

/// Also rejects trailing bytes after the tag.
fn exact<const N: usize>(bytes: &[u8]) -> Result<[u8; N], Rejection> {
    bytes.try_into().map_err(|_| Rejection::Malformed)
}

fn plaintext(session: SessionId, issued_at: u64) -> [u8; PLAINTEXT_LEN] {
    let mut body = [0u8; PLAINTEXT_LEN];
    let source = session.0.into_iter().chain(issued_at.to_be_bytes());
    for (dst, src) in body.iter_mut().zip(source) {
        *dst = src;
    }
    body
}

fn read_plaintext(body: &[u8; PLAINTEXT_LEN]) -> Result<Opened, Rejection> {
    let (session, rest) = body
        .split_first_chunk::<SESSION_LEN>()
        .ok_or(Rejection::Malformed)?;
    let issued_at = rest.first_chunk::<TIME_LEN>().ok_or(Rejection::Malformed)?;
    Ok(Opened {
        session: SessionId(*session),
        issued_at: u64::from_be_bytes(*issued_at),
    })
}

fn check_time(issued_at: u64, now: u64, ttl_seconds: u64) -> Result<(), Rejection> {
    if issued_at > now.saturating_add(MAX_CLOCK_SKEW_SECONDS) {
        return Err(Rejection::FromTheFuture);
    }
    if now >= issued_at.saturating_add(ttl_seconds) {
        return Err(Rejection::Expired);
    }
    Ok(())
}

/// Length-prefixed fields with presence markers: distinct bindings never encode alike.
fn associated_data(header: &[u8], binding: &Binding) -> Vec<u8> {
    let optional = [binding.client_ip, binding.user_agent, binding.path];
    let capacity = optional
        .iter()
        .map(|field| field.map_or(1, |v| 9usize.saturating_add(v.len())))
        .fold(
            24 + PURPOSE.len() + header.len() + binding.host.len(),
            usize::saturating_add,
        );
    let mut aad = Vec::with_capacity(capacity);
    put_field(&mut aad, PURPOSE.iter().copied(), PURPOSE.len());
    put_field(&mut aad, header.iter().copied(), header.len());
    let host = binding.host.bytes().map(|b| b.to_ascii_lowercase());
    put_field(&mut aad, host, binding.host.len());
    for field in optional {
        match field {
            None => aad.push(0),
            Some(value) => {
                aad.push(1);
                put_field(&mut aad, value.bytes(), value.len());
            }
        }
    }
    aad
}

fn put_field(aad: &mut Vec<u8>, bytes: impl Iterator<Item = u8>, len: usize) {
    // usize is at most 64 bits on every target Rust supports, so this never truncates.
    aad.extend_from_slice(&(len as u64).to_be_bytes());
    aad.extend(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_760_000_000;
    const TTL: u64 = 86_400;
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    fn key(id: &str, fill: u8) -> Key {
        Key {
            id: id.to_owned(),
            secret: [fill; 32],
        }
    }

    fn ring(keys: &[Key]) -> KeyRing {
        KeyRing::new(keys).unwrap()
    }

    fn old() -> Key {
        key("k2025", 0x11)
    }

    fn new() -> Key {
        key("k2026", 0x22)
    }

    fn binding() -> Binding<'static> {
        Binding {
            host: "shop.example.com:8443",
            client_ip: Some("203.0.113.7"),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"),
            path: None,
        }
    }

    fn session() -> SessionId {
        SessionId(*b"0123456789abcdef")
    }

    fn sealed(ring: &KeyRing) -> String {
        ring.seal(session(), NOW, &binding(), [7; 12])
            .unwrap()
    }

    fn open(ring: &KeyRing, token: &str) -> Result<Opened, Rejection> {
        ring.open(token, &binding(), NOW, TTL)
    }

    fn decoded(token: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(token).unwrap()
    }

    fn encoded(raw: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(raw)
    }

    #[test]
    fn round_trip() {
        let r = ring(&[new()]);
        let token = r.seal(session(), NOW, &binding(), [3; 12]).unwrap();
        let opened = open(&r, &token).unwrap();
        assert_eq!(
            opened,
            Opened {
                session: session(),
                issued_at: NOW
            }
        );
    }

    #[test]
    fn token_is_url_safe_and_short() {
        let token = sealed(&ring(&[new()]));
        assert!(token.len() <= MAX_TOKEN_LEN);
        assert!(token.bytes().all(|b| ALPHABET.as_bytes().contains(&b)));
        assert_eq!(token.len(), 79, "k2026 (5 chars) gives 59 bytes");
    }

    #[test]
    fn longest_key_id_fits() {
        let r = ring(&[key(&"x".repeat(MAX_KEY_ID_LEN), 3)]);
        let token = sealed(&r);
        assert_eq!(token.len(), 94);
        assert!(token.len() <= MAX_TOKEN_LEN);
        assert_eq!(open(&r, &token).unwrap().session, session());
    }

    #[test]
    fn sealing_with_one_nonce_is_deterministic() {
        let r = ring(&[new()]);
        assert_eq!(sealed(&r), sealed(&r));
    }

    #[test]
    fn two_seals_of_one_session_differ() {
        let r = ring(&[new()]);
        let a = r.seal(session(), NOW, &binding(), [1; 12]).unwrap();
        let b = r.seal(session(), NOW, &binding(), [2; 12]).unwrap();
        assert_ne!(a, b);
        assert_ne!(
            decoded(&a).get(7..19),
            decoded(&b).get(7..19),
            "nonces differ"
        );
    }

    #[test]
    fn every_binding_field_is_authenticated() {
        let r = ring(&[new()]);
        let base = Binding {
            host: "a.example",
            client_ip: Some("192.0.2.1"),
            user_agent: Some("UA"),
            path: Some("/p"),
        };
        let token = r.seal(session(), NOW, &base, [1; 12]).unwrap();
        assert!(r.open(&token, &base, NOW, TTL).is_ok());
        let variants = [
            Binding {
                host: "b.example",
                ..base
            },
            Binding {
                host: "a.example:443",
                ..base
            },
            Binding { host: "", ..base },
            Binding {
                client_ip: Some("192.0.2.2"),
                ..base
            },
            Binding {
                client_ip: None,
                ..base
            },
            Binding {
                client_ip: Some(""),
                ..base
            },
            Binding {
                user_agent: Some("UA2"),
                ..base
            },
            Binding {
                user_agent: None,
                ..base
            },
            Binding {
                path: Some("/q"),
                ..base
            },
            Binding { path: None, ..base },
            Binding {
                path: Some("/p/"),
                ..base
            },
        ];
        for variant in variants {
            assert_eq!(
                r.open(&token, &variant, NOW, TTL),
                Err(Rejection::BadSeal),
                "{variant:?}"
            );
        }
    }

    #[test]
    fn none_and_empty_differ_and_fields_do_not_run_together() {
        let r = ring(&[new()]);
        let unbound = Binding {
            host: "h",
            client_ip: None,
            user_agent: None,
            path: None,
        };
        let token = r
            .seal(session(), NOW, &unbound, [1; 12])
            .unwrap();
        assert!(r.open(&token, &unbound, NOW, TTL).is_ok());
        for variant in [
            Binding {
                client_ip: Some(""),
                ..unbound
            },
            Binding {
                user_agent: Some(""),
                ..unbound
            },
            Binding {
                path: Some(""),
                ..unbound
            },
        ] {
            assert_eq!(r.open(&token, &variant, NOW, TTL), Err(Rejection::BadSeal));
        }
        let split_one = Binding {
            client_ip: Some("ab"),
            user_agent: Some("c"),
            ..unbound
        };
        let split_two = Binding {
            client_ip: Some("a"),
            user_agent: Some("bc"),
            ..unbound
        };
        let token = r
            .seal(session(), NOW, &split_one, [1; 12])
            .unwrap();
        assert_eq!(
            r.open(&token, &split_two, NOW, TTL),
            Err(Rejection::BadSeal)
        );
        let ip_only = Binding {
            client_ip: Some("x"),
            ..unbound
        };
        let ua_only = Binding {
            user_agent: Some("x"),
            ..unbound
        };
        let token = r
            .seal(session(), NOW, &ip_only, [1; 12])
            .unwrap();
        assert_eq!(r.open(&token, &ua_only, NOW, TTL), Err(Rejection::BadSeal));
    }

    #[test]
    fn host_case_does_not_matter() {
        let r = ring(&[new()]);
        let token = sealed(&r);
        let upper = Binding {
            host: "SHOP.Example.COM:8443",
            ..binding()
        };
        assert!(r.open(&token, &upper, NOW, TTL).is_ok());
    }

    #[test]
    fn every_bit_of_the_decoded_token_matters() {
        let r = ring(&[new()]);
        let raw = decoded(&sealed(&r));
        for i in 0..raw.len() {
            for bit in 0..8 {
                let mut tampered = raw.clone();
                tampered[i] ^= 1 << bit;
                assert!(open(&r, &encoded(&tampered)).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn every_character_of_the_token_matters() {
        let r = ring(&[new()]);
        let token = sealed(&r);
        let replacements: Vec<char> = ALPHABET.chars().chain("=+/. %\0é".chars()).collect();
        for i in 0..token.len() {
            for &c in &replacements {
                let mut chars: Vec<char> = token.chars().collect();
                if chars[i] == c {
                    continue;
                }
                chars[i] = c;
                let tampered: String = chars.into_iter().collect();
                assert!(open(&r, &tampered).is_err(), "char {i} -> {c:?}");
            }
        }
    }

    #[test]
    fn truncated_tokens_are_refused() {
        let r = ring(&[new()]);
        let token = sealed(&r);
        for len in 0..token.len() {
            assert!(open(&r, &token[..len]).is_err(), "prefix {len}");
        }
        let raw = decoded(&token);
        for len in 0..raw.len() {
            assert!(open(&r, &encoded(&raw[..len])).is_err(), "raw prefix {len}");
        }
    }

    #[test]
    fn extended_tokens_are_refused() {
        let r = ring(&[new()]);
        let token = sealed(&r);
        for suffix in ["A", "AA", "AAA", "AAAA", "_", "=", "==", " "] {
            assert!(open(&r, &format!("{token}{suffix}")).is_err(), "{suffix:?}");
        }
        let mut raw = decoded(&token);
        raw.push(0);
        assert_eq!(open(&r, &encoded(&raw)), Err(Rejection::Malformed));
    }

    #[test]
    fn empty_and_garbage_are_malformed() {
        let r = ring(&[new()]);
        for garbage in ["", "!!!!", "a b", "AAAA=", "abc+/def", "é", "A"] {
            assert_eq!(open(&r, garbage), Err(Rejection::Malformed), "{garbage:?}");
        }
    }

    #[test]
    fn padded_spelling_of_a_valid_token_is_refused() {
        let r = ring(&[new()]);
        let padded = base64::engine::general_purpose::URL_SAFE.encode(decoded(&sealed(&r)));
        assert!(padded.ends_with('='));
        assert_eq!(open(&r, &padded), Err(Rejection::Malformed));
    }

    #[test]
    fn oversized_input_is_too_long() {
        let r = ring(&[new()]);
        let huge = "A".repeat(1 << 20);
        assert_eq!(open(&r, &huge), Err(Rejection::TooLong));
        let just_over = "A".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(open(&r, &just_over), Err(Rejection::TooLong));
        let at_limit = "A".repeat(MAX_TOKEN_LEN);
        assert_ne!(open(&r, &at_limit), Err(Rejection::TooLong));
    }

    #[test]
    fn unknown_version() {
        let r = ring(&[new()]);
        let mut raw = decoded(&sealed(&r));
        raw[0] = 2;
        assert_eq!(open(&r, &encoded(&raw)), Err(Rejection::UnknownVersion));
    }

    #[test]
    fn bad_key_id_length_is_malformed() {
        let r = ring(&[new()]);
        let mut raw = decoded(&sealed(&r));
        for len in [0u8, 17, 255] {
            raw[1] = len;
            assert_eq!(open(&r, &encoded(&raw)), Err(Rejection::Malformed), "{len}");
        }
    }

    #[test]
    fn unknown_key_id() {
        let token = sealed(&ring(&[key("gone", 9)]));
        assert_eq!(
            open(&ring(&[new(), old()]), &token),
            Err(Rejection::UnknownKey)
        );
    }

    #[test]
    fn same_id_other_secret_is_bad_seal() {
        let token = sealed(&ring(&[key("k2026", 1)]));
        assert_eq!(
            open(&ring(&[key("k2026", 2)]), &token),
            Err(Rejection::BadSeal)
        );
    }

    #[test]
    fn rotated_key_still_opens() {
        let token = sealed(&ring(&[old()]));
        let rotated = ring(&[new(), old()]);
        assert_eq!(open(&rotated, &token).unwrap().session, session());
    }

    #[test]
    fn new_key_seals() {
        let token = sealed(&ring(&[new(), old()]));
        assert_eq!(open(&ring(&[old()]), &token), Err(Rejection::UnknownKey));
        assert!(open(&ring(&[new()]), &token).is_ok());
    }

    #[test]
    fn expiry_boundary() {
        let r = ring(&[new()]);
        let token = sealed(&r);
        let b = binding();
        assert!(r.open(&token, &b, NOW + TTL - 1, TTL).is_ok());
        assert_eq!(r.open(&token, &b, NOW + TTL, TTL), Err(Rejection::Expired));
        assert_eq!(
            r.open(&token, &b, NOW + TTL + 1, TTL),
            Err(Rejection::Expired)
        );
        assert_eq!(r.open(&token, &b, NOW, 0), Err(Rejection::Expired));
    }

    #[test]
    fn a_remembered_token_opens_for_its_own_binding_only() {
        let r = ring(&[new()]);
        let token = sealed(&r);
        assert!(open(&r, &token).is_ok());
        let others = [
            Binding { host: "other.example.com", ..binding() },
            Binding { client_ip: Some("198.51.100.7"), ..binding() },
            Binding { client_ip: None, ..binding() },
            Binding { user_agent: Some("curl/8"), ..binding() },
            Binding { path: Some("/"), ..binding() },
        ];
        for other in others {
            assert_eq!(r.open(&token, &other, NOW, TTL), Err(Rejection::BadSeal), "{other:?}");
        }
        assert!(open(&r, &token).is_ok(), "still remembered for its own");
    }

    #[test]
    fn a_remembered_token_is_not_a_prefix_or_a_neighbour() {
        let r = ring(&[new()]);
        let token = sealed(&r);
        assert!(open(&r, &token).is_ok());
        let mut changed = token.clone().into_bytes();
        if let Some(last) = changed.last_mut() {
            *last = if *last == b'A' { b'Q' } else { b'A' };
        }
        let changed = String::from_utf8(changed).unwrap();
        assert!(open(&r, &changed).is_err());
        assert!(open(&r, &token[..token.len() - 1]).is_err());
        assert!(open(&r, &format!("{token}A")).is_err());
    }

    #[test]
    fn remembering_is_bounded_and_forgets_the_oldest_first() {
        let r = ring(&[new()]);
        let tokens: Vec<String> = (0..REMEMBERED_TOKENS as u8 + 8)
            .map(|n| r.seal(session(), NOW, &binding(), [n; 12]).unwrap())
            .collect();
        for token in &tokens {
            assert!(open(&r, token).is_ok());
        }
        let slots = r.opened.slots.lock().unwrap();
        assert_eq!(slots.entries.len(), REMEMBERED_TOKENS);
        assert!(!slots.entries.iter().any(|e| e.token == tokens[0]), "the oldest went first");
        assert!(slots.entries.iter().any(|e| e.token == tokens[tokens.len() - 1]));
    }

    #[test]
    fn refused_tokens_are_not_remembered_and_copies_start_empty() {
        let r = ring(&[new()]);
        let foreign = sealed(&ring(&[key("k2026", 1)]));
        assert_eq!(open(&r, &foreign), Err(Rejection::BadSeal));
        assert!(r.opened.slots.lock().unwrap().entries.is_empty());
        assert!(open(&r, &sealed(&r)).is_ok());
        assert!(r.clone().opened.slots.lock().unwrap().entries.is_empty());
    }

    #[test]
    fn future_dated() {
        let r = ring(&[new()]);
        let token = sealed(&r);
        let b = binding();
        assert!(r
            .open(&token, &b, NOW - MAX_CLOCK_SKEW_SECONDS, TTL)
            .is_ok());
        assert_eq!(
            r.open(&token, &b, NOW - MAX_CLOCK_SKEW_SECONDS - 1, TTL),
            Err(Rejection::FromTheFuture)
        );
        assert_eq!(r.open(&token, &b, 0, TTL), Err(Rejection::FromTheFuture));
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let r = ring(&[new()]);
        let b = binding();
        let late = r.seal(session(), u64::MAX, &b, [1; 12]).unwrap();
        assert!(r.open(&late, &b, u64::MAX, u64::MAX).is_err());
        assert_eq!(r.open(&late, &b, u64::MAX, 1), Err(Rejection::Expired));
        let early = r.seal(session(), 0, &b, [1; 12]).unwrap();
        assert!(r.open(&early, &b, 0, u64::MAX).is_ok());
        assert_eq!(
            r.open(&early, &b, u64::MAX, u64::MAX),
            Err(Rejection::Expired)
        );
    }

    #[test]
    fn key_ring_validation() {
        assert!(KeyRing::new(&[]).is_none());
        assert!(KeyRing::new(&[key("", 1)]).is_none());
        assert!(KeyRing::new(&[key(&"x".repeat(17), 1)]).is_none());
        assert!(KeyRing::new(&[key("a.b", 1)]).is_none());
        assert!(KeyRing::new(&[key("é", 1)]).is_none());
        assert!(KeyRing::new(&[new(), key("k2026", 3)]).is_none());
        assert!(KeyRing::new(&[new(), key("bad id", 3)]).is_none());
        assert!(KeyRing::new(&[key("A-z_09", 1), old()]).is_some());
    }

    #[test]
    fn nothing_secret_in_debug_output() {
        let k = key("k1", 0xAB);
        let shown = format!("{k:?} {:?} {:?}", ring(std::slice::from_ref(&k)), session());
        assert!(!shown.contains("171"), "{shown}");
        assert_eq!(format!("{:?}", session()), "SessionId(..)");
        let opened = Opened {
            session: session(),
            issued_at: 5,
        };
        assert!(!format!("{opened:?}").contains("48"), "no bytes of b\"0\"");
    }

    #[test]
    fn session_id_hex() {
        assert_eq!(
            SessionId([0x00, 0x01, 0x7f, 0x80, 0xff, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab])
                .to_hex(),
            "00017f80ff10000000000000000000ab"
        );
    }

    #[test]
    fn rejection_labels_are_distinct() {
        let all = [
            Rejection::TooLong,
            Rejection::Malformed,
            Rejection::UnknownVersion,
            Rejection::UnknownKey,
            Rejection::BadSeal,
            Rejection::Expired,
            Rejection::FromTheFuture,
        ];
        let labels: std::collections::HashSet<&str> = all.iter().map(Rejection::as_str).collect();
        assert_eq!(labels.len(), all.len());
        assert_eq!(Rejection::BadSeal.to_string(), "bad_seal");
    }

    fn arb_binding(
    ) -> impl Strategy<Value = (String, Option<String>, Option<String>, Option<String>)> {
        (
            "[a-zA-Z0-9.:-]{0,40}",
            proptest::option::of(".{0,20}"),
            proptest::option::of(".{0,60}"),
            proptest::option::of("/[a-z/]{0,20}"),
        )
    }

    fn as_binding(parts: &(String, Option<String>, Option<String>, Option<String>)) -> Binding<'_> {
        Binding {
            host: &parts.0,
            client_ip: parts.1.as_deref(),
            user_agent: parts.2.as_deref(),
            path: parts.3.as_deref(),
        }
    }

    fn same_binding(a: &Binding, b: &Binding) -> bool {
        a.host.eq_ignore_ascii_case(b.host)
            && a.client_ip == b.client_ip
            && a.user_agent == b.user_agent
            && a.path == b.path
    }

    proptest! {
        #[test]
        fn sealed_tokens_open_and_tampered_ones_never_do(
            id in any::<[u8; 16]>(),
            issued_at in 0u64..=u64::MAX / 2,
            key_id in "[A-Za-z0-9_-]{1,16}",
            secret in any::<[u8; 32]>(),
            nonce in any::<[u8; 12]>(),
            parts in arb_binding(),
            byte_edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            char_edit in (any::<usize>(), any::<char>()),
        ) {
            let r = ring(&[Key { id: key_id, secret }]);
            let b = as_binding(&parts);
            let token = r.seal(SessionId(id), issued_at, &b, nonce).unwrap();
            prop_assert!(token.len() <= MAX_TOKEN_LEN);
            let opened = r.open(&token, &b, issued_at, 1).unwrap();
            prop_assert_eq!(opened, Opened { session: SessionId(id), issued_at });

            let mut raw = decoded(&token);
            for (at, value) in byte_edits {
                let len = raw.len();
                raw[at % len] = value;
            }
            let tampered = encoded(&raw);
            if tampered != token {
                prop_assert!(r.open(&tampered, &b, issued_at, 1).is_err());
            }

            let mut chars: Vec<char> = token.chars().collect();
            let at = char_edit.0 % chars.len();
            chars[at] = char_edit.1;
            let tampered: String = chars.into_iter().collect();
            if tampered != token {
                prop_assert!(r.open(&tampered, &b, issued_at, 1).is_err());
            }
        }

        #[test]
        fn a_token_opens_only_for_its_own_binding(
            issued in arb_binding(),
            presented in arb_binding(),
            nonce in any::<[u8; 12]>(),
        ) {
            let r = ring(&[new()]);
            let (issued, presented) = (as_binding(&issued), as_binding(&presented));
            let token = r.seal(session(), NOW, &issued, nonce).unwrap();
            let result = r.open(&token, &presented, NOW, TTL);
            if same_binding(&issued, &presented) {
                prop_assert!(result.is_ok());
            } else {
                prop_assert_eq!(result, Err(Rejection::BadSeal));
            }
        }

        #[test]
        fn arbitrary_strings_never_open(input in ".{0,120}") {
            let r = ring(&[new()]);
            prop_assert!(open(&r, &input).is_err());
        }
    }
}
