#!/bin/sh
# nixos-kexec report, the new system's side of --report: POSTs one event as
# JSON to the collector the agent was given, with the boot nonce from the
# handoff's boot.json, so that the operator's collector matches it with the
# agent's own milestones (start, verified, loaded, executing) and learns
# where the machine came back and which host keys to trust.
#
#   report.sh up         once the network is configured: nonce, host name,
#                        machine id, global addresses, SSH host key
#                        fingerprints (retried while the network comes up)
#   report.sh revert     from revert.sh, just before the safety net reboots
#   report.sh revert-held DETAIL
#                        from revert.sh: the deadline passed but a disk was
#                        written, so it does not reboot; "detail" says which
#   report.sh confirmed  from nixos-kexec-confirm
#   report.sh selftest NAME RESULT DETAIL [TIME]
#                        from selftest.sh, one step of the network self-test:
#                        "step":{"name","result","detail","time"}, TIME the
#                        Unix seconds it happened (default now)
#
# The same rules as the agent's reports: https only (also for redirects),
# TLS 1.2 at least, the certificate always verified, against the CA the
# agent reported with (report-ca.pem in the handoff, when it was given
# --cacert) or else the system's; short timeouts. A report never changes
# anything else: this script exits 0 whatever happens (64 for bad usage).
#
# POSIX sh. Needs curl; uses ip (iproute2) and ssh-keygen when present.
# nix/module.nix runs `report.sh up` from a unit after network-online.target;
# the e2e stand-in second system runs the same file. Environment (tests):
#   NIXOS_KEXEC_HANDOFF      the handoff tree (default /run/nixos-kexec/handoff)
#   NIXOS_KEXEC_ROOT         prefix for /etc/machine-id and /etc/ssh (default "")
#   NIXOS_KEXEC_REPORT_TRIES attempts (default: 12 for up, 3 for revert and
#                            selftest, 1 else)
#   NIXOS_KEXEC_REPORT_WAIT  seconds between attempts (default 5)
set -u

h=${NIXOS_KEXEC_HANDOFF:-/run/nixos-kexec/handoff}
root=${NIXOS_KEXEC_ROOT:-}
me="nixos-kexec report"

event=${1:-}
case $event in
up) tries=12 ;;
revert) tries=3 ;;
revert-held)
	tries=3
	if [ $# -lt 2 ]; then
		echo "usage: report.sh revert-held DETAIL" >&2
		exit 64
	fi
	;;
confirmed) tries=1 ;;
selftest)
	tries=3
	if [ $# -lt 4 ]; then
		echo "usage: report.sh selftest NAME RESULT DETAIL [TIME]" >&2
		exit 64
	fi
	;;
*)
	echo "usage: report.sh up|revert|revert-held|confirmed|selftest" >&2
	exit 64
	;;
esac
tries=${NIXOS_KEXEC_REPORT_TRIES:-$tries}
wait_s=${NIXOS_KEXEC_REPORT_WAIT:-5}

if [ ! -f "$h/boot.json" ]; then
	echo "$me: no $h/boot.json: not started by nixos-kexec; nothing to report"
	exit 0
fi
json=$(cat "$h/boot.json")

# The agent wrote boot.json: string values JSON-escaped, a report URL of
# URL characters only (no quote, no backslash). Values with either are
# not taken.
field() {
	printf '%s\n' "$json" | sed -n "s/.*\"$1\":\"\([^\"\\\\]*\)\".*/\1/p" | head -n 1
}
number() {
	printf '%s\n' "$json" | sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" | head -n 1
}
# Only bytes that need no escaping in a JSON string.
clean() {
	printf '%s' "$1" | tr -cd 'A-Za-z0-9._:/+=@%(), -'
}

url=$(field report)
if [ -z "$url" ]; then
	exit 0 # the agent ran without --report
fi
case $url in
https://*) ;;
*)
	echo "$me: $url is not https; not reporting" >&2
	exit 0
	;;
esac
if ! command -v curl >/dev/null 2>&1; then
	echo "$me: no curl on this system; '$event' not reported" >&2
	exit 0
fi

nonce=$(clean "$(field nonce)")
name=$(clean "$(field name)")
version=$(number version)
after=$(number revert_after)
host=$(clean "$(cat /proc/sys/kernel/hostname 2>/dev/null)")
mid=
if [ -f "$root/etc/machine-id" ]; then
	mid=$(clean "$(sed -n 1p "$root/etc/machine-id" | cut -c 1-64)")
fi

# "eth0 10.0.2.15/24", one string per global address
addresses() {
	command -v ip >/dev/null 2>&1 || return 0
	ip -o addr show scope global 2>/dev/null | while read -r _ dev fam addr _; do
		case $fam in inet | inet6) printf '%s\n' "$(clean "$dev $addr")" ;; esac
	done
}

# "ED25519 SHA256:...", one string per host key
fingerprints() {
	command -v ssh-keygen >/dev/null 2>&1 || return 0
	for f in "$root"/etc/ssh/ssh_host_*_key.pub; do
		[ -f "$f" ] || continue
		ssh-keygen -lf "$f" 2>/dev/null | while read -r _ fp rest; do
			type=${rest##*(}
			printf '%s\n' "$(clean "${type%)} $fp")"
		done
	done
}

# A JSON array of the lines on stdin.
array() {
	sep='' out=''
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		out="$out$sep\"$line\""
		sep=,
	done
	printf '[%s]' "$out"
}

body="{\"event\":\"$event\",\"nonce\":\"$nonce\",\"time\":$(date +%s),\"host\":\"$host\""
body="$body,\"machine_id\":\"$mid\",\"addresses\":$(addresses | array)"
body="$body,\"ssh_host_keys\":$(fingerprints | array)"
if [ -n "$name" ] && [ -n "$version" ]; then
	body="$body,\"bundle\":{\"name\":\"$name\",\"version\":$version}"
fi
if [ -n "$after" ] && [ "$after" -gt 0 ]; then
	body="$body,\"revert_after\":$after"
fi
if [ "$event" = revert-held ]; then
	body="$body,\"detail\":\"$(clean "$2")\""
fi
if [ "$event" = selftest ]; then
	at=$(printf '%s' "${5:-}" | tr -cd 0-9)
	body="$body,\"step\":{\"name\":\"$(clean "$2")\",\"result\":\"$(clean "$3")\""
	body="$body,\"detail\":\"$(clean "$4")\",\"time\":${at:-$(date +%s)}}"
fi
body="$body}"

post() {
	set -- curl -fsS --proto =https --proto-redir =https --tlsv1.2 \
		--connect-timeout 5 --max-time 10 -o /dev/null \
		-H 'Content-Type: application/json' --data-binary "$body"
	if [ -f "$h/report-ca.pem" ]; then
		set -- "$@" --cacert "$h/report-ca.pem"
	fi
	"$@" "$url"
}

i=1
while :; do
	if post; then
		echo "$me: '$event' delivered to $url (boot nonce $nonce)"
		exit 0
	fi
	if [ "$i" -ge "$tries" ]; then
		echo "$me: '$event' not delivered to $url after $i attempt(s)" >&2
		exit 0
	fi
	i=$((i + 1))
	sleep "$wait_s"
done
