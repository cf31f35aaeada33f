# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for the ETSI GS QKD 014 gateway tests (qkdn-kmed) on the two
# nodes of lib.sh's qkdn_two_nodes.  Source it after lib.sh.
#
#   kmed_two_nodes [--stopped]
#                           qkdn_two_nodes, and on each node an SAE served
#                           through the gateway: sae-ga (credential
#                           "sae-ga", the CN of its certificate) at kme-1,
#                           sae-gb at kme-2, each remote at the other node;
#                           certificates in $KMED_CERTS: ca.crt, kme-1 and
#                           kme-2 (the gateways), sae-ga, sae-gb, sae-gc
#                           (a third SAE's), each NAME.crt and NAME.key
#   kmed_start N [LINE...]  qkdn-kmed in node N on KMED_ADDR[N]:8443
#                           (default 10.77.1.N) with the
#                           node's certificate, extra configuration lines
#                           (cert, key, ca, threads = 2 and access_log
#                           unless they set them);
#                           KMED_PID[N], its log in $TEST_DIR/kmed-N.log,
#                           the access log in $TEST_DIR/access-N.log
#   kmed_stop N             TERM, and wait until it is gone
#   kmed_logged N RE        wait (10 s) for a line matching RE in kmed-N.log
#   kurl N SAE [CURL ARGS...]
#                           curl in node N as SAE (its certificate) to
#                           https://kme-N:8443 + the last argument's
#                           path: prints the body, then a last line
#                           "HTTP <status>"
#   kstatus OUT             the status of a kurl output OUT
#   kbody OUT               its body
#   kpy N CMD [ARGS...]     helpers/etsi014_client.py CMD $KMED_CERTS ARGS
#                           in node N (Python requests, raw sockets)
#   pools_filled BYTES      both ends of link 1 hold BYTES of their own
#   own_bytes N             the bytes of its own link 1's pool holds in N
#   kmed_reissue NAME OUT   a new key and certificate for NAME from the
#                           test CA (a new serial): $KMED_CERTS/OUT.crt, .key
#   cert_serial FILE        the serial number of a PEM certificate
#   kmed_serial N           the serial of the certificate kme-N presents
#   $KJQ                    jq definitions: "b64bytes", the length of what
#                           a base64 string decodes to

KMED=${KMED:-$TOP/tools/build/qkdn-kmed}
KMED_CERTS=$TEST_DIR/certs
declare -a KMED_PID KMED_ADDR

# kmed_addr N: the address node N's gateway listens on.
kmed_addr() {
	echo "${KMED_ADDR[$1]:-10.77.1.$1}"
}

kmed_two_nodes() {
	qkdn_two_nodes "$@" || return 1
	certs_make "$KMED_CERTS" sae-ga sae-gb sae-gc || return 1
	qkdnctl -n qkdn1 sae add id sae-ga cred sae-ga || return 1
	qkdnctl -n qkdn1 sae add id sae-gb node kme-2 || return 1
	qkdnctl -n qkdn2 sae add id sae-gb cred sae-gb || return 1
	qkdnctl -n qkdn2 sae add id sae-ga node kme-1 || return 1
}

kmed_start() {
	local n=$1 conf=$TEST_DIR/kmed-$1.conf log=$TEST_DIR/kmed-$1.log l

	shift
	[ -x "$KMED" ] || {
		echo "# $KMED not built"
		return 1
	}
	{
		_kmed_default cert "$KMED_CERTS/kme-$n.crt" "$@"
		_kmed_default key "$KMED_CERTS/kme-$n.key" "$@"
		_kmed_default ca "$KMED_CERTS/ca.crt" "$@"
		_kmed_default threads 2 "$@"
		_kmed_default access_log "$TEST_DIR/access-$n.log" "$@"
		echo "listen = $(kmed_addr "$n"):8443"
		for l in "$@"; do
			echo "$l"
		done
	} >"$conf"
	daemon_spawn "$n" "$log" "$KMED" -c "$conf" -f
	_lib_logs+=("$log")
	defer _lib_stop "$SPAWN_PID"
	KMED_PID[n]=$SPAWN_PID
	wait_for 10 _lib_listening "$n" 8443 || {
		echo "# qkdn-kmed in qkdn$n is not listening"
		return 1
	}
}

# _kmed_default KEY VALUE LINE...: "KEY = VALUE" unless a LINE sets KEY.
_kmed_default() {
	local key=$1 val=$2 l

	shift 2
	for l in "$@"; do
		[[ $l =~ ^$key\ *= ]] && return 0
	done
	echo "$key = $val"
}

kmed_stop() {
	kill -TERM "${KMED_PID[$1]}" 2>/dev/null
	wait_for 10 _kmed_gone "${KMED_PID[$1]}"
}

_kmed_gone() {
	! kill -0 "$1" 2>/dev/null
}

kmed_logged() {
	wait_for 10 grep -qE -- "$2" "$TEST_DIR/kmed-$1.log"
}

kurl() {
	local n=$1 sae=$2 path

	shift 2
	path=${*: -1}
	set -- "${@:1:$#-1}"
	in_ns "$n" curl -sS --max-time 20 --cacert "$KMED_CERTS/ca.crt" \
		--cert "$KMED_CERTS/$sae.crt" --key "$KMED_CERTS/$sae.key" \
		--resolve "kme-$n:8443:$(kmed_addr "$n")" \
		-w '\nHTTP %{http_code}\n' "$@" "https://kme-$n:8443$path"
}

kstatus() {
	sed -n 's/^HTTP \([0-9]*\)$/\1/p' <<<"$1" | tail -n 1
}

kbody() {
	sed '$d' <<<"$1"
}

kpy() {
	local n=$1 cmd=$2

	shift 2
	in_ns "$n" python3 "$TOP/selftests/helpers/etsi014_client.py" "$cmd" \
		"$KMED_CERTS" "$@"
}

# shellcheck disable=SC2016,SC2034 # jq, not shell; read by the tests
KJQ='def b64bytes: (length / 4 * 3) - (if endswith("==") then 2 elif endswith("=") then 1 else 0 end);'

own_bytes() {
	qkdnctl -j -n "qkdn$1" pool show id 1 | jq '.[0].own_bytes'
}

kmed_reissue() {
	_lib_leaf "$KMED_CERTS" ca "$1" "$2"
}

cert_serial() {
	openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'
}

kmed_serial() {
	in_ns "$1" openssl s_client -connect "$(kmed_addr "$1"):8443" \
		-servername "kme-$1" -CAfile "$KMED_CERTS/ca.crt" \
		-cert "$KMED_CERTS/sae-ga.crt" -key "$KMED_CERTS/sae-ga.key" \
		</dev/null 2>/dev/null | openssl x509 -noout -serial |
		sed 's/^serial=//'
}

pools_filled() {
	local n

	for n in 1 2; do
		qkdnctl -j -n "qkdn$n" pool show id 1 |
			jq -e ".[0].own_bytes >= $1" >/dev/null || return 1
	done
}
