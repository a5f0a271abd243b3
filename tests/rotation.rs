//! Rotation through a real Envoy: when the app gives its session a new identity (a new value of a
//! session-id cookie, its deletion, or `x-cookieless-rotate`), the jar moves to a new session id
//! and a token from before opens nothing once the grace is over; an app that keeps its session in
//! its cookie, rewritten on every response, keeps every older page working.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless_testkit as kit;

use kit::upstream::Upstream;
use kit::{filter_config, Client, Envoy, Reply};
use serde_json::json;
use std::time::Duration;

/// Longer than the tests' grace of one second, whatever the second boundaries.
const PAST_THE_GRACE: Duration = Duration::from_millis(2500);

fn start() -> (Envoy, Upstream) {
    let upstream = Upstream::start();
    // One NAT, one browser model: the attacker and the victim look the same to the binding.
    let config = json!({"token": {"bind_client_ip": false}, "rotation": {"grace_seconds": 1}});
    (Envoy::start(filter_config(config), upstream.port), upstream)
}

fn token(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.header("x-cookieless-token").unwrap_or_else(|| panic!("no token: {reply:?}")).to_string()
}

/// What the app got with this token: the `Cookie` header, when the session was resumed.
fn app_cookies(envoy: &Envoy, client: &Client, token: &str) -> Option<String> {
    let view = client.get(&envoy.url(&format!("/echo?sessionid={token}"))).body;
    view.contains("x-cookieless-session: resumed").then(|| {
        view.lines().find_map(|l| l.strip_prefix("cookie: ")).unwrap_or_default().to_string()
    })
}

#[test]
fn a_token_from_before_login_opens_nothing_after_the_grace() {
    let (envoy, _upstream) = start();
    let client = Client::new();
    // The attacker gets an anonymous session and plants its token in a link the victim follows.
    let planted = token(&client.get(&envoy.url("/page?cookie=PHPSESSID%3Danon%3B%20Path%3D%2F")));
    // The victim logs in through it: the app regenerates its session id.
    let login = client.get(&envoy.url(&format!("/page?sessionid={planted}&cookie=PHPSESSID%3Dlogged-in%3B%20Path%3D%2F")));
    let victims = token(&login);
    assert_eq!(app_cookies(&envoy, &client, &victims).as_deref(), Some("PHPSESSID=logged-in"));
    // In flight with the old token during the grace: it follows to the new session.
    assert_eq!(app_cookies(&envoy, &client, &planted).as_deref(), Some("PHPSESSID=logged-in"));
    std::thread::sleep(PAST_THE_GRACE);
    assert_eq!(app_cookies(&envoy, &client, &planted), None, "the planted token opened the logged-in jar");
    assert_eq!(app_cookies(&envoy, &client, &victims).as_deref(), Some("PHPSESSID=logged-in"));
    assert_eq!(envoy.counter("cookieless_sessions_rotated"), 1);
    envoy.assert_no_panic();
}

#[test]
fn the_app_may_ask_for_a_rotation_and_a_logout_rotates_too() {
    let (envoy, _upstream) = start();
    let client = Client::new();
    let before = token(&client.get(&envoy.url("/page?cookie=app%3Dv1%3B%20Path%3D%2F")));
    // The finding's app: its own cookie names, a deletion then a new value, and the explicit signal.
    let asked = client.get(&envoy.url(&format!(
        "/page?sessionid={before}&cookie=app%3D%3B%20Max-Age%3D0&cookie=app%3Dlogged-in&header=x-cookieless-rotate:1"
    )));
    assert!(asked.header("x-cookieless-rotate").is_none(), "the signal reached the browser: {asked:?}");
    let after = token(&asked);
    std::thread::sleep(PAST_THE_GRACE);
    assert_eq!(app_cookies(&envoy, &client, &before), None);
    assert_eq!(app_cookies(&envoy, &client, &after).as_deref(), Some("app=logged-in"));

    // Logging out deletes the session-id cookie: the logged-in token is retired as well.
    let logged_in = token(&client.get(&envoy.url(&format!("/page?sessionid={after}&cookie=JSESSIONID%3Dj1"))));
    let logout = client.get(&envoy.url(&format!("/page?sessionid={logged_in}&cookie=JSESSIONID%3D%3B%20Max-Age%3D0")));
    let anonymous = token(&logout);
    std::thread::sleep(PAST_THE_GRACE);
    assert_eq!(app_cookies(&envoy, &client, &logged_in), None);
    assert_eq!(app_cookies(&envoy, &client, &anonymous).as_deref(), Some("app=logged-in"));
    assert_eq!(envoy.counter("cookieless_sessions_rotated"), 3);
}

#[test]
fn an_app_that_keeps_its_session_in_its_cookie_keeps_older_pages_working() {
    let (envoy, _upstream) = start();
    let client = Client::new();
    // Flask-style: the whole session is the cookie `session`, written anew on every response.
    let mut tokens = vec![token(&client.get(&envoy.url("/page?cookie=session%3Dv0")))];
    for n in 1..4 {
        let last = tokens.last().unwrap().clone();
        tokens.push(token(&client.get(&envoy.url(&format!("/page?sessionid={last}&cookie=session%3Dv{n}")))));
    }
    std::thread::sleep(PAST_THE_GRACE);
    // The back button, a link opened in a new tab from the first page: the same session.
    for old in &tokens {
        assert_eq!(app_cookies(&envoy, &client, old).as_deref(), Some("session=v3"));
    }
    assert_eq!(envoy.counter("cookieless_sessions_rotated"), 0);
}

#[test]
fn a_logout_that_empties_the_jar_leaves_no_token_that_opens_the_old_one() {
    let (envoy, _upstream) = start();
    let client = Client::new();
    let logged_in = token(&client.get(&envoy.url("/page?cookie=PHPSESSID%3Dabc%3B%20Path%3D%2F")));
    let logout = client.get(&envoy.url(&format!("/page?sessionid={logged_in}&cookie=PHPSESSID%3D%3B%20Max-Age%3D0%3B%20Path%3D%2F")));
    assert_eq!(logout.status, 200, "{logout:?}");
    assert!(logout.header("x-cookieless-token").is_none(), "a logout that empties the jar leaves no session: {logout:?}");
    std::thread::sleep(PAST_THE_GRACE);
    assert_eq!(app_cookies(&envoy, &client, &logged_in), None, "the token from before the logout opened the old jar");
    assert_eq!(envoy.counter("cookieless_sessions_rotated"), 1);
}
