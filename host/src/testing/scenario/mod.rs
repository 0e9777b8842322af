//! Scenario files: several streams through one plugin, each with what it should produce, written as data (YAML)
//! instead of Rust, as Google's Service Extensions tester takes them. `proxy-wasm-run MODULE --scenario FILE`
//! (`cargo xtask run … --scenario FILE`) plays one and prints pass/fail for each stream; a test plays the same file
//! with [`Scenario::from_file`] and [`Scenario::run`]. Every stream is played by the dry run's player
//! ([`super::play`]), and its inputs take the values the runner's flags take.

mod expect;
mod file;

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::play::{self, Inputs};
use super::{Plugin, printable_line};

pub use expect::Mismatch;
use file::{ScenarioFile, StreamSpec};

/// A scenario file, read and checked: its values are parsed, its `@FILE`s read (relative to the file).
#[derive(Debug)]
pub struct Scenario {
    path: PathBuf,
    file: ScenarioFile,
    /// The plugin configuration, read.
    config: Option<Vec<u8>>,
    vm_config: Option<Vec<u8>>,
    /// Each stream's name, inputs and expectations.
    streams: Vec<(String, Inputs, expect::Expect)>,
}

impl Scenario {
    /// Reads the YAML scenario at `path`; an error names the file, the field and the fix.
    pub fn from_file(path: impl AsRef<Path>) -> anyhow::Result<Scenario> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the scenario file `{}`", path.display()))?;
        let base = path.parent().unwrap_or(Path::new(""));
        Scenario::from_yaml(&text, base)
            .map(|s| Scenario {
                path: path.to_owned(),
                ..s
            })
            .with_context(|| format!("scenario file `{}`", path.display()))
    }

    /// Reads a scenario from YAML text; its `@FILE`s are read relative to `base`.
    pub fn from_yaml(text: &str, base: &Path) -> anyhow::Result<Scenario> {
        let file: ScenarioFile =
            serde_norway::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        if file.kind != play::Kind::Http {
            anyhow::bail!(
                "`kind: {}`: scenario files play HTTP streams only so far; run a {} plugin with the runner's \
                 flags (`--kind {}`) or from a Rust test",
                file.kind.name(),
                file.kind.name(),
                file.kind.name()
            );
        }
        if file.streams.is_empty() {
            anyhow::bail!(
                "`streams` is empty: give at least one stream (`streams: [{{name: …}}]`)"
            );
        }
        let read = |value: &Option<String>, field: &str| {
            value
                .as_deref()
                .map(|v| play::values::text_or_file(v, base))
                .transpose()
                .map_err(|e| anyhow::anyhow!("`{field}`: {e}"))
        };
        let config = read(&file.config, "config")?;
        let vm_config = read(&file.vm_config, "vm_config")?;
        let mut streams = Vec::new();
        for (i, stream) in file.streams.iter().enumerate() {
            let name = stream
                .name
                .clone()
                .unwrap_or_else(|| format!("stream {}", i + 1));
            let inputs = stream
                .inputs(&file, base)
                .and_then(|inputs| Ok((inputs, stream.expect.read(base)?)))
                .map_err(|e| anyhow::anyhow!("`streams[{i}]` ({name}): {e}"))?;
            streams.push((name, inputs.0, inputs.1));
        }
        Ok(Scenario {
            path: PathBuf::new(),
            file,
            config,
            vm_config,
            streams,
        })
    }

    /// Starts `module` as the file configures it and plays each stream in order on it (shared data, counters and
    /// virtual time carry over from one stream to the next, as on one Envoy worker). An error means the plugin did
    /// not start or a gRPC answer in JSON does not fit its call; a stream whose expectations fail is in the
    /// [`ScenarioOutcome`].
    pub fn run(&self, module: impl AsRef<Path>) -> Result<ScenarioOutcome, RunError> {
        let module = module.as_ref();
        let mut builder = Plugin::load(module).log_level(self.file.log_level.level());
        if let Some(config) = &self.config {
            builder = builder.config(config);
        }
        if let Some(config) = &self.vm_config {
            builder = builder.vm_config(config);
        }
        if let Some(root_id) = &self.file.root_id {
            builder = builder.root_id(root_id);
        }
        if let Some(vm_id) = &self.file.vm_id {
            builder = builder.vm_id(vm_id);
        }
        builder = match &self.file.clusters {
            Some(clusters) => {
                let clusters: Vec<&str> = clusters.iter().map(String::as_str).collect();
                builder.clusters(&clusters)
            }
            None => builder.any_cluster(),
        };
        let plugin = builder.start().map_err(|e| {
            RunError::NotStarted(format!(
                "the plugin did not start: {}\nthe plugin's reason: {}",
                printable_line(&e.to_string()),
                printable_line(e.reason())
            ))
        })?;
        let mut streams = Vec::new();
        for (name, inputs, expect) in &self.streams {
            let logs_before = plugin.logs().len();
            let run = play::play(&plugin, inputs).map_err(|e| {
                RunError::BadAnswer(format!("stream `{name}`: `grpc_responses`: {e}"))
            })?;
            let logs: Vec<String> = plugin.logs()[logs_before..]
                .iter()
                .map(|l| l.message.clone())
                .collect();
            let mismatches = expect.check(&run, &logs, &plugin);
            streams.push(StreamOutcome {
                name: name.clone(),
                mismatches,
                notes: run.notes,
            });
        }
        Ok(ScenarioOutcome {
            scenario: self.path.clone(),
            module: module.to_owned(),
            streams,
        })
    }
}

/// Why a scenario could not be played to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The module did not load or the plugin refused its configuration: the host's error and the plugin's reason.
    NotStarted(String),
    /// A gRPC answer in JSON does not fit the call it answers.
    BadAnswer(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::NotStarted(why) | RunError::BadAnswer(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for RunError {}

/// What a scenario's streams did against their expectations.
#[derive(Debug)]
pub struct ScenarioOutcome {
    /// The file played (empty for [`Scenario::from_yaml`]).
    pub scenario: PathBuf,
    pub module: PathBuf,
    pub streams: Vec<StreamOutcome>,
}

/// One stream: passed when nothing differs from what it expected.
#[derive(Debug)]
pub struct StreamOutcome {
    pub name: String,
    pub mismatches: Vec<Mismatch>,
    /// The player's notes on the stream (why no upstream response was played, a pending callout…).
    pub notes: Vec<String>,
}

impl StreamOutcome {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

impl ScenarioOutcome {
    /// Every stream met its expectations.
    pub fn passed(&self) -> bool {
        self.streams.iter().all(StreamOutcome::passed)
    }

    /// The streams that did not.
    pub fn failures(&self) -> impl Iterator<Item = &StreamOutcome> {
        self.streams.iter().filter(|s| !s.passed())
    }

    /// `PASS`/`FAIL` a stream, each failure with what differs (expected, then got), and a count.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for stream in &self.streams {
            if stream.passed() {
                let _ = writeln!(out, "PASS  {}", stream.name);
                continue;
            }
            let _ = writeln!(out, "FAIL  {}", stream.name);
            for mismatch in &stream.mismatches {
                for line in mismatch.to_string().lines() {
                    let _ = writeln!(out, "      {line}");
                }
            }
            for note in &stream.notes {
                let _ = writeln!(out, "      note: {note}");
            }
        }
        let failed = self.failures().count();
        let _ = writeln!(
            out,
            "{} of {} streams passed{}",
            self.streams.len() - failed,
            self.streams.len(),
            if failed == 0 {
                String::new()
            } else {
                format!(", {failed} failed")
            }
        );
        out
    }

    /// Panics with [`ScenarioOutcome::text`] unless every stream passed.
    pub fn assert_passed(&self) {
        let name = match self.scenario.as_os_str().is_empty() {
            true => String::new(),
            false => format!(" `{}`", self.scenario.display()),
        };
        assert!(self.passed(), "scenario{name} failed:\n{}", self.text());
    }
}

impl StreamSpec {
    fn inputs(&self, file: &ScenarioFile, base: &Path) -> Result<Inputs, String> {
        let headers = |given: &[String]| -> Result<Vec<(String, String)>, String> {
            given.iter().map(|h| play::values::header(h)).collect()
        };
        let body = |whole: &Option<String>, chunks: &Option<Vec<String>>, field: &str| match (
            whole, chunks,
        ) {
            (Some(_), Some(_)) => Err(format!("give `{field}` or `{field}_chunks`, not both")),
            (Some(whole), None) => Ok(vec![play::values::text_or_file(whole, base)?]),
            (None, Some(chunks)) => chunks
                .iter()
                .map(|c| play::values::text_or_file(c, base))
                .collect(),
            (None, None) => Ok(Vec::new()),
        };
        let mut callout_answers = Vec::new();
        for answer in &self.callout_responses {
            callout_answers.push(answer.read(base)?);
        }
        let grpc_answers = self
            .grpc_responses
            .iter()
            .map(|a| play::values::grpc_answer(a, base))
            .collect::<Result<_, _>>()?;
        let time = |value: &Option<String>| value.as_deref().map(play::values::advance).transpose();
        Ok(Inputs {
            kind: file.kind,
            request_headers: headers(&self.headers)?,
            request_body: body(&self.body, &self.body_chunks, "body")?,
            request_trailers: headers(&self.trailers)?,
            response_headers: headers(&self.response_headers)?,
            response_body: body(
                &self.response_body,
                &self.response_body_chunks,
                "response_body",
            )?,
            response_trailers: headers(&self.response_trailers)?,
            callout_answers,
            grpc_answers,
            grpc_services: grpc_json::Services::envoy(),
            before_request: time(&self.before_request)?,
            advance_time: time(&self.advance_time)?,
            any_cluster: file.clusters.is_none(),
            ..Inputs::default()
        })
    }
}
