//! `kargo-creds completions SHELL` and the hidden `kargo-creds generate-man DIR` (SPEC §9,
//! packaging): run as a packager would, before any settings exist, and checked for what a
//! user relies on — the subcommands and flags are there, a sourced bash script completes,
//! the man pages are roff with every binary's options and no dangling cross-references.

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use support::{stderr, stdout, Env, CLI};

fn code(output: &Output) -> i32 {
    output
        .status
        .code()
        .expect("exited normally (not by a signal)")
}

/// An environment whose config file is broken: these commands must not load settings.
fn packager() -> Env {
    let env = Env::empty();
    let config = env.home.path().join("broken-config.yaml");
    std::fs::write(&config, "this: [is not: valid").unwrap();
    let config = config.display().to_string();
    env.var("KARGO_CREDS_CONFIG", &config)
}

#[track_caller]
fn ok(env: &Env, args: &[&str]) -> String {
    let output = env.run(CLI, args, b"");
    assert_eq!(
        code(&output),
        0,
        "kargo-creds {args:?}\nstdout: {}\nstderr: {}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

const SUBCOMMANDS: &[&str] = &[
    "resolve",
    "get",
    "create",
    "update",
    "delete",
    "secret",
    "cache",
    "setup",
    "doctor",
    "version",
    "completions",
];

#[test]
fn completions_for_bash_zsh_and_fish_name_every_subcommand_and_not_the_hidden_one() {
    let env = packager();
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&env, &["completions", shell]);
        // fish spells options `-l project`.
        for word in SUBCOMMANDS
            .iter()
            .chain(&["project", "secrets-dir", "credentials"])
        {
            assert!(script.contains(word), "{shell}: {word} missing");
        }
        assert!(
            !script.contains("generate-man"),
            "{shell}: offers the hidden generate-man"
        );
    }
    assert!(ok(&env, &["completions", "zsh"]).starts_with("#compdef kargo-creds"));
    assert!(ok(&env, &["completions", "fish"]).contains("complete -c kargo-creds"));
}

#[test]
fn the_bash_script_completes_subcommands_and_output_formats_when_sourced() {
    let env = packager();
    let script_path = env.home.path().join("kargo-creds.bash");
    std::fs::write(&script_path, ok(&env, &["completions", "bash"])).unwrap();
    // What bash-completion does on TAB: call the registered function with COMP_WORDS set.
    let complete = |words: &str| {
        let program = format!(
            r#"source "$1" || exit 9
function=$(complete -p kargo-creds | sed -E 's/.*-F ([^ ]+) .*/\1/')
COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
"$function" kargo-creds "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#
        );
        let output = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &program, "bash"])
            .arg(&script_path)
            .output()
            .expect("bash runs");
        assert!(output.status.success(), "{words}: {}", stderr(&output));
        stdout(&output)
            .lines()
            .map(str::to_owned)
            .collect::<BTreeSet<String>>()
    };
    let replies = complete("kargo-creds c");
    for expected in ["cache", "completions", "create"] {
        assert!(replies.contains(expected), "{replies:?}");
    }
    assert!(!replies.contains("generate-man"), "{replies:?}");
    let replies = complete("kargo-creds resolve URL -o ''");
    assert_eq!(
        replies,
        BTreeSet::from(["json".to_owned(), "text".to_owned()])
    );
    let replies = complete("kargo-creds completions ''");
    for expected in ["bash", "zsh", "fish"] {
        assert!(replies.contains(expected), "{replies:?}");
    }
}

#[test]
fn an_unknown_shell_or_a_missing_one_is_a_usage_error() {
    let env = packager();
    for (args, expected) in [
        (&["completions", "tcsh"][..], "possible values: bash"),
        (&["completions"], "<SHELL>"),
    ] {
        let output = env.run(CLI, args, b"");
        assert_eq!(code(&output), 2, "{args:?}: {}", stderr(&output));
        assert!(stdout(&output).is_empty(), "{args:?}: {}", stdout(&output));
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {expected:?} on stderr, got {}",
            stderr(&output)
        );
    }
}

#[test]
fn generate_man_writes_a_page_per_binary_and_subcommand_with_their_options() {
    let env = packager();
    let dir = env.home.path().join("man/man1");
    let listed = ok(&env, &["generate-man", &dir.display().to_string()]);

    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    let listed: BTreeSet<String> = listed
        .lines()
        .map(|line| line.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(listed, files, "prints what it writes");
    let page = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|error| {
            panic!("{name}: {error}; written: {files:?}");
        })
    };

    // roff escapes dashes in options as `\-`.
    let expectations: &[(&str, &[&str])] = &[
        (
            "kargo-creds.1",
            &[
                ".TH kargo-creds 1",
                "\\-\\-project",
                "\\-\\-secrets\\-dir",
                "kargo\\-creds\\-resolve(1)",
            ],
        ),
        (
            "kargo-creds-resolve.1",
            &[
                ".TH kargo-creds-resolve 1",
                "\\-\\-explain",
                "\\-\\-registry",
            ],
        ),
        (
            "kargo-creds-create-credentials.1",
            &["\\-\\-repo\\-url", "\\-\\-password\\-stdin"],
        ),
        ("kargo-creds-completions.1", &["bash", "zsh", "fish"]),
        (
            "git-credential-kargo.1",
            &[
                ".TH git-credential-kargo 1",
                "\\-\\-project",
                "\\-\\-no\\-cache",
                "useHttpPath",
                "kargo-creds 0.",
            ],
        ),
        (
            "docker-credential-kargo.1",
            &[
                ".TH docker-credential-kargo 1",
                "get",
                "store",
                "erase",
                "list",
                "credHelpers",
            ],
        ),
    ];
    for (name, needles) in expectations {
        let text = page(name);
        for needle in *needles {
            assert!(text.contains(needle), "{name}: {needle:?} missing:\n{text}");
        }
    }
    for name in &files {
        let text = page(name);
        assert!(text.contains(".TH "), "{name}: not a man page");
        assert!(
            !text.contains("generate"),
            "{name}: documents the hidden generate-man"
        );
        // Every `kargo-creds-…(1)` a page points at is a page too.
        for reference in text.split("kargo\\-creds\\-").skip(1) {
            let Some((sub, _)) = reference.split_once("(1)") else {
                continue;
            };
            if sub.contains(char::is_whitespace) {
                continue;
            }
            let file = format!("kargo-creds-{}.1", sub.replace("\\-", "-"));
            assert!(files.contains(&file), "{name} refers to missing {file}");
        }
    }
    assert!(!files.iter().any(|name| name.contains("help")), "{files:?}");
}

#[test]
fn generate_man_into_an_unwritable_place_fails_with_the_path() {
    let env = packager();
    let blocker = env.home.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let target = blocker.join("man1");
    let output = env.run(CLI, &["generate-man", &target.display().to_string()], b"");
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&target.display().to_string()),
        "{}",
        stderr(&output)
    );
}
