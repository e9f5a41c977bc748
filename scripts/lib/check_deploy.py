"""Static checks of the deployment files (Dockerfile, .dockerignore, compose.yaml)
against what the server really reads, for machines without a Docker engine.

Usage: check_deploy.py REPO_ROOT. Prints one line per failed rule and exits 1 if
any failed. Called by scripts/check-deploy.
"""

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(sys.argv[1])
failures = []


def check(ok, message):
    if not ok:
        failures.append(message)
    return ok


def known_env_names():
    """Every variable dream-bin's config reads, plus the few read by libraries."""
    source = (ROOT / "dream-bin/src/config.rs").read_text()
    names = set(re.findall(r'"((?:DREAM|STRIPE|CLERK)_[A-Z0-9_]+|DATABASE_URL|REDIS_URL)"', source))
    check("DREAM_ADDR" in names and "DATABASE_URL" in names, "cannot read the env names of dream-bin/src/config.rs")
    # RUST_LOG: the log filter (main.rs); SSL_CERT_FILE: a private CA for rediss://.
    return names | {"RUST_LOG", "SSL_CERT_FILE"}


KNOWN = known_env_names()


def check_env(where, env):
    items = env.items() if isinstance(env, dict) else (e.split("=", 1) for e in env or [])
    for name, _ in items:
        check(name in KNOWN, f"{where}: {name} is not a setting dream reads (dream-bin/src/config.rs)")


def pinned(image):
    return ":" in image and not image.endswith(":latest")


# --- Dockerfile -------------------------------------------------------------
dockerfile = (ROOT / "Dockerfile").read_text()
lines = [l.strip() for l in re.sub(r"\\\n", " ", dockerfile).splitlines() if l.strip() and not l.strip().startswith("#")]
froms = [l.split()[1] for l in lines if l.upper().startswith("FROM ")]
check(len(froms) >= 2, "Dockerfile: expected a multi-stage build (builder and runtime)")
check(all(pinned(f) for f in froms), f"Dockerfile: unpinned base image in {froms}")
check(any(f.startswith("rust:") for f in froms[:-1]), "Dockerfile: the builder should be a rust image")
check(froms and froms[-1].startswith("debian:") and "slim" in froms[-1], "Dockerfile: the runtime should be debian slim")
check(re.search(r"cargo build --release[^\n]*-p dream-bin", dockerfile), "Dockerfile: does not build dream-bin in release")


def rust_versions_needed():
    """The workspace's rust-version and that of every locked crate whose source
    is in the local cargo registry (present after any cargo build)."""
    needed = {}
    m = re.search(r'^rust-version = "(\d+)\.(\d+)', (ROOT / "Cargo.toml").read_text(), re.M)
    if m:
        needed["the workspace"] = (int(m.group(1)), int(m.group(2)))
    lock = (ROOT / "Cargo.lock").read_text()
    registries = list((Path.home() / ".cargo/registry/src").glob("*"))
    for name, version in re.findall(r'name = "([^"]+)"\nversion = "([^"]+)"\nsource = "registry', lock):
        for registry in registries:
            manifest = registry / f"{name}-{version}" / "Cargo.toml"
            if manifest.is_file():
                m = re.search(r'^rust-version = "(\d+)\.(\d+)', manifest.read_text(), re.M)
                if m:
                    needed[f"{name} {version}"] = (int(m.group(1)), int(m.group(2)))
                break
    return needed


builder = next((f for f in froms[:-1] if f.startswith("rust:")), "")
tag = re.match(r"rust:(\d+)\.(\d+)", builder)
if check(tag, f"Dockerfile: the builder {builder!r} should name a Rust version (rust:1.NN-…)"):
    have = (int(tag.group(1)), int(tag.group(2)))
    for who, want in rust_versions_needed().items():
        check(have >= want, f"Dockerfile: {builder} is older than Rust {want[0]}.{want[1]}, which {who} needs")
check("ca-certificates" in dockerfile, "Dockerfile: runtime lacks ca-certificates")
users = [l.split()[1] for l in lines if l.upper().startswith("USER ")]
check(users and users[-1].split(":")[0] not in ("root", "0"), "Dockerfile: must run as a non-root USER")
health = [l for l in lines if l.upper().startswith("HEALTHCHECK ")]
check(health and "/health" in health[-1], "Dockerfile: HEALTHCHECK must hit /health")
check(any(l.upper().startswith("EXPOSE ") and "8787" in l for l in lines), "Dockerfile: EXPOSE 8787")
env_lines = " ".join(l[4:] for l in lines if l.upper().startswith("ENV "))
docker_env = dict(re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", env_lines))
check_env("Dockerfile ENV", docker_env)
check(docker_env.get("DREAM_ADDR") == "0.0.0.0:8787", "Dockerfile: ENV DREAM_ADDR=0.0.0.0:8787")
check(docker_env.get("DREAM_DATA_DIR") == "/data", "Dockerfile: ENV DREAM_DATA_DIR=/data")
check(any(l.upper().startswith("VOLUME") and "/data" in l for l in lines), "Dockerfile: VOLUME /data")

# --- .dockerignore ----------------------------------------------------------
ignored = {l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines() if l.strip() and not l.startswith("#")}
for entry in ("target", ".git"):
    check(entry in ignored, f".dockerignore: {entry} must not be sent to the build")

# --- compose.yaml -----------------------------------------------------------
compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
services = compose.get("services", {}) if isinstance(compose, dict) else {}
for name in ("dream", "migrate", "postgres", "redis"):
    check(name in services, f"compose.yaml: no service {name}")


def service(name):
    return services.get(name) or {}


def depends(name):
    deps = service(name).get("depends_on") or {}
    return deps if isinstance(deps, dict) else {d: {} for d in deps}


for name in ("postgres", "redis", "dream"):
    hc = service(name).get("healthcheck") or {}
    check(hc.get("test"), f"compose.yaml: {name} needs a healthcheck")
for name, svc in services.items():
    image = svc.get("image")
    check(image, f"compose.yaml: {name} has no image")
    if image and not svc.get("build"):
        check(pinned(image), f"compose.yaml: {name} image {image} is not pinned to a tag")
    check_env(f"compose.yaml {name}", svc.get("environment") if name in ("dream", "migrate") else {})
check(service("migrate").get("command") == ["migrate"], "compose.yaml: migrate must run `dream migrate`")
check(service("dream").get("command") in (None, ["serve"]), "compose.yaml: dream must run `dream serve`")
check(service("migrate").get("restart") in ("no", None), "compose.yaml: migrate is one-shot (restart: \"no\")")
check(service("migrate").get("image") == service("dream").get("image"), "compose.yaml: migrate must use the dream image")
env = service("dream").get("environment") or {}
check(str(env.get("DREAM_AUTO_MIGRATE")).lower() == "false", "compose.yaml: dream must set DREAM_AUTO_MIGRATE=false")
check(str(env.get("DATABASE_URL", "")).startswith("postgres://"), "compose.yaml: dream needs DATABASE_URL=postgres://…")
check(str(env.get("REDIS_URL", "")).startswith("redis"), "compose.yaml: dream needs REDIS_URL")
check("DATABASE_URL" in (service("migrate").get("environment") or {}), "compose.yaml: migrate needs DATABASE_URL")
for dep, cond in (("postgres", "service_healthy"), ("redis", "service_healthy"), ("migrate", "service_completed_successfully")):
    got = (depends("dream").get(dep) or {}).get("condition")
    check(got == cond, f"compose.yaml: dream must depend on {dep} with condition {cond} (got {got})")
check((depends("migrate").get("postgres") or {}).get("condition") == "service_healthy",
      "compose.yaml: migrate must wait for a healthy postgres")

if failures:
    for f in failures:
        print(f"check-deploy: {f}", file=sys.stderr)
    sys.exit(1)
print(f"Dockerfile, .dockerignore and compose.yaml: ok ({len(services)} services, {len(KNOWN)} known settings)")
