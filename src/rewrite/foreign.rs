//! Foreign content: where a page is inside `<svg>` or `<math>`, as the HTML standard's tree
//! construction decides it, reduced to what matters for the token.
//!
//! Inside foreign content no element is an HTML one: `<a>`, `<form>`, `<base>`, `<template>` are
//! SVG or MathML elements that carry no token and move no form pointer, `<style>`, `<title>`,
//! `<script>`, `<noscript>` hold markup rather than raw text, and `<![CDATA[` is a CDATA section
//! (elsewhere it is a bogus comment that ends at the first `>`). The HTML integration points (SVG
//! `foreignObject`, `desc`, `title`; MathML `mi`, `mo`, `mn`, `ms`, `mtext`, and `annotation-xml`
//! whose `encoding` is HTML) switch back to HTML for the tags inside them, and the breakout tags
//! (`<p>`, `<div>`, `<img>`, `<table>`, ... and `<font>` with `color`, `face` or `size`) close
//! foreign content altogether.
//!
//! What is kept is the stack of open foreign elements. HTML elements opened inside an integration
//! point are not tracked: while the innermost foreign element is an integration point, tags are
//! read as HTML. The stack is bounded; elements nested deeper than [`MAX_DEPTH`] are not recorded,
//! so their end tags match nothing (they only ever close foreign content later than a browser).

/// Open foreign elements kept at most.
pub(super) const MAX_DEPTH: usize = 64;

use std::ops::Deref;

use super::element::{names, Element, Name, Props};
use super::formatting::Formatting;
use super::tag::Kind;

/// An element of the model's stacks, with the serial that ties it to its entry in the list of
/// active formatting elements or its marker there (0: none).
#[derive(Debug, Clone, Copy)]
struct Open {
    element: Element,
    serial: u32,
}

impl Open {
    fn plain(element: Element) -> Open {
        Open { element, serial: 0 }
    }
}

impl Deref for Open {
    type Target = Element;

    fn deref(&self) -> &Element {
        &self.element
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Namespace {
    Svg,
    MathMl,
}

#[derive(Debug, Clone)]
struct Frame {
    namespace: Namespace,
    name: Name,
    /// Start tags inside are read as HTML.
    integration_point: bool,
    /// HTML elements open inside this integration point (at most `MAX_DEPTH`): an end tag that
    /// names none of them closes nothing here, as the parser stops at the special integration
    /// point.
    html_open: Vec<Open>,
}

impl Frame {
    fn named(&self, name: Name) -> bool {
        self.name.same_as(name)
    }

    /// In the standard's "special" category (so a default-scope boundary too): the integration
    /// points, and MathML `annotation-xml` whatever its encoding.
    fn special(&self) -> bool {
        self.integration_point || (self.namespace == Namespace::MathMl && self.named(names::ANNOTATION_XML))
    }
}

/// The open foreign elements, innermost last, and the HTML elements open outside foreign
/// content (by name, at most `MAX_DEPTH`; elements the parser closes implicitly may linger).
#[derive(Debug, Default)]
pub(super) struct Foreign {
    frames: Vec<Frame>,
    outer: Vec<Open>,
    /// The parser's list of active formatting elements.
    formatting: Formatting,
    /// Per open template (at most `MAX_DEPTH`), how many frames and outer elements were open at
    /// its start tag: `</template>` pops everything opened inside it, integration points too.
    templates: Vec<(usize, usize, Contents)>,
    /// Templates opened beyond `MAX_DEPTH`: their end tags only leave foreign content up to the
    /// innermost integration point, as an unbounded stack is not kept.
    templates_unrecorded: u32,
    /// Tables pushed onto `outer` so far: each one's serial number (see `base`).
    tables_pushed: u32,
}

/// How a template's contents are parsed: its first start tag decides ("in template" insertion
/// mode): a table part puts them in a table mode, where the template stands for the table; any
/// other tag (but those of the head) in body, where table parts are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contents {
    Undecided,
    /// A caption, column group or table body came first: "in table".
    Table,
    /// A row came first: "in table body", which no table body, caption or column group enters.
    Rows,
    /// A cell came first: "in row", which no row enters either.
    Cells,
    Body,
}

impl Contents {
    fn is_table(self) -> bool {
        matches!(self, Contents::Table | Contents::Rows | Contents::Cells)
    }
}

/// A start tag as far as foreign content cares: its element and what decides a breakout.
pub(super) struct StartTag {
    pub element: Element,
    pub self_closing: bool,
    /// `font` with a `color`, `face` or `size` attribute.
    pub font_breaks_out: bool,
    /// `annotation-xml` whose `encoding` is `text/html` or `application/xhtml+xml`.
    pub html_annotation: bool,
    /// A `<form>` the parser creates outside templates (the form pointer was not set).
    pub creates_form: bool,
}

/// What an HTML end tag does to `outer`.
#[derive(Debug, Clone, Copy)]
enum Close {
    /// Pops the element at this index and everything opened after it.
    Through(usize),
    /// The adoption agency with a furthest block: the formatting element at `at` leaves the
    /// stack, and so does everything after the last special element (before `specials_end`).
    /// Between, the special elements stay (each is a furthest block in turn) and so do the
    /// formatting ones (their clones take their places); the others leave the stack.
    Adopted { at: usize, specials_end: usize },
}

impl Close {
    /// The same for a stack whose elements start at `floor`.
    fn from(self, floor: usize) -> Close {
        match self {
            Close::Through(at) => Close::Through(floor + at),
            Close::Adopted { at, specials_end } => Close::Adopted { at: floor + at, specials_end: floor + specials_end },
        }
    }

    /// Takes off `open` what the end tag closes there.
    fn apply(self, open: &mut Vec<Open>) {
        match self {
            Close::Through(at) => open.truncate(at),
            Close::Adopted { at, specials_end } => {
                open.truncate(specials_end);
                let mut index = 0;
                open.retain(|n| {
                    let kept = index < at || (index > at && (n.has(Props::SPECIAL) || n.has(Props::FORMATTING)));
                    index += 1;
                    kept
                });
            }
        }
    }
}

/// How a tag is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reading {
    /// As an HTML tag (it may open or close HTML elements, raw text, forms, links).
    Html,
    /// As a foreign element's tag: it changes nothing for the token.
    Foreign,
}

impl Foreign {
    /// Is the page inside `<svg>`/`<math>` (so that `<![CDATA[` opens a CDATA section)?
    pub fn is_open(&self) -> bool {
        !self.frames.is_empty()
    }

    /// Does `<![CDATA[` open a CDATA section here: is the current node a foreign element (not an
    /// HTML element inside an integration point)?
    pub fn cdata_allowed(&self) -> bool {
        self.frames.last().is_some_and(|f| f.html_open.is_empty())
    }

    /// Are tags read as HTML here: outside foreign content, or right inside an integration point?
    fn html_here(&self) -> bool {
        self.frames.last().is_none_or(|f| f.integration_point)
    }

    /// How many tables were pushed onto the stack of HTML elements around foreign content so far.
    pub fn tables_pushed(&self) -> u32 {
        self.tables_pushed
    }

    /// How many tables that stack holds.
    pub fn tables_open(&self) -> usize {
        self.outer.iter().filter(|n| n.is(names::TABLE)).count()
    }

    /// Would an element the HTML rules insert now be foster-parented out of the innermost table
    /// (or go into an element that was)? So in a table, table body, row or column group
    /// insertion mode (not in a cell or caption), and svg/math opened there. A table opened
    /// inside an integration point is not tracked: there it says no (see
    /// `table_in_integration_point`).
    pub fn before_table(&self) -> bool {
        !self.table_in_integration_point() && self.innermost_table_part().is_some_and(|n| n.has(Props::TABLE_ROW))
    }

    /// The innermost table, table part, cell or caption open (in the innermost template's
    /// contents, if any): it decides whether the parser is in a table insertion mode.
    fn innermost_table_part(&self) -> Option<&Open> {
        let open = self.outer.get(self.outer_floor()..).unwrap_or_default();
        open.iter().rev().find(|n| n.has(Props::TABLE_ROW) || n.has(Props::CELL))
    }

    /// Is the parser in a table, table body or row insertion mode (whatever the current node: a
    /// foster-parented element leaves the mode as it is), template contents in one included?
    fn in_table_mode(&self) -> bool {
        match self.innermost_table_part() {
            Some(n) => n.has(Props::TABLE_ROW),
            None => self.template_contents().is_table(),
        }
    }

    /// Is a table part open inside an svg/math integration point (where tables are not tracked)?
    pub fn table_in_integration_point(&self) -> bool {
        let table_part = |n: &Open| n.has(Props::TABLE_ROW) || n.has(Props::CELL);
        self.frames.iter().any(|f| f.html_open.iter().any(table_part))
    }

    /// A start tag: opens foreign content (`svg`, `math` read as HTML), nests in it, or breaks
    /// out of it; says how the tag itself is to be read.
    pub fn start(&mut self, tag: &StartTag) -> Reading {
        let el = tag.element;
        if self.frames.is_empty() && self.templates.last().is_some_and(|t| t.2 == Contents::Undecided) {
            self.template_start(el);
        }
        if self.html_here() && self.is_open() && self.table_start_clears(el) {
            // The table rules clear the stack back to the table (or close the cell): all
            // foreign content goes.
            self.frames.clear();
        }
        if self.html_here() {
            let namespace = match el.name {
                names::SVG => Namespace::Svg,
                names::MATH => Namespace::MathMl,
                _ => {
                    if el.kind == Kind::Template {
                        self.open_template();
                    }
                    if el.kind == Kind::A {
                        self.close_open_a();
                    }
                    // `<select>` in a select closes it and opens nothing.
                    let closes_select = matches!(el.kind, Kind::Input | Kind::Select) || el.is(names::KEYGEN);
                    if closes_select && self.close_select() && el.kind == Kind::Select {
                        return Reading::Html;
                    }
                    if el.has(Props::ENDS_IN_SELECT) {
                        self.close_implied_in_select();
                    }
                    // A `<form>` while the form pointer is set opens nothing.
                    let opens = el.kind != Kind::Form || tag.creates_form || self.in_template();
                    let keep = self.kept(el, opens);
                    if opens && !el.has(Props::NO_RECONSTRUCT) {
                        self.reconstruct();
                        if el.is(names::NOBR) {
                            // A `nobr` in scope: the adoption agency runs for it first.
                            self.end(el);
                            self.reconstruct();
                        }
                    }
                    if keep {
                        self.push_html(el);
                    }
                    return Reading::Html;
                }
            };
            self.reconstruct();
            self.push(namespace, tag);
            return Reading::Foreign;
        }
        if breaks_out(tag) {
            // The parser pops to an HTML element or integration point and reprocesses the tag.
            self.close_to_html();
            return self.start(tag);
        }
        // `<svg>` in MathML's `annotation-xml` opens svg (the HTML rules insert it there).
        let namespace = match self.frames.last() {
            Some(f) if el.is(names::SVG) && f.named(names::ANNOTATION_XML) => Namespace::Svg,
            Some(f) => f.namespace,
            None => Namespace::Svg,
        };
        self.push(namespace, tag);
        Reading::Foreign
    }

    /// Does an HTML start tag read here (after what it closed) leave its element open? HTML
    /// ignores `/>` on non-void elements: they open all the same. Outside foreign content only
    /// containers that close nowhere but at their own end tag are kept: staying in foreign
    /// content too long is the safe error (tags read as foreign still get the page-URL
    /// overrides), leaving it too early is not. A form in template contents is kept too: there,
    /// with no form pointer, forms nest and `</form>` pops everything up to its form
    /// (`<template><form><math></form>` leaves the math). A form in a table insertion mode leaves
    /// the stack at once (in template contents it is dropped there).
    #[inline(always)]
    fn kept(&mut self, el: Element, opens: bool) -> bool {
        let form = el.kind == Kind::Form;
        let popped_form = form && self.form_popped_at_once();
        match self.frames.last_mut() {
            Some(point) => {
                // Inside an integration point too (a scope boundary: the floor).
                if opens && !popped_form {
                    close_implied(&mut point.html_open, 0, el);
                }
                !el.has(Props::VOID) && !el.has(Props::DROPPED_IN_BODY) && opens && !popped_form
            }
            None => {
                let part = self.table_part(el);
                let kept_form = form && opens && !popped_form;
                if !form || kept_form {
                    self.close_implied(el);
                }
                part || el.has(Props::PLAIN_CONTAINER) || el.has(Props::OPEN_SPECIAL) || kept_form
            }
        }
    }

    /// Does a `<form>` the parser inserts here leave the stack at once? In a table insertion mode
    /// ("in table" pops it, whatever the current node), and in an integration point where the
    /// mode is not known (a table is open in one): the form not kept keeps no integration point
    /// in HTML, the safe error.
    fn form_popped_at_once(&self) -> bool {
        self.form_surely_popped() || (!self.frames.is_empty() && self.table_in_integration_point())
    }

    /// Does a `<form>` the parser inserts here surely leave the stack at once (a table insertion
    /// mode that the model knows)? Template contents then drop it.
    pub fn form_surely_popped(&self) -> bool {
        if self.frames.is_empty() {
            return self.in_table_mode();
        }
        !self.table_in_integration_point() && self.table_mode_element().is_some_and(|n| n.has(Props::TABLE_ROW))
    }

    /// Pushes an HTML element read here onto the stack: the current integration point's HTML
    /// elements, or those around all foreign content. A formatting element gets its entry in the
    /// list of active formatting elements, one that sets a marker its marker.
    fn push_html(&mut self, el: Element) {
        let marks = (el.has(Props::MARKER) || el.has(Props::CELL)) && el.kind != Kind::Template;
        let serial = if el.has(Props::FORMATTING) || marks { self.formatting.serial() } else { 0 };
        if !self.push_open(Open { element: el, serial }) {
            return;
        }
        if self.frames.is_empty() && el.is(names::TABLE) {
            self.tables_pushed = self.tables_pushed.wrapping_add(1);
        }
        let (frames, outer) = (&self.frames, &self.outer);
        if el.has(Props::FORMATTING) {
            self.formatting.push(el, serial, |s| on_stack(outer, frames, s));
        } else if marks {
            self.formatting.push_marker(serial, el.has(Props::CELL), |s| on_stack(outer, frames, s));
        }
    }

    /// "Reconstruct the active formatting elements" before a start tag or text the "in body"
    /// rules take here: those that left the stack are made again where the current node is. Not
    /// in a select, nor where a table is open in an integration point (neither is followed in
    /// detail: fewer elements made again is the safe error, see `formatting`).
    #[inline]
    fn reconstruct(&mut self) {
        if self.stale() {
            self.reconstruct_stale();
        }
    }

    #[inline(never)]
    fn reconstruct_stale(&mut self) {
        if self.table_in_integration_point() || self.select_here() {
            return;
        }
        let (frames, outer) = (&self.frames, &self.outer);
        let stale = self.formatting.take_stale(|s| on_stack(outer, frames, s));
        for element in stale {
            let serial = self.formatting.serial();
            if !self.push_open(Open { element, serial }) {
                return;
            }
            self.formatting.remade(element, serial);
        }
    }

    /// Has the last entry of the list of active formatting elements left the stack (so that
    /// something may be made again)? Most text and start tags end their work here.
    #[inline]
    fn stale(&self) -> bool {
        let (frames, outer) = (&self.frames, &self.outer);
        self.formatting.may_reconstruct() && self.formatting.last_stale(|s| on_stack(outer, frames, s))
    }

    /// Pushes `open` where the current insertion point is (the innermost integration point's
    /// HTML elements, or those around all foreign content), unless that stack is full.
    fn push_open(&mut self, open: Open) -> bool {
        let stack = match self.frames.last_mut() {
            Some(point) => &mut point.html_open,
            None => &mut self.outer,
        };
        if stack.len() >= MAX_DEPTH {
            return false;
        }
        stack.push(open);
        true
    }

    /// The current node when it is an HTML element.
    fn current_html(&self) -> Option<&Open> {
        match self.frames.last() {
            Some(point) if point.integration_point => point.html_open.last(),
            Some(_) => None,
            None => self.outer.last(),
        }
    }

    /// Is a select open among the HTML elements of the current insertion point?
    fn select_here(&self) -> bool {
        let open = match self.frames.last() {
            Some(point) => &point.html_open[..],
            None => self.outer.get(self.outer_floor()..).unwrap_or_default(),
        };
        open.iter().any(|n| n.is(names::SELECT))
    }

    /// Could text reconstruct formatting elements now (cheap)?
    #[inline]
    pub fn may_reconstruct(&self) -> bool {
        self.formatting.may_reconstruct()
    }

    /// Text outside raw text: where the "in body" rules take it (not in foreign content, and in a
    /// table only text that is not all whitespace) it reconstructs the active formatting
    /// elements. NUL characters are dropped there.
    pub fn text(&mut self, text: &[u8]) {
        if !self.html_here() || !self.stale() {
            return;
        }
        let table_text = self.frames.is_empty() && self.in_table_text();
        let counts = |&b: &u8| b != 0 && !(table_text && super::tag::is_ws(b));
        if text.iter().any(counts) {
            self.reconstruct_stale();
        }
    }

    /// Is text here "in table text", which inserts whitespace as it is: is the current node a
    /// table, a table body or a row (or a template whose contents are in a table mode)?
    fn in_table_text(&self) -> bool {
        match self.outer.get(self.outer_floor()..).and_then(<[Open]>::last) {
            Some(n) => n.has(Props::TABLE_ROW),
            None => self.template_contents().is_table(),
        }
    }

    /// What a formatting element's end tag looks for: the current node of its name when that is
    /// in no entry of the list of active formatting elements; else the last entry of its name
    /// there (the adoption agency); with none, the element of its name as any other end tag
    /// does; an entry whose element left the stack leaves the list and closes nothing.
    fn seek(&mut self, el: Element) -> Seek {
        if !el.has(Props::FORMATTING) {
            return Seek::Name;
        }
        let (frames, outer) = (&self.frames, &self.outer);
        let listed = self.formatting.last_named(el.name, |s| on_stack(outer, frames, s));
        if let Some(n) = self.current_html().filter(|n| n.is(el.name)) {
            if listed == Some(n.serial) {
                return Seek::Entry(n.serial);
            }
            if !self.formatting.lists(n.serial) {
                return Seek::Name;
            }
        }
        match listed {
            None => Seek::Name,
            Some(serial) if on_stack(outer, frames, serial) => Seek::Entry(serial),
            Some(serial) => {
                self.formatting.remove(serial);
                Seek::Nothing
            }
        }
    }

    /// An end tag: closes the foreign element it names (and everything inside it), or is read as
    /// HTML. `</p>` and `</br>` in foreign content break out of it first.
    pub fn end(&mut self, el: Element) -> Reading {
        let name = el.name;
        if name == names::FORM && !self.in_template() {
            return self.close_form();
        }
        if !self.is_open() && self.close_current_formatting(el) {
            return Reading::Html;
        }
        let seek = self.seek(el);
        if !self.is_open() {
            if let Some(close) = self.outer_target(el, seek) {
                self.close_outer(close);
            }
            return Reading::Html;
        }
        let reaches_html = self.frames.last().is_some_and(|f| f.integration_point && !f.html_open.is_empty());
        if reaches_html && self.close_table_part(el) {
            return Reading::Html;
        }
        if let Some(point) = self.frames.last_mut().filter(|f| f.integration_point && !f.html_open.is_empty()) {
            // The HTML elements open in the integration point take the end tag as "in body" does
            // (the integration point, special and a scope boundary, ends the walk).
            if let Some(close) = body_end_walk(&point.html_open, el, seek) {
                close_in(&mut point.html_open, close, &mut self.formatting);
            }
            return Reading::Html;
        }
        if !self.html_here() && (name == names::P || name == names::BR) {
            self.close_to_html();
            return Reading::Html;
        }
        // The parser walks back from the current node through foreign elements only: the first
        // HTML element it meets (one opened in an integration point further out) hands the tag
        // to the HTML rules there, closing what it pops.
        let html_floor = self.frames.iter().rposition(|f| f.integration_point && !f.html_open.is_empty());
        let named = self.frames.iter().rposition(|f| f.named(name));
        if let Some(at) = named.filter(|&at| html_floor.is_none_or(|floor| at > floor)) {
            self.frames.truncate(at);
            return Reading::Foreign;
        }
        if self.close_table_part(el) {
            return Reading::Html;
        }
        if let Some(floor) = html_floor {
            // The HTML rules walk from the current node: an integration point on the way (a scope
            // boundary, and special) stops them; then the HTML elements there take the tag as
            // "in body" does.
            let boundary_between = self.frames.get(floor + 1..).is_some_and(|fs| fs.iter().any(Frame::special));
            if let Some(point) = self.frames.get_mut(floor).filter(|_| !boundary_between) {
                if let Some(close) = body_end_walk(&point.html_open, el, seek) {
                    close_in(&mut point.html_open, close, &mut self.formatting);
                    self.frames.truncate(floor + 1);
                }
            }
            return Reading::Html;
        }
        // An HTML element open around the foreign content (`<div><svg></div>`): the parser pops
        // everything up to it.
        if let Some(close) = self.outer_match(el, seek) {
            self.close_outer(close);
            self.frames.clear();
        }
        Reading::Html
    }

    /// The usual end tag of a formatting element (`<em>…</em>`), outside foreign content: its
    /// element is the current node and the list's last entry, so the adoption agency finds no
    /// furthest block and pops just it. Whether it did; the general rules (`seek`, then
    /// `outer_target`) come to the same, at a cost every `</em>` of a page would pay.
    fn close_current_formatting(&mut self, el: Element) -> bool {
        let above_floor = self.outer.len() > self.outer_floor();
        match self.outer.last() {
            Some(n) if above_floor && n.is(el.name) && n.has(Props::FORMATTING) && self.formatting.last_is(n.serial) => {
                self.outer.pop();
                self.formatting.pop();
                true
            }
            _ => false,
        }
    }

    /// Takes off `outer` what an end tag closes there.
    fn close_outer(&mut self, close: Close) {
        close_in(&mut self.outer, close, &mut self.formatting);
    }

    /// A table part's end tag (`</td>`, `</tr>`, `</table>`, ...) that reaches the HTML rules
    /// from foreign content opened in a table, row or cell: the table insertion modes look for
    /// its element "in table scope", where only a table stands in the way (not an integration
    /// point or an object), and pop everything up to it, all foreign content included. Whether
    /// it did.
    fn close_table_part(&mut self, el: Element) -> bool {
        if !el.has(Props::TABLE_START) || self.table_mode_element().is_none() {
            return false;
        }
        let Some(Close::Through(at)) = self.outer_target(el, Seek::Name) else {
            return false;
        };
        self.outer.truncate(at);
        self.frames.clear();
        true
    }

    /// The table part (or table) whose insertion mode the parser is in, as it was where the
    /// foreign content opened: the innermost of the tables, table parts and selects of `outer`,
    /// unless it is a select or an HTML element in an integration point changed the mode (a
    /// table, a table part, a select).
    fn table_mode_element(&self) -> Option<Element> {
        let changes_mode = |n: &Open| n.has(Props::TABLE_START) || n.has(Props::TABLE_ROW) || n.is(names::SELECT);
        let open = self.outer.get(self.outer_floor()..).unwrap_or_default();
        let innermost = open.iter().rev().find(|n| changes_mode(n)).map(|n| n.element);
        let changed_inside = self.frames.iter().any(|f| f.html_open.iter().any(changes_mode));
        innermost.filter(|n| !n.is(names::SELECT) && !changed_inside)
    }

    /// A table start tag in an integration point of foreign content opened in a table mode:
    /// in a table, table body or row (svg/math there are foster-parented, and the mode stays)
    /// the table rules clear the stack back to the table; in a cell or caption any but `<table>`
    /// closes the cell first.
    fn table_start_clears(&self, el: Element) -> bool {
        el.has(Props::TABLE_START)
            && self.table_mode_element().is_some_and(|n| n.has(Props::TABLE_ROW) || !el.is(names::TABLE))
    }

    /// `</form>` outside templates: a foreign `form` element it closes, or the form pointer's
    /// rule: the elements with implied end tags at the top of the stack close, then the form
    /// alone leaves the stack (what else is open inside it stays), and only when it is in scope
    /// (no scope boundary, `select` or integration point opened after it); otherwise the form
    /// stays open.
    fn close_form(&mut self) -> Reading {
        let html_floor = self.frames.iter().rposition(|f| f.integration_point && !f.html_open.is_empty());
        let named = self.frames.iter().rposition(|f| f.named(names::FORM));
        if let Some(at) = named.filter(|&at| html_floor.is_none_or(|floor| at > floor)) {
            self.frames.truncate(at);
            return Reading::Foreign;
        }
        // The HTML elements open innermost: those in the last integration point that has some
        // (a special svg/math element after it is a scope boundary), or those around all foreign content.
        let after = html_floor.map_or(0, |at| at + 1);
        if self.frames.get(after..).unwrap_or_default().iter().any(Frame::special) {
            return Reading::Html;
        }
        // Implied end tags are generated only from an HTML current node: not from svg/math.
        let current_here = after == self.frames.len();
        let floor = self.outer_floor();
        let (open, floor) = match html_floor.and_then(|at| self.frames.get_mut(at)) {
            Some(point) => (&mut point.html_open, 0),
            None => (&mut self.outer, floor),
        };
        if let Some(at) = open.iter().rposition(|n| n.is(names::FORM)).filter(|&at| at >= floor) {
            let blocked = open
                .get(at + 1..)
                .unwrap_or_default()
                .iter()
                .any(|n| n.has(Props::SCOPE_BOUNDARY) || n.is(names::SELECT));
            if !blocked {
                // "Generate implied end tags" first: a `p` or `li` open in the form closes
                // (`<form><li></form><math></li>`: the `</li>` finds none, and the math stays),
                // unless svg/math is the current node (`<form><li><math></form>`).
                while current_here && open.len() > at + 1 && open.last().is_some_and(|n| n.has(Props::IMPLIED_END)) {
                    open.pop();
                }
                open.remove(at);
            }
        }
        Reading::Html
    }

    /// The element of `outer` that an end tag reaching the parser's HTML rules from foreign
    /// content pops, if any. The foreign-content steps hand such a tag to the insertion mode at the
    /// first HTML element up the stack; there "in body" walks the stack from the current node:
    /// a special svg/math element (an integration point, `annotation-xml`: also a scope
    /// boundary) ends the walk (`<mi><math><annotation-xml></mi>` closes nothing in Chromium
    /// 156), so does any special
    /// element before an element of an ordinary name (span, unknown and svg/math-named HTML
    /// elements: "any other end tag"), and a scope boundary (`table`, `object`, ...) before a
    /// special or formatting one (their "in scope" test). Outside templates `</form>` takes only
    /// the form off the stack (the form pointer's rule).
    fn outer_match(&self, el: Element, seek: Seek) -> Option<Close> {
        if (el.is(names::FORM) && !self.in_template()) || self.frames.iter().any(Frame::special) {
            return None;
        }
        self.outer_target(el, seek)
    }

    /// What an HTML end tag closes of `outer` (from its innermost element): a table part "in
    /// table scope" (only a table in the way; `</table>` the innermost table, a cell around the
    /// foreign content closed first); otherwise "in body" walks from the current node: a scope
    /// boundary (`table`, `td`, `object`, ...) ends the walk (the "in scope" test), so does a
    /// special element before an element of an ordinary name (span, unknown and svg/math-named
    /// HTML elements: "any other end tag"), and a select. A formatting element with a special
    /// one after it (the adoption agency's furthest block) leaves the special ones open; its
    /// last pass, without a furthest block, pops what follows them (foreign content too).
    fn outer_target(&self, el: Element, seek: Seek) -> Option<Close> {
        let floor = self.outer_floor();
        let open = self.outer.get(floor..).unwrap_or_default();
        // The usual end tag closes the current node: every rule below then closes just that.
        if open.last().is_some_and(|n| seek.finds(n, el)) {
            return Some(Close::Through(floor + open.len() - 1));
        }
        if el.is(names::TABLE) {
            let table = open.iter().rposition(|n| n.is(names::TABLE));
            return table.or_else(|| self.template_rows(open)).map(|at| Close::Through(floor + at));
        }
        if el.has(Props::TABLE_START) {
            let at = open.iter().rposition(|n| n.is(el.name))?;
            let behind_table = open.get(at + 1..).unwrap_or_default().iter().any(|n| n.is(names::TABLE));
            return (!behind_table).then_some(Close::Through(floor + at));
        }
        body_end_walk(open, el, seek).map(|close| close.from(floor))
    }

    /// `</table>` in template contents in a table mode without a table: in a table body or row
    /// the parser pops them, in a caption the caption (then it ignores the tag); in a cell it
    /// ignores it at once. Where in `open` (the contents) what it pops starts.
    fn template_rows(&self, open: &[Open]) -> Option<usize> {
        if !self.template_contents().is_table() {
            return None;
        }
        match open.iter().rposition(|n| n.has(Props::CELL)) {
            Some(cell) => open.get(cell).filter(|n| n.is(names::CAPTION)).map(|_| cell),
            None => open.iter().position(|n| n.has(Props::TABLE_ROW)),
        }
    }

    /// `<a>` while an `<a>` is in the parser's list of active formatting elements (after its last
    /// marker): the adoption agency runs for it, and whatever that did, the old `<a>` leaves the
    /// list and the stack. With only ordinary elements after it (`<a><span><a>`) that pops
    /// everything up to it; with special ones (`<a><div><span><a>`) it closes as `</a>` would
    /// there (`Close::Adopted`: the `<span>` after the last special one goes too). Behind a scope
    /// boundary (`<a><table><a>`, or an integration point: one further out than the current one
    /// holds it) it is not in scope, and only the `<a>` itself leaves the stack.
    #[inline(never)]
    fn close_open_a(&mut self) {
        let (frames, outer) = (&self.frames, &self.outer);
        let Some(serial) = self.formatting.last_named(names::A, |s| on_stack(outer, frames, s)) else {
            return;
        };
        self.formatting.remove(serial);
        let current = self.frames.len().checked_sub(1);
        for (i, frame) in self.frames.iter_mut().enumerate().rev() {
            if let Some(at) = frame.html_open.iter().position(|n| n.serial == serial) {
                adopt_open_a(&mut frame.html_open, at, Some(i) == current);
                return;
            }
        }
        if let Some(at) = self.outer.iter().position(|n| n.serial == serial) {
            adopt_open_a(&mut self.outer, at, current.is_none());
        }
    }

    /// A start tag in a table of `outer`: a table part (`td`, `tr`, ...) closes the parts open in
    /// the innermost table down to its context and opens (is kept as) one; a `<table>` there
    /// closes that table (unless in a cell or caption, where tables nest). Cells and captions
    /// matter as the scope boundaries they are, table bodies and rows (implied ones too) as what
    /// a table end tag from foreign content may close. Returns whether the tag is to be kept.
    fn table_part(&mut self, el: Element) -> bool {
        // `col` is a table start too, but it is void: it neither closes parts nor is kept.
        if !el.has(Props::TABLE_START) || el.has(Props::VOID) {
            return false;
        }
        let floor = self.outer_floor();
        let Some(table) = self.outer.iter().rposition(|n| n.is(names::TABLE)).filter(|&at| at >= floor) else {
            // Template contents in a table mode take table parts without a table: the template
            // is their context.
            let contents = self.template_contents();
            if contents.is_table() && !el.is(names::TABLE) {
                if self.template_ignores(contents, floor, el) {
                    return false;
                }
                self.clear_to_template_context(floor, el);
                return !el.is(names::COLGROUP);
            }
            return false;
        };
        // In a cell or caption (the innermost table part, whatever is open inside it:
        // `<td><div><table>`), tables nest.
        let in_cell = self.innermost_table_part().is_some_and(|n| n.has(Props::CELL));
        let last_is_table = self.outer.last().is_some_and(|n| n.is(names::TABLE));
        if !el.is(names::TABLE) {
            self.clear_to_context(table + 1, el);
            return !el.is(names::COLGROUP);
        }
        if (!in_cell && self.outer.len() > table + 1) || last_is_table {
            // `</table>` first, then the new table is kept (it is a plain container).
            self.outer.truncate(table);
        }
        false
    }

    /// What start tag `el` closes implicitly in `outer` (see [`close_implied`]).
    fn close_implied(&mut self, el: Element) {
        let floor = self.outer_floor();
        close_implied(&mut self.outer, floor, el);
    }

    /// Clears `outer` back to where table part `el` goes in the table whose contents start at
    /// `context`: the table for a caption, column group or table body; its body for a row, its
    /// row for a cell, opening the `tbody` and `tr` the parser implies when there is none.
    fn clear_to_context(&mut self, context: usize, el: Element) {
        let is_section = |n: &Open| n.is(names::TBODY) || n.is(names::THEAD) || n.is(names::TFOOT);
        let is_cell = el.has(Props::CELL) && !el.is(names::CAPTION);
        if !el.is(names::TR) && !is_cell {
            self.outer.truncate(context);
            return;
        }
        self.truncate_after(context, is_section, names::TBODY);
        if is_cell {
            let section_end = self.outer.len();
            self.truncate_after(section_end, |n| n.is(names::TR), names::TR);
        }
    }

    /// The same in template contents without a table (`from`: where they start): the template
    /// stands for the table, body and row a part needs, so the parser implies a `tr` only for a
    /// cell in a table body, and nothing else.
    fn clear_to_template_context(&mut self, from: usize, el: Element) {
        let is_section = |n: &Open| n.is(names::TBODY) || n.is(names::THEAD) || n.is(names::TFOOT);
        let is_cell = el.has(Props::CELL) && !el.is(names::CAPTION);
        let innermost = |is: &dyn Fn(&Open) -> bool| self.outer.iter().skip(from).rposition(is).map(|k| from + k);
        let (keep, implied) = if is_cell {
            match (innermost(&|n| n.is(names::TR)), innermost(&is_section)) {
                (Some(row), _) => (row + 1, false),
                (None, Some(section)) => (section + 1, true),
                (None, None) => (from, false),
            }
        } else if el.is(names::TR) {
            (innermost(&is_section).map_or(from, |section| section + 1), false)
        } else {
            (from, false)
        };
        self.outer.truncate(keep);
        if implied && self.outer.len() < MAX_DEPTH {
            self.outer.push(Open::plain(Element::lookup(names::TR)));
        }
    }

    /// Template contents that began with a row never leave the table body and row modes: a
    /// caption, column group or table body start is dropped there, after it closed an open row
    /// (`<template><tr><tbody>`); where a cell came first, a row start is dropped too, after it
    /// closed an open cell.
    fn template_ignores(&mut self, contents: Contents, from: usize, el: Element) -> bool {
        let cell = el.has(Props::CELL) && !el.is(names::CAPTION);
        let (ignored, closes): (bool, fn(&Open) -> bool) = match contents {
            Contents::Rows => (!el.is(names::TR) && !cell, |n| n.is(names::TR)),
            Contents::Cells => (!cell, |n| n.has(Props::CELL)),
            _ => (false, |_| false),
        };
        if ignored {
            if let Some(at) = self.outer.iter().skip(from).rposition(closes) {
                self.outer.truncate(from + at);
            }
        }
        ignored
    }

    /// Keeps `outer` up to the first element from `from` on that `is`, or up to `from` with an
    /// `implied` element opened there.
    fn truncate_after(&mut self, from: usize, is: impl Fn(&Open) -> bool, implied: Name) {
        match self.outer.iter().skip(from).position(is) {
            Some(k) => self.outer.truncate(from + k + 1),
            None => {
                self.outer.truncate(from);
                if self.outer.len() < MAX_DEPTH {
                    self.outer.push(Open::plain(Element::lookup(implied)));
                }
            }
        }
    }

    /// Where the elements of `outer` opened in the innermost open template start: the template
    /// is a scope boundary and a marker, so end tags inside it never reach those before it (all
    /// of them, when templates nest deeper than recorded).
    fn outer_floor(&self) -> usize {
        if self.templates_unrecorded > 0 {
            return self.outer.len();
        }
        self.templates.last().map_or(0, |&(_, outer, _)| outer)
    }

    /// A start tag read as HTML right in the innermost template's contents: the first (but for
    /// head elements, which change no mode) decides how they are parsed.
    #[inline(never)]
    fn template_start(&mut self, el: Element) {
        if let Some((_, _, contents)) = self.templates.last_mut() {
            if *contents == Contents::Undecided && !el.has(Props::IN_HEAD) {
                *contents = if !el.has(Props::TABLE_START) || el.is(names::TABLE) {
                    Contents::Body
                } else if el.is(names::TR) {
                    Contents::Rows
                } else if el.has(Props::CELL) && !el.is(names::CAPTION) {
                    Contents::Cells
                } else {
                    Contents::Table
                };
            }
        }
    }

    /// How the innermost template's contents are parsed.
    fn template_contents(&self) -> Contents {
        match self.templates.last() {
            Some(&(_, _, contents)) if self.templates_unrecorded == 0 => contents,
            _ => Contents::Body,
        }
    }

    fn in_template(&self) -> bool {
        !self.templates.is_empty() || self.templates_unrecorded > 0
    }

    /// A `<template>` read as HTML.
    #[inline(never)]
    fn open_template(&mut self) {
        self.formatting.push_template();
        if self.templates.len() < MAX_DEPTH {
            self.templates.push((self.frames.len(), self.outer.len(), Contents::Undecided));
        } else {
            self.templates_unrecorded = self.templates_unrecorded.saturating_add(1);
        }
    }

    /// `</template>` read as HTML while a template is open: the parser pops every element up to
    /// the template, whatever its namespace (`<template><svg><title></template>` leaves the svg).
    pub fn close_template(&mut self) {
        self.formatting.clear_template();
        if self.templates_unrecorded > 0 {
            self.templates_unrecorded -= 1;
            self.close_to_html();
            return;
        }
        let Some((frames, outer, _)) = self.templates.pop() else {
            self.close_to_html();
            return;
        };
        self.frames.truncate(frames);
        match self.frames.last_mut() {
            Some(point) => {
                if let Some(at) = point.html_open.iter().rposition(|n| n.is(names::TEMPLATE)) {
                    point.html_open.truncate(at);
                }
            }
            None => self.outer.truncate(outer),
        }
    }

    /// An `<input>`, `<keygen>` or `<select>` read as HTML closes an open select (Chromium 156 and
    /// html5ever 0.40 as the parsers before them; a `<textarea>` no longer does): the select
    /// leaves `outer`, or the integration point's HTML elements, with what is inside it.
    #[inline(never)]
    fn close_select(&mut self) -> bool {
        let floor = self.outer_floor();
        match self.frames.last_mut() {
            // Tags are read as HTML here: this is an integration point, a scope boundary.
            Some(point) => close_select_in(&mut point.html_open, 0),
            None => close_select_in(&mut self.outer, floor),
        }
    }

    /// `<option>`, `<optgroup>`, `<hr>` while a select is in scope here: the parser generates
    /// implied end tags (`li`, `dd`, `dt`, `p` that are the current node leave the stack), so
    /// `<select><li><option><math></li>` leaves the math open (Chromium 156).
    #[inline(never)]
    fn close_implied_in_select(&mut self) {
        let floor = self.outer_floor();
        let (open, floor) = match self.frames.last_mut() {
            Some(point) => (&mut point.html_open, 0),
            None => (&mut self.outer, floor),
        };
        let above = open.get(floor..).unwrap_or_default();
        let Some(select) = above.iter().rposition(|n| n.is(names::SELECT)) else {
            return;
        };
        if select_out_of_scope(above) {
            return;
        }
        while open.len() > floor + select + 1 && open.last().is_some_and(|n| n.has(Props::IMPLIED_END)) {
            open.pop();
        }
    }

    /// Is the innermost open select out of scope (a table, cell or object opened inside it, or an
    /// svg/math special element between)? Then an `<input>` leaves it open: the parser closes only
    /// a select in scope (`<select><table><input>`). With no select open, no.
    pub fn select_out_of_scope(&self) -> bool {
        let is_select = |n: &Open| n.is(names::SELECT);
        // The innermost select: in the HTML elements of an integration point, or around all
        // foreign content. Special svg/math elements opened after it are boundaries too
        // (`<select><svg><desc><input>` leaves the select open, `<select><math></select>` closes it).
        let (open, after) = match self.frames.iter().rposition(|f| f.html_open.iter().any(is_select)) {
            Some(at) => (self.frames.get(at).map_or(&[][..], |f| &f.html_open[..]), at + 1),
            None => (self.outer.get(self.outer_floor()..).unwrap_or_default(), 0),
        };
        let behind_special = self.frames.get(after..).unwrap_or_default().iter().any(Frame::special);
        open.iter().any(is_select) && (select_out_of_scope(open) || behind_special)
    }

    #[inline(never)]
    fn push(&mut self, namespace: Namespace, tag: &StartTag) {
        if tag.self_closing || self.frames.len() >= MAX_DEPTH {
            return;
        }
        let el = tag.element;
        let integration_point = match namespace {
            Namespace::Svg => el.has(Props::SVG_INTEGRATION),
            Namespace::MathMl => el.has(Props::MATHML_INTEGRATION) || tag.html_annotation,
        };
        self.frames.push(Frame { namespace, name: el.name, integration_point, html_open: Vec::new() });
    }

    /// A `<frameset>` that replaces the body: every element but the root leaves the stack.
    pub fn close_all(&mut self) {
        self.frames.clear();
        self.outer.clear();
        self.templates.clear();
        self.templates_unrecorded = 0;
        self.formatting.clear();
    }

    /// Pops foreign elements until an integration point is innermost, or none is left.
    pub fn close_to_html(&mut self) {
        while self.frames.last().is_some_and(|f| !f.integration_point) {
            self.frames.pop();
        }
    }
}

/// What an end tag looks for on the stack.
#[derive(Debug, Clone, Copy)]
enum Seek {
    /// An element of its name.
    Name,
    /// A formatting element's entry in the list of active formatting elements: the adoption
    /// agency's formatting element, with this serial.
    Entry(u32),
    /// Nothing: the entry's element had left the stack.
    Nothing,
}

impl Seek {
    /// Is `n` what the end tag of `el` looks for?
    fn finds(self, n: &Open, el: Element) -> bool {
        match self {
            Seek::Name => n.is(el.name),
            Seek::Entry(serial) => n.serial == serial,
            Seek::Nothing => false,
        }
    }
}

/// The "in body" end-tag walk over `open` (innermost last): a scope boundary (`table`, `td`,
/// `object`, ...) ends it (the "in scope" test), so does a special element before an element of
/// an ordinary name ("any other end tag"), and a select. The adoption agency's formatting element
/// with a special one after it (the furthest block) leaves the special ones open; its last pass,
/// without a furthest block, pops what follows them.
fn body_end_walk(open: &[Open], el: Element, seek: Seek) -> Option<Close> {
    let adoption = matches!(seek, Seek::Entry(_));
    let ordinary = !el.has(Props::SPECIAL) && !adoption;
    // The innermost special element passed on the way down (the furthest block's end).
    let mut last_special = None;
    for (at, n) in open.iter().enumerate().rev() {
        if seek.finds(n, el) {
            return Some(match last_special {
                Some(s) if adoption => Close::Adopted { at, specials_end: s + 1 },
                _ => Close::Through(at),
            });
        }
        if last_special.is_none() && n.has(Props::SPECIAL) {
            last_special = Some(at);
        }
        // In a select, end tags but its own (and table ones) are dropped: html5ever's "in
        // select" insertion mode, and what Chromium 156 does with `<a><select><math></a>`.
        if n.has(Props::SCOPE_BOUNDARY) || (ordinary && n.has(Props::SPECIAL)) || n.is(names::SELECT) {
            return None;
        }
        // `</li>` looks in list item scope, `</p>` in button scope.
        let list = el.is(names::LI) && (n.is(names::OL) || n.is(names::UL));
        if list || (el.is(names::P) && n.is(names::BUTTON)) {
            return None;
        }
    }
    None
}

/// Applies `close` to `open`: a formatting element it closes leaves the list of active formatting
/// elements too, and one with a marker (`close` is its own end tag's) clears the list to it.
#[inline(always)]
fn close_in(open: &mut Vec<Open>, close: Close, formatting: &mut Formatting) {
    let at = match close {
        Close::Through(at) | Close::Adopted { at, .. } => at,
    };
    match open.get(at) {
        Some(n) if n.has(Props::FORMATTING) => formatting.remove(n.serial),
        // `</object>` (or `</applet>`, `</marquee>`) clears the list to its marker.
        Some(n) if n.has(Props::MARKER) => formatting.clear_marker(n.serial),
        _ => {}
    }
    close.apply(open);
}

/// Is the element with `serial` on the stack?
fn on_stack(outer: &[Open], frames: &[Frame], serial: u32) -> bool {
    outer.iter().rev().any(|n| n.serial == serial) || frames.iter().any(|f| f.html_open.iter().any(|n| n.serial == serial))
}

/// Pops the innermost select of `open` (its elements from `floor` on) when it is in scope.
fn close_select_in(open: &mut Vec<Open>, floor: usize) -> bool {
    let above = open.get(floor..).unwrap_or_default();
    let Some(at) = above.iter().rposition(|n| n.is(names::SELECT)) else {
        return false;
    };
    if select_out_of_scope(above) {
        return false;
    }
    open.truncate(floor + at);
    true
}

fn select_out_of_scope(open: &[Open]) -> bool {
    open.iter()
        .rposition(|n| n.is(names::SELECT))
        .is_some_and(|at| open.get(at + 1..).unwrap_or_default().iter().any(|n| n.has(Props::SCOPE_BOUNDARY)))
}

/// `close_open_a` for the `<a>` at `at` in `open`, which is in the current stack (`current`) or
/// behind an integration point.
fn adopt_open_a(open: &mut Vec<Open>, at: usize, current: bool) {
    let after = open.get(at + 1..).unwrap_or_default();
    if !current || after.iter().any(|n| n.has(Props::SCOPE_BOUNDARY)) {
        open.remove(at);
        return;
    }
    match after.iter().rposition(|n| n.has(Props::SPECIAL)) {
        Some(last) => Close::Adopted { at, specials_end: at + 1 + last + 1 }.apply(open),
        None => open.truncate(at),
    }
}

/// What start tag `el` closes implicitly in `open` (its elements from `floor` on): `<li>` an
/// open `li`, `<dd>` and `<dt>` an open `dd` or `dt` (looked for up to a special element other
/// than `address`, `div`, `p`), `<button>` a button in scope, a block start a `p` in button scope,
/// a heading the heading that is the current node. The ones not followed (`<table>` a `p` in
/// no-quirks mode) keep an element open longer, which keeps svg/math open longer: the safe error.
#[inline(always)]
fn close_implied(open: &mut Vec<Open>, floor: usize, el: Element) {
    // Every start tag outside foreign content comes here: most close nothing.
    if el.has(Props::CLOSES_P) || el.is(names::BUTTON) {
        close_implied_by(open, floor, el);
    }
}

fn close_implied_by(open: &mut Vec<Open>, floor: usize, el: Element) {
    let item = |n: &Open| if el.is(names::LI) { n.is(names::LI) } else { n.is(names::DD) || n.is(names::DT) };
    if el.is(names::LI) || el.is(names::DD) || el.is(names::DT) {
        for at in (floor..open.len()).rev() {
            let Some(n) = open.get(at) else { break };
            if item(n) {
                open.truncate(at);
                break;
            }
            if n.has(Props::SPECIAL) && !n.is(names::ADDRESS) && !n.is(names::DIV) && !n.is(names::P) {
                break;
            }
        }
    }
    if el.is(names::BUTTON) {
        close_in_scope(open, floor, names::BUTTON);
    }
    if el.has(Props::CLOSES_P) {
        close_in_scope(open, floor, names::P);
    }
    if el.has(Props::HEADING) && open.len() > floor && open.last().is_some_and(|n| n.has(Props::HEADING)) {
        open.pop();
    }
}

/// Pops `open` through the innermost `name` after `floor` when it is in (button) scope.
fn close_in_scope(open: &mut Vec<Open>, floor: usize, name: Name) {
    let above = open.get(floor..).unwrap_or_default();
    let Some(at) = above.iter().rposition(|n| n.is(name)) else {
        return;
    };
    let inside = above.get(at + 1..).unwrap_or_default();
    if !inside.iter().any(|n| n.has(Props::SCOPE_BOUNDARY) || n.is(names::BUTTON)) {
        open.truncate(floor + at);
    }
}

/// The start tags that end foreign content (HTML standard, "rules for parsing tokens in foreign
/// content").
fn breaks_out(tag: &StartTag) -> bool {
    tag.element.has(Props::BREAKOUT) || (tag.element.is(names::FONT) && tag.font_breaks_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(f: &mut Foreign, name: &str) -> Reading {
        // Outside templates, as html.rs says it with the form pointer not set.
        let creates_form = name == "form" && !f.in_template();
        f.start(&StartTag {
            element: Element::of(name.as_bytes()),
            self_closing: false,
            font_breaks_out: false,
            html_annotation: false,
            creates_form,
        })
    }

    fn end(f: &mut Foreign, name: &[u8]) -> Reading {
        f.end(Element::of(name))
    }

    #[test]
    fn svg_and_math_open_foreign_content_and_their_end_tags_close_it() {
        let mut f = Foreign::default();
        assert_eq!(start(&mut f, "a"), Reading::Html);
        assert_eq!(start(&mut f, "svg"), Reading::Foreign);
        assert!(f.is_open());
        assert_eq!(start(&mut f, "a"), Reading::Foreign);
        assert_eq!(start(&mut f, "template"), Reading::Foreign);
        assert_eq!(end(&mut f, b"svg"), Reading::Foreign);
        assert!(!f.is_open());
        assert_eq!(start(&mut f, "form"), Reading::Html);
    }

    #[test]
    fn integration_points_read_tags_as_html_until_they_close() {
        let mut f = Foreign::default();
        start(&mut f, "svg");
        start(&mut f, "title");
        assert_eq!(start(&mut f, "base"), Reading::Html);
        assert_eq!(start(&mut f, "svg"), Reading::Foreign);
        assert_eq!(start(&mut f, "base"), Reading::Foreign);
        end(&mut f, b"svg");
        assert_eq!(start(&mut f, "form"), Reading::Html);
        // The form is open inside the title: `</title>` closes nothing until it is closed.
        end(&mut f, b"title");
        assert_eq!(start(&mut f, "form"), Reading::Html);
        end(&mut f, b"form");
        end(&mut f, b"form");
        end(&mut f, b"title");
        assert_eq!(start(&mut f, "form"), Reading::Foreign);
        let mut m = Foreign::default();
        start(&mut m, "math");
        start(&mut m, "mtext");
        assert_eq!(start(&mut m, "a"), Reading::Html);
    }

    #[test]
    fn breakout_tags_leave_foreign_content() {
        for tag in ["p", "div", "img", "table", "meta", "h1"] {
            let mut f = Foreign::default();
            start(&mut f, "svg");
            start(&mut f, "g");
            assert_eq!(start(&mut f, tag), Reading::Html, "{tag}");
            assert!(!f.is_open(), "{tag}");
        }
        let mut f = Foreign::default();
        start(&mut f, "svg");
        assert_eq!(start(&mut f, "font"), Reading::Foreign);
        let font = StartTag { element: Element::of(b"font"), self_closing: false, font_breaks_out: true, html_annotation: false, creates_form: false };
        assert_eq!(f.start(&font), Reading::Html);
        let mut f = Foreign::default();
        start(&mut f, "svg");
        assert_eq!(end(&mut f, b"p"), Reading::Html);
        assert!(!f.is_open());
    }

    #[test]
    fn self_closing_and_unmatched_tags() {
        let mut f = Foreign::default();
        start(&mut f, "svg");
        let closed = StartTag { element: Element::of(b"style"), self_closing: true, font_breaks_out: false, html_annotation: false, creates_form: false };
        f.start(&closed);
        assert_eq!(start(&mut f, "a"), Reading::Foreign);
        assert_eq!(end(&mut f, b"a"), Reading::Foreign);
        assert_eq!(end(&mut f, b"div"), Reading::Html);
        assert!(f.is_open());
        assert_eq!(end(&mut f, b"form"), Reading::Html);
        assert!(f.is_open(), "an HTML </form> is html.rs's to judge");
        f.close_to_html();
        assert!(!f.is_open());
    }

    #[test]
    fn an_html_element_inside_an_integration_point_keeps_it_open() {
        let mut f = Foreign::default();
        start(&mut f, "svg");
        start(&mut f, "title");
        assert_eq!(start(&mut f, "my-el"), Reading::Html);
        start(&mut f, "br");
        // The parser stops at the special svg title: this </title> closes nothing.
        assert_eq!(end(&mut f, b"title"), Reading::Html);
        assert_eq!(start(&mut f, "script"), Reading::Html, "still inside the title, in HTML");
        assert_eq!(end(&mut f, b"script"), Reading::Html);
        assert_eq!(end(&mut f, b"my-el"), Reading::Html);
        assert_eq!(end(&mut f, b"title"), Reading::Foreign);
        assert_eq!(start(&mut f, "script"), Reading::Foreign);
    }

    #[test]
    fn an_end_tag_of_an_html_element_around_svg_closes_it() {
        let mut f = Foreign::default();
        start(&mut f, "div");
        start(&mut f, "svg");
        start(&mut f, "g");
        assert_eq!(end(&mut f, b"span"), Reading::Html);
        assert!(f.is_open(), "no span is open: ignored");
        assert_eq!(end(&mut f, b"div"), Reading::Html);
        assert!(!f.is_open());
    }

    #[test]
    fn the_adoption_agency_takes_ordinary_elements_off_the_stack() {
        // `<b><span><div></b></div>`: the span goes with the b; `</span>` from svg then closes nothing.
        let mut f = Foreign::default();
        for tag in ["b", "span", "div"] {
            start(&mut f, tag);
        }
        end(&mut f, b"b");
        end(&mut f, b"div");
        start(&mut f, "svg");
        end(&mut f, b"span");
        assert!(f.is_open());
        // `<a><form><x-el><a>`: the passes over the form pop the x-el after it.
        let mut f = Foreign::default();
        for tag in ["a", "form", "x-el", "a", "math"] {
            start(&mut f, tag);
        }
        end(&mut f, b"x-el");
        assert!(f.is_open());
        // Behind a table the old `<a>` is out of scope: only it leaves the stack.
        let mut f = Foreign::default();
        for tag in ["a", "table", "x-el", "a", "math"] {
            start(&mut f, tag);
        }
        end(&mut f, b"x-el");
        assert!(!f.is_open());
    }

    #[test]
    fn start_tags_close_what_they_imply_inside_an_integration_point_too() {
        let mut f = Foreign::default();
        for tag in ["svg", "foreignobject", "p", "dd"] {
            start(&mut f, tag);
        }
        // `<dd>` closed the p: `</p>` finds none and closes nothing.
        end(&mut f, b"p");
        assert!(!f.cdata_allowed());
        assert_eq!(start(&mut f, "a"), Reading::Html);
    }

    /// A new model fed tags written `p b /p svg` (end tags with a slash), `#x` for text and
    /// `#_` for whitespace.
    fn fed(tags: &str) -> Foreign {
        let mut f = Foreign::default();
        for t in tags.split_whitespace() {
            match (t, t.strip_prefix('/')) {
                ("#x", _) => f.text(b"x"),
                ("#_", _) => f.text(b" \n"),
                (_, Some(name)) => {
                    end(&mut f, name.as_bytes());
                }
                _ => {
                    start(&mut f, t);
                }
            }
        }
        f
    }

    #[test]
    fn formatting_elements_that_left_the_stack_are_made_again() {
        // `<p><b></p>`: the `b` is made again at the svg start tag, around the svg: `</b>` closes it.
        assert!(!fed("p b /p svg /b").is_open());
        // Text made it again already: it holds the svg all the same.
        assert!(!fed("p b /p #x svg /b").is_open());
        // Inside an integration point, where the "in body" rules take text.
        assert!(!fed("svg foreignobject p b /p #_").cdata_allowed(), "the b made again is the current node");
        // A cell's marker leaves with its cell: the `b` before it is made again after the table.
        assert!(!fed("p b /p table td /td /tr /table svg /b").is_open());
        // A table in a cell nests, whatever is open in the cell: the cell's marker stays, so the
        // `i` before it is not made again and `</i>` leaves the svg open.
        assert!(fed("table i td div table svg /i").is_open());
        // Whitespace in a table is no text for this: nothing is made again before the table,
        // and the first `</b>` takes the entry off the list.
        assert!(fed("p b /p table #_ /table /b svg /b").is_open());
    }

    #[test]
    fn an_end_tag_whose_entry_left_the_stack_closes_nothing() {
        // `<b><p><b></p></b>`: the inner b's entry goes, the outer b stays open around the svg.
        assert!(!fed("b p b /p /b svg /b").is_open());
        // A marker hides what is before it: `</b>` in the object finds no entry.
        assert!(fed("p b /p object svg /b").is_open());
        // An object's marker stays when a table tag pops the object, and leaves at `</object>`.
        assert!(fed("table a object table svg /a").is_open());
        assert!(!fed("div a object /object /div svg /a").is_open());
    }

    #[test]
    fn form_end_closes_implied_end_tags_first() {
        assert!(fed("form li /form math /li").is_open(), "the li closed with the form");
        // svg/math current: no implied end tags, the li stays (and stops the walk of `</mi>`).
        assert!(!fed("form li math /form /li").is_open());
        assert!(fed("form mi li math /form /mi").is_open());
        // An element without an implied end tag stays open.
        assert!(!fed("form div /form math /div").is_open());
        // In template contents a form in a table mode is dropped, even after a foster-parented
        // element: `</form>` finds none.
        assert!(fed("template table mi form math /form").is_open());
        assert!(!fed("template table td mi form math /form").is_open(), "in a cell the form is kept");
        // In a table mode a form leaves the stack at once, in an integration point too.
        assert!(fed("table math mi form /mi").cdata_allowed(), "</mi> closed the mi: math is current");
        assert!(!fed("table td math mi form /mi").cdata_allowed(), "in a cell the form stays in the mi");
    }

    #[test]
    fn depth_is_bounded() {
        let mut f = Foreign::default();
        for _ in 0..10 * MAX_DEPTH {
            start(&mut f, "svg");
            start(&mut f, "g");
        }
        assert_eq!(f.frames.len(), MAX_DEPTH);
    }
}
