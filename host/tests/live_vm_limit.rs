//! The most VMs one process keeps alive at once (the pooling allocator's slots): past it a start fails with a
//! message that says so, and a slot freed by a dropped plugin is usable again. A binary of its own, because
//! filling every slot would fail the starts of tests running beside it.

use host::testing::*;

/// The smallest module that starts: one page of memory, an allocator, a root context that accepts any configuration.
const IDLE: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1)))
"#;

/// Far more plugins than the slots hold (each plugin has at least a base and a worker VM).
const TOO_MANY_PLUGINS: usize = 2000;

#[test]
fn a_start_past_the_live_vm_limit_fails_naming_it_and_a_dropped_plugin_frees_its_slots() {
    let module = wat::parse_str(IDLE).expect("valid WAT");
    let mut alive = Vec::new();
    let error = loop {
        assert!(
            alive.len() < TOO_MANY_PLUGINS,
            "{TOO_MANY_PLUGINS} plugins started: the host kept no limit on live VMs (its pool of about 4 TiB of \
             address space could not be reserved here, see `ulimit -v`, or the limit was removed)"
        );
        match Plugin::from_bytes(module.clone()).start() {
            Ok(plugin) => alive.push(plugin),
            Err(error) => break error,
        }
    };
    assert!(
        alive.len() >= 250,
        "only {} plugins started before the limit",
        alive.len()
    );
    assert_eq!(error.failure, StartFailure::Load, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("this process already runs 1000 VMs, the most the host keeps at once")
            && message.contains("drop the plugins that are no longer needed, or run fewer workers")
            && message.contains("maximum concurrent limit of 1000 for core instances reached"),
        "{message}"
    );

    alive.truncate(alive.len() - 1);
    Plugin::from_bytes(module)
        .start()
        .expect("a dropped plugin's VMs free their slots for the next start");
}
