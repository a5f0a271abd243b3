//! Hostile and odd input through a real Envoy with the filter: tokens of every wrong shape, huge
//! queries and forms, bodies at and past Envoy's buffer limit, slow and 1-byte-chunked clients,
//! compressed request bodies, malformed HTML and odd upstream headers, headers at Envoy's limits
//! and bytes that are not UTF-8. Whatever comes in: never a 5xx from the filter, never a panic in
//! Envoy's log, and the session still works afterwards. (The plain list of junk tokens is in
//! `round_trip.rs`; this file goes further.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless_testkit as kit;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use kit::upstream::Upstream;
use kit::{filter_config, Client, Envoy, Reply};
use cookieless::token::{Binding, Key, KeyRing, SessionId};
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const UA: &str = "BadInput/1";
const IP: &str = "192.0.2.44";

fn client() -> Client {
    Client::with_identity(UA, IP)
}

/// A session for `client()`; returns its token.
fn start_session(envoy: &Envoy) -> String {
    let reply = client().get(&envoy.url("/page?cookie=app%3Dv1"));
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.header("x-cookieless-token").expect("a token").to_string()
}

fn resumed(view: &str) -> bool {
    view.contains("x-cookieless-session: resumed") && view.contains("cookie: app=v1")
}

fn no_session(view: &str) -> bool {
    view.contains("x-cookieless-session: none") && !view.contains("app=v1")
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn key(id: &str, secret_b64: &str) -> Key {
    Key { id: id.into(), secret: STANDARD.decode(secret_b64).unwrap().try_into().unwrap() }
}

/// A token sealed here, as the filter would seal one for `client()` on `envoy`.
fn forge(envoy: &Envoy, keys: &[Key], issued_at: u64, host: Option<&str>) -> String {
    let authority = format!("127.0.0.1:{}", envoy.port);
    let binding =
        Binding { host: host.unwrap_or(&authority), client_ip: Some(IP), user_agent: Some(UA), path: None };
    KeyRing::new(keys).unwrap().seal(SessionId([0x5a; 16]), issued_at, &binding, [0x11; 12]).unwrap()
}

/// One request written by hand on its own connection (`connection: close` is added); the bytes
/// of the head are sent as given, so they may be anything.
fn raw(port: u16, head: &[u8], body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(head).unwrap();
    s.write_all(b"connection: close\r\n\r\n").unwrap();
    s.write_all(body).unwrap();
    read_reply(s)
}

fn read_reply(s: TcpStream) -> Reply {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut reader = BufReader::new(s);
    let mut status = 0;
    let mut headers = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            return Reply { status: 0, headers, body: "connection closed before a reply".into() };
        }
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        if status == 0 || status == 100 {
            if line.is_empty() {
                continue;
            }
            if let Some(code) = line.strip_prefix("HTTP/1.1 ") {
                status = code.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
                if status == 100 {
                    continue;
                }
                continue;
            }
        }
        if line.is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).unwrap_or(0) == 0 {
                break;
            }
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let at = body.len();
            body.resize(at + n, 0);
            reader.read_exact(&mut body[at..]).unwrap();
            reader.read_line(&mut size).unwrap();
        }
    } else {
        let _ = reader.read_to_end(&mut body);
    }
    Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// Head of a request from `client()`, without the final blank line.
/// The whole answer to a raw request, as Envoy sent it.
fn raw_answer(port: u16, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    s.write_all(b"connection: close\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    answer
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn head(method: &str, target: &str, port: u16, extra: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nuser-agent: {UA}\r\nx-forwarded-for: {IP}\r\n{extra}")
        .into_bytes()
}

#[test]
fn tokens_of_every_wrong_shape_give_no_session_and_never_reach_the_upstream() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let good = start_session(&envoy);
    let c = client();
    let view = |target: &str| {
        let reply = c.get(&envoy.url(target));
        assert_eq!(reply.status, 200, "{target:.60}: {reply:?}");
        reply.body
    };
    assert!(resumed(&view(&format!("/echo?sessionid={good}"))));

    let mut shapes: Vec<(&str, String)> = vec![
        ("one character short", good[..good.len() - 1].to_string()),
        ("one character more", format!("{good}A")),
        ("padded", format!("{good}==")),
        ("standard base64", STANDARD.encode(URL_SAFE_NO_PAD.decode(&good).unwrap())),
        ("lower case", good.to_ascii_lowercase()),
        ("upper case", good.to_ascii_uppercase()),
        ("reversed", good.chars().rev().collect()),
        ("twice", format!("{good}{good}")),
        ("percent-encoded", good.bytes().map(|b| format!("%{b:02X}")).collect()),
        ("with a space", format!("%20{good}")),
        ("plus for space", format!("+{good}")),
        ("NUL inside", format!("{}%00{}", &good[..10], &good[10..])),
        ("unicode", "%E2%9C%93%F0%9F%8D%AA".into()),
        ("overlong UTF-8", "%C0%AF%E0%80%AF".into()),
        ("key id only", URL_SAFE_NO_PAD.encode(b"\x01\x02k1")),
        ("version 0", URL_SAFE_NO_PAD.encode([&[0u8][..], &URL_SAFE_NO_PAD.decode(&good).unwrap()[1..]].concat())),
        ("version 255", URL_SAFE_NO_PAD.encode([&[255u8][..], &URL_SAFE_NO_PAD.decode(&good).unwrap()[1..]].concat())),
        ("key id length past the end", URL_SAFE_NO_PAD.encode(b"\x01\xffk1")),
        ("only base64 padding", "====".into()),
        ("semicolons", ";;;".into()),
        ("ampersand-encoded", "%26sessionid%3D".into()),
    ];
    // Well-formed tokens that must not open: another secret under the same key id, an unknown key
    // id, a session that does not exist, issued in the future, or for another host.
    let ours = key("k1", kit::KEY);
    shapes.push(("another secret, same key id", forge(&envoy, &[key("k1", kit::OTHER_KEY)], now(), None)));
    shapes.push(("unknown key id", forge(&envoy, &[key("k9", kit::KEY)], now(), None)));
    shapes.push(("an unknown session", forge(&envoy, std::slice::from_ref(&ours), now(), None)));
    shapes.push(("from the future", forge(&envoy, std::slice::from_ref(&ours), now() + 3600, None)));
    shapes.push(("issued at 0", forge(&envoy, std::slice::from_ref(&ours), 0, None)));
    shapes.push(("issued at u64::MAX", forge(&envoy, std::slice::from_ref(&ours), u64::MAX, None)));
    shapes.push(("another host", forge(&envoy, &[ours], now(), Some("shop.example.com"))));

    for (what, token) in &shapes {
        let q = view(&format!("/echo?sessionid={token}&x=1"));
        assert!(no_session(&q), "{what} (query) opened:\n{q}");
        assert!(!q.contains("sessionid"), "{what}: the parameter reached the upstream:\n{q}");
        let f = c.post_form(&envoy.url("/echo"), &format!("a=1&sessionid={token}"), &[]);
        assert_eq!(f.status, 200, "{what} (form): {f:?}");
        assert!(no_session(&f.body) && f.body.ends_with("\na=1"), "{what} (form):\n{}", f.body);
        let h = c.get_with(&envoy.url("/echo"), &[("x-cookieless-token", token)]);
        assert_eq!(h.status, 200, "{what} (header): {h:?}");
        assert!(no_session(&h.body) && !h.body.contains("x-cookieless-token"), "{what} (header):\n{}", h.body);
    }

    // Several places, several values: the token is removed from all of them.
    for target in [
        format!("/echo?sessionid=&sessionid={good}"),
        format!("/echo?sessionid&x=1&sessionid={good}"),
        format!("/echo?sessionid={good}&sessionid=junk&sessionid=&sessionid"),
        "/echo?sessionid==&sessionid===".to_string(),
    ] {
        let body = view(&target);
        assert!(!body.contains("sessionid"), "{target}: reached the upstream:\n{body}");
    }
    let both = c.get_with(&envoy.url("/echo?sessionid=junk"), &[("x-cookieless-token", &good)]);
    assert!(resumed(&both.body), "a good header token next to a bad query token:\n{}", both.body);
    let spaced = c.get_with(&envoy.url("/echo"), &[("x-cookieless-token", &format!("  {good}\t"))]);
    assert!(resumed(&spaced.body), "{}", spaced.body);

    // Bytes that are not UTF-8 in the token header and in the query.
    for h in [&b"x-cookieless-token: \xff\xfe\xfd\r\n"[..], b"x-cookieless-token: A\x80B\r\n"] {
        let reply = raw(envoy.port, &[head("GET", "/echo", envoy.port, ""), h.to_vec()].concat(), b"");
        assert!(reply.status < 500, "{reply:?}");
    }
    let reply = raw(envoy.port, &head("GET", "/echo?sessionid=%FF%FE&a=\u{e9}", envoy.port, ""), b"");
    assert!(reply.status < 500, "{reply:?}");

    assert!(resumed(&view(&format!("/echo?sessionid={good}"))), "the real session broke");
    envoy.assert_no_panic();
}

#[test]
fn ten_thousand_parameters_in_the_query_and_in_a_form() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let good = start_session(&envoy);
    let c = client();
    let many = "a=1&".repeat(10_000);

    let q = c.get(&envoy.url(&format!("/echo?{many}sessionid={good}")));
    assert_eq!(q.status, 200, "{:.300}", q.body);
    assert!(resumed(&q.body));
    assert_eq!(q.body.lines().next().unwrap().matches("a=1").count(), 10_000);
    assert!(!q.body.contains("sessionid"));

    let first = c.get(&envoy.url(&format!("/echo?sessionid={good}&{many}z=2")));
    assert!(resumed(&first.body) && !first.body.contains("sessionid"));

    let junk = "sessionid=x&".repeat(5_000);
    let all_tokens = c.get(&envoy.url(&format!("/echo?{junk}b=2")));
    assert_eq!(all_tokens.status, 200);
    assert!(no_session(&all_tokens.body) && all_tokens.body.starts_with("GET /echo?b=2\n"), "{:.300}", all_tokens.body);

    let form = c.post_form(&envoy.url("/echo"), &format!("{many}sessionid={good}"), &[]);
    assert_eq!(form.status, 200);
    assert!(resumed(&form.body));
    assert!(form.body.ends_with(many.trim_end_matches('&')), "the form lost fields");

    let fields: String = (0..10_000).map(|i| format!("--B\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n{i}\r\n")).collect();
    let multipart = format!("{fields}--B\r\nContent-Disposition: form-data; name=\"sessionid\"\r\n\r\n{good}\r\n--B--\r\n");
    let mp = c.post(&envoy.url("/echo"), "multipart/form-data; boundary=B", multipart.as_bytes(), &[]);
    assert_eq!(mp.status, 200);
    assert!(resumed(&mp.body) && !mp.body.contains(&good) && mp.body.contains("name=\"f9999\""));
    envoy.assert_no_panic();
}

#[test]
fn form_bodies_at_and_past_envoys_buffer_limit() {
    const LIMIT: usize = 1 << 20; // per_connection_buffer_limit_bytes, Envoy's default
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let good = start_session(&envoy);
    let c = client();
    let field = |total: usize| {
        let tail = format!("&sessionid={good}");
        format!("big={}{tail}", "x".repeat(total - 4 - tail.len()))
    };

    // Just under the limit: the filter holds the whole body, takes the token out of its end.
    let under = c.post_form(&envoy.url("/echo"), &field(LIMIT - 16 * 1024), &[]);
    assert_eq!(under.status, 200);
    assert!(resumed(&under.body), "{:.300}", under.body);
    assert!(!under.body.contains(&good));

    // At and past it, Envoy answers 413 itself; the filter must not turn that into a 5xx or hang.
    for size in [LIMIT, LIMIT + 1, LIMIT + 64 * 1024, 3 * LIMIT] {
        let reply = c.post_form(&envoy.url("/echo"), &field(size), &[]);
        assert!(reply.status == 200 || reply.status == 413, "{size} bytes: {} {:.200}", reply.status, reply.body);
        if reply.status == 200 {
            assert!(resumed(&reply.body));
        }
    }
    let multipart = format!(
        "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\n{}\r\n--B\r\nContent-Disposition: form-data; name=\"sessionid\"\r\n\r\n{good}\r\n--B--\r\n",
        "y".repeat(2 * LIMIT)
    );
    let mp = c.post(&envoy.url("/echo"), "multipart/form-data; boundary=B", multipart.as_bytes(), &[]);
    assert_eq!(mp.status, 413, "{:.200}", mp.body);

    // A body that is no form is never held: large uploads stream through.
    let upload = vec![b'z'; 3 * LIMIT];
    let streamed = c.post(&envoy.url("/echo"), "application/octet-stream", &upload, &[("x-cookieless-token", &good)]);
    assert_eq!(streamed.status, 200);
    assert!(resumed(&streamed.body));
    assert!(streamed.body.len() > upload.len());

    assert!(resumed(&c.get(&envoy.url(&format!("/echo?sessionid={good}"))).body));
    envoy.assert_no_panic();
}

/// A urlencoded form with the token in the middle.
fn form_with(token: &str) -> String {
    format!("name=Ada+Lovelace&sessionid={token}&comment={}", "hello+world+".repeat(10))
}

#[test]
fn slow_one_byte_chunked_and_compressed_request_bodies() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let good = start_session(&envoy);
    let body = form_with(&good);
    let expected_rest = body.replace(&format!("sessionid={good}&"), "");
    let form_head = |extra: &str| head("POST", "/echo", envoy.port, &format!("content-type: application/x-www-form-urlencoded\r\n{extra}"));

    // A slow client: headers, then the body one byte at a time with pauses.
    let mut s = TcpStream::connect(("127.0.0.1", envoy.port)).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(&form_head(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()))).unwrap();
    for b in body.as_bytes() {
        s.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let slow = read_reply(s);
    assert_eq!(slow.status, 200, "{slow:?}");
    assert!(resumed(&slow.body) && slow.body.ends_with(&format!("\n{expected_rest}")), "{}", slow.body);

    // Chunked transfer encoding, one byte per chunk, some chunks apart in time.
    let mut s = TcpStream::connect(("127.0.0.1", envoy.port)).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(&form_head("transfer-encoding: chunked\r\nconnection: close\r\n\r\n")).unwrap();
    for (i, b) in body.as_bytes().iter().enumerate() {
        s.write_all(&[b'1', b'\r', b'\n', *b, b'\r', b'\n']).unwrap();
        if i % 16 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    s.write_all(b"0\r\n\r\n").unwrap();
    let chunked = read_reply(s);
    assert_eq!(chunked.status, 200, "{chunked:?}");
    assert!(resumed(&chunked.body) && chunked.body.ends_with(&format!("\n{expected_rest}")), "{}", chunked.body);

    // Expect: 100-continue, the body sent only once Envoy says so.
    let mut s = TcpStream::connect(("127.0.0.1", envoy.port)).unwrap();
    s.write_all(&form_head(&format!("content-length: {}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n", body.len()))).unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert!(interim.starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"), "{}", String::from_utf8_lossy(&interim));
    s.write_all(body.as_bytes()).unwrap();
    let continued = read_reply(s);
    assert!(resumed(&continued.body), "{continued:?}");

    // A slow client that gives up half-way: Envoy drops it; the filter must not mind.
    let mut s = TcpStream::connect(("127.0.0.1", envoy.port)).unwrap();
    s.write_all(&form_head(&format!("content-length: {}\r\n\r\n", body.len()))).unwrap();
    s.write_all(&body.as_bytes()[..body.len() / 2]).unwrap();
    drop(s);

    // Compressed bodies are not forms the filter can read: passed on byte for byte.
    for encoding in ["gzip", "deflate", "br"] {
        let compressed = match encoding {
            "gzip" => compressed(GzEncoder::new(Vec::new(), Compression::default()), body.as_bytes(), GzEncoder::finish),
            "deflate" => compressed(ZlibEncoder::new(Vec::new(), Compression::default()), body.as_bytes(), ZlibEncoder::finish),
            _ => [&b"\x0b\x80"[..], body.as_bytes(), b"\x03"].concat(),
        };
        let reply = raw(
            envoy.port,
            &form_head(&format!("content-encoding: {encoding}\r\ncontent-length: {}\r\n", compressed.len())),
            &compressed,
        );
        assert_eq!(reply.status, 200, "{encoding}: {reply:?}");
        assert!(reply.body.contains(&format!("content-length: {}", compressed.len())), "{encoding} body changed:\n{}", reply.body);
        assert!(reply.body.ends_with(&String::from_utf8_lossy(&compressed).into_owned()), "{encoding}:\n{}", reply.body);
    }

    assert!(resumed(&client().get(&envoy.url(&format!("/echo?sessionid={good}"))).body));
    envoy.assert_no_panic();
}

fn compressed<W: Write>(mut encoder: W, data: &[u8], finish: impl FnOnce(W) -> std::io::Result<Vec<u8>>) -> Vec<u8> {
    encoder.write_all(data).unwrap();
    finish(encoder).unwrap()
}

/// An upstream that answers with bytes exactly as written: `/start` sets a cookie; `/r/NAME`
/// answers the canned response NAME, whole or (`?chunked`) in 1-byte chunks.
struct RawUpstream {
    port: u16,
}

fn canned(name: &str) -> (Vec<(&'static str, Vec<u8>)>, Vec<u8>) {
    let html = vec![("content-type", b"text/html; charset=utf-8".to_vec())];
    let with = |extra: &[(&'static str, &[u8])]| {
        let mut h = html.clone();
        h.extend(extra.iter().map(|(n, v)| (*n, v.to_vec())));
        h
    };
    let big_attr = [&b"<p>ok</p><a href=\"/x"[..], &vec![b'x'; 2 << 20], b"\">never closed"].concat();
    match name {
        "start" => (with(&[("set-cookie", b"app=v1; Path=/")]), b"<p>started</p>".to_vec()),
        "invalid-utf8" => (html, b"<a href=\"/caf\xe9\">caf\xe9</a><form action=\"/\xff\xfe\"></form>\xc3(".to_vec()),
        "unterminated-tag" => (html, b"<p>text</p><a href=\"/next".to_vec()),
        "unterminated-comment" => (html, b"<!-- <a href=\"/x\">x</a>".to_vec()),
        "unterminated-script" => (html, b"<script>var s = \"<a href='/x'>\"; <!-- <script>".to_vec()),
        "unterminated-form" => (html, b"<form method=post action=/f><input name=a".to_vec()),
        "nul-bytes" => (html, b"<a\0 href=\"/\0x\">\0</a><form\0>\0</form>".to_vec()),
        "angle-soup" => (html, b"<<<<>>>></><a href=><a href='><a href=\"'>'\"<form action><meta http-equiv=refresh content=\"0;url=/x".to_vec()),
        "deep-nesting" => (html, [b"<div>".repeat(50_000), b"<a href=\"/deep\">d</a>".to_vec(), b"</div>".repeat(50_000)].concat()),
        "two-megabyte-attribute" => (html, big_attr),
        "binary-as-html" => (html, (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()),
        "utf16-as-html" => (
            with(&[("content-type", b"text/html; charset=utf-16")]),
            "<a href=\"/x\">x</a>".encode_utf16().flat_map(u16::to_le_bytes).collect(),
        ),
        "latin1-header" => (with(&[("x-note", b"caf\xe9"), ("content-disposition", b"inline; filename=\"r\xe9sum\xe9.html\"")]), b"<a href=\"/l\">l</a>".to_vec()),
        "latin1-set-cookie" => (with(&[("set-cookie", b"city=Z\xfcrich; Path=/")]), b"<p>cookie</p>".to_vec()),
        "garbage-set-cookies" => (
            with(&[
                ("set-cookie", b"="),
                ("set-cookie", b";;;"),
                ("set-cookie", b"noequals"),
                ("set-cookie", b"a=1; Max-Age=abc; Expires=yesterday"),
                ("set-cookie", b"b=2; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=99999999999999999999"),
                ("set-cookie", b"\"q\"=\"v\""),
            ]),
            b"<p>garbage</p>".to_vec(),
        ),
        "huge-set-cookie" => (with(&[("set-cookie", format!("huge={}; Path=/", "h".repeat(20 * 1024)).as_bytes())]), b"<p>huge</p>".to_vec()),
        // Envoy allows 100 headers in a response (more is its own 502): 90 Set-Cookies.
        "many-set-cookies" => {
            let cookies: Vec<(&'static str, Vec<u8>)> = (0..90).map(|i| ("set-cookie", format!("c{i}={i}; Path=/").into_bytes())).collect();
            let mut h = html.clone();
            h.extend(cookies);
            (h, b"<p>many</p>".to_vec())
        }
        "latin1-location" => (with(&[(":status", b"302"), ("location", b"/caf\xe9?x=\xff")]), Vec::new()),
        _ => (html, b"<a href=\"/page\">page</a>".to_vec()),
    }
}

impl RawUpstream {
    fn start() -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                std::thread::spawn(move || {
                    let _ = RawUpstream::serve(conn);
                });
            }
        });
        RawUpstream { port }
    }

    fn serve(conn: TcpStream) -> std::io::Result<()> {
        conn.set_nodelay(true)?;
        let mut reader = BufReader::new(conn.try_clone()?);
        let mut out = conn;
        loop {
            let mut request_line = String::new();
            if reader.read_line(&mut request_line)? == 0 {
                return Ok(());
            }
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            let target = request_line.split(' ').nth(1).unwrap_or("/");
            let chunked = target.contains("chunked");
            let name = target.trim_start_matches("/r/").split('?').next().unwrap_or("");
            let (headers, body) = canned(name);
            let status = headers.iter().find(|(n, _)| *n == ":status").map_or(b"200".to_vec(), |(_, v)| v.clone());
            let mut head = [&b"HTTP/1.1 "[..], &status, b" X\r\n"].concat();
            for (n, v) in headers.iter().filter(|(n, _)| !n.starts_with(':')) {
                head.extend_from_slice(n.as_bytes());
                head.extend_from_slice(b": ");
                head.extend_from_slice(v);
                head.extend_from_slice(b"\r\n");
            }
            if chunked {
                // Small bodies go out one chunk per packet; large ones in 1-byte chunks too, but
                // several KiB of them per write, or the test would take minutes.
                out.write_all(&[&head[..], b"transfer-encoding: chunked\r\n\r\n"].concat())?;
                let mut pending = Vec::new();
                for piece in body.chunks(1) {
                    pending.extend_from_slice(&[&b"1\r\n"[..], piece, b"\r\n"].concat());
                    if body.len() <= 64 * 1024 || pending.len() >= 24 * 1024 {
                        out.write_all(&pending)?;
                        pending.clear();
                    }
                }
                pending.extend_from_slice(b"0\r\n\r\n");
                out.write_all(&pending)?;
            } else {
                out.write_all(&[&head[..], format!("content-length: {}\r\n\r\n", body.len()).as_bytes(), &body].concat())?;
            }
        }
    }
}

#[test]
fn malformed_html_and_odd_upstream_headers_are_passed_on_never_an_error() {
    let upstream = RawUpstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let c = client();
    let start = c.get(&envoy.url("/r/start"));
    assert_eq!(start.status, 200, "{start:?}");
    let good = start.header("x-cookieless-token").expect("a session").to_string();

    for name in [
        "invalid-utf8",
        "unterminated-tag",
        "unterminated-comment",
        "unterminated-script",
        "unterminated-form",
        "nul-bytes",
        "angle-soup",
        "deep-nesting",
        "two-megabyte-attribute",
        "binary-as-html",
        "utf16-as-html",
        "latin1-header",
        "garbage-set-cookies",
        "huge-set-cookie",
        "many-set-cookies",
        "latin1-set-cookie",
        "latin1-location",
    ] {
        let (_, canned_body) = canned(name);
        for (how, query) in [("whole", ""), ("1-byte chunks", "&chunked")] {
            let url = envoy.url(&format!("/r/{name}?sessionid={good}{query}"));
            let reply = raw(envoy.port, &head("GET", &url[url.find("/r/").unwrap()..], envoy.port, ""), b"");
            assert!(reply.status == 200 || reply.status == 302, "{name} ({how}): {} {:.300}", reply.status, reply.body);
            assert!(
                reply.body.len() + 8 >= String::from_utf8_lossy(&canned_body).len(),
                "{name} ({how}): the body shrank from {} to {} bytes",
                canned_body.len(),
                reply.body.len()
            );
            assert!(reply.headers.iter().all(|(n, _)| n != "set-cookie"), "{name}: a Set-Cookie reached the client");
        }
    }
    // A page rewritten from 1-byte chunks reads as the same page rewritten whole.
    let whole = c.get(&envoy.url(&format!("/r/angle-soup?sessionid={good}")));
    let chunked = c.get(&envoy.url(&format!("/r/angle-soup?sessionid={good}&chunked")));
    // Each response has its own token and its own form id.
    let normal = |r: &Reply| {
        let body = r.body.replace(r.header("x-cookieless-token").unwrap_or("-"), "TOKEN");
        match body.find("cl-") {
            Some(at) => body.replace(body.get(at..at + 19).unwrap_or("-"), "cl-ID"),
            None => body,
        }
    };
    assert_eq!(normal(&whole), normal(&chunked));

    let after = c.get(&envoy.url(&format!("/r/page?sessionid={good}")));
    assert!(after.header("x-cookieless-token").is_some(), "the session was lost: {after:?}");
    envoy.assert_no_panic();
}

#[test]
fn headers_at_envoys_limits_and_bytes_that_are_not_utf8() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let good = start_session(&envoy);
    let c = client();
    let echo = envoy.url(&format!("/echo?sessionid={good}"));

    // Envoy's default max_request_headers_kb is 60: just under passes, over is Envoy's 431.
    let under = "u".repeat(58 * 1024);
    let reply = c.get_with(&echo, &[("x-big", &under)]);
    assert_eq!(reply.status, 200);
    assert!(resumed(&reply.body));
    let over = "o".repeat(61 * 1024);
    let reply = c.get_with(&echo, &[("x-big", &over)]);
    assert!(reply.status == 431 || reply.status == 0, "{} {:.200}", reply.status, reply.body);

    // A browser Cookie header of 50 KiB (removed on cookieless routes), and a token header as big.
    let cookies: String = (0..2000).map(|i| format!("c{i}={}; ", "v".repeat(20))).collect();
    let reply = c.get_with(&echo, &[("cookie", &cookies)]);
    assert!(resumed(&reply.body) && !reply.body.contains("c1999="), "{:.300}", reply.body);
    let reply = c.get_with(&envoy.url("/echo"), &[("x-cookieless-token", &"T".repeat(50 * 1024))]);
    assert_eq!(reply.status, 200);
    assert!(no_session(&reply.body));

    // Close to Envoy's default limit of 100 headers.
    let names: Vec<String> = (0..90).map(|i| format!("x-h{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let reply = c.get_with(&echo, &many);
    assert_eq!(reply.status, 200);
    assert!(resumed(&reply.body));

    // A long path (50 KiB) with the token last, and one with the token first.
    let long = format!("/echo/{}?x=1&sessionid={good}", "p".repeat(50 * 1024));
    assert!(resumed(&c.get(&envoy.url(&long)).body));

    // Header values that are not UTF-8 (obs-text, which Envoy lets through) in every header the
    // filter reads, each on a cookieless route with a good token.
    let target = format!("/echo?sessionid={good}");
    for header in [
        &b"x-forwarded-for: 203.0.113.\xe9\r\n"[..],
        b"cookie: a=caf\xe9; b=\xff\r\n",
        b"origin: http://caf\xe9.example\r\n",
        b"referer: http://127.0.0.1/caf\xe9\r\n",
        b"x-cookieless-session: \xff\r\n",
        b"content-type: text/html; charset=\xe9\r\n",
        // Not even the name: Envoy should refuse it; if it did not, the filter must not mind.
        b"x-caf\xe9: 1\r\n",
    ] {
        let reply = raw(envoy.port, &[head("GET", &target, envoy.port, ""), header.to_vec()].concat(), b"");
        assert!(reply.status < 500 && reply.status != 0, "{}: {reply:?}", String::from_utf8_lossy(header));
    }
    let odd_ua = b"GET /echo HTTP/1.1\r\nhost: h\r\nuser-agent: Mozilla/5.0 (caf\xe9)\r\n";
    let reply = raw(envoy.port, odd_ua, b"");
    assert!(reply.status < 500 && reply.status != 0, "{reply:?}");
    let odd_post = [
        head("POST", "/echo", envoy.port, "").as_slice(),
        b"content-type: application/x-www-form-urlencoded; charset=\xe9\r\ncontent-length: 3\r\n",
    ]
    .concat();
    let reply = raw(envoy.port, &odd_post, b"a=1");
    assert!(reply.status < 500 && reply.status != 0, "{reply:?}");

    // Odd request targets and methods.
    for target in ["*", "http://127.0.0.1/echo?sessionid=x", "/echo?%", "/echo/%2e%2e/%2F?sessionid=%", "/%00"] {
        for method in ["GET", "OPTIONS", "HEAD", "DELETE", "PATCH"] {
            let reply = raw(envoy.port, &head(method, target, envoy.port, ""), b"");
            assert!(reply.status < 500, "{method} {target}: {reply:?}");
        }
    }

    assert!(resumed(&c.get(&echo).body), "the session broke");
    envoy.assert_no_panic();
}

#[test]
fn a_location_that_is_not_utf8_keeps_every_byte_but_gains_the_token() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let good = start_session(&envoy);
    // A redirect to a Latin-1 path (`/caf\xe9`): the token is added, nothing else changes.
    let target = format!("/page?sessionid={good}&status=302&header_hex=location:2f636166e9");
    let answer = raw_answer(envoy.port, &head("GET", &target, envoy.port, ""));
    assert!(contains(&answer, b"\r\nlocation: /caf\xe9?sessionid="), "{}", String::from_utf8_lossy(&answer));
    // (A Referer with such bytes is not checked: measured here, Envoy passes none upstream, with
    // the filter or without it.)
    envoy.assert_no_panic();
}
