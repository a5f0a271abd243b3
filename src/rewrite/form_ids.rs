//! The ids of the document's forms, for the one case where a form's own id ties its hidden input.
//!
//! A form that keeps an id of its own owns its hidden input by position: the wrapper is its first
//! child, and a move of the subtree keeps the form as the input's nearest form ancestor. In a table
//! (not in a cell) that fails: the parser pops the form at once and foster-parents the wrapper
//! before the table, so the input is tied by the form element pointer only, and a misnested
//! formatting end tag after the table can move it into an enclosing form that an earlier
//! `</form>` left open (`<form action=//elsewhere><div></form><b><div><table><form id=x
//! action=/save></form></table></b>`): the browser then resets its owner to that form.
//!
//! So there (and inside an svg/math integration point, where tables are not tracked) the input
//! gets `form="x"`, the form's own id, which no move changes. That id must
//! name this form alone, as `form=` picks the first element in tree order with it: a form with
//! that id met before gets no hidden input at all, and every form met after it has its id
//! neutralised (`id=""` put first; the first attribute wins), whichever of them the tree puts
//! first. Only HTML forms the parser creates outside templates count (template contents are a
//! tree of their own), and svg/math `form` elements outside templates, whose ids take the name as
//! well; another element with the id first in tree order only leaves the input without a form. A form tag too long to read (its id unknown) gets `id=""` once an id ties an
//! input, and before that makes every later id count as taken.

use std::collections::HashSet;

/// Ids recorded at most: past that, any id may be a duplicate.
const MAX_IDS: usize = 4096;

/// An id that reads the same to the browser as here: printable ASCII without `&`. Character
/// references are decoded here only where they stand for ASCII, and the browser's input stream
/// turns CR into LF and NUL into U+FFFD: `x&#128;` and `x€`, or `x\r\n` and `x\n`, are one id to
/// it. Only such ids may tie an input (and then no other spelling reads as them).
fn plain(id: &[u8]) -> bool {
    !id.is_empty() && id.iter().all(|&b| b.is_ascii_graphic() && b != b'&')
}

#[derive(Debug, Default)]
pub(super) struct FormIds {
    /// The ids of the forms met so far.
    seen: HashSet<Vec<u8>>,
    /// Ids that tie a hidden input (`form=`): later forms with them lose them.
    claimed: HashSet<Vec<u8>>,
    /// More forms had ids than recorded, or one had an id too long to read.
    overflowed: bool,
}

/// What a form with an id of its own does with it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum OwnId {
    /// It ties the input of a form met earlier: neutralise it.
    Neutralise,
    /// No form met earlier has it: it may tie the input.
    Unique,
    /// Another form met earlier has it (or may have), or it is empty or not plain ASCII: it
    /// ties nothing.
    Shared,
}

impl FormIds {
    /// A form the parser creates outside templates, with its own `id` (the text of the first).
    pub fn form(&mut self, id: &[u8]) -> OwnId {
        if self.claimed.contains(id) {
            return OwnId::Neutralise;
        }
        let unique = plain(id) && !self.overflowed && !self.seen.contains(id);
        if self.seen.len() < MAX_IDS {
            self.seen.insert(id.to_vec());
        } else {
            self.overflowed = true;
        }
        if unique {
            OwnId::Unique
        } else {
            OwnId::Shared
        }
    }

    /// `id` now ties a hidden input.
    pub fn claim(&mut self, id: &[u8]) {
        self.claimed.insert(id.to_vec());
    }

    /// A form whose tag was too long to read: any id may be taken from now on.
    pub fn unreadable(&mut self) {
        self.overflowed = true;
    }

    /// Does some id tie a hidden input (so a form with an unread id gets `id=""`)?
    pub fn any_claimed(&self) -> bool {
        !self.claimed.is_empty()
    }
}
