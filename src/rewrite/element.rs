//! Element names as the rewriter knows them. A tag's lowercased name is looked up once, in a table
//! built at compile time, and the answer carries everything later decisions ask of the name: its
//! [`Kind`] (what the rewriter does with the tag's attributes) and its [`Props`] in the HTML
//! standard's tree construction (special, formatting, scope boundary, void, ...). The parser
//! model's stacks keep [`Element`]s, so walking them compares integers and tests bits.
//!
//! Why a table: every tag of a page used to be matched against a dozen name sets (over 300 name
//! compares for a `<p>`), which cost more than tokenizing it.

use super::tag::{Kind, Raw};

/// Names are kept whole up to this length (every name with a meaning here is no longer; the
/// longest, `selectedcontent`, has 15 bytes). Longer ones are all kept as one name,
/// [`Name::LONG`]: for the model they are one unknown name.
const NAME_CAP: usize = 15;

/// A lowercased element name: its bytes as two integers (little-endian, zero-padded), the top
/// byte of the second holding its length. Integers, not a byte array: a name is built byte by
/// byte while the tag is read and then hashed and compared whole, and whole reads of bytes just
/// stored one by one stall. Sixteen bytes with the length inside, not seventeen padded to 24:
/// elements are copied and compared on every tag, and the model's stacks hold them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Name {
    lo: u64,
    /// Bytes 8 to 14 of the name, and its length in the top byte.
    hi: u64,
}

/// Where `Name::hi` keeps the length.
const LEN_SHIFT: u32 = 56;

impl Name {
    /// Every name longer than `NAME_CAP`.
    const LONG: Name = Name { lo: 0, hi: (u8::MAX as u64) << LEN_SHIFT };

    /// No name (a tag whose name is not read yet).
    const EMPTY: Name = Name { lo: 0, hi: 0 };

    /// `name` as kept.
    pub const fn of(name: &[u8]) -> Name {
        if name.len() > NAME_CAP {
            return Name::LONG;
        }
        let mut n = Name::EMPTY;
        let mut rest = name;
        while let [b, tail @ ..] = rest {
            n.push(*b);
            rest = tail;
        }
        n
    }

    /// The same name, known to be: a long one is no name in particular.
    pub fn same_as(self, other: Name) -> bool {
        self == other && self != Name::LONG
    }

    const fn len(self) -> u32 {
        (self.hi >> LEN_SHIFT) as u32
    }

    /// Appends the next (lowercased) byte of a name being read.
    pub const fn push(&mut self, b: u8) {
        let at = self.len();
        if at < 8 {
            self.lo |= (b as u64) << (8 * at);
        } else if at < NAME_CAP as u32 {
            self.hi |= (b as u64) << (8 * (at - 8));
        } else {
            *self = Name::LONG;
            return;
        }
        self.hi += 1 << LEN_SHIFT;
    }

    const fn slot(self) -> usize {
        let mixed = self.lo ^ self.hi.rotate_left(29);
        (mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SLOT_BITS)) as usize
    }
}

/// What the tree construction rules say of an element name (HTML namespace), as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Props(u32);

impl Props {
    /// The standard's "special" category, as the model uses it: an "any other end tag" walk stops
    /// at these.
    pub const SPECIAL: Props = Props(1);
    /// Formatting elements: their end tags run the adoption agency.
    pub const FORMATTING: Props = Props(1 << 1);
    /// Elements that put a marker on the list of active formatting elements (those kept here).
    pub const MARKER: Props = Props(1 << 2);
    /// Elements that end an "in scope" search (the standard's "has an element in scope").
    pub const SCOPE_BOUNDARY: Props = Props(1 << 3);
    /// Elements whose end tag pops foreign content opened inside them (see [`PLAIN_CONTAINERS`]).
    pub const PLAIN_CONTAINER: Props = Props(1 << 4);
    /// Start tags the parser drops in body content: they open nothing.
    pub const DROPPED_IN_BODY: Props = Props(1 << 5);
    /// HTML elements that have no end tag.
    pub const VOID: Props = Props(1 << 6);
    /// Start tags the table insertion modes answer by clearing the stack back to the table.
    pub const TABLE_START: Props = Props(1 << 7);
    /// Start tags that end foreign content (`font` only with certain attributes: not here).
    pub const BREAKOUT: Props = Props(1 << 8);
    /// Start tags that set the parser's frameset-ok flag to "not ok".
    pub const NOT_FRAMESET_OK: Props = Props(1 << 9);
    /// The elements that keep the parser in a table insertion mode while innermost.
    pub const TABLE_ROW: Props = Props(1 << 10);
    /// Table cells and captions: "in body" rules again inside them.
    pub const CELL: Props = Props(1 << 11);
    /// SVG elements that are HTML integration points.
    pub const SVG_INTEGRATION: Props = Props(1 << 12);
    /// MathML elements that are HTML integration points (`annotation-xml` only by its encoding).
    pub const MATHML_INTEGRATION: Props = Props(1 << 13);
    /// Special elements kept in the model's stack besides the containers: those the parser
    /// keeps open until an end tag or a later start tag closes them (`p`, `li`, `dd`, `dt`,
    /// `button`, `pre`, `listing`, the headings).
    pub const OPEN_SPECIAL: Props = Props(1 << 17);
    /// `h1` to `h6`.
    pub const HEADING: Props = Props(1 << 19);
    /// Start tags that close an open `p` (in button scope) before they open anything.
    pub const CLOSES_P: Props = Props(1 << 18);
    /// Start tags that "in head" takes (also from "after head" and from template contents).
    pub const IN_HEAD: Props = Props(1 << 20);
    /// Start tags "in body" takes without reconstructing the active formatting elements first.
    pub const NO_RECONSTRUCT: Props = Props(1 << 21);
    /// Elements "generate implied end tags" closes when they are the current node.
    pub const IMPLIED_END: Props = Props(1 << 22);
    /// Start tags that generate implied end tags when a select is in scope (the 2025 select
    /// parsing: `<select><li><option>` closes the `li`).
    pub const ENDS_IN_SELECT: Props = Props(1 << 23);
    /// Names the HTML parser knows (any other is an `HTMLUnknownElement` or a custom element).
    const KNOWN: Props = Props(1 << 14);
    /// The containers kept in the model's stack of HTML elements.
    const CONTAINER: Props = Props(1 << 15);
    /// Special elements that are not containers kept here.
    const KNOWN_SPECIAL: Props = Props(1 << 16);

    pub const fn has(self, p: Props) -> bool {
        self.0 & p.0 != 0
    }

    const fn with(self, p: Props) -> Props {
        Props(self.0 | p.0)
    }
}

/// A tag's name looked up: what it is to the rewriter and to the parser's tree construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Element {
    pub name: Name,
    pub kind: Kind,
    pub props: Props,
}

impl Element {
    /// The element of a tag whose name is not read yet.
    pub const UNNAMED: Element = Element { name: Name::EMPTY, kind: Kind::Other, props: UNKNOWN };

    /// The element named `name` (lowercased).
    #[cfg(test)]
    pub fn of(name: &[u8]) -> Element {
        Element::lookup(Name::of(name))
    }

    pub fn lookup(name: Name) -> Element {
        let mut slot = name.slot();
        loop {
            let index = TABLE.slots.get(slot).copied().unwrap_or(0);
            let Some(known) = index.checked_sub(1).and_then(|i| TABLE.elements.get(usize::from(i))) else {
                return Element { name, kind: Kind::Other, props: UNKNOWN };
            };
            if known.name == name {
                return Element { name, kind: known.kind, props: known.props };
            }
            slot = (slot + 1) % SLOTS;
        }
    }

    /// Is this element named `name`? Never for names over `NAME_CAP` (all kept as one): an end
    /// tag of one must not close another (`<x-aaaaaaaaaaaaaa><svg></x-aaaaaaaaaaaaab>` closes
    /// nothing), which leaves such elements open longer, the safe error.
    pub fn is(&self, name: Name) -> bool {
        self.name.same_as(name)
    }

    pub fn has(&self, p: Props) -> bool {
        self.props.has(p)
    }
}

/// Names compared often, spelled once.
pub(super) mod names {
    use super::Name;
    pub const A: Name = Name::of(b"a");
    pub const ANNOTATION_XML: Name = Name::of(b"annotation-xml");
    pub const ADDRESS: Name = Name::of(b"address");
    pub const BR: Name = Name::of(b"br");
    pub const BUTTON: Name = Name::of(b"button");
    pub const DD: Name = Name::of(b"dd");
    pub const DIV: Name = Name::of(b"div");
    pub const DT: Name = Name::of(b"dt");
    pub const LI: Name = Name::of(b"li");
    pub const OL: Name = Name::of(b"ol");
    pub const CAPTION: Name = Name::of(b"caption");
    pub const COLGROUP: Name = Name::of(b"colgroup");
    pub const FONT: Name = Name::of(b"font");
    pub const FORM: Name = Name::of(b"form");
    pub const FRAMESET: Name = Name::of(b"frameset");
    pub const HEAD: Name = Name::of(b"head");
    pub const HTML: Name = Name::of(b"html");
    pub const KEYGEN: Name = Name::of(b"keygen");
    pub const MATH: Name = Name::of(b"math");
    pub const NOBR: Name = Name::of(b"nobr");
    pub const P: Name = Name::of(b"p");
    pub const SELECT: Name = Name::of(b"select");
    pub const SVG: Name = Name::of(b"svg");
    pub const TABLE: Name = Name::of(b"table");
    pub const TBODY: Name = Name::of(b"tbody");
    pub const TEMPLATE: Name = Name::of(b"template");
    pub const TFOOT: Name = Name::of(b"tfoot");
    pub const TH: Name = Name::of(b"th");
    pub const THEAD: Name = Name::of(b"thead");
    pub const TR: Name = Name::of(b"tr");
    pub const UL: Name = Name::of(b"ul");
}

/// The tags the rewriter acts on, by name; every other name is `Kind::Other`.
const KINDS: &[(&[u8], Kind)] = &[
    (b"a", Kind::A),
    (b"area", Kind::Area),
    (b"iframe", Kind::Iframe),
    (b"frame", Kind::Frame),
    (b"form", Kind::Form),
    (b"button", Kind::Button),
    (b"input", Kind::Input),
    (b"meta", Kind::Meta),
    (b"base", Kind::Base),
    (b"script", Kind::Script),
    (b"img", Kind::Img),
    (b"select", Kind::Select),
    (b"frameset", Kind::Frameset),
    (b"table", Kind::Table),
    (b"link", Kind::Link),
    (b"annotation-xml", Kind::AnnotationXml),
    (b"font", Kind::Font),
    // Scripting is on in the browsers this serves: `<noscript>` holds raw text.
    (b"noscript", Kind::RawText(Raw::Noscript)),
    (b"style", Kind::RawText(Raw::Style)),
    (b"xmp", Kind::RawText(Raw::Xmp)),
    (b"noembed", Kind::RawText(Raw::Noembed)),
    (b"noframes", Kind::RawText(Raw::Noframes)),
    (b"textarea", Kind::RawText(Raw::Textarea)),
    (b"title", Kind::RawText(Raw::Title)),
    (b"plaintext", Kind::Plaintext),
    (b"template", Kind::Template),
];

const FORMATTING: &[&[u8]] = &[
    b"a", b"b", b"big", b"code", b"em", b"font", b"i", b"nobr", b"s", b"small", b"strike",
    b"strong", b"tt", b"u",
];

const MARKERS: &[&[u8]] = &[b"applet", b"marquee", b"object", b"template"];

const SCOPE_BOUNDARIES: &[&[u8]] =
    &[b"applet", b"caption", b"html", b"table", b"td", b"th", b"marquee", b"object", b"template"];

/// Special elements that are not containers kept here (they are never in the model's stack, but
/// a walk that reaches one of their end tags must not take it for an ordinary name).
const KNOWN_SPECIAL: &[&[u8]] = &[
    b"applet", b"area", b"base", b"basefont", b"bgsound", b"body", b"br", b"button", b"caption",
    b"col", b"colgroup", b"dd", b"dir", b"dt", b"embed", b"form", b"frame", b"frameset", b"h1",
    b"h2", b"h3", b"h4", b"h5", b"h6", b"head", b"hr", b"html", b"iframe", b"img", b"input",
    b"keygen", b"li", b"link", b"listing", b"marquee", b"meta", b"noembed", b"noframes",
    b"noscript", b"object", b"p", b"param", b"plaintext", b"pre", b"script", b"select", b"source",
    b"style", b"table", b"tbody", b"td", b"template", b"textarea", b"tfoot", b"th", b"thead",
    b"title", b"tr", b"track", b"ul", b"wbr", b"xmp",
];

const KNOWN: &[&[u8]] = &[
    b"abbr", b"acronym", b"applet", b"area", b"audio", b"base", b"basefont", b"bdi", b"bdo",
    b"bgsound", b"blink", b"body", b"br", b"button", b"canvas", b"caption", b"cite", b"col",
    b"colgroup", b"data", b"datalist", b"dd", b"del", b"dfn", b"dir", b"dt", b"embed", b"form",
    b"frame", b"frameset", b"h1", b"h2", b"h3", b"h4", b"h5", b"h6", b"head", b"hr", b"html",
    b"iframe", b"image", b"img", b"input", b"ins", b"kbd", b"keygen", b"label", b"legend", b"li",
    b"link", b"listing", b"map", b"mark", b"marquee", b"math", b"meta", b"meter", b"noembed",
    b"noframes", b"noscript", b"object", b"optgroup", b"option", b"output", b"p", b"param",
    b"picture", b"plaintext", b"pre", b"progress", b"q", b"rb", b"rp", b"rt", b"rtc", b"ruby",
    b"samp", b"script", b"select", b"selectedcontent", b"slot", b"source", b"style", b"sub",
    b"sup", b"svg", b"table", b"tbody", b"td", b"template", b"textarea", b"tfoot", b"th",
    b"thead", b"time", b"title", b"tr", b"track", b"var", b"video", b"wbr", b"xmp",
];

/// Containers the parser closes only at their own end tag (no implied end tags, no table rules),
/// and the formatting elements (their end tag runs the adoption agency, which pops foreign
/// content).
const CONTAINERS: &[&[u8]] = &[
    b"div", b"section", b"article", b"main", b"nav", b"aside", b"header", b"footer", b"figure",
    b"figcaption", b"blockquote", b"details", b"summary", b"fieldset", b"address", b"center",
    b"dl", b"ol", b"ul", b"menu", b"search", b"hgroup", b"dialog", b"applet", b"marquee",
    b"object", b"a", b"b", b"big", b"code", b"em", b"font", b"i", b"nobr", b"s", b"small",
    b"strike", b"strong", b"tt", b"u", b"span",
];

/// Plain containers besides [`CONTAINERS`] and the unknown names: a select (`</select>` pops what
/// is in it: since the 2025 select changes, Chromium and html5ever 0.40 keep svg/math in a
/// select) and a table. Outside svg/math even `foreignObject` or `annotation-xml` is an unknown
/// HTML element, closed by its end tag from inside a `<math>`/`<svg>` opened in it.
const PLAIN_CONTAINERS: &[&[u8]] = &[b"select", b"table"];

const DROPPED_IN_BODY: &[&[u8]] = &[
    b"tr", b"td", b"th", b"tbody", b"thead", b"tfoot", b"caption", b"col", b"colgroup", b"html",
    b"head", b"body", b"frame", b"frameset",
];

const VOID: &[&[u8]] = &[
    b"area", b"base", b"br", b"col", b"embed", b"hr", b"img", b"input", b"link", b"meta",
    b"param", b"source", b"track", b"wbr", b"keygen", b"basefont", b"bgsound", b"frame",
];

const TABLE_STARTS: &[&[u8]] =
    &[b"caption", b"colgroup", b"col", b"tbody", b"tfoot", b"thead", b"td", b"th", b"tr", b"table"];

/// HTML standard, "rules for parsing tokens in foreign content".
const BREAKOUTS: &[&[u8]] = &[
    b"b", b"big", b"blockquote", b"body", b"br", b"center", b"code", b"dd", b"div", b"dl", b"dt",
    b"em", b"embed", b"h1", b"h2", b"h3", b"h4", b"h5", b"h6", b"head", b"hr", b"i", b"img",
    b"li", b"listing", b"menu", b"meta", b"nobr", b"ol", b"p", b"pre", b"ruby", b"s", b"small",
    b"span", b"strong", b"strike", b"sub", b"sup", b"table", b"tt", b"u", b"ul", b"var",
];

/// All start tags but those after which a `<frameset>` still takes effect.
const NOT_FRAMESET_OK: &[&[u8]] = &[
    b"body", b"template", b"applet", b"area", b"br", b"embed", b"img", b"keygen", b"wbr",
    b"input", b"hr", b"li", b"dd", b"dt", b"pre", b"listing", b"button", b"xmp", b"iframe",
    b"textarea", b"select", b"table", b"marquee", b"object",
];

const OPEN_SPECIALS: &[&[u8]] = &[
    b"p", b"li", b"dd", b"dt", b"button", b"pre", b"listing", b"h1", b"h2", b"h3", b"h4", b"h5",
    b"h6",
];

const HEADINGS: &[&[u8]] = &[b"h1", b"h2", b"h3", b"h4", b"h5", b"h6"];

/// HTML standard, "in body": the start tags that "close a p element" (a `<table>` only in
/// no-quirks mode: not here, so a `p` may be kept open longer, the safe error; a `<form>` only
/// when the parser creates it, which html.rs knows).
const CLOSES_P: &[&[u8]] = &[
    b"address", b"article", b"aside", b"blockquote", b"center", b"details", b"dialog", b"dir",
    b"div", b"dl", b"fieldset", b"figcaption", b"figure", b"footer", b"header", b"hgroup",
    b"main", b"menu", b"nav", b"ol", b"p", b"search", b"section", b"summary", b"ul", b"h1",
    b"h2", b"h3", b"h4", b"h5", b"h6", b"pre", b"listing", b"plaintext", b"hr", b"xmp", b"li",
    b"dd", b"dt",
];

/// HTML standard, "after head" and "in template": the start tags they hand to "in head".
const IN_HEAD: &[&[u8]] = &[
    b"base", b"basefont", b"bgsound", b"link", b"meta", b"noframes", b"script", b"style",
    b"template", b"title",
];

/// HTML standard, "in body": the start tags that do not "reconstruct the active formatting
/// elements" before they are inserted (or ignored): the head's, the blocks that close a `p` (but
/// `xmp`), forms, tables and their parts, the raw text ones with a content of their own
/// (`textarea`, `iframe`, `noembed`, `noscript` with scripting on) and the ruby annotations.
const NO_RECONSTRUCT: &[&[u8]] = &[
    b"html", b"body", b"frameset", b"frame", b"head", b"base", b"basefont", b"bgsound", b"link",
    b"meta", b"noframes", b"script", b"style", b"template", b"title", b"address", b"article",
    b"aside", b"blockquote", b"center", b"details", b"dialog", b"dir", b"div", b"dl", b"fieldset",
    b"figcaption", b"figure", b"footer", b"header", b"hgroup", b"main", b"menu", b"nav", b"ol",
    b"p", b"search", b"section", b"summary", b"ul", b"h1", b"h2", b"h3", b"h4", b"h5", b"h6",
    b"pre", b"listing", b"plaintext", b"hr", b"li", b"dd", b"dt", b"form", b"table", b"caption",
    b"col", b"colgroup", b"tbody", b"td", b"tfoot", b"th", b"thead", b"tr", b"param", b"source",
    b"track", b"textarea", b"iframe", b"noembed", b"noscript", b"rb", b"rtc", b"rp", b"rt",
];

const IMPLIED_END: &[&[u8]] =
    &[b"dd", b"dt", b"li", b"optgroup", b"option", b"p", b"rb", b"rp", b"rt", b"rtc"];

const ENDS_IN_SELECT: &[&[u8]] = &[b"option", b"optgroup", b"hr"];

const TABLE_ROWS: &[&[u8]] = &[b"table", b"tbody", b"thead", b"tfoot", b"tr"];
const CELLS: &[&[u8]] = &[b"td", b"th", b"caption"];
const SVG_INTEGRATION: &[&[u8]] = &[b"foreignobject", b"desc", b"title"];
const MATHML_INTEGRATION: &[&[u8]] = &[b"mi", b"mo", b"mn", b"ms", b"mtext"];

const SETS: &[(&[&[u8]], Props)] = &[
    (FORMATTING, Props::FORMATTING),
    (MARKERS, Props::MARKER),
    (SCOPE_BOUNDARIES, Props::SCOPE_BOUNDARY),
    (KNOWN_SPECIAL, Props::KNOWN_SPECIAL),
    (KNOWN, Props::KNOWN),
    (CONTAINERS, Props::CONTAINER),
    (PLAIN_CONTAINERS, Props::PLAIN_CONTAINER),
    (DROPPED_IN_BODY, Props::DROPPED_IN_BODY),
    (VOID, Props::VOID),
    (TABLE_STARTS, Props::TABLE_START),
    (BREAKOUTS, Props::BREAKOUT),
    (NOT_FRAMESET_OK, Props::NOT_FRAMESET_OK),
    (TABLE_ROWS, Props::TABLE_ROW),
    (OPEN_SPECIALS, Props::OPEN_SPECIAL),
    (CLOSES_P, Props::CLOSES_P),
    (HEADINGS, Props::HEADING),
    (IN_HEAD, Props::IN_HEAD),
    (NO_RECONSTRUCT, Props::NO_RECONSTRUCT),
    (IMPLIED_END, Props::IMPLIED_END),
    (ENDS_IN_SELECT, Props::ENDS_IN_SELECT),
    (CELLS, Props::CELL),
    (SVG_INTEGRATION, Props::SVG_INTEGRATION),
    (MATHML_INTEGRATION, Props::MATHML_INTEGRATION),
];

/// What a name outside every set is: an unknown element, a plain container.
const UNKNOWN: Props = Props::PLAIN_CONTAINER;

const SLOT_BITS: u32 = 9;
const SLOTS: usize = 1 << SLOT_BITS;
/// Distinct names in all the lists, at most.
const MAX_ELEMENTS: usize = 256;

/// An open-addressing hash table of the names above: `slots` holds an index into `elements`
/// plus one (0: free), probed linearly from the name's slot.
struct Table {
    slots: [u16; SLOTS],
    elements: [Element; MAX_ELEMENTS],
    len: usize,
}

static TABLE: Table = Table::build();

impl Table {
    const fn build() -> Table {
        let blank = Element { name: Name::EMPTY, kind: Kind::Other, props: Props(0) };
        let mut table = Table { slots: [0; SLOTS], elements: [blank; MAX_ELEMENTS], len: 0 };
        let mut kinds = KINDS;
        while let [(name, kind), rest @ ..] = kinds {
            table.add(name, Some(*kind), Props(0));
            kinds = rest;
        }
        let mut sets = SETS;
        while let [(set, prop), rest @ ..] = sets {
            let mut names = *set;
            while let [name, more @ ..] = names {
                table.add(name, None, *prop);
                names = more;
            }
            sets = rest;
        }
        table.derive_props();
        table
    }

    /// The properties that follow from the lists: special (the known special elements, and the
    /// containers that are neither formatting elements nor `span`) and plain container (the
    /// containers, and every name HTML does not know).
    const fn derive_props(&mut self) {
        let span = Name::of(b"span");
        let mut elements: &mut [Element] = &mut self.elements;
        let mut left = self.len;
        while let ([e, rest @ ..], 1..) = (elements, left) {
            let p = e.props;
            let container_special = p.has(Props::CONTAINER) && !p.has(Props::FORMATTING) && !same(e.name, span);
            if p.has(Props::KNOWN_SPECIAL) || container_special {
                e.props = e.props.with(Props::SPECIAL);
            }
            if p.has(Props::CONTAINER) || !p.has(Props::KNOWN) {
                e.props = e.props.with(Props::PLAIN_CONTAINER);
            }
            elements = rest;
            left -= 1;
        }
    }

    /// Gives `name` (added when new) `kind` and `props`. Too many names, or a name too long to
    /// keep, fails the build.
    const fn add(&mut self, name: &[u8], kind: Option<Kind>, props: Props) {
        assert!(!name.is_empty() && name.len() <= NAME_CAP, "an element name of a list is empty or too long");
        let name = Name::of(name);
        let mut slot = name.slot();
        loop {
            let index = match self.slots.split_at_checked(slot) {
                Some((_, [index, ..])) => *index as usize,
                _ => 0,
            };
            let at = if index == 0 {
                assert!(self.len < MAX_ELEMENTS, "more element names than MAX_ELEMENTS");
                if let Some((_, [free, ..])) = self.slots.split_at_mut_checked(slot) {
                    *free = (self.len + 1) as u16;
                }
                self.len += 1;
                self.len - 1
            } else {
                index - 1
            };
            if let Some((_, [e, ..])) = self.elements.split_at_mut_checked(at) {
                if index == 0 || same(e.name, name) {
                    e.name = name;
                    if let Some(kind) = kind {
                        e.kind = kind;
                    }
                    e.props = e.props.with(props);
                    return;
                }
            }
            slot = (slot + 1) % SLOTS;
        }
    }
}

/// `a == b` where the trait is not available (const fn).
const fn same(a: Name, b: Name) -> bool {
    a.lo == b.lo && a.hi == b.hi
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_set(set: &[&[u8]], name: &[u8]) -> bool {
        set.contains(&name)
    }

    #[test]
    fn every_listed_name_has_its_properties_and_kind() {
        for (set, prop) in SETS {
            for name in *set {
                assert!(Element::of(name).has(*prop), "{}", String::from_utf8_lossy(name));
            }
        }
        for (name, kind) in KINDS {
            assert_eq!(Element::of(name).kind, *kind);
        }
    }

    #[test]
    fn derived_properties_follow_the_lists() {
        let mut names: Vec<&[u8]> = SETS.iter().flat_map(|(set, _)| set.iter().copied()).collect();
        names.extend([&b"unknown-el"[..], b"g", b"xyz", b""]);
        for name in names {
            let e = Element::of(name);
            let container = in_set(CONTAINERS, name);
            let special = in_set(KNOWN_SPECIAL, name) || (container && !in_set(FORMATTING, name) && name != b"span");
            let plain = container || in_set(PLAIN_CONTAINERS, name) || !in_set(KNOWN, name);
            assert_eq!(e.has(Props::SPECIAL), special, "{}", String::from_utf8_lossy(name));
            assert_eq!(e.has(Props::PLAIN_CONTAINER), plain, "{}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn unknown_and_long_names() {
        let e = Element::of(b"my-element");
        assert_eq!((e.kind, e.props), (Kind::Other, UNKNOWN));
        assert!(e.is(Name::of(b"my-element")));
        assert!(!e.is(Name::of(b"my-elemen")));
        let long = Element::of(b"averyveryverylongname");
        assert_eq!(long.name, Name::of(b"another-very-long-name"), "names over NAME_CAP are kept as one");
        assert!(!long.is(Name::of(b"another-very-long-name")), "but none of them is another");
        assert!(!long.is(long.name));
        assert_eq!((long.kind, long.props), (Kind::Other, UNKNOWN));
        let mut pushed = Name::default();
        b"averyveryverylongname".iter().for_each(|&b| pushed.push(b));
        assert_eq!(pushed, long.name);
        let mut form = Name::default();
        b"form".iter().for_each(|&b| form.push(b));
        assert_eq!(Element::lookup(form).kind, Kind::Form);
        assert!(Element::of(b"selectedcontent").has(Props::SPECIAL) == in_set(KNOWN_SPECIAL, b"selectedcontent"));
        assert_ne!(Name::of(b"a"), Name::of(b"a\0"));
        // The longest kept name fills both integers but the length byte; one more byte is long.
        let longest = Name::of(b"abcdefghijklmno");
        assert_ne!(longest, Name::LONG);
        assert_ne!(longest, Name::of(b"abcdefghijklmnp"));
        assert_eq!(Name::of(b"abcdefghijklmnop"), Name::LONG);
        let mut grown = longest;
        grown.push(b'p');
        assert_eq!(grown, Name::LONG);
    }

    #[test]
    fn the_table_holds_every_name_once() {
        let mut names: Vec<&[u8]> = SETS.iter().flat_map(|(set, _)| set.iter().copied()).collect();
        names.extend(KINDS.iter().map(|(n, _)| *n));
        names.sort();
        names.dedup();
        assert_eq!(TABLE.len, names.len());
    }
}
