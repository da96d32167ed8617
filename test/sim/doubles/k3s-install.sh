#!/bin/sh
# Test double for the k3s installer (https://get.k3s.io), following its file contract: INSTALL_K3S_VERSION,
# INSTALL_K3S_EXEC ("server|agent [args]"), /etc/rancher/k3s/config.yaml honoured; installs /usr/local/bin/k3s
# (+ kubectl, crictl links), /usr/local/bin/k3s[-agent]-uninstall.sh, /etc/systemd/system/k3s[-agent].service and
# its .env; a server writes <data-dir>/server/node-token and /etc/rancher/k3s/k3s.yaml (0600). Skips when the
# same version is installed, as the real installer skips the download. The "service" is started directly (no systemd).
set -e
version="${INSTALL_K3S_VERSION:?INSTALL_K3S_VERSION is required by this double}"
exec_args="${INSTALL_K3S_EXEC:-}"
role="${exec_args%% *}"
[ -n "$role" ] || role=server
[ -n "${K3S_URL:-}" ] && role=agent
case "$role" in server|agent) ;; *) echo "[ERROR] unsupported INSTALL_K3S_EXEC: $exec_args" >&2; exit 1 ;; esac
service=k3s; [ "$role" = agent ] && service=k3s-agent
echo "[INFO]  Using $version as release (test double)"
mkdir -p /usr/local/bin /etc/systemd/system /etc/rancher/k3s
cat > /usr/local/bin/k3s <<SH
#!/bin/sh
K3S_DOUBLE_VERSION=$version exec /opt/testbed-sim/doubles/k3s "\$@"
SH
chmod 755 /usr/local/bin/k3s
ln -sf k3s /usr/local/bin/kubectl
ln -sf k3s /usr/local/bin/crictl
printf '[Unit]\nDescription=Lightweight Kubernetes\n[Service]\nEnvironmentFile=-/etc/systemd/system/%s.service.env\nExecStart=/usr/local/bin/k3s %s\n' "$service" "$exec_args" > /etc/systemd/system/$service.service
umask 077; : > /etc/systemd/system/$service.service.env; umask 022
data_dir="$(sed -n 's/^data-dir: *//p' /etc/rancher/k3s/config.yaml 2>/dev/null | head -n1)"
data_dir="${data_dir:-/var/lib/rancher/k3s}"
cat > /usr/local/bin/$service-uninstall.sh <<SH
#!/bin/sh
# Test double for k3s's uninstall script: stops the double's process and removes what the installer and k3s wrote.
set -e
[ -f /run/k3s-double-$role.pid ] && kill "\$(cat /run/k3s-double-$role.pid)" 2>/dev/null || true
rm -f /run/k3s-double-$role.pid
$( [ "$role" = agent ] && echo '/usr/local/bin/k3s agent-leave || true' )
rm -rf /etc/rancher/k3s "$data_dir" /var/lib/kubelet
rm -f /etc/systemd/system/$service.service /etc/systemd/system/$service.service.env
rm -f /usr/local/bin/kubectl /usr/local/bin/crictl /usr/local/bin/k3s /usr/local/bin/$service-uninstall.sh
rmdir /etc/rancher /var/lib/rancher /etc/systemd/system /etc/systemd 2>/dev/null || true
SH
chmod 755 /usr/local/bin/$service-uninstall.sh
# (Re)start the "service" with the new configuration, as the installer's systemctl restart does.
[ -f /run/k3s-double-$role.pid ] && kill "$(cat /run/k3s-double-$role.pid)" 2>/dev/null || true
/usr/local/bin/k3s $exec_args --double-start
echo "[INFO]  systemd: Starting $service (test double)"
