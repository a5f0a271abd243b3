//! The token reaches neither the app nor a site that should not use it, tried through a real
//! Envoy as an attacker or an app would: a leaked token used cross-site, the `Referer` of a page
//! that had the token, `text/plain` forms, parameter names that frameworks decode to the token's,
//! multipart bodies as real clients write them, PUT and PATCH forms, bodies that cannot be cleaned.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless_testkit as kit;

use kit::upstream::Upstream;
use kit::{filter_config, Client, Envoy, Reply};
use serde_json::json;

const SET_APP_COOKIE: &str = "/page?cookie=app%3Dv1%3B%20Path%3D%2F";

struct Site {
    envoy: Envoy,
    client: Client,
    token: String,
    _upstream: Upstream,
}

impl Site {
    fn start(extra: serde_json::Value) -> Site {
        let upstream = Upstream::start();
        let envoy = Envoy::start(filter_config(extra), upstream.port);
        let client = Client::new();
        let reply = client.get(&envoy.url(SET_APP_COOKIE));
        let token = reply.header("x-cookieless-token").unwrap_or_else(|| panic!("no token: {reply:?}")).to_string();
        Site { envoy, client, token, _upstream: upstream }
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.client.get_with(&self.envoy.url(path), headers)
    }

    fn origin(&self) -> String {
        self.envoy.url("")
    }
}

/// What the upstream saw (the echo endpoint's answer), checked to hold no trace of the token.
fn upstream_saw(reply: &Reply, token: &str) -> String {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(!reply.body.contains(token), "the upstream saw the token:\n{}", reply.body);
    reply.body.clone()
}

fn resumed(view: &str) -> bool {
    view.contains("x-cookieless-session: resumed") && view.contains("cookie: app=v1")
}

#[test]
fn a_leaked_token_opens_nothing_when_the_browser_says_cross_site() {
    let site = Site::start(json!({}));
    let path = format!("/echo?sessionid={}", site.token);
    // A page elsewhere with `<meta name=referrer content=no-referrer>` navigates the victim here:
    // no Origin, no Referer, only the browser's Fetch metadata.
    let attack = upstream_saw(&site.get(&path, &[("sec-fetch-site", "cross-site")]), &site.token);
    assert!(!resumed(&attack), "a cross-site request was resumed:\n{attack}");
    // The same token from this site's own page, and typed into the address bar, still works.
    assert!(resumed(&upstream_saw(&site.get(&path, &[("sec-fetch-site", "same-origin")]), &site.token)));
    assert!(resumed(&upstream_saw(&site.get(&path, &[("sec-fetch-site", "none")]), &site.token)));
    // Another origin of the same site only when `allowed_hosts` names it, and says so.
    let sibling = upstream_saw(&site.get(&path, &[("sec-fetch-site", "same-site")]), &site.token);
    assert!(!resumed(&sibling), "{sibling}");
    assert!(site.envoy.counter("cookieless_tokens_rejected") >= 2);
}

#[test]
fn same_site_requests_count_from_allowed_hosts_and_the_accepted_sites_are_configurable() {
    let site = Site::start(json!({"allowed_hosts": ["forms.example"]}));
    let path = format!("/echo?sessionid={}", site.token);
    let from_allowed = [("sec-fetch-site", "same-site"), ("origin", "https://forms.example")];
    assert!(resumed(&upstream_saw(&site.get(&path, &from_allowed), &site.token)));
    let from_other = [("sec-fetch-site", "same-site"), ("origin", "https://other.example")];
    assert!(!resumed(&upstream_saw(&site.get(&path, &from_other), &site.token)));

    let strict = Site::start(json!({"accepted_fetch_sites": ["same-origin"]}));
    let path = format!("/echo?sessionid={}", strict.token);
    assert!(!resumed(&upstream_saw(&strict.get(&path, &[("sec-fetch-site", "none")]), &strict.token)));
    assert!(resumed(&upstream_saw(&strict.get(&path, &[("sec-fetch-site", "same-origin")]), &strict.token)));
}

#[test]
fn the_referer_of_a_page_that_had_the_token_reaches_no_route_with_it() {
    let site = Site::start(json!({}));
    let referer = format!("{}/form?step=2&sessionid={}&x=1", site.origin(), site.token);
    // A same-origin navigation, and a page's image on a route that is not cookieless.
    for path in ["/echo", "/admin/echo"] {
        let view = upstream_saw(&site.get(path, &[("referer", &referer)]), &site.token);
        let sent = format!("referer: {}/form?step=2&x=1\n", site.origin());
        assert!(view.contains(&sent), "{path}: the Referer lost more than the token:\n{view}");
    }
    // A Referer from another site is not the filter's to change.
    let foreign = format!("https://elsewhere.example/p?sessionid={}", site.token);
    let reply = site.get("/admin/echo", &[("referer", &foreign)]);
    assert!(reply.body.contains(&format!("referer: {foreign}\n")), "{}", reply.body);
}

#[test]
fn text_plain_forms_keep_their_session_and_lose_the_token() {
    let site = Site::start(json!({}));
    let body = format!("name=Ada\r\nsessionid={}\r\nnote=a=b\r\n", site.token);
    let reply = site.client.post(&site.envoy.url("/echo"), "text/plain", body.as_bytes(), &[("origin", &site.origin())]);
    let view = upstream_saw(&reply, &site.token);
    assert!(resumed(&view), "{view}");
    assert!(view.ends_with("\n\nname=Ada\r\nnote=a=b\r\n"), "{view}");
}

#[test]
fn names_that_apps_decode_to_the_parameter_never_reach_them() {
    let site = Site::start(json!({}));
    for query in ["session%69d={T}", "sessionid[]={T}", "sessionid[0]={T}", "a=1;sessionid={T}", "+sessionid={T}&b=2", "SessionID={T}", "[sessionid]={T}", "sessionid%00x={T}"] {
        let path = format!("/echo?{}", query.replace("{T}", &site.token));
        let view = upstream_saw(&site.get(&path, &[]), &site.token);
        assert!(resumed(&view), "{query}: the token was taken out but not used:\n{view}");
    }
    // A urlencoded body that is not UTF-8 (a Latin-1 form).
    let mut body = b"name=Jos\xe9&sessionid=".to_vec();
    body.extend_from_slice(site.token.as_bytes());
    let reply = site.client.post(&site.envoy.url("/echo"), "application/x-www-form-urlencoded", &body, &[]);
    let view = upstream_saw(&reply, &site.token);
    assert!(resumed(&view), "{view}");
}

fn multipart(boundary: &str, newline: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut body = String::new();
    for (name, value) in fields {
        body += &format!("--{boundary}{newline}Content-Disposition: form-data; name=\"{name}\"{newline}{newline}{value}{newline}");
    }
    body += &format!("--{boundary}--{newline}");
    body.into_bytes()
}

#[test]
fn multipart_bodies_as_clients_write_them_and_put_and_patch_forms_lose_the_token() {
    let site = Site::start(json!({}));
    let long = "x".repeat(100);
    for (boundary, newline) in [("b0", "\n"), (long.as_str(), "\r\n"), ("b1", "\r\n")] {
        let body = multipart(boundary, newline, &[("a", "1"), ("sessionid[]", &site.token)]);
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let view = upstream_saw(&site.client.post(&site.envoy.url("/echo"), &content_type, &body, &[]), &site.token);
        assert!(resumed(&view), "boundary {} chars, {newline:?}:\n{view}", boundary.len());
    }
    for method in ["PUT", "PATCH"] {
        let body = format!("a=1&sessionid={}", site.token);
        let reply = site.client.send(method, &site.envoy.url("/echo"), "application/x-www-form-urlencoded", body.as_bytes(), &[]);
        let view = upstream_saw(&reply, &site.token);
        assert!(view.starts_with(&format!("{method} /echo")) && resumed(&view), "{view}");
    }
}

#[test]
fn a_body_the_token_cannot_be_taken_out_of_is_refused_not_passed_on() {
    let site = Site::start(json!({}));
    // A folded Content-Disposition: the filter cannot be sure how the app reads it.
    let body = format!(
        "--b\r\nContent-Disposition: form-data;\r\n name=\"sessionid\"\r\n\r\n{}\r\n--b--\r\n",
        site.token
    );
    let reply = site.client.post(&site.envoy.url("/echo"), "multipart/form-data; boundary=b", body.as_bytes(), &[]);
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.body.contains("cannot be removed"), "{}", reply.body);
    assert!(!reply.body.contains(&site.token));
    assert_eq!(site.envoy.counter("cookieless_requests_refused"), 1);
    site.envoy.assert_no_panic();
}

/// Percent-encodes every byte but letters and digits (a query value for the scripted upstream).
fn enc(text: &str) -> String {
    text.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[test]
fn redirects_to_routes_that_are_not_cookieless_get_no_token() {
    let site = Site::start(json!({"routes": {"exclude": [{"prefix": "/admin"}, {"prefix": "/static"}]}}));
    let redirect = |location: &str| {
        let path = format!("/shop/cart?sessionid={}&status=302&location={}", site.token, enc(location));
        site.get(&path, &[]).header("location").unwrap_or_default().to_string()
    };
    let authority = site.origin().trim_start_matches("http://").to_string();
    let scheme_relative = format!("//{authority}/static/report.pdf");
    for excluded in ["/admin/users", "../admin/users", scheme_relative.as_str(), "%2e%2e/static/x", "\\admin", "/admin/go/http://x", "/ad\tmin/users"] {
        let location = redirect(excluded);
        assert!(!location.is_empty() && !location.contains("sessionid"), "{excluded}: {location:?}");
    }
    assert!(redirect("/shop/checkout").starts_with("/shop/checkout?sessionid="));
    assert!(redirect(&format!("//{authority}/shop/x")).contains("sessionid="));
}

#[test]
fn links_and_forms_to_routes_that_are_not_cookieless_get_no_token() {
    let site = Site::start(json!({"routes": {"exclude": [{"prefix": "/admin"}, {"prefix": "/static"}]}}));
    let page = "<a id=users href=/admin/users>users</a><a id=pdf href=../static/report.pdf>pdf</a>\
        <form id=admin action=/admin/save></form><a id=next href=next>next</a>";
    let reply = site.get(&format!("/shop/cart?sessionid={}&body={}", site.token, enc(page)), &[]);
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = &reply.body;
    assert!(body.contains("<a id=users href=/admin/users>") && body.contains("<a id=pdf href=../static/report.pdf>"), "{body}");
    assert!(body.contains("<form id=admin action=/admin/save></form>"), "{body}");
    let authority = site.origin().trim_start_matches("http://").to_string();
    assert!(body.contains(&format!("href=//{authority}/shop/next?sessionid=")), "{body}");
}
