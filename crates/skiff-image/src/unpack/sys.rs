//! Thin, fd-relative wrappers around the syscalls the unpacker needs.
//!
//! Every function here operates on a name *inside* an already-open directory fd and never follows a symlink in the
//! final component; intermediate components never appear (names are single path components). That is what keeps
//! unpacking confined to the layer directory: the only way to reach a directory is `open_dir_at` one component at a
//! time, with `O_NOFOLLOW`.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Retries a syscall on EINTR.
fn retry(mut f: impl FnMut() -> libc::c_int) -> io::Result<libc::c_int> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

pub(super) fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
}

/// Opens the directory `name` inside `parent` without following a symlink (`ELOOP`/`ENOTDIR` if it is not a real
/// directory).
pub(super) fn open_dir_at(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    let fd = retry(|| unsafe {
        libc::openat(
            parent.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(super) fn mkdir_at(parent: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    retry(|| unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) }).map(drop)
}

/// Creates a new regular file (`O_EXCL`, so never through an existing symlink) open for writing.
pub(super) fn create_file_at(parent: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<File> {
    let fd = retry(|| unsafe {
        libc::openat(
            parent.as_raw_fd(),
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    Ok(unsafe { File::from_raw_fd(fd) })
}

pub(super) fn symlink_at(target: &CStr, parent: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    retry(|| unsafe { libc::symlinkat(target.as_ptr(), parent.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// `linkat` without `AT_SYMLINK_FOLLOW`: links the entry itself, even if it is a symlink.
pub(super) fn link_at(
    old_parent: BorrowedFd<'_>,
    old_name: &CStr,
    new_parent: BorrowedFd<'_>,
    new_name: &CStr,
) -> io::Result<()> {
    retry(|| unsafe {
        libc::linkat(old_parent.as_raw_fd(), old_name.as_ptr(), new_parent.as_raw_fd(), new_name.as_ptr(), 0)
    })
    .map(drop)
}

pub(super) fn mknod_at(parent: BorrowedFd<'_>, name: &CStr, mode: u32, dev: libc::dev_t) -> io::Result<()> {
    retry(|| unsafe { libc::mknodat(parent.as_raw_fd(), name.as_ptr(), mode as libc::mode_t, dev) }).map(drop)
}

/// `fstatat(AT_SYMLINK_NOFOLLOW)`; `None` if the name does not exist.
pub(super) fn lstat_at(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<Option<libc::stat>> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    match retry(|| unsafe { libc::fstatat(parent.as_raw_fd(), name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) }) {
        Ok(_) => Ok(Some(st)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

pub(super) fn unlink_at(parent: BorrowedFd<'_>, name: &CStr, dir: bool) -> io::Result<()> {
    let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
    retry(|| unsafe { libc::unlinkat(parent.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

pub(super) fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    retry(|| unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map(drop)
}

pub(super) fn lchown_at(parent: BorrowedFd<'_>, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    retry(|| unsafe { libc::fchownat(parent.as_raw_fd(), name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })
        .map(drop)
}

pub(super) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    retry(|| unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(drop)
}

/// `fchmodat` (which always follows symlinks: only call it on a name known not to be a symlink, in a directory only
/// this process writes to).
pub(super) fn chmod_at(parent: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    retry(|| unsafe { libc::fchmodat(parent.as_raw_fd(), name.as_ptr(), mode as libc::mode_t, 0) }).map(drop)
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Times {
    pub atime: (i64, i64),
    pub mtime: (i64, i64),
}

impl Times {
    fn to_timespecs(self) -> [libc::timespec; 2] {
        let ts = |(sec, nsec): (i64, i64)| libc::timespec { tv_sec: sec as libc::time_t, tv_nsec: nsec as _ };
        [ts(self.atime), ts(self.mtime)]
    }
}

pub(super) fn futimens(fd: BorrowedFd<'_>, times: Times) -> io::Result<()> {
    let ts = times.to_timespecs();
    retry(|| unsafe { libc::futimens(fd.as_raw_fd(), ts.as_ptr()) }).map(drop)
}

pub(super) fn lutimens_at(parent: BorrowedFd<'_>, name: &CStr, times: Times) -> io::Result<()> {
    let ts = times.to_timespecs();
    retry(|| unsafe { libc::utimensat(parent.as_raw_fd(), name.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) })
        .map(drop)
}

pub(super) fn fsetxattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
    retry(|| unsafe { libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) }).map(drop)
}

/// `lsetxattr` on `name` inside `parent`, for entries that cannot be opened safely (symlinks, FIFOs, devices). Goes
/// through `/proc/self/fd/<parent>/<name>`: the magic link resolves to `parent` itself and the final component is not
/// followed.
pub(super) fn lsetxattr_at(parent: BorrowedFd<'_>, name: &CStr, xname: &CStr, value: &[u8]) -> io::Result<()> {
    let mut path = format!("/proc/self/fd/{}/", parent.as_raw_fd()).into_bytes();
    path.extend_from_slice(name.to_bytes());
    let path = cstring(&path)?;
    retry(|| unsafe { libc::lsetxattr(path.as_ptr(), xname.as_ptr(), value.as_ptr().cast(), value.len(), 0) }).map(drop)
}

pub(super) fn syncfs(fd: BorrowedFd<'_>) -> io::Result<()> {
    retry(|| unsafe { libc::syncfs(fd.as_raw_fd()) }).map(drop)
}

pub(super) fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    retry(|| unsafe { libc::fsync(fd.as_raw_fd()) }).map(drop)
}

/// `renameat2(RENAME_NOREPLACE)`; falls back to a check-then-`renameat` on filesystems without it.
pub(super) fn rename_noreplace(
    old_parent: BorrowedFd<'_>,
    old: &CStr,
    new_parent: BorrowedFd<'_>,
    new: &CStr,
) -> io::Result<()> {
    let r = retry(|| unsafe {
        libc::renameat2(
            old_parent.as_raw_fd(),
            old.as_ptr(),
            new_parent.as_raw_fd(),
            new.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    });
    match r {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) => {
            if lstat_at(new_parent, new)?.is_some() {
                return Err(io::Error::from_raw_os_error(libc::EEXIST));
            }
            retry(|| unsafe {
                libc::renameat(old_parent.as_raw_fd(), old.as_ptr(), new_parent.as_raw_fd(), new.as_ptr())
            })
            .map(drop)
        }
        r => r.map(drop),
    }
}

/// Names in a directory (without `.`/`..`).
fn read_dir_names(dir: BorrowedFd<'_>) -> io::Result<Vec<CString>> {
    // fdopendir takes ownership of the fd it is given, so hand it a duplicate.
    let dup = dir.try_clone_to_owned()?;
    let dirp = unsafe { libc::fdopendir(dup.as_raw_fd()) };
    if dirp.is_null() {
        return Err(io::Error::last_os_error());
    }
    std::mem::forget(dup); // now owned by dirp
    unsafe { libc::rewinddir(dirp) };
    let mut names = Vec::new();
    let result = loop {
        unsafe { *libc::__errno_location() = 0 };
        let ent = unsafe { libc::readdir64(dirp) };
        if ent.is_null() {
            let errno = unsafe { *libc::__errno_location() };
            break if errno == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(errno)) };
        }
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    };
    unsafe { libc::closedir(dirp) };
    result.map(|()| names)
}

/// Removes `name` inside `parent` and, if it is a directory, everything below it, never following symlinks.
/// Recursion depth is bounded by the unpacker's path-length limit.
pub(super) fn remove_tree_at(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let Some(st) = lstat_at(parent, name)? else { return Ok(()) };
    if !is_dir(&st) {
        return unlink_at(parent, name, false);
    }
    let dir = match open_dir_at(parent, name) {
        Ok(d) => d,
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
            // A directory left without owner rwx (only possible when not root): make it removable.
            chmod_at(parent, name, 0o700)?;
            open_dir_at(parent, name)?
        }
        Err(e) => return Err(e),
    };
    if st.st_mode & 0o700 != 0o700 {
        let _ = fchmod(dir.as_fd(), 0o700);
    }
    for child in read_dir_names(dir.as_fd())? {
        remove_tree_at(dir.as_fd(), &child)?;
    }
    drop(dir);
    match unlink_at(parent, name, true) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        r => r,
    }
}
