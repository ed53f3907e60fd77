//! Hostile input (issue 7): a regex bomb in a Secret, a 100 MB manifest, and symlinks in the
//! secrets folder and in the cache folder. Each is handled in a defined, documented way —
//! skipped with a warning naming it, or never followed for writing — while everything else
//! still resolves, and every run is bounded ([`run_bounded`]) and leaks no secret on stderr.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::symlink;
use std::process::Output;
use std::time::Duration;

use support::{run_bounded, Env, GIT_HELPER};

const RUN_TIMEOUT: Duration = Duration::from_secs(120);
const GOOD_PASSWORD: &str = "good-password-4711";
const BOMB_PASSWORD: &str = "bomb-password-0815";

fn secret(name: &str, repo_url: &str, regex: bool, password: &str) -> String {
    let quote = |value: &str| serde_json::to_string(value).unwrap();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: ns\n  labels:\n    kargo.akuity.io/cred-type: git\nstringData:\n  repoURL: {}\n  repoURLIsRegex: \"{regex}\"\n  username: user-{name}\n  password: {password}\n",
        quote(repo_url)
    )
}

/// A secrets folder holding `ns/good`: exact, for `https://git.example.com/team/app`.
fn env_with_good_secret() -> Env {
    let env = Env::empty();
    env.write_manifest(
        "ns/good.yaml",
        &secret(
            "good",
            "https://git.example.com/team/app",
            false,
            GOOD_PASSWORD,
        ),
    );
    env
}

/// Mode 0600, as a user keeps Secret manifests (else a warning about their mode).
fn private(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

fn get(env: &Env, host_path: &str) -> Output {
    let (host, path) = host_path.split_once('/').unwrap();
    let output = run_bounded(
        env.command(GIT_HELPER).args(["--project", "ns", "get"]),
        format!("protocol=https\nhost={host}\npath={path}\n\n").as_bytes(),
        RUN_TIMEOUT,
    );
    support::assert_no_secrets_in_stderr(&output, &[GOOD_PASSWORD, BOMB_PASSWORD]);
    assert!(!support::stderr(&output).contains("panicked"));
    output
}

fn answer(output: &Output) -> BTreeMap<String, String> {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        support::describe(output)
    );
    support::stdout(output)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn warnings(output: &Output) -> Vec<String> {
    support::stderr(output)
        .lines()
        .filter(|line| line.starts_with("git-credential-kargo: warning: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn regex_bombs_are_skipped_with_a_warning_naming_the_secret() {
    let env = Env::empty();
    let nested = format!("{}a{}", "(".repeat(1000), ")".repeat(1000));
    let bombs = [
        ("a-too-big", "(a{1000}){1000}".to_owned(), "more than"),
        ("b-too-deep", nested, "nest"),
        (
            "c-unicode-blowup",
            r"\w{500}\w{500}\w{500}".to_owned(),
            "more than",
        ),
    ];
    for (name, pattern, _) in &bombs {
        env.write_manifest(
            &format!("ns/{name}.yaml"),
            &secret(name, pattern, true, BOMB_PASSWORD),
        );
    }
    // Pathological for a backtracking engine, linear here: must not match, must not hang.
    env.write_manifest(
        "ns/d-backtracking.yaml",
        &secret("d-backtracking", "^(a+)+$|(x+x+)+y", true, BOMB_PASSWORD),
    );
    env.write_manifest(
        "ns/z-good.yaml",
        &secret(
            "z-good",
            r"^https://git\.example\.com/",
            true,
            GOOD_PASSWORD,
        ),
    );
    let long_path = format!("team/{}", "a".repeat(20_000));
    for path in [
        "git.example.com/team/app".to_owned(),
        format!("git.example.com/{long_path}"),
    ] {
        let output = get(&env, &path);
        let values = answer(&output);
        assert_eq!(
            values["username"],
            "user-z-good",
            "{}",
            support::describe(&output)
        );
        assert_eq!(values["password"], GOOD_PASSWORD);
        let warnings = warnings(&output);
        for (name, _, why) in &bombs {
            let id = format!("ns/{name}");
            let line = warnings
                .iter()
                .find(|line| line.contains(&id))
                .unwrap_or_else(|| {
                    panic!("no warning names {id}:\n{}", support::describe(&output))
                });
            assert!(line.contains(why), "{line}");
        }
        assert_eq!(warnings.len(), bombs.len(), "{warnings:#?}");
    }
}

#[test]
fn a_100_mb_manifest_is_skipped_with_a_warning_and_the_rest_resolves() {
    let env = env_with_good_secret();
    // 100 MB of real Secrets (generated now, never committed), one of them a better match.
    let big = env.secrets_dir().join("ns/big.yaml");
    {
        let mut out = BufWriter::new(fs::File::create(&big).unwrap());
        let mut written = 0usize;
        let mut n = 0;
        while written < 100 << 20 {
            let document = format!(
                "---\n{}",
                secret(
                    &format!("bulk-{n:07}"),
                    "https://git.example.com/team/app",
                    false,
                    BOMB_PASSWORD
                )
            );
            out.write_all(document.as_bytes()).unwrap();
            written += document.len();
            n += 1;
        }
    }
    private(&big);
    for _ in 0..2 {
        // The second run goes through the summary index: still skipped, still warned.
        let output = get(&env, "git.example.com/team/app");
        assert_eq!(answer(&output)["password"], GOOD_PASSWORD);
        let warnings = warnings(&output);
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(
            warnings[0].contains(big.to_str().unwrap()),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[0].contains("larger than 16 MiB"),
            "{}",
            warnings[0]
        );
    }
}

#[test]
fn symlinks_in_the_secrets_folder_files_are_followed_the_rest_skipped_with_a_warning() {
    let env = Env::empty();
    let outside = env.home.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(
        outside.join("linked.yaml"),
        secret(
            "linked",
            "https://git.example.com/team/linked",
            false,
            GOOD_PASSWORD,
        ),
    )
    .unwrap();
    fs::write(
        outside.join("in-folder.yaml"),
        secret(
            "in-folder",
            "https://git.example.com/team/in-folder",
            false,
            GOOD_PASSWORD,
        ),
    )
    .unwrap();
    let ns = env.secrets_dir().join("ns");
    fs::create_dir(&ns).unwrap();
    symlink(outside.join("linked.yaml"), ns.join("linked.yaml")).unwrap();
    symlink("/nonexistent/secret.yaml", ns.join("dangling.yaml")).unwrap();
    symlink(ns.join("loop.yaml"), ns.join("loop.yaml")).unwrap();
    symlink(&outside, ns.join("folder")).unwrap();
    private(&outside.join("linked.yaml"));
    private(&outside.join("in-folder.yaml"));

    let output = get(&env, "git.example.com/team/linked");
    assert_eq!(
        answer(&output)["password"],
        GOOD_PASSWORD,
        "a symlinked file is followed"
    );
    let warnings = warnings(&output);
    for (name, why) in [
        ("dangling.yaml", "leads to no file"),
        ("loop.yaml", "leads to no file"),
        (
            "folder",
            "a symbolic link to a folder, which is not followed",
        ),
    ] {
        let path = ns.join(name).display().to_string();
        assert!(
            warnings
                .iter()
                .any(|line| line.contains(&path) && line.contains(why)),
            "no warning for {name}: {warnings:#?}"
        );
    }
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    // The linked folder's Secret is not read.
    let output = get(&env, "git.example.com/team/in-folder");
    assert_eq!(
        support::stdout(&output),
        "",
        "{}",
        support::describe(&output)
    );
}

#[test]
fn symlinks_in_the_cache_folder_are_never_written_through() {
    // The cache holds the secrets folder's summary index (a real user of the cache folder
    // with static credentials) — and minted tokens, which tests/reliability.rs covers; here,
    // every file the cache may write is replaced by a link to a file elsewhere.
    let env = env_with_good_secret();
    let cache = env.home.path().join("cache");
    let env = env.var("KARGO_CREDS_CACHE_DIR", cache.to_str().unwrap());
    answer(&get(&env, "git.example.com/team/app"));
    let victim = env.home.path().join("victim");
    fs::write(&victim, "do not touch\n").unwrap();
    let index_dir = cache.join("dir-index");
    for index in fs::read_dir(&index_dir).unwrap() {
        let index = index.unwrap().path();
        fs::remove_file(&index).unwrap();
        symlink(&victim, &index).unwrap();
    }
    // And the token cache's own files, named as it would name them.
    let stem = "a".repeat(64);
    for name in [
        format!("{stem}.json"),
        format!("{stem}.lock"),
        format!("{stem}.failure"),
        ".last-prune".to_owned(),
    ] {
        symlink(&victim, cache.join(name)).unwrap();
    }
    // A changed secrets folder makes the index be written again.
    env.write_manifest(
        "ns/other.yaml",
        &secret(
            "other",
            "https://git.example.com/team/other",
            false,
            GOOD_PASSWORD,
        ),
    );
    for path in ["git.example.com/team/app", "git.example.com/team/other"] {
        let output = get(&env, path);
        assert_eq!(answer(&output)["password"], GOOD_PASSWORD);
    }
    let prune = run_bounded(
        env.command(support::CLI).args(["cache", "prune"]),
        b"",
        RUN_TIMEOUT,
    );
    assert_eq!(
        prune.status.code(),
        Some(0),
        "{}",
        support::describe(&prune)
    );
    assert_eq!(
        fs::read(&victim).unwrap(),
        b"do not touch\n",
        "written through a link"
    );
}
