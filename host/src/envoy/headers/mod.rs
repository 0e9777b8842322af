//! A header (or trailer, or metadata) map as Envoy keeps it: names lower-cased, insertion order with the
//! pseudo-headers first, `host` filed as `:authority` in request headers, an inline header's repeated values in
//! one entry, other repeated names kept as separate entries.

mod inline;

use std::fmt;
use std::sync::Arc;

use inline::INLINE_DELIMITER;
pub(crate) use inline::MapKind;

/// An ordered multimap of lower-cased header names to values, with the insertion rules of Envoy's
/// `HeaderMapImpl` for its [`MapKind`].
///
/// Names and values live in two shared buffers rather than one allocation per entry: a stream builds, forwards and
/// keeps several maps per request, and an allocation per header would be most of the host's work. Copies (what passed the
/// filter, Envoy's access-log copy, a test's `Message`) share the buffers until one of them changes.
#[derive(Clone, Default)]
pub struct Headers {
    inner: Arc<Buffers>,
    kind: MapKind,
}

#[derive(Clone, Default)]
struct Buffers {
    names: String,
    values: Vec<u8>,
    entries: Vec<Entry>,
}

/// Where one entry's name and value sit in the buffers (end offsets; each starts where the previous one ended).
#[derive(Clone, Copy)]
struct Entry {
    name_end: usize,
    value_end: usize,
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
        for (k, v) in self.pairs_str() {
            converted.add_str(k, v);
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
        let at = self.position_of(name)?;
        Some(self.value_at(at))
    }

    /// Every value of `name`, in order (non-UTF-8 values are shown lossily).
    pub fn get_all(&self, name: &str) -> Vec<String> {
        let name = self.kind.lookup_name(name);
        self.pairs_str()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    /// Every value of `name` (case-insensitive), in order, as bytes.
    pub(crate) fn all_bytes<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> {
        let name = self.kind.lookup_name(name);
        self.pairs_str()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get_bytes(name).is_some()
    }

    /// Entries in order, values shown lossily if they are not UTF-8.
    pub fn iter(&self) -> impl Iterator<Item = (&str, std::borrow::Cow<'_, str>)> {
        self.pairs_str()
            .map(|(k, v)| (k, String::from_utf8_lossy(v)))
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
        match std::str::from_utf8(name) {
            Ok(name) => self.add_str(name, value),
            // Header names are ASCII but for a guest's odd bytes, shown lossily.
            Err(_) => self.add_str(&String::from_utf8_lossy(name), value),
        }
    }

    /// [`Headers::add`] of a name that is text already (the test API's), which need not be checked for UTF-8.
    pub(crate) fn add_str(&mut self, name: &str, value: &[u8]) {
        self.push(name, value);
        let b = &*self.inner;
        let last = b.entries.len() - 1;
        let name = &b.names[self.name_start(last)..];
        if self.kind == MapKind::Plain && !name.starts_with(':') {
            return;
        }
        let canonical = self.kind.canonical(name);
        // Most names are new to the map: look for an earlier entry first, and up the inline table only then.
        let existing = self
            .position_before(last, canonical)
            .filter(|_| self.kind.is_inline(canonical));
        let in_place = canonical == name
            && existing.is_none()
            && (!name.starts_with(':') || last == 0 || self.name(last - 1).starts_with(':'));
        if in_place {
            return;
        }
        let canonical = canonical.to_owned();
        let value = self.pop_value();
        match existing {
            Some(_) if value.is_empty() => {}
            Some(at) => self.append_to(at, &value),
            None => {
                let at = if canonical.starts_with(':') {
                    self.names()
                        .position(|k| !k.starts_with(':'))
                        .unwrap_or(self.len())
                } else {
                    self.len()
                };
                self.insert(at, &canonical, &value);
            }
        }
    }

    /// The first of the entries before `end` named `name` (lower-case), compared as bytes.
    fn position_before(&self, end: usize, name: &str) -> Option<usize> {
        self.position_where(end, name, <[u8]>::eq)
    }

    /// The first entry named `name` in any case.
    fn position_of(&self, name: &str) -> Option<usize> {
        self.position_where(self.len(), name, <[u8]>::eq_ignore_ascii_case)
    }

    /// The first of the entries before `end` whose name is as long as `name` and `same` as it: the names are walked
    /// as bytes, since a lookup runs on every header the guest or the filter manager asks for.
    fn position_where(
        &self,
        end: usize,
        name: &str,
        same: impl Fn(&[u8], &[u8]) -> bool,
    ) -> Option<usize> {
        let b = &*self.inner;
        let (names, name) = (b.names.as_bytes(), name.as_bytes());
        let mut start = 0;
        b.entries[..end].iter().position(|e| {
            let found = e.name_end - start == name.len() && same(&names[start..e.name_end], name);
            start = e.name_end;
            found
        })
    }

    /// Entry `index`'s name.
    fn name(&self, index: usize) -> &str {
        &self.inner.names[self.name_start(index)..self.inner.entries[index].name_end]
    }

    /// Where entry `index`'s name starts in the names buffer.
    fn name_start(&self, index: usize) -> usize {
        index
            .checked_sub(1)
            .map_or(0, |i| self.inner.entries[i].name_end)
    }

    /// Replaces every entry of `name` with one: Envoy's `setCopy` is `remove` then `addCopy`, so the entry moves
    /// to the end of its block.
    pub fn set(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.remove(name.as_ref());
        self.add(name, value);
    }

    /// Removes every entry of `name` (`host` removes `:authority` in request headers).
    pub fn remove(&mut self, name: impl AsRef<[u8]>) {
        let name = lower(name.as_ref());
        let name = self.kind.canonical(&name);
        if self.names().any(|k| k == name) {
            let mut kept = Headers::with_capacity_of(self);
            for (k, v) in self.pairs_str().filter(|(k, _)| *k != name) {
                kept.push(k, v);
            }
            *self = kept;
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
        self.inner.names.len() + self.inner.values.len()
    }

    /// Entries in order, as bytes (values need not be UTF-8).
    pub fn pairs(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + Clone {
        self.pairs_str().map(|(k, v)| (k.as_bytes(), v))
    }

    /// A map of class `kind` with room for `entries` entries with `bytes` bytes of names and values, so building
    /// it allocates once per buffer.
    pub(crate) fn with_capacity(kind: MapKind, entries: usize, bytes: usize) -> Headers {
        Headers {
            inner: Arc::new(Buffers {
                names: String::with_capacity(bytes),
                values: Vec::with_capacity(bytes),
                entries: Vec::with_capacity(entries),
            }),
            kind,
        }
    }

    fn with_capacity_of(other: &Headers) -> Headers {
        Headers::with_capacity(other.kind, other.len() + 1, other.inner.values.len())
    }

    /// Appends an entry as it is, lower-casing the name in place.
    fn push(&mut self, name: &str, value: &[u8]) {
        let b = Arc::make_mut(&mut self.inner);
        let start = b.names.len();
        b.names.push_str(name);
        b.names[start..].make_ascii_lowercase();
        b.values.extend_from_slice(value);
        b.entries.push(Entry {
            name_end: b.names.len(),
            value_end: b.values.len(),
        });
    }

    /// Drops the last entry, returning its value.
    fn pop_value(&mut self) -> Vec<u8> {
        let b = Arc::make_mut(&mut self.inner);
        b.entries.pop();
        let (name_start, value_start) = b
            .entries
            .last()
            .map_or((0, 0), |e| (e.name_end, e.value_end));
        b.names.truncate(name_start);
        b.values.split_off(value_start)
    }

    /// Inserts an entry before entry `at`.
    fn insert(&mut self, at: usize, name: &str, value: &[u8]) {
        let mut rebuilt = Headers::with_capacity_of(self);
        for (i, (k, v)) in self.pairs_str().enumerate() {
            if i == at {
                rebuilt.push(name, value);
            }
            rebuilt.push(k, v);
        }
        if at >= self.len() {
            rebuilt.push(name, value);
        }
        *self = rebuilt;
    }

    /// Appends `value` to entry `at`'s value with Envoy's inline delimiter (`appendToHeader`).
    fn append_to(&mut self, at: usize, value: &[u8]) {
        let mut rebuilt = Headers::with_capacity_of(self);
        for (i, (k, v)) in self.pairs_str().enumerate() {
            if i == at && !v.is_empty() {
                rebuilt.push(k, &[v, INLINE_DELIMITER, value].concat());
            } else if i == at {
                rebuilt.push(k, value);
            } else {
                rebuilt.push(k, v);
            }
        }
        *self = rebuilt;
    }

    fn value_at(&self, index: usize) -> &[u8] {
        let b = &*self.inner;
        let start = index.checked_sub(1).map_or(0, |i| b.entries[i].value_end);
        &b.values[start..b.entries[index].value_end]
    }

    /// The names in order: what lookups compare, without slicing the values too.
    fn names(&self) -> impl Iterator<Item = &str> {
        let b = &*self.inner;
        let mut start = 0;
        b.entries.iter().map(move |e| {
            let name = &b.names[start..e.name_end];
            start = e.name_end;
            name
        })
    }

    fn pairs_str(&self) -> impl ExactSizeIterator<Item = (&str, &[u8])> + Clone {
        let b = &*self.inner;
        let mut name_start = 0;
        let mut value_start = 0;
        b.entries.iter().map(move |e| {
            let pair = (
                &b.names[name_start..e.name_end],
                &b.values[value_start..e.value_end],
            );
            name_start = e.name_end;
            value_start = e.value_end;
            pair
        })
    }
}

/// Equal when the entries are, however the buffers are laid out.
impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.len() == other.len() && self.pairs_str().eq(other.pairs_str())
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
