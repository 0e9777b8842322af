//! The names of a module's functions, by function index, and where they come from.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use wasmparser::{KnownCustom, Name, Parser, Payload};

/// Where the host looks for a module's names twin.
#[derive(Debug, Clone, Default)]
pub(crate) enum NamesTwin {
    /// No file: the module's own name section, if it has one.
    #[default]
    None,
    /// `<stem>.names.wasm` beside the module file, used if it is there.
    Beside(PathBuf),
    /// A file the user named (`PluginBuilder::names`, `--names`): it must be there and match.
    File(PathBuf),
}

impl NamesTwin {
    /// `plugin.names.wasm` for `plugin.wasm`: the file `cargo xtask build` writes.
    pub(crate) fn beside(module: &Path) -> NamesTwin {
        let stem = module
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        NamesTwin::Beside(module.with_file_name(format!("{stem}.names.wasm")))
    }
}

/// Where a trap report's function names came from, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamesSource {
    /// The module's own `name` section.
    Module,
    /// The names twin at this path.
    Twin(PathBuf),
    /// None: why, and how to get them.
    Missing(String),
}

impl fmt::Display for NamesSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamesSource::Module => write!(f, "names from the module's name section"),
            NamesSource::Twin(path) => write!(f, "names from {}", path.display()),
            NamesSource::Missing(why) => write!(f, "no function names: {why}"),
        }
    }
}

/// Function names by index in the module's function index space (imports first), as the name section has them.
/// Read at the first trap only: a plugin that never traps (most loads, and every fuzz case but the findings) does
/// not pay for parsing its names.
#[derive(Debug)]
pub(crate) struct FunctionNames {
    module: Arc<[u8]>,
    twin: NamesTwin,
    resolved: OnceLock<Resolved>,
}

#[derive(Debug)]
struct Resolved {
    names: HashMap<u32, String>,
    source: NamesSource,
}

impl FunctionNames {
    pub(crate) fn new(module: Arc<[u8]>, twin: &NamesTwin) -> FunctionNames {
        FunctionNames {
            module,
            twin: twin.clone(),
            resolved: OnceLock::new(),
        }
    }

    /// Where the names come from, or why there are none.
    pub(crate) fn source(&self) -> &NamesSource {
        &self.resolved().source
    }

    /// The demangled name of function `index`, if known.
    pub(crate) fn name(&self, index: u32) -> Option<String> {
        self.resolved()
            .names
            .get(&index)
            .map(|name| format!("{:#}", rustc_demangle::demangle(name)))
    }

    fn resolved(&self) -> &Resolved {
        self.resolved
            .get_or_init(|| Resolved::for_module(&self.module, &self.twin))
    }
}

impl Resolved {
    /// The names for `module`: from its twin when there is one that matches, else from its own name section.
    fn for_module(module: &[u8], twin: &NamesTwin) -> Resolved {
        let from_twin = match twin {
            NamesTwin::None => None,
            NamesTwin::Beside(path) if !path.is_file() => None,
            NamesTwin::Beside(path) | NamesTwin::File(path) => {
                Some(Resolved::from_twin(module, path))
            }
        };
        if let Some(names) = from_twin {
            return names;
        }
        let own = function_names(module);
        if !own.is_empty() {
            return Resolved {
                names: own,
                source: NamesSource::Module,
            };
        }
        let why = match twin {
            NamesTwin::Beside(path) => format!(
                "the module keeps none and there is no names twin at {} (`cargo xtask build` writes \
                 plugin.names.wasm beside plugin.wasm; name another file with PluginBuilder::names or --names)",
                path.display()
            ),
            _ => "the module keeps none and no names twin was given (`cargo xtask build` writes plugin.names.wasm \
                  beside plugin.wasm: pass it with PluginBuilder::names or --names)"
                .to_owned(),
        };
        Resolved::missing(why)
    }

    fn from_twin(module: &[u8], path: &Path) -> Resolved {
        let twin = match std::fs::read(path) {
            Ok(twin) => twin,
            Err(e) => {
                return Resolved::missing(format!(
                    "cannot read the names twin {}: {e}",
                    path.display()
                ));
            }
        };
        // Only the same module with names added has its functions at the same indices.
        if sections_but_custom(&twin) != sections_but_custom(module) {
            return Resolved::missing(format!(
                "{} is not this module with names (their code differs: one of them is from another build); \
                 build both again with `cargo xtask build`",
                path.display()
            ));
        }
        let names = function_names(&twin);
        if names.is_empty() {
            return Resolved::missing(format!(
                "the names twin {} has no name section",
                path.display()
            ));
        }
        Resolved {
            names,
            source: NamesSource::Twin(path.to_path_buf()),
        }
    }

    fn missing(why: String) -> Resolved {
        Resolved {
            names: HashMap::new(),
            source: NamesSource::Missing(why),
        }
    }
}

/// Every section but the custom ones, as raw bytes: equal for a module and its names twin.
fn sections_but_custom(module: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    Parser::new(0)
        .parse_all(module)
        .filter_map(|payload| match payload {
            Ok(payload) => payload
                .as_section()
                .filter(|(id, _)| *id != 0)
                .map(|(id, range)| Ok((id, &module[range.start as usize..range.end as usize]))),
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_, _>>()
        .ok()
}

/// The function names of the module's name section (empty if it has none or it does not parse).
fn function_names(module: &[u8]) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    for payload in Parser::new(0).parse_all(module) {
        let Ok(Payload::CustomSection(section)) = payload else {
            continue;
        };
        let KnownCustom::Name(reader) = section.as_known() else {
            continue;
        };
        for subsection in reader.into_iter().flatten() {
            if let Name::Function(map) = subsection {
                for naming in map.into_iter().flatten() {
                    names.insert(naming.index, naming.name.to_owned());
                }
            }
        }
    }
    names
}
