//! How commands show paths and sizes.

use std::{
    env,
    path::{Path, PathBuf},
};

/// `path` relative to the current directory when it lies below it, for shorter messages.
pub fn relative_to_cwd(path: &Path) -> PathBuf {
    env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}

/// `123456` → `123456 bytes (120.6 KiB)`.
pub fn human_size(bytes: u64) -> String {
    format!("{bytes} bytes ({:.1} KiB)", bytes as f64 / 1024.0)
}
