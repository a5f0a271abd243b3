//! The document's base: which `<base href>` the browser resolves relative URLs against, as the
//! rewriter meets bases in source order.
//!
//! The document's base is the first HTML `<base href>` in TREE order, outside templates and
//! foreign content. Source order is tree order but for foster parenting: a base start tag in a
//! table (not in a cell or caption) is inserted before the table, so it comes before every base
//! already met inside that table (`<table><td><base href=/x><tr><base href=/y>`: `/y` is the
//! document's base). So each base taken is recorded with the tables it is inside; a later one
//! foster-parented out of one of those tables comes first in tree order and takes over.
//!
//! Taking over is possible only while no URL was resolved against the base so far (rewritten URLs
//! are written absolute, but they were resolved against it). Once one was, a base that would come
//! first gets the current base's own `href` put first (the first attribute wins; `href=""` when the
//! base is still the document URL): the browser's base stays the one every URL was resolved
//! against. Both resolve against the document's fallback base URL, so the copy means the same.
//!
//! Tables are known by serial numbers ([`Foreign::tables_pushed`]): the model's stack of open
//! elements is kept in `foreign`, and the serials of the tables open in it are synced after each
//! start tag, so that a table closed and another opened at the same depth are told apart.

use super::edit::{BaseUrl, Plan};
use super::foreign::{Foreign, MAX_DEPTH};

#[derive(Debug, Clone)]
pub(super) struct DocumentBase {
    /// What relative URLs resolve against now.
    pub url: BaseUrl,
    /// What the document's base elements resolve against: the document's URL (for an iframe's
    /// `srcdoc`, the base of the page around it).
    pub fallback: BaseUrl,
    /// A URL was decided on (and written absolute): a base arriving now must not count.
    pub urls_decided: bool,
    /// The base element that decides `url`, once one was met.
    taken: Option<Taken>,
    /// The serials of the tables open outside templates and foreign content, outermost first.
    tables: Vec<u32>,
    /// [`Foreign::tables_pushed`] when `tables` was last synced.
    synced: u32,
}

#[derive(Debug, Clone)]
struct Taken {
    /// The tables the base element is inside: one foster-parented out of any of them comes first
    /// in tree order.
    inside: Vec<u32>,
    /// What a base that comes first after URLs were resolved gets as its first `href`, to go
    /// between double quotes: this base's `href` as written, or nothing when it was neutralised
    /// or unreadable.
    href: Vec<u8>,
    /// It came after the body started: a `<frameset>` that replaces the body drops it.
    in_body: bool,
}

impl DocumentBase {
    pub fn new(fallback: BaseUrl) -> Self {
        DocumentBase { url: fallback.clone(), fallback, urls_decided: false, taken: None, tables: Vec::new(), synced: 0 }
    }

    /// After a start tag read as HTML: a table it pushed onto the model's stack gets its serial.
    #[inline]
    pub fn sync_tables(&mut self, foreign: &Foreign) {
        if foreign.tables_pushed() != self.synced {
            self.table_pushed(foreign);
        }
    }

    #[inline(never)]
    fn table_pushed(&mut self, foreign: &Foreign) {
        let serial = foreign.tables_pushed();
        self.synced = serial;
        self.tables.truncate(foreign.tables_open().saturating_sub(1));
        if self.tables.len() < MAX_DEPTH {
            self.tables.push(serial);
        }
    }

    /// An HTML `<base>` outside templates: `found` is the base its `href` makes (`None`
    /// without one, then it is no base for the browser) and `href` that attribute's value as
    /// written. The base relative URLs resolve against after this tag, if it changes.
    pub fn element(&mut self, found: Option<BaseUrl>, href: &[u8], in_body: bool, foreign: &Foreign, plan: &mut Plan) -> Option<BaseUrl> {
        let url = found?;
        let inside = self.comes_first(foreign)?;
        let mut new_url = None;
        let href = if self.urls_decided {
            // Too late to resolve what was written: the base stays what it was.
            let keep = self.taken.as_ref().map_or(Vec::new(), |t| t.href.clone());
            let mut attribute = Vec::with_capacity(keep.len() + 7);
            attribute.extend_from_slice(b"href=\"");
            attribute.extend_from_slice(&keep);
            attribute.push(b'"');
            plan.insert(&attribute);
            keep
        } else {
            new_url = Some(url);
            double_quoted(href)
        };
        self.taken = Some(Taken { inside, href, in_body });
        new_url
    }

    /// A `<base>` tag too long to read: when it comes first, its URL is unknown, so relative URLs
    /// get no token from here on.
    pub fn unreadable(&mut self, in_body: bool, foreign: &Foreign) {
        if let Some(inside) = self.comes_first(foreign) {
            self.url.foreign = true;
            self.taken = Some(Taken { inside, href: Vec::new(), in_body });
        }
    }

    /// A `<frameset>` replaced the body: a base taken in it left the document with it, so the
    /// frames resolve against the document's URL (the parser drops every later `<base>`).
    /// Elements the parser makes again after the frameset keep the URLs already written: the
    /// README's known limit.
    pub fn body_dropped(&mut self) {
        if self.taken.as_ref().is_some_and(|t| t.in_body) {
            self.url = self.fallback.clone();
        }
    }

    /// Does a base element met now come first in tree order (before the one taken, if any)? Then
    /// the tables it is inside.
    fn comes_first(&mut self, foreign: &Foreign) -> Option<Vec<u32>> {
        self.tables.truncate(foreign.tables_open());
        let before_table = foreign.before_table().then(|| self.tables.last().copied()).flatten();
        let inside = match before_table {
            Some(_) => self.tables.get(..self.tables.len().saturating_sub(1)).unwrap_or_default(),
            None => self.tables.as_slice(),
        };
        let first = match (&self.taken, before_table) {
            (None, _) => true,
            (Some(taken), Some(table)) => taken.inside.contains(&table),
            (Some(_), None) => false,
        };
        first.then(|| inside.to_vec())
    }
}

/// An attribute value as written, to go between double quotes: only `"` needs a reference there.
/// Everything else stays as written, so the browser decodes the copy exactly as the original
/// (references the rewriter does not decode included).
fn double_quoted(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for &b in raw {
        match b {
            b'"' => out.extend_from_slice(b"&quot;"),
            _ => out.push(b),
        }
    }
    out
}
