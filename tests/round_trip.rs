//! The cookieless session round trip through a real Envoy: a cookie app works for a client that
//! keeps no cookies, and every way a token can be wrong, stolen or misplaced leads to "no session".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless_testkit as kit;

use kit::upstream::Upstream;
use kit::{filter_config, hidden_field, Client, Demo, Envoy, EnvoyOptions, Reply};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SET_APP_COOKIE: &str = "/page?cookie=app%3Dv1%3B%20Path%3D%2F%3B%20HttpOnly";

/// Starts a session by letting the upstream set a cookie; returns the token the filter handed out.
fn start_session(envoy: &Envoy, client: &Client) -> String {
    let reply = client.get(&envoy.url(SET_APP_COOKIE));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.headers_named("set-cookie").is_empty());
    token_header(&reply)
}

fn token_header(reply: &Reply) -> String {
    reply.header("x-cookieless-token").unwrap_or_else(|| panic!("no token in {:?}", reply.headers)).to_string()
}

/// What the upstream saw, via the echo endpoint.
fn upstream_view(envoy: &Envoy, client: &Client, query_token: &str) -> String {
    let reply = client.get(&envoy.url(&format!("/echo?x=1&sessionid={query_token}")));
    assert_eq!(reply.status, 200);
    reply.body
}

fn resumed(view: &str) -> bool {
    view.contains("x-cookieless-session: resumed") && view.contains("cookie: app=v1")
}

#[test]
fn a_client_without_cookies_completes_the_demo_form_only_through_the_filter() {
    let demo = Demo::start();
    let envoy = Envoy::start(filter_config(json!({})), demo.port);
    let client = Client::new();
    let origin = envoy.url("");

    let step1 = client.get(&envoy.url("/step1"));
    assert_eq!(step1.status, 200);
    let token = token_header(&step1);
    let csrf = hidden_field(&step1.body, "csrfmiddlewaretoken").expect("the demo renders its CSRF field");
    let post1 = client.post_form(
        &envoy.url("/step1"),
        &format!("name=Ada&csrfmiddlewaretoken={csrf}&sessionid={token}"),
        &[("origin", &origin)],
    );
    assert_eq!(post1.status, 303, "{post1:?}");
    let to_step2 = post1.header("location").unwrap().to_string();
    assert!(to_step2.starts_with("/step2?sessionid="), "{to_step2}");

    let step2 = client.get(&envoy.url(&to_step2));
    assert!(step2.body.contains("Ada"), "step 2 lost the name:\n{}", step2.body);
    let token = token_header(&step2);
    let csrf = hidden_field(&step2.body, "csrfmiddlewaretoken").unwrap();
    let post2 = client.post_form(
        &envoy.url("/step2"),
        &format!("email=ada%40example.org&csrfmiddlewaretoken={csrf}&sessionid={token}"),
        &[("origin", &origin)],
    );
    assert_eq!(post2.status, 303, "{post2:?}");
    let to_confirm = post2.header("location").unwrap().to_string();
    assert!(to_confirm.starts_with("/confirm?sessionid="));

    let confirm = client.get(&envoy.url(&to_confirm));
    assert!(confirm.body.contains(r#"<p id="name">Ada</p>"#), "{}", confirm.body);
    assert!(confirm.body.contains(r#"<p id="email">ada@example.org</p>"#), "{}", confirm.body);
    assert!(confirm.headers_named("set-cookie").is_empty());
    assert_eq!(confirm.header("referrer-policy"), Some("same-origin"));
    assert_eq!(confirm.header("cache-control"), Some("private, no-store"));

    // The same client straight at the app: with no cookie jar it cannot get past step 1.
    let direct = format!("http://127.0.0.1:{}", demo.port);
    let page = client.get(&format!("{direct}/step1"));
    let csrf = hidden_field(&page.body, "csrfmiddlewaretoken").unwrap();
    let post = client.post_form(&format!("{direct}/step1"), &format!("name=Ada&csrfmiddlewaretoken={csrf}"), &[]);
    assert_eq!(post.status, 403, "without the filter the app must lose its state: {post:?}");
    envoy.assert_no_panic();
}

#[test]
fn a_session_resumes_and_the_token_never_reaches_the_upstream() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let client = Client::new();
    let token = start_session(&envoy, &client);
    assert_eq!(envoy.counter("cookieless_sessions_created"), 1);

    let view = upstream_view(&envoy, &client, &token);
    assert!(resumed(&view), "{view}");
    assert!(view.starts_with("GET /echo?x=1\n"), "the token stayed in the path: {view}");
    assert!(!view.contains(&token));
    assert!(!view.contains("accept-encoding"), "bodies must come back uncompressed");

    // In a form body, urlencoded and multipart; in the header.
    let form = client.post_form(&envoy.url("/echo"), &format!("a=1&sessionid={token}&b=2"), &[]);
    assert!(resumed(&form.body), "{}", form.body);
    assert!(form.body.ends_with("\na=1&b=2"), "{}", form.body);
    assert!(form.body.contains("content-length: 7"), "{}", form.body);
    let multipart = format!(
        "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XX\r\nContent-Disposition: form-data; name=\"sessionid\"\r\n\r\n{token}\r\n--XX--\r\n"
    );
    let mp = client.post(&envoy.url("/echo"), "multipart/form-data; boundary=XX", multipart.as_bytes(), &[]);
    assert!(resumed(&mp.body), "{}", mp.body);
    assert!(!mp.body.contains(&token) && mp.body.contains("name=\"a\""), "{}", mp.body);
    let header = client.get_with(&envoy.url("/echo"), &[("x-cookieless-token", &token)]);
    assert!(resumed(&header.body) && !header.body.contains(&token), "{}", header.body);

    // Every response with a session carries a fresh token: never the same twice.
    let t2 = token_header(&client.get(&envoy.url(&format!("/page?sessionid={token}"))));
    let t3 = token_header(&client.get(&envoy.url(&format!("/page?sessionid={token}"))));
    assert!(t2 != token && t3 != t2);
    assert!(envoy.counter("cookieless_sessions_resumed") >= 6);
    envoy.assert_no_panic();
}

#[test]
fn requests_that_need_no_state_store_nothing() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let client = Client::new();
    for _ in 0..5 {
        let reply = client.get(&envoy.url("/page?body=hello"));
        assert_eq!(reply.status, 200);
        assert!(reply.header("x-cookieless-token").is_none());
    }
    let view = client.get(&envoy.url("/echo")).body;
    assert!(view.contains("x-cookieless-session: none"), "{view}");
    assert_eq!(envoy.counter("cookieless_sessions_created"), 0);
}

#[test]
fn stolen_or_tampered_tokens_give_no_session() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let owner = Client::with_identity("Browser/1", "192.0.2.10");
    let token = start_session(&envoy, &owner);
    assert!(resumed(&upstream_view(&envoy, &owner, &token)));

    let other_ua = Client::with_identity("Browser/2", "192.0.2.10");
    let other_ip = Client::with_identity("Browser/1", "192.0.2.99");
    for (who, client) in [("another user agent", &other_ua), ("another client IP", &other_ip)] {
        let view = upstream_view(&envoy, client, &token);
        assert!(view.contains("x-cookieless-session: none"), "{who} resumed the session:\n{view}");
        assert!(!view.contains("app=v1"));
    }
    let mut tampered = token.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert!(upstream_view(&envoy, &owner, &tampered).contains("x-cookieless-session: none"));
    assert!(envoy.counter("cookieless_tokens_rejected") >= 3);

    // The owner still has the session afterwards.
    assert!(resumed(&upstream_view(&envoy, &owner, &token)));
    envoy.assert_no_panic();
}

#[test]
fn a_token_from_a_foreign_origin_is_refused() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({"allowed_hosts": ["partner.example"]})), upstream.port);
    let client = Client::new();
    let token = start_session(&envoy, &client);
    let url = envoy.url(&format!("/echo?sessionid={token}"));
    let via = |headers: &[(&str, &str)]| client.get_with(&url, headers).body;
    assert!(via(&[("origin", "https://evil.example")]).contains("session: none"));
    assert!(via(&[("referer", "https://evil.example/page")]).contains("session: none"));
    assert!(via(&[("origin", "null")]).contains("session: none"));
    assert!(resumed(&via(&[("origin", &envoy.url(""))])));
    assert!(resumed(&via(&[("referer", &envoy.url("/step1"))])));
    assert!(resumed(&via(&[("origin", "https://partner.example")])));
    assert!(resumed(&via(&[])), "without require_referer a missing Origin/Referer is fine");
}

#[test]
fn require_referer_refuses_tokens_without_origin_or_referer() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({"require_referer": true})), upstream.port);
    let client = Client::new();
    let token = start_session(&envoy, &client);
    let url = envoy.url(&format!("/echo?sessionid={token}"));
    assert!(client.get(&url).body.contains("session: none"));
    assert!(resumed(&client.get_with(&url, &[("referer", &envoy.url("/"))]).body));
}

#[test]
fn an_expired_token_gives_no_session() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({"token": {"ttl_seconds": 1}})), upstream.port);
    let client = Client::new();
    let token = start_session(&envoy, &client);
    std::thread::sleep(Duration::from_millis(2100));
    assert!(upstream_view(&envoy, &client, &token).contains("session: none"));
    assert_eq!(envoy.counter("cookieless_sessions_expired"), 1);
}

#[test]
fn a_path_scoped_token_only_opens_on_its_path() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({"token": {"scope": "path"}})), upstream.port);
    let client = Client::new();
    let issued = client.get(&envoy.url("/echo/form?cookie=app%3Dv1"));
    let token = token_header(&issued);
    let same_path = client.get(&envoy.url(&format!("/echo/form?sessionid={token}"))).body;
    assert!(resumed(&same_path), "{same_path}");
    let other_path = client.get(&envoy.url(&format!("/echo/other?sessionid={token}"))).body;
    assert!(other_path.contains("session: none"), "{other_path}");
    // Going back to the original path still works.
    assert!(resumed(&client.get(&envoy.url(&format!("/echo/form?sessionid={token}"))).body));
}

#[test]
fn set_cookie_deletion_removes_cookies_from_the_jar() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let client = Client::new();
    let token = token_header(&client.get(&envoy.url("/page?cookie=app%3Dv1&cookie=theme%3Ddark&cookie=gone%3Dx")));
    let delete = format!(
        "/page?sessionid={token}&cookie=theme%3D%3B%20Max-Age%3D0&cookie=gone%3D%3B%20Expires%3DThu%2C%2001%20Jan%201970%2000%3A00%3A00%20GMT"
    );
    let token = token_header(&client.get(&envoy.url(&delete)));
    let view = upstream_view(&envoy, &client, &token);
    assert!(view.contains("cookie: app=v1\n"), "{view}");
    assert!(!view.contains("theme") && !view.contains("gone"), "{view}");

    // Deleting the last cookie ends the session: no token any more.
    let last = client.get(&envoy.url(&format!("/page?sessionid={token}&cookie=app%3D%3B%20Max-Age%3D0")));
    assert!(last.header("x-cookieless-token").is_none(), "{last:?}");
    assert!(upstream_view(&envoy, &client, &token).contains("session: none"));
}

#[test]
fn redirects_carry_the_token_only_to_this_site() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let client = Client::new();
    let token = start_session(&envoy, &client);
    let host = format!("127.0.0.1:{}", envoy.port);
    let redirect = |status: u16, location: &str| {
        let encoded: String = location.bytes().map(|b| format!("%{b:02X}")).collect();
        let reply = client.get(&envoy.url(&format!("/r?sessionid={token}&status={status}&location={encoded}")));
        assert_eq!(reply.status, status);
        reply.header("location").unwrap().to_string()
    };
    for status in [301, 302, 303, 307, 308] {
        let loc = redirect(status, "/next?a=1#frag");
        assert!(loc.starts_with("/next?a=1&sessionid=") && loc.ends_with("#frag"), "{status}: {loc}");
        assert!(!loc.contains("&amp;"));
    }
    let same_host = redirect(302, &format!("http://{host}/next"));
    assert!(same_host.starts_with(&format!("http://{host}/next?sessionid=")), "{same_host}");
    let replaced = redirect(302, "/next?sessionid=old&b=2");
    assert_eq!(replaced.matches("sessionid=").count(), 1, "{replaced}");
    assert!(!replaced.contains("old"));
    for foreign in [
        "https://evil.example/".to_string(),
        format!("http://evil.example/?next={host}"),
        format!("//evil.example/{host}"),
        "https://evil.example/\\".to_string(),
    ] {
        assert_eq!(redirect(302, &foreign), foreign, "a token leaked to {foreign}");
    }
}

#[test]
fn two_tabs_keep_separate_sessions() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let client = Client::new();
    let tab1 = token_header(&client.get(&envoy.url("/page?cookie=app%3Dtab1")));
    let tab2 = token_header(&client.get(&envoy.url("/page?cookie=app%3Dtab2")));
    assert!(upstream_view(&envoy, &client, &tab1).contains("cookie: app=tab1\n"));
    assert!(upstream_view(&envoy, &client, &tab2).contains("cookie: app=tab2\n"));
}

#[test]
fn parallel_requests_of_one_session_lose_no_cookie_across_workers() {
    let upstream = Upstream::start();
    let opts = EnvoyOptions { concurrency: 2, ..Default::default() };
    let envoy = Envoy::start_with(filter_config(json!({})), upstream.port, opts);
    let token = start_session(&envoy, &Client::new());
    let n = 24;
    std::thread::scope(|scope| {
        for i in 0..n {
            let (envoy, token) = (&envoy, &token);
            scope.spawn(move || {
                let reply = Client::new().get(&envoy.url(&format!("/page?sessionid={token}&cookie=c{i}%3D{i}")));
                assert_eq!(reply.status, 200);
            });
        }
    });
    let view = upstream_view(&envoy, &Client::new(), &token);
    for i in 0..n {
        assert!(view.contains(&format!("c{i}={i}")), "cookie c{i} was lost:\n{view}");
    }
    envoy.assert_no_panic();
}

#[test]
fn max_sessions_bounds_the_store_and_evicts_the_oldest() {
    let upstream = Upstream::start();
    let config = filter_config(json!({"store": {"kind": "shared_data", "max_sessions": 8}}));
    let envoy = Envoy::start(config, upstream.port);
    let client = Client::new();
    let first = start_session(&envoy, &client);
    let mut last = first.clone();
    for _ in 0..60 {
        last = start_session(&envoy, &client);
    }
    assert!(envoy.counter("cookieless_store_evictions") >= 50, "{}", envoy.stats());
    assert!(resumed(&upstream_view(&envoy, &client, &last)), "the newest session was evicted");
    assert!(upstream_view(&envoy, &client, &first).contains("session: none"), "the oldest session survived");
}

/// The attack of issue 15: an app that sets a cookie on the first visit lets anyone create sessions
/// with one anonymous request each. 20,000 of them through a store of 400 must not cost the 20 users
/// who keep resuming theirs (once a second each) their sessions, and must not grow Envoy.
#[test]
fn a_flood_of_one_shot_sessions_evicts_no_session_users_resume() {
    const MAX_SESSIONS: u64 = 400;
    const ONE_SHOTS: u64 = 20_000;
    let upstream = Upstream::start();
    let config = filter_config(json!({"store": {"kind": "shared_data", "max_sessions": MAX_SESSIONS}}));
    let envoy = Envoy::start_with(config, upstream.port, EnvoyOptions { concurrency: 2, ..EnvoyOptions::default() });
    let client = Client::new();
    let users: Vec<String> = (0..20).map(|_| start_session(&envoy, &client)).collect();
    let resume_all = || users.iter().filter(|t| !resumed(&upstream_view(&envoy, &client, t))).count();
    assert_eq!(resume_all(), 0, "a first resume failed before the flood");

    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let flooders: Vec<_> = (0..2).map(|_| flood(envoy.url(SET_APP_COOKIE), Arc::clone(&sent), ONE_SHOTS)).collect();
    // Once a second every user resumes; RSS is sampled once the table has been refilled many times.
    let (mut lost, mut rounds, mut rss_warm) = (0, 0, None);
    while !flooders.iter().all(|f| f.is_finished()) {
        std::thread::sleep(Duration::from_secs(1));
        lost += resume_all();
        rounds += 1;
        if sent.load(Ordering::Relaxed) >= ONE_SHOTS / 10 {
            rss_warm.get_or_insert_with(|| envoy.rss_kib());
        }
    }
    let failed: u64 = flooders.into_iter().map(|f| f.join().unwrap()).sum();
    let seconds = started.elapsed().as_secs_f64();
    lost += resume_all();
    let (rss_warm, rss_end) = (rss_warm.unwrap_or(0), envoy.rss_kib());
    let one_shot = envoy.counter("cookieless_store_evictions_one_shot");
    let of_resumed = envoy.counter("cookieless_store_evictions_resumed");
    // Nothing expires or is deleted here: what was created and not evicted is in the store.
    let entries = envoy.counter("cookieless_sessions_created").saturating_sub(envoy.counter("cookieless_store_evictions"));
    eprintln!(
        "flood: {ONE_SHOTS} one-shot sessions in {seconds:.1} s, {rounds} rounds of 20 resumes, {lost} lost; evictions: \
         {one_shot} one-shot, {of_resumed} resumed; {entries} entries stored; Envoy RSS {rss_warm} KiB after {} \
         one-shots, {rss_end} KiB at the end",
        ONE_SHOTS / 10
    );
    assert_eq!(failed, 0, "one-shot requests without a token");
    assert_eq!(lost, 0, "resumes that found no session, over {} rounds", rounds + 1);
    assert_eq!(of_resumed, 0, "{}", envoy.stats());
    assert!(one_shot >= ONE_SHOTS - MAX_SESSIONS, "{}", envoy.stats());
    assert_eq!(envoy.counter("cookieless_store_evictions"), one_shot);
    // Full, not past full: every eviction counted once (also those whose write lost a CAS race).
    assert_eq!(entries, MAX_SESSIONS, "sessions created less those evicted");
    // The table is full from the first few hundred one-shots on: what follows only replaces entries.
    assert!(rss_warm > 0, "Envoy's RSS was not sampled");
    assert!(rss_end <= rss_warm + 4 * 1024, "Envoy's RSS grew from {rss_warm} KiB to {rss_end} KiB");
    envoy.assert_no_panic();
}

/// A thread that sends one-shot requests (each starts a session) until `total` were sent by all
/// such threads together; returns how many came back without a token.
fn flood(url: String, sent: Arc<AtomicU64>, total: u64) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let client = Client::new();
        let mut failed = 0;
        while sent.fetch_add(1, Ordering::Relaxed) < total {
            let reply = client.get(&url);
            if reply.status != 200 || reply.header("x-cookieless-token").is_none() {
                failed += 1;
            }
        }
        failed
    })
}

#[test]
fn bad_tokens_and_bodies_never_give_a_5xx() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let client = Client::new();
    let long = "A".repeat(7000);
    let junk = ["", "x", "%00%ff", "....", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &long];
    for token in junk {
        let q = client.get(&envoy.url(&format!("/echo?sessionid={token}")));
        assert_eq!(q.status, 200, "query token {token:.20}: {q:?}");
        assert!(q.body.contains("session: none"));
        let f = client.post_form(&envoy.url("/echo"), &format!("sessionid={token}"), &[]);
        assert_eq!(f.status, 200, "form token {token:.20}: {f:?}");
        let h = client.get_with(&envoy.url("/echo"), &[("x-cookieless-token", token)]);
        assert_eq!(h.status, 200);
    }
    let huge = "A".repeat(1 << 20);
    let f = client.post_form(&envoy.url("/echo"), &format!("a=1&sessionid={huge}"), &[]);
    assert!(f.status < 500 || f.status == 413, "a 1 MiB form token: {}", f.status);
    let broken = client.post(&envoy.url("/echo"), "multipart/form-data; boundary=B", b"--B\r\ngarbage", &[]);
    assert_eq!(broken.status, 200);
    let binary = client.post(&envoy.url("/echo"), "application/x-www-form-urlencoded", &[0xff, 0xfe, 0x00, 0x26], &[]);
    assert_eq!(binary.status, 200);
    envoy.assert_no_panic();
}

#[test]
fn clear_browser_asks_the_browser_to_drop_its_cookies() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({"cookies": {"clear_browser": true}})), upstream.port);
    let client = Client::new();
    let with = client.get_with(&envoy.url("/page"), &[("cookie", "old=1")]);
    assert_eq!(with.header("clear-site-data"), Some("\"cookies\""));
    assert!(client.get(&envoy.url("/page")).header("clear-site-data").is_none());
}

#[test]
fn metrics_appear_in_envoy_stats_with_the_contract_names() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let stats = envoy.stats();
    for name in [
        "cookieless_sessions_created",
        "cookieless_sessions_resumed",
        "cookieless_sessions_expired",
        "cookieless_tokens_rejected",
        "cookieless_bodies_rewritten",
        "cookieless_rewrite_skipped",
        "cookieless_store_errors",
        "cookieless_store_evictions",
        "cookieless_store_evictions_one_shot",
        "cookieless_store_evictions_resumed",
    ] {
        assert!(stats.contains(name), "{name} missing from /stats");
    }
}
