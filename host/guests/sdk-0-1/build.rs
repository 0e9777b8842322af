//! SDK 0.1.3 declares its host functions without `#[link(wasm_import_module = "env")]`; current rustc does
//! not let the wasm linker turn undefined symbols into `env` imports by default, so this crate asks for it (and only
//! for wasm: native linkers do not know the flag).

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo::rustc-link-arg-cdylib=--allow-undefined");
    }
}
