#!/usr/bin/env bash
# Install what the browser check needs: Debian's chromium and chromium-driver.
# Called by `make test`. Does nothing when both are present. Without root or apt-get it explains
# why it cannot install; the browser test then skips with that reason (and fails under CI=true).
set -u
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: cannot install chromium (needs root and apt-get on Debian);" \
         "the browser check will be skipped" >&2
    exit 0
fi
echo "install_browser: installing Debian's chromium and chromium-driver" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null \
  && apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null \
  || echo "install_browser: apt-get failed; the browser check will report it" >&2
exit 0
