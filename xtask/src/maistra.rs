//! Maistra's filter phases: the exact spelling its manifest and ServiceMeshExtension accept, and the
//! nearest one to a typo. `manifest`, `new` and `deploy` all speak them.

use std::{fmt, str::FromStr};

/// Maistra filter phases, exact spelling (`maistra/api` `FilterPhase*`).
pub(crate) const PHASES: [&str; 6] = [
    "PreAuthN",
    "PostAuthN",
    "PreAuthZ",
    "PostAuthZ",
    "PreStats",
    "PostStats",
];

/// The candidate closest to a typo: same letters in another case, else a small edit distance.
pub(crate) fn nearest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if let Some(same) = candidates.iter().find(|c| c.eq_ignore_ascii_case(input)) {
        return Some(same);
    }
    candidates
        .iter()
        .map(|c| {
            (
                strsim::levenshtein(&input.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                *c,
            )
        })
        .filter(|(distance, _)| *distance <= 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// A Maistra filter phase, in chain order: what the manifest, `new --phase` and every resource `deploy` writes
/// speak, validated once where it is read.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub(crate) enum Phase {
    PreAuthN,
    PostAuthN,
    PreAuthZ,
    PostAuthZ,
    PreStats,
    PostStats,
}

impl Phase {
    const ALL: [Phase; 6] = [
        Phase::PreAuthN,
        Phase::PostAuthN,
        Phase::PreAuthZ,
        Phase::PostAuthZ,
        Phase::PreStats,
        Phase::PostStats,
    ];

    /// The exact spelling Maistra accepts.
    pub(crate) fn name(self) -> &'static str {
        PHASES[self as usize]
    }
}

impl FromStr for Phase {
    type Err = String;

    fn from_str(text: &str) -> Result<Phase, String> {
        if let Some(phase) = Phase::ALL.iter().find(|p| p.name() == text) {
            return Ok(*phase);
        }
        let hint = nearest(text, &PHASES)
            .map(|p| format!(" (did you mean `{p}`?)"))
            .unwrap_or_default();
        Err(format!(
            "`{text}` is not a Maistra phase{hint}; allowed (exact case): {}",
            PHASES.join(" ")
        ))
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_prefers_a_case_only_difference() {
        assert_eq!(nearest("postauthz", &PHASES), Some("PostAuthZ"));
        assert_eq!(nearest("PreAuthX", &PHASES), Some("PreAuthN"));
        assert_eq!(nearest("anything-else", &PHASES), None);
    }

    #[test]
    fn a_phase_flag_is_checked_with_a_suggestion() {
        assert_eq!("PreStats".parse::<Phase>().unwrap().to_string(), "PreStats");
        let err = "PostAuthz".parse::<Phase>().unwrap_err();
        assert!(
            err.starts_with("`PostAuthz` is not a Maistra phase (did you mean `PostAuthZ`?); allowed (exact case): PreAuthN"),
            "{err}"
        );
    }
}
