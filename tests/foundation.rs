//! The ground everything stands on, through a real Envoy: shipped configs validate, bad configs
//! stop Envoy with one line naming the field, cookies never cross a cookieless route, and other
//! routes pass through untouched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless_testkit as kit;

use kit::upstream::Upstream;
use kit::{filter_config, validate_config, Client, Envoy, TempDir, KEY};
use serde_json::json;

/// The shipped standalone config of the build under test (`envoy/envoy.yaml`, or
/// `envoy/envoy.native.yaml` with `COOKIELESS_BUILD=native`), but loading the module this build
/// made (which sits elsewhere when CARGO_TARGET_DIR is set).
fn shipped_config(dir: &TempDir) -> std::path::PathBuf {
    let (file, shipped_module, module) = match kit::build() {
        kit::Build::Wasm => ("envoy/envoy.yaml", "target/wasm32-wasip1/release/cookieless.wasm", kit::wasm_path()),
        kit::Build::Native => ("envoy/envoy.native.yaml", "target/release/libcookieless.so", kit::native_path()),
    };
    let text = std::fs::read_to_string(kit::root().join(file)).unwrap();
    assert!(text.contains(shipped_module), "{file} no longer loads {shipped_module}");
    let path = dir.path().join("envoy.yaml");
    std::fs::write(&path, text.replace(shipped_module, &module.display().to_string())).unwrap();
    path
}

#[test]
fn shipped_standalone_config_validates() {
    let dir = TempDir::new("shipped");
    let (ok, out) = validate_config(&shipped_config(&dir), &[("COOKIELESS_KEY", KEY)]);
    assert!(ok, "envoy/envoy.yaml does not validate:\n{out}");
}

#[test]
fn shipped_config_without_its_key_is_refused_naming_the_field() {
    let dir = TempDir::new("shipped");
    let (ok, out) = validate_config(&shipped_config(&dir), &[("COOKIELESS_KEY", "")]);
    assert!(!ok, "validation passed without a key:\n{out}");
    assert!(out.contains("keys[0].secret"), "the log does not name the field:\n{out}");
}

/// Writes a bootstrap with `filter` (raw text, maybe malformed) as the plugin configuration
/// and validates it.
fn validate_filter_config(filter: &str) -> (bool, String) {
    let dir = TempDir::new("validate");
    let path = dir.path().join("envoy.yaml");
    let ports = (kit::free_port(), kit::free_port());
    std::fs::write(&path, kit::bootstrap(filter, ports.0, ports.1, 1, &Default::default())).unwrap();
    validate_config(&path, &[])
}

#[test]
fn each_kind_of_bad_config_stops_envoy_naming_the_field() {
    let key = format!(r#"{{"id": "k1", "secret": "{KEY}"}}"#);
    let cases = [
        (r#"{"keys": ["#.to_string(), "invalid configuration"),
        (format!(r#"{{"keys": [{key}], "tokne": {{}}}}"#), "`tokne`"),
        (r#"{"param": "sessionid"}"#.to_string(), "keys"),
        (r#"{"keys": [{"id": "k1", "secret": "AAECAwQF"}]}"#.to_string(), "keys[0].secret"),
        (r#"{"keys": [{"id": "k1", "secret": "*not base64*"}]}"#.to_string(), "keys[0].secret"),
        (r#"{"keys": [{"id": "k1", "secret_env": "NO_SUCH_VAR"}]}"#.to_string(), "keys[0].secret_env"),
        (format!(r#"{{"keys": [{key}, {key}]}}"#), "keys[1].id"),
        (format!(r#"{{"keys": [{key}], "routes": {{"include": [{{"regex": "(" }}]}}}}"#), "routes.include[0].regex"),
        (format!(r#"{{"keys": [{key}], "store": {{"kind": "memcached"}}}}"#), "store.kind"),
        (format!(r#"{{"keys": [{key}], "store": {{"max_sessions": 0}}}}"#), "store.max_sessions"),
    ];
    // Each validation compiles the module in V8 (seconds): two at a time, one per core.
    let results: Vec<_> = cases
        .chunks(2)
        .flat_map(|pair| {
            std::thread::scope(|scope| {
                let runs: Vec<_> =
                    pair.iter().map(|(config, _)| scope.spawn(move || validate_filter_config(config))).collect();
                runs.into_iter().map(|r| r.join().unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    for ((config, field), (ok, out)) in cases.iter().zip(results) {
        assert!(!ok, "Envoy accepted {config}");
        let line = out
            .lines()
            .find(|l| l.contains("cookieless: invalid configuration"))
            .unwrap_or_else(|| panic!("no error line for {config}:\n{out}"));
        assert!(line.contains(field), "the error for {config} does not name {field}: {line}");
        assert!(!line.contains(KEY), "the error line shows the secret: {line}");
    }
}

#[test]
fn a_good_filter_config_validates() {
    let (ok, out) = validate_filter_config(&format!(r#"{{"keys": [{{"id": "k1", "secret": "{KEY}"}}]}}"#));
    assert!(ok, "{out}");
    // Route regexes as users write them, compiled by the module's own regex build.
    let routes = r#""routes": {"include": [{"regex": "/forms/\\d+"}, {"regex": "/[a-z]+/\\w+/.*", "host": "Forms.Example"}]}"#;
    let (ok, out) = validate_filter_config(&format!(r#"{{"keys": [{{"id": "k1", "secret": "{KEY}"}}], {routes}}}"#));
    assert!(ok, "{out}");
}

#[test]
fn cookies_never_cross_a_cookieless_route() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(filter_config(json!({})), upstream.port);
    let client = Client::new();

    let echo = client.get_with(&envoy.url("/echo"), &[("cookie", "tracker=1; sessionid=forged")]);
    assert_eq!(echo.status, 200);
    assert!(!echo.body.to_ascii_lowercase().contains("\ncookie:"), "the upstream saw a cookie:\n{}", echo.body);
    assert!(!echo.body.contains("forged"));

    let set = client.get(&envoy.url("/page?cookie=a%3D1%3B%20Path%3D%2F&cookie=b%3D2"));
    assert_eq!(set.status, 200);
    assert!(set.headers_named("set-cookie").is_empty(), "Set-Cookie reached the browser: {:?}", set.headers);
    envoy.assert_no_panic();
}

#[test]
fn other_routes_pass_through_byte_for_byte() {
    let upstream = Upstream::start();
    let filter = filter_config(json!({"routes": {"include": [{"prefix": "/"}], "exclude": [{"prefix": "/public"}]}}));
    let with_filter = Envoy::start(filter, upstream.port);
    let without = Envoy::start_with(json!({}), upstream.port, kit::EnvoyOptions { filter_enabled: false, ..Default::default() });
    let client = Client::new();
    let page = "/public/page?cookie=a%3D1%3B%20Path%3D%2F&content_type=text%2Fhtml&body=%3Ca%20href%3D%22%2Fx%22%3Ex%3C%2Fa%3E%3Cform%3E%3C%2Fform%3E__COOKIELESS_TOKEN__";
    let a = client.get(&with_filter.url(page));
    let b = client.get(&without.url(page));
    assert_eq!(a.status, 200);
    assert_eq!(a.body, b.body, "the body changed");
    assert_eq!(a.body, "<a href=\"/x\">x</a><form></form>__COOKIELESS_TOKEN__");
    let comparable = |r: &kit::Reply| {
        let mut h: Vec<_> = r
            .headers
            .iter()
            .filter(|(n, _)| !["date", "x-envoy-upstream-service-time"].contains(&n.as_str()))
            .cloned()
            .collect();
        h.sort();
        h
    };
    assert_eq!(comparable(&a), comparable(&b), "the headers changed");
    assert_eq!(a.headers_named("set-cookie"), ["a=1; Path=/"]);

    let headers = [("cookie", "keep=me"), ("accept-encoding", "gzip")];
    let echo_a = client.get_with(&with_filter.url("/public/echo?sessionid=abc&x=1"), &headers);
    let echo_b = client.get_with(&without.url("/public/echo?sessionid=abc&x=1"), &headers);
    let seen = |r: &kit::Reply| {
        let mut lines: Vec<String> = r
            .body
            .lines()
            .filter(|l| !["x-request-id", "x-forwarded-proto", "host:"].iter().any(|p| l.starts_with(p)))
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(seen(&echo_a), seen(&echo_b), "the upstream saw a different request");
    assert!(echo_a.body.contains("cookie: keep=me") && echo_a.body.contains("sessionid=abc"));
    with_filter.assert_no_panic();
}
