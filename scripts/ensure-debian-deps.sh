#!/usr/bin/env bash
# Installs the Debian packages tests use, when absent: git, dig (bind9-dnsutils).
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
command -v dig >/dev/null || need+=(bind9-dnsutils)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing ${need[*]} from Debian"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
