//! The parser's list of active formatting elements, as the model of its stack needs it.
//!
//! Formatting elements (`a`, `b`, `font`, ...) that something else closed (`<p><b></p>`) stay in
//! the list, and the parser makes them again ("reconstructs" them) at the next text or start tag
//! that the "in body" rules take: `<p><b></p><svg></b>` puts the svg inside a new `b`, so `</b>`
//! closes the svg. Their end tags look them up here (the adoption agency), not on the stack: an
//! end tag whose element left the stack takes it off the list and closes nothing.
//!
//! Elements of the model's stack are told apart by serial numbers: an entry names its element by
//! the serial it was pushed with, and a reconstructed element gets a new one. Markers (pushed by
//! `applet`, `marquee`, `object`, table cells and captions, templates) hide the entries before them.
//! The parser clears a cell's or caption's marker whenever the cell closes, so one whose element
//! left the model's stack is cleared with the entries after it when the list is next read. Those
//! of `applet`, `marquee` and `object` are cleared only by their own end tags (a table tag that
//! pops a foster-parented `<object>` leaves its marker: `<table><a><object><table><svg></a>`), a
//! template's at `</template>`.
//!
//! Where the model cannot follow the parser it keeps fewer entries, never more: fewer elements
//! made again can only leave an end tag closing less, which keeps svg/math open longer, the safe
//! error. So the "Noah's Ark" rule (no more than three entries alike after the last marker) counts
//! entries of the same name alike whatever their attributes, and the list is bounded.

use super::element::{Element, Name};

/// Entries kept at most: at the bound the oldest goes.
const MAX_ENTRIES: usize = 64;

/// Entries alike after the last marker the parser keeps at most.
const NOAHS_ARK: usize = 3;

#[derive(Debug, Clone, Copy)]
enum Entry {
    /// A marker of the element with this serial: a cell's or caption's (`cell`), cleared when
    /// the element left the stack, or an `applet`'s, `marquee`'s or `object`'s, cleared by its
    /// end tag.
    Marker { serial: u32, cell: bool },
    /// A template's marker.
    Template,
    Formatting { element: Element, serial: u32 },
}

#[derive(Debug, Default)]
pub(super) struct Formatting {
    entries: Vec<Entry>,
    serials: u32,
}

impl Formatting {
    /// A serial for an element pushed onto the model's stack (never 0: elements without an
    /// entry carry 0).
    pub fn serial(&mut self) -> u32 {
        self.serials = self.serials.wrapping_add(1).max(1);
        self.serials
    }

    /// A formatting element was pushed with `serial`.
    pub fn push(&mut self, element: Element, serial: u32, on_stack: impl Fn(u32) -> bool) {
        self.prune(&on_stack);
        let after_marker = self.after_last_marker();
        let alike = self.entries.get(after_marker..).unwrap_or_default().iter().filter(|e| e.named(element.name)).count();
        if alike >= NOAHS_ARK {
            if let Some(first) = self.entries.iter().skip(after_marker).position(|e| e.named(element.name)) {
                self.entries.remove(after_marker + first);
            }
        }
        self.add(Entry::Formatting { element, serial });
    }

    /// An element that sets a marker (a cell or caption: `cell`) was pushed with `serial`.
    pub fn push_marker(&mut self, serial: u32, cell: bool, on_stack: impl Fn(u32) -> bool) {
        self.prune(&on_stack);
        self.add(Entry::Marker { serial, cell });
    }

    /// The end tag of the `applet`, `marquee` or `object` with `serial` closed it: the entries up
    /// to its marker go.
    pub fn clear_marker(&mut self, serial: u32) {
        if let Some(at) = self.entries.iter().rposition(|e| matches!(e, Entry::Marker { serial: s, .. } if *s == serial)) {
            self.entries.truncate(at);
        }
    }

    /// A `<template>` started.
    pub fn push_template(&mut self) {
        self.add(Entry::Template);
    }

    /// `</template>`: the entries up to its marker go.
    pub fn clear_template(&mut self) {
        let at = self.entries.iter().rposition(|e| matches!(e, Entry::Template)).unwrap_or(0);
        self.entries.truncate(at);
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    fn add(&mut self, entry: Entry) {
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.remove(0);
        }
        self.entries.push(entry);
    }

    /// The serial of the last entry named `name` after the last marker.
    pub fn last_named(&mut self, name: Name, on_stack: impl Fn(u32) -> bool) -> Option<u32> {
        self.prune(&on_stack);
        self.entries.iter().rev().map_while(Entry::formatting).find(|(e, _)| e.is(name)).map(|(_, serial)| serial)
    }

    /// Has the element with `serial` an entry?
    pub fn lists(&self, serial: u32) -> bool {
        serial != 0 && self.entries.iter().any(|e| e.formatting().is_some_and(|(_, s)| s == serial))
    }

    /// The entry of the element with `serial` leaves the list.
    pub fn remove(&mut self, serial: u32) {
        if let Some(at) = self.entries.iter().rposition(|e| e.formatting().is_some_and(|(_, s)| s == serial)) {
            self.entries.remove(at);
        }
    }

    /// Is the last entry the formatting element with `serial`?
    #[inline]
    pub fn last_is(&self, serial: u32) -> bool {
        matches!(self.entries.last(), Some(Entry::Formatting { serial: s, .. }) if *s == serial)
    }

    /// Takes the last entry off the list.
    pub fn pop(&mut self) {
        self.entries.pop();
    }

    /// Could there be anything to reconstruct (cheap: no entry, or a template's marker last, says
    /// no; a cell's marker may have left with its cell)?
    #[inline]
    pub fn may_reconstruct(&self) -> bool {
        self.entries.last().is_some_and(|e| !matches!(e, Entry::Template))
    }

    /// Is there something to reconstruct: the last entry's element left the stack (or the last
    /// marker's did, which clears it)? The quick test before [`Formatting::take_stale`].
    pub fn last_stale(&self, on_stack: impl Fn(u32) -> bool) -> bool {
        match self.entries.last() {
            Some(Entry::Formatting { serial, .. } | Entry::Marker { serial, cell: true }) => !on_stack(*serial),
            _ => false,
        }
    }

    /// "Reconstruct the active formatting elements": the entries after the last one whose element
    /// is still on the stack (or the last marker) leave the list, to be made again in order: each
    /// one pushed comes back with [`Formatting::remade`].
    pub fn take_stale(&mut self, on_stack: impl Fn(u32) -> bool) -> Vec<Element> {
        self.prune(&on_stack);
        let gone = self.entries.iter().rev().map_while(Entry::formatting).take_while(|&(_, serial)| !on_stack(serial)).count();
        let from = self.entries.len().saturating_sub(gone);
        self.entries.drain(from..).filter_map(|e| e.formatting()).map(|(element, _)| element).collect()
    }

    /// An element made again was pushed with `serial`.
    pub fn remade(&mut self, element: Element, serial: u32) {
        self.add(Entry::Formatting { element, serial });
    }

    /// Clears the markers whose element left the stack, with the entries after them.
    fn prune(&mut self, on_stack: &impl Fn(u32) -> bool) {
        while let Some(at) = self.entries.iter().rposition(|e| !matches!(e, Entry::Formatting { .. })) {
            match self.entries.get(at) {
                Some(Entry::Marker { serial, cell: true }) if !on_stack(*serial) => self.entries.truncate(at),
                _ => return,
            }
        }
    }

    fn after_last_marker(&self) -> usize {
        self.entries.iter().rposition(|e| e.formatting().is_none()).map_or(0, |at| at + 1)
    }
}

impl Entry {
    fn formatting(&self) -> Option<(Element, u32)> {
        match *self {
            Entry::Formatting { element, serial } => Some((element, serial)),
            _ => None,
        }
    }

    fn named(&self, name: Name) -> bool {
        self.formatting().is_some_and(|(e, _)| e.is(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(f: &mut Formatting, name: &[u8], stack: &[u32]) -> u32 {
        let serial = f.serial();
        f.push(Element::of(name), serial, |s| s == serial || stack.contains(&s));
        serial
    }

    fn reconstruct(f: &mut Formatting, stack: &mut Vec<u32>, serials: &mut u32) -> Vec<u32> {
        let before = stack.len();
        let on = stack.clone();
        for element in f.take_stale(|s| on.contains(&s)) {
            *serials += 100;
            stack.push(*serials);
            f.remade(element, *serials);
        }
        stack.get(before..).unwrap_or_default().to_vec()
    }

    #[test]
    fn entries_that_left_the_stack_are_made_again_in_order() {
        let mut f = Formatting::default();
        let b = push(&mut f, b"b", &[]);
        push(&mut f, b"i", &[b]);
        let mut stack = vec![b];
        let mut serials = 1000;
        // `i` left the stack: it alone is made again, and its entry now names the new element.
        let made = reconstruct(&mut f, &mut stack, &mut serials);
        assert_eq!(made, vec![1100]);
        assert_eq!(f.last_named(Name::of(b"i"), |s| stack.contains(&s)), Some(1100));
        // Both on the stack now: nothing to do.
        assert!(reconstruct(&mut f, &mut stack, &mut serials).is_empty());
        // Both gone.
        stack.clear();
        assert_eq!(reconstruct(&mut f, &mut stack, &mut serials).len(), 2);
    }

    #[test]
    fn a_marker_hides_the_entries_before_it_until_its_element_leaves() {
        let mut f = Formatting::default();
        push(&mut f, b"b", &[]);
        let cell = f.serial();
        f.push_marker(cell, true, |_| true);
        let mut stack = vec![cell];
        let mut serials = 0;
        assert!(reconstruct(&mut f, &mut stack, &mut serials).is_empty());
        assert_eq!(f.last_named(Name::of(b"b"), |s| stack.contains(&s)), None);
        stack.clear();
        assert_eq!(f.last_named(Name::of(b"b"), |s| stack.contains(&s)).map(|_| ()), Some(()));
        assert_eq!(reconstruct(&mut f, &mut stack, &mut serials).len(), 1);
        // A template's marker stays until `</template>`.
        f.push_template();
        push(&mut f, b"i", &[]);
        f.clear_template();
        assert!(f.last_named(Name::of(b"i"), |_| false).is_none());
        assert!(f.last_named(Name::of(b"b"), |_| false).is_some());
    }

    #[test]
    fn three_alike_at_most_and_a_bound() {
        let mut f = Formatting::default();
        let first = push(&mut f, b"b", &[]);
        for _ in 0..3 {
            push(&mut f, b"b", &[]);
        }
        let mut stack = Vec::new();
        let mut serials = 0;
        assert_eq!(reconstruct(&mut f, &mut stack, &mut serials).len(), 3);
        assert!(!stack.contains(&first));
        let mut f = Formatting::default();
        for _ in 0..3 * MAX_ENTRIES {
            let serial = f.serial();
            f.push_marker(serial, true, |_| true);
        }
        assert_eq!(f.entries.len(), MAX_ENTRIES);
    }
}
