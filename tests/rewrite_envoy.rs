//! Response rewriting through a real Envoy: tokens land in same-origin forms and links of HTML
//! pages that belong to a session, bodies stream (a 20 MB page passes with flat memory), and
//! what must not be rewritten is not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless_testkit as kit;

use kit::upstream::Upstream;
use kit::{filter_config, Client, Envoy, Reply};
use serde_json::json;

fn encode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

fn token_of(reply: &Reply) -> String {
    reply.header("x-cookieless-token").unwrap_or_else(|| panic!("no token: {reply:?}")).to_string()
}

fn session(envoy: &Envoy, client: &Client) -> String {
    token_of(&client.get(&envoy.url("/start?cookie=app%3D1")))
}

const PAGE: &str = r#"<!doctype html><title>href="/title"</title>
<form method="post" action="/step2"><input name="name"><input name="t" value="__COOKIELESS_TOKEN__"></form>
<form action="https://elsewhere.example/collect"></form>
<a href="/next?x=1#frag">same</a> <a href='https://elsewhere.example/'>foreign</a>
<a href="mailto:someone@example.org">mail</a> <img src="/logo.png"> <span href="/no">no</span>
<script>var s = '<form action="/x">'; var h = 'href="/y"';</script>
<!-- <a href="/commented"> -->
<p>__COOKIELESS_TOKEN__</p>"#;

#[test]
fn a_session_page_gets_the_token_in_same_origin_forms_and_links_only() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let client = Client::new();
    let token = session(&envoy, &client);
    let reply = client.get(&envoy.url(&format!("/page?sessionid={token}&body={}", encode(PAGE))));
    assert_eq!(reply.status, 200);
    let fresh = token_of(&reply);
    let body = &reply.body;
    // The form gets the page's random id, its input is tied to it, its action is anchored.
    let id = body.split(r#"<form id=""#).nth(1).and_then(|s| s.split('"').next()).unwrap_or_else(|| panic!("{body}"));
    let here = format!("//127.0.0.1:{}", envoy.port);
    let hidden = format!(r#"<rp hidden><input type="hidden" name="sessionid" value="{fresh}" form="{id}"></rp>"#);
    assert!(body.contains(&format!(r#"<form id="{id}" method="post" action="{here}/step2">{hidden}"#)), "{body}");
    assert!(body.contains(r#"<form action="https://elsewhere.example/collect"></form>"#), "{body}");
    assert!(body.contains(&format!(r#"<a href="{here}/next?x=1&amp;sessionid={fresh}#frag">"#)), "{body}");
    assert!(body.contains(&format!(r#"<input name="t" value="{fresh}">"#)), "placeholder not filled: {body}");
    for untouched in [
        r#"<a href='https://elsewhere.example/'>"#,
        r#"<a href="mailto:someone@example.org">"#,
        r#"<img src="/logo.png">"#,
        r#"<span href="/no">"#,
        r#"var s = '<form action="/x">'; var h = 'href="/y"';"#,
        r#"<!-- <a href="/commented"> -->"#,
        r#"<title>href="/title"</title>"#,
    ] {
        assert!(body.contains(untouched), "{untouched} was changed:\n{body}");
    }
    assert!(body.contains("<p>__COOKIELESS_TOKEN__</p>"), "the placeholder in text must stay: {body}");
    assert_eq!(body.matches(&fresh).count(), 3, "{body}");
    assert_eq!(reply.header("content-security-policy"), Some("base-uri 'self'; form-action 'self'"));
    assert!(reply.header("content-length").is_none_or(|l| l == body.len().to_string()));
    assert!(envoy.counter("cookieless_bodies_rewritten") >= 1);
    envoy.assert_no_panic();
}

#[test]
fn pages_without_a_session_and_other_bodies_are_untouched() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let client = Client::new();
    let plain = client.get(&envoy.url(&format!("/page?body={}", encode(PAGE))));
    assert_eq!(plain.body, PAGE, "no session, no rewriting");

    let token = session(&envoy, &client);
    let json_body = r#"{"href": "/x", "form": "<form>"}"#;
    let json = client.get(&envoy.url(&format!(
        "/api?sessionid={token}&content_type=application%2Fjson&body={}",
        encode(json_body)
    )));
    assert_eq!(json.body, json_body, "a JSON body was rewritten");
    let gz = client.get(&envoy.url(&format!("/gz?sessionid={token}&encoding=gzip&body={}", encode("<form></form>"))));
    assert_eq!(gz.body, "<form></form>", "a compressed body was rewritten");
    assert!(envoy.counter("cookieless_rewrite_skipped") >= 1);
    let utf16 = client.get(&envoy.url(&format!(
        "/u?sessionid={token}&content_type={}&body={}",
        encode("text/html; charset=utf-16"),
        encode("<form></form>")
    )));
    assert_eq!(utf16.body, "<form></form>", "a UTF-16 body was rewritten");
    let no_content = client.get(&envoy.url(&format!("/n?sessionid={token}&status=204")));
    assert_eq!(no_content.status, 204);
}

#[test]
fn repeated_responses_differ_so_compression_oracles_learn_nothing() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let client = Client::new();
    let token = session(&envoy, &client);
    let url = envoy.url(&format!("/page?sessionid={token}&body={}", encode("<form></form>")));
    let (a, b) = (client.get(&url).body, client.get(&url).body);
    assert!(a.contains("sessionid") && b.contains("sessionid"));
    assert_ne!(a, b);
}

#[test]
fn a_20_mb_page_streams_through_rewritten_with_flat_memory() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let client = Client::new();
    let token = session(&envoy, &client);
    // Warm up, then measure.
    let _ = client.get(&envoy.url(&format!("/big?sessionid={token}&big=1000000")));
    let before = envoy.rss_kib();
    let size = 20_000_000;
    let reply = client.get(&envoy.url(&format!("/big?sessionid={token}&big={size}")));
    let after = envoy.rss_kib();
    assert_eq!(reply.status, 200, "{:?}", reply.headers);
    let fresh = token_of(&reply);
    let links = reply.body.matches("<a href=").count();
    assert!(links > 200_000, "{links} links");
    let rewritten = reply.body.matches(&format!("/next?sessionid={fresh}\"")).count();
    assert_eq!(rewritten, links, "every link carries the token");
    assert!(reply.body.len() > size);
    assert!(
        after < before + 64 * 1024,
        "Envoy grew from {before} KiB to {after} KiB for a 20 MB page: the body was held, not streamed"
    );
    envoy.assert_no_panic();
}

#[test]
fn with_http2_trailers_nothing_the_rewriter_holds_is_lost() {
    let upstream = Upstream::start();
    let opts = kit::EnvoyOptions { upstream_http2: true, ..Default::default() };
    let envoy = Envoy::start_with(filter_config(json!({})), upstream.port, opts);
    let client = Client::new();
    let token = session(&envoy, &client);
    // The body ends inside what could be the placeholder: the rewriter must hold it until the end.
    let page = "<form></form><p>end __COOKIELESS_TO";
    let reply = client.get(&envoy.url(&format!("/t?sessionid={token}&trailer=done&body={}", encode(page))));
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains(r#"name="sessionid""#), "{}", reply.body);
    assert!(reply.body.ends_with("<p>end __COOKIELESS_TO"), "the held bytes were lost: {:?}", reply.body);
    envoy.assert_no_panic();
}
