//! `cargo xtask`'s black-box tests: one test binary, one module per command, each running the built xtask binary
//! (or cargo in a scratch copy of the workspace) and asserting what a user sees. Test names are
//! `<module>::<test>`; run one command's tests with `cargo test -p xtask --test commands build::`.
//! Plain `cargo test` leaves this binary out (`test = false`): `cargo xtask test` runs it beside every other test binary,
//! since its scratch-workspace checks take longer than all the others together.

mod push_support;
mod support;

mod build;
mod check;
mod deploy;
mod fresh_module;
mod new;
mod package;
mod push;
mod push_untrusted;
mod reproducible;
mod run;
mod template;
