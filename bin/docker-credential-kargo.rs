//! `docker-credential-kargo get|store|erase|list|version` — a docker credential helper.
//!
//! Wire it with `"credHelpers": {"ghcr.io": "kargo"}` in `~/.docker/config.json` (also read
//! by podman, skopeo and buildah) or helm's registry config, or `kargo-creds setup docker`.
//! docker passes no flags: settings come from the environment and the config file.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::process::ExitCode;

use kargo_creds::config::{process_env, Flags, Settings};
use kargo_creds::log;
use kargo_creds::lookup::{Answer, Lookup};
use kargo_creds::protocol::docker::{self, Action};
use kargo_creds::protocol::git::MAX_INPUT;
use kargo_creds::provider::Selection;
use kargo_creds::resolve::Thoroughness;

const PROGRAM: &str = "docker-credential-kargo";
const USAGE: &str = "usage: docker-credential-kargo <get|store|erase|list|version>";

fn main() -> ExitCode {
    log::set_program(PROGRAM);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(action) = args
        .first()
        .and_then(|word| Action::parse(word))
        .filter(|_| args.len() == 1)
    else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match action {
        Action::Get => get(),
        Action::List => list(),
        Action::Erase => erase(),
        Action::Store => read_stdin().and_then(|_| {
            Err(anyhow::anyhow!(
                "credentials are managed as Kargo Secrets; create one with `kargo-creds create credentials` instead of docker login"
            ))
        }),
        Action::Version => Ok(format!("{PROGRAM} (kargo-creds) {}\n", kargo_creds::VERSION)),
    };
    match result {
        Ok(output) => {
            print(&output);
            ExitCode::SUCCESS
        }
        // The protocol's convention: the message goes to stdout.
        Err(error) => {
            print(&format!("{}\n", log::one_line(&format!("{error:#}"))));
            ExitCode::FAILURE
        }
    }
}

fn settings() -> anyhow::Result<Settings> {
    let settings = Settings::load(&Flags::default(), &process_env)?;
    log::set_level(settings.log_level);
    Ok(settings)
}

fn get() -> anyhow::Result<String> {
    let docker::ServerRequest {
        server_url,
        registry_host: host,
    } = docker::read_server_request(&read_stdin()?)
        .ok_or_else(|| anyhow::anyhow!(docker::MISSING_SERVER_URL))?;
    let settings = settings()?;
    let lookup = Lookup::new(&settings);
    let report = lookup
        .find_registry(&host, Thoroughness::FirstMatch)
        .map_err(|error| anyhow::anyhow!("looking up credentials for {host}: {error}"))?;
    if let Answer::Matched {
        secret,
        selection: Selection::SshKey { .. },
    } = &report.answer
    {
        kargo_creds::warn!(
            "secret {} holds an SSH key, which registries cannot use",
            secret.id()
        );
    }
    let credentials = lookup
        .answer_credentials(&report)
        .map_err(|error| anyhow::anyhow!("looking up credentials for {host}: {error}"))?
        .ok_or_else(|| anyhow::anyhow!(docker::NOT_FOUND))?;
    Ok(docker::format_credentials(
        &server_url,
        &credentials.username,
        credentials.password.expose(),
    ))
}

/// Forgets the cached tokens for a registry, so the next `get` mints afresh.
fn erase() -> anyhow::Result<String> {
    let docker::ServerRequest {
        registry_host: host,
        ..
    } = docker::read_server_request(&read_stdin()?)
        .ok_or_else(|| anyhow::anyhow!(docker::MISSING_SERVER_URL))?;
    let settings = settings()?;
    if let Some(cache) = Lookup::new(&settings).cache() {
        cache.evict_scope(&host);
    }
    Ok(String::new())
}

fn list() -> anyhow::Result<String> {
    let settings = settings()?;
    let entries: BTreeMap<String, String> = Lookup::new(&settings)
        .registry_usernames()
        .map_err(|error| anyhow::anyhow!("listing registry credentials: {error}"))?;
    Ok(docker::format_list(&entries))
}

fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut input = Vec::new();
    io::stdin()
        .lock()
        .take(MAX_INPUT as u64 + 1)
        .read_to_end(&mut input)
        .map_err(|error| anyhow::anyhow!("reading the request: {error}"))?;
    if input.len() > MAX_INPUT {
        anyhow::bail!("the request is larger than {} KiB", MAX_INPUT / 1024);
    }
    Ok(input)
}

fn print(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}
