"""helm/crm-auth-gateway rendered and linted offline with Helm's own library (helm-python-sdk), and the
rendered gateway.yaml loaded by the gateway's real loader from the paths the Deployment mounts."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from gateway import __version__
from gateway.config.loader import load_config
from tests.deploy.deploy_support import (
    CHART,
    DEPLOY_CONFIG,
    DEPLOY_POLICIES,
    ENV_REF,
    FILE_REF,
    PRODUCTION_VALUES,
    load_yaml,
    relocate,
    write_secret_files,
)

helm = pytest.importorskip("helm_python", reason="helm-python-sdk is not installed")

Manifest = dict[str, Any]
RELEASE = "crm-gateway"
FULLNAME = "crm-gateway-crm-auth-gateway"
KUBE_VERSION = "v1.30.0"


@pytest.fixture(scope="module")
def chart() -> Iterator[Any]:
    with helm.Chart.load(str(CHART)) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    values = load_yaml(PRODUCTION_VALUES)
    assert isinstance(values, dict)
    return values


def render(chart: Any, values: dict[str, Any] | None = None) -> list[Manifest]:
    rendered = chart.render(values or {}, name=RELEASE, namespace="crm")
    docs: list[Manifest] = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def only(docs: list[Manifest], kind: str, name: str = FULLNAME) -> Manifest:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: found {len(found)}"
    return found[0]


def kinds(docs: list[Manifest]) -> set[str]:
    return {d["kind"] for d in docs}


def container(docs: list[Manifest]) -> Manifest:
    [gateway] = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert isinstance(gateway, dict)
    return gateway


def gateway_yaml(docs: list[Manifest]) -> dict[str, Any]:
    config = yaml.safe_load(only(docs, "ConfigMap")["data"]["gateway.yaml"])
    assert isinstance(config, dict)
    return config


def checksum(docs: list[Manifest]) -> str:
    value = only(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert isinstance(value, str) and len(value) == 64
    return value


def with_values(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with dotted keys set: ``with_values(v, **{"gateway.port": 1})``."""
    values = copy.deepcopy(base)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = values
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return values


# --- lint and schema ---------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["default", "production"])
def test_chart_lints_clean(production: dict[str, Any], which: str) -> None:
    values = production if which == "production" else None
    report = helm.lint(str(CHART), values, strict=True, kube_version=KUBE_VERSION)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_chart_metadata_follows_the_package() -> None:
    meta = load_yaml(CHART / "Chart.yaml")
    assert isinstance(meta, dict)
    assert meta["apiVersion"] == "v2"
    assert meta["appVersion"] == __version__


def test_values_files_meet_the_schema(chart: Any, production: dict[str, Any]) -> None:
    chart.validate_schema(load_yaml(CHART / "values.yaml"))
    chart.validate_schema(production)


BAD_VALUES = [
    ("podSecurityContext.runAsNonRoot", False),
    ("securityContext.readOnlyRootFilesystem", False),
    ("securityContext.allowPrivilegeEscalation", True),
    ("gateway.workers", 0),
    ("gateway.port", 70000),
    ("redis.onError", "maybe"),
    ("podAntiAffinity", "sometimes"),
    ("policies", {"no-extension": {"policy": "x"}}),
    ("secretEnv", [{"name": "1BAD", "secretName": "s", "key": "k"}]),
    ("typoedTopLevelKey", True),
]


@pytest.mark.parametrize(("key", "value"), BAD_VALUES)
def test_schema_refuses_bad_values(chart: Any, key: str, value: Any) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema(with_values({}, **{key: value}))
    with pytest.raises(helm.HelmValuesError):
        render(chart, with_values({}, **{key: value}))


def test_values_schema_is_valid_draft7_and_accepts_the_values_files(production: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = load_yaml(CHART / "values.schema.json")
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    assert list(validator.iter_errors(load_yaml(CHART / "values.yaml"))) == []
    assert list(validator.iter_errors(production)) == []
    assert list(validator.iter_errors({"securityContext": {"readOnlyRootFilesystem": False}}))


# --- the Deployment ----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["default", "production"])
def test_pod_runs_non_root_on_a_read_only_root(chart: Any, production: dict[str, Any], which: str) -> None:
    docs = render(chart, production if which == "production" else None)
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    gateway = container(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["automountServiceAccountToken"] is False
    sc = gateway["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    writable = {m["mountPath"] for m in gateway["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/tmp"}
    [tmp] = [v for v in pod["volumes"] if v["name"] == "tmp"]
    assert tmp["emptyDir"]["medium"] == "Memory"


@pytest.mark.parametrize("which", ["default", "production"])
def test_probes_hit_health_endpoints_on_the_port_the_config_opens(
    chart: Any, production: dict[str, Any], which: str
) -> None:
    docs = render(chart, production if which == "production" else None)
    gateway = container(docs)
    ports = {p["name"]: p["containerPort"] for p in gateway["ports"]}
    config = gateway_yaml(docs)
    assert ports["http"] == config["listen"]["port"] and config["listen"]["host"] == "0.0.0.0"
    assert ports["admin"] == config["observability"]["admin"]["port"] == 9090
    probes = {kind: gateway[f"{kind}Probe"]["httpGet"] for kind in ("startup", "liveness", "readiness")}
    assert probes == {
        "startup": {"path": "/healthz", "port": "admin"},
        "liveness": {"path": "/healthz", "port": "admin"},
        "readiness": {"path": "/readyz", "port": "admin"},
    }


def test_without_an_admin_port_health_is_served_and_probed_on_the_gateway_port(chart: Any) -> None:
    docs = render(chart, {"gateway": {"adminPort": None}, "serviceMonitor": {"enabled": True}})
    gateway = container(docs)
    assert [p["name"] for p in gateway["ports"]] == ["http"]
    assert {gateway[f"{k}Probe"]["httpGet"]["port"] for k in ("startup", "liveness", "readiness")} == {"http"}
    assert "admin" not in gateway_yaml(docs).get("observability", {})
    monitor = only(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Service"] == [FULLNAME]


def test_serve_arguments_and_shutdown_grace(chart: Any) -> None:
    docs = render(chart)
    gateway = container(docs)
    assert gateway["args"] == [
        "serve", "--config", "/etc/crm-gateway/gateway.yaml", "--workers", "1", "--grace-seconds", "25",
    ]  # fmt: skip
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert gateway["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert pod["terminationGracePeriodSeconds"] > 5 + 25


@pytest.mark.parametrize(
    ("grace", "pre_stop", "termination"), [(25, 5, 30), (30, 0, 30), (25.5, 5, 30), (25, 5, 34)]
)
def test_termination_grace_must_exceed_the_drain(
    chart: Any, grace: float, pre_stop: int, termination: int
) -> None:
    values = {"gateway": {"graceSeconds": grace, "preStopSleepSeconds": pre_stop}}
    values["terminationGracePeriodSeconds"] = termination  # type: ignore[assignment]
    with pytest.raises(helm.HelmRenderError, match="terminationGracePeriodSeconds"):
        render(chart, values)


@pytest.mark.parametrize(
    ("values", "image"),
    [
        ({}, f"crm-auth-gateway:{__version__}"),
        ({"image": {"repository": "example.org/gw", "tag": "1.2.3"}}, "example.org/gw:1.2.3"),
    ],
)
def test_image_tag_defaults_to_the_app_version(chart: Any, values: dict[str, Any], image: str) -> None:
    assert container(render(chart, values))["image"] == image


def test_production_image_is_pinned(chart: Any, production: dict[str, Any]) -> None:
    assert container(render(chart, production))["image"].endswith(f":{production['image']['tag']}")
    assert production["image"]["tag"] not in ("", "latest")


def test_default_anti_affinity_prefers_one_pod_per_node(chart: Any, production: dict[str, Any]) -> None:
    soft = only(render(chart), "Deployment")["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    [term] = soft["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"] == RELEASE
    hard = only(render(chart, production), "Deployment")["spec"]["template"]["spec"]["affinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in hard["podAntiAffinity"]
    none = only(render(chart, {"podAntiAffinity": "none"}), "Deployment")["spec"]["template"]["spec"]
    assert "affinity" not in none


# --- config checksum ---------------------------------------------------------------------------


def test_checksum_changes_with_config_and_policies_only(chart: Any, production: dict[str, Any]) -> None:
    base = checksum(render(chart, production))
    assert checksum(render(chart, production)) == base
    log_level = with_values(production, **{"config.observability.log_level": "debug"})
    assert checksum(render(chart, log_level)) != base
    policy = copy.deepcopy(production)
    policy["policies"]["extra.yaml"] = {"policy": "extra", "subjects": {"roles": ["x"]}}
    assert checksum(render(chart, policy)) != base
    assert checksum(render(chart, with_values(production, **{"redis.onError": "deny"}))) != base
    assert checksum(render(chart, with_values(production, replicaCount=7))) == base
    assert checksum(render(chart, with_values(production, **{"resources.limits.memory": "1Gi"}))) == base


# --- optional objects --------------------------------------------------------------------------


def test_defaults_render_no_optional_objects(chart: Any) -> None:
    docs = render(chart)
    assert kinds(docs) == {"ConfigMap", "Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"}
    assert only(docs, "Deployment")["spec"]["replicas"] == 2
    assert only(docs, "PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1,
        "selector": {
            "matchLabels": {
                "app.kubernetes.io/name": "crm-auth-gateway",
                "app.kubernetes.io/instance": RELEASE,
            }
        },
    }


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ({"autoscaling": {"enabled": True}}, "HorizontalPodAutoscaler"),
        ({"serviceMonitor": {"enabled": True}}, "ServiceMonitor"),
        ({"networkPolicy": {"enabled": True}}, "NetworkPolicy"),
    ],
)
def test_optional_objects_appear_only_when_enabled(chart: Any, values: dict[str, Any], kind: str) -> None:
    assert kind not in kinds(render(chart))
    assert kind in kinds(render(chart, values))


def test_pdb_can_be_turned_off(chart: Any) -> None:
    assert "PodDisruptionBudget" not in kinds(render(chart, {"podDisruptionBudget": {"enabled": False}}))


def test_production_objects(chart: Any, production: dict[str, Any]) -> None:
    docs = render(chart, production)
    assert kinds(docs) == {
        "ConfigMap", "Deployment", "Service", "ServiceAccount", "PodDisruptionBudget",
        "HorizontalPodAutoscaler", "ServiceMonitor", "NetworkPolicy",
    }  # fmt: skip
    assert "replicas" not in only(docs, "Deployment")["spec"], "the HPA owns the replica count"
    hpa = only(docs, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": FULLNAME}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    assert {m["resource"]["name"] for m in hpa["metrics"]} == {"cpu", "memory"}
    pdb = only(docs, "PodDisruptionBudget")["spec"]
    assert pdb["minAvailable"] == 2 and "maxUnavailable" not in pdb
    monitor = only(docs, "ServiceMonitor")["spec"]
    assert monitor["endpoints"] == [
        {"port": "admin", "path": "/metrics", "interval": "15s", "scrapeTimeout": "5s"}
    ]
    admin = only(docs, "Service", f"{FULLNAME}-admin")
    assert monitor["selector"]["matchLabels"].items() <= admin["metadata"]["labels"].items()
    public = only(docs, "Service")
    assert not monitor["selector"]["matchLabels"].items() <= public["metadata"]["labels"].items()
    assert [p["targetPort"] for p in public["spec"]["ports"]] == ["http"]
    policy = only(docs, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    ingress_ports = [rule["ports"][0]["port"] for rule in policy["ingress"]]
    assert ingress_ports == ["http", "admin"]
    assert all(rule.get("from") for rule in policy["ingress"])
    assert {"port": 53, "protocol": "UDP"} in policy["egress"][0]["ports"]


def test_network_policy_leaves_admin_port_closed_without_admin_sources(chart: Any) -> None:
    policy = only(render(chart, {"networkPolicy": {"enabled": True}}), "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    assert [rule["ports"][0]["port"] for rule in policy["ingress"]] == ["http"]
    assert "from" not in policy["ingress"][0]


# --- secrets: every reference in gateway.yaml is mounted ----------------------------------------


def mounted_files(docs: list[Manifest]) -> dict[str, str]:
    """Path in the container -> 'secret/key' for every file a Secret volume puts there (a volume without
    items is reported as 'secret/*' at '<mountPath>/*')."""
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    files: dict[str, str] = {}
    for mount in container(docs)["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        assert mount["readOnly"] is True
        for item in secret.get("items") or [{"key": "*", "path": "*"}]:
            files[f"{mount['mountPath']}/{item['path']}"] = f"{secret['secretName']}/{item['key']}"
    return files


def test_every_file_reference_is_a_mounted_secret(chart: Any, production: dict[str, Any]) -> None:
    docs = render(chart, production)
    text = only(docs, "ConfigMap")["data"]["gateway.yaml"]
    files = mounted_files(docs)
    refs = FILE_REF.findall(text)
    assert len(refs) == 6
    for ref in refs:
        parent = str(PurePosixPath(ref).parent)
        assert ref in files or f"{parent}/*" in files, f"{ref} is not mounted"
    assert files["/run/secrets/redis/url"] == "crm-gateway-redis/url"
    assert files["/run/secrets/civicrm/*"] == "crm-gateway-civicrm/*"


def test_env_references_come_from_secret_env(chart: Any) -> None:
    values = {
        "config": {"upstreams": {"civi": {"auth": {"site_key": "${env:CIVI_SITE_KEY}"}}}},
        "secretEnv": [{"name": "CIVI_SITE_KEY", "secretName": "crm-gateway-civicrm", "key": "site-key"}],
    }
    docs = render(chart, values)
    [name] = ENV_REF.findall(only(docs, "ConfigMap")["data"]["gateway.yaml"])
    env = {e["name"]: e for e in container(docs)["env"]}
    assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "crm-gateway-civicrm", "key": "site-key"}


@pytest.mark.parametrize(
    ("redis", "url", "mounted"),
    [
        ({"enabled": True, "url": "redis://redis.crm.svc:6379/0"}, "redis://redis.crm.svc:6379/0", False),
        (
            {"enabled": True, "existingSecret": "r", "existingSecretKey": "uri"},
            "${file:/run/secrets/redis/url}",
            True,
        ),
    ],
)
def test_redis_settings(chart: Any, redis: dict[str, Any], url: str, mounted: bool) -> None:
    docs = render(chart, {"redis": redis})
    ratelimit = gateway_yaml(docs)["ratelimit"]
    assert ratelimit == {
        "backend": "redis",
        "url": url,
        "on_error": "local",
        "timeout_ms": 50,
        "prefix": "crmgw:rl:",
    }
    assert ("/run/secrets/redis/url" in mounted_files(docs)) is mounted


def test_redis_without_a_url_is_refused(chart: Any) -> None:
    with pytest.raises(helm.HelmRenderError, match=r"redis\.url or redis\.existingSecret"):
        render(chart, {"redis": {"enabled": True}})


# --- the rendered gateway.yaml is the deploy example, and the gateway loads it -----------------


def test_production_config_is_the_deploy_example(chart: Any, production: dict[str, Any]) -> None:
    docs = render(chart, production)
    rendered = gateway_yaml(docs)
    example = load_yaml(DEPLOY_CONFIG)
    assert isinstance(example, dict)
    assert rendered.pop("policies") == ["/etc/crm-gateway/policies/"]
    assert example.pop("policies") == ["policies/"]
    assert rendered == example
    data = only(docs, "ConfigMap")["data"]
    policies = {
        key.removeprefix("policy."): yaml.safe_load(text)
        for key, text in data.items()
        if key != "gateway.yaml"
    }
    assert policies == {p.name: load_yaml(p) for p in DEPLOY_POLICIES.glob("*.yaml")}


def materialize_configmap(docs: list[Manifest], root: Path) -> Path:
    """Write the ConfigMap where the Deployment mounts it, under ``root``, with made-up secret files;
    returns the path of gateway.yaml as the container's --config argument names it."""
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    [config_volume] = [v for v in pod["volumes"] if v["name"] == "config"]
    [mount] = [m for m in container(docs)["volumeMounts"] if m["name"] == "config"]
    moves = {f"{mount['mountPath']}/": root / "etc", "/run/secrets/": root / "secrets"}
    data = only(docs, "ConfigMap")["data"]
    for item in config_volume["configMap"]["items"]:
        target = root / "etc" / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(relocate(data[item["key"]], moves), encoding="utf-8")
    write_secret_files((root / "etc" / "gateway.yaml").read_text(encoding="utf-8"))
    args = container(docs)["args"]
    return Path(relocate(args[args.index("--config") + 1], moves))


@pytest.mark.parametrize("which", ["default", "production"])
def test_gateway_loads_the_rendered_config_from_the_mounted_paths(
    chart: Any, production: dict[str, Any], tmp_path: Path, which: str
) -> None:
    docs = render(chart, production if which == "production" else None)
    config = load_config(materialize_configmap(docs, tmp_path), environ={})
    assert config.warnings == ()
    assert config.listen.port == 8080 and config.observability.admin_port == 9090
    if which == "production":
        assert {p.name for p in config.policies.policies} == {"newsletter-sync", "reporting", "sales-sync"}
        assert config.ratelimit.backend == "redis"
    else:
        assert [u.name for u in config.upstreams] == ["espo"]


def test_config_given_as_yaml_text_is_used_with_the_chart_keys_set(chart: Any) -> None:
    """helm --set-file config=deploy/gateway.yaml: the text is parsed; listen and admin follow values."""
    text = DEPLOY_CONFIG.read_text(encoding="utf-8")
    docs = render(chart, {"config": text, "gateway": {"port": 8181, "adminPort": 9191}})
    config = gateway_yaml(docs)
    assert config["listen"] == {"host": "0.0.0.0", "port": 8181}
    assert config["observability"]["admin"] == {"host": "0.0.0.0", "port": 9191}
    assert config["policies"] == ["policies/"], "no policies in values: the config's own entry stays"
    assert config["upstreams"].keys() == {"civi", "espo"}


def test_policies_as_yaml_text_keep_their_comments(chart: Any) -> None:
    text = "# who may do what\npolicy: p\nsubjects: {roles: [r]}\nentities: {Contact: {get: allow}}\n"
    docs = render(chart, {"policies": {"p.yaml": text}})
    assert only(docs, "ConfigMap")["data"]["policy.p.yaml"] == text
