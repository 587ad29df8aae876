#!/usr/bin/env python3
"""Writes OCI image layouts from rootfs directories, reproducibly (Python 3 stdlib only).

    mkimage.py image --out LAYOUT --ref TAG --cache DIR --config JSON [--arch amd64] [--variant V]
                     [--created RFC3339] --layer ROOTFS_DIR [--layer ROOTFS_DIR ...] [--comment TEXT ...]
    mkimage.py index --out LAYOUT --ref TAG --image LAYOUT:REF [--image LAYOUT:REF ...]
    mkimage.py unpack LAYOUT[:REF] DEST [--arch amd64]

`image` turns every ROOTFS_DIR into one gzip-compressed layer (entries sorted, owner root:root, mtime fixed, gzip
header without name or time), so that the same directory contents always give the same blob digest: two images
built on the same base directory share that layer blob byte for byte. Layers are cached under --cache by the
digest of their uncompressed tar, so an unchanged layer is never compressed twice. The layout written at --out
holds one manifest whose index.json entry is named --ref (skopeo: `oci:LAYOUT:REF`).

`index` writes an OCI image index over already-built layouts (each manifest keeps the platform of its config) and a
layout whose index.json entry --ref points at that index (skopeo: `skopeo copy --all oci:LAYOUT:REF ...`).

`unpack` applies an image's layers to DEST (whiteouts honoured), to check what an image holds.

`image` and `index` print one JSON line describing what they wrote (digests and sizes), and leave an existing layout untouched if
its index.json would not change.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_ANNOTATION = "org.opencontainers.image.ref.name"

# 2024-01-01T00:00:00Z: every file's mtime in every layer, and every image's "created".
DEFAULT_EPOCH = 1704067200


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def rfc3339(epoch):
    import datetime

    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def tar_rootfs(rootfs, epoch):
    """The uncompressed layer tar of a directory: sorted, root-owned, fixed mtimes, hardlinks kept."""
    buf = io.BytesIO()
    seen_inodes = {}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        entries = []
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                full = os.path.join(dirpath, name)
                entries.append(os.path.relpath(full, rootfs))
        for rel in sorted(entries):
            full = os.path.join(rootfs, rel)
            st = os.lstat(full)
            ti = tarfile.TarInfo(rel)
            ti.mode = stat.S_IMODE(st.st_mode)
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            ti.mtime = epoch
            if stat.S_ISDIR(st.st_mode):
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif stat.S_ISLNK(st.st_mode):
                ti.type = tarfile.SYMTYPE
                ti.linkname = os.readlink(full)
                tf.addfile(ti)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in seen_inodes:
                    ti.type = tarfile.LNKTYPE
                    ti.linkname = seen_inodes[key]
                    tf.addfile(ti)
                    continue
                seen_inodes[key] = rel
                ti.size = st.st_size
                with open(full, "rb") as f:
                    tf.addfile(ti, f)
            else:
                raise SystemExit(f"mkimage: {full}: only directories, regular files and symlinks go in a layer")
    return buf.getvalue()


class Store:
    """A blob store: the layout's own blobs/sha256 dir, fed from a shared cache dir."""

    def __init__(self, cache):
        self.cache = cache
        os.makedirs(os.path.join(cache, "blobs"), exist_ok=True)
        os.makedirs(os.path.join(cache, "layers"), exist_ok=True)

    def blob_path(self, digest):
        return os.path.join(self.cache, "blobs", digest.split(":", 1)[1])

    def put(self, data):
        digest = sha256(data)
        path = self.blob_path(digest)
        if not os.path.exists(path):
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        return {"digest": digest, "size": len(data)}

    def layer(self, rootfs, epoch):
        raw = tar_rootfs(rootfs, epoch)
        diff_id = sha256(raw)
        memo = os.path.join(self.cache, "layers", diff_id.split(":", 1)[1] + ".json")
        if os.path.exists(memo):
            with open(memo) as f:
                info = json.load(f)
            if os.path.exists(self.blob_path(info["digest"])):
                return info
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=6, mtime=0) as gz:
            gz.write(raw)
        info = dict(self.put(out.getvalue()), diff_id=diff_id)
        with open(memo + ".tmp", "w") as f:
            json.dump(info, f)
        os.replace(memo + ".tmp", memo)
        return info


def write_layout(out, ref, top_descriptor, digests, store_paths):
    """Writes (or keeps) an OCI layout at `out` whose index.json names `top_descriptor` as `ref`."""
    index = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [dict(top_descriptor, annotations={REF_ANNOTATION: ref})],
    }
    index_bytes = json.dumps(index, indent=2, sort_keys=True).encode() + b"\n"
    complete = os.path.exists(os.path.join(out, "index.json")) and all(
        os.path.exists(os.path.join(out, "blobs", "sha256", d.split(":", 1)[1])) for d in digests
    )
    if complete:
        with open(os.path.join(out, "index.json"), "rb") as f:
            if f.read() == index_bytes:
                return False
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".layout-", dir=parent)
    os.makedirs(os.path.join(tmp, "blobs", "sha256"))
    for d in digests:
        dst = os.path.join(tmp, "blobs", "sha256", d.split(":", 1)[1])
        if os.path.exists(dst):
            continue
        src = store_paths(d)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    with open(os.path.join(tmp, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}\n')
    with open(os.path.join(tmp, "index.json"), "wb") as f:
        f.write(index_bytes)
    os.chmod(tmp, 0o755)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.replace(tmp, out)
    return True


def cmd_image(a):
    store = Store(a.cache)
    epoch = a.epoch
    created = rfc3339(epoch)
    conf = json.loads(a.config)
    layers, diff_ids, history = [], [], []
    comments = a.comment or []
    for i, rootfs in enumerate(a.layer):
        if not os.path.isdir(rootfs):
            raise SystemExit(f"mkimage: {rootfs}: not a directory")
        info = store.layer(rootfs, epoch)
        layers.append({"mediaType": MT_LAYER_GZ, "digest": info["digest"], "size": info["size"]})
        diff_ids.append(info["diff_id"])
        history.append({"created": created, "created_by": comments[i] if i < len(comments) else f"layer {i}"})
    config = {
        "created": created,
        "architecture": a.arch,
        "os": "linux",
        "config": conf,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    if a.variant:
        config["variant"] = a.variant
    config_desc = dict(store.put(canonical(config)), mediaType=MT_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": config_desc["digest"], "size": config_desc["size"]},
        "layers": layers,
    }
    m = store.put(canonical(manifest))
    top = {"mediaType": MT_MANIFEST, "digest": m["digest"], "size": m["size"]}
    digests = [m["digest"], config_desc["digest"]] + [l["digest"] for l in layers]
    changed = write_layout(a.out, a.ref, top, digests, store.blob_path)
    print(
        json.dumps(
            {
                "layout": a.out,
                "ref": a.ref,
                "changed": changed,
                "mediaType": MT_MANIFEST,
                "digest": m["digest"],
                "manifest_size": m["size"],
                "config_digest": config_desc["digest"],
                "layers": layers,
                "diff_ids": diff_ids,
                "size": sum(l["size"] for l in layers) + config_desc["size"] + m["size"],
                "architecture": a.arch,
            },
            sort_keys=True,
        )
    )


def read_layout_top(spec):
    layout, ref = spec.rsplit(":", 1)
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    for d in index["manifests"]:
        if d.get("annotations", {}).get(REF_ANNOTATION) == ref:
            return layout, d
    raise SystemExit(f"mkimage: {layout} has no image named {ref}")


def cmd_index(a):
    store = Store(a.cache)
    manifests, digests = [], []
    for spec in a.image:
        layout, desc = read_layout_top(spec)
        blob = lambda d: os.path.join(layout, "blobs", "sha256", d.split(":", 1)[1])  # noqa: E731
        with open(blob(desc["digest"]), "rb") as f:
            manifest = json.load(f)
        with open(blob(manifest["config"]["digest"]), "rb") as f:
            config = json.load(f)
        platform = {"architecture": config["architecture"], "os": config["os"]}
        if config.get("variant"):
            platform["variant"] = config["variant"]
        manifests.append({"mediaType": desc["mediaType"], "digest": desc["digest"], "size": desc["size"], "platform": platform})
        for d in [desc["digest"], manifest["config"]["digest"]] + [l["digest"] for l in manifest["layers"]]:
            if not os.path.exists(store.blob_path(d)):
                shutil.copyfile(blob(d), store.blob_path(d))
            digests.append(d)
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": manifests}
    i = store.put(canonical(index))
    top = {"mediaType": MT_INDEX, "digest": i["digest"], "size": i["size"]}
    changed = write_layout(a.out, a.ref, top, [i["digest"]] + digests, store.blob_path)
    print(
        json.dumps(
            {"layout": a.out, "ref": a.ref, "changed": changed, "mediaType": MT_INDEX, "digest": i["digest"],
             "manifest_size": i["size"], "manifests": manifests},
            sort_keys=True,
        )
    )


def cmd_unpack(a):
    """Applies an image's layers in order to a directory (whiteouts and opaque directories honoured)."""
    layout, desc = read_layout_top(a.image if ":" in os.path.basename(a.image) else a.image + ":latest")
    blob = lambda d: os.path.join(layout, "blobs", "sha256", d.split(":", 1)[1])  # noqa: E731
    with open(blob(desc["digest"]), "rb") as f:
        manifest = json.load(f)
    if desc["mediaType"] == MT_INDEX:
        chosen = [m for m in manifest["manifests"] if m["platform"]["architecture"] == a.arch]
        if not chosen:
            raise SystemExit(f"mkimage: no {a.arch} image in {a.image}")
        with open(blob(chosen[0]["digest"]), "rb") as f:
            manifest = json.load(f)
    os.makedirs(a.dest, exist_ok=True)
    dest = os.path.realpath(a.dest)

    def remove(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)

    for layer in manifest["layers"]:
        with tarfile.open(blob(layer["digest"]), "r:*") as tf:
            members = []
            for m in tf.getmembers():
                name = os.path.normpath(m.name).lstrip("/")
                if name.startswith(".."):
                    raise SystemExit(f"mkimage: layer entry {m.name} leaves the rootfs")
                parent, base = os.path.split(name)
                if base == ".wh..wh..opq":
                    target = os.path.join(dest, parent)
                    for child in os.listdir(target) if os.path.isdir(target) else []:
                        remove(os.path.join(target, child))
                elif base.startswith(".wh."):
                    remove(os.path.join(dest, parent, base[4:]))
                else:
                    target = os.path.join(dest, name)
                    if os.path.lexists(target) and not (m.isdir() and os.path.isdir(target)):
                        remove(target)
                    members.append(m)
            # Layers hold absolute symlinks (/var/log/nginx/access.log -> /dev/stdout): no extraction filter.
            trusted = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
            tf.extractall(dest, members=members, numeric_owner=True, **trusted)
    print(dest)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pi = sub.add_parser("image")
    pi.add_argument("--out", required=True)
    pi.add_argument("--ref", required=True)
    pi.add_argument("--cache", required=True)
    pi.add_argument("--config", required=True, help="the image config's `config` object, as JSON")
    pi.add_argument("--arch", default="amd64")
    pi.add_argument("--variant", default="")
    pi.add_argument("--epoch", type=int, default=int(os.environ.get("SOURCE_DATE_EPOCH", DEFAULT_EPOCH)))
    pi.add_argument("--layer", action="append", required=True)
    pi.add_argument("--comment", action="append")
    px = sub.add_parser("index")
    px.add_argument("--out", required=True)
    px.add_argument("--ref", required=True)
    px.add_argument("--cache", required=True)
    px.add_argument("--image", action="append", required=True, help="LAYOUT:REF of an image to list")
    pu = sub.add_parser("unpack", help="apply an image's layers to a directory (for checking images)")
    pu.add_argument("image", help="LAYOUT[:REF] (REF defaults to latest)")
    pu.add_argument("dest")
    pu.add_argument("--arch", default="amd64", help="the platform to pick from an index")
    a = p.parse_args()
    {"image": cmd_image, "index": cmd_index, "unpack": cmd_unpack}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
