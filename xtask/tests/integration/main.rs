//! `cargo xtask`'s black-box tests: one test binary, one module per command, each running the built xtask binary
//! (or cargo in a scratch copy of the workspace) and asserting what a user sees. Test names are
//! `<module>::<test>`; run one command's tests with `cargo test -p xtask --test integration build::`.

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
