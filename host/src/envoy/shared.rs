//! Shared data (key → value with CAS) and shared queues, as cpp-host's `shared_data.cc`/`shared_queue.cc` keep them:
//! process-wide, partitioned by vm_id. Plugins started on one [`crate::testing::Envoy`] share a [`Process`]; a
//! plugin started alone gets a process of its own.

use std::collections::{HashMap, VecDeque};

use crate::spec::Status;

/// One vm_id's shared data: key → (value, CAS).
type Entries = HashMap<Vec<u8>, (Vec<u8>, u32)>;

/// What one Envoy process keeps across its VMs.
#[derive(Debug, Default)]
pub(crate) struct Process {
    data: HashMap<Vec<u8>, Entries>,
    /// The bytes of keys and values each vm_id's shared data holds.
    data_bytes: HashMap<Vec<u8>, usize>,
    /// One counter for every vm_id, as cpp-host's global CAS.
    next_cas: u32,
    queues: Queues,
    next_plugin: u64,
    /// `on_queue_ready` notifications posted to each plugin's dispatcher, delivered at its next verb or `Plugin::dispatch`.
    pending: HashMap<u64, VecDeque<u32>>,
}

#[derive(Debug, Default)]
struct Queues {
    by_name: HashMap<(Vec<u8>, Vec<u8>), u32>,
    queues: HashMap<u32, Queue>,
    next_token: u32,
}

#[derive(Debug)]
struct Queue {
    items: VecDeque<Vec<u8>>,
    /// The bytes of `items`.
    bytes: usize,
    /// The plugin whose root context registered the queue (it hears `on_queue_ready`).
    owner: u64,
}

impl Process {
    /// A new plugin's id in this process.
    pub(crate) fn join(&mut self) -> u64 {
        self.next_plugin += 1;
        self.next_plugin
    }

    pub(crate) fn get(&self, vm_id: &[u8], key: &[u8]) -> Option<&(Vec<u8>, u32)> {
        self.data.get(vm_id)?.get(key)
    }

    /// Stores `value` unless `cas` is non-zero and stale; every write gets a fresh, non-zero CAS. The ABI has no
    /// delete: a "remove" stores an empty value, as Envoy does.
    pub(crate) fn set(
        &mut self,
        vm_id: &[u8],
        key: &[u8],
        value: Vec<u8>,
        cas: u32,
    ) -> Result<(), Status> {
        let entries = self.data.entry(vm_id.to_vec()).or_default();
        if let Some((_, current)) = entries.get(key)
            && cas != 0
            && cas != *current
        {
            return Err(Status::CasMismatch);
        }
        self.next_cas = self.next_cas.wrapping_add(1).max(1);
        let added = key.len() + value.len();
        let replaced = entries
            .insert(key.to_vec(), (value, self.next_cas))
            .map_or(0, |(old, _)| key.len() + old.len());
        let bytes = self.data_bytes.entry(vm_id.to_vec()).or_default();
        *bytes = (*bytes + added).saturating_sub(replaced);
        Ok(())
    }

    /// The bytes of keys and values `vm_id`'s shared data holds.
    pub(crate) fn data_bytes(&self, vm_id: &[u8]) -> usize {
        self.data_bytes.get(vm_id).copied().unwrap_or(0)
    }

    /// The token of queue (`vm_id`, `name`), creating it if new (tokens are never 0); `plugin` becomes the one
    /// notified, as re-registering moves the notification target in cpp-host.
    pub(crate) fn register(&mut self, vm_id: &[u8], name: &[u8], plugin: u64) -> u32 {
        let q = &mut self.queues;
        let key = (vm_id.to_vec(), name.to_vec());
        if let Some(&token) = q.by_name.get(&key) {
            if let Some(queue) = q.queues.get_mut(&token) {
                queue.owner = plugin;
            }
            return token;
        }
        q.next_token += 1;
        q.by_name.insert(key, q.next_token);
        q.queues.insert(
            q.next_token,
            Queue {
                items: VecDeque::new(),
                bytes: 0,
                owner: plugin,
            },
        );
        q.next_token
    }

    pub(crate) fn resolve(&self, vm_id: &[u8], name: &[u8]) -> Option<u32> {
        self.queues
            .by_name
            .get(&(vm_id.to_vec(), name.to_vec()))
            .copied()
    }

    /// Queue `token`'s name as `"vm_id"/"name"`, for messages.
    pub(crate) fn queue_name(&self, token: u32) -> String {
        self.queues
            .by_name
            .iter()
            .find(|(_, t)| **t == token)
            .map_or_else(
                || "(unknown)".to_string(),
                |((vm_id, name), _)| {
                    format!(
                        "{:?}/{:?}",
                        String::from_utf8_lossy(vm_id),
                        String::from_utf8_lossy(name)
                    )
                },
            )
    }

    /// The bytes queue `token` holds.
    pub(crate) fn queue_bytes(&self, token: u32) -> Result<usize, Status> {
        Ok(self
            .queues
            .queues
            .get(&token)
            .ok_or(Status::NotFound)?
            .bytes)
    }

    /// Appends `item`; returns the plugin to notify.
    pub(crate) fn enqueue(&mut self, token: u32, item: Vec<u8>) -> Result<u64, Status> {
        let queue = self.queues.queues.get_mut(&token).ok_or(Status::NotFound)?;
        queue.bytes += item.len();
        queue.items.push_back(item);
        Ok(queue.owner)
    }

    pub(crate) fn dequeue(&mut self, token: u32) -> Result<Vec<u8>, Status> {
        let queue = self.queues.queues.get_mut(&token).ok_or(Status::NotFound)?;
        let item = queue.items.pop_front().ok_or(Status::Empty)?;
        queue.bytes -= item.len();
        Ok(item)
    }

    /// Posts `on_queue_ready(token)` to another plugin of this process.
    pub(crate) fn post(&mut self, plugin: u64, token: u32) {
        self.pending.entry(plugin).or_default().push_back(token);
    }

    /// The notifications posted to `plugin` since it last ran.
    pub(crate) fn take_posted(&mut self, plugin: u64) -> Option<VecDeque<u32>> {
        // Every test step asks; nearly always nothing was posted.
        if self.pending.is_empty() {
            return None;
        }
        self.pending.remove(&plugin)
    }
}
