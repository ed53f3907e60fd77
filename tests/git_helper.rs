//! `git-credential-kargo` end to end: driven by real git (`git credential fill`, a real
//! clone over smart HTTP from `tests/support/git_http_server.py`), and run directly to pin
//! the wire protocol, the exit codes and the handling of bad input (SPEC §3, §5, §8.1, §10).
//!
//! Every child process runs under a deadline, every test has its own temporary HOME, git
//! config and secrets folder, and the HTTP server listens on a port the kernel picks, so
//! the tests run in parallel. Every test that runs a binary scans its stderr for the
//! fixture's secret values.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use support::{assert_exit, describe};
use support::{run_bounded, Env, GitHttpServer as Server, EXAMPLE_SECRETS, GIT_HELPER};

/// Bound for one helper run (it reads a folder and answers: milliseconds).
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound for one git command (a clone of a one-commit repository over loopback).
const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The request git sends for the demo repository of the examples (with useHttpPath).
const DEMO_REQUEST: &str = "protocol=https\nhost=github.com\npath=example/kargo-demo.git\n\n";
/// What the helper answers for it with `--project kargo-demo`.
const DEMO_ANSWER: &str = "username=demo-bot\npassword=ghp_exampleDemoRepoToken0001\n";

/// Secret values of the fixtures written by these tests (beside EXAMPLE_SECRETS).
const HOST_PASSWORD: &str = "host-level-password-0101";
const REPO_PASSWORD: &str = "repo-level-password-0102";
const SERVER_PASSWORD: &str = "server-password-0103";
const WRONG_PASSWORD: &str = "wrong-password-0104";
const GOOD_PASSWORD: &str = "good-password-0105";
const SSH_KEY_BODY: &str = "c3NoLWtleS1ub3QtcmVhbC0wMTA2";
const TRAILING_PASSWORD: &str = "trailing-newline-password-0107";
const ECHO_PASSWORD: &str = "echo-mistake-password-0108";
const HTTP_PASSWORD: &str = "plain-http-password-0109";
const LONE_USERNAME_SECRET: &str = "lone-username-0110";

const OUR_SECRETS: &[&str] = &[
    HOST_PASSWORD,
    REPO_PASSWORD,
    SERVER_PASSWORD,
    WRONG_PASSWORD,
    GOOD_PASSWORD,
    SSH_KEY_BODY,
    TRAILING_PASSWORD,
    ECHO_PASSWORD,
    HTTP_PASSWORD,
    LONE_USERNAME_SECRET,
];

// ---------------------------------------------------------------------------------------
// Running things under a deadline
// ---------------------------------------------------------------------------------------

/// Runs the helper directly: `git-credential-kargo args…` with `stdin`.
fn helper(env: &Env, args: &[&str], stdin: &str) -> Output {
    helper_bytes(env, args, stdin.as_bytes())
}

fn helper_bytes(env: &Env, args: &[&str], stdin: &[u8]) -> Output {
    let output = run_bounded(env.command(GIT_HELPER).args(args), stdin, HELPER_TIMEOUT);
    assert_clean(&output);
    output
}

/// No fixture secret and no panic on stderr.
fn assert_clean(output: &Output) {
    support::assert_no_secrets_in_stderr(output, EXAMPLE_SECRETS);
    support::assert_no_secrets_in_stderr(output, OUR_SECRETS);
    let stderr = support::stderr(output);
    assert!(
        !stderr.contains("panicked"),
        "the binary panicked:\n{stderr}"
    );
    assert!(
        !stderr.contains("RUST_BACKTRACE"),
        "the binary panicked:\n{stderr}"
    );
}

/// The documented error shape: exactly one stderr line, `git-credential-kargo: …`,
/// containing each of `needles`.
fn assert_one_error_line(output: &Output, needles: &[&str]) {
    let stderr = support::stderr(output);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one stderr line:\n{}",
        describe(output)
    );
    assert!(
        lines[0].starts_with("git-credential-kargo: "),
        "the error line does not name the program:\n{}",
        describe(output)
    );
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "the error line lacks {needle:?}:\n{}",
            describe(output)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// A `cred-type: git` Secret manifest; values are written as JSON strings, which YAML reads
/// as double-quoted scalars (so `\n` is a real newline).
fn git_secret(namespace: &str, name: &str, string_data: &[(&str, &str)]) -> String {
    let mut text = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels:\n    kargo.akuity.io/cred-type: git\nstringData:\n"
    );
    for (key, value) in string_data {
        text.push_str(&format!(
            "  {key}: {}\n",
            serde_json::to_string(value).unwrap()
        ));
    }
    text
}

/// Git with no system, global or user config, no prompts, and nothing of the caller's
/// GIT_* variables (`Env::command` drops them).
fn git(env: &Env) -> Command {
    let global = env.home.path().join("empty-gitconfig");
    if !global.exists() {
        fs::write(&global, "").unwrap();
    }
    let mut command = env.command("git");
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", &global)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env_remove("SSH_ASKPASS")
        .env_remove("GIT_ASKPASS");
    command
}

/// `git credential fill` with the given `-c` settings.
fn credential_fill(env: &Env, config: &[&str], request: &str) -> Output {
    let mut command = git(env);
    for setting in config {
        command.arg("-c").arg(setting);
    }
    command.args(["credential", "fill"]);
    let output = run_bounded(&mut command, request.as_bytes(), GIT_TIMEOUT);
    assert_clean(&output);
    output
}

fn helper_setting() -> String {
    format!("credential.helper={GIT_HELPER}")
}

// ---------------------------------------------------------------------------------------
// 1. Real git drives the helper
// ---------------------------------------------------------------------------------------

#[test]
fn git_credential_fill_serves_the_secret_through_the_helper() {
    let env = Env::with_examples().var("KARGO_PROJECT", "kargo-demo");
    let helper_config = helper_setting();
    let output = credential_fill(
        &env,
        &[
            "credential.helper=",
            &helper_config,
            "credential.useHttpPath=true",
        ],
        "protocol=https\nhost=github.com\npath=example/kargo-demo.git\n",
    );
    assert_exit(&output, 0);
    let stdout = support::stdout(&output);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.contains(&"username=demo-bot"),
        "{}",
        describe(&output)
    );
    assert!(
        lines.contains(&"password=ghp_exampleDemoRepoToken0001"),
        "{}",
        describe(&output)
    );
    assert!(lines.contains(&"host=github.com"), "{}", describe(&output));
}

#[test]
fn git_runs_kargo_from_path_with_flags_before_the_action() {
    // `credential.helper = kargo --project kargo-demo`: git runs
    // `git credential-kargo --project kargo-demo get`, finding the binary on PATH.
    let env = Env::with_examples();
    let bin_dir = Path::new(GIT_HELPER).parent().unwrap();
    let path = match std::env::var_os("PATH") {
        Some(path) => {
            let mut dirs = vec![bin_dir.to_path_buf()];
            dirs.extend(std::env::split_paths(&path));
            std::env::join_paths(dirs).unwrap()
        }
        None => bin_dir.as_os_str().to_owned(),
    };
    let env = env.var("PATH", path.to_str().unwrap());

    let with_project = credential_fill(
        &env,
        &[
            "credential.helper=",
            "credential.helper=kargo --project kargo-demo",
            "credential.useHttpPath=true",
        ],
        DEMO_REQUEST,
    );
    assert_exit(&with_project, 0);
    let stdout = support::stdout(&with_project);
    assert!(
        stdout.contains("username=demo-bot\n"),
        "{}",
        describe(&with_project)
    );
    assert!(
        stdout.contains("password=ghp_exampleDemoRepoToken0001\n"),
        "{}",
        describe(&with_project)
    );

    // The flag made the difference: without a project only the shared namespace answers.
    let shared_only = credential_fill(
        &env,
        &[
            "credential.helper=",
            "credential.helper=kargo",
            "credential.useHttpPath=true",
        ],
        DEMO_REQUEST,
    );
    assert_exit(&shared_only, 0);
    let stdout = support::stdout(&shared_only);
    assert!(
        stdout.contains("username=shared-reader\n"),
        "{}",
        describe(&shared_only)
    );
    assert!(
        stdout.contains("password=ghp_exampleSharedToken0010\n"),
        "{}",
        describe(&shared_only)
    );
}

#[test]
fn without_use_http_path_only_host_level_secrets_match() {
    let env = Env::empty();
    env.write_manifest(
        "kargo-shared-resources/git.yaml",
        &format!(
            "{}---\n{}",
            git_secret(
                "kargo-shared-resources",
                "host-level",
                &[
                    ("repoURL", "https://git.example.test"),
                    ("username", "host-bot"),
                    ("password", HOST_PASSWORD),
                ],
            ),
            git_secret(
                "kargo-shared-resources",
                "repo-level",
                &[
                    ("repoURL", "https://git.example.test/org/repo.git"),
                    ("username", "repo-bot"),
                    ("password", REPO_PASSWORD),
                ],
            ),
        ),
    );
    let helper_config = helper_setting();
    let request = "protocol=https\nhost=git.example.test\npath=org/repo.git\n\n";

    let with_path = credential_fill(
        &env,
        &[
            "credential.helper=",
            &helper_config,
            "credential.useHttpPath=true",
        ],
        request,
    );
    assert_exit(&with_path, 0);
    let stdout = support::stdout(&with_path);
    assert!(
        stdout.contains("username=repo-bot\n"),
        "{}",
        describe(&with_path)
    );
    assert!(
        stdout.contains(&format!("password={REPO_PASSWORD}\n")),
        "{}",
        describe(&with_path)
    );

    // git drops the path before asking the helper: the host-level Secret answers.
    let without_path = credential_fill(&env, &["credential.helper=", &helper_config], request);
    assert_exit(&without_path, 0);
    let stdout = support::stdout(&without_path);
    assert!(
        stdout.contains("username=host-bot\n"),
        "{}",
        describe(&without_path)
    );
    assert!(
        stdout.contains(&format!("password={HOST_PASSWORD}\n")),
        "{}",
        describe(&without_path)
    );
    assert!(
        !stdout.contains(REPO_PASSWORD),
        "{}",
        describe(&without_path)
    );

    // Run directly without a path, the helper hints at useHttpPath (at -v).
    let hint = helper(
        &env,
        &["-v", "get"],
        "protocol=https\nhost=git.example.test\n\n",
    );
    assert_exit(&hint, 0);
    assert_eq!(
        support::stdout(&hint),
        format!("username=host-bot\npassword={HOST_PASSWORD}\n"),
        "{}",
        describe(&hint)
    );
    assert!(
        support::stderr(&hint).contains("useHttpPath"),
        "{}",
        describe(&hint)
    );

    // The examples hold only repository-level Secrets for github.com: without the path
    // nothing matches, the helper stays silent, and git (not allowed to prompt) fails.
    let examples = Env::with_examples().var("KARGO_PROJECT", "kargo-demo");
    let no_path = credential_fill(
        &examples,
        &["credential.helper=", &helper_config],
        DEMO_REQUEST,
    );
    assert_ne!(no_path.status.code(), Some(0), "{}", describe(&no_path));
    let stdout = support::stdout(&no_path);
    assert!(!stdout.contains("password="), "{}", describe(&no_path));
    assert!(
        support::stderr(&no_path).contains("terminal prompts disabled"),
        "{}",
        describe(&no_path)
    );
}

// ---------------------------------------------------------------------------------------
// 2. A real clone over HTTP
// ---------------------------------------------------------------------------------------

/// A bare repository with one commit at `<home>/srv/repo.git`, served over HTTP, and a
/// Secret for its URL holding `secret_password`.
struct HttpFixture {
    env: Env,
    server: Server,
    url: String,
    actions: PathBuf,
    wrapper: PathBuf,
}

const SERVER_USER: &str = "git-user";
const README: &str = "served by git http-backend\n";

impl HttpFixture {
    fn new(secret_password: &str, allow_http: bool) -> HttpFixture {
        let env = Env::empty();
        let env = if allow_http {
            env.var("KARGO_CREDS_ALLOW_HTTP", "true")
        } else {
            env
        };
        let home = env.home.path().to_path_buf();
        let work = home.join("work");
        let srv = home.join("srv");
        fs::create_dir_all(&srv).unwrap();
        let run_git = |args: &[&str]| {
            let output = run_bounded(git(&env).args(args), b"", GIT_TIMEOUT);
            assert_exit(&output, 0);
        };
        let work_str = work.to_str().unwrap();
        run_git(&["-c", "init.defaultBranch=main", "init", "-q", work_str]);
        fs::write(work.join("README"), README).unwrap();
        run_git(&["-C", work_str, "add", "README"]);
        run_git(&[
            "-C",
            work_str,
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            "init",
        ]);
        run_git(&[
            "clone",
            "-q",
            "--bare",
            work_str,
            srv.join("repo.git").to_str().unwrap(),
        ]);

        let server = Server::start(&env, &srv, SERVER_USER, SERVER_PASSWORD);
        let url = format!("http://127.0.0.1:{}/repo.git", server.port);
        env.write_manifest(
            "kargo-shared-resources/local-git.yaml",
            &git_secret(
                "kargo-shared-resources",
                "local-git",
                &[
                    ("repoURL", &url),
                    ("username", SERVER_USER),
                    ("password", secret_password),
                ],
            ),
        );

        // A wrapper that records the action git asks for, then runs the real helper. It is
        // run as `sh wrapper.sh` (never exec'd itself: no ETXTBSY races in parallel tests).
        let actions = home.join("actions.log");
        let wrapper = home.join("wrapper.sh");
        fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nfor last do :; done\nprintf '%s\\n' \"$last\" >> '{}'\nexec '{}' \"$@\"\n",
                actions.display(),
                GIT_HELPER
            ),
        )
        .unwrap();
        HttpFixture {
            env,
            server,
            url,
            actions,
            wrapper,
        }
    }

    /// `git clone` of the served repository into a fresh folder, with the recording
    /// wrapper as the only helper (or no helper at all).
    fn clone(&self, with_helper: bool) -> (Output, PathBuf) {
        static CLONES: AtomicUsize = AtomicUsize::new(0);
        let dest = self
            .env
            .home
            .path()
            .join(format!("clone-{}", CLONES.fetch_add(1, Ordering::Relaxed)));
        let mut command = git(&self.env);
        command.args(["-c", "credential.helper="]);
        if with_helper {
            command
                .arg("-c")
                .arg(format!(
                    "credential.helper=!sh '{}'",
                    self.wrapper.display()
                ))
                .args(["-c", "credential.useHttpPath=true"]);
        }
        command.args(["clone", "--quiet", &self.url]).arg(&dest);
        let output = run_bounded(&mut command, b"", GIT_TIMEOUT);
        assert_clean(&output);
        // The password never reaches the server's log either.
        let log = fs::read_to_string(&self.server.log).unwrap_or_default();
        for secret in [SERVER_PASSWORD, WRONG_PASSWORD] {
            assert!(
                !log.contains(secret),
                "the auth log holds a password:\n{log}"
            );
        }
        (output, dest)
    }

    fn actions(&self) -> Vec<String> {
        fs::read_to_string(&self.actions)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn describe(&self, output: &Output) -> String {
        format!(
            "{}\n--- helper actions ---\n{:?}\n{}",
            describe(output),
            self.actions(),
            self.server.diagnostics()
        )
    }
}

#[test]
fn clone_over_http_succeeds_with_the_helper() {
    let fixture = HttpFixture::new(SERVER_PASSWORD, true);
    let (output, dest) = fixture.clone(true);
    assert_exit(&output, 0);
    assert_eq!(
        fs::read_to_string(dest.join("README")).unwrap_or_default(),
        README,
        "{}",
        fixture.describe(&output)
    );
    let attempts = fixture.server.attempts();
    assert!(
        attempts.contains(&format!("{SERVER_USER} accepted")),
        "{}",
        fixture.describe(&output)
    );
    assert!(
        !attempts.iter().any(|line| line.ends_with(" rejected")),
        "{}",
        fixture.describe(&output)
    );
    // git asked once, then told every helper to store what worked; it never erased.
    let actions = fixture.actions();
    assert_eq!(
        actions.first().map(String::as_str),
        Some("get"),
        "{}",
        fixture.describe(&output)
    );
    assert!(
        actions.iter().any(|a| a == "store"),
        "{}",
        fixture.describe(&output)
    );
    assert!(
        !actions.iter().any(|a| a == "erase"),
        "{}",
        fixture.describe(&output)
    );
}

#[test]
fn clone_over_http_fails_without_the_helper() {
    let fixture = HttpFixture::new(SERVER_PASSWORD, true);
    let (output, dest) = fixture.clone(false);
    assert_ne!(
        output.status.code(),
        Some(0),
        "{}",
        fixture.describe(&output)
    );
    assert!(!dest.join("README").exists());
    assert!(
        support::stderr(&output).contains("terminal prompts disabled"),
        "{}",
        fixture.describe(&output)
    );
    assert!(
        fixture.server.attempts().is_empty(),
        "{}",
        fixture.describe(&output)
    );
    assert!(
        fixture.actions().is_empty(),
        "{}",
        fixture.describe(&output)
    );
}

#[test]
fn clone_with_a_wrong_password_makes_git_erase_and_fail() {
    let fixture = HttpFixture::new(WRONG_PASSWORD, true);
    let (output, dest) = fixture.clone(true);
    assert_ne!(
        output.status.code(),
        Some(0),
        "{}",
        fixture.describe(&output)
    );
    assert!(!dest.join("README").exists());
    assert!(
        support::stderr(&output).contains("Authentication failed"),
        "{}",
        fixture.describe(&output)
    );
    let attempts = fixture.server.attempts();
    assert!(
        attempts.contains(&format!("{SERVER_USER} rejected")),
        "{}",
        fixture.describe(&output)
    );
    assert!(
        !attempts.iter().any(|line| line.ends_with(" accepted")),
        "{}",
        fixture.describe(&output)
    );
    let actions = fixture.actions();
    assert_eq!(
        actions.first().map(String::as_str),
        Some("get"),
        "{}",
        fixture.describe(&output)
    );
    assert!(
        actions.iter().any(|a| a == "erase"),
        "{}",
        fixture.describe(&output)
    );
    assert!(
        !actions.iter().any(|a| a == "store"),
        "{}",
        fixture.describe(&output)
    );
}

#[test]
fn clone_over_plain_http_without_allow_http_gets_nothing() {
    let fixture = HttpFixture::new(SERVER_PASSWORD, false);
    let (output, dest) = fixture.clone(true);
    assert_ne!(
        output.status.code(),
        Some(0),
        "{}",
        fixture.describe(&output)
    );
    assert!(!dest.join("README").exists());
    // The helper was asked, offered nothing, and git (not allowed to prompt) gave up.
    assert_eq!(
        fixture.actions(),
        vec!["get".to_owned()],
        "{}",
        fixture.describe(&output)
    );
    assert!(
        support::stderr(&output).contains("terminal prompts disabled"),
        "{}",
        fixture.describe(&output)
    );
    assert!(
        fixture.server.attempts().is_empty(),
        "{}",
        fixture.describe(&output)
    );
}

// ---------------------------------------------------------------------------------------
// 3. The wire protocol, running the binary directly
// ---------------------------------------------------------------------------------------

#[test]
fn git_2_47_request_with_capabilities_and_no_blank_line() {
    let env = Env::with_examples();
    let output = helper(
        &env,
        &["--project", "kargo-demo", "get"],
        "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=github.com\npath=example/kargo-demo.git\nwwwauth[]=Basic realm=\"GitHub\"\n",
    );
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        DEMO_ANSWER,
        "{}",
        describe(&output)
    );
}

#[test]
fn git_2_39_request() {
    let env = Env::with_examples().var("KARGO_PROJECT", "kargo-demo");
    let output = helper(&env, &["get"], DEMO_REQUEST);
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        DEMO_ANSWER,
        "{}",
        describe(&output)
    );
    assert_eq!(support::stderr(&output), "", "{}", describe(&output));
}

#[test]
fn url_request() {
    let env = Env::with_examples();
    let output = helper(
        &env,
        &["--project", "kargo-demo", "get"],
        "url=https://github.com/example/kargo-demo.git\n\n",
    );
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        DEMO_ANSWER,
        "{}",
        describe(&output)
    );

    // A port in the host is part of the URL (shared namespace, no project).
    let output = helper(
        &env,
        &["get"],
        "protocol=https\nhost=git.internal.example:8443\npath=infra/manifests\n\n",
    );
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        "username=kargo\npassword=internal-example-password-0012\n",
        "{}",
        describe(&output)
    );
}

#[test]
fn no_match_prints_nothing_and_exits_0() {
    let env = Env::with_examples().var("KARGO_PROJECT", "kargo-demo");
    let output = helper(
        &env,
        &["get"],
        "protocol=https\nhost=unknown.example.test\npath=a/b.git\n\n",
    );
    assert_exit(&output, 0);
    assert_eq!(support::stdout(&output), "", "{}", describe(&output));
}

/// Writes one Secret for `https://git.example.test/org/repo.git` and asks for that URL.
fn ask_for_single_secret(name: &str, string_data: &[(&str, &str)]) -> Output {
    let env = Env::empty();
    let mut data = vec![("repoURL", "https://git.example.test/org/repo.git")];
    data.extend_from_slice(string_data);
    env.write_manifest(
        "kargo-shared-resources/secret.yaml",
        &git_secret("kargo-shared-resources", name, &data),
    );
    helper(
        &env,
        &["get"],
        "protocol=https\nhost=git.example.test\npath=org/repo.git\n\n",
    )
}

/// A Secret matched but holds nothing git can use: `quit=1` alone, exit 0, and a warning
/// naming the Secret (else git fails with no explanation at all).
fn assert_quit_with_warning(output: &Output, secret_id: &str) {
    assert_exit(output, 0);
    assert_eq!(support::stdout(output), "quit=1\n", "{}", describe(output));
    let stderr = support::stderr(output);
    assert!(
        stderr.contains("git-credential-kargo: ") && stderr.contains(secret_id),
        "expected a warning naming {secret_id}:\n{}",
        describe(output)
    );
}

#[test]
fn matched_secret_with_username_but_no_password_quits() {
    let output = ask_for_single_secret("lonely", &[("username", LONE_USERNAME_SECRET)]);
    assert_quit_with_warning(&output, "kargo-shared-resources/lonely");
    assert!(
        support::stderr(&output).contains("no password"),
        "{}",
        describe(&output)
    );
}

#[test]
fn matched_secret_with_empty_password_quits() {
    let output = ask_for_single_secret("empty-password", &[("username", "bot"), ("password", "")]);
    assert_quit_with_warning(&output, "kargo-shared-resources/empty-password");
}

#[test]
fn matched_ssh_key_only_secret_quits() {
    let key = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{SSH_KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----\n"
    );
    let output = ask_for_single_secret("deploy-key", &[("sshPrivateKey", &key)]);
    assert_quit_with_warning(&output, "kargo-shared-resources/deploy-key");
    assert!(!support::stdout(&output).contains(SSH_KEY_BODY));
}

#[test]
fn unknown_action_is_ignored() {
    let env = Env::with_examples().var("KARGO_PROJECT", "kargo-demo");
    for action in ["frobnicate", "capability", "list"] {
        let output = helper(&env, &[action], DEMO_REQUEST);
        assert_exit(&output, 0);
        assert_eq!(
            support::stdout(&output),
            "",
            "{action}: {}",
            describe(&output)
        );
    }
}

#[test]
fn store_and_erase_accept_input_and_print_nothing() {
    let env = Env::with_examples().var("KARGO_PROJECT", "kargo-demo");
    let request = "protocol=https\nhost=github.com\npath=example/kargo-demo.git\nusername=demo-bot\npassword=ghp_exampleDemoRepoToken0001\n\n";
    for action in ["store", "erase"] {
        let output = helper(&env, &[action], request);
        assert_exit(&output, 0);
        assert_eq!(
            support::stdout(&output),
            "",
            "{action}: {}",
            describe(&output)
        );
        assert_eq!(
            support::stderr(&output),
            "",
            "{action}: {}",
            describe(&output)
        );
    }
    // git 2.47 style, without a blank line, and with flags before the action.
    let output = helper(
        &env,
        &["--project", "kargo-demo", "erase"],
        "capability[]=authtype\nprotocol=https\nhost=github.com\nusername=x\npassword=y\n",
    );
    assert_exit(&output, 0);
    assert_eq!(support::stdout(&output), "", "{}", describe(&output));
}

#[test]
fn no_action_is_a_usage_error() {
    let env = Env::with_examples();
    let output = helper(&env, &[], DEMO_REQUEST);
    assert_exit(&output, 2);
    assert_eq!(support::stdout(&output), "", "{}", describe(&output));
    assert!(
        support::stderr(&output).to_lowercase().contains("usage"),
        "{}",
        describe(&output)
    );
}

// ---------------------------------------------------------------------------------------
// 4. Bad input: a clear one-line message, the documented exit code, never a panic
// ---------------------------------------------------------------------------------------

#[test]
fn line_without_equals_is_an_error() {
    let env = Env::with_examples();
    let output = helper(&env, &["get"], "protocol=https\nhost\n\n");
    assert_exit(&output, 1);
    assert_eq!(support::stdout(&output), "", "{}", describe(&output));
    assert_one_error_line(&output, &["line 2"]);
}

#[test]
fn nul_in_a_value_is_an_error() {
    let env = Env::with_examples();
    let output = helper_bytes(
        &env,
        &["get"],
        b"protocol=https\nhost=github.com\npath=example/kargo\0-demo.git\n\n",
    );
    assert_exit(&output, 1);
    assert_eq!(support::stdout(&output), "", "{}", describe(&output));
    assert_one_error_line(&output, &["NUL", "line 3"]);
}

#[test]
fn more_than_64_kib_of_input_is_an_error() {
    let env = Env::with_examples().var("KARGO_PROJECT", "kargo-demo");
    let mut big = String::from("protocol=https\nhost=github.com\npath=example/kargo-demo.git\n");
    big.push_str(&format!("padding={}\n", "a".repeat(70 * 1024)));
    let output = helper(&env, &["get"], &big);
    assert_exit(&output, 1);
    assert_eq!(support::stdout(&output), "", "{}", describe(&output));
    assert_one_error_line(&output, &["64 KiB"]);

    // Just under the limit is fine (unknown keys are ignored).
    let mut under = String::from("protocol=https\nhost=github.com\npath=example/kargo-demo.git\n");
    under.push_str(&format!("padding={}\n", "a".repeat(60 * 1024)));
    let output = helper(&env, &["get"], &under);
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        DEMO_ANSWER,
        "{}",
        describe(&output)
    );
}

#[test]
fn the_64_kib_limit_is_exact() {
    let env = Env::with_examples().var("KARGO_PROJECT", "kargo-demo");
    let request = |total: usize| {
        let head = "protocol=https\nhost=github.com\npath=example/kargo-demo.git\npadding=";
        let mut text = String::from(head);
        text.push_str(&"a".repeat(total - head.len() - 1));
        text.push('\n');
        assert_eq!(text.len(), total);
        text
    };
    let output = helper(&env, &["get"], &request(64 * 1024));
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        DEMO_ANSWER,
        "{}",
        describe(&output)
    );

    let output = helper(&env, &["get"], &request(64 * 1024 + 1));
    assert_exit(&output, 1);
    assert_eq!(support::stdout(&output), "", "{}", describe(&output));
    assert_one_error_line(&output, &["64 KiB"]);
}

#[test]
fn non_utf8_input_is_an_error() {
    let env = Env::with_examples();
    let output = helper_bytes(&env, &["get"], b"protocol=https\nhost=git\xffhub.com\n\n");
    assert_exit(&output, 1);
    assert_eq!(support::stdout(&output), "", "{}", describe(&output));
    assert_one_error_line(&output, &["line 2"]);
}

#[test]
fn missing_secrets_folder_is_an_error() {
    let env = Env::empty();
    let output = helper(
        &env,
        &["--secrets-dir", "/nonexistent/x", "--source", "dir", "get"],
        DEMO_REQUEST,
    );
    assert_exit(&output, 1);
    // No Secret matched, so git may go on to its next helper: no quit=1.
    assert_eq!(support::stdout(&output), "", "{}", describe(&output));
    assert_one_error_line(&output, &["/nonexistent/x"]);
}

#[test]
fn malformed_yaml_file_is_skipped_with_a_warning_naming_file_and_line() {
    let env = Env::empty();
    let broken = env.write_manifest(
        "kargo-shared-resources/broken.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: broken\n  labels: [unclosed\n",
    );
    env.write_manifest(
        "kargo-shared-resources/good.yaml",
        &git_secret(
            "kargo-shared-resources",
            "good",
            &[
                ("repoURL", "https://git.example.test/org/repo.git"),
                ("username", "good-bot"),
                ("password", GOOD_PASSWORD),
            ],
        ),
    );
    let output = helper(
        &env,
        &["get"],
        "protocol=https\nhost=git.example.test\npath=org/repo.git\n\n",
    );
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        format!("username=good-bot\npassword={GOOD_PASSWORD}\n"),
        "{}",
        describe(&output)
    );
    let stderr = support::stderr(&output);
    let warning = stderr
        .lines()
        .find(|line| line.contains("broken.yaml"))
        .unwrap_or_else(|| {
            panic!(
                "no warning names {}:\n{}",
                broken.display(),
                describe(&output)
            )
        });
    assert!(
        warning.starts_with("git-credential-kargo: "),
        "{}",
        describe(&output)
    );
    assert!(
        warning.contains(broken.to_str().unwrap()),
        "{}",
        describe(&output)
    );
    let line_number = warning
        .split("line ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse::<usize>().ok());
    assert!(
        matches!(line_number, Some(5) | Some(6)),
        "the warning should name the line of the unclosed flow sequence:\n{}",
        describe(&output)
    );
}

#[test]
fn invalid_regex_is_skipped_with_a_warning_naming_the_secret() {
    let env = Env::empty();
    env.write_manifest(
        "kargo-shared-resources/git.yaml",
        &format!(
            "{}---\n{}",
            git_secret(
                "kargo-shared-resources",
                "a-bad-pattern",
                &[
                    ("repoURL", "^https://git\\.example\\.test/(unclosed"),
                    ("repoURLIsRegex", "true"),
                    ("username", "bad-bot"),
                    ("password", WRONG_PASSWORD),
                ],
            ),
            git_secret(
                "kargo-shared-resources",
                "b-good-pattern",
                &[
                    ("repoURL", "^https://git\\.example\\.test/"),
                    ("repoURLIsRegex", "true"),
                    ("username", "good-bot"),
                    ("password", GOOD_PASSWORD),
                ],
            ),
        ),
    );
    let output = helper(
        &env,
        &["get"],
        "protocol=https\nhost=git.example.test\npath=org/repo.git\n\n",
    );
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        format!("username=good-bot\npassword={GOOD_PASSWORD}\n"),
        "{}",
        describe(&output)
    );
    let stderr = support::stderr(&output);
    assert!(
        stderr
            .lines()
            .any(|line| line.starts_with("git-credential-kargo: ")
                && line.contains("kargo-shared-resources/a-bad-pattern")),
        "no warning names the Secret with the invalid pattern:\n{}",
        describe(&output)
    );
}

#[test]
fn password_with_embedded_newline_is_refused_without_showing_it() {
    let env = Env::empty();
    env.write_manifest(
        "kargo-shared-resources/git.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: injector\n  namespace: kargo-shared-resources\n  labels:\n    kargo.akuity.io/cred-type: git\nstringData:\n  repoURL: https://git.example.test/org/repo.git\n  username: bot\n  password: \"a\\nusername=evil\"\n",
    );
    let output = helper(
        &env,
        &["get"],
        "protocol=https\nhost=git.example.test\npath=org/repo.git\n\n",
    );
    assert_exit(&output, 1);
    // A Secret matched: git must stop, not prompt.
    assert_eq!(
        support::stdout(&output),
        "quit=1\n",
        "{}",
        describe(&output)
    );
    assert_one_error_line(&output, &["kargo-shared-resources/injector"]);
    assert!(!support::stdout(&output).contains("evil"));
    assert!(!support::stderr(&output).contains("evil"));
}

#[test]
fn plain_http_url_gets_nothing_unless_allowed() {
    let env = Env::empty();
    env.write_manifest(
        "kargo-shared-resources/git.yaml",
        &git_secret(
            "kargo-shared-resources",
            "plain",
            &[
                ("repoURL", "http://git.example.test/org/repo.git"),
                ("username", "http-bot"),
                ("password", HTTP_PASSWORD),
            ],
        ),
    );
    for request in [
        "protocol=http\nhost=git.example.test\npath=org/repo.git\n\n",
        "url=http://git.example.test/org/repo.git\n\n",
        "protocol=HTTP\nhost=git.example.test\npath=org/repo.git\n\n",
    ] {
        let output = helper(&env, &["get"], request);
        assert_exit(&output, 0);
        assert_eq!(
            support::stdout(&output),
            "",
            "{request:?}: {}",
            describe(&output)
        );
    }
    // At -v the helper says why.
    let output = helper(
        &env,
        &["-v", "get"],
        "url=http://git.example.test/org/repo.git\n\n",
    );
    assert_exit(&output, 0);
    assert_eq!(support::stdout(&output), "", "{}", describe(&output));
    assert!(
        support::stderr(&output).contains("KARGO_CREDS_ALLOW_HTTP"),
        "{}",
        describe(&output)
    );

    // Allowed: the same request is served.
    let env = env.var("KARGO_CREDS_ALLOW_HTTP", "true");
    let output = helper(
        &env,
        &["get"],
        "url=http://git.example.test/org/repo.git\n\n",
    );
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        format!("username=http-bot\npassword={HTTP_PASSWORD}\n"),
        "{}",
        describe(&output)
    );
}

#[test]
fn one_trailing_newline_is_trimmed_and_served() {
    let env = Env::empty();
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    env.write_manifest(
        "kargo-shared-resources/git.yaml",
        &format!(
            "{}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: echoed\n  namespace: kargo-shared-resources\n  labels:\n    kargo.akuity.io/cred-type: git\ndata:\n  repoURL: {}\n  username: {}\n  password: {}\n",
            git_secret(
                "kargo-shared-resources",
                "trailing",
                &[
                    ("repoURL", "https://git.example.test/org/trailing.git"),
                    ("username", "trail-bot"),
                    ("password", &format!("{TRAILING_PASSWORD}\n")),
                ],
            ),
            // `echo … | base64`: every value ends in a newline.
            b64("https://git.example.test/org/echoed.git\n"),
            b64("echo-bot\n"),
            b64(&format!("{ECHO_PASSWORD}\n")),
        ),
    );
    let output = helper(
        &env,
        &["get"],
        "protocol=https\nhost=git.example.test\npath=org/trailing.git\n\n",
    );
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        format!("username=trail-bot\npassword={TRAILING_PASSWORD}\n"),
        "{}",
        describe(&output)
    );

    let output = helper(
        &env,
        &["get"],
        "protocol=https\nhost=git.example.test\npath=org/echoed.git\n\n",
    );
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        format!("username=echo-bot\npassword={ECHO_PASSWORD}\n"),
        "{}",
        describe(&output)
    );
}
