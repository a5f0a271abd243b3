//! The differential oracle (issue 13): the rewriter judged by a spec-compliant HTML parser.
//!
//! html5ever (scripting on, so `<noscript>` content is raw text) parses the page before and after
//! the rewriter. From the tree of the INPUT (document and template contents) the oracle derives
//! what docs' conventions (rule 1, 2, 3, 5) demand; the tree of the OUTPUT must then show exactly
//! that and nothing else:
//!
//! - (a) the token: every HTML `a`/`area` `href`, `iframe`/`frame` non-empty `src` and
//!   `meta http-equiv=refresh` URL that resolves (WHATWG URL, `url` crate) to http(s) on the host
//!   or an allowed host carries `param=token` in its query (optional only for a link to a fragment
//!   of the document itself, which sends no request); every form the parser created whose
//!   action is same-origin owns exactly one inserted `<input type=hidden name=param value=token>`
//!   (owner as the browser computes it: its `form=` id, else the parser's form pointer, else the
//!   nearest ancestor form); nothing else holds the token.
//! - (b) the base: the output's document base (the first HTML `<base href>` outside templates) is
//!   the one the rewriter resolved against: the input's first base, or the document URL when that
//!   base was neutralised (allowed only when a URL-bearing element came before it in source order,
//!   required when such an element's URL resolves differently against the two). Every token URL
//!   resolves against the output's base to the input's target plus the token, and is base-proof
//!   (resolves to the same place against any other base).
//! - (c) nothing else changes: the output tree equals the input tree node by node once the
//!   inserted hidden inputs are removed, except the documented edits: token-bearing values, the
//!   base-proof form `action`/`formaction`, an `id` (`form_id`...) inserted into a token form
//!   (whether its hidden input then belongs to it is judged by ownership), the neutralised first
//!   duplicates of rule 5 (`content`/`referrerpolicy` = `same-origin`, `ping=""`), `disabled` on
//!   rule-5 submitters, and `href=""` on a neutralised base.
//!
//! Where docs' conventions leave a case open, the oracle takes the browser's view and allows
//! both: a link to a fragment of the document itself may stay without the token (it sends no
//! request); a form id may or may not be inserted (the hidden input's owner, as the browser
//! computes it, decides); an empty referrer policy (no policy) may stay; a submitter inside
//! template contents may be disabled. A submitter's formaction counts as a URL decided before
//! the base only where rule 5 looks at it (in a token form, or with `form=`).
//!
//! Source order (for "came before the base") is the order in which the parser created elements,
//! recorded by a sink that wraps markup5ever_rcdom's and also records the parser's form
//! associations. The placeholder (rule 4) is off here: `Setup::options` leaves it empty.
//!
//! Shared by tests/rewrite_differential.rs and fuzz/fuzz_targets/differential.rs.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cookieless::rewrite::{RewriteOptions, Rewriter};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::tree_builder::{ElementFlags, NodeOrText, QuirksMode, TreeBuilderOpts, TreeSink};
use html5ever::{parse_document, Attribute, ExpandedName, ParseOpts, QualName};
use markup5ever_rcdom::{Handle, Node, NodeData, RcDom};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;
use url::Url;

const HTML_NS: &str = "http://www.w3.org/1999/xhtml";

/// A base no page here uses: a base-proof URL resolves to the same place against it.
const OTHER_BASE: &str = "https://other-base.example/deep/er/page?q#f";

/// Referrer policies that send no more than the origin elsewhere (rule 5).
const SAFE_REFERRER: &[&str] = &[
    "no-referrer",
    "never",
    "origin",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
    "origin-when-cross-origin",
    "origin-when-crossorigin",
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

    pub fn document_url(&self) -> Url {
        Url::parse(&format!("http://{}{}", self.host, self.path)).expect("document URL")
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

    /// The oracle needs the token to be new: an input that already holds it cannot be judged.
    pub fn usable(&self, input: &[u8]) -> bool {
        !contains(input, self.token.as_bytes())
    }
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

pub fn rewrite(setup: &Setup, input: &[u8]) -> Vec<u8> {
    let mut r = Rewriter::new(setup.options());
    let mut out = Vec::new();
    r.write(input, &mut out);
    r.end(&mut out);
    out
}

pub fn rewrite_chunked(setup: &Setup, input: &[u8], size: usize) -> Vec<u8> {
    let mut r = Rewriter::new(setup.options());
    let mut out = Vec::new();
    for chunk in input.chunks(size.max(1)) {
        r.write(chunk, &mut out);
    }
    r.end(&mut out);
    out
}

/// One difference between what the rewriter wrote and what the conventions demand.
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
    if !setup.usable(input) {
        return vec![Finding {
            class: "oracle: input already holds the token".to_owned(),
            detail: String::new(),
        }];
    }
    // A UTF-16 byte-order mark overrides any charset: the bytes are not this HTML, so nothing may
    // change (rule 7).
    if input.starts_with(&[0xFF, 0xFE]) || input.starts_with(&[0xFE, 0xFF]) {
        if input == output {
            return Vec::new();
        }
        return vec![Finding {
            class: "UTF-16 body changed".to_owned(),
            detail: format!("{} bytes in, {} out", input.len(), output.len()),
        }];
    }
    // Same decoding on both sides: UTF-8 when the input is UTF-8, else one char per byte (the
    // rewriter inserts ASCII only, so the structure is what a browser sees in any ASCII-compatible
    // charset).
    let utf8 = std::str::from_utf8(input).is_ok();
    let before = parse(&decode(input, utf8));
    let after = parse(&decode(output, utf8));
    let mut oracle = Oracle::new(setup, &before, &after);
    oracle.run();
    oracle.findings
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
// Parsing: markup5ever_rcdom's tree, plus creation order and the parser's form associations.

pub struct Parsed {
    pub document: Handle,
    /// Element -> the order in which the parser created it (source order of its start tag).
    order: HashMap<*const Node, usize>,
    /// Form-associated element -> the form the parser's form element pointer gave it.
    assoc: HashMap<*const Node, Handle>,
    /// Keeps every created element alive, so that the pointers above stay unique.
    _created: Vec<Handle>,
}

pub fn parse(text: &str) -> Parsed {
    let opts = ParseOpts {
        tree_builder: TreeBuilderOpts {
            scripting_enabled: true,
            ..TreeBuilderOpts::default()
        },
        ..ParseOpts::default()
    };
    parse_document(Recorder::default(), opts).one(text)
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

// ---------------------------------------------------------------------------------------------
// The oracle.

/// A child in a comparison: adjacent text merged (removing an inserted input can leave two).
enum Kid {
    Node(Handle),
    Text(String),
}

fn kids(node: &Handle, inserted: &mut dyn FnMut(&Handle) -> bool) -> Vec<Kid> {
    let mut out: Vec<Kid> = Vec::new();
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

fn describe_kid(k: &Kid) -> String {
    match k {
        Kid::Node(h) => describe_node(h),
        Kid::Text(t) => format!("text {}", excerpt(t)),
    }
}

/// What the output must show for one attribute of one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// A URL (or a meta refresh content) that gets the token; `optional` for a fragment of this
    /// very document (a same-document navigation sends no request).
    Token { refresh: bool, optional: bool },
    /// A form action / formaction: the same target; base-proof when `proof`.
    Target { proof: bool },
    /// A neutralising first duplicate: the value becomes `value` (or may, when not `required`).
    Neutral { value: &'static str, required: bool },
    /// An id the rewriter may insert into a token form that had none (`form_id`, maybe with a
    /// suffix); whether the hidden input then belongs to the form is the ownership check's call.
    AddId,
    /// `disabled` inserted into a submitter (or may be, when not `required`).
    AddDisabled { required: bool },
    /// The first base's href: may become "" (`allowed`), must (`required`).
    BaseHref { allowed: bool, required: bool },
}

struct Oracle<'a> {
    setup: &'a Setup,
    before: &'a Parsed,
    after: &'a Parsed,
    doc_url: Url,
    other_base: Url,
    /// The base the rewriter resolved against: the output document's base URL.
    base: Url,
    base_el: Option<Handle>,
    base_allowed: bool,
    base_required: Option<String>,
    token_forms: HashSet<*const Node>,
    in_to_out: HashMap<*const Node, Handle>,
    out_to_in: HashMap<*const Node, Handle>,
    /// Inserted hidden inputs found in the output, with the root of their tree.
    inserted: Vec<(Handle, Handle)>,
    path: Vec<String>,
    findings: Vec<Finding>,
}

impl<'a> Oracle<'a> {
    fn new(setup: &'a Setup, before: &'a Parsed, after: &'a Parsed) -> Oracle<'a> {
        let doc_url = setup.document_url();
        let base_of = |doc: &Handle| {
            base_element(doc)
                .and_then(|b| attr(&b, "href"))
                .and_then(|href| resolve(&href, &doc_url))
                .unwrap_or_else(|| doc_url.clone())
        };
        let base = base_of(&after.document);
        Oracle {
            setup,
            before,
            after,
            other_base: Url::parse(OTHER_BASE).expect("other base"),
            base,
            base_el: base_element(&before.document),
            base_allowed: false,
            base_required: None,
            token_forms: HashSet::new(),
            in_to_out: HashMap::new(),
            out_to_in: HashMap::new(),
            inserted: Vec::new(),
            path: Vec::new(),
            findings: Vec::new(),
            doc_url,
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

    fn same(&self, value: &str) -> bool {
        resolve(value, &self.base).is_some_and(|u| self.setup.same_origin(&u))
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

    fn run(&mut self) {
        // Rule 1: forms the parser created whose action is same-origin.
        for (el, _) in elements_with_roots(&self.before.document) {
            if is_html(&el, "form") {
                let ours = match attr(&el, "action") {
                    None => true,
                    Some(a) if a.is_empty() => true,
                    Some(a) => self.same(&a),
                };
                if ours {
                    self.token_forms.insert(ptr(&el));
                }
            }
        }
        self.decide_base();
        let (a, b) = (self.before.document.clone(), self.after.document.clone());
        self.walk(&a, &b, &a, &b);
        self.check_hidden_inputs();
    }

    /// Rule 3: may / must the input's first base be neutralised?
    fn decide_base(&mut self) {
        let Some(base_el) = self.base_el.clone() else {
            return;
        };
        let input_base = attr(&base_el, "href")
            .and_then(|h| resolve(&h, &self.doc_url))
            .unwrap_or_else(|| self.doc_url.clone());
        let Some(&base_at) = self.before.order.get(&ptr(&base_el)) else {
            return;
        };
        let mut earlier: Vec<(usize, Handle, Handle)> = elements_with_roots(&self.before.document)
            .into_iter()
            .filter_map(|(el, root)| {
                let at = *self.before.order.get(&ptr(&el))?;
                (at < base_at).then_some((at, el, root))
            })
            .collect();
        earlier.sort_by_key(|(at, _, _)| *at);
        for (_, el, root) in earlier {
            let urls = decided_urls(&el);
            if urls.is_none() {
                continue;
            }
            self.base_allowed = true;
            // A submitter's formaction matters only where rule 5 looks at it.
            let matters = !is_submitter(&el)
                || attr(&el, "form").is_some()
                || form_owner(self.before, &el, &root)
                    .is_some_and(|f| self.token_forms.contains(&ptr(&f)));
            if matters && self.base_required.is_none() {
                let moved = urls
                    .unwrap_or_default()
                    .into_iter()
                    .find(|u| resolve(u, &self.doc_url) != resolve(u, &input_base));
                if let Some(u) = moved {
                    self.base_required = Some(format!("{} (URL {u:?})", describe_node(&el)));
                }
            }
        }
    }

    fn walk(&mut self, a: &Handle, b: &Handle, a_root: &Handle, b_root: &Handle) {
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
                self.check_element(a, b, a_root);
                if let (Some(ca), Some(cb)) = (template_contents(a), template_contents(b)) {
                    self.path.push("#content".to_owned());
                    self.walk(&ca, &cb, &ca, &cb);
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
        let token = self.setup.token.clone();
        let mut found: Vec<Handle> = Vec::new();
        let ka = kids(a, &mut |_| false);
        let kb = kids(b, &mut |h| {
            let hidden = is_html(h, "input") && attr(h, "value").as_deref() == Some(token.as_str());
            if hidden {
                found.push(h.clone());
            }
            hidden
        });
        for h in found {
            self.inserted.push((h, b_root.clone()));
        }
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
                    self.walk(n1, n2, a_root, b_root);
                    self.path.pop();
                }
                _ => {}
            }
        }
    }

    /// The plan for each no-namespace attribute of input element `a`.
    fn plans(&self, a: &Handle, a_root: &Handle) -> HashMap<&'static str, Plan> {
        let mut plans = HashMap::new();
        let html = is_html_element(a);
        let local = qual_name(a)
            .map(|n| n.local.to_string())
            .unwrap_or_default();
        if html {
            match local.as_str() {
                "a" | "area" => {
                    if let Some(h) = attr(a, "href").filter(|h| self.same(h)) {
                        let optional = self.same_document(&h);
                        plans.insert(
                            "href",
                            Plan::Token {
                                refresh: false,
                                optional,
                            },
                        );
                    }
                    if let Some(ping) = attr(a, "ping") {
                        let urls: Vec<Option<Url>> = ping
                            .split(is_ascii_ws)
                            .filter(|s| !s.is_empty())
                            .map(|s| resolve(s, &self.base))
                            .collect();
                        let foreign = urls
                            .iter()
                            .any(|u| u.as_ref().is_some_and(|u| !self.setup.same_origin(u)));
                        let unparsed = urls.iter().any(Option::is_none);
                        if foreign || unparsed {
                            plans.insert(
                                "ping",
                                Plan::Neutral {
                                    value: "",
                                    required: foreign,
                                },
                            );
                        }
                    }
                }
                "iframe" | "frame"
                    if attr(a, "src").is_some_and(|s| !s.is_empty() && self.same(&s)) =>
                {
                    plans.insert(
                        "src",
                        Plan::Token {
                            refresh: false,
                            optional: false,
                        },
                    );
                }
                "meta" => {
                    if is_refresh(a) {
                        let url = attr(a, "content")
                            .and_then(|c| parse_refresh(&c))
                            .and_then(|(_, url)| url);
                        if let Some(u) = url.filter(|u| self.same(u)) {
                            let optional = self.same_document(&u);
                            plans.insert(
                                "content",
                                Plan::Token {
                                    refresh: true,
                                    optional,
                                },
                            );
                        }
                    }
                    if attr(a, "name").is_some_and(|n| n.eq_ignore_ascii_case("referrer")) {
                        match attr(a, "content") {
                            Some(c) if !safe_referrer(&c) => {
                                plans.insert(
                                    "content",
                                    Plan::Neutral {
                                        value: "same-origin",
                                        required: !empty_referrer(&c),
                                    },
                                );
                            }
                            None => {
                                plans.insert(
                                    "content",
                                    Plan::Neutral {
                                        value: "same-origin",
                                        required: false,
                                    },
                                );
                            }
                            Some(_) => {}
                        }
                    }
                }
                "form" if self.token_forms.contains(&ptr(a)) => {
                    if attr(a, "id").is_none() {
                        plans.insert("id", Plan::AddId);
                    }
                    if attr(a, "action").is_some_and(|v| !v.is_empty()) {
                        plans.insert("action", Plan::Target { proof: true });
                    }
                }
                "base" if self.base_el.as_ref().is_some_and(|b| Rc::ptr_eq(b, a)) => {
                    plans.insert(
                        "href",
                        Plan::BaseHref {
                            allowed: self.base_allowed,
                            required: self.base_required.is_some(),
                        },
                    );
                }
                _ => {}
            }
            if is_submitter(a) {
                if let Some(fa) = attr(a, "formaction").filter(|v| !v.is_empty()) {
                    let has_form_attr = attr(a, "form").is_some();
                    let in_token_form = form_owner(self.before, a, a_root)
                        .is_some_and(|f| self.token_forms.contains(&ptr(&f)));
                    match resolve(&fa, &self.base) {
                        Some(u) if self.setup.same_origin(&u) => {
                            if in_token_form && !has_form_attr {
                                plans.insert("formaction", Plan::Target { proof: true });
                            } else if in_token_form || has_form_attr {
                                plans.insert("formaction", Plan::Target { proof: false });
                            }
                        }
                        Some(_) => {
                            if in_token_form || has_form_attr {
                                plans.insert("disabled", Plan::AddDisabled { required: true });
                            } else if !Rc::ptr_eq(a_root, &self.before.document) {
                                // In a template: a clone may be put into any form.
                                plans.insert("disabled", Plan::AddDisabled { required: false });
                            }
                        }
                        // Not a URL: the browser submits nothing; disabling does no harm.
                        None => {
                            plans.insert("disabled", Plan::AddDisabled { required: false });
                        }
                    }
                }
            }
        }
        if let Some(p) = attr(a, "referrerpolicy").filter(|p| !safe_referrer(p)) {
            plans.insert(
                "referrerpolicy",
                Plan::Neutral {
                    value: "same-origin",
                    required: !empty_referrer(&p),
                },
            );
        }
        plans
    }

    fn check_element(&mut self, a: &Handle, b: &Handle, a_root: &Handle) {
        let label = qual_name(a).map(element_label).unwrap_or_default();
        let plans = self.plans(a, a_root);
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
                Some(Plan::Token { optional: true, .. }) if va == vb => {}
                Some(Plan::Token { refresh, .. }) => match (&va, &vb) {
                    (Some(va), Some(vb)) => self.check_token(&what, a, va, vb, refresh),
                    _ => self.find(
                        format!("token missing: {what}"),
                        format!("{} / after {}", describe_node(a), show(&vb)),
                    ),
                },
                Some(Plan::Target { proof }) => match (&va, &vb) {
                    (Some(va), Some(vb)) => self.check_target(&what, a, va, vb, proof),
                    _ => self.find(
                        format!("attribute changed: {what}"),
                        format!("{} / after {}", describe_node(a), show(&vb)),
                    ),
                },
                Some(Plan::Neutral { value, required }) => {
                    let ok = vb.as_deref() == Some(value) || (!required && va == vb);
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
                Some(Plan::AddId) => match &vb {
                    None => {}
                    Some(id) if id.starts_with(&self.setup.form_id) => {}
                    _ => self.find(
                        "attribute changed: form[id]",
                        format!("{} / after id {}", describe_node(a), show(&vb)),
                    ),
                },
                Some(Plan::AddDisabled { required }) => {
                    let ok = vb.is_some()
                        && (va.is_none() || va == vb || vb.as_deref() == Some(""))
                        || (!required && va == vb);
                    if !ok {
                        let class = if vb.is_none() {
                            format!("submitter to another site not disabled: {label}")
                        } else {
                            format!("attribute changed: {what}")
                        };
                        self.find(class, describe_node(a));
                    }
                }
                Some(Plan::BaseHref { allowed, required }) => {
                    let neutralised = vb.as_deref() == Some("") && va.as_deref() != Some("");
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
                    } else if !neutralised && required {
                        let why = self.base_required.clone().unwrap_or_default();
                        self.find(
                            "late base not neutralised",
                            format!("{} comes after {why}", describe_node(a)),
                        );
                    }
                }
            }
        }
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
            self.find(
                format!("token URL does not parse: {what}"),
                format!("before {va:?} / after {vb:?}"),
            );
            return;
        };
        let (param, token) = (&self.setup.param, &self.setup.token);
        let pairs: Vec<(String, String)> = got.query_pairs().into_owned().collect();
        if !pairs.iter().any(|(k, v)| k == param && v == token) {
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
            self.find(
                format!("token URL points elsewhere: {what}"),
                format!(
                    "before {va:?} = {target} / after {vb:?} = {got} (base {})",
                    self.base
                ),
            );
            return;
        }
        if !resolve(&ub, &self.other_base).is_some_and(|u| same_place(&u, &got)) {
            self.find(
                format!("token URL not base-proof: {what}"),
                format!("before {va:?} / after {vb:?}"),
            );
        }
    }

    fn check_target(&mut self, what: &str, a: &Handle, va: &str, vb: &str, proof: bool) {
        let want = resolve(va, &self.base);
        let got = resolve(vb, &self.base);
        if want != got {
            let class = if vb.contains(&self.setup.token) {
                format!("token where none is due: {what}")
            } else {
                format!("target changed: {what}")
            };
            self.find(
                class,
                format!("{} / before {va:?} / after {vb:?}", describe_node(a)),
            );
            return;
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

    fn check_hidden_inputs(&mut self) {
        self.path.clear();
        let mut count: HashMap<*const Node, usize> = HashMap::new();
        let structural = self
            .findings
            .iter()
            .any(|f| f.class.starts_with("structure"));
        for (input, root) in std::mem::take(&mut self.inserted) {
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
            let owner = form_owner(self.after, &input, &root);
            let Some(owner) = owner else {
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
            if !self.token_forms.contains(&ptr(&form)) {
                self.find(
                    "token in a form that must not get it",
                    format!("{} owns {}", describe_node(&form), describe_node(&input)),
                );
                continue;
            }
            *count.entry(ptr(&form)).or_default() += 1;
            let want_form_attr = match attr(&form, "id") {
                Some(_) => None,
                None => attr(&owner, "id"),
            };
            if attr(&input, "form") != want_form_attr {
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
            .filter(|(el, _)| self.token_forms.contains(&ptr(el)))
            .map(|(el, _)| (self.before.order.get(&ptr(&el)).copied().unwrap_or(0), el))
            .collect();
        forms.sort_by_key(|(at, _)| *at);
        for (_, form) in forms {
            if !self.in_to_out.contains_key(&ptr(&form)) {
                continue; // a structure finding already covers it
            }
            let n = count.get(&ptr(&form)).copied().unwrap_or(0);
            if n != 1 {
                let class = if n == 0 {
                    "token form without hidden input"
                } else {
                    "token form with several hidden inputs"
                };
                self.find(class, format!("{} owns {n}", describe_node(&form)));
            }
        }
    }
}

fn safe_referrer(value: &str) -> bool {
    let v = value.trim_matches(is_ascii_ws);
    SAFE_REFERRER.iter().any(|s| s.eq_ignore_ascii_case(v))
}

/// An empty policy is no policy (the document's, which the filter's Referrer-Policy header
/// sets): neutralising it is allowed, not required. Conventions rule 5 lists no such exception.
fn empty_referrer(value: &str) -> bool {
    value.trim_matches(is_ascii_ws).is_empty()
}

/// The URLs the rewriter decides on for an element (rule 1, 2 and 5): `None` when it decides
/// nothing there. A form always counts (its action is decided even when missing).
fn decided_urls(el: &Handle) -> Option<Vec<String>> {
    if !is_html_element(el) {
        return None;
    }
    let local = qual_name(el)?.local.to_string();
    let mut urls = Vec::new();
    let mut decides = false;
    match local.as_str() {
        "a" | "area" => {
            if let Some(h) = attr(el, "href") {
                decides = true;
                urls.push(h);
            }
            if let Some(p) = attr(el, "ping") {
                decides = true;
                urls.extend(
                    p.split(is_ascii_ws)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                );
            }
        }
        "iframe" | "frame" => {
            if let Some(s) = attr(el, "src").filter(|s| !s.is_empty()) {
                decides = true;
                urls.push(s);
            }
        }
        "meta" if is_refresh(el) => {
            if let Some((_, Some(u))) = attr(el, "content").and_then(|c| parse_refresh(&c)) {
                decides = true;
                urls.push(u);
            }
        }
        "form" => {
            decides = true;
            urls.extend(attr(el, "action").filter(|a| !a.is_empty()));
        }
        _ => {}
    }
    if let Some(fa) = attr(el, "formaction").filter(|v| !v.is_empty()) {
        if is_submitter(el) {
            decides = true;
            urls.push(fa);
        }
    }
    decides.then_some(urls)
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
