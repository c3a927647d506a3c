#!/usr/bin/env bash
# Installs the pinned tools Python cannot provide into a cache outside the clone,
# so a fresh clone reuses them. Each tool prefers an official download and falls
# back to building from the Go module proxy / Maven Central.
#
# Usage: scripts/tools.sh [uv|temporal|test-server|stripe-mock|helm|all]   (default: all)
# Prints nothing on a cache hit; prints progress while building.
set -euo pipefail

UV_VERSION="0.9.30"
TEMPORAL_CLI_VERSION="1.5.1"
TEMPORAL_TEST_SERVER_VERSION="1.31.0"
STRIPE_MOCK_VERSION="0.203.0"  # embeds Stripe's OpenAPI spec 2026-08-26.dahlia
HELM_VERSION="3.22.0"  # renders and lints deploy/helm in `make test`

CACHE="${LIFECYCLE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lifecycle-engine}"
mkdir -p "$CACHE/bin"

log() { echo "[tools] $*" >&2; }

# Downloads $1 to $2 if the network allows it; returns non-zero otherwise.
try_download() {
  curl -fsSL --connect-timeout 5 --max-time 120 -o "$2" "$1" 2>/dev/null
}

install_uv() {
  local dir="$CACHE/uv-$UV_VERSION"
  if [[ ! -x "$dir/bin/uv" ]]; then
    log "installing uv $UV_VERSION from PyPI"
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  ln -sf "$dir/bin/uv" "$CACHE/bin/uv"
}

install_temporal() {
  local dir="$CACHE/temporal-cli-$TEMPORAL_CLI_VERSION"
  if [[ ! -x "$dir/temporal" ]]; then
    mkdir -p "$dir"
    local tgz="$dir/temporal.tar.gz"
    if try_download "https://temporal.download/cli/archive/v${TEMPORAL_CLI_VERSION}?platform=linux&arch=amd64" "$tgz" \
        && tar -xzf "$tgz" -C "$dir" temporal; then
      log "downloaded Temporal CLI $TEMPORAL_CLI_VERSION"
    else
      log "building Temporal CLI $TEMPORAL_CLI_VERSION from the Go module proxy (a few minutes the first time)"
      GOBIN="$dir" go install "github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}"
    fi
    rm -f "$tgz"
  fi
  ln -sf "$dir/temporal" "$CACHE/bin/temporal"
}

install_test_server() {
  local dir="$CACHE/temporal-test-server-$TEMPORAL_TEST_SERVER_VERSION"
  if [[ ! -x "$dir/temporal-test-server" ]]; then
    log "fetching temporal-test-server $TEMPORAL_TEST_SERVER_VERSION and its runtime classpath from Maven Central"
    rm -rf "$dir"
    mkdir -p "$dir/lib"
    cat >"$dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.lifecycle</groupId>
  <artifactId>temporal-test-server-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId>
      <artifactId>temporal-test-server</artifactId>
      <version>$TEMPORAL_TEST_SERVER_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
    mvn -q -f "$dir/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$dir/lib" >&2
    # The SDK starts the server as `<exe> <port>`; exec keeps the PID the SDK kills.
    cat >"$dir/temporal-test-server" <<'WRAP'
#!/bin/sh
here="$(dirname "$(readlink -f "$0")")"
exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$here/lib/*" io.temporal.testserver.TestServer "$@"
WRAP
    chmod +x "$dir/temporal-test-server"
  fi
  ln -sf "$dir/temporal-test-server" "$CACHE/bin/temporal-test-server"
}

install_stripe_mock() {
  local dir="$CACHE/stripe-mock-$STRIPE_MOCK_VERSION"
  if [[ ! -x "$dir/stripe-mock" ]]; then
    mkdir -p "$dir"
    local tgz="$dir/stripe-mock.tar.gz"
    if try_download "https://github.com/stripe/stripe-mock/releases/download/v${STRIPE_MOCK_VERSION}/stripe-mock_${STRIPE_MOCK_VERSION}_linux_amd64.tar.gz" "$tgz" \
        && tar -xzf "$tgz" -C "$dir" stripe-mock; then
      log "downloaded stripe-mock $STRIPE_MOCK_VERSION"
    else
      log "building stripe-mock $STRIPE_MOCK_VERSION from the Go module proxy"
      GOBIN="$dir" go install "github.com/stripe/stripe-mock@v${STRIPE_MOCK_VERSION}"
    fi
    rm -f "$tgz"
  fi
  # The contract tests read the spec and fixtures stripe-mock embeds (its module source).
  if [[ ! -s "$dir/openapi/spec3.json" || ! -s "$dir/openapi/fixtures3.json" ]]; then
    log "fetching stripe-mock $STRIPE_MOCK_VERSION's OpenAPI spec and fixtures"
    local src
    src="$(go mod download -json "github.com/stripe/stripe-mock@v${STRIPE_MOCK_VERSION}" \
      | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
    mkdir -p "$dir/openapi"
    cp "$src/embedded/openapi/spec3.json" "$src/embedded/openapi/fixtures3.json" "$dir/openapi/"
    chmod 644 "$dir/openapi/"*.json
  fi
  ln -sf "$dir/stripe-mock" "$CACHE/bin/stripe-mock"
  ln -sfn "$dir/openapi" "$CACHE/stripe-openapi"
}

install_helm() {
  local dir="$CACHE/helm-$HELM_VERSION"
  if [[ ! -x "$dir/helm" ]]; then
    mkdir -p "$dir"
    local tgz="$dir/helm.tar.gz"
    if try_download "https://get.helm.sh/helm-v${HELM_VERSION}-linux-amd64.tar.gz" "$tgz" \
        && tar -xzf "$tgz" -C "$dir" --strip-components=1 linux-amd64/helm; then
      log "downloaded Helm $HELM_VERSION"
    else
      log "building Helm $HELM_VERSION from the Go module proxy (a few minutes the first time)"
      GOBIN="$dir" go install "helm.sh/helm/v3/cmd/helm@v${HELM_VERSION}"
    fi
    rm -f "$tgz"
  fi
  ln -sf "$dir/helm" "$CACHE/bin/helm"
}

case "${1:-all}" in
  uv) install_uv ;;
  temporal) install_temporal ;;
  test-server) install_test_server ;;
  stripe-mock) install_stripe_mock ;;
  helm) install_helm ;;
  all) install_uv; install_temporal; install_test_server; install_stripe_mock; install_helm ;;
  *) echo "unknown tool: $1" >&2; exit 2 ;;
esac
