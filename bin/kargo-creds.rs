//! `kargo-creds` — the human CLI: resolve and explain, get credentials for scripts, version.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use kargo_creds::config::{process_env, Flags, Settings};
use kargo_creds::lookup::{Answer, Lookup, Report};
use kargo_creds::provider::Selection;
use kargo_creds::resolve::Thoroughness;
use kargo_creds::secret::CredType;
use kargo_creds::{log, report, url};

#[path = "kargo-creds/doctor.rs"]
mod doctor;
#[path = "kargo-creds/manage.rs"]
mod manage;
#[path = "kargo-creds/setup.rs"]
mod setup;

const PROGRAM: &str = "kargo-creds";

#[derive(Parser)]
#[command(name = PROGRAM, version, about = "Use Kargo's repository credentials from git, docker, helm and scripts")]
struct Cli {
    #[command(flatten)]
    flags: Flags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Which Secret serves a URL, and why (--explain shows every candidate)
    Resolve {
        /// Repository URL, image reference, or (with --registry) a registry host
        url: String,
        /// Credential type; guessed from the URL when omitted
        #[arg(long = "type", value_parser = parse_cred_type)]
        cred_type: Option<CredType>,
        /// Resolve a registry host as docker-credential-kargo does
        #[arg(long, conflicts_with = "cred_type")]
        registry: bool,
        /// Show the normalized URL, every candidate with its verdict, and the winner
        #[arg(long)]
        explain: bool,
        #[arg(short, long, value_enum, default_value_t = ResolveOutput::Text)]
        output: ResolveOutput,
    },
    /// Print the credentials for a URL (for scripts: helm registry login, curl, …), or show
    /// credential Secrets (`get credentials [NAME]`, `get generic-credentials [NAME]`)
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Get {
        #[command(subcommand)]
        what: Option<manage::Managed>,
        #[arg(required = true)]
        url: Option<String>,
        #[arg(long = "type", value_parser = parse_cred_type)]
        cred_type: Option<CredType>,
        /// Look up a registry host as docker-credential-kargo does
        #[arg(long, conflicts_with = "cred_type")]
        registry: bool,
        #[arg(short, long, value_enum, default_value_t = GetOutput::Json)]
        output: GetOutput,
    },
    /// Create credentials (`create credentials NAME --git --repo-url URL --username U`)
    Create {
        #[command(subcommand)]
        what: manage::Create,
    },
    /// Change some fields of credentials; the others stay as they are
    Update {
        #[command(subcommand)]
        what: manage::Update,
    },
    /// Delete credentials
    Delete {
        #[command(subcommand)]
        what: manage::Managed,
    },
    /// Print a generic Secret's value, or all its keys as KEY=VALUE lines (the CLI analogue
    /// of the secret() and sharedSecret() expression functions)
    Secret {
        name: String,
        key: Option<String>,
        /// From the shared namespace (generic credentials only)
        #[arg(long)]
        shared: bool,
    },
    /// The token cache: `list` (never the tokens), `clear`, `prune` (drop expired entries)
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Wire git, docker or helm to the helpers: `setup git --host H`, `setup docker --registry H`
    Setup {
        #[command(subcommand)]
        what: setup::Setup,
    },
    /// Check the setup: source, cluster access, cache folder, git and docker wiring, clock
    Doctor(doctor::Args),
    /// Print the version
    Version,
    /// Print the completion script for a shell
    Completions { shell: clap_complete::Shell },
    /// Write the man pages of all three binaries into DIR (for packagers; see packaging/)
    #[command(hide = true)]
    GenerateMan { dir: std::path::PathBuf },
}

#[derive(Subcommand)]
enum CacheAction {
    /// Every cached token's provider, Secret, project, scope and expiry
    List {
        #[arg(short, long, value_enum, default_value_t = ResolveOutput::Text)]
        output: ResolveOutput,
    },
    /// Remove every entry
    Clear,
    /// Remove expired entries
    Prune,
}

#[derive(Clone, Copy, ValueEnum)]
enum ResolveOutput {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum GetOutput {
    Json,
    Env,
    Username,
    Password,
    SshKey,
}

pub(crate) fn parse_cred_type(text: &str) -> Result<CredType, String> {
    match text.parse()? {
        CredType::Generic => {
            Err("generic Secrets are read with `kargo-creds secret`, not resolved".into())
        }
        cred_type => Ok(cred_type),
    }
}

fn main() -> ExitCode {
    log::set_program(PROGRAM);
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{PROGRAM}: {}", log::one_line(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Version = cli.command {
        print(&format!("{PROGRAM} {}\n", kargo_creds::VERSION));
        return Ok(ExitCode::SUCCESS);
    }
    // Generated from the clap definitions (ours, and the helpers' in kargo_creds::cli), so
    // they never drift; they need no settings.
    match &cli.command {
        Command::Completions { shell } => {
            let script = kargo_creds::cli::completions(*shell, Cli::command());
            io::stdout()
                .lock()
                .write_all(&script)
                .context("writing the completion script")?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::GenerateMan { dir } => {
            for path in kargo_creds::cli::write_man_pages(dir, Cli::command())? {
                print(&format!("{}\n", path.display()));
            }
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    if let Command::Setup { what } = cli.command {
        return setup::run(what, cli.flags.project.as_deref());
    }
    let settings = Settings::load(&cli.flags, &process_env)?;
    log::set_level(settings.log_level);
    let lookup = Lookup::new(&settings);
    match cli.command {
        Command::Resolve {
            url,
            cred_type,
            registry,
            explain,
            output,
        } => {
            let thoroughness = if explain || matches!(output, ResolveOutput::Json) {
                Thoroughness::Explain
            } else {
                Thoroughness::FirstMatch
            };
            let report = find(&lookup, &url, cred_type, registry, thoroughness)?;
            let text = match output {
                ResolveOutput::Json => {
                    let mut value = report::to_json(&report, &url);
                    if let Some(Selection::Mint { .. }) = report.selection() {
                        value["token_cached_until"] = serde_json::json!(lookup
                            .cached_until(&report)
                            .map(kargo_creds::timefmt::rfc3339));
                    }
                    format!("{value:#}\n")
                }
                ResolveOutput::Text if explain => {
                    let mut text =
                        report::explain(&report, &settings, &lookup.source()?.describe());
                    if let Some(Selection::Mint { .. }) = report.selection() {
                        text.push_str(&match lookup.cached_until(&report) {
                                                        Some(expiry)
                                if expiry - kargo_creds::lookup::unix_now()
                                    > settings.expiry_margin.as_secs() as i64 =>
                            {
                                format!("token:      cached until {}\n", kargo_creds::timefmt::rfc3339(expiry))
                            }
                            Some(expiry) => format!(
                                "token:      cached until {}, inside the expiry margin: the next get mints a new one\n",
                                kargo_creds::timefmt::rfc3339(expiry)
                            ),
                            None => "token:      not cached (the next get mints one)\n".to_owned(),
                        });
                    }
                    text
                }
                ResolveOutput::Text => format!("{}\n", report::summary(&report)),
            };
            print(&text);
            Ok(ExitCode::SUCCESS)
        }
        Command::Get {
            what: Some(what), ..
        } => manage::show(&lookup, what),
        Command::Get {
            url,
            cred_type,
            registry,
            output,
            ..
        } => {
            let url = url.unwrap_or_default();
            let report = find(&lookup, &url, cred_type, registry, Thoroughness::FirstMatch)?;
            get(&lookup, &report, &url, output)
        }
        Command::Create { what } => manage::create(&lookup, what),
        Command::Update { what } => manage::update(&lookup, what),
        Command::Delete { what } => manage::delete(&lookup, what),
        Command::Secret { name, key, shared } => {
            manage::print_secret(&lookup, &name, key.as_deref(), shared)
        }
        Command::Cache { action } => cache(&lookup, action),
        Command::Doctor(args) => doctor::run(&settings, args),
        Command::Version
        | Command::Setup { .. }
        | Command::Completions { .. }
        | Command::GenerateMan { .. } => unreachable!("handled above"),
    }
}

fn find(
    lookup: &Lookup<'_>,
    url: &str,
    cred_type: Option<CredType>,
    registry: bool,
    thoroughness: Thoroughness,
) -> anyhow::Result<Report> {
    if registry {
        let host = url::registry_host_of_server_url(url);
        return lookup
            .find_registry(&host, thoroughness)
            .with_context(|| format!("looking up credentials for registry {host}"));
    }
    let cred_type = cred_type.unwrap_or_else(|| CredType::guess_from_url(url));
    lookup.find(cred_type, url, thoroughness).with_context(|| {
        format!(
            "looking up {cred_type} credentials for {}",
            url::for_display(url)
        )
    })
}

fn get(
    lookup: &Lookup<'_>,
    report: &Report,
    url: &str,
    output: GetOutput,
) -> anyhow::Result<ExitCode> {
    let no_credentials = || {
        eprintln!(
            "{PROGRAM}: no credentials for {}: {}",
            url::for_display(url),
            report::summary(report)
        );
        Ok(ExitCode::FAILURE)
    };
    let (secret_id, selection) = match &report.answer {
        Answer::Matched { secret, selection } => (secret.id(), selection),
        Answer::Ambient { selection } => ("ambient".to_owned(), selection),
        _ => return no_credentials(),
    };
    if let Selection::SshKey { key } = selection {
        if !matches!(output, GetOutput::SshKey) {
            anyhow::bail!("secret {secret_id} holds an SSH private key: use -o ssh-key");
        }
        print(key.expose());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(credentials) = lookup.answer_credentials(report)? else {
        return no_credentials();
    };
    let password = credentials.password.expose();
    let text = match output {
        GetOutput::Json => format!(
            "{:#}\n",
            serde_json::json!({
                "username": credentials.username,
                "password": password,
                "expires_at": credentials.expires_at.map(kargo_creds::timefmt::rfc3339),
                "secret": (secret_id != "ambient").then_some(&secret_id),
                "provider": selection.provider().map(|p| p.as_str()),
            })
        ),
        GetOutput::Env => format!(
            "KARGO_CREDS_USERNAME={}\nKARGO_CREDS_PASSWORD={}\n",
            kargo_creds::setup::shell_quote(&credentials.username),
            kargo_creds::setup::shell_quote(password)
        ),
        GetOutput::Username => format!("{}\n", credentials.username),
        GetOutput::Password => format!("{password}\n"),
        GetOutput::SshKey => anyhow::bail!("secret {secret_id} holds no SSH private key"),
    };
    print(&text);
    Ok(ExitCode::SUCCESS)
}

fn cache(lookup: &Lookup<'_>, action: CacheAction) -> anyhow::Result<ExitCode> {
    let dir = lookup.settings().cache_dir.display().to_string();
    let Some(cache) = lookup.cache() else {
        anyhow::bail!("the token cache ({dir}) is switched off or unusable");
    };
    let text = match action {
        CacheAction::List { output } => {
            let mut entries = cache.list();
            entries.sort_by(|a, b| (&a.provider, &a.scope).cmp(&(&b.provider, &b.scope)));
            match output {
                ResolveOutput::Json => format!("{:#}\n", serde_json::json!(entries)),
                ResolveOutput::Text => {
                    let now = kargo_creds::lookup::unix_now();
                    let mut out = String::from("PROVIDER\tSECRET\tPROJECT\tSCOPE\tEXPIRES\n");
                    for entry in &entries {
                        let left = entry.expires_at - now;
                        let state = if left > 0 {
                            format!("in {}", kargo_creds::manage::age(left))
                        } else {
                            "expired".into()
                        };
                        out.push_str(&format!(
                            "{}\t{}\t{}\t{}\t{} ({state})\n",
                            entry.provider,
                            entry.secret,
                            entry.project.as_deref().unwrap_or("-"),
                            entry.scope,
                            kargo_creds::timefmt::rfc3339(entry.expires_at)
                        ));
                    }
                    out
                }
            }
        }
        CacheAction::Clear => format!("removed {} entries from {dir}\n", cache.clear()),
        CacheAction::Prune => format!("removed {} expired entries from {dir}\n", cache.prune()),
    };
    print(&text);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn print(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}
