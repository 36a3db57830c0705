# Bun from the npm registry: `ensure_bun` puts a `bun` on PATH, installing the `bun` package (with
# its platform package, e.g. @oven/bun-linux-x64) into a cache directory when none is found.
# Source it, then call ensure_bun. BUN_VERSION (default 1) picks the npm version range;
# BUN_HOME (default ~/.cache/switchboard/bun) is where it is installed.

ensure_bun() {
  if command -v bun >/dev/null 2>&1; then
    echo "== bun $(bun --version) ($(command -v bun))"
    return 0
  fi
  local home="${BUN_HOME:-$HOME/.cache/switchboard/bun}"
  if [ ! -x "$home/node_modules/.bin/bun" ]; then
    echo "== installing bun@${BUN_VERSION:-1} from npm into $home"
    mkdir -p "$home"
    npm install --prefix "$home" --no-audit --no-fund --loglevel=error "bun@${BUN_VERSION:-1}" >/dev/null
  fi
  # The package's postinstall links the platform binary into bin/bun.exe; .bin/bun points at it.
  export PATH="$home/node_modules/.bin:$PATH"
  bun --version >/dev/null || { echo "bun did not install (see npm's output above)"; return 1; }
  echo "== bun $(bun --version) ($(command -v bun))"
}
