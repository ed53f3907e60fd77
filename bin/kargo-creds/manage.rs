//! `kargo-creds create|get|update|delete credentials|generic-credentials` and `secret`:
//! the argument structs and the read-modify-write against the source. Building, changing
//! and showing Secrets is `kargo_creds::manage`.

use std::io::{self, IsTerminal, Read};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use kargo_creds::config::Settings;
use kargo_creds::lookup::Lookup;
use kargo_creds::manage;
use kargo_creds::secret::{trim_one_newline, CredType, Secret};
use kargo_creds::sensitive::Sensitive;

use crate::{parse_cred_type, print};

/// Which kind of credentials, and which one (`credentials NAME`, `generic-credentials NAME`).
#[derive(Subcommand)]
pub enum Managed {
    /// Repository credentials (git, helm, image)
    #[command(visible_alias = "repo-credentials")]
    Credentials(Target),
    /// Generic credentials (any data, read by name)
    GenericCredentials(Target),
}

#[derive(clap::Args)]
pub struct Target {
    /// The Secret's name (get: all of them when omitted)
    name: Option<String>,
    /// In the shared namespace instead of the project's
    #[arg(long)]
    shared: bool,
    /// Output of get
    #[arg(short, long, value_enum, default_value_t = ShowOutput::Table)]
    output: ShowOutput,
}

#[derive(Clone, Copy, ValueEnum)]
enum ShowOutput {
    Table,
    Yaml,
    Json,
}

#[derive(Subcommand)]
pub enum Create {
    /// Repository credentials (username and password or token)
    #[command(visible_alias = "repo-credentials")]
    Credentials(CreateCredentials),
    /// Generic credentials
    GenericCredentials(GenericArgs),
}

#[derive(Subcommand)]
pub enum Update {
    /// Repository credentials
    #[command(visible_alias = "repo-credentials")]
    Credentials(UpdateCredentials),
    /// Generic credentials
    GenericCredentials(GenericArgs),
}

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("kind").required(true).args(["git", "helm", "image", "cred_type"]))]
pub struct CreateCredentials {
    name: String,
    /// For git repositories
    #[arg(long)]
    git: bool,
    /// For Helm chart repositories
    #[arg(long)]
    helm: bool,
    /// For container image repositories
    #[arg(long)]
    image: bool,
    #[arg(long = "type", value_parser = parse_cred_type)]
    cred_type: Option<CredType>,
    #[arg(long)]
    repo_url: String,
    /// The repo URL is a regular expression
    #[arg(long)]
    regex: bool,
    #[arg(long)]
    username: String,
    #[command(flatten)]
    password: PasswordArgs,
    #[arg(long)]
    description: Option<String>,
    /// In the shared namespace instead of the project's
    #[arg(long)]
    shared: bool,
}

#[derive(clap::Args)]
pub struct UpdateCredentials {
    name: String,
    #[arg(long)]
    repo_url: Option<String>,
    /// The repo URL is a regular expression
    #[arg(long, conflicts_with = "no_regex")]
    regex: bool,
    /// The repo URL is an exact URL
    #[arg(long)]
    no_regex: bool,
    #[arg(long)]
    username: Option<String>,
    #[command(flatten)]
    password: PasswordArgs,
    /// A new description ("" removes it)
    #[arg(long)]
    description: Option<String>,
    /// In the shared namespace instead of the project's
    #[arg(long)]
    shared: bool,
}

#[derive(clap::Args)]
struct PasswordArgs {
    /// The password or token (omit it to be prompted, so it stays out of shell history)
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from stdin
    #[arg(long)]
    password_stdin: bool,
}

#[derive(clap::Args)]
pub struct GenericArgs {
    name: String,
    /// KEY=VALUE (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = manage::parse_assignment)]
    set: Vec<(String, Sensitive<String>)>,
    /// KEY to remove (repeatable; update only)
    #[arg(long = "unset", value_name = "KEY")]
    unset: Vec<String>,
    #[arg(long)]
    description: Option<String>,
    /// In the shared namespace instead of the project's
    #[arg(long)]
    shared: bool,
}

/// The namespace a management command works in: the project's, or with --shared the
/// shared one.
fn namespace(settings: &Settings, shared: bool) -> anyhow::Result<String> {
    if shared {
        return settings.shared_namespace.clone().context(
            "--shared: the shared namespace is switched off (--shared-namespace is empty)",
        );
    }
    settings
        .project
        .clone()
        .context("which namespace? give --project P (or KARGO_PROJECT), or --shared")
}

pub fn create(lookup: &Lookup<'_>, what: Create) -> anyhow::Result<ExitCode> {
    let settings = lookup.settings();
    let secret = match what {
        Create::Credentials(args) => {
            let cred_type = match (args.git, args.helm, args.image, args.cred_type) {
                (true, ..) => CredType::Git,
                (_, true, ..) => CredType::Helm,
                (_, _, true, _) => CredType::Image,
                (.., Some(cred_type)) => cred_type,
                _ => anyhow::bail!("give --git, --helm, --image or --type"),
            };
            let namespace = namespace(settings, args.shared)?;
            let password = read_password(&args.password)?.context(
                "no password: give --password, or --password-stdin, or run on a terminal to be prompted",
            )?;
            manage::new_credentials(manage::NewCredentials {
                namespace,
                name: args.name,
                cred_type,
                repo_url: args.repo_url,
                regex: args.regex,
                username: args.username,
                password,
                description: args.description,
            })?
        }
        Create::GenericCredentials(args) => {
            let namespace = namespace(settings, args.shared)?;
            let name = args.name.clone();
            manage::new_generic(&namespace, &name, generic_changes(args))?
        }
    };
    lookup
        .source()?
        .create(&secret)
        .with_context(|| format!("creating secret {}", secret.id()))?;
    print(&format!("secret/{} created\n", secret.name));
    Ok(ExitCode::SUCCESS)
}

pub fn update(lookup: &Lookup<'_>, what: Update) -> anyhow::Result<ExitCode> {
    let (name, shared, generic) = match &what {
        Update::Credentials(args) => (args.name.clone(), args.shared, false),
        Update::GenericCredentials(args) => (args.name.clone(), args.shared, true),
    };
    let namespace = namespace(lookup.settings(), shared)?;
    let mut secret = read(lookup, &namespace, &name, generic)?;
    match what {
        Update::Credentials(args) => {
            let regex = match (args.regex, args.no_regex) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let password = read_password(&args.password)?;
            manage::update_credentials(
                &mut secret,
                manage::CredentialsUpdate {
                    repo_url: args.repo_url,
                    regex,
                    username: args.username,
                    password,
                    description: args.description,
                },
            )?;
        }
        Update::GenericCredentials(args) => {
            manage::update_generic(&mut secret, generic_changes(args))?
        }
    }
    lookup
        .source()?
        .replace(&secret)
        .with_context(|| format!("updating secret {}", secret.id()))?;
    print(&format!("secret/{name} updated\n"));
    Ok(ExitCode::SUCCESS)
}

pub fn delete(lookup: &Lookup<'_>, what: Managed) -> anyhow::Result<ExitCode> {
    let (target, generic) = split(what);
    let name = target.name.context("which Secret? give its name")?;
    let namespace = namespace(lookup.settings(), target.shared)?;
    // Only a Kargo credential of the kind named is deleted, never any other Secret.
    read(lookup, &namespace, &name, generic)?;
    lookup
        .source()?
        .delete(&namespace, &name)
        .with_context(|| format!("deleting secret {namespace}/{name}"))?;
    print(&format!("secret/{name} deleted\n"));
    Ok(ExitCode::SUCCESS)
}

/// `get credentials [NAME]` and `get generic-credentials [NAME]`.
pub fn show(lookup: &Lookup<'_>, what: Managed) -> anyhow::Result<ExitCode> {
    let (target, generic) = split(what);
    let namespace = namespace(lookup.settings(), target.shared)?;
    let secrets = match &target.name {
        Some(name) => vec![read(lookup, &namespace, name, generic)?],
        None => list(lookup, &namespace, generic)?,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let text = match target.output {
        ShowOutput::Table if generic => manage::generic_table(&secrets, now),
        ShowOutput::Table => manage::table(&secrets, now),
        ShowOutput::Json | ShowOutput::Yaml => {
            let mut views: Vec<serde_json::Value> =
                secrets.iter().map(manage::redacted_view).collect();
            let value = if target.name.is_some() && views.len() == 1 {
                views.remove(0)
            } else {
                serde_json::json!({"apiVersion": "v1", "kind": "List", "items": views})
            };
            match target.output {
                ShowOutput::Json => format!("{value:#}\n"),
                _ => serde_norway::to_string(&value).context("rendering YAML")?,
            }
        }
    };
    print(&text);
    Ok(ExitCode::SUCCESS)
}

/// `secret NAME [KEY]`: a project Secret may be any Kargo credential (as `secret()` reads
/// them); a shared one only generic credentials (as `sharedSecret()`): shared repository
/// credentials are, by design, never exposed to users.
pub fn print_secret(
    lookup: &Lookup<'_>,
    name: &str,
    key: Option<&str>,
    shared: bool,
) -> anyhow::Result<ExitCode> {
    let namespace = namespace(lookup.settings(), shared)?;
    let secret = lookup
        .source()?
        .get(&namespace, name)
        .with_context(|| format!("reading secret {namespace}/{name}"))?
        .with_context(|| format!("secret {namespace}/{name} not found"))?;
    match secret.cred_type() {
        Some(CredType::Generic) => {}
        Some(_) if !shared => {}
        Some(_) => anyhow::bail!(
            "secret {} is shared repository credentials, which are never shown (only generic credentials are)",
            secret.id()
        ),
        None => anyhow::bail!("secret {} is not a Kargo credential (no kargo.akuity.io/cred-type label)", secret.id()),
    }
    let text = match key {
        Some(key) => {
            let value = secret
                .text(key)?
                .with_context(|| format!("secret {} has no key {key:?}", secret.id()))?;
            format!("{value}\n")
        }
        None => secret
            .data
            .iter()
            .flat_map(|data| data.iter())
            .map(|(key, value)| format!("{key}={}\n", String::from_utf8_lossy(value.expose())))
            .collect(),
    };
    print(&text);
    Ok(ExitCode::SUCCESS)
}

fn split(what: Managed) -> (Target, bool) {
    match what {
        Managed::Credentials(target) => (target, false),
        Managed::GenericCredentials(target) => (target, true),
    }
}

/// One Secret, which must be a credential of the kind named.
fn read(lookup: &Lookup<'_>, namespace: &str, name: &str, generic: bool) -> anyhow::Result<Secret> {
    let secret = lookup
        .source()?
        .get(namespace, name)
        .with_context(|| format!("reading secret {namespace}/{name}"))?
        .with_context(|| format!("secret {namespace}/{name} not found"))?;
    let kind_matches = match secret.cred_type() {
        Some(CredType::Generic) => generic,
        Some(_) => !generic,
        None => false,
    };
    if !kind_matches {
        anyhow::bail!(
            "secret {} is not {} credentials",
            secret.id(),
            if generic { "generic" } else { "repository" }
        );
    }
    Ok(secret)
}

/// Every credential Secret of a namespace, by name.
fn list(lookup: &Lookup<'_>, namespace: &str, generic: bool) -> anyhow::Result<Vec<Secret>> {
    let types: &[CredType] = if generic {
        &[CredType::Generic]
    } else {
        &[CredType::Git, CredType::Helm, CredType::Image]
    };
    let source = lookup.source()?;
    let mut secrets = Vec::new();
    for cred_type in types {
        for listing in source.list(&[namespace], *cred_type)? {
            if let Some(reason) = &listing.forbidden {
                anyhow::bail!("listing credentials in namespace {namespace}: {reason}");
            }
            for listed in &listing.secrets {
                secrets.push(source.complete(listed)?);
            }
        }
    }
    secrets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(secrets)
}

fn generic_changes(args: GenericArgs) -> manage::GenericChanges {
    manage::GenericChanges {
        set: args.set,
        unset: args.unset,
        description: args.description,
    }
}

/// The password from --password, --password-stdin, or a prompt without echo when stdin is
/// a terminal. `None` when none was given and there is no terminal to ask on.
fn read_password(args: &PasswordArgs) -> anyhow::Result<Option<Sensitive<String>>> {
    if let Some(password) = &args.password {
        return Ok(Some(Sensitive::from(password.as_str())));
    }
    if args.password_stdin {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .context("reading the password from stdin")?;
        return Ok(Some(Sensitive::from(trim_one_newline(&text))));
    }
    if !io::stdin().is_terminal() {
        return Ok(None);
    }
    let password = rpassword::prompt_password("Password: ")
        .context("reading the password from the terminal")?;
    Ok(Some(Sensitive::from(password)))
}
