"""The alert rules pass promtool, every alert is shown firing and silent, and a real Prometheus scrapes lofi."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from deploy_helpers import DEPLOY, lofi_metrics_page, metric_names, tool
from helpers import wait_for

PROMETHEUS = DEPLOY / "prometheus"
RULES = sorted((PROMETHEUS / "alerts").glob("*.yml"))
TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
# the signals the issue asks alerts for, and the alert names that cover each
SIGNALS = {
    "high error rate": {"LofiHighErrorRate", "LofiJobFailureRate"},
    "slow generation": {"LofiSlowGeneration"},
    "memory": {"LofiHostMemoryLow", "LofiContainerMemoryNearLimit"},
    "api down": {"LofiApiDown"},
    "queue backlog": {"LofiQueueBacklog"},
    "gpu utilization": {"LofiGpuSaturated", "LofiGpuIdleWithBacklog"},
    "disk space": {"LofiDiskSpaceLow", "LofiDiskSpaceCritical", "LofiDiskFillingUp"},
}


def promtool(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), *map(str, args)], capture_output=True, text=True, check=False)


def alert_names() -> set[str]:
    groups = [group for path in RULES for group in yaml.safe_load(path.read_text())["groups"]]
    return {rule["alert"] for group in groups for rule in group["rules"]}


def test_rule_files_exist():
    assert RULES, "no alert rules in deploy/prometheus/alerts"
    assert TESTS, "no promtool tests in deploy/prometheus/tests"


def test_promtool_check_rules():
    done = promtool("check", "rules", *RULES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_check_config():
    """The Compose deployment's Prometheus config, with the rule files it loads."""
    done = promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_test_rules():
    done = promtool("test", "rules", *TESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_signal_has_an_alert():
    names = alert_names()
    for signal, alerts in SIGNALS.items():
        assert alerts <= names, f"{signal}: missing {alerts - names}"


def test_every_alert_is_tested_firing_and_silent():
    """promtool passing proves little unless each alert is expected to fire somewhere and stay quiet elsewhere."""
    firing, silent = set(), set()
    for path in TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = alert_names()
    assert names - firing == set(), f"never shown firing: {names - firing}"
    assert names - silent == set(), f"never shown silent on healthy series: {names - silent}"


def test_alerts_name_metrics_lofi_exports(tmp_path, tiny_checkpoint):
    """Every lofi_* (and process_*) name in the rules is on a real /metrics page."""
    exported = metric_names(lofi_metrics_page(tmp_path, Path(tiny_checkpoint.path)))
    used = {name for path in RULES for name in re.findall(r"\b((?:lofi|process)_[a-z_]+)", path.read_text())}
    assert used, "the rules name no lofi metric"
    assert used - exported == set(), f"the rules use metrics lofi does not export: {used - exported}"


def test_prometheus_scrapes_lofi_serve(tmp_path, lofi_server, prometheus):
    """A real Prometheus on loopback scrapes a running `lofi serve`; a query for lofi metrics returns data."""
    server = lofi_server()
    target = server.url.removeprefix("http://")
    prom = prometheus([{"job_name": "lofi-api", "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}])

    up = wait_for(lambda: prom.query('up{job="lofi-api"} == 1'), "Prometheus to scrape lofi serve", timeout_s=120)
    assert up[0]["metric"]["instance"] == target
    queue = wait_for(lambda: prom.query('lofi_queue_length{job="lofi-api"}'), "lofi_queue_length", timeout_s=60)
    assert float(queue[0]["value"][1]) == 0.0
    workers = wait_for(lambda: prom.query('lofi_workers{job="lofi-api"} >= 1'), "a live worker", timeout_s=120)
    assert float(workers[0]["value"][1]) >= 1
    # Prometheus's own scrapes are requests too, counted by route template
    scrapes = wait_for(
        lambda: prom.query('lofi_http_requests_total{job="lofi-api", route="/metrics", status="200"} > 0'),
        "lofi_http_requests_total",
        timeout_s=60,
    )
    assert float(scrapes[0]["value"][1]) >= 1
    assert server.terminate() == 0
