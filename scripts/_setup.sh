# Shared by scripts/serve and scripts/test: find Python 3.11+, make .venv, install Jifen into it.
# Installs missing Debian packages with apt-get (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

apt_install() {
  echo ">> installing Debian packages: $*"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

find_python() {
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
      echo "$candidate"; return 0
    fi
  done
  echo "Jifen needs Python 3.11 or newer (apt-get install python3)" >&2
  return 1
}

quiet_pip() {  # pip, without the noise of local index warnings and setuptools' editable banner; fails as pip fails
  local out rc=0
  out=$(.venv/bin/python -m pip "$@" 2>&1) || rc=$?
  printf '%s\n' "$out" | grep -vE "^WARNING: Location|BuildBackendWarning|^ *!!|^ *\*+$|Please be careful|name as your package|with strategy|^ *$" || true
  if [ $rc -ne 0 ]; then echo "!! pip $* failed" >&2; fi
  return $rc
}

make_venv() {  # $1: "" (runtime: requirements/runtime.txt) or "[test]" (requirements/test.txt)
  local py lock; py=$(find_python)
  case "$1" in
    "") lock=requirements/runtime.txt ;;
    "[test]") lock=requirements/test.txt ;;
    *) echo "make_venv: unknown extras $1" >&2; return 1 ;;
  esac
  if [ ! -x .venv/bin/python ]; then
    if ! "$py" -m venv .venv 2>/dev/null; then
      rm -rf .venv
      apt_install python3-venv
      "$py" -m venv .venv
    fi
  fi
  .venv/bin/python -m pip install -q "pip>=24,<27" >/dev/null 2>&1 || true
  # exactly the locked releases, each checked against its sha256 (scripts/lock writes the files),
  # the build backend's too; then Jifen itself, built with that backend, resolving nothing else
  quiet_pip install -q --require-hashes -r "$lock" -r requirements/build.txt
  quiet_pip install -q --no-deps --no-build-isolation -e .
  .venv/bin/python -c "import jifen" # fails loudly if the install did not work
}
