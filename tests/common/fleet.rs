//! What the tests of the gRPC session store share: a browser that keeps no cookies walking the
//! demo through a fleet of Envoys, and the filter's gRPC store configuration.
#![allow(dead_code)] // each test file uses its own part of it

use cookieless_testkit as kit;

use kit::{filter_config, hidden_field, Client, Envoy, EnvoyOptions, Reply, Sessiond};
use serde_json::json;
use std::time::{Duration, Instant};

/// The one site name every Envoy of a fleet serves (tokens are bound to it).
pub const SITE: &str = "shop.test";
pub const ORIGIN: &str = "http://shop.test";
/// No request may take longer: a hang is a failure (status 0), never a stuck test run.
pub const REQUEST_LIMIT: Duration = Duration::from_secs(5);
/// Slack over a store deadline for Envoy, the filter and a loaded CI machine.
pub const MARGIN: Duration = Duration::from_millis(1700);
pub const STORE_ERRORS: &str = "cookieless_store_errors";

pub fn grpc_config(timeout_ms: u32, on_error: &str) -> serde_json::Value {
    filter_config(json!({
        "store": {"kind": "grpc", "cluster": "sessiond", "timeout_ms": timeout_ms, "on_error": on_error}
    }))
}

pub fn grpc_envoy(upstream_port: u16, sessiond: &Sessiond, timeout_ms: u32, on_error: &str) -> Envoy {
    grpc_fleet_envoy(upstream_port, &[sessiond.port()], timeout_ms, on_error)
}

/// An Envoy whose gRPC store balances over the session services on these ports.
pub fn grpc_fleet_envoy(upstream_port: u16, sessiond_ports: &[u16], timeout_ms: u32, on_error: &str) -> Envoy {
    let opts = EnvoyOptions { sessiond_ports: sessiond_ports.to_vec(), ..Default::default() };
    Envoy::start_with(grpc_config(timeout_ms, on_error), upstream_port, opts)
}

/// A browser that keeps no cookies, reaching whichever Envoy of the fleet under one site name.
pub struct Browser {
    pub client: Client,
}

impl Browser {
    pub fn new() -> Browser {
        Browser { client: Client::with_timeout(REQUEST_LIMIT) }
    }

    pub fn get(&self, envoy: &Envoy, path: &str) -> Reply {
        self.client.get_with(&envoy.url(path), &[("host", SITE)])
    }

    pub fn post(&self, envoy: &Envoy, path: &str, form: &str) -> Reply {
        self.client.post_form(&envoy.url(path), form, &[("host", SITE), ("origin", ORIGIN)])
    }

    /// A request and how long it took.
    pub fn timed(&self, request: impl FnOnce(&Browser) -> Reply) -> (Reply, Duration) {
        let start = Instant::now();
        let reply = request(self);
        (reply, start.elapsed())
    }
}

pub fn token(reply: &Reply) -> Option<String> {
    reply.header("x-cookieless-token").map(str::to_string)
}

pub fn resumed(view: &str) -> bool {
    view.contains("x-cookieless-session: resumed") && view.contains("cookie: app=v1")
}

/// The first half of the demo: step 1's page, then its POST. Returns the redirect to step 2.
pub fn demo_first_half(browser: &Browser, get_via: &Envoy, post_via: &Envoy, name: &str) -> Result<String, String> {
    let step1 = browser.get(get_via, "/step1");
    let (Some(token), Some(csrf)) = (token(&step1), hidden_field(&step1.body, "csrfmiddlewaretoken")) else {
        return Err(format!("GET /step1 gave no token or form: {step1:?}"));
    };
    let post1 = browser.post(post_via, "/step1", &format!("name={name}&csrfmiddlewaretoken={csrf}&sessionid={token}"));
    match post1.header("location") {
        Some(to) if post1.status == 303 && to.starts_with("/step2?sessionid=") => Ok(to.to_string()),
        _ => Err(format!("POST /step1 did not go on to step 2: {post1:?}")),
    }
}

/// The demo's three steps, each request through the Envoy `via` names (GET step 1, POST it,
/// GET step 2, POST it, GET the confirmation). Returns the confirmation page, or which step failed.
pub fn walk_demo(browser: &Browser, via: [&Envoy; 5]) -> Result<Reply, String> {
    let [get1, post1, get2, post2, confirm] = via;
    let to_step2 = demo_first_half(browser, get1, post1, "Ada")?;
    demo_second_half(browser, &to_step2, [get2, post2, confirm])
}

/// The rest of the demo after [`demo_first_half`]: GET step 2 (`to_step2`), POST it, GET the
/// confirmation, each through the Envoy `via` names. Returns the confirmation page.
pub fn demo_second_half(browser: &Browser, to_step2: &str, via: [&Envoy; 3]) -> Result<Reply, String> {
    let [get2, post2, confirm] = via;
    let step2 = browser.get(get2, to_step2);
    if !step2.body.contains("Hello, Ada.") {
        return Err(format!("GET step 2 lost the name: {step2:?}"));
    }
    let (Some(token), Some(csrf)) = (token(&step2), hidden_field(&step2.body, "csrfmiddlewaretoken")) else {
        return Err(format!("GET step 2 gave no token or form: {step2:?}"));
    };
    let post = browser.post(post2, "/step2", &format!("email=ada%40example.org&csrfmiddlewaretoken={csrf}&sessionid={token}"));
    let to_confirm = match post.header("location") {
        Some(to) if post.status == 303 && to.starts_with("/confirm?sessionid=") => to.to_string(),
        _ => return Err(format!("POST /step2 did not go on to the confirmation: {post:?}")),
    };
    let page = browser.get(confirm, &to_confirm);
    if page.body.contains(r#"<p id="name">Ada</p>"#) && page.body.contains(r#"<p id="email">ada@example.org</p>"#) {
        Ok(page)
    } else {
        Err(format!("the confirmation lacks the answers: {page:?}"))
    }
}

/// The answer waited for the store's deadline rather than coming at once. Envoy's timers fire up
/// to a millisecond early (measured: 299.06 and 299.53 ms for a 300 ms deadline).
pub fn waited_for_the_deadline(took: Duration, timeout_ms: u32) -> bool {
    took >= Duration::from_millis(timeout_ms.into()).saturating_sub(Duration::from_millis(10))
}

/// Not a 5xx, not a hang, not a broken connection: an answer of the app, within `limit`.
pub fn assert_served(what: &str, reply: &Reply, took: Duration, limit: Duration) {
    assert!((200..400).contains(&reply.status), "{what}: status {} after {took:?}: {reply:?}", reply.status);
    assert!(took < limit, "{what} took {took:?} (limit {limit:?})");
}

