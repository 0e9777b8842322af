//! A header (or trailer, or metadata) map as Envoy keeps it: names lower-cased, insertion order, repeated names
//! kept as separate entries.

use std::fmt;
use std::sync::Arc;

/// An ordered multimap of lower-cased header names to values.
///
/// Names and values live in two shared buffers rather than one allocation per entry: a stream builds, forwards and
/// keeps several maps per request, and an allocation per header would be most of the host's work. Copies (what passed the
/// filter, Envoy's access-log copy, a test's `Message`) share the buffers until one of them changes.
#[derive(Clone, Default)]
pub struct Headers {
    inner: Arc<Buffers>,
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

    /// The first value of `name` (case-insensitive), if present and UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of `name` as bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.pairs_str()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every value of `name`, in order (non-UTF-8 values are shown lossily).
    pub fn get_all(&self, name: &str) -> Vec<String> {
        self.pairs_str()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
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

    /// Appends an entry (Envoy `addCopy`).
    pub fn add(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let b = Arc::make_mut(&mut self.inner);
        let start = b.names.len();
        b.names.push_str(&String::from_utf8_lossy(name.as_ref()));
        b.names[start..].make_ascii_lowercase();
        b.values.extend_from_slice(value.as_ref());
        b.entries.push(Entry {
            name_end: b.names.len(),
            value_end: b.values.len(),
        });
    }

    /// Replaces every entry of `name` with one (Envoy `setCopy`): the first entry keeps its position.
    pub fn set(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let name = lower(name.as_ref());
        let first = self.pairs_str().position(|(k, _)| k == name);
        match first {
            Some(first) => {
                let mut kept = Headers::with_capacity_of(self);
                for (i, (k, v)) in self.pairs_str().enumerate() {
                    if i == first {
                        kept.add(k, value.as_ref());
                    } else if k != name {
                        kept.add(k, v);
                    }
                }
                *self = kept;
            }
            None => self.add(name, value),
        }
    }

    /// Removes every entry of `name`.
    pub fn remove(&mut self, name: impl AsRef<[u8]>) {
        let name = lower(name.as_ref());
        if self.pairs_str().any(|(k, _)| k == name) {
            let mut kept = Headers::with_capacity_of(self);
            for (k, v) in self.pairs_str().filter(|(k, _)| *k != name) {
                kept.add(k, v);
            }
            *self = kept;
        }
    }

    pub(crate) fn from_pairs(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Headers {
        let mut headers = Headers::new();
        for (k, v) in pairs {
            headers.add(k, v);
        }
        headers
    }

    /// The bytes of every name and value: what holding the map costs.
    pub(crate) fn byte_len(&self) -> usize {
        self.pairs().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// Entries in order, as bytes (values need not be UTF-8).
    pub fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs_str().map(|(k, v)| (k.as_bytes(), v))
    }

    /// Room for `entries` entries with `bytes` bytes of names and values, so building a map allocates once per
    /// buffer.
    pub(crate) fn with_capacity(entries: usize, bytes: usize) -> Headers {
        Headers {
            inner: Arc::new(Buffers {
                names: String::with_capacity(bytes),
                values: Vec::with_capacity(bytes),
                entries: Vec::with_capacity(entries),
            }),
        }
    }

    fn with_capacity_of(other: &Headers) -> Headers {
        Headers::with_capacity(other.len(), other.inner.values.len())
    }

    fn pairs_str(&self) -> impl Iterator<Item = (&str, &[u8])> {
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
