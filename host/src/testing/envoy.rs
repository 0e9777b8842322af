//! One Envoy process for several plugins: what they share.

use std::sync::{Arc, Mutex};

use crate::envoy::{SharedProcess, StartCache};

/// One Envoy process. Plugins started on it with [`PluginBuilder::on`](super::PluginBuilder::on) share shared data
/// and shared queues per vm_id, as Envoy's worker threads and plugins with the same vm_id do: start the same plugin
/// twice to model two workers, or a producer and a consumer plugin that talk through a queue. A plugin started
/// without one has a process of its own.
///
/// It also remembers start-ups as Envoy's process does: a plugin started again with the same vm_id, VM
/// configuration, module, name, root_id and configuration (a second worker) runs neither the base VM's
/// `_initialize` nor the configuration canary again.
///
/// `on_queue_ready` for a queue another plugin registered is posted to that plugin, as Envoy posts it to the
/// registering thread's dispatcher: it runs when the test next uses that plugin (any method, `logs()` included).
///
/// ```no_run
/// use host::testing::{Envoy, Plugin};
///
/// let envoy = Envoy::new();
/// let worker_1 = Plugin::extension("my-filter").vm_id("rate").on(&envoy).start().unwrap();
/// let worker_2 = Plugin::extension("my-filter").vm_id("rate").on(&envoy).start().unwrap();
/// // Both workers see one shared-data store for vm_id "rate".
/// # let _ = (worker_1, worker_2);
/// ```
#[derive(Clone, Default)]
pub struct Envoy {
    pub(crate) process: SharedProcess,
    pub(crate) starts: Arc<Mutex<StartCache>>,
}

impl Envoy {
    pub fn new() -> Envoy {
        Envoy::default()
    }

    /// A shared-data value and its CAS for `vm_id`.
    pub fn shared_data(&self, vm_id: &str, key: &str) -> Option<(Vec<u8>, u32)> {
        self.process
            .lock()
            .get(vm_id.as_bytes(), key.as_bytes())
            .cloned()
    }
}
