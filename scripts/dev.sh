#!/usr/bin/env bash
# eseal's set-up, server and test runner for a fresh Debian machine with Python and pip.
#   bash scripts/dev.sh serve   set up, initialise ./eseal-data once, serve on 127.0.0.1:8000
#   bash scripts/dev.sh test    set up (plus the test services), lint, format check, type-check,
#                               check the layering (lint-imports), run the tests
#   bash scripts/dev.sh setup   only install
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

apt_install() {
  # Installs the Debian packages that are missing; nothing if all are there.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_env() {
  if [ ! -x "$VENV/bin/python" ]; then "$PY" -m venv "$VENV"; fi
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q -e ".$1" 2>&1 | grep -v -e '^WARNING: Location' -e 'is ignored' || true
  "$VENV/bin/python" -c "import api.cli" # fails loudly if the install did not work
}

install_hash() { cat pyproject.toml "$0" | sha256sum | cut -d' ' -f1; }

quiet_python_env() {
  # For serve: install only when the project's metadata changed (the install is editable, so
  # code changes need none), and print pip's output only if it fails.
  local stamp="$VENV/.eseal-install" want log
  want=$(install_hash)
  if [ -x "$VENV/bin/eseal" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  echo "installing eseal into $VENV (once; again only when pyproject.toml changes) ..."
  log=$(mktemp)
  if ! { { [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"; } \
         && "$VENV/bin/python" -m pip install -q --upgrade pip \
         && "$VENV/bin/python" -m pip install -e . \
         && "$VENV/bin/python" -c "import api.cli"; } >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    echo "installing eseal failed (pip's output above)" >&2; exit 1
  fi
  rm -f "$log"
  echo "$want" >"$stamp"
}

token_box() {
  # The admin token of a fresh data dir, in a box with what to do next (it is shown only once).
  "$VENV/bin/python" - "$1" "$2" <<'PY'
import json, sys
out = json.load(open(sys.argv[1], encoding="utf-8"))
port = sys.argv[2]
token = out["admin_key"]["token"]
lines = [
    "eseal is set up in " + out["data_dir"] + ". The admin token (shown only now; keep it safe):",
    "",
    "    " + token,
    "",
    "Next, in another shell in this directory:",
    "    export ESEAL_URL=http://127.0.0.1:" + port + " ADMIN_TOKEN=" + token,
    "    curl -sS $ESEAL_URL/healthz",
    "    . .venv/bin/activate && eseal --help",
    "Then follow README.md, 'Using it'. The verification page: http://127.0.0.1:" + port + "/",
    "The API and its schemas: http://127.0.0.1:" + port + "/docs",
]
width = max(len(line) for line in lines) + 2
print("+" + "-" * width + "+")
for line in lines:
    print("| " + line.ljust(width - 1) + "|")
print("+" + "-" * width + "+")
PY
}

postgres_up() {
  # The tests use PostgreSQL at 127.0.0.1:5432 (trust auth, database test). Start or install it.
  local url_host=127.0.0.1
  if pg_isready -q -h "$url_host" -p 5432 2>/dev/null; then return 0; fi
  apt_install postgresql postgresql-client
  local ver; ver=$(ls /etc/postgresql | sort -n | tail -1)
  if ! pg_isready -q -h "$url_host" -p 5432 2>/dev/null; then
    local hba=/etc/postgresql/$ver/main/pg_hba.conf
    if ! grep -q "eseal-test" "$hba"; then
      # a throwaway test server on loopback only: trust local connections
      as_root sed -i '1i host all all 127.0.0.1/32 trust # eseal-test\nhost all all ::1/128 trust # eseal-test\nlocal all all trust # eseal-test' "$hba"
    fi
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || as_root pg_ctlcluster "$ver" main start
    for _ in $(seq 1 30); do pg_isready -q -h "$url_host" -p 5432 && break; sleep 1; done
  fi
  psql -h "$url_host" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
    || psql -h "$url_host" -U postgres -c "CREATE DATABASE test" >/dev/null
}

cmd=${1:-}
case "$cmd" in
  setup)
    apt_install fonts-noto-cjk openssl
    python_env "" ;;
  serve)
    apt_install fonts-noto-cjk openssl
    quiet_python_env
    export ESEAL_DATA_DIR=${ESEAL_DATA_DIR:-eseal-data}
    shift
    if [ ! -f "$ESEAL_DATA_DIR/pki/pki.json" ]; then
      init_out=$(mktemp)
      "$VENV/bin/eseal" init >"$init_out"
      port=8000
      for ((i = 1; i <= $#; i++)); do [ "${!i}" = --port ] && { j=$((i + 1)); port=${!j}; }; done
      token_box "$init_out" "$port"
      rm -f "$init_out"
    fi
    exec "$VENV/bin/eseal" serve "$@" ;;
  test)
    apt_install fonts-noto-cjk openssl softhsm2 poppler-utils qpdf chromium unzip docker-compose postgresql-client libbcprov-java libbcpkix-java libbcutil-java default-jdk-headless
    python_env "[test]"
    install_hash >"$VENV/.eseal-install"  # what serve needs is installed too: it need not reinstall
    postgres_up
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    "$VENV/bin/mypy"
    "$VENV/bin/lint-imports"  # DESIGN's layering, as contracts in pyproject.toml
    shift
    set +e
    "$VENV/bin/pytest" -q -ra "$@"
    rc=$?
    set -e
    if [ $rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi
    exit $rc ;;
  *)
    echo "usage: bash scripts/dev.sh serve|test|setup [args]" >&2; exit 2 ;;
esac
