//! The container's environment: the kubelet's `makeEnvironmentVariables` (which variables, expanded how), then
//! containerd's merge with the image's `Env` and its `PATH`/`HOSTNAME` defaults, then runc's `HOME`.

use std::collections::HashMap;

use crate::expand::expand;

/// containerd's (and Docker's) default `PATH`, used when neither the image nor the pod sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One variable of the container's environment, its source already resolved by the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    /// `true` for a literal `env[].value`: the only values upstream `$(VAR)`-expands. Values from `envFrom` and
    /// from `valueFrom` (ConfigMap/Secret keys, field and resource references) are used verbatim.
    pub expand: bool,
}

impl EnvVar {
    /// A literal `env[].value`, subject to `$(VAR)` expansion.
    pub fn literal(name: impl Into<String>, value: impl Into<String>) -> EnvVar {
        EnvVar { name: name.into(), value: value.into(), expand: true }
    }

    /// A value resolved from `envFrom` or `valueFrom`, never expanded.
    pub fn resolved(name: impl Into<String>, value: impl Into<String>) -> EnvVar {
        EnvVar { name: name.into(), value: value.into(), expand: false }
    }
}

/// An insertion-ordered map: a later value for a known name replaces it in place.
#[derive(Debug, Default, Clone)]
pub(crate) struct OrderedVars {
    order: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl OrderedVars {
    pub(crate) fn set(&mut self, name: &str, value: String) {
        match self.index.get(name) {
            Some(&i) => self.order[i].1 = value,
            None => {
                self.index.insert(name.to_string(), self.order.len());
                self.order.push((name.to_string(), value));
            }
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&i| self.order[i].1.as_str())
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(String, String)> {
        self.order.iter()
    }
}

/// What the kubelet hands the runtime: the container's variables, expanded, and the service-link variables it
/// does not override.
#[derive(Debug, Clone)]
pub(crate) struct KubeletEnv {
    pub(crate) container: OrderedVars,
    pub(crate) service: Vec<(String, String)>,
}

impl KubeletEnv {
    /// `makeEnvironmentVariables`: each literal value is expanded against the container variables defined before
    /// it (including every `envFrom` variable) and then the service variables; a container variable hides a
    /// service variable of the same name.
    pub(crate) fn resolve(env: &[EnvVar], service_env: &[(String, String)]) -> KubeletEnv {
        let service: HashMap<&str, &str> = service_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut container = OrderedVars::default();
        for var in env {
            let value = if var.expand && !var.value.is_empty() {
                let lookup = |n: &str| container.get(n).or_else(|| service.get(n).copied()).map(str::to_string);
                expand(&var.value, &lookup)
            } else {
                var.value.clone()
            };
            container.set(&var.name, value);
        }
        let mut seen = std::collections::HashSet::new();
        let service = service_env
            .iter()
            .filter(|(k, _)| container.get(k).is_none() && seen.insert(k.as_str()))
            .cloned()
            .collect();
        KubeletEnv { container, service }
    }

    /// The mapping `$(VAR)` in command and args resolves against (`ExpandContainerCommandAndArgs`).
    pub(crate) fn lookup(&self, name: &str) -> Option<String> {
        self.container
            .get(name)
            .or_else(|| self.service.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()))
            .map(str::to_string)
    }

    /// The CRI env list. Upstream's order is Go map order (random); here the lower-precedence service variables
    /// come first, then the container's in declaration order.
    pub(crate) fn cri_list(&self) -> impl Iterator<Item = String> + '_ {
        self.service.iter().chain(self.container.iter()).map(|(k, v)| format!("{k}={v}"))
    }
}

/// containerd's `replaceOrAppendEnvValues`: a `K=V` replaces an earlier `K` in place or is appended; a bare `K`
/// (allowed in an image's `Env`) unsets it.
pub(crate) fn replace_or_append(env: &mut Vec<String>, overrides: impl IntoIterator<Item = String>) {
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    for value in overrides {
        let k = key(&value);
        let pos = env.iter().position(|e| key(e) == k);
        match (value.contains('='), pos) {
            (true, Some(i)) => env[i] = value,
            (true, None) => env.push(value),
            (false, Some(i)) => {
                env.remove(i);
            }
            (false, None) => {}
        }
    }
}

/// The process environment: containerd's default `PATH`, `HOSTNAME`, the image's `Env`, then the kubelet's list;
/// runc adds `HOME` (from the user's passwd entry, else `/`) when nothing set it.
pub(crate) fn process_env(image_env: &[String], kubelet: &KubeletEnv, hostname: &str, home: &str) -> Vec<String> {
    let mut env = vec![format!("PATH={DEFAULT_PATH}")];
    replace_or_append(&mut env, [format!("HOSTNAME={hostname}")]);
    replace_or_append(&mut env, image_env.iter().cloned().chain(kubelet.cri_list()));
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> Vec<(String, String)> {
        vec![
            ("KUBERNETES_SERVICE_HOST".into(), "10.0.0.1".into()),
            ("KUBERNETES_SERVICE_PORT".into(), "443".into()),
            ("OVERRIDDEN".into(), "from-service".into()),
        ]
    }

    #[test]
    fn values_expand_against_earlier_variables_and_service_env() {
        let env = [
            EnvVar::resolved("FROM_CM", "cm"),
            EnvVar::literal("A", "a-$(FROM_CM)"),
            EnvVar::literal("B", "$(A)-$(C)-$(KUBERNETES_SERVICE_HOST)"),
            EnvVar::literal("C", "c"),
            EnvVar::resolved("SECRET", "$(A)"),
            EnvVar::literal("ESCAPED", "$$(A)"),
        ];
        let k = KubeletEnv::resolve(&env, &svc());
        assert_eq!(k.container.get("A"), Some("a-cm"));
        // C is defined after B: left as written
        assert_eq!(k.container.get("B"), Some("a-cm-$(C)-10.0.0.1"));
        assert_eq!(k.container.get("SECRET"), Some("$(A)"));
        assert_eq!(k.container.get("ESCAPED"), Some("$(A)"));
    }

    #[test]
    fn container_variables_hide_service_variables() {
        let env = [EnvVar::literal("OVERRIDDEN", "mine"), EnvVar::literal("SEE", "$(OVERRIDDEN)")];
        let k = KubeletEnv::resolve(&env, &svc());
        // during resolution the container variable defined earlier wins
        assert_eq!(k.container.get("SEE"), Some("mine"));
        assert_eq!(k.lookup("OVERRIDDEN").as_deref(), Some("mine"));
        assert_eq!(k.lookup("KUBERNETES_SERVICE_PORT").as_deref(), Some("443"));
        let list: Vec<String> = k.cri_list().collect();
        assert_eq!(
            list,
            ["KUBERNETES_SERVICE_HOST=10.0.0.1", "KUBERNETES_SERVICE_PORT=443", "OVERRIDDEN=mine", "SEE=mine"]
        );
    }

    #[test]
    fn a_redefined_variable_keeps_its_first_position_and_last_value() {
        let env = [EnvVar::resolved("X", "1"), EnvVar::literal("Y", "$(X)"), EnvVar::literal("X", "2")];
        let k = KubeletEnv::resolve(&env, &[]);
        let list: Vec<String> = k.cri_list().collect();
        assert_eq!(list, ["X=2", "Y=1"]);
    }

    #[test]
    fn process_env_layers_defaults_image_and_pod() {
        let image = ["PATH=/app/bin".to_string(), "LANG=C".into(), "FOO=image".into()];
        let k = KubeletEnv::resolve(&[EnvVar::literal("FOO", "pod")], &[("SVC".into(), "1".into())]);
        let env = process_env(&image, &k, "web-0", "/root");
        assert_eq!(env, ["PATH=/app/bin", "HOSTNAME=web-0", "LANG=C", "FOO=pod", "SVC=1", "HOME=/root"]);
    }

    #[test]
    fn process_env_defaults() {
        let k = KubeletEnv::resolve(&[EnvVar::literal("HOME", "/data")], &[]);
        let env = process_env(&[], &k, "h", "/");
        assert_eq!(env, [format!("PATH={DEFAULT_PATH}"), "HOSTNAME=h".into(), "HOME=/data".into()]);
    }

    #[test]
    fn a_bare_image_variable_unsets() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".into()];
        replace_or_append(&mut env, ["A".to_string(), "B".into(), "PATH=/x".into()]);
        assert_eq!(env, ["PATH=/x"]);
    }
}
