//! What `--for` names: a mesh at a version. The version decides which resource kinds exist, which of their
//! fields the mesh reads, which image variants it pulls (xtask's `mesh`) and which Envoy runs the module (so
//! which imports it links and how its Wasm filter behaves: `imports`, `behaviour`).
//!
//! The mapping of OSSM and Envoy Gateway releases to Istio and Envoy releases is marked in the README's target
//! table where it is inferred.

use std::{fmt, str::FromStr};

use crate::Envoy;

/// The newest Istio minor modelled (1.30, May 2026: TrafficExtension).
pub const ISTIO_LATEST: u32 = 30;
/// The oldest Istio minor with WasmPlugin.
const ISTIO_FIRST: u32 = 12;
/// Envoy Gateway minors with EnvoyExtensionPolicy (1.1 … 1.9).
const GATEWAY_FIRST: u32 = 1;
pub const GATEWAY_LATEST: u32 = 9;
/// The newest OSSM 2.x minor.
const OSSM_LATEST: u32 = 6;
/// The newest Envoy minor modelled.
pub const ENVOY_LATEST: u32 = 40;
/// The oldest Envoy minor whose wasm filter takes a Rust SDK 0.2 module (ABI 0.2.1).
const ENVOY_FIRST: u32 = 17;

/// A mesh and its version, as `--for` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// OpenShift Service Mesh 2.`minor` (2.0 … 2.6), which ships Istio [`ossm_istio`].
    Ossm { minor: u32 },
    /// Upstream Istio 1.`minor`.
    Istio { minor: u32 },
    /// Envoy Gateway 1.`minor`.
    EnvoyGateway { minor: u32 },
    /// Envoy 1.`minor` itself, configured by hand.
    Envoy { minor: u32 },
}

/// Istio minor of OSSM 2.`minor` (`maistra/istio` branches' `VERSION`).
fn ossm_istio(minor: u32) -> u32 {
    match minor {
        0 => 6,
        1 => 9,
        2 => 12,
        3 => 14,
        4 => 16,
        5 => 18,
        _ => 20,
    }
}

impl Target {
    /// The Istio minor the target runs, if it is Istio-based.
    pub fn istio_minor(self) -> Option<u32> {
        match self {
            Target::Ossm { minor } => Some(ossm_istio(minor)),
            Target::Istio { minor } => Some(minor),
            Target::EnvoyGateway { .. } | Target::Envoy { .. } => None,
        }
    }

    /// The Envoy minor that runs the module: Istio 1.N ships Envoy 1.(N+8); Envoy Gateway 1.N ships
    /// Envoy 1.(N+30).
    pub fn envoy_minor(self) -> u32 {
        match self {
            Target::Ossm { .. } | Target::Istio { .. } => {
                self.istio_minor().unwrap_or_default() + 8
            }
            Target::EnvoyGateway { minor } => minor + 30,
            Target::Envoy { minor } => minor,
        }
    }

    /// The Envoy release that runs the module.
    pub fn envoy(self) -> Envoy {
        Envoy {
            minor: self.envoy_minor(),
        }
    }

    /// The canonical `--for` value of this target.
    pub fn flag(self) -> String {
        match self {
            Target::Ossm { minor } => format!("ossm-2.{minor}"),
            Target::Istio { minor } => format!("istio-1.{minor}"),
            Target::EnvoyGateway { minor } => format!("envoy-gateway-1.{minor}"),
            Target::Envoy { minor } => format!("envoy-1.{minor}"),
        }
    }

    /// "Istio 1.16 (OSSM 2.4)" and the like, for messages.
    pub fn describe(self) -> String {
        match self {
            Target::Ossm { minor } => format!("OSSM 2.{minor} (Istio 1.{})", ossm_istio(minor)),
            Target::Istio { minor } => format!("Istio 1.{minor}"),
            Target::EnvoyGateway { minor } => format!("Envoy Gateway 1.{minor}"),
            Target::Envoy { minor } => format!("Envoy 1.{minor}"),
        }
    }

    /// Every target `--for` accepts, oldest first within each mesh.
    pub fn all() -> Vec<Target> {
        let ossm = (0..=OSSM_LATEST).map(|minor| Target::Ossm { minor });
        let istio = (ISTIO_FIRST..=ISTIO_LATEST).map(|minor| Target::Istio { minor });
        let gateway = (GATEWAY_FIRST..=GATEWAY_LATEST).map(|minor| Target::EnvoyGateway { minor });
        let envoy = (ENVOY_FIRST..=ENVOY_LATEST).map(|minor| Target::Envoy { minor });
        ossm.chain(istio).chain(gateway).chain(envoy).collect()
    }

    /// The name of the first version of this mesh whose Istio minor is `istio` (for "introduced in").
    pub fn istio_version_name(self, istio: u32) -> String {
        match self {
            Target::Ossm { .. } => match (0..=OSSM_LATEST).find(|m| ossm_istio(*m) >= istio) {
                Some(m) => format!("Istio 1.{istio} (OSSM 2.{m})"),
                None => format!("Istio 1.{istio} (no OSSM 2.x)"),
            },
            _ => format!("Istio 1.{istio}"),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl FromStr for Target {
    type Err = UnknownTarget;

    fn from_str(text: &str) -> Result<Target, UnknownTarget> {
        let minor =
            |rest: &str, prefix: &str| -> Option<u32> { rest.strip_prefix(prefix)?.parse().ok() };
        let target = match text {
            "istio" => Some(Target::Istio {
                minor: ISTIO_LATEST,
            }),
            "envoy-gateway" => Some(Target::EnvoyGateway {
                minor: GATEWAY_LATEST,
            }),
            "envoy" => Some(Target::Envoy {
                minor: ENVOY_LATEST,
            }),
            _ => {
                if let Some(m) = minor(text, "ossm-2.").filter(|m| *m <= OSSM_LATEST) {
                    Some(Target::Ossm { minor: m })
                } else if let Some(m) =
                    minor(text, "istio-1.").filter(|m| (ISTIO_FIRST..=ISTIO_LATEST).contains(m))
                {
                    Some(Target::Istio { minor: m })
                } else if let Some(m) = minor(text, "envoy-gateway-1.")
                    .filter(|m| (GATEWAY_FIRST..=GATEWAY_LATEST).contains(m))
                {
                    Some(Target::EnvoyGateway { minor: m })
                } else {
                    minor(text, "envoy-1.")
                        .filter(|m| (ENVOY_FIRST..=ENVOY_LATEST).contains(m))
                        .map(|m| Target::Envoy { minor: m })
                }
            }
        };
        match target {
            Some(target) => Ok(target),
            None => Err(UnknownTarget(format!(
                "`{text}` is not a target; use ossm-2.0 … ossm-2.6, istio (1.{ISTIO_LATEST}) or istio-1.{ISTIO_FIRST} … \
                 istio-1.{ISTIO_LATEST}, envoy-gateway (1.{GATEWAY_LATEST}) or envoy-gateway-1.{GATEWAY_FIRST} … \
                 envoy-gateway-1.{GATEWAY_LATEST}, envoy (1.{ENVOY_LATEST}) or envoy-1.{ENVOY_FIRST} … envoy-1.{ENVOY_LATEST}. \
                 For OSSM 3.x give the Istio version it ships (istio-1.N)"
            ))),
        }
    }
}

/// A `--for` value that names no target; the message lists the ones there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTarget(String);

impl fmt::Display for UnknownTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnknownTarget {}
