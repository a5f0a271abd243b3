//! The placeholder stage: replaces every occurrence of the placeholder with the token, anywhere in
//! the body (scripts and comments included: placing it there is the page author's explicit
//! choice), also when an occurrence is split across chunks. Runs before the HTML stage, so the
//! HTML stage sees the token where the page had the placeholder.

use memchr::memmem::Finder;

pub(super) struct Placeholder {
    finder: Finder<'static>,
    token: Vec<u8>,
    /// The end of the input so far when it is a proper prefix of the placeholder.
    held: Vec<u8>,
}

impl Placeholder {
    /// `None` for an empty placeholder (the feature is off).
    pub fn new(placeholder: &[u8], token: &[u8]) -> Option<Self> {
        if placeholder.is_empty() {
            return None;
        }
        Some(Placeholder {
            finder: Finder::new(placeholder).into_owned(),
            token: token.to_vec(),
            held: Vec::new(),
        })
    }

    /// Passes `chunk` on to `emit` in pieces, with the token in place of each placeholder.
    pub fn write(&mut self, chunk: &[u8], emit: &mut impl FnMut(&[u8])) {
        let chunk = self.resolve_held(chunk, emit);
        let needle_len = self.finder.needle().len();
        let mut pos = 0;
        for found in self.finder.find_iter(chunk) {
            emit(chunk.get(pos..found).unwrap_or_default());
            emit(&self.token);
            pos = found + needle_len;
        }
        let tail = chunk.get(pos..).unwrap_or_default();
        let keep = prefix_suffix_len(tail, self.finder.needle());
        let (out, held) = tail.split_at(tail.len() - keep);
        emit(out);
        self.held.extend_from_slice(held);
    }

    pub fn end(&mut self, emit: &mut impl FnMut(&[u8])) {
        emit(&self.held);
        self.held.clear();
    }

    /// Whether the end of the input so far waits to be settled by more bytes.
    pub fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// Settles a placeholder that may straddle the previous chunk and this one; returns the part
    /// of `chunk` still to be searched.
    fn resolve_held<'c>(&mut self, chunk: &'c [u8], emit: &mut impl FnMut(&[u8])) -> &'c [u8] {
        if self.held.is_empty() {
            return chunk;
        }
        let needle = self.finder.needle();
        let old = self.held.len();
        let mut joined = std::mem::take(&mut self.held);
        joined.extend_from_slice(chunk.get(..needle.len() - 1).unwrap_or(chunk));
        for start in 0..old {
            let candidate = joined.get(start..).unwrap_or_default();
            if candidate.starts_with(needle) {
                emit(joined.get(..start).unwrap_or_default());
                emit(&self.token);
                joined.clear();
                self.held = joined;
                return chunk.get(start + needle.len() - old..).unwrap_or_default();
            }
            if needle.starts_with(candidate) {
                // Still a prefix, and the whole chunk is in `joined`: keep holding.
                emit(joined.get(..start).unwrap_or_default());
                joined.drain(..start);
                self.held = joined;
                return &[];
            }
        }
        emit(joined.get(..old).unwrap_or_default());
        joined.clear();
        self.held = joined;
        chunk
    }
}

/// Length of the longest suffix of `s` that is a proper prefix of `needle`.
fn prefix_suffix_len(s: &[u8], needle: &[u8]) -> usize {
    let max = needle.len().saturating_sub(1).min(s.len());
    (1..=max)
        .rev()
        .find(|&k| s.get(s.len() - k..).is_some_and(|suffix| needle.starts_with(suffix)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace_in_pieces(pieces: &[&[u8]], pat: &[u8]) -> Vec<u8> {
        let mut p = Placeholder::new(pat, b"TOKEN").unwrap();
        let mut out = Vec::new();
        for piece in pieces {
            p.write(piece, &mut |s: &[u8]| out.extend_from_slice(s));
        }
        p.end(&mut |s: &[u8]| out.extend_from_slice(s));
        out
    }

    #[test]
    fn replaces_whole_and_split_occurrences() {
        let pat = b"__PH__";
        let input = b"a__PH__b___PH__PH__c__P_";
        let want = b"aTOKENb_TOKENPH__c__P_".to_vec();
        assert_eq!(replace_in_pieces(&[input], pat), want);
        for split in 0..=input.len() {
            let (x, y) = input.split_at(split);
            assert_eq!(replace_in_pieces(&[x, y], pat), want, "split {split}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(replace_in_pieces(&bytes, pat), want);
    }

    #[test]
    fn overlapping_prefixes() {
        let pat = b"aab";
        let input = b"aaab aab aaaab";
        let want = b"aTOKEN TOKEN aaTOKEN".to_vec();
        for size in 1..input.len() {
            let pieces: Vec<&[u8]> = input.chunks(size).collect();
            assert_eq!(replace_in_pieces(&pieces, pat), want, "size {size}");
        }
    }

    #[test]
    fn empty_placeholder_is_off() {
        assert!(Placeholder::new(b"", b"T").is_none());
    }

    #[test]
    fn unfinished_prefix_is_flushed_at_end() {
        assert_eq!(replace_in_pieces(&[b"x__P", b"H_"], b"__PH__"), b"x__PH_");
    }
}
