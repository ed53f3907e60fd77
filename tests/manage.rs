//! Credential management (SPEC §9, issue 3): `create|get|update|delete credentials`,
//! `generic-credentials` and `secret`, each scenario on both sources — a `dir` source in a
//! temporary secrets folder, and the `kubernetes` source against the fake API server over
//! TLS (cross-checked with the real `kubectl`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use base64::Engine as _;
use serde_json::{json, Value};
use support::{
    assert_no_secrets_in_stderr, secret_json, stderr, stdout, Env, FakeKube, CLI, GIT_HELPER,
};

const PROJECT: &str = "demo";
const SHARED: &str = "kargo-shared-resources";
const CRED_TYPE: &str = "kargo.akuity.io/cred-type";
const DESCRIPTION: &str = "kargo.akuity.io/description";
const REDACTED: &str = "*** REDACTED ***";

/// The fake's bearer token.
const TOKEN: &str = "manage-fake-bearer-token-5d1e";
const PW1: &str = "s3cr3t-Password-One";
const PW2: &str = "s3cr3t-Password-Two";
const PW3: &str = "stdin-Password-Three";
const GEN1: &str = "generic-token-value-42";
const GEN2: &str = "generic-token-value-43";
const GEN_SIGNING: &str = "generic-signing-key-77";
const HIDDEN_ANNOTATION: &str = "annotation-value-not-for-eyes";
const PRIVATE_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

/// Every secret value a scenario uses: none may ever reach stderr.
const SECRETS: &[&str] = &[
    TOKEN,
    PW1,
    PW2,
    PW3,
    GEN1,
    GEN2,
    GEN_SIGNING,
    HIDDEN_ANNOTATION,
    "b3BlbnNzaC1rZXktdjEAAAAA",
];

/// One source to manage credentials in.
struct Harness {
    env: Env,
    /// The kubernetes source's server; `None` for the dir source.
    fake: Option<FakeKube>,
}

/// A stored Secret, whatever the source: decoded data, and `data` as written (base64).
#[derive(Debug, Clone)]
struct Stored {
    raw: Value,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    data: BTreeMap<String, Vec<u8>>,
    encoded: BTreeMap<String, String>,
}

impl Stored {
    fn from_value(raw: Value) -> Stored {
        let strings = |value: &Value| -> BTreeMap<String, String> {
            value
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_owned()))
                .collect()
        };
        let encoded = strings(&raw["data"]);
        let mut data: BTreeMap<String, Vec<u8>> = encoded
            .iter()
            .map(|(k, v)| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .unwrap_or_else(|e| panic!("data {k} is not base64 ({e})"));
                (k.clone(), bytes)
            })
            .collect();
        for (k, v) in strings(&raw["stringData"]) {
            data.insert(k, v.into_bytes());
        }
        Stored {
            labels: strings(&raw["metadata"]["labels"]),
            annotations: strings(&raw["metadata"]["annotations"]),
            encoded,
            data,
            raw,
        }
    }

    fn text(&self, key: &str) -> Option<String> {
        self.data
            .get(key)
            .map(|v| String::from_utf8(v.clone()).unwrap())
    }

    fn keys(&self) -> BTreeSet<&str> {
        self.data.keys().map(String::as_str).collect()
    }
}

impl Harness {
    fn dir() -> Harness {
        let env = Env::empty()
            .var("KARGO_CREDS_SOURCE", "dir")
            .var("KARGO_PROJECT", PROJECT);
        Harness { env, fake: None }
    }

    fn kubernetes() -> Harness {
        Harness::kubernetes_with(&[])
    }

    /// The kubernetes source, the fake started with extra flags.
    fn kubernetes_with(extra: &[&str]) -> Harness {
        let mut args = vec!["--tls", "--token", TOKEN];
        args.extend_from_slice(extra);
        let fake = FakeKube::start(&args);
        let env = Env::empty()
            .var("KARGO_CREDS_SOURCE", "kubernetes")
            .var("KUBECONFIG", &fake.kubeconfig().display().to_string())
            .var("KARGO_PROJECT", PROJECT);
        Harness {
            env,
            fake: Some(fake),
        }
    }

    fn is_dir(&self) -> bool {
        self.fake.is_none()
    }

    /// Runs `kargo-creds ARGS…` with `stdin` (a pipe, never a terminal); stderr must hold
    /// no secret value.
    fn run(&self, program: &str, args: &[&str], stdin: &[u8]) -> Output {
        let output = self.env.run(program, args, stdin);
        assert_no_secrets_in_stderr(&output, SECRETS);
        output
    }

    fn cli(&self, args: &[&str]) -> Output {
        self.run(CLI, args, b"")
    }

    /// Runs the CLI, which must succeed; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        self.ok_with_stdin(args, b"")
    }

    fn ok_with_stdin(&self, args: &[&str], stdin: &[u8]) -> String {
        let output = self.run(CLI, args, stdin);
        assert!(
            output.status.success(),
            "kargo-creds {args:?} failed ({:?}): {}",
            output.status.code(),
            stderr(&output)
        );
        stdout(&output)
    }

    /// Runs the CLI, which must fail with exit 1 and a one-line message; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "kargo-creds {args:?}: stdout {:?} stderr {:?}",
            stdout(&output),
            stderr(&output)
        );
        assert_eq!(stdout(&output), "", "kargo-creds {args:?}");
        let message = stderr(&output);
        assert_eq!(
            message.lines().filter(|l| !l.trim().is_empty()).count(),
            1,
            "one line: {message:?}"
        );
        message
    }

    /// The dir source's file for a Secret the CLI created.
    fn file(&self, namespace: &str, name: &str) -> PathBuf {
        self.env
            .secrets_dir()
            .join(namespace)
            .join(format!("{name}.yaml"))
    }

    /// The Secret as stored: the fake's object, or the dir source's manifest.
    fn stored(&self, namespace: &str, name: &str) -> Option<Stored> {
        match &self.fake {
            Some(fake) => fake.stored(namespace, name).map(Stored::from_value),
            None => {
                let folder = self.env.secrets_dir().join(namespace);
                let yaml = folder.join(format!("{name}.yaml"));
                let json = folder.join(format!("{name}.json"));
                if let Ok(text) = std::fs::read_to_string(&yaml) {
                    let value: Value = serde_norway::from_str(&text).unwrap_or_else(|e| {
                        panic!("{} does not parse: {e}\n{text}", yaml.display())
                    });
                    Some(Stored::from_value(value))
                } else if let Ok(text) = std::fs::read_to_string(&json) {
                    Some(Stored::from_value(serde_json::from_str(&text).unwrap()))
                } else {
                    None
                }
            }
        }
    }

    /// Puts a Secret (JSON, base64 `data`) into the source as someone else would have.
    fn seed(&self, namespace: &str, name: &str, secret: &Value) {
        let mut secret = secret.clone();
        secret["metadata"]["name"] = json!(name);
        secret["metadata"]["namespace"] = json!(namespace);
        match &self.fake {
            Some(fake) => fake.seed(namespace, name, &secret),
            None => {
                let folder = self.env.secrets_dir().join(namespace);
                std::fs::create_dir_all(&folder).unwrap();
                let path = folder.join(format!("{name}.json"));
                std::fs::write(&path, serde_json::to_vec_pretty(&secret).unwrap()).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
    }

    /// The Secret through `kubectl get secret NAME -n NS -o json` (kubernetes source only).
    fn kubectl_get(&self, namespace: &str, name: &str) -> Value {
        let fake = self.fake.as_ref().expect("kubectl needs the fake");
        let home = tempfile::tempdir().unwrap();
        let output = Command::new("/usr/bin/kubectl")
            .env("HOME", home.path())
            .env_remove("KUBECONFIG")
            .arg("--kubeconfig")
            .arg(fake.kubeconfig())
            .args(["get", "secret", name, "-n", namespace, "-o", "json"])
            .output()
            .expect("run kubectl");
        assert!(
            output.status.success(),
            "kubectl get secret {name}: {}",
            stderr(&output)
        );
        serde_json::from_slice(&output.stdout).expect("kubectl prints JSON")
    }

    /// Checks that what the source holds is a well-formed Secret with these labels,
    /// annotations and (decoded) data: on the dir source a private manifest file that
    /// parses; on the kubernetes source what a real client (`kubectl`) reads back.
    fn assert_well_formed(
        &self,
        namespace: &str,
        name: &str,
        labels: &[(&str, &str)],
        annotations: &[(&str, &str)],
        data: &[(&str, &str)],
    ) {
        let value = if self.is_dir() {
            let path = self.file(namespace, name);
            let mode = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{} mode {mode:o}", path.display());
            let text = std::fs::read_to_string(&path).unwrap();
            serde_norway::from_str::<Value>(&text).expect("the manifest parses")
        } else {
            self.kubectl_get(namespace, name)
        };
        assert_eq!(value["apiVersion"], "v1", "{value:#}");
        assert_eq!(value["kind"], "Secret", "{value:#}");
        assert_eq!(value["metadata"]["name"], name, "{value:#}");
        assert_eq!(value["metadata"]["namespace"], namespace, "{value:#}");
        assert!(
            value.get("stringData").is_none(),
            "data is base64 `data`: {value:#}"
        );
        let stored = Stored::from_value(value);
        let expect = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(stored.labels, expect(labels));
        assert_eq!(stored.annotations, expect(annotations));
        let decoded: BTreeMap<String, String> = stored
            .data
            .iter()
            .map(|(k, v)| (k.clone(), String::from_utf8(v.clone()).unwrap()))
            .collect();
        assert_eq!(decoded, expect(data));
    }

    /// What the git helper answers for a URL.
    fn git_get(&self, host: &str, path: &str) -> String {
        let input = format!("protocol=https\nhost={host}\npath={path}\n");
        let output = self.run(GIT_HELPER, &["get"], input.as_bytes());
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    }

    /// The write requests the fake received (kubernetes source).
    fn writes(&self) -> Vec<Value> {
        self.fake
            .as_ref()
            .map(|fake| {
                fake.requests()
                    .into_iter()
                    .filter(|r| {
                        matches!(
                            r["verb"].as_str(),
                            Some("create" | "update" | "patch" | "delete")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Runs a scenario as two tests, `<scenario>::dir` and `<scenario>::kubernetes`.
macro_rules! on_both_sources {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[test]
                fn dir() {
                    super::$scenario(&super::Harness::dir());
                }

                #[test]
                fn kubernetes() {
                    super::$scenario(&super::Harness::kubernetes());
                }
            }
        )*
    };
}

on_both_sources!(
    create_writes_a_well_formed_secret,
    create_update_delete_refuse_clearly,
    update_changes_only_the_given_fields,
    update_keeps_fields_it_does_not_manage,
    update_keeps_the_secret_type,
    get_shows_a_table_and_redacts_yaml_and_json,
    create_without_a_password_on_a_pipe_refuses,
    generic_credentials_and_secret,
    created_credentials_answer_lookups,
);

// ---------------------------------------------------------------------------------------
// 9. create
// ---------------------------------------------------------------------------------------

fn create_writes_a_well_formed_secret(h: &Harness) {
    let out = h.ok(&[
        "create",
        "credentials",
        "my-creds",
        "--git",
        "--repo-url",
        "https://github.com/example/repo",
        "--username",
        "alice",
        "--password",
        PW1,
        "--description",
        "Demo repository",
    ]);
    assert_eq!(out, "secret/my-creds created\n");
    let stored = h.stored(PROJECT, "my-creds").expect("stored");
    assert_eq!(stored.labels[CRED_TYPE], "git");
    assert_eq!(
        stored.keys(),
        BTreeSet::from(["password", "repoURL", "username"])
    );
    assert_eq!(stored.text("password").unwrap(), PW1);
    assert_eq!(stored.annotations[DESCRIPTION], "Demo repository");
    if h.is_dir() {
        // Written atomically: nothing but the Secret's own file is left in its folder.
        let names: Vec<String> = std::fs::read_dir(h.env.secrets_dir().join(PROJECT))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["my-creds.yaml"]);
    }
    h.assert_well_formed(
        PROJECT,
        "my-creds",
        &[(CRED_TYPE, "git")],
        &[(DESCRIPTION, "Demo repository")],
        &[
            ("repoURL", "https://github.com/example/repo"),
            ("username", "alice"),
            ("password", PW1),
        ],
    );

    // --regex, --image, the alias, another project by flag, no description.
    let out = h.ok(&[
        "--project",
        "other",
        "create",
        "repo-credentials",
        "regex-creds",
        "--image",
        "--repo-url",
        r"^ghcr\.io/example/.*$",
        "--regex",
        "--username",
        "bob",
        "--password",
        PW2,
    ]);
    assert_eq!(out, "secret/regex-creds created\n");
    assert!(h.stored(PROJECT, "regex-creds").is_none());
    h.assert_well_formed(
        "other",
        "regex-creds",
        &[(CRED_TYPE, "image")],
        &[],
        &[
            ("repoURL", r"^ghcr\.io/example/.*$"),
            ("repoURLIsRegex", "true"),
            ("username", "bob"),
            ("password", PW2),
        ],
    );

    // --helm in the shared namespace, the password from stdin.
    let out = h.ok_with_stdin(
        &[
            "create",
            "credentials",
            "shared-charts",
            "--helm",
            "--shared",
            "--repo-url",
            "https://charts.example.com",
            "--username",
            "carol",
            "--password-stdin",
        ],
        format!("{PW3}\n").as_bytes(),
    );
    assert_eq!(out, "secret/shared-charts created\n");
    h.assert_well_formed(
        SHARED,
        "shared-charts",
        &[(CRED_TYPE, "helm")],
        &[],
        &[
            ("repoURL", "https://charts.example.com"),
            ("username", "carol"),
            ("password", PW3),
        ],
    );
    if h.fake.is_some() {
        let creates: Vec<Value> = h
            .writes()
            .into_iter()
            .filter(|r| r["verb"] == "create")
            .collect();
        assert_eq!(creates.len(), 3, "{creates:#?}");
        assert!(creates.iter().all(|r| r["status"] == 201), "{creates:#?}");
    }
}

// ---------------------------------------------------------------------------------------
// 10. existing and missing names, the wrong kind of Secret
// ---------------------------------------------------------------------------------------

fn create_update_delete_refuse_clearly(h: &Harness) {
    let create = |password: &'static str| {
        [
            "create",
            "credentials",
            "my-creds",
            "--git",
            "--repo-url",
            "https://github.com/example/repo",
            "--username",
            "alice",
            "--password",
            password,
        ]
    };
    h.ok(&create(PW1));

    let message = h.fails(&create(PW2));
    assert!(message.contains("demo/my-creds"), "{message}");
    assert!(message.contains("already exists"), "{message}");
    assert_eq!(
        h.stored(PROJECT, "my-creds")
            .unwrap()
            .text("password")
            .unwrap(),
        PW1,
        "the existing Secret is untouched"
    );

    let message = h.fails(&["update", "credentials", "missing", "--username", "x"]);
    assert!(message.contains("demo/missing"), "{message}");
    assert!(message.contains("not found"), "{message}");
    let message = h.fails(&["delete", "credentials", "missing"]);
    assert!(message.contains("demo/missing"), "{message}");
    assert!(message.contains("not found"), "{message}");
    let message = h.fails(&["update", "generic-credentials", "missing", "--set", "a=b"]);
    assert!(message.contains("demo/missing"), "{message}");
    let message = h.fails(&["delete", "generic-credentials", "missing"]);
    assert!(message.contains("demo/missing"), "{message}");
    assert!(h.stored(PROJECT, "missing").is_none());

    // Only credentials of the kind named are changed or deleted, never any other Secret.
    h.ok(&[
        "create",
        "generic-credentials",
        "gen",
        "--set",
        &format!("token={GEN1}"),
    ]);
    let message = h.fails(&["delete", "credentials", "gen"]);
    assert!(message.contains("demo/gen"), "{message}");
    let message = h.fails(&["update", "credentials", "gen", "--username", "x"]);
    assert!(message.contains("demo/gen"), "{message}");
    let message = h.fails(&["delete", "generic-credentials", "my-creds"]);
    assert!(message.contains("demo/my-creds"), "{message}");
    h.seed(
        PROJECT,
        "not-kargo",
        &secret_json(&[("app", "web")], &[], &[("password", PW2)]),
    );
    let message = h.fails(&["delete", "credentials", "not-kargo"]);
    assert!(message.contains("demo/not-kargo"), "{message}");
    let message = h.fails(&["update", "credentials", "not-kargo", "--username", "x"]);
    assert!(message.contains("demo/not-kargo"), "{message}");
    assert!(h.stored(PROJECT, "gen").is_some());
    assert!(h.stored(PROJECT, "my-creds").is_some());
    assert!(h.stored(PROJECT, "not-kargo").is_some());
    assert_eq!(
        h.stored(PROJECT, "not-kargo")
            .unwrap()
            .text("password")
            .unwrap(),
        PW2
    );

    // An invalid name never reaches the store.
    let message = h.fails(&[
        "create",
        "credentials",
        "Bad_Name",
        "--git",
        "--repo-url",
        "https://github.com/example/repo",
        "--username",
        "alice",
        "--password",
        PW1,
    ]);
    assert!(message.contains("Bad_Name"), "{message}");

    if h.fake.is_some() {
        // The second create of my-creds was refused by the server (409); the only writes
        // that succeeded are the two creates (my-creds, gen).
        let writes = h.writes();
        let succeeded: Vec<(&str, &str)> = writes
            .iter()
            .filter(|r| r["status"].as_i64().is_some_and(|code| code < 300))
            .map(|r| (r["verb"].as_str().unwrap(), r["path"].as_str().unwrap()))
            .collect();
        assert_eq!(
            succeeded,
            [
                ("create", "/api/v1/namespaces/demo/secrets"),
                ("create", "/api/v1/namespaces/demo/secrets"),
            ],
            "{writes:#?}"
        );
        assert!(
            writes
                .iter()
                .any(|r| r["verb"] == "create" && r["status"] == 409),
            "{writes:#?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 11. update
// ---------------------------------------------------------------------------------------

fn update_changes_only_the_given_fields(h: &Harness) {
    h.ok(&[
        "create",
        "credentials",
        "my-creds",
        "--git",
        "--repo-url",
        "https://github.com/example/repo",
        "--username",
        "alice",
        "--password",
        PW1,
        "--description",
        "keep me",
    ]);
    let before = h.stored(PROJECT, "my-creds").unwrap();

    let pattern = r"^https://github\.com/example/.*$";
    let out = h.ok(&[
        "update",
        "credentials",
        "my-creds",
        "--repo-url",
        pattern,
        "--regex",
    ]);
    assert_eq!(out, "secret/my-creds updated\n");
    let after = h.stored(PROJECT, "my-creds").unwrap();
    assert_eq!(after.text("repoURL").unwrap(), pattern);
    assert_eq!(after.text("repoURLIsRegex").unwrap(), "true");
    assert_eq!(
        after.data["password"], before.data["password"],
        "password bytes"
    );
    assert_eq!(after.encoded["password"], before.encoded["password"]);
    assert_eq!(after.encoded["username"], before.encoded["username"]);
    assert_eq!(after.labels, before.labels);
    assert_eq!(after.annotations, before.annotations);
    if h.fake.is_some() {
        h.assert_well_formed(
            PROJECT,
            "my-creds",
            &[(CRED_TYPE, "git")],
            &[(DESCRIPTION, "keep me")],
            &[
                ("repoURL", pattern),
                ("repoURLIsRegex", "true"),
                ("username", "alice"),
                ("password", PW1),
            ],
        );
    }
    // The pattern now answers for another repository of the organization.
    assert_eq!(
        h.git_get("github.com", "example/other"),
        format!("username=alice\npassword={PW1}\n")
    );

    let out = h.ok(&["update", "repo-credentials", "my-creds", "--no-regex"]);
    assert_eq!(out, "secret/my-creds updated\n");
    let after = h.stored(PROJECT, "my-creds").unwrap();
    assert!(
        !after.data.contains_key("repoURLIsRegex"),
        "{:?}",
        after.keys()
    );
    assert_eq!(after.text("repoURL").unwrap(), pattern);
    assert_eq!(after.encoded["password"], before.encoded["password"]);

    let out = h.ok_with_stdin(
        &["update", "credentials", "my-creds", "--password-stdin"],
        format!("{PW3}\n").as_bytes(),
    );
    assert_eq!(out, "secret/my-creds updated\n");
    let after = h.stored(PROJECT, "my-creds").unwrap();
    assert_eq!(
        after.text("password").unwrap(),
        PW3,
        "one newline is trimmed"
    );
    assert_eq!(after.encoded["username"], before.encoded["username"]);
    assert_eq!(after.annotations[DESCRIPTION], "keep me");

    // Username and description; an empty description removes it.
    h.ok(&[
        "update",
        "credentials",
        "my-creds",
        "--username",
        "alice2",
        "--description",
        "",
    ]);
    let after = h.stored(PROJECT, "my-creds").unwrap();
    assert_eq!(after.text("username").unwrap(), "alice2");
    assert_eq!(after.text("password").unwrap(), PW3);
    assert!(
        !after.annotations.contains_key(DESCRIPTION),
        "{:?}",
        after.annotations
    );

    // Nothing to change is refused.
    let message = h.fails(&["update", "credentials", "my-creds"]);
    assert!(message.contains("nothing to change"), "{message}");
    if h.fake.is_some() {
        h.assert_well_formed(
            PROJECT,
            "my-creds",
            &[(CRED_TYPE, "git")],
            &[],
            &[
                ("repoURL", pattern),
                ("username", "alice2"),
                ("password", PW3),
            ],
        );
        let updates: Vec<Value> = h
            .writes()
            .into_iter()
            .filter(|r| r["verb"] == "update" || r["verb"] == "patch")
            .collect();
        // Four updates went through; "nothing to change" never reached the server.
        assert_eq!(updates.len(), 4, "{updates:#?}");
        assert!(updates.iter().all(|r| r["status"] == 200), "{updates:#?}");
    }
}

fn seeded_credentials() -> Value {
    secret_json(
        &[(CRED_TYPE, "git"), ("team", "payments")],
        &[
            (DESCRIPTION, "seeded"),
            ("example.com/owner", "platform-team"),
        ],
        &[
            ("repoURL", "https://github.com/example/ledger"),
            ("username", "svc"),
            ("password", PW1),
            ("notes", "kept as it is"),
        ],
    )
}

/// Updates the password of a seeded Secret and checks what else stayed as it was; returns
/// the Secret before and after.
fn update_seeded_password(h: &Harness, secret: &Value) -> (Stored, Stored) {
    h.seed(PROJECT, "seeded", secret);
    let before = h.stored(PROJECT, "seeded").unwrap();
    let out = h.ok(&["update", "credentials", "seeded", "--password", PW2]);
    assert_eq!(out, "secret/seeded updated\n");
    let after = h.stored(PROJECT, "seeded").unwrap();
    assert_eq!(after.text("password").unwrap(), PW2);
    assert_eq!(after.labels, before.labels);
    assert_eq!(after.annotations, before.annotations);
    for key in ["repoURL", "username", "notes"] {
        assert_eq!(after.encoded[key], before.encoded[key], "{key}");
    }
    (before, after)
}

/// `update` changes the fields it is given; a Secret's other labels, annotations and data
/// keys stay as they were.
fn update_keeps_fields_it_does_not_manage(h: &Harness) {
    let (_, after) = update_seeded_password(h, &seeded_credentials());
    assert_eq!(after.raw["type"], "Opaque");
}

/// A Secret's `type` is not `update`'s to change (and a real API server refuses to: the
/// field is immutable, 422).
fn update_keeps_the_secret_type(h: &Harness) {
    let mut secret = seeded_credentials();
    secret["type"] = json!("kubernetes.io/basic-auth");
    let (_, after) = update_seeded_password(h, &secret);
    assert_eq!(
        after.raw["type"], "kubernetes.io/basic-auth",
        "the Secret's type is kept: {:#}",
        after.raw
    );
}

/// On a cluster, an update must not strip metadata it does not manage: owner references
/// and finalizers (a PUT replaces the whole object).
#[test]
fn kubernetes_update_keeps_owner_references_and_finalizers() {
    let h = Harness::kubernetes();
    let mut secret = seeded_credentials();
    secret["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Project",
        "name": "demo",
        "uid": "0b6f7a4e-2f0c-4d8e-9a51-6c9d2c1f3e77",
    }]);
    secret["metadata"]["finalizers"] = json!(["example.com/keep"]);
    let (_, after) = update_seeded_password(&h, &secret);
    assert_eq!(
        after.raw["metadata"]["ownerReferences"], secret["metadata"]["ownerReferences"],
        "owner references are kept: {:#}",
        after.raw
    );
    assert_eq!(
        after.raw["metadata"]["finalizers"], secret["metadata"]["finalizers"],
        "finalizers are kept: {:#}",
        after.raw
    );
}

// ---------------------------------------------------------------------------------------
// 12. get credentials
// ---------------------------------------------------------------------------------------

fn get_shows_a_table_and_redacts_yaml_and_json(h: &Harness) {
    h.ok(&[
        "create",
        "credentials",
        "b-git",
        "--git",
        "--repo-url",
        "https://github.com/example/repo",
        "--username",
        "alice",
        "--password",
        PW1,
        "--description",
        "Demo repository",
    ]);
    h.ok(&[
        "create",
        "credentials",
        "a-image",
        "--image",
        "--repo-url",
        r"^ghcr\.io/example/.*$",
        "--regex",
        "--username",
        "bob",
        "--password",
        PW2,
    ]);
    // One with more secret data and an annotation that is not the description.
    h.seed(
        PROJECT,
        "c-ssh",
        &secret_json(
            &[(CRED_TYPE, "git")],
            &[
                (DESCRIPTION, "SSH deploy key"),
                ("example.com/rotation-hint", HIDDEN_ANNOTATION),
            ],
            &[
                ("repoURL", "ssh://git@github.com/example/infra.git"),
                ("username", "git"),
                ("sshPrivateKey", PRIVATE_KEY),
            ],
        ),
    );
    // Other namespaces and kinds stay out of the project's list.
    h.ok(&[
        "create",
        "credentials",
        "shared-one",
        "--git",
        "--shared",
        "--repo-url",
        "https://github.com/example/shared",
        "--username",
        "dave",
        "--password",
        PW3,
    ]);
    h.ok(&[
        "create",
        "generic-credentials",
        "gen",
        "--set",
        &format!("token={GEN1}"),
    ]);

    let table = h.ok(&["get", "credentials"]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "TYPE", "REGEX", "REPO", "AGE"], "{table}");
    assert_eq!(rows.len(), 4, "{table}");
    assert_eq!(
        rows[1][..4],
        ["a-image", "image", "true", r"^ghcr\.io/example/.*$"],
        "{table}"
    );
    assert_eq!(
        rows[2][..4],
        ["b-git", "git", "false", "https://github.com/example/repo"],
        "{table}"
    );
    assert_eq!(rows[3][..3], ["c-ssh", "git", "false"], "{table}");
    assert!(rows[1..].iter().all(|row| row.len() == 5), "{table}");
    // Every column starts where its header does.
    let header = table.lines().next().unwrap();
    for (row, line) in rows[1..].iter().zip(table.lines().skip(1)) {
        let mut from = 0;
        for (title, cell) in ["NAME", "TYPE", "REGEX", "REPO", "AGE"].iter().zip(row) {
            let at = from + line[from..].find(cell).unwrap();
            assert_eq!(at, header.find(title).unwrap(), "{title} aligned:\n{table}");
            from = at + cell.len();
        }
    }
    let one = h.ok(&["get", "credentials", "b-git"]);
    assert_eq!(one.lines().count(), 2, "{one}");
    assert!(one.lines().nth(1).unwrap().starts_with("b-git "), "{one}");
    let shared = h.ok(&["get", "repo-credentials", "--shared"]);
    assert!(shared.contains("shared-one"), "{shared}");
    assert!(!shared.contains("b-git"), "{shared}");

    for format in ["yaml", "json"] {
        let text = h.ok(&["get", "credentials", "b-git", "-o", format]);
        assert!(!text.contains(PW1), "{format} shows the password:\n{text}");
        let value: Value = parse(format, &text);
        assert_eq!(value["kind"], "Secret", "{text}");
        assert_eq!(value["metadata"]["name"], "b-git");
        assert_eq!(value["metadata"]["namespace"], PROJECT);
        assert_eq!(value["metadata"]["labels"][CRED_TYPE], "git");
        assert_eq!(
            value["metadata"]["annotations"][DESCRIPTION],
            "Demo repository"
        );
        let shown = value["stringData"].as_object().expect("stringData");
        assert_eq!(shown["repoURL"], "https://github.com/example/repo");
        assert_eq!(shown["username"], "alice");
        assert_eq!(shown["password"], REDACTED);
        assert!(value.get("data").is_none(), "{text}");

        let text = h.ok(&["get", "credentials", "c-ssh", "-o", format]);
        assert!(!text.contains("b3BlbnNzaC1rZXktdjEAAAAA"), "{text}");
        assert!(!text.contains(HIDDEN_ANNOTATION), "{text}");
        let value: Value = parse(format, &text);
        assert_eq!(value["stringData"]["sshPrivateKey"], REDACTED);
        assert_eq!(value["stringData"]["username"], "git");
        assert_eq!(
            value["metadata"]["annotations"]["example.com/rotation-hint"],
            REDACTED
        );
        assert_eq!(
            value["metadata"]["annotations"][DESCRIPTION],
            "SSH deploy key"
        );

        let text = h.ok(&["get", "credentials", "a-image", "-o", format]);
        let value: Value = parse(format, &text);
        assert_eq!(value["stringData"]["repoURLIsRegex"], "true");
        assert_eq!(value["stringData"]["password"], REDACTED);
        assert!(!text.contains(PW2), "{text}");

        // The whole list.
        let text = h.ok(&["get", "credentials", "-o", format]);
        for secret in SECRETS {
            assert!(
                !text.contains(secret),
                "{format} list shows {secret}:\n{text}"
            );
        }
        let value: Value = parse(format, &text);
        let names: Vec<&str> = value["items"]
            .as_array()
            .expect("a List")
            .iter()
            .map(|item| item["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a-image", "b-git", "c-ssh"], "{text}");
        assert!(text.contains(REDACTED));
    }
}

fn parse(format: &str, text: &str) -> Value {
    match format {
        "yaml" => {
            serde_norway::from_str(text).unwrap_or_else(|e| panic!("not YAML ({e}):\n{text}"))
        }
        _ => serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}")),
    }
}

// ---------------------------------------------------------------------------------------
// 13. no password, no terminal
// ---------------------------------------------------------------------------------------

fn create_without_a_password_on_a_pipe_refuses(h: &Harness) {
    let args = [
        "create",
        "credentials",
        "no-password",
        "--git",
        "--repo-url",
        "https://github.com/example/repo",
        "--username",
        "alice",
    ];
    // stdin is a pipe (even one holding text): never read as a password without
    // --password-stdin, never a prompt.
    for stdin in [&b""[..], format!("{PW1}\n").as_bytes()] {
        let output = h.run(CLI, &args, stdin);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert_eq!(stdout(&output), "");
        let message = stderr(&output);
        assert_eq!(message.lines().count(), 1, "{message:?}");
        assert!(message.contains("password"), "{message}");
        assert!(message.contains("--password-stdin"), "{message}");
        assert!(!message.contains("Password:"), "no prompt: {message}");
    }
    assert!(h.stored(PROJECT, "no-password").is_none());
    assert!(h.writes().is_empty(), "{:#?}", h.writes());
    if h.is_dir() {
        assert!(!h.env.secrets_dir().join(PROJECT).exists());
    }
    // An empty password from stdin is refused too.
    let mut with_stdin = args.to_vec();
    with_stdin.push("--password-stdin");
    let output = h.run(CLI, &with_stdin, b"\n");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(h.stored(PROJECT, "no-password").is_none());
}

// ---------------------------------------------------------------------------------------
// 14. generic credentials and `secret`
// ---------------------------------------------------------------------------------------

fn generic_credentials_and_secret(h: &Harness) {
    let out = h.ok(&[
        "create",
        "generic-credentials",
        "slack",
        "--set",
        &format!("token={GEN1}"),
        "--set",
        "channel=#deploys",
        "--description",
        "Slack bot",
    ]);
    assert_eq!(out, "secret/slack created\n");
    let stored = h.stored(PROJECT, "slack").unwrap();
    assert_eq!(stored.labels[CRED_TYPE], "generic");
    assert_eq!(stored.annotations[DESCRIPTION], "Slack bot");
    assert_eq!(stored.keys(), BTreeSet::from(["channel", "token"]));
    if h.fake.is_some() {
        h.assert_well_formed(
            PROJECT,
            "slack",
            &[(CRED_TYPE, "generic")],
            &[(DESCRIPTION, "Slack bot")],
            &[("token", GEN1), ("channel", "#deploys")],
        );
    }

    assert_eq!(h.ok(&["secret", "slack", "token"]), format!("{GEN1}\n"));
    assert_eq!(
        h.ok(&["secret", "slack"]),
        format!("channel=#deploys\ntoken={GEN1}\n")
    );
    let message = h.fails(&["secret", "slack", "nope"]);
    assert!(message.contains("nope"), "{message}");

    // get: every value redacted; the table lists keys, not values.
    let table = h.ok(&["get", "generic-credentials"]);
    assert!(table.contains("slack"), "{table}");
    assert!(!table.contains(GEN1), "{table}");
    for format in ["yaml", "json"] {
        let text = h.ok(&["get", "generic-credentials", "slack", "-o", format]);
        assert!(!text.contains(GEN1) && !text.contains("#deploys"), "{text}");
        let value = parse(format, &text);
        assert_eq!(value["stringData"]["token"], REDACTED);
        assert_eq!(value["stringData"]["channel"], REDACTED);
        assert_eq!(value["metadata"]["annotations"][DESCRIPTION], "Slack bot");
    }

    // update: --set adds or replaces, --unset removes, the rest stays.
    let before = h.stored(PROJECT, "slack").unwrap();
    let out = h.ok(&[
        "update",
        "generic-credentials",
        "slack",
        "--set",
        &format!("token={GEN2}"),
        "--set",
        &format!("signing={GEN_SIGNING}"),
        "--unset",
        "channel",
    ]);
    assert_eq!(out, "secret/slack updated\n");
    let after = h.stored(PROJECT, "slack").unwrap();
    assert_eq!(after.keys(), BTreeSet::from(["signing", "token"]));
    assert_eq!(after.text("token").unwrap(), GEN2);
    assert_eq!(after.annotations, before.annotations);
    assert_eq!(
        h.ok(&["secret", "slack"]),
        format!("signing={GEN_SIGNING}\ntoken={GEN2}\n")
    );
    if h.fake.is_some() {
        h.assert_well_formed(
            PROJECT,
            "slack",
            &[(CRED_TYPE, "generic")],
            &[(DESCRIPTION, "Slack bot")],
            &[("token", GEN2), ("signing", GEN_SIGNING)],
        );
    }

    // A project repository credential may be read with `secret` (as secret() can) ...
    h.ok(&[
        "create",
        "credentials",
        "project-git",
        "--git",
        "--repo-url",
        "https://github.com/example/repo",
        "--username",
        "alice",
        "--password",
        PW1,
    ]);
    assert_eq!(h.ok(&["secret", "project-git", "username"]), "alice\n");
    // ... a shared generic one too (sharedSecret()) ...
    h.ok(&[
        "create",
        "generic-credentials",
        "shared-gen",
        "--shared",
        "--set",
        "endpoint=https://hooks.example.com",
    ]);
    assert_eq!(
        h.ok(&["secret", "shared-gen", "endpoint", "--shared"]),
        "https://hooks.example.com\n"
    );
    assert!(h.stored(SHARED, "shared-gen").is_some());
    // ... but never a shared repository credential.
    h.ok(&[
        "create",
        "credentials",
        "shared-git",
        "--git",
        "--shared",
        "--repo-url",
        "https://github.com/example/shared",
        "--username",
        "dave",
        "--password",
        PW2,
    ]);
    for args in [
        &["secret", "shared-git", "--shared"][..],
        &["secret", "shared-git", "password", "--shared"][..],
    ] {
        let message = h.fails(args);
        assert!(message.contains("shared-git"), "{message}");
    }
    // A Secret that is no Kargo credential is not shown either.
    h.seed(
        PROJECT,
        "not-kargo",
        &secret_json(&[], &[], &[("password", PW3)]),
    );
    let message = h.fails(&["secret", "not-kargo"]);
    assert!(message.contains("not-kargo"), "{message}");

    // delete
    let out = h.ok(&["delete", "generic-credentials", "slack"]);
    assert_eq!(out, "secret/slack deleted\n");
    assert!(h.stored(PROJECT, "slack").is_none());
    let message = h.fails(&["secret", "slack", "token"]);
    assert!(message.contains("demo/slack"), "{message}");
    assert!(message.contains("not found"), "{message}");
    let out = h.ok(&["delete", "credentials", "project-git"]);
    assert_eq!(out, "secret/project-git deleted\n");
    assert!(h.stored(PROJECT, "project-git").is_none());
    assert!(h.stored(SHARED, "shared-git").is_some());
}

// ---------------------------------------------------------------------------------------
// 15. what was created answers lookups
// ---------------------------------------------------------------------------------------

fn created_credentials_answer_lookups(h: &Harness) {
    h.ok(&[
        "create",
        "credentials",
        "my-creds",
        "--git",
        "--repo-url",
        "https://github.com/example/repo",
        "--username",
        "alice",
        "--password",
        PW1,
    ]);
    assert_eq!(
        h.git_get("github.com", "example/repo.git"),
        format!("username=alice\npassword={PW1}\n")
    );
    h.ok(&["update", "credentials", "my-creds", "--password", PW2]);
    assert_eq!(
        h.git_get("github.com", "example/repo"),
        format!("username=alice\npassword={PW2}\n")
    );
    let json = h.ok(&["get", "https://github.com/example/repo", "-o", "json"]);
    let value: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["secret"], "demo/my-creds");
    assert_eq!(value["password"], PW2);
    h.ok(&["delete", "credentials", "my-creds"]);
    assert_eq!(
        h.git_get("github.com", "example/repo"),
        "",
        "no match any more"
    );
}

// ---------------------------------------------------------------------------------------
// 16. dir source: multi-document files
// ---------------------------------------------------------------------------------------

const FIRST_DOC: &str = "# Team credentials, kept by hand.
apiVersion: v1
kind: Secret
metadata:
  name: first
  labels:
    kargo.akuity.io/cred-type: git
stringData:
  repoURL: https://github.com/example/first
  username: one   # a comment that must survive
  password: s3cr3t-Password-One
";

const SECOND_DOC: &str = "# the second one
apiVersion: v1
kind: Secret
metadata:
  name: second
  labels:
    kargo.akuity.io/cred-type: git
stringData:
  repoURL: https://github.com/example/second
  username: two
  password: s3cr3t-Password-Two
";

const THIRD_DOC: &str = "apiVersion: v1
kind: Secret
metadata:
  name: third
  namespace: demo
  labels:
    kargo.akuity.io/cred-type: git
data:
  repoURL: aHR0cHM6Ly9naXRodWIuY29tL2V4YW1wbGUvdGhpcmQ=
  username: dGhyZWU=
  password: c3RkaW4tUGFzc3dvcmQtVGhyZWU=
";

#[test]
fn dir_update_and_delete_touch_only_their_document() {
    let h = Harness::dir();
    let original = format!("{FIRST_DOC}---\n{SECOND_DOC}---\n{THIRD_DOC}");
    let path = h.env.write_manifest("demo/team.yaml", &original);
    let head = format!("{FIRST_DOC}---\n");
    let tail = format!("---\n{THIRD_DOC}");
    assert_eq!(
        h.git_get("github.com", "example/second"),
        format!("username=two\npassword={PW2}\n")
    );

    let out = h.ok(&["update", "credentials", "second", "--password", PW3]);
    assert_eq!(out, "secret/second updated\n");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with(FIRST_DOC),
        "the first document is unchanged:\n{text}"
    );
    assert!(
        text.ends_with(&tail),
        "the third document is unchanged:\n{text}"
    );
    assert!(!text.contains(PW2), "{text}");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        h.git_get("github.com", "example/second"),
        format!("username=two\npassword={PW3}\n")
    );
    assert_eq!(
        h.git_get("github.com", "example/first"),
        format!("username=one\npassword={PW1}\n")
    );
    assert_eq!(
        h.git_get("github.com", "example/third"),
        format!("username=three\npassword={PW3}\n")
    );
    // Exactly three documents, all Secrets, still.
    let names: Vec<String> = serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            let value: Value = serde::Deserialize::deserialize(document).unwrap();
            value["metadata"]["name"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(names, ["first", "second", "third"], "{text}");

    let out = h.ok(&["delete", "credentials", "second"]);
    assert_eq!(out, "secret/second deleted\n");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with(&head) || text.starts_with(FIRST_DOC),
        "{text}"
    );
    assert!(text.ends_with(THIRD_DOC), "{text}");
    assert!(!text.contains("name: second"), "{text}");
    let names: Vec<String> = serde_norway::Deserializer::from_str(&text)
        .filter_map(|document| {
            let value: Value = serde::Deserialize::deserialize(document).unwrap();
            value["metadata"]["name"].as_str().map(str::to_owned)
        })
        .collect();
    assert_eq!(names, ["first", "third"], "{text}");
    assert_eq!(h.git_get("github.com", "example/second"), "");
    assert_eq!(
        h.git_get("github.com", "example/first"),
        format!("username=one\npassword={PW1}\n")
    );
    let table = h.ok(&["get", "credentials"]);
    assert_eq!(table.lines().count(), 3, "{table}");

    // Deleting the last Secrets of the file removes it.
    h.ok(&["delete", "credentials", "first"]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with(THIRD_DOC), "{text}");
    h.ok(&["delete", "credentials", "third"]);
    assert!(!path.exists(), "an empty file is removed");
}

/// A JSON manifest holding a List of Secrets cannot be rewritten one Secret at a time:
/// update refuses clearly and leaves the file alone.
#[test]
fn dir_update_refuses_a_secret_inside_a_list() {
    let h = Harness::dir();
    let list = json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "in-list", "labels": {CRED_TYPE: "git"}},
             "stringData": {"repoURL": "https://github.com/example/a", "username": "a", "password": PW1}},
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "also-in-list", "labels": {CRED_TYPE: "git"}},
             "stringData": {"repoURL": "https://github.com/example/b", "username": "b", "password": PW2}},
        ],
    });
    let original = serde_json::to_string_pretty(&list).unwrap();
    let path = h.env.write_manifest("demo/list.json", &original);
    let message = h.fails(&["update", "credentials", "in-list", "--password", PW3]);
    assert!(message.contains("in-list"), "{message}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
    let message = h.fails(&["delete", "credentials", "in-list"]);
    assert!(message.contains("in-list"), "{message}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
}

/// Writes and reads the API server refuses (403) are one-line errors naming the Secret's
/// namespace and the server; nothing is written.
#[test]
fn kubernetes_forbidden_namespace_refuses_management_clearly() {
    let h = Harness::kubernetes_with(&["--forbid", PROJECT]);
    let server = format!("https://127.0.0.1:{}", h.fake.as_ref().unwrap().port);
    for args in [
        &[
            "create",
            "credentials",
            "my-creds",
            "--git",
            "--repo-url",
            "https://github.com/example/repo",
            "--username",
            "alice",
            "--password",
            PW1,
        ][..],
        &["update", "credentials", "my-creds", "--password", PW2][..],
        &["delete", "credentials", "my-creds"][..],
        &["secret", "my-creds"][..],
    ] {
        let message = h.fails(args);
        assert!(message.contains(PROJECT), "{args:?}: {message}");
        assert!(message.contains(&server), "{args:?}: {message}");
        assert!(message.contains("403"), "{args:?}: {message}");
    }
    assert!(h.stored(PROJECT, "my-creds").is_none());
    // The shared namespace is still writable.
    h.ok(&[
        "create",
        "credentials",
        "my-creds",
        "--git",
        "--shared",
        "--repo-url",
        "https://github.com/example/repo",
        "--username",
        "alice",
        "--password",
        PW1,
    ]);
    assert!(h.stored(SHARED, "my-creds").is_some());
}
