//! When a release got something: the first Envoy minor that has it, and where that is inferred rather than read.

/// The first Envoy minor with a function or a behaviour, and the source that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Since {
    /// The first Envoy minor known to have it.
    pub(crate) first: u32,
    /// From this minor up to `first`, whether a release has it is not known (the release was inferred from
    /// dates, not read from the release's pinned sources). Equal to `first` where it was read.
    pub(crate) uncertain_from: u32,
    /// The commit, pull request or release note that says so.
    pub(crate) source: &'static str,
}

/// Whether a release has something, as far as the sources tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Present,
    Absent,
    /// The release lies in the window where the table infers rather than knows.
    Unknown,
}

impl Since {
    pub(crate) fn verdict(&self, envoy: u32) -> Presence {
        if envoy >= self.first {
            Presence::Present
        } else if envoy >= self.uncertain_from {
            Presence::Unknown
        } else {
            Presence::Absent
        }
    }

    /// Whether the window between the last release known without it and the first known with it is open.
    pub(crate) fn inferred(&self) -> bool {
        self.uncertain_from < self.first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_inside_an_inferred_window_is_unknown() {
        let since = Since {
            first: 35,
            uncertain_from: 33,
            source: "",
        };
        assert!(since.inferred());
        assert_eq!(since.verdict(32), Presence::Absent);
        assert_eq!(since.verdict(33), Presence::Unknown);
        assert_eq!(since.verdict(34), Presence::Unknown);
        assert_eq!(since.verdict(35), Presence::Present);
    }
}
