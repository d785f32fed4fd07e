#!/usr/bin/env bash
# Debian packages the tests and the quickstart start as real servers: docker-registry (an OCI registry) and
# prometheus (the prometheus metric provider); git, openssl and gpg the steps and their tests use.
# Installed when missing and we are root (CI, fresh machines); otherwise the tests that
# need them skip and say why.
set -euo pipefail
packages=()
command -v docker-registry >/dev/null 2>&1 || packages+=(docker-registry)
command -v prometheus >/dev/null 2>&1 || packages+=(prometheus)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
command -v git >/dev/null 2>&1 || packages+=(git)
command -v gpg >/dev/null 2>&1 || packages+=(gnupg)  # git-clone/git-commit author.signingKey
[ ${#packages[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
else
  echo "note: not installing ${packages[*]} (needs root and apt-get); tests that need them will skip" >&2
fi
