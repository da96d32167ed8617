#!/bin/sh
# Test double for the k3s installer (https://get.k3s.io), keeping the behaviour of k3s-io/k3s install.sh at commit
# 0136cf2 (function names cited, as its line numbers move between releases):
# - INSTALL_K3S_VERSION, INSTALL_K3S_EXEC ("server|agent [args]"; K3S_URL alone means agent: setup_env());
# - installs /usr/local/bin/k3s (+ kubectl, crictl, ctr links: create_symlinks()), k3s-killall.sh
#   (create_killall()), k3s[-agent]-uninstall.sh (create_uninstall()), the unit with Type=notify and
#   TimeoutStartSec=0 (create_systemd_service_file()) and its .env file with the K3S_*/CONTAINERD_* variables of
#   the installer's environment (create_env_file());
# - service_enable_and_start(): `systemctl enable`; nothing more with INSTALL_K3S_SKIP_ENABLE or
#   INSTALL_K3S_SKIP_START; otherwise it restarts the unit only when the sha256 of the binary, the unit or the env
#   file changed (get_installed_hashes(): config.yaml is not among them) or INSTALL_K3S_FORCE_RESTART=true, else it
#   prints "No change detected so skipping service start". The restart is `systemctl restart`, which for a
#   Type=notify unit waits for READY without limit (the systemctl double).
# - the uninstall scripts read K3S_DATA_DIR from their environment (default /var/lib/rancher/k3s), not from the
#   config: with a custom data-dir and no K3S_DATA_DIR they remove the default one and leave the real one.
set -e
version="${INSTALL_K3S_VERSION:?INSTALL_K3S_VERSION is required by this double}"
exec_args="${INSTALL_K3S_EXEC:-}"
role="${exec_args%% *}"
case "$role" in
  server|agent) ;;
  ""|-*) if [ -n "${K3S_URL:-}" ]; then role=agent; else role=server; fi; exec_args="$role $exec_args" ;;
  *) echo "[ERROR]  unsupported INSTALL_K3S_EXEC: $exec_args" >&2; exit 1 ;;
esac
command -v systemctl >/dev/null 2>&1 || { echo "[ERROR]  Can not find systemd or openrc to use as a process supervisor for k3s" >&2; exit 1; }
service=k3s; [ "$role" = agent ] && service=k3s-agent
bin=/usr/local/bin
unit=/etc/systemd/system/$service.service
env_file=/etc/systemd/system/$service.service.env
hashes() { sha256sum $bin/k3s $unit $env_file 2>&1 || true; }
pre="$(hashes)"
echo "[INFO]  Using $version as release (test double)"
mkdir -p $bin /etc/systemd/system
wrapper="#!/bin/sh
K3S_DOUBLE_VERSION=$version exec /opt/testbed-sim/doubles/k3s \"\$@\""
if [ "$(cat $bin/k3s 2>/dev/null)" != "$wrapper" ]; then
  echo "[INFO]  Installing k3s to $bin/k3s"
  printf '%s\n' "$wrapper" > $bin/k3s.tmp && chmod 755 $bin/k3s.tmp && mv -f $bin/k3s.tmp $bin/k3s
else
  echo "[INFO]  Skipping binary downloaded, installed k3s matches hash"
fi
for cmd in kubectl crictl ctr; do [ -e $bin/$cmd ] || ln -sf k3s $bin/$cmd; done
cat > $bin/k3s-killall.sh <<'SH'
#!/bin/sh
# Test double for k3s-killall.sh: stops every k3s unit and removes the pod network's interfaces. A server's etcd and
# kube-apiserver (in k3s, part of its process) are the double's children and stop with its unit.
K3S_DATA_DIR=${K3S_DATA_DIR:-/var/lib/rancher/k3s}
for service in /etc/systemd/system/k3s*.service; do
  [ -s "$service" ] && systemctl stop "$(basename "$service")"
done
rm -rf /run/flannel /run/k3s
SH
chmod 755 $bin/k3s-killall.sh
cat > $bin/$service-uninstall.sh <<SH
#!/bin/sh
# Test double for $service-uninstall.sh (install.sh create_uninstall()).
K3S_DATA_DIR=\${K3S_DATA_DIR:-/var/lib/rancher/k3s}
$bin/k3s-killall.sh
systemctl disable $service
rm -f $unit $env_file
remove_uninstall() { rm -f $bin/$service-uninstall.sh; }
trap remove_uninstall EXIT
if ls /etc/systemd/system/k3s*.service >/dev/null 2>&1; then
  echo 'Additional k3s services installed, skipping uninstall of k3s'
  exit
fi
for cmd in kubectl crictl ctr; do [ -L $bin/\$cmd ] && rm -f $bin/\$cmd; done
rm -rf /etc/rancher/k3s /run/k3s /run/flannel "\$K3S_DATA_DIR" /var/lib/kubelet
rm -f $bin/k3s $bin/k3s-killall.sh
SH
chmod 755 $bin/$service-uninstall.sh
# systemd_disable(), then create_env_file() and create_service_file().
systemctl disable $service >/dev/null 2>&1 || true
rm -f $unit $env_file
(umask 077; env | grep -E '^(K3S|CONTAINERD)_' > $env_file || true)
chmod 0600 $env_file
cat > $unit <<EOF
[Unit]
Description=Lightweight Kubernetes
[Install]
WantedBy=multi-user.target
[Service]
Type=notify
EnvironmentFile=-$env_file
KillMode=process
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStart=$bin/k3s \\
    $exec_args
EOF
# service_enable_and_start()
[ "${INSTALL_K3S_SKIP_ENABLE:-}" = true ] && exit 0
echo "[INFO]  systemd: Enabling $service unit"
systemctl enable $unit >/dev/null
systemctl daemon-reload >/dev/null
[ "${INSTALL_K3S_SKIP_START:-}" = true ] && exit 0
post="$(hashes)"
if [ "$pre" = "$post" ] && [ "${INSTALL_K3S_FORCE_RESTART:-}" != true ]; then
  echo "[INFO]  No change detected so skipping service start"
  exit 0
fi
echo "[INFO]  systemd: Starting $service"
systemctl restart $service
