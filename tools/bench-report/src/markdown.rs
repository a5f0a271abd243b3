//! `BENCHMARKS.md`'s generated section.

use crate::{Kind, Module, Report, USER_AGENT};
use std::fmt::Write as _;

/// The line before the generated section; with [`END`], what [`replace_generated`] looks for.
pub const BEGIN: &str = "<!-- BEGIN GENERATED: `make bench` (benches/envoy.rs) rewrites everything up to END -->";
/// The line after the generated section.
pub const END: &str = "<!-- END GENERATED -->";

/// The version number in `envoy --version`'s output (`envoy  version: HASH/1.40.0/Clean/…`), or
/// `?`.
pub fn envoy_version(version_output: &str) -> String {
    version_output
        .split("version:")
        .nth(1)
        .and_then(|v| v.trim().split('/').nth(1))
        .unwrap_or("?")
        .to_string()
}

/// `old` (the current `BENCHMARKS.md`, empty when missing) with its generated section replaced
/// by `generated`, everything around it kept. Without a section, one is appended (to a new
/// `# Benchmarks` page when `old` is empty).
pub fn replace_generated(old: &str, generated: &str) -> String {
    let section = format!("{BEGIN}\n{generated}{END}");
    match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if e > b => {
            let (before, after) = (old.get(..b).unwrap_or(""), old.get(e + END.len()..).unwrap_or(""));
            format!("{before}{section}{after}")
        }
        _ if old.is_empty() => format!("# Benchmarks\n\n{section}\n"),
        _ => format!("{old}\n{section}\n"),
    }
}

impl Report {
    /// The generated section: setup, results, start-up and goals.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "## Results\n");
        let _ = writeln!(
            md,
            "Measured {} on {} × {}, load average {} before and {} after (1, 5, 15 min). \
             Envoy {}, `cookieless.wasm` {} bytes, `libcookieless.so` {} bytes.\n",
            self.measured_at,
            self.cpus,
            self.cpu_model,
            self.load.0,
            self.load.1,
            self.envoy_version,
            self.wasm_bytes,
            self.native_bytes,
        );
        let _ = writeln!(
            md,
            "Command: `make bench` (`ENVOY_BIN=.venv/bin/envoy cargo bench --bench envoy`). Load: \
             `wrk -t1 -c8 -d{}s --latency -H 'User-Agent: {USER_AGENT}'` (POSTs with `-s` and a Lua \
             script setting method and body) after a 1 s warm-up; Envoy `--concurrency 1`; {}. \
             Best of {} interleaved rounds. Both builds of the filter (Wasm in V8, native as a \
             dynamic module) run in the same rounds, each in an Envoy of its own. Ratios are to \
             Envoy without the filter on the same page (the POST to the same POST without the filter).\n",
            self.seconds,
            match &self.envoy_cpus {
                Some(cpus) => format!("Envoy on CPU {cpus} (`taskset`), wrk and the upstream on CPU 0"),
                None => "wrk, Envoy and the upstream share the machine".to_string(),
            },
            self.rounds,
        );
        self.results(&mut md);
        let mib = |kib: u64| kib as f64 / 1024.0;
        let rss = self.idle_rss;
        let _ = writeln!(
            md,
            "\nEnvoy RSS when idle after start: {:.1} MiB without the filter, {:.1} MiB with the Wasm build, \
             {:.1} MiB with the native build.\n",
            mib(rss.without),
            mib(rss.wasm),
            mib(rss.native)
        );
        let _ = writeln!(md, "Start-up, spawn to `/ready` (median of 5):\n");
        let _ = writeln!(md, "| `--concurrency` | without the filter | Wasm build | native build |");
        let _ = writeln!(md, "|---:|---:|---:|---:|");
        for t in &self.startup {
            let _ = writeln!(md, "| {} | {:.0} ms | {:.0} ms | {:.0} ms |", t.concurrency, t.without_ms, t.wasm_ms, t.native_ms);
        }
        self.goals(&mut md);
        let _ = writeln!(md, "\n![Throughput with the filter, as a fraction of Envoy without it](docs/bench-throughput.svg)");
        md
    }

    /// The results table, one row a scenario with a best round, and its note.
    fn results(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "| scenario | build | page | req/s | × no filter | p50 ms | p99 ms | MB/s | Envoy CPU µs/req | × no filter (CPU) | Envoy RSS MiB |"
        );
        let _ = writeln!(md, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for m in &self.measurements {
            let Some(run) = &m.best else { continue };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.0} | {} | {:.3} | {:.3} | {:.1} | {} | {} | {:.1} |",
                m.kind.describe(),
                m.module.map_or("-", Module::name),
                m.page,
                run.rps,
                self.ratio(m).map_or("-".into(), |r| format!("{r:.2}")),
                run.p50_ms,
                run.p99_ms,
                run.bytes_per_s / 1e6,
                m.cpu_us.map_or("-".into(), |c| format!("{c:.0}")),
                self.cpu_ratio(m).map_or("-".into(), |r| format!("{r:.2}")),
                m.rss_kib as f64 / 1024.0,
            );
        }
        let _ = writeln!(
            md,
            "\n\"× no filter (CPU)\" is Envoy's CPU time per request without the filter divided by that with \
             it: the throughput ratio an Envoy with a CPU of its own would show. It depends much less on \
             what else the machine runs than req/s does."
        );
    }

    /// The goals table: each goal, its target, what was measured, whether it is met.
    fn goals(&self, md: &mut String) {
        let _ = writeln!(md, "\n### Goals\n");
        let _ = writeln!(md, "| goal | target | measured | met |");
        let _ = writeln!(md, "|---|---|---|---|");
        let mut goal = |name: &str, target: &str, measured: String, met: bool| {
            let _ = writeln!(md, "| {name} | {target} | {measured} | {} |", if met { "yes" } else { "**no**" });
        };
        let ratio_goals: [(Module, Kind, &str, &str, f64); 6] = [
            (Module::Wasm, Kind::NotCookieless, "4 KB", "route not cookieless, 4 KB", 0.97),
            (Module::Wasm, Kind::RouteDisabled, "4 KB", "… excluded in Envoy's route table instead (per-route `disabled: true`)", 0.97),
            (Module::Wasm, Kind::Session, "4 KB", "cookieless 4 KB page with session", 0.80),
            (Module::Native, Kind::NotCookieless, "4 KB", "route not cookieless, 4 KB", 0.97),
            (Module::Native, Kind::Session, "4 KB", "cookieless 4 KB page with session", 0.85),
            (Module::Native, Kind::Session, "100 KB", "cookieless 100 KB page with session", 0.70),
        ];
        for (module, kind, page, name, target) in ratio_goals {
            if let Some((r, text)) = self.goal_ratio(kind, module, page) {
                goal(&format!("{}: {name}", module.name()), &format!("≥ {target:.2} × no filter"), text, r >= target);
            }
        }
        let (wall, cpu) = self.native_gbps;
        goal(
            "rewriter, native, 100 KB page (this bench's page, one piece)",
            "≥ 1 GB/s",
            format!("{cpu:.2} GB/s of CPU time ({wall:.2} GB/s wall clock)"),
            cpu.max(wall) >= 1.0,
        );
        goal(
            "`cookieless.wasm` size",
            "< 1 MiB (1,048,576 bytes)",
            format!("{} bytes", self.wasm_bytes),
            self.wasm_bytes < 1 << 20,
        );
        for t in &self.startup {
            let limit = 2.0 * t.without_ms + 300.0;
            goal(
                &format!("Wasm: start-up, concurrency {}", t.concurrency),
                &format!("< 2 × without + 0.3 s = {limit:.0} ms"),
                format!("{:.0} ms", t.wasm_ms),
                t.wasm_ms < limit,
            );
            let limit = t.without_ms + 50.0;
            goal(
                &format!("native: start-up, concurrency {}", t.concurrency),
                &format!("≤ without + 50 ms = {limit:.0} ms"),
                format!("{:.0} ms", t.native_ms),
                t.native_ms <= limit,
            );
        }
    }

    /// A goal on a ratio is met by throughput or by Envoy's CPU time per request, whichever is
    /// higher: (that ratio, the text showing both).
    fn goal_ratio(&self, kind: Kind, module: Module, page: &str) -> Option<(f64, String)> {
        let m = self.find(kind, Some(module), page)?;
        let r = self.ratio(m)?;
        let c = self.cpu_ratio(m);
        let text = match c {
            Some(c) => format!("{r:.2} (by CPU time {c:.2})"),
            None => format!("{r:.2}"),
        };
        Some((r.max(c.unwrap_or(0.0)), text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn header_names_the_machine_and_the_load() {
        let md = fixture::report().markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "## Results");
        assert_eq!(
            lines[2],
            "Measured 2026-01-02 03:04 UTC on 2 × Test CPU @ 2.0GHz, load average 0.10 0.20 0.30 before and \
             1.00 2.00 3.00 after (1, 5, 15 min). Envoy 1.40.0, `cookieless.wasm` 620065 bytes, \
             `libcookieless.so` 1015184 bytes."
        );
        assert!(lines[4].contains("`wrk -t1 -c8 -d1s --latency -H 'User-Agent: cookieless-bench/1'`"), "{}", lines[4]);
        assert!(lines[4].contains("; Envoy on CPU 1 (`taskset`), wrk and the upstream on CPU 0. Best of 2 interleaved rounds."));
        let unpinned = Report { envoy_cpus: None, ..fixture::report() }.markdown();
        assert!(unpinned.contains("; wrk, Envoy and the upstream share the machine. Best of 2"));
    }

    #[test]
    fn results_table() {
        let md = fixture::report().markdown();
        let rows: Vec<&str> = md.lines().skip_while(|l| !l.starts_with("| scenario |")).take_while(|l| l.starts_with('|')).collect();
        assert_eq!(
            rows,
            [
                "| scenario | build | page | req/s | × no filter | p50 ms | p99 ms | MB/s | Envoy CPU µs/req | × no filter (CPU) | Envoy RSS MiB |",
                "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
                "| Envoy without the filter | - | 4 KB | 10000 | 1.00 | 0.400 | 0.800 | 40.0 | 50 | 1.00 | 73.2 |",
                "| filter, route not cookieless | Wasm | 4 KB | 9800 | 0.98 | 0.410 | 0.900 | 39.0 | 52 | 0.96 | 125.0 |",
                "| filter, route not cookieless | native | 4 KB | 9950 | 0.99 | 0.400 | 0.800 | 39.8 | 50 | 0.99 | 78.1 |",
                "| filter disabled on the route by Envoy | Wasm | 4 KB | 9900 | 0.99 | 0.405 | 0.850 | 39.5 | 51 | 0.98 | 125.0 |",
                // No CPU time: dashes, not zeros.
                "| cookieless route, no session | Wasm | 4 KB | 7000 | 0.70 | 0.600 | 1.200 | 28.0 | - | - | 125.0 |",
                "| cookieless route, session resumed | Wasm | 4 KB | 7500 | 0.75 | 1.000 | 1.800 | 30.0 | 140 | 0.36 | 125.0 |",
                "| cookieless route, session resumed | native | 4 KB | 9000 | 0.90 | 0.500 | 0.900 | 36.0 | 62 | 0.80 | 80.1 |",
                "| Envoy without the filter | - | 100 KB | 5000 | 1.00 | 0.700 | 1.500 | 500.0 | 90 | 1.00 | 73.2 |",
                "| filter, route not cookieless | Wasm | 100 KB | 4000 | 0.80 | 1.100 | 1.400 | 400.0 | 130 | 0.69 | 125.0 |",
                "| cookieless route, session resumed | Wasm | 100 KB | 2500 | 0.50 | 3.200 | 4.900 | 260.0 | 390 | 0.23 | 125.0 |",
                "| cookieless route, session resumed | native | 100 KB | 3000 | 0.60 | 2.000 | 3.000 | 300.0 | 150 | 0.60 | 82.0 |",
                // The 1 MB baseline has no result: no row of its own, no ratio for the session.
                "| cookieless route, session resumed | Wasm | 1 MB | 500 | - | 14.500 | 27.400 | 529.0 | 2000 | - | 127.0 |",
                "| POST form, Envoy without the filter | - | 4 KB | 18000 | 1.00 | 0.390 | 0.790 | 79.3 | 54 | 1.00 | 73.2 |",
                "| POST form, token in the body | Wasm | 4 KB | 5400 | 0.30 | 1.140 | 3.010 | 25.6 | 185 | 0.29 | 127.0 |",
            ]
        );
        assert!(md.contains(
            "\nEnvoy RSS when idle after start: 63.5 MiB without the filter, 105.5 MiB with the Wasm build, 68.4 MiB with the native build.\n"
        ));
    }

    #[test]
    fn startup_and_goals_tables() {
        let md = fixture::report().markdown();
        let tail: Vec<&str> = md.lines().skip_while(|l| !l.starts_with("Start-up,")).collect();
        assert_eq!(
            tail,
            [
                "Start-up, spawn to `/ready` (median of 5):",
                "",
                "| `--concurrency` | without the filter | Wasm build | native build |",
                "|---:|---:|---:|---:|",
                "| 1 | 120 ms | 181 ms | 150 ms |",
                "| 2 | 130 ms | 460 ms | 190 ms |",
                "",
                "### Goals",
                "",
                "| goal | target | measured | met |",
                "|---|---|---|---|",
                "| Wasm: route not cookieless, 4 KB | ≥ 0.97 × no filter | 0.98 (by CPU time 0.96) | yes |",
                "| Wasm: … excluded in Envoy's route table instead (per-route `disabled: true`) | ≥ 0.97 × no filter | 0.99 (by CPU time 0.98) | yes |",
                "| Wasm: cookieless 4 KB page with session | ≥ 0.80 × no filter | 0.75 (by CPU time 0.36) | **no** |",
                "| native: route not cookieless, 4 KB | ≥ 0.97 × no filter | 0.99 (by CPU time 0.99) | yes |",
                // Met by throughput (0.90), though not by CPU time (0.80).
                "| native: cookieless 4 KB page with session | ≥ 0.85 × no filter | 0.90 (by CPU time 0.80) | yes |",
                "| native: cookieless 100 KB page with session | ≥ 0.70 × no filter | 0.60 (by CPU time 0.60) | **no** |",
                "| rewriter, native, 100 KB page (this bench's page, one piece) | ≥ 1 GB/s | 1.57 GB/s of CPU time (1.23 GB/s wall clock) | yes |",
                "| `cookieless.wasm` size | < 1 MiB (1,048,576 bytes) | 620065 bytes | yes |",
                "| Wasm: start-up, concurrency 1 | < 2 × without + 0.3 s = 541 ms | 181 ms | yes |",
                "| native: start-up, concurrency 1 | ≤ without + 50 ms = 170 ms | 150 ms | yes |",
                "| Wasm: start-up, concurrency 2 | < 2 × without + 0.3 s = 560 ms | 460 ms | yes |",
                "| native: start-up, concurrency 2 | ≤ without + 50 ms = 180 ms | 190 ms | **no** |",
                "",
                "![Throughput with the filter, as a fraction of Envoy without it](docs/bench-throughput.svg)",
            ]
        );
    }

    #[test]
    fn goals_skip_what_was_not_measured() {
        // `BENCH_ONLY=session BENCH_STARTUP=0`: no route-exclusion goals, no start-up rows.
        let mut report = fixture::report();
        report.measurements.retain(|m| matches!(m.kind, Kind::NoFilter | Kind::Session));
        report.startup.clear();
        let md = report.markdown();
        assert!(!md.contains("route not cookieless, 4 KB"));
        assert!(!md.contains("start-up, concurrency"));
        assert!(md.contains("| Wasm: cookieless 4 KB page with session | ≥ 0.80 × no filter | 0.75 (by CPU time 0.36) | **no** |"));
        // A ratio without CPU times is shown alone.
        report.measurements.iter_mut().for_each(|m| m.cpu_us = None);
        assert!(report.markdown().contains("| Wasm: cookieless 4 KB page with session | ≥ 0.80 × no filter | 0.75 | **no** |"));
        // Without the native runs, no native goal on a ratio.
        report.measurements.retain(|m| m.module != Some(Module::Native));
        assert!(!report.markdown().contains("| native: cookieless"));
    }

    #[test]
    fn envoy_version_from_its_output() {
        assert_eq!(envoy_version("envoy  version: 0123abcd/1.40.0/Clean/RELEASE/BoringSSL\n"), "1.40.0");
        assert_eq!(envoy_version("no version here"), "?");
        assert_eq!(envoy_version(""), "?");
    }

    #[test]
    fn replace_generated_keeps_the_prose() {
        let old = format!("# Benchmarks\n\nbefore\n\n{BEGIN}\nold table\n{END}\n\nafter\n");
        assert_eq!(replace_generated(&old, "new\n"), format!("# Benchmarks\n\nbefore\n\n{BEGIN}\nnew\n{END}\n\nafter\n"));
        // No file yet, or a file without the markers (or with them out of order).
        assert_eq!(replace_generated("", "new\n"), format!("# Benchmarks\n\n{BEGIN}\nnew\n{END}\n"));
        assert_eq!(replace_generated("prose\n", "new\n"), format!("prose\n\n{BEGIN}\nnew\n{END}\n"));
        let reversed = format!("{END}\n{BEGIN}\n");
        assert_eq!(replace_generated(&reversed, "new\n"), format!("{reversed}\n{BEGIN}\nnew\n{END}\n"));
    }
}
