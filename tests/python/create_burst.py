"""Creates ConfigMaps from many threads until the server goes away, appending the name of every create the
server acknowledged (HTTP 201) to the file given as argument, flushed line by line."""

import sys
import threading

from kubernetes import client, config


def worker(api, idx, out, lock, stop):
    i = 0
    while not stop.is_set():
        name = f"burst-{idx}-{i}"
        try:
            api.create_namespaced_config_map(
                "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"i": str(i)}))
        except Exception:
            stop.set()
            return
        with lock:
            out.write(name + "\n")
            out.flush()
        i += 1


def main():
    config.load_kube_config()
    cfg = client.Configuration.get_default_copy()
    cfg.retries = False
    api = client.CoreV1Api(client.ApiClient(cfg))
    lock, stop = threading.Lock(), threading.Event()
    with open(sys.argv[1], "a", buffering=1) as out:
        threads = [threading.Thread(target=worker, args=(api, n, out, lock, stop)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


if __name__ == "__main__":
    main()
