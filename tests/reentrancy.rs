//! Envoy calling back into the filter inside one of the filter's own calls, through a real Envoy
//! and either build (`COOKIELESS_BUILD`):
//! - a response Envoy makes at once while the filter lets a request go on after the session
//!   service answered (a route's direct response, inside the continue): the filter must see it
//!   as any other response;
//! - the filter's own local reply, which Envoy encodes inside the call that sends it (a body the
//!   token cannot be taken out of, refused in the request body hook; a store that does not answer,
//!   `fail_closed`, answered in the hook of the store call's end): the reply is the answer, and
//!   the filter, re-entered, neither touches it nor breaks.
//!
//! The native shell guards its hooks against that re-entry (`native::hooks::on_filter`), and
//! continues a paused request only once its hook is done (`finish_call`); Envoy's Wasm host defers
//! both calls to the end of the VM call by itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless_testkit as kit;

#[path = "common/fleet.rs"]
mod fleet;

use fleet::*;
use kit::envoy::{DIRECT_RESPONSE_BODY, DIRECT_RESPONSE_COOKIE};
use kit::upstream::Upstream;
use kit::{filter_config, Backend, Envoy, Reply, Sessiond};
use serde_json::json;

const SET_APP_COOKIE: &str = "/page?cookie=app%3Dv1%3B%20Path%3D%2F";

/// Neither the token nor anything of the jar in what the browser got.
fn assert_leaks_nothing(what: &str, reply: &Reply, token: &str) {
    assert!(!reply.body.contains(token), "{what}: the old token in the body: {reply:?}");
    assert!(reply.headers.iter().all(|(_, v)| !v.contains(token)), "{what}: the old token in a header: {reply:?}");
    assert!(reply.headers_named("set-cookie").is_empty(), "{what}: a Set-Cookie reached the browser: {reply:?}");
}

#[test]
fn a_response_envoy_makes_inside_the_continue_after_the_store_answered_is_handled_like_any_other() {
    let sessiond = Sessiond::release(Backend::Memory);
    let upstream = Upstream::start();
    let envoy = grpc_envoy(upstream.port, &sessiond, 1000, "fail_closed");
    let browser = Browser::new();
    let session = token(&browser.get(&envoy, SET_APP_COOKIE)).expect("a session");

    // Paused for the session service; its answer continues the request, and the router answers
    // it at once, inside that continue.
    let page = browser.get(&envoy, &format!("/direct-response?sessionid={session}"));
    assert_eq!(page.status, 200, "{page:?}\n{}", envoy.log());
    let (heading, _) = DIRECT_RESPONSE_BODY.split_once("<a").unwrap();
    assert!(page.body.starts_with(heading), "not the direct response: {page:?}");
    assert_leaks_nothing("the direct response", &page, &session);
    let Some(fresh) = token(&page) else { panic!("the direct response went out unseen by the filter: {page:?}\n{}", envoy.log()) };
    assert!(page.body.contains(&format!("//{SITE}/next?sessionid={fresh}")), "its link has no token: {}", page.body);

    // Its Set-Cookie went into the jar, beside the app's cookie: the next request works and
    // takes both to the upstream.
    let view = browser.get(&envoy, &format!("/echo?sessionid={fresh}"));
    assert_eq!(view.status, 200, "{view:?}");
    let (name_value, _) = DIRECT_RESPONSE_COOKIE.split_once(';').unwrap();
    assert!(resumed(&view.body) && view.body.contains(&format!("cookie: app=v1; {name_value}\n")), "{}", view.body);
    assert_eq!(envoy.counter(STORE_ERRORS), 0, "{}", envoy.log());
    envoy.assert_no_panic();
}

#[test]
fn the_filters_own_local_reply_re_entering_it_is_the_answer_and_the_next_request_works() {
    // Refused inside the request body hook (shared data: nothing else is asynchronous).
    let upstream = Upstream::start();
    let local = Envoy::start(filter_config(json!({})), upstream.port);
    let browser = Browser::new();
    let session = token(&browser.get(&local, SET_APP_COOKIE)).expect("a session");
    // A folded Content-Disposition: the filter cannot be sure how the app reads it.
    let body = format!("--b\r\nContent-Disposition: form-data;\r\n name=\"sessionid\"\r\n\r\n{session}\r\n--b--\r\n");
    let refused = browser.client.post(&local.url("/echo"), "multipart/form-data; boundary=b", body.as_bytes(), &[("host", SITE)]);
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(refused.body.contains("cannot be removed"), "{refused:?}");
    assert_leaks_nothing("the 400", &refused, &session);
    assert!(token(&refused).is_none(), "{refused:?}");
    let view = browser.get(&local, &format!("/echo?sessionid={session}"));
    assert!(resumed(&view.body), "the session after the 400: {view:?}");
    local.assert_no_panic();

    // Answered 503 inside the hook of the store call that timed out (a frozen session service).
    let mut sessiond = Sessiond::release(Backend::Memory);
    let remote = grpc_envoy(upstream.port, &sessiond, 300, "fail_closed");
    let session = token(&browser.get(&remote, SET_APP_COOKIE)).expect("a session");
    sessiond.freeze();
    let refused = browser.get(&remote, &format!("/echo?sessionid={session}"));
    sessiond.thaw();
    assert_eq!(refused.status, 503, "{refused:?}\n{}", remote.log());
    assert_eq!(refused.body, "session store unavailable\n", "{refused:?}");
    assert_leaks_nothing("the 503", &refused, &session);
    assert!(!refused.body.contains("x-cookieless-session"), "the upstream was asked: {refused:?}");
    let view = browser.get(&remote, &format!("/echo?sessionid={session}"));
    assert!(resumed(&view.body), "the session after the 503: {view:?}\n{}", remote.log());
    remote.assert_no_panic();
}
