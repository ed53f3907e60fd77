//! GitHub App installation tokens and the token cache, end to end (SPEC §6.1, §7, §8.1;
//! issue 4): the real binaries mint against `tests/support/fake_github.py`, which verifies
//! the App's RS256 JWT, records every mint and validation, and injects failures; real git
//! drives the helper (`git credential fill|reject`, a clone over smart HTTP from
//! `tests/support/git_http_server.py`, which accepts only the tokens the fake minted).
//!
//! Every test has its own temporary HOME, secrets folder, cache folder, key pair and fake
//! server (on a port the kernel picks), so the tests run in parallel. Every child process
//! runs under a deadline. Every binary run is checked: its stderr never holds the private
//! key (PEM lines or base64), nor any token the fake minted, nor a panic.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value};
use support::{assert_exit, describe};
use support::{run_bounded, Env, FakeGithub, CLI, GIT_HELPER};

const APP_ID: &str = "12345";
const CLIENT_ID: &str = "Iv1.kargotestclient";
const INSTALLATION: &str = "777";
const SHARED: &str = "kargo-shared-resources";
const SECRET: &str = "github-app";
const SECRET_ID: &str = "kargo-shared-resources/github-app";
const REPO_URL: &str = "https://github.com/acme/app";
const USERNAME: &str = "x-access-token";
/// Fast post-mint validation waits (the default 3, 10, 30 s would make tests slow).
const FAST_WAITS: &str = "0.05,0.05,0.05";

/// Bound for one helper run.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for one git command (a clone of a one-commit repository over loopback).
const GIT_TIMEOUT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------------------
// Running things under a deadline
// ---------------------------------------------------------------------------------------

/// The documented error shape: exactly one stderr line starting with `prefix`, holding each
/// of `needles`.
fn assert_one_error_line(output: &Output, prefix: &str, needles: &[&str]) {
    let stderr = support::stderr(output);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one stderr line:\n{}",
        describe(output)
    );
    assert!(
        lines[0].starts_with(prefix),
        "the error line does not start with {prefix:?}:\n{}",
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

/// `key=value` lines (git's credential format) as a map.
fn key_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Waits (polling) until `condition` holds, failing after `timeout` with `what`.
fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// The git request for `https://github.com/<path>` as git sends it with useHttpPath.
fn request(path: &str) -> String {
    format!("protocol=https\nhost=github.com\npath={path}\n\n")
}

// ---------------------------------------------------------------------------------------
// Keys and Secrets
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KeyKind {
    /// `openssl genrsa -traditional`: `BEGIN RSA PRIVATE KEY`.
    Pkcs1,
    /// `openssl genpkey -algorithm RSA`: `BEGIN PRIVATE KEY`.
    Pkcs8,
    /// A P-256 key (PKCS#8): a PEM private key that is not RSA.
    Ec,
}

/// Generates a private key into `dir` (mode 0600) and returns its path.
fn generate_key(dir: &Path, kind: KeyKind) -> PathBuf {
    let path = dir.join(format!("{kind:?}.pem").to_lowercase());
    let out = path.to_str().unwrap();
    let mut command = Command::new("openssl");
    match kind {
        KeyKind::Pkcs1 => command.args(["genrsa", "-traditional", "-out", out, "2048"]),
        KeyKind::Pkcs8 => command.args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            out,
        ]),
        KeyKind::Ec => command.args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            out,
        ]),
    };
    let output = run_bounded(&mut command, b"", Duration::from_secs(60));
    assert_exit(&output, 0);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let pem = fs::read_to_string(&path).unwrap();
    let header = match kind {
        KeyKind::Pkcs1 => "-----BEGIN RSA PRIVATE KEY-----",
        KeyKind::Pkcs8 | KeyKind::Ec => "-----BEGIN PRIVATE KEY-----",
    };
    assert!(
        pem.starts_with(header),
        "{kind:?} key starts {:?}",
        &pem[..40]
    );
    path
}

/// A `cred-type: git` Secret manifest. Values are written as JSON strings, which YAML reads
/// as double-quoted scalars (so `\n` in a PEM is a real newline).
fn git_secret(
    namespace: &str,
    name: &str,
    annotations: &[(&str, &str)],
    string_data: &[(&str, &str)],
) -> String {
    let quote = |value: &str| serde_json::to_string(value).unwrap();
    let mut text = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels:\n    kargo.akuity.io/cred-type: git\n"
    );
    if !annotations.is_empty() {
        text.push_str("  annotations:\n");
        for (key, value) in annotations {
            text.push_str(&format!("    {key}: {}\n", quote(value)));
        }
    }
    text.push_str("stringData:\n");
    for (key, value) in string_data {
        text.push_str(&format!("  {key}: {}\n", quote(value)));
    }
    text
}

/// How the Secret carries the App.
#[derive(Clone, Copy)]
enum Ids {
    /// `githubAppID` and `githubAppClientID` (the client ID must win).
    Both,
    /// `githubAppID` only.
    AppId,
}

/// The App's fields for a Secret, with `key` as the private key.
fn app_fields(ids: Ids, key: &str) -> Vec<(&str, &str)> {
    let mut fields = vec![("githubAppID", APP_ID)];
    if let Ids::Both = ids {
        fields.push(("githubAppClientID", CLIENT_ID));
    }
    fields.push(("githubAppInstallationID", INSTALLATION));
    fields.push(("githubAppPrivateKey", key));
    fields
}

/// One test's world: a key pair, the fake GitHub knowing it, and an environment whose
/// GitHub API is the fake, with fast validation waits and a cache folder of its own.
struct App {
    env: Env,
    fake: FakeGithub,
    /// The private key PEM the Secrets carry.
    pem: String,
    /// Private material that must never reach stderr: every PEM body line, the base64 of
    /// the PEM, and whatever else a test adds.
    private: Vec<String>,
}

impl App {
    /// A PKCS#1 key; the fake knows app ID, client ID and the installation.
    fn start() -> App {
        App::with(KeyKind::Pkcs1, &[])
    }

    /// A key of `kind` (the fake gets an RSA key of its own when `kind` is not RSA), and
    /// `fake_args` for the fake (e.g. `--token-ttl`).
    fn with(kind: KeyKind, fake_args: &[&str]) -> App {
        let env = Env::empty();
        let keys = env.home.path().join("keys");
        fs::create_dir(&keys).unwrap();
        fs::set_permissions(&keys, fs::Permissions::from_mode(0o700)).unwrap();
        let key = generate_key(&keys, kind);
        let fake_key = if kind == KeyKind::Ec {
            generate_key(&keys, KeyKind::Pkcs1)
        } else {
            key.clone()
        };
        let mut args = vec![
            "--public-key",
            fake_key.to_str().unwrap(),
            "--app-id",
            APP_ID,
            "--client-id",
            CLIENT_ID,
            "--installation",
            INSTALLATION,
        ];
        args.extend_from_slice(fake_args);
        let fake = FakeGithub::start(&args);
        let cache = env.home.path().join("cache");
        let env = env
            .var("KARGO_CREDS_GITHUB_API_URL", &fake.api_url())
            .var("KARGO_CREDS_GITHUB_VALIDATION_WAITS", FAST_WAITS)
            .var("KARGO_CREDS_CACHE_DIR", cache.to_str().unwrap());
        let pem = fs::read_to_string(&key).unwrap();
        let mut private: Vec<String> = pem
            .lines()
            .filter(|line| !line.starts_with("-----") && line.len() >= 16)
            .map(str::to_owned)
            .collect();
        let wrapped = base64::engine::general_purpose::STANDARD.encode(&pem);
        private.push(wrapped[..48].to_owned());
        private.push(wrapped);
        if kind == KeyKind::Ec {
            let fake_pem = fs::read_to_string(&fake_key).unwrap();
            private.extend(
                fake_pem
                    .lines()
                    .filter(|line| !line.starts_with("-----") && line.len() >= 16)
                    .map(str::to_owned),
            );
        }
        App {
            env,
            fake,
            pem,
            private,
        }
    }

    fn set(&mut self, name: &str, value: &str) {
        self.env.vars.retain(|(k, _)| k != name);
        self.env.vars.push((name.to_owned(), value.to_owned()));
    }

    fn unset(&mut self, name: &str) {
        self.env.vars.retain(|(k, _)| k != name);
    }

    fn cache_dir(&self) -> PathBuf {
        self.env.home.path().join("cache")
    }

    /// The App's fields for a Secret, with the PEM as it is.
    fn fields(&self, ids: Ids) -> Vec<(&str, &str)> {
        self.fields_with_key(ids, &self.pem)
    }

    fn fields_with_key<'a>(&self, ids: Ids, key: &'a str) -> Vec<(&'a str, &'a str)> {
        app_fields(ids, key)
    }

    /// Writes `<SHARED>/github-app.yaml`: the App for `REPO_URL` (exact), both IDs.
    fn write_standard_secret(&self) {
        let mut data = vec![("repoURL", REPO_URL)];
        data.extend(self.fields(Ids::Both));
        self.write_secret(SHARED, SECRET, &[], &data);
    }

    fn write_secret(
        &self,
        namespace: &str,
        name: &str,
        annotations: &[(&str, &str)],
        data: &[(&str, &str)],
    ) {
        self.env.write_manifest(
            &format!("{namespace}/{name}.yaml"),
            &git_secret(namespace, name, annotations, data),
        );
    }

    /// Runs `program args…` under a deadline and checks its stderr.
    fn run(&self, program: &str, args: &[&str], stdin: &str) -> Output {
        self.run_command(self.env.command(program).args(args), stdin)
    }

    fn run_command(&self, command: &mut Command, stdin: &str) -> Output {
        let output = run_bounded(command, stdin.as_bytes(), RUN_TIMEOUT);
        self.assert_clean(&output);
        output
    }

    /// `git-credential-kargo get` for `https://github.com/<path>`.
    fn get(&self, path: &str) -> Output {
        self.run(GIT_HELPER, &["get"], &request(path))
    }

    /// A successful `get`: the answer's password and expiry.
    fn get_ok(&self, path: &str) -> (String, i64) {
        let output = self.get(path);
        assert_exit(&output, 0);
        let answer = key_values(&support::stdout(&output));
        assert_eq!(
            answer.get("username").map(String::as_str),
            Some(USERNAME),
            "{}",
            describe(&output)
        );
        let password = answer
            .get("password")
            .unwrap_or_else(|| panic!("no password:\n{}", describe(&output)))
            .clone();
        let expiry = answer
            .get("password_expiry_utc")
            .unwrap_or_else(|| panic!("no password_expiry_utc:\n{}", describe(&output)))
            .parse()
            .unwrap();
        (password, expiry)
    }

    /// No private material, no minted token and no panic on stderr.
    fn assert_clean(&self, output: &Output) {
        let mut secrets = self.private.clone();
        secrets.extend(self.fake.tokens());
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        support::assert_no_secrets_in_stderr(output, &secrets);
        let stderr = support::stderr(output);
        assert!(
            !stderr.contains("panicked"),
            "the binary panicked:\n{stderr}"
        );
    }

    /// Git with no system, global or user config and no prompts.
    fn git(&self) -> Command {
        let global = self.env.home.path().join("empty-gitconfig");
        if !global.exists() {
            fs::write(&global, "").unwrap();
        }
        let mut command = self.env.command("git");
        command
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", &global)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .env_remove("SSH_ASKPASS")
            .env_remove("GIT_ASKPASS");
        command
    }

    /// `git -c credential.helper= -c credential.helper=<abs path> -c
    /// credential.useHttpPath=true ARGS…`.
    fn git_with_helper(&self) -> Command {
        let mut command = self.git();
        command
            .args(["-c", "credential.helper="])
            .arg("-c")
            .arg(format!("credential.helper={GIT_HELPER}"))
            .args(["-c", "credential.useHttpPath=true"]);
        command
    }

    /// The fake's request log once it has settled: the fake logs a request after its
    /// answer, so a client may be done before the line is written.
    fn requests(&self) -> Vec<Value> {
        let mut last = self.fake.requests();
        let mut stable_since = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(10);
        while stable_since.elapsed() < Duration::from_millis(250) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(25));
            let now = self.fake.requests();
            if now.len() != last.len() {
                last = now;
                stable_since = Instant::now();
            }
        }
        last
    }

    fn mint_count(&self) -> usize {
        self.fake.mints().len()
    }

    /// The cache folder's entries (`*.json`).
    fn entries(&self) -> Vec<PathBuf> {
        let mut entries: Vec<PathBuf> = match fs::read_dir(self.cache_dir()) {
            Ok(read_dir) => read_dir
                .map(|entry| entry.unwrap().path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
                .collect(),
            Err(_) => Vec::new(),
        };
        entries.sort();
        entries
    }

    fn diagnostics(&self) -> String {
        format!(
            "--- mints ---\n{:#?}\n--- requests ---\n{:#?}\n--- fake stderr ---\n{}",
            self.fake.mints(),
            self.fake.requests(),
            self.fake.stderr_log()
        )
    }
}

/// `GET <path>` on the fake with `Authorization: Bearer <token>`: the status code.
fn api_get(port: u16, path: &str, token: &str) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: kargo-creds-tests\r\nAccept: application/vnd.github+json\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut status_line = String::new();
    BufReader::new(stream).read_line(&mut status_line).unwrap();
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status line: {status_line:?}"))
}

// ---------------------------------------------------------------------------------------
// 1. Real git: `git credential fill`
// ---------------------------------------------------------------------------------------

#[test]
fn git_credential_fill_returns_a_token_minted_for_exactly_the_repository() {
    let app = App::start();
    app.write_standard_secret();
    let before = unix_now();
    let output = app.run_command(
        app.git_with_helper().args(["credential", "fill"]),
        &request("acme/app.git"),
    );
    assert_exit(&output, 0);
    let answer = key_values(&support::stdout(&output));

    let mints = app.fake.mints();
    assert_eq!(mints.len(), 1, "{}", app.diagnostics());
    let mint = &mints[0];
    assert_eq!(
        answer.get("username").map(String::as_str),
        Some(USERNAME),
        "{}",
        describe(&output)
    );
    assert_eq!(
        answer.get("password").map(String::as_str),
        mint["token"].as_str(),
        "{}",
        describe(&output)
    );
    let expiry: i64 = answer
        .get("password_expiry_utc")
        .unwrap_or_else(|| panic!("git passed on no expiry:\n{}", describe(&output)))
        .parse()
        .unwrap();
    let after = unix_now();
    assert!(
        expiry > before + 3000 && expiry < after + 3700,
        "password_expiry_utc {expiry} is not about an hour from {before}"
    );
    assert_eq!(answer.get("host").map(String::as_str), Some("github.com"));

    // The token was asked for exactly this repository, by the client ID (preferred over
    // the App ID), for the installation of the Secret.
    assert_eq!(mint["repositories"], json!(["app"]));
    assert_eq!(mint["iss"], json!(CLIENT_ID));
    assert_eq!(mint["installation"], json!(INSTALLATION));
    assert_eq!(
        mint["path"],
        json!(format!("/app/installations/{INSTALLATION}/access_tokens"))
    );
    // Every request carried a User-Agent and GitHub's media type; the token was validated
    // against its repository before it was handed out.
    let requests = app.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert!(
            request["user_agent"]
                .as_str()
                .is_some_and(|ua| !ua.is_empty()),
            "{request}"
        );
        assert!(
            request["accept"]
                .as_str()
                .is_some_and(|accept| accept.contains("application/vnd.github+json")),
            "{request}"
        );
    }
    let validations = app.fake.validations();
    assert_eq!(validations.len(), 1, "{validations:#?}");
    assert_eq!(validations[0]["token"], mint["token"]);
    assert_eq!(validations[0]["owner"], json!("acme"));
    assert_eq!(validations[0]["repo"], json!("app"));
    assert_eq!(validations[0]["status"], json!(200));
}

// ---------------------------------------------------------------------------------------
// 2. The cache serves the second get; an entry inside the margin is minted again
// ---------------------------------------------------------------------------------------

#[test]
fn a_second_get_is_served_from_the_cache() {
    let app = App::start();
    app.write_standard_secret();
    let (first, first_expiry) = app.get_ok("acme/app.git");
    assert_eq!(app.mint_count(), 1);

    // The helper's answer, exactly: username, password, expiry.
    let output = app.get("acme/app.git");
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        format!("username={USERNAME}\npassword={first}\npassword_expiry_utc={first_expiry}\n")
    );
    assert_eq!(app.mint_count(), 1, "{}", app.diagnostics());

    // `kargo-creds get -o json` shares the cache.
    let output = app.run(CLI, &["get", REPO_URL, "-o", "json"], "");
    assert_exit(&output, 0);
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["username"], json!(USERNAME));
    assert_eq!(answer["password"], json!(first));
    assert_eq!(answer["provider"], json!("githubApp"));
    assert_eq!(answer["secret"], json!(SECRET_ID));
    assert_eq!(answer["expires_at"], app.fake.mints()[0]["expires_at"]);
    assert_eq!(app.mint_count(), 1, "{}", app.diagnostics());

    // The same repository without `.git` normalizes the same: the same entry.
    let (again, _) = app.get_ok("acme/app");
    assert_eq!(again, first);
    assert_eq!(app.mint_count(), 1, "{}", app.diagnostics());
}

#[test]
fn without_the_cache_every_get_mints() {
    let mut app = App::start();
    app.write_standard_secret();
    let output = app.run(GIT_HELPER, &["--no-cache", "get"], &request("acme/app.git"));
    assert_exit(&output, 0);
    let output = app.run(GIT_HELPER, &["--no-cache", "get"], &request("acme/app.git"));
    assert_exit(&output, 0);
    assert_eq!(app.mint_count(), 2, "{}", app.diagnostics());
    app.set("KARGO_CREDS_NO_CACHE", "1");
    app.get_ok("acme/app.git");
    assert_eq!(app.mint_count(), 3, "{}", app.diagnostics());
    assert!(
        app.entries().is_empty(),
        "nothing cached: {:?}",
        app.entries()
    );
}

#[test]
fn an_entry_inside_the_expiry_margin_is_minted_again() {
    // Tokens live 200 s; the default margin is 300 s: no token is ever fresh enough.
    let mut app = App::with(KeyKind::Pkcs1, &["--token-ttl", "200"]);
    app.write_standard_secret();
    let before = unix_now();
    let (first, expiry) = app.get_ok("acme/app.git");
    assert!(
        expiry >= before + 190 && expiry <= unix_now() + 210,
        "expiry {expiry}, now {before}"
    );
    let (second, _) = app.get_ok("acme/app.git");
    assert_eq!(app.mint_count(), 2, "{}", app.diagnostics());
    assert_ne!(first, second);
    let tokens: Vec<Value> = app
        .fake
        .mints()
        .iter()
        .map(|m| m["token"].clone())
        .collect();
    assert_eq!(tokens, [json!(first), json!(second)]);
    assert!(
        app.entries().is_empty(),
        "a token inside the margin was cached"
    );

    // An entry that was fresh when stored (margin 100 s) and is inside the margin now
    // (300 s) is not served: minted again.
    app.set("KARGO_CREDS_EXPIRY_MARGIN", "100");
    let (third, _) = app.get_ok("acme/app.git");
    assert_eq!(app.entries().len(), 1);
    assert_eq!(app.get_ok("acme/app.git").0, third);
    assert_eq!(app.mint_count(), 3, "{}", app.diagnostics());
    app.set("KARGO_CREDS_EXPIRY_MARGIN", "300");
    let (fourth, _) = app.get_ok("acme/app.git");
    assert_ne!(fourth, third, "an entry inside the margin was served");
    assert_eq!(app.mint_count(), 4, "{}", app.diagnostics());
}

// ---------------------------------------------------------------------------------------
// 3. 64 concurrent processes: one mint
// ---------------------------------------------------------------------------------------

#[test]
fn sixty_four_concurrent_gets_mint_exactly_once() {
    const PROCESSES: usize = 64;
    let app = App::start();
    app.write_standard_secret();
    app.fake.control(&json!({"mint_delay_ms": 300}));
    let barrier = Barrier::new(PROCESSES);
    let started = Instant::now();
    let outputs: Vec<Output> = thread::scope(|scope| {
        let workers: Vec<_> = (0..PROCESSES)
            .map(|_| {
                scope.spawn(|| {
                    let mut command = app.env.command(GIT_HELPER);
                    command.arg("get");
                    barrier.wait();
                    run_bounded(
                        &mut command,
                        request("acme/app.git").as_bytes(),
                        Duration::from_secs(120),
                    )
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap())
            .collect()
    });
    let elapsed = started.elapsed();
    eprintln!("64 concurrent cold gets: {elapsed:?}");
    let mints = app.fake.mints();
    assert_eq!(mints.len(), 1, "{}", app.diagnostics());
    let token = mints[0]["token"].as_str().unwrap();
    for output in &outputs {
        app.assert_clean(output);
        assert_exit(output, 0);
        let answer = key_values(&support::stdout(output));
        assert_eq!(
            answer.get("password").map(String::as_str),
            Some(token),
            "{}",
            describe(output)
        );
    }
    let posts = app
        .requests()
        .iter()
        .filter(|r| r["method"] == json!("POST"))
        .count();
    assert_eq!(posts, 1, "{}", app.diagnostics());
}

// ---------------------------------------------------------------------------------------
// 4. Another repository, another token
// ---------------------------------------------------------------------------------------

#[test]
fn a_different_repository_gets_a_token_of_its_own() {
    let app = App::start();
    let mut data = vec![
        ("repoURL", r"^https://github\.com/acme/.*$"),
        ("repoURLIsRegex", "true"),
    ];
    data.extend(app.fields(Ids::Both));
    app.write_secret(SHARED, SECRET, &[], &data);

    let (token_app, _) = app.get_ok("acme/app.git");
    let (token_lib, _) = app.get_ok("acme/lib.git");
    assert_ne!(token_app, token_lib);
    let mints = app.fake.mints();
    assert_eq!(mints.len(), 2, "{}", app.diagnostics());
    assert_eq!(mints[0]["repositories"], json!(["app"]));
    assert_eq!(mints[0]["token"], json!(token_app));
    assert_eq!(mints[1]["repositories"], json!(["lib"]));
    assert_eq!(mints[1]["token"], json!(token_lib));

    // Each was validated against its own repository.
    let validations = app.fake.validations();
    assert_eq!(validations.len(), 2, "{validations:#?}");
    for (validation, (token, repo)) in validations
        .iter()
        .zip([(&token_app, "app"), (&token_lib, "lib")])
    {
        assert_eq!(validation["token"], json!(token));
        assert_eq!(validation["repo"], json!(repo));
        assert_eq!(validation["status"], json!(200));
    }
    // The token for app does not reach lib (and vice versa) at the fake.
    assert_eq!(api_get(app.fake.port, "/repos/acme/lib", &token_app), 404);
    assert_eq!(api_get(app.fake.port, "/repos/acme/app", &token_lib), 404);
    assert_eq!(api_get(app.fake.port, "/repos/acme/app", &token_app), 200);

    // Both stay cached side by side.
    assert_eq!(app.get_ok("acme/app.git").0, token_app);
    assert_eq!(app.get_ok("acme/lib.git").0, token_lib);
    assert_eq!(app.mint_count(), 2, "{}", app.diagnostics());
}

// ---------------------------------------------------------------------------------------
// 5. Projects: the scope annotation, and no token crosses projects
// ---------------------------------------------------------------------------------------

const SCOPES: &str = "kargo.akuity.io/github-token-scopes";

#[test]
fn a_scope_annotation_that_does_not_allow_the_project_gives_no_credentials() {
    let mut app = App::start();
    let pem = app.pem.clone();
    let mut data = vec![("repoURL", REPO_URL)];
    data.extend(app_fields(Ids::Both, &pem));
    app.write_secret(
        SHARED,
        SECRET,
        &[(SCOPES, r#"{"other": ["app"], "a": ["lib"]}"#)],
        &data,
    );

    for project in [Some("a"), Some("b"), None] {
        match project {
            Some(project) => app.set("KARGO_PROJECT", project),
            None => app.unset("KARGO_PROJECT"),
        }
        let output = app.get("acme/app.git");
        assert_exit(&output, 0);
        assert_eq!(
            support::stdout(&output),
            "quit=1\n",
            "project {project:?}:\n{}",
            describe(&output)
        );
        // Through real git: the helper's quit=1 stops git at once (no prompt).
        let output = app.run_command(
            app.git_with_helper().args(["credential", "fill"]),
            &request("acme/app.git"),
        );
        assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
        assert!(
            !support::stdout(&output).contains("password="),
            "{}",
            describe(&output)
        );
    }
    assert_eq!(app.mint_count(), 0, "{}", app.diagnostics());
    assert!(app.requests().is_empty(), "{}", app.diagnostics());

    // The project the map names gets its repository (names compare case-insensitively).
    app.write_secret(SHARED, SECRET, &[(SCOPES, r#"{"a": ["App"]}"#)], &data);
    app.set("KARGO_PROJECT", "a");
    app.get_ok("acme/app.git");
    assert_eq!(app.mint_count(), 1, "{}", app.diagnostics());
}

#[test]
fn an_unparsable_scope_annotation_is_an_error_naming_the_secret() {
    let mut app = App::start();
    let mut data = vec![("repoURL", REPO_URL)];
    data.extend(app.fields(Ids::Both));
    app.write_secret(SHARED, SECRET, &[(SCOPES, "project a: app")], &data);
    app.set("KARGO_PROJECT", "a");
    let output = app.get("acme/app.git");
    assert_exit(&output, 1);
    assert_eq!(
        support::stdout(&output),
        "quit=1\n",
        "{}",
        describe(&output)
    );
    assert_one_error_line(
        &output,
        "git-credential-kargo: ",
        &[SECRET_ID, "github-token-scopes"],
    );
    assert_eq!(app.mint_count(), 0, "{}", app.diagnostics());
}

#[test]
fn a_token_minted_for_one_project_is_never_served_to_another() {
    let mut app = App::start();
    let mut data = vec![("repoURL", REPO_URL)];
    data.extend(app.fields(Ids::Both));
    app.write_secret(
        SHARED,
        SECRET,
        &[(SCOPES, r#"{"a": ["app"], "b": ["APP"]}"#)],
        &data,
    );
    app.set("KARGO_PROJECT", "a");
    let (token_a, _) = app.get_ok("acme/app.git");
    assert_eq!(app.mint_count(), 1);

    app.set("KARGO_PROJECT", "b");
    let (token_b, _) = app.get_ok("acme/app.git");
    assert_ne!(token_a, token_b, "project b was served project a's token");
    assert_eq!(app.mint_count(), 2, "{}", app.diagnostics());

    // --project beats the environment, and each project keeps its own cached token.
    let output = app.run(
        GIT_HELPER,
        &["--project", "a", "get"],
        &request("acme/app.git"),
    );
    assert_exit(&output, 0);
    assert_eq!(
        key_values(&support::stdout(&output)).get("password"),
        Some(&token_a)
    );
    assert_eq!(app.get_ok("acme/app.git").0, token_b);
    assert_eq!(app.mint_count(), 2, "{}", app.diagnostics());

    // No project at all: the map allows nothing, and no cached token is handed out.
    app.unset("KARGO_PROJECT");
    let output = app.get("acme/app.git");
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        "quit=1\n",
        "{}",
        describe(&output)
    );
    assert_eq!(app.mint_count(), 2, "{}", app.diagnostics());
}

// ---------------------------------------------------------------------------------------
// 6. Corrupt entries, a killed lock holder, erase
// ---------------------------------------------------------------------------------------

#[test]
fn a_corrupt_cache_entry_is_replaced_by_a_new_mint() {
    let app = App::start();
    app.write_standard_secret();
    let (first, _) = app.get_ok("acme/app.git");
    let entries = app.entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = entries[0].clone();
    let original = fs::read_to_string(&entry).unwrap();
    let mut wrong_version: Value = serde_json::from_str(&original).unwrap();
    assert_eq!(wrong_version["version"], json!(1), "{original}");
    assert_eq!(wrong_version["token"], json!(first));
    wrong_version["version"] = json!(99);
    let mut bad_expiry: Value = serde_json::from_str(&original).unwrap();
    bad_expiry["expires_at"] = json!("soon");

    let corruptions: Vec<(&str, Vec<u8>, bool)> = vec![
        // (what, bytes, written as a new 0644 file rather than over the 0600 one)
        (
            "truncated",
            original.as_bytes()[..original.len() / 2].to_vec(),
            false,
        ),
        ("empty", Vec::new(), false),
        ("garbage", b"\x00\xff\xfegarbage\n{{{".to_vec(), true),
        (
            "unknown version",
            serde_json::to_vec(&wrong_version).unwrap(),
            false,
        ),
        (
            "oversized (valid JSON padded past 64 KiB)",
            format!("{original}{}", " ".repeat(70 * 1024)).into_bytes(),
            false,
        ),
        (
            "unparsable expiry",
            serde_json::to_vec(&bad_expiry).unwrap(),
            true,
        ),
    ];
    let mut served = vec![first];
    for (what, bytes, new_file) in corruptions {
        if new_file {
            fs::remove_file(&entry).unwrap();
            fs::write(&entry, &bytes).unwrap();
            fs::set_permissions(&entry, fs::Permissions::from_mode(0o644)).unwrap();
        } else {
            fs::write(&entry, &bytes).unwrap();
        }
        let mints_before = app.mint_count();
        let (token, _) = app.get_ok("acme/app.git");
        assert_eq!(
            app.mint_count(),
            mints_before + 1,
            "{what}: a corrupt entry must be a miss\n{}",
            app.diagnostics()
        );
        assert!(!served.contains(&token), "{what}: an old token was served");
        assert_eq!(app.entries(), std::slice::from_ref(&entry), "{what}");
        assert_eq!(mode(&entry), 0o600, "{what}: the replaced entry's mode");
        let stored: Value = serde_json::from_str(&fs::read_to_string(&entry).unwrap())
            .unwrap_or_else(|error| panic!("{what}: the entry was not replaced: {error}"));
        assert_eq!(stored["version"], json!(1), "{what}");
        assert_eq!(stored["token"], json!(token), "{what}");
        served.push(token);
    }
    // And the replacement is served as a hit.
    let (last, _) = app.get_ok("acme/app.git");
    assert_eq!(&last, served.last().unwrap());
    assert_eq!(app.mint_count(), served.len(), "{}", app.diagnostics());
}

#[test]
fn a_get_killed_while_holding_the_lock_does_not_block_the_next_one() {
    let app = App::start();
    app.write_standard_secret();
    app.fake.control(&json!({"mint_delay_ms": 5000}));

    let holder_stderr = app.env.home.path().join("holder.stderr");
    let mut holder: Child = app
        .env
        .command(GIT_HELPER)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&holder_stderr).unwrap())
        .spawn()
        .unwrap();
    struct KillOnDrop<'a>(&'a mut Child);
    impl Drop for KillOnDrop<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let holder = KillOnDrop(&mut holder);
    holder
        .0
        .stdin
        .take()
        .unwrap()
        .write_all(request("acme/app.git").as_bytes())
        .unwrap();

    // Wait until the process holds an entry's lock (flock: a try-lock here fails).
    let cache = app.cache_dir();
    wait_for(
        "the first get to take the lock",
        Duration::from_secs(20),
        || {
            let Ok(read_dir) = fs::read_dir(&cache) else {
                return false;
            };
            read_dir.filter_map(Result::ok).any(|entry| {
                let path = entry.path();
                path.extension().is_some_and(|ext| ext == "lock")
                    && fs::File::open(&path).is_ok_and(|file| match file.try_lock() {
                        Ok(()) => false, // free (released when `file` drops)
                        Err(fs::TryLockError::WouldBlock) => true,
                        Err(fs::TryLockError::Error(_)) => false,
                    })
            })
        },
    );
    // Its mint request is in flight at the fake (held for 5 s).
    thread::sleep(Duration::from_millis(500));
    drop(holder); // SIGKILL, then reaped
    app.assert_clean(&Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(0),
        stdout: Vec::new(),
        stderr: fs::read(&holder_stderr).unwrap(),
    });
    app.fake.control(&json!({}));

    let started = Instant::now();
    let (token, _) = app.get_ok("acme/app.git");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(4),
        "the next get took {elapsed:?} (the lock timeout is 60 s)"
    );
    assert!(
        app.fake
            .mints()
            .iter()
            .any(|mint| mint["token"] == json!(token)),
        "{}",
        app.diagnostics()
    );
    // The killed process never cached anything: the new token is the cached one.
    assert_eq!(app.get_ok("acme/app.git").0, token);
}

#[test]
fn erase_with_the_served_token_makes_the_next_get_mint_again() {
    let app = App::start();
    app.write_standard_secret();
    let (first, _) = app.get_ok("acme/app.git");

    // Another password: nothing is evicted.
    let reject = |password: &str| {
        let output = app.run_command(
            app.git_with_helper().args(["credential", "reject"]),
            &format!(
                "protocol=https\nhost=github.com\npath=acme/app.git\nusername={USERNAME}\npassword={password}\n\n"
            ),
        );
        assert_exit(&output, 0);
    };
    reject("ghs_someOtherPasswordThatIsNotOurs000000");
    assert_eq!(app.get_ok("acme/app.git").0, first);
    assert_eq!(app.mint_count(), 1, "{}", app.diagnostics());

    // `git credential reject` with the served token: git runs the helper's erase.
    reject(&first);
    assert!(app.entries().is_empty(), "{:?}", app.entries());
    let (second, _) = app.get_ok("acme/app.git");
    assert_ne!(second, first);
    assert_eq!(app.mint_count(), 2, "{}", app.diagnostics());

    // Erasing a stale token (the first one again) keeps the newer entry.
    reject(&first);
    assert_eq!(app.get_ok("acme/app.git").0, second);
    assert_eq!(app.mint_count(), 2, "{}", app.diagnostics());

    // The helper's erase run directly does the same.
    let output = app.run(
        GIT_HELPER,
        &["erase"],
        &format!(
            "protocol=https\nhost=github.com\npath=acme/app.git\nusername={USERNAME}\npassword={second}\n\n"
        ),
    );
    assert_exit(&output, 0);
    assert_eq!(support::stdout(&output), "", "{}", describe(&output));
    let (third, _) = app.get_ok("acme/app.git");
    assert_ne!(third, second);
    assert_eq!(app.mint_count(), 3, "{}", app.diagnostics());

    // `store` (git calls it after a success) is accepted and changes nothing.
    let output = app.run(
        GIT_HELPER,
        &["store"],
        &format!(
            "protocol=https\nhost=github.com\npath=acme/app.git\nusername={USERNAME}\npassword=something-else\n\n"
        ),
    );
    assert_exit(&output, 0);
    assert_eq!(app.get_ok("acme/app.git").0, third);
    assert_eq!(app.mint_count(), 3, "{}", app.diagnostics());
}

// ---------------------------------------------------------------------------------------
// 7. GitHub Enterprise
// ---------------------------------------------------------------------------------------

#[test]
fn github_enterprise_urls_are_minted_under_api_v3() {
    let mut app = App::start();
    for (name, url) in [
        ("ghes", "https://github.example.com/acme/app"),
        ("ghec", "https://tenant.ghe.com/acme/app"),
        ("ghes-port", "https://ghe.example.net:8443/acme/app"),
    ] {
        let mut data = vec![("repoURL", url)];
        data.extend(app.fields(Ids::Both));
        app.write_secret(SHARED, name, &[], &data);
    }
    app.write_standard_secret();

    // Without the override: the plan, without a network.
    app.unset("KARGO_CREDS_GITHUB_API_URL");
    for (url, mint_url) in [
        (
            "https://github.example.com/acme/app.git",
            "https://github.example.com/api/v3/app/installations/777/access_tokens",
        ),
        (
            "https://tenant.ghe.com/acme/app.git",
            "https://api.tenant.ghe.com/app/installations/777/access_tokens",
        ),
        (
            "https://github.com/acme/app.git",
            "https://api.github.com/app/installations/777/access_tokens",
        ),
        (
            "https://ghe.example.net:8443/acme/app.git",
            "https://ghe.example.net:8443/api/v3/app/installations/777/access_tokens",
        ),
    ] {
        let output = app.run(CLI, &["resolve", url, "--explain"], "");
        assert_exit(&output, 0);
        let text = support::stdout(&output);
        assert!(text.contains(mint_url), "{url}:\n{}", describe(&output));
        assert!(text.contains(CLIENT_ID), "{url}:\n{}", describe(&output));
        assert!(
            text.contains("token:      not cached"),
            "{url}:\n{}",
            describe(&output)
        );
        let output = app.run(CLI, &["resolve", url, "-o", "json"], "");
        assert_exit(&output, 0);
        let value: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(value["provider"], json!("githubApp"), "{value:#}");
        assert_eq!(value["outcome"], json!("token"), "{value:#}");
        assert!(
            value["summary"].as_str().unwrap().contains(mint_url),
            "{value:#}"
        );
        assert_eq!(value["token_cached_until"], Value::Null, "{value:#}");
    }
    assert!(app.requests().is_empty());

    // The real mint, with the fake standing in for the Enterprise server's /api/v3.
    let api_v3 = format!("{}/api/v3", app.fake.api_url());
    app.set("KARGO_CREDS_GITHUB_API_URL", &api_v3);
    let output = app.run(
        GIT_HELPER,
        &["get"],
        "protocol=https\nhost=github.example.com\npath=acme/app.git\n\n",
    );
    assert_exit(&output, 0);
    let answer = key_values(&support::stdout(&output));
    let mints = app.fake.mints();
    assert_eq!(mints.len(), 1, "{}", app.diagnostics());
    assert_eq!(
        answer.get("password"),
        mints[0]["token"].as_str().map(String::from).as_ref()
    );
    assert_eq!(
        mints[0]["path"],
        json!("/api/v3/app/installations/777/access_tokens")
    );
    assert_eq!(mints[0]["repositories"], json!(["app"]));
    let validations = app.fake.validations();
    assert_eq!(validations.len(), 1);
    assert_eq!(validations[0]["path"], json!("/api/v3/repos/acme/app"));
    for request in app.requests() {
        assert!(
            request["path"].as_str().unwrap().starts_with("/api/v3/"),
            "{request}"
        );
    }
    let output = app.run(
        CLI,
        &[
            "resolve",
            "https://github.example.com/acme/app.git",
            "--explain",
        ],
        "",
    );
    assert_exit(&output, 0);
    let text = support::stdout(&output);
    assert!(
        text.contains(&format!("{api_v3}/app/installations/777/access_tokens")),
        "{}",
        describe(&output)
    );
    assert!(
        text.contains(&format!(
            "token:      cached until {}",
            mints[0]["expires_at"].as_str().unwrap()
        )),
        "{}",
        describe(&output)
    );
}

// ---------------------------------------------------------------------------------------
// 8. Failures
// ---------------------------------------------------------------------------------------

#[test]
fn a_server_error_from_the_mint_is_one_clear_line() {
    let app = App::start();
    app.write_standard_secret();
    app.fake.control(&json!({"mint_status": 500}));
    let mint_url = format!(
        "{}/app/installations/{INSTALLATION}/access_tokens",
        app.fake.api_url()
    );

    let output = app.get("acme/app.git");
    assert_exit(&output, 1);
    assert_eq!(
        support::stdout(&output),
        "quit=1\n",
        "{}",
        describe(&output)
    );
    assert_one_error_line(
        &output,
        "git-credential-kargo: ",
        &[SECRET_ID, &mint_url, "500"],
    );

    let output = app.run(CLI, &["get", REPO_URL, "-o", "json"], "");
    assert_exit(&output, 1);
    assert_eq!(support::stdout(&output), "", "{}", describe(&output));
    assert_one_error_line(&output, "kargo-creds: ", &[SECRET_ID, &mint_url, "500"]);

    // Real git stops at the helper's quit=1 and shows the helper's line.
    let output = app.run_command(
        app.git_with_helper().args(["credential", "fill"]),
        &request("acme/app.git"),
    );
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = support::stderr(&output);
    assert!(
        stderr.contains("git-credential-kargo: ") && stderr.contains(&mint_url),
        "{}",
        describe(&output)
    );
    assert!(!stderr.contains("Username for"), "{}", describe(&output));

    assert_eq!(app.mint_count(), 0);
    assert!(app.entries().is_empty());
}

#[test]
fn rate_limits_are_reported_with_when_to_retry() {
    let app = App::start();
    app.write_standard_secret();

    app.fake
        .control(&json!({"mint_status": 429, "retry_after": 42}));
    let output = app.get("acme/app.git");
    assert_exit(&output, 1);
    assert_eq!(
        support::stdout(&output),
        "quit=1\n",
        "{}",
        describe(&output)
    );
    assert_one_error_line(
        &output,
        "git-credential-kargo: ",
        &[SECRET_ID, "429", "retry after 42"],
    );

    // The 429 is remembered for its Retry-After (the token cache's failure record):
    // forget it, so that the next get asks GitHub again.
    let output = app.run(CLI, &["cache", "clear"], "");
    assert_exit(&output, 0);
    app.fake.control(&json!({"mint_status": 403}));
    let output = app.get("acme/app.git");
    assert_exit(&output, 1);
    assert_one_error_line(
        &output,
        "git-credential-kargo: ",
        &[SECRET_ID, "403", "rate limit", "resets at"],
    );
    assert_eq!(app.mint_count(), 0);
}

#[test]
fn a_token_not_yet_replicated_is_waited_for() {
    let app = App::start();
    app.write_standard_secret();
    app.fake.control(&json!({"validation_not_found": 2}));
    let (token, _) = app.get_ok("acme/app.git");
    let validations = app.fake.validations();
    let statuses: Vec<&Value> = validations.iter().map(|v| &v["status"]).collect();
    assert_eq!(statuses, [&json!(404), &json!(404), &json!(200)]);
    assert!(validations.iter().all(|v| v["token"] == json!(token)));
    // The token was handed out only after the validation that succeeded.
    let minted_at = app.fake.mints()[0]["time"].as_f64().unwrap();
    let validated_at = validations[2]["time"].as_f64().unwrap();
    assert!(
        validated_at - minted_at >= 0.09,
        "waited {validated_at} - {minted_at}"
    );

    // 401 ("not yet" as GitHub usually says it) for longer than the waits: handed out
    // anyway after the last one (1 + 3 attempts).
    let app = App::start();
    app.write_standard_secret();
    app.fake.control(&json!({"validation_unauthorized": 10}));
    let (token, _) = app.get_ok("acme/app.git");
    let validations = app.fake.validations();
    assert_eq!(validations.len(), 4, "{validations:#?}");
    assert!(validations
        .iter()
        .all(|v| v["status"] == json!(401) && v["token"] == json!(token)));
}

#[test]
fn a_hanging_github_fails_within_the_request_timeout() {
    let mut app = App::start();
    app.write_standard_secret();
    app.set("KARGO_CREDS_REQUEST_TIMEOUT", "1");
    app.fake.control(&json!({"hang": true}));
    let started = Instant::now();
    let output = app.get("acme/app.git");
    let elapsed = started.elapsed();
    app.fake.control(&json!({}));
    assert_exit(&output, 1);
    assert!(
        elapsed < Duration::from_secs(6),
        "took {elapsed:?} with a 1 s request timeout"
    );
    assert_eq!(
        support::stdout(&output),
        "quit=1\n",
        "{}",
        describe(&output)
    );
    assert_one_error_line(
        &output,
        "git-credential-kargo: ",
        &[SECRET_ID, "/app/installations/777/access_tokens"],
    );
    assert_eq!(app.mint_count(), 0);
}

#[test]
fn a_failed_mint_serves_a_cached_token_that_is_still_valid() {
    let mut app = App::with(KeyKind::Pkcs1, &["--token-ttl", "200"]);
    app.write_standard_secret();
    // Margin 100 s: a 200 s token is cached.
    app.set("KARGO_CREDS_EXPIRY_MARGIN", "100");
    let (first, expiry) = app.get_ok("acme/app.git");
    assert_eq!(app.entries().len(), 1, "cached under a 100 s margin");
    assert_eq!(app.get_ok("acme/app.git").0, first);
    assert_eq!(app.mint_count(), 1);

    // Margin 300 s: the entry is due for renewal, and GitHub fails.
    app.set("KARGO_CREDS_EXPIRY_MARGIN", "300");
    app.fake.control(&json!({"mint_status": 500}));
    let output = app.get("acme/app.git");
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        format!("username={USERNAME}\npassword={first}\npassword_expiry_utc={expiry}\n"),
        "{}",
        describe(&output)
    );
    assert_one_error_line(
        &output,
        "git-credential-kargo: warning: ",
        &[SECRET_ID, "500"],
    );
    assert_eq!(app.mint_count(), 1);
    assert!(
        app.requests()
            .iter()
            .any(|r| r["method"] == json!("POST") && r["status"] == json!(500)),
        "it did try to mint: {}",
        app.diagnostics()
    );

    // Once GitHub answers again (and the failure's record has lapsed: removed here rather
    // than waited for), the renewal happens.
    app.fake.control(&json!({}));
    let entry = app.entries().pop().unwrap();
    fs::remove_file(entry.with_extension("failure")).unwrap();
    let (second, _) = app.get_ok("acme/app.git");
    assert_ne!(second, first);
    assert_eq!(app.mint_count(), 2);
}

// ---------------------------------------------------------------------------------------
// 9. A real clone over HTTP, authenticated only by the minted token
// ---------------------------------------------------------------------------------------

/// The git HTTP server, accepting `x-access-token` with any token of `tokens_file`.
struct GitServer {
    child: Child,
    port: u16,
    log: PathBuf,
    stderr: PathBuf,
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GitServer {
    fn start(app: &App, root: &Path, tokens_file: &Path) -> GitServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/git_http_server.py");
        let log = app.env.home.path().join("auth.log");
        let stderr = app.env.home.path().join("server.stderr");
        let global = app.env.home.path().join("empty-gitconfig");
        if !global.exists() {
            fs::write(&global, "").unwrap();
        }
        let mut child = app
            .env
            .command("python3")
            .arg(&script)
            .arg("--tokens-file")
            .arg(tokens_file)
            .arg(root)
            .arg(USERNAME)
            .arg("-")
            .arg(&log)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", &global)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("python3 runs the test git server");
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = sender.send(lines.next());
            for _ in lines {}
        });
        let mut server = GitServer {
            child,
            port: 0,
            log,
            stderr,
        };
        server.port = match receiver.recv_timeout(Duration::from_secs(20)) {
            Ok(Some(Ok(line))) => line.trim().parse().unwrap(),
            other => panic!(
                "the git server did not print its port ({other:?}); stderr:\n{}",
                fs::read_to_string(&server.stderr).unwrap_or_default()
            ),
        };
        server
    }

    fn attempts(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn diagnostics(&self) -> String {
        format!(
            "--- auth log ---\n{}\n--- server stderr ---\n{}",
            fs::read_to_string(&self.log).unwrap_or_default(),
            fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }
}

const README: &str = "served to the GitHub App token\n";

#[test]
fn git_clone_over_http_succeeds_only_through_the_helper() {
    let mut app = App::start();
    app.set("KARGO_CREDS_ALLOW_HTTP", "true");
    let home = app.env.home.path().to_path_buf();

    // A bare repository with one commit at <srv>/acme/app.git.
    let work = home.join("work");
    let srv = home.join("srv");
    fs::create_dir_all(srv.join("acme")).unwrap();
    let work_str = work.to_str().unwrap().to_owned();
    let git_ok = |args: &[&str]| {
        let output = run_bounded(app.git().args(args), b"", GIT_TIMEOUT);
        assert_exit(&output, 0);
    };
    git_ok(&["-c", "init.defaultBranch=main", "init", "-q", &work_str]);
    fs::write(work.join("README"), README).unwrap();
    git_ok(&["-C", &work_str, "add", "README"]);
    git_ok(&[
        "-C",
        &work_str,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "-m",
        "init",
    ]);
    git_ok(&[
        "clone",
        "-q",
        "--bare",
        &work_str,
        srv.join("acme/app.git").to_str().unwrap(),
    ]);

    let server = GitServer::start(&app, &srv, &app.fake.tokens_file());
    let pattern = format!(r"^http://127\.0\.0\.1:{}/", server.port);
    let mut data = vec![("repoURL", pattern.as_str()), ("repoURLIsRegex", "true")];
    data.extend(app.fields(Ids::Both));
    app.write_secret(SHARED, SECRET, &[], &data);
    let url = format!("http://127.0.0.1:{}/acme/app.git", server.port);

    // Without the helper: no credentials, no clone.
    let plain = home.join("plain");
    let output = app.run_command(
        app.git()
            .args(["-c", "credential.helper=", "clone", "-q", &url])
            .arg(&plain),
        "",
    );
    assert_ne!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        describe(&output),
        server.diagnostics()
    );
    assert!(!plain.join("README").exists());
    assert_eq!(app.mint_count(), 0);

    // Through the helper: a token is minted for acme/app, and the server accepts it.
    let cloned = home.join("cloned");
    let output = app.run_command(
        app.git_with_helper()
            .args(["clone", "-q", &url])
            .arg(&cloned),
        "",
    );
    assert_exit(&output, 0);
    assert_eq!(fs::read_to_string(cloned.join("README")).unwrap(), README);
    let mints = app.fake.mints();
    assert_eq!(mints.len(), 1, "{}", app.diagnostics());
    assert_eq!(mints[0]["repositories"], json!(["app"]));
    assert_eq!(app.fake.tokens(), [mints[0]["token"].as_str().unwrap()]);
    let attempts = server.attempts();
    assert!(
        !attempts.is_empty()
            && attempts
                .iter()
                .all(|line| line == &format!("{USERNAME} accepted token 1")),
        "{}",
        server.diagnostics()
    );

    // The server stops accepting the token: git's `erase` evicts it and the clone fails…
    fs::write(app.fake.tokens_file(), "").unwrap();
    let refused = home.join("refused");
    let output = app.run_command(
        app.git_with_helper()
            .args(["clone", "-q", &url])
            .arg(&refused),
        "",
    );
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        server.attempts().contains(&format!("{USERNAME} rejected")),
        "{}",
        server.diagnostics()
    );
    assert!(
        app.entries().is_empty(),
        "git's erase did not evict the rejected token"
    );
    assert_eq!(app.mint_count(), 1);

    // …and the next clone mints a new token, which the server accepts.
    let again = home.join("again");
    let output = app.run_command(
        app.git_with_helper()
            .args(["clone", "-q", &url])
            .arg(&again),
        "",
    );
    assert_exit(&output, 0);
    assert_eq!(fs::read_to_string(again.join("README")).unwrap(), README);
    let mints = app.fake.mints();
    assert_eq!(mints.len(), 2, "{}", app.diagnostics());
    assert_ne!(mints[0]["token"], mints[1]["token"]);
    assert_eq!(
        server.attempts().last().unwrap(),
        &format!("{USERNAME} accepted token 1"),
        "{}",
        server.diagnostics()
    );
}

// ---------------------------------------------------------------------------------------
// 10. The cache on disk, `cache list|clear|prune`, `resolve --explain`
// ---------------------------------------------------------------------------------------

#[test]
fn cache_files_are_private_and_listed_without_tokens() {
    let mut app = App::start();
    app.write_standard_secret();
    app.set("KARGO_PROJECT", "demo");
    let (token, expiry) = app.get_ok("acme/app.git");
    let expires_at = app.fake.mints()[0]["expires_at"]
        .as_str()
        .unwrap()
        .to_owned();

    // Modes: folder 0700, every file 0600; names are hashes; no key material anywhere.
    let cache = app.cache_dir();
    assert_eq!(mode(&cache), 0o700);
    let mut names = Vec::new();
    for entry in fs::read_dir(&cache).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let name = entry.file_name().into_string().unwrap();
        if entry.file_type().unwrap().is_file() {
            assert_eq!(mode(&path), 0o600, "{name}");
            let content = fs::read(&path).unwrap();
            let content = String::from_utf8_lossy(&content);
            for private in &app.private {
                assert!(
                    !content.contains(private.as_str()),
                    "{name} holds key material"
                );
            }
        }
        assert!(!name.contains(&token), "{name}");
        names.push(name);
    }
    let entries = app.entries();
    assert_eq!(entries.len(), 1, "{names:?}");
    let stem = entries[0].file_stem().unwrap().to_str().unwrap().to_owned();
    assert!(
        stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()),
        "entry name {stem}"
    );
    // The entry: format version, provider, username, token, expiry, mint time, Secret.
    let stored: Value = serde_json::from_str(&fs::read_to_string(&entries[0]).unwrap()).unwrap();
    assert_eq!(stored["version"], json!(1), "{stored:#}");
    assert_eq!(stored["provider"], json!("githubApp"), "{stored:#}");
    assert_eq!(stored["username"], json!(USERNAME), "{stored:#}");
    assert_eq!(stored["token"], json!(token), "{stored:#}");
    assert_eq!(stored["expires_at"], json!(expires_at), "{stored:#}");
    assert!(stored["minted_at"].is_string(), "{stored:#}");
    assert_eq!(stored["secret"], json!(SECRET_ID), "{stored:#}");

    // cache list: provider, Secret, project, scope, expiry — never the token.
    let output = app.run(CLI, &["cache", "list"], "");
    assert_exit(&output, 0);
    let text = support::stdout(&output);
    assert!(
        !text.contains(&token),
        "cache list shows the token:\n{text}"
    );
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 2, "{text}");
    let columns: Vec<&str> = rows[1].split('\t').collect();
    assert_eq!(
        &columns[..4],
        ["githubApp", SECRET_ID, "demo", "github.com/acme/app"],
        "{text}"
    );
    assert!(columns[4].starts_with(&expires_at), "{text}");

    let output = app.run(CLI, &["cache", "list", "-o", "json"], "");
    assert_exit(&output, 0);
    assert!(!support::stdout(&output).contains(&token));
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["provider"], json!("githubApp"));
    assert_eq!(listed[0]["secret"], json!(SECRET_ID));
    assert_eq!(listed[0]["project"], json!("demo"));
    assert_eq!(listed[0]["scope"], json!("github.com/acme/app"));
    assert_eq!(listed[0]["expires_at"], json!(expiry));

    // resolve: cached until …
    let output = app.run(CLI, &["resolve", REPO_URL, "--explain"], "");
    assert_exit(&output, 0);
    assert!(
        support::stdout(&output).contains(&format!("token:      cached until {expires_at}")),
        "{}",
        describe(&output)
    );
    assert!(!support::stdout(&output).contains(&token));
    let output = app.run(CLI, &["resolve", REPO_URL, "-o", "json"], "");
    assert_exit(&output, 0);
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["token_cached_until"], json!(expires_at));

    // prune keeps a valid entry; clear empties the cache.
    let output = app.run(CLI, &["cache", "prune"], "");
    assert_exit(&output, 0);
    assert_eq!(app.entries().len(), 1);
    let output = app.run(CLI, &["cache", "clear"], "");
    assert_exit(&output, 0);
    assert!(
        support::stdout(&output).contains("removed 1 "),
        "{}",
        describe(&output)
    );
    assert!(app.entries().is_empty());
    let output = app.run(CLI, &["cache", "list"], "");
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output).lines().count(),
        1,
        "{}",
        describe(&output)
    );
    let output = app.run(CLI, &["resolve", REPO_URL, "--explain"], "");
    assert_exit(&output, 0);
    assert!(
        support::stdout(&output).contains("token:      not cached"),
        "{}",
        describe(&output)
    );
    assert_eq!(app.mint_count(), 1, "resolve and cache never mint");

    // An expired entry is pruned; the next get mints.
    let (fresh, _) = app.get_ok("acme/app.git");
    assert_ne!(fresh, token);
    let entry = app.entries().pop().unwrap();
    let mut stored: Value = serde_json::from_str(&fs::read_to_string(&entry).unwrap()).unwrap();
    stored["expires_at"] = json!("2001-01-01T00:00:00Z");
    fs::write(&entry, serde_json::to_vec(&stored).unwrap()).unwrap();
    let output = app.run(CLI, &["cache", "prune"], "");
    assert_exit(&output, 0);
    assert!(
        support::stdout(&output).contains("removed 1 "),
        "{}",
        describe(&output)
    );
    assert!(app.entries().is_empty());
    app.get_ok("acme/app.git");
    assert_eq!(app.mint_count(), 3);
}

// ---------------------------------------------------------------------------------------
// 11. Keys: PKCS#8, base64-wrapped, corrupt base64, not RSA
// ---------------------------------------------------------------------------------------

#[test]
fn pkcs8_and_base64_wrapped_keys_mint_with_the_app_id() {
    let app = App::with(KeyKind::Pkcs8, &[]);
    let mut data = vec![("repoURL", REPO_URL)];
    data.extend(app.fields(Ids::AppId));
    app.write_secret(SHARED, SECRET, &[], &data);
    let (token, _) = app.get_ok("acme/app.git");
    let mints = app.fake.mints();
    assert_eq!(mints.len(), 1, "{}", app.diagnostics());
    assert_eq!(mints[0]["token"], json!(token));
    assert_eq!(
        mints[0]["iss"],
        json!(APP_ID),
        "the App ID when no client ID"
    );

    // The legacy form: base64 of the PEM (wrapped at 76 columns, as `base64` does).
    let wrapped = base64::engine::general_purpose::STANDARD.encode(&app.pem);
    let wrapped: String = wrapped
        .as_bytes()
        .chunks(76)
        .map(|line| format!("{}\n", std::str::from_utf8(line).unwrap()))
        .collect();
    let mut data = vec![("repoURL", "https://github.com/acme/lib")];
    data.extend(app.fields_with_key(Ids::AppId, &wrapped));
    app.write_secret(SHARED, "github-app-lib", &[], &data);
    let (lib_token, _) = app.get_ok("acme/lib.git");
    let mints = app.fake.mints();
    assert_eq!(mints.len(), 2, "{}", app.diagnostics());
    assert_eq!(mints[1]["token"], json!(lib_token));
    assert_eq!(mints[1]["repositories"], json!(["lib"]));
}

#[test]
fn a_corrupt_base64_key_is_one_clear_line_and_no_mint() {
    let mut app = App::start();
    let mut corrupt = base64::engine::general_purpose::STANDARD.encode(&app.pem);
    corrupt.remove(corrupt.len() / 2);
    app.private.push(corrupt[..48].to_owned());
    app.private
        .push(corrupt[corrupt.len() / 2 - 24..corrupt.len() / 2 + 24].to_owned());
    let mut data = vec![("repoURL", REPO_URL)];
    data.extend(app.fields_with_key(Ids::Both, &corrupt));
    app.write_secret(SHARED, SECRET, &[], &data);

    let output = app.get("acme/app.git");
    assert_exit(&output, 1);
    assert_eq!(
        support::stdout(&output),
        "quit=1\n",
        "{}",
        describe(&output)
    );
    assert_one_error_line(
        &output,
        "git-credential-kargo: ",
        &[SECRET_ID, "probable corrupt base64"],
    );
    let output = app.run(CLI, &["get", REPO_URL], "");
    assert_exit(&output, 1);
    assert_one_error_line(
        &output,
        "kargo-creds: ",
        &[SECRET_ID, "probable corrupt base64"],
    );
    assert!(app.requests().is_empty(), "{}", app.diagnostics());
}

#[test]
fn a_key_that_is_not_rsa_is_a_clear_error() {
    let app = App::with(KeyKind::Ec, &[]);
    app.write_standard_secret();
    let output = app.get("acme/app.git");
    assert_exit(&output, 1);
    assert_eq!(
        support::stdout(&output),
        "quit=1\n",
        "{}",
        describe(&output)
    );
    assert_one_error_line(
        &output,
        "git-credential-kargo: ",
        &[SECRET_ID, "githubAppPrivateKey", "RSA"],
    );

    // Text that is no key at all (and not base64 either).
    let mut data = vec![("repoURL", REPO_URL)];
    data.extend(app.fields_with_key(Ids::Both, "this is not a private key!"));
    app.write_secret(SHARED, SECRET, &[], &data);
    let output = app.get("acme/app.git");
    assert_exit(&output, 1);
    assert_one_error_line(
        &output,
        "git-credential-kargo: ",
        &[SECRET_ID, "githubAppPrivateKey"],
    );
    assert!(app.requests().is_empty(), "{}", app.diagnostics());
}

// ---------------------------------------------------------------------------------------
// More of the cache (SPEC §7): hits take no lock, symlinks, unusable folders, identity
// ---------------------------------------------------------------------------------------

#[test]
fn a_cache_hit_takes_no_lock_and_a_miss_waits_for_the_holder() {
    let app = App::start();
    app.write_standard_secret();
    let (first, _) = app.get_ok("acme/app.git");
    let entry = app.entries().pop().unwrap();
    let lock_path = entry.with_extension("lock");
    let lock = fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .unwrap();
    lock.lock().unwrap();

    // A hit is served while another process holds the entry's lock.
    let started = Instant::now();
    assert_eq!(app.get_ok("acme/app.git").0, first);
    assert!(started.elapsed() < Duration::from_secs(5));

    // A miss waits for the holder, then mints once.
    fs::remove_file(&entry).unwrap();
    let (sender, receiver) = mpsc::channel();
    thread::scope(|scope| {
        scope.spawn(|| {
            let _ = sender.send(app.get("acme/app.git"));
        });
        assert!(
            receiver.recv_timeout(Duration::from_millis(1500)).is_err(),
            "a miss did not wait for the lock holder"
        );
        assert_eq!(app.mint_count(), 1, "minted while the lock was held");
        lock.unlock().unwrap();
        let output = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the waiter finished once the lock was released");
        assert_exit(&output, 0);
        let password = key_values(&support::stdout(&output))["password"].clone();
        assert_ne!(password, first);
    });
    assert_eq!(app.mint_count(), 2, "{}", app.diagnostics());
}

#[test]
fn a_symlinked_cache_entry_is_never_followed() {
    let app = App::start();
    app.write_standard_secret();
    let (first, _) = app.get_ok("acme/app.git");
    let entry = app.entries().pop().unwrap();
    // A valid entry outside the folder, linked in place of the real one.
    let outside = app.env.home.path().join("planted.json");
    fs::copy(&entry, &outside).unwrap();
    let planted = fs::read(&outside).unwrap();
    fs::remove_file(&entry).unwrap();
    std::os::unix::fs::symlink(&outside, &entry).unwrap();

    let (second, _) = app.get_ok("acme/app.git");
    assert_ne!(second, first, "the token behind the symlink was served");
    assert_eq!(app.mint_count(), 2, "{}", app.diagnostics());
    let metadata = fs::symlink_metadata(&entry).unwrap();
    assert!(
        metadata.file_type().is_file(),
        "the link was not replaced by a regular file"
    );
    assert_eq!(mode(&entry), 0o600);
    assert_eq!(
        fs::read(&outside).unwrap(),
        planted,
        "written through the link"
    );
}

#[test]
fn an_unsafe_or_unusable_cache_folder_still_hands_out_tokens_with_one_warning() {
    let mut app = App::start();
    app.write_standard_secret();
    let home = app.env.home.path().to_path_buf();

    let shared = home.join("shared-cache");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    let read_only = home.join("read-only-cache");
    fs::create_dir(&read_only).unwrap();
    fs::set_permissions(&read_only, fs::Permissions::from_mode(0o500)).unwrap();
    let not_a_folder = home.join("file-cache");
    fs::write(&not_a_folder, "").unwrap();

    for (folder, why) in [
        (&shared, "writable by group or others"),
        (&read_only, "0500"),
        (&not_a_folder, "not a folder"),
    ] {
        app.set("KARGO_CREDS_CACHE_DIR", folder.to_str().unwrap());
        let mints = app.mint_count();
        for _ in 0..2 {
            let output = app.get("acme/app.git");
            assert_exit(&output, 0);
            assert!(
                support::stdout(&output).contains("password=ghs_"),
                "{}",
                describe(&output)
            );
            assert_one_error_line(
                &output,
                "git-credential-kargo: warning: ",
                &[folder.to_str().unwrap(), why],
            );
        }
        assert_eq!(app.mint_count(), mints + 2, "{}", app.diagnostics());
        if folder.is_dir() {
            let cache_files: Vec<String> = fs::read_dir(folder)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .filter(|name| {
                    name.ends_with(".json") || name.ends_with(".lock") || name == ".last-prune"
                })
                .collect();
            assert!(cache_files.is_empty(), "{folder:?} holds {cache_files:?}");
        }
    }
    assert_eq!(mode(&shared), 0o777, "the folder's mode was changed");
    // `cache list` says the cache is off, clearly.
    let output = app.run(CLI, &["cache", "list"], "");
    assert_exit(&output, 1);
    assert!(
        support::stderr(&output).contains("kargo-creds: "),
        "{}",
        describe(&output)
    );

    // A missing folder (and its parents) is created, 0700.
    let nested = home.join("deep/er/cache");
    app.set("KARGO_CREDS_CACHE_DIR", nested.to_str().unwrap());
    let output = app.get("acme/app.git");
    assert_exit(&output, 0);
    assert_eq!(support::stderr(&output), "", "{}", describe(&output));
    assert_eq!(mode(&nested), 0o700);
    assert_eq!(
        fs::read_dir(&nested)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json"))
            .count(),
        1
    );
}

#[test]
fn a_changed_secret_does_not_reuse_the_cached_token() {
    let app = App::start();
    app.write_standard_secret();
    let (first, _) = app.get_ok("acme/app.git");
    assert_eq!(app.fake.mints()[0]["iss"], json!(CLIENT_ID));

    // The Secret now names the App by its ID only: another identity, another token.
    let mut data = vec![("repoURL", REPO_URL)];
    data.extend(app.fields(Ids::AppId));
    app.write_secret(SHARED, SECRET, &[], &data);
    let (second, _) = app.get_ok("acme/app.git");
    assert_ne!(second, first);
    let mints = app.fake.mints();
    assert_eq!(mints.len(), 2, "{}", app.diagnostics());
    assert_eq!(mints[1]["iss"], json!(APP_ID));
    assert_eq!(app.get_ok("acme/app.git").0, second);
    assert_eq!(app.mint_count(), 2);
}

#[test]
fn a_url_that_names_no_repository_gets_no_token() {
    let app = App::start();
    let mut data = vec![("repoURL", "https://github.com")];
    data.extend(app.fields(Ids::Both));
    app.write_secret(SHARED, SECRET, &[], &data);
    // git without useHttpPath sends no path: only the host is known.
    let output = app.run(GIT_HELPER, &["get"], "protocol=https\nhost=github.com\n\n");
    assert_exit(&output, 0);
    assert_eq!(
        support::stdout(&output),
        "quit=1\n",
        "{}",
        describe(&output)
    );
    let output = app.run(CLI, &["resolve", "https://github.com", "-o", "json"], "");
    assert_exit(&output, 0);
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["outcome"], json!("none"), "{value:#}");
    assert!(app.requests().is_empty(), "{}", app.diagnostics());
}

/// The `dir` source keeps its summary index (`dir-index/`, which decides which Secret
/// answers a URL) in the cache folder. A folder the token cache refuses because others may
/// write to it must not be used for that either: whoever can write there could plant an
/// index the next lookup trusts.
#[test]
fn a_refused_cache_folder_is_not_used_for_the_secrets_index_either() {
    let mut app = App::start();
    app.write_standard_secret();
    let shared = app.env.home.path().join("shared-cache");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    app.set("KARGO_CREDS_CACHE_DIR", shared.to_str().unwrap());
    let output = app.get("acme/app.git");
    assert_exit(&output, 0);
    assert!(
        support::stderr(&output).contains("writable by group or others"),
        "{}",
        describe(&output)
    );
    let written: Vec<String> = fs::read_dir(&shared)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        written.is_empty(),
        "the refused cache folder {shared:?} was written to: {written:?}"
    );
}

/// SPEC §6.1: Enterprise Server's API is `https://<host>/api/v3`. The App's JWT (which can
/// mint tokens for every repository of every installation for ten minutes) must not travel
/// in clear text because the *repository* URL is plain http (allowed by
/// KARGO_CREDS_ALLOW_HTTP=true for the repository's own credentials).
#[test]
fn a_plain_http_enterprise_repository_still_mints_over_https() {
    let mut app = App::start();
    let mut data = vec![("repoURL", "http://github.example.com/acme/app")];
    data.extend(app.fields(Ids::Both));
    app.write_secret(SHARED, SECRET, &[], &data);
    app.unset("KARGO_CREDS_GITHUB_API_URL");
    app.set("KARGO_CREDS_ALLOW_HTTP", "true");
    let output = app.run(
        CLI,
        &[
            "resolve",
            "http://github.example.com/acme/app.git",
            "-o",
            "json",
        ],
        "",
    );
    assert_exit(&output, 0);
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["provider"], json!("githubApp"), "{value:#}");
    let summary = value["summary"].as_str().unwrap();
    assert!(
        summary.contains("https://github.example.com/api/v3/app/installations/777/access_tokens"),
        "the App JWT would be sent over plain http: {summary}"
    );
}
