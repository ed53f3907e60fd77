//! `git-credential-kargo [flags] get|store|erase` — git's credential helper.
//!
//! Wire it with `git config credential.https://github.com.helper 'kargo --project P'` and
//! `credential.https://github.com.useHttpPath true`, or `kargo-creds setup git`.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use kargo_creds::cli::GitHelperCli;
use kargo_creds::config::{process_env, Flags, Settings};
use kargo_creds::lookup::{Answer, Lookup, LookupError, Report};
use kargo_creds::protocol::git::{self, GitRequest};
use kargo_creds::provider::Selection;
use kargo_creds::resolve::Thoroughness;
use kargo_creds::secret::CredType;
use kargo_creds::{info, log};

// The argument definition lives in the library, so `kargo-creds generate-man` can render it.
const PROGRAM: &str = kargo_creds::cli::GIT_HELPER;

fn main() -> ExitCode {
    log::set_program(PROGRAM);
    let cli = GitHelperCli::parse();
    match cli.action.as_str() {
        "get" => run(|| get(&cli.flags)),
        // Kargo Secrets are the source of truth; git calls store on every helper.
        "store" => run(|| read_request().map(|_| ExitCode::SUCCESS)),
        "erase" => run(|| erase(&cli.flags)),
        // git's rule: helpers ignore actions they do not know.
        _ => ExitCode::SUCCESS,
    }
}

fn run(action: impl FnOnce() -> Result<ExitCode, Failure>) -> ExitCode {
    match action() {
        Ok(code) => code,
        Err(failure) => {
            if failure.matched {
                print(git::QUIT);
            }
            eprintln!(
                "{PROGRAM}: {}",
                log::one_line(&format!("{:#}", failure.error))
            );
            ExitCode::FAILURE
        }
    }
}

/// An error, and whether a Secret had matched (then git must not prompt).
struct Failure {
    error: anyhow::Error,
    matched: bool,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure {
            error: error.into(),
            matched: false,
        }
    }
}

fn read_request() -> Result<GitRequest, Failure> {
    let request = git::read_request(io::stdin().lock())
        .map_err(|error| anyhow::anyhow!("reading the request from git: {error}"))?;
    Ok(request)
}

/// Settings, the URL git asks about, and the lookup for it; `None` when git named no
/// repository.
fn look_up(
    flags: &Flags,
    request: &GitRequest,
) -> Result<Option<(&'static Lookup<'static>, Report, String)>, Failure> {
    let settings = Settings::load(flags, &process_env)?;
    log::set_level(settings.log_level);
    let Some(url) = request.repository_url() else {
        return Ok(None);
    };
    if request.path.is_none() {
        info!("git sent no path for {url}: only host-level Secrets can match (set credential.useHttpPath=true)");
    }
    // Freeing thousands of parsed Secrets just before the process exits is wasted start-up
    // budget: let the OS reclaim them.
    let settings: &'static Settings = Box::leak(Box::new(settings));
    let lookup: &'static Lookup<'static> = Box::leak(Box::new(Lookup::new(settings)));
    let report = lookup
        .find(CredType::Git, &url, Thoroughness::FirstMatch)
        .map_err(|error| failure(&url, error))?;
    Ok(Some((lookup, report, url)))
}

/// A lookup that failed; after a Secret matched, git must fail rather than prompt.
fn failure(url: &str, error: LookupError) -> Failure {
    Failure {
        matched: error.after_match(),
        error: anyhow::anyhow!("looking up credentials for {url}: {error}"),
    }
}

fn get(flags: &Flags) -> Result<ExitCode, Failure> {
    let request = read_request()?;
    let Some((lookup, report, url)) = look_up(flags, &request)? else {
        return Ok(ExitCode::SUCCESS);
    };
    let Answer::Matched { secret, selection } = &report.answer else {
        return Ok(ExitCode::SUCCESS);
    };
    if let Selection::SshKey { .. } = selection {
        kargo_creds::warn!(
            "secret {} holds an SSH key, which git's credential protocol cannot carry (use `kargo-creds get -o ssh-key`)",
            secret.id()
        );
    }
    match lookup
        .credentials(secret, selection)
        .map_err(|error| failure(&url, error))?
    {
        Some(credentials) => print(&git::format_credentials(
            &credentials.username,
            &credentials.password,
            credentials.expires_at,
        )),
        // Matched, but nothing to offer: stop git from prompting.
        None => print(git::QUIT),
    }
    Ok(ExitCode::SUCCESS)
}

/// git rejected what we gave it: forget the cached token, so the next `get` mints afresh.
fn erase(flags: &Flags) -> Result<ExitCode, Failure> {
    let request = read_request()?;
    let Some(password) = request.password.clone() else {
        return Ok(ExitCode::SUCCESS);
    };
    if let Some((lookup, report, url)) = look_up(flags, &request)? {
        if lookup.evict(&report, password.expose()) {
            info!("forgot the cached token for {url}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}
