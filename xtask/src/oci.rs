//! The OCI vocabulary every command shares: digests, image references, and the image layout `package`
//! writes and `push`, `deploy` and `check` read.

pub(crate) mod digest;
pub(crate) mod layout;
pub(crate) mod reference;
