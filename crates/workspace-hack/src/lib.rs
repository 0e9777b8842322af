//! No code: the crate exists for the features its dependencies are built with (Cargo.toml).
