//! kargo-creds: use the repository credentials Kargo keeps as Kubernetes Secrets from git,
//! docker, podman/skopeo, helm and scripts.
//!
//! One path runs through the crate, pure in the middle and I/O at the edges:
//!
//! ```text
//! stdin ─► protocol (parse) ─► lookup ─► source (list Secrets) ─► resolve (precedence) ─► Match
//!                                                                                          │
//! stdout ◄─ protocol (write) ◄─ Credentials ◄──────── provider (static, minted tokens) ◄───┘
//! ```
//!
//! Where a change belongs:
//!
//! * [`config`] — flags > environment > `config.yaml` > defaults, into one [`config::Settings`].
//! * [`url`] — normalization of git, image and helm URLs (pure).
//! * [`secret`] — the Secret model and credential types; [`sensitive`] — values that never print.
//! * [`source`] — where Secrets come from: the `dir` folder of manifests (with its summary
//!   index) and the `kube` cluster; reads and writes.
//! * [`resolve`] — Kargo's precedence rules and the `--explain` trace (pure: takes Secrets).
//! * [`provider`] — turns the matched Secret into credentials or a mint plan (one file per
//!   provider: basic, ssh, GitHub App, ECR, GAR; `ambient/` for the machine's own AWS, GKE
//!   and Azure identities) and mints over the network.
//! * [`cache`] — the on-disk token cache: lock-protected, one mint per token across processes.
//! * [`lookup`] — the orchestration above, shared by all three binaries.
//! * [`manage`] — creating, changing and showing credential Secrets (`kargo-creds create …`).
//! * [`protocol`] — the git and docker credential-helper wire formats (pure).
//! * [`client_config`] — where docker, helm and git keep the configuration `setup` writes.
//! * [`setup`] — `kargo-creds setup`: the git and docker/helm wiring (pure plans) and the
//!   all-or-nothing writers that apply them.
//! * [`doctor`] — `kargo-creds doctor`: checks and verdicts (the binary gathers the facts).
//! * [`cli`] — the helpers' command lines; completions and man pages generated from them.
//! * [`report`] — how `resolve` shows a lookup; [`log`] — one-line diagnostics on stderr.
//! * [`net`], [`fsutil`], [`timefmt`] — the async runtime and HTTP client, atomic writes, dates.
//! * `fuzzing` (hidden) — the invariant checks the `fuzz/` targets and `tests/fuzz_corpus.rs`
//!   share; not an API.

pub mod cache;
pub mod cli;
pub mod client_config;
pub mod config;
pub mod doctor;
pub mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
pub mod log;
pub mod lookup;
pub mod manage;
pub mod net;
pub mod protocol;
pub mod provider;
pub mod report;
pub mod resolve;
pub mod secret;
pub mod sensitive;
pub mod setup;
pub mod source;
pub mod timefmt;
pub mod url;

/// The version every binary reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
