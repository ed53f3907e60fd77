//! `kargo-creds doctor [-o text|json]`: gathers the facts — the source, the API server's
//! answers, git's and docker's configuration, the clocks — and prints the verdicts
//! `kargo_creds::doctor` gives them, one line per check. Exit 1 when a check failed.
//!
//! Every network request is bounded by the configured connect and request timeouts; git is
//! asked only about its configuration (`git config`), which never prompts or touches the
//! network.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use clap::ValueEnum;
use kargo_creds::client_config::{self, DOCKER_HELPER_PROGRAM};
use kargo_creds::config::{process_env, Settings, SourceKind};
use kargo_creds::doctor::{self, Check, ClientKind, GitScopeFacts, HelperProgram};
use kargo_creds::source::dir::DirSource;
use kargo_creds::source::kube::KubeSource;

use crate::print;

#[derive(clap::Args)]
pub struct Args {
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

pub fn run(settings: &Settings, args: Args) -> anyhow::Result<ExitCode> {
    let mut checks = vec![doctor::source_check(settings)];
    let mut clocks = Vec::new();
    match settings.source {
        SourceKind::Kubernetes => {
            let probe = KubeSource::new(settings).probe(&settings.namespaces());
            clocks.push(match &probe {
                Ok(probe) => doctor::clock_check(
                    &format!("API server {}", probe.server),
                    probe.server_date,
                    probe.local_date,
                ),
                Err(_) => Check::warn(
                    "clock",
                    "not compared: the API server was not reached",
                    "fix the kubernetes check first",
                ),
            });
            checks.extend(doctor::kube_checks(&probe, settings));
        }
        SourceKind::Dir => {
            let inventory = DirSource::new(&settings.secrets_dir, None).inventory();
            checks.push(doctor::dir_check(&settings.secrets_dir, &inventory));
        }
    }
    checks.push(doctor::inspect_cache(
        &settings.cache_dir,
        settings.no_cache,
    ));
    checks.extend(git_checks());
    let docker_helper_on_path = find_on_path(DOCKER_HELPER_PROGRAM).is_some();
    checks.push(client_config_check(
        ClientKind::Docker,
        client_config::docker_config_file(&process_env),
        docker_helper_on_path,
    ));
    checks.push(client_config_check(
        ClientKind::Helm,
        client_config::helm_registry_config_file(&process_env),
        docker_helper_on_path,
    ));
    match &settings.endpoints.github_api {
        Some(api) => clocks.push(github_clock(settings, api)),
        None if clocks.is_empty() => clocks.push(doctor::clock_not_compared(
            "no API server (dir source) and KARGO_CREDS_GITHUB_API_URL is not set (set it to https://api.github.com to compare with GitHub's clock)",
        )),
        None => {}
    }
    checks.extend(clocks);

    print(&match args.output {
        Output::Text => doctor::render_text(&checks),
        Output::Json => format!("{:#}\n", doctor::render_json(&checks)),
    });
    Ok(if doctor::any_failed(&checks) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn client_config_check(kind: ClientKind, path: Option<PathBuf>, helper_on_path: bool) -> Check {
    let text = match &path {
        None => Ok(None),
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.to_string()),
        },
    };
    doctor::client_config_check(
        kind,
        path.as_deref(),
        text.as_ref().map(Option::as_deref).map_err(Clone::clone),
        helper_on_path,
    )
}

/// The git lines: one per URL (or "every URL") whose helper is git-credential-kargo.
fn git_checks() -> Vec<Check> {
    let listing = match git(&["config", "-z", "--get-regexp", r"^credential\."]) {
        Ok(listing) => listing.unwrap_or_default(),
        Err(reason) => return vec![doctor::git_missing(&reason)],
    };
    let entries = doctor::parse_git_config_z(&listing);
    let scopes = doctor::wired_git_scopes(&entries);
    if scopes.is_empty() {
        return vec![doctor::git_not_wired()];
    }
    scopes
        .iter()
        .map(|scope| {
            let scope = scope.as_deref();
            let helpers = doctor::effective_helpers(&entries, scope);
            let ask = |name: &str, as_bool: bool| {
                let key = format!("credential.{name}");
                let mut args = vec!["config"];
                if as_bool {
                    args.push("--type=bool");
                }
                match scope {
                    Some(url) => args.extend(["--get-urlmatch", &key, url]),
                    None => args.extend(["--get", &key]),
                }
                git(&args)
                    .ok()
                    .flatten()
                    .map(|value| value.trim_end_matches('\n').to_owned())
            };
            let ours = helpers
                .iter()
                .rev()
                .find(|helper| doctor::is_our_git_helper(helper))
                .cloned()
                .unwrap_or_default();
            let (program, program_found) = match doctor::helper_program(&ours) {
                HelperProgram::Shell => (ours.clone(), None),
                HelperProgram::Path(path) => {
                    let found = is_executable(Path::new(&path));
                    (path, Some(found))
                }
                HelperProgram::Named(name) => {
                    let found = find_on_path(&name).is_some();
                    (name, Some(found))
                }
            };
            let facts = GitScopeFacts {
                resolved_helper: ask("helper", false),
                use_http_path: ask("useHttpPath", true),
                program_found: (!ours.is_empty()).then_some(program_found).flatten(),
                program,
            };
            doctor::git_scope_check(scope, &helpers, &facts)
        })
        .collect()
}

/// Runs `git ARGS…`: its stdout, `None` when git exits 1 (nothing found), an error when git
/// cannot be run or fails otherwise.
fn git(args: &[&str]) -> Result<Option<String>, String> {
    let output = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|error| format!("running git: {error}"))?;
    match output.status.code() {
        Some(0) => Ok(Some(String::from_utf8_lossy(&output.stdout).into_owned())),
        Some(1) => Ok(None),
        _ => Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

/// The clock against the `Date` of one bounded request to the GitHub API base.
fn github_clock(settings: &Settings, api: &str) -> Check {
    let shown = kargo_creds::url::for_display(api);
    let reference = format!("GitHub API {shown}");
    let answer = kargo_creds::net::http_client(settings.connect_timeout, settings.request_timeout)
        .and_then(|client| {
            kargo_creds::net::runtime()?.block_on(async {
                let response = client
                    .get(api)
                    .send()
                    .await
                    .map_err(|error| kargo_creds::net::describe_http_error(&error))?;
                let date = response
                    .headers()
                    .get(http::header::DATE)
                    .and_then(|value| value.to_str().ok())
                    .and_then(kargo_creds::timefmt::parse_http_date);
                Ok((date, kargo_creds::lookup::unix_now()))
            })
        });
    match answer {
        Ok((server_date, local_date)) => doctor::clock_check(&reference, server_date, local_date),
        Err(reason) => Check::warn(
            "clock",
            format!("cannot reach {reference} to compare clocks: {reason}"),
            "check KARGO_CREDS_GITHUB_API_URL and the network (HTTPS_PROXY)",
        ),
    }
}

/// `program` in a folder of `PATH`, executable.
fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}
