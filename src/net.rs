//! The one async runtime, for the few things that touch the network (the Kubernetes API,
//! token endpoints). Built on first use: a lookup served from local files never starts it.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// A current-thread runtime with I/O and timers.
pub fn runtime() -> Result<&'static Runtime, String> {
    RUNTIME
        .get_or_init(|| {
            Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
                .map_err(|error| format!("starting the async runtime: {error}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}
