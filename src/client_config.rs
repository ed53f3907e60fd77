//! Where the clients we wire keep their configuration: docker's `config.json`, helm's
//! registry config, git's global config. Shared by `kargo-creds setup` (which writes them)
//! and `kargo-creds doctor` (which reads them). Pure: the environment comes in as a function.

use std::path::PathBuf;

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
}
