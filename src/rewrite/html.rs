//! The HTML stage: a state machine over the byte stream that finds tags, skips what is not
//! markup, and splices the token into the tags that need it.
//!
//! Streaming equals one-shot because the machine never decides on a partial construct: when a
//! chunk ends inside a tag or inside a few bytes of lookahead, `run` reports how far it got and
//! the rest is carried into the next chunk, with any scan state kept relative to the carried
//! bytes. A tag that is still open after `MAX_CARRY` bytes is passed through as it is, whatever
//! the chunking, so the limit is on tag length, not on where chunks happen to end.

use super::base::DocumentBase;
use super::edit::{self, BaseUrl, Page, Plan, Tag};
use super::form_ids::{FormIds, OwnId};
use super::element::{names, Element, Props};
use super::foreign::{Foreign, Reading, StartTag};
use super::raw::{self, Comment, RawEnd, Script};
use super::tag::{Kind, Raw, Scan, TagScanner};
use super::MAX_CARRY;
use crate::origin::SameOrigin;
use crate::routes::Routes;
use std::sync::Arc;

/// Bytes moved into the carry per step when it is resolved against a new chunk; it grows with
/// the carry, so long tags are copied a bounded number of times.
const CARRY_STEP: usize = 256;

/// Per-page settings, fixed when the rewriter is made.
#[derive(Clone)]
pub(super) struct Settings {
    pub edit: edit::Settings,
    pub host: String,
    /// The request's path: the document URL's path, for the base of relative URLs.
    pub path: String,
    pub allowed_hosts: Vec<String>,
    /// The `<rp hidden><input type="hidden" name=... value=...` inserted into forms, without
    /// the input's `>`: a form's own input also gets `form="<id>"`.
    pub hidden_input: Vec<u8>,
    /// How many `srcdoc` documents this one sits in.
    pub srcdoc_depth: u8,
}

impl Settings {
    /// The page as `edit` decides for it, with relative URLs resolving against `base`.
    fn page<'a>(&'a self, base: &'a BaseUrl) -> Page<'a> {
        Page { origin: SameOrigin { host: &self.host, allowed_hosts: &self.allowed_hosts }, base, settings: &self.edit }
    }
}

/// `srcdoc` documents inside `srcdoc` documents are rewritten this deep; deeper ones are emptied.
const MAX_SRCDOC_DEPTH: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Data,
    /// Inside a tag that starts at the current position.
    Tag,
    /// Inside a tag longer than `MAX_CARRY`: passing it through until it ends.
    Oversized,
    Comment(Comment),
    /// `<!...>`, `<?...>`, `</ ...>` and DOCTYPE: they end at the first `>`.
    Bogus,
    Cdata(u8),
    RawText(&'static [u8]),
    Script(Script),
    /// `<plaintext>`: nothing after it is markup.
    Plaintext,
}

/// What follows a `<` in text.
enum Lt {
    NeedMore,
    Text,
    Tag { end: bool },
    /// `</>`: ignored by browsers.
    EmptyEndTag,
    Comment,
    Cdata,
    Bogus(usize),
}

fn classify_lt(s: &[u8]) -> Lt {
    match s.get(1) {
        None => Lt::NeedMore,
        Some(b) if b.is_ascii_alphabetic() => Lt::Tag { end: false },
        Some(b'/') => match s.get(2) {
            None => Lt::NeedMore,
            Some(b) if b.is_ascii_alphabetic() => Lt::Tag { end: true },
            Some(b'>') => Lt::EmptyEndTag,
            Some(_) => Lt::Bogus(2),
        },
        Some(b'!') => {
            let after = s.get(2..).unwrap_or_default();
            match (raw::literal_at(after, b"--"), raw::literal_at(after, b"[CDATA[")) {
                (Some(true), _) => Lt::Comment,
                (_, Some(true)) => Lt::Cdata,
                (None, _) | (_, None) => Lt::NeedMore,
                _ => Lt::Bogus(2),
            }
        }
        Some(b'?') => Lt::Bogus(1),
        Some(_) => Lt::Text,
    }
}

/// Where `run` is in its buffer.
struct Cursor<'b> {
    buf: &'b [u8],
    pos: usize,
    /// `buf[..emitted]` has been written out (unchanged bytes are copied lazily, in runs).
    emitted: usize,
}

impl<'b> Cursor<'b> {
    fn rest(&self) -> &'b [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }
}

/// What follows each `<` of a CDATA section's text: the section ends and a new one begins. The
/// tree builder reads the same text (adjacent sections make one text node), but a reader that
/// takes `<![CDATA[` for a bogus comment (one that ends at the first `>`) finds no tag in the
/// text either, as every `<` is followed by `]`. Two readers do: Chromium's preload scanner,
/// which counts an integration point as HTML and so fetches what it reads in a section right
/// inside one (`<svg><foreignObject><![CDATA[<p><meta name=referrer …><img src=//elsewhere/>`),
/// and the parser itself wherever the model believes in foreign content that is not there.
const CDATA_SPLIT: &[u8] = b"]]><![CDATA[";

/// Writes out `text` (a CDATA section's, from the cursor on) with [`CDATA_SPLIT`] after each `<`.
fn split_after_lt(text: &[u8], c: &mut Cursor<'_>, out: &mut Vec<u8>) {
    for k in memchr::memchr_iter(b'<', text) {
        let after = c.pos + k + 1;
        out.extend_from_slice(c.buf.get(c.emitted..after).unwrap_or_default());
        out.extend_from_slice(CDATA_SPLIT);
        c.emitted = after;
    }
}

/// What a mode's scan leads to.
enum Step {
    /// Continue at this position (in the mode now set).
    Go(usize),
    /// Stop: the buffer is consumed up to here.
    Stop(usize),
}

struct Machine {
    mode: Mode,
    tag: TagScanner,
    /// The parser's form element pointer is set: a nested `<form>` is ignored by browsers, and
    /// an input after it would join the outer form.
    form_open: bool,
    /// The open form got the hidden input: its submit buttons must not send it elsewhere.
    token_form: bool,
    /// A token form's `</form>` was seen. It clears the form element pointer but pops the form
    /// only when no select, table cell, object or integration point stands between (the default
    /// scope), which is not tracked: the form may still be open, and any later submitter may be
    /// in it (even one a later form's pointer claims: the adoption agency can move it back into
    /// the token form, which resets its owner to the nearest ancestor form).
    token_form_may_be_open: bool,
    template_depth: u32,
    /// Where the page is in `<svg>`/`<math>`.
    foreign: Foreign,
    /// What relative URLs resolve against, and which base element decides it.
    base: DocumentBase,
    /// A `<select>` is open: a form in it gets no hidden input.
    select_open: bool,
    /// Tables open inside the current template.
    /// Per open template (bounded), the tables open in its contents.
    template_tables: Vec<Tables>,
    /// A `<frameset>` started: the page holds frames only.
    in_frameset: bool,
    /// The parser's frameset-ok flag: nothing yet rules out a frameset in the body (no text, no
    /// tag that sets it "not ok").
    frameset_ok: bool,
    /// A tag or text that belongs in no head has started the body (outside template contents).
    /// Before that a `<frameset>` takes the place of the body whatever the flag says (a head's
    /// `<template>` sets it "not ok").
    body_started: bool,
    /// A start tag that belongs in no head opened the body (an end tag the parser ignores there
    /// does not): a `<base>` after it is in the body, which a `<frameset>` drops.
    body_opened: bool,
    /// Forms given the page's form id so far (each gets its own number).
    forms_tied: u32,
    /// The ids of the document's forms, for those in tables.
    form_ids: FormIds,
    settings: Settings,
}

pub(super) struct HtmlStage {
    carry: Vec<u8>,
    machine: Machine,
    /// The edits of the current tag, empty between tags (kept for its buffers).
    plan: Plan,
}

impl HtmlStage {
    pub fn new(settings: Settings) -> Self {
        HtmlStage {
            carry: Vec::new(),
            plan: Plan::default(),
            machine: Machine {
                mode: Mode::Data,
                tag: TagScanner::new(),
                form_open: false,
                token_form: false,
                token_form_may_be_open: false,
                template_depth: 0,
                foreign: Foreign::default(),
                base: DocumentBase::new(BaseUrl::document(&settings.host, &settings.path)),
                select_open: false,
                template_tables: Vec::new(),
                in_frameset: false,
                frameset_ok: true,
                body_started: false,
                body_opened: false,
                forms_tied: 0,
                form_ids: FormIds::default(),
                settings,
            },
        }
    }

    pub fn set_routes(&mut self, routes: Arc<Routes>) {
        self.machine.settings.edit.routes = Some(routes);
    }

    pub fn write(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let mut rest = chunk;
        while !self.carry.is_empty() {
            if rest.is_empty() {
                return;
            }
            let old = self.carry.len();
            let (head, tail) = rest.split_at(rest.len().min(old.max(CARRY_STEP)));
            self.carry.extend_from_slice(head);
            let carry = std::mem::take(&mut self.carry);
            let consumed = self.machine.run(&carry, out, &mut self.plan);
            self.carry = carry;
            if consumed >= old {
                // What is left lies within `rest`; scan state is relative, so go on from there.
                self.carry.clear();
                rest = rest.get(consumed - old..).unwrap_or_default();
                break;
            }
            self.carry.drain(..consumed);
            rest = tail;
        }
        let consumed = self.machine.run(rest, out, &mut self.plan);
        self.carry
            .extend_from_slice(rest.get(consumed..).unwrap_or_default());
    }

    /// At the end of the body an unfinished construct is passed through as it is (browsers drop
    /// an unterminated tag, so there is nothing to rewrite in it).
    pub fn end(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.carry);
        self.carry.clear();
        self.machine.mode = Mode::Data;
    }

    /// Whether an unfinished construct waits for more bytes.
    pub fn is_holding(&self) -> bool {
        !self.carry.is_empty()
    }
}

/// The tables open in one template's contents: in a table the parser drops a `<form>`, in one of
/// its cells (`td`, `th`, `caption`: "in body" rules again) it creates it.
#[derive(Debug, Default, Clone, Copy)]
struct Tables {
    open: u32,
    /// Bit `i`: the `i`-th open table (the first 64) has a cell open. Deeper tables count as
    /// without one: their forms are taken as dropped (no hidden input, the safe error).
    cells: u64,
    /// Bit `i`: that cell is a caption (only `</caption>` closes it), or a `th` (closed by `</th>`
    /// and row ends, not `</td>`); a `td` is in neither.
    captions: u64,
    headers: u64,
    /// Forms nest in template contents (no form pointer there): bit `i` says whether the form
    /// around the `i`-th open one (the first 64) is a token form, for its `</form>`.
    forms: u64,
    open_forms: u32,
    /// The token form around the template, back in force at `</template>`.
    enclosing_token_form: bool,
    /// A select was open around the template: `</select>` in its contents does not close it (the
    /// template is a scope boundary), `</template>` brings it back.
    enclosing_select_open: bool,
    /// A token form of these contents saw its `</form>`. There it pops the form only when the
    /// form is in scope (no cell, table, object or integration point opened after it), which is
    /// not tracked: later submitters of these contents may still be in it (a declarative shadow
    /// root makes them live).
    token_form_closed: bool,
}

impl Tables {
    fn push_form(&mut self, enclosing_token_form: bool) {
        if self.open_forms < 64 && enclosing_token_form {
            self.forms |= 1u64 << self.open_forms;
        } else if self.open_forms < 64 {
            self.forms &= !(1u64 << self.open_forms);
        }
        self.open_forms = self.open_forms.saturating_add(1);
    }

    /// `</form>`: whether the form it returns to is a token form; `None` when no form of these
    /// contents is open (the parser ignores it). Past the 64th: not a token form (the safe
    /// error: its submitters are not anchored, and it got no hidden input).
    fn pop_form(&mut self) -> Option<bool> {
        self.open_forms = self.open_forms.checked_sub(1)?;
        Some(self.open_forms < 64 && self.forms & (1u64 << self.open_forms) != 0)
    }

    fn open(&mut self) {
        // A `<table>` right in a table (not in a cell or caption) closes that one first.
        let in_cell = self.bit().is_some_and(|bit| self.cells & bit != 0);
        if self.open > 0 && !in_cell {
            self.close();
        }
        self.open = self.open.saturating_add(1);
        self.set_cell(false);
    }

    fn close(&mut self) {
        self.set_cell(false);
        self.open = self.open.saturating_sub(1);
    }

    /// The innermost table's bit, if it is among the first 64.
    fn bit(&self) -> Option<u64> {
        self.open.checked_sub(1).filter(|&i| i < 64).map(|i| 1u64 << i)
    }

    fn set_cell(&mut self, open: bool) {
        let Some(bit) = self.bit() else {
            return;
        };
        if open {
            self.cells |= bit;
        } else {
            self.cells &= !bit;
        }
    }

    /// A start tag but `table` in template contents: a cell opens, other table parts close one.
    fn start_tag(&mut self, el: Element) {
        if el.has(Props::CELL) {
            if self.open > 0 {
                self.set_cell(true);
                if let Some(bit) = self.bit() {
                    let mark = |mask: u64, on: bool| if on { mask | bit } else { mask & !bit };
                    self.captions = mark(self.captions, el.is(names::CAPTION));
                    self.headers = mark(self.headers, el.is(names::TH));
                }
            }
        } else if el.has(Props::TABLE_START) && !el.is(names::TABLE) {
            self.set_cell(false);
        }
    }

    /// An end tag but `</table>`: the cell's own end tag closes it, and so does a row part's,
    /// but not a caption (the parser ignores the others there).
    fn end_tag(&mut self, el: Element) {
        let Some(bit) = self.bit() else {
            return;
        };
        let (caption, header) = (self.captions & bit != 0, self.headers & bit != 0);
        let closes = if el.has(Props::CELL) {
            el.is(names::CAPTION) == caption && el.is(names::TH) == header
        } else {
            el.has(Props::TABLE_ROW) && !caption
        };
        if closes {
            self.set_cell(false);
        }
    }

    fn form_allowed(&self) -> bool {
        self.open == 0 || (self.open <= 64 && self.cells & (1u64 << (self.open - 1)) != 0)
    }
}

impl Machine {
    /// Processes `buf`, appending output for `buf[..n]` to `out`, and returns `n`: the rest is an
    /// unfinished construct to be presented again with more bytes.
    fn run(&mut self, buf: &[u8], out: &mut Vec<u8>, plan: &mut Plan) -> usize {
        let mut cursor = Cursor {
            buf,
            pos: 0,
            emitted: 0,
        };
        let consumed = loop {
            let step = match self.mode {
                Mode::Data => self.data(&cursor),
                Mode::Tag => self.in_tag(&mut cursor, out, plan),
                Mode::Oversized => self.oversized(&cursor),
                Mode::Comment(state) => self.comment(state, &cursor),
                Mode::Bogus => self.bogus(&cursor),
                Mode::Cdata(brackets) => self.cdata(brackets, &mut cursor, out),
                Mode::RawText(name) => self.raw_text(name, &cursor),
                Mode::Script(state) => self.script(state, &cursor),
                Mode::Plaintext => Step::Stop(buf.len()),
            };
            match step {
                Step::Go(pos) => cursor.pos = pos,
                Step::Stop(consumed) => break consumed,
            }
        };
        out.extend_from_slice(buf.get(cursor.emitted..consumed).unwrap_or_default());
        consumed
    }

    /// Text: on to the next `<`, and what it starts.
    fn data(&mut self, c: &Cursor<'_>) -> Step {
        let found = memchr::memchr(b'<', c.rest());
        let text = || c.rest().get(..found.unwrap_or(usize::MAX)).unwrap_or(c.rest());
        if self.frameset_ok || !self.body_started {
            // Visible text rules out a frameset, as the parser's frameset-ok flag does, and
            // outside template contents it starts the body.
            if !text().iter().all(|&b| super::tag::is_ws(b)) {
                self.text_seen();
            }
        }
        if self.foreign.may_reconstruct() {
            self.foreign.text(text());
        }
        let Some(k) = found else {
            return Step::Stop(c.buf.len());
        };
        let lt = c.pos + k;
        let (mode, skip) = match classify_lt(c.buf.get(lt..).unwrap_or_default()) {
            Lt::NeedMore => return Step::Stop(lt),
            Lt::Text => {
                self.text_seen();
                self.foreign.text(b"<");
                (Mode::Data, 1)
            }
            Lt::Tag { end } => {
                self.tag.begin(end);
                (Mode::Tag, 0)
            }
            Lt::EmptyEndTag => (Mode::Data, 3),
            Lt::Comment => (Mode::Comment(Comment::Start), 4),
            // CDATA sections exist only in foreign content; elsewhere `<![CDATA[` opens a bogus
            // comment that the first `>` ends.
            Lt::Cdata if self.foreign.cdata_allowed() => (Mode::Cdata(0), 9),
            Lt::Cdata => (Mode::Bogus, 2),
            Lt::Bogus(n) => (Mode::Bogus, n),
        };
        self.mode = mode;
        Step::Go(lt + skip)
    }

    fn text_seen(&mut self) {
        self.frameset_ok = false;
        self.body_started |= self.template_depth == 0;
    }

    /// A tag starting at the cursor: rewritten once complete, carried while incomplete, passed
    /// through once longer than `MAX_CARRY`.
    fn in_tag(&mut self, c: &mut Cursor<'_>, out: &mut Vec<u8>, plan: &mut Plan) -> Step {
        let rest = c.rest();
        let window = rest.get(..MAX_CARRY).unwrap_or(rest);
        match self.tag.scan(window) {
            Scan::Complete(len) => {
                self.mode = Mode::Data;
                let tag = window.get(..len).unwrap_or_default();
                self.on_tag(tag, plan);
                if !plan.is_empty() {
                    out.extend_from_slice(c.buf.get(c.emitted..c.pos).unwrap_or_default());
                    plan.write(tag, out);
                    if let Some(owner) = &plan.hidden {
                        out.extend_from_slice(&self.settings.hidden_input);
                        if let Some(id) = owner {
                            out.extend_from_slice(b" form=\"");
                            out.extend_from_slice(id);
                            out.push(b'"');
                        }
                        out.extend_from_slice(super::HIDDEN_INPUT_END);
                    }
                    c.emitted = c.pos + len;
                    plan.clear();
                }
                Step::Go(c.pos + len)
            }
            Scan::NeedMore if window.len() < MAX_CARRY => Step::Stop(c.pos),
            Scan::NeedMore => {
                if let Some(guard) = self.unread_tag_guard(window) {
                    // The tag passes unread: what it could do with the page's URL is overridden
                    // right after its name, the one part of it that was read.
                    let name_end = super::edit::name_end(window);
                    out.extend_from_slice(c.buf.get(c.emitted..c.pos + name_end).unwrap_or_default());
                    out.extend_from_slice(guard);
                    c.emitted = c.pos + name_end;
                }
                self.tag.oversize();
                self.mode = Mode::Oversized;
                Step::Go(c.pos + window.len())
            }
        }
    }

    /// May this `button` or `input`, too long to read whole (`window` is what was read), submit
    /// a form with the token? Judged by a `type` read so far; an input only in a token form.
    fn unread_may_submit(&self, window: &[u8]) -> bool {
        let t = Tag { bytes: window, attrs: &self.tag.attrs };
        let joined = t.attr(b"form").is_some();
        (self.in_token_form_maybe() || joined || self.tag.kind() == Kind::Button)
            && edit::is_submitter(self.tag.kind(), &t)
    }

    /// A control here may belong to a token form without `form=`: the open one, or one whose
    /// `</form>` may have left it open (of the document, or of the current template's contents).
    fn in_token_form_maybe(&self) -> bool {
        self.token_form
            || self.token_form_may_be_open
            || self.template_tables.last().is_some_and(|t| t.token_form_closed)
    }

    /// Overrides for an HTML start tag too long to read (over `MAX_CARRY`): no ping, no
    /// referrer policy of its own, no `<meta>` meaning, no submitting a token form.
    fn unread_tag_guard(&self, window: &[u8]) -> Option<&'static [u8]> {
        if self.tag.end_tag || self.foreign.is_open() {
            return None;
        }
        Some(match self.tag.kind() {
            Kind::A | Kind::Area => b" ping=\"\" referrerpolicy=\"same-origin\"",
            Kind::Img | Kind::Iframe | Kind::Frame | Kind::Link | Kind::Script => b" referrerpolicy=\"same-origin\"",
            Kind::Meta => b" name=\"\" http-equiv=\"\"",
            // A button may join any form with `form=`, unread; an input only its own. A type read
            // before the tag grew too long that is no submitter spares it (a long hidden field).
            Kind::Button | Kind::Input if self.unread_may_submit(window) => b" disabled",
            // Its id, unread, may be one that ties a hidden input (`form_ids`).
            Kind::Form if self.template_depth == 0 && self.form_ids.any_claimed() => b" id=\"\"",
            _ => return None,
        })
    }

    fn oversized(&mut self, c: &Cursor<'_>) -> Step {
        match self.tag.scan(c.rest()) {
            Scan::Complete(len) => {
                self.mode = Mode::Data;
                self.oversized_tag();
                Step::Go(c.pos + len)
            }
            Scan::NeedMore => {
                self.tag.oversize();
                Step::Stop(c.buf.len())
            }
        }
    }

    fn comment(&mut self, mut state: Comment, c: &Cursor<'_>) -> Step {
        let end = raw::scan_comment(&mut state, c.rest());
        self.mode = Mode::Comment(state);
        self.resume_after(end, c)
    }

    fn bogus(&mut self, c: &Cursor<'_>) -> Step {
        let end = memchr::memchr(b'>', c.rest()).map(|k| k + 1);
        self.resume_after(end, c)
    }

    fn cdata(&mut self, mut brackets: u8, c: &mut Cursor<'_>, out: &mut Vec<u8>) -> Step {
        let rest = c.rest();
        let end = raw::scan_cdata(&mut brackets, rest);
        // Its text is text in foreign content, which rules out a frameset. Any section counts
        // (one of only whitespace does not for the parser): not believing a frameset is the safe
        // error, believing one that is not there would leave what follows unread.
        self.frameset_ok = false;
        self.mode = Mode::Cdata(brackets);
        split_after_lt(rest.get(..end.unwrap_or(rest.len())).unwrap_or(rest), c, out);
        self.resume_after(end, c)
    }

    /// Back to text after a region that ends `end` bytes past the cursor, if it ends here.
    fn resume_after(&mut self, end: Option<usize>, c: &Cursor<'_>) -> Step {
        match end {
            Some(n) => {
                self.mode = Mode::Data;
                Step::Go(c.pos + n)
            }
            None => Step::Stop(c.buf.len()),
        }
    }

    fn raw_text(&mut self, name: &[u8], c: &Cursor<'_>) -> Step {
        let end = raw::find_end_tag(c.rest(), name);
        self.close_raw(end, c)
    }

    fn script(&mut self, mut state: Script, c: &Cursor<'_>) -> Step {
        let end = raw::scan_script(&mut state, c.rest());
        self.mode = Mode::Script(state);
        self.close_raw(end, c)
    }

    /// At a raw-text element's closing tag, text mode tokenizes that tag like any other.
    fn close_raw(&mut self, end: RawEnd, c: &Cursor<'_>) -> Step {
        match end {
            RawEnd::Found(k) => {
                self.mode = Mode::Data;
                Step::Go(c.pos + k)
            }
            RawEnd::NeedMore(k) => Step::Stop(c.pos + k),
            RawEnd::NotFound => Step::Stop(c.buf.len()),
        }
    }

    /// A complete tag: where it puts the page (foreign content, raw text, forms, templates, the
    /// base) and how it is to be written.
    fn on_tag(&mut self, tag: &[u8], plan: &mut Plan) {
        let element = self.tag.element();
        let kind = element.kind;
        self.note_body(element, self.tag.end_tag);
        if self.tag.end_tag {
            if self.foreign.end(element) == Reading::Html {
                self.html_end_tag(element);
            }
            return;
        }
        if self.in_frameset && !matches!(kind, Kind::Frame | Kind::RawText(Raw::Noframes)) {
            // In a frameset the parser drops every other tag (svg and math too); the page-URL
            // overrides cost nothing should it not.
            return self.foreign_overrides(kind, tag, plan);
        }
        let reading = {
            let t = Tag { bytes: tag, attrs: &self.tag.attrs };
            self.foreign.start(&StartTag {
                element,
                self_closing: self.tag.self_closing,
                creates_form: kind == Kind::Form && self.template_depth == 0 && !self.form_open,
                font_breaks_out: kind == Kind::Font
                    && [&b"color"[..], b"face", b"size"].iter().any(|a| t.attr(a).is_some()),
                html_annotation: kind == Kind::AnnotationXml && {
                    let enc = t.attr(b"encoding").flatten();
                    enc.is_some_and(|e| {
                        let e = e.text().trim_ascii();
                        e.eq_ignore_ascii_case(b"text/html") || e.eq_ignore_ascii_case(b"application/xhtml+xml")
                    })
                },
            })
        };
        if reading == Reading::Foreign {
            if kind == Kind::Form {
                self.foreign_form_id(tag);
            }
            return self.foreign_overrides(kind, tag, plan);
        }
        self.base.sync_tables(&self.foreign);
        let hidden_input = || {
            let t = Tag { bytes: tag, attrs: &self.tag.attrs };
            kind == Kind::Input
                && t.attr(b"type").flatten().is_some_and(|v| v.text().trim_ascii().eq_ignore_ascii_case(b"hidden"))
        };
        let keeps_ok = !self.frameset_ok || !element.has(Props::NOT_FRAMESET_OK) || hidden_input();
        self.plan(kind, tag, plan);
        let frameset_taken = self.frameset_ok || !self.body_started;
        if kind == Kind::Frameset && frameset_taken && self.template_depth == 0 && !self.in_frameset {
            // The parser pops everything but the root element, svg/math too.
            self.in_frameset = true;
            self.foreign.close_all();
            self.base.body_dropped();
        }
        self.frameset_ok &= keeps_ok;
        self.open_html(kind);
    }

    /// Does this tag start the body? Start tags that belong in no head do (outside template
    /// contents; `<html>`, `<head>` and `<frameset>` do not either), and so does any end tag but
    /// `</head>` and `</template>`: the parser ignores some of those, but taking the body for
    /// started only makes a later `<frameset>` less believed, which leaves what follows read
    /// (the safe error).
    fn note_body(&mut self, element: Element, end_tag: bool) {
        if self.body_opened || self.template_depth > 0 {
            return;
        }
        if end_tag {
            self.body_started |= !element.is(names::HEAD) && !element.is(names::TEMPLATE);
        } else {
            let before_body = [names::HTML, names::HEAD, names::FRAMESET];
            self.body_opened = !element.has(Props::IN_HEAD) && !before_body.iter().any(|&n| element.is(n));
            self.body_started |= self.body_opened;
        }
    }

    /// An svg/math `form` element's id: `form=` names the first element with an id, of any
    /// namespace, so an HTML form's own id after it ties no input (it would have no form).
    fn foreign_form_id(&mut self, tag: &[u8]) {
        let t = Tag { bytes: tag, attrs: &self.tag.attrs };
        if let Some(id) = t.attr(b"id").filter(|_| self.template_depth == 0) {
            self.form_ids.form(id.as_ref().map_or(&b""[..], |v| v.text()));
        }
    }

    /// A tag read as svg/math still gets the page-URL overrides: should the parser see it as
    /// HTML after all (an end tag that closed foreign content unseen here), they are what count.
    /// So does a submitter where an HTML one would be guarded.
    fn foreign_overrides(&self, kind: Kind, tag: &[u8], plan: &mut Plan) {
        let t = Tag { bytes: tag, attrs: &self.tag.attrs };
        match kind {
            Kind::A | Kind::Area | Kind::Img | Kind::Iframe | Kind::Link | Kind::Script | Kind::Meta => {
                let page = self.settings.page(&self.base.url);
                page.referrer_and_ping(kind, &t, plan);
            }
            Kind::Button | Kind::Input
                if self.settings.edit.forms && (self.in_token_form_maybe() || t.attr(b"form").is_some()) =>
            {
                edit::foreign_submitter(kind, &t, plan);
            }
            _ => {}
        }
    }

    /// Decides the edits of an HTML start tag, and notes what it means for later tags.
    fn plan(&mut self, kind: Kind, tag: &[u8], plan: &mut Plan) {
        let has_placeholder = self.settings.edit.placeholder.is_in(tag);
        // Tags of other kinds are scanned without their attributes; a placeholder needs them.
        let attrs = if has_placeholder {
            TagScanner::all_attrs(tag)
        } else {
            std::mem::take(&mut self.tag.attrs)
        };
        let t = Tag { bytes: tag, attrs: &attrs };
        let new_base = self.decide(kind, &t, plan);
        if kind == Kind::Iframe {
            self.srcdoc(&t, plan);
        }
        let page = self.settings.page(&self.base.url);
        if has_placeholder {
            page.placeholder_urls(&t, plan);
        }
        // Without attributes (those of most tags are not recorded) there is nothing to override.
        if !t.attrs.is_empty() {
            page.referrer_and_ping(kind, &t, plan);
        }
        // A URL written absolute now was resolved against the current base: a later one must
        // not count.
        self.base.urls_decided |= !plan.values.is_empty() || plan.wrote_url;
        if let Some(base) = new_base {
            self.base.url = base;
        }
        if !has_placeholder {
            self.tag.attrs = attrs;
        }
    }

    /// The edits a tag gets for what it is (link, form, control, base), and the base it sets.
    fn decide(&mut self, kind: Kind, t: &Tag<'_>, plan: &mut Plan) -> Option<BaseUrl> {
        self.track_open_elements(kind);
        let created = kind == Kind::Form && self.form_created();
        let mut new_base = None;
        let page = self.settings.page(&self.base.url);
        let forms = self.settings.edit.forms;
        match kind {
            Kind::A | Kind::Area | Kind::Iframe | Kind::Frame | Kind::Meta if self.settings.edit.links => {
                page.link(kind, t, plan);
            }
            Kind::Form => self.form_start(t, created, plan),
            Kind::Button | Kind::Input => {
                // `form="..."` joins the control to any form of the page, a token form maybe.
                let joined = t.attr(b"form").is_some();
                if forms && (joined || self.in_token_form_maybe()) {
                    page.submitter(kind, t, plan);
                }
                if self.token_form && !joined {
                    page.control_value(t, plan);
                }
            }
            Kind::Base if self.template_depth == 0 => new_base = self.base_start(t, plan),
            _ => {}
        }
        new_base
    }

    /// A `<form>` read as HTML: whether the parser creates it, and whether it gets the token.
    /// Forms are rare: kept out of the path every tag takes.
    #[inline(never)]
    fn form_start(&mut self, t: &Tag<'_>, created: bool, plan: &mut Plan) {
        let page = self.settings.page(&self.base.url);
        let forms = self.settings.edit.forms;
        if created && self.template_depth > 0 {
            let enclosing = self.token_form;
            if let Some(t) = self.template_tables.last_mut() {
                t.push_form(enclosing);
            }
        }
        let id_attr = t.attr(b"id");
        let own_id = match &id_attr {
            Some(id) if created && self.template_depth == 0 => {
                let text = id.as_ref().map_or(&b""[..], |v| v.text());
                Some((self.form_ids.form(text), text))
            }
            _ => None,
        };
        if own_id.as_ref().is_some_and(|(id, _)| *id == OwnId::Neutralise) {
            plan.insert(b"id=\"\"");
        }
        // In a table the wrapper lands outside the form: its own id must tie the input, so it
        // must name this form alone (`form_ids`). So too where tables are not tracked (inside an
        // svg/math integration point): the id ties the input wherever the wrapper lands.
        let in_table = own_id.is_some() && (self.foreign.before_table() || self.foreign.table_in_integration_point());
        let untied = in_table && own_id.as_ref().is_some_and(|(id, _)| *id != OwnId::Unique);
        // In a `<select>` the hidden input would close the select (and land elsewhere).
        if created && (self.select_open || untied) {
            // In template contents forms nest: a token form around this one stays in force for
            // the submitters after it (an `<input>` closes the select and this form with it).
            if let Some(t) = self.template_tables.last_mut() {
                t.token_form_closed |= self.token_form;
            }
            self.token_form = false;
        } else if created {
            let in_template = self.template_depth > 0;
            self.token_form = forms && page.form(t, in_template, self.forms_tied + 1, plan);
            if matches!(plan.hidden, Some(Some(_))) {
                self.forms_tied += 1;
            } else if let Some((_, id)) = own_id.filter(|_| in_table && plan.hidden.is_some()) {
                self.form_ids.claim(id);
                plan.hidden = Some(Some(edit::attribute_text(id)));
            }
        }
    }

    /// An HTML `<base>` outside templates: the base relative URLs resolve against after it, if it
    /// changes. A base element's href resolves against the document's URL, not another base.
    #[inline(never)]
    fn base_start(&mut self, t: &Tag<'_>, plan: &mut Plan) -> Option<BaseUrl> {
        let page = self.settings.page(&self.base.fallback);
        let href = t.attr(b"href").flatten();
        self.base.element(page.base(t), href.as_ref().map_or(b"", |v| v.raw()), self.body_opened, &self.foreign, plan)
    }

    /// The parser's open elements as far as decisions need them: an open select (an input
    /// closes it when it is in scope, as the parser does), tables in template contents.
    fn track_open_elements(&mut self, kind: Kind) {
        match kind {
            Kind::Select => self.select_open = true,
            Kind::Input => self.select_open &= self.foreign.select_out_of_scope(),
            Kind::Table if self.template_depth > 0 => {
                if let Some(t) = self.template_tables.last_mut() {
                    t.open();
                }
            }
            _ => {
                if let Some(t) = self.template_tables.last_mut() {
                    t.start_tag(self.tag.element());
                }
            }
        }
    }

    /// Whether a `<form>` start tag creates a form. The parser's form element pointer: a
    /// `<form>` while one is open is ignored (outside templates), so is an input placed after
    /// it. In a template, a form in a table is ignored.
    fn form_created(&mut self) -> bool {
        if self.template_depth > 0 {
            // In a table insertion mode template contents drop a form (also without a table, when
            // they began with a row or cell, and after a foster-parented element).
            self.template_tables.last().is_none_or(Tables::form_allowed) && !self.foreign.form_surely_popped()
        } else {
            !std::mem::replace(&mut self.form_open, true)
        }
    }

    /// An `<iframe srcdoc>` is a document of its own whose requests carry this page's URL as
    /// their Referer: it is rewritten by the same rules, with this page's base, and written back
    /// so that it reads as the rewritten document in any quoting.
    fn srcdoc(&self, t: &Tag<'_>, plan: &mut Plan) {
        let Some(Some(value)) = t.attr(b"srcdoc") else {
            return;
        };
        if self.settings.srcdoc_depth >= MAX_SRCDOC_DEPTH {
            plan.insert(b"srcdoc=\"\"");
            return;
        }
        let mut settings = self.settings.clone();
        settings.srcdoc_depth += 1;
        let mut inner = HtmlStage::new(settings);
        inner.machine.base = DocumentBase::new(self.base.url.clone());
        let mut out = Vec::with_capacity(value.text().len() + 256);
        inner.write(value.text(), &mut out);
        inner.end(&mut out);
        if out.as_slice() != value.text() {
            plan.replace_with(&value, edit::attribute_text(&out));
        }
    }

    /// A tag passed through untouched because it is too long: what it still means for the page.
    fn oversized_tag(&mut self) {
        let element = self.tag.element();
        let kind = element.kind;
        self.note_body(element, self.tag.end_tag);
        if self.tag.end_tag {
            if self.foreign.end(element) == Reading::Html {
                self.html_end_tag(element);
            }
            return;
        }
        let creates_form = kind == Kind::Form && self.template_depth == 0 && !self.form_open;
        let start = StartTag { element, self_closing: self.tag.self_closing, font_breaks_out: false, html_annotation: false, creates_form };
        if self.foreign.start(&start) == Reading::Foreign {
            return;
        }
        self.base.sync_tables(&self.foreign);
        match kind {
            // Its action is unknown: no hidden input went in, so nothing to guard. Its id is
            // unknown too: no later form's own id may tie an input.
            Kind::Form if self.template_depth > 0 || !std::mem::replace(&mut self.form_open, true) => {
                if self.template_depth == 0 {
                    self.form_ids.unreadable();
                }
                self.token_form = false;
            }
            // Its href is unknown: relative URLs may point anywhere.
            Kind::Base if self.template_depth == 0 => self.base.unreadable(self.body_opened, &self.foreign),
            _ => {}
        }
        self.open_html(kind);
    }

    /// An HTML end tag: what it closes among forms, templates and selects. A template that closes
    /// takes any foreign content inside it along; `</form>` removes only the form element from the
    /// stack (foreign content inside it stays open).
    fn html_end_tag(&mut self, element: Element) {
        match element.kind {
            Kind::Form if self.template_depth > 0 => {
                if let Some(t) = self.template_tables.last_mut() {
                    if let Some(enclosing) = t.pop_form() {
                        t.token_form_closed |= self.token_form;
                        self.token_form = enclosing;
                    }
                }
            }
            Kind::Form => {
                self.token_form_may_be_open |= self.token_form;
                self.token_form = false;
                self.form_open = false;
            }
            Kind::Template if self.template_depth > 0 => {
                self.template_depth -= 1;
                if let Some(t) = self.template_tables.pop() {
                    self.token_form = t.enclosing_token_form;
                    self.select_open = t.enclosing_select_open;
                }
                self.foreign.close_template();
            }
            Kind::Table => {
                if let Some(t) = self.template_tables.last_mut() {
                    t.close();
                }
            }
            // Behind a table, cell or object the select is out of scope: its end tag is ignored.
            Kind::Select => self.select_open &= self.foreign.select_out_of_scope(),
            _ => {
                if let Some(t) = self.template_tables.last_mut() {
                    t.end_tag(element);
                }
            }
        }
    }

    /// What an HTML start tag opens: raw-text content, templates.
    fn open_html(&mut self, kind: Kind) {
        self.mode = match kind {
            Kind::Script => Mode::Script(Script::Data),
            // A textarea no longer closes an open select (html5ever 0.40, Chromium 156: the 2025
            // select changes); where an older parser closes it, a form after it just gets no
            // hidden input.
            Kind::RawText(raw) => Mode::RawText(raw.name()),
            // An iframe's content is raw text too (its src was handled as a link).
            Kind::Iframe => Mode::RawText(Raw::Iframe.name()),
            Kind::Plaintext => Mode::Plaintext,
            Kind::Template => {
                self.template_depth = self.template_depth.saturating_add(1);
                if self.template_tables.len() < super::foreign::MAX_DEPTH {
                    let enclosing_select_open = std::mem::take(&mut self.select_open);
                    self.template_tables.push(Tables {
                        enclosing_token_form: self.token_form,
                        enclosing_select_open,
                        ..Tables::default()
                    });
                }
                Mode::Data
            }
            _ => Mode::Data,
        };
    }
}
