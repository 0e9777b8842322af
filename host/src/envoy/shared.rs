//! Shared data (key → value with CAS) and shared queues, as cpp-host's `shared_data.cc`/`shared_queue.cc` keep them:
//! process-wide, partitioned by vm_id. Plugins started on one [`crate::testing::Envoy`] share a [`Process`]; a
//! plugin started alone gets a process of its own.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::budget::entry_cost;
use super::{BudgetExceeded, HostState, Refusal};
use crate::spec::Status;

/// One [`Process`] as the plugins on it hold it: cpp-host guards shared data and queues with one mutex, because
/// Envoy's worker threads reach them at once (a dev proxy's workers do too).
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedProcess(Arc<Guarded>);

#[derive(Debug, Default)]
struct Guarded {
    process: Mutex<Process>,
    /// Whether notifications are posted to any plugin, changed under the lock: every verb of every plugin asks for
    /// its own, nearly always in vain, and this answers that without the lock. A post from another thread seen a
    /// verb late is still delivered, as a dispatcher's post is, after the step that made it.
    posted: AtomicBool,
}

impl SharedProcess {
    /// A panic elsewhere leaves the maps consistent (every change is one insert or remove), so a poisoned lock is
    /// still read.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Process> {
        self.0
            .process
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Posts `on_queue_ready(token)` to another plugin of this process, in `process` (this one, locked).
    fn post(&self, process: &mut Process, plugin: u64, token: u32) {
        process.pending.entry(plugin).or_default().push_back(token);
        self.0.posted.store(true, Ordering::Release);
    }

    /// The notifications posted to `plugin` since it last ran.
    fn take_posted(&self, plugin: u64) -> Option<VecDeque<u32>> {
        if !self.0.posted.load(Ordering::Acquire) {
            return None;
        }
        let mut process = self.lock();
        let taken = process.pending.remove(&plugin);
        self.0
            .posted
            .store(!process.pending.is_empty(), Ordering::Release);
        taken
    }
}

/// One vm_id's shared data: key → (value, CAS).
type Entries = HashMap<Vec<u8>, (Vec<u8>, u32)>;

/// What one Envoy process keeps across its VMs.
#[derive(Debug, Default)]
pub(crate) struct Process {
    data: HashMap<Vec<u8>, Entries>,
    /// The bytes of keys and values each vm_id's shared data holds, with [`super::budget::ENTRY_OVERHEAD`] for each
    /// entry.
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
    /// The bytes the names registered under each vm_id hold (queues are never unregistered).
    registered_bytes: HashMap<Vec<u8>, usize>,
    queues: HashMap<u32, Queue>,
    next_token: u32,
}

#[derive(Debug)]
struct Queue {
    items: VecDeque<Vec<u8>>,
    /// The bytes of `items`, with [`super::budget::ENTRY_OVERHEAD`] for each.
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
        let added = entry_cost(key.len() + value.len());
        let replaced = entries
            .insert(key.to_vec(), (value, self.next_cas))
            .map_or(0, |(old, _)| entry_cost(key.len() + old.len()));
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
        *q.registered_bytes.entry(vm_id.to_vec()).or_default() += entry_cost(name.len());
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

    /// The bytes of the queue names registered under `vm_id`.
    pub(crate) fn registered_bytes(&self, vm_id: &[u8]) -> usize {
        self.queues
            .registered_bytes
            .get(vm_id)
            .copied()
            .unwrap_or(0)
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
        queue.bytes += entry_cost(item.len());
        queue.items.push_back(item);
        Ok(queue.owner)
    }

    pub(crate) fn dequeue(&mut self, token: u32) -> Result<Vec<u8>, Status> {
        let queue = self.queues.queues.get_mut(&token).ok_or(Status::NotFound)?;
        let item = queue.items.pop_front().ok_or(Status::Empty)?;
        queue.bytes -= entry_cost(item.len());
        Ok(item)
    }
}

/// What one VM asks of its process: shared data and queues under its own vm_id, charged to its byte budget.
impl HostState {
    /// `proxy_get_shared_data` under this VM's vm_id: the value and its CAS.
    pub(crate) fn shared_data(&self, key: &[u8]) -> Option<(Vec<u8>, u32)> {
        let process = self.process.lock();
        process.get(self.settings.vm_id.as_bytes(), key).cloned()
    }

    /// Checked before a `proxy_set_shared_data` of `bytes` is copied: shared data outlives every stream, so a
    /// vm_id's may hold what the writer's byte budget allows.
    pub(crate) fn check_shared_data_room(&self, bytes: usize) -> Result<(), BudgetExceeded> {
        let held = self
            .process
            .lock()
            .data_bytes(self.settings.vm_id.as_bytes());
        self.budget
            .check_entry_beside("a shared data entry", held, bytes)
    }

    /// `proxy_set_shared_data` under this VM's vm_id (`cas` 0 writes unconditionally).
    pub(crate) fn set_shared_data(
        &self,
        key: &[u8],
        value: Vec<u8>,
        cas: u32,
    ) -> Result<(), Status> {
        let vm_id = self.settings.vm_id.as_bytes();
        self.process.lock().set(vm_id, key, value, cas)
    }

    /// Checked before a `proxy_register_shared_queue` of a `bytes` name is copied: queues are never removed, so
    /// the names under a vm_id may take what the registering plugin's byte budget allows.
    pub(crate) fn check_queue_registration_room(&self, bytes: usize) -> Result<(), BudgetExceeded> {
        let held = self
            .process
            .lock()
            .registered_bytes(self.settings.vm_id.as_bytes());
        self.budget
            .check_entry_beside("a shared queue registration", held, bytes)
    }

    /// `proxy_register_shared_queue`: this VM's root context hears `on_queue_ready` for it.
    pub(crate) fn register_queue(&self, name: &[u8]) -> u32 {
        let vm_id = self.settings.vm_id.as_bytes();
        self.process.lock().register(vm_id, name, self.plugin_id)
    }

    /// `proxy_resolve_shared_queue`; an empty vm_id means this VM's own.
    pub(crate) fn resolve_queue(&self, vm_id: &[u8], name: &[u8]) -> Option<u32> {
        let vm_id = if vm_id.is_empty() {
            self.settings.vm_id.as_bytes()
        } else {
            vm_id
        };
        self.process.lock().resolve(vm_id, name)
    }

    /// Checked before an item of `bytes` is copied into queue `token`: a queue nobody drains would grow without
    /// end, so it may hold what the plugin's byte budget allows.
    pub(crate) fn check_queue_room(&self, token: u32, bytes: usize) -> Result<(), Refusal> {
        let held = self.process.lock().queue_bytes(token)?;
        Ok(self
            .budget
            .check_entry_beside("a shared queue item", held, bytes)?)
    }

    /// `proxy_enqueue_shared_queue`: cpp-host (`SharedQueue::enqueue`, `call_on_thread`) posts the notification to
    /// the registering VM's dispatcher, so it runs after the current step here, or at that plugin's next verb.
    pub(crate) fn enqueue(&mut self, token: u32, item: Vec<u8>) -> Result<(), Status> {
        let mut process = self.process.lock();
        let owner = process.enqueue(token, item)?;
        if owner == self.plugin_id {
            drop(process);
            self.queue_ready.push_back(token);
        } else {
            self.process.post(&mut process, owner, token);
        }
        Ok(())
    }

    /// `proxy_dequeue_shared_queue`.
    pub(crate) fn dequeue(&self, token: u32) -> Result<Vec<u8>, Status> {
        self.process.lock().dequeue(token)
    }

    /// Moves what other plugins posted to this VM's dispatcher into its queue of notifications; whether any came.
    pub(crate) fn take_posted(&mut self) -> bool {
        let posted = self.process.take_posted(self.plugin_id);
        match posted {
            Some(tokens) => {
                self.queue_ready.extend(tokens);
                true
            }
            None => false,
        }
    }
}
