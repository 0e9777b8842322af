//! Compiled modules: compiled once per process (found again by the module's bytes) and, unless turned off, kept on
//! disk (`<target>/proxy-wasm-host/<sha256>.cwasm`) so the next process skips Cranelift too.
//!
//! Loading compiled code is `unsafe` in wasmtime: the bytes become machine code. An entry is therefore only loaded
//! when its header names the sha256 of the very module being loaded, this engine's fingerprint (wasmtime version
//! and configuration) and the sha256 of the artifact that follows, so a `.cwasm` of another module copied under
//! this one's name, a truncated write or an artifact of another build is recompiled, never run. The directory is
//! made private to the user (0700) and skipped when someone else owns it or it stays open to others.
//!
//! What this does not defend against: anyone who can write the directory as the same user can write a matching
//! header in front of their own machine code (the module's sha256 is public). Such an attacker already runs code as
//! that user, so a private directory is the defence; a shared or world-writable target directory must not be used,
//! or the cache turned off (`PluginBuilder::disk_cache(false)`, `proxy-wasm-run --no-cache`, or the environment
//! variable `PROXY_WASM_HOST_NO_CACHE=1`).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use wasmtime::{InstancePre, Module};

use super::HostState;
use super::vm::{ExportPlan, MAX_TABLE_ELEMENTS, MAX_TABLES, engine};
use crate::spec::AbiVersion;

/// The first bytes of every entry; a new layout gets a new tag, so old entries are recompiled.
const MAGIC: &[u8; 16] = b"proxy-wasm-cw\x00\x00\x01";

/// Magic, module sha256, engine fingerprint, artifact sha256.
const HEADER_LEN: usize = MAGIC.len() + 32 * 3;

/// Where compiled code is read from and written to, if anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DiskCache {
    In(PathBuf),
    Skip,
}

type Key = [u8; 32];

/// A module compiled in this process, shared by every plugin started from the same bytes.
pub(crate) struct Compiled {
    pub(crate) module: Module,
    /// The module's bytes, kept to tell modules apart and for trap reports' function names.
    pub(crate) bytes: Arc<[u8]>,
    /// Tells compiled modules apart in this process (what cpp-host's VM key takes the code's hash for).
    pub(crate) id: u64,
    /// The module linked with the host functions, once: instantiating it then skips resolving imports by name.
    linked: OnceLock<InstancePre<HostState>>,
    /// The Envoy releases (minor versions) known to provide every import the module has.
    imports_provided_by: Mutex<Vec<u32>>,
    /// Where its exports are, or what is missing or wrong: the same for every VM of the module.
    exports: OnceLock<Result<ExportPlan, String>>,
}

impl Compiled {
    /// The module linked by `link`, the first time; the host has one set of host functions per process.
    pub(crate) fn linked(
        &self,
        link: impl FnOnce(&Module) -> wasmtime::Result<InstancePre<HostState>>,
    ) -> wasmtime::Result<&InstancePre<HostState>> {
        if let Some(linked) = self.linked.get() {
            return Ok(linked);
        }
        let linked = link(&self.module)?;
        Ok(self.linked.get_or_init(|| linked))
    }

    /// The module's [`ExportPlan`] (for its own ABI version `abi`), found the first time.
    pub(crate) fn exports(&self, abi: AbiVersion) -> anyhow::Result<&ExportPlan> {
        self.exports
            .get_or_init(|| ExportPlan::new(&self.module, abi).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|message| anyhow::Error::msg(message.clone()))
    }

    /// Whether Envoy 1.`minor` was found to provide all the module's imports (see `remember_imports_provided`).
    pub(crate) fn imports_provided_by(&self, minor: u32) -> bool {
        self.imports_provided_by
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&minor)
    }

    /// Remembers that Envoy 1.`minor` provides all the module's imports: every plugin start checks them, and the
    /// answer cannot change for the same code.
    pub(crate) fn remember_imports_provided(&self, minor: u32) {
        self.imports_provided_by
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(minor);
    }
}

/// The modules compiled in this process, found by a cheap fingerprint of their bytes and then the bytes themselves:
/// a plugin start must not hash the whole module (SHA-256 of a 77 KB module costs about half a start).
#[derive(Default)]
struct InProcess {
    by_fingerprint: HashMap<u64, Vec<Arc<Compiled>>>,
    next_id: u64,
}

impl InProcess {
    fn get(&self, bytes: &[u8]) -> Option<Arc<Compiled>> {
        self.by_fingerprint
            .get(&fingerprint(bytes))?
            .iter()
            .find(|compiled| *compiled.bytes == *bytes)
            .map(Arc::clone)
    }

    fn insert(&mut self, bytes: &[u8], module: Module) -> Arc<Compiled> {
        self.next_id += 1;
        let compiled = Arc::new(Compiled {
            module,
            bytes: bytes.into(),
            id: self.next_id,
            linked: OnceLock::new(),
            imports_provided_by: Mutex::default(),
            exports: OnceLock::new(),
        });
        self.by_fingerprint
            .entry(fingerprint(bytes))
            .or_default()
            .push(Arc::clone(&compiled));
        compiled
    }
}

/// The length and a hash of the first and last 512 bytes: equal for equal bytes, and different for nearly every pair of
/// modules a process meets; the full comparison settles the rest.
fn fingerprint(bytes: &[u8]) -> u64 {
    const EDGE: usize = 512;
    let mut hasher = DefaultHasher::new();
    bytes.len().hash(&mut hasher);
    hasher.write(&bytes[..bytes.len().min(EDGE)]);
    hasher.write(&bytes[bytes.len().saturating_sub(EDGE)..]);
    hasher.finish()
}

/// Compiles `bytes` once per process; with [`DiskCache::In`], through the on-disk cache. One key is compiled by
/// one thread (and, through a lock file, one process) at a time: the others wait and take its result.
pub(crate) fn compile(
    bytes: &[u8],
    disk: &DiskCache,
    deadline: Duration,
) -> anyhow::Result<Arc<Compiled>> {
    static COMPILED: OnceLock<Mutex<InProcess>> = OnceLock::new();
    static KEY_LOCKS: OnceLock<Mutex<HashMap<Key, Arc<Mutex<()>>>>> = OnceLock::new();
    let compiled = COMPILED.get_or_init(Default::default);
    let cached = || {
        compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(bytes)
    };
    if let Some(module) = cached() {
        return Ok(module);
    }
    let key: Key = Sha256::digest(bytes).into();
    let key_lock = Arc::clone(
        KEY_LOCKS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default(),
    );
    let _compiling = key_lock.lock().unwrap_or_else(|e| e.into_inner());
    // Another thread may have compiled it while this one waited.
    if let Some(module) = cached() {
        return Ok(module);
    }
    let disk = match disk {
        DiskCache::In(dir) => CacheDir::open(dir.clone()),
        DiskCache::Skip => None,
    };
    let module = match disk {
        Some(dir) => dir.compile(bytes, &key, deadline)?,
        None => compile_now(bytes, deadline)?,
    };
    Ok(compiled
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(bytes, module))
}

/// Compiles on a thread of its own and waits at most `deadline`: Cranelift cannot be interrupted, so a module that
/// takes longer is refused at once and its compile finishes in the background, unused.
fn compile_now(bytes: &[u8], deadline: Duration) -> anyhow::Result<Module> {
    let (sender, receiver) = mpsc::sync_channel(1);
    let owned = bytes.to_vec();
    std::thread::Builder::new()
        .name("proxy-wasm-compile".into())
        .spawn(move || {
            let _ = sender.send(Module::new(engine(), &owned));
        })
        .context("starting the compile thread")?;
    let compiled = match receiver.recv_timeout(deadline) {
        Ok(compiled) => compiled,
        Err(RecvTimeoutError::Timeout) => bail!(
            "compiling the module ({} bytes) took longer than the {deadline:?} compile deadline; raise \
             `PluginBuilder::compile_deadline` (proxy-wasm-run --compile-deadline) if the module really needs that \
             long",
            bytes.len()
        ),
        Err(RecvTimeoutError::Disconnected) => bail!("the compile thread stopped without a result"),
    };
    compiled.map_err(|e| {
        let error = format!("{e:#}");
        if error.contains("does not fit in pooling allocator requirements") {
            anyhow::anyhow!(
                "compiling the module: {error} (a limit of this host, not of Envoy: each VM's tables and instance \
                 have slots of a fixed size, at most {MAX_TABLES} tables of {MAX_TABLE_ELEMENTS} elements)"
            )
        } else {
            anyhow::anyhow!(
                "compiling the module: {error} (Envoy's Wasm runtimes, and so this host, accept WebAssembly 2.0 \
                 with tail calls, extended constants and relaxed SIMD: not several memories, memory64, threads, \
                 GC, exceptions, wide arithmetic or custom page sizes)"
            )
        }
    })
}

/// The cache directory, checked to be private to this user.
struct CacheDir(PathBuf);

impl CacheDir {
    /// `None` when the directory cannot be made, belongs to someone else, or stays open to others: a recompile costs
    /// time, loading another user's machine code costs the machine.
    fn open(dir: PathBuf) -> Option<CacheDir> {
        let _ = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir);
        let meta = fs::symlink_metadata(&dir).ok()?;
        if !meta.is_dir() || own_uid().is_some_and(|uid| meta.uid() != uid) {
            return None;
        }
        if meta.mode() & 0o077 != 0 {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).ok()?;
        }
        Some(CacheDir(dir))
    }

    /// Loads the entry for `key` if it is one, else compiles and stores it, holding the key's lock file meanwhile.
    fn compile(&self, bytes: &[u8], key: &Key, deadline: Duration) -> anyhow::Result<Module> {
        let hex = hex(key);
        let entry = self.0.join(format!("{hex}.cwasm"));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(self.0.join(format!("{hex}.lock")));
        // Without a lock file (read-only directory) this process still compiles each key once.
        let _locked = lock.ok().filter(|f| f.lock().is_ok());
        if let Some(module) = load(&entry, key) {
            return Ok(module);
        }
        let module = compile_now(bytes, deadline)?;
        self.store(&module, key, &entry);
        Ok(module)
    }

    /// Best effort: a cache that cannot be written only costs the next process a compile.
    fn store(&self, module: &Module, key: &Key, entry: &Path) {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let Ok(artifact) = module.serialize() else {
            return;
        };
        let temp = self.0.join(format!(
            ".{}.{}.{}.tmp",
            hex(key),
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| -> std::io::Result<()> {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(&header(key, &artifact))?;
            file.write_all(&artifact)?;
            file.sync_all()?;
            fs::rename(&temp, entry)?;
            // The rename itself reaches the disk with the directory.
            File::open(&self.0)?.sync_all()
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
    }
}

/// The module in `entry`, if its header says it was compiled from the module `key` names, by this engine, and the
/// artifact is intact.
fn load(entry: &Path, key: &Key) -> Option<Module> {
    let file = fs::read(entry).ok()?;
    let (head, artifact) = file.split_at_checked(HEADER_LEN)?;
    if head != header(key, artifact) {
        return None;
    }
    // SAFETY: the artifact is the one `store` wrote for this module (its sha256 and the module's are in the
    // header) with this engine (its fingerprint is too), in a directory only this user can write; wasmtime checks
    // its own version and configuration again.
    unsafe { Module::deserialize(engine(), artifact) }.ok()
}

fn header(key: &Key, artifact: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(key);
    header.extend_from_slice(engine_fingerprint());
    header.extend_from_slice(&Sha256::digest(artifact));
    header
}

/// The sha256 of what makes compiled code loadable: this crate's and wasmtime's compatibility hash (version,
/// compiler settings, enabled features).
fn engine_fingerprint() -> &'static Key {
    static FINGERPRINT: OnceLock<Key> = OnceLock::new();
    FINGERPRINT.get_or_init(|| {
        struct Sha256Hasher(Sha256);
        impl Hasher for Sha256Hasher {
            fn finish(&self) -> u64 {
                0
            }
            fn write(&mut self, bytes: &[u8]) {
                self.0.update(bytes);
            }
        }
        let mut hasher = Sha256Hasher(Sha256::new());
        hasher.write(env!("CARGO_PKG_VERSION").as_bytes());
        std::hash::Hash::hash(&engine().precompile_compatibility_hash(), &mut hasher);
        hasher.0.finalize().into()
    })
}

/// The effective uid of this process (the owner of `/proc/self`), where procfs is mounted.
fn own_uid() -> Option<u32> {
    fs::metadata("/proc/self").ok().map(|m| m.uid())
}

fn hex(key: &Key) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}
