//! Shared helpers for the integration tests: run the real binaries in an isolated
//! environment and check that no fixture secret ever reaches stderr.
#![allow(dead_code)]

pub mod aws_proxy;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub const GIT_HELPER: &str = env!("CARGO_BIN_EXE_git-credential-kargo");
pub const DOCKER_HELPER: &str = env!("CARGO_BIN_EXE_docker-credential-kargo");
pub const CLI: &str = env!("CARGO_BIN_EXE_kargo-creds");

/// The committed example folder (20 Secrets, fake values).
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/secrets")
}

/// Every secret value in the example folder, for stderr scans.
pub const EXAMPLE_SECRETS: &[&str] = &[
    "ghp_exampleDemoRepoToken0001",
    "ghp_exampleOrgReadToken0002",
    "glpat-examplePlatform0003",
    "ZXhhbXBsZS1rZXktbm90LXJlYWw",
    "ATBBexampleBitbucket0004",
    "ghp_exampleGhcrToken0005",
    "QUAYexampleRobotToken0006",
    "ACRexamplePullToken0007",
    "ghp_exampleChartsToken0008",
    "xoxb-example-not-a-real-token-0009",
    "ghp_exampleSharedToken0010",
    "glpat-exampleSharedGitlab0011",
    "internal-example-password-0012",
    "ADOexamplePatToken0013",
    "dckr_pat_exampleHubToken0014",
    "ghp_exampleSharedGhcr0015",
    "local-example-password-0016",
    "eyJleGFtcGxlIjoidHJ1ZSJ9LTAwMTc",
    "dckr_pat_exampleCharts0018",
    "classic-example-password-0019",
    "example-webhook-token-0020",
];

/// An isolated environment: a temporary HOME (so no user config or cache is read), no
/// inherited KARGO_* variables, and a secrets folder.
pub struct Env {
    pub home: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

impl Env {
    /// An environment whose secrets folder is a copy of the committed examples, mode 0600
    /// as a user would keep it (a git checkout leaves them 0644, which earns a warning).
    pub fn with_examples() -> Env {
        let env = Env::empty();
        copy_private(&examples_dir(), &env.secrets_dir());
        env
    }

    /// An environment with an empty secrets folder at `$HOME/secrets`.
    pub fn empty() -> Env {
        let home = tempfile::tempdir().unwrap();
        let secrets = home.path().join("secrets");
        std::fs::create_dir(&secrets).unwrap();
        let vars = vec![
            ("HOME".to_owned(), home.path().display().to_string()),
            (
                "KARGO_CREDS_SECRETS_DIR".to_owned(),
                secrets.display().to_string(),
            ),
        ];
        Env { home, vars }
    }

    pub fn var(mut self, name: &str, value: &str) -> Env {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn secrets_dir(&self) -> PathBuf {
        PathBuf::from(
            &self
                .vars
                .iter()
                .find(|(k, _)| k == "KARGO_CREDS_SECRETS_DIR")
                .unwrap()
                .1,
        )
    }

    /// Writes a manifest file (mode 0600) into the secrets folder.
    pub fn write_manifest(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.secrets_dir().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        path
    }

    /// A command for `program` with this environment, and nothing of the caller's
    /// KARGO_*, XDG_*, DOCKER_*, GIT_*, cloud identity, endpoint or proxy variables.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        for (name, _) in std::env::vars() {
            let upper = name.to_ascii_uppercase();
            let inherited_setting = [
                "KARGO",
                "XDG_",
                "DOCKER_",
                "GIT_",
                "AWS_",
                "GOOGLE_",
                "GCE_",
                "AZURE_",
                "CLOUDSDK_",
            ]
            .iter()
            .any(|prefix| upper.starts_with(prefix))
                || upper.ends_with("_PROXY")
                || upper == "SSL_CERT_FILE"
                || upper == "SHARD_NAME";
            if inherited_setting {
                command.env_remove(name);
            }
        }
        command.envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
    }

    /// Runs `program args…` with `stdin`, returning its output.
    pub fn run(&self, program: &str, args: &[&str], stdin: &[u8]) -> Output {
        run_with_stdin(self.command(program).args(args), stdin)
    }
}

pub fn run_with_stdin(command: &mut Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        let mut pipe = child.stdin.take().unwrap();
        // The helper may exit before reading everything (e.g. input too large).
        let _ = pipe.write_all(stdin);
    }
    child.wait_with_output().expect("wait")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A finished run for a failure message: exit code, stdout and stderr.
pub fn describe(output: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    )
}

/// git reading `global` as the user's config and no system config, never prompting.
pub fn git_command(env: &Env, global: &Path) -> Command {
    let mut command = env.command("git");
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", global)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env_remove("SSH_ASKPASS")
        .env_remove("GIT_ASKPASS");
    command
}

/// Fails, showing the run, unless it exited with `code`.
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{}", describe(output));
}

/// Fails if any of `secrets` appears in the output's stderr.
pub fn assert_no_secrets_in_stderr(output: &Output, secrets: &[&str]) {
    let stderr = stderr(output);
    for secret in secrets {
        assert!(
            !stderr.contains(secret),
            "stderr leaks a secret value ({secret}):\n{stderr}"
        );
    }
}

/// Copies a folder tree, files 0600.
pub fn copy_private(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_private(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
        }
    }
}

/// The fake Kubernetes API server (`tests/support/fake_kube.py`), running for one test: it
/// exits when this guard is dropped (killed) or when the test process dies (its stdin, a
/// pipe this guard holds, reaches end of file).
pub struct FakeKube {
    child: std::process::Child,
    /// Held open: the server exits at its end of file.
    _stdin: std::process::ChildStdin,
    pub state: tempfile::TempDir,
    pub port: u16,
}

impl FakeKube {
    /// Starts `fake_kube.py --state-dir <temp> --exit-on-stdin-eof ARGS…` and waits for its
    /// `PORT=` line (by then `kubeconfig` is written).
    pub fn start(args: &[&str]) -> FakeKube {
        let (child, stdin, state, port) = start_python_server("fake_kube.py", args);
        FakeKube {
            child,
            _stdin: stdin,
            state,
            port,
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.state.path().join("kubeconfig")
    }

    /// The store: `<secrets_dir>/<namespace>/<name>.json`.
    pub fn secrets_dir(&self) -> PathBuf {
        self.state.path().join("secrets")
    }

    /// Writes a Secret file into the store, served as it is.
    pub fn seed(&self, namespace: &str, name: &str, secret: &serde_json::Value) {
        let folder = self.secrets_dir().join(namespace);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join(format!("{name}.json")),
            serde_json::to_vec_pretty(secret).unwrap(),
        )
        .unwrap();
    }

    /// The stored Secret, if any.
    pub fn stored(&self, namespace: &str, name: &str) -> Option<serde_json::Value> {
        let path = self
            .secrets_dir()
            .join(namespace)
            .join(format!("{name}.json"));
        let text = std::fs::read_to_string(path).ok()?;
        Some(serde_json::from_str(&text).unwrap())
    }

    /// Empties the store.
    pub fn clear_secrets(&self) {
        let _ = std::fs::remove_dir_all(self.secrets_dir());
        std::fs::create_dir_all(self.secrets_dir()).unwrap();
    }

    /// Every request logged so far (`requests.jsonl`).
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state.path().join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Secret JSON as the API server stores it: `data` values base64-encoded.
pub fn secret_json(
    labels: &[(&str, &str)],
    annotations: &[(&str, &str)],
    data: &[(&str, &str)],
) -> serde_json::Value {
    use base64::Engine as _;
    let map = |pairs: &[(&str, &str)]| -> serde_json::Map<String, serde_json::Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
            .collect()
    };
    let encoded: serde_json::Map<String, serde_json::Value> = data
        .iter()
        .map(|(k, v)| {
            (
                (*k).to_owned(),
                base64::engine::general_purpose::STANDARD.encode(v).into(),
            )
        })
        .collect();
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"labels": map(labels), "annotations": map(annotations)},
        "data": encoded,
        "type": "Opaque",
    })
}

/// The fake GitHub REST API (`tests/support/fake_github.py`), running for one test: it
/// exits when this guard is dropped (killed) or when the test process dies (its stdin, a
/// pipe this guard holds, reaches end of file). Its state folder (mints, validations,
/// requests, tokens, control) is a temporary folder of its own.
pub struct FakeGithub {
    child: std::process::Child,
    /// Held open: the server exits at its end of file.
    _stdin: std::process::ChildStdin,
    pub state: tempfile::TempDir,
    pub port: u16,
}

impl FakeGithub {
    /// Starts `fake_github.py --state-dir <temp> --exit-on-stdin-eof ARGS…` (ARGS name at
    /// least `--public-key`, `--app-id` and `--installation`) and waits for its `PORT=`
    /// line. Its stderr goes to `<state>/stderr.log`.
    pub fn start(args: &[&str]) -> FakeGithub {
        let (child, stdin, state, port) = start_python_server("fake_github.py", args);
        FakeGithub {
            child,
            _stdin: stdin,
            state,
            port,
        }
    }

    /// `http://127.0.0.1:<port>`: the value for `KARGO_CREDS_GITHUB_API_URL`.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The lines of `<state>/<name>` (JSON Lines) written so far; a line still being
    /// written (no newline yet) is left out.
    pub fn jsonl(&self, name: &str) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.state.path().join(name)).unwrap_or_default();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        complete
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// One record per successful mint: token, repositories, installation, iss, path, ….
    pub fn mints(&self) -> Vec<serde_json::Value> {
        self.jsonl("mints.jsonl")
    }

    /// One record per `GET /repos/{owner}/{repo}`: token, owner, repo, status, ….
    pub fn validations(&self) -> Vec<serde_json::Value> {
        self.jsonl("validations.jsonl")
    }

    /// One record per API request answered (or held): method, path, status, ….
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.jsonl("requests.jsonl")
    }

    /// `<state>/tokens.txt`: every minted token, one per line.
    pub fn tokens_file(&self) -> PathBuf {
        self.state.path().join("tokens.txt")
    }

    /// Every token minted so far (tokens.txt and mints.jsonl).
    pub fn tokens(&self) -> Vec<String> {
        let mut tokens: Vec<String> = std::fs::read_to_string(self.tokens_file())
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        for mint in self.mints() {
            if let Some(token) = mint["token"].as_str() {
                if !tokens.iter().any(|known| known == token) {
                    tokens.push(token.to_owned());
                }
            }
        }
        tokens
    }

    /// Replaces `control.json` atomically (temporary file + rename).
    pub fn control(&self, control: &serde_json::Value) {
        let temporary = self.state.path().join("control.json.tmp");
        std::fs::write(&temporary, serde_json::to_vec(control).unwrap()).unwrap();
        std::fs::rename(&temporary, self.state.path().join("control.json")).unwrap();
    }

    /// What the server wrote on stderr (errors only), for failure messages.
    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.state.path().join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 right now (bound, then released: a server started on it may
/// still lose a race, so callers retry on a clash). Nothing listens on it afterwards, which
/// also makes it a "closed port" for connection-refused cases.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `condition` every 20 ms; false if it still does not hold after `timeout`.
pub fn poll_until(timeout: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Runs moto's server with a watchdog thread that exits when stdin reaches end of file, so
/// that a killed test process cannot leave it behind (`moto_server` itself has no such
/// switch). Arguments are `moto_server`'s.
const MOTO_LAUNCHER: &str = r#"
import os, sys, threading
def watch():
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except (OSError, ValueError):
        pass
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.server import main
main(sys.argv[1:])
"#;

/// Creates an IAM user `kargo-creds-test`, an access key for it and an allow-all inline
/// policy: three actions, so a moto started with `INITIAL_NO_AUTH_ACTION_COUNT=3` verifies
/// every later request's SigV4 signature against that key. Prints `<id> <secret>`.
const MOTO_BOOTSTRAP: &str = r#"
import json, sys
import boto3
endpoint = sys.argv[1]
iam = boto3.client("iam", region_name="us-east-1", endpoint_url=endpoint,
                   aws_access_key_id="AKIAIOSFODNN7BOOTSTR", aws_secret_access_key="bootstrap")
iam.create_user(UserName="kargo-creds-test")
key = iam.create_access_key(UserName="kargo-creds-test")["AccessKey"]
iam.put_user_policy(UserName="kargo-creds-test", PolicyName="allow-all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;

/// The number of IAM actions [`MOTO_BOOTSTRAP`] takes: start moto with
/// `INITIAL_NO_AUTH_ACTION_COUNT` set to this to have signatures checked afterwards.
pub const MOTO_BOOTSTRAP_ACTIONS: u32 = 3;

/// moto's server (`pip install 'moto[server]'`) on 127.0.0.1, for one test: killed when the
/// guard is dropped, and gone with the test process (its stdin, a pipe this guard holds,
/// reaches end of file). Its output (werkzeug logs one line per request) goes to
/// `<dir>/moto.log`. By default moto accepts any signature; with
/// `initial_no_auth_action_count` = N it verifies SigV4 after the first N actions.
pub struct Moto {
    child: std::process::Child,
    _stdin: Option<std::process::ChildStdin>,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Moto {
    pub fn start(initial_no_auth_action_count: Option<u32>) -> Moto {
        let mut last = String::new();
        for _attempt in 0..5 {
            match Moto::try_start(initial_no_auth_action_count, true) {
                Ok(moto) => return moto,
                // Not importable by python3 (moto installed for another interpreter): the
                // plain `moto_server` script, without the stdin watchdog.
                Err(log) if log.contains("No module named") => {
                    match Moto::try_start(initial_no_auth_action_count, false) {
                        Ok(moto) => return moto,
                        Err(log) => last = log,
                    }
                }
                // Most likely a port clash: pick another port.
                Err(log) => last = log,
            }
        }
        panic!("moto did not start (is `moto[server]` installed?); last output:\n{last}");
    }

    fn try_start(
        initial_no_auth_action_count: Option<u32>,
        launcher: bool,
    ) -> Result<Moto, String> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log_path = dir.path().join("moto.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let port_text = port.to_string();
        let mut command = if launcher {
            let mut command = Command::new("python3");
            command.arg("-c").arg(MOTO_LAUNCHER);
            command
        } else {
            Command::new("moto_server")
        };
        command
            .args(["-H", "127.0.0.1", "-p", &port_text])
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        match initial_no_auth_action_count {
            Some(count) => command.env("INITIAL_NO_AUTH_ACTION_COUNT", count.to_string()),
            None => command.env_remove("INITIAL_NO_AUTH_ACTION_COUNT"),
        };
        let mut child = command
            .spawn()
            .map_err(|error| format!("spawning moto: {error}"))?;
        let stdin = child.stdin.take();
        let banner = format!("Running on http://127.0.0.1:{port}");
        let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        let mut exited = false;
        let ready = poll_until(std::time::Duration::from_secs(60), || {
            if read_log().contains(&banner) {
                return true;
            }
            exited = !matches!(child.try_wait(), Ok(None));
            exited
        });
        if !ready || exited {
            let _ = child.kill();
            let _ = child.wait();
            return Err(read_log());
        }
        Ok(Moto {
            child,
            _stdin: stdin,
            dir,
            port,
        })
    }

    /// `http://127.0.0.1:<port>`: the value for `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What moto has written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }

    /// How many `POST /` requests moto has answered so far (every JSON-protocol call).
    pub fn posts(&self) -> usize {
        self.log().matches("\"POST / HTTP/1.1\"").count()
    }

    /// Creates an IAM user with an access key and an allow-all policy through boto3 (which
    /// comes with moto), in [`MOTO_BOOTSTRAP_ACTIONS`] actions. Returns (key ID, secret).
    pub fn create_access_key(&self) -> (String, String) {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(MOTO_BOOTSTRAP)
            .arg(self.url())
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("NO_PROXY", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 (boto3)");
        let finished = poll_until(std::time::Duration::from_secs(60), || {
            !matches!(child.try_wait(), Ok(None))
        });
        if !finished {
            let _ = child.kill();
        }
        let output = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let mut words = text.split_whitespace();
        match (output.status.success(), words.next(), words.next()) {
            (true, Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
            _ => panic!(
                "creating an IAM access key in moto failed (finished: {finished}):\n{text}\n{}\nmoto:\n{}",
                String::from_utf8_lossy(&output.stderr),
                self.log()
            ),
        }
    }

    /// A raw JSON 1.1 call (`X-Amz-Target: target`) with a dummy signature whose
    /// credential scope names `service` (moto routes by it); moto without auth checking
    /// answers it. Returns the status code and body.
    pub fn call(&self, service: &str, target: &str, body: &str) -> (u16, String) {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: {target}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20150101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )
        .unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let text = String::from_utf8_lossy(&answer).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        (status, body.to_owned())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fake Google token endpoint (`tests/support/fake_google.py`), running for one test:
/// it exits when this guard is dropped (killed) or when the test process dies (its stdin, a
/// pipe this guard holds, reaches end of file). Its state folder (grants.jsonl,
/// requests.jsonl, stderr.log) is a temporary folder of its own.
pub struct FakeGoogle {
    child: std::process::Child,
    _stdin: std::process::ChildStdin,
    pub state: tempfile::TempDir,
    pub port: u16,
}

impl FakeGoogle {
    /// Starts `fake_google.py --state-dir <temp> --exit-on-stdin-eof ARGS…` (ARGS name at
    /// least `--public-key`, `--key-id` and `--client-email`) and waits for its `PORT=` line.
    pub fn start(args: &[&str]) -> FakeGoogle {
        let (child, stdin, state, port) = start_python_server("fake_google.py", args);
        FakeGoogle {
            child,
            _stdin: stdin,
            state,
            port,
        }
    }

    /// `http://127.0.0.1:<port>/token`: the `token_uri` (and `aud`) it accepts.
    pub fn token_uri(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    fn jsonl(&self, name: &str) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.state.path().join(name)).unwrap_or_default();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        complete
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// One record per token issued: access_token, iss, kid, aud, scope, iat, exp, ….
    pub fn grants(&self) -> Vec<serde_json::Value> {
        self.jsonl("grants.jsonl")
    }

    /// One record per request answered: method, path, status, content_type, error, time.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.jsonl("requests.jsonl")
    }

    /// Every access token issued so far.
    pub fn tokens(&self) -> Vec<String> {
        self.grants()
            .iter()
            .filter_map(|grant| grant["access_token"].as_str().map(str::to_owned))
            .collect()
    }

    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.state.path().join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for FakeGoogle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` with `stdin`, capturing stdout and stderr, and kills it (failing the
/// test) if it is still running after `timeout`.
pub fn run_bounded(command: &mut Command, stdin: &[u8], timeout: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("spawning {command:?}: {error}"));
    let input = stdin.to_vec();
    let mut pipe = child.stdin.take().unwrap();
    let writer = thread::spawn(move || {
        // The helper may exit before reading everything (e.g. input too large).
        let _ = pipe.write_all(&input);
    });
    let stdout = reader(child.stdout.take().unwrap());
    let stderr = reader(child.stderr.take().unwrap());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish within {timeout:?} (killed)");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    // A grandchild holding the pipes open must not hang the test either.
    let collect = |receiver: mpsc::Receiver<Vec<u8>>| {
        receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("output pipes closed after exit")
    };
    Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    }
}

pub fn reader(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = pipe.read_to_end(&mut buffer);
        let _ = sender.send(buffer);
    });
    receiver
}

/// The fake Entra token endpoint + ACR exchange (`tests/support/fake_azure.py`), both on one
/// port, for one test: it exits when this guard is dropped (killed) or when the test process
/// dies (its stdin, a pipe this guard holds, reaches end of file). Its state folder
/// (requests.jsonl, access_tokens.txt, refresh_tokens.txt, control.json, stderr.log) is a
/// temporary folder of its own.
pub struct FakeAzure {
    child: std::process::Child,
    _stdin: std::process::ChildStdin,
    pub state: tempfile::TempDir,
    pub port: u16,
}

impl FakeAzure {
    /// Starts `fake_azure.py --state-dir <temp> --exit-on-stdin-eof --tenant T --client-id C
    /// --assertion-file F` and waits for its `PORT=` line.
    pub fn start(tenant: &str, client_id: &str, assertion_file: &Path) -> FakeAzure {
        let assertion_file = assertion_file.to_str().expect("a UTF-8 path");
        let args = [
            "--tenant",
            tenant,
            "--client-id",
            client_id,
            "--assertion-file",
            assertion_file,
        ];
        let (child, stdin, state, port) = start_python_server("fake_azure.py", &args);
        FakeAzure {
            child,
            _stdin: stdin,
            state,
            port,
        }
    }

    /// `http://127.0.0.1:<port>/`: the value for `AZURE_AUTHORITY_HOST`.
    pub fn authority_host(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// `http://127.0.0.1:<port>`: the value for `KARGO_CREDS_ACR_ENDPOINT`.
    pub fn acr_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request answered so far (no secret values: see fake_azure.py).
    pub fn requests(&self) -> Vec<serde_json::Value> {
        let text =
            std::fs::read_to_string(self.state.path().join("requests.jsonl")).unwrap_or_default();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        complete
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The requests to one route (`token` or `exchange`).
    pub fn requests_to(&self, route: &str) -> Vec<serde_json::Value> {
        self.requests()
            .into_iter()
            .filter(|request| request["route"] == route)
            .collect()
    }

    fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.state.path().join(name))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// Every Entra access token issued so far.
    pub fn access_tokens(&self) -> Vec<String> {
        self.lines("access_tokens.txt")
    }

    /// Every ACR refresh token issued so far.
    pub fn refresh_tokens(&self) -> Vec<String> {
        self.lines("refresh_tokens.txt")
    }

    /// Writes `control.json` (read by the fake at every request).
    pub fn control(&self, value: &serde_json::Value) {
        let path = self.state.path().join("control.json");
        let temp = self.state.path().join("control.json.tmp");
        std::fs::write(&temp, value.to_string()).unwrap();
        std::fs::rename(temp, path).unwrap();
    }

    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.state.path().join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for FakeAzure {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tests/support/<script> --state-dir <temp> --exit-on-stdin-eof ARGS…` (the fakes'
/// shared command line), waits for its `PORT=` line, and hands back the child, its stdin
/// (held open: the server exits at its end of file), the state folder and the port. Its
/// stderr goes to `<state>/stderr.log`, shown if it fails to start.
pub fn start_python_server(
    script: &str,
    args: &[&str],
) -> (
    std::process::Child,
    std::process::ChildStdin,
    tempfile::TempDir,
    u16,
) {
    use std::io::BufRead;
    let state = tempfile::tempdir().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(script);
    let log = std::fs::File::create(state.path().join("stderr.log")).unwrap();
    let mut child = Command::new("python3")
        .arg(path)
        .arg("--state-dir")
        .arg(state.path())
        .arg("--exit-on-stdin-eof")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|error| panic!("python3 {script}: {error}"));
    let stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    let _ = std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    let port = match line.trim().strip_prefix("PORT=").map(str::parse) {
        Some(Ok(port)) => port,
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{script} did not start (first line {line:?}); stderr:\n{}",
                std::fs::read_to_string(state.path().join("stderr.log")).unwrap_or_default()
            );
        }
    };
    (child, stdin, state, port)
}

/// `tests/support/git_http_server.py`: git over smart HTTP demanding Basic auth, for one
/// test; killed when dropped (also when the test panics).
pub struct GitHttpServer {
    child: std::process::Child,
    pub port: u16,
    /// The auth log: one `<username> accepted|rejected` line per attempt.
    pub log: PathBuf,
    pub stderr: PathBuf,
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GitHttpServer {
    /// Serves the bare repositories under `root`, accepting only `username`/`password`.
    pub fn start(env: &Env, root: &Path, username: &str, password: &str) -> GitHttpServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/git_http_server.py");
        let log = env.home.path().join("auth.log");
        let stderr = env.home.path().join("server.stderr");
        let global = env.home.path().join("empty-gitconfig");
        if !global.exists() {
            std::fs::write(&global, "").unwrap();
        }
        let mut child = env
            .command("python3")
            .arg(&script)
            .arg(root)
            .arg(username)
            .arg(password)
            .arg(&log)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", &global)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("python3 runs the test git server");
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            use std::io::BufRead;
            let mut lines = std::io::BufReader::new(stdout).lines();
            let _ = sender.send(lines.next());
            for _ in lines {} // drain until the server exits
        });
        let mut server = GitHttpServer {
            child,
            port: 0,
            log,
            stderr,
        };
        let first = receiver.recv_timeout(Duration::from_secs(20));
        server.port = match first {
            Ok(Some(Ok(line))) => line
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("the server printed {line:?}, not a port")),
            other => panic!(
                "the git server did not print its port ({other:?}); stderr:\n{}",
                std::fs::read_to_string(&server.stderr).unwrap_or_default()
            ),
        };
        server
    }

    /// The auth log: one `<username> accepted|rejected` line per attempt.
    pub fn attempts(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn diagnostics(&self) -> String {
        format!(
            "--- auth log ---\n{}\n--- server stderr ---\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }
}
