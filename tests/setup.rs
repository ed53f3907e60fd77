//! `kargo-creds setup git|docker` run as a user would: against rich existing configs, which
//! must keep every unrelated key, comment and the file mode; twice, the second run changing
//! no byte; with failures midway, which must leave the original as it was. The wiring is
//! then proven by real git (`git credential fill` through the written config); the real
//! docker-side clients are `tests/registry_e2e.rs`.

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use support::{assert_exit, describe, run_bounded, Env, CLI, GIT_HELPER};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The secrets in the fixtures: a docker `auths` entry (base64 of `ci-user:AUTHS-PASSWORD`)
/// and a git Secret's password.
const AUTHS_PASSWORD: &str = "auths-password-0301";
const AUTHS_BASE64: &str = "Y2ktdXNlcjphdXRocy1wYXNzd29yZC0wMzAx";
const GIT_PASSWORD: &str = "setup-git-password-0302";
const SECRETS: &[&str] = &[AUTHS_PASSWORD, AUTHS_BASE64, GIT_PASSWORD];

/// Runs `kargo-creds ARGS…` in `env`, with extra variables, checking stderr for secrets.
fn setup(env: &Env, vars: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut command = env.command(CLI);
    command.envs(vars.iter().map(|(k, v)| (*k, v.as_os_str())));
    command.arg("setup").args(args);
    let output = run_bounded(&mut command, b"", TIMEOUT);
    support::assert_no_secrets_in_stderr(&output, SECRETS);
    assert!(
        !support::stdout(&output).contains(AUTHS_BASE64),
        "{}",
        describe(&output)
    );
    output
}

/// An error run: exit 1, exactly one stderr line naming the program and `file`.
fn assert_one_error_naming(output: &Output, file: &Path) {
    assert_exit(output, 1);
    let stderr = support::stderr(output);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", describe(output));
    assert!(
        lines[0].starts_with("kargo-creds: "),
        "{}",
        describe(output)
    );
    assert!(
        lines[0].contains(&file.display().to_string()),
        "{}",
        describe(output)
    );
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn write_with_mode(path: &Path, text: &str, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The names in `folder` (to see that no temporary file was left behind).
fn names_in(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A second run: it says so, and `file` still holds `text`, not even rewritten (`inode`).
fn assert_changed_nothing(output: &Output, file: &Path, text: &str, inode: u64) {
    assert_exit(output, 0);
    assert!(
        support::stdout(output).contains("already configured"),
        "{}",
        describe(output)
    );
    assert_eq!(fs::read_to_string(file).unwrap(), text);
    assert_eq!(
        fs::metadata(file).unwrap().ino(),
        inode,
        "{} was rewritten",
        file.display()
    );
}

fn assert_no_temporary_files(folder: &Path) {
    let names = names_in(folder);
    assert!(
        !names.iter().any(|name| name.contains(".tmp.")),
        "a temporary file was left: {names:?}"
    );
}

/// Whether this process can write into a folder whose mode forbids it (root can), which
/// makes a read-only folder no failure at all.
fn writes_ignore_permissions(scratch: &Path) -> bool {
    let folder = scratch.join("read-only-probe");
    fs::create_dir(&folder).unwrap();
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o555)).unwrap();
    let privileged = fs::write(folder.join("probe"), "").is_ok();
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o755)).unwrap();
    privileged
}

// ---------------------------------------------------------------------------------------
// docker and helm
// ---------------------------------------------------------------------------------------

/// A docker config as people have them: stored auths, a credsStore, helpers for other
/// registries (one of them ours-to-be), proxies, keys docker does not know, in no sorted
/// order.
fn rich_docker_config() -> String {
    format!(
        r#"{{
  "psFormat": "table {{{{.ID}}}}\t{{{{.Image}}}}",
  "auths": {{
    "registry.example.com": {{ "auth": "{AUTHS_BASE64}" }},
    "https://index.docker.io/v1/": {{}}
  }},
  "credsStore": "desktop",
  "credHelpers": {{
    "gcr.io": "gcloud",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com": "ecr-login",
    "ghcr.io": "desktop"
  }},
  "proxies": {{ "default": {{ "httpProxy": "http://proxy.example:3128", "noProxy": "127.0.0.1,localhost" }} }},
  "experimental": "enabled",
  "aliases": {{ "builder": "buildx" }},
  "zz-unknown": [1, {{"b": 2, "a": 1}}, null, true, 1.5e300]
}}
"#
    )
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

fn keys(value: &serde_json::Value) -> Vec<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn setup_docker_merges_cred_helpers_and_keeps_everything_else() {
    let env = Env::empty();
    let docker_dir = env.home.path().join("docker-config");
    let config = docker_dir.join("config.json");
    let original = rich_docker_config();
    write_with_mode(&config, &original, 0o640);
    let vars: &[(&str, &Path)] = &[("DOCKER_CONFIG", &docker_dir)];

    let first = setup(
        &env,
        vars,
        &[
            "docker",
            "--registry",
            "127.0.0.1:5000",
            "--registry",
            "ghcr.io",
        ],
    );
    assert_exit(&first, 0);
    let stdout = support::stdout(&first);
    assert!(stdout.contains(&config.display().to_string()), "{stdout}");
    assert!(
        stdout.contains("\"desktop\""),
        "the replaced helper is named: {stdout}"
    );

    let before = json(&original);
    let after_text = fs::read_to_string(&config).unwrap();
    let after = json(&after_text);
    assert_eq!(
        keys(&after),
        keys(&before),
        "top-level keys or their order changed"
    );
    for key in keys(&before) {
        if key != "credHelpers" {
            assert_eq!(after[&key], before[&key], "{key} changed:\n{after_text}");
        }
    }
    // key order inside nested objects too
    assert_eq!(keys(&after["auths"]), keys(&before["auths"]));
    assert_eq!(
        keys(&after["zz-unknown"][1]),
        ["b", "a"],
        "nested key order changed:\n{after_text}"
    );
    assert_eq!(
        after["credHelpers"],
        serde_json::json!({
            "gcr.io": "gcloud",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com": "ecr-login",
            "ghcr.io": "kargo",
            "127.0.0.1:5000": "kargo",
        })
    );
    assert_eq!(
        keys(&after["credHelpers"]),
        [
            "gcr.io",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "ghcr.io",
            "127.0.0.1:5000"
        ]
    );
    assert_eq!(mode(&config), 0o640, "the file mode changed");
    assert_eq!(
        names_in(&docker_dir),
        ["config.json"],
        "a temporary file was left"
    );

    // Idempotent: the second run says so and does not even rewrite the file.
    let inode = fs::metadata(&config).unwrap().ino();
    let second = setup(
        &env,
        vars,
        &[
            "docker",
            "--registry",
            "ghcr.io",
            "--registry",
            "127.0.0.1:5000",
        ],
    );
    assert_changed_nothing(&second, &config, &after_text, inode);
}

#[test]
fn setup_docker_creates_a_private_config_in_the_default_place() {
    let env = Env::empty();
    let output = setup(
        &env,
        &[],
        &["docker", "--registry", "https://Reg.Example:5000/v2/"],
    );
    assert_exit(&output, 0);
    let folder = env.home.path().join(".docker");
    let config = folder.join("config.json");
    assert_eq!(
        json(&fs::read_to_string(&config).unwrap()),
        serde_json::json!({"credHelpers": {"reg.example:5000": "kargo"}})
    );
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&folder), 0o700);
}

#[test]
fn setup_docker_helm_writes_helms_registry_config_only() {
    let env = Env::empty();
    let helm_config = env.home.path().join("helm").join("registry.json");
    let docker_dir = env.home.path().join("docker-config");
    let vars: &[(&str, &Path)] = &[
        ("HELM_REGISTRY_CONFIG", &helm_config),
        ("DOCKER_CONFIG", &docker_dir),
    ];
    let output = setup(
        &env,
        vars,
        &[
            "docker",
            "--helm",
            "--registry",
            "oci://ghcr.io/example/charts",
        ],
    );
    assert_exit(&output, 0);
    assert_eq!(
        json(&fs::read_to_string(&helm_config).unwrap()),
        serde_json::json!({"credHelpers": {"ghcr.io": "kargo"}})
    );
    assert_eq!(mode(&helm_config), 0o600);
    assert!(!docker_dir.exists(), "the docker config was touched");

    // Without HELM_REGISTRY_CONFIG: $XDG_CONFIG_HOME/helm/registry/config.json.
    let xdg = env.home.path().join("xdg");
    let output = setup(
        &env,
        &[("XDG_CONFIG_HOME", &xdg)],
        &["docker", "--helm", "--registry", "ghcr.io"],
    );
    assert_exit(&output, 0);
    assert!(xdg.join("helm/registry/config.json").is_file());
}

#[test]
fn setup_docker_dry_run_writes_nothing() {
    let env = Env::empty();
    let docker_dir = env.home.path().join("docker-config");
    let config = docker_dir.join("config.json");
    let vars: &[(&str, &Path)] = &[("DOCKER_CONFIG", &docker_dir)];

    let absent = setup(
        &env,
        vars,
        &["docker", "--registry", "r.example", "--dry-run"],
    );
    assert_exit(&absent, 0);
    assert!(
        support::stdout(&absent).contains("r.example"),
        "{}",
        describe(&absent)
    );
    assert!(
        !docker_dir.exists(),
        "a dry run created {}",
        docker_dir.display()
    );

    let original = rich_docker_config();
    write_with_mode(&config, &original, 0o640);
    let present = setup(
        &env,
        vars,
        &["docker", "--registry", "ghcr.io", "--dry-run"],
    );
    assert_exit(&present, 0);
    let stdout = support::stdout(&present);
    assert!(stdout.contains("dry run"), "{stdout}");
    assert!(stdout.contains("ghcr.io"), "{stdout}");
    assert_eq!(fs::read_to_string(&config).unwrap(), original);
    assert_eq!(names_in(&docker_dir), ["config.json"]);
}

#[test]
fn setup_docker_refuses_a_config_it_cannot_keep_and_leaves_it_alone() {
    let env = Env::empty();
    let folder = env.home.path().join("configs");
    for (name, text, why) in [
        (
            "truncated.json",
            format!("{{\"auths\": {{\"r\": {{\"auth\": \"{AUTHS_BASE64}\"}}"),
            "not valid JSON",
        ),
        (
            "array.json",
            "[\"kargo\"]\n".to_owned(),
            "not a JSON object",
        ),
        (
            "helpers.json",
            "{\"credHelpers\": [\"kargo\"]}\n".to_owned(),
            "\"credHelpers\" is an array",
        ),
    ] {
        let config = folder.join(name);
        write_with_mode(&config, &text, 0o640);
        let output = setup(
            &env,
            &[],
            &[
                "docker",
                "--registry",
                "r",
                "--config",
                config.to_str().unwrap(),
            ],
        );
        assert_one_error_naming(&output, &config);
        assert!(
            support::stderr(&output).contains(why),
            "{}",
            describe(&output)
        );
        assert_eq!(
            fs::read_to_string(&config).unwrap(),
            text,
            "{name} was changed"
        );
        assert_eq!(mode(&config), 0o640);
    }
    assert_eq!(
        names_in(&folder),
        ["array.json", "helpers.json", "truncated.json"]
    );

    // A folder the writer may not write into (for an unprivileged user).
    let locked = env.home.path().join("locked");
    let config = locked.join("config.json");
    write_with_mode(&config, "{\"auths\": {}}\n", 0o600);
    if writes_ignore_permissions(env.home.path()) {
        eprintln!("notice: running privileged; the read-only folder case is skipped");
        return;
    }
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
    let output = setup(
        &env,
        &[],
        &[
            "docker",
            "--registry",
            "r",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    assert_one_error_naming(&output, &config);
    assert_eq!(fs::read_to_string(&config).unwrap(), "{\"auths\": {}}\n");
}

#[test]
fn setup_usage_errors_exit_2() {
    let env = Env::empty();
    for args in [
        &["git"][..],
        &["docker"],
        &["git", "--host", "h", "--global", "--local"],
        &["docker", "--registry", "r", "--helm", "--config", "x.json"],
    ] {
        let output = setup(&env, &[], args);
        assert_exit(&output, 2);
    }
}

// ---------------------------------------------------------------------------------------
// git
// ---------------------------------------------------------------------------------------

/// A global git config as people have them: sections, an include, comments in both
/// styles, a helper for every URL (`store`), odd spacing, and a section for another URL.
const RICH_GITCONFIG: &str = "# my git config
[user]
\tname = Jo Example
\temail = jo@example.com
[include]
\tpath = ~/.gitconfig.local   ; kept as written
[alias]
\tst = status -sb
\tlg = \"log --graph --oneline\"
[credential]
\thelper = store
[credential \"https://other.example\"]
\tusername = jo
[url \"git@github.com:\"]
\tpushInsteadOf = https://github.com/
; the end
";

fn git_output(env: &Env, global: &Path, args: &[&str]) -> String {
    let output = run_bounded(support::git_command(env, global).args(args), b"", TIMEOUT);
    assert_exit(&output, 0);
    support::stdout(&output)
}

/// A git Secret for `https://git.example/org/app` in the shared namespace.
fn write_git_secret(env: &Env) {
    env.write_manifest(
        "kargo-shared-resources/app.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  labels:\n    kargo.akuity.io/cred-type: git\nstringData:\n  repoURL: https://git.example/org/app\n  username: app-bot\n  password: {GIT_PASSWORD}\n"
        ),
    );
}

/// `git credential fill` for `https://git.example/org/app.git` through `global` answers
/// with the Secret's username and password.
fn assert_git_gets_the_secret(env: &Env, global: &Path) {
    let output = run_bounded(
        support::git_command(env, global).args(["credential", "fill"]),
        b"protocol=https\nhost=git.example\npath=org/app.git\n\n",
        TIMEOUT,
    );
    support::assert_no_secrets_in_stderr(&output, SECRETS);
    assert_exit(&output, 0);
    assert!(
        support::stdout(&output).contains(&format!("username=app-bot\npassword={GIT_PASSWORD}\n")),
        "{}",
        describe(&output)
    );
}

#[test]
fn setup_git_configures_the_helper_and_keeps_the_rest() {
    let env = Env::empty();
    write_git_secret(&env);
    let global = env.home.path().join("gitconfig");
    write_with_mode(&global, RICH_GITCONFIG, 0o640);
    let file = global.to_str().unwrap();
    let helper = format!("{GIT_HELPER} --project p");
    let args = [
        "git",
        "--file",
        file,
        "--host",
        "git.example",
        "--project",
        "p",
    ];

    let first = setup(&env, &[], &args);
    assert_exit(&first, 0);
    let after = fs::read_to_string(&global).unwrap();
    assert!(
        after.starts_with(RICH_GITCONFIG),
        "the existing config was not kept as written:\n{after}"
    );
    assert_eq!(mode(&global), 0o640);
    assert_eq!(
        git_output(
            &env,
            &global,
            &[
                "config",
                "--file",
                file,
                "--get-urlmatch",
                "credential.helper",
                "https://git.example/x"
            ]
        ),
        format!("{helper}\n")
    );
    assert_eq!(
        git_output(
            &env,
            &global,
            &[
                "config",
                "--file",
                file,
                "--get-all",
                "credential.https://git.example.helper"
            ]
        ),
        format!("\n{helper}\n"),
        "the reset must come first, then our helper, nothing else"
    );
    assert_eq!(
        git_output(
            &env,
            &global,
            &[
                "config",
                "--file",
                file,
                "--bool",
                "--get",
                "credential.https://git.example.usehttppath"
            ]
        ),
        "true\n"
    );
    // Other URLs keep the user's helper.
    assert_eq!(
        git_output(
            &env,
            &global,
            &[
                "config",
                "--file",
                file,
                "--get-urlmatch",
                "credential.helper",
                "https://elsewhere.example/x"
            ]
        ),
        "store\n"
    );

    // git itself asks our helper, with the repository path, and gets the Secret.
    assert_git_gets_the_secret(&env, &global);

    // Idempotent: same bytes, not even rewritten.
    let inode = fs::metadata(&global).unwrap().ino();
    let second = setup(&env, &[], &args);
    assert_changed_nothing(&second, &global, &after, inode);

    // Another project: the helper entry is replaced, not added to.
    let third = setup(&env, &[], &["git", "--file", file, "--host", "git.example"]);
    assert_exit(&third, 0);
    assert_eq!(
        git_output(
            &env,
            &global,
            &[
                "config",
                "--file",
                file,
                "--get-all",
                "credential.https://git.example.helper"
            ]
        ),
        format!("\n{GIT_HELPER}\n")
    );
    assert_no_temporary_files(env.home.path());
}

#[test]
fn setup_git_defaults_to_the_global_config_git_writes() {
    let env = Env::empty();
    write_git_secret(&env);
    // GIT_CONFIG_GLOBAL names it
    let chosen = env.home.path().join("chosen-gitconfig");
    let output = setup(
        &env,
        &[("GIT_CONFIG_GLOBAL", &chosen)],
        &["git", "--host", "git.example"],
    );
    assert_exit(&output, 0);
    assert!(chosen.is_file());
    assert!(!env.home.path().join(".gitconfig").exists());

    // else the XDG file when it exists and ~/.gitconfig does not
    let xdg = env.home.path().join(".config/git/config");
    write_with_mode(&xdg, "[user]\n\tname = x\n", 0o600);
    let output = setup(&env, &[], &["git", "--host", "git.example"]);
    assert_exit(&output, 0);
    assert!(fs::read_to_string(&xdg).unwrap().contains(GIT_HELPER));
    assert!(!env.home.path().join(".gitconfig").exists());
    assert_git_gets_the_secret(&env, &xdg);
}

#[test]
fn setup_git_follows_a_symlinked_config() {
    let env = Env::empty();
    let real = env.home.path().join("dotfiles").join("gitconfig");
    write_with_mode(&real, RICH_GITCONFIG, 0o644);
    let link = env.home.path().join(".gitconfig");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let output = setup(&env, &[], &["git", "--host", "git.example"]);
    assert_exit(&output, 0);
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced"
    );
    let text = fs::read_to_string(&real).unwrap();
    assert!(
        text.starts_with(RICH_GITCONFIG) && text.contains(GIT_HELPER),
        "{text}"
    );
}

#[test]
fn setup_git_dry_run_prints_the_commands_and_writes_nothing() {
    let env = Env::empty();
    let global = env.home.path().join("gitconfig");
    write_with_mode(&global, RICH_GITCONFIG, 0o600);
    let file = global.to_str().unwrap();
    let output = setup(
        &env,
        &[],
        &[
            "git",
            "--file",
            file,
            "--host",
            "git.example",
            "--host",
            "http://127.0.0.1:8080",
            "--dry-run",
        ],
    );
    assert_exit(&output, 0);
    let stdout = support::stdout(&output);
    for line in [
        format!("git config --file {file} --add credential.https://git.example.helper ''"),
        format!("git config --file {file} --add credential.https://git.example.helper {GIT_HELPER}"),
        format!("git config --file {file} --replace-all credential.https://git.example.useHttpPath true"),
        format!("git config --file {file} --add credential.http://127.0.0.1:8080.helper ''"),
    ] {
        assert!(stdout.lines().any(|l| l == line), "missing {line:?} in:\n{stdout}");
    }
    assert_eq!(fs::read_to_string(&global).unwrap(), RICH_GITCONFIG);
    assert_no_temporary_files(env.home.path());
}

#[test]
fn setup_git_quotes_a_helper_path_with_spaces() {
    let env = Env::empty();
    write_git_secret(&env);
    // An installation in a folder with a space: kargo-creds (a hard link, so that the
    // running executable's own path has the space) beside git-credential-kargo.
    let tools = env.home.path().join("my tools");
    fs::create_dir(&tools).unwrap();
    let cli = tools.join("kargo-creds");
    if fs::hard_link(CLI, &cli).is_err() {
        fs::copy(CLI, &cli).unwrap();
    }
    std::os::unix::fs::symlink(GIT_HELPER, tools.join("git-credential-kargo")).unwrap();
    let global = env.home.path().join("gitconfig");
    let output = run_bounded(
        env.command(cli.to_str().unwrap()).args([
            "setup",
            "git",
            "--file",
            global.to_str().unwrap(),
            "--host",
            "git.example",
        ]),
        b"",
        TIMEOUT,
    );
    assert_exit(&output, 0);
    let helper = git_output(
        &env,
        &global,
        &[
            "config",
            "--file",
            global.to_str().unwrap(),
            "--get-urlmatch",
            "credential.helper",
            "https://git.example/",
        ],
    );
    assert_eq!(
        helper,
        format!("!'{}/git-credential-kargo'\n", tools.display())
    );
    assert_git_gets_the_secret(&env, &global);
}

#[test]
fn setup_git_leaves_the_config_untouched_when_it_fails() {
    let env = Env::empty();
    let folder = env.home.path().join("cfg");

    // An existing config git refuses to read.
    let broken = folder.join("broken");
    let broken_text = "[user]\n\tname = x\n[credential\n\thelper = store\n";
    write_with_mode(&broken, broken_text, 0o640);
    let output = setup(
        &env,
        &[],
        &["git", "--file", broken.to_str().unwrap(), "--host", "h"],
    );
    assert_one_error_naming(&output, &broken);
    assert_eq!(fs::read_to_string(&broken).unwrap(), broken_text);

    // git fails midway: the first edits worked on the copy, the last one fails.
    let fine = folder.join("fine");
    write_with_mode(&fine, RICH_GITCONFIG, 0o640);
    let fake_bin = env.home.path().join("fake-bin");
    fs::create_dir(&fake_bin).unwrap();
    let real_git = which("git");
    write_with_mode(
        &fake_bin.join("git"),
        &format!(
            "#!/bin/sh\ncase \" $* \" in *\" --replace-all \"*) echo 'error: simulated failure' >&2; exit 4;; esac\nexec '{}' \"$@\"\n",
            real_git.display()
        ),
        0o755,
    );
    let path = format!(
        "{}:{}",
        fake_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = setup(
        &env,
        &[("PATH", Path::new(&path))],
        &["git", "--file", fine.to_str().unwrap(), "--host", "h"],
    );
    assert_one_error_naming(&output, &fine);
    assert!(
        support::stderr(&output).contains("simulated failure"),
        "{}",
        describe(&output)
    );
    assert_eq!(fs::read_to_string(&fine).unwrap(), RICH_GITCONFIG);
    assert_eq!(mode(&fine), 0o640);
    assert_eq!(
        names_in(&folder),
        ["broken", "fine"],
        "a scratch copy was left"
    );

    // A folder the writer may not write into (for an unprivileged user).
    if writes_ignore_permissions(env.home.path()) {
        eprintln!("notice: running privileged; the read-only folder case is skipped");
        return;
    }
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o555)).unwrap();
    let output = setup(
        &env,
        &[],
        &["git", "--file", fine.to_str().unwrap(), "--host", "h"],
    );
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o755)).unwrap();
    assert_one_error_naming(&output, &fine);
    assert_eq!(fs::read_to_string(&fine).unwrap(), RICH_GITCONFIG);
}

fn which(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}
