#!/usr/bin/env bash
# Checks the deployment files without a cluster or a container engine (CI runs it from .ci/run):
# - every YAML file under deploy/ parses, every JSON file (Grafana dashboards) parses;
# - Kubernetes objects, for the base (the files in kubernetes/) and each overlay
#   (kubernetes/*/kustomization.yaml, built here from its resources and strategic-merge patches):
#   apiVersion, kind, metadata.name and the fields each kind requires, and that they fit together
#   (selectors of Services, PodDisruptionBudgets and NetworkPolicies match pods, probe and Service
#   ports name container ports, mounted volumes, claims and ConfigMaps exist, the grace period
#   outlasts the drain timeout, a StatefulSet has its headless Service), that the server's strategy
#   fits its store (RocksDB: 1 replica, Recreate; Redis: RollingUpdate, 2 or more, a PDB, a
#   password file on a mounted volume), and that ConfigMap copies of nginx/ and redis/ files match;
# - compose files: every service has an image, named volumes, networks and secrets are declared,
#   mounted files exist, depends_on names services, ports are published on 127.0.0.1 only; with
#   Redis: two replicas or more, Redis unpublished on an internal network with redis/redis.conf,
#   a balancer over every replica;
# - nginx/rwkv-openai*.conf (the OpenAI API's balancer): the same hash, proxy_buffering off,
#   timeouts above 60 s, no resending, `nginx -t` beside rwkv-grpc.conf;
# - nginx/rwkv-grpc.conf: the consistent hash on x-session-id, grpc_read/send timeouts above 60 s,
#   client_max_body_size above --max-request-bytes, no resending of sent calls, and `nginx -t`
#   (when nginx is installed) with the list resolve-upstreams.sh --once writes;
# - redis/redis.conf: appendonly yes, appendfsync always, noeviction, no password in the file;
# - prometheus.yml has scrape jobs (and passes `promtool check config` when promtool is installed);
# - Grafana provisioning files; the data source uids the dashboards use (data source variables'
#   defaults included) are provisioned; every rwkv_* metric a dashboard query names is one the
#   server registers (a string in ../server/metrics/*.cc), and with promtool the queries parse.
# Usage: deploy/validate.sh      (needs python3 with PyYAML: Debian package python3-yaml)
set -euo pipefail
cd "$(dirname "$0")"

python=""
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" > /dev/null && "$candidate" -c 'import yaml' 2> /dev/null; then
    python=$candidate
    break
  fi
done
[ -n "$python" ] || { echo "validate: needs python3 with PyYAML (apt-get install python3-yaml)" >&2; exit 1; }

"$python" - <<'EOF'
import glob, json, os, re, shutil, subprocess, sys, tempfile
import yaml

errors = []
def error(where, message):
    errors.append(f"{where}: {message}")

def get(obj, path, default=None):
    for key in path.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj

def load_yaml(path):
    try:
        with open(path) as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except yaml.YAMLError as e:
        error(path, f"YAML does not parse: {e}")
        return []

# ---- every file parses ---------------------------------------------------------------------
yaml_files = sorted(glob.glob("**/*.yaml", recursive=True) + glob.glob("**/*.yml", recursive=True))
docs = {path: load_yaml(path) for path in yaml_files}
dashboards = {}
for path in sorted(glob.glob("**/*.json", recursive=True)):
    try:
        with open(path) as f:
            dashboards[path] = json.load(f)
    except ValueError as e:
        error(path, f"JSON does not parse: {e}")

# ---- Kubernetes ----------------------------------------------------------------------------
# Checked per build: the base (every file directly in kubernetes/, as `kubectl apply -f` takes
# them) and each overlay (kubernetes/<dir>/kustomization.yaml), built here like kustomize does for
# what the files use: resources (files and directories) and strategic-merge patches.
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
KINDS = {"ConfigMap": "v1", "PersistentVolumeClaim": "v1", "Service": "v1", "Pod": "v1",
         "Secret": "v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1",
         "PodDisruptionBudget": "policy/v1", "NetworkPolicy": "networking.k8s.io/v1"}
# Files a ConfigMap carries verbatim: (ConfigMap, key) -> the file under deploy/ it must equal.
EMBEDDED = {("rwkv-redis", "redis.conf"): "redis/redis.conf",
            ("rwkv-balancer", "default.conf"): "nginx/rwkv-grpc.conf",
            ("rwkv-balancer", "tls.conf"): "nginx/rwkv-grpc-tls.conf",
            ("rwkv-balancer", "routes.conf"): "nginx/rwkv-grpc-routes.conf",
            ("rwkv-balancer", "resolve-upstreams.sh"): "nginx/resolve-upstreams.sh",
            ("rwkv-balancer", "openai.conf"): "nginx/rwkv-openai.conf",
            ("rwkv-balancer", "openai-tls.conf"): "nginx/rwkv-openai-tls.conf",
            ("rwkv-balancer", "openai-routes.conf"): "nginx/rwkv-openai-routes.conf"}

def merge(base, patch):
    """A strategic merge patch as kustomize applies it to what these files use: maps merge, a
    null deletes a key, lists of named items merge by name, other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if key.startswith("$"):
                continue
            if value is None:
                out.pop(key, None)
            else:
                out[key] = merge(out[key], value) if key in out else value
        return out
    named = lambda items: all(isinstance(x, dict) and "name" in x for x in items)
    if isinstance(base, list) and isinstance(patch, list) and named(base) and named(patch):
        out = list(base)
        for item in patch:
            at = [i for i, x in enumerate(out) if x["name"] == item["name"]]
            if at:
                out[at[0]] = merge(out[at[0]], item)
            else:
                out.append(item)
        return out
    return patch

def kustomize(directory):
    """The objects `kubectl apply -k directory` would apply: [(where, doc)]."""
    path = os.path.join(directory, "kustomization.yaml")
    kustomization = (docs.get(path) or [{}])[0]
    built, used = [], {path}
    for resource in kustomization.get("resources") or []:
        target = os.path.normpath(os.path.join(directory, resource))
        if os.path.isdir(target):
            if not os.path.exists(os.path.join(target, "kustomization.yaml")):
                error(path, f"resource {resource} is a directory without a kustomization.yaml")
            else:
                built += kustomize(target)[0]
        elif target in docs:
            used.add(target)
            built += [(target, doc) for doc in docs[target]]
        else:
            error(path, f"resource {resource} does not exist")
    patches = [p.get("path") for p in kustomization.get("patches") or []]
    for patch_path in patches + list(kustomization.get("patchesStrategicMerge") or []):
        target = os.path.normpath(os.path.join(directory, str(patch_path)))
        used.add(target)
        if target not in docs:
            error(path, f"patch {patch_path} does not exist")
            continue
        for patch in docs[target]:
            key = (patch.get("kind"), get(patch, "metadata.name"))
            at = [i for i, (_, d) in enumerate(built) if (d.get("kind"), get(d, "metadata.name")) == key]
            if not at:
                error(target, f"patches {key[0]}/{key[1]}, which the build does not have")
            elif patch.get("$patch") == "delete":
                del built[at[0]]
            else:
                built[at[0]] = (f"{built[at[0]][0]} + {target}", merge(built[at[0]][1], patch))
    return built, used

QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
def seconds(duration):
    match = re.fullmatch(r"([0-9.]+)(ms|s|m|h)", str(duration))
    if not match:
        return None
    return float(match[1]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match[2]]

def check_kubernetes(build, objects):
    for where, doc in objects:
        for field in ("apiVersion", "kind"):
            if not isinstance(doc.get(field), str):
                error(where, f"an object without {field}")
        name = get(doc, "metadata.name")
        if not isinstance(name, str) or not DNS1123.match(name) or len(name) > 63:
            error(where, "metadata.name missing or not a DNS-1123 label")
        if doc.get("kind") not in KINDS:
            error(where, f"unexpected kind {doc.get('kind')}")
        elif doc.get("apiVersion") != KINDS[doc["kind"]]:
            error(where, f"apiVersion should be {KINDS[doc['kind']]}")
    objects = [(f"{build}: {w} {d.get('kind')}/{get(d, 'metadata.name')}", d) for w, d in objects]
    of_kind = lambda kind: [(w, d) for w, d in objects if d.get("kind") == kind]
    names = {}
    for where, doc in objects:
        key = (doc.get("kind"), get(doc, "metadata.name"))
        if key in names:
            error(where, f"{key[0]}/{key[1]} is defined twice")
        names[key] = doc
    configmaps = {d["metadata"]["name"]: d for _, d in of_kind("ConfigMap")}
    claims = {d["metadata"]["name"] for _, d in of_kind("PersistentVolumeClaim")}

    for where, cm in of_kind("ConfigMap"):
        for key, value in (cm.get("data") or {}).items():
            if not isinstance(value, str):
                error(where, f"data.{key} must be a string (quote it)")
            source = EMBEDDED.get((cm["metadata"]["name"], key))
            if source is not None and isinstance(value, str):
                with open(source) as f:
                    if f.read() != value:
                        error(where, f"data.{key} differs from deploy/{source}: copy the file in")

    for where, pvc in of_kind("PersistentVolumeClaim"):
        check_claim(where, pvc.get("spec") or {})

    def check_pod_spec(where, spec, extra_claims=()):
        containers = spec.get("containers") or []
        if not containers:
            error(where, "no containers")
        volumes = {v.get("name"): v for v in spec.get("volumes") or []}
        for volume in volumes.values():
            claim = get(volume, "persistentVolumeClaim.claimName")
            if "persistentVolumeClaim" in volume and claim not in claims:
                error(where, f"volume {volume.get('name')} uses claim {claim}, defined nowhere")
            ref = get(volume, "configMap.name")
            if ref is not None and ref not in configmaps:
                error(where, f"volume {volume.get('name')} uses ConfigMap {ref}, defined nowhere")
        env = {}
        for c in containers:
            cwhere = f"{where} container {c.get('name')}"
            if not c.get("name") or not c.get("image"):
                error(cwhere, "containers need a name and an image")
            ports = {}
            for port in c.get("ports") or []:
                if not isinstance(port.get("containerPort"), int):
                    error(cwhere, "containerPort must be an integer")
                if port.get("name"):
                    ports[port["name"]] = port.get("containerPort")
            for source in c.get("envFrom") or []:
                ref = get(source, "configMapRef.name")
                if ref is not None:
                    if ref not in configmaps:
                        error(cwhere, f"envFrom names ConfigMap {ref}, defined nowhere")
                    else:
                        env.update(configmaps[ref].get("data") or {})
            for variable in c.get("env") or []:
                if "value" in variable:
                    env[variable.get("name")] = variable["value"]
            mounts = []
            for mount in c.get("volumeMounts") or []:
                if mount.get("name") not in volumes and mount.get("name") not in extra_claims:
                    error(cwhere, f"volumeMount {mount.get('name')} has no volume")
                if not str(mount.get("mountPath", "")).startswith("/"):
                    error(cwhere, f"volumeMount {mount.get('name')} needs an absolute mountPath")
                mounts.append(str(mount.get("mountPath", "")))
            password_file = env.get("RWKV_STATE_STORE_PASSWORD_FILE")
            if password_file and not any(password_file.startswith(m.rstrip("/") + "/") for m in mounts):
                error(cwhere, f"RWKV_STATE_STORE_PASSWORD_FILE {password_file} is on no mounted volume")
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = c.get(kind)
                if probe is None:
                    continue
                handlers = [h for h in ("httpGet", "tcpSocket", "grpc", "exec") if h in probe]
                if len(handlers) != 1:
                    error(cwhere, f"{kind} needs exactly one handler")
                    continue
                port = probe[handlers[0]].get("port")
                if handlers[0] != "exec" and not (isinstance(port, int) or port in ports):
                    error(cwhere, f"{kind} port {port} is not a container port")
            for bound in ("requests", "limits"):
                for resource, quantity in (get(c, f"resources.{bound}") or {}).items():
                    if not QUANTITY.match(str(quantity)):
                        error(cwhere, f"resources.{bound}.{resource}: bad quantity {quantity}")
            c["_ports"] = ports
        return containers, env

    workload_pods = []  # (labels, containers)
    for kind in ("Deployment", "StatefulSet"):
        for where, workload in of_kind(kind):
            match_labels = get(workload, "spec.selector.matchLabels") or {}
            labels = get(workload, "spec.template.metadata.labels") or {}
            if not match_labels:
                error(where, "spec.selector.matchLabels missing")
            if any(labels.get(k) != v for k, v in match_labels.items()):
                error(where, "spec.template.metadata.labels do not match spec.selector.matchLabels")
            spec = get(workload, "spec.template.spec") or {}
            templates = [get(t, "metadata.name") for t in get(workload, "spec.volumeClaimTemplates") or []]
            for template in get(workload, "spec.volumeClaimTemplates") or []:
                check_claim(f"{where} volumeClaimTemplate", template.get("spec") or {})
            containers, env = check_pod_spec(where, spec, templates)
            workload_pods.append((labels, containers))
            for c in containers:
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in c:
                        error(where, f"container {c.get('name')} has no {probe}")
            if kind == "StatefulSet":
                service = names.get(("Service", get(workload, "spec.serviceName")))
                if service is None or get(service, "spec.clusterIP") != "None":
                    error(where, "spec.serviceName must name a headless Service (clusterIP: None)")
                continue
            if any(c.get("name") == "rwkv-server" for c in containers):
                check_server_workload(where, workload, env, objects)
            drain = seconds(env.get("RWKV_DRAIN_TIMEOUT", "30s"))
            pre_stop = 0
            for c in containers:
                command = get(c, "lifecycle.preStop.exec.command") or []
                if len(command) == 2 and command[0] == "sleep":
                    pre_stop += float(command[1])
            grace = spec.get("terminationGracePeriodSeconds", 30)
            if drain is not None and grace <= drain + pre_stop:
                error(where, f"terminationGracePeriodSeconds {grace} must exceed the drain timeout "
                             f"{drain:g} s + preStop {pre_stop:g} s")

    def selects(selector):
        return [cs for labels, cs in workload_pods
                if selector and all(labels.get(k) == v for k, v in selector.items())]

    for where, pod in of_kind("Pod"):
        check_pod_spec(where, pod.get("spec") or {})

    for where, svc in of_kind("Service"):
        ports = get(svc, "spec.ports") or []
        if not ports:
            error(where, "spec.ports missing")
        targets = selects(get(svc, "spec.selector") or {})
        if not targets:
            error(where, "spec.selector matches no Deployment's or StatefulSet's pods")
        for port in ports:
            if not isinstance(port.get("port"), int):
                error(where, "every port needs an integer port")
            target = port.get("targetPort", port.get("port"))
            if isinstance(target, str) and not any(target in c["_ports"] for cs in targets for c in cs):
                error(where, f"targetPort {target} names no container port")

    for where, pdb in of_kind("PodDisruptionBudget"):
        if not selects(get(pdb, "spec.selector.matchLabels") or {}):
            error(where, "spec.selector matches no Deployment's or StatefulSet's pods")
        if ("minAvailable" in (pdb.get("spec") or {})) == ("maxUnavailable" in (pdb.get("spec") or {})):
            error(where, "set exactly one of minAvailable and maxUnavailable")
    for where, policy in of_kind("NetworkPolicy"):
        if not selects(get(policy, "spec.podSelector.matchLabels") or {}):
            error(where, "spec.podSelector matches no Deployment's or StatefulSet's pods")
        for rule in get(policy, "spec.ingress") or []:
            for peer in rule.get("from") or []:
                # A peer in other namespaces (Prometheus) is not among these manifests' pods.
                if "namespaceSelector" in peer:
                    continue
                if not selects(get(peer, "podSelector.matchLabels") or {}):
                    error(where, "an ingress podSelector matches no Deployment's or StatefulSet's pods")

    if not of_kind("Deployment"):
        error(f"kubernetes/ ({build})", "no Deployment")

def check_claim(where, spec):
    modes = spec.get("accessModes") or []
    if not modes or not set(modes) <= {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"}:
        error(where, "spec.accessModes missing or invalid")
    if not get(spec, "resources.requests.storage"):
        error(where, "spec.resources.requests.storage missing")

def check_server_workload(where, deployment, env, objects):
    """The strategy fits the store: RocksDB has one writer (one replica, Recreate, so the old pod
    lets go of the volume first); a shared Redis store takes several replicas, replaced one at a
    time (RollingUpdate), with a PodDisruptionBudget."""
    store = env.get("RWKV_STATE_STORE", "")
    strategy = get(deployment, "spec.strategy.type", "RollingUpdate")
    replicas = get(deployment, "spec.replicas", 1)
    if store.startswith("redis://"):
        if strategy != "RollingUpdate" or replicas < 2:
            error(where, "with a Redis store, use a RollingUpdate strategy and 2 replicas or more")
        if not env.get("RWKV_STATE_STORE_PASSWORD_FILE"):
            error(where, "with a Redis store, set RWKV_STATE_STORE_PASSWORD_FILE (a mounted Secret)")
        labels = get(deployment, "spec.template.metadata.labels") or {}
        if not any(d.get("kind") == "PodDisruptionBudget" and
                   all(labels.get(k) == v for k, v in (get(d, "spec.selector.matchLabels") or {}).items())
                   for _, d in objects):
            error(where, "several replicas need a PodDisruptionBudget")
    elif not store.startswith("memory:"):
        if strategy != "Recreate" or replicas != 1:
            error(where, "with the RocksDB store (one writer), use 1 replica and the Recreate strategy")
    check_server_security(where, deployment, env, objects)

def check_server_security(where, deployment, env, objects):
    """Shipped authenticated: a tokens file from a mounted Secret, and a NetworkPolicy that admits
    the metrics port only from Prometheus and gRPC only from the balancer where there is one."""
    tokens = env.get("RWKV_AUTH_TOKENS_FILE", "")
    spec = get(deployment, "spec.template.spec") or {}
    secrets = {v.get("name") for v in spec.get("volumes") or [] if "secret" in v}
    mounts = [m for c in spec.get("containers") or [] for m in c.get("volumeMounts") or []
              if m.get("name") in secrets]
    if not tokens or not any(tokens.startswith(m.get("mountPath", "") + "/") for m in mounts):
        error(where, "set RWKV_AUTH_TOKENS_FILE to a file of a mounted Secret (ship authenticated)")
    labels = get(deployment, "spec.template.metadata.labels") or {}
    policies = [d for _, d in objects if d.get("kind") == "NetworkPolicy" and
                all(labels.get(k) == v for k, v in (get(d, "spec.podSelector.matchLabels") or {}).items())]
    if not policies:
        error(where, "no NetworkPolicy selects the server pods")
    balancer = any(get(d, "metadata.labels", {}).get("app.kubernetes.io/component") == "balancer"
                   for _, d in objects if d.get("kind") == "Deployment")
    for policy in policies:
        for rule in get(policy, "spec.ingress") or []:
            ports = {p.get("port") for p in rule.get("ports") or []}
            peers = [get(peer, "podSelector.matchLabels") or {} for peer in rule.get("from") or []]
            names = {p.get("app.kubernetes.io/name") for p in peers}
            components = {p.get("app.kubernetes.io/component") for p in peers}
            if 9464 in ports and (not peers or names != {"prometheus"}):
                error(where, "the metrics port (9464) must be admitted only from Prometheus")
            if 50051 in ports and balancer and (not peers or components != {"balancer"}):
                error(where, "with a balancer, gRPC (50051) must be admitted only from it")

kubernetes_files = [p for p in yaml_files if p.startswith("kubernetes/")]
base = []
for path in kubernetes_files:
    if os.path.dirname(path) != "kubernetes":
        continue
    for doc in docs[path]:
        if doc.get("kind") == "Kustomization":
            for resource in doc.get("resources", []):
                if not os.path.exists(os.path.join("kubernetes", resource)):
                    error(path, f"resource {resource} does not exist")
            continue
        base.append((path, doc))
check_kubernetes("base", base)
builds = 1
for path in kubernetes_files:
    directory = os.path.dirname(path)
    if directory == "kubernetes" or os.path.basename(path) != "kustomization.yaml":
        continue
    built, used = kustomize(directory)
    check_kubernetes(directory, built)
    builds += 1
    for stray in sorted(p for p in kubernetes_files if os.path.dirname(p) == directory and p not in used):
        error(stray, f"neither a resource nor a patch of {path}")
objects = base  # counted in the summary

# ---- compose -------------------------------------------------------------------------------
# compose.yaml (replicas on Redis behind the balancer) and compose.single.yaml (one, RocksDB).
compose_files = sorted(p for p in docs if re.fullmatch(r"compose(\.[a-z]+)?\.yaml", p))
if "compose.yaml" not in compose_files:
    error("compose.yaml", "missing")
for path in compose_files:
    for doc in docs[path]:
        services = doc.get("services") or {}
        declared = set((doc.get("volumes") or {}).keys())
        networks = set((doc.get("networks") or {}).keys())
        secrets = doc.get("secrets") or {}
        if not services:
            error(path, "no services")
        for name, service in services.items():
            where = f"{path} service {name}"
            if not service.get("image"):
                error(where, "no image")
            for volume in service.get("volumes") or []:
                source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
                if source.startswith((".", "/")):
                    # ./secrets is the operator's (the compose file's header says what goes in).
                    if ("$" not in source and not source.startswith("./secrets/")
                            and not os.path.exists(source)):
                        error(where, f"mounts {source}, which does not exist")
                elif "$" not in source and source not in declared:
                    error(where, f"volume {source} is not declared under volumes:")
            for dependency in service.get("depends_on") or []:
                if dependency not in services:
                    error(where, f"depends_on {dependency}: no such service")
            for port in service.get("ports") or []:
                if not isinstance(port, str):
                    error(where, f"write port {port!r} as a quoted string")
                elif not port.startswith("127.0.0.1:"):
                    error(where, f"port {port} is published beyond loopback (write 127.0.0.1:...)")
            for network in service.get("networks") or []:
                if network not in networks:
                    error(where, f"network {network} is not declared under networks:")
            for secret in service.get("secrets") or []:
                source = secret if isinstance(secret, str) else secret.get("source")
                if source not in secrets:
                    error(where, f"secret {source} is not declared under secrets:")
            build = service.get("build")
            if isinstance(build, dict):
                context = build.get("context", ".")
                if not os.path.exists(os.path.join(context, build.get("dockerfile", "Dockerfile"))):
                    error(where, "build.dockerfile does not exist")
        # Replicas on Redis: two or more, Redis with this directory's redis.conf and no published
        # port, on an internal network; the balancer runs nginx/rwkv-grpc.conf over all replicas.
        environment = lambda s: s.get("environment") or {}
        replicas = [n for n, s in services.items()
                    if str(environment(s).get("RWKV_STATE_STORE", "")).startswith("redis://")]
        if not replicas:
            continue
        if len(replicas) < 2:
            error(path, "a Redis store is for several replicas: run two or more")
        redis = services.get("redis") or {}
        if not any(str(v).startswith("./redis/redis.conf:") for v in redis.get("volumes") or []):
            error(path, "the redis service must mount ./redis/redis.conf")
        if redis.get("ports"):
            error(path, "the redis service must not publish a port")
        if not any((doc.get("networks") or {}).get(n, {}) and doc["networks"][n].get("internal")
                   for n in redis.get("networks") or []):
            error(path, "the redis service must be on an internal network only")
        for name in replicas:
            if not environment(services[name]).get("RWKV_STATE_STORE_PASSWORD_FILE"):
                error(f"{path} service {name}", "set RWKV_STATE_STORE_PASSWORD_FILE (a secret)")
        balancers = [n for n, s in services.items()
                     if any(str(v).startswith("./nginx/rwkv-grpc.conf:") for v in s.get("volumes") or [])]
        if not balancers:
            error(path, "no service runs the balancer (mounts ./nginx/rwkv-grpc.conf)")
        for name in balancers:
            upstreams = str(environment(services[name]).get("RWKV_UPSTREAMS", "")).split()
            if sorted(u.rsplit(":", 1)[0] for u in upstreams) != sorted(replicas):
                error(f"{path} service {name}", f"RWKV_UPSTREAMS must name every replica: {replicas}")

# ---- nginx (the gRPC balancer) and Redis ---------------------------------------------------
def nginx_directives(text):
    """(name, arguments) of every directive, comments removed."""
    text = re.sub(r"#[^\n]*", "", text)
    return [(m[1], m[2].split()) for m in re.finditer(r"(?m)^\s*([a-z_0-9]+)\s+([^;{]*)[;{]", text)]

def nginx_seconds(value):
    match = re.fullmatch(r"([0-9]+)(ms|s|m|h|d)?", value)
    if not match:
        return None
    return int(match[1]) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}[match[2]]

def nginx_test(owner, copies, tls_file, includes, extra_env=None, must_write=None, context=""):
    """nginx -t on `includes` (the files `copies`, and `tls_file` pointed at a throwaway
    self-signed certificate in place of the Secret's), with the upstream lists that
    resolve-upstreams.sh --once writes for localhost (`extra_env` values may use {tmp})."""
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        return
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory() as tmp:
        for path in copies:
            shutil.copy(path, tmp)
        made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                               "-keyout", f"{tmp}/tls.key", "-out", f"{tmp}/tls.crt",
                               "-days", "1", "-subj", "/CN=localhost"],
                              capture_output=True, text=True)
        if made.returncode != 0:
            error(tls_file, "openssl could not make a test certificate:\n" + made.stderr)
        with open(tls_file) as f:
            tls_text = f.read().replace("/etc/nginx/tls/", f"{tmp}/")
        with open(os.path.join(tmp, os.path.basename(tls_file)), "w") as f:
            f.write(tls_text)
        temp_paths = "".join(f"  {t}_temp_path {tmp}/{t};\n"
                             for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        includes_text = "".join(f"  include {name};\n" for name in includes)
        with open(f"{tmp}/nginx.conf", "w") as f:
            f.write(f"error_log {tmp}/error.log;\nevents {{}}\nhttp {{\n{temp_paths}"
                    f"{includes_text}}}\n")
        env = dict(os.environ, RWKV_UPSTREAMS="localhost:50051 localhost:50052",
                   RWKV_UPSTREAMS_FILE=f"{tmp}/rwkv-upstreams.conf",
                   **{key: value.format(tmp=tmp) for key, value in (extra_env or {}).items()})
        once = subprocess.run(["sh", "nginx/resolve-upstreams.sh", "--once"], env=env,
                              capture_output=True, text=True, timeout=60)
        if once.returncode != 0 or (must_write and not os.path.exists(f"{tmp}/{must_write}")):
            error("nginx/resolve-upstreams.sh",
                  f"--once failed{f' to write {must_write}' if must_write else ''}:\n" +
                  once.stdout + once.stderr)
        test = subprocess.run([nginx, "-t", "-q", "-p", tmp, "-c", f"{tmp}/nginx.conf",
                               "-g", f"pid {tmp}/nginx.pid;"], capture_output=True, text=True)
        if test.returncode != 0:
            error(owner, f"nginx -t rejects it{context}:\n" + test.stdout + test.stderr)


NGINX = "nginx/rwkv-grpc.conf"
NGINX_ROUTES = "nginx/rwkv-grpc-routes.conf"
NGINX_TLS = "nginx/rwkv-grpc-tls.conf"
if all(os.path.exists(path) for path in (NGINX, NGINX_ROUTES, NGINX_TLS)):
    # The balancer is the three files together: the upstream and the private listener, the routes
    # both listeners include, and the TLS listener for clients.
    nginx_text = ""
    for path in (NGINX, NGINX_ROUTES, NGINX_TLS):
        with open(path) as f:
            nginx_text += f.read() + "\n"
    directives = nginx_directives(nginx_text)
    values = {}
    for name, args in directives:
        values.setdefault(name, []).append(args)
    hashes = values.get("hash") or []
    if len(hashes) != 1 or len(hashes[0]) != 2 or hashes[0][1] != "consistent":
        error(NGINX, "the upstream needs one `hash <key> consistent;`")
    else:
        key = hashes[0][0]
        routed = key == "$http_x_session_id" or any(
            args[:2] == ["$http_x_session_id", key] for args in values.get("map") or [])
        if not routed:
            error(NGINX, f"the hash key {key} is not (mapped from) $http_x_session_id")
    # nginx's 60 s default would end quiet streams (a long queue wait or prefill).
    for name in ("grpc_read_timeout", "grpc_send_timeout"):
        found = values.get(name) or []
        if not found or (nginx_seconds(found[0][0]) or 0) <= 60:
            error(NGINX, f"{name} must be set above 60 s (the longest quiet stream)")
    body = (values.get("client_max_body_size") or [["1m"]])[0][0]
    match = re.fullmatch(r"([0-9]+)([kKmMgG]?)", body)
    size = int(match[1]) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match[2].lower()] if match else 0
    if size != 0 and size <= 8 << 20:
        error(NGINX, "client_max_body_size must exceed rwkv-server's --max-request-bytes (8 MiB)")
    if any("non_idempotent" in args for args in values.get("grpc_next_upstream") or []):
        error(NGINX, "grpc_next_upstream must not resend sent calls (non_idempotent)")
    if ["8080", "http2"] not in values.get("listen", []):
        error(NGINX, "needs `listen 8080 http2;` (the containers and the test use it)")
    if ["8443", "ssl", "http2"] not in values.get("listen", []):
        error(NGINX_TLS, "needs `listen 8443 ssl http2;` (the clients' TLS listener)")
    for name, want in (("ssl_certificate", "/etc/nginx/tls/tls.crt"),
                       ("ssl_certificate_key", "/etc/nginx/tls/tls.key")):
        if [want] not in values.get(name, []):
            error(NGINX_TLS, f"{name} must be {want} (where the deployments mount the Secret)")
    if (values.get("include") or []).count(["rwkv-grpc-routes.conf"]) != 2:
        error(NGINX, "both listeners must `include rwkv-grpc-routes.conf;` (one set of routes)")
    if ["rwkv-upstreams.conf"] not in values.get("include", []):
        error(NGINX, "the upstream must `include rwkv-upstreams.conf;` (resolve-upstreams.sh writes it)")
    if not any(args and args[0].startswith("grpc://") for args in values.get("grpc_pass") or []):
        error(NGINX, "needs grpc_pass grpc://... (HTTP/2 to the replicas)")
    # nginx -t on it, with the upstream list resolve-upstreams.sh writes (here: localhost).
    nginx_test(NGINX, [NGINX, NGINX_ROUTES], NGINX_TLS, ["rwkv-grpc.conf", "rwkv-grpc-tls.conf"])
else:
    error(NGINX, f"missing (with {NGINX_ROUTES} and {NGINX_TLS})")

# The OpenAI-compatible API's balancer: its own upstream and listeners beside the gRPC ones.
OPENAI = "nginx/rwkv-openai.conf"
OPENAI_ROUTES = "nginx/rwkv-openai-routes.conf"
OPENAI_TLS = "nginx/rwkv-openai-tls.conf"
if all(os.path.exists(path) for path in (OPENAI, OPENAI_ROUTES, OPENAI_TLS)):
    openai_text = ""
    for path in (OPENAI, OPENAI_ROUTES, OPENAI_TLS):
        with open(path) as f:
            openai_text += f.read() + "\n"
    values = {}
    for name, args in nginx_directives(openai_text):
        values.setdefault(name, []).append(args)
    if values.get("hash") != [["$rwkv_route_key", "consistent"]]:
        error(OPENAI, "the upstream needs `hash $rwkv_route_key consistent;` (rwkv-grpc.conf's map)")
    if ["off"] not in values.get("proxy_buffering", []):
        error(OPENAI_ROUTES, "needs `proxy_buffering off;` (server-sent events pass at once)")
    for name in ("proxy_read_timeout", "proxy_send_timeout"):
        found = values.get(name) or []
        if not found or (nginx_seconds(found[0][0]) or 0) <= 60:
            error(OPENAI_ROUTES, f"{name} must be set above 60 s (the longest quiet stream)")
    if any("non_idempotent" in args for args in values.get("proxy_next_upstream") or []):
        error(OPENAI_ROUTES, "proxy_next_upstream must not resend sent requests (non_idempotent)")
    if ["16m"] not in values.get("client_max_body_size", []):
        error(OPENAI_ROUTES, "client_max_body_size must be 16m (above --max-request-bytes)")
    if ["8081"] not in values.get("listen", []) or ["8444", "ssl"] not in values.get("listen", []):
        error(OPENAI, "needs `listen 8081;` (private, tests) and `listen 8444 ssl;` (clients)")
    if (values.get("include") or []).count(["rwkv-openai-routes.conf"]) != 2:
        error(OPENAI, "both listeners must `include rwkv-openai-routes.conf;`")
    if ["rwkv-openai-upstreams.conf"] not in values.get("include", []):
        error(OPENAI, "the upstream must `include rwkv-openai-upstreams.conf;`")
    nginx_test(OPENAI, [NGINX, NGINX_ROUTES, OPENAI, OPENAI_ROUTES], OPENAI_TLS,
               ["rwkv-grpc.conf", "rwkv-openai.conf", "rwkv-openai-tls.conf"],
               {"RWKV_OPENAI_PORT": "8080",
                "RWKV_OPENAI_UPSTREAMS_FILE": "{tmp}/rwkv-openai-upstreams.conf"},
               "rwkv-openai-upstreams.conf", " (with rwkv-grpc.conf)")
else:
    error(OPENAI, f"missing (with {OPENAI_ROUTES} and {OPENAI_TLS})")

REDIS = "redis/redis.conf"
if os.path.exists(REDIS):
    with open(REDIS) as f:
        settings = {}
        for line in f:
            parts = line.split(None, 1)
            if parts and not parts[0].startswith("#"):
                settings[parts[0].lower()] = parts[1].strip() if len(parts) > 1 else ""
    for key, want in (("appendonly", "yes"), ("appendfsync", "always"),
                      ("maxmemory-policy", "noeviction")):
        if settings.get(key) != want:
            error(REDIS, f"{key} must be {want} (acknowledged turns survive; no session is evicted)")
    if "requirepass" in settings:
        error(REDIS, "no password in the file: it comes from the secret at start")
else:
    error(REDIS, "missing")

# ---- Prometheus ----------------------------------------------------------------------------
for doc in docs.get("prometheus/prometheus.yml", []):
    jobs = doc.get("scrape_configs") or []
    if not jobs or not all(job.get("job_name") for job in jobs):
        error("prometheus/prometheus.yml", "scrape_configs must list jobs with job_name")

# ---- Grafana -------------------------------------------------------------------------------
datasource_uids = set()
for path, file_docs in docs.items():
    if not path.startswith("grafana/provisioning/"):
        continue
    for doc in file_docs:
        if doc.get("apiVersion") != 1:
            error(path, "Grafana provisioning files need apiVersion: 1")
        for ds in doc.get("datasources") or []:
            if not ds.get("name") or not ds.get("type"):
                error(path, "data sources need a name and a type")
            datasource_uids.add(ds.get("uid"))
        for provider in doc.get("providers") or []:
            if not get(provider, "options.path"):
                error(path, "dashboard providers need options.path")

def datasource_refs(node):
    if isinstance(node, dict):
        ds = node.get("datasource")
        if isinstance(ds, dict) and ds.get("uid"):
            yield ds["uid"]
        if node.get("type") == "datasource" and get(node, "current.value"):
            yield node["current"]["value"]  # a data source variable's default
        for value in node.values():
            yield from datasource_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from datasource_refs(value)

def queries(node, key):
    """The strings under `key` in a dashboard: "expr" (PromQL of panels), "definition" (query
    variables, which may use Grafana's label_values())."""
    if isinstance(node, dict):
        if isinstance(node.get(key), str) and node[key]:
            yield node[key]
        for value in node.values():
            yield from queries(value, key)
    elif isinstance(node, list):
        for value in node:
            yield from queries(value, key)

# The metric names the server registers: the string literals naming rwkv_* in its metrics code.
registered = set()
for path in glob.glob("../server/metrics/*.cc"):
    with open(path) as f:
        registered.update(re.findall(r'"(rwkv_[a-z0-9_]+)"', f.read()))
if not registered:
    error("../server/metrics/", "no metric names found (run from the repository's deploy/)")
promql = []  # the panels' queries, Grafana's variables replaced by sample values

for path, dashboard in dashboards.items():
    if not path.startswith("grafana/"):
        continue
    if not isinstance(dashboard, dict) or not dashboard.get("title") or "panels" not in dashboard:
        error(path, "a dashboard needs a title and panels")
        continue
    for uid in set(datasource_refs(dashboard)):
        if uid.startswith("${") or uid in ("-- Grafana --", "grafana"):
            continue  # a template variable, or Grafana's built-in source
        if uid not in datasource_uids:
            error(path, f"uses data source uid {uid!r}, which is not provisioned")
    for query in list(queries(dashboard, "expr")) + list(queries(dashboard, "definition")):
        for name in set(re.findall(r"\brwkv_[a-z0-9_]+", query)):
            family = re.sub(r"_(bucket|sum|count)$", "", name)  # a histogram's series
            if name not in registered and family not in registered:
                error(path, f"queries {name}, which server/metrics/*.cc does not register")
    for expr in queries(dashboard, "expr"):
        expr = re.sub(r"\$__(rate_interval|interval|range)\b", "1m", expr)
        promql.append(re.sub(r"\$\{?\w+\}?", ".*", expr))  # other variables: label matchers
if not any(p.startswith("grafana/") for p in dashboards):
    error("grafana/", "no dashboard JSON (compose.yaml provisions grafana/rwkv-serve.json)")

# With promtool, every query must parse: checked as the expressions of a rule file.
if promql and shutil.which("promtool"):
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as rules:
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": [
            {"record": f"dashboard:query{i}", "expr": expr} for i, expr in enumerate(promql)]}]},
            rules)
        rules.flush()
        check = subprocess.run(["promtool", "check", "rules", rules.name],
                               capture_output=True, text=True)
        if check.returncode != 0:
            error("grafana/", "promtool rejects a dashboard query:\n" + check.stdout + check.stderr)

if errors:
    print("\n".join("validate: " + e for e in errors), file=sys.stderr)
    sys.exit(1)
print(f"validate: {len(yaml_files)} YAML files, {len(dashboards)} JSON files, {builds} Kubernetes builds "
      f"({len(promql)} dashboard queries), {len(objects)} Kubernetes objects: OK")
EOF

if command -v promtool > /dev/null; then
  promtool check config prometheus/prometheus.yml > /dev/null
  echo "validate: promtool check config prometheus/prometheus.yml: OK"
fi
