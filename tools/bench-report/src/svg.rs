//! `docs/bench-throughput.svg`: throughput with the filter over without it, as bars by page size.

use crate::{Kind, Module, Report, PAGE_SIZES};
use std::fmt::Write as _;

/// One bar series: what ran, and with which build.
type Series = (Kind, Module);

/// The bar series, their colours and legends: the Wasm build light, the native build dark.
const SERIES: [(Series, &str, &str); 4] = [
    ((Kind::NotCookieless, Module::Wasm), "#9ecae9", "Wasm, not cookieless"),
    ((Kind::Session, Module::Wasm), "#ffbf79", "Wasm, session resumed"),
    ((Kind::NotCookieless, Module::Native), "#4c78a8", "native, not cookieless"),
    ((Kind::Session, Module::Native), "#e45756", "native, session resumed"),
];

/// The chart's geometry: width, height and the margins around the plot, in pixels.
const W: f64 = 720.0;
const H: f64 = 380.0;
const LEFT: f64 = 60.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 70.0;
/// The ratio at the top of the plot.
const Y_MAX: f64 = 1.2;

/// The y coordinate of a ratio.
fn y(v: f64) -> f64 {
    TOP + (H - TOP - BOTTOM) * (1.0 - v / Y_MAX)
}

/// One group of bars: its label and the ratio of each series it has.
type Group<'a> = (&'a str, Vec<(Series, f64)>);

impl Report {
    /// The chart: one group of bars a page size, then the POST form (drawn as a session bar).
    pub fn svg(&self) -> String {
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">Envoy throughput with cookieless ÷ without the filter (wrk -c8, --concurrency 1)</text>\n",
            W / 2.0
        );
        axes(&mut svg);
        let groups = self.groups();
        let group_w = (W - LEFT - 20.0) / groups.len() as f64;
        for (i, group) in groups.iter().enumerate() {
            bars(&mut svg, group, LEFT + group_w * i as f64, group_w);
        }
        legend(&mut svg);
        svg.push_str("</svg>\n");
        svg
    }

    /// The ratios to draw: per page size, each series measured; then the form post (drawn as
    /// the session bars).
    fn groups(&self) -> Vec<Group<'static>> {
        let bars = |page: &str, as_kind: Option<Kind>| -> Vec<(Series, f64)> {
            let series = SERIES.iter().map(|(series, _, _)| *series);
            let measured = |(kind, module): Series| match as_kind {
                None => Some(((kind, module), self.ratio(self.find(kind, Some(module), page)?)?)),
                Some(post) if kind == Kind::Session => Some(((kind, module), self.ratio(self.find(post, Some(module), page)?)?)),
                Some(_) => None,
            };
            series.filter_map(measured).collect()
        };
        PAGE_SIZES
            .iter()
            .map(|(page, _)| (*page, bars(page, None)))
            .chain(std::iter::once(("POST form 4 KB", bars("4 KB", Some(Kind::PostSession)))))
            .collect()
    }
}

/// Grid lines with their ratios, and the two goals as dashed red lines.
fn axes(svg: &mut String) {
    for tick in [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2] {
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{tick:.1}</text>",
            W - 20.0,
            LEFT - 6.0,
            y(tick) + 4.0,
            y = y(tick)
        );
    }
    for (goal, label) in [(0.97, "goal 0.97 (not cookieless)"), (0.85, "goal 0.85 (4 KB session, native)"), (0.50, "goal 0.50 (4 KB session, Wasm)")] {
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#c00\" stroke-dasharray=\"5,4\"/><text x=\"{}\" y=\"{:.1}\" fill=\"#c00\" text-anchor=\"end\" font-size=\"10\">{label}</text>",
            W - 20.0,
            W - 22.0,
            y(goal) - 3.0,
            y = y(goal)
        );
    }
}

/// One group's bars, each in its series' slot and colour with its ratio above, and the label.
fn bars(svg: &mut String, (name, bars): &Group<'_>, x0: f64, group_w: f64) {
    for (series, ratio) in bars {
        let slot = SERIES.iter().position(|(s, _, _)| s == series).unwrap_or(0) as f64;
        let color = SERIES.iter().find(|(s, _, _)| s == series).map_or("#888", |(_, c, _)| c);
        let bar_w = group_w * 0.17;
        let x = x0 + group_w * 0.1 + slot * (bar_w + 4.0);
        let top_y = y(ratio.min(Y_MAX));
        let _ = writeln!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{top_y:.1}\" width=\"{bar_w:.1}\" height=\"{:.1}\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{ratio:.2}</text>",
            y(0.0) - top_y,
            x + bar_w / 2.0,
            top_y - 4.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{name}</text>",
        x0 + group_w / 2.0,
        y(0.0) + 18.0
    );
}

/// A swatch and a label per series, under the plot.
fn legend(svg: &mut String) {
    for (i, (_, color, label)) in SERIES.iter().enumerate() {
        let x = LEFT + 10.0 + 160.0 * i as f64;
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{label}</text>",
            H - 28.0,
            x + 18.0,
            H - 18.0
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::fixture;

    #[test]
    fn bars_and_labels() {
        let svg = fixture::report().svg();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"380\" viewBox=\"0 0 720 380\""));
        assert!(svg.ends_with("</svg>\n"));
        // The background, bars (4 KB: 4; 100 KB: 3, no native not-cookieless run; 1 MB: none, its
        // baseline has no result; the POST: 1, Wasm only), the 4 legend keys.
        assert_eq!(svg.matches("<rect ").count(), 1 + 8 + 4);
        // 4 groups across 640 px from x = 60: 160 px each. The native 4 KB session bar is the fourth
        // slot of the first; 0.90 of the 1.2 scale over the 270 px plot, whose 0 is at y = 310.
        assert!(svg.contains(
            "<rect x=\"169.6\" y=\"107.5\" width=\"27.2\" height=\"202.5\" fill=\"#e45756\"/><text x=\"183.2\" y=\"103.5\" text-anchor=\"middle\">0.90</text>"
        ), "{svg}");
        // The POST form, in the fourth group, as the Wasm session bar (0.30).
        assert!(svg.contains("<rect x=\"587.2\" y=\"242.5\" width=\"27.2\" height=\"67.5\" fill=\"#ffbf79\"/>"), "{svg}");
        for label in ["4 KB", "100 KB", "1 MB", "POST form 4 KB"] {
            assert!(svg.contains(&format!("text-anchor=\"middle\">{label}</text>")), "{label}");
        }
        assert!(svg.contains(">goal 0.97 (not cookieless)</text>"));
        assert!(svg.contains(">native, session resumed</text>"));
    }
}
