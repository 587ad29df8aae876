"""The official Python client (kubernetes 32.x) against skiff: create, list with a label selector, patch,
watch with resourceVersion resume, delete. Exits non-zero on the first mismatch."""

import sys

from kubernetes import client, config, watch


def pod(name, labels):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="busybox:1.36")]),
    )


def main():
    config.load_kube_config()
    v1 = client.CoreV1Api()
    ns = "default"

    created = v1.create_namespaced_pod(ns, pod("py-a", {"app": "py", "n": "a"}))
    assert created.metadata.uid, created
    assert created.spec.containers[0].image_pull_policy == "IfNotPresent"
    v1.create_namespaced_pod(ns, pod("py-b", {"app": "py", "n": "b"}))
    v1.create_namespaced_pod(ns, pod("other", {"app": "other"}))

    listed = v1.list_namespaced_pod(ns, label_selector="app=py")
    names = sorted(p.metadata.name for p in listed.items)
    assert names == ["py-a", "py-b"], names
    list_rv = listed.metadata.resource_version

    patched = v1.patch_namespaced_pod("py-a", ns, {"metadata": {"labels": {"patched": "yes"}}})
    assert patched.metadata.labels["patched"] == "yes", patched.metadata.labels
    assert int(patched.metadata.resource_version) > int(list_rv)

    # Watch from the list's resourceVersion: we see exactly what happened after it.
    w = watch.Watch()
    seen = []
    deleted = False
    for ev in w.stream(v1.list_namespaced_pod, ns, label_selector="app=py",
                       resource_version=list_rv, timeout_seconds=10):
        labels = ev["object"].metadata.labels or {}
        seen.append((ev["type"], ev["object"].metadata.name, labels.get("patched")))
        if not deleted and ("MODIFIED", "py-a", "yes") in seen:
            v1.delete_namespaced_pod("py-b", ns)
            deleted = True
        if any(e[0] == "DELETED" and e[1] == "py-b" for e in seen):
            w.stop()
    # Other writers (the scheduler marks pods unschedulable) may add MODIFIED events; ours must be there.
    assert ("MODIFIED", "py-a", "yes") in seen, seen
    assert any(e[0] == "DELETED" and e[1] == "py-b" for e in seen), seen

    # Resume from a later list's resourceVersion: only newer events arrive.
    resume_rv = v1.list_namespaced_pod(ns, label_selector="app=py").metadata.resource_version
    v1.patch_namespaced_pod("py-a", ns, {"metadata": {"labels": {"again": "1"}}})
    w = watch.Watch()
    for ev in w.stream(v1.list_namespaced_pod, ns, label_selector="app=py",
                       resource_version=resume_rv, timeout_seconds=10):
        assert ev["type"] == "MODIFIED" and ev["object"].metadata.name == "py-a", ev["type"]
        if ev["object"].metadata.labels.get("again") == "1":
            w.stop()

    status = v1.delete_namespaced_pod("py-a", ns)
    assert status.metadata.name == "py-a"
    v1.delete_namespaced_pod("other", ns)
    left = v1.list_namespaced_pod(ns).items
    assert left == [], [p.metadata.name for p in left]

    try:
        v1.read_namespaced_pod("py-a", ns)
        raise AssertionError("py-a still exists")
    except client.exceptions.ApiException as e:
        assert e.status == 404, e.status
    print("python client: ok")


if __name__ == "__main__":
    sys.exit(main())
