#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The rewriter against a spec-compliant parser (issue 13, proof parts 2 and 3): html5ever's tree
//! of each page before and after rewriting, judged by tests/common/differential.rs (what it checks
//! is described there). Inputs: the corpus (tests/corpus), generated hostile HTML (proptest), and
//! about 300 real pages of Debian's HTML manuals (python3.11-doc, postgresql-doc-15, git-doc;
//! `make test-deps` installs them), each also in several chunkings (streaming = one shot).
//!
//! `cargo test --test rewrite_differential -- --ignored --nocapture census` prints every class of
//! difference found over many generated pages, the corpus and the manuals, with a minimal input
//! for each generated class.

#[path = "common/differential.rs"]
mod differential;

use cookieless::rewrite::MAX_CARRY;
use differential::{
    check, check_rewrite, describe, dump, judge as judge_output, rewrite, rewrite_chunked, Finding,
    Setup, LIMITS,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn setup() -> Setup {
    Setup::new("www.example.com", &["partner.example.com"], "/dir/page")
}

// ---------------------------------------------------------------------------------------------
// The oracle itself: outputs written by hand from docs' conventions pass, wrong ones do not.

const T: &str = "dIfF7tOkEn9Q";
const ID: &str = "cl-0123456789abcdef";

/// `{T}` the token, `{ID1}`, `{ID2}` the ids of the first and second tied form.
fn judge(input: &str, output: &str) -> Vec<Finding> {
    let output = output
        .replace("{T}", T)
        .replace("{ID1}", &format!("{ID}-1"))
        .replace("{ID2}", &format!("{ID}-2"));
    check(&setup(), input.as_bytes(), output.as_bytes())
}

fn classes(findings: &[Finding]) -> Vec<String> {
    findings.iter().map(|f| f.class.clone()).collect()
}

#[test]
fn oracle_accepts_what_the_conventions_write() {
    let cases: &[(&str, &str)] = &[
        ("<a href=/x>a</a>", "<a href=//www.example.com/x?sessionid={T}>a</a>"),
        (
            "<a href='x?a=1#f'>a</a><a href=''>b</a><a href='?q'>c</a>",
            "<a href='//www.example.com/dir/x?a=1&amp;sessionid={T}#f'>a</a>\
             <a href='//www.example.com/dir/page?sessionid={T}'>b</a>\
             <a href='//www.example.com/dir/page?q&sessionid={T}'>c</a>",
        ),
        (
            "<a href=http://www.example.com/p>a</a><a href=https://partner.example.com/p>b</a>",
            "<a href=http://www.example.com/p?sessionid={T}>a</a>\
             <a href=https://partner.example.com/p?sessionid={T}>b</a>",
        ),
        ("<a href=//evil.example/x>a</a><svg><a href=/x /></svg>", "<a href=//evil.example/x>a</a><svg><a href=/x /></svg>"),
        (
            "<iframe src=/f></iframe><iframe src=''></iframe>",
            "<iframe src=//www.example.com/f?sessionid={T}></iframe><iframe src=''></iframe>",
        ),
        (
            "<meta http-equiv=refresh content='0; url=/r'>",
            "<meta http-equiv=refresh content='0; url=//www.example.com/r?sessionid={T}'>",
        ),
        (
            "<form action=/p><input name=q></form><form id=f><input name=r></form>",
            "<form id={ID1} action=//www.example.com/p><rp hidden><input type=hidden name=sessionid value={T} form={ID1}></rp><input name=q></form>\
             <form id=f><rp hidden><input type=hidden name=sessionid value={T}></rp><input name=r></form>",
        ),
        (
            "<form action=https://evil.example/><form action=/nested-ignored></form>",
            "<form action=https://evil.example/><form action=/nested-ignored></form>",
        ),
        (
            "<template><form action=/t></form></template>",
            "<template><form action=//www.example.com/t><rp hidden><input type=hidden name=sessionid value={T}></rp></form></template>",
        ),
        (
            "<table><form id=t action=/p><tr><td><input name=q></td></tr></form></table>",
            "<table><form id=t action=//www.example.com/p><rp hidden><input type=hidden name=sessionid value={T}></rp><tr><td><input name=q></td></tr></form></table>",
        ),
        (
            "<a href=/x>a</a><base href=http://other.example/><a href=y>b</a>",
            "<a href=//www.example.com/x?sessionid={T}>a</a><base href='' href=http://other.example/>\
             <a href=//www.example.com/dir/y?sessionid={T}>b</a>",
        ),
        (
            "<base href=http://other.example/><a href=y>b</a>",
            "<base href=http://other.example/><a href=y>b</a>",
        ),
        (
            "<base href=/sub/><a href=y>b</a>",
            "<base href=/sub/><a href=//www.example.com/sub/y?sessionid={T}>b</a>",
        ),
        (
            "<a href=/x ping='/p https://evil.example/p'>a</a><img referrerpolicy=unsafe-url src=/i>\
             <meta name=referrer content=always>",
            "<a ping='' href=//www.example.com/x?sessionid={T} ping='/p https://evil.example/p'>a</a>\
             <img referrerpolicy=same-origin referrerpolicy=unsafe-url src=/i>\
             <meta content=same-origin name=referrer content=always>",
        ),
        (
            "<form action=/p><button formaction=https://evil.example/>x</button><button formaction=q>y</button></form>\
             <button form=elsewhere formaction=//evil.example/>z</button>",
            "<form id={ID1} action=//www.example.com/p><rp hidden><input type=hidden name=sessionid value={T} form={ID1}></rp>\
             <button disabled formaction=https://evil.example/>x</button>\
             <button formaction=//www.example.com/dir/q>y</button></form>\
             <button disabled form=elsewhere formaction=//evil.example/>z</button>",
        ),
        (
            "<a href=#top>a</a><a href=/dir/page#top>b</a>",
            "<a href=#top>a</a><a href=/dir/page#top>b</a>",
        ),
        (
            "<noscript><a href=/n></noscript><textarea><a href=/t></textarea><!--<a href=/c>-->",
            "<noscript><a href=/n></noscript><textarea><a href=/t></textarea><!--<a href=/c>-->",
        ),
        // Rule 2: each tied form its own id, numbered in document order.
        (
            "<form></form><form id=own></form><form action=/b></form>",
            "<form id={ID1}><rp hidden><input type=hidden name=sessionid value={T} form={ID1}></rp></form>\
             <form id=own><rp hidden><input type=hidden name=sessionid value={T}></rp></form>\
             <form id={ID2} action=//www.example.com/b><rp hidden><input type=hidden name=sessionid value={T} form={ID2}></rp></form>",
        ),
        // Rule 1: only a written URL makes a later base late.
        (
            "<meta charset=utf-8><a name=top></a><a href=//evil.example/x>e</a><base href=/app/><a href=y>y</a>",
            "<meta charset=utf-8><a name=top></a><a href=//evil.example/x>e</a><base href=/app/>\
             <a href=//www.example.com/app/y?sessionid={T}>y</a>",
        ),
        // Rule 3: a base element makes fragment links leave the document; under a base that is
        // not http(s), scheme-relative URLs are foreign.
        (
            "<base href=/other/><a href=#top>a</a>",
            "<base href=/other/><a href=//www.example.com/other/?sessionid={T}#top>a</a>",
        ),
        (
            "<base href=\"a:/\"><a href=//www.example.com/x>x</a>",
            "<base href=\"a:/\"><a href=//www.example.com/x>x</a>",
        ),
        // Rule 4: no hidden input in a select.
        (
            "<select><b><form action=/f></form></b></select>",
            "<select><b><form action=/f></form></b></select>",
        ),
        // Rule 6: http:x is foreign to the rewriter (another host on an https page).
        (
            "<a href=http:x>a</a><form action=http:x><button formaction=https:y>b</button></form>\
             <button form=f formaction=http:z>c</button>",
            "<a href=http:x>a</a><form action=http:x><button formaction=https:y>b</button></form>\
             <button disabled form=f formaction=http:z>c</button>",
        ),
        // Rule 7: referrerpolicy only where the browser uses it; an empty policy is safe.
        (
            "<div referrerpolicy=unsafe-url></div><img src=/i referrerpolicy=''>\
             <meta http-equiv=referrer-policy content=unsafe-url>",
            "<div referrerpolicy=unsafe-url></div><img src=/i referrerpolicy=''>\
             <meta content=same-origin http-equiv=referrer-policy content=unsafe-url>",
        ),
        // Known limits.
        ("<iframe src=#></iframe>", "<iframe src=#></iframe>"),
        (
            "<meta http-equiv=refresh content='5; URL='>",
            "<meta http-equiv=refresh content='5; URL='>",
        ),
        (
            "<p><a href=/l>x</p><form action=/f></form><p>after</p>",
            "<p><a href=//www.example.com/l?sessionid={T}>x</p><form id={ID1} action=//www.example.com/f>\
             <rp hidden><input type=hidden name=sessionid value={T} form={ID1}></rp></form><p>after</p>",
        ),
        (
            "<p><a href=/l>x</p><form action=/f><div>y</div></form>",
            "<p><a href=//www.example.com/l?sessionid={T}>x</p><form id={ID1} action=//www.example.com/f>\
             <rp hidden><input type=hidden name=sessionid value={T} form={ID1}></rp><div>y</div></form>",
        ),
        ("<div><svg></div><form action=/f></form><a href=/x>x</a>", "<div><svg></div><form action=/f></form><a href=/x>x</a>"),
        (
            "<template><tr><form action=/f></form></tr></template>",
            "<template><tr><form action=//www.example.com/f><rp hidden><input type=hidden name=sessionid value={T}></rp></form></tr></template>",
        ),
        ("<a href=#f>f</a><base href=/app/>", "<a href=#f>f</a><base href=/app/>"),
        // An iframe's srcdoc is a document of its own, rewritten by the same rules with the
        // page's base; a rewritten one counts as written for a later base.
        (
            "<base href=/b/><iframe srcdoc=\"<a href=x>x</a><form></form>\"></iframe>",
            "<base href=/b/><iframe srcdoc=\"<a href=//www.example.com/b/x?sessionid={T}>x</a>\
             <form id={ID1}><rp hidden><input type=hidden name=sessionid value={T} form={ID1}></rp></form>\"></iframe>",
        ),
        (
            "<iframe srcdoc=\"<a href=/x>x</a>\"></iframe><base href=/late/>",
            "<iframe srcdoc=\"<a href=//www.example.com/x?sessionid={T}>x</a>\"></iframe><base href='' href=/late/>",
        ),
        // README, "Encodings": without a charset in the header, ESC is written as U+FFFD.
        ("<p title='\x1b$B'>a\x1bb</p>", "<p title='\u{fffd}$B'>a\u{fffd}b</p>"),
        // A CDATA section ends and begins again after each `<` of its text: the same text.
        ("<svg><![CDATA[a<b]]></svg>", "<svg><![CDATA[a<]]><![CDATA[b]]></svg>"),
        // Where the parser reads a bogus comment there, the split is accepted as a rule.
        ("<![CDATA[<a href=//evil.example/>]]>", "<![CDATA[<]]><![CDATA[a href=//evil.example/>]]>"),
    ];
    for (input, output) in cases {
        let findings = judge(input, output);
        assert!(
            findings.is_empty(),
            "the oracle rejects the conventions' output\n  input:  {input}\n  output: {output}\n{}",
            describe(&findings, 10)
        );
    }
}

#[test]
fn oracle_rejects_what_the_conventions_forbid() {
    let cases: &[(&str, &str, &str)] = &[
        ("<a href=/x>a</a>", "<a href=/x>a</a>", "token missing: a[href]"),
        (
            "<a href=//evil.example/x>a</a>",
            "<a href=//evil.example/x?sessionid={T}>a</a>",
            "token where none is due: a[href]",
        ),
        (
            "<a href=/x>a</a>",
            "<a href=/x?sessionid={T}>a</a>",
            "token URL not base-proof: a[href]",
        ),
        (
            "<a href=x>a</a>",
            "<a href=//www.example.com/x?sessionid={T}>a</a>",
            "token URL points elsewhere: a[href]",
        ),
        (
            "<svg><a href=/x /></svg>",
            "<svg><a href=//www.example.com/x?sessionid={T} /></svg>",
            "token where none is due: svg:a[href]",
        ),
        (
            "<form action=https://evil.example/ id=f><input name=q></form>",
            "<form action=https://evil.example/ id=f><rp hidden><input type=hidden name=sessionid value={T}></rp><input name=q></form>",
            "token in a form that must not get it",
        ),
        ("<form action=/p></form>", "<form action=/p></form>", "token form without hidden input"),
        (
            "<form action=/p></form><form action=/q></form>",
            "<form id={ID1} action=//www.example.com/p><rp hidden><input type=hidden name=sessionid value={T} form={ID1}></rp></form>\
             <form id={ID1} action=//www.example.com/q><rp hidden><input type=hidden name=sessionid value={T} form={ID1}></rp></form>",
            "token form without hidden input",
        ),
        (
            "<a href=/x>a</a><base href=http://other.example/>",
            "<a href=//www.example.com/x?sessionid={T}>a</a><base href=http://other.example/>",
            "late base not neutralised",
        ),
        (
            "<base href=http://other.example/><a href=/x>a</a>",
            "<base href='' href=http://other.example/><a href=//www.example.com/x?sessionid={T}>a</a>",
            "base neutralised although no URL came before it",
        ),
        (
            "<base href=/other/><a href=#top>a</a>",
            "<base href=/other/><a href=#top>a</a>",
            "token missing: a[href]",
        ),
        ("<p>text</p>", "<p>text!</p>", "text changed"),
        ("<p>text</p>", "<p>text {T}</p>", "token in text"),
        ("<p>a</p>", "<p>a</p><p>b</p>", "structure: children of <body> differ"),
        (
            "<form action=/p><button formaction=https://evil.example/>x</button></form>",
            "<form id={ID1} action=//www.example.com/p><rp hidden><input type=hidden name=sessionid value={T} form={ID1}></rp>\
             <button formaction=https://evil.example/>x</button></form>",
            "submitter to another site not disabled: button",
        ),
        (
            "<img referrerpolicy=unsafe-url src=/i>",
            "<img referrerpolicy=unsafe-url src=/i>",
            "not neutralised: img[referrerpolicy]",
        ),
        (
            "<meta http-equiv=refresh content='0; url=/r'>",
            "<meta http-equiv=refresh content='5; url=//www.example.com/r?sessionid={T}'>",
            "refresh time changed: meta[content]",
        ),
        // Rule 1: a foreign link writes nothing, so the base is not late.
        (
            "<a href=//evil.example/x>a</a><base href=/b/>",
            "<a href=//evil.example/x>a</a><base href='' href=/b/>",
            "base neutralised although no URL came before it",
        ),
        // Rule 2.
        (
            "<form></form><form></form>",
            "<form id={ID2}><rp hidden><input type=hidden name=sessionid value={T} form={ID2}></rp></form>\
             <form id={ID1}><rp hidden><input type=hidden name=sessionid value={T} form={ID1}></rp></form>",
            "form id out of sequence",
        ),
        (
            "<template><form></form></template>",
            "<template><form id={ID1}><rp hidden><input type=hidden name=sessionid value={T} form={ID1}></rp></form></template>",
            "attribute changed: form[id]",
        ),
        (
            "<form></form>",
            "<form><rp hidden><input type=hidden name=sessionid value={T}></rp></form>",
            "form id missing",
        ),
        // Rule 6: the token must not go to what is another host on an https page.
        (
            "<a href=http:x>a</a>",
            "<a href=http:x?sessionid={T}>a</a>",
            "token where none is due: a[href]",
        ),
        (
            "<form action=https:x></form>",
            "<form id={ID1} action=https:x><rp hidden><input type=hidden name=sessionid value={T} form={ID1}></rp></form>",
            "token in a form that must not get it",
        ),
        // Rule 7, and every ping.
        (
            "<div referrerpolicy=unsafe-url></div>",
            "<div referrerpolicy=same-origin referrerpolicy=unsafe-url></div>",
            "attribute changed: div[referrerpolicy]",
        ),
        ("<a href=/x ping=/p>a</a>", "<a href=//www.example.com/x?sessionid={T} ping=/p>a</a>", "not neutralised: a[ping]"),
        // The known limits excuse no token sent elsewhere.
        (
            "<div><svg></div><a href=https://evil.example/ referrerpolicy=unsafe-url>x</a>",
            "<div><svg></div><a href=https://evil.example/ referrerpolicy=unsafe-url>x</a>",
            "not neutralised: a[referrerpolicy]",
        ),
        (
            "<div><svg></div><a href=https://evil.example/>x</a>",
            "<div><svg></div><a href=https://evil.example/?sessionid={T}>x</a>",
            "token where none is due: a[href]",
        ),
        (
            "<template><tr><form action=https://evil.example/></form></tr></template><input form=f>",
            "<template><tr><form action=https://evil.example/></form></tr></template>\
             <rp hidden><input type=hidden name=sessionid value={T}></rp><input form=f>",
            "hidden input belongs to no form",
        ),
        // Without its wrapper, the copy of the `<a>` the input makes the parser reconstruct stays
        // open after `</form>`: what follows lands in the form.
        (
            "<p><a href=/l>x</p><form action=/f></form><p>after</p>",
            "<p><a href=//www.example.com/l?sessionid={T}>x</p><form id={ID1} action=//www.example.com/f>\
             <input type=hidden name=sessionid value={T} form={ID1}></form><p>after</p>",
            "structure: children of <body> differ",
        ),
        (
            "<form action=/f></form>",
            "<form id={ID1} action=//www.example.com/f><input type=hidden name=sessionid value={T} form={ID1}></form>",
            "hidden input outside its wrapper",
        ),
        (
            "<form action=/f></form>",
            "<form id={ID1} action=//www.example.com/f><rp hidden=x><input type=hidden name=sessionid value={T} form={ID1}></rp></form>",
            "hidden input outside its wrapper",
        ),
        (
            "<form action=/f></form>",
            "<form id={ID1} action=//www.example.com/f><rp hidden><a href=//www.example.com/n?sessionid={T}>\
             <input type=hidden name=sessionid value={T} form={ID1}></a></rp></form>",
            "hidden input's wrapper holds an element of its own",
        ),
        (
            "<iframe srcdoc=\"<a href=/x>x</a>\"></iframe>",
            "<iframe srcdoc=\"<a href=/x>x</a>\"></iframe>",
            "srcdoc: token missing: a[href]",
        ),
        (
            "<iframe srcdoc=\"<a href=//evil.example/>x</a>\"></iframe>",
            "<iframe srcdoc=\"<a href=//evil.example/?sessionid={T}>x</a>\"></iframe>",
            "srcdoc: token where none is due: a[href]",
        ),
        ("<p>a\x1bb</p>", "<p>a\x1bb</p>", "text changed"),
        // The split is accepted only where the output with it undone is right.
        (
            "<p>a<![CDATA[<p>]]><a href=/x>a</a>",
            "<p>a<![CDATA[<]]><![CDATA[p>]]><a href=/x>a</a>",
            "structure: children of <p> differ",
        ),
        // ... and never in a page that holds the split's shape itself.
        (
            "<p>a<![CDATA[<]]><![CDATA[<a href=/y>]]>",
            "<p>a<![CDATA[<]]><![CDATA[<]]><![CDATA[a href=//www.example.com/y?sessionid={T}>]]>",
            "structure: children of <p> differ",
        ),
    ];
    for (input, output, class) in cases {
        let findings = judge(input, output);
        assert!(
            classes(&findings).iter().any(|c| c == class),
            "the oracle misses [{class}]\n  input:  {input}\n  output: {output}\n  found:\n{}",
            describe(&findings, 10)
        );
    }
}

/// Where html5ever 0.40 does not follow the standard around svg/math integration points, the
/// oracle feeds it what makes it build the standard's tree (`as_the_standard`). Each expected tree
/// is Chromium 156's DOM for the page (`chromium --headless --dump-dom`), and each page built
/// another tree in html5ever before: the rewriter, which follows the standard there, was judged
/// against a tree no browser builds.
#[test]
fn the_oracle_builds_chromiums_tree_around_integration_points() {
    let cases: &[(&str, &str)] = &[
        // `</p>` at an HTML annotation-xml: an empty p there, the math stays open (CDATA).
        (
            "<math><annotation-xml encoding=\"text/html\"></p><![CDATA[<p><meta name=referrer content=unsafe-url>",
            "math:math\n  math:annotation-xml encoding=\"text/html\"\n    p\n    text \"<p><meta name=referrer content=unsafe-url>\"",
        ),
        (
            "<math><annotation-xml encoding=\"text/html\"></p></annotation-xml></b><a href=/x>",
            "math:math\n  math:annotation-xml encoding=\"text/html\"\n    p\n  math:a href=\"/x\"",
        ),
        // A breakout tag, and `</br>`, pop the foreign elements above it, not it.
        (
            "<math><annotation-xml encoding=\"text/html\"><math><meta name=referrer content=unsafe-url><![CDATA[<a href=/x>",
            "math:math\n  math:annotation-xml encoding=\"text/html\"\n    math:math\n    meta name=\"referrer\" content=\"unsafe-url\"\n    text \"<a href=/x>\"",
        ),
        (
            "<math><annotation-xml encoding=\"text/html\"><svg><g></br>x",
            "math:math\n  math:annotation-xml encoding=\"text/html\"\n    svg:svg\n      svg:g\n    br\n    text \"x\"",
        ),
        // "Any other end tag" stops at foreignObject and mi: nothing closes.
        (
            "<span><svg><a href=/svg-a><foreignObject></select><math></form></span><script><a href=/x ping=/x></script>",
            "span\n  svg:svg\n    svg:a href=\"/svg-a\"\n      svg:foreignObject\n        math:math\n          math:script\n            math:a href=\"/x\" ping=\"/x\"",
        ),
        (
            "<form action=/x><mi><svg><foreignObject><span><math></mi></div><base href=/x>",
            "form action=\"/x\"\n  mi\n    svg:svg\n      svg:foreignObject\n        span\n          math:math\n            math:base href=\"/x\"",
        ),
        // MathML annotation-xml, whatever its encoding, is a scope boundary: `</ul>`, `</a>` and
        // `</object>` from inside it close nothing; `</table>` (table scope) closes the math.
        (
            "<ul><math><annotation-xml></ul><form><meta name=referrer content=unsafe-url><form>",
            "ul\n  math:math\n    math:annotation-xml\n      math:form\n  meta name=\"referrer\" content=\"unsafe-url\"\n  form",
        ),
        (
            "<a href=/x><math><annotation-xml></a><style><meta http-equiv=refresh content=\"0;url=/x\">t",
            "a href=\"/x\"\n  math:math\n    math:annotation-xml\n      math:style\n  meta http-equiv=\"refresh\" content=\"0;url=/x\"\n  text \"t\"",
        ),
        (
            "<object><math><annotation-xml><math><mi><a href=/mi-a></a></mi></math></object><base href=/x>",
            "object\n  math:math\n    math:annotation-xml\n      math:math\n        math:mi\n          a href=\"/mi-a\"\n      math:base href=\"/x\"",
        ),
        (
            "<table><math><annotation-xml></table><a href=/x>",
            "math:math\n  math:annotation-xml\ntable\na href=\"/x\"",
        ),
        // `</form>` there clears the form pointer all the same: the next form is made inside.
        (
            "<form><math><annotation-xml encoding=\"text/html\"></form><form action=/b>",
            "form\n  math:math\n    math:annotation-xml encoding=\"text/html\"\n      form action=\"/b\"",
        ),
        // `</select>` closes a select in scope only: `mi` is a boundary, `math` is not.
        (
            "<select><math><mi></select><p>after",
            "select\n  math:math\n    math:mi\n      p\n        text \"after\"",
        ),
        ("<select><math></select><p>after", "select\n  math:math\np\n  text \"after\""),
        (
            "<select><math><annotation-xml encoding=\"text/html\"></select><![CDATA[<p>x",
            "select\n  math:math\n    math:annotation-xml encoding=\"text/html\"\n      text \"<p>x\"",
        ),
    ];
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|(input, want)| {
            let tree = dump(input.as_bytes());
            // The body's nodes, elements without their brackets.
            let body: Vec<String> = tree
                .lines()
                .skip_while(|l| l.trim() != "<body>")
                .skip(1)
                .map(|l| {
                    let l = l.strip_prefix("    ").unwrap_or(l);
                    let node = l.trim_start();
                    let bare = node.strip_prefix('<').and_then(|n| n.strip_suffix('>')).unwrap_or(node);
                    format!("{}{bare}", " ".repeat(l.len() - node.len()))
                })
                .collect();
            let got = body.join("\n");
            (got != *want).then(|| format!("{input}\n  want:\n{want}\n  got:\n{got}"))
        })
        .collect();
    assert!(failed.is_empty(), "html5ever's tree is not Chromium's:\n{}", failed.join("\n\n"));
}

/// Small pages, one per class of difference the oracle found (against the rewriter before and
/// after issue 13) and one per known limit: each must come out as the oracle demands (the limits
/// it accepts are in tests/common/differential.rs, `LIMITS`). The failure lists every one; those
/// named `LEAK:` sent the token or the page's URL where it must not go (no limit may excuse them).
#[test]
fn hard_cases_match_the_oracle() {
    let long = "x".repeat(MAX_CARRY + 100);
    let huge = format!("<a href=/huge data-x=\"{long}\">x</a>");
    let huge_meta = format!("<meta name=referrer content=unsafe-url data-x=\"{long}\">");
    let huge_button = format!(
        "<form action=/p><button formaction=https://evil.example/ data-x=\"{long}\">b</button></form>"
    );
    let huge_input = format!(
        "<form id=f action=/p></form><input type=submit form=f formaction=https://evil.example/ data-x=\"{long}\">"
    );
    let huge_form_before = format!(
        "<form id=x action=https://evil.example/ data-x=\"{long}\"><button>go</button></form><table><form id=x action=/save></form></table>"
    );
    let huge_form_after = format!(
        "<table><form id=x action=/save></form><div><form id=x action=https://evil.example/ data-x=\"{long}\"><button>go</button></form></div></table>"
    );
    let huge_base = format!(
        "<a href=/early>e</a><base href=/app/ data-x=\"{long}\"><a href=x>x</a><form action=y></form>"
    );
    let cases: &[(&str, &str)] = &[
        ("two forms without id", "<form action=/a></form><form action=/b></form>"),
        ("unclosed <a> before a form (formatting elements reconstructed by the hidden input)",
            "<p><a href=/l>link</p><form action=/f><div>x</div></form>"),
        ("unclosed <b> before a form", "<p><b>x</p><form action=/f><div>y</div></form>"),
        ("formatting copy around the hidden input of an empty form, content after it",
            "<p><a href=/x><form></form><area href=/x><button formaction=//evil.example/>b</button>"),
        ("copy of <b> holding the form's div, submitter after the form",
            "<p><b>x</p><form action=/f><div><input name=q></div></form><input type=submit formaction=//evil.example/>"),
        ("the wrapper in a table: a foster-parented <p> stays open",
            "<table><p><form><mi>"),
        ("</form> in a select leaves the form open", "<form action=/x><select></form><button type=foo formaction=/x>b</button>"),
        ("</form> in a table cell leaves the form open",
            "<form action=/x><table><td></form><button formaction=//evil.example/>b</button><button formaction=y>c</button>"),
        ("a later foreign form's pointer claims the submitters",
            "<form></form><form action=https://evil.example/><button formaction=//evil.example/>b</button></form><button formaction=//evil.example/>c</button>"),
        ("adoption agency moves the wrapper into a copy of the <a> (template)",
            "<template shadowrootmode=open><a href='/q'><form><a href=/x>"),
        ("svg in MathML's annotation-xml is svg: its title is an integration point",
            "<math><annotation-xml><svg><a href=/svg-a><title><form>"),
        ("the adoption agency moves a button a foreign form's pointer claimed into the token form",
            "<form action=/save><div></form><div><form action=https://evil.example/></div><b><button formaction=https://evil.example/x>Go</b>"),
        ("a CDATA section of only > rules out a frameset",
            "<form action=/save><svg><![CDATA[>]]></svg><frameset><button formaction=https://evil.example/x>Go</button>"),
        ("text in a CDATA section rules out a frameset",
            "<math><![CDATA[<p>]]><frameset><frame href=/x></frameset><meta http-equiv=refresh content=\"0;url=/x\">"),
        ("svg foster-parented from a table: a <tr> in its integration point clears back to the table",
            "<table><svg><a href=/svg-a><foreignObject><tr></a><form>"),
        ("svg in a table: </table> from its integration point closes the svg",
            "<form action=/f><table><svg><foreignObject></table><button formaction=//evil.example/x>b</button>"),
        ("math in a table body: </table> from an HTML div in <mi> closes everything",
            "<table><tbody><math><mi><div></table><a href=/x>x</a>"),
        ("svg in a row: </tbody> closes the row and the svg", "<table><tr><svg><desc></tbody><a href=/x>x</a>"),
        ("a form between stops the end-tag walk: </foreignObject> closes no svg",
            "<foreignObject><form><svg></foreignObject><input type=submit formaction=//evil.example/x>"),
        ("</form> takes only the form off the stack: </div> then closes the svg",
            "<div><form></form><svg></div><input type=submit formaction=//evil.example/x>"),
        ("</form> in an object leaves the form on the stack: it stops the walk of </span>",
            "<span><form><object></form></object><svg></span><button formaction=//evil.example/x>b</button>"),
        ("</a> in svg inside foreignObject reaches the HTML <a>: a base after it counts",
            "<svg><a href=/svg-a><foreignObject><a href='/q'><svg></a><base href=/x>"),
        ("form inside select (the hidden input closes the select)",
            "<select><b><form action=/f></form></b></select>"),
        ("form inside select inside a foreign form in a template",
            "<template><form action=https://evil.example/><select><form></form></select></form></template>"),
        ("form in a table in a template (ignored by the parser)",
            "<template><tr><form action=/f></form></tr></template>"),
        ("a base foster-parented out of the table comes first in tree order: it is taken",
            "<table><td><base href=/x/><tr><base href=/y/><a href=z>z</a>"),
        ("a foster-parented base after a URL was written keeps the base taken in the cell",
            "<table><td><base href=/x/><tr><iframe src=/x></iframe><base href=#f><a href=z>z</a>"),
        ("a foster-parented base after a neutralised one in the cell",
            "<a href=/e>e</a><table><td><base href=/x/><tr><base href=/y/><a href=z>z</a>"),
        ("two bases foster-parented out of one table: the first counts",
            "<table><base href=/x/><a href=a>a</a><base href=/y/><a href=z>z</a>"),
        ("a base in a cell of an outer table after one in an inner table",
            "<table><td><table><td><base href=/x/></table><base href=/y/><a href=z>z</a>"),
        ("a base foster-parented out of an outer table comes before one of an inner table's",
            "<table><td><table><td><base href=/x/></table></td><a href=a>a</a><base href=/y/><a href=z>z</a>"),
        ("a base before the table stays first",
            "<base href=/x/><table><a href=a>a</a><base href=/y/><a href=z>z</a>"),
        ("a base in svg foster-parented out of the table",
            "<table><td><base href=/x/><a href=a>a</a><tr><svg><title><base href=/y/></title></svg><a href=z>z</a>"),
        ("a base in a div foster-parented out of the table",
            "<table><td><base href=/x/><a href=a>a</a></td></tr><div><base href=/y/></div><a href=z>z</a>"),
        ("a base in a select in a table",
            "<table><td><base href=/x/><a href=a>a</a></td></tr><select><base href=/y/></select><a href=z>z</a>"),
        ("a form with its own id in a table: form= that id", "<table><form id=save action=/s></form></table>"),
        ("a form in a table whose id an svg form has before it in tree order",
            "<table><svg><form id=f2></form></svg><form action=/x id=f2>"),
        ("a form in a table whose id a form met before has: no input, the action untouched",
            "<math><form action=/x id=f2><table><form action=/x id=f2>"),
        ("a form after one whose id ties its input loses that id",
            "<table><form action=/x id=f2></form><form action=https://evil.example/ id=f2>"),
        ("template contents take table parts without a table: </tbody> closes the svg",
            "<template shadowrootmode=open><tbody><svg></tbody><script><meta http-equiv=refresh content=\"0;url=/x\">"),
        ("a row in template contents implies no table body: </tbody> there closes nothing",
            "<template><tr><math></tbody><form>"),
        ("template contents begun by a form are in body: a table body is dropped",
            "<template><form><tbody><math></tbody><form>"),
        ("template contents begun by svg are in body", "<template><svg></svg><tbody><math></tbody><form>"),
        ("</td> in a template table's caption is ignored: a form after it is created",
            "<template><table><caption></td><form>"),
        ("</caption> in a template table's cell is ignored", "<template><table><td></caption><form>"),
        ("</td> in a template table's th is ignored", "<template><table><th></td><form>"),
        ("</table> from svg in a template's caption closes the caption: a title after it is RCDATA",
            "<template><caption><svg><a href=/svg-a></table><title><a href=/in-title></title>"),
        ("</table> from svg in a template's cell is ignored", "<template><td><svg><a href=/svg-a></table><title><a href=/in-title></title>"),
        ("a table right in a template table closes it", "text <template shadowrootmode=open><table><table></table><form>"),
        ("</table> from svg in a template's table body pops the body: a title after it is RCDATA",
            "<template shadowrootmode=open><tbody><svg><a href=/svg-a></table><title><a href=/x>"),
        ("a submitter of a table form whose id an svg form has first",
            "<svg><form id=f1><table><form id=f1><button formaction=/x>b</button>"),
        ("</tr> closes a template table's th", "<template><table><th></tr><form>"),
        ("a cell in template contents after a row", "<template><tr><td><svg></tr><a href=/x>x</a>"),
        ("a cell in a template's table body implies a row", "<template><tbody><td><svg></tr><a href=/x>x</a>"),
        ("a form in a table whose id a form met before has keeps its relative action",
            "<form action=/x id=f2></form><table><form action=/x id=f2>"),
        ("a select opened in template contents ends with them", "<template><select></template><form>"),
        ("</select> in template contents leaves the select around them open",
            "text <select><template shadowrootmode=open></select></template><form>"),
        ("LEAK: a form in a select in a template's token form: the input closes both and joins the token form",
            "<template shadowrootmode=open><form action=/local><select><form><input type=submit formaction=https://evil.example/steal>"),
        ("the same with a same-origin formaction", "<template shadowrootmode=open><form><select><form><input type=submit formaction=/x>"),
        ("meta charset before base", "<meta charset=utf-8><base href=/app/><a href=x>x</a>"),
        ("a without href before base", "<a name=top></a><base href=/app/><a href=x>x</a>"),
        ("</form> inside svg (ignored)", "<svg></form><a href=/x>svg link</a></svg>"),
        ("</div> closes svg", "<div><svg></div><form action=/f></form>"),
        ("</a> closes math", "<a><math></a><area href=/x>"),
        ("</template> closes math", "<template><math></template><a href=x>x</a>"),
        ("end tag ignored inside an svg integration point",
            "<svg><title><my-el></title><script>x='<p><a href=/x>'</script></svg>"),
        ("frameset ignores svg", "<frameset><svg><noframes><meta><a href=x></noframes></frameset>"),
        ("frameset ignores xmp", "<i><frameset><xmp><!--</xmp><a href=x>"),
        ("href without a value", "<a href>x</a>"),
        ("http:x is relative on an http page", "<a href=\"http:x\">x</a>"),
        ("iframe src=#", "<iframe src=\"#\"></iframe>"),
        ("refresh with an empty URL", "<meta http-equiv=refresh content=\"5; URL=\">"),
        ("late base after a submitter with form=",
            "<input type=submit form=f formaction=x><base href=/b/>"),
        ("non-http base moves scheme-relative token URLs",
            "<base href=\"a:/\"><a href=\"//www.example.com/x\">x</a>"),
        ("fragment link with a same-origin base", "<base href=/other/><a href=#top>a</a>"),
        ("quote in the base path", "<base href=/it's/><form action=#></form>"),
        ("old session id behind &#x26;", "<a href=\"/num?x=&#x26;sessionid=OLD\">x</a>"),
        ("tag longer than MAX_CARRY", &huge),
        ("meta tag longer than MAX_CARRY", &huge_meta),
        ("button tag longer than MAX_CARRY", &huge_button),
        ("base tag longer than MAX_CARRY", &huge_base),
        ("LEAK: a form tag too long to read before a table form with that id", &huge_form_before),
        ("LEAK: an earlier form's id spelled with a reference the browser reads as the table form's",
            "<form id='x&#128;' action=https://evil.example/><button>go</button></form><table><form id='x\u{20ac}' action=/save></form></table>"),
        ("LEAK: an earlier form's id with CR LF, the table form's with LF",
            "<form id='x\r\n' action=https://evil.example/><button>go</button></form><table><form id='x\n' action=/save></form></table>"),
        ("LEAK: a later form's id spelled otherwise, foster-parented first",
            "<table><form id='x\u{20ac}' action=/save></form><div><form id='x&#128;' action=https://evil.example/><button>go</button></form></div></table>"),
        ("LEAK: a form with its own id in a table inside foreignObject, moved by the adoption agency",
            "<form action=https://evil.example/><div></form><svg><foreignObject><b><div><table><form id=x action=/save></form></table></b></foreignObject></svg><button>go</button>"),
        ("LEAK: </a> in foreignObject with a form after the <a>: the form stays current, no CDATA after it",
            "<svg><foreignObject><a title=\"x'y\" href='/q'><form></a><![CDATA[<p><meta name=referrer content=unsafe-url>"),
        ("the base copy keeps references the rewriter does not decode",
            "<table><td><base href='/caf&eacute;/'><a href=/abs>a</a><tr><base href=/y/>"),
        ("LEAK: a form tag too long to read after a table form whose id ties its input", &huge_form_after),
        ("LEAK: an input tag longer than MAX_CARRY joins a token form with form= and stays enabled",
            &huge_input),
        ("formatting copies and a link of the same attributes in the form",
            "<a x=1 href=/yes><form><a x=1 href=/yes>"),
        ("<select> closed by another <select>", "<select><select><form action=/f></form>"),
        ("<select> closed by a table tag", "<table><select><caption><form action=/f></form>"),
        ("form in template contents in a select",
            "<select><template><input><form action=/f></form></template></select>"),
        ("empty formaction under a foreign base", "<base href=a:><button form=f formaction=''>b</button>"),
        ("base with a query: empty and fragment URLs",
            "<base href=?n><a href=#f>f</a><a href=''>e</a><form action=#></form>"),
        ("fragment link before a base nothing written precedes", "<a href=#f>f</a><base href=/app/>"),
        ("a copy of a fragment link before the base", "<a href=#><base href=v><p><a>"),
        ("links made again after a frameset dropped the base (an allowed host's, this site's)",
            "<p><base href=https://partner.example.com/p><a href='/q'><frameset><frame src=/x></frameset></html> "),
        ("a link made again after a frameset dropped a base of another site: no token",
            "<p><base href=//evil.example/x><a href='/q'><frameset><frame src=/x></frameset></html> "),
        ("a link made again after a frameset dropped a javascript: base: no token",
            "<p><base href=javascript:alert(1)><a href=/q><frameset></frameset></html> "),
        ("a link made again after a frameset dropped a relative base",
            "<form><base href=/app/><a href=q?k=v><frameset></frameset></html>\n"),
        ("every ping, and http:x formaction", "<form><button formaction=http:x>b</button></form><a href=/x ping=/p>x</a>"),
        ("srcdoc with the page's base",
            "<base href=/b/><iframe srcdoc=\"<a href=x>x</a><form action=/f></form>\"></iframe>"),
        ("srcdoc three deep", "<iframe srcdoc=\"<iframe srcdoc='<iframe srcdoc=&quot;<a href=/x>&quot;></iframe>'></iframe>\"></iframe>"),
        ("ESC without a declared charset",
            "<p title=\"\x1b$B\"!\x1b(B x=\"><meta name=referrer content=unsafe-url>\">"),
        ("C0 controls at the ends of a URL",
            "<a href=\"x&#1;\">a</a><a href=&#23;/>b</a><a href='&#4;y &#32;'>c</a><form action=&#25;z></form>"),
        ("a # after & that starts no reference", "<a href=\"x&#i;\">a</a><a href=\"/p?a&#b\">b</a>"),
        ("&#0 without ; before a reference to a digit (the copy must not read as &#05)",
            "<a href=x&#0&#53;>x</a>"),
        // Found by this test after issue 13's rules were encoded: each sent the token (or the
        // page's URL) where it must not go, so no known limit may excuse it.
        ("LEAK: <option> in a select closes the <li> before it, so </li> leaves the math open",
            "<select><li><option><math></li><style><img src=https://evil.example/i referrerpolicy=unsafe-url>"),
        ("LEAK: <hr> and <optgroup> in a select close a <dd>, a <li> before them",
            "<select><dd><optgroup><math></dd><style><img src=https://evil.example/i referrerpolicy=unsafe-url></style></math></optgroup><li><hr><svg></li><style><img src=https://evil.example/j referrerpolicy=unsafe-url>"),
        ("LEAK: a table in a cell nests whatever is open in the cell (the cell's marker stays)",
            "<table><i><td><div><table><svg></i><style><img src=https://evil.example/i referrerpolicy=unsafe-url>"),
        ("LEAK: a frameset after <body> is dropped by the parser, not by the rewriter",
            "<body><frameset><img src=https://evil.example/i referrerpolicy=unsafe-url>"),
        ("LEAK: a frameset after the text \"<\" is dropped by the parser, not by the rewriter",
            "<<frameset><img src=https://evil.example/i referrerpolicy=unsafe-url>"),
        ("LEAK: </form> does not leave svg (the form pointer goes, the svg stays open)",
            "<form><svg></form><a href=/x>x</a><form action=/y></form>"),
        ("LEAK: </div> closed svg for the parser only: a noembed is raw text",
            "<div><svg></div><noembed><p><a href=/x></noembed>"),
        ("LEAK: </div> closed svg for the parser only: a referrer policy stays",
            "<div><svg></div><a href=https://evil.example/ referrerpolicy=unsafe-url>x</a>"),
        ("LEAK: http:HOST/x is relative under an http base of another site",
            "<base href=http://evil.example/><a href=http:www.example.com/x>x</a>"),
        ("NUL in an attribute is U+FFFD for the parser (the token must come before it)",
            "<a href=\u{0}>x</a><a href=\u{0}x>y</a>"),
        ("LEAK: ESC is written as U+FFFD after the decision: a leading ESC leaves the token URL relative",
            "<a href=\u{1b}q>x</a>"),
        ("LEAK: </td> of a td the parser never opened does not close svg",
            "<td><svg></td><a href=/x>x</a><form action=/f></form>"),
        ("LEAK: </html> does not close math", "<html><math></html><form action=/f></form>"),
        ("LEAK: </head> after the head closed does not close math",
            "<head/><math/t></head><script><img src=https://evil.example/i referrerpolicy=unsafe-url>"),
        ("LEAK: a select the parser closed at <input> lingers: its </select> closes math for the rewriter only",
            "<select><input type=submit><math></select><xmp><meta name=referrer content=unsafe-url>"),
        ("a template inside a template's table: its forms are created again",
            "<template><table><template><form action=/f></form></template></table></template>"),
        ("LEAK: </foreignObject> of an HTML foreignobject closes math for the parser only",
            "<foreignObject><math></foreignObject><form id=f1 action=/p></form><input type=submit form=f1 formaction=//evil.example/x>"),
        ("LEAK: </annotation-xml> of an HTML annotation-xml closes svg for the parser only",
            "<annotation-xml encoding=\"text/html\"><svg></annotation-xml><![CDATA[<p><img src=https://evil.example/i referrerpolicy=unsafe-url>"),
        ("LEAK: </select> closes svg for the parser only: a noscript is raw text",
            "<select><svg></select><noscript><p><a href=/x></noscript>"),
        ("<a href> without a value writes its URL: a later base is late",
            "<a href>x</a><base href=/b/><a href=y>y</a>"),
        ("LEAK: </template> closes an svg title for the parser, not for the rewriter: CDATA is a bogus comment",
            "<template><svg><title></template><![CDATA[><img src=https://evil.example/i referrerpolicy=unsafe-url>"),
        ("formaction after a neutralised http: base", "<form action=f><base href=http:><input type=image formaction=f>"),
        ("form in a table in a select", "<select><table><input type=submit><form action=/f></form>"),
        // Variants of the end-tag walk (HTML standard: foreign content "any other end tag", then
        // "in body"); each once sent the token or the page's URL where it must not go, or would.
        ("an unknown HTML element closes math from inside it",
            "<x-el><math></x-el><![CDATA[><img src=https://evil.example/i referrerpolicy=unsafe-url>"),
        ("a special element between stops the walk: </foreignObject> is ignored",
            "<foreignObject><div><math></foreignObject><style><img src=https://evil.example/i referrerpolicy=unsafe-url></style>"),
        ("</template> pops an HTML element opened in it: </div> after it closes no svg",
            "<template><div></template><svg></div><style><img src=https://evil.example/i referrerpolicy=unsafe-url></style>"),
        ("<a> in an integration point takes the outer <a> off the stack: </a> closes no svg",
            "<a href=/x><math><mi><a href=/y></a></mi></math><svg></a><style><img src=https://evil.example/i referrerpolicy=unsafe-url></style>"),
        ("a template is a scope boundary: </a> closes no svg in it",
            "<a href=/x><template><svg></a><style><img src=https://evil.example/i referrerpolicy=unsafe-url></style>"),
        ("</table> closes svg foster-parented in it",
            "<table><svg></table><![CDATA[><img src=https://evil.example/i referrerpolicy=unsafe-url>"),
        ("<table> in a table closes it: its </table> closes no svg",
            "<table><table></table><svg></table><style><img src=https://evil.example/i referrerpolicy=unsafe-url></style>"),
        ("an end tag in a select is dropped: </a> closes no math",
            "<a href=/x><select><math></a><style><img src=https://evil.example/i referrerpolicy=unsafe-url></style>"),
        ("<input> closed the select: its </select> closes no math",
            "<select><input><math></select><style><img src=https://evil.example/i referrerpolicy=unsafe-url></style>"),
        ("a textarea keeps the select open", "<select><textarea></textarea><form><button>b</button>"),
        ("a form in a cell of a table in a template is created",
            "<template><table><td><form action=/f></form></td></table></template>"),
        ("forms nest in a template: after the inner </form> the outer is the token form",
            "<template><form><form></form><button formaction=/x>b</button></form></template>"),
        ("in a template </form> pops the math opened in the form",
            "<template><form><math></b></div></form><xmp><a href=/x ping=/x></xmp></template>"),
        ("LEAK: a whitespace-only action is the base URL, not the document's",
            "<base href=https://evil.example/><form action=\" \"><input name=q></form>"),
        ("a <form> in an integration point while the form pointer is set opens nothing: </a> closes the svg",
            "<form><svg><a href=/svg-a><foreignObject><form></a><a href='/q'>"),
        ("an <input> in a table in a select leaves the select open (not in scope): a form after it gets no hidden input",
            "<select><table><input type=submit></table><form>"),
        ("</b> behind a table closes nothing (not in scope): </table> then closes the math",
            "<b><table></b><math></table><noscript><a href=/x ping=/x>"),
        ("the adoption agency with a furthest block: its last pass pops the svg after it",
            "<b><div><svg></b><noscript><a href=/x ping=/x></noscript></div>"),
        ("the adoption agency with the form as furthest block pops the svg in it",
            "<a href=/x><form><svg></a><title><a href=/in-title></title>"),
        ("</td> closes the cell past an object (table scope), and the svg in it",
            "<table><td><object><svg></td><style><img src=https://evil.example/i referrerpolicy=unsafe-url></style>"),
        ("</td> from an HTML element in an integration point closes the svg",
            "<table><td><svg><desc><div></td><style><img src=https://evil.example/i referrerpolicy=unsafe-url></style>"),
        ("<tr> from an integration point in a cell closes the cell and the svg",
            "<table><td><svg><foreignObject><tr><style><img src=https://evil.example/i referrerpolicy=unsafe-url></style>"),
        ("a table in an integration point: its <tr> clears back to that table, the svg stays",
            "<table><td><svg><foreignObject><table><tr><a href=/x>x</a>"),
        ("a cell directly in a table opens the implied tbody and tr: </tbody> from math in the cell closes it",
            "<table><area href=/c><td><math></tbody><base href=/x>"),
        ("a table that breaks out of math opens a table: its </table> closes the svg in it",
            "<math><table><svg></table><input type=submit form=f1 formaction=/x>"),
        ("</select> behind an object is ignored: the select stays open",
            "<select><object></select></object><form action=/x>"),
        ("a <p> is special: </span> from the svg in it stops there",
            "<span><p><svg></span><noscript><p><a href=/fmt>"),
        ("LEAK: </span> stops at the <p> (special): the svg stays open, the noscript is not raw text",
            "<span><p><svg></span><noscript><p><img src=https://evil.example/i referrerpolicy=unsafe-url></noscript>"),
        ("<li> closes an open li: </ol> then closes the svg",
            "<ol><li><li><svg></ol><style><img src=https://evil.example/i referrerpolicy=unsafe-url></style>"),
        ("a <div> closes the p: </span> then closes nothing but the svg in the span stays",
            "<span><p><div><svg></span><noscript><p><a href=/x>"),
        ("</li> looks in list item scope: an ol stops it",
            "<li><ol><svg></li><noscript><p><a href=/x>"),
        ("a heading is special: an end tag of an unknown element around it stops there",
            "<annotation-xml encoding=\"text/html\"><h1><svg></annotation-xml><input type=submit form=f1 formaction=/x>"),
        ("LEAK: in a template, </form> in a cell leaves the token form open (a declarative shadow root makes it live)",
            "<div><template shadowrootmode=open><form action=/f><table><td></form><button formaction=https://evil.example/>b</button></td></table></template></div>"),
        ("LEAK: </td> from svg in an integration point closes all the svg (table scope): the submitter after it is HTML",
            "<form action=/f><table><td><svg><foreignObject><svg></td><button formaction=https://evil.example/>b</button>"),
        ("LEAK: a second <a> runs the adoption agency's last pass over an HTML annotation-xml after a form: </annotation-xml> then closes nothing, math stays open",
            "<a href=/f><form><annotation-xml encoding=text/html><a href=/x><math></annotation-xml><xmp><img src=//evil.example/i referrerpolicy=unsafe-url>"),
        ("a base's default port is not written: a <frameset> drops the base (whitespace after it reconstructs the <a>), and //host:443/ on an http page is another origin",
            "<form><base href=HTTPS://WWW.EXAMPLE.COM:443/p><a href=/fmt><frameset><frame></frameset></html> "),
        ("<dd> in an integration point closes the <p> there: </p> then closes nothing, and CDATA is a bogus comment",
            "<svg><foreignObject><p><dd></p><![CDATA[<p><a href=/x>"),
        ("a <template> in the head sets frameset-ok \"not ok\", but a <frameset> right after the head is taken all the same",
            "<template></template><frameset><frame></frameset><script><!--</script><a href=/x>"),
        ("a <template> in the body after a head template: the <frameset> is ignored",
            "<template></template><div></div><template></template><frameset><a href=/x>"),
        ("<a> in a MathML integration point takes an <a> open in an svg title further out off the stack (out of scope): a later </a> from math closes nothing",
            "<svg><title><a href=/t><math><mi><a href=/m></a></mi></math><math></a><a href=/q>"),
        ("an end tag from svg/math walks the HTML elements of the integration point further out as \"in body\" does: a special one stops it",
            "<svg><foreignObject><annotation-xml encoding=text/html><p></annotation-xml><math></annotation-xml><a href=/q>"),
        ("... and an integration point between stops it",
            "<svg><foreignObject><span><math><mi><svg></span><a href=/q>"),
        ("template contents that began with a row drop a table body start (after closing the row): </table> then closes nothing",
            "<template><tr><tbody><math></table><form>"),
        ("template contents that began with a cell drop a row start (after closing the cell)",
            "<template><td><tr><math></table><form>"),
        ("<input> closes a select open in an integration point: CDATA after it is a section there",
            "<svg><title><select><input type=submit><![CDATA[<p><a href='/q'>]]>"),
        ("a reconstructed <b> holds math that </b> closes: the CDATA section after it is a bogus comment (the split is accepted)",
            "<i><b></i><math></b><![CDATA[><a href=/x>]]>"),
        ("LEAK: the adoption agency takes an ordinary element before its furthest block off the stack: its end tag from svg closes nothing",
            "<b><span><div></b></div><svg></span><xmp><img src=//evil.example/i referrerpolicy=unsafe-url>"),
        ("the adoption agency for a second <a> pops the <b> too, and the <b> made again holds math that </b> closes: <noscript> after it is raw text",
            "<a href=/x></object><b><a href=/x><math></b><noscript><img src=/i referrerpolicy=no-referrer-when-downgrade>"),
        ("</b> finds its list entry's element gone (a </p> closed it) and closes nothing: the outer <b> holds svg that the next </b> closes",
            "<b><p><b></p></b><svg></b><noscript><img src=/i referrerpolicy=unsafe-url>"),
        ("no more than three alike in the list of active formatting elements: three <b> made again, the fourth </b> closes nothing",
            "<p><b><b><b><b></p><svg></b></b></b><svg></b><style><img src=//evil.example/i referrerpolicy=unsafe-url>"),
        ("a table cell's marker hides the <b> left behind before it: nothing is made again in the cell, so </b> from svg closes nothing",
            "<p><b></p><table><td><svg></b><xmp><img src=//evil.example/i referrerpolicy=unsafe-url>"),
        ("LEAK: </form> generates implied end tags: the <li> in the form closes with it, so </li> from math closes nothing and <style> is MathML's",
            "<form><li></form><math></li><style><img src=//evil.example/i referrerpolicy=unsafe-url>"),
        ("LEAK: in template contents a <form> in a table insertion mode is dropped, also after an element foster-parented out of the table: </form> from math closes nothing (a declarative shadow root makes it live)",
            "<div><template shadowrootmode=open><table><mi><form><math></form><style><img src=//evil.example/i referrerpolicy=unsafe-url>"),
        ("LEAK: in a table insertion mode a <form> leaves the stack at once, also in an integration point of math opened in the table: </mi> then closes the mi",
            "<table><math><mi><form></mi><style><img src=//evil.example/i referrerpolicy=unsafe-url>"),
        ("... and so does a form in an element foster-parented out of the table: </mi> closes the math around it",
            "<table><mi><area href=/x><form><math></mi><base href=/x>"),
        ("... and in an svg integration point the CDATA after such a form is a section",
            "<table><svg><foreignObject><form><![CDATA[<style><a href=/in-style></style>"),
        ("</form> from svg generates no implied end tags: the <li> stays, </foreignObject> closes nothing, svg stays open",
            "<form action=/x><foreignObject><li><svg></form></foreignObject><style><meta name=referrer content=unsafe-url>text "),
        ("an svg form foster-parented out of a table comes first in tree order: the form in the table with its id ties no input, its action anchored",
            "<math><frameset><frame href=/x></frameset><table><form id=f1 action=/x><svg><form id=f1>"),
        ("template contents that began with a row drop a <form>: its action is no URL written, and a base after the template is not neutralised",
            "<template><tr><form action=/x></template><base href=/x>"),
        ("a table start tag pops a foster-parented <object> but leaves its marker: nothing is made again before the svg, so </a> closes nothing",
            "<table><a title=\"x'y\" href='/q'><object><table><svg></a><base href=#f>"),
        ("template contents in a table of an integration point begin anew: their <form> is kept and gets the hidden input",
            "<math><mi><table><template shadowrootmode=open><form>"),
        ("an svg/math form with the id comes first in tree order: the HTML form in a table with the same id ties no input",
            "<math><style><a href=/in-style></style><form id=f1><table><form id=f1 action=/x>"),
    ];
    let setup = setup();
    let mut failures = String::new();
    let mut failed = 0;
    for (name, input) in cases {
        let output = rewrite(&setup, input.as_bytes());
        let findings = check(&setup, input.as_bytes(), &output);
        if !findings.is_empty() {
            failed += 1;
            let shown: String = input.chars().take(120).collect();
            failures.push_str(&format!(
                "{name}\n  input:  {shown}\n  output: {}\n{}",
                String::from_utf8_lossy(&output)
                    .chars()
                    .take(240)
                    .collect::<String>(),
                describe(&findings, 4)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{failed} of {} hard cases differ from the oracle:\n{failures}",
        cases.len()
    );
}

/// The README's known limit of the hidden input's wrapper: in a table, with a foster-parented
/// `<ruby>` holding an open `<p>`, the `<rp>` start tag closes that `<p>` (what follows lands in
/// the ruby). Only the tree's shape differs: no finding about the token, the base or a form.
#[test]
fn the_wrappers_known_limit_changes_only_the_shape() {
    let setup = setup();
    let input = "<table><ruby><p><form action=/f>x<button formaction=//evil.example/>b</button>";
    let output = rewrite(&setup, input.as_bytes());
    let findings = check(&setup, input.as_bytes(), &output);
    assert!(!findings.is_empty(), "the limit is gone: drop it from the README and this test");
    // Where the shape differs the oracle compares no further: the submitter, by the form
    // pointer in the token form, is checked here.
    let output = String::from_utf8_lossy(&output);
    assert!(output.contains("<button disabled formaction=//evil.example/>"), "{output}");
    assert!(
        findings.iter().all(|f| f.class.starts_with("structure")),
        "{}",
        describe(&findings, 8)
    );
}

// ---------------------------------------------------------------------------------------------
// Inputs.

/// Debian's HTML manuals: (package, folder, pages taken).
const MANUALS: &[(&str, &str, usize)] = &[
    ("python3.11-doc", "/usr/share/doc/python3.11/html", 100),
    (
        "postgresql-doc-15",
        "/usr/share/doc/postgresql-doc-15/html",
        100,
    ),
    ("git-doc", "/usr/share/doc/git-doc", 100),
];

fn html_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            html_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "html") {
            out.push(path);
        }
    }
}

/// The pages, spread evenly over each manual's sorted file list, with the URL path each is
/// served at (`/PACKAGE/RELATIVE-PATH`).
fn manual_pages() -> Vec<(PathBuf, String)> {
    let mut pages = Vec::new();
    for (package, dir, take) in MANUALS {
        let mut files = Vec::new();
        html_files(Path::new(dir), &mut files);
        files.sort();
        assert!(
            files.len() >= *take,
            "Debian package {package} is missing: {} HTML pages under {dir}, {take} needed. \
             `make test-deps` installs it (apt-get install python3.11-doc postgresql-doc-15 git-doc)",
            files.len()
        );
        for i in 0..*take {
            let file = files[i * files.len() / take].clone();
            let rel = file
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            pages.push((file, format!("/{package}/{rel}")));
        }
    }
    pages
}

/// A URL as pages write them: same-site, relative, foreign, disguised.
const URLS: &[&str] = &[
    "/x",
    "x",
    "../up/x",
    "./x?a=1&amp;b=2",
    "?q=1",
    "",
    "#f",
    "/x#f",
    "//www.example.com/p",
    "http://www.example.com/abs",
    "HTTPS://WWW.EXAMPLE.COM:443/p",
    "https://partner.example.com/p",
    "//evil.example/x",
    "https://evil.example/x",
    "http://www.example.com:8080/x",
    "http://www.example.com.evil.example/",
    "javascript:alert(1)",
    "mailto:a@www.example.com",
    "&#47;x",
    "&#x2F;&#x2F;evil.example/x",
    "http&#58;//evil.example/",
    "&#104;ttp://www.example.com/c",
    " /spaced ",
    "/\\evil.example/x",
    "\\\\evil.example\\x",
    "/x?sessionid=old",
    "x?sessionid=old&amp;k=v",
    "http:x",
    "ht\ttp://evil.example/",
    "/\n/evil.example/",
    "data:text/html,x",
];

fn url() -> impl Strategy<Value = String> {
    proptest::sample::select(URLS).prop_map(str::to_owned)
}

/// ` name=value` with one of the three quotings (unquoted only where HTML allows it).
fn attribute(
    name: &'static str,
    value: impl Strategy<Value = String>,
) -> impl Strategy<Value = String> {
    (value, 0u8..3).prop_map(move |(v, q)| {
        let unquotable = !v.is_empty()
            && !v.bytes().any(|b| {
                b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'=' | b'<' | b'>' | b'`')
            });
        match q {
            0 if unquotable => format!(" {name}={v}"),
            1 if !v.contains('\'') => format!(" {name}='{v}'"),
            _ if !v.contains('"') => format!(" {name}=\"{v}\""),
            _ => format!(" {name}='{v}'"),
        }
    })
}

fn maybe(s: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop_oneof![1 => Just(String::new()), 1 => s]
}

fn refresh_content() -> impl Strategy<Value = String> {
    let delay = proptest::sample::select(vec!["0", "5", "1.5", "", "x"]);
    let sep = proptest::sample::select(vec![";", ",", " ", "; ", ";"]);
    let form =
        proptest::sample::select(vec!["url={}", "URL='{}'", "url = \"{}\"", "{}", "Url={}'"]);
    (delay, sep, form, url()).prop_map(|(d, s, f, u)| format!("{d}{s}{}", f.replace("{}", &u)))
}

fn tag_name(name: &'static str) -> impl Strategy<Value = String> {
    any::<bool>().prop_map(move |upper| {
        if upper {
            name.to_ascii_uppercase()
        } else {
            name.to_owned()
        }
    })
}

/// Start tags that carry what the rewriter decides on.
fn url_tag() -> impl Strategy<Value = String> {
    let policy = proptest::sample::select(vec![
        "unsafe-url",
        "origin",
        " Same-Origin ",
        "",
        "no-referrer-when-downgrade",
    ])
    .prop_map(str::to_owned);
    let submit_type = proptest::sample::select(vec![
        "",
        " type=submit",
        " type=button",
        " type=reset",
        " type=foo",
        " TYPE=SUBMIT",
    ]);
    let form_ref = proptest::sample::select(vec!["", " form=f1", " form=f2", " form=nowhere"]);
    prop_oneof![
        (
            tag_name("a"),
            attribute("href", url()),
            maybe(attribute("ping", url())),
            maybe(Just(" title='a>b'".to_owned()))
        )
            .prop_map(|(t, h, p, x)| format!("<{t}{x}{h}{p}>")),
        (tag_name("area"), attribute("href", url())).prop_map(|(t, h)| format!("<{t}{h}>")),
        (tag_name("iframe"), attribute("src", url()))
            .prop_map(|(t, s)| format!("<{t}{s}></iframe>")),
        (tag_name("meta"), attribute("content", refresh_content()))
            .prop_map(|(t, c)| format!("<{t} http-equiv=refresh{c}>")),
        (
            maybe(Just(" id=f1".to_owned())),
            maybe(attribute("action", url())),
            any::<bool>()
        )
            .prop_map(|(id, a, upper)| format!("<{}{id}{a}>", if upper { "FORM" } else { "form" })),
        (maybe(Just(" id=f2".to_owned())), attribute("action", url()))
            .prop_map(|(id, a)| format!("<form{a}{id}>")),
        (
            submit_type,
            form_ref.clone(),
            maybe(attribute("formaction", url()))
        )
            .prop_map(|(ty, f, a)| format!("<button{ty}{f}{a}>b</button>")),
        (
            proptest::sample::select(vec!["submit", "image", "text", "hidden"]),
            form_ref,
            maybe(attribute("formaction", url()))
        )
            .prop_map(|(ty, f, a)| format!("<input type={ty}{f}{a}>")),
        (tag_name("base"), attribute("href", url())).prop_map(|(t, h)| format!("<{t}{h}>")),
        Just("<base target=_blank>".to_owned()),
        attribute("content", policy.clone()).prop_map(|c| format!("<meta name=referrer{c}>")),
        attribute("referrerpolicy", policy).prop_map(|p| format!("<img src=/i{p}>")),
        attribute("href", url()).prop_map(|h| format!("<frameset><frame{h}></frameset>")),
    ]
}

/// Context and noise: foreign content, templates, tables, raw text, comments, broken syntax.
const FIXED: &[&str] = &[
    "text ",
    "\n",
    "<p>",
    "</p>",
    "<b>",
    "</b>",
    "<div>",
    "</div>",
    "</a>",
    "</form>",
    "<svg>",
    "</svg>",
    "<math>",
    "</math>",
    "<foreignObject>",
    "</foreignObject>",
    "<desc>",
    "</desc>",
    "<title>",
    "</title>",
    "<mi>",
    "</mi>",
    "<annotation-xml encoding=\"text/html\">",
    "<annotation-xml>",
    "</annotation-xml>",
    "<svg><a href=/svg-a>",
    "<math><mi><a href=/mi-a></a></mi></math>",
    "<template>",
    "</template>",
    "<template shadowrootmode=open>",
    "<table>",
    "</table>",
    "<tr>",
    "<td>",
    "</td>",
    "<caption>",
    "</caption>",
    "<th>",
    "<tbody>",
    "</tbody>",
    "</tr>",
    "<object>",
    "</object>",
    // Implied end tags and misnested formatting elements.
    "<li>",
    "</li>",
    "<dd>",
    "<dt>",
    "<ul>",
    "</ul>",
    "<h1>",
    "<span>",
    "</span>",
    "<i>",
    "</i>",
    "<a href=/fmt>",
    "<select>",
    "</select>",
    "<option>",
    "<noscript>",
    "</noscript>",
    "<![CDATA[",
    "]]>",
    "<![CDATA[<a href=/cdata>]]>",
    "<!--",
    "-->",
    "<!-->",
    "<!--->",
    "--!>",
    "<!---->",
    "<!-- <a href=/in-comment> -->",
    "<script>",
    "</script>",
    "<script><!--",
    "<script><!--<script>",
    "</script >",
    "<script>document.write('<a href=/js>')</script>",
    "<style>",
    "</style>",
    "<style><a href=/in-style></style>",
    "<textarea>",
    "</textarea>",
    "<title><a href=/in-title></title>",
    "<xmp>",
    "</xmp>",
    "<noembed>",
    "</noembed>",
    "<noframes>",
    "</noframes>",
    "<plaintext>",
    "<iframe><a href=/in-iframe></iframe>",
    "<a title=\"x'y\" href='/q'>",
    "<a data-x=\"<a href=/no>\" href=/yes>",
    "<a title='a>b' href=\"/z\">",
    "<html>",
    "<head>",
    "</head>",
    "<body>",
    "</body>",
    "</html>",
    "<!DOCTYPE html>",
    "<?php x ?>",
    "<",
    ">",
    "</",
    "<!",
    "\"",
    "'",
    "=",
    " ",
    "&amp;",
    "<a",
    " href=/split>",
];

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(FIXED).prop_map(str::to_owned),
        2 => url_tag(),
    ]
}

fn page() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(fragment(), 0..40).prop_map(|parts| parts.concat().into_bytes())
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn corpus_matches_the_oracle() {
    let setup = setup();
    let mut failures = String::new();
    for page in cookieless_testkit::corpus() {
        let input = std::fs::read(&page).unwrap();
        let findings = check_rewrite(&setup, &input);
        if !findings.is_empty() {
            failures.push_str(&format!("{}:\n{}", page.display(), describe(&findings, 8)));
        }
    }
    assert!(
        failures.is_empty(),
        "the rewriter's output differs from the oracle's:\n{failures}"
    );
}

const CHUNKS: &[usize] = &[1, 7, 4096, MAX_CARRY + 1];

#[test]
fn debian_manual_pages_match_the_oracle() {
    let pages = manual_pages();
    let mut failures = Vec::new();
    let mut by_class: BTreeMap<String, usize> = BTreeMap::new();
    for (file, path) in &pages {
        let input = std::fs::read(file).unwrap();
        let setup = Setup::new("docs.example", &[], path);
        let whole = rewrite(&setup, &input);
        for &size in CHUNKS {
            if rewrite_chunked(&setup, &input, size) != whole {
                failures.push(format!(
                    "{}: {size}-byte chunks differ from one shot\n",
                    file.display()
                ));
            }
        }
        let findings = check(&setup, &input, &whole);
        for f in &findings {
            *by_class.entry(f.class.clone()).or_default() += 1;
        }
        if !findings.is_empty() {
            failures.push(format!(
                "{} (as {path}):\n{}",
                file.display(),
                describe(&findings, 4)
            ));
        }
    }
    let summary: String = by_class
        .iter()
        .map(|(c, n)| format!("  {n:6} × {c}\n"))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} manual pages differ from the oracle; by class:\n{summary}first pages:\n{}",
        failures.len(),
        pages.len(),
        failures.iter().take(12).cloned().collect::<String>()
    );
}

/// The same pages every run unless `PROPTEST_RNG_SEED` names other ones: random seeds still find
/// classes of difference now and then (the README's known limits in the safe direction, such as
/// an implicitly closed `<p>` the end-tag walk does not follow), and `make test` must not fail by
/// chance. Campaigns: `PROPTEST_RNG_SEED=$RANDOM PROPTEST_CASES=25000 cargo test --test
/// rewrite_differential generated`, and `make fuzz` (the `differential` target).
fn generated_config() -> ProptestConfig {
    let default = ProptestConfig::default();
    let rng_seed = match std::env::var_os("PROPTEST_RNG_SEED") {
        Some(_) => default.rng_seed,
        None => proptest::test_runner::RngSeed::Fixed(13),
    };
    ProptestConfig {
        // `PROPTEST_CASES` raises the count (the explicit 1000 would otherwise win over it).
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000),
        rng_seed,
        ..default
    }
}

proptest! {
    #![proptest_config(generated_config())]

    #[test]
    fn generated_pages_match_the_oracle(input in page(), size in 1usize..40) {
        let setup = setup();
        let whole = rewrite(&setup, &input);
        prop_assert_eq!(&rewrite_chunked(&setup, &input, size), &whole, "chunked != one shot");
        let findings = check(&setup, &input, &whole);
        prop_assert!(
            findings.is_empty(),
            "input: {}\noutput: {}\n{}",
            String::from_utf8_lossy(&input),
            String::from_utf8_lossy(&whole),
            describe(&findings, 8)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The census: every class of difference, with a minimal input each (for the report, not a gate).

fn has_class(setup: &Setup, input: &[u8], class: &str) -> bool {
    setup.usable(input)
        && !avoided(input)
        && check_rewrite(setup, input).iter().any(|f| f.class == class)
}

/// `CENSUS_AVOID=a,b`: inputs holding one of these strings are left out of the census (to see
/// the causes a frequent one hides; `http:` alone also matches `http:x` but not `http://`).
fn avoided(input: &[u8]) -> bool {
    let Ok(list) = std::env::var("CENSUS_AVOID") else {
        return false;
    };
    let text = String::from_utf8_lossy(input).to_ascii_lowercase();
    list.split(',').filter(|s| !s.is_empty()).any(|s| {
        text.match_indices(&s.to_ascii_lowercase())
            .any(|(i, m)| !(m.ends_with(':') && text[i + m.len()..].starts_with("//")))
    })
}

/// Drops bytes while the class persists (ddmin-style, chunks halving down to one byte).
fn minimise(setup: &Setup, input: &[u8], class: &str) -> Vec<u8> {
    let mut cur = input.to_vec();
    let mut chunk = cur.len().max(1) / 2;
    while chunk >= 1 {
        let mut i = 0;
        while i < cur.len() {
            let mut next = cur[..i].to_vec();
            next.extend_from_slice(&cur[(i + chunk).min(cur.len())..]);
            if has_class(setup, &next, class) {
                cur = next;
            } else {
                i += chunk;
            }
        }
        chunk /= 2;
    }
    cur
}

#[test]
#[ignore = "prints the classes of difference; run with --ignored --nocapture"]
fn census() {
    let cases: usize = std::env::var("CENSUS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let setup = setup();
    let mut classes: BTreeMap<String, (usize, Vec<u8>, String)> = BTreeMap::new();
    // Acceptance (known limit, rule, open case) -> pages that needed it, and the smallest one.
    let mut accepted: BTreeMap<&str, (usize, Vec<u8>)> = BTreeMap::new();
    let mut runner = TestRunner::deterministic();
    let strategy = page();
    for _ in 0..cases {
        let tree = strategy.new_tree(&mut runner).unwrap();
        let input = tree.current();
        if avoided(&input) {
            continue;
        }
        let verdict = judge_output(&setup, &input, &rewrite(&setup, &input));
        for why in verdict.accepted {
            let entry = accepted.entry(why).or_insert_with(|| (0, input.clone()));
            entry.0 += 1;
            if input.len() < entry.1.len() {
                entry.1 = input.clone();
            }
        }
        for f in verdict.findings {
            let entry = classes
                .entry(f.class.clone())
                .or_insert_with(|| (0, input.clone(), f.detail.clone()));
            entry.0 += 1;
            if input.len() < entry.1.len() {
                entry.1 = input.clone();
                entry.2 = f.detail.clone();
            }
        }
    }
    println!("== generated pages: {cases}");
    for (class, (n, input, _)) in &classes {
        let small = minimise(&setup, input, class);
        let out = rewrite(&setup, &small);
        let detail = check_rewrite(&setup, &small)
            .into_iter()
            .find(|f| &f.class == class)
            .map(|f| f.detail)
            .unwrap_or_default();
        println!(
            "[{class}] {n} times\n    input:  {:?}\n    output: {:?}\n    {detail}",
            String::from_utf8_lossy(&small),
            String::from_utf8_lossy(&out)
        );
    }
    println!("== acceptances (pages that needed each, of {cases})");
    for why in LIMITS {
        match accepted.get(why) {
            Some((n, input)) => println!(
                "[{why}] {n} pages; smallest: {:?}",
                String::from_utf8_lossy(input)
            ),
            None => println!("[{why}] 0 pages"),
        }
    }
    println!("== corpus");
    for page in cookieless_testkit::corpus() {
        let input = std::fs::read(&page).unwrap();
        let verdict = judge_output(&setup, &input, &rewrite(&setup, &input));
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        for f in verdict.findings {
            println!("{name}: {f}");
        }
        for why in verdict.accepted {
            println!("{name}: accepted [{why}]");
        }
    }
    println!("== manuals");
    let mut manual: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (file, path) in manual_pages() {
        let input = std::fs::read(&file).unwrap();
        let setup = Setup::new("docs.example", &[], &path);
        for f in check_rewrite(&setup, &input) {
            let e = manual
                .entry(f.class.clone())
                .or_insert_with(|| (0, format!("{}: {}", file.display(), f.detail)));
            e.0 += 1;
        }
    }
    for (class, (n, first)) in manual {
        println!("[{class}] {n} times; first: {first}");
    }
}

/// `DIFFERENTIAL_FILE=page.html [DIFFERENTIAL_CLASS='...'] cargo test --test rewrite_differential
/// -- --ignored --nocapture one_file`: the findings for one page (as the corpus is served), and
/// the smallest part of it that still shows the class.
#[test]
#[ignore = "a tool: judges DIFFERENTIAL_FILE"]
fn one_file() {
    let file = std::env::var("DIFFERENTIAL_FILE").expect("DIFFERENTIAL_FILE");
    let input = std::fs::read(&file).unwrap();
    let setup = setup();
    let findings = check_rewrite(&setup, &input);
    println!("{}", describe(&findings, 1000));
    if std::env::var_os("DIFFERENTIAL_TREE").is_some() {
        let output = rewrite(&setup, &input);
        println!(
            "input tree:\n{}\noutput tree:\n{}",
            dump(&input),
            dump(&output)
        );
    }
    if let Ok(class) = std::env::var("DIFFERENTIAL_CLASS") {
        let small = minimise(&setup, &input, &class);
        println!(
            "minimal input:  {:?}\nits output:     {:?}",
            String::from_utf8_lossy(&small),
            String::from_utf8_lossy(&rewrite(&setup, &small))
        );
    }
}
