//! A child process under a deadline (a credential helper, the runner under `check`), with its pipes read on threads
//! so that neither a full pipe nor a pipe left open by a grandchild can keep the caller waiting.

use std::{
    io::Read,
    process::Child,
    sync::mpsc,
    time::{Duration, Instant},
};

/// Kills the child's whole process group (the child and everything it started) and reaps the child.
pub fn kill_group(child: &mut Child) {
    // The group's id is the child's pid (`process_group(0)`); it is not reused while the child is unreaped
    // or while any member lives.
    if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory of ours.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for the child until `deadline`; `None` when it is still running then (the caller stops it).
pub fn wait_until(
    child: &mut Child,
    deadline: Instant,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child's pipe, read to the end on a thread (both pipes at once, or a full one stalls the child).
pub struct PipeReader(mpsc::Receiver<Vec<u8>>);

impl PipeReader {
    /// Everything the pipe held, or `None` when it is still open at `deadline`.
    pub fn until(&self, deadline: Instant) -> Option<Vec<u8>> {
        self.0
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .ok()
    }
}

pub fn reader(pipe: Option<impl Read + Send + 'static>) -> PipeReader {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = send.send(bytes);
    });
    PipeReader(receive)
}

/// A timeout in whole seconds from the environment variable `name`, or `default` when it is unset.
pub fn timeout_from_env(name: &str, default: Duration) -> anyhow::Result<Duration> {
    use anyhow::Context as _;
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .ok()
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .with_context(|| {
                format!("{name} must be a whole number of seconds above 0, found `{value}`")
            }),
        Err(_) => Ok(default),
    }
}
