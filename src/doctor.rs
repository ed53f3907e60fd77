//! `kargo-creds doctor` (SPEC §9): is this machine set up to hand out Kargo credentials?
//!
//! Each check ends in one [`Check`]: a verdict (ok, warn, fail), the check's name, what was
//! found and, for warn and fail, the fix (a command or a setting). This module is the pure
//! part: it turns facts the caller gathered (settings, the API server's answers, `git config`
//! output, the docker config's text, two clocks) into checks and renders them. Gathering —
//! running git, reading files, asking servers, always bounded — is
//! `bin/kargo-creds/doctor.rs` and [`crate::source::kube::KubeSource::probe`].
//!
//! Nothing here sees a secret value: the dir source is reported by counts, the cluster by
//! access reviews, the docker config by its `credHelpers`/`credsStore` keys only.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::cache::CacheError;
use crate::client_config::{DOCKER_HELPER_PROGRAM, DOCKER_HELPER_SUFFIX, GIT_HELPER_PROGRAM};
use crate::config::{Settings, SourceKind};
use crate::source::dir::Inventory;
use crate::source::kube::{Access, Probe, ProbeError};
use crate::source::SourceError;

/// Clock skew beyond this earns a warning: GitHub App JWTs are issued at now − 60 s, so a
/// clock much further off than half of that margin is one bad day away from failing.
pub const SKEW_WARN_SECONDS: i64 = 30;
/// Clock skew beyond this fails: GitHub rejects the JWTs, and cloud tokens look expired.
pub const SKEW_FAIL_SECONDS: i64 = 300;

/// Stands for the user's host or registry in suggested `setup` commands.
const HOST_PLACEHOLDER: &str = "HOST";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// One check's outcome: one line of `doctor`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    #[serde(rename = "check")]
    pub name: String,
    #[serde(rename = "status")]
    pub verdict: Verdict,
    pub found: String,
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(name: &str, found: impl Into<String>) -> Check {
        Check {
            name: name.to_owned(),
            verdict: Verdict::Ok,
            found: found.into(),
            fix: None,
        }
    }

    pub fn warn(name: &str, found: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            verdict: Verdict::Warn,
            fix: Some(fix.into()),
            ..Check::ok(name, found)
        }
    }

    pub fn fail(name: &str, found: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            verdict: Verdict::Fail,
            ..Check::warn(name, found, fix)
        }
    }
}

/// True when any check failed (`doctor` then exits 1).
pub fn any_failed(checks: &[Check]) -> bool {
    checks.iter().any(|check| check.verdict == Verdict::Fail)
}

/// One line per check: `ok   source     …`, `warn cache      …; fix: chmod 700 …`.
pub fn render_text(checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|check| check.name.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for check in checks {
        out.push_str(&format!(
            "{:<4}  {:<width$}  {}",
            check.verdict.as_str(),
            check.name,
            one_line(&check.found)
        ));
        if let Some(fix) = &check.fix {
            out.push_str("; fix: ");
            out.push_str(&one_line(fix));
        }
        out.push('\n');
    }
    out
}

/// `{"ok": bool, "checks": [{"check", "status", "found", "fix"}…]}`.
pub fn render_json(checks: &[Check]) -> Value {
    serde_json::json!({ "ok": !any_failed(checks), "checks": checks })
}

/// Server messages may carry newlines; a check is one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------
// source
// ---------------------------------------------------------------------------------------

/// Which source is in use and why (SPEC §3's order of precedence).
pub fn source_check(settings: &Settings) -> Check {
    let place = match settings.source {
        SourceKind::Dir => format!("dir ({})", settings.secrets_dir.display()),
        SourceKind::Kubernetes => match &settings.kube_context {
            Some(context) => format!("kubernetes (context {context})"),
            None => "kubernetes (kubeconfig or in-cluster)".to_owned(),
        },
    };
    let namespaces = match (&settings.project, &settings.shared_namespace) {
        (Some(project), Some(shared)) => format!("project {project}, then shared {shared}"),
        (Some(project), None) => format!("project {project} only (no shared namespace)"),
        (None, Some(shared)) => format!("shared {shared} only (no --project / KARGO_PROJECT)"),
        (None, None) => "no namespace at all".to_owned(),
    };
    let found = format!(
        "{place}, because: {}; searching {namespaces}",
        settings.source_reason
    );
    if settings.namespaces().is_empty() {
        Check::fail(
            "source",
            found,
            "set --project / KARGO_PROJECT, or a shared namespace (--shared-namespace)",
        )
    } else {
        Check::ok("source", found)
    }
}

// ---------------------------------------------------------------------------------------
// kubernetes / secrets folder
// ---------------------------------------------------------------------------------------

/// The API server's reachability, then one check per namespace: may we list Secrets there?
pub fn kube_checks(probe: &Result<Probe, ProbeError>, settings: &Settings) -> Vec<Check> {
    const NAME: &str = "kubernetes";
    let probe = match probe {
        Ok(probe) => probe,
        Err(error @ ProbeError::Config(_)) => {
            return vec![Check::fail(
                NAME,
                error.to_string(),
                "point KUBECONFIG at a kubeconfig (or pass --kube-context), run inside a Pod with a service account, or use --source dir",
            )]
        }
        Err(error @ ProbeError::Unreachable { server, .. }) => {
            return vec![Check::fail(
                NAME,
                error.to_string(),
                format!(
                    "check the server address in the kubeconfig and the network path to {server} (kubectl --request-timeout=5s version); timeouts: KARGO_CREDS_CONNECT_TIMEOUT, KARGO_CREDS_REQUEST_TIMEOUT"
                ),
            )]
        }
        Err(error @ ProbeError::Refused { status, .. }) => {
            let fix = if *status == 401 {
                "renew the kubeconfig's credentials (log in to the cluster again), or choose another --kube-context"
            } else {
                "check the API server's health (kubectl get --raw /readyz)"
            };
            return vec![Check::fail(NAME, error.to_string(), fix)];
        }
    };
    let mut checks = vec![Check::ok(
        NAME,
        format!(
            "API server {} answers{}",
            probe.server,
            probe
                .version
                .as_ref()
                .map(|version| format!(" ({version})"))
                .unwrap_or_default()
        ),
    )];
    for (namespace, access) in &probe.access {
        let role = if settings.project.as_deref() == Some(namespace) {
            "project"
        } else {
            "shared"
        };
        checks.push(match access {
            Access::Allowed => Check::ok(
                "namespace",
                format!("may list Secrets in {namespace} ({role})"),
            ),
            Access::Denied { reason } => Check::fail(
                "namespace",
                format!(
                    "may not list Secrets in namespace {namespace} ({role}): {}",
                    reason.trim()
                ),
                rbac_fix(namespace),
            ),
            Access::Unknown { error } => Check::warn(
                "namespace",
                format!(
                    "could not ask whether Secrets in {namespace} ({role}) are readable: {error}"
                ),
                format!("kubectl auth can-i list secrets -n {namespace}"),
            ),
        });
    }
    checks
}

/// A Role granting `get` and `list` on Secrets, bound to whoever runs kargo-creds.
fn rbac_fix(namespace: &str) -> String {
    format!(
        "grant get and list on secrets in {namespace}: kubectl create role kargo-creds-reader -n {namespace} --verb=get,list --resource=secrets && kubectl create rolebinding kargo-creds-reader -n {namespace} --role=kargo-creds-reader --serviceaccount=NAMESPACE:NAME (or --user=NAME)"
    )
}

/// The secrets folder: there, readable, how many Secrets; files too open are a warning.
pub fn dir_check(dir: &Path, inventory: &Result<Inventory, SourceError>) -> Check {
    const NAME: &str = "secrets";
    let inventory = match inventory {
        Ok(inventory) => inventory,
        Err(error @ SourceError::MissingFolder { .. }) => {
            return Check::fail(
                NAME,
                error.to_string(),
                format!(
                    "mkdir -p {} and put Secret manifests there, or use --source kubernetes",
                    dir.display()
                ),
            )
        }
        Err(error) => {
            return Check::fail(
                NAME,
                error.to_string(),
                format!("make {} readable (chmod u+rx)", dir.display()),
            )
        }
    };
    let total: usize = inventory.secrets.values().sum();
    let per_namespace = inventory
        .secrets
        .iter()
        .map(|(namespace, count)| format!("{namespace}: {count}"))
        .collect::<Vec<_>>()
        .join(", ");
    let found = format!(
        "{}: {total} Secret(s) in {} file(s){}",
        dir.display(),
        inventory.files,
        if per_namespace.is_empty() {
            String::new()
        } else {
            format!(" ({per_namespace})")
        }
    );
    match inventory.exposed.first() {
        Some(first) => Check::warn(
            NAME,
            format!(
                "{found}; {} file(s) readable by group or others, e.g. {first}",
                inventory.exposed.len()
            ),
            format!("chmod -R go-rwx {}", dir.display()),
        ),
        None => Check::ok(NAME, found),
    }
}

// ---------------------------------------------------------------------------------------
// cache
// ---------------------------------------------------------------------------------------

/// Looks at the token cache folder (one `stat`) and judges it with [`cache_check`].
pub fn inspect_cache(dir: &Path, no_cache: bool) -> Check {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(dir).ok();
    let open_mode = metadata
        .as_ref()
        .filter(|metadata| {
            metadata.uid() == crate::cache::effective_uid() && metadata.mode() & 0o022 != 0
        })
        .map(|metadata| metadata.mode() & 0o7777);
    cache_check(
        dir,
        no_cache,
        metadata.is_some(),
        &crate::cache::TokenCache::check_safe(dir),
        open_mode,
    )
}

/// The token cache folder, as the cache itself judges it ([`crate::cache::TokenCache::check_safe`]).
/// `open_mode`: the folder's mode when it is ours but group/other-writable (a chmod fixes it).
pub fn cache_check(
    dir: &Path,
    no_cache: bool,
    exists: bool,
    verdict: &Result<(), CacheError>,
    open_mode: Option<u32>,
) -> Check {
    const NAME: &str = "cache";
    if no_cache {
        return Check::ok(
            NAME,
            format!(
                "switched off (--no-cache / KARGO_CREDS_NO_CACHE): every get mints afresh; folder {}",
                dir.display()
            ),
        );
    }
    match (verdict, open_mode) {
        (Ok(()), _) if exists => Check::ok(NAME, format!("{} is private", dir.display())),
        (Ok(()), _) => Check::ok(
            NAME,
            format!(
                "{} does not exist yet (made 0700 on first use)",
                dir.display()
            ),
        ),
        (Err(_), Some(mode)) => Check::warn(
            NAME,
            format!(
                "{} is writable by group or others (mode {mode:04o}): the token cache refuses it",
                dir.display()
            ),
            format!("chmod 700 {}", dir.display()),
        ),
        (Err(error), None) => Check::warn(
            NAME,
            error.to_string(),
            "use a folder of your own: --cache-dir DIR or KARGO_CREDS_CACHE_DIR",
        ),
    }
}

// ---------------------------------------------------------------------------------------
// git
// ---------------------------------------------------------------------------------------

/// One entry of `git config -z --get-regexp …`, in the order git reads its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitEntry {
    pub key: String,
    /// `None` for a bare `key` line (no `=`), which git reads as true.
    pub value: Option<String>,
}

/// Parses `git config -z --get-regexp` output: `key\nvalue\0` per entry (`key\0` when the
/// entry has no value).
pub fn parse_git_config_z(output: &str) -> Vec<GitEntry> {
    output
        .split('\0')
        .filter(|record| !record.is_empty())
        .map(|record| match record.split_once('\n') {
            Some((key, value)) => GitEntry {
                key: key.to_owned(),
                value: Some(value.to_owned()),
            },
            None => GitEntry {
                key: record.to_owned(),
                value: None,
            },
        })
        .collect()
}

/// For a `credential.<url>.helper` key, `Some(Some(url))`; for `credential.helper`,
/// `Some(None)`; otherwise `None`. (git lower-cases the section and the variable name.)
pub fn helper_scope(key: &str) -> Option<Option<&str>> {
    let rest = key.strip_prefix("credential.")?;
    if rest == "helper" {
        return Some(None);
    }
    rest.strip_suffix(".helper").map(Some)
}

/// Whether a `credential.helper` value runs git-credential-kargo (by path, or git's short
/// form `kargo`, which git expands to `git credential-kargo`).
pub fn is_our_git_helper(value: &str) -> bool {
    let value = value.trim();
    let first = value.split_whitespace().next().unwrap_or_default();
    first == "kargo"
        || Path::new(first).file_name().and_then(|name| name.to_str()) == Some(GIT_HELPER_PROGRAM)
        || (value.starts_with('!') && value.contains(GIT_HELPER_PROGRAM))
}

/// What git runs for a helper value (gitcredentials(7)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelperProgram {
    /// `!…`: a shell snippet, not checked.
    Shell,
    /// An absolute path.
    Path(String),
    /// `git credential-<name>`: `git-credential-<name>` on PATH.
    Named(String),
}

pub fn helper_program(value: &str) -> HelperProgram {
    let value = value.trim();
    if value.starts_with('!') {
        return HelperProgram::Shell;
    }
    let first = value.split_whitespace().next().unwrap_or_default();
    if Path::new(first).is_absolute() {
        HelperProgram::Path(first.to_owned())
    } else {
        HelperProgram::Named(format!("git-credential-{first}"))
    }
}

/// Whether a `credential.<pattern>.*` entry applies to `url`, as git matches them
/// (scheme and host equal ignoring case, `*.` wildcards per host label, port equal, the
/// pattern's path a prefix of the URL's by whole segments, a user in the pattern must match).
pub fn credential_url_matches(pattern: &str, url: &str) -> bool {
    let (Some(pattern), Some(url)) = (split_url(pattern), split_url(url)) else {
        return false;
    };
    let hosts_match = {
        let wanted: Vec<&str> = pattern.host.split('.').collect();
        let actual: Vec<&str> = url.host.split('.').collect();
        wanted.len() == actual.len()
            && wanted
                .iter()
                .zip(&actual)
                .all(|(w, a)| *w == "*" || w.eq_ignore_ascii_case(a))
    };
    let path_matches = {
        let wanted = pattern.path.trim_matches('/');
        let actual = url.path.trim_matches('/');
        wanted.is_empty()
            || actual == wanted
            || actual
                .strip_prefix(wanted)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    pattern.scheme.eq_ignore_ascii_case(url.scheme)
        && hosts_match
        && pattern.port == url.port
        && (pattern.user.is_none() || pattern.user == url.user)
        && path_matches
}

struct UrlParts<'a> {
    scheme: &'a str,
    user: Option<&'a str>,
    host: &'a str,
    port: Option<&'a str>,
    path: &'a str,
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, host_port)) => (Some(user), host_port),
        None => (None, authority),
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (host, Some(port))
        }
        _ => (host_port, None),
    };
    Some(UrlParts {
        scheme,
        user,
        host,
        port,
        path,
    })
}

/// The helpers git asks for `url`, in order: every matching `credential.*helper` entry in
/// the order git reads them, an empty value clearing the list so far (gitcredentials(7)).
pub fn effective_helpers(entries: &[GitEntry], url: Option<&str>) -> Vec<String> {
    let mut helpers = Vec::new();
    for entry in entries {
        let applies = match (helper_scope(&entry.key), url) {
            (Some(None), _) => true,
            (Some(Some(pattern)), Some(url)) => credential_url_matches(pattern, url),
            _ => false,
        };
        if !applies {
            continue;
        }
        match entry.value.as_deref().map(str::trim) {
            Some("") => helpers.clear(),
            Some(value) => helpers.push(value.to_owned()),
            None => {}
        }
    }
    helpers
}

/// The URLs (or `None`: every URL) whose `credential.helper` runs git-credential-kargo,
/// each once, in order.
pub fn wired_git_scopes(entries: &[GitEntry]) -> Vec<Option<String>> {
    let mut scopes: Vec<Option<String>> = Vec::new();
    for entry in entries {
        let (Some(scope), Some(value)) = (helper_scope(&entry.key), &entry.value) else {
            continue;
        };
        let scope = scope.map(str::to_owned);
        if is_our_git_helper(value) && !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes
}

/// What git says about one wired URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitScopeFacts {
    /// `git config --get-urlmatch credential.helper URL` (or `--get` for every URL).
    pub resolved_helper: Option<String>,
    /// `credential.useHttpPath` as git resolves it for the URL (`--type=bool`).
    pub use_http_path: Option<String>,
    /// Whether the program our helper entry names exists (None: not checkable).
    pub program_found: Option<bool>,
    /// The program, for messages.
    pub program: String,
}

/// One check for one wired URL.
pub fn git_scope_check(scope: Option<&str>, helpers: &[String], facts: &GitScopeFacts) -> Check {
    const NAME: &str = "git";
    let label = scope.unwrap_or("every URL");
    let host = scope
        .and_then(split_url)
        .map(|url| match url.port {
            Some(port) => format!("{}:{port}", url.host),
            None => url.host.to_owned(),
        })
        .unwrap_or_else(|| HOST_PLACEHOLDER.to_owned());
    let setup = format!("kargo-creds setup git --host {host}");
    let config_key = |name: &str| match scope {
        Some(url) => format!("credential.{url}.{name}"),
        None => format!("credential.{name}"),
    };
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    match facts.resolved_helper.as_deref() {
        Some(value) if is_our_git_helper(value) => {}
        Some(value) => {
            problems.push(format!(
                "git resolves {} to another helper ({value})",
                config_key("helper")
            ));
            fixes.push(setup.clone());
        }
        None => {
            problems.push(format!("git resolves no {}", config_key("helper")));
            fixes.push(setup.clone());
        }
    }
    let others: Vec<&String> = helpers
        .iter()
        .filter(|helper| !is_our_git_helper(helper))
        .collect();
    if !others.is_empty() {
        let first_is_ours = helpers.first().is_some_and(|h| is_our_git_helper(h));
        problems.push(format!(
            "{} also run{} ({}): no empty `helper =` reset before ours{}",
            if others.len() == 1 {
                "another helper"
            } else {
                "other helpers"
            },
            if others.len() == 1 { "s" } else { "" },
            others
                .iter()
                .map(|h| h.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if first_is_ours {
                ", so they store our short-lived tokens"
            } else {
                ", and one answers first"
            }
        ));
        if !fixes.contains(&setup) {
            fixes.push(setup.clone());
        }
    }
    if facts.use_http_path.as_deref() != Some("true") {
        problems.push(format!(
            "{} is not true: only host-wide Secrets can match",
            config_key("useHttpPath")
        ));
        fixes.push(format!(
            "git config --global {} true",
            config_key("useHttpPath")
        ));
    }
    if facts.program_found == Some(false) {
        problems.push(format!(
            "{} is not installed where git looks for it",
            facts.program
        ));
        fixes.push("install it (cargo install --locked --path .) or fix the helper's path".into());
    }
    if problems.is_empty() {
        Check::ok(
            NAME,
            format!("{label}: git-credential-kargo answers first, useHttpPath on"),
        )
    } else {
        Check::warn(
            NAME,
            format!("{label}: {}", problems.join("; ")),
            fixes.join("; "),
        )
    }
}

/// The git line when no helper entry runs git-credential-kargo.
pub fn git_not_wired() -> Check {
    Check::warn(
        "git",
        "not wired: no credential.<url>.helper runs git-credential-kargo",
        format!("kargo-creds setup git --host {HOST_PLACEHOLDER}"),
    )
}

/// The git line when git itself is missing.
pub fn git_missing(reason: &str) -> Check {
    Check::warn(
        "git",
        format!("git is not available ({reason}): cannot check its wiring"),
        "install git",
    )
}

// ---------------------------------------------------------------------------------------
// docker / helm
// ---------------------------------------------------------------------------------------

/// Which client config: docker's `config.json` or helm's registry config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Docker,
    Helm,
}

impl ClientKind {
    fn name(self) -> &'static str {
        match self {
            ClientKind::Docker => "docker",
            ClientKind::Helm => "helm",
        }
    }

    fn setup(self) -> String {
        match self {
            ClientKind::Docker => format!("kargo-creds setup docker --registry {HOST_PLACEHOLDER}"),
            ClientKind::Helm => {
                format!("kargo-creds setup docker --helm --registry {HOST_PLACEHOLDER}")
            }
        }
    }
}

/// The client config's wiring. `text`: the file's contents (`None`: it does not exist).
/// `helper_on_path`: whether `docker-credential-kargo` is on PATH.
pub fn client_config_check(
    kind: ClientKind,
    path: Option<&Path>,
    text: Result<Option<&str>, String>,
    helper_on_path: bool,
) -> Check {
    let name = kind.name();
    let Some(path) = path else {
        return Check::warn(
            name,
            "cannot tell where its config lives (HOME is not set)",
            "set HOME, or DOCKER_CONFIG / HELM_REGISTRY_CONFIG",
        );
    };
    let shown = path.display();
    let text = match text {
        Err(error) => {
            return Check::warn(
                name,
                format!("cannot read {shown}: {error}"),
                format!("make {shown} readable"),
            )
        }
        Ok(None) if kind == ClientKind::Helm => {
            return Check::ok(
                name,
                format!(
                    "not wired ({shown} does not exist); optional: {}",
                    kind.setup()
                ),
            )
        }
        Ok(None) => {
            return Check::warn(
                name,
                format!("not wired: {shown} does not exist"),
                kind.setup(),
            )
        }
        Ok(Some(text)) => text,
    };
    let config: Value = match serde_json::from_str(text) {
        Ok(config @ Value::Object(_)) => config,
        Ok(_) => {
            return Check::warn(
                name,
                format!("{shown} is not a JSON object"),
                format!("fix {shown}, then {}", kind.setup()),
            )
        }
        Err(error) => {
            return Check::warn(
                name,
                format!("{shown} is not valid JSON: {error}"),
                format!("fix {shown}, then {}", kind.setup()),
            )
        }
    };
    let ours: Vec<&str> = config["credHelpers"]
        .as_object()
        .map(|helpers| {
            helpers
                .iter()
                .filter(|(_, helper)| helper.as_str() == Some(DOCKER_HELPER_SUFFIX))
                .map(|(registry, _)| registry.as_str())
                .collect()
        })
        .unwrap_or_default();
    let store = config["credsStore"].as_str().filter(|s| !s.is_empty());
    let store_is_ours = store == Some(DOCKER_HELPER_SUFFIX);
    let store_note = match store {
        Some(_) if store_is_ours => {
            "; credsStore is kargo: every registry asks docker-credential-kargo".to_owned()
        }
        Some(store) => format!(
            "; credsStore {store:?} answers for every registry not in credHelpers (it shadows none of ours)"
        ),
        None => String::new(),
    };
    if ours.is_empty() && !store_is_ours {
        return Check::warn(
            name,
            format!("not wired: no credHelpers entry in {shown} names kargo{store_note}"),
            kind.setup(),
        );
    }
    let registries = if ours.is_empty() {
        "every registry".to_owned()
    } else {
        ours.join(", ")
    };
    if !helper_on_path {
        return Check::warn(
            name,
            format!(
                "{shown} sends {registries} to {DOCKER_HELPER_PROGRAM}, which is not on PATH{store_note}"
            ),
            format!(
                "put {DOCKER_HELPER_PROGRAM} on PATH (cargo install --locked --path . installs it into ~/.cargo/bin)"
            ),
        );
    }
    Check::ok(
        name,
        format!("{shown}: kargo answers for {registries}{store_note}"),
    )
}

// ---------------------------------------------------------------------------------------
// clock
// ---------------------------------------------------------------------------------------

/// Seconds the local clock is off from `server_date` (positive: the local clock is behind).
pub fn skew_seconds(server_date: i64, local_date: i64) -> i64 {
    server_date - local_date
}

/// The local clock against a server's `Date` header. `reference`: which server, for messages.
pub fn clock_check(reference: &str, server_date: Option<i64>, local_date: i64) -> Check {
    const NAME: &str = "clock";
    let Some(server_date) = server_date else {
        return Check::warn(
            NAME,
            format!("{reference} sent no usable Date header: clock not compared"),
            "compare `date -u` with a trusted clock; keep NTP on (timedatectl set-ntp true)",
        );
    };
    let skew = skew_seconds(server_date, local_date);
    let direction = if skew > 0 { "behind" } else { "ahead of" };
    let found = format!("local clock is {} s {direction} {reference}", skew.abs());
    let fix = "synchronize the clock (timedatectl set-ntp true, or chronyc makestep)";
    match skew.abs() {
        0 => Check::ok(NAME, format!("local clock agrees with {reference}")),
        magnitude if magnitude <= SKEW_WARN_SECONDS => Check::ok(NAME, found),
        magnitude if magnitude <= SKEW_FAIL_SECONDS => Check::warn(
            NAME,
            format!(
                "{found}: more than {SKEW_WARN_SECONDS} s; GitHub App JWTs (issued at now - 60 s) fail beyond about 60 s"
            ),
            fix,
        ),
        _ => Check::fail(
            NAME,
            format!(
                "{found}: more than {SKEW_FAIL_SECONDS} s; GitHub App JWTs are refused and token expiry is misjudged"
            ),
            fix,
        ),
    }
}

/// The clock line when there was nothing to compare with.
pub fn clock_not_compared(why: &str) -> Check {
    Check::ok("clock", format!("not compared: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_render_one_line_each_with_the_fix() {
        let checks = vec![
            Check::ok("source", "dir (/s)"),
            Check::warn("cache", "open\nfolder", "chmod 700 /c"),
            Check::fail("kubernetes", "down", "start it"),
        ];
        let text = render_text(&checks);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "ok    source      dir (/s)");
        assert_eq!(lines[1], "warn  cache       open folder; fix: chmod 700 /c");
        assert_eq!(lines[2], "fail  kubernetes  down; fix: start it");
        assert!(any_failed(&checks));
        assert!(!any_failed(&checks[..2]));
        let json = render_json(&checks);
        assert_eq!(json["ok"], false);
        assert_eq!(json["checks"].as_array().map(Vec::len), Some(3));
        assert_eq!(json["checks"][1]["status"], "warn");
        assert_eq!(json["checks"][1]["check"], "cache");
        assert_eq!(json["checks"][0]["fix"], Value::Null);
    }

    #[test]
    fn clock_thresholds() {
        let now = 1_700_000_000;
        for (skew, verdict) in [
            (0, Verdict::Ok),
            (SKEW_WARN_SECONDS, Verdict::Ok),
            (-SKEW_WARN_SECONDS, Verdict::Ok),
            (SKEW_WARN_SECONDS + 1, Verdict::Warn),
            (-120, Verdict::Warn),
            (SKEW_FAIL_SECONDS, Verdict::Warn),
            (SKEW_FAIL_SECONDS + 1, Verdict::Fail),
            (-3600, Verdict::Fail),
        ] {
            let check = clock_check("API server x", Some(now + skew), now);
            assert_eq!(check.verdict, verdict, "skew {skew}: {check:?}");
        }
        let behind = clock_check("x", Some(now + 120), now);
        assert!(behind.found.contains("120 s behind x"), "{behind:?}");
        let ahead = clock_check("x", Some(now - 120), now);
        assert!(ahead.found.contains("120 s ahead of x"), "{ahead:?}");
        assert_eq!(clock_check("x", None, now).verdict, Verdict::Warn);
    }

    #[test]
    fn git_config_output_is_parsed() {
        let output = "credential.helper\nstore\0credential.https://github.com.helper\n\0credential.https://github.com.helper\n/usr/bin/git-credential-kargo --project p\0credential.https://github.com.usehttppath\ntrue\0credential.bare\0";
        let entries = parse_git_config_z(output);
        assert_eq!(entries.len(), 5);
        assert_eq!(entries[1].value.as_deref(), Some(""));
        assert_eq!(entries[4].value, None);
        assert_eq!(helper_scope(&entries[0].key), Some(None));
        assert_eq!(
            helper_scope(&entries[1].key),
            Some(Some("https://github.com"))
        );
        assert_eq!(helper_scope(&entries[3].key), None);
        assert_eq!(
            wired_git_scopes(&entries),
            vec![Some("https://github.com".to_owned())]
        );
        assert_eq!(
            effective_helpers(&entries, Some("https://github.com")),
            vec!["/usr/bin/git-credential-kargo --project p"]
        );
        // Without the reset, the global store answers first.
        let unreset: Vec<GitEntry> = entries
            .iter()
            .filter(|e| e.value.as_deref() != Some(""))
            .cloned()
            .collect();
        assert_eq!(
            effective_helpers(&unreset, Some("https://github.com")),
            vec!["store", "/usr/bin/git-credential-kargo --project p"]
        );
        assert_eq!(
            effective_helpers(&entries, Some("https://gitlab.com")),
            vec!["store"]
        );
    }

    #[test]
    fn our_helper_is_recognized_in_every_spelling() {
        for ours in [
            "kargo",
            "kargo --project p",
            "/usr/local/bin/git-credential-kargo",
            "/opt/x/git-credential-kargo --project p",
            "!/opt/x/git-credential-kargo \"$@\"",
        ] {
            assert!(is_our_git_helper(ours), "{ours}");
        }
        for theirs in [
            "store",
            "cache --timeout 60",
            "/usr/bin/git-credential-kargox",
            "",
        ] {
            assert!(!is_our_git_helper(theirs), "{theirs}");
        }
        assert_eq!(
            helper_program("/a/git-credential-kargo --project p"),
            HelperProgram::Path("/a/git-credential-kargo".into())
        );
        assert_eq!(
            helper_program("kargo"),
            HelperProgram::Named("git-credential-kargo".into())
        );
        assert_eq!(helper_program("!f() { :; }; f"), HelperProgram::Shell);
    }

    #[test]
    fn credential_urls_match_as_git_matches_them() {
        for (pattern, url, expected) in [
            ("https://github.com", "https://github.com", true),
            ("https://github.com", "https://GitHub.com/org/repo", true),
            (
                "https://github.com/org",
                "https://github.com/org/repo",
                true,
            ),
            (
                "https://github.com/org",
                "https://github.com/organ/repo",
                false,
            ),
            ("https://github.com", "http://github.com", false),
            ("https://127.0.0.1:8443", "https://127.0.0.1:8443", true),
            ("https://127.0.0.1:8443", "https://127.0.0.1", false),
            ("https://*.example.com", "https://git.example.com", true),
            ("https://*.example.com", "https://example.com", false),
            ("https://bob@host", "https://host", false),
            ("not a url", "https://host", false),
        ] {
            assert_eq!(
                credential_url_matches(pattern, url),
                expected,
                "{pattern} vs {url}"
            );
        }
    }

    fn facts(helper: &str, use_http_path: &str) -> GitScopeFacts {
        GitScopeFacts {
            resolved_helper: Some(helper.into()),
            use_http_path: Some(use_http_path.into()),
            program_found: Some(true),
            program: "/b/git-credential-kargo".into(),
        }
    }

    #[test]
    fn git_scope_verdicts() {
        let ours = "/b/git-credential-kargo".to_owned();
        let url = Some("https://github.com");
        let healthy = git_scope_check(url, std::slice::from_ref(&ours), &facts(&ours, "true"));
        assert_eq!(healthy.verdict, Verdict::Ok, "{healthy:?}");

        let first = git_scope_check(url, &["store".into(), ours.clone()], &facts(&ours, "true"));
        assert_eq!(first.verdict, Verdict::Warn);
        assert!(first.found.contains("store"), "{first:?}");
        assert!(first.found.contains("answers first"), "{first:?}");
        assert_eq!(
            first.fix.as_deref(),
            Some("kargo-creds setup git --host github.com")
        );

        let no_path = git_scope_check(url, std::slice::from_ref(&ours), &facts(&ours, "false"));
        assert_eq!(no_path.verdict, Verdict::Warn);
        assert!(no_path
            .fix
            .unwrap()
            .contains("git config --global credential.https://github.com.useHttpPath true"));

        let other = git_scope_check(url, &[], &facts("store", "true"));
        assert!(other.found.contains("another helper (store)"), "{other:?}");

        let mut missing = facts(&ours, "true");
        missing.program_found = Some(false);
        let missing = git_scope_check(url, std::slice::from_ref(&ours), &missing);
        assert!(missing.found.contains("not installed"), "{missing:?}");
    }

    #[test]
    fn docker_config_wiring() {
        let path = Path::new("/h/.docker/config.json");
        let check = |text: Result<Option<&str>, String>, on_path: bool| {
            client_config_check(ClientKind::Docker, Some(path), text, on_path)
        };
        let wired = r#"{"auths": {"x": {"auth": "c2VjcmV0"}}, "credHelpers": {"ghcr.io": "kargo", "gcr.io": "gcloud"}}"#;
        let ok = check(Ok(Some(wired)), true);
        assert_eq!(ok.verdict, Verdict::Ok, "{ok:?}");
        assert!(ok.found.contains("ghcr.io") && !ok.found.contains("gcr.io,"));
        assert!(!ok.found.contains("c2VjcmV0"));
        assert_eq!(check(Ok(Some(wired)), false).verdict, Verdict::Warn);
        let missing = check(Ok(None), true);
        assert_eq!(missing.verdict, Verdict::Warn);
        assert!(missing.found.contains("not wired"));
        assert!(missing.fix.unwrap().contains("kargo-creds setup docker"));
        let other = check(Ok(Some(r#"{"credsStore": "desktop"}"#)), true);
        assert_eq!(other.verdict, Verdict::Warn);
        assert!(other.found.contains("desktop"), "{other:?}");
        let store = check(Ok(Some(r#"{"credsStore": "kargo"}"#)), true);
        assert_eq!(store.verdict, Verdict::Ok, "{store:?}");
        assert_eq!(check(Ok(Some("{not json")), true).verdict, Verdict::Warn);
        let helm = client_config_check(ClientKind::Helm, Some(path), Ok(None), true);
        assert_eq!(helm.verdict, Verdict::Ok);
        assert!(helm.found.contains("not wired"));
    }

    #[test]
    fn cache_verdicts() {
        let dir = Path::new("/c");
        let unsafe_error = Err(CacheError::Unsafe {
            dir: dir.into(),
            reason: "it is writable by group or others (mode 0777)".into(),
        });
        let open = cache_check(dir, false, true, &unsafe_error, Some(0o777));
        assert_eq!(open.verdict, Verdict::Warn);
        assert!(open.found.contains("mode 0777"), "{open:?}");
        assert_eq!(open.fix.as_deref(), Some("chmod 700 /c"));
        let foreign = cache_check(dir, false, true, &unsafe_error, None);
        assert!(foreign.fix.unwrap().contains("--cache-dir"));
        assert_eq!(
            cache_check(dir, false, true, &Ok(()), None).verdict,
            Verdict::Ok
        );
        assert_eq!(
            cache_check(dir, false, false, &Ok(()), None).verdict,
            Verdict::Ok
        );
        assert_eq!(
            cache_check(dir, true, true, &unsafe_error, Some(0o777)).verdict,
            Verdict::Ok
        );
    }

    #[test]
    fn dir_verdicts() {
        let dir = Path::new("/s");
        let mut inventory = Inventory {
            files: 2,
            ..Inventory::default()
        };
        inventory.secrets.insert("kargo-demo".into(), 3);
        let ok = dir_check(dir, &Ok(inventory.clone()));
        assert_eq!(ok.verdict, Verdict::Ok);
        assert_eq!(ok.found, "/s: 3 Secret(s) in 2 file(s) (kargo-demo: 3)");
        inventory.exposed.push("/s/a.yaml".into());
        let open = dir_check(dir, &Ok(inventory));
        assert_eq!(open.verdict, Verdict::Warn);
        assert_eq!(open.fix.as_deref(), Some("chmod -R go-rwx /s"));
        let missing = dir_check(dir, &Err(SourceError::MissingFolder { path: "/s".into() }));
        assert_eq!(missing.verdict, Verdict::Fail);
    }

    #[test]
    fn rbac_fix_names_the_namespace() {
        let fix = rbac_fix("kargo-demo");
        assert!(
            fix.contains("-n kargo-demo --verb=get,list --resource=secrets"),
            "{fix}"
        );
        assert!(fix.contains("rolebinding"), "{fix}");
    }
}
