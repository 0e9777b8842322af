//! Shared data (key → value with CAS) and shared queues, as cpp-host's `shared_data.cc`/`shared_queue.cc` keep them
//! for one vm_id.

use std::collections::{HashMap, VecDeque};

use crate::abi::Status;

#[derive(Debug, Default)]
pub(crate) struct SharedData {
    entries: HashMap<Vec<u8>, (Vec<u8>, u32)>,
    next_cas: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Queues {
    by_name: HashMap<Vec<u8>, u32>,
    pub(crate) items: HashMap<u32, VecDeque<Vec<u8>>>,
    next_token: u32,
}

impl SharedData {
    pub(crate) fn get(&self, key: &[u8]) -> Option<&(Vec<u8>, u32)> {
        self.entries.get(key)
    }

    /// Stores `value` unless `cas` is non-zero and stale; every write gets a fresh, non-zero CAS. The ABI has no
    /// delete: a "remove" stores an empty value, as Envoy does.
    pub(crate) fn set(&mut self, key: &[u8], value: Vec<u8>, cas: u32) -> Result<(), Status> {
        if let Some((_, current)) = self.entries.get(key)
            && cas != 0
            && cas != *current
        {
            return Err(Status::CasMismatch);
        }
        self.next_cas = self.next_cas.wrapping_add(1).max(1);
        self.entries.insert(key.to_vec(), (value, self.next_cas));
        Ok(())
    }
}

impl Queues {
    /// The token for `name`, creating the queue if new (tokens are never 0).
    pub(crate) fn register(&mut self, name: &[u8]) -> u32 {
        if let Some(token) = self.by_name.get(name) {
            return *token;
        }
        self.next_token += 1;
        self.by_name.insert(name.to_vec(), self.next_token);
        self.items.insert(self.next_token, VecDeque::new());
        self.next_token
    }

    pub(crate) fn resolve(&self, name: &[u8]) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn enqueue(&mut self, token: u32, item: Vec<u8>) -> Result<(), Status> {
        self.items
            .get_mut(&token)
            .ok_or(Status::NotFound)?
            .push_back(item);
        Ok(())
    }

    pub(crate) fn dequeue(&mut self, token: u32) -> Result<Vec<u8>, Status> {
        self.items
            .get_mut(&token)
            .ok_or(Status::NotFound)?
            .pop_front()
            .ok_or(Status::Empty)
    }
}
