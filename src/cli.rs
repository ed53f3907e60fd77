//! The helpers' command lines, and what is generated from command lines: shell completions
//! and man pages.
//!
//! Why the helpers' definitions live here and not in their `bin/` files: man pages are
//! rendered from the real clap definitions, so a flag added to a helper appears in its page
//! without anyone remembering. One binary cannot import another's items, and `kargo-creds
//! generate-man` writes all three pages, so the two small helper definitions sit in the
//! library; `kargo-creds`' own (large, growing) `Cli` stays in its `bin/` file and is handed
//! in as a [`clap::Command`].
//!
//! Rendering is pure (bytes in memory); only [`write_man_pages`] touches the file system.
//! Nothing here reads settings or runs an action.

use std::io;
use std::path::{Path, PathBuf};

use clap::builder::PossibleValue;
use clap::{Arg, Command, CommandFactory, Parser};
use clap_complete::Shell;

use crate::config::Flags;
use crate::protocol::docker::Action;

pub const GIT_HELPER: &str = "git-credential-kargo";
pub const DOCKER_HELPER: &str = "docker-credential-kargo";

/// Where settings come from, for the helpers' pages (a macro so `concat!` can use it).
macro_rules! settings_help {
    () => {
        "Settings come from flags (git helper only), then the environment (KARGO_PROJECT, \
KARGO_CREDS_*), then $KARGO_CREDS_CONFIG or ~/.config/kargo-creds/config.yaml. \
`kargo-creds resolve --explain URL` shows which Secret answers a URL, and why."
    };
}

/// `git-credential-kargo [flags] ACTION`: what git runs for `credential.helper = kargo`.
#[derive(Parser)]
#[command(
    name = GIT_HELPER,
    version,
    about = "git credential helper that serves Kargo repository credentials",
    after_long_help = concat!(
        "Wire it for a host with `kargo-creds setup git --host github.com`, or by hand:\n\n",
        "  git config --global credential.https://github.com.helper 'kargo --project kargo-demo'\n",
        "  git config --global credential.https://github.com.useHttpPath true\n\n",
        "useHttpPath lets Secrets for one repository match, not only those for the whole host.\n\n",
        settings_help!(),
    )
)]
pub struct GitHelperCli {
    #[command(flatten)]
    pub flags: Flags,
    /// get, store or erase (git passes it; other actions are ignored)
    pub action: String,
}

/// The git helper's command line, as its binary parses it.
pub fn git_helper_command() -> Command {
    GitHelperCli::command()
}

/// The docker helper's command line. docker passes exactly one action word and no flags, so
/// that binary parses its argument by hand (exit 2 and the protocol's usage line otherwise);
/// this description is built from the same [`Action::ALL`], so its page lists exactly the
/// actions the binary accepts.
pub fn docker_helper_command() -> Command {
    let actions = Action::ALL
        .map(|action| PossibleValue::new(action.word()).help(docker_action_help(action)));
    Command::new(DOCKER_HELPER)
        .version(crate::VERSION)
        .about("docker credential helper that serves Kargo registry credentials")
        .long_about(
            "docker credential helper that serves Kargo image and helm registry credentials to \
docker, podman, skopeo, buildah and helm. The client writes the registry's server URL on stdin; \
the helper answers with JSON on stdout, or a message on stdout and exit status 1.",
        )
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(
            Arg::new("action")
                .value_name("ACTION")
                .required(true)
                .value_parser(actions)
                .help("What the client asks for"),
        )
        .after_long_help(concat!(
            "Wire it for a registry with `kargo-creds setup docker --registry ghcr.io`, or by \
adding \"credHelpers\": {\"ghcr.io\": \"kargo\"} to ~/.docker/config.json (also read by \
podman, skopeo and buildah) or to helm's registry config.\n\n",
            settings_help!()
        ))
}

/// Exhaustive on purpose: a new action does not compile until its page says what it does.
fn docker_action_help(action: Action) -> &'static str {
    match action {
        Action::Get => "Print the credentials for the server URL read from stdin (minting a token if needed)",
        Action::Store => "Refused: credentials are Kargo Secrets (`kargo-creds create credentials`), not docker login",
        Action::Erase => "Forget the cached tokens for the server URL read from stdin",
        Action::List => "Print the registries that have credentials, with their usernames",
        Action::Version => "Print the version",
    }
}

/// The completion script for `command` in `shell`, in memory (clap_complete panics when its
/// writer fails; a closed pipe must be an error instead, so the caller writes it). Hidden
/// subcommands (`generate-man`) are left out.
pub fn completions(shell: Shell, command: Command) -> Vec<u8> {
    let mut command = without_hidden_subcommands(command);
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    script
}

/// clap_complete offers hidden subcommands too (clap-rs/clap#1335), and `Command` cannot
/// remove one, so the root is re-assembled from its own arguments and visible subcommands.
/// Nothing is restated, so it cannot drift; only root settings completions never show are
/// lost.
fn without_hidden_subcommands(command: Command) -> Command {
    let mut root = Command::new(command.get_name().to_owned())
        .args(command.get_arguments().cloned())
        .subcommands(
            command
                .get_subcommands()
                .filter(|sub| !sub.is_hide_set())
                .cloned(),
        );
    if let Some(about) = command.get_about() {
        root = root.about(about.clone());
    }
    if command.get_version().is_some() {
        root = root.version(crate::VERSION);
    }
    root
}

/// One rendered man page: its file name (`kargo-creds-resolve.1`) and roff text.
pub struct ManPage {
    pub file_name: String,
    pub roff: Vec<u8>,
}

/// The man pages of all three binaries: one for `kargo-creds` and one per (visible)
/// subcommand of it, git style (`kargo-creds-resolve(1)`), and one for each helper.
pub fn man_pages(kargo_creds: Command) -> io::Result<Vec<ManPage>> {
    let source = format!("kargo-creds {}", crate::VERSION);
    let mut kargo_creds = kargo_creds.disable_help_subcommand(true);
    // Building gives each subcommand its display name (`kargo-creds-get-credentials`).
    kargo_creds.build();
    let mut commands = Vec::new();
    collect_commands(&kargo_creds, &mut commands);
    commands.push(git_helper_command());
    commands.push(docker_helper_command());
    commands
        .into_iter()
        .map(|command| {
            let man = clap_mangen::Man::new(command)
                .source(source.clone())
                .manual("kargo-creds");
            let mut roff = Vec::new();
            man.render(&mut roff)?;
            Ok(ManPage {
                file_name: man.get_filename(),
                roff,
            })
        })
        .collect()
}

fn collect_commands(command: &Command, into: &mut Vec<Command>) {
    into.push(command.clone());
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        collect_commands(sub, into);
    }
}

/// Writing one man page failed.
#[derive(Debug, thiserror::Error)]
#[error("writing the man page {}: {source}", path.display())]
pub struct ManPageError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Writes [`man_pages`] into `dir` (created when missing); returns the paths written.
pub fn write_man_pages(dir: &Path, kargo_creds: Command) -> Result<Vec<PathBuf>, ManPageError> {
    let fail = |path: &Path| {
        let path = path.to_owned();
        move |source| ManPageError { path, source }
    };
    std::fs::create_dir_all(dir).map_err(fail(dir))?;
    let pages = man_pages(kargo_creds).map_err(fail(dir))?;
    let mut written = Vec::with_capacity(pages.len());
    for page in pages {
        let path = dir.join(&page.file_name);
        std::fs::write(&path, &page.roff).map_err(fail(&path))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_leave_out_hidden_subcommands_only() {
        let command = Command::new("tool")
            .version("1")
            .arg(Arg::new("project").long("project").global(true))
            .subcommand(Command::new("visible-one"))
            .subcommand(Command::new("secret-one").hide(true));
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = String::from_utf8(completions(shell, command.clone())).expect("UTF-8");
            assert!(script.contains("visible-one"), "{shell}: {script}");
            assert!(script.contains("project"), "{shell}: {script}");
            assert!(!script.contains("secret-one"), "{shell}: {script}");
        }
    }

    #[test]
    fn the_docker_page_lists_every_action_the_binary_accepts() {
        let page = man_pages(Command::new("kargo-creds")).expect("renders in memory");
        let docker = page
            .iter()
            .find(|page| page.file_name == "docker-credential-kargo.1")
            .expect("a page for the docker helper");
        let text = String::from_utf8_lossy(&docker.roff);
        for action in Action::ALL {
            assert!(text.contains(action.word()), "{} missing", action.word());
        }
    }

    #[test]
    fn the_git_page_documents_the_shared_flags() {
        let pages = man_pages(Command::new("kargo-creds")).expect("renders in memory");
        let names: Vec<&str> = pages.iter().map(|page| page.file_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "kargo-creds.1",
                "git-credential-kargo.1",
                "docker-credential-kargo.1"
            ]
        );
        let git = String::from_utf8_lossy(&pages[1].roff);
        for flag in ["project", "secrets\\-dir", "no\\-cache", "useHttpPath"] {
            assert!(git.contains(flag), "{flag} missing from:\n{git}");
        }
    }
}
