//! Where the clients we wire keep their configuration: docker's `config.json`, helm's
//! registry config, git's global config. Shared by `kargo-creds setup` (which writes them)
//! and `kargo-creds doctor` (which reads them). Pure: the environment comes in as a function.

use std::path::{Path, PathBuf};

/// The name docker appends to `docker-credential-` to find our helper.
pub const DOCKER_HELPER_SUFFIX: &str = "kargo";
pub const GIT_HELPER_PROGRAM: &str = "git-credential-kargo";
pub const DOCKER_HELPER_PROGRAM: &str = "docker-credential-kargo";

fn var(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|value| !value.trim().is_empty())
}

fn home(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    var(env, "HOME").map(PathBuf::from)
}

/// docker's config: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_file(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    match var(env, "DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => Some(home(env)?.join(".docker").join("config.json")),
    }
}

/// helm's registry config: `$HELM_REGISTRY_CONFIG`, else
/// `$XDG_CONFIG_HOME/helm/registry/config.json`, else `~/.config/helm/registry/config.json`.
pub fn helm_registry_config_file(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(file) = var(env, "HELM_REGISTRY_CONFIG") {
        return Some(PathBuf::from(file));
    }
    let config_home = match var(env, "XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => home(env)?.join(".config"),
    };
    Some(
        config_home
            .join("helm")
            .join("registry")
            .join("config.json"),
    )
}

/// The file `git config --global` writes: `$GIT_CONFIG_GLOBAL`, else `~/.gitconfig`, except
/// that git writes the XDG file (`$XDG_CONFIG_HOME/git/config`, else `~/.config/git/config`)
/// when that one exists and `~/.gitconfig` does not (git-config(1), FILES).
pub fn git_global_config_file(
    env: &dyn Fn(&str) -> Option<String>,
    exists: &dyn Fn(&Path) -> bool,
) -> Option<PathBuf> {
    if let Some(file) = var(env, "GIT_CONFIG_GLOBAL") {
        return Some(PathBuf::from(file));
    }
    let home = home(env)?;
    let dot_gitconfig = home.join(".gitconfig");
    let xdg = match var(env, "XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => home.join(".config"),
    }
    .join("git")
    .join("config");
    if !exists(&dot_gitconfig) && exists(&xdg) {
        Some(xdg)
    } else {
        Some(dot_gitconfig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn docker_config_honours_docker_config() {
        let env = env_of(&[("HOME", "/h"), ("DOCKER_CONFIG", "/d")]);
        assert_eq!(docker_config_file(&env), Some("/d/config.json".into()));
        let env = env_of(&[("HOME", "/h")]);
        assert_eq!(
            docker_config_file(&env),
            Some("/h/.docker/config.json".into())
        );
    }

    #[test]
    fn helm_config_honours_its_variables() {
        let env = env_of(&[("HOME", "/h"), ("HELM_REGISTRY_CONFIG", "/r.json")]);
        assert_eq!(helm_registry_config_file(&env), Some("/r.json".into()));
        let env = env_of(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "/x")]);
        assert_eq!(
            helm_registry_config_file(&env),
            Some("/x/helm/registry/config.json".into())
        );
        let env = env_of(&[("HOME", "/h")]);
        assert_eq!(
            helm_registry_config_file(&env),
            Some("/h/.config/helm/registry/config.json".into())
        );
    }

    #[test]
    fn git_global_config_follows_gits_choice() {
        let nothing = |_: &Path| false;
        let env = env_of(&[("HOME", "/h"), ("GIT_CONFIG_GLOBAL", "/g")]);
        assert_eq!(git_global_config_file(&env, &nothing), Some("/g".into()));
        let env = env_of(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "/x")]);
        assert_eq!(
            git_global_config_file(&env, &nothing),
            Some("/h/.gitconfig".into())
        );
        let only_xdg = |path: &Path| path == Path::new("/x/git/config");
        assert_eq!(
            git_global_config_file(&env, &only_xdg),
            Some("/x/git/config".into())
        );
        let both = |path: &Path| path.starts_with("/x") || path.starts_with("/h");
        assert_eq!(
            git_global_config_file(&env, &both),
            Some("/h/.gitconfig".into())
        );
        let env = env_of(&[("HOME", "/h")]);
        let default_xdg = |path: &Path| path == Path::new("/h/.config/git/config");
        assert_eq!(
            git_global_config_file(&env, &default_xdg),
            Some("/h/.config/git/config".into())
        );
    }
}
