//! A header (or trailer, or metadata) map as Envoy keeps it: names lower-cased, insertion order with the
//! pseudo-headers first, `host` filed as `:authority` in request headers, an inline header's repeated values in
//! one entry, other repeated names kept as separate entries.

mod inline;
mod spare;

use std::fmt;
use std::sync::Arc;

pub(crate) use inline::MapKind;
use inline::{INLINE_DELIMITER, Inline};
pub(crate) use spare::SpareMaps;

/// An ordered multimap of lower-cased header names to values, with the insertion rules of Envoy's
/// `HeaderMapImpl` for its [`MapKind`].
///
/// Names and values live in one shared buffer rather than one allocation per entry: a stream builds, forwards and keeps several maps per request, and an
/// allocation per header would be most of the host's work. Copies (what passed the filter, Envoy's access-log copy, a
/// test's `Message`) share the buffer until one of them changes.
#[derive(Clone, Default)]
pub struct Headers {
    inner: Arc<Buffers>,
    kind: MapKind,
}

#[derive(Clone, Default)]
struct Buffers {
    /// Each entry's name (lower-case, UTF-8) followed by its value, in order.
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    /// In a map of a class with inline names, a bit ([`Inline::bit`]) for each inline table name among the entries'
    /// names, and maybe some no longer there: a name whose bit is clear is absent, so an inline name added for the
    /// first time is not looked for among the entries.
    inline_names: u64,
}

/// Where one entry's name and value end in the buffer: its name starts where the previous entry's value ended, its
/// value where its name ended.
#[derive(Clone, Copy)]
struct Entry {
    name_end: usize,
    value_end: usize,
}

impl Buffers {
    /// Where entry `index` (its name) starts.
    fn start(&self, index: usize) -> usize {
        index
            .checked_sub(1)
            .map_or(0, |i| self.entries[i].value_end)
    }

    fn name(&self, index: usize) -> &[u8] {
        &self.bytes[self.start(index)..self.entries[index].name_end]
    }

    fn value(&self, index: usize) -> &[u8] {
        let e = self.entries[index];
        &self.bytes[e.name_end..e.value_end]
    }

    /// Appends an entry, lower-casing the name as it is copied; returns where its name starts and ends.
    #[inline(always)]
    fn push(&mut self, name: &[u8], value: &[u8]) -> (usize, usize) {
        let start = self.bytes.len();
        self.bytes.reserve(name.len() + value.len());
        self.bytes.extend_from_slice(name);
        // Names nearly always come lower-case: looking costs less than writing each byte again.
        if has_capitals(name) {
            self.bytes[start..].make_ascii_lowercase();
        }
        let name_end = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.entries.push(Entry {
            name_end,
            value_end: self.bytes.len(),
        });
        (start, name_end)
    }

    /// Removes every entry named `name`, moving the others up.
    fn remove_all(&mut self, name: &[u8]) {
        let (mut written, mut kept, mut start) = (0, 0, 0);
        for i in 0..self.entries.len() {
            let Entry {
                name_end,
                value_end,
            } = self.entries[i];
            if self.bytes[start..name_end] != *name {
                self.bytes.copy_within(start..value_end, written);
                self.entries[kept] = Entry {
                    name_end: written + (name_end - start),
                    value_end: written + (value_end - start),
                };
                written += value_end - start;
                kept += 1;
            }
            start = value_end;
        }
        self.bytes.truncate(written);
        self.entries.truncate(kept);
    }

    /// Puts `bytes` at `at` in the buffer, as part of entry `index`: the entries after it move along.
    fn insert_bytes(&mut self, index: usize, at: usize, bytes: &[u8]) {
        self.bytes.splice(at..at, bytes.iter().copied());
        for e in &mut self.entries[index + 1..] {
            e.name_end += bytes.len();
            e.value_end += bytes.len();
        }
    }
}

/// Whether `name` has an ASCII capital letter: looked for eight bytes at a time in a name of eight or more (the last
/// eight overlapping what was looked at already), in one word made of its first and last four bytes (or of three of
/// its bytes) in a shorter one, since every name of every map is looked at as it is added.
fn has_capitals(name: &[u8]) -> bool {
    if let Some(last) = name.last_chunk::<8>() {
        let (words, _) = name.as_chunks::<8>();
        return words
            .iter()
            .chain([last])
            .any(|word| capitals(u64::from_le_bytes(*word)) != 0);
    }
    // The bytes of the word not taken from the name are zero, which is no capital.
    capitals(short_word(name)) != 0
}

/// A name shorter than eight bytes as one word that holds every byte of it: its first and last four bytes, or, when
/// shorter than four, its first, last and middle byte; zero for an empty name.
pub(crate) const fn short_word(name: &[u8]) -> u64 {
    let len = name.len();
    if let (Some(first), Some(last)) = (name.first_chunk::<4>(), name.last_chunk::<4>()) {
        u32::from_le_bytes(*first) as u64 | (u32::from_le_bytes(*last) as u64) << 32
    } else if len > 0 {
        name[0] as u64 | (name[len - 1] as u64) << 8 | (name[len / 2] as u64) << 16
    } else {
        0
    }
}

/// The high bit of each byte of `word` that is an ASCII capital. In each byte, with no carry into the next, the high
/// bit of `from_a` is set from 'A' up and that of `past_z` past 'Z'; bytes with their own high bit set are not ASCII.
fn capitals(word: u64) -> u64 {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES * 0x80;
    let low = word & !HIGH;
    let from_a = low + ONES * (0x80 - u64::from(b'A'));
    let past_z = low + ONES * (0x80 - u64::from(b'Z') - 1);
    from_a & !past_z & !word & HIGH
}

/// Whether `a` and `b`, of the same length, are equal: compared a word at a time (words overlapping at the end),
/// which for names as short as header names costs less than a call to `memcmp`, and names are compared on every
/// lookup.
pub(crate) fn same_length_equal(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    if let (Some(a_last), Some(b_last)) = (a.last_chunk::<8>(), b.last_chunk::<8>()) {
        let (a_words, _) = a.as_chunks::<8>();
        let (b_words, _) = b.as_chunks::<8>();
        return a_last == b_last && a_words.iter().zip(b_words).all(|(x, y)| x == y);
    }
    if let (Some(a_first), Some(b_first)) = (a.first_chunk::<4>(), b.first_chunk::<4>()) {
        return a_first == b_first && a.last_chunk::<4>() == b.last_chunk::<4>();
    }
    a == b
}

/// A name read from the buffer: text, since every name entered as text or was made so.
fn text(name: &[u8]) -> &str {
    std::str::from_utf8(name).expect("header names are kept as UTF-8")
}

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    /// An empty map of Envoy's class `kind`.
    pub(crate) fn of_kind(kind: MapKind) -> Headers {
        Headers {
            inner: Arc::default(),
            kind,
        }
    }

    /// Which of Envoy's header map classes this map is.
    pub(crate) fn kind(&self) -> MapKind {
        self.kind
    }

    /// This map as Envoy's class `kind` would hold it: each entry added again by its rules (a repeated inline
    /// header joined, `host` as `:authority`). Free when the map already is of that class.
    pub(crate) fn into_kind(self, kind: MapKind) -> Headers {
        if self.kind == kind {
            return self;
        }
        let mut converted = Headers::with_capacity_of(&self);
        converted.kind = kind;
        for (k, v) in self.pairs() {
            converted.add_text(k, v);
        }
        converted
    }

    /// The first value of `name` (case-insensitive), if present and UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of `name` as bytes (`host` reads `:authority` in request headers).
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        let name = self.kind.lookup_name(name);
        let at = self.position_of(name.as_bytes())?;
        Some(self.inner.value(at))
    }

    /// The first value of `name`, a lower-case name other than `host` that the host itself looks up (`:status`,
    /// `:method`): compared as it is.
    pub(crate) fn value_of(&self, name: &'static str) -> Option<&[u8]> {
        debug_assert!(!has_capitals(name.as_bytes()) && name != "host", "{name}");
        let at = self.position_before(self.len(), name.as_bytes())?;
        Some(self.inner.value(at))
    }

    /// Every value of `name`, in order (non-UTF-8 values are shown lossily).
    pub fn get_all(&self, name: &str) -> Vec<String> {
        self.all_bytes(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    /// Every value of `name` (case-insensitive), in order, as bytes.
    pub(crate) fn all_bytes<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> {
        let name = self.kind.lookup_name(name).as_bytes();
        self.pairs()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get_bytes(name).is_some()
    }

    /// Entries in order, values shown lossily if they are not UTF-8.
    pub fn iter(&self) -> impl Iterator<Item = (&str, std::borrow::Cow<'_, str>)> {
        self.pairs()
            .map(|(k, v)| (text(k), String::from_utf8_lossy(v)))
    }

    pub fn len(&self) -> usize {
        self.inner.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.entries.is_empty()
    }

    /// Adds an entry as Envoy's `addCopy` → `insertByKey` does: an inline header already present gets the value
    /// appended to its entry (`appendToHeader`: `,` between, nothing for an empty value); a pseudo-header goes to
    /// the end of the pseudo-header block (`HeaderList::insert`); anything else to the end.
    pub fn add(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        // Names are ASCII but for a guest's odd bytes: that is checked first, faster than UTF-8.
        if name.is_ascii() {
            return self.add_text(name, value);
        }
        match std::str::from_utf8(name) {
            Ok(_) => self.add_text(name, value),
            // Not text: shown lossily.
            Err(_) => self.add_text(String::from_utf8_lossy(name).as_bytes(), value),
        }
    }

    /// [`Headers::add`] of a name that is text already (the test API's), which need not be checked for UTF-8.
    #[inline]
    pub(crate) fn add_str(&mut self, name: &str, value: &[u8]) {
        self.add_text(name.as_bytes(), value)
    }

    /// [`Headers::add`] of a name known to be UTF-8. The entry is appended first, lower-cased on the way: where it
    /// stays (most names are new to the map and not pseudo-headers out of place), that is all. Inlined where maps are
    /// built, with what moves an entry kept apart.
    #[inline]
    fn add_text(&mut self, name: &[u8], value: &[u8]) {
        let kind = self.kind;
        let b = Arc::make_mut(&mut self.inner);
        let (start, name_end) = b.push(name, value);
        let last = b.entries.len() - 1;
        let name = &b.bytes[start..name_end];
        let pseudo = name.first() == Some(&b':');
        if kind == MapKind::Plain && !pseudo {
            return;
        }
        let renamed = kind.renamed(name);
        let inline = Inline::of(renamed.unwrap_or(name));
        // An inline name added for the first time needs no search for an earlier entry.
        let seen = inline.is_some_and(|inline| {
            let seen = b.inline_names & inline.bit() != 0;
            b.inline_names |= inline.bit();
            seen
        });
        let existing = match inline {
            Some(inline) if seen && kind.holds(inline) => {
                let canonical = renamed.unwrap_or_else(|| self.inner.name(last));
                self.position_before(last, canonical)
            }
            _ => None,
        };
        let in_place = renamed.is_none()
            && existing.is_none()
            && (!pseudo || last == 0 || self.inner.name(last - 1).starts_with(b":"));
        if !in_place {
            self.move_last(renamed, existing);
        }
    }

    /// Moves the entry just added where Envoy keeps it (rare: a repeated inline header, `host`, a pseudo-header
    /// after others): joined to `existing`, or inserted at the end of its block, as `renamed` if it is.
    #[cold]
    #[inline(never)]
    fn move_last(&mut self, renamed: Option<&[u8]>, existing: Option<usize>) {
        let b = Arc::make_mut(&mut self.inner);
        let last = b.entries.len() - 1;
        let entry = b.entries.pop().expect("the entry just pushed");
        let start = b.start(last);
        let moved = b.bytes[start..].to_vec();
        b.bytes.truncate(start);
        let (name, value) = moved.split_at(entry.name_end - start);
        let name = renamed.unwrap_or(name);
        match existing {
            Some(_) if value.is_empty() => {}
            Some(at) => self.append_to(at, value),
            None => {
                let at = if name.starts_with(b":") {
                    self.names()
                        .position(|k| !k.starts_with(b":"))
                        .unwrap_or(self.len())
                } else {
                    self.len()
                };
                self.insert(at, name, value);
            }
        }
    }

    /// The first of the entries before `end` named `name` (lower-case), compared as bytes: lengths first, since a
    /// lookup runs on every header the guest or the filter manager asks for.
    fn position_before(&self, end: usize, name: &[u8]) -> Option<usize> {
        let b = &*self.inner;
        let mut start = 0;
        b.entries[..end].iter().position(|e| {
            let found = e.name_end - start == name.len()
                && same_length_equal(&b.bytes[start..e.name_end], name);
            start = e.value_end;
            found
        })
    }

    /// The first entry named `name` in any case. The names held are lower-case, so a lower-case `name` (what the
    /// filter manager and most guests ask for) is compared as it is.
    fn position_of(&self, name: &[u8]) -> Option<usize> {
        if has_capitals(name) {
            self.position_before(self.len(), &name.to_ascii_lowercase())
        } else {
            self.position_before(self.len(), name)
        }
    }

    /// Replaces every entry of `name` with one: Envoy's `setCopy` is `remove` then `addCopy`, so the entry moves
    /// to the end of its block.
    pub fn set(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.remove(name.as_ref());
        self.add(name, value);
    }

    /// Removes every entry of `name` (`host` removes `:authority` in request headers), in place: the entries after
    /// a removed one move up in the buffer.
    pub fn remove(&mut self, name: impl AsRef<[u8]>) {
        let name = name.as_ref();
        // Names nearly always come lower-case ASCII, as they are kept: used as they are.
        let lowered;
        let name = if name.is_ascii() && !has_capitals(name) {
            name
        } else {
            lowered = lower(name);
            lowered.as_bytes()
        };
        let name = self.kind.renamed(name).unwrap_or(name);
        if self.names().any(|k| k == name) {
            // What remains of the names is among what was there: the inline names held stay as they are.
            Arc::make_mut(&mut self.inner).remove_all(name);
        }
    }

    /// A map of class `kind` holding `pairs` added in order (Envoy's `addCopy` for each).
    pub(crate) fn from_pairs(kind: MapKind, pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Headers {
        let mut headers = Headers::of_kind(kind);
        for (k, v) in pairs {
            headers.add(k, v);
        }
        headers
    }

    /// The bytes of every name and value: Envoy's `byteSize()`, and what holding the map costs.
    pub(crate) fn byte_len(&self) -> usize {
        self.inner.bytes.len()
    }

    /// Entries in order, as bytes (values need not be UTF-8).
    pub fn pairs(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + Clone {
        let b = &*self.inner;
        let mut start = 0;
        b.entries.iter().map(move |e| {
            let pair = (
                &b.bytes[start..e.name_end],
                &b.bytes[e.name_end..e.value_end],
            );
            start = e.value_end;
            pair
        })
    }

    /// A map of class `kind` with room for `entries` entries with `bytes` bytes of names and values, so building
    /// it allocates once per buffer.
    pub(crate) fn with_capacity(kind: MapKind, entries: usize, bytes: usize) -> Headers {
        Headers {
            inner: Arc::new(Buffers {
                bytes: Vec::with_capacity(bytes),
                entries: Vec::with_capacity(entries),
                inline_names: 0,
            }),
            kind,
        }
    }

    fn with_capacity_of(other: &Headers) -> Headers {
        Headers::with_capacity(other.kind, other.len() + 1, other.byte_len())
    }

    /// Inserts an entry (its name lower-case) before entry `at`.
    fn insert(&mut self, at: usize, name: &[u8], value: &[u8]) {
        let b = Arc::make_mut(&mut self.inner);
        if at >= b.entries.len() {
            b.push(name, value);
            return;
        }
        let start = b.start(at);
        b.entries.insert(
            at,
            Entry {
                name_end: start + name.len(),
                value_end: start + name.len() + value.len(),
            },
        );
        b.bytes
            .splice(start..start, name.iter().chain(value).copied());
        for e in &mut b.entries[at + 1..] {
            e.name_end += name.len() + value.len();
            e.value_end += name.len() + value.len();
        }
    }

    /// Appends `value` to entry `at`'s value with Envoy's inline delimiter (`appendToHeader`).
    fn append_to(&mut self, at: usize, value: &[u8]) {
        let b = Arc::make_mut(&mut self.inner);
        let end = b.entries[at].value_end;
        let appended = if b.value(at).is_empty() {
            value.to_vec()
        } else {
            [INLINE_DELIMITER, value].concat()
        };
        b.entries[at].value_end += appended.len();
        b.insert_bytes(at, end, &appended);
    }

    /// The names in order: what lookups compare, without slicing the values too.
    fn names(&self) -> impl Iterator<Item = &[u8]> {
        let b = &*self.inner;
        (0..b.entries.len()).map(move |i| b.name(i))
    }
}

/// Equal when the entries are, however the buffers are laid out.
impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.len() == other.len() && self.pairs().eq(other.pairs())
    }
}

impl Eq for Headers {}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Headers {
        let mut headers = Headers::new();
        for (k, v) in iter {
            headers.add(k.as_ref(), v.as_ref());
        }
        headers
    }
}

impl<K: AsRef<str>, V: AsRef<str>> From<&[(K, V)]> for Headers {
    fn from(pairs: &[(K, V)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect()
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> From<&[(K, V); N]> for Headers {
    fn from(pairs: &[(K, V); N]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect()
    }
}

impl fmt::Display for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "  (none)");
        }
        for (k, v) in self.iter() {
            writeln!(f, "  {k}: {v}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

fn lower(name: &[u8]) -> String {
    String::from_utf8_lossy(name).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capitals_are_found_wherever_they_are_and_only_ascii_ones() {
        let all: Vec<u8> = (0..=255).collect();
        for start in 0..=255 {
            for len in 0..=(256 - start).min(20) {
                let name = &all[start..start + len];
                assert_eq!(
                    has_capitals(name),
                    name.iter().any(u8::is_ascii_uppercase),
                    "{name:?}"
                );
            }
        }
        assert!(!has_capitals(b"x-forwarded-proto"));
        assert!(has_capitals(b"x-forwarded-protO"));
        assert!(has_capitals(b"X-forwarded-proto"));
    }

    #[test]
    fn names_of_a_length_are_equal_only_when_every_byte_is() {
        let name: Vec<u8> = (b'a'..=b'z').chain(b'0'..=b'9').collect();
        for len in 0..=name.len() {
            let a = &name[..len];
            assert!(same_length_equal(a, a));
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 0x20;
                assert!(!same_length_equal(a, &b), "{b:?}");
            }
        }
    }

    /// Which inline names a map holds is kept beside its entries: after a removal, a reused spare map or a change of
    /// class, a repeated inline name must still join its first entry, and a new one must still get its own.
    #[test]
    fn inline_names_join_after_every_change_to_the_map() {
        let mut headers = Headers::of_kind(MapKind::RequestHeaders);
        headers.add("via", "a");
        headers.add("x-custom", "1");
        headers.remove("via");
        headers.add("Via", "b");
        headers.add("via", "c");
        headers.remove("x-custom");
        headers.add("via", "d");
        assert_eq!(headers.get_all("via"), ["b,c,d"]);

        let mut spare = SpareMaps::default();
        spare.keep(headers);
        let mut reused = spare.map(MapKind::RequestHeaders, 2, 16);
        reused.add("via", "e");
        reused.add("via", "f");
        assert_eq!(reused.get_all("via"), ["e,f"]);

        let mut plain = Headers::new();
        plain.add("via", "g");
        plain.add("via", "h");
        assert_eq!(plain.get_all("via"), ["g", "h"]);
        let mut request = plain.into_kind(MapKind::RequestHeaders);
        assert_eq!(request.get_all("via"), ["g,h"]);
        request.set("via", "i");
        request.add("via", "j");
        assert_eq!(request.get_all("via"), ["i,j"]);
    }

    /// Removing moves the entries after a removed one up in the shared buffer: each must still read its own name
    /// and value, and a copy made before must keep all of them.
    #[test]
    fn removed_entries_leave_the_others_readable() {
        let mut headers = Headers::of_kind(MapKind::RequestHeaders);
        for (name, value) in [
            (":path", "/"),
            ("x-a", "1"),
            ("x-gone", "2"),
            ("x-b", ""),
            ("X-Gone", "3"),
            ("x-c", "4"),
            ("host", "example.com"),
        ] {
            headers.add(name, value);
        }
        let copy = headers.clone();
        headers.remove("X-GONE");
        headers.remove("Host");
        headers.remove("absent");
        let pairs: Vec<(&str, &str)> = headers.pairs().map(|(k, v)| (text(k), text(v))).collect();
        assert_eq!(
            pairs,
            [(":path", "/"), ("x-a", "1"), ("x-b", ""), ("x-c", "4")]
        );
        assert_eq!(headers.byte_len(), ":path/x-a1x-bx-c4".len());
        assert_eq!(copy.len(), 7);
        assert_eq!(copy.get_all("x-gone"), ["2", "3"]);
        headers.remove(":path");
        headers.remove("x-c");
        assert_eq!(headers.get("x-a"), Some("1"));
        assert_eq!(headers.len(), 2);
    }

    /// An entry that moves (a pseudo-header after others, `host`, a repeated inline header) moves its bytes in the
    /// shared buffer: every entry after it must still read its own name and value.
    #[test]
    fn entries_that_move_leave_the_others_readable() {
        let mut headers = Headers::of_kind(MapKind::RequestHeaders);
        for (name, value) in [
            ("A", "1"),
            ("via", "x"),
            ("b", ""),
            ("Via", "y"),
            (":path", "/"),
            ("Host", "example.com"),
            ("via", ""),
            ("c", "3"),
        ] {
            headers.add(name, value);
        }
        let pairs: Vec<(&str, &str)> = headers.pairs().map(|(k, v)| (text(k), text(v))).collect();
        assert_eq!(
            pairs,
            [
                (":path", "/"),
                (":authority", "example.com"),
                ("a", "1"),
                ("via", "x,y"),
                ("b", ""),
                ("c", "3"),
            ]
        );
        assert_eq!(headers.get("HOST"), Some("example.com"));
        assert_eq!(
            headers.byte_len(),
            "/example.com1x,y3".len() + ":path:authorityaviabc".len()
        );
    }
}
