//! Writes `descriptors/envoy-services.binpb`: the descriptor set of Envoy's ext_authz and rate limit services
//! (`envoy/service/auth/v3/external_auth.proto`, `envoy/service/ratelimit/v3/rls.proto`) and every file they
//! import, taken from the descriptor set of Envoy's API that the `envoy-types` crate ships (compiled by its
//! maintainers from envoyproxy/data-plane-api), without source info.
//!
//! Run from the workspace: `cargo run -p grpc-json --example regenerate_envoy_descriptors`. It finds the
//! `envoy-types` the workspace locks (serve and ext-authz depend on it) with `cargo metadata`. With `--check` it
//! writes nothing and fails if the committed file differs. The crate's tests make the same set
//! (`descriptors.rs`, which they include) and compare it with the committed file.

mod descriptors;

fn main() -> Result<(), String> {
    let made = descriptors::envoy_services()?;
    let out = descriptors::committed();
    if std::env::args().any(|a| a == "--check") {
        let committed =
            std::fs::read(&out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
        if committed != made.set {
            return Err(made.not_committed());
        }
        println!(
            "{} is up to date with {}",
            out.display(),
            made.source.display()
        );
        return Ok(());
    }
    std::fs::write(&out, &made.set).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!(
        "wrote {} ({} files, from {})",
        out.display(),
        made.files,
        made.source.display()
    );
    Ok(())
}
