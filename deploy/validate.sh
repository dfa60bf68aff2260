#!/usr/bin/env bash
# Checks the deployment files without a cluster or a container engine (CI runs it from .ci/run):
# - every YAML file under deploy/ parses, every JSON file (Grafana dashboards) parses;
# - Kubernetes objects: apiVersion, kind, metadata.name and the fields each kind requires, and
#   that they fit together (selectors match labels, probe and Service ports name container ports,
#   mounted volumes, claims and ConfigMaps exist, the grace period outlasts the drain timeout);
# - compose.yaml: every service has an image, named volumes are declared, mounted files exist,
#   depends_on names services;
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
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
KINDS = {"ConfigMap": "v1", "PersistentVolumeClaim": "v1", "Service": "v1", "Pod": "v1",
         "Deployment": "apps/v1"}
objects = []  # (path, doc)
for path in yaml_files:
    if not path.startswith("kubernetes/"):
        continue
    for doc in docs[path]:
        if doc.get("kind") == "Kustomization":
            for resource in doc.get("resources", []):
                if not os.path.exists(os.path.join("kubernetes", resource)):
                    error(path, f"resource {resource} does not exist")
            continue
        for field in ("apiVersion", "kind"):
            if not isinstance(doc.get(field), str):
                error(path, f"an object without {field}")
        name = get(doc, "metadata.name")
        where = f"{path} {doc.get('kind')}/{name}"
        if not isinstance(name, str) or not DNS1123.match(name) or len(name) > 63:
            error(where, "metadata.name missing or not a DNS-1123 label")
        if doc.get("kind") not in KINDS:
            error(where, f"unexpected kind {doc.get('kind')}")
        elif doc.get("apiVersion") != KINDS[doc["kind"]]:
            error(where, f"apiVersion should be {KINDS[doc['kind']]}")
        objects.append((where, doc))

def of_kind(kind):
    return [(w, d) for w, d in objects if d.get("kind") == kind]

configmaps = {d["metadata"]["name"]: d for _, d in of_kind("ConfigMap")}
claims = {d["metadata"]["name"] for _, d in of_kind("PersistentVolumeClaim")}

for where, cm in of_kind("ConfigMap"):
    for key, value in (cm.get("data") or {}).items():
        if not isinstance(value, str):
            error(where, f"data.{key} must be a string (quote it)")

for where, pvc in of_kind("PersistentVolumeClaim"):
    modes = get(pvc, "spec.accessModes") or []
    if not modes or not set(modes) <= {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"}:
        error(where, "spec.accessModes missing or invalid")
    if not get(pvc, "spec.resources.requests.storage"):
        error(where, "spec.resources.requests.storage missing")

QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
def seconds(duration):
    match = re.fullmatch(r"([0-9.]+)(ms|s|m|h)", str(duration))
    if not match:
        return None
    return float(match[1]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match[2]]

def check_pod_spec(where, spec, pod_labels):
    containers = spec.get("containers") or []
    if not containers:
        error(where, "no containers")
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    for volume in volumes.values():
        claim = get(volume, "persistentVolumeClaim.claimName")
        if "persistentVolumeClaim" in volume and claim not in claims:
            error(where, f"volume {volume.get('name')} uses claim {claim}, defined nowhere")
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
        for mount in c.get("volumeMounts") or []:
            if mount.get("name") not in volumes:
                error(cwhere, f"volumeMount {mount.get('name')} has no volume")
            if not str(mount.get("mountPath", "")).startswith("/"):
                error(cwhere, f"volumeMount {mount.get('name')} needs an absolute mountPath")
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

deployment_pods = []  # (labels, containers)
for where, dep in of_kind("Deployment"):
    match_labels = get(dep, "spec.selector.matchLabels") or {}
    labels = get(dep, "spec.template.metadata.labels") or {}
    if not match_labels:
        error(where, "spec.selector.matchLabels missing")
    if any(labels.get(k) != v for k, v in match_labels.items()):
        error(where, "spec.template.metadata.labels do not match spec.selector.matchLabels")
    spec = get(dep, "spec.template.spec") or {}
    containers, env = check_pod_spec(where, spec, labels)
    deployment_pods.append((labels, containers))
    for c in containers:
        for kind in ("livenessProbe", "readinessProbe"):
            if kind not in c:
                error(where, f"container {c.get('name')} has no {kind}")
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

for where, pod in of_kind("Pod"):
    check_pod_spec(where, pod.get("spec") or {}, get(pod, "metadata.labels") or {})

for where, svc in of_kind("Service"):
    ports = get(svc, "spec.ports") or []
    if not ports:
        error(where, "spec.ports missing")
    selector = get(svc, "spec.selector") or {}
    targets = [cs for labels, cs in deployment_pods
               if selector and all(labels.get(k) == v for k, v in selector.items())]
    if not targets:
        error(where, "spec.selector matches no Deployment's pods")
    for port in ports:
        if not isinstance(port.get("port"), int):
            error(where, "every port needs an integer port")
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str) and not any(target in c["_ports"] for cs in targets for c in cs):
            error(where, f"targetPort {target} names no container port")

if not of_kind("Deployment"):
    error("kubernetes/", "no Deployment")

# ---- compose -------------------------------------------------------------------------------
for doc in docs.get("compose.yaml", []):
    services = doc.get("services") or {}
    declared = set((doc.get("volumes") or {}).keys())
    if not services:
        error("compose.yaml", "no services")
    for name, service in services.items():
        where = f"compose.yaml service {name}"
        if not service.get("image"):
            error(where, "no image")
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):
                if "$" not in source and not os.path.exists(source):
                    error(where, f"mounts {source}, which does not exist")
            elif "$" not in source and source not in declared:
                error(where, f"volume {source} is not declared under volumes:")
        for dependency in service.get("depends_on") or []:
            if dependency not in services:
                error(where, f"depends_on {dependency}: no such service")
        for port in service.get("ports") or []:
            if not isinstance(port, str):
                error(where, f"write port {port!r} as a quoted string")
        build = service.get("build")
        if isinstance(build, dict):
            context = build.get("context", ".")
            if not os.path.exists(os.path.join(context, build.get("dockerfile", "Dockerfile"))):
                error(where, "build.dockerfile does not exist")

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
print(f"validate: {len(yaml_files)} YAML files, {len(dashboards)} JSON files "
      f"({len(promql)} dashboard queries), {len(objects)} Kubernetes objects: OK")
EOF

if command -v promtool > /dev/null; then
  promtool check config prometheus/prometheus.yml > /dev/null
  echo "validate: promtool check config prometheus/prometheus.yml: OK"
fi
