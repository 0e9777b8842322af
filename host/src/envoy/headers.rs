//! A header (or trailer, or metadata) map as Envoy keeps it: names lower-cased, insertion order, repeated names
//! kept as separate entries.

use std::fmt;

/// An ordered multimap of lower-cased header names to values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, Vec<u8>)>,
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
        let name = name.to_ascii_lowercase();
        self.entries
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Every value of `name`, in order (non-UTF-8 values are shown lossily).
    pub fn get_all(&self, name: &str) -> Vec<String> {
        let name = name.to_ascii_lowercase();
        self.entries
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get_bytes(name).is_some()
    }

    /// Entries in order, values shown lossily if they are not UTF-8.
    pub fn iter(&self) -> impl Iterator<Item = (&str, std::borrow::Cow<'_, str>)> {
        self.entries
            .iter()
            .map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v)))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends an entry (Envoy `addCopy`).
    pub fn add(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.entries
            .push((lower(name.as_ref()), value.as_ref().to_vec()));
    }

    /// Replaces every entry of `name` with one (Envoy `setCopy`): the first entry keeps its position.
    pub fn set(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let name = lower(name.as_ref());
        match self.entries.iter().position(|(k, _)| *k == name) {
            Some(first) => {
                self.entries[first].1 = value.as_ref().to_vec();
                let mut i = 0;
                self.entries.retain(|(k, _)| {
                    i += 1;
                    i - 1 == first || *k != name
                });
            }
            None => self.entries.push((name, value.as_ref().to_vec())),
        }
    }

    /// Removes every entry of `name`.
    pub fn remove(&mut self, name: impl AsRef<[u8]>) {
        let name = lower(name.as_ref());
        self.entries.retain(|(k, _)| *k != name);
    }

    pub(crate) fn from_pairs(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Headers {
        let mut headers = Headers::new();
        for (k, v) in pairs {
            headers.add(k, v);
        }
        headers
    }

    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_slice()))
    }
}

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
        if self.entries.is_empty() {
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
