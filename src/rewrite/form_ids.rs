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
//! So there the input gets `form="x"`, the form's own id, which no move changes. That id must
//! name this form alone, as `form=` picks the first element in tree order with it: a form with
//! that id met before gets no hidden input at all, and every form met after it has its id
//! neutralised (`id=""` put first; the first attribute wins), whichever of them the tree puts
//! first. Only HTML forms the parser creates outside templates count (template contents are a
//! tree of their own); a non-form element with the id first in tree order only leaves the input
//! without a form.

use std::collections::HashSet;

/// Ids recorded at most: past that, any id may be a duplicate.
const MAX_IDS: usize = 4096;

#[derive(Debug, Default)]
pub(super) struct FormIds {
    /// The ids of the forms met so far.
    seen: HashSet<Vec<u8>>,
    /// Ids that tie a hidden input (`form=`): later forms with them lose them.
    claimed: HashSet<Vec<u8>>,
    /// More forms had ids than recorded.
    overflowed: bool,
}

/// What a form with an id of its own does with it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum OwnId {
    /// A form met earlier took it first: neutralise it.
    Neutralise,
    /// No form met earlier has it: it may tie the input.
    Unique,
    /// Another form met earlier has it (or may have): it ties nothing.
    Shared,
}

impl FormIds {
    /// A form the parser creates outside templates, with its own `id` (the text of the first).
    pub fn form(&mut self, id: &[u8]) -> OwnId {
        if self.claimed.contains(id) {
            return OwnId::Neutralise;
        }
        let unique = !id.is_empty() && !self.overflowed && !self.seen.contains(id);
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
}
