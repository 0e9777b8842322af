//! Empty: cargo reads `[build-dependencies]` (syn's features, Cargo.toml) only for a package with a build script.
fn main() {}
