//! End to end with real clients, wired by `kargo-creds setup` and nothing else:
//!
//! * Debian's `docker-registry` (distribution) with htpasswd auth and TLS from a CA this
//!   test makes; `kargo-creds setup docker --registry 127.0.0.1:PORT` writes the docker
//!   config; `skopeo copy` and `skopeo inspect` get their credentials through
//!   `docker-credential-kargo`, and fail once the Secret is gone.
//! * `kargo-creds setup git --host http://127.0.0.1:PORT` writes the global git config, and
//!   a real `git clone` from `tests/support/git_http_server.py` succeeds through the helper
//!   it configured, past a `credential.helper = store` holding a wrong password, and fails
//!   once the Secret is gone.
//!
//! Without `docker-registry`, `skopeo`, `htpasswd` or `openssl` the registry test fails
//! when `CI` is set, and is skipped with a notice otherwise.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};
use support::{assert_exit, describe, run_bounded, Env, GitHttpServer, CLI, DOCKER_HELPER};

const TIMEOUT: Duration = Duration::from_secs(120);

const REGISTRY_USER: &str = "registry-user";
const REGISTRY_PASSWORD: &str = "registry-password-0401";
const GIT_USER: &str = "git-user";
const GIT_PASSWORD: &str = "git-password-0402";
const STORED_WRONG_PASSWORD: &str = "stale-stored-password-0403";
const SECRETS: &[&str] = &[REGISTRY_PASSWORD, GIT_PASSWORD, STORED_WRONG_PASSWORD];

/// Runs `program args…` in `env` under the deadline, checking stderr for the secrets.
fn run(env: &Env, program: &str, args: &[&str]) -> Output {
    let output = run_bounded(env.command(program).args(args), b"", TIMEOUT);
    support::assert_no_secrets_in_stderr(&output, SECRETS);
    output
}

/// Whether every tool is installed; when one is not, a failure under CI, else a notice.
fn tools_present(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| kargo_creds::setup::find_on_path(tool).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "{} not installed (Debian: apt-get install docker-registry skopeo apache2-utils openssl)",
        missing.join(", ")
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("notice: skipping the registry end-to-end test: {message}");
    false
}

/// PATH with the built binaries first (docker and skopeo find `docker-credential-kargo`
/// there, as they would after an installation).
fn path_with_binaries() -> String {
    let bin_dir = Path::new(DOCKER_HELPER).parent().unwrap().to_path_buf();
    let mut dirs = vec![bin_dir];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap().into_string().unwrap()
}

// ---------------------------------------------------------------------------------------
// The registry
// ---------------------------------------------------------------------------------------

/// `openssl …` in `dir`, which must succeed.
fn openssl(dir: &Path, args: &[&str]) {
    let output = run_bounded(
        Command::new("openssl").current_dir(dir).args(args),
        b"",
        TIMEOUT,
    );
    assert_exit(&output, 0);
}

/// A CA (`ca.crt`) and a server certificate for 127.0.0.1 it signed (`server.crt`,
/// `server.key`), in `dir`.
fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=kargo-creds test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
}

/// `docker-registry serve` with htpasswd auth and TLS on a port the kernel picks, for one
/// test. It runs under a small shell that stops it when its stdin (a pipe this guard
/// holds) closes: when the guard is dropped, or when the test process dies.
struct Registry {
    child: Child,
    stdin: Option<ChildStdin>,
    dir: tempfile::TempDir,
    port: u16,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        make_certificates(root);
        let htpasswd = run_bounded(
            Command::new("htpasswd").args(["-Bbn", REGISTRY_USER, REGISTRY_PASSWORD]),
            b"",
            TIMEOUT,
        );
        assert_exit(&htpasswd, 0);
        fs::write(root.join("htpasswd"), &htpasswd.stdout).unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\nhttp:\n  addr: 127.0.0.1:0\n  secret: kargo-creds-test\n  tls:\n    certificate: {root}/server.crt\n    key: {root}/server.key\nauth:\n  htpasswd:\n    realm: kargo-test\n    path: {root}/htpasswd\n",
            root = root.display()
        );
        fs::write(root.join("config.yml"), config).unwrap();
        let log_path = root.join("registry.log");
        let log = fs::File::create(&log_path).unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("docker-registry serve \"$1\" & pid=$!; cat >/dev/null; kill $pid; wait $pid")
            .arg("sh")
            .arg(root.join("config.yml"))
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("sh runs docker-registry");
        let stdin = child.stdin.take();
        let mut registry = Registry {
            child,
            stdin,
            dir,
            port: 0,
        };
        // distribution logs `listening on 127.0.0.1:<port>, tls` once it accepts.
        let read_port = || {
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            let rest = log.split("listening on 127.0.0.1:").nth(1)?;
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        };
        let mut exited = false;
        support::poll_until(Duration::from_secs(60), || {
            exited = !matches!(registry.child.try_wait(), Ok(None));
            exited || read_port().is_some()
        });
        registry.port = match read_port() {
            Some(port) if !exited => port,
            _ => panic!(
                "docker-registry did not start; its log:\n{}",
                registry.log()
            ),
        };
        registry
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// A folder for skopeo's `--cert-dir`: the test CA as `ca.crt`.
    fn cert_dir(&self) -> PathBuf {
        let certs = self.dir.path().join("certs");
        fs::create_dir_all(&certs).unwrap();
        fs::copy(self.dir.path().join("ca.crt"), certs.join("ca.crt")).unwrap();
        certs
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if !support::poll_until(Duration::from_secs(10), || {
            !matches!(self.child.try_wait(), Ok(None))
        }) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A one-layer image as an OCI layout at `dir`, tagged `1` (an empty tar as its layer).
fn write_oci_layout(dir: &Path) {
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).unwrap();
    let blob = |bytes: &[u8]| -> serde_json::Value {
        let digest = format!("{:x}", Sha256::digest(bytes));
        fs::write(blobs.join(&digest), bytes).unwrap();
        serde_json::json!({"digest": format!("sha256:{digest}"), "size": bytes.len()})
    };
    let with_type = |mut descriptor: serde_json::Value, media_type: &str| {
        descriptor["mediaType"] = media_type.into();
        descriptor
    };
    let layer = blob(&[0u8; 1024]);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
    });
    let config = blob(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": with_type(config, "application/vnd.oci.image.config.v1+json"),
        "layers": [with_type(layer, "application/vnd.oci.image.layer.v1.tar")],
    });
    let mut manifest = with_type(
        blob(manifest.to_string().as_bytes()),
        "application/vnd.oci.image.manifest.v1+json",
    );
    manifest["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "1"});
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs::write(
        dir.join("index.json"),
        serde_json::json!({"schemaVersion": 2, "manifests": [manifest]}).to_string(),
    )
    .unwrap();
}

fn image_secret(registry: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: local-registry\n  labels:\n    kargo.akuity.io/cred-type: image\nstringData:\n  repoURL: {registry}/app\n  username: {REGISTRY_USER}\n  password: {REGISTRY_PASSWORD}\n"
    )
}

#[test]
fn skopeo_copies_and_inspects_through_the_helper_setup_wired() {
    if !tools_present(&["docker-registry", "skopeo", "htpasswd", "openssl"]) {
        return;
    }
    let registry = Registry::start();
    let host = registry.host();
    let env = Env::empty().var("PATH", &path_with_binaries());
    let home = env.home.path().to_path_buf();
    let docker_config = home.join("docker-config");
    let runtime = home.join("run");
    fs::create_dir_all(&runtime).unwrap();
    // containers-auth reads $XDG_RUNTIME_DIR/containers/auth.json first: keep it ours.
    let env = env
        .var("DOCKER_CONFIG", docker_config.to_str().unwrap())
        .var("XDG_RUNTIME_DIR", runtime.to_str().unwrap());
    let layout = home.join("layout");
    write_oci_layout(&layout);
    let policy = home.join("policy.json");
    fs::write(
        &policy,
        r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    let certs = registry.cert_dir();
    let certs = certs.to_str().unwrap();
    let reference = format!("docker://{host}/app:1");
    let copy = |env: &Env| {
        let source = format!("oci:{}:1", layout.display());
        let args = [
            "--policy",
            policy.to_str().unwrap(),
            "copy",
            "--dest-cert-dir",
            certs,
            &source,
            &reference,
        ];
        run(env, "skopeo", &args)
    };
    let inspect = |env: &Env, extra: &[&str]| {
        let mut args = vec!["inspect", "--cert-dir", certs];
        args.extend_from_slice(extra);
        args.push(&reference);
        run(env, "skopeo", &args)
    };
    env.write_manifest(
        "kargo-shared-resources/local-registry.yaml",
        &image_secret(&host),
    );

    // Not wired yet: the registry turns skopeo away.
    let before = copy(&env);
    assert_ne!(before.status.code(), Some(0), "{}", describe(&before));

    let setup = run(&env, CLI, &["setup", "docker", "--registry", &host]);
    assert_exit(&setup, 0);
    let written: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(docker_config.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(
        written,
        serde_json::json!({"credHelpers": {host.clone(): "kargo"}})
    );

    let copied = copy(&env);
    assert_exit(&copied, 0);
    let inspected = inspect(&env, &[]);
    assert_exit(&inspected, 0);
    let manifest: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(
        manifest["Name"],
        format!("{host}/app"),
        "{}",
        describe(&inspected)
    );
    assert_eq!(manifest["RepoTags"], serde_json::json!(["1"]));
    assert!(
        registry.log().contains(REGISTRY_USER),
        "the registry saw no authenticated user:\n{}",
        registry.log()
    );
    assert!(!registry.log().contains(REGISTRY_PASSWORD));

    // The same config given as skopeo's --authfile (a docker-style file, setup --config).
    let authfile = home.join("authfile.json");
    let setup = run(
        &env,
        CLI,
        &[
            "setup",
            "docker",
            "--registry",
            &host,
            "--config",
            authfile.to_str().unwrap(),
        ],
    );
    assert_exit(&setup, 0);
    // (docker's own config out of the way meanwhile)
    let docker_file = docker_config.join("config.json");
    let aside = docker_config.join("config.json.aside");
    fs::rename(&docker_file, &aside).unwrap();
    let with_authfile = inspect(&env, &["--authfile", authfile.to_str().unwrap()]);
    fs::rename(&aside, &docker_file).unwrap();
    assert_exit(&with_authfile, 0);

    // The Secret is gone: the helper has nothing, and the registry refuses skopeo.
    fs::remove_file(
        env.secrets_dir()
            .join("kargo-shared-resources/local-registry.yaml"),
    )
    .unwrap();
    let refused = inspect(&env, &[]);
    assert_ne!(refused.status.code(), Some(0), "{}", describe(&refused));
    let stderr = support::stderr(&refused).to_lowercase();
    assert!(
        stderr.contains("unauthorized") || stderr.contains("authentication required"),
        "{}",
        describe(&refused)
    );
}

// ---------------------------------------------------------------------------------------
// git clone
// ---------------------------------------------------------------------------------------

fn run_git(env: &Env, global: &Path, args: &[&str]) -> Output {
    let output = run_bounded(support::git_command(env, global).args(args), b"", TIMEOUT);
    support::assert_no_secrets_in_stderr(&output, SECRETS);
    output
}

/// A bare repository with one commit at `<srv>/repo.git`.
fn make_repository(env: &Env, srv: &Path) {
    let empty = env.home.path().join("empty-gitconfig");
    fs::write(&empty, "").unwrap();
    let work = env.home.path().join("work");
    let work = work.to_str().unwrap();
    let bare = srv.join("repo.git");
    for args in [
        &["-c", "init.defaultBranch=main", "init", "-q", work][..],
        &[
            "-C",
            work,
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ],
        &["clone", "-q", "--bare", work, bare.to_str().unwrap()],
    ] {
        assert_exit(&run_git(env, &empty, args), 0);
    }
}

#[test]
fn git_clone_succeeds_only_through_the_helper_setup_configured() {
    let env = Env::empty().var("KARGO_CREDS_ALLOW_HTTP", "true");
    let home = env.home.path().to_path_buf();
    let srv = home.join("srv");
    fs::create_dir_all(&srv).unwrap();
    make_repository(&env, &srv);
    let server = GitHttpServer::start(&env, &srv, GIT_USER, GIT_PASSWORD);
    let prefix = format!("http://127.0.0.1:{}", server.port);
    let url = format!("{prefix}/repo.git");

    // The user's own setup: git-credential-store for every URL, holding a stale password
    // for this server. Without the reset setup writes, it would answer first.
    let global = home.join("gitconfig");
    let store = home.join("git-credentials");
    let stored = format!(
        "http://{GIT_USER}:{STORED_WRONG_PASSWORD}@127.0.0.1%3a{}/repo.git\n",
        server.port
    );
    fs::write(&store, &stored).unwrap();
    fs::write(
        &global,
        format!(
            "[credential]\n\thelper = store --file {}\n",
            store.display()
        ),
    )
    .unwrap();
    env.write_manifest(
        "kargo-shared-resources/local-git.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: local-git\n  labels:\n    kargo.akuity.io/cred-type: git\nstringData:\n  repoURL: {url}\n  username: {GIT_USER}\n  password: {GIT_PASSWORD}\n"
        ),
    );
    let clone = |name: &str| {
        let dest = home.join(name);
        let output = run_git(
            &env,
            &global,
            &["clone", "-q", &url, dest.to_str().unwrap()],
        );
        (output, dest)
    };

    // Before setup: the stored password is tried and rejected.
    let (before, _) = clone("before");
    assert_ne!(before.status.code(), Some(0), "{}", describe(&before));
    assert_eq!(
        server.attempts(),
        [format!("{GIT_USER} rejected")],
        "{}",
        server.diagnostics()
    );
    // (git told the store to erase the rejected password: put it back.)
    fs::write(&store, &stored).unwrap();

    // setup writes the global config ($GIT_CONFIG_GLOBAL): reset, our helper, useHttpPath.
    let setup = run_bounded(
        env.command(CLI)
            .env("GIT_CONFIG_GLOBAL", &global)
            .args(["setup", "git", "--host", &prefix]),
        b"",
        TIMEOUT,
    );
    support::assert_no_secrets_in_stderr(&setup, SECRETS);
    assert_exit(&setup, 0);

    let (cloned, dest) = clone("cloned");
    assert_exit(&cloned, 0);
    assert!(dest.join(".git").is_dir());
    let attempts = server.attempts();
    assert_eq!(
        attempts.last().map(String::as_str),
        Some(&*format!("{GIT_USER} accepted")),
        "{}",
        server.diagnostics()
    );
    assert!(
        !attempts[1..].iter().any(|line| line.ends_with("rejected")),
        "the stored password was still tried:\n{}",
        server.diagnostics()
    );
    // git hands a successful password to every configured helper's `store`: the reset
    // keeps ours out of the user's credential store.
    assert_eq!(fs::read_to_string(&store).unwrap(), stored);

    // The Secret is gone: the helper is silent, the store is not asked, git gives up.
    fs::remove_file(
        env.secrets_dir()
            .join("kargo-shared-resources/local-git.yaml"),
    )
    .unwrap();
    let tried = server.attempts().len();
    let (after, dest) = clone("after");
    assert_ne!(after.status.code(), Some(0), "{}", describe(&after));
    assert!(!dest.join(".git").exists());
    assert_eq!(server.attempts().len(), tried, "{}", server.diagnostics());
    assert_eq!(fs::read_to_string(&store).unwrap(), stored);
}
