//! `BENCHMARKS.md`'s generated section.

use crate::{Kind, Report, USER_AGENT};
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
             Envoy {}, `cookieless.wasm` {} bytes.\n",
            self.measured_at, self.cpus, self.cpu_model, self.load.0, self.load.1, self.envoy_version, self.wasm_bytes,
        );
        let _ = writeln!(
            md,
            "Command: `make bench` (`ENVOY_BIN=.venv/bin/envoy cargo bench --bench envoy`). Load: \
             `wrk -t1 -c8 -d{}s --latency -H 'User-Agent: {USER_AGENT}'` (POSTs with `-s` and a Lua \
             script setting method and body) after a 1 s warm-up; Envoy `--concurrency 1`; {}. \
             Best of {} interleaved rounds. Ratios are to Envoy without the filter on the same page \
             (the POST to the same POST without the filter).\n",
            self.seconds,
            match &self.envoy_cpus {
                Some(cpus) => format!("Envoy on CPU {cpus} (`taskset`), wrk and the upstream on CPU 0"),
                None => "wrk, Envoy and the upstream share the machine".to_string(),
            },
            self.rounds,
        );
        self.results(&mut md);
        let _ = writeln!(
            md,
            "\nEnvoy RSS when idle after start: {:.1} MiB without the filter, {:.1} MiB with it.\n",
            self.idle_rss_kib.0 as f64 / 1024.0,
            self.idle_rss_kib.1 as f64 / 1024.0
        );
        let _ = writeln!(md, "Start-up, spawn to `/ready` (median of 5):\n");
        let _ = writeln!(md, "| `--concurrency` | without the filter | with the filter |");
        let _ = writeln!(md, "|---:|---:|---:|");
        for t in &self.startup {
            let _ = writeln!(md, "| {} | {:.0} ms | {:.0} ms |", t.concurrency, t.without_ms, t.with_ms);
        }
        self.goals(&mut md);
        let _ = writeln!(md, "\n![Throughput with the filter, as a fraction of Envoy without it](docs/bench-throughput.svg)");
        md
    }

    /// The results table, one row a scenario with a best round, and its note.
    fn results(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "| scenario | page | req/s | × no filter | p50 ms | p99 ms | MB/s | Envoy CPU µs/req | × no filter (CPU) | Envoy RSS MiB |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for m in &self.measurements {
            let Some(run) = &m.best else { continue };
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {} | {:.3} | {:.3} | {:.1} | {} | {} | {:.1} |",
                m.kind.describe(),
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
        // A goal on a ratio is met by throughput or by CPU time, whichever is higher.
        let ratios = |kind: Kind| {
            let m = self.find(kind, "4 KB")?;
            let r = self.ratio(m)?;
            let c = self.cpu_ratio(m);
            let text = match c {
                Some(c) => format!("{r:.2} (by CPU time {c:.2})"),
                None => format!("{r:.2}"),
            };
            Some((r.max(c.unwrap_or(0.0)), text))
        };
        if let Some((r, text)) = ratios(Kind::NotCookieless) {
            goal("route not cookieless, 4 KB", "≥ 0.97 × no filter", text, r >= 0.97);
        }
        if let Some((r, text)) = ratios(Kind::RouteDisabled) {
            goal("… excluded in Envoy's route table instead (per-route `disabled: true`)", "≥ 0.97 × no filter", text, r >= 0.97);
        }
        if let Some((r, text)) = ratios(Kind::Session) {
            goal("cookieless 4 KB page with session", "≥ 0.80 × no filter", text, r >= 0.80);
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
                &format!("start-up with the filter, concurrency {}", t.concurrency),
                &format!("< 2 × without + 0.3 s = {limit:.0} ms"),
                format!("{:.0} ms", t.with_ms),
                t.with_ms < limit,
            );
        }
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
             1.00 2.00 3.00 after (1, 5, 15 min). Envoy 1.40.0, `cookieless.wasm` 620065 bytes."
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
                "| scenario | page | req/s | × no filter | p50 ms | p99 ms | MB/s | Envoy CPU µs/req | × no filter (CPU) | Envoy RSS MiB |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
                "| Envoy without the filter | 4 KB | 10000 | 1.00 | 0.400 | 0.800 | 40.0 | 50 | 1.00 | 73.2 |",
                "| filter, route not cookieless | 4 KB | 9800 | 0.98 | 0.410 | 0.900 | 39.0 | 52 | 0.96 | 125.0 |",
                "| filter disabled on the route by Envoy | 4 KB | 9900 | 0.99 | 0.405 | 0.850 | 39.5 | 51 | 0.98 | 125.0 |",
                // No CPU time: dashes, not zeros.
                "| cookieless route, no session | 4 KB | 7000 | 0.70 | 0.600 | 1.200 | 28.0 | - | - | 125.0 |",
                "| cookieless route, session resumed | 4 KB | 7500 | 0.75 | 1.000 | 1.800 | 30.0 | 140 | 0.36 | 125.0 |",
                "| Envoy without the filter | 100 KB | 5000 | 1.00 | 0.700 | 1.500 | 500.0 | 90 | 1.00 | 73.2 |",
                "| filter, route not cookieless | 100 KB | 4000 | 0.80 | 1.100 | 1.400 | 400.0 | 130 | 0.69 | 125.0 |",
                "| cookieless route, session resumed | 100 KB | 2500 | 0.50 | 3.200 | 4.900 | 260.0 | 390 | 0.23 | 125.0 |",
                // The 1 MB baseline has no result: no row of its own, no ratio for the session.
                "| cookieless route, session resumed | 1 MB | 500 | - | 14.500 | 27.400 | 529.0 | 2000 | - | 127.0 |",
                "| POST form, Envoy without the filter | 4 KB | 18000 | 1.00 | 0.390 | 0.790 | 79.3 | 54 | 1.00 | 73.2 |",
                "| POST form, token in the body | 4 KB | 5400 | 0.30 | 1.140 | 3.010 | 25.6 | 185 | 0.29 | 127.0 |",
            ]
        );
        assert!(md.contains("\nEnvoy RSS when idle after start: 63.5 MiB without the filter, 105.5 MiB with it.\n"));
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
                "| `--concurrency` | without the filter | with the filter |",
                "|---:|---:|---:|",
                "| 1 | 120 ms | 181 ms |",
                "| 2 | 130 ms | 460 ms |",
                "",
                "### Goals",
                "",
                "| goal | target | measured | met |",
                "|---|---|---|---|",
                "| route not cookieless, 4 KB | ≥ 0.97 × no filter | 0.98 (by CPU time 0.96) | yes |",
                "| … excluded in Envoy's route table instead (per-route `disabled: true`) | ≥ 0.97 × no filter | 0.99 (by CPU time 0.98) | yes |",
                "| cookieless 4 KB page with session | ≥ 0.80 × no filter | 0.75 (by CPU time 0.36) | **no** |",
                "| rewriter, native, 100 KB page (this bench's page, one piece) | ≥ 1 GB/s | 1.57 GB/s of CPU time (1.23 GB/s wall clock) | yes |",
                "| `cookieless.wasm` size | < 1 MiB (1,048,576 bytes) | 620065 bytes | yes |",
                "| start-up with the filter, concurrency 1 | < 2 × without + 0.3 s = 541 ms | 181 ms | yes |",
                "| start-up with the filter, concurrency 2 | < 2 × without + 0.3 s = 560 ms | 460 ms | yes |",
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
        assert!(!md.contains("start-up with the filter"));
        assert!(md.contains("| cookieless 4 KB page with session | ≥ 0.80 × no filter | 0.75 (by CPU time 0.36) | **no** |"));
        // A ratio without CPU times is shown alone.
        report.measurements.iter_mut().for_each(|m| m.cpu_us = None);
        assert!(report.markdown().contains("| cookieless 4 KB page with session | ≥ 0.80 × no filter | 0.75 | **no** |"));
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
