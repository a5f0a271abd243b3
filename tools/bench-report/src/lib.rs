//! The report of `benches/envoy.rs` (`make bench`): the generated section of `BENCHMARKS.md` (setup,
//! results table, start-up table, goals table) and `docs/bench-throughput.svg`, from measurements
//! the bench hands over. Nothing here measures, runs a command or reads a clock: the same
//! [`Report`] always gives the same text, which the unit tests pin down.
//!
//! - [`Report::markdown`]: the section's text; [`replace_generated`] puts it between [`BEGIN`] and
//!   [`END`] in the old `BENCHMARKS.md`, keeping the prose around it.
//! - [`Report::svg`]: the throughput ratios as bars, one group per page size.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

mod markdown;
mod svg;

pub use markdown::{envoy_version, replace_generated, BEGIN, END};

/// The `User-Agent` of every benchmark request (wrk's and the session's start): the filter binds a
/// session to it, and the report names it in the wrk command line.
pub const USER_AGENT: &str = "cookieless-bench/1";

/// The pages the bench serves, (label, bytes): also the SVG's groups.
pub const PAGE_SIZES: [(&str, usize); 3] = [("4 KB", 4 * 1024), ("100 KB", 100 * 1024), ("1 MB", 1024 * 1024)];

/// What a scenario puts in front of the upstream. `Debug` spells the names `BENCH_ONLY` takes
/// (lowercased).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    NoFilter,
    NotCookieless,
    RouteDisabled,
    NoSession,
    Session,
    PostNoFilter,
    PostSession,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::NoFilter => "Envoy without the filter",
            Kind::NotCookieless => "filter, route not cookieless",
            Kind::RouteDisabled => "filter disabled on the route by Envoy",
            Kind::NoSession => "cookieless route, no session",
            Kind::Session => "cookieless route, session resumed",
            Kind::PostNoFilter => "POST form, Envoy without the filter",
            Kind::PostSession => "POST form, token in the body",
        }
    }

    /// The run this one is compared with.
    pub fn baseline(self) -> Kind {
        match self {
            Kind::PostNoFilter | Kind::PostSession => Kind::PostNoFilter,
            _ => Kind::NoFilter,
        }
    }
}

/// The build of the filter a scenario ran with: the two side by side in one run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Module {
    /// `cookieless.wasm` in Envoy's V8.
    Wasm,
    /// `libcookieless.so`, an Envoy dynamic module.
    Native,
}

impl Module {
    pub const ALL: [Module; 2] = [Module::Wasm, Module::Native];

    pub fn name(self) -> &'static str {
        match self {
            Module::Wasm => "Wasm",
            Module::Native => "native",
        }
    }
}

/// One wrk run, as read from its output.
#[derive(Clone, Debug, Default)]
pub struct WrkRun {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub non_2xx: u64,
    pub socket_errors: u64,
    pub bytes_per_s: f64,
    /// Envoy's CPU time (all threads, user + system) per request during the run.
    pub cpu_us_per_request: f64,
}

/// What the rounds of one scenario measured: a row of the results table.
#[derive(Clone, Debug)]
pub struct Measurement {
    pub kind: Kind,
    /// The filter's build; `None` for Envoy without the filter.
    pub module: Option<Module>,
    /// A label of [`PAGE_SIZES`].
    pub page: &'static str,
    /// Best round so far (highest req/s); `None` leaves the scenario out of the report.
    pub best: Option<WrkRun>,
    /// Highest Envoy RSS seen right after a round of this scenario.
    pub rss_kib: u64,
    /// Lowest Envoy CPU time per request over the rounds, in µs: what the request costs Envoy,
    /// whatever else the machine does.
    pub cpu_us: Option<f64>,
}

impl Measurement {
    pub fn new(kind: Kind, module: Option<Module>, page: &'static str) -> Measurement {
        Measurement { kind, module, page, best: None, rss_kib: 0, cpu_us: None }
    }
}

/// Envoy start-up, spawn to `/ready`: the median of several starts, without the filter and with
/// each build.
#[derive(Clone, Copy, Debug)]
pub struct StartupTime {
    pub concurrency: u32,
    pub without_ms: f64,
    pub wasm_ms: f64,
    pub native_ms: f64,
}

/// Envoy RSS when idle after start, KiB.
#[derive(Clone, Copy, Debug)]
pub struct IdleRss {
    pub without: u64,
    pub wasm: u64,
    pub native: u64,
}

/// Everything one `make bench` run reports.
#[derive(Clone, Debug)]
pub struct Report {
    /// When, as `date -u '+%Y-%m-%d %H:%M UTC'` prints it.
    pub measured_at: String,
    pub cpus: usize,
    pub cpu_model: String,
    /// Load average (1, 5, 15 min) before and after.
    pub load: (String, String),
    /// Envoy's version number ([`envoy_version`]).
    pub envoy_version: String,
    pub wasm_bytes: u64,
    /// The size of `libcookieless.so`.
    pub native_bytes: u64,
    /// wrk's `-d` of each run, and how many interleaved rounds.
    pub seconds: u32,
    pub rounds: u32,
    /// The CPUs Envoy was pinned to (`taskset`), wrk and the upstream on CPU 0; `None`: not pinned.
    pub envoy_cpus: Option<String>,
    /// In the order measured (each baseline before its filtered variants).
    pub measurements: Vec<Measurement>,
    pub idle_rss: IdleRss,
    /// Empty when start-up was not measured (`BENCH_STARTUP=0`).
    pub startup: Vec<StartupTime>,
    /// The native rewriter on the bench's 100 KB page, GB/s: (by wall clock, by CPU time).
    pub native_gbps: (f64, f64),
}

impl Report {
    fn find(&self, kind: Kind, module: Option<Module>, page: &str) -> Option<&Measurement> {
        self.measurements.iter().find(|m| m.kind == kind && m.module == module && m.page == page)
    }

    /// Throughput of `m` over that of its baseline (Envoy without the filter) on the same page.
    fn ratio(&self, m: &Measurement) -> Option<f64> {
        let base = self.find(m.kind.baseline(), None, m.page)?.best.as_ref()?;
        Some(m.best.as_ref()?.rps / base.rps)
    }

    /// The baseline's CPU time per request over that of `m`.
    fn cpu_ratio(&self, m: &Measurement) -> Option<f64> {
        let base = self.find(m.kind.baseline(), None, m.page)?;
        Some(base.cpu_us? / m.cpu_us?)
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    use super::*;

    fn run(rps: f64, p50_ms: f64, p99_ms: f64, mbps: f64) -> Option<WrkRun> {
        Some(WrkRun { rps, p50_ms, p99_ms, bytes_per_s: mbps * 1e6, ..WrkRun::default() })
    }

    /// A small run: every kind, one baseline without a result, one scenario without CPU times.
    pub fn report() -> Report {
        let w = Some(Module::Wasm);
        let n = Some(Module::Native);
        let m = |kind, module, page, best, rss_kib, cpu_us| Measurement { kind, module, page, best, rss_kib, cpu_us };
        Report {
            measured_at: "2026-01-02 03:04 UTC".into(),
            cpus: 2,
            cpu_model: "Test CPU @ 2.0GHz".into(),
            load: ("0.10 0.20 0.30".into(), "1.00 2.00 3.00".into()),
            envoy_version: "1.40.0".into(),
            wasm_bytes: 620065,
            native_bytes: 1015184,
            seconds: 1,
            rounds: 2,
            envoy_cpus: Some("1".into()),
            measurements: vec![
                m(Kind::NoFilter, None, "4 KB", run(10000.0, 0.4, 0.8, 40.0), 75_000, Some(50.0)),
                m(Kind::NotCookieless, w, "4 KB", run(9800.0, 0.41, 0.9, 39.0), 128_000, Some(52.0)),
                m(Kind::NotCookieless, n, "4 KB", run(9950.0, 0.40, 0.8, 39.8), 80_000, Some(50.5)),
                m(Kind::RouteDisabled, w, "4 KB", run(9900.0, 0.405, 0.85, 39.5), 128_000, Some(51.0)),
                m(Kind::NoSession, w, "4 KB", run(7000.0, 0.6, 1.2, 28.0), 128_000, None),
                m(Kind::Session, w, "4 KB", run(7500.0, 1.0, 1.8, 30.0), 128_000, Some(140.0)),
                m(Kind::Session, n, "4 KB", run(9000.0, 0.5, 0.9, 36.0), 82_000, Some(62.5)),
                m(Kind::NoFilter, None, "100 KB", run(5000.0, 0.7, 1.5, 500.0), 75_000, Some(90.0)),
                m(Kind::NotCookieless, w, "100 KB", run(4000.0, 1.1, 1.4, 400.0), 128_000, Some(130.0)),
                m(Kind::Session, w, "100 KB", run(2500.0, 3.2, 4.9, 260.0), 128_000, Some(390.0)),
                m(Kind::Session, n, "100 KB", run(3000.0, 2.0, 3.0, 300.0), 84_000, Some(150.0)),
                m(Kind::NoFilter, None, "1 MB", None, 75_000, None),
                m(Kind::Session, w, "1 MB", run(500.0, 14.5, 27.4, 529.0), 130_000, Some(2000.0)),
                m(Kind::PostNoFilter, None, "4 KB", run(18000.0, 0.39, 0.79, 79.3), 75_000, Some(54.0)),
                m(Kind::PostSession, w, "4 KB", run(5400.0, 1.14, 3.01, 25.6), 130_000, Some(185.0)),
            ],
            idle_rss: IdleRss { without: 65_000, wasm: 108_000, native: 70_000 },
            startup: vec![
                StartupTime { concurrency: 1, without_ms: 120.4, wasm_ms: 180.6, native_ms: 150.2 },
                StartupTime { concurrency: 2, without_ms: 130.0, wasm_ms: 460.2, native_ms: 190.0 },
            ],
            native_gbps: (1.234, 1.5678),
        }
    }
}
