# Shared by .ci/lts-root and .ci/test-lts (sourced, not run).

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "$0: debootstrap, chroot and mount need root: run it with sudo" >&2
    exit 1
  fi
}

# copy_host_ca ROOT: the host's CA bundle and name resolution, so apt and pip inside ROOT work
# behind the same (possibly TLS-inspecting) proxy as the host.
copy_host_ca() {
  local root=$1
  [ ! -f /etc/ssl/certs/ca-certificates.crt ] \
    || cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  cp /etc/hosts "$root/etc/hosts"
}

# in_root ROOT CMD...: run CMD chrooted in ROOT inside a private mount namespace, so the mounts
# made for it (see .ci/lts-chroot) vanish with the command whatever way it ends.
in_root() {
  unshare --mount --propagation private -- "$(dirname "${BASH_SOURCE[0]}")/lts-chroot" "$@"
}
