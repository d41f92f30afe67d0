# Shared helpers for the scripts: install what is missing, quietly.
need_apt() {
  # need_apt <command> <debian package>
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "installing $2 ..." >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1 || {
    $sudo apt-get update -qq >/dev/null 2>&1
    $sudo apt-get install -y -qq --no-install-recommends "$2" >/dev/null
  }
}

need_toolchain() {
  command -v cargo >/dev/null 2>&1 || {
    echo "cargo not found: install Rust from https://rustup.rs first" >&2
    exit 1
  }
  need_apt cmake cmake   # Pingora builds zlib-ng with cmake
  need_apt cc gcc
}
