//! The process's one I/O runtime: a multi-thread tokio runtime shared by
//! every [`Transport`](crate::transport::Transport) (every dict and object
//! handle, whatever its URL), made at the first open.
//!
//! Its worker threads own the sockets: they receive and parse every
//! response, so threads that call the blocking API at the same time (a
//! dask worker's threads, each fetching its chunk) have their transfers
//! progress in parallel, each caller only copying its body into place.
//! (A current-thread runtime per handle, as before, made every response
//! of a handle be received by whichever calling thread held the runtime,
//! one at a time.) Its threads: as many as the machine has CPUs, at most
//! [`MAX_THREADS`].
//!
//! A forked child does not have the parent's runtime threads: the first
//! open in a child makes the child's own runtime (the parent's is left
//! alone, never dropped), and a handle opened before the fork fails with
//! [`Error::Forked`] in the child instead of waiting for threads that do
//! not exist there.

use std::future::Future;
use std::sync::Mutex;

use tokio::runtime::Runtime;

use crate::error::{Error, Result};

/// The most worker threads the runtime has.
pub(crate) const MAX_THREADS: usize = 4;

/// The runtime of this process (and the process id it was made in).
static SHARED: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// The shared runtime as a transport holds it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IoRuntime {
    rt: &'static Runtime,
    /// The process it belongs to.
    pid: u32,
}

impl IoRuntime {
    /// Runs `f` to completion on the runtime, the calling thread blocked
    /// (`f` itself is polled on it). [`Error::InAsyncContext`] inside an
    /// async runtime; [`Error::Forked`] in a child forked after the handle
    /// was opened.
    pub(crate) fn block_on<F: Future>(&self, url: &str, f: F) -> Result<F::Output> {
        self.check(url)?;
        Ok(self.rt.block_on(f))
    }

    /// The errors of [`IoRuntime::block_on`] before it runs anything:
    /// [`Error::InAsyncContext`] inside an async runtime, [`Error::Forked`]
    /// in a child forked after the handle was opened.
    pub(crate) fn check(&self, url: &str) -> Result<()> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::InAsyncContext);
        }
        if self.pid != std::process::id() {
            return Err(Error::Forked {
                url: url.to_string(),
            });
        }
        Ok(())
    }

    /// Whether `self` and `other` are the same runtime.
    #[cfg(test)]
    pub(crate) fn same(&self, other: &IoRuntime) -> bool {
        std::ptr::eq(self.rt, other.rt)
    }

    /// The runtime's flavour.
    #[cfg(test)]
    pub(crate) fn flavor(&self) -> tokio::runtime::RuntimeFlavor {
        self.rt.handle().runtime_flavor()
    }
}

/// This process's runtime, made at the first call (in this process).
pub(crate) fn shared(url: &str) -> Result<IoRuntime> {
    let pid = std::process::id();
    let mut g = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((p, rt)) = *g {
        if p == pid {
            return Ok(IoRuntime { rt, pid });
        }
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, MAX_THREADS);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("mmpk-remote-io")
        .enable_all()
        .build()
        .map_err(|e| Error::BadUrl {
            url: url.to_string(),
            what: format!("cannot start the I/O runtime: {e}"),
        })?;
    // Kept for the life of the process: transports hold it by reference,
    // and a forked child must never drop its parent's (whose threads it
    // does not have).
    let rt: &'static Runtime = Box::leak(Box::new(rt));
    *g = Some((pid, rt));
    Ok(IoRuntime { rt, pid })
}

#[cfg(test)]
mod tests {
    use crate::options::Options;
    use crate::transport::Transport;

    #[test]
    fn every_handle_shares_the_process_multi_thread_runtime() {
        let o = Options::new();
        let a = Transport::new("http://127.0.0.1:9/a.mmpk", &o).unwrap();
        let b = Transport::new("https://example.org/b.mmpk", &o).unwrap();
        let c = Transport::new("s3://bucket/c.mmpk", &o.clone().s3_region("eu-west-1")).unwrap();
        assert!(
            a.rt.same(&b.rt) && a.rt.same(&c.rt),
            "one runtime per process"
        );
        assert_eq!(
            a.rt.flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread,
            "callers' transfers are received by the runtime's threads, in parallel"
        );
        drop((a, b));
        let d = Transport::new("http://127.0.0.1:9/d.mmpk", &o).unwrap();
        assert!(c.rt.same(&d.rt), "dropping handles keeps the runtime");
    }
}
