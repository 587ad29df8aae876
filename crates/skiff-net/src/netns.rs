//! Named network namespaces: a namespace kept alive by a bind mount of its nsfs file onto a plain file
//! (`STATE_DIR/netns/<id>`), as `ip netns add` does under `/run/netns`.
//!
//! Namespace changes are per thread, so every operation that enters a namespace runs on a fresh, dedicated OS
//! thread that exits afterwards (never on a tokio or `spawn_blocking` thread, which would be reused while still
//! inside the pod's namespace). A netlink socket opened on such a thread stays bound to that namespace for its
//! whole life, so [`create`] hands back an rtnetlink [`Handle`] usable from any task.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use rtnetlink::Handle;
use tokio::sync::oneshot;
use tracing::debug;

use crate::error::NetError;

/// Whether `path` is a live namespace mount (not merely a file left behind by a crash or a reboot).
pub(crate) fn is_mounted(path: &Path) -> bool {
    match nix::sys::statfs::statfs(path) {
        Ok(st) => st.filesystem_type() == nix::sys::statfs::NSFS_MAGIC,
        Err(_) => false,
    }
}

/// Runs `f` on a new OS thread and awaits its result.
async fn on_thread<T: Send + 'static>(
    what: &Path,
    f: impl FnOnce() -> Result<T, NetError> + Send + 'static,
) -> Result<T, NetError> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("skiff-netns".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(NetError::io("spawn thread for", what))?;
    rx.await.map_err(|_| NetError::Thread(what.display().to_string()))?
}

/// Opens an rtnetlink connection from the calling thread's current namespace and spawns it on `rt`.
fn connect(rt: &tokio::runtime::Handle, what: &Path) -> Result<Handle, NetError> {
    let _guard = rt.enter();
    let (conn, handle, _) = rtnetlink::new_connection().map_err(NetError::io("open netlink socket in", what))?;
    rt.spawn(conn);
    Ok(handle)
}

/// Creates a new network namespace bind-mounted at `path` and returns a netlink handle inside it.
///
/// An existing file at `path` that is not a mount (left by a reboot) is reused; a live mount is an error
/// (`EEXIST`) — callers remove it first.
pub(crate) async fn create(path: PathBuf) -> Result<Handle, NetError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(NetError::io("create directory", dir))?;
    }
    if is_mounted(&path) {
        return Err(NetError::Sys {
            syscall: "create netns",
            target: path.display().to_string(),
            source: nix::errno::Errno::EEXIST,
        });
    }
    let rt = tokio::runtime::Handle::current();
    let what = path.clone();
    on_thread(&what, move || {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o444)
            .open(&path)
            .map_err(NetError::io("create", &path))?;
        let target = path.display().to_string();
        unshare(CloneFlags::CLONE_NEWNET).map_err(NetError::sys("unshare(CLONE_NEWNET)", &target))?;
        if let Err(e) = mount(Some("/proc/thread-self/ns/net"), &path, None::<&str>, MsFlags::MS_BIND, None::<&str>) {
            let _ = fs::remove_file(&path);
            return Err(NetError::sys("bind mount netns onto", &target)(e));
        }
        // Interfaces made later in this namespace (eth0) announce their address with a gratuitous ARP when they
        // come up, so peers that cached a previous holder of a reused IP update their neighbour entry.
        let arp_notify = "/proc/sys/net/ipv4/conf/default/arp_notify";
        if let Err(e) = fs::write(arp_notify, "1") {
            tracing::warn!(netns = %target, error = %e, "cannot set {arp_notify}");
        }
        debug!(netns = %target, "created netns");
        connect(&rt, &path)
    })
    .await
}

/// Opens the namespace file (to pass its fd in netlink `IFLA_NET_NS_FD`).
pub(crate) fn open(path: &Path) -> Result<File, NetError> {
    File::open(path).map_err(NetError::io("open netns", path))
}

/// Unmounts and deletes the namespace file; missing or unmounted files are fine.
pub(crate) fn remove(path: &Path) -> Result<(), NetError> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) => debug!(netns = %path.display(), "unmounted netns"),
        // EINVAL: not a mount point; ENOENT: no file.
        Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(NetError::sys("umount netns", path.display().to_string())(e)),
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io("remove", path)(e)),
    }
}
