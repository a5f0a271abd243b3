//! The gRPC session store through real processes: Envoys with the filter, the real
//! `cookieless-sessiond`, a real `redis-server`, the demo app. A fleet shares sessions; a session
//! service that dies, freezes or loses Redis never hangs a request, fails open or closed as
//! configured, and works again as soon as it is back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless_testkit as kit;

#[path = "common/fleet.rs"]
mod fleet;

use fleet::*;
use kit::{Backend, Redis, RedisCluster, Sessiond};
use kit::upstream::Upstream;
use kit::{filter_config, Client, Demo, Envoy, EnvoyOptions, Reply};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn a_fleet_of_envoys_shares_sessions_through_the_session_service() {
    let redis = Redis::start();
    let sessiond = Sessiond::release(Backend::Redis { url: redis.url(), timeout_ms: 200 });
    let demo = Demo::start();
    let a = grpc_envoy(demo.port, &sessiond, 1000, "fail_closed");
    let b = grpc_envoy(demo.port, &sessiond, 1000, "fail_closed");
    let browser = Browser::new();

    let confirm = walk_demo(&browser, [&a, &b, &a, &b, &a]).unwrap_or_else(|e| {
        panic!("alternating Envoys with the gRPC store:\n{e}\nEnvoy A log:\n{}\nEnvoy B log:\n{}", a.log(), b.log())
    });
    assert!(confirm.headers_named("set-cookie").is_empty());
    for (name, envoy) in [("A", &a), ("B", &b)] {
        assert!(envoy.counter("cookieless_sessions_resumed") >= 2, "Envoy {name} resumed no session: {}", envoy.stats());
        assert_eq!(envoy.counter(STORE_ERRORS), 0, "Envoy {name}: {}", envoy.log());
        envoy.assert_no_panic();
    }
    assert_eq!(a.counter("cookieless_sessions_created"), 1, "the session was created once, on A");

    // The same fleet with the default store (each Envoy's own shared data): B knows nothing of
    // what A stored, so the app's CSRF check fails on the first POST. The gRPC store is what
    // makes the fleet work.
    let local_a = Envoy::start(filter_config(json!({})), demo.port);
    let local_b = Envoy::start(filter_config(json!({})), demo.port);
    let lost = walk_demo(&browser, [&local_a, &local_b, &local_a, &local_b, &local_a])
        .expect_err("alternating Envoys that each keep their own sessions must lose the state");
    assert!(lost.contains("POST /step1") && lost.contains("status: 403"), "{lost}");
    walk_demo(&browser, [&local_a; 5]).expect("one shared-data Envoy alone completes the flow");
}

#[test]
fn an_exchange_paused_for_the_store_holds_its_body_until_the_store_answers() {
    let sessiond = Sessiond::release(Backend::Memory);
    let upstream = Upstream::start();
    let envoy = grpc_envoy(upstream.port, &sessiond, 1000, "fail_closed");
    let browser = Browser::new();
    // A response without a body (its headers end the stream) creates the session.
    let session = token(&browser.get(&envoy, "/page?cookie=app%3Dv1")).expect("a session");

    // A request with a body that is no form (the token in the query): held for the Get, then
    // sent to the upstream with the jar and its body whole.
    let url = envoy.url(&format!("/echo?sessionid={session}"));
    let view = browser.client.post(&url, "application/json", br#"{"a":1}"#, &[("host", SITE)]);
    assert!(resumed(&view.body), "the request went upstream before the jar arrived:\n{}", view.body);
    assert!(view.body.ends_with("\n{\"a\":1}"), "{}", view.body);

    // Responses with a body that set a cookie, for a new session and for this one: held through
    // Get and Put, then sent with a token, their Set-Cookie gone and their form rewritten.
    let form = "body=%3Cform%20method%3Dpost%3E%3C%2Fform%3E";
    for (what, path) in [
        ("a new session", format!("/page?cookie=other%3D1&{form}")),
        ("an update", format!("/page?sessionid={session}&cookie=more%3D2&{form}")),
    ] {
        let page = browser.get(&envoy, &path);
        assert_eq!(page.status, 200, "{what}: {page:?}");
        assert!(page.headers_named("set-cookie").is_empty(), "{what}: {page:?}");
        let Some(fresh) = token(&page) else {
            panic!("{what}: the response went out before the store answered (no token): {page:?}\n{}", envoy.log())
        };
        assert!(
            page.body.contains(&format!(r#"name="sessionid" value="{fresh}""#)),
            "{what}: the held body was not rewritten: {}",
            page.body
        );
    }
    let view = browser.get(&envoy, &format!("/echo?sessionid={session}")).body;
    assert!(view.contains("cookie: app=v1; more=2\n"), "the update reached the store: {view}");
    assert_eq!(envoy.counter("cookieless_sessions_created"), 2);
    envoy.assert_no_panic();
}

#[test]
fn a_killed_session_service_fails_open_and_is_used_again_once_restarted() {
    let timeout_ms = 300;
    let limit = Duration::from_millis(timeout_ms.into()) * 2 + MARGIN;
    let mut sessiond = Sessiond::release(Backend::Memory);
    let demo = Demo::start();
    let envoy = grpc_envoy(demo.port, &sessiond, timeout_ms, "fail_open");
    let browser = Browser::new();

    let to_step2 = demo_first_half(&browser, &envoy, &envoy, "Ada").unwrap();
    let errors_before = envoy.counter(STORE_ERRORS);
    assert_eq!(errors_before, 0, "{}", envoy.log());
    sessiond.kill();

    // The flow goes on without its session: every request is served, none hangs, none is a 5xx.
    let (step2, took) = browser.timed(|b| b.get(&envoy, &to_step2));
    assert_served("GET step 2 (sessiond dead)", &step2, took, limit);
    assert!(step2.body.contains("No name in your session."), "the session should be lost: {}", step2.body);
    assert!(token(&step2).is_none(), "no session can be stored, so no token: {step2:?}");
    let confirm_path = to_step2.replace("/step2", "/confirm");
    let (confirm, took) = browser.timed(|b| b.get(&envoy, &confirm_path));
    assert_served("GET /confirm (sessiond dead)", &confirm, took, limit);
    let (fresh, took) = browser.timed(|b| b.get(&envoy, "/step1"));
    assert_served("GET /step1 (sessiond dead)", &fresh, took, limit);
    assert!(token(&fresh).is_none());
    let token_in_path = to_step2.trim_start_matches("/step2?sessionid=");
    let (echo, took) = browser.timed(|b| b.post(&envoy, "/echo", &format!("a=1&sessionid={token_in_path}")));
    assert_served("POST /echo (sessiond dead)", &echo, took, limit);
    let (home, took) = browser.timed(|b| b.get(&envoy, "/"));
    assert_served("GET / (sessiond dead)", &home, took, limit);
    let errors = envoy.counter(STORE_ERRORS);
    assert!(errors >= errors_before + 4, "store errors {errors_before} -> {errors}");

    // Back on the same port: new sessions work at once.
    sessiond.restart();
    let back = Instant::now();
    let confirm = walk_demo(&browser, [&envoy; 5]);
    eprintln!("killed sessiond: a fresh flow completed {:?} after the restart", back.elapsed());
    confirm.unwrap_or_else(|e| panic!("right after the restart: {e}\n{}", envoy.log()));
    assert_eq!(envoy.counter(STORE_ERRORS), errors, "no store error once sessiond is back");
    envoy.assert_no_panic();
}

#[test]
fn fail_closed_answers_503_quickly_when_the_session_service_is_down() {
    let timeout_ms = 300;
    let mut sessiond = Sessiond::release(Backend::Memory);
    let upstream = Upstream::start();
    let envoy = grpc_envoy(upstream.port, &sessiond, timeout_ms, "fail_closed");
    let browser = Browser::new();
    let session = token(&browser.get(&envoy, "/page?cookie=app%3Dv1")).expect("a session with sessiond up");
    let echo = format!("/echo?sessionid={session}");
    assert!(resumed(&browser.get(&envoy, &echo).body));

    let assert_refused = |what: &str, reply: &Reply, took: Duration| {
        assert_eq!(reply.status, 503, "{what}: {reply:?}\n{}", envoy.log());
        assert_eq!(reply.body, "session store unavailable\n", "{what}");
        assert_eq!(reply.header("content-type"), Some("text/plain; charset=utf-8"), "{what}");
        assert!(took < Duration::from_secs(2), "{what}: the 503 took {took:?}");
    };

    sessiond.kill();
    let (reply, took) = browser.timed(|b| b.get(&envoy, &echo));
    eprintln!("fail_closed, sessiond killed: 503 after {took:?}");
    assert_refused("a token in the query, sessiond dead", &reply, took);
    let (reply, took) = browser.timed(|b| b.post(&envoy, "/echo", &format!("a=1&sessionid={session}")));
    assert_refused("a token in a form, sessiond dead", &reply, took);
    // Without a token, and with nothing to store, there is no store call: the page is served.
    let (plain, took) = browser.timed(|b| b.get(&envoy, "/page?body=hello"));
    assert_served("a request without a token", &plain, took, Duration::from_secs(2));
    assert_eq!(plain.body, "hello");
    let view = browser.get(&envoy, "/echo").body;
    assert!(view.contains("x-cookieless-session: none"), "{view}");
    // A response that would create a session needs the store: refused too, not silently stateless.
    let (create, took) = browser.timed(|b| b.get(&envoy, "/page?cookie=app%3Dv2"));
    assert_refused("a response setting a cookie, sessiond dead", &create, took);

    // A session service that accepts but never answers: the 503 comes at the deadline.
    sessiond.restart();
    // Restarted empty (memory backend): the session is gone, which is no store error.
    let again = browser.get(&envoy, &echo);
    assert_eq!(again.status, 200, "{again:?}");
    assert!(again.body.contains("x-cookieless-session: none"), "{}", again.body);
    sessiond.freeze();
    let (reply, took) = browser.timed(|b| b.get(&envoy, &echo));
    sessiond.thaw();
    eprintln!("fail_closed, sessiond frozen (timeout_ms {timeout_ms}): 503 after {took:?}");
    assert_refused("a token, sessiond frozen", &reply, took);
    assert!(waited_for_the_deadline(took, timeout_ms), "a 503 before the deadline ({took:?})?");
    assert!(envoy.counter(STORE_ERRORS) >= 4);
    envoy.assert_no_panic();
}

/// Envoy fails a call to a cluster without hosts inside the call that starts it: the store error
/// comes at once, for a session loaded with the request and for one created by the response.
#[test]
fn a_session_service_cluster_without_hosts_fails_at_once_open_or_closed() {
    let upstream = Upstream::start();
    // A token of this key and site, from an Envoy keeping its sessions itself.
    let issuer = Envoy::start(filter_config(json!({})), upstream.port);
    let session = token(&Browser::new().get(&issuer, "/page?cookie=app%3Dv1")).expect("a session");
    let limit = Duration::from_secs(2);
    for (on_error, status) in [("fail_open", 200), ("fail_closed", 503)] {
        let opts = EnvoyOptions { sessiond_without_hosts: true, ..Default::default() };
        let envoy = Envoy::start_with(grpc_config(300, on_error), upstream.port, opts);
        let browser = Browser::new();
        let (load, took) = browser.timed(|b| b.get(&envoy, &format!("/echo?sessionid={session}")));
        assert_eq!(load.status, status, "{on_error}, a token: {load:?}\n{}", envoy.log());
        assert!(took < limit, "{on_error}, a token: {took:?}");
        let (create, took) = browser.timed(|b| b.get(&envoy, "/page?cookie=app%3Dv2"));
        assert_eq!(create.status, status, "{on_error}, a cookie to keep: {create:?}\n{}", envoy.log());
        assert!(took < limit, "{on_error}, a cookie to keep: {took:?}");
        assert_eq!(token(&create), None, "{on_error}: a token without a store");
        assert!(envoy.counter(STORE_ERRORS) >= 2, "{on_error}: {}", envoy.log());
        envoy.assert_no_panic();
    }
}

#[test]
fn without_redis_requests_are_served_fast_and_sessions_come_back_with_it() {
    // The filter waits up to 1 s: answers well under it prove sessiond said UNAVAILABLE quickly.
    let timeout_ms: u32 = 1000;
    let mut redis = Redis::start();
    let sessiond = Sessiond::release(Backend::Redis { url: redis.url(), timeout_ms: 200 });
    let demo = Demo::start();
    let envoy = grpc_envoy(demo.port, &sessiond, timeout_ms, "fail_open");
    let browser = Browser::new();
    let to_step2 = demo_first_half(&browser, &envoy, &envoy, "Ada").unwrap();
    assert_eq!(envoy.counter(STORE_ERRORS), 0);

    redis.kill();
    let mut slowest = Duration::ZERO;
    for path in [to_step2.as_str(), "/step1", "/confirm", "/"] {
        let (reply, took) = browser.timed(|b| b.get(&envoy, path));
        assert_served(&format!("GET {path} without Redis"), &reply, took, Duration::from_millis(timeout_ms.into()));
        slowest = slowest.max(took);
    }
    eprintln!("Redis killed: slowest request {slowest:?} (filter deadline {timeout_ms} ms)");
    let errors = envoy.counter(STORE_ERRORS);
    assert!(errors >= 3, "store errors: {errors}\n{}", sessiond.log());

    redis.restart();
    let back = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match walk_demo(&browser, [&envoy; 5]) {
            Ok(_) => break,
            Err(e) if back.elapsed() > Duration::from_secs(10) => {
                panic!("no flow completed in 10 s after Redis came back: {e}\n{}", sessiond.log())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    eprintln!("Redis restarted: a fresh flow completed {:?} later ({attempts} attempt(s))", back.elapsed());
    envoy.assert_no_panic();
}

#[test]
fn a_session_service_that_never_answers_costs_one_deadline_and_fails_open() {
    let timeout_ms: u32 = 300;
    let limit = Duration::from_millis(timeout_ms.into()) + MARGIN;
    let mut sessiond = Sessiond::release(Backend::Memory);
    let upstream = Upstream::start();
    let envoy = grpc_envoy(upstream.port, &sessiond, timeout_ms, "fail_open");
    let browser = Browser::new();
    let session = token(&browser.get(&envoy, "/page?cookie=app%3Dv1")).expect("a session with sessiond up");
    let echo = format!("/echo?sessionid={session}");
    assert!(resumed(&browser.get(&envoy, &echo).body));

    sessiond.freeze();
    // Paused for the load: let go at the deadline, without the session.
    let (load, load_took) = browser.timed(|b| b.get(&envoy, &echo));
    // Paused for the update (Get, then Put) of a response: let go at the deadline, no token.
    let (update, update_took) = browser.timed(|b| b.get(&envoy, "/page?cookie=app%3Dv2&body=x"));
    let errors = envoy.counter(STORE_ERRORS);
    sessiond.thaw();
    eprintln!("sessiond frozen (timeout_ms {timeout_ms}): load {load_took:?}, update {update_took:?}");
    assert_served("a load from a frozen sessiond", &load, load_took, limit);
    assert!(load.body.contains("x-cookieless-session: none"), "{}", load.body);
    assert!(waited_for_the_deadline(load_took, timeout_ms), "{load_took:?}");
    assert_served("an update to a frozen sessiond", &update, update_took, limit);
    assert_eq!(update.body, "x");
    assert!(token(&update).is_none(), "{update:?}");
    assert!(errors >= 2, "store errors: {errors}");

    // Thawed, it answers again; the session it kept resumes.
    assert!(resumed(&browser.get(&envoy, &echo).body), "{}", envoy.log());
    envoy.assert_no_panic();
}

/// Session-resume requests per second through one Envoy (concurrency 1), sequential, with the
/// session in shared data vs in the session service (memory, one Redis, a six-node Redis Cluster;
/// a resume reads, so --redis-wait-replicas would change nothing), plus the same
/// Envoy with the filter off as the baseline of the harness itself (client, Envoy, upstream).
/// Numbers include this debug-built test binary's client and upstream: compare them, do not quote
/// them as absolute. Run with `cargo test -p cookieless --test grpc_store -- --ignored --nocapture
/// --exact bench_resume_grpc_vs_shared_data`.
#[test]
#[ignore = "a measurement, not a test: run by `make bench`"]
fn bench_resume_grpc_vs_shared_data() {
    const REQUESTS: u32 = 2000;
    let upstream = Upstream::start();
    let redis = Redis::start();
    let memory = Sessiond::release(Backend::Memory);
    let on_redis = Sessiond::release(Backend::Redis { url: redis.url(), timeout_ms: 200 });
    let cluster = RedisCluster::start(5000);
    let on_cluster = Sessiond::release(Backend::RedisCluster { nodes: cluster.addrs(), timeout_ms: 200, wait_replicas: 0 });
    let setups: [(&str, Envoy); 4] = [
        ("shared_data", Envoy::start(filter_config(json!({})), upstream.port)),
        ("grpc (sessiond memory)", grpc_envoy(upstream.port, &memory, 1000, "fail_closed")),
        ("grpc (sessiond redis)", grpc_envoy(upstream.port, &on_redis, 1000, "fail_closed")),
        ("grpc (redis-cluster)", grpc_envoy(upstream.port, &on_cluster, 1000, "fail_closed")),
    ];
    let client = Client::with_timeout(REQUEST_LIMIT);
    let measure = |name: &str, url: &str, check: &dyn Fn(&Reply) -> bool| {
        for _ in 0..100 {
            assert!(check(&client.get(url)), "{name}: warm-up failed");
        }
        let mut latencies = Vec::with_capacity(REQUESTS as usize);
        let start = Instant::now();
        for _ in 0..REQUESTS {
            let t = Instant::now();
            let reply = client.get(url);
            latencies.push(t.elapsed());
            assert!(check(&reply), "{name}: {reply:?}");
        }
        let total = start.elapsed();
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        println!(
            "bench resume {name:<24} {REQUESTS} requests in {total:>7.2?}: {:>6.0} req/s, p50 {:>9.2?}, p99 {:>9.2?}",
            f64::from(REQUESTS) / total.as_secs_f64(),
            at(0.5),
            at(0.99),
        );
    };
    let (_, first) = &setups[0];
    measure("no filter (baseline)", &first.url("/nofilter/echo"), &|r| r.status == 200);
    for (name, envoy) in &setups {
        let session = token(&client.get(&envoy.url("/page?cookie=app%3Dv1"))).expect("a session");
        measure(name, &envoy.url(&format!("/echo?sessionid={session}")), &|r| resumed(&r.body));
        assert_eq!(envoy.counter(STORE_ERRORS), 0, "{name}");
    }
}

#[test]
fn a_rotation_on_one_envoy_retires_the_old_token_on_every_envoy() {
    let redis = Redis::start();
    let sessiond = Sessiond::release(Backend::Redis { url: redis.url(), timeout_ms: 200 });
    let upstream = Upstream::start();
    let config = |grace: u32| {
        let mut c = grpc_config(1000, "fail_closed");
        c["rotation"] = json!({"grace_seconds": grace});
        c
    };
    let opts = EnvoyOptions { sessiond_ports: vec![sessiond.port()], ..Default::default() };
    let a = Envoy::start_with(config(1), upstream.port, opts.clone());
    let b = Envoy::start_with(config(1), upstream.port, opts);
    let browser = Browser::new();
    let app_cookies = |envoy: &Envoy, token: &str| {
        let view = browser.get(envoy, &format!("/echo?sessionid={token}")).body;
        view.contains("x-cookieless-session: resumed").then(|| view.lines().find_map(|l| l.strip_prefix("cookie: ")).unwrap_or_default().to_string())
    };
    let before = token(&browser.get(&a, "/page?cookie=PHPSESSID%3Danon")).unwrap();
    let login = browser.get(&b, &format!("/page?sessionid={before}&cookie=PHPSESSID%3Dlogged-in"));
    let after = token(&login).unwrap_or_else(|| panic!("no token after the login: {login:?}\n{}", b.log()));
    // In flight on the other Envoy during the grace: it follows to the new session.
    assert_eq!(app_cookies(&a, &before).as_deref(), Some("PHPSESSID=logged-in"));
    std::thread::sleep(Duration::from_millis(2500));
    for envoy in [&a, &b] {
        assert_eq!(app_cookies(envoy, &before), None, "the old token opened a session after the grace");
        assert_eq!(app_cookies(envoy, &after).as_deref(), Some("PHPSESSID=logged-in"));
        assert_eq!(envoy.counter(STORE_ERRORS), 0, "{}", envoy.log());
    }
    assert_eq!(b.counter("cookieless_sessions_rotated"), 1);
}
