# The official webhook signers for tests: Stripe's and Svix's own Python
# libraries, so tests check our verifiers against the real schemes rather than
# against our own signing code; and PyJWT, which verifies the access tokens we
# sign against our JWKS. Source this file and call `ensure_signers`; it
# exports DREAM_TEST_PYTHON, a Python with `stripe`, `svix` and `jwt` installed
# (a venv under target/, created once, from PyPI).

ensure_signers() {
  local venv=${DREAM_SIGNERS_VENV:-${CARGO_TARGET_DIR:-$PWD/target}/signers-venv}
  if ! "$venv/bin/python" -c 'import stripe, svix, jwt' >/dev/null 2>&1; then
    echo "installing the official webhook signers (PyPI stripe, svix) into $venv" >&2
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
        python3 -m venv "$venv"
      else
        echo "python3 -m venv failed: install python3-venv" >&2
        return 1
      fi
    fi
    # `python -m pip`, not `bin/pip`: a venv copied with a target directory keeps
    # scripts whose first line names the original venv's python.
    "$venv/bin/python" -m pip install -q --disable-pip-version-check 'stripe==16.1.0' 'svix==2.9.1' 'PyJWT[crypto]==2.10.1'
  fi
  export DREAM_TEST_PYTHON="$venv/bin/python"
}
