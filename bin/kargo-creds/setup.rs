//! `kargo-creds setup git|docker`: the arguments, which file, and what to say. The plans
//! and the all-or-nothing writes are `kargo_creds::setup`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Subcommand};
use kargo_creds::client_config::{self, DOCKER_HELPER_PROGRAM, GIT_HELPER_PROGRAM};
use kargo_creds::config::process_env;
use kargo_creds::setup;

use crate::print;

#[derive(Subcommand)]
pub enum Setup {
    /// Make git ask git-credential-kargo (and only it) for the credentials of some hosts
    #[command(group = ArgGroup::new("scope").args(["global", "local", "file"]))]
    Git {
        /// A host (`github.com`, `git.example.com:8443`: https) or an http(s):// URL
        /// prefix; repeat for several
        #[arg(long = "host", value_name = "HOST", required = true)]
        hosts: Vec<String>,
        /// The user's git config (the default): $GIT_CONFIG_GLOBAL or ~/.gitconfig
        #[arg(long)]
        global: bool,
        /// The current repository's config
        #[arg(long)]
        local: bool,
        /// This git config file
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Print the git config commands that would run; change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Make docker (or, with --helm, helm) use docker-credential-kargo for some registries
    Docker {
        /// A registry host (`ghcr.io`, `127.0.0.1:5000`); repeat for several
        #[arg(long = "registry", value_name = "HOST", required = true)]
        registries: Vec<String>,
        /// helm's registry config instead of docker's
        #[arg(long, conflicts_with = "config")]
        helm: bool,
        /// This config file (docker-style config.json)
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print the resulting credHelpers; change nothing
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(what: Setup, project: Option<&str>) -> anyhow::Result<ExitCode> {
    match what {
        Setup::Git {
            hosts,
            local,
            file,
            dry_run,
            ..
        } => {
            let file = match (file, local) {
                (Some(file), _) => file,
                (None, true) => setup::local_git_config_file()?,
                (None, false) => {
                    client_config::git_global_config_file(&process_env, &|p: &Path| p.exists())
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "cannot tell where the global git config is: neither GIT_CONFIG_GLOBAL nor HOME is set (use --file)"
                            )
                        })?
                }
            };
            git(&hosts, project, &file, dry_run)
        }
        Setup::Docker {
            registries,
            helm,
            config,
            dry_run,
        } => {
            let file = match config {
                Some(file) => Some(file),
                None if helm => client_config::helm_registry_config_file(&process_env),
                None => client_config::docker_config_file(&process_env),
            };
            let file = file.ok_or_else(|| {
                anyhow::anyhow!("cannot tell where the config is: HOME is not set (use --config)")
            })?;
            docker(&registries, &file, dry_run)
        }
    }
}

fn git(
    hosts: &[String],
    project: Option<&str>,
    file: &Path,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let helper = setup::git_helper_command(&setup::find_helper(GIT_HELPER_PROGRAM)?, project)?;
    let file = setup::resolve_link(file)?;
    let mut urls: Vec<String> = Vec::new();
    for host in hosts {
        let url = setup::git_credential_url(host)?;
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    let mut edits = Vec::new();
    for url in &urls {
        let state = setup::read_git_url_state(&file, url)?;
        edits.extend(setup::plan_git_host(url, &helper, &state));
    }
    let shown = file.display();
    let listed = urls.join(", ");
    if edits.is_empty() {
        print(&format!(
            "{shown}: already configured: git asks {helper} for {listed} (nothing changed)\n"
        ));
    } else if dry_run {
        let commands: Vec<String> = edits.iter().map(|edit| edit.render(&file)).collect();
        print(&format!(
            "{shown}: would run (dry run, nothing changed):\n{}\n",
            commands.join("\n")
        ));
    } else {
        setup::apply_git_edits(&file, &edits)?;
        print(&format!(
            "{shown}: git now asks {helper} (and no other helper) for {listed}, with useHttpPath = true\n"
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn docker(registries: &[String], file: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let mut keys: Vec<String> = Vec::new();
    for registry in registries {
        for key in setup::cred_helper_keys(registry)? {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let file = setup::resolve_link(file)?;
    let existing = setup::read_existing(&file)?;
    let plan = setup::plan_docker_config(
        &file,
        existing.as_ref().map(|(text, _)| text.as_str()),
        &keys,
    )?;
    let shown = file.display();
    if plan.changes.is_empty() {
        print(&format!(
            "{shown}: already configured: credHelpers name kargo for {} (nothing changed)\n",
            keys.join(", ")
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let mut lines = Vec::new();
    for change in &plan.changes {
        let was = match &change.previous {
            Some(previous) => format!(" (was {previous:?})"),
            None => String::new(),
        };
        lines.push(format!("  credHelpers[{:?}] = \"kargo\"{was}", change.key));
    }
    if dry_run {
        print(&format!(
            "{shown}: would set (dry run, nothing changed):\n{}\n",
            lines.join("\n")
        ));
        return Ok(ExitCode::SUCCESS);
    }
    setup::write_client_config(&file, &plan.text, existing.map(|(_, mode)| mode))?;
    print(&format!("{shown}: set\n{}\n", lines.join("\n")));
    if setup::find_on_path(DOCKER_HELPER_PROGRAM).is_none() {
        eprintln!(
            "kargo-creds: warning: {DOCKER_HELPER_PROGRAM} is not on PATH, where clients look for it"
        );
    }
    Ok(ExitCode::SUCCESS)
}
