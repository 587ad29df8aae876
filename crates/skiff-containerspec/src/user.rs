//! Who the process runs as: the kubelet's choice of user (`runAsUser`, else the image's `User`), its
//! `runAsNonRoot` check, then containerd's `WithUser` / `WithAdditionalGIDs` / `WithSupplementalGroups`
//! against the image's `/etc/passwd` and `/etc/group`, and runc's `HOME`.
//!
//! Faithful to upstream on purpose, including one surprise: the kubelet passes only the *user* part of an image
//! `User` to the runtime (numeric → `runAsUser`, otherwise `runAsUsername`), so the image's group (`1000:1000`,
//! `app:staff`) is dropped and the gid comes from `runAsGroup`, else the passwd entry, else 0.

use std::io;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::layers::find_file;
use crate::SpecError;

/// The process's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// sorted, without duplicates, including `gid` (containerd's `ensureAdditionalGids`)
    pub(crate) additional_gids: Vec<u32>,
    pub(crate) home: String,
}

/// `runAsUser`, `runAsGroup`, `runAsNonRoot`: the container's value, else the pod's.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RunAs {
    pub(crate) user: Option<i64>,
    pub(crate) group: Option<i64>,
    pub(crate) non_root: Option<bool>,
}

impl RunAs {
    pub(crate) fn effective(pod: &Pod, container: &Container) -> RunAs {
        let p = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
        let c = container.security_context.as_ref();
        RunAs {
            user: c.and_then(|c| c.run_as_user).or_else(|| p.and_then(|p| p.run_as_user)),
            group: c.and_then(|c| c.run_as_group).or_else(|| p.and_then(|p| p.run_as_group)),
            non_root: c.and_then(|c| c.run_as_non_root).or_else(|| p.and_then(|p| p.run_as_non_root)),
        }
    }
}

/// What the image status tells the kubelet (containerd's `getUserFromImage`): the part before `:` as a uid
/// when numeric, else as a user name; no `User` at all means uid 0.
fn image_user(user: &str) -> (Option<i64>, String) {
    if user.is_empty() {
        return (Some(0), String::new());
    }
    let name = user.split(':').next().unwrap_or_default();
    match name.parse::<i64>() {
        Ok(uid) => (Some(uid), String::new()),
        Err(_) => (None, name.to_string()),
    }
}

/// upstream's `format.Pod`: `name_namespace(uid)`
fn format_pod(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!(
        "{}_{}({})",
        m.name.as_deref().unwrap_or_default(),
        m.namespace.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default()
    )
}

/// The kubelet's `verifyRunAsNonRoot`, with its messages (reported as `CreateContainerConfigError`).
fn verify_run_as_non_root(
    pod: &Pod,
    container: &Container,
    run_as: RunAs,
    image_user_str: &str,
) -> Result<(), SpecError> {
    if run_as.non_root != Some(true) {
        return Ok(());
    }
    let pod_desc = format_pod(pod);
    let name = &container.name;
    if let Some(u) = run_as.user {
        if u == 0 {
            return Err(SpecError::Config(format!(
                "container's runAsUser breaks non-root policy (pod: {pod_desc:?}, container: {name})"
            )));
        }
        return Ok(());
    }
    match image_user(image_user_str) {
        (None, username) if !username.is_empty() => Err(SpecError::Config(format!(
            "container has runAsNonRoot and image has non-numeric user ({username}), cannot verify user is \
             non-root (pod: {pod_desc:?}, container: {name})"
        ))),
        (Some(0), _) => Err(SpecError::Config(format!(
            "container has runAsNonRoot and image will run as root (pod: {pod_desc:?}, container: {name})"
        ))),
        (Some(uid), _) if !(0..=i64::from(i32::MAX)).contains(&uid) => Err(SpecError::Config(format!(
            "container has runAsNonRoot and image has an invalid user id ({uid}). (Must be 1-({})): must be \
             between 0 and {}, inclusive (pod: {pod_desc:?}, container: {name})",
            i32::MAX,
            i32::MAX
        ))),
        _ => Ok(()),
    }
}

/// One `/etc/passwd` entry (runc's `user.User`; unparsable numbers read as 0, as there).
#[derive(Debug, Clone, Default)]
struct PasswdEntry {
    name: String,
    uid: i64,
    gid: i64,
    home: String,
}

/// One `/etc/group` entry.
#[derive(Debug, Clone, Default)]
struct GroupEntry {
    name: String,
    gid: i64,
    members: Vec<String>,
}

/// The image's `/etc/passwd` and `/etc/group`; `None` when the image has no such file.
struct Databases {
    passwd: Option<Vec<PasswdEntry>>,
    group: Option<Vec<GroupEntry>>,
}

impl Databases {
    fn read(layers: &[PathBuf]) -> io::Result<Databases> {
        let read = |path: &str| -> io::Result<Option<String>> {
            match find_file(layers, path)? {
                Some(p) => Ok(Some(String::from_utf8_lossy(&std::fs::read(p)?).into_owned())),
                None => Ok(None),
            }
        };
        let fields = |line: &str| line.split(':').map(str::to_string).collect::<Vec<_>>();
        let num = |f: &[String], i: usize| f.get(i).and_then(|v| v.parse().ok()).unwrap_or(0);
        let lines = |s: &str| s.lines().map(str::trim).filter(|l| !l.is_empty()).map(fields).collect::<Vec<_>>();
        let passwd = read("/etc/passwd")?.map(|s| {
            lines(&s)
                .iter()
                .map(|f| PasswdEntry {
                    name: f[0].clone(),
                    uid: num(f, 2),
                    gid: num(f, 3),
                    home: f.get(5).cloned().unwrap_or_default(),
                })
                .collect()
        });
        let group = read("/etc/group")?.map(|s| {
            lines(&s)
                .iter()
                .map(|f| GroupEntry {
                    name: f[0].clone(),
                    gid: num(f, 2),
                    members: f
                        .get(3)
                        .map(|m| m.split(',').map(str::trim).filter(|m| !m.is_empty()).map(str::to_string).collect())
                        .unwrap_or_default(),
                })
                .collect()
        });
        Ok(Databases { passwd, group })
    }

    fn passwd_by_name(&self, name: &str) -> Result<&PasswdEntry, String> {
        let Some(entries) = &self.passwd else { return Err("open /etc/passwd: no such file or directory".into()) };
        entries.iter().find(|u| u.name == name).ok_or_else(|| "no users found".to_string())
    }

    fn passwd_by_uid(&self, uid: u32) -> Option<&PasswdEntry> {
        self.passwd.as_ref()?.iter().find(|u| u.uid as u32 == uid)
    }

    fn gid_by_name(&self, name: &str) -> Result<u32, String> {
        let Some(entries) = &self.group else { return Err("open /etc/group: no such file or directory".into()) };
        entries.iter().find(|g| g.name == name).map(|g| g.gid as u32).ok_or_else(|| "no groups found".to_string())
    }
}

/// containerd's `oci.WithUser`: `user`, `uid`, `user:group`, with names looked up in the image.
fn with_user(userstr: &str, db: &Databases) -> Result<(u32, u32), String> {
    let parts: Vec<&str> = userstr.split(':').collect();
    match parts[..] {
        [one] => match one.parse::<i64>() {
            // a uid missing from passwd runs with gid 0
            Ok(uid) => Ok((uid as u32, db.passwd_by_uid(uid as u32).map_or(0, |u| u.gid as u32))),
            Err(_) => db.passwd_by_name(one).map(|u| (u.uid as u32, u.gid as u32)),
        },
        [user, group] => {
            let uid = match user.parse::<i64>() {
                Ok(uid) => uid as u32,
                Err(_) => db.passwd_by_name(user)?.uid as u32,
            };
            let gid = match group.parse::<i64>() {
                Ok(gid) => gid as u32,
                Err(_) if group.is_empty() => 0,
                Err(_) => db.gid_by_name(group)?,
            };
            Ok((uid, gid))
        }
        _ => Err(format!("invalid USER value {userstr}")),
    }
}

/// containerd's `WithAdditionalGIDs`: the groups listing the user as a member (except one named like the user).
fn member_gids(userstr: &str, db: &Databases) -> Vec<u32> {
    let name = match userstr.parse::<i64>() {
        Ok(uid) => match db.passwd_by_uid(uid as u32) {
            Some(u) => u.name.clone(),
            None => return vec![],
        },
        Err(_) => userstr.to_string(),
    };
    db.group.iter().flatten().filter(|g| g.name != name && g.members.contains(&name)).map(|g| g.gid as u32).collect()
}

pub(crate) fn resolve(
    pod: &Pod,
    container: &Container,
    image_user_str: &str,
    layers: &[PathBuf],
) -> Result<Identity, SpecError> {
    let run_as = RunAs::effective(pod, container);
    verify_run_as_non_root(pod, container, run_as, image_user_str)?;

    // what the kubelet sends: runAsUser (or the image's numeric uid) / runAsUsername, and runAsGroup
    let (uid, username) = match run_as.user {
        Some(u) => (Some(u), String::new()),
        None => image_user(image_user_str),
    };
    let user_part = if !username.is_empty() { username.clone() } else { uid.unwrap_or(0).to_string() };
    let userstr = match run_as.group {
        Some(g) => format!("{user_part}:{g}"),
        None => user_part.clone(),
    };

    let create_err = |e: String| SpecError::Create(format!("failed to create containerd container: {e}"));
    let db = Databases::read(layers).map_err(|e| create_err(format!("reading the image's user database: {e}")))?;
    let (uid, gid) = with_user(&userstr, &db).map_err(create_err)?;

    let mut gids = vec![gid];
    gids.extend(member_gids(&user_part, &db));
    if let Some(psc) = pod.spec.as_ref().and_then(|s| s.security_context.as_ref()) {
        // the kubelet lists fsGroup, then supplementalGroups; containerd sorts and deduplicates
        gids.extend(psc.fs_group.iter().chain(psc.supplemental_groups.iter().flatten()).map(|g| *g as u32));
    }
    gids.sort_unstable();
    gids.dedup();

    let home = db.passwd_by_uid(uid).map(|u| u.home.clone()).filter(|h| !h.is_empty()).unwrap_or_else(|| "/".into());
    Ok(Identity { uid, gid, additional_gids: gids, home })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::tests::layer;
    use k8s_openapi::api::core::v1::{PodSecurityContext, PodSpec, SecurityContext};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        app:x:1000:1001:App:/home/app:/bin/sh\n\
        nohome:x:1002:1002::\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,app\nstaff:x:50:app\napp:x:1001:app\nnogroup:x:65534:\n";

    fn pod(psc: Option<PodSecurityContext>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("prod".into()),
                uid: Some("u-1".into()),
                ..Default::default()
            },
            spec: Some(PodSpec { security_context: psc, ..Default::default() }),
            ..Default::default()
        }
    }

    fn container(sc: Option<SecurityContext>) -> Container {
        Container { name: "main".into(), security_context: sc, ..Default::default() }
    }

    fn image(t: &tempfile::TempDir) -> Vec<PathBuf> {
        vec![layer(t.path(), "0", &[("etc/passwd", PASSWD), ("etc/group", GROUP)])]
    }

    fn resolve_user(image_user: &str, layers: &[PathBuf]) -> Result<Identity, SpecError> {
        resolve(&pod(None), &container(None), image_user, layers)
    }

    #[test]
    fn image_user_forms() {
        let t = tempfile::tempdir().unwrap();
        let layers = image(&t);
        let id = |u: &str| resolve_user(u, &layers).map(|i| (i.uid, i.gid, i.additional_gids, i.home));
        assert_eq!(id("").unwrap(), (0, 0, vec![0, 10], "/root".into()));
        assert_eq!(id("app").unwrap(), (1000, 1001, vec![10, 50, 1001], "/home/app".into()));
        assert_eq!(id("1000").unwrap(), (1000, 1001, vec![10, 50, 1001], "/home/app".into()));
        // uid missing from passwd: gid 0, HOME /
        assert_eq!(id("4242").unwrap(), (4242, 0, vec![0], "/".into()));
        // the image's group part is dropped by the kubelet (see the module docs)
        assert_eq!(id("1000:50").unwrap().1, 1001);
        assert_eq!(id("app:staff").unwrap().1, 1001);
        assert_eq!(id("nohome").unwrap().3, "/");
    }

    #[test]
    fn with_user_parses_every_form() {
        let t = tempfile::tempdir().unwrap();
        let db = Databases::read(&image(&t)).unwrap();
        assert_eq!(with_user("app", &db), Ok((1000, 1001)));
        assert_eq!(with_user("1000", &db), Ok((1000, 1001)));
        assert_eq!(with_user("1000:7", &db), Ok((1000, 7)));
        assert_eq!(with_user("app:7", &db), Ok((1000, 7)));
        assert_eq!(with_user("app:staff", &db), Ok((1000, 50)));
        assert_eq!(with_user("5:staff", &db), Ok((5, 50)));
        assert_eq!(with_user("5:nope", &db), Err("no groups found".into()));
        assert_eq!(with_user("nobody", &db), Err("no users found".into()));
        assert_eq!(with_user("a:b:c", &db), Err("invalid USER value a:b:c".into()));
    }

    #[test]
    fn unknown_user_name_is_a_create_error() {
        let t = tempfile::tempdir().unwrap();
        let err = resolve_user("ghost", &image(&t)).unwrap_err();
        assert_eq!(err, SpecError::Create("failed to create containerd container: no users found".into()));
        let err = resolve_user("ghost", &[]).unwrap_err();
        assert_eq!(
            err,
            SpecError::Create(
                "failed to create containerd container: open /etc/passwd: no such file or directory".into()
            )
        );
        // a uid needs no passwd at all
        assert_eq!(resolve_user("7", &[]).unwrap().gid, 0);
    }

    #[test]
    fn security_context_overrides_image_user() {
        let t = tempfile::tempdir().unwrap();
        let layers = image(&t);
        let psc = PodSecurityContext {
            run_as_user: Some(1000),
            run_as_group: Some(3000),
            fs_group: Some(2000),
            supplemental_groups: Some(vec![4000, 50]),
            ..Default::default()
        };
        let id = resolve(&pod(Some(psc.clone())), &container(None), "root", &layers).unwrap();
        assert_eq!((id.uid, id.gid), (1000, 3000));
        assert_eq!(id.additional_gids, [10, 50, 2000, 3000, 4000]);
        // the container's runAsUser wins over the pod's; runAsGroup still comes from the pod
        let sc = SecurityContext { run_as_user: Some(1), ..Default::default() };
        let id = resolve(&pod(Some(psc)), &container(Some(sc)), "root", &layers).unwrap();
        assert_eq!((id.uid, id.gid, id.home.as_str()), (1, 3000, "/usr/sbin"));
        // runAsGroup with an image user name
        let psc = PodSecurityContext { run_as_group: Some(9), ..Default::default() };
        let id = resolve(&pod(Some(psc)), &container(None), "app", &layers).unwrap();
        assert_eq!((id.uid, id.gid), (1000, 9));
    }

    #[test]
    fn passwd_hidden_by_a_whiteout_is_not_used() {
        let t = tempfile::tempdir().unwrap();
        let low = layer(t.path(), "0", &[("etc/passwd", PASSWD), ("etc/group", GROUP)]);
        let high = layer(t.path(), "1", &[("etc/hostname", "x")]);
        let wh = std::ffi::CString::new(high.join("etc/passwd").into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path
        if unsafe { libc::mknod(wh.as_ptr(), libc::S_IFCHR | 0o600, 0) } != 0 {
            eprintln!("skipped: cannot create a whiteout device here");
            return;
        }
        let layers = [low, high];
        assert_eq!(
            resolve_user("app", &layers).unwrap_err(),
            SpecError::Create(
                "failed to create containerd container: open /etc/passwd: no such file or directory".into()
            )
        );
        // /etc/group is still visible
        assert_eq!(resolve_user("0", &layers).unwrap().additional_gids, [0]);
    }

    fn non_root(pod_sc: Option<PodSecurityContext>, sc: Option<SecurityContext>, image_user: &str) -> Option<String> {
        let t = tempfile::tempdir().unwrap();
        match resolve(&pod(pod_sc), &container(sc), image_user, &image(&t)) {
            Err(SpecError::Config(m)) => Some(m),
            Err(e) => panic!("{e:?}"),
            Ok(_) => None,
        }
    }

    #[test]
    fn run_as_non_root_messages() {
        let nr = || Some(PodSecurityContext { run_as_non_root: Some(true), ..Default::default() });
        assert_eq!(
            non_root(nr(), None, "").as_deref(),
            Some(r#"container has runAsNonRoot and image will run as root (pod: "web_prod(u-1)", container: main)"#)
        );
        assert_eq!(
            non_root(nr(), None, "0:0").as_deref(),
            Some(r#"container has runAsNonRoot and image will run as root (pod: "web_prod(u-1)", container: main)"#)
        );
        assert_eq!(
            non_root(nr(), None, "app").as_deref(),
            Some(
                r#"container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root (pod: "web_prod(u-1)", container: main)"#
            )
        );
        let as_root = Some(SecurityContext { run_as_user: Some(0), ..Default::default() });
        assert_eq!(
            non_root(nr(), as_root, "1000").as_deref(),
            Some(r#"container's runAsUser breaks non-root policy (pod: "web_prod(u-1)", container: main)"#)
        );
        assert_eq!(non_root(nr(), None, "1000"), None);
        // runAsUser set: the image user is not consulted for the check
        let as_app = Some(SecurityContext { run_as_user: Some(1000), ..Default::default() });
        assert_eq!(non_root(nr(), as_app, "app"), None);
        // the container can switch the check off
        let off = Some(SecurityContext { run_as_non_root: Some(false), ..Default::default() });
        assert_eq!(non_root(nr(), off, ""), None);
    }
}
