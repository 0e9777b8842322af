//! The whole command line of `cargo xtask`. Each `///` line is the `--help` text of what follows it.

xflags::xflags! {
    /// Build, test, package and ship the proxy-wasm extensions of this workspace.
    cmd xtask {
        /// Build every extension for wasm32-unknown-unknown (release) and check each module.
        cmd build {
            /// Only this extension (repeatable; default: every extension under extensions/).
            repeated -p, --package name: String
            /// Shrink each module with binaryen's wasm-opt -Oz (must be installed). Off by default: the
            /// module then depends on the wasm-opt version, not only on the sources and the toolchain.
            optional --wasm-opt
        }
        /// Write each extension's manifest.yaml (Maistra extension manifest format).
        cmd manifest {
            /// Only this extension (repeatable; default: every extension under extensions/).
            repeated -p, --package name: String
            /// Write nothing; fail if a manifest on disk is missing or stale.
            optional --check
        }
        /// Build, write manifests, then write an OCI image per extension (no container engine needed).
        cmd package {
            /// Only this extension (repeatable; default: every extension under extensions/).
            repeated -p, --package name: String
            /// Image format: `dual` (one tar+gzip layer with /manifest.yaml and /plugin.wasm; default)
            /// or `artifact` (Istio's OCI wasm variant: runtime config + raw module layers; WasmPlugin only).
            optional --format format: String
            /// Shrink each module with wasm-opt -Oz first (see `build --wasm-opt`).
            optional --wasm-opt
        }
        /// Push the packaged image to a registry over the OCI distribution API.
        cmd push {
            /// Only this extension (default: the only extension, else required).
            optional -p, --package name: String
            /// Destination REGISTRY/REPO[:TAG] (tag defaults to the extension's version).
            required --image reference: String
            /// Registry user name; the password is read from standard input.
            optional --username user: String
            /// Read the password from standard input (with --username).
            optional --password-stdin
            /// Use plain HTTP (or accept any certificate) for this registry.
            optional --insecure
            /// Extra PEM certificate(s) to trust for the registry's TLS.
            optional --ca-cert path: String
            /// Fail if the tag already points to another digest.
            optional --no-overwrite
            /// Repository of the same registry holding the blobs already: mount them, upload nothing.
            optional --mount-from repository: String
            /// Say what would be uploaded, upload nothing.
            optional --dry-run
        }
        /// Write deployment YAML for a mesh: ServiceMeshExtension, WasmPlugin or an Envoy filter.
        cmd deploy {
            /// Only this extension (default: the only extension, else required).
            optional -p, --package name: String
            /// Image reference REGISTRY/REPO[:TAG] (as pushed; tag defaults to the version). Not for envoy.
            optional --image reference: String
            /// Target: ossm-2.0 (SME v1alpha1) | ossm-2.1 | ossm-2.2 (SME v1) | istio, ossm-2.3+ (WasmPlugin)
            /// | envoy (HTTP filter loading the local module). Spelled `--for` on the command line.
            required --mesh target: String
            /// Workload selector label key=value (repeatable).
            repeated --selector label: String
            /// Namespace of the resource (default: istio-system).
            optional --namespace namespace: String
            /// WasmPlugin `imagePullSecret`: a kubernetes.io/dockerconfigjson Secret in the same namespace,
            /// for a private registry (Istio 1.14+, OSSM 2.3+).
            optional --pull-secret secret: String
            /// Write to this file instead of standard output.
            optional -o, --output path: String
        }
        /// Run one HTTP stream through an extension in the built-in host and print what Envoy would do.
        cmd run {
            /// An extension name or a path to a .wasm module.
            required module: String
            /// Every further argument goes to the host's runner, proxy-wasm-run: --config, -H, --body,
            /// --response-header, --callout-response, --json… (`cargo xtask run MODULE --help` lists them).
            repeated args: String
        }
        /// Start a new extension from templates/extension (runs cargo-generate).
        cmd new {
            /// Crate name: lowercase letters, digits and dashes.
            required name: String
            /// Maistra phase: PreAuthN PostAuthN PreAuthZ PostAuthZ PreStats PostStats.
            optional --phase phase: String
            /// Priority within the phase (higher runs first on the request path).
            optional --priority priority: String
            /// Starting point: headers | callout | body.
            optional --kind kind: String
            /// One-line description.
            optional --description text: String
        }
        /// Build every wasm module the tests need, then run every test of the workspace.
        cmd test {
            /// Extra arguments for `cargo test`.
            repeated args: String
        }
    }
}
