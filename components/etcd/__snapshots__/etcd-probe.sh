set -euo pipefail
# testbed step: doctor/etcd-probe
readonly url=http://127.0.0.1:2381/metrics
readonly since=1h
readonly log_grep='took too long|heartbeat on time|slow fdatasync|sync duration of|elected leader'
readonly karmada=false
readonly karmada_namespace=karmada-system
readonly karmada_etcd_selector=app=etcd
readonly karmada_cert_secret=karmada-cert
readonly karmada_etcd_host=etcd-client.karmada-system.svc.cluster.local
readonly karmada_etcd_port=2379
readonly -a karmada_cert_keys=(server-ca.crt karmada.crt front-proxy-ca.crt front-proxy-client.crt)
# shellcheck shell=bash
# The prelude of every step program (components/remote/script.ts, stepProgram): result lines, failure, JSON.

changed() { echo "TESTBED changed $*"; }
unchanged() { echo "TESTBED unchanged $*"; }
# output JSON: the step's values for later steps, one JSON document built with the json_* helpers below.
output() { echo "TESTBED output $1"; }
fail() {
  echo "$*" >&2
  exit 1
}
# A step with nothing to undo keeps this delete; a body that has one defines its own step_delete after it, which
# makes this one unreachable in that program (SC2317, by design).
# shellcheck disable=SC2317
step_delete() { unchanged "nothing to undo"; }

# json_string VALUE: VALUE as a JSON string. Quotes, backslashes, tabs, newlines and carriage returns are escaped;
# other control characters are dropped (JSON forbids them raw).
json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/\\t}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
  printf '"%s"' "$s"
}

# json_object KEY VALUE ...: a JSON object of string members; a KEY ending in ":" takes its VALUE as JSON already
# (a number, a boolean, an object or array built by these helpers).
json_object() {
  local out="" sep="" k v
  while [ "$#" -ge 2 ]; do
    k=$1
    v=$2
    shift 2
    if [[ $k == *: ]]; then
      out+="$sep$(json_string "${k%:}"):$v"
    else
      out+="$sep$(json_string "$k"):$(json_string "$v")"
    fi
    sep=","
  done
  printf '{%s}' "$out"
}

# json_array VALUE ...: a JSON array of strings.
json_array() {
  local out="" sep="" v
  for v in "$@"; do
    out+="$sep$(json_string "$v")"
    sep=","
  done
  printf '[%s]' "$out"
}
# shellcheck shell=bash
# The script `testbed doctor` runs on an etcd-bearing host (etcdProbeScript in doctor.ts). The values come from the
# program's header: url (etcd's metrics page), since (how far back to read logs), log_grep (the lines doctor reads,
# filtered here so a week of journal stays small on the wire), karmada (true on Karmada's host cluster), and where
# Karmada's etcd is: karmada_namespace, karmada_etcd_selector (its pods' label), karmada_cert_secret,
# karmada_etcd_host and karmada_etcd_port (see karmadaEtcd in doctor.ts).
# Sections start with `TESTBED section <name>`; what is missing is said on a `TESTBED unavailable <name>: <why>`
# line, never by failing. The URL is not echoed back: a newline in it would forge a section line.

# karmada_fetch DIR KEY: the Secret's KEY, decoded, into DIR/KEY (DIR is private); false, leaving no file, when the
# Secret has none. Each key is fetched once: the certificates' report and the metrics read share DIR.
# shellcheck disable=SC2154 # the karmada_* values come from the program's header
karmada_fetch() {
  if (umask 077 && k3s kubectl -n "$karmada_namespace" get secret "$karmada_cert_secret" \
    -o jsonpath="{.data.${2//./\\.}}" 2>/dev/null | base64 -d >"$1/$2" 2>/dev/null) && [ -s "$1/$2" ]; then
    return 0
  fi
  rm -f "$1/$2"
  return 1
}

# Karmada's certificates, for doctor to say how long they have left (components/karmada/certificates.ts): the
# public ones only, never a key. Only the lines of a PEM certificate pass, so nothing in the Secret can forge a
# section line.
karmada_certs() {
  local dir=$1 key missing=()
  for key in "${karmada_cert_keys[@]}"; do
    if karmada_fetch "$dir" "$key" && grep -qx -- '-----BEGIN CERTIFICATE-----' "$dir/$key"; then
      echo "TESTBED section karmada-cert-$key"
      grep -E '^(-----(BEGIN|END) CERTIFICATE-----|[A-Za-z0-9+/=]+)$' "$dir/$key"
    else
      missing+=("$key")
    fi
  done
  if [ "${#missing[@]}" -eq "${#karmada_cert_keys[@]}" ]; then
    echo "TESTBED unavailable karmada-certs: no certificate in Secret $karmada_namespace/$karmada_cert_secret"
  else
    for key in "${missing[@]}"; do
      echo "TESTBED unavailable karmada-cert-$key: no certificate $key in Secret $karmada_namespace/$karmada_cert_secret"
    done
  fi
}

# Karmada's etcd serves /metrics only on its client URL, https with client-cert-auth (chart 1.13.0, etcd.yaml:87-98):
# curl presents the chart's own certificate (the Secret the chart's pods mount), connects to the pod's IP and checks
# the server certificate under a Service name its hosts cover (*.<namespace>.svc.cluster.local). The certificates
# and the key are in DIR (karmada_certs fetched the certificates; the key is fetched here); none of them is printed.
karmada_etcd_metrics() {
  local dir=$1 pods name ip key
  if ! command -v curl >/dev/null 2>&1; then
    echo "TESTBED unavailable karmada-etcd-metrics: no curl on this host"
    return 0
  fi
  pods=$(k3s kubectl -n "$karmada_namespace" get pods -l "$karmada_etcd_selector" \
    -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.podIP}{"\n"}{end}' 2>/dev/null || true)
  if [ -z "$pods" ]; then
    echo "TESTBED unavailable karmada-etcd-metrics: no pod labelled $karmada_etcd_selector in $karmada_namespace"
    return 0
  fi
  for key in server-ca.crt karmada.crt karmada.key; do
    if [ ! -s "$dir/$key" ] && ! karmada_fetch "$dir" "$key"; then
      echo "TESTBED unavailable karmada-etcd-metrics: no $key in Secret $karmada_namespace/$karmada_cert_secret"
      return 0
    fi
  done
  while read -r name ip; do
    [ -n "$name" ] || continue
    echo "TESTBED section karmada-etcd-metrics-$name"
    if [ -z "$ip" ]; then
      echo "TESTBED unavailable karmada-etcd-metrics-$name: the pod has no IP yet"
      continue
    fi
    curl -fsS --max-time 10 --cacert "$dir/server-ca.crt" --cert "$dir/karmada.crt" --key "$dir/karmada.key" \
      --resolve "$karmada_etcd_host:$karmada_etcd_port:$ip" --url "https://$karmada_etcd_host:$karmada_etcd_port/metrics" ||
      echo "TESTBED unavailable karmada-etcd-metrics-$name: nothing answers at its client URL, or it refused the chart's certificate"
  done <<<"$pods"
}

# shellcheck disable=SC2154 # the values come from the program's header
step_create() {
  local pods p certs
  echo "TESTBED section metrics"
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 10 --url "$url" ||
      echo "TESTBED unavailable metrics: nothing answers at the metrics URL (k3s on its default sqlite store has no etcd; or etcd is down)"
  elif command -v wget >/dev/null 2>&1; then
    wget -qO- -T 10 -- "$url" || echo "TESTBED unavailable metrics: nothing answers at the metrics URL"
  else
    echo "TESTBED unavailable metrics: neither curl nor wget on this host"
  fi
  echo "TESTBED section journal"
  if command -v journalctl >/dev/null 2>&1 && systemctl cat k3s.service >/dev/null 2>&1; then
    journalctl -u k3s.service --since "-$since" -o short-iso --no-pager | grep -E -- "$log_grep" || true
  else
    echo "TESTBED unavailable journal: no k3s.service in this host's journal"
  fi
  [ "$karmada" = true ] || return 0
  echo "TESTBED section karmada-etcd"
  if command -v k3s >/dev/null 2>&1; then
    pods=$(k3s kubectl -n karmada-system get pods -o name 2>/dev/null | grep etcd || true)
    if [ -n "$pods" ]; then
      for p in $pods; do
        k3s kubectl -n karmada-system logs "$p" --since="$since" --timestamps 2>&1 | grep -E -- "$log_grep" || true
      done
    else
      echo "TESTBED unavailable karmada-etcd: no etcd pod in karmada-system"
    fi
    # The Secret's certificates and key, in a private directory removed whatever happens next.
    certs=$(umask 077 && mktemp -d)
    # shellcheck disable=SC2064 # the directory is known now
    trap "rm -rf '$certs'" EXIT
    karmada_certs "$certs"
    karmada_etcd_metrics "$certs"
  else
    echo "TESTBED unavailable karmada-etcd: no k3s on this host"
    echo "TESTBED unavailable karmada-etcd-metrics: no k3s on this host"
    echo "TESTBED unavailable karmada-certs: no k3s on this host"
  fi
}
case "${1:-create}" in
  create) step_create ;;
  delete) step_delete ;;
  *) echo "unknown action: $1 (expected create or delete)" >&2; exit 64 ;;
esac
