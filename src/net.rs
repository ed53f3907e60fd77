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

/// The HTTP client for token endpoints: rustls with the system's roots (and
/// `SSL_CERT_FILE`), proxies from the environment, the configured timeouts, a
/// `User-Agent` (GitHub refuses requests without one), and no redirects.
pub fn http_client(
    connect_timeout: std::time::Duration,
    request_timeout: std::time::Duration,
) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(concat!("kargo-creds/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        // A token endpoint that redirects is not followed: a 307/308 would re-send the
        // request body (a web identity token, a signed assertion) to wherever it points.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| format!("setting up HTTPS: {}", describe_http_error(&error)))
}

/// An HTTP failure in one line, its innermost causes included ("connection refused",
/// "operation timed out") but never a URL's credentials (reqwest strips them).
pub fn describe_http_error(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "no answer in time".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    let mut last = None;
    while let Some(cause) = source {
        last = Some(cause.to_string());
        source = cause.source();
    }
    if let Some(cause) = last {
        text.push_str(": ");
        text.push_str(&cause);
    }
    text
}
