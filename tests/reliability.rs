//! Reliability (issue 7, item 2): a soak of sequential and concurrent `get`s mixing static and
//! minted credentials, and faults — processes SIGKILLed in the middle of a mint, token
//! endpoints that fail, stall or hang up, an API server that is slow or gone, a cache folder
//! that is read-only or full, a token near its expiry — each with its documented outcome and
//! no corrupt state left behind.
//!
//! Everything runs against fakes on 127.0.0.1, every child under a deadline
//! ([`run_bounded`]). Nothing here measures time: the deadlines only keep a hang from
//! hanging the suite. Every run's stderr is scanned for the private key, the fixtures'
//! passwords and every token the fake minted.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use support::{run_bounded, Env, FakeGithub, FakeKube, CLI, EXAMPLE_SECRETS, GIT_HELPER};

const APP_ID: &str = "12345";
const INSTALLATION: &str = "777";
const PROJECT: &str = "kargo-demo";
const APP_SECRET_ID: &str = "kargo-demo/github-app";
const APP_PATH: &str = "acme/app.git";
const STATIC_PATH: &str = "example/kargo-demo.git";
const STATIC_USERNAME: &str = "demo-bot";
const STATIC_PASSWORD: &str = "ghp_exampleDemoRepoToken0001";
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

fn request(path: &str) -> String {
    format!("protocol=https\nhost=github.com\npath={path}\n\n")
}

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

/// Polls `condition` until it holds; fails after `timeout` (a bound, not a measurement).
fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// The example Secrets (static credentials) plus a GitHub App for `acme/app` in the project
/// namespace, the fake GitHub that knows the App, and a cache folder of its own.
struct World {
    env: Env,
    fake: FakeGithub,
    private: Vec<String>,
}

impl World {
    fn start(fake_args: &[&str]) -> World {
        let env = Env::with_examples();
        let keys = env.home.path().join("keys");
        fs::create_dir(&keys).unwrap();
        let key = keys.join("app.pem");
        let output = run_bounded(
            Command::new("openssl")
                .args(["genrsa", "-traditional", "-out"])
                .arg(&key)
                .arg("2048"),
            b"",
            RUN_TIMEOUT,
        );
        assert!(output.status.success(), "{}", support::describe(&output));
        let mut args = vec![
            "--public-key",
            key.to_str().unwrap(),
            "--app-id",
            APP_ID,
            "--installation",
            INSTALLATION,
        ];
        args.extend_from_slice(fake_args);
        let fake = FakeGithub::start(&args);
        let pem = fs::read_to_string(&key).unwrap();
        let quote = |value: &str| serde_json::to_string(value).unwrap();
        env.write_manifest(
            "kargo-demo/github-app.yaml",
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: github-app\n  namespace: kargo-demo\n  labels:\n    kargo.akuity.io/cred-type: git\nstringData:\n  repoURL: https://github.com/acme/app\n  githubAppID: \"{APP_ID}\"\n  githubAppInstallationID: \"{INSTALLATION}\"\n  githubAppPrivateKey: {}\n",
                quote(&pem)
            ),
        );
        let cache = env.home.path().join("cache");
        let env = env
            .var("KARGO_PROJECT", PROJECT)
            .var("KARGO_CREDS_GITHUB_API_URL", &fake.api_url())
            .var("KARGO_CREDS_GITHUB_VALIDATION_WAITS", "0.05,0.05,0.05")
            .var("KARGO_CREDS_CACHE_DIR", cache.to_str().unwrap());
        let private = pem
            .lines()
            .filter(|line| !line.starts_with("-----") && line.len() >= 16)
            .map(str::to_owned)
            .collect();
        World { env, fake, private }
    }

    fn cache_dir(&self) -> PathBuf {
        self.env.home.path().join("cache")
    }

    fn set(&mut self, name: &str, value: &str) {
        self.env = std::mem::replace(&mut self.env, Env::empty()).var(name, value);
    }

    /// No private key line, fixture password, minted token or panic on stderr.
    fn assert_clean(&self, output: &Output) {
        let mut secrets: Vec<String> = self.private.clone();
        secrets.extend(self.fake.tokens());
        secrets.extend(EXAMPLE_SECRETS.iter().map(|s| (*s).to_owned()));
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        support::assert_no_secrets_in_stderr(output, &secrets);
        assert!(
            !support::stderr(output).contains("panicked"),
            "{}",
            support::describe(output)
        );
    }

    fn get_with(&self, command: &mut Command, path: &str) -> Output {
        let output = run_bounded(command.arg("get"), request(path).as_bytes(), RUN_TIMEOUT);
        self.assert_clean(&output);
        output
    }

    fn get(&self, path: &str) -> Output {
        self.get_with(&mut self.env.command(GIT_HELPER), path)
    }

    /// A successful get: (username, password).
    fn get_ok(&self, path: &str) -> (String, String) {
        let output = self.get(path);
        answer(&output)
    }

    fn posts(&self) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r["method"] == json!("POST"))
            .count()
    }

    /// The cache folder holds only well-formed entries (each with a token the fake minted
    /// and an expiry in the future), lock files and the prune stamp: no temporary file, no
    /// half-written entry.
    fn assert_cache_consistent(&self) {
        let minted = self.fake.tokens();
        for entry in fs::read_dir(self.cache_dir()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let path = entry.path();
            if name == "dir-index" || name == ".last-prune" || name.ends_with(".lock") {
                continue;
            }
            assert!(!name.contains(".tmp."), "a temporary file was left: {name}");
            if name.ends_with(".failure") {
                continue;
            }
            assert!(name.ends_with(".json"), "unexpected file {name}");
            let value: Value = serde_json::from_slice(&fs::read(&path).unwrap())
                .unwrap_or_else(|error| panic!("{name} is not JSON: {error}"));
            let token = value["token"].as_str().unwrap_or_default();
            assert!(
                minted.iter().any(|t| t == token),
                "{name} holds a token never minted"
            );
            assert!(value["expires_at"].as_str().is_some(), "{name}: {value}");
        }
    }
}

fn answer(output: &Output) -> (String, String) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        support::describe(output)
    );
    let values = key_values(&support::stdout(output));
    match (values.get("username"), values.get("password")) {
        (Some(username), Some(password)) => (username.clone(), password.clone()),
        _ => panic!("no credentials:\n{}", support::describe(output)),
    }
}

/// The documented failure of the git helper: exit 1, `quit=1` on stdout (a Secret matched,
/// so git must not prompt), exactly one stderr line holding each of `needles`.
fn assert_git_failure(output: &Output, needles: &[&str]) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        support::describe(output)
    );
    assert_eq!(
        support::stdout(output),
        "quit=1\n",
        "{}",
        support::describe(output)
    );
    let stderr = support::stderr(output);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", support::describe(output));
    assert!(lines[0].starts_with("git-credential-kargo: "), "{stderr}");
    for needle in needles {
        assert!(lines[0].contains(needle), "no {needle:?} in {stderr}");
    }
}

// ---------------------------------------------------------------------------------------
// Soak
// ---------------------------------------------------------------------------------------

#[test]
fn soak_sequential_and_concurrent_gets_are_all_correct_and_mint_once() {
    let world = World::start(&[]);
    let check = |output: &Output, path: &str, token: &mut Option<String>| {
        let (username, password) = answer(output);
        if path == STATIC_PATH {
            assert_eq!(
                (username.as_str(), password.as_str()),
                (STATIC_USERNAME, STATIC_PASSWORD)
            );
        } else {
            assert_eq!(username, "x-access-token");
            match token {
                Some(known) => assert_eq!(&password, known, "another token was handed out"),
                None => *token = Some(password),
            }
        }
    };

    // 500 sequential gets, alternating static and minted.
    let mut token = None;
    for round in 0..500 {
        let path = if round % 2 == 0 {
            STATIC_PATH
        } else {
            APP_PATH
        };
        check(&world.get(path), path, &mut token);
    }
    assert_eq!(world.fake.mints().len(), 1, "one token lifetime, one mint");

    // 64 processes at once, 10 gets each, from a cold cache again.
    fs::remove_dir_all(world.cache_dir()).unwrap();
    let barrier = Barrier::new(64);
    let first_token = token.clone();
    let tokens: Vec<String> = thread::scope(|scope| {
        let workers: Vec<_> = (0..64)
            .map(|worker| {
                let (world, barrier) = (&world, &barrier);
                scope.spawn(move || {
                    let mut token = None;
                    barrier.wait();
                    for round in 0..10 {
                        let path = if (worker + round) % 2 == 0 {
                            STATIC_PATH
                        } else {
                            APP_PATH
                        };
                        check(&world.get(path), path, &mut token);
                    }
                    token.expect("minted credentials were asked for")
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mints = world.fake.mints();
    assert_eq!(
        mints.len(),
        2,
        "one more mint for the cold cache: {mints:#?}"
    );
    let second = mints[1]["token"].as_str().unwrap();
    assert_ne!(Some(second.to_owned()), first_token);
    assert!(
        tokens.iter().all(|t| t == second),
        "every process got the one new token"
    );
    world.assert_cache_consistent();
}

// ---------------------------------------------------------------------------------------
// SIGKILL
// ---------------------------------------------------------------------------------------

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a `get` in the background, its stderr into a file.
fn spawn_get(world: &World, stderr: &Path) -> KillOnDrop {
    let mut child = world
        .env
        .command(GIT_HELPER)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request(APP_PATH).as_bytes())
        .unwrap();
    KillOnDrop(child)
}

fn lock_is_held(dir: &Path) -> bool {
    let Ok(read_dir) = fs::read_dir(dir) else {
        return false;
    };
    read_dir.filter_map(Result::ok).any(|entry| {
        let path = entry.path();
        path.extension().is_some_and(|ext| ext == "lock")
            && fs::File::open(&path).is_ok_and(|file| {
                matches!(
                    fs4::FileExt::try_lock(&file),
                    Err(fs4::TryLockError::WouldBlock)
                )
            })
    })
}

#[test]
fn a_get_killed_during_the_mint_or_before_its_cache_write_leaves_nothing_broken() {
    let mut world = World::start(&[]);
    // Killed while GitHub holds the mint request (the lock is held).
    world.fake.control(&json!({"mint_delay_ms": 10_000}));
    let stderr = world.env.home.path().join("killed.stderr");
    let killed = spawn_get(&world, &stderr);
    wait_for("the get to take the lock", RUN_TIMEOUT, || {
        lock_is_held(&world.cache_dir())
    });
    // Its mint request is then on its way to the fake, which holds it for 10 s.
    thread::sleep(Duration::from_millis(500));
    drop(killed);
    world.fake.control(&json!({}));
    let (_, token) = world.get_ok(APP_PATH);
    assert_eq!(
        world.fake.mints().len(),
        1,
        "the killed mint never completed; one new mint"
    );
    assert_eq!(world.fake.mints()[0]["token"], json!(token));
    world.assert_cache_consistent();
    assert_eq!(world.get_ok(APP_PATH).1, token, "served from the cache");

    // Killed after GitHub minted, while the token is being validated and before it is
    // written to the cache (the lock is still held): the next get mints once more.
    fs::remove_dir_all(world.cache_dir()).unwrap();
    world.set("KARGO_CREDS_GITHUB_VALIDATION_WAITS", "30");
    world.fake.control(&json!({"validation_unauthorized": 100}));
    let killed = spawn_get(&world, &stderr);
    wait_for("the second mint", RUN_TIMEOUT, || {
        world.fake.mints().len() == 2
    });
    wait_for("the validation", RUN_TIMEOUT, || {
        !world.fake.validations().is_empty()
    });
    assert!(
        lock_is_held(&world.cache_dir()),
        "killed while holding the lock"
    );
    drop(killed);
    let killed_output = Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(0),
        stdout: Vec::new(),
        stderr: fs::read(&stderr).unwrap(),
    };
    world.assert_clean(&killed_output);
    world.fake.control(&json!({}));
    world.set("KARGO_CREDS_GITHUB_VALIDATION_WAITS", "0.05");
    world.assert_cache_consistent();
    let (_, token) = world.get_ok(APP_PATH);
    assert_eq!(world.fake.mints().len(), 3, "one new mint after the kill");
    assert_eq!(world.fake.mints()[2]["token"], json!(token));
    world.assert_cache_consistent();
}

// ---------------------------------------------------------------------------------------
// Token endpoints that fail
// ---------------------------------------------------------------------------------------

/// A one-route HTTP server on 127.0.0.1 for what fake_github cannot do: close each
/// connection as soon as its request has arrived. Counts requests.
struct HangUp {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl HangUp {
    fn start() -> HangUp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = BufReader::new(&mut stream);
                let mut line = String::new();
                while head.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        HangUp { port, requests }
    }
}

#[test]
fn failing_github_endpoints_are_one_line_errors_naming_the_endpoint() {
    let mut world = World::start(&[]);
    let mint_url = format!(
        "{}/app/installations/{INSTALLATION}/access_tokens",
        world.fake.api_url()
    );
    for (control, needles) in [
        (json!({"mint_status": 500}), vec!["500"]),
        (
            json!({"mint_status": 429, "retry_after": 7}),
            vec!["429", "retry after 7"],
        ),
        (json!({"hang": true}), vec!["no answer in time"]),
    ] {
        world.fake.control(&control);
        world.set("KARGO_CREDS_REQUEST_TIMEOUT", "1");
        let output = world.get(APP_PATH);
        let mut all = vec![APP_SECRET_ID, mint_url.as_str()];
        all.extend(needles);
        assert_git_failure(&output, &all);
        // Nothing but the failure record is left; `cache clear` forgets it.
        world.assert_cache_consistent();
        let clear = run_bounded(
            world.env.command(CLI).args(["cache", "clear"]),
            b"",
            RUN_TIMEOUT,
        );
        assert_eq!(
            clear.status.code(),
            Some(0),
            "{}",
            support::describe(&clear)
        );
    }
    world.fake.control(&json!({}));

    // A server that hangs up without answering.
    let hang_up = HangUp::start();
    let url = format!("http://127.0.0.1:{}", hang_up.port);
    world.set("KARGO_CREDS_GITHUB_API_URL", &url);
    let output = world.get(APP_PATH);
    assert_git_failure(
        &output,
        &[APP_SECRET_ID, &format!("{url}/app/installations/")],
    );
    assert!(hang_up.requests.load(Ordering::SeqCst) >= 1);
    // And a closed port.
    let closed = support::free_port();
    let url = format!("http://127.0.0.1:{closed}");
    world.set("KARGO_CREDS_GITHUB_API_URL", &url);
    let output = world.get(APP_PATH);
    assert_git_failure(&output, &[APP_SECRET_ID, &url, "cannot connect"]);

    // Once GitHub answers again (and the record stood its time or was cleared), it works.
    let clear = run_bounded(
        world.env.command(CLI).args(["cache", "clear"]),
        b"",
        RUN_TIMEOUT,
    );
    assert_eq!(clear.status.code(), Some(0));
    world.set("KARGO_CREDS_GITHUB_API_URL", &world.fake.api_url());
    world.get_ok(APP_PATH);
    world.assert_cache_consistent();
}

/// The negative cache: 64 processes behind a failing mint ask GitHub about once, not 64
/// times, and each reports GitHub's reason.
#[test]
fn sixty_four_gets_behind_a_failing_mint_ask_github_about_once() {
    let world = World::start(&[]);
    for (control, most) in [
        // Retry-After 30 s: the record stands through the whole herd.
        (
            json!({"mint_status": 429, "retry_after": 30, "mint_delay_ms": 200}),
            1,
        ),
        // No Retry-After: 5 s. A process that starts after the record lapsed asks again,
        // so allow a few (a slow machine may start the 64 over more than 5 s).
        (json!({"mint_status": 500, "mint_delay_ms": 200}), 3),
    ] {
        let _ = fs::remove_dir_all(world.cache_dir());
        world.fake.control(&control);
        let before = world.posts();
        let barrier = Barrier::new(64);
        let outputs: Vec<Output> = thread::scope(|scope| {
            let workers: Vec<_> = (0..64)
                .map(|_| {
                    let (world, barrier) = (&world, &barrier);
                    scope.spawn(move || {
                        let mut command = world.env.command(GIT_HELPER);
                        barrier.wait();
                        world.get_with(&mut command, APP_PATH)
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let status = control["mint_status"].to_string();
        for output in &outputs {
            assert_git_failure(output, &[APP_SECRET_ID, "/access_tokens", &status]);
        }
        thread::sleep(Duration::from_millis(300)); // the fake logs after answering
        let posts = world.posts() - before;
        assert!(
            (1..=most).contains(&posts),
            "{posts} mint attempts for 64 gets (at most {most}) with {control}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The API server slow or down
// ---------------------------------------------------------------------------------------

#[test]
fn a_slow_or_missing_api_server_is_a_bounded_one_line_error() {
    let slow = FakeKube::start(&["--delay-ms", "4000"]);
    let down = support::free_port();
    let kubeconfig_down = slow.state.path().join("kubeconfig-down");
    let text = fs::read_to_string(slow.kubeconfig()).unwrap();
    fs::write(
        &kubeconfig_down,
        text.replace(
            &format!("127.0.0.1:{}", slow.port),
            &format!("127.0.0.1:{down}"),
        ),
    )
    .unwrap();
    for (kubeconfig, server) in [(slow.kubeconfig(), slow.port), (kubeconfig_down, down)] {
        let env = Env::empty()
            .var("KUBECONFIG", kubeconfig.to_str().unwrap())
            .var("KARGO_CREDS_SOURCE", "kubernetes")
            .var("KARGO_PROJECT", PROJECT)
            .var("KARGO_CREDS_CONNECT_TIMEOUT", "1")
            .var("KARGO_CREDS_REQUEST_TIMEOUT", "1");
        let output = run_bounded(
            env.command(GIT_HELPER).arg("get"),
            request(STATIC_PATH).as_bytes(),
            RUN_TIMEOUT,
        );
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}",
            support::describe(&output)
        );
        assert_eq!(support::stdout(&output), "", "no Secret matched: no quit=1");
        let stderr = support::stderr(&output);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&format!("127.0.0.1:{server}")), "{stderr}");
    }
}

// ---------------------------------------------------------------------------------------
// Cache folders that cannot be written
// ---------------------------------------------------------------------------------------

/// Runs `script` (sh) in a private mount namespace, where it may mount a tmpfs; `None`
/// (with a notice) where that is not allowed (no `unshare`, no user namespaces).
fn in_mount_namespace(world: &World, script: &str) -> Option<Output> {
    let root = support::run_with_stdin(Command::new("id").arg("-u"), b"");
    let flags = if support::stdout(&root).trim() == "0" {
        "-m"
    } else {
        "-Urm"
    };
    let probe = run_bounded(
        Command::new("unshare").args([flags, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"]),
        b"",
        RUN_TIMEOUT,
    );
    if !probe.status.success() {
        eprintln!(
            "NOTICE: skipping the read-only and full cache folder cases: cannot mount a tmpfs in a private namespace here ({})",
            support::stderr(&probe).trim()
        );
        return None;
    }
    let output = run_bounded(
        world
            .env
            .command("unshare")
            .args([flags, "sh", "-c", script]),
        request(APP_PATH).as_bytes(),
        RUN_TIMEOUT,
    );
    world.assert_clean(&output);
    Some(output)
}

#[test]
fn a_read_only_or_full_cache_folder_still_hands_out_credentials_with_one_warning() {
    let world = World::start(&[]);
    let cache = world.cache_dir();
    fs::create_dir_all(&cache).unwrap();
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o700)).unwrap();
    let cache = cache.to_str().unwrap();
    let helper = GIT_HELPER;
    // Read-only: a 0700 tmpfs mounted read-only (permission bits do not stop root).
    // Full: a tiny tmpfs filled up first.
    for (mount, fill, needles) in [
        ("ro,mode=0700", "", vec!["Read-only file system"]),
        (
            "size=16k,mode=0700",
            &*format!("dd if=/dev/zero of={cache}/filler bs=1k count=64 2>/dev/null;"),
            vec!["No space left on device", "not caching"],
        ),
    ] {
        let script = format!(
            "mount -t tmpfs -o {mount} tmpfs {cache} && {fill} {helper} get && echo --- && ls -A {cache}"
        );
        let Some(output) = in_mount_namespace(&world, &script) else {
            return;
        };
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            support::describe(&output)
        );
        let stdout = support::stdout(&output);
        let (answer, listing) = stdout.split_once("---\n").unwrap();
        let values = key_values(answer);
        assert_eq!(values["username"], "x-access-token");
        assert!(values["password"].starts_with("ghs_"), "{stdout}");
        let stderr = support::stderr(&output);
        assert_eq!(stderr.lines().count(), 1, "one warning:\n{stderr}");
        assert!(
            stderr.starts_with("git-credential-kargo: warning: "),
            "{stderr}"
        );
        for needle in needles {
            assert!(stderr.contains(needle), "no {needle:?} in {stderr}");
        }
        for name in listing.split_whitespace() {
            assert!(
                !name.ends_with(".json") && !name.contains(".tmp."),
                "left {name} behind: {listing}"
            );
        }
    }
    // Outside the namespace the folder was never touched, and works as usual.
    world.get_ok(APP_PATH);
    world.assert_cache_consistent();
}

// ---------------------------------------------------------------------------------------
// A clock near a token's expiry
// ---------------------------------------------------------------------------------------

#[test]
fn a_cached_token_inside_the_expiry_margin_is_minted_again_and_replaced() {
    let world = World::start(&[]);
    let (_, first) = world.get_ok(APP_PATH);
    let entry = fs::read_dir(world.cache_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    // As if the clock had moved on: 200 s left, inside the 300 s margin.
    let mut value: Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
    let soon = unix_now() + 200;
    let rfc3339 = |t: i64| {
        let output = support::run_with_stdin(
            Command::new("date").args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"]),
            b"",
        );
        support::stdout(&output).trim().to_owned()
    };
    value["expires_at"] = json!(rfc3339(soon));
    fs::write(&entry, serde_json::to_vec(&value).unwrap()).unwrap();

    let (_, second) = world.get_ok(APP_PATH);
    assert_ne!(second, first, "a token inside the margin was served");
    assert_eq!(world.fake.mints().len(), 2);
    let value: Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
    assert_eq!(value["token"], json!(second), "the entry was replaced");
    world.assert_cache_consistent();
    // 330 s left with a 300 s margin is still fresh: served, not minted.
    let mut value = value;
    value["expires_at"] = json!(rfc3339(unix_now() + 330));
    fs::write(&entry, serde_json::to_vec(&value).unwrap()).unwrap();
    assert_eq!(world.get_ok(APP_PATH).1, second);
    assert_eq!(world.fake.mints().len(), 2);
}
