//! Throughput, latency and memory of Envoy with and without the filter, side by side in one run, on
//! one machine, against one fast upstream; the filter in both builds (Wasm in V8, native as a
//! dynamic module), each in an Envoy of its own. Run: `make bench` (needs `wrk`: `apt-get install
//! -y wrk`).
//!
//! Scenarios (each against the same in-process upstream, below, which answers from memory; each
//! filtered one once per build):
//! - Envoy without the filter (the baseline of every ratio);
//! - the filter in the chain, on a route that is not cookieless (`/admin`, excluded by default);
//! - the filter in the chain but disabled for the route by Envoy (`typed_per_filter_config`
//!   `disabled: true`, the harness's `/nofilter/` route): what an exclusion costs when it is made
//!   in Envoy's route table instead of the filter's `routes.exclude`;
//! - a cookieless route without a session;
//! - a cookieless route resuming a session (token in the query; the page is rewritten), with pages of
//!   4 KB, 100 KB and 1 MB;
//! - a POST form carrying the token in its body (the filter holds the body to take it out).
//!
//! Load is `wrk --latency -t1 -c8` for `BENCH_SECONDS` (5) after a 1 s warm-up, Envoy runs with
//! `--concurrency 1`. Scenarios are interleaved (baseline, then its filtered variants) and the
//! whole series repeated `BENCH_ROUNDS` (3) times; each row reports its best round, which on a
//! shared machine is the one least disturbed by other work. Every filtered run is checked: no
//! non-2xx answer, no socket error, and (with a session) one resumed session per request.
//!
//! Also measured: Envoy start-up time (spawn to `/ready` answering 200, polled every 5 ms) without
//! the filter and with each build, the native rewriter on the same 100 KB page, and the size of the
//! `.wasm`.
//! Results go into `BENCHMARKS.md` (between the generated-section markers; prose around them is
//! kept) and `docs/bench-throughput.svg`; with `BENCH_WRITE=0` only to stdout. This file measures;
//! `tools/bench-report` (crate `cookieless-bench-report`) writes the report from the measurements.
//! The filter is the `.wasm` and the `.so` the harness finds (`$CARGO_TARGET_DIR`, else `target/`),
//! so a build variant can be measured by pointing `CARGO_TARGET_DIR` at its target directory.
//! `BENCH_ONLY=session,nofilter` runs only the named scenarios (and their baselines);
//! `BENCH_STARTUP=0` skips start-up times.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cookieless_testkit as kit;
#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/page.rs"]
mod page;

use kit::{filter_config, Client, Envoy, EnvoyOptions, Proc};
use cookieless_bench_report::{
    envoy_version, replace_generated, IdleRss, Kind, Measurement, Module, Report, StartupTime, WrkRun, PAGE_SIZES, USER_AGENT,
};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FORM_FIELDS: &str = "name=Ada+Lovelace&email=ada%40example.org&comment=Hello%2C+world&csrfmiddlewaretoken=Zk9vYmFy";

fn main() {
    let seconds: u32 = env_or("BENCH_SECONDS", 5);
    let rounds: u32 = env_or("BENCH_ROUNDS", 3);
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("benches/envoy.rs needs wrk on the PATH (Debian: apt-get install -y wrk)");
        std::process::exit(2);
    }
    let load_before = loadavg();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let upstream = fast::Upstream::start();

    eprintln!("start-up times ...");
    let startup = if std::env::var("BENCH_STARTUP").as_deref() == Ok("0") { Vec::new() } else { measure_startup(upstream.port) };

    eprintln!("native rewriter ...");
    let native_gbps = native_rewrite_gbps(100 * 1024);
    let envoy_cpus = keep_load_apart(cpus);

    let opts = EnvoyOptions { concurrency: 1, trust_xff: false, cpus: envoy_cpus.clone(), ..EnvoyOptions::default() };
    let envoys = Envoys::start(upstream.port, &opts);
    let idle_rss =
        IdleRss { without: envoys.plain.rss_kib(), wasm: envoys.get(Some(Module::Wasm)).rss_kib(), native: envoys.get(Some(Module::Native)).rss_kib() };

    let only = std::env::var("BENCH_ONLY").unwrap_or_default().to_ascii_lowercase();
    let wanted = |k: Kind| only.is_empty() || only.split(',').any(|o| o.trim() == format!("{k:?}").to_ascii_lowercase());
    let needs_token = [Kind::Session, Kind::PostSession].into_iter().any(wanted);
    let token = |m: Module| if needs_token { start_session(envoys.get(Some(m))) } else { String::new() };
    let tokens: Vec<(Module, String)> = Module::ALL.iter().map(|m| (*m, token(*m))).collect();

    let mut scenarios = scenarios(&tokens, &wanted);
    for s in &scenarios {
        s.check(envoys.get(s.measured.module));
    }
    measure(&mut scenarios, &envoys, seconds, rounds);
    envoys.filtered.iter().for_each(|(_, envoy)| envoy.assert_no_panic());
    let load_after = loadavg();

    let report = Report {
        measured_at: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        cpus,
        cpu_model: cpu_model(),
        load: (load_before, load_after),
        envoy_version: envoy_version(&command_output(kit::envoy_bin().to_str().unwrap_or("envoy"), &["--version"])),
        wasm_bytes: std::fs::metadata(kit::wasm_path()).map(|m| m.len()).unwrap_or(0),
        native_bytes: std::fs::metadata(kit::native_path()).map(|m| m.len()).unwrap_or(0),
        seconds,
        rounds,
        envoy_cpus,
        measurements: scenarios.into_iter().map(|s| s.measured).collect(),
        idle_rss,
        startup,
        native_gbps,
    };
    write_report(&report);
}

/// What is measured: each page size without the filter and, with each build, on a route that is
/// not cookieless and with a session; the route-disabled and no-session cases at 4 KB; a form
/// post. `BENCH_ONLY=session,routedisabled` keeps only those (and their baselines, for the ratios).
/// `tokens`: each build's session (each Envoy has its own store).
fn scenarios(tokens: &[(Module, String)], wanted: &dyn Fn(Kind) -> bool) -> Vec<Scenario> {
    let mut scenarios = Vec::new();
    for (label, size) in PAGE_SIZES {
        let page = format!("/page?big={size}");
        scenarios.push(Scenario::new(Kind::NoFilter, None, label, size, page.clone(), None));
        for (module, token) in tokens {
            let with = |kind, path| Scenario::new(kind, Some(*module), label, size, path, None);
            scenarios.push(with(Kind::NotCookieless, format!("/admin{page}")));
            if size == 4 * 1024 {
                scenarios.push(with(Kind::RouteDisabled, format!("/nofilter{page}")));
                scenarios.push(with(Kind::NoSession, page.clone()));
            }
            scenarios.push(with(Kind::Session, format!("{page}&sessionid={token}")));
        }
    }
    let form = "/form?big=4096".to_string();
    scenarios.push(Scenario::new(Kind::PostNoFilter, None, "4 KB", 4096, form.clone(), Some(FORM_FIELDS.to_string())));
    for (module, token) in tokens {
        let body = Some(format!("{FORM_FIELDS}&sessionid={token}"));
        scenarios.push(Scenario::new(Kind::PostSession, Some(*module), "4 KB", 4096, form.clone(), body));
    }
    let kinds: Vec<Kind> = scenarios.iter().map(|s| s.measured.kind).filter(|k| wanted(*k)).collect();
    scenarios.retain(|s| kinds.iter().any(|k| *k == s.measured.kind || k.baseline() == s.measured.kind));
    scenarios
}

/// Runs every scenario once per round, rounds interleaved so that a slow minute of the machine
/// spreads over all of them.
fn measure(scenarios: &mut [Scenario], envoys: &Envoys, seconds: u32, rounds: u32) {
    for round in 1..=rounds {
        for s in scenarios.iter_mut() {
            let envoy = envoys.get(s.measured.module);
            eprint!("round {round}/{rounds}: {:<40} ", s.title());
            let run = s.run(envoy, seconds);
            eprintln!("{:>9.0} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms  Envoy CPU {:>6.1} µs/req", run.rps, run.p50_ms, run.p99_ms, run.cpu_us_per_request);
        }
    }
}

/// Prints the report; unless `BENCH_WRITE=0`, also writes it into BENCHMARKS.md and the chart.
fn write_report(report: &Report) {
    let markdown = report.markdown();
    println!("{markdown}");
    if std::env::var("BENCH_WRITE").as_deref() != Ok("0") {
        let md_path = kit::root().join("BENCHMARKS.md");
        let old = std::fs::read_to_string(&md_path).unwrap_or_default();
        std::fs::write(&md_path, replace_generated(&old, &markdown)).unwrap();
        let svg_path = kit::root().join("docs/bench-throughput.svg");
        std::fs::create_dir_all(svg_path.parent().unwrap()).unwrap();
        std::fs::write(&svg_path, report.svg()).unwrap();
        eprintln!("wrote {} and {}", md_path.display(), svg_path.display());
    }
}

/// With two CPUs or more, this process (the upstream's threads, and wrk, which inherits it) stays
/// on CPU 0 and Envoy gets the others: on a shared CPU, how often the scheduler switches between
/// them changed Envoy's cost per request by up to 2x from round to round. Returns Envoy's CPUs.
/// Start-up is measured before, with every CPU free (V8 compiles on several threads).
fn keep_load_apart(cpus: usize) -> Option<String> {
    if cpus < 2 {
        return None;
    }
    let pinned = Command::new("taskset")
        .args(["-a", "-cp", "0", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    pinned.then(|| if cpus == 2 { "1".to_string() } else { format!("1-{}", cpus - 1) })
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Starts a session as wrk will look to the filter: same client address (loopback, no
/// X-Forwarded-For trusted) and same User-Agent. Returns its token.
fn start_session(envoy: &Envoy) -> String {
    let client = bench_client();
    let reply = client.get(&envoy.url("/page?cookie=app%3Dv1%3B%20Path%3D%2F"));
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.header("x-cookieless-token").expect("the filter hands out a token").to_string()
}

fn bench_client() -> Client {
    let mut client = Client::new();
    client.user_agent = USER_AGENT.to_string();
    client
}

fn post_lua(body: &str) -> String {
    format!(
        "wrk.method = \"POST\"\nwrk.body = \"{body}\"\nwrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n"
    )
}

/// The Envoys measured: one without the filter, one with each build.
struct Envoys {
    plain: Envoy,
    filtered: Vec<(Module, Envoy)>,
}

impl Envoys {
    fn start(upstream_port: u16, opts: &EnvoyOptions) -> Envoys {
        let plain = Envoy::start_with(filter_config(json!({})), upstream_port, EnvoyOptions { filter_enabled: false, ..opts.clone() });
        let with = |m: &Module| (*m, Envoy::start_with(filter_config(json!({})), upstream_port, EnvoyOptions { build: build_of(*m), ..opts.clone() }));
        Envoys { plain, filtered: Module::ALL.iter().map(with).collect() }
    }

    /// The Envoy a scenario runs against: the plain one, or the one with its build.
    fn get(&self, module: Option<Module>) -> &Envoy {
        let with = |m| self.filtered.iter().find(|(f, _)| Some(*f) == m).map(|(_, envoy)| envoy);
        with(module).unwrap_or(&self.plain)
    }
}

fn build_of(module: Module) -> kit::Build {
    match module {
        Module::Wasm => kit::Build::Wasm,
        Module::Native => kit::Build::Native,
    }
}

struct Scenario {
    /// What the report gets: kind, build, page, best round, highest RSS, lowest CPU time per
    /// request.
    measured: Measurement,
    size: usize,
    path: String,
    /// A POST form body, sent by wrk through a Lua script.
    body: Option<String>,
    script: Option<TempFile>,
}

impl Scenario {
    fn new(kind: Kind, module: Option<Module>, page: &'static str, size: usize, path: String, body: Option<String>) -> Scenario {
        let name = format!("{kind:?}-{}", module.map_or("none", Module::name));
        let script = body.as_ref().map(|b| TempFile::new(&format!("{name}.lua"), &post_lua(b)));
        Scenario { measured: Measurement::new(kind, module, page), size, path, body, script }
    }

    fn title(&self) -> String {
        let build = self.measured.module.map_or(String::new(), |m| format!(", {}", m.name()));
        format!("{} ({}{build})", self.measured.kind.describe(), self.measured.page)
    }

    /// One request by hand before any load: the scenario does what it says.
    fn check(&self, envoy: &Envoy) {
        let client = bench_client();
        let url = envoy.url(&self.path);
        let reply = if let Some(body) = &self.body {
            client.post_form(&url, body, &[])
        } else {
            client.get(&url)
        };
        assert_eq!(reply.status, 200, "{}: {reply:?}", self.title());
        let token = reply.header("x-cookieless-token");
        match self.measured.kind {
            Kind::Session | Kind::PostSession => {
                assert!(token.is_some(), "{}: the session did not resume", self.title());
                assert!(reply.body.contains("sessionid="), "{}: the page was not rewritten", self.title());
            }
            _ => assert!(token.is_none(), "{}: unexpected token", self.title()),
        }
        assert!(reply.body.len() >= self.size, "{}: short page ({} bytes)", self.title(), reply.body.len());
    }

    fn run(&mut self, envoy: &Envoy, seconds: u32) -> WrkRun {
        let url = envoy.url(&self.path);
        let script = self.script.as_ref().map(TempFile::path);
        wrk(&url, script, 1);
        let resumed_before = envoy.counter("cookieless_sessions_resumed");
        let pid = envoy.pid();
        let cpu_before = cpu_ticks(pid);
        let mut run = wrk(&url, script, seconds);
        let cpu_after = cpu_ticks(pid);
        let resumed = envoy.counter("cookieless_sessions_resumed") - resumed_before;
        if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
            // wrk's count misses the requests cut off at the end: a few in 10^4.
            run.cpu_us_per_request = (b - a) as f64 * 1e6 / TICKS_PER_SECOND / run.requests.max(1) as f64;
        }
        assert_eq!(run.non_2xx, 0, "{}: {} answers were not 2xx/3xx", self.title(), run.non_2xx);
        assert_eq!(run.socket_errors, 0, "{}: socket errors", self.title());
        if matches!(self.measured.kind, Kind::Session | Kind::PostSession) {
            // wrk counts only completed responses; requests cut off at the end still resumed.
            assert!(resumed >= run.requests, "{}: {resumed} resumed for {} requests", self.title(), run.requests);
        } else {
            assert_eq!(resumed, 0, "{}: sessions resumed", self.title());
        }
        let m = &mut self.measured;
        m.cpu_us = match m.cpu_us {
            Some(c) if c <= run.cpu_us_per_request => Some(c),
            _ if run.cpu_us_per_request > 0.0 => Some(run.cpu_us_per_request),
            keep => keep,
        };
        m.rss_kib = m.rss_kib.max(envoy.rss_kib());
        if m.best.as_ref().is_none_or(|b| run.rps > b.rps) {
            m.best = Some(run.clone());
        }
        run
    }
}

/// Linux's USER_HZ, the unit of utime and stime in /proc/PID/stat.
const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn wrk(url: &str, script: Option<&Path>, seconds: u32) -> WrkRun {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t1", "-c8", &format!("-d{seconds}s"), "--latency", "-H", &format!("User-Agent: {USER_AGENT}")]);
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    let out = cmd.arg(url).stderr(Stdio::inherit()).output().expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk failed:\n{text}");
    parse_wrk(&text)
}

fn parse_wrk(text: &str) -> WrkRun {
    let mut run = WrkRun::default();
    for line in text.lines().map(str::trim) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["50%", v] => run.p50_ms = duration_ms(v),
            ["99%", v] => run.p99_ms = duration_ms(v),
            ["Requests/sec:", v] => run.rps = v.parse().unwrap_or(0.0),
            ["Transfer/sec:", v] => run.bytes_per_s = size_bytes(v),
            ["Non-2xx", "or", "3xx", "responses:", n] => run.non_2xx = n.parse().unwrap_or(0),
            [n, "requests", "in", ..] => run.requests = n.parse().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                run.socket_errors = rest.iter().filter_map(|f| f.trim_end_matches(',').parse::<u64>().ok()).sum();
            }
            _ => {}
        }
    }
    assert!(run.rps > 0.0, "cannot read wrk's output:\n{text}");
    run
}

fn duration_ms(v: &str) -> f64 {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

fn size_bytes(v: &str) -> f64 {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().unwrap_or(f64::NAN);
    n * match unit {
        "B" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        _ => f64::NAN,
    }
}

/// Envoy start-up, spawn to `/ready`, at concurrency 1 and 2, without the filter and with each
/// build: the median of 5 starts each.
fn measure_startup(upstream_port: u16) -> Vec<StartupTime> {
    let runs = 5;
    let mut rows = Vec::new();
    for concurrency in [1, 2] {
        let median = |module: Option<Module>| {
            let build = module.map_or_else(kit::build, build_of);
            let opts = EnvoyOptions { concurrency, trust_xff: false, filter_enabled: module.is_some(), build, ..EnvoyOptions::default() };
            let mut times: Vec<f64> = (0..runs).map(|_| start_once(upstream_port, &opts)).collect();
            times.sort_by(f64::total_cmp);
            times[times.len() / 2]
        };
        let without_ms = median(None);
        let wasm_ms = median(Some(Module::Wasm));
        let native_ms = median(Some(Module::Native));
        rows.push(StartupTime { concurrency, without_ms, wasm_ms, native_ms });
    }
    rows
}

/// Milliseconds from spawning Envoy to its admin `/ready` answering 200.
fn start_once(upstream_port: u16, opts: &EnvoyOptions) -> f64 {
    let dir = kit::TempDir::new("bench-startup");
    let (port, admin_port) = (kit::free_port(), kit::free_port());
    let bootstrap = kit::bootstrap(&filter_config(json!({})).to_string(), port, admin_port, upstream_port, opts);
    let config = dir.path().join("envoy.yaml");
    std::fs::write(&config, bootstrap).unwrap();
    let started = Instant::now();
    let mut envoy = Proc::spawn(
        "envoy",
        kit::envoy_command(opts)
            .arg("-c")
            .arg(&config)
            .args(["--concurrency", &opts.concurrency.to_string()])
            .args(["--disable-hot-restart", "--log-level", "warn", "--base-id", &admin_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    loop {
        if ready(admin_port) {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            envoy.stop();
            return ms;
        }
        assert!(envoy.is_running(), "Envoy exited at start-up");
        assert!(started.elapsed() < Duration::from_secs(30), "Envoy not ready in 30 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `GET /ready` on the admin port with a bare socket: a connection refused costs microseconds.
fn ready(admin_port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", admin_port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /ready HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && &head[9..12] == b"200"
}

/// GB/s (10^9 bytes per second) of the native rewriter on the bench's page, in one piece: by wall
/// clock, and by this thread's CPU time (which a busy machine does not inflate). Best of 5.
fn native_rewrite_gbps(size: usize) -> (f64, f64) {
    use cookieless::rewrite::Rewriter;
    let input = page::page(size);
    let options = || page::options("127.0.0.1");
    let mut out = Vec::with_capacity(input.len() * 2);
    let (mut wall, mut cpu) = (0.0f64, 0.0f64);
    for _ in 0..5 {
        let rounds = (200 * 1024 * 1024 / input.len()).max(1);
        let (start, cpu_start) = (Instant::now(), cpu::thread_cpu_ns());
        for _ in 0..rounds {
            out.clear();
            let mut r = Rewriter::new(options());
            r.write(std::hint::black_box(&input), &mut out);
            r.end(&mut out);
            std::hint::black_box(&out);
        }
        let bytes = (input.len() * rounds) as f64;
        wall = wall.max(bytes / start.elapsed().as_secs_f64() / 1e9);
        if let (Some(a), Some(b)) = (cpu_start, cpu::thread_cpu_ns()) {
            if b > a {
                cpu = cpu.max(bytes / (b - a) as f64);
            }
        }
    }
    (wall, cpu)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|v| v.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("cookieless-bench-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A fast upstream: plain threads, one per connection, keep-alive, Nagle off, every page built once
/// and served from memory. The harness's axum upstream is scriptable but costs more CPU per
/// request, and here every CPU cycle it spends is taken from Envoy.
///
/// Answers `/…echo…` with the request it received; anything else with an HTML page of `big=N`
/// bytes (default: "ok"), one `Set-Cookie` per `cookie=` (percent-decoded).
mod fast {
    use crate::page::page;
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    pub struct Upstream {
        pub port: u16,
        stop: Arc<AtomicBool>,
    }

    type Pages = Arc<Mutex<HashMap<usize, Arc<Vec<u8>>>>>;

    impl Upstream {
        pub fn start() -> Upstream {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let stop = Arc::new(AtomicBool::new(false));
            let pages: Pages = Arc::default();
            let stopping = Arc::clone(&stop);
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stopping.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let pages = Arc::clone(&pages);
                    std::thread::spawn(move || {
                        let _ = serve(conn, &pages);
                    });
                }
            });
            Upstream { port, stop }
        }
    }

    impl Drop for Upstream {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            let _ = TcpStream::connect(("127.0.0.1", self.port));
        }
    }

    fn serve(conn: TcpStream, pages: &Pages) -> std::io::Result<()> {
        conn.set_nodelay(true)?;
        let mut reader = BufReader::with_capacity(64 * 1024, conn.try_clone()?);
        let mut writer = conn;
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                return Ok(());
            }
            let request_line = String::from_utf8_lossy(&line).trim_end().to_string();
            let mut parts = request_line.split(' ');
            let method = parts.next().unwrap_or("").to_string();
            let target = parts.next().unwrap_or("/").to_string();
            let (mut content_length, mut chunked, mut close) = (0usize, false, false);
            let mut headers = String::new();
            loop {
                line.clear();
                if reader.read_until(b'\n', &mut line)? == 0 {
                    return Ok(());
                }
                if line == b"\r\n" || line == b"\n" {
                    break;
                }
                let header = String::from_utf8_lossy(&line).to_string();
                let lower = header.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    content_length = v.trim().parse().unwrap_or(0);
                } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                    chunked = true;
                } else if lower.starts_with("connection:") && lower.contains("close") {
                    close = true;
                }
                headers.push_str(&header);
            }
            let body = if chunked {
                read_chunked(&mut reader)?
            } else {
                let mut body = vec![0; content_length];
                reader.read_exact(&mut body)?;
                body
            };
            let response = respond(&method, &target, &headers, &body, pages);
            writer.write_all(&response.0)?;
            if !response.1.is_empty() {
                writer.write_all(&response.1)?;
            }
            if close {
                return Ok(());
            }
        }
    }

    fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if size == 0 {
                // Trailers, up to the blank line.
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            line.clear();
            reader.read_line(&mut line)?;
        }
    }

    /// (status line and headers, body) — the body separate so a cached page is never copied.
    fn respond(method: &str, target: &str, headers: &str, body: &[u8], pages: &Pages) -> (Vec<u8>, Arc<Vec<u8>>) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut cookies = Vec::new();
        let mut big = None;
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("cookie", v)) => cookies.push(percent_decode(v)),
                Some(("big", v)) => big = v.parse::<usize>().ok(),
                _ => {}
            }
        }
        let (content_type, page) = if path.contains("echo") {
            let text = format!("{method} {target}\n{headers}\n{}", String::from_utf8_lossy(body));
            ("text/plain", Arc::new(text.into_bytes()))
        } else {
            let page = match big {
                Some(size) => {
                    let mut cache = pages.lock().unwrap();
                    Arc::clone(cache.entry(size).or_insert_with(|| Arc::new(page(size))))
                }
                None => Arc::new(b"ok".to_vec()),
            };
            ("text/html; charset=utf-8", page)
        };
        let mut head = format!("HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n", page.len());
        for cookie in cookies {
            head.push_str(&format!("set-cookie: {cookie}\r\n"));
        }
        head.push_str("\r\n");
        let mut head = head.into_bytes();
        if page.len() <= 16 * 1024 {
            head.extend_from_slice(&page);
            return (head, Arc::new(Vec::new()));
        }
        (head, page)
    }

    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h * 16 + l);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                },
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }

}
