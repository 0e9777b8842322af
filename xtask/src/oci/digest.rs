//! SHA-256 content digests, the only algorithm images and registries here use.

use sha2::{Digest, Sha256};

/// Hex SHA-256 of `bytes`: a blob's file name in a layout.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `sha256:<hex>` of `bytes`: a descriptor's digest.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}
