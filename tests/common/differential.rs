//! The differential oracle (issue 13): the rewriter judged by a spec-compliant HTML parser.
//!
//! html5ever (scripting on, so `<noscript>` content is raw text) parses the page before and after
//! the rewriter. From the tree of the INPUT (document and template contents) the oracle derives
//! what the rewriter's rules demand (/work/conventions.md as amended by README.md, "The token
//! never leaves its origin"); the tree of the OUTPUT must then show exactly that and nothing else:
//!
//! - (a) the token: every HTML `a`/`area` `href`, `iframe`/`frame` non-empty `src` and
//!   `meta http-equiv=refresh` URL that resolves (WHATWG URL, `url` crate) to http(s) on the host
//!   or an allowed host carries `param=token` in its query. "Resolves" is asked for a page served
//!   over http AND over https: the rewriter does not know the page's scheme, so `http:x` (relative
//!   on an http page, `http://x/` on an https one) is foreign. Every form the parser created whose
//!   action is same-origin owns exactly one inserted `<input type=hidden name=param value=token>`
//!   (owner as the browser computes it: its `form=` id, else the parser's form pointer, else the
//!   nearest ancestor form), each in its own wrapper `<rp hidden>` (inside it, at most the
//!   chain of formatting elements the parser copies around the input: copies of elements of the
//!   page made before the wrapper), except a form inside an open `<select>` (the input would close the
//!   select), which gets none. Nothing else holds the token.
//! - (b) the base: the output's document base (the first HTML `<base href>` in tree order outside
//!   templates) is the one the rewriter resolved against: the input's first base, or the document
//!   URL when that base was neutralised (`href=""` first), which it must be exactly when a URL was
//!   WRITTEN before it (a token link, an anchored form action or formaction; a tag that wrote
//!   nothing does not make the base late). A base foster-parented out of a table comes first in
//!   tree order after bases met inside it: neutralised, it gets the `href` of the base the rewriter
//!   had (`decide_base`). Every token URL resolves against the output's base to the input's target
//!   plus the token, and is base-proof (resolves to the same place against any other base).
//! - (c) nothing else changes: the output tree equals the input tree node by node once the
//!   inserted hidden inputs' wrappers are removed, except the documented edits: token-bearing values, the
//!   base-proof form `action`/`formaction`, `id="FORM_ID-N"` inserted into a token form without an
//!   id (N = 1, 2, ... in document order of such forms; none in template contents), the
//!   neutralised first duplicates (`referrerpolicy` on `a`, `area`, `img`, `iframe`, `link`,
//!   `script` and `content` of `<meta name=referrer>` / `http-equiv=referrer-policy` become
//!   `same-origin` unless safe or empty; `ping=""` before every ping), `disabled` on submitters
//!   whose formaction is not same-origin (in a token form or with `form=`), `href=""` on a
//!   neutralised base, and an iframe's `srcdoc`, a document of its own that is judged the same
//!   way (with this document's base). Values are compared as the parser decodes them (the
//!   rewriter spells references in rewritten values anew). Where the header names no charset
//!   (`Setup::charset_declared`), every ESC byte becomes U+FFFD (README, "Encodings").
//!
//! Where the rules leave a case open, the oracle takes the browser's view and allows both: a link
//! to a fragment of the document itself may stay without the token (it sends no request); a
//! submitter inside template contents may be disabled or anchored; one whose formaction is no URL
//! may be disabled. The rewriter's deliberate safe-direction choices are accepted as such: URLs
//! written `http:x`/`https:x` are foreign to it (no token, submitters disabled) even where a base
//! with a scheme makes them same-origin, and a form in a select gets no hidden input.
//!
//! The rewriter's known limits (README, "Known limits") are accepted each by its own predicate,
//! and only for what the limit says (see `LIMITS`); `Verdict::accepted` names the ones a page
//! needed. No limit ever accepts a token sent elsewhere, a token in text, comments, a non-form
//! element or a foreign form, or a token URL that is not base-proof.
//!
//! Form owners are the parser's associations (form pointer, `form=`, ancestors); the owner reset
//! a browser does when the adoption agency later moves a form-associated element into another
//! form is not modelled, so leaks of that kind are for the browser test (`formptr-table-id-*`).
//!
//! Where html5ever 0.40 does not build what the standard (and Chromium 156) builds, the oracle
//! feeds it what makes it do so (`Watch::as_the_standard`, each case checked against Chromium's
//! DOM in `the_oracle_builds_chromiums_tree_around_integration_points`): around svg/math, its
//! breakout stops do not include an HTML `annotation-xml`, its scopes lack `annotation-xml`
//! (whatever its encoding), and its "any other end tag" walk and `</select>` pass the svg/math
//! special elements.
//!
//! Source order (for "came before the base") is the order in which the parser created elements,
//! recorded by a sink that wraps markup5ever_rcdom's and also records the parser's form
//! associations; a token sink around the tree builder notes where an HTML end tag closed
//! svg/math. The placeholder (rule 4) is off here: `Setup::options` leaves it empty.
//!
//! Shared by tests/rewrite_differential.rs and fuzz/fuzz_targets/differential.rs.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cookieless::rewrite::{RewriteOptions, Rewriter, ESC, MAX_CARRY};
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use html5ever::tree_builder::{
    ElementFlags, NodeOrText, QuirksMode, Tracer, TreeBuilder, TreeBuilderOpts, TreeSink,
};
use html5ever::{Attribute, ExpandedName, QualName, TokenizerResult};
use markup5ever_rcdom::{Handle, Node, NodeData, RcDom};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::rc::Rc;
use url::Url;

const HTML_NS: &str = "http://www.w3.org/1999/xhtml";

/// A base no page here uses: a base-proof URL resolves to the same place against it.
const OTHER_BASE: &str = "https://other-base.example/deep/er/page?q#f";

/// Referrer policies that send no more than the origin elsewhere; an empty one is no policy (the
/// document's, which the filter's Referrer-Policy header sets).
const SAFE_REFERRER: &[&str] = &[
    "no-referrer",
    "never",
    "origin",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
    "origin-when-cross-origin",
    "origin-when-crossorigin",
    "",
];

/// The elements whose `referrerpolicy` the browser uses (the rewriter neutralises it there only).
const REFERRER_ELEMENTS: &[&str] = &["a", "area", "img", "iframe", "link", "script"];

/// `srcdoc` documents are rewritten this deep (those of the page's own iframes are depth 1);
/// iframes in a document this deep are emptied (`srcdoc=""` first).
const MAX_SRCDOC_DEPTH: u8 = 2;

/// The formatting elements the parser reconstructs (HTML, "list of active formatting elements").
const FORMATTING: &[&str] = &[
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
];

// ---------------------------------------------------------------------------------------------
// What the oracle accepts besides the rules: the README's known limits, each by its own narrow
// predicate, and the safe-direction choices it takes as rules. Each is recorded in
// `Verdict::accepted` when a page needed it (the census counts them).

/// README: "a tag longer than 8 KiB passes through unread (its attributes cannot be checked, so the
/// parts that could send the page's URL away are overridden right after its name ...; an
/// unreadable first `<base>` makes relative links get no token)". Accepted: an element whose start
/// tag may have been that long (judged from the tree, generously) without its token, its form's
/// hidden input, with those overrides; an unreadable first base not neutralised, relative URLs
/// after it without the token (submitters disabled), token URLs before it resolved against the
/// document URL. Never: a token where it must not be, an unneutralised ping or referrer policy, an
/// enabled submitter to another site.
pub const LIMIT_LONG_TAG: &str = "limit: tag longer than MAX_CARRY passes unread";
/// README: "where an end tag closes foreign content for the parser only, links and forms after
/// it may lack the token" (the open HTML elements are tracked as far as the end-tag walk needs
/// them, not as the whole tree builder keeps them). Accepted, for elements created after the first such end tag:
/// the token missing (links without it, forms without the hidden input). Nothing else: text,
/// referrer policies, the base are judged as everywhere.
pub const LIMIT_FOREIGN_CLOSED: &str = "limit: HTML end tag closed svg/math (token missing)";
/// README: "a form in a table inside a `<template>` (ignored by the parser) may leave a hidden
/// input that belongs to no form of the template contents". Accepted: in template contents, a
/// hidden input without `form=` that is not its form's first child (so the `<form>` it followed
/// was ignored), owned by no form or, as a second one, by the enclosing token form. Never one
/// owned by a form that must not get the token.
pub const LIMIT_TEMPLATE_TABLE: &str = "limit: hidden input of a form ignored in a template table";
/// README: "`<iframe src=\"#…\">`, a refresh to an empty URL, ... get no token". Accepted: the
/// token missing on an iframe/frame `src` that is empty after trimming or a fragment of the
/// document itself, and on a refresh whose URL is empty.
pub const LIMIT_EMPTY_TARGET: &str = "limit: iframe src=# / refresh to an empty URL";
/// README: "a fragment link (`#x`) before a first `<base>` that nothing written precedes get[s] no
/// token" (rule 1: it wrote nothing, so the base stays and makes it leave the document).
/// Accepted: the token missing on a fragment-only link created before that base, or copied by the
/// parser (a formatting element reconstructed) from one that was.
pub const LIMIT_FRAGMENT_BEFORE_BASE: &str = "limit: fragment link before the base";
/// README: "a `<frameset>` that replaces a body holding a `<base>` drops that base, and whitespace
/// after `</html>` makes the `<a>` elements left open in the dropped body again, as children of
/// the root: their URLs were written against the dropped base". Accepted: a token URL of an
/// element the parser made after the frameset (not a frame), pointing where the dropped base (the
/// document's first base) sent it, on this site or an allowed host; or no token on one that this
/// base sent to another site (or nowhere). Chromium 156 builds the same tree
/// (`<base href=…><a href=/x><frameset>…</frameset></html> ` keeps `<a>` under `<html>`) and
/// renders nothing of a frameset document but its frames.
pub const LIMIT_FRAMESET_DROPPED_BASE: &str = "limit: link made again after a frameset dropped the base";
/// README: "an empty or fragment-only URL under a `<base>` with a query is written without that
/// query". Accepted: such a token URL pointing at the base URL without its query (same origin;
/// still judged base-proof).
pub const LIMIT_BASE_QUERY: &str = "limit: base query dropped from empty/fragment URLs";
/// README: "neither do forms after a `<select>` that the parser closed by other means (another
/// `<select>`, a table tag) than `</select>`, `<input>`". Accepted: a form whose
/// tag came while a select was open for the rewriter (`<select>` up to one of those), outside any
/// select in the tree, without the hidden input.
pub const LIMIT_SELECT_CLOSED: &str = "limit: select closed by the parser, open for the rewriter";
/// README: "under a first `<base>` of another site a submit button with an empty `formaction` is
/// disabled". Accepted: `disabled` on such a button (its empty formaction is the document's URL).
pub const LIMIT_EMPTY_FORMACTION: &str = "limit: empty formaction disabled under a foreign base";
/// README: "C0 controls at the end of a URL, or written as character references at its start
/// (the URL parser drops both), stay inside the rewritten URL". Accepted, for a URL that starts or
/// ends with one: a token URL or an anchored action that points at the target once
/// percent-encoded C0 controls are taken out of both, or that does not parse at all (the control
/// went into the authority: a link to nowhere). Token URLs are still judged base-proof.
pub const LIMIT_C0_AT_THE_ENDS: &str = "limit: C0 controls at a URL's ends stay in it";
/// README: "in a page that is not UTF-8, non-ASCII characters of a `<base>` path are written into
/// rewritten URLs percent-encoded byte by byte". Accepted, in a page the oracle did not decode as
/// UTF-8 and under a base element: a token URL that points at the target once percent-escapes of
/// non-ASCII bytes are taken out of both (same origin; still judged base-proof).
pub const LIMIT_NON_UTF8_BASE: &str = "limit: non-ASCII base path of a non-UTF-8 page";
/// README: "a `#` right after `&` that starts no character reference (`&#x;`) is taken for one:
/// the token goes into the fragment". Accepted: a token URL whose fragment, begun by such a `#`,
/// holds the token (no request carries it; it stays in this page).
pub const LIMIT_AMP_HASH: &str = "limit: token in the fragment after a bare &#";
/// Rule 6, README: "`http:x` and `https:x` (a scheme without `//`: relative on a page of that
/// scheme, another host on the other) count as other sites". Required where they are another
/// host on an http or an https page; accepted where a base with a scheme makes them same-origin
/// either way, and for relative URLs under a first `<base href="http:x">`: no token, submitter
/// disabled, form without the hidden input.
pub const RULE_SCHEME_ONLY: &str = "rule: http:x / https:x treated as foreign";
/// Rule 4, README: "a form inside an open `<select>` gets no hidden input (it would close the
/// select)". Accepted: a form inside a select (also across template contents) without the hidden
/// input. One that gets it is judged as any token form: an input that closes the select shows as
/// a structure change.
pub const RULE_SELECT: &str = "rule: form in an open select gets no hidden input";
/// README: "a `</form>` may leave its form open (the parser ignores it when a select, a table
/// cell, an object or an integration point stands between), so after a token form's end tag,
/// submitters are guarded as in a token form". Accepted: such a submitter (no `form=`, after a
/// token form of the document) anchored or disabled although the form it ends up in, if any, has
/// no token. One that does end up in a token form is judged as any in it.
pub const RULE_AFTER_TOKEN_FORM: &str = "rule: submitters after a token form's end tag guarded";
/// README: "in a table, a form with an id of its own ties its input with `form=` to that id, which
/// must then name it alone: a form in a table whose id another form met earlier has gets no hidden
/// input, and forms met after one whose id ties an input have theirs neutralised". Accepted: a
/// token form whose id is empty or shared with another element of the document without the hidden
/// input, an input whose `form=` names an id several elements have belonging to no form, and
/// `id=""` put first on a form whose id an earlier element of the document has. (An input that
/// does land in a form is judged as always: by the owner the browser gives it.)
pub const RULE_FORM_ID_SHARED: &str = "rule: form id shared with another form";
/// README ("What the rewriter models"): a CDATA section it reads ends and begins again after each
/// `<` of its text. Where the parser reads no section there (the model believed in svg/math that
/// the parser had left: a divergence the split makes safe, as every `<` of the text is then
/// followed by `]`), its bogus comment and what follows change shape: accepted when the output
/// with the splits undone is judged right, and the changes are of shape only.
pub const RULE_CDATA_SPLIT: &str = "rule: CDATA split where the parser reads no CDATA";
/// What the rewriter writes after each `<` of a CDATA section's text.
const CDATA_SPLIT: &str = "<]]><![CDATA[";
/// The browser's view where the rules leave a case open (counted, not limits).
pub const OPEN_SAME_DOCUMENT: &str = "open: link to a fragment of the document itself";
pub const OPEN_TEMPLATE_SUBMITTER: &str = "open: submitter in template contents";
pub const OPEN_NOT_A_URL: &str = "open: formaction that is no URL";
pub const OPEN_LOOSE_META: &str = "open: meta name with spaces around referrer";
pub const OPEN_FOREIGN_OVERRIDES: &str = "open: page-URL overrides on svg/math elements";

/// Every acceptance, for reports.
pub const LIMITS: &[&str] = &[
    LIMIT_LONG_TAG,
    LIMIT_FOREIGN_CLOSED,
    LIMIT_TEMPLATE_TABLE,
    LIMIT_EMPTY_TARGET,
    LIMIT_FRAGMENT_BEFORE_BASE,
    LIMIT_FRAMESET_DROPPED_BASE,
    LIMIT_BASE_QUERY,
    LIMIT_SELECT_CLOSED,
    LIMIT_EMPTY_FORMACTION,
    LIMIT_C0_AT_THE_ENDS,
    LIMIT_AMP_HASH,
    LIMIT_NON_UTF8_BASE,
    RULE_SCHEME_ONLY,
    RULE_SELECT,
    RULE_AFTER_TOKEN_FORM,
    RULE_FORM_ID_SHARED,
    RULE_CDATA_SPLIT,
    OPEN_SAME_DOCUMENT,
    OPEN_TEMPLATE_SUBMITTER,
    OPEN_NOT_A_URL,
    OPEN_LOOSE_META,
    OPEN_FOREIGN_OVERRIDES,
];

/// The response being rewritten: served at `http://HOST/PATH`.
#[derive(Debug, Clone)]
pub struct Setup {
    pub host: String,
    pub allowed_hosts: Vec<String>,
    pub path: String,
    pub param: String,
    pub token: String,
    pub form_id: String,
    /// The response's `Content-Type` names a charset (else the rewriter writes ESC as U+FFFD).
    pub charset_declared: bool,
}

impl Setup {
    pub fn new(host: &str, allowed_hosts: &[&str], path: &str) -> Setup {
        Setup {
            host: host.to_owned(),
            allowed_hosts: allowed_hosts.iter().map(|h| (*h).to_owned()).collect(),
            path: path.to_owned(),
            param: "sessionid".to_owned(),
            // Distinct from anything a page, the generator or the corpus holds.
            token: "dIfF7tOkEn9Q".to_owned(),
            form_id: "cl-0123456789abcdef".to_owned(),
            charset_declared: false,
        }
    }

    /// Links and forms on, placeholder off.
    pub fn options(&self) -> RewriteOptions {
        RewriteOptions {
            param: self.param.clone(),
            token: self.token.clone(),
            links: true,
            forms: true,
            placeholder: String::new(),
            host: self.host.clone(),
            path: self.path.clone(),
            allowed_hosts: self.allowed_hosts.clone(),
            form_id: self.form_id.clone(),
        }
    }

    /// The document URL, for a page served over http or (`https`) over https.
    pub fn document_url_as(&self, https: bool) -> Url {
        let scheme = if https { "https" } else { "http" };
        Url::parse(&format!("{scheme}://{}{}", self.host, self.path)).expect("document URL")
    }

    pub fn document_url(&self) -> Url {
        self.document_url_as(false)
    }

    /// http(s) on the host or an allowed host (host[:port], the port defaulted from the scheme).
    pub fn same_origin(&self, url: &Url) -> bool {
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return false;
        };
        let default = if url.scheme() == "https" { 443 } else { 80 };
        std::iter::once(&self.host)
            .chain(&self.allowed_hosts)
            .any(|ours| {
                let (name, p) = match ours.rsplit_once(':') {
                    Some((n, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => {
                        (n, p.parse::<u16>().ok())
                    }
                    _ => (ours.as_str(), None),
                };
                name.eq_ignore_ascii_case(host) && p.unwrap_or(default) == port
            })
    }

    /// The oracle needs the token and the form id to be new: an input that already holds them
    /// cannot be judged.
    pub fn usable(&self, input: &[u8]) -> bool {
        !contains(input, self.token.as_bytes()) && !contains(input, self.form_id.as_bytes())
    }
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

pub fn rewrite(setup: &Setup, input: &[u8]) -> Vec<u8> {
    let mut r = Rewriter::new(setup.options()).charset_declared(setup.charset_declared);
    let mut out = Vec::new();
    r.write(input, &mut out);
    r.end(&mut out);
    out
}

pub fn rewrite_chunked(setup: &Setup, input: &[u8], size: usize) -> Vec<u8> {
    let mut r = Rewriter::new(setup.options()).charset_declared(setup.charset_declared);
    let mut out = Vec::new();
    for chunk in input.chunks(size.max(1)) {
        r.write(chunk, &mut out);
    }
    r.end(&mut out);
    out
}

/// One difference between what the rewriter wrote and what the rules demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What kind of difference (stable across inputs: group by it).
    pub class: String,
    /// Where (path in the input tree) and what (expected vs got).
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.class, self.detail)
    }
}

/// The oracle's judgement of one output: its findings, and the known limits and open cases it
/// had to accept (members of `LIMITS`).
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub findings: Vec<Finding>,
    pub accepted: BTreeSet<&'static str>,
}

/// Findings as one readable block (the first `max`).
pub fn describe(findings: &[Finding], max: usize) -> String {
    let mut s = String::new();
    for f in findings.iter().take(max) {
        s.push_str(&format!("  - {f}\n"));
    }
    if findings.len() > max {
        s.push_str(&format!("  ... and {} more\n", findings.len() - max));
    }
    s
}

/// Rewrites `input` in one piece and judges the output.
pub fn check_rewrite(setup: &Setup, input: &[u8]) -> Vec<Finding> {
    check(setup, input, &rewrite(setup, input))
}

/// Judges `output` as the rewriter's output for `input`.
pub fn check(setup: &Setup, input: &[u8], output: &[u8]) -> Vec<Finding> {
    judge(setup, input, output).findings
}

/// Judges `output` as the rewriter's output for `input`, with the acceptances it needed.
pub fn judge(setup: &Setup, input: &[u8], output: &[u8]) -> Verdict {
    let single = |class: &str, detail: String| Verdict {
        findings: vec![Finding {
            class: class.to_owned(),
            detail,
        }],
        accepted: BTreeSet::new(),
    };
    if !setup.usable(input) {
        return single("oracle: input already holds the token", String::new());
    }
    // A UTF-16 byte-order mark overrides any charset: the bytes are not this HTML, so nothing may
    // change (rule 7).
    if input.starts_with(&[0xFF, 0xFE]) || input.starts_with(&[0xFE, 0xFF]) {
        if input == output {
            return Verdict::default();
        }
        return single(
            "UTF-16 body changed",
            format!("{} bytes in, {} out", input.len(), output.len()),
        );
    }
    // README, "Encodings": where the header names no charset, ESC is written as U+FFFD (so that
    // no stateful decoding reads the markup otherwise): the page to compare with has it so.
    let esc_free;
    let input = if setup.charset_declared || !input.contains(&ESC) {
        input
    } else {
        esc_free = input
            .iter()
            .flat_map(|&b| {
                if b == ESC {
                    "\u{fffd}".as_bytes().to_vec()
                } else {
                    vec![b]
                }
            })
            .collect::<Vec<u8>>();
        &esc_free
    };
    // Same decoding on both sides: UTF-8 when the input is UTF-8, else one char per byte (the
    // rewriter inserts ASCII only, so the structure is what a browser sees in any ASCII-compatible
    // charset).
    let utf8 = std::str::from_utf8(input).is_ok();
    let before = parse(&decode(input, utf8));
    let after = parse(&decode(output, utf8));
    let page = (setup.document_url_as(false), setup.document_url_as(true));
    let mut oracle = Oracle::new(setup, &before, &after, page, 0);
    oracle.utf8 = utf8;
    oracle.run();
    let verdict = Verdict {
        findings: oracle.findings,
        accepted: oracle.accepted,
    };
    cdata_split_accepted(setup, input, output, &verdict).unwrap_or(verdict)
}

/// `RULE_CDATA_SPLIT`: the verdict on the output with the splits undone, when the input has no
/// text of that shape itself and the only findings are of shape (a bogus comment, the text and
/// tags after it).
fn cdata_split_accepted(setup: &Setup, input: &[u8], output: &[u8], verdict: &Verdict) -> Option<Verdict> {
    let shape_only = |f: &Finding| {
        f.class.starts_with("structure") || f.class == "comment changed" || f.class == "text changed"
    };
    let split = CDATA_SPLIT.as_bytes();
    if verdict.findings.is_empty()
        || !verdict.findings.iter().all(shape_only)
        || contains(input, split)
        || !contains(output, split)
    {
        return None;
    }
    let mut undone = Vec::with_capacity(output.len());
    let mut rest = output;
    while let Some(at) = rest.windows(split.len()).position(|w| w == split) {
        undone.extend_from_slice(&rest[..=at]);
        rest = &rest[at + split.len()..];
    }
    undone.extend_from_slice(rest);
    let mut unsplit = judge(setup, input, &undone);
    if !unsplit.findings.is_empty() {
        return None;
    }
    unsplit.accepted.insert(RULE_CDATA_SPLIT);
    Some(unsplit)
}

fn decode(bytes: &[u8], utf8: bool) -> String {
    let s: String = if utf8 {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    };
    match s.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => s,
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing: markup5ever_rcdom's tree, plus creation order, the parser's form associations, and
// where an HTML end tag closed foreign content.

pub struct Parsed {
    pub document: Handle,
    /// Element -> the order in which the parser created it (source order of its start tag).
    order: HashMap<*const Node, usize>,
    /// Form-associated element -> the form the parser's form element pointer gave it.
    assoc: HashMap<*const Node, Handle>,
    /// The number of elements created when an end tag other than `</svg>`, `</math>`, `</p>`,
    /// `</br>`, `</template>` first took the parser out of svg/math (`<div><svg></div>`), or
    /// closed svg/math by the HTML rules of an integration point further out.
    foreign_closed_at: Option<usize>,
    /// The creation orders of elements made by a `<form>` tag that came while a select was open
    /// for the rewriter (from `<select>` to `</select>` or `<input>`).
    rewriter_select_forms: HashSet<usize>,
    /// Keeps every created element alive, so that the pointers above stay unique.
    _created: Vec<Handle>,
}

pub fn parse(text: &str) -> Parsed {
    let opts = TreeBuilderOpts {
        scripting_enabled: true,
        ..TreeBuilderOpts::default()
    };
    let watch = Watch {
        builder: TreeBuilder::new(Recorder::default(), opts),
        foreign_closed_at: Cell::new(None),
        rewriter_select: Cell::new(false),
        select_around_templates: RefCell::new(Vec::new()),
        select_forms: RefCell::new(HashSet::new()),
    };
    let tokenizer = Tokenizer::new(watch, TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(text));
    while !matches!(tokenizer.feed(&input), TokenizerResult::Done) {}
    tokenizer.end();
    let Watch {
        builder,
        foreign_closed_at,
        select_forms,
        ..
    } = tokenizer.sink;
    let mut parsed = builder.sink.finish();
    parsed.foreign_closed_at = foreign_closed_at.get();
    parsed.rewriter_select_forms = select_forms.into_inner();
    parsed
}

/// The tree builder, with a look at each end tag: did it take the parser out of foreign content?
struct Watch {
    builder: TreeBuilder<Handle, Recorder>,
    foreign_closed_at: Cell<Option<usize>>,
    rewriter_select: Cell<bool>,
    /// The rewriter's select state at each open template's start tag: its contents start with
    /// none, and `</template>` gives back the one around it.
    select_around_templates: RefCell<Vec<bool>>,
    select_forms: RefCell<HashSet<usize>>,
}

impl TokenSink for Watch {
    type Handle = Handle;

    fn process_token(&self, token: Token, line_number: u64) -> TokenSinkResult<Handle> {
        let end_tag = match &token {
            Token::TagToken(tag) if tag.kind == TagKind::EndTag => Some(tag.name.to_string()),
            _ => None,
        };
        let start_tag = match &token {
            Token::TagToken(tag) if tag.kind == TagKind::StartTag => Some(tag.name.to_string()),
            _ => None,
        };
        let foreign_before = self.foreign_here();
        // Only an end tag in svg/math can close svg/math by the HTML rules (see below).
        let open_foreign = if end_tag.is_some() && foreign_before { self.open_foreign() } else { Vec::new() };
        let first_new = self.created();
        let mut result = TokenSinkResult::Continue;
        for token in self.as_the_standard(token) {
            result = self.builder.process_token(token, line_number);
        }
        // A start tag read as HTML (outside svg/math or in an integration point) makes no svg/math
        // element (a `<select>` may make none: it closes an open one).
        let html_tag = start_tag.is_some() && !self.made_foreign(first_new);
        if html_tag && start_tag.as_deref() == Some("form") && self.rewriter_select.get() {
            if let Some(form) = self.made_html(first_new, "form") {
                self.select_forms.borrow_mut().insert(form);
            }
        }
        // The rewriter's select: opened by `<select>`, closed by `</select>` and `<input>` (not
        // by `<textarea>`, as in html5ever 0.40 and Chromium 156). The parser closes it on more
        // (another `<select>`, table tags, ...).
        if html_tag && start_tag.as_deref() == Some("select") {
            self.rewriter_select.set(true);
        }
        if end_tag.as_deref() == Some("select") || (html_tag && start_tag.as_deref() == Some("input")) {
            self.rewriter_select.set(false);
        }
        if html_tag && start_tag.as_deref() == Some("template") {
            self.select_around_templates.borrow_mut().push(self.rewriter_select.replace(false));
        }
        if end_tag.as_deref() == Some("template") {
            if let Some(around) = self.select_around_templates.borrow_mut().pop() {
                self.rewriter_select.set(around);
            }
        }

        if let Some(name) = end_tag {
            // The rewriter follows `</svg>`, `</math>`, `</p>`, `</br>` and `</template>` out of
            // foreign content; other end tags (of HTML elements opened around it) it does not.
            let followed = matches!(name.as_str(), "svg" | "math" | "p" | "br" | "template");
            // Out of svg/math, or out of svg/math inside an integration point further out: the
            // HTML rules popped a foreign element the tag does not name. (html5ever's "in body" end-tag walk does not stop at
            // svg/math special elements, `mi` or `foreignObject`, where the standard's and
            // Chromium 156's do, and so does the rewriter: `<mi><svg></span>` closes nothing.)
            let still_open = self.open_foreign();
            let html_rules_popped = open_foreign
                .iter()
                .filter(|h| !still_open.iter().any(|o| Rc::ptr_eq(o, h)))
                .any(|h| qual_name(h).is_some_and(|n| !name.eq_ignore_ascii_case(&n.local)));
            if foreign_before
                && (!self.foreign_here() || html_rules_popped)
                && !followed
                && self.foreign_closed_at.get().is_none()
            {
                self.foreign_closed_at.set(Some(self.created()));
            }
        }
        result
    }

    fn end(&self) {
        self.builder.end();
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.foreign_here()
    }
}

/// Start tags that break out of foreign content (`font` only with `color`, `face` or `size`).
const BREAKOUT: &[&str] = &[
    "b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em", "embed",
    "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing", "menu", "meta",
    "nobr", "ol", "p", "pre", "ruby", "s", "small", "span", "strong", "strike", "sub", "sup", "table",
    "tt", "u", "ul", "var",
];

/// The end tags "in body" has rules of its own for; every other one is "any other end tag".
const BODY_END_TAGS: &[&str] = &[
    "body", "html", "address", "article", "aside", "blockquote", "button", "center", "details",
    "dialog", "dir", "div", "dl", "fieldset", "figcaption", "figure", "footer", "header", "hgroup",
    "listing", "main", "menu", "nav", "ol", "pre", "search", "section", "select", "summary", "ul",
    "form", "p", "li", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "a", "b", "big", "code",
    "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u", "applet", "marquee",
    "object", "br", "template",
    // The table insertion modes' own (the mode is not known here; none is "any other end tag").
    "table", "tbody", "thead", "tfoot", "tr", "td", "th", "caption", "colgroup", "col",
];

/// The end tags whose "in body" rules look for their element in (default, list item) scope, where
/// MathML `annotation-xml` is a boundary (html5ever's scopes lack it): `<ul><math><annotation-xml>
/// </ul>` closes nothing in Chromium 156. Not `</form>`: outside templates it clears the form
/// pointer even so, and html5ever takes only the form off the stack, which builds the same tree.
const SCOPED_END_TAGS: &[&str] = &[
    "address", "article", "aside", "blockquote", "button", "center", "details", "dialog", "dir",
    "div", "dl", "fieldset", "figcaption", "figure", "footer", "header", "hgroup", "listing", "main",
    "menu", "nav", "ol", "pre", "search", "section", "summary", "ul", "li", "dd", "dt", "h1",
    "h2", "h3", "h4", "h5", "h6", "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small",
    "strike", "strong", "tt", "u", "applet", "marquee", "object",
];

const HEADINGS: &[&str] = &["h1", "h2", "h3", "h4", "h5", "h6"];

/// The HTML elements of the standard's "special" category.
const HTML_SPECIAL: &[&str] = &[
    "address", "applet", "area", "article", "aside", "base", "basefont", "bgsound", "blockquote",
    "body", "br", "button", "caption", "center", "col", "colgroup", "dd", "details", "dir", "div",
    "dl", "dt", "embed", "fieldset", "figcaption", "figure", "footer", "form", "frame", "frameset",
    "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hgroup", "hr", "html", "iframe", "img",
    "input", "keygen", "li", "link", "listing", "main", "marquee", "menu", "meta", "nav", "noembed",
    "noframes", "noscript", "object", "ol", "p", "param", "plaintext", "pre", "script", "search",
    "section", "select", "source", "style", "summary", "table", "tbody", "td", "template",
    "textarea", "tfoot", "th", "thead", "title", "tr", "track", "ul", "wbr", "xmp",
];

fn html_special(h: &Handle) -> bool {
    qual_name(h).is_some_and(|n| &*n.ns == HTML_NS && HTML_SPECIAL.contains(&&*n.local))
}

/// The svg/math elements of the standard's "special" category (all integration points).
fn foreign_special(h: &Handle) -> bool {
    qual_name(h).is_some_and(|n| match &*n.ns {
        "http://www.w3.org/2000/svg" => matches!(&*n.local, "foreignObject" | "desc" | "title"),
        "http://www.w3.org/1998/Math/MathML" => {
            matches!(&*n.local, "mi" | "mo" | "mn" | "ms" | "mtext" | "annotation-xml")
        }
        _ => false,
    })
}

/// Is an svg/math special element (a scope boundary) between `node` and the innermost select
/// around it? `</select>` looks for the select in scope (Chromium 156: `<select><math><mi></select>`
/// closes nothing, `<select><math></select>` closes the select); html5ever's select scope passes
/// svg/math elements.
fn select_behind_special(node: &Handle) -> bool {
    let mut special = false;
    let mut node = Some(node.clone());
    while let Some(n) = node {
        if is_html(&n, "select") {
            return special;
        }
        special |= foreign_special(&n);
        node = parent(&n);
    }
    false
}

/// An `annotation-xml` that is an HTML integration point (its `encoding`).
fn html_annotation_xml(h: &Handle) -> bool {
    qual_name(h).is_some_and(|n| &*n.ns == "http://www.w3.org/1998/Math/MathML" && &*n.local == "annotation-xml")
        && attr(h, "encoding").is_some_and(|e| e.eq_ignore_ascii_case("text/html") || e.eq_ignore_ascii_case("application/xhtml+xml"))
}

fn tag_token(kind: TagKind, name: &str) -> Token {
    Token::TagToken(Tag { kind, name: name.into(), self_closing: false, attrs: Vec::new(), had_duplicate_attributes: false })
}

impl Watch {
    /// The tokens that make html5ever 0.40 build what the standard (and Chromium 156) builds for
    /// `token`: `token` itself but where html5ever does not follow the standard around svg/math
    /// integration points (checked in Chromium: `<math><annotation-xml encoding=text/html></p>`
    /// keeps the math open and puts an empty `<p>` in it; `<mi><svg><foreignObject><math></mi>`
    /// closes nothing):
    /// - a breakout start tag, `</p>` or `</br>` in foreign content stops at an `annotation-xml`
    ///   that is an HTML integration point (html5ever pops it too): the foreign elements above it
    ///   are closed by their own end tags, and `</p>`, `</br>` that then reach the HTML rules
    ///   there ("in body") are the `<p></p>` and `<br>` those rules make of them;
    /// - "any other end tag" stops at svg/math special elements (html5ever's walk passes them):
    ///   one that would reach one first is ignored, and so is a `</select>` whose select is
    ///   behind one (`select_behind_special`).
    fn as_the_standard(&self, token: Token) -> Vec<Token> {
        let Token::TagToken(tag) = &token else {
            return vec![token];
        };
        let name: &str = &tag.name;
        let foreign = self.open_foreign();
        let Some(innermost) = foreign.last().cloned() else {
            return vec![token];
        };
        let in_foreign = self.foreign_here();
        let start = tag.kind == TagKind::StartTag;
        let breakout = if start {
            BREAKOUT.contains(&name)
                || (name == "font" && tag.attrs.iter().any(|a| matches!(&*a.name.local, "color" | "face" | "size")))
        } else {
            matches!(name, "p" | "br")
        };
        if in_foreign && breakout {
            let mut above = Vec::new();
            let mut node = innermost;
            loop {
                if html_annotation_xml(&node) {
                    let mut tokens: Vec<Token> = above.iter().map(|n: &Handle| tag_token(TagKind::EndTag, &qual_name(n).map(|q| q.local.to_ascii_lowercase()).unwrap_or_default())).collect();
                    match (start, name) {
                        (true, _) => tokens.push(token),
                        (false, "p") => tokens.extend([tag_token(TagKind::StartTag, "p"), tag_token(TagKind::EndTag, "p")]),
                        (false, _) => tokens.push(tag_token(TagKind::StartTag, "br")),
                    }
                    return tokens;
                }
                // html5ever stops at these as the standard does.
                let stops = !foreign.iter().any(|f| Rc::ptr_eq(f, &node)) || foreign_special(&node);
                if stops {
                    return vec![token];
                }
                above.push(node.clone());
                match parent(&node) {
                    Some(up) => node = up,
                    None => return vec![token],
                }
            }
        }
        if !start && !BODY_END_TAGS.contains(&name) && self.any_other_end_tag_ignored(name, &innermost, in_foreign) {
            return Vec::new();
        }
        if !start && name == "select" && in_foreign && select_behind_special(&innermost) {
            return Vec::new();
        }
        if !start && SCOPED_END_TAGS.contains(&name) && self.out_of_scope_behind_annotation_xml(name, &innermost, in_foreign) {
            return Vec::new();
        }
        vec![token]
    }

    /// Does the standard's "in body" walk for "any other end tag" `name` meet an svg/math special
    /// element before an HTML element of that name or an HTML special one?
    fn any_other_end_tag_ignored(&self, name: &str, innermost: &Handle, in_foreign: bool) -> bool {
        let stop = |h: &Handle| is_html(h, name) || html_special(h);
        self.walk_meets(name, innermost, in_foreign, &stop, &foreign_special)
    }

    /// Is the element end tag `name` looks for in scope ("in body") behind a MathML
    /// `annotation-xml`, a scope boundary html5ever's scopes lack?
    fn out_of_scope_behind_annotation_xml(&self, name: &str, innermost: &Handle, in_foreign: bool) -> bool {
        let target = |h: &Handle| {
            if HEADINGS.contains(&name) {
                HEADINGS.iter().any(|n| is_html(h, n))
            } else {
                is_html(h, name)
            }
        };
        let annotation_xml =
            |h: &Handle| qual_name(h).is_some_and(|n| &*n.ns == "http://www.w3.org/1998/Math/MathML" && &*n.local == "annotation-xml");
        self.walk_meets(name, innermost, in_foreign, &target, &annotation_xml)
    }

    /// Does the walk of end tag `name`'s "in body" rules from the current node meet an element
    /// that is `boundary` before one that is `stop`? The current node is the foreign `innermost`
    /// when the parser is in foreign content, whose rules first look for a foreign element of
    /// that name (then the walk is theirs: no); else an HTML element open inside `innermost` (an
    /// integration point): the walk meets `innermost` unless an HTML element inside it that the
    /// tree builder holds is `stop`.
    fn walk_meets(
        &self,
        name: &str,
        innermost: &Handle,
        in_foreign: bool,
        stop: &dyn Fn(&Handle) -> bool,
        boundary: &dyn Fn(&Handle) -> bool,
    ) -> bool {
        if !in_foreign {
            let held = AllHeld::default();
            self.builder.trace_handles(&held);
            let inside = held.0.into_inner();
            let stopped = inside.iter().any(|h| {
                is_html_element(h) && stop(h) && root_chain(h).iter().skip(1).any(|a| Rc::ptr_eq(a, innermost))
            });
            return !stopped && boundary(innermost);
        }
        let chain = root_chain(innermost);
        let foreign_named = chain
            .iter()
            .take_while(|n| !is_html_element(n))
            .any(|n| qual_name(n).is_some_and(|q| str::eq_ignore_ascii_case(&q.local, name)));
        if foreign_named {
            return false;
        }
        for node in &chain {
            if stop(node) {
                return false;
            }
            if boundary(node) {
                return true;
            }
        }
        false
    }

    fn created(&self) -> usize {
        self.builder.sink.created.borrow().len()
    }

    /// Did the token processed since `first` elements were created make an svg/math element?
    fn made_foreign(&self, first: usize) -> bool {
        self.builder.sink.created.borrow().iter().skip(first).any(|h| !is_html_element(h))
    }

    /// The first HTML `local` made since `first` elements were created, if any: a start tag in a
    /// table may first flush the table's pending text, which can make formatting elements again
    /// (`<table><select><a><tbody>x<form>`: the `<a>`, then the form).
    fn made_html(&self, first: usize, local: &str) -> Option<usize> {
        self.builder.sink.created.borrow().iter().skip(first).position(|h| is_html(h, local)).map(|at| first + at)
    }

    /// The svg/math elements on the tree builder's stack of open elements (the only place its
    /// state holds any).
    fn open_foreign(&self) -> Vec<Handle> {
        let tracer = ForeignOpen::default();
        self.builder.trace_handles(&tracer);
        tracer.0.into_inner()
    }

    fn foreign_here(&self) -> bool {
        self.builder
            .adjusted_current_node_present_but_not_in_html_namespace()
    }
}

/// Collects every element the tree builder holds.
#[derive(Default)]
struct AllHeld(RefCell<Vec<Handle>>);

impl Tracer for AllHeld {
    type Handle = Handle;

    fn trace_handle(&self, node: &Handle) {
        if qual_name(node).is_some() {
            self.0.borrow_mut().push(node.clone());
        }
    }
}

/// Collects the svg/math elements among the handles the tree builder holds.
#[derive(Default)]
struct ForeignOpen(RefCell<Vec<Handle>>);

impl Tracer for ForeignOpen {
    type Handle = Handle;

    fn trace_handle(&self, node: &Handle) {
        if qual_name(node).is_some() && !is_html_element(node) {
            self.0.borrow_mut().push(node.clone());
        }
    }
}

#[derive(Default)]
struct Recorder {
    dom: RcDom,
    created: RefCell<Vec<Handle>>,
    assoc: RefCell<Vec<(Handle, Handle)>>,
}

impl TreeSink for Recorder {
    type Handle = Handle;
    type Output = Parsed;
    type ElemName<'a>
        = ExpandedName<'a>
    where
        Self: 'a;

    fn finish(self) -> Parsed {
        let created = self.created.into_inner();
        let order = created
            .iter()
            .enumerate()
            .map(|(i, h)| (Rc::as_ptr(h), i))
            .collect();
        let assoc = self
            .assoc
            .into_inner()
            .into_iter()
            .map(|(target, form)| (Rc::as_ptr(&target), form))
            .collect();
        Parsed {
            document: self.dom.document.clone(),
            order,
            assoc,
            foreign_closed_at: None,
            rewriter_select_forms: HashSet::new(),
            _created: created,
        }
    }
    fn parse_error(&self, _msg: Cow<'static, str>) {}
    fn get_document(&self) -> Handle {
        self.dom.get_document()
    }
    fn elem_name<'a>(&'a self, target: &'a Handle) -> ExpandedName<'a> {
        self.dom.elem_name(target)
    }
    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> Handle {
        let h = self.dom.create_element(name, attrs, flags);
        self.created.borrow_mut().push(h.clone());
        h
    }
    fn create_comment(&self, text: StrTendril) -> Handle {
        self.dom.create_comment(text)
    }
    fn create_pi(&self, target: StrTendril, data: StrTendril) -> Handle {
        self.dom.create_pi(target, data)
    }
    fn append(&self, parent: &Handle, child: NodeOrText<Handle>) {
        self.dom.append(parent, child);
    }
    fn append_based_on_parent_node(
        &self,
        element: &Handle,
        prev_element: &Handle,
        child: NodeOrText<Handle>,
    ) {
        self.dom
            .append_based_on_parent_node(element, prev_element, child);
    }
    fn append_doctype_to_document(
        &self,
        name: StrTendril,
        public_id: StrTendril,
        system_id: StrTendril,
    ) {
        self.dom
            .append_doctype_to_document(name, public_id, system_id);
    }
    fn mark_script_already_started(&self, node: &Handle) {
        self.dom.mark_script_already_started(node);
    }
    fn pop(&self, node: &Handle) {
        self.dom.pop(node);
    }
    fn get_template_contents(&self, target: &Handle) -> Handle {
        self.dom.get_template_contents(target)
    }
    fn same_node(&self, x: &Handle, y: &Handle) -> bool {
        self.dom.same_node(x, y)
    }
    fn set_quirks_mode(&self, mode: QuirksMode) {
        self.dom.set_quirks_mode(mode);
    }
    fn append_before_sibling(&self, sibling: &Handle, new_node: NodeOrText<Handle>) {
        self.dom.append_before_sibling(sibling, new_node);
    }
    fn add_attrs_if_missing(&self, target: &Handle, attrs: Vec<Attribute>) {
        self.dom.add_attrs_if_missing(target, attrs);
    }
    fn associate_with_form(
        &self,
        target: &Handle,
        form: &Handle,
        _nodes: (&Handle, Option<&Handle>),
    ) {
        self.assoc.borrow_mut().push((target.clone(), form.clone()));
    }
    fn remove_from_parent(&self, target: &Handle) {
        self.dom.remove_from_parent(target);
    }
    fn reparent_children(&self, node: &Handle, new_parent: &Handle) {
        self.dom.reparent_children(node, new_parent);
    }
    fn is_mathml_annotation_xml_integration_point(&self, handle: &Handle) -> bool {
        self.dom.is_mathml_annotation_xml_integration_point(handle)
    }
    /// A `<template shadowrootmode>` stays a template: the parser rules inside are a template's
    /// either way, and the conventions treat template contents as the page's.
    fn allow_declarative_shadow_roots(&self, _intended_parent: &Handle) -> bool {
        false
    }
    fn maybe_clone_an_option_into_selectedcontent(&self, option: &Handle) {
        self.dom.maybe_clone_an_option_into_selectedcontent(option);
    }
}

// ---------------------------------------------------------------------------------------------
// Tree helpers.

fn ptr(h: &Handle) -> *const Node {
    Rc::as_ptr(h)
}

fn qual_name(h: &Handle) -> Option<&QualName> {
    match &h.data {
        NodeData::Element { name, .. } => Some(name),
        _ => None,
    }
}

fn is_html_element(h: &Handle) -> bool {
    qual_name(h).is_some_and(|n| &*n.ns == HTML_NS)
}

fn is_html(h: &Handle, local: &str) -> bool {
    qual_name(h).is_some_and(|n| &*n.ns == HTML_NS && &*n.local == local)
}

/// A no-namespace attribute's value.
fn attr(h: &Handle, name: &str) -> Option<String> {
    match &h.data {
        NodeData::Element { attrs, .. } => attrs
            .borrow()
            .iter()
            .find(|a| a.name.ns.is_empty() && &*a.name.local == name)
            .map(|a| a.value.to_string()),
        _ => None,
    }
}

fn attr_map(h: &Handle) -> Vec<(String, String, String)> {
    match &h.data {
        NodeData::Element { attrs, .. } => attrs
            .borrow()
            .iter()
            .map(|a| {
                (
                    a.name.ns.to_string(),
                    a.name.local.to_string(),
                    a.value.to_string(),
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn template_contents(h: &Handle) -> Option<Handle> {
    match &h.data {
        NodeData::Element {
            template_contents, ..
        } => template_contents.borrow().clone(),
        _ => None,
    }
}

/// The root of `h`'s tree: the document, a template's contents, or an element the parser took
/// out of the document (the body a frameset replaced).
fn root(h: &Handle) -> Handle {
    root_chain(h).pop().unwrap_or_else(|| h.clone())
}

/// `h` and its ancestors.
fn root_chain(h: &Handle) -> Vec<Handle> {
    let mut chain = vec![h.clone()];
    while let Some(up) = chain.last().and_then(parent) {
        chain.push(up);
    }
    chain
}

/// Is `h` in `document` (template contents are documents of their own here)?
fn connected(h: &Handle, document: &Handle) -> bool {
    Rc::ptr_eq(&root(h), document)
}

fn dropped(h: &Handle) -> bool {
    matches!(root(h).data, NodeData::Element { .. })
}

fn parent(h: &Handle) -> Option<Handle> {
    let weak = h.parent.take();
    h.parent.set(weak.clone());
    weak.and_then(|w| w.upgrade())
}

/// Every element of `root`'s tree in tree order, template contents (their own trees) right after
/// their template, each with the root of its tree.
fn elements_with_roots(root: &Handle) -> Vec<(Handle, Handle)> {
    fn visit(node: &Handle, root: &Handle, out: &mut Vec<(Handle, Handle)>) {
        for child in node.children.borrow().iter() {
            if qual_name(child).is_some() {
                out.push((child.clone(), root.clone()));
                if let Some(content) = template_contents(child) {
                    visit(&content, &content, out);
                }
            }
            visit(child, root, out);
        }
    }
    let mut out = Vec::new();
    visit(root, root, &mut out);
    out
}

/// The first element of `root`'s tree (not template contents) matching `pred`, in tree order.
fn first_in_tree(root: &Handle, pred: &dyn Fn(&Handle) -> bool) -> Option<Handle> {
    for child in root.children.borrow().iter() {
        if qual_name(child).is_some() && pred(child) {
            return Some(child.clone());
        }
        if let Some(found) = first_in_tree(child, pred) {
            return Some(found);
        }
    }
    None
}

/// The document base element: the first HTML `<base>` with an `href`, outside templates.
fn base_element(doc: &Handle) -> Option<Handle> {
    first_in_tree(doc, &|h| is_html(h, "base") && attr(h, "href").is_some())
}

/// The browser's form owner of a form-associated element in `root`'s tree.
fn form_owner(parsed: &Parsed, el: &Handle, root: &Handle) -> Option<Handle> {
    if let Some(id) = attr(el, "form") {
        if id.is_empty() {
            return None;
        }
        return first_in_tree(root, &|h| attr(h, "id").as_deref() == Some(id.as_str()))
            .filter(|h| is_html(h, "form"));
    }
    if let Some(form) = parsed.assoc.get(&ptr(el)) {
        return Some(form.clone());
    }
    let mut cur = parent(el);
    while let Some(node) = cur {
        if is_html(&node, "form") {
            return Some(node);
        }
        cur = parent(&node);
    }
    None
}

/// A submit button: `button` whose type is not `button`/`reset` (missing and invalid = submit),
/// `input type=submit|image`.
fn is_submitter(el: &Handle) -> bool {
    let ty = attr(el, "type").map(|t| t.to_ascii_lowercase());
    if is_html(el, "button") {
        !matches!(ty.as_deref(), Some("button" | "reset"))
    } else if is_html(el, "input") {
        matches!(ty.as_deref(), Some("submit" | "image"))
    } else {
        false
    }
}

/// An svg/math `button` or `input` that would submit with a non-empty `formaction` as an HTML
/// one: the rewriter may disable it (harmless there, and right should the parser have read it as
/// HTML).
fn foreign_submitter(el: &Handle, local: &str) -> bool {
    let ty = attr(el, "type").map(|t| t.trim_matches(is_ascii_ws).to_ascii_lowercase());
    let submits = match local {
        "button" => !matches!(ty.as_deref(), Some("button" | "reset")),
        "input" => matches!(ty.as_deref(), Some("submit" | "image")),
        _ => false,
    };
    submits && attr(el, "formaction").is_some_and(|v| !v.is_empty())
}

fn is_refresh(el: &Handle) -> bool {
    is_html(el, "meta") && attr(el, "http-equiv").is_some_and(|v| v.eq_ignore_ascii_case("refresh"))
}

fn is_ascii_ws(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// HTML's "shared declarative refresh steps": `None` = not a refresh; `Some((time, None))` = a
/// reload of the document; `Some((time, Some(url)))` = the URL as written (before resolution).
pub fn parse_refresh(content: &str) -> Option<(String, Option<String>)> {
    let c: Vec<char> = content.chars().collect();
    let n = c.len();
    let at = |i: usize| c.get(i).copied();
    let rest = |i: usize| c[i.min(n)..].iter().collect::<String>();
    let mut i = 0;
    while at(i).is_some_and(is_ascii_ws) {
        i += 1;
    }
    let start = i;
    while at(i).is_some_and(|ch| ch.is_ascii_digit()) {
        i += 1;
    }
    let time: String = c[start..i].iter().collect();
    if time.is_empty() && at(i) != Some('.') {
        return None;
    }
    while at(i).is_some_and(|ch| ch.is_ascii_digit() || ch == '.') {
        i += 1;
    }
    if i < n {
        let ch = c[i];
        if !(ch == ';' || ch == ',' || is_ascii_ws(ch)) {
            return None;
        }
        while at(i).is_some_and(is_ascii_ws) {
            i += 1;
        }
        if matches!(at(i), Some(';' | ',')) {
            i += 1;
        }
        while at(i).is_some_and(is_ascii_ws) {
            i += 1;
        }
    }
    if i >= n {
        return Some((time, None));
    }
    let whole = rest(i);
    // "url" [ws] "=" [ws], else the whole remainder is the URL.
    let mut j = i;
    let mut skip_quotes_at = Some(i);
    if matches!(at(j), Some('u' | 'U')) {
        j += 1;
        skip_quotes_at = None;
        if matches!(at(j), Some('r' | 'R')) {
            j += 1;
            if matches!(at(j), Some('l' | 'L')) {
                j += 1;
                while at(j).is_some_and(is_ascii_ws) {
                    j += 1;
                }
                if at(j) == Some('=') {
                    j += 1;
                    while at(j).is_some_and(is_ascii_ws) {
                        j += 1;
                    }
                    skip_quotes_at = Some(j);
                }
            }
        }
    }
    let Some(mut k) = skip_quotes_at else {
        return Some((time, Some(whole)));
    };
    let quote = match at(k) {
        Some(q @ ('"' | '\'')) => {
            k += 1;
            Some(q)
        }
        _ => None,
    };
    let mut url = rest(k);
    if let Some(q) = quote {
        if let Some(end) = url.find(q) {
            url.truncate(end);
        }
    }
    Some((time, Some(url)))
}

fn resolve(value: &str, base: &Url) -> Option<Url> {
    base.join(value).ok()
}

fn strip_param(url: &Url, param: &str) -> Url {
    let mut u = url.clone();
    let kept: Vec<&str> = url
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|seg| {
            !seg.is_empty() && {
                let key = seg.split('=').next().unwrap_or("");
                url::form_urlencoded::parse(format!("{key}=").as_bytes())
                    .next()
                    .is_none_or(|(k, _)| k != param)
            }
        })
        .collect();
    if kept.is_empty() {
        u.set_query(None);
    } else {
        u.set_query(Some(&kept.join("&")));
    }
    u
}

/// Starts or ends with a C0 control or space, which the URL parser drops there.
fn c0_at_the_ends(value: &str) -> bool {
    let c0 = |c: char| c <= ' ';
    value.starts_with(c0) || value.ends_with(c0)
}

/// `url` without percent-encoded C0 controls and spaces (`%00`...`%20`) in path, query and
/// fragment.
fn without_c0(url: &Url) -> Url {
    without_escapes_where(url, &|b| b <= 0x20)
}

/// `url` without percent-escapes of bytes from `from` up, in path, query and fragment.
fn without_escapes(url: &Url, from: u8) -> Url {
    without_escapes_where(url, &|b| b >= from)
}

fn without_escapes_where(url: &Url, drop: &dyn Fn(u8) -> bool) -> Url {
    let strip = |part: &str| -> String {
        let mut out = String::with_capacity(part.len());
        let mut rest = part;
        while let Some(at) = rest.find('%') {
            out.push_str(&rest[..at]);
            let code = rest.get(at + 1..at + 3);
            match code.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) if drop(b) => rest = &rest[at + 3..],
                _ => {
                    out.push('%');
                    rest = &rest[at + 1..];
                }
            }
        }
        out.push_str(rest);
        out
    };
    let mut u = url.clone();
    let path = strip(url.path());
    u.set_path(&path);
    if let Some(q) = url.query() {
        u.set_query(Some(&strip(q)));
    }
    if let Some(f) = url.fragment() {
        u.set_fragment(Some(&strip(f)));
    }
    u
}

/// Same place apart from http vs https (what a scheme-relative URL takes from its base).
fn same_place(a: &Url, b: &Url) -> bool {
    a.host_str() == b.host_str()
        && a.port() == b.port()
        && a.path() == b.path()
        && a.query() == b.query()
        && a.fragment() == b.fragment()
        && matches!(a.scheme(), "http" | "https")
        && matches!(b.scheme(), "http" | "https")
}

fn excerpt(s: &str) -> String {
    const MAX: usize = 160;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head:?}... ({} chars)", s.chars().count())
    }
}

/// Where two strings first differ, with a little context.
fn difference(a: &str, b: &str) -> String {
    let at = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map(|((i, _), _)| i)
        .unwrap_or(a.len().min(b.len()));
    let from = a[..at].char_indices().rev().nth(40).map_or(0, |(i, _)| i);
    let tail = |s: &str| -> String { s.get(from..).unwrap_or("").chars().take(100).collect() };
    format!(
        "at char {}: before {:?} / after {:?}",
        a[..at].chars().count(),
        tail(a),
        tail(b)
    )
}

fn describe_node(h: &Handle) -> String {
    match &h.data {
        NodeData::Document => "#document".to_owned(),
        NodeData::Doctype { name, .. } => format!("<!DOCTYPE {name}>"),
        NodeData::Text { contents } => format!("text {}", excerpt(&contents.borrow())),
        NodeData::Comment { contents } => format!("<!--{}-->", excerpt(contents)),
        NodeData::ProcessingInstruction { target, .. } => format!("<?{target}>"),
        NodeData::Element { name, .. } => {
            let mut s = format!("<{}", element_label(name));
            for (ns, local, value) in attr_map(h) {
                let name = if ns.is_empty() {
                    local
                } else {
                    format!("{{{ns}}}{local}")
                };
                s.push_str(&format!(" {name}={}", excerpt(&value)));
            }
            s.push('>');
            s
        }
    }
}

fn element_label(name: &QualName) -> String {
    match &*name.ns {
        HTML_NS => name.local.to_string(),
        "http://www.w3.org/2000/svg" => format!("svg:{}", name.local),
        "http://www.w3.org/1998/Math/MathML" => format!("math:{}", name.local),
        ns => format!("{{{ns}}}{}", name.local),
    }
}

/// A URL attribute value as the URL parser reads it: tabs and newlines dropped, leading and
/// trailing C0 controls and spaces trimmed.
fn significant(value: &str) -> String {
    let s: String = value
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    s.trim_matches(|c: char| c <= ' ').to_owned()
}

/// `http:x`, `https:x`: a special scheme without `//`, relative on a page of that scheme and
/// another host on a page of the other one. The rewriter does not know the page's scheme, so it
/// takes them as foreign (rule 6).
fn scheme_only(value: &str) -> bool {
    let s = significant(value).to_ascii_lowercase();
    let rest = s.strip_prefix("http:").or_else(|| s.strip_prefix("https:"));
    rest.is_some_and(|r| {
        let mut c = r.chars();
        !(matches!(c.next(), Some('/' | '\\')) && matches!(c.next(), Some('/' | '\\')))
    })
}

/// `#...`: a fragment of whatever the base is.
fn fragment_only(value: &str) -> bool {
    significant(value).starts_with('#')
}

/// Could the element's start tag have been at least `MAX_CARRY` bytes long (so that the rewriter
/// passed it unread)? Judged from the tree, generously: each attribute counted as ` name` plus its
/// value (a tag may spell it without quotes or `=""`), references as their decoded UTF-8 bytes.
fn long_tag(el: &Handle) -> bool {
    let NodeData::Element { name, attrs, .. } = &el.data else {
        return false;
    };
    let written: usize = attrs
        .borrow()
        .iter()
        .map(|a| {
            let prefix = a.name.prefix.as_ref().map_or(0, |p| p.len() + 1);
            1 + prefix + a.name.local.len() + a.value.len()
        })
        .sum();
    2 + name.local.len() + written >= MAX_CARRY
}

fn is_formatting(h: &Handle) -> bool {
    is_html_element(h) && qual_name(h).is_some_and(|n| FORMATTING.contains(&&*n.local))
}

fn has_html_ancestor(el: &Handle, local: &str) -> bool {
    let mut cur = parent(el);
    while let Some(node) = cur {
        if is_html(&node, local) {
            return true;
        }
        cur = parent(&node);
    }
    false
}

fn first_child(node: &Handle) -> Option<Handle> {
    node.children.borrow().first().cloned()
}

/// Every element below `node` (not template contents).
fn descendants(node: &Handle, out: &mut Vec<Handle>) {
    for child in node.children.borrow().iter() {
        if qual_name(child).is_some() {
            out.push(child.clone());
        }
        descendants(child, out);
    }
}

// ---------------------------------------------------------------------------------------------
// The oracle.

/// A child in a comparison: adjacent text merged (removing an inserted input can leave two).
enum Kid {
    Node(Handle),
    Text(String),
}

/// The children of `node` as compared: those `inserted` says the rewriter added left out,
/// adjacent text merged.
fn kids(node: &Handle, inserted: &dyn Fn(&Handle) -> bool) -> Vec<Kid> {
    let mut out = Vec::new();
    for child in node.children.borrow().iter() {
        if inserted(child) {
            continue;
        }
        if let NodeData::Text { contents } = &child.data {
            if let Some(Kid::Text(prev)) = out.last_mut() {
                prev.push_str(&contents.borrow());
                continue;
            }
            out.push(Kid::Text(contents.borrow().to_string()));
        } else {
            out.push(Kid::Node(child.clone()));
        }
    }
    out
}

/// `node` is the first child of a form, or of a formatting element that is, and so on.
fn first_in_form(node: &Handle) -> bool {
    let mut cur = node.clone();
    while let Some(p) = parent(&cur) {
        if !first_child(&p).is_some_and(|f| Rc::ptr_eq(&f, &cur)) {
            return false;
        }
        if is_html(&p, "form") {
            return true;
        }
        if !is_formatting(&p) {
            return false;
        }
        cur = p;
    }
    false
}

/// The hidden input inside `node` when `node` is its wrapper: an HTML `<rp hidden>` (no other
/// attribute) holding one chain of elements, each the only child of the one before, the innermost
/// the input (the others are checked by `check_hidden_inputs`).
fn wrapped_input(node: &Handle, is_input: &dyn Fn(&Handle) -> bool) -> Option<Handle> {
    if !is_html(node, "rp") || attr_map(node) != [(String::new(), "hidden".to_owned(), String::new())] {
        return None;
    }
    let mut cur = node.clone();
    loop {
        let only = {
            let children = cur.children.borrow();
            match children.as_slice() {
                [only] if is_html_element(only) => only.clone(),
                _ => return None,
            }
        };
        if is_input(&only) {
            let leaf = only.children.borrow().is_empty();
            return leaf.then_some(only);
        }
        cur = only;
    }
}

/// The same kinds of children, elements of the same names, in the same order.
fn same_shape(a: &[Kid], b: &[Kid]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (Kid::Text(_), Kid::Text(_)) => true,
            (Kid::Node(x), Kid::Node(y)) => match (&x.data, &y.data) {
                (NodeData::Element { name: n1, .. }, NodeData::Element { name: n2, .. }) => {
                    n1 == n2
                }
                (NodeData::Element { .. }, _) | (_, NodeData::Element { .. }) => false,
                _ => true,
            },
            _ => false,
        })
}

fn describe_kid(k: &Kid) -> String {
    match k {
        Kid::Node(h) => describe_node(h),
        Kid::Text(t) => format!("text {}", excerpt(t)),
    }
}

/// What the output must show for one attribute of one element. `why`/`optional` name the
/// acceptance (one of `LIMITS`) that allows the weaker outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// A URL (or a meta refresh content) that gets the token, or may stay as it is (`optional`).
    Token {
        refresh: bool,
        optional: Option<&'static str>,
    },
    /// A form action / formaction: the same target; base-proof when `proof`. `why`: a change
    /// (an anchoring) is allowed rather than due.
    Target {
        proof: bool,
        why: Option<&'static str>,
    },
    /// A neutralising first duplicate: the value becomes `value` (or may, when not `required`).
    Neutral {
        value: &'static str,
        required: bool,
        why: Option<&'static str>,
    },
    /// `id="FORM_ID-N"` inserted into a token form without one (due when it got its input; N is
    /// judged by `check_form_ids`).
    AddId { required: bool },
    /// `disabled` inserted into a submitter (or may be, when not `required`).
    AddDisabled {
        required: bool,
        why: Option<&'static str>,
    },
    /// An iframe's `srcdoc`: a document of its own, rewritten by the same rules (with this
    /// document's base) and judged so.
    Srcdoc,
    /// The first base's href: may become "" (`allowed`), must (`required`); `why` names the limit
    /// that excuses a base left as it is although it is late.
    BaseHref {
        allowed: bool,
        required: bool,
        why: Option<&'static str>,
    },
}

/// Did an element write a URL (rule 1: only that makes a later base late)?
enum Writes {
    No,
    /// The rewriter writes one here, perhaps to the same text.
    Surely(String),
    /// It may (a submitter in template contents: the rewriter's view of its form decides).
    Maybe,
}

struct Oracle<'a> {
    setup: &'a Setup,
    before: &'a Parsed,
    after: &'a Parsed,
    /// The document's URL (for a page served over http): the page's, or for a srcdoc document
    /// the base it inherits (its own URL, about:srcdoc, is no base).
    doc_url: Url,
    /// `srcdoc` documents around this one.
    depth: u8,
    /// The page is UTF-8 (else it was decoded one character per byte).
    utf8: bool,
    other_base: Url,
    /// The base the rewriter resolved against: the output document's base URL.
    base: Url,
    /// The same for the page served over https (the rewriter knows no scheme).
    base_https: Url,
    /// The input's first base element, and when it was created.
    base_el: Option<Handle>,
    base_at: Option<usize>,
    /// The first base's tag may have been too long to read (`LIMIT_LONG_TAG`).
    base_long: bool,
    /// The output's first base has a neutral `href` first where the input's had another URL.
    base_neutralised: bool,
    /// The bases the rewriter meets as the first in tree order so far, and what each may get.
    base_decisions: HashMap<*const Node, BaseDecision>,
    /// Forms that must get the hidden input; forms that may (and why).
    token_forms: HashSet<*const Node>,
    maybe_forms: HashMap<*const Node, &'static str>,
    /// Input forms whose output owns an inserted hidden input.
    got_input: HashSet<*const Node>,
    /// Inserted hidden inputs in the output: the input, the root of its tree, its owner.
    hidden: Vec<(Handle, Handle, Option<Handle>)>,
    in_to_out: HashMap<*const Node, Handle>,
    out_to_in: HashMap<*const Node, Handle>,
    /// Template contents (of the input) -> their template.
    templates: HashMap<*const Node, Handle>,
    /// Attributes are judged (the last pass); the earlier passes only map the trees.
    checking: bool,
    path: Vec<String>,
    findings: Vec<Finding>,
    accepted: BTreeSet<&'static str>,
}

/// What a base the rewriter meets as the first in tree order so far may get (`decide_base`).
struct BaseDecision {
    plan: Plan,
    /// The URL written before it that makes it late.
    required_by: Option<String>,
    /// The hrefs it may be neutralised with.
    neutral: Vec<String>,
}

impl<'a> Oracle<'a> {
    /// `page`: the document URL for a page served over http and over https.
    fn new(
        setup: &'a Setup,
        before: &'a Parsed,
        after: &'a Parsed,
        page: (Url, Url),
        depth: u8,
    ) -> Oracle<'a> {
        let base_of = |doc: &Handle, https: bool| {
            let doc_url = if https {
                page.1.clone()
            } else {
                page.0.clone()
            };
            base_element(doc)
                .and_then(|b| attr(&b, "href"))
                .and_then(|href| resolve(&href, &doc_url))
                .unwrap_or(doc_url)
        };
        let base_el = base_element(&before.document);
        Oracle {
            setup,
            before,
            after,
            doc_url: page.0.clone(),
            depth,
            utf8: true,
            other_base: Url::parse(OTHER_BASE).expect("other base"),
            base: base_of(&after.document, false),
            base_https: base_of(&after.document, true),
            base_at: base_el
                .as_ref()
                .and_then(|b| before.order.get(&ptr(b)).copied()),
            base_long: base_el.as_ref().is_some_and(long_tag),
            base_neutralised: false,
            base_el,
            base_decisions: HashMap::new(),
            token_forms: HashSet::new(),
            maybe_forms: HashMap::new(),
            got_input: HashSet::new(),
            hidden: Vec::new(),
            in_to_out: HashMap::new(),
            out_to_in: HashMap::new(),
            templates: elements_with_roots(&before.document)
                .into_iter()
                .filter_map(|(el, _)| template_contents(&el).map(|c| (ptr(&c), el)))
                .collect(),
            checking: false,
            path: Vec::new(),
            findings: Vec::new(),
            accepted: BTreeSet::new(),
        }
    }

    fn find(&mut self, class: impl Into<String>, detail: impl Into<String>) {
        let path = if self.path.is_empty() {
            "#document".to_owned()
        } else {
            self.path.join(" > ")
        };
        self.findings.push(Finding {
            class: class.into(),
            detail: format!("at {path}: {}", detail.into()),
        });
    }

    fn accept(&mut self, why: &'static str) {
        if self.checking {
            self.accepted.insert(why);
        }
    }

    /// Same-origin for the page served over http and over https.
    fn same(&self, value: &str) -> bool {
        [&self.base, &self.base_https]
            .iter()
            .all(|base| resolve(value, base).is_some_and(|u| self.setup.same_origin(&u)))
    }

    /// Does a base move this URL (relative, in the rewriter's words)?
    fn base_dependent(&self, value: &str) -> bool {
        match (
            resolve(value, &self.doc_url),
            resolve(value, &self.other_base),
        ) {
            (Some(a), Some(b)) => a != b && !same_place(&a, &b),
            (None, None) => false,
            _ => true,
        }
    }

    /// A link to a fragment of this very document: following it navigates within the page and
    /// sends no request, so the token is not needed there (conventions rule 1 names no such
    /// case; the rewriter leaves these alone, and a token would turn the scroll into a reload).
    fn same_document(&self, value: &str) -> bool {
        resolve(value, &self.base).is_some_and(|u| {
            let mut page = u.clone();
            page.set_fragment(None);
            u.fragment().is_some() && page == self.doc_url
        })
    }

    fn created(&self, el: &Handle) -> Option<usize> {
        self.before.order.get(&ptr(el)).copied()
    }

    /// Created before the input's first base.
    fn before_base(&self, el: &Handle) -> bool {
        matches!((self.created(el), self.base_at), (Some(at), Some(base)) if at < base)
    }

    /// Decided before the input's first base: created before it, or a formatting element copied
    /// (same name and attributes) from one that was (the parser reconstructs those later).
    fn decided_before_base(&self, el: &Handle) -> bool {
        self.before_base(el)
            || (is_formatting(el)
                && elements_with_roots(&self.before.document)
                    .iter()
                    .any(|(o, _)| {
                        self.before_base(o)
                            && qual_name(o) == qual_name(el)
                            && attr_map(o) == attr_map(el)
                    }))
    }

    /// After a first base whose URL the rewriter does not take (so relative URLs get no token
    /// from it): one too long to read, or one written `http:x` (rule 6).
    fn unread_base(&self, el: &Handle) -> Option<&'static str> {
        if self.base_el.is_none() || self.base_neutralised || self.before_base(el) {
            return None;
        }
        if self.base_long {
            return Some(LIMIT_LONG_TAG);
        }
        let href = self.base_el.as_ref().and_then(|b| attr(b, "href"));
        href.filter(|h| scheme_only(h)).map(|_| RULE_SCHEME_ONLY)
    }

    /// Created after an HTML end tag took the parser out of svg/math (`LIMIT_FOREIGN_CLOSED`).
    fn after_foreign_closed(&self, el: &Handle) -> bool {
        matches!((self.created(el), self.before.foreign_closed_at), (Some(at), Some(closed)) if at >= closed)
    }

    /// Inside an HTML select of its own tree (`Some(true)`), or of the tree around the template
    /// contents it is in (`Some(false)`).
    fn in_select(&self, el: &Handle) -> Option<bool> {
        let mut own_tree = true;
        let mut cur = parent(el);
        while let Some(node) = cur {
            if is_html(&node, "select") {
                return Some(own_tree);
            }
            cur = parent(&node).or_else(|| {
                own_tree = false;
                self.templates.get(&ptr(&node)).cloned()
            });
        }
        None
    }

    /// A form of the document (not template contents) with an `id` that is empty or that another
    /// element of the document has too (`earlier`: one created before it).
    fn form_id_shared(&self, form: &Handle, earlier: bool) -> bool {
        let Some(id) = attr(form, "id") else {
            return false;
        };
        if id.is_empty() {
            return !earlier;
        }
        let at = self.created(form);
        elements_with_roots(&self.before.document).iter().any(|(el, root)| {
            Rc::ptr_eq(root, &self.before.document)
                && !Rc::ptr_eq(el, form)
                && attr(el, "id").as_deref() == Some(id.as_str())
                && (!earlier || self.created(el) < at)
        })
    }

    /// More than one element of the output document has this id.
    fn id_shared_in_output(&self, id: &str) -> bool {
        elements_with_roots(&self.after.document)
            .iter()
            .filter(|(el, root)| Rc::ptr_eq(root, &self.after.document) && attr(el, "id").as_deref() == Some(id))
            .nth(1)
            .is_some()
    }

    fn has_token(&self, form: &Handle) -> bool {
        let p = ptr(form);
        self.token_forms.contains(&p)
            || (self.maybe_forms.contains_key(&p) && self.got_input.contains(&p))
    }

    fn is_hidden_input(&self, h: &Handle) -> bool {
        is_html(h, "input") && attr(h, "value").as_deref() == Some(self.setup.token.as_str())
    }

    fn run(&mut self) {
        for (el, root) in elements_with_roots(&self.after.document) {
            if self.is_hidden_input(&el) {
                let owner = form_owner(self.after, &el, &root);
                self.hidden.push((el, root, owner));
            }
        }
        // Pass 1 maps the trees.
        self.map();
        for (_, _, owner) in &self.hidden {
            if let Some(form) = owner.as_ref().and_then(|o| self.out_to_in.get(&ptr(o))) {
                self.got_input.insert(ptr(form));
            }
        }
        self.classify_forms();
        self.decide_base();
        // Pass 3 judges.
        self.findings.clear();
        self.in_to_out.clear();
        self.out_to_in.clear();
        self.checking = true;
        let (a, b) = (self.before.document.clone(), self.after.document.clone());
        self.walk(&a, &b, &a);
        self.check_hidden_inputs();
        self.check_form_ids();
    }

    fn map(&mut self) {
        self.findings.clear();
        self.in_to_out.clear();
        self.out_to_in.clear();
        self.checking = false;
        let (a, b) = (self.before.document.clone(), self.after.document.clone());
        self.walk(&a, &b, &a);
    }

    fn structure_findings(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.class.starts_with("structure"))
            .count()
    }

    /// Rule 1 and 4: the forms the parser created whose action is same-origin, each a token form
    /// or a form that may lack its input (in a select, or a known limit).
    fn classify_forms(&mut self) {
        for (el, _) in elements_with_roots(&self.before.document) {
            if !is_html(&el, "form") {
                continue;
            }
            let action = attr(&el, "action");
            let ours = match &action {
                None => true,
                Some(a) if a.is_empty() => true,
                Some(a) => self.same(a),
            };
            if !ours {
                continue;
            }
            let in_select = self.in_select(&el);
            let relative = action
                .as_deref()
                .is_some_and(|a| !a.is_empty() && self.base_dependent(a));
            let at = self.created(&el).unwrap_or(0);
            let maybe = if long_tag(&el) {
                Some(LIMIT_LONG_TAG)
            } else if in_select.is_some() {
                Some(RULE_SELECT)
            } else if self.before.rewriter_select_forms.contains(&at) {
                Some(LIMIT_SELECT_CLOSED)
            } else if self.form_id_shared(&el, false) {
                // Before the foreign-content limit: the rule also lets its action be anchored.
                Some(RULE_FORM_ID_SHARED)
            } else if self.after_foreign_closed(&el) {
                Some(LIMIT_FOREIGN_CLOSED)
            } else if action.as_deref().is_some_and(scheme_only) {
                Some(RULE_SCHEME_ONLY)
            } else if relative {
                self.unread_base(&el)
            } else {
                None
            };
            match maybe {
                Some(why) => {
                    self.maybe_forms.insert(ptr(&el), why);
                }
                None => {
                    self.token_forms.insert(ptr(&el));
                }
            }
        }
    }

    /// Rule 1: the input's first base must be neutralised exactly when a URL was written before
    /// it (in the order the parser created elements, which is source order).
    ///
    /// The rewriter meets bases in creation order; the document's is the first in tree order, and
    /// a base foster-parented out of a table comes before those already met inside it (README).
    /// So each base that comes first in tree order so far is decided in turn: one with a URL
    /// written before it is neutralised with the `href` of the one the rewriter had (`""`, the
    /// document URL, before any); otherwise it becomes the base.
    fn decide_base(&mut self) {
        if self.base_at.is_none() {
            return;
        }
        let doc = &self.before.document;
        let tree: Vec<Handle> = elements_with_roots(doc)
            .into_iter()
            .filter(|(el, root)| Rc::ptr_eq(root, doc) && is_html(el, "base") && attr(el, "href").is_some())
            .map(|(el, _)| el)
            .collect();
        let mut by_creation: Vec<(usize, usize)> =
            tree.iter().enumerate().filter_map(|(i, el)| self.created(el).map(|at| (at, i))).collect();
        by_creation.sort_unstable();
        let mut neutral = vec![String::new()];
        let mut first: Option<usize> = None;
        for (at, i) in by_creation {
            let Some(el) = tree.get(i).filter(|_| first.is_none_or(|f| i < f)) else {
                continue;
            };
            first = Some(i);
            let (surely, maybe) = self.written_before(at);
            let plan = if long_tag(el) {
                // An unreadable base cannot be neutralised.
                Plan::BaseHref { allowed: false, required: false, why: surely.is_some().then_some(LIMIT_LONG_TAG) }
            } else {
                Plan::BaseHref { allowed: surely.is_some() || maybe, required: surely.is_some(), why: None }
            };
            let decision = BaseDecision { plan, required_by: surely.as_ref().map(|(_, what)| what.clone()), neutral: neutral.clone() };
            let href = attr(el, "href").unwrap_or_default();
            match surely {
                Some(_) => {}
                None if maybe => neutral.push(href),
                None => neutral = vec![href],
            }
            self.base_decisions.insert(ptr(el), decision);
        }
        let Some(decision) = self.base_el.as_ref().and_then(|b| self.base_decisions.get(&ptr(b))) else {
            return;
        };
        let href_in = self.base_el.as_ref().and_then(|b| attr(b, "href"));
        let href_out = base_element(&self.after.document).and_then(|b| attr(&b, "href"));
        self.base_neutralised = href_out.as_ref().is_some_and(|h| decision.neutral.contains(h)) && href_in != href_out;
    }

    /// The first URL surely written before the element created `at` (and what it was), and
    /// whether one may have been.
    fn written_before(&self, at: usize) -> (Option<(usize, String)>, bool) {
        let mut surely: Option<(usize, String)> = None;
        let mut maybe = false;
        for (el, root) in elements_with_roots(&self.before.document) {
            let Some(created) = self.created(&el).filter(|&c| c < at) else {
                continue;
            };
            match self.writes(&el, &root) {
                Writes::Surely(what) => {
                    if surely.as_ref().is_none_or(|(first, _)| created < *first) {
                        surely = Some((created, what));
                    }
                }
                Writes::Maybe => maybe = true,
                Writes::No => {}
            }
        }
        (surely, maybe)
    }

    fn writes(&self, el: &Handle, root: &Handle) -> Writes {
        if !is_html_element(el) {
            return Writes::No;
        }
        let local = qual_name(el)
            .map(|n| n.local.to_string())
            .unwrap_or_default();
        let mut names: Vec<&str> = match local.as_str() {
            "a" | "area" => vec!["href"],
            // A rewritten srcdoc is a value written too.
            "iframe" => vec!["src", "srcdoc"],
            "frame" => vec!["src"],
            "meta" if is_refresh(el) => vec!["content"],
            "form" => vec!["action"],
            _ => Vec::new(),
        };
        if is_submitter(el) {
            names.push("formaction");
        }
        // A URL value the rewriter changed.
        if let Some(out) = self.in_to_out.get(&ptr(el)) {
            if let Some(name) = names.iter().find(|n| attr(el, n) != attr(out, n)) {
                return Writes::Surely(format!("{} ({name} written)", describe_node(el)));
            }
        }
        let written = |name: &str| attr(el, name).is_some_and(|v| !significant(&v).is_empty());
        // A token form's action and an anchored formaction are written even when the text stays.
        if local == "form" && self.has_token(el) && written("action") {
            return Writes::Surely(format!("{} (action anchored)", describe_node(el)));
        }
        if is_submitter(el) && written("formaction") {
            let out = self.in_to_out.get(&ptr(el));
            if let Some(Plan::Target { why, .. }) = self.plans(el, root, out).get("formaction") {
                return if why.is_some() {
                    Writes::Maybe
                } else {
                    Writes::Surely(format!("{} (formaction anchored)", describe_node(el)))
                };
            }
        }
        Writes::No
    }

    fn walk(&mut self, a: &Handle, b: &Handle, a_root: &Handle) {
        match (&a.data, &b.data) {
            (NodeData::Document, NodeData::Document) => {}
            (NodeData::Element { name: na, .. }, NodeData::Element { name: nb, .. }) => {
                if na != nb {
                    self.find(
                        "structure: element replaced",
                        format!("before {} / after {}", describe_node(a), describe_node(b)),
                    );
                    return;
                }
                self.in_to_out.insert(ptr(a), b.clone());
                self.out_to_in.insert(ptr(b), a.clone());
                if self.checking {
                    self.check_element(a, b, a_root);
                }
                if let (Some(ca), Some(cb)) = (template_contents(a), template_contents(b)) {
                    self.path.push("#content".to_owned());
                    self.walk(&ca, &cb, &ca);
                    self.path.pop();
                }
            }
            (
                NodeData::Doctype {
                    name: n1,
                    public_id: p1,
                    system_id: s1,
                },
                NodeData::Doctype {
                    name: n2,
                    public_id: p2,
                    system_id: s2,
                },
            ) => {
                if (n1, p1, s1) != (n2, p2, s2) {
                    self.find(
                        "doctype changed",
                        format!("before {} / after {}", describe_node(a), describe_node(b)),
                    );
                }
                return;
            }
            (NodeData::Comment { contents: c1 }, NodeData::Comment { contents: c2 }) => {
                if c1 != c2 {
                    self.find("comment changed", difference(c1, c2));
                }
                return;
            }
            (
                NodeData::ProcessingInstruction {
                    target: t1,
                    contents: c1,
                },
                NodeData::ProcessingInstruction {
                    target: t2,
                    contents: c2,
                },
            ) => {
                if (t1, c1) != (t2, c2) {
                    self.find("processing instruction changed", "");
                }
                return;
            }
            _ => {
                self.find(
                    "structure: node replaced",
                    format!("before {} / after {}", describe_node(a), describe_node(b)),
                );
                return;
            }
        }
        let (ka, kb) = self.pair_kids(a, b);
        if ka.len() != kb.len()
            || ka.iter().zip(&kb).any(|pair| {
                matches!(
                    pair,
                    (Kid::Text(_), Kid::Node(_)) | (Kid::Node(_), Kid::Text(_))
                )
            })
        {
            let list = |k: &[Kid]| k.iter().map(describe_kid).collect::<Vec<_>>().join(", ");
            let parent = match qual_name(a) {
                Some(n) => element_label(n),
                None => "#document".to_owned(),
            };
            self.find(
                format!("structure: children of <{parent}> differ"),
                format!("before [{}] / after [{}]", list(&ka), list(&kb)),
            );
            return;
        }
        for (i, pair) in ka.iter().zip(&kb).enumerate() {
            match pair {
                (Kid::Text(t1), Kid::Text(t2)) if t1 != t2 => {
                    self.path.push(format!("#text[{i}]"));
                    let class = if t2.contains(&self.setup.token) {
                        "token in text"
                    } else {
                        "text changed"
                    };
                    self.find(class, difference(t1, t2));
                    self.path.pop();
                }
                (Kid::Node(n1), Kid::Node(n2)) => {
                    let label = match qual_name(n1) {
                        Some(n) => format!("{}[{i}]", element_label(n)),
                        None => format!("#node[{i}]"),
                    };
                    self.path.push(label);
                    self.walk(n1, n2, a_root);
                    self.path.pop();
                }
                _ => {}
            }
        }
    }

    /// The children of `a` (input) and `b` (output) to compare, the output's without the hidden
    /// inputs' wrappers.
    fn pair_kids(&self, a: &Handle, b: &Handle) -> (Vec<Kid>, Vec<Kid>) {
        let is_input = |h: &Handle| self.is_hidden_input(h);
        let wrapper = |h: &Handle| wrapped_input(h, &is_input).is_some();
        (kids(a, &|_| false), kids(b, &wrapper))
    }

    /// `RULE_AFTER_TOKEN_FORM`: a submitter of the document (no `form=`) created after a token
    /// form.
    fn after_token_form(&self, el: &Handle, in_template: bool) -> bool {
        if in_template || attr(el, "form").is_some() {
            return false;
        }
        let Some(at) = self.created(el) else {
            return false;
        };
        elements_with_roots(&self.before.document).iter().any(|(f, root)| {
            Rc::ptr_eq(root, &self.before.document)
                && is_html(f, "form")
                && self.has_token(f)
                && self.created(f).is_some_and(|made| made < at)
        })
    }

    /// A link URL's plan: the token when it is same-origin, optional where a rule or a limit
    /// lets the rewriter leave it.
    fn token_plan(&self, el: &Handle, value: &str, refresh: bool) -> Option<Plan> {
        if !self.same(value) {
            return None;
        }
        let frame = is_html(el, "iframe") || is_html(el, "frame");
        let empty = significant(value).is_empty();
        let optional = if scheme_only(value) {
            Some(RULE_SCHEME_ONLY)
        } else if long_tag(el) {
            Some(LIMIT_LONG_TAG)
        } else if self.after_foreign_closed(el) {
            Some(LIMIT_FOREIGN_CLOSED)
        } else if let Some(why) = self.unread_base(el).filter(|_| self.base_dependent(value)) {
            Some(why)
        } else if (frame || refresh) && empty
            || frame && fragment_only(value) && self.same_document(value)
        {
            Some(LIMIT_EMPTY_TARGET)
        } else if !frame && self.same_document(value) {
            Some(OPEN_SAME_DOCUMENT)
        } else if fragment_only(value) && self.decided_before_base(el) && !self.base_neutralised {
            Some(LIMIT_FRAGMENT_BEFORE_BASE)
        } else {
            None
        };
        Some(Plan::Token { refresh, optional })
    }

    /// README: "every `ping` attribute gets `ping=""` first" (`Ping-From` carries the page's
    /// URL, and a same-site ping URL may redirect elsewhere).
    fn ping_plan(ping: &str) -> Option<Plan> {
        ping.split(is_ascii_ws)
            .any(|s| !s.is_empty())
            .then_some(Plan::Neutral {
                value: "",
                required: true,
                why: None,
            })
    }

    /// The plan for each no-namespace attribute of input element `a`.
    /// `out`: the element in the output, where known (what a limit's overrides did there).
    fn plans(
        &self,
        a: &Handle,
        a_root: &Handle,
        out: Option<&Handle>,
    ) -> HashMap<&'static str, Plan> {
        let mut plans = HashMap::new();
        if !is_html_element(a) {
            self.foreign_overrides(a, &mut plans);
            return plans;
        }
        let local = qual_name(a)
            .map(|n| n.local.to_string())
            .unwrap_or_default();
        let in_template = !Rc::ptr_eq(a_root, &self.before.document);
        if local == "form" && !in_template && self.form_id_shared(a, true) {
            plans.insert("id", Plan::Neutral { value: "", required: false, why: Some(RULE_FORM_ID_SHARED) });
        }
        match local.as_str() {
            "a" | "area" => {
                if let Some(h) = attr(a, "href") {
                    plans.extend(self.token_plan(a, &h, false).map(|p| ("href", p)));
                }
                if let Some(ping) = attr(a, "ping") {
                    plans.extend(Self::ping_plan(&ping).map(|p| ("ping", p)));
                }
            }
            "iframe" | "frame" => {
                if let Some(s) = attr(a, "src").filter(|s| !s.is_empty()) {
                    plans.extend(self.token_plan(a, &s, false).map(|p| ("src", p)));
                }
                if local == "iframe" {
                    if let Some(doc) = attr(a, "srcdoc") {
                        let plan = if self.depth >= MAX_SRCDOC_DEPTH {
                            Plan::Neutral {
                                value: "",
                                required: !doc.is_empty(),
                                why: None,
                            }
                        } else {
                            Plan::Srcdoc
                        };
                        plans.insert("srcdoc", plan);
                    }
                }
            }
            "meta" => {
                if is_refresh(a) {
                    let url = attr(a, "content")
                        .and_then(|c| parse_refresh(&c))
                        .and_then(|(_, url)| url);
                    if let Some(u) = url {
                        plans.extend(self.token_plan(a, &u, true).map(|p| ("content", p)));
                    }
                }
                let name = attr(a, "name");
                let exact = name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case("referrer"))
                    || attr(a, "http-equiv").is_some_and(|e| {
                        e.trim_matches(is_ascii_ws)
                            .eq_ignore_ascii_case("referrer-policy")
                    });
                let loose = name
                    .as_deref()
                    .is_some_and(|n| n.trim_matches(is_ascii_ws).eq_ignore_ascii_case("referrer"));
                if (exact || loose) && attr(a, "content").is_some_and(|c| !safe_referrer(&c)) {
                    plans.insert(
                        "content",
                        Plan::Neutral {
                            value: "same-origin",
                            required: exact,
                            why: (!exact).then_some(OPEN_LOOSE_META),
                        },
                    );
                }
            }
            // The rewriter took it for a form whose own id ties its input: anchoring its action
            // is allowed.
            "form"
                if !self.has_token(a)
                    && self.maybe_forms.get(&ptr(a)) == Some(&RULE_FORM_ID_SHARED)
                    && attr(a, "action").is_some_and(|v| !v.is_empty()) =>
            {
                plans.insert("action", Plan::Target { proof: false, why: Some(RULE_FORM_ID_SHARED) });
            }
            "form" if self.has_token(a) => {
                if attr(a, "id").is_none() && !in_template {
                    plans.insert(
                        "id",
                        Plan::AddId {
                            required: self.got_input.contains(&ptr(a)),
                        },
                    );
                }
                if attr(a, "action").is_some_and(|v| !v.is_empty()) {
                    plans.insert(
                        "action",
                        Plan::Target {
                            proof: true,
                            why: None,
                        },
                    );
                }
            }
            "base" => {
                plans.extend(self.base_decisions.get(&ptr(a)).map(|d| ("href", d.plan)));
            }
            _ => {}
        }
        let guarded = is_submitter(a) && self.after_token_form(a, in_template);
        if is_submitter(a) && attr(a, "formaction").is_some_and(|v| v.is_empty()) {
            let foreign_base = !self.same("#") && self.base_el.is_some();
            if foreign_base
                && (attr(a, "form").is_some() || in_template || guarded || {
                    form_owner(self.before, a, a_root).is_some_and(|f| self.has_token(&f))
                })
            {
                plans.insert(
                    "disabled",
                    Plan::AddDisabled {
                        required: false,
                        why: Some(LIMIT_EMPTY_FORMACTION),
                    },
                );
            }
        }
        if is_submitter(a) {
            if let Some(fa) = attr(a, "formaction").filter(|v| !v.is_empty()) {
                let has_form_attr = attr(a, "form").is_some();
                let owner = form_owner(self.before, a, a_root);
                let in_token_form = owner.as_ref().is_some_and(|f| self.has_token(f));
                // In a form the rewriter took for one whose own id ties its input.
                let in_shared = !in_token_form
                    && owner.as_ref().is_some_and(|f| self.maybe_forms.get(&ptr(f)) == Some(&RULE_FORM_ID_SHARED));
                // Rule 5 looks at submitters in token forms and at those that may join any form.
                let judged = in_token_form || has_form_attr;
                let parses =
                    resolve(&fa, &self.base).is_some() && resolve(&fa, &self.base_https).is_some();
                let disabled = |required, why| Plan::AddDisabled { required, why };
                if !parses {
                    // Not a URL: the browser submits nothing; disabling does no harm.
                    plans.insert("disabled", disabled(false, Some(OPEN_NOT_A_URL)));
                } else if self.same(&fa) {
                    let foreign_to_rewriter = if scheme_only(&fa) {
                        Some(RULE_SCHEME_ONLY)
                    } else if self.base_dependent(&fa) {
                        self.unread_base(a)
                    } else {
                        None
                    };
                    if let Some(why) = foreign_to_rewriter {
                        if judged || in_template || guarded {
                            plans.insert("disabled", disabled(false, Some(why)));
                        }
                    } else if judged {
                        let proof = in_token_form && !has_form_attr;
                        plans.insert("formaction", Plan::Target { proof, why: None });
                    } else if in_shared {
                        plans.insert("formaction", Plan::Target { proof: false, why: Some(RULE_FORM_ID_SHARED) });
                    } else if guarded {
                        plans.insert(
                            "formaction",
                            Plan::Target {
                                proof: false,
                                why: Some(RULE_AFTER_TOKEN_FORM),
                            },
                        );
                    } else if in_template {
                        // A clone may be put into any form: anchoring does no harm.
                        plans.insert(
                            "formaction",
                            Plan::Target {
                                proof: false,
                                why: Some(OPEN_TEMPLATE_SUBMITTER),
                            },
                        );
                    }
                } else if judged {
                    plans.insert("disabled", disabled(true, None));
                } else if in_shared {
                    plans.insert("disabled", disabled(false, Some(RULE_FORM_ID_SHARED)));
                } else if guarded {
                    plans.insert("disabled", disabled(false, Some(RULE_AFTER_TOKEN_FORM)));
                } else if in_template {
                    plans.insert("disabled", disabled(false, Some(OPEN_TEMPLATE_SUBMITTER)));
                }
            }
        }
        if REFERRER_ELEMENTS.contains(&local.as_str())
            && attr(a, "referrerpolicy").is_some_and(|p| !safe_referrer(&p))
        {
            plans.insert(
                "referrerpolicy",
                Plan::Neutral {
                    value: "same-origin",
                    required: true,
                    why: None,
                },
            );
        }
        if long_tag(a) {
            self.long_tag_overrides(a, &local, out, &mut plans);
        }
        plans
    }

    /// An svg/math element named like an HTML one that can send the page's URL (`a`, `area`,
    /// `img`, `iframe`, `link`, `script`, `meta`) may get the same overrides as the HTML one (no
    /// ping, a safe referrer policy, a safe meta policy), and a submitter `disabled`: harmless,
    /// and right should the parser have read it as HTML.
    fn foreign_overrides(&self, a: &Handle, plans: &mut HashMap<&'static str, Plan>) {
        let Some(name) = qual_name(a) else {
            return;
        };
        let local = &*name.local;
        if foreign_submitter(a, local) {
            plans.insert(
                "disabled",
                Plan::AddDisabled {
                    required: false,
                    why: Some(OPEN_FOREIGN_OVERRIDES),
                },
            );
        }
        if !["a", "area", "img", "iframe", "link", "script", "meta"].contains(&local) {
            return;
        }
        let neutral = |value| Plan::Neutral {
            value,
            required: false,
            why: Some(OPEN_FOREIGN_OVERRIDES),
        };
        if matches!(local, "a" | "area")
            && attr(a, "ping").is_some_and(|p| Self::ping_plan(&p).is_some())
        {
            plans.insert("ping", neutral(""));
        }
        if attr(a, "referrerpolicy").is_some_and(|p| !safe_referrer(&p)) {
            plans.insert("referrerpolicy", neutral("same-origin"));
        }
        let sets_policy = attr(a, "name")
            .is_some_and(|n| n.trim_matches(is_ascii_ws).eq_ignore_ascii_case("referrer"))
            || attr(a, "http-equiv").is_some_and(|e| {
                e.trim_matches(is_ascii_ws)
                    .eq_ignore_ascii_case("referrer-policy")
            });
        if local == "meta" && sets_policy && attr(a, "content").is_some_and(|c| !safe_referrer(&c))
        {
            plans.insert("content", neutral("same-origin"));
        }
    }

    /// `LIMIT_LONG_TAG`: the overrides the rewriter puts right after the name of a start tag it
    /// cannot read (no ping and a referrer policy of its own on links, a referrer policy on the
    /// other elements that use one, no meaning for a `<meta>`, `disabled` on a button or on an
    /// input in a token form). Allowed, not required (the tree tells a long tag only roughly); what
    /// the element's own attributes call for stays required.
    fn long_tag_overrides(
        &self,
        a: &Handle,
        local: &str,
        out: Option<&Handle>,
        plans: &mut HashMap<&'static str, Plan>,
    ) {
        let neutral = |value| Plan::Neutral {
            value,
            required: false,
            why: Some(LIMIT_LONG_TAG),
        };
        let mut allow = |name: &'static str, plan: Plan| {
            plans.entry(name).or_insert(plan);
        };
        match local {
            "a" | "area" => {
                allow("ping", neutral(""));
                allow("referrerpolicy", neutral("same-origin"));
            }
            "img" | "iframe" | "frame" | "link" | "script" => {
                allow("referrerpolicy", neutral("same-origin"));
            }
            "meta" => {
                allow("name", neutral(""));
                allow("http-equiv", neutral(""));
                // A meta without name and http-equiv sets no referrer policy.
                let meaningless = out.is_some_and(|o| {
                    attr(o, "name").is_none_or(|n| n.is_empty())
                        && attr(o, "http-equiv").is_none_or(|e| e.is_empty())
                });
                if meaningless && matches!(plans.get("content"), Some(Plan::Neutral { .. })) {
                    plans.insert("content", neutral("same-origin"));
                }
            }
            "button" | "input" => allow(
                "disabled",
                Plan::AddDisabled {
                    required: false,
                    why: Some(LIMIT_LONG_TAG),
                },
            ),
            // Its id, unread, may be one that ties a hidden input.
            "form" => allow("id", neutral("")),
            _ => {}
        }
        let _ = a;
    }

    fn check_element(&mut self, a: &Handle, b: &Handle, a_root: &Handle) {
        let label = qual_name(a).map(element_label).unwrap_or_default();
        let plans = self.plans(a, a_root, Some(b));
        let before = attr_map(a);
        let after = attr_map(b);
        let mut keys: Vec<(String, String)> = before
            .iter()
            .chain(&after)
            .map(|(ns, local, _)| (ns.clone(), local.clone()))
            .chain(plans.keys().map(|k| (String::new(), (*k).to_owned())))
            .collect();
        keys.sort();
        keys.dedup();
        let get = |list: &[(String, String, String)], ns: &str, local: &str| {
            list.iter()
                .find(|(n, l, _)| n == ns && l == local)
                .map(|(_, _, v)| v.clone())
        };
        for (ns, local) in keys {
            let va = get(&before, &ns, &local);
            let vb = get(&after, &ns, &local);
            let plan = if ns.is_empty() {
                plans.get(local.as_str()).copied()
            } else {
                None
            };
            let what = format!("{label}[{local}]");
            let show = |v: &Option<String>| v.as_deref().map_or("(none)".to_owned(), excerpt);
            match plan {
                None => {
                    if va != vb {
                        let holds = vb.as_ref().is_some_and(|v| v.contains(&self.setup.token));
                        let class = if holds {
                            format!("token where none is due: {what}")
                        } else {
                            format!("attribute changed: {what}")
                        };
                        self.find(
                            class,
                            format!(
                                "{} / before {} / after {}",
                                describe_node(a),
                                show(&va),
                                show(&vb)
                            ),
                        );
                    }
                }
                Some(Plan::Token {
                    optional: Some(why),
                    ..
                }) if va == vb => self.accept(why),
                Some(Plan::Token { refresh, .. }) => match (&va, &vb) {
                    (Some(va), Some(vb)) => self.check_token(&what, a, va, vb, refresh),
                    _ => self.find(
                        format!("token missing: {what}"),
                        format!("{} / after {}", describe_node(a), show(&vb)),
                    ),
                },
                Some(Plan::Target { proof, why }) => match (&va, &vb) {
                    (Some(va), Some(vb)) => {
                        if va != vb {
                            if let Some(why) = why {
                                self.accept(why);
                            }
                        }
                        self.check_target(&what, a, va, vb, proof);
                    }
                    _ => self.find(
                        format!("attribute changed: {what}"),
                        format!("{} / after {}", describe_node(a), show(&vb)),
                    ),
                },
                Some(Plan::Neutral {
                    value,
                    required,
                    why,
                }) => {
                    let neutralised = vb.as_deref() == Some(value) && va != vb;
                    if neutralised && !required {
                        if let Some(why) = why {
                            self.accept(why);
                        }
                    }
                    let ok = neutralised || (!required && va == vb);
                    if !ok {
                        let class = if va == vb {
                            format!("not neutralised: {what}")
                        } else {
                            format!("attribute changed: {what}")
                        };
                        self.find(
                            class,
                            format!(
                                "{} / want {value:?} / after {}",
                                describe_node(a),
                                show(&vb)
                            ),
                        );
                    }
                }
                Some(Plan::AddId { required }) => {
                    let prefix = format!("{}-", self.setup.form_id);
                    match &vb {
                        None if required => self.find(
                            "form id missing",
                            format!("{} got its hidden input but no id", describe_node(a)),
                        ),
                        None => {}
                        Some(id) if id.starts_with(&prefix) && required => {}
                        _ => self.find(
                            "attribute changed: form[id]",
                            format!("{} / after id {}", describe_node(a), show(&vb)),
                        ),
                    }
                }
                Some(Plan::AddDisabled { required, why }) => {
                    let added = vb.is_some() && va != vb;
                    let ok = vb.is_some()
                        && (va.is_none() || va == vb || vb.as_deref() == Some(""))
                        || (!required && va == vb);
                    if ok && added && !required {
                        if let Some(why) = why {
                            self.accept(why);
                        }
                    }
                    if !ok {
                        let class = if vb.is_none() {
                            format!("submitter to another site not disabled: {label}")
                        } else {
                            format!("attribute changed: {what}")
                        };
                        self.find(class, describe_node(a));
                    }
                }
                Some(Plan::Srcdoc) => match (&va, &vb) {
                    (Some(va), Some(vb)) => self.check_srcdoc(a, va, vb),
                    _ => self.find(
                        format!("attribute changed: {what}"),
                        format!("{} / after {}", describe_node(a), show(&vb)),
                    ),
                },
                Some(Plan::BaseHref {
                    allowed,
                    required,
                    why,
                }) => {
                    let decision = self.base_decisions.get(&ptr(a));
                    let neutral = |v: &Option<String>| {
                        v.as_ref().is_some_and(|v| decision.is_some_and(|d| d.neutral.contains(v)))
                    };
                    let neutralised = neutral(&vb) && va != vb;
                    if neutralised && !allowed {
                        self.find(
                            "base neutralised although no URL came before it",
                            describe_node(a),
                        );
                    } else if !neutralised && va != vb {
                        self.find(
                            format!("attribute changed: {what}"),
                            format!("before {} / after {}", show(&va), show(&vb)),
                        );
                    } else if !neutralised && required && !neutral(&va) {
                        let why = decision.and_then(|d| d.required_by.clone()).unwrap_or_default();
                        self.find(
                            "late base not neutralised",
                            format!("{} comes after {why}", describe_node(a)),
                        );
                    } else if !neutralised {
                        if let Some(why) = why {
                            self.accept(why);
                        }
                    }
                }
            }
        }
    }

    /// README: "An iframe's `srcdoc` is a document of its own (its requests carry the page's
    /// URL): it is rewritten by the same rules and written back." Its base is this document's
    /// (HTML: the fallback base URL of an about:srcdoc document); its findings count here.
    fn check_srcdoc(&mut self, a: &Handle, va: &str, vb: &str) {
        let before = parse(va);
        let after = parse(vb);
        let page = (self.base.clone(), self.base_https.clone());
        let mut inner = Oracle::new(self.setup, &before, &after, page, self.depth + 1);
        inner.utf8 = self.utf8;
        inner.run();
        let at = describe_node(a);
        for f in inner.findings {
            self.find(
                format!("srcdoc: {}", f.class),
                format!("{at}: {}", f.detail),
            );
        }
        if self.checking {
            self.accepted.extend(inner.accepted);
        }
    }

    /// `LIMIT_LONG_TAG`: a URL created before an unreadable first base was resolved against the
    /// document URL.
    /// `LIMIT_FRAMESET_DROPPED_BASE`: when `a` was made again after a frameset of the document
    /// whose dropped body held the first base, that base's URL.
    fn dropped_base_of(&self, a: &Handle) -> Option<Url> {
        let created = &self.before._created;
        let document = &self.before.document;
        let frameset = created.iter().position(|h| is_html(h, "frameset") && connected(h, document))?;
        let base = created
            .iter()
            .find(|h| is_html(h, "base") && attr(h, "href").is_some() && (connected(h, document) || dropped(h)))?;
        // Made again as a child of the root, not one of the frames (those the rewriter resolves
        // against the document's URL once the frameset took the body's place).
        let in_frameset = root_chain(a).iter().any(|h| is_html(h, "frameset"));
        if !dropped(base) || in_frameset || self.created(a).is_none_or(|at| at <= frameset) {
            return None;
        }
        resolve(&attr(base, "href")?, &self.doc_url)
    }

    /// The same, `value` against that base pointing at `have` (written scheme-relative,
    /// `//host/…`: the page's scheme, whatever the base's).
    fn frameset_dropped_base(&self, a: &Handle, value: &str, have: &Url) -> bool {
        let Some(mut there) = self.dropped_base_of(a).and_then(|b| resolve(value, &b)) else {
            return false;
        };
        there = strip_param(&there, &self.setup.param);
        there.set_scheme(have.scheme()).is_ok() && there == *have
    }

    /// The same, `value` against that base going to another site or nowhere (`javascript:`):
    /// no token was due.
    fn frameset_dropped_base_elsewhere(&self, a: &Handle, value: &str) -> bool {
        self.dropped_base_of(a)
            .is_some_and(|b| resolve(value, &b).is_none_or(|u| !self.setup.same_origin(&u)))
    }

    fn before_long_base(&self, a: &Handle) -> bool {
        self.base_long && self.before_base(a)
    }

    fn check_token(&mut self, what: &str, a: &Handle, va: &str, vb: &str, refresh: bool) {
        let (ua, ub) = if refresh {
            let ra = parse_refresh(va);
            let rb = parse_refresh(vb);
            match (ra, rb) {
                (Some((ta, Some(ua))), Some((tb, Some(ub)))) => {
                    if ta != tb {
                        self.find(
                            format!("refresh time changed: {what}"),
                            format!("before {va:?} / after {vb:?}"),
                        );
                    }
                    (ua, ub)
                }
                _ => {
                    self.find(
                        format!("token missing: {what}"),
                        format!("{} / after {vb:?} (no refresh URL)", describe_node(a)),
                    );
                    return;
                }
            }
        } else {
            (va.to_owned(), vb.to_owned())
        };
        let Some(target) = resolve(&ua, &self.base) else {
            return;
        };
        let Some(got) = resolve(&ub, &self.base) else {
            if c0_at_the_ends(&ua) {
                // A control moved into the authority: a link that goes nowhere.
                self.accept(LIMIT_C0_AT_THE_ENDS);
            } else {
                self.find(
                    format!("token URL does not parse: {what}"),
                    format!("before {va:?} / after {vb:?}"),
                );
            }
            return;
        };
        let (param, token) = (&self.setup.param, &self.setup.token);
        let pairs: Vec<(String, String)> = got.query_pairs().into_owned().collect();
        if !pairs.iter().any(|(k, v)| k == param && v == token) {
            // `LIMIT_AMP_HASH`: the token went into the fragment after a `&#` that starts no
            // character reference (so the browser sends no token; it stays in this page).
            let first_hash = ua.find('#');
            let amp_hash = first_hash.is_some_and(|at| at > 0 && ua[..at].ends_with('&'))
                && got
                    .fragment()
                    .is_some_and(|f| f.contains(&format!("{param}={token}")));
            if amp_hash {
                self.accept(LIMIT_AMP_HASH);
                return;
            }
            // Against the dropped base the link went to another site: no token was due then.
            if self.frameset_dropped_base_elsewhere(a, &ua) && !vb.contains(token.as_str()) {
                self.accept(LIMIT_FRAMESET_DROPPED_BASE);
                return;
            }
            let class = if vb.contains(token.as_str()) {
                format!("token not in the query: {what}")
            } else {
                format!("token missing: {what}")
            };
            self.find(
                class,
                format!("{} resolves to {target} / after {vb:?}", describe_node(a)),
            );
            return;
        }
        if pairs.iter().any(|(k, v)| k == param && v != token) {
            self.find(
                format!("old session parameter kept: {what}"),
                format!("before {va:?} / after {vb:?}"),
            );
        }
        let want = strip_param(&target, param);
        let have = strip_param(&got, param);
        if want != have {
            let doc_target = resolve(&ua, &self.doc_url).map(|u| strip_param(&u, param));
            if self.before_long_base(a) && doc_target.as_ref() == Some(&have) {
                self.accept(LIMIT_LONG_TAG);
            } else if self.frameset_dropped_base(a, &ua, &have) && self.setup.same_origin(&got) {
                self.accept(LIMIT_FRAMESET_DROPPED_BASE);
            } else if self.base_query_dropped(&ua, &want, Some(&have)) {
                self.accept(LIMIT_BASE_QUERY);
            } else if c0_at_the_ends(&ua) && without_c0(&have) == without_c0(&want) {
                self.accept(LIMIT_C0_AT_THE_ENDS);
            } else if !self.utf8
                && self.base_el.is_some()
                && without_escapes(&have, 0x80) == without_escapes(&want, 0x80)
            {
                self.accept(LIMIT_NON_UTF8_BASE);
            } else {
                // Judged base-proof as well: that is what decides whether a base can move it.
                self.find(
                    format!("token URL points elsewhere: {what}"),
                    format!(
                        "before {va:?} = {target} / after {vb:?} = {got} (base {})",
                        self.base
                    ),
                );
            }
        }
        if !resolve(&ub, &self.other_base).is_some_and(|u| same_place(&u, &got)) {
            self.find(
                format!("token URL not base-proof: {what}"),
                format!("before {va:?} / after {vb:?}"),
            );
        }
    }

    /// `LIMIT_BASE_QUERY`: an empty or fragment-only `value` under a base element with a query,
    /// written as the base URL without that query.
    fn base_query_dropped(&self, value: &str, want: &Url, have: Option<&Url>) -> bool {
        let v = significant(value);
        self.base_el.is_some()
            && !self.base_neutralised
            && (v.is_empty() || v.starts_with('#'))
            && want.query().is_some()
            && {
                let mut w = want.clone();
                w.set_query(None);
                Some(&w) == have
            }
    }

    fn check_target(&mut self, what: &str, a: &Handle, va: &str, vb: &str, proof: bool) {
        let want = resolve(va, &self.base);
        let got = resolve(vb, &self.base);
        if want != got {
            let from_doc = resolve(va, &self.doc_url);
            if self.before_long_base(a) && from_doc.is_some() && from_doc == got {
                self.accept(LIMIT_LONG_TAG);
            } else if want
                .as_ref()
                .is_some_and(|w| self.base_query_dropped(va, w, got.as_ref()))
            {
                self.accept(LIMIT_BASE_QUERY);
            } else if c0_at_the_ends(va)
                && (got.is_none() || got.as_ref().map(without_c0) == want.as_ref().map(without_c0))
            {
                self.accept(LIMIT_C0_AT_THE_ENDS);
            } else {
                let class = if vb.contains(&self.setup.token) {
                    format!("token where none is due: {what}")
                } else {
                    format!("target changed: {what}")
                };
                self.find(
                    class,
                    format!("{} / before {va:?} / after {vb:?}", describe_node(a)),
                );
            }
        }
        if proof {
            let proofed = got
                .as_ref()
                .is_some_and(|g| resolve(vb, &self.other_base).is_some_and(|u| same_place(&u, g)));
            if !proofed {
                self.find(
                    format!("not base-proof: {what}"),
                    format!("before {va:?} / after {vb:?}"),
                );
            }
        }
    }

    /// The wrapper of an inserted hidden input, when it has the shape `wrapped_input` wants and
    /// holds, around the input, only copies the parser made: formatting elements with the name
    /// and attributes of one outside any wrapper created before it (their URLs and tokens are
    /// that element's, judged where it stands).
    fn check_wrapper(&mut self, input: &Handle) -> Option<Handle> {
        let is_input = |h: &Handle| self.is_hidden_input(h);
        let mut chain = Vec::new();
        let mut cur = parent(input);
        while let Some(p) = cur.clone().filter(is_formatting) {
            cur = parent(&p);
            chain.push(p);
        }
        let wrapper = cur.filter(|w| wrapped_input(w, &is_input).is_some_and(|i| Rc::ptr_eq(&i, input)));
        let Some(wrapper) = wrapper else {
            self.find("hidden input outside its wrapper", describe_node(input));
            return None;
        };
        let made_at = self.after.order.get(&ptr(&wrapper)).copied().unwrap_or(usize::MAX);
        let outside: Vec<Handle> = elements_with_roots(&self.after.document)
            .into_iter()
            .map(|(el, _)| el)
            .filter(|el| self.after.order.get(&ptr(el)).is_some_and(|&at| at < made_at))
            .filter(|el| !self.in_wrapper(el))
            .collect();
        for copy in &chain {
            let original = outside
                .iter()
                .any(|o| qual_name(o) == qual_name(copy) && attr_map(o) == attr_map(copy));
            if !original {
                self.find("hidden input's wrapper holds an element of its own", describe_node(copy));
            }
        }
        Some(wrapper)
    }

    /// Inside a hidden input's wrapper (the wrapper included).
    fn in_wrapper(&self, el: &Handle) -> bool {
        let is_input = |h: &Handle| self.is_hidden_input(h);
        let mut cur = Some(el.clone());
        while let Some(n) = cur {
            if wrapped_input(&n, &is_input).is_some() {
                return true;
            }
            cur = parent(&n);
        }
        false
    }

    fn check_hidden_inputs(&mut self) {
        self.path.clear();
        let mut count: HashMap<*const Node, usize> = HashMap::new();
        let structural = self.structure_findings() > 0;
        for (input, root, owner) in self.hidden.clone() {
            let attrs = attr_map(&input);
            let shape_ok = attrs.iter().all(|(ns, local, value)| {
                ns.is_empty()
                    && match local.as_str() {
                        "type" => value == "hidden",
                        "name" => *value == self.setup.param,
                        "value" => *value == self.setup.token,
                        "form" => true,
                        _ => false,
                    }
            }) && attr(&input, "type").is_some()
                && attr(&input, "name").is_some();
            if !shape_ok {
                self.find("hidden input malformed", describe_node(&input));
            }
            let Some(wrapper) = self.check_wrapper(&input) else {
                continue;
            };
            // `LIMIT_TEMPLATE_TABLE`: in template contents, an input whose wrapper is not its
            // form's first child (nor in a formatting element the adoption agency put first in
            // the form around the form's children) followed a `<form>` the parser ignored (in a
            // table); it belongs to no form, or to the enclosing token form as a second one.
            let displaced = !Rc::ptr_eq(&root, &self.after.document)
                && attr(&input, "form").is_none()
                && !first_in_form(&wrapper);
            let Some(owner) = owner else {
                if displaced {
                    self.accept(LIMIT_TEMPLATE_TABLE);
                    continue;
                }
                if attr(&input, "form").is_some_and(|id| self.id_shared_in_output(&id)) {
                    self.accept(RULE_FORM_ID_SHARED);
                    continue;
                }
                self.find(
                    "hidden input belongs to no form",
                    format!(
                        "{} (parent {})",
                        describe_node(&input),
                        parent(&input).map_or("-".to_owned(), |p| describe_node(&p))
                    ),
                );
                continue;
            };
            let Some(form) = self.out_to_in.get(&ptr(&owner)).cloned() else {
                if structural {
                    continue; // the form is in a part that a structure finding already covers
                }
                self.find(
                    "hidden input belongs to a form the rewriter made",
                    describe_node(&owner),
                );
                continue;
            };
            let p = ptr(&form);
            if !self.token_forms.contains(&p) && !self.maybe_forms.contains_key(&p) {
                self.find(
                    "token in a form that must not get it",
                    format!("{} owns {}", describe_node(&form), describe_node(&input)),
                );
                continue;
            }
            if displaced && self.has_token(&form) {
                self.accept(LIMIT_TEMPLATE_TABLE);
                continue;
            }
            *count.entry(p).or_default() += 1;
            // A form with an id of its own owns its input by position, or (in a table) by that id.
            let (want_form_attr, or_form_attr) = match attr(&form, "id") {
                Some(id) => (None, Some(id)),
                None => (attr(&owner, "id"), None),
            };
            let form_attr = attr(&input, "form");
            if form_attr != want_form_attr && (or_form_attr.is_none() || form_attr != or_form_attr) {
                self.find(
                    "hidden input form attribute",
                    format!(
                        "{} in {} (want form={want_form_attr:?})",
                        describe_node(&input),
                        describe_node(&owner)
                    ),
                );
            }
        }
        let mut forms: Vec<(usize, Handle)> = elements_with_roots(&self.before.document)
            .into_iter()
            .filter(|(el, _)| {
                let p = ptr(el);
                self.token_forms.contains(&p) || self.maybe_forms.contains_key(&p)
            })
            .map(|(el, _)| (self.created(&el).unwrap_or(0), el))
            .collect();
        forms.sort_by_key(|(at, _)| *at);
        for (_, form) in forms {
            let p = ptr(&form);
            if !self.in_to_out.contains_key(&p) {
                continue; // a structure finding already covers it
            }
            let n = count.get(&p).copied().unwrap_or(0);
            let maybe = self.maybe_forms.get(&p).copied();
            match (n, maybe) {
                (1, _) => {}
                (0, Some(why)) => self.accept(why),
                (0, None) => self.find(
                    "token form without hidden input",
                    format!("{} owns 0", describe_node(&form)),
                ),
                _ => self.find(
                    "token form with several hidden inputs",
                    format!("{} owns {n}", describe_node(&form)),
                ),
            }
        }
    }

    /// Rule 2: the ids inserted into forms of the document (not template contents) are
    /// `FORM_ID-1`, `FORM_ID-2`, ... in document order.
    fn check_form_ids(&mut self) {
        self.path.clear();
        let mut forms: Vec<(usize, Handle)> = elements_with_roots(&self.after.document)
            .into_iter()
            .filter(|(el, root)| is_html(el, "form") && Rc::ptr_eq(root, &self.after.document))
            .map(|(el, _)| (self.after.order.get(&ptr(&el)).copied().unwrap_or(0), el))
            .collect();
        forms.sort_by_key(|(at, _)| *at);
        let mut n = 0;
        for (_, out) in forms {
            let Some(input) = self.out_to_in.get(&ptr(&out)).cloned() else {
                continue;
            };
            let (None, Some(id)) = (attr(&input, "id"), attr(&out, "id")) else {
                continue;
            };
            n += 1;
            let want = format!("{}-{n}", self.setup.form_id);
            if id != want {
                self.find(
                    "form id out of sequence",
                    format!("{} got id {id:?}, want {want:?}", describe_node(&input)),
                );
            }
        }
    }
}

fn safe_referrer(value: &str) -> bool {
    let v = value.trim_matches(is_ascii_ws);
    SAFE_REFERRER.iter().any(|s| s.eq_ignore_ascii_case(v))
}

/// The parsed tree of `bytes`, one node a line (html5ever's view, for reading findings).
pub fn dump(bytes: &[u8]) -> String {
    fn visit(node: &Handle, depth: usize, out: &mut String) {
        for child in node.children.borrow().iter() {
            out.push_str(&"  ".repeat(depth));
            out.push_str(&describe_node(child));
            out.push('\n');
            if let Some(content) = template_contents(child) {
                out.push_str(&"  ".repeat(depth + 1));
                out.push_str("#content\n");
                visit(&content, depth + 2, out);
            }
            visit(child, depth + 1, out);
        }
    }
    let parsed = parse(&decode(bytes, std::str::from_utf8(bytes).is_ok()));
    let mut out = String::new();
    visit(&parsed.document, 0, &mut out);
    out
}
