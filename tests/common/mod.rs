//! The integration harness: a real Envoy with the filter, real upstreams (the demo app binary, or a
//! scriptable in-process server), and an HTTP client that keeps no cookies.
//!
//! Every process is started on free loopback ports and stopped by PID when its guard drops, which
//! also happens when a test fails or panics.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

pub mod browser;
pub mod services;
pub mod upstream;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const OTHER_KEY: &str = "ZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

pub fn envoy_bin() -> PathBuf {
    let bin = std::env::var_os("ENVOY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/envoy"));
    assert!(bin.exists(), "no Envoy at {} (run `make setup`, or set ENVOY_BIN)", bin.display());
    bin
}

pub fn wasm_path() -> PathBuf {
    let wasm = target_dir().join("wasm32-wasip1/release/cookieless.wasm");
    assert!(wasm.exists(), "no filter at {} (run `make build`)", wasm.display());
    wasm
}

pub fn demo_bin() -> PathBuf {
    let bin = target_dir().join("release/demo");
    assert!(bin.exists(), "no demo app at {} (run `make build`)", bin.display());
    bin
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process stopped (by its PID) when dropped.
pub struct Proc {
    child: Child,
    pub name: &'static str,
}

impl Proc {
    pub fn spawn(name: &'static str, cmd: &mut Command) -> Proc {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { child, name }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// The demo app binary, on a free port.
pub struct Demo {
    pub port: u16,
    _proc: Proc,
}

impl Demo {
    pub fn start() -> Demo {
        let port = free_port();
        let proc = Proc::spawn(
            "demo",
            Command::new(demo_bin())
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null()),
        );
        let url = format!("http://127.0.0.1:{port}/healthz");
        wait_until("the demo app", Duration::from_secs(30), || Client::new().get(&url).status == 200);
        Demo { port, _proc: proc }
    }
}

/// Envoy, on the CPUs the options name (`taskset` execs it: the PID stays Envoy's).
pub fn envoy_command(opts: &EnvoyOptions) -> Command {
    match &opts.cpus {
        Some(cpus) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", cpus]).arg(envoy_bin());
            cmd
        }
        None => Command::new(envoy_bin()),
    }
}

/// Options of a test Envoy beyond the filter's configuration.
#[derive(Clone)]
pub struct EnvoyOptions {
    pub concurrency: u32,
    /// Take the client address from X-Forwarded-For, so tests can choose what the filter sees.
    pub trust_xff: bool,
    /// Without it, Envoy has no Wasm filter at all.
    pub filter_enabled: bool,
    /// A cluster `sessiond` (HTTP/2) for the gRPC session store, at this loopback port.
    pub sessiond_port: Option<u16>,
    /// Speak HTTP/2 to the upstream (needed for response trailers).
    pub upstream_http2: bool,
    /// Run Envoy on these CPUs only (`taskset -c`): benchmarks keep it apart from the load.
    pub cpus: Option<String>,
}

impl Default for EnvoyOptions {
    fn default() -> Self {
        EnvoyOptions { concurrency: 1, trust_xff: true, filter_enabled: true, sessiond_port: None, upstream_http2: false, cpus: None }
    }
}

pub struct Envoy {
    pub port: u16,
    pub admin_port: u16,
    pub dir: TempDir,
    proc: Proc,
}

/// The filter configuration used unless a test says otherwise: the key inline.
pub fn filter_config(extra: serde_json::Value) -> serde_json::Value {
    let mut config = serde_json::json!({"keys": [{"id": "k1", "secret": KEY}]});
    if let (Some(base), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    config
}

impl Envoy {
    pub fn start(filter: serde_json::Value, upstream_port: u16) -> Envoy {
        Envoy::start_with(filter, upstream_port, EnvoyOptions::default())
    }

    pub fn start_with(filter: serde_json::Value, upstream_port: u16, opts: EnvoyOptions) -> Envoy {
        let dir = TempDir::new("envoy");
        let port = free_port();
        let admin_port = free_port();
        let bootstrap = bootstrap(&filter.to_string(), port, admin_port, upstream_port, &opts);
        let config_path = dir.path().join("envoy.yaml");
        std::fs::write(&config_path, bootstrap).unwrap();
        let log = std::fs::File::create(dir.path().join("envoy.log")).unwrap();
        let proc = Proc::spawn(
            "envoy",
            envoy_command(&opts)
                .arg("-c")
                .arg(&config_path)
                .args(["--concurrency", &opts.concurrency.to_string()])
                .args(["--disable-hot-restart", "--log-level", "info"])
                .current_dir(root())
                .stdout(Stdio::null())
                .stderr(log),
        );
        let mut envoy = Envoy { port, admin_port, dir, proc };
        envoy.wait_ready();
        envoy
    }

    fn wait_ready(&mut self) {
        let ready = format!("http://127.0.0.1:{}/ready", self.admin_port);
        // V8 compiles the module at start-up: seconds on a loaded 2-core machine.
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if !self.proc.is_running() {
                panic!("Envoy exited at start-up; its log:\n{}", self.log());
            }
            if Client::new().get(&ready).status == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("Envoy not ready in 90 s; its log:\n{}", self.log());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("envoy.log")).unwrap_or_default()
    }

    /// A counter from the admin `/stats`, 0 when absent.
    pub fn counter(&self, name: &str) -> u64 {
        let stats = Client::new().get(&format!("http://127.0.0.1:{}/stats", self.admin_port)).body;
        stats
            .lines()
            .filter_map(|l| l.split_once(": "))
            .find(|(n, _)| n.ends_with(name))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Envoy's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.proc.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn stats(&self) -> String {
        Client::new().get(&format!("http://127.0.0.1:{}/stats", self.admin_port)).body
    }

    /// No panic and no crashed VM in Envoy's log.
    pub fn assert_no_panic(&self) {
        let log = self.log();
        for bad in ["panicked", "wasm trap", "Function: proxy_on", "VM failed", "unreachable"] {
            assert!(!log.contains(bad), "Envoy log shows {bad:?}:\n{log}");
        }
    }
}

pub fn bootstrap(filter_json: &str, port: u16, admin_port: u16, upstream_port: u16, opts: &EnvoyOptions) -> String {
    let wasm = wasm_path();
    let filter_json = serde_json::to_string(filter_json).unwrap();
    // With use_remote_address false and no trusted hops, Envoy takes the client address from the
    // last X-Forwarded-For entry: how a test plays several clients from one loopback address.
    let xff = if opts.trust_xff { "use_remote_address: false" } else { "use_remote_address: true" };
    // The filter is off on /nofilter/ via a per-route disable, so one upstream serves both cases.
    let wasm_filter = format!(
        r#"
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: cookieless
                root_id: cookieless
                allow_on_headers_stop_iteration: true
                vm_config:
                  vm_id: cookieless
                  runtime: envoy.wasm.runtime.v8
                  code: {{local: {{filename: "{wasm}"}}}}
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: {filter_json}"#,
        wasm = wasm.display()
    );
    let filters = if opts.filter_enabled { wasm_filter.as_str() } else { "" };
    let sessiond = opts.sessiond_port.map(sessiond_cluster).unwrap_or_default();
    let upstream_protocol = if opts.upstream_http2 { HTTP2_OPTIONS } else { "" };
    format!(
        r#"
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin_port}}}}}
static_resources:
  listeners:
  - name: main
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          {xff}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/nofilter/"}}
                route: {{cluster: upstream, prefix_rewrite: "/"}}
                typed_per_filter_config:
                  envoy.filters.http.wasm:
                    "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig
                    disabled: true
              - match: {{prefix: "/"}}
                route: {{cluster: upstream}}
          http_filters:{filters}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s{upstream_protocol}
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address: {{socket_address: {{address: 127.0.0.1, port_value: {upstream_port}}}}}
{sessiond}"#
    )
}

const HTTP2_OPTIONS: &str = r#"
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}"#;

/// The gRPC session service's cluster: gRPC needs HTTP/2 to the upstream.
fn sessiond_cluster(port: u16) -> String {
    format!(
        r#"
  - name: sessiond
    type: STATIC
    connect_timeout: 0.25s{HTTP2_OPTIONS}
    load_assignment:
      cluster_name: sessiond
      endpoints:
      - lb_endpoints:
        - endpoint:
            address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
"#
    )
}

/// Runs `envoy --mode validate` on a config file; returns (success, combined output).
pub fn validate_config(path: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(envoy_bin())
        .args(["--mode", "validate", "-c"])
        .arg(path)
        .args(["--disable-hot-restart", "--log-level", "error"])
        .current_dir(root())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A temporary directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("cookieless-{prefix}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// An HTTP response, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
}

/// An HTTP client like a browser that stores no cookies: no cookie jar, no redirect following.
pub struct Client {
    agent: ureq::Agent,
    pub user_agent: String,
    /// Sent as X-Forwarded-For (the test Envoy trusts one hop): the client address the filter sees.
    pub client_ip: Option<String>,
}

impl Client {
    pub fn new() -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Client { agent, user_agent: "cookieless-test/1".into(), client_ip: None }
    }

    pub fn with_identity(user_agent: &str, client_ip: &str) -> Client {
        Client { user_agent: user_agent.into(), client_ip: Some(client_ip.into()), ..Client::new() }
    }

    pub fn get(&self, url: &str) -> Reply {
        self.get_with(url, &[])
    }

    pub fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.agent.get(url).header("user-agent", &self.user_agent);
        if let Some(ip) = &self.client_ip {
            req = req.header("x-forwarded-for", ip);
        }
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        read(req.call())
    }

    pub fn post_form(&self, url: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
        self.post(url, "application/x-www-form-urlencoded", body.as_bytes(), headers)
    }

    pub fn post(&self, url: &str, content_type: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
        let mut req = self
            .agent
            .post(url)
            .header("user-agent", &self.user_agent)
            .header("content-type", content_type);
        if let Some(ip) = &self.client_ip {
            req = req.header("x-forwarded-for", ip);
        }
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        read(req.send(body))
    }
}

fn read(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    match result {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let mut bytes = Vec::new();
            let _ = resp.body_mut().as_reader().read_to_end(&mut bytes);
            Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
        }
        Err(e) => Reply { status: 0, headers: Vec::new(), body: e.to_string() },
    }
}

/// The token the filter put into a page: the value of the first `sessionid` hidden input or link.
pub fn token_in(html: &str) -> Option<String> {
    let at = html.find("sessionid=").map(|i| i + "sessionid=".len()).or_else(|| {
        let i = html.find("name=\"sessionid\" value=\"")?;
        Some(i + "name=\"sessionid\" value=\"".len())
    })?;
    let token: String = html[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}

/// The value of a hidden input in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker)? + marker.len();
    Some(html[at..].chars().take_while(|c| *c != '"').collect())
}
