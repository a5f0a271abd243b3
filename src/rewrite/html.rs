//! The HTML stage: a state machine over the byte stream that finds tags, skips what is not
//! markup, and splices the token into the tags that need it.
//!
//! Streaming equals one-shot because the machine never decides on a partial construct: when a
//! chunk ends inside a tag or inside a few bytes of lookahead, `run` reports how far it got and
//! the rest is carried into the next chunk, with any scan state kept relative to the carried
//! bytes. A tag that is still open after `MAX_CARRY` bytes is passed through as it is, whatever
//! the chunking, so the limit is on tag length, not on where chunks happen to end.

use super::edit::Page;
use super::raw::{self, Comment, RawEnd, Script};
use super::tag::{Kind, Scan, TagScanner};
use super::MAX_CARRY;
use crate::origin::{push_with_query_param, QuerySeparator, SameOrigin};

/// Bytes moved into the carry per step when it is resolved against a new chunk; it grows with
/// the carry, so long tags are copied a bounded number of times.
const CARRY_STEP: usize = 256;

/// Per-page settings, fixed when the rewriter is made.
pub(super) struct Settings {
    pub links: bool,
    pub forms: bool,
    pub host: String,
    pub allowed_hosts: Vec<String>,
    /// Param and token as they go into a query string (percent-encoded where needed).
    pub url_param: Vec<u8>,
    pub url_token: Vec<u8>,
    /// The `<input type="hidden" ...>` inserted into forms.
    pub hidden_input: Vec<u8>,
}

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

/// How a complete tag is written out.
#[derive(Default)]
struct Plan {
    /// Range (in the tag) of a URL that gets the token.
    url: Option<(usize, usize)>,
    /// Append the hidden input after the tag.
    hidden: bool,
}

struct Machine {
    mode: Mode,
    tag: TagScanner,
    /// The parser's form element pointer is set: a nested `<form>` is ignored by browsers, and
    /// an input after it would join the outer form.
    form_open: bool,
    template_depth: u32,
    base_foreign: bool,
    settings: Settings,
}

pub(super) struct HtmlStage {
    carry: Vec<u8>,
    machine: Machine,
}

impl HtmlStage {
    pub fn new(settings: Settings) -> Self {
        HtmlStage {
            carry: Vec::new(),
            machine: Machine {
                mode: Mode::Data,
                tag: TagScanner::new(),
                form_open: false,
                template_depth: 0,
                base_foreign: false,
                settings,
            },
        }
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
            let consumed = self.machine.run(&carry, out);
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
        let consumed = self.machine.run(rest, out);
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
}

impl Machine {
    /// Processes `buf`, appending output for `buf[..n]` to `out`, and returns `n`: the rest is an
    /// unfinished construct to be presented again with more bytes.
    fn run(&mut self, buf: &[u8], out: &mut Vec<u8>) -> usize {
        let mut i = 0;
        let mut emitted = 0;
        let consumed = loop {
            let rest = buf.get(i..).unwrap_or_default();
            match self.mode {
                Mode::Data => {
                    let Some(k) = memchr::memchr(b'<', rest) else {
                        break buf.len();
                    };
                    let lt = i + k;
                    i = match classify_lt(buf.get(lt..).unwrap_or_default()) {
                        Lt::NeedMore => break lt,
                        Lt::Text => lt + 1,
                        Lt::Tag { end } => {
                            self.tag.begin(end);
                            self.mode = Mode::Tag;
                            lt
                        }
                        Lt::EmptyEndTag => lt + 3,
                        Lt::Comment => {
                            self.mode = Mode::Comment(Comment::Start);
                            lt + 4
                        }
                        Lt::Cdata => {
                            self.mode = Mode::Cdata(0);
                            lt + 9
                        }
                        Lt::Bogus(n) => {
                            self.mode = Mode::Bogus;
                            lt + n
                        }
                    };
                }
                Mode::Tag => {
                    let window = rest.get(..MAX_CARRY).unwrap_or(rest);
                    match self.tag.scan(window) {
                        Scan::Complete(len) => {
                            self.mode = Mode::Data;
                            let tag = window.get(..len).unwrap_or_default();
                            let plan = self.plan(tag);
                            if plan.url.is_some() || plan.hidden {
                                out.extend_from_slice(buf.get(emitted..i).unwrap_or_default());
                                self.write_tag(tag, &plan, out);
                                emitted = i + len;
                            }
                            self.after_tag();
                            i += len;
                        }
                        Scan::NeedMore if window.len() < MAX_CARRY => break i,
                        Scan::NeedMore => {
                            self.tag.oversize();
                            self.mode = Mode::Oversized;
                            i += window.len();
                        }
                    }
                }
                Mode::Oversized => match self.tag.scan(rest) {
                    Scan::Complete(len) => {
                        self.mode = Mode::Data;
                        self.oversized_tag();
                        self.after_tag();
                        i += len;
                    }
                    Scan::NeedMore => {
                        self.tag.oversize();
                        break buf.len();
                    }
                },
                Mode::Comment(mut state) => match raw::scan_comment(&mut state, rest) {
                    Some(n) => {
                        self.mode = Mode::Data;
                        i += n;
                    }
                    None => {
                        self.mode = Mode::Comment(state);
                        break buf.len();
                    }
                },
                Mode::Bogus => match memchr::memchr(b'>', rest) {
                    Some(k) => {
                        self.mode = Mode::Data;
                        i += k + 1;
                    }
                    None => break buf.len(),
                },
                Mode::Cdata(mut brackets) => match raw::scan_cdata(&mut brackets, rest) {
                    Some(n) => {
                        self.mode = Mode::Data;
                        i += n;
                    }
                    None => {
                        self.mode = Mode::Cdata(brackets);
                        break buf.len();
                    }
                },
                Mode::RawText(name) => match raw::find_end_tag(rest, name) {
                    RawEnd::Found(k) => {
                        self.mode = Mode::Data;
                        i += k;
                    }
                    RawEnd::NeedMore(k) => break i + k,
                    RawEnd::NotFound => break buf.len(),
                },
                Mode::Script(mut state) => {
                    let end = raw::scan_script(&mut state, rest);
                    self.mode = Mode::Script(state);
                    match end {
                        RawEnd::Found(k) => {
                            self.mode = Mode::Data;
                            i += k;
                        }
                        RawEnd::NeedMore(k) => break i + k,
                        RawEnd::NotFound => break buf.len(),
                    }
                }
                Mode::Plaintext => break buf.len(),
            }
        };
        out.extend_from_slice(buf.get(emitted..consumed).unwrap_or_default());
        consumed
    }

    fn page(&self) -> Page<'_> {
        Page {
            origin: SameOrigin {
                host: &self.settings.host,
                allowed_hosts: &self.settings.allowed_hosts,
            },
            base_foreign: self.base_foreign,
        }
    }

    /// Decides what to do with a complete tag (and notes what it means for later tags).
    fn plan(&mut self, tag: &[u8]) -> Plan {
        if self.tag.end_tag {
            return Plan::default();
        }
        let kind = self.tag.kind();
        let attrs = &self.tag.attrs;
        match kind {
            Kind::A | Kind::Area | Kind::Iframe | Kind::Frame | Kind::Meta
                if self.settings.links =>
            {
                Plan {
                    url: self.page().link_edit(kind, tag, attrs),
                    hidden: false,
                }
            }
            Kind::Form => {
                let allowed = self.settings.forms && self.page().form_allowed(tag, attrs);
                Plan {
                    url: None,
                    hidden: self.open_form() && allowed,
                }
            }
            Kind::Base => {
                if self.page().base_is_foreign(tag, attrs) == Some(true) {
                    self.base_foreign = true;
                }
                Plan::default()
            }
            _ => Plan::default(),
        }
    }

    /// The side effects of a tag that is passed through untouched because it is too long.
    fn oversized_tag(&mut self) {
        if self.tag.end_tag {
            return;
        }
        match self.tag.kind() {
            Kind::Form => {
                self.open_form();
            }
            // Its href is unknown: relative URLs may point anywhere.
            Kind::Base => self.base_foreign = true,
            _ => {}
        }
    }

    /// A `<form>` start tag: does it create a form (true) or is it ignored as nested?
    fn open_form(&mut self) -> bool {
        if self.template_depth > 0 {
            return true;
        }
        !std::mem::replace(&mut self.form_open, true)
    }

    /// What the tag opens or closes: raw-text content, forms, templates.
    fn after_tag(&mut self) {
        let kind = self.tag.kind();
        if self.tag.end_tag {
            match kind {
                Kind::Form if self.template_depth == 0 => self.form_open = false,
                Kind::Template => self.template_depth = self.template_depth.saturating_sub(1),
                _ => {}
            }
            return;
        }
        self.mode = match kind {
            Kind::Script => Mode::Script(Script::Data),
            Kind::RawText(name) => Mode::RawText(name),
            // An iframe's content is raw text too (its src was handled as a link).
            Kind::Iframe => Mode::RawText(b"iframe"),
            Kind::Plaintext => Mode::Plaintext,
            Kind::Template => {
                self.template_depth = self.template_depth.saturating_add(1);
                Mode::Data
            }
            _ => Mode::Data,
        };
    }

    fn write_tag(&self, tag: &[u8], plan: &Plan, out: &mut Vec<u8>) {
        match plan.url.and_then(|(s, e)| Some((tag.get(..s)?, tag.get(s..e)?, tag.get(e..)?))) {
            Some((before, url, after)) => {
                out.extend_from_slice(before);
                push_with_query_param(
                    out,
                    url,
                    &self.settings.url_param,
                    &self.settings.url_token,
                    QuerySeparator::AmpEntity,
                );
                out.extend_from_slice(after);
            }
            None => out.extend_from_slice(tag),
        }
        if plan.hidden {
            out.extend_from_slice(&self.settings.hidden_input);
        }
    }
}
