#!/bin/sh
# camkit token refresher: a native sidecar of the VMS (MediaMTX) and IVA (Frigate) pods.
#
# Composes $OUT from $TEMPLATE, replacing every @@token:<unit>@@ with an access token of this site's service
# client (Keycloak client credentials) for the scope vms-read-<unit>: read on the paths of <unit>'s VMS (a private
# system's publisher sets SCOPE_PREFIX=vms-publish-: publish on its own cameras' paths). The
# file is renamed into place, so readers see the old or the new file, never half of one. MediaMTX reloads its
# configuration when the file changes (only the relay paths change: recordings go on); Frigate's liveness
# check restarts Frigate when its composed configuration changed.
#
# A VMS checks a token when a session starts, so a token must be valid when a relay or an IVA stream
# (re)connects: tokens live `access.token.lifespan` (realm, 72 h by default) and are renewed once a day at
# REFRESH_AT_MINUTE (minutes after local midnight; TZ is the city's POSIX time zone), retried every minute
# while the SSO does not answer: the SSO may be away for two days before a reconnect fails.
#
# Environment: TEMPLATE OUT TOKEN_URL CLIENT_ID CLIENT_SECRET_FILE REFRESH_AT_MINUTE, optional SCOPE_PREFIX
# (default vms-read-), CA_FILE (CA of
# the SSO's certificate; default: the system's), ONCE=1 (compose once and exit: tests, jobs).
# Runs under busybox ash (curlimages/curl) and any POSIX sh; needs curl, sed, grep, sort, date.
set -u

log() { echo "refresh-tokens: $*" >&2; }

token() {  # $1: unit -> the access token on stdout
    unit=$1
    if [ -n "${CA_FILE:-}" ]; then set -- --cacert "$CA_FILE"; else set --; fi
    # the client secret goes to curl on stdin (a config file), never on a command line
    body=$( { printf 'user = "%s:' "$CLIENT_ID"; tr -d '\r\n' < "$CLIENT_SECRET_FILE"; printf '"\n'; } |
            curl -sS --fail-with-body --max-time 20 --proto =https "$@" -K - \
                 --data-urlencode grant_type=client_credentials --data-urlencode "scope=${SCOPE_PREFIX:-vms-read-}$unit" \
                 "$TOKEN_URL" ) || { log "token for $unit refused: $body"; return 1; }
    tok=$(printf '%s' "$body" | sed -n 's/.*"access_token" *: *"\([A-Za-z0-9._-]*\)".*/\1/p')
    [ -n "$tok" ] || { log "token for $unit: no access_token in the answer"; return 1; }
    printf '%s' "$tok"
}

compose() {
    tmp="$OUT.tmp"
    cp "$TEMPLATE" "$tmp" || return 1
    for unit in $(grep -o '@@token:[a-z0-9.-]*@@' "$TEMPLATE" | sort -u | sed 's/^@@token:\(.*\)@@$/\1/'); do
        tok=$(token "$unit") || { rm -f "$tmp"; return 1; }
        pattern=$(printf '%s' "$unit" | sed 's/\./\\./g')
        sed -i "s|@@token:$pattern@@|$tok|g" "$tmp" || { rm -f "$tmp"; return 1; }
    done
    mv -f "$tmp" "$OUT" || return 1
    log "composed $OUT"
}

minute_of_day() {
    h=$(date +%H); m=$(date +%M)
    echo $(( ${h#0} * 60 + ${m#0} ))
}

# the first configuration: the main container starts once it exists (startup probe of the sidecar)
until compose; do
    [ "${ONCE:-}" = 1 ] && exit 1
    sleep 30
done
[ "${ONCE:-}" = 1 ] && exit 0
done_day=$(date +%Y-%m-%d)
while :; do
    sleep 60
    day=$(date +%Y-%m-%d)
    [ "$day" = "$done_day" ] && continue
    [ "$(minute_of_day)" -ge "$REFRESH_AT_MINUTE" ] || continue
    compose && done_day=$day
done
