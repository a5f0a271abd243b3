//! Envoy with the filter, from a bootstrap generated per test on free loopback ports, and
//! `envoy --mode validate` for config files.

use crate::{artefact, free_port, root, Client, Proc, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The filter's key in [`filter_config`].
pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// A second key, for tokens the filter must reject.
pub const OTHER_KEY: &str = "ZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=";

/// The Envoy binary: `ENVOY_BIN`, else the repo's `.venv/bin/envoy`.
pub fn envoy_bin() -> PathBuf {
    let bin = std::env::var_os("ENVOY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/envoy"));
    assert!(bin.exists(), "no Envoy at {} (run `make setup`, or set ENVOY_BIN)", bin.display());
    bin
}

/// The filter module (`cargo build --release --target wasm32-wasip1 -p cookieless`).
pub fn wasm_path() -> PathBuf {
    artefact("wasm32-wasip1/release/cookieless.wasm", "filter")
}

/// The native build, an Envoy dynamic module (`make build`).
pub fn native_path() -> PathBuf {
    artefact("release/libcookieless.so", "native filter")
}

/// Which build of the filter every test Envoy loads: `COOKIELESS_BUILD=wasm` (the default) or
/// `native`. The one switch that runs the whole suite against either build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    Wasm,
    Native,
}

pub fn build() -> Build {
    match std::env::var("COOKIELESS_BUILD").unwrap_or_default().as_str() {
        "" | "wasm" => Build::Wasm,
        "native" => Build::Native,
        other => panic!("COOKIELESS_BUILD={other:?}: it is `wasm` or `native`"),
    }
}

impl Build {
    /// The filter's name in Envoy's HTTP filter chain (what per-route configuration is keyed by).
    pub fn filter_name(self) -> &'static str {
        match self {
            Build::Wasm => "envoy.filters.http.wasm",
            Build::Native => "envoy.filters.http.dynamic_modules",
        }
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
    /// Without it, Envoy has no cookieless filter at all.
    pub filter_enabled: bool,
    /// A cluster `sessiond` (HTTP/2) for the gRPC session store, at these loopback ports (none:
    /// no such cluster). With several, Envoy health-checks them (gRPC health) and balances over
    /// those that answer SERVING.
    pub sessiond_ports: Vec<u16>,
    /// Without `sessiond_ports`: a cluster `sessiond` without any host, whose calls Envoy fails
    /// at once ("no healthy upstream"), inside the call that starts them.
    pub sessiond_without_hosts: bool,
    /// Speak HTTP/2 to the upstream (needed for response trailers).
    pub upstream_http2: bool,
    /// Run Envoy on these CPUs only (`taskset -c`): benchmarks keep it apart from the load.
    pub cpus: Option<String>,
    /// The build of the filter it loads: [`build`] (`COOKIELESS_BUILD`) unless a test says
    /// otherwise (the benchmark puts both side by side).
    pub build: Build,
    /// The listener comes from a file Envoy watches (LDS from the filesystem) rather than from
    /// the bootstrap, so that [`Envoy::reload`] can update it, filter configuration and all.
    pub listener_over_lds: bool,
}

impl Default for EnvoyOptions {
    fn default() -> Self {
        EnvoyOptions {
            concurrency: 1,
            trust_xff: true,
            filter_enabled: true,
            sessiond_ports: Vec::new(),
            sessiond_without_hosts: false,
            upstream_http2: false,
            cpus: None,
            build: build(),
            listener_over_lds: false,
        }
    }
}

pub struct Envoy {
    pub port: u16,
    pub admin_port: u16,
    pub dir: TempDir,
    proc: Proc,
    opts: EnvoyOptions,
}

/// The file the listener is read from with [`EnvoyOptions::listener_over_lds`], in the Envoy's dir.
const LDS_FILE: &str = "lds.yaml";
/// How the listener updates over LDS show in the admin `/stats`.
const LDS_UPDATES: &str = "listener_manager.lds.update_success";

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
        let bootstrap = if opts.listener_over_lds {
            write_lds(dir.path(), &filter.to_string(), port, &opts);
            bootstrap_over_lds(dir.path(), admin_port, upstream_port, &opts)
        } else {
            bootstrap(&filter.to_string(), port, admin_port, upstream_port, &opts)
        };
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
        let mut envoy = Envoy { port, admin_port, dir, proc, opts };
        envoy.wait_ready();
        envoy
    }

    /// Updates the listener over LDS with another filter configuration (needs
    /// [`EnvoyOptions::listener_over_lds`]) and waits until Envoy took it: new connections get
    /// the new filter configuration; open ones keep the old one while they drain.
    pub fn reload(&self, filter: serde_json::Value) {
        assert!(self.opts.listener_over_lds, "reload needs listener_over_lds");
        let before = self.counter(LDS_UPDATES);
        write_lds(self.dir.path(), &filter.to_string(), self.port, &self.opts);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.counter(LDS_UPDATES) == before {
            assert!(Instant::now() < deadline, "Envoy took no listener update in 30 s; its log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        let warming = || self.counter("listener_manager.total_listeners_warming");
        while warming() > 0 {
            assert!(Instant::now() < deadline, "the updated listener is still warming; the log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
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

    /// Admin `/clusters`: per host of each cluster, its counters and health flags.
    pub fn clusters(&self) -> String {
        Client::new().get(&format!("http://127.0.0.1:{}/clusters", self.admin_port)).body
    }

    pub fn stats(&self) -> String {
        Client::new().get(&format!("http://127.0.0.1:{}/stats", self.admin_port)).body
    }

    /// No panic, no crashed VM (Wasm) and no panic caught at the module's boundary (native) in
    /// Envoy's log.
    pub fn assert_no_panic(&self) {
        let log = self.log();
        for bad in ["panicked", "wasm trap", "Function: proxy_on", "VM failed", "unreachable", "cookieless: a panic"] {
            assert!(!log.contains(bad), "Envoy log shows {bad:?}:\n{log}");
        }
    }
}

/// The page Envoy answers `/direct-response` with (a route's `direct_response`, no upstream): made
/// inside the router's decoding, so it reaches the filter's response hooks inside whatever call
/// let the request go on.
pub const DIRECT_RESPONSE_BODY: &str = "<p>direct</p><a href='/next'>next</a>";
/// The `Set-Cookie` of that response.
pub const DIRECT_RESPONSE_COOKIE: &str = "direct=1; Path=/";

pub fn bootstrap(filter_json: &str, port: u16, admin_port: u16, upstream_port: u16, opts: &EnvoyOptions) -> String {
    let listener = listener(filter_json, port, opts);
    let clusters = clusters(upstream_port, opts);
    format!(
        r#"
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin_port}}}}}
static_resources:
  listeners:
  - name: main
{listener}{clusters}"#
    )
}

/// The bootstrap of [`EnvoyOptions::listener_over_lds`]: the listener from `dir`'s [`LDS_FILE`],
/// which Envoy reads again whenever a new one is moved into `dir`.
fn bootstrap_over_lds(dir: &Path, admin_port: u16, upstream_port: u16, opts: &EnvoyOptions) -> String {
    let clusters = clusters(upstream_port, opts);
    let dir = dir.display();
    format!(
        r#"
node: {{id: cookieless-test, cluster: cookieless-test}}
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin_port}}}}}
dynamic_resources:
  lds_config:
    resource_api_version: V3
    path_config_source:
      path: {dir}/{LDS_FILE}
      watched_directory: {{path: {dir}}}
static_resources:{clusters}"#
    )
}

/// Writes the listener for LDS: into a file beside, then moved over [`LDS_FILE`], as Envoy's
/// watch on the directory expects (a file written in place may be read half-written).
fn write_lds(dir: &Path, filter_json: &str, port: u16, opts: &EnvoyOptions) {
    let listener = listener(filter_json, port, opts);
    let lds = format!("resources:\n  - \"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n    name: main\n{listener}");
    let staged = dir.join("lds.yaml.next");
    std::fs::write(&staged, lds).unwrap();
    std::fs::rename(&staged, dir.join(LDS_FILE)).unwrap();
}

/// The listener `main` but its first line (its name): fields indented by four spaces.
fn listener(filter_json: &str, port: u16, opts: &EnvoyOptions) -> String {
    // With use_remote_address false and no trusted hops, Envoy takes the client address from the
    // last X-Forwarded-For entry: how a test plays several clients from one loopback address.
    let xff = if opts.trust_xff { "use_remote_address: false" } else { "use_remote_address: true" };
    let filter = filter_entry(opts.build, filter_json);
    let filters = if opts.filter_enabled { filter.as_str() } else { "" };
    let filter_name = opts.build.filter_name();
    // The filter is off on /nofilter/ via a per-route disable, so one upstream serves both cases.
    // /direct-response is answered by Envoy itself, inside the filter chain's decoding.
    format!(
        r#"    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
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
                  {filter_name}:
                    "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig
                    disabled: true
              - match: {{prefix: "/direct-response"}}
                direct_response: {{status: 200, body: {{inline_string: "{DIRECT_RESPONSE_BODY}"}}}}
                response_headers_to_add:
                - header: {{key: content-type, value: text/html}}
                  append_action: OVERWRITE_IF_EXISTS_OR_ADD
                - header: {{key: set-cookie, value: "{DIRECT_RESPONSE_COOKIE}"}}
              - match: {{prefix: "/"}}
                route: {{cluster: upstream}}
          http_filters:{filters}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"#
    )
}

/// `clusters:` of `static_resources`: the upstream and, as the options say, the session service.
fn clusters(upstream_port: u16, opts: &EnvoyOptions) -> String {
    let sessiond = sessiond_cluster(&opts.sessiond_ports, opts.sessiond_without_hosts);
    let upstream_protocol = if opts.upstream_http2 { HTTP2_OPTIONS } else { "" };
    format!(
        r#"
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

/// The filter's entry in the HTTP filter chain: the build's module, and the configuration as a
/// string value (the Wasm filter's `configuration`, the dynamic module's `filter_config`).
fn filter_entry(build: Build, filter_json: &str) -> String {
    let value = serde_json::to_string(filter_json).unwrap();
    let config = format!(r#"{{"@type": type.googleapis.com/google.protobuf.StringValue, value: {value}}}"#);
    let typed_config = match build {
        Build::Wasm => format!(
            r#""@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: cookieless
                root_id: cookieless
                allow_on_headers_stop_iteration: true
                vm_config:
                  vm_id: cookieless
                  runtime: envoy.wasm.runtime.v8
                  code: {{local: {{filename: "{}"}}}}
                configuration: {config}"#,
            wasm_path().display()
        ),
        Build::Native => format!(
            r#""@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter
              dynamic_module_config:
                module: {{local: {{filename: "{}"}}}}
                do_not_close: true
              filter_name: cookieless
              filter_config: {config}"#,
            native_path().display()
        ),
    };
    format!("\n          - name: {}\n            typed_config:\n              {typed_config}", build.filter_name())
}

const HTTP2_OPTIONS: &str = r#"
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}"#;

/// The gRPC session service's cluster: gRPC needs HTTP/2 to the upstream. Several replicas are
/// health-checked often (a killed one leaves the rotation after one failed check), as a fleet
/// would run them; one alone is not, so the tests of a single sessiond see every failure. No
/// ports: no cluster, or with `without_hosts` one without any host.
fn sessiond_cluster(ports: &[u16], without_hosts: bool) -> String {
    if ports.is_empty() && !without_hosts {
        return String::new();
    }
    let health = if ports.len() > 1 {
        "\n    common_lb_config: {healthy_panic_threshold: {value: 0}}\n    health_checks:\n    - {timeout: 0.25s, interval: 0.2s, no_traffic_interval: 0.2s, unhealthy_threshold: 1,\n       healthy_threshold: 1, grpc_health_check: {}}"
    } else {
        ""
    };
    let endpoints: String = if ports.is_empty() {
        " []".to_owned()
    } else {
        let hosts: String = ports
            .iter()
            .map(|port| format!("\n        - endpoint:\n            address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}"))
            .collect();
        format!("\n      - lb_endpoints:{hosts}")
    };
    format!(
        r#"
  - name: sessiond
    type: STATIC
    connect_timeout: 0.25s{HTTP2_OPTIONS}{health}
    load_assignment:
      cluster_name: sessiond
      endpoints:{endpoints}
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

