//! The process's argv: the kubelet expands `$(VAR)` in `command` and `args`, then containerd's
//! `WithProcessArgs` combines them with the image's `Entrypoint` and `Cmd` (Docker's rules).

use k8s_openapi::api::core::v1::Container;
use skiff_image::manifest::RuntimeConfig;

use crate::env::KubeletEnv;
use crate::expand::expand;
use crate::SpecError;

/// containerd's message, as the kubelet reports it in the `CreateContainerError` waiting state.
pub const NO_COMMAND: &str = "failed to generate spec: no command specified";

/// `command` replaces the image's `Entrypoint` *and* `Cmd`; `args` alone replace `Cmd`; neither runs the
/// image's `Entrypoint` + `Cmd`. An image `Entrypoint` of `[""]` means "no entrypoint" (Docker's reset).
pub(crate) fn argv(container: &Container, image: &RuntimeConfig, env: &KubeletEnv) -> Result<Vec<String>, SpecError> {
    let lookup = |n: &str| env.lookup(n);
    let expand_all =
        |v: &Option<Vec<String>>| -> Vec<String> { v.iter().flatten().map(|s| expand(s, &lookup)).collect() };
    let mut command = expand_all(&container.command);
    let mut args = expand_all(&container.args);
    if command.is_empty() {
        if args.is_empty() {
            args = image.cmd.clone().unwrap_or_default();
        }
        // upstream tests `command == nil`; an empty list arrives as nil through the CRI's protobuf
        let entrypoint = image.entrypoint.clone().unwrap_or_default();
        if !(entrypoint.len() == 1 && entrypoint[0].is_empty()) {
            command = entrypoint;
        }
    }
    command.extend(args);
    if command.is_empty() {
        return Err(SpecError::Create(NO_COMMAND.into()));
    }
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::EnvVar;

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    fn run(command: &[&str], args: &[&str], entrypoint: &[&str], cmd: &[&str]) -> Result<Vec<String>, SpecError> {
        let c = Container {
            command: if command.is_empty() { None } else { strings(command) },
            args: if args.is_empty() { None } else { strings(args) },
            ..Default::default()
        };
        let image = RuntimeConfig {
            entrypoint: if entrypoint.is_empty() { None } else { strings(entrypoint) },
            cmd: if cmd.is_empty() { None } else { strings(cmd) },
            ..Default::default()
        };
        let env = KubeletEnv::resolve(&[EnvVar::literal("WHO", "world")], &[("SVC".into(), "10.0.0.1".into())]);
        argv(&c, &image, &env)
    }

    #[test]
    fn command_and_args_matrix() {
        let ep = ["/entry", "-x"];
        let cmd = ["serve", "--port=80"];
        // (command, args, image entrypoint, image cmd, want)
        type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str], &'a [&'a str], &'a [&'a str]);
        let cases: [Case; 9] = [
            (&[], &[], &ep, &cmd, &["/entry", "-x", "serve", "--port=80"]),
            (&["/bin/sh"], &[], &ep, &cmd, &["/bin/sh"]),
            (&["/bin/sh"], &["-c", "true"], &ep, &cmd, &["/bin/sh", "-c", "true"]),
            (&[], &["run"], &ep, &cmd, &["/entry", "-x", "run"]),
            (&[], &["run"], &[], &cmd, &["run"]),
            (&[], &[], &[], &cmd, &["serve", "--port=80"]),
            (&[], &[], &ep, &[], &["/entry", "-x"]),
            (&[], &[], &[""], &cmd, &["serve", "--port=80"]),
            (&[], &["a"], &[""], &[], &["a"]),
        ];
        for (command, args, e, c, want) in cases {
            assert_eq!(run(command, args, e, c).unwrap(), want, "{command:?} {args:?} {e:?} {c:?}");
        }
    }

    #[test]
    fn nothing_to_run_is_a_create_error() {
        assert_eq!(run(&[], &[], &[], &[]), Err(SpecError::Create(NO_COMMAND.into())));
        assert_eq!(run(&[], &[], &[""], &[]), Err(SpecError::Create(NO_COMMAND.into())));
    }

    #[test]
    fn command_and_args_are_expanded_but_image_values_are_not() {
        let got = run(&["echo", "hello $(WHO)", "$(SVC)", "$$(WHO)", "$(NOPE)"], &["$(WHO)"], &[], &[]).unwrap();
        assert_eq!(got, ["echo", "hello world", "10.0.0.1", "$(WHO)", "$(NOPE)", "world"]);
        let got = run(&[], &[], &["/e", "$(WHO)"], &["$(WHO)"]).unwrap();
        assert_eq!(got, ["/e", "$(WHO)", "$(WHO)"]);
    }
}
