# The image `cargo xtask package` writes, built by a container engine from the build context it
# leaves in target/extensions/<name>/context (manifest.yaml + plugin.wasm):
#
#   docker build -f Dockerfile -t NAME:VERSION target/extensions/NAME/context
#   podman build -f Dockerfile -t NAME:VERSION target/extensions/NAME/context
#   buildah bud -f Dockerfile -t NAME:VERSION target/extensions/NAME/context
#
# One COPY makes one layer holding /manifest.yaml (Maistra ServiceMeshExtension) and /plugin.wasm
# (Istio WasmPlugin). Engines stamp the current time, so only the xtask's own image is
# byte-reproducible.
FROM scratch
COPY . /
