//! The jar through a real Envoy behaves like a browser's cookie store (RFC 6265): cookies expire
//! when the app said, go only to the paths and hosts the app allowed, `Secure` ones never over
//! http, prefixed names only with what their prefix demands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless_testkit as kit;

use kit::upstream::Upstream;
use kit::{filter_config, Client, Envoy, Reply};
use serde_json::json;
use std::time::Duration;

fn token(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.header("x-cookieless-token").unwrap_or_else(|| panic!("no token: {reply:?}")).to_string()
}

/// Percent-encodes a Set-Cookie value for the upstream's `cookie=` parameter.
fn enc(set_cookie: &str) -> String {
    set_cookie.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// The `Cookie` header the app got on `path` with this token.
fn app_cookies(envoy: &Envoy, client: &Client, path: &str, token: &str) -> String {
    let view = client.get(&envoy.url(&format!("{path}?sessionid={token}"))).body;
    assert!(view.contains("x-cookieless-session: resumed"), "{path}: no session:\n{view}");
    view.lines().find_map(|l| l.strip_prefix("cookie: ")).unwrap_or_default().to_string()
}

#[test]
fn cookies_go_where_and_when_a_browser_would_send_them() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let client = Client::new();
    let cookies = [
        "site=1; Path=/",
        "sudo=1; Max-Age=2; Path=/",
        "orders=1; Path=/account/orders",
        "sub=1; Domain=elsewhere.example; Path=/",
        "secure=1; Secure; Path=/",
        "__Host-h=1; Secure; Path=/",
        "__Secure-s=1; Path=/",
    ];
    let query: Vec<String> = cookies.iter().map(|c| format!("cookie={}", enc(c))).collect();
    let first = token(&client.get(&envoy.url(&format!("/account/set?{}", query.join("&")))));

    // Over http, for the site root: neither the path-scoped, the foreign-domain, the Secure nor
    // the prefixed cookies.
    assert_eq!(app_cookies(&envoy, &client, "/echo", &first), "site=1; sudo=1");
    // Under the path it was set for, longest path first.
    assert_eq!(app_cookies(&envoy, &client, "/account/orders/echo", &first), "orders=1; site=1; sudo=1");
    assert_eq!(app_cookies(&envoy, &client, "/account/ordersX/echo", &first), "site=1; sudo=1");
    // Max-Age=2: gone 3.5 s later.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(app_cookies(&envoy, &client, "/echo", &first), "site=1");
    envoy.assert_no_panic();
}

#[test]
fn a_cookie_is_replaced_by_name_domain_and_path_and_deleted_only_where_it_was_set() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let client = Client::new();
    let set = |session: Option<&str>, cookie: &str| {
        let session = session.map(|t| format!("&sessionid={t}")).unwrap_or_default();
        token(&client.get(&envoy.url(&format!("/page?cookie={}{session}", enc(cookie)))))
    };
    let t = set(None, "pref=root; Path=/");
    let t = set(Some(&t), "pref=deep; Path=/deep");
    assert_eq!(app_cookies(&envoy, &client, "/deep/echo", &t), "pref=deep; pref=root");
    // Deleting the root one leaves the one on /deep.
    let t = set(Some(&t), "pref=; Max-Age=0; Path=/");
    assert_eq!(app_cookies(&envoy, &client, "/deep/echo", &t), "pref=deep");
    assert_eq!(app_cookies(&envoy, &client, "/echo", &t), "");
}

// ---------------------------------------------------------------------------------------------
// The jar against cookie_store, on generated responses (natively: no Envoy).

#[path = "common/jar_oracle.rs"]
mod jar_oracle;

use jar_oracle::Response;
use proptest::prelude::*;

fn set_cookie() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec!["a", "b", "__Host-h", "__Secure-s"]);
    let value = "[a-z0-9]{0,3}";
    let path = prop::sample::select(vec!["", "; Path=/", "; Path=/a", "; Path=/a/b", "; Path=/a/", "; Path=rel"]);
    let domain = prop::sample::select(vec!["", "; Domain=example.com", "; Domain=.shop.example.com", "; Domain=other.example", "; Domain=hop.example.com"]);
    let expiry = prop::sample::select(vec!["", "; Max-Age=0", "; Max-Age=3600", "; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "; Expires=Fri, 01 Jan 2100 00:00:00 GMT"]);
    let flags = prop::sample::select(vec!["", "; Secure", "; HttpOnly", "; Secure; HttpOnly"]);
    (name, value, path, domain, expiry, flags).prop_map(|(n, v, p, d, e, f)| format!("{n}={v}{p}{d}{e}{f}"))
}

fn request_path() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["/", "/a", "/a/", "/a/b", "/a/b/c", "/ab", "/x/y"]).prop_map(str::to_string)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
    #[test]
    fn the_jar_sends_what_cookie_store_sends(
        responses in prop::collection::vec((any::<bool>(), request_path(), set_cookie()), 1..8),
        https in any::<bool>(),
        path in request_path(),
    ) {
        let responses: Vec<Response> = responses
            .into_iter()
            .map(|(https, path, set_cookie)| Response { https, path, set_cookie })
            .collect();
        if let Err(difference) = jar_oracle::compare(&responses, https, &path) {
            return Err(TestCaseError::fail(difference));
        }
    }
}
