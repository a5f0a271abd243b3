//! `docs/bench-throughput.svg`: throughput with the filter over without it, as bars by page size.

use crate::{Kind, Report, PAGE_SIZES};
use std::fmt::Write as _;

/// The bar series: kind, colour, legend.
const SERIES: [(Kind, &str, &str); 3] = [
    (Kind::NotCookieless, "#4c78a8", "filter, route not cookieless"),
    (Kind::RouteDisabled, "#54a24b", "filter disabled on the route (Envoy)"),
    (Kind::Session, "#f58518", "cookieless, session resumed"),
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
type Group<'a> = (&'a str, Vec<(Kind, f64)>);

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

    /// The ratios to draw: per page size, each series measured; then the form post.
    fn groups(&self) -> Vec<Group<'static>> {
        PAGE_SIZES
            .iter()
            .map(|(page, _)| {
                let bars = SERIES
                    .iter()
                    .filter_map(|(kind, _, _)| Some((*kind, self.ratio(self.find(*kind, page)?)?)))
                    .collect();
                (*page, bars)
            })
            .chain(std::iter::once((
                "POST form 4 KB",
                self.measurements
                    .iter()
                    .find(|m| m.kind == Kind::PostSession)
                    .and_then(|m| self.ratio(m))
                    .map(|r| vec![(Kind::Session, r)])
                    .unwrap_or_default(),
            )))
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
    for (goal, label) in [(0.97, "goal 0.97 (not cookieless)"), (0.80, "goal 0.80 (4 KB session)")] {
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
    for (kind, ratio) in bars {
        let slot = SERIES.iter().position(|(k, _, _)| k == kind).unwrap_or(0) as f64;
        let color = SERIES.iter().find(|(k, _, _)| k == kind).map_or("#888", |(_, c, _)| c);
        let bar_w = group_w * 0.22;
        let x = x0 + group_w * 0.12 + slot * (bar_w + 6.0);
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
        let x = LEFT + 10.0 + 215.0 * i as f64;
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
        // The background, bars (4 KB: 3; 100 KB: 2, no route-disabled run; 1 MB: none, its baseline has
        // no result; the POST: 1), the 3 legend keys.
        assert_eq!(svg.matches("<rect ").count(), 1 + 6 + 3);
        // 4 groups across 640 px from x = 60: 160 px each. The 4 KB session bar is the third slot of
        // the first; 0.75 of the 1.2 scale over the 270 px plot, whose 0 is at y = 310.
        assert!(svg.contains(
            "<rect x=\"161.6\" y=\"141.2\" width=\"35.2\" height=\"168.8\" fill=\"#f58518\"/><text x=\"179.2\" y=\"137.2\" text-anchor=\"middle\">0.75</text>"
        ), "{svg}");
        // The POST form, in the fourth group, as a session bar.
        assert!(svg.contains("<rect x=\"641.6\" y=\"242.5\" width=\"35.2\" height=\"67.5\" fill=\"#f58518\"/>"), "{svg}");
        for label in ["4 KB", "100 KB", "1 MB", "POST form 4 KB"] {
            assert!(svg.contains(&format!("text-anchor=\"middle\">{label}</text>")), "{label}");
        }
        assert!(svg.contains(">goal 0.97 (not cookieless)</text>"));
        assert!(svg.contains(">filter disabled on the route (Envoy)</text>"));
    }
}
