#!/usr/bin/env bash
# CI only: follow deploy/apache/README.md literally on this machine, then undo it.
#
# Runs every block the README marks with <!-- deploy:run --> (in order, in one
# bash process, with set -euo pipefail) against the machine's own Apache on
# ports 80 and 443, with a copy of this checkout in place of the git clone and
# APP_DIR, SERVER_NAME and SITE overridden after the README's settings block.
# Then checks the site answers, and puts the machine back as it was: the site,
# the modules it enabled, the snakeoil certificate if it made one, Apache
# stopped (or reloaded, if it was already running), the copy removed.
#
#     CI=true bash scripts/ci-deploy-check.sh     # as root; or: --yes instead of CI=true
set -euo pipefail

PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
README=$PROJECT/deploy/apache/README.md
APP_DIR=/srv/flaskapp-ci-$$
SERVER_NAME=localhost
SITE=flaskapp-ci
SITE_CONF=/etc/apache2/sites-available/$SITE.conf
SNAKEOIL_CERT=/etc/ssl/certs/ssl-cert-snakeoil.pem
SNAKEOIL_KEY=/etc/ssl/private/ssl-cert-snakeoil.key
HARDENING_CONF=/etc/apache2/conf-available/server-hardening.conf

section() { printf '\n==== %s\n' "$*"; }
fail() { printf 'deploy check FAILED: %s\n' "$*" >&2; exit 1; }

# --- Refuse unless asked for ------------------------------------------------------
if [[ ${CI:-} != true && ${1:-} != --yes ]]; then
    cat >&2 <<EOF
This script changes the machine: it installs packages, writes to /etc/apache2
and /srv, and starts or reloads the system Apache on ports 80 and 443. It is
meant for CI. Run it with CI=true, or pass --yes if you really mean it here.
EOF
    exit 1
fi
[[ $(id -u) == 0 ]] || fail "run as root (it installs packages and configures the system Apache)"
[[ -f $README ]] || fail "$README is missing"
[[ -e $SITE_CONF ]] && fail "$SITE_CONF exists (left over from an earlier run?); remove it first"
[[ -e $HARDENING_CONF ]] && fail "$HARDENING_CONF exists (left over from an earlier run?); remove it first"

STATE=$(mktemp -d /tmp/ci-deploy-check.XXXXXX)
started_at=$SECONDS
if [[ -d /run/systemd/system ]]; then systemd=true; else systemd=false; fi

# --- Cleanup: always, whatever happened --------------------------------------------
recorded=false
cleanup() {
    local status=$? leftover main_pid
    trap - EXIT INT TERM
    set +eu
    if [[ $status != 0 ]]; then
        section "Failed; the logs"
        for log in "/var/log/apache2/$SITE-error.log" /var/log/apache2/error.log; do
            [[ -f $log ]] && { echo "--- tail $log"; tail -n 40 "$log"; }
        done
    fi
    section "Cleanup"
    if $recorded; then
        if [[ -n $apache_before ]]; then
            echo "Apache was running before: taking the site out and reloading it"
        else
            main_pid=$(system_apache_pid)
            if [[ -n $main_pid ]]; then
                echo "Stopping the system Apache this check started (pid $main_pid)"
                if $systemd; then systemctl stop apache2; else apache2ctl stop; fi
                # Its processes (workers, mod_wsgi daemons) share its session id.
                for _ in $(seq 150); do
                    leftover=$(ps -e -o pid=,sid=,args= | awk -v sid="$main_pid" '$2 == sid')
                    [[ -z $leftover ]] && break
                    sleep 0.2
                done
                if [[ -n $leftover ]]; then
                    echo "WARNING: processes of the system Apache still running after stop:"
                    echo "$leftover"
                else
                    echo "stopped; none of its processes remain"
                fi
            fi
        fi
        [[ -e /etc/apache2/sites-enabled/$SITE.conf ]] && a2dissite -q "$SITE"
        rm -f "$SITE_CONF"
        # Modules the README's a2enmod enabled (with their dependencies): remove the
        # links a2enmod made, as a2dismod would, without its prompts and ordering.
        comm -13 "$STATE/mods-before" <(ls /etc/apache2/mods-enabled) | while read -r link; do
            echo "disabling module link $link"
            rm -f "/etc/apache2/mods-enabled/$link"
        done
        comm -13 "$STATE/confs-before" <(ls /etc/apache2/conf-enabled) | while read -r link; do
            echo "disabling conf link $link"
            rm -f "/etc/apache2/conf-enabled/$link"
        done
        rm -f "$HARDENING_CONF"
        # a2enmod/a2dissite keep state markers here; put them back as they were.
        if ! diff -q "$STATE/varlib-before" <(tree_listing /var/lib/apache2) >/dev/null; then
            find /var/lib/apache2 -mindepth 1 -delete
            tar -C /var/lib/apache2 -xf "$STATE/varlib.tar"
        fi
        if [[ -n $apache_before ]]; then
            if $systemd; then systemctl reload apache2; else apache2ctl graceful; fi
        fi
        # apt-get install marks packages it names as manually installed.
        comm -12 "$STATE/apt-auto-before" <(apt-mark showmanual | sort) | xargs -r apt-mark auto
        if ! $snakeoil_before; then
            echo "removing the snakeoil certificate the README made"
            find /etc/ssl/certs -maxdepth 1 -type l -lname ssl-cert-snakeoil.pem -delete
            rm -f "$SNAKEOIL_CERT" "$SNAKEOIL_KEY"
        fi
        for log in "/var/log/apache2/$SITE-error.log" "/var/log/apache2/$SITE-access.log"; do
            grep -qxF "$log" "$STATE/logs-before" || rm -f "$log"*
        done
        if ! diff -u "$STATE/etc-before" <(tree_listing /etc/apache2) >"$STATE/etc.diff"; then
            echo "WARNING: /etc/apache2 differs from before the check:"
            cat "$STATE/etc.diff"
        fi
        if ! diff -u "$STATE/ssl-before" <(tree_listing /etc/ssl) >"$STATE/ssl.diff"; then
            echo "WARNING: /etc/ssl differs from before the check:"
            cat "$STATE/ssl.diff"
        fi
    fi
    [[ $APP_DIR == /srv/flaskapp-ci-* ]] && rm -rf "$APP_DIR"
    rm -rf "$STATE"
    if [[ $status == 0 ]]; then
        section "deploy check passed ($((SECONDS - started_at))s)"
    else
        section "deploy check failed ($((SECONDS - started_at))s)"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The system Apache's main process (from Debian's pid file), if it runs. Other
# apache2 processes (the test suite's private instances, with their own -f and
# pid file) are not it.
PID_FILE=$(set +u; . /etc/apache2/envvars && echo "${APACHE_PID_FILE:-/var/run/apache2/apache2.pid}")
system_apache_pid() {
    local pid
    pid=$(cat "$PID_FILE" 2>/dev/null) || return 0
    [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == apache2 ]] && echo "$pid"
    return 0
}

# Every entry with its type, mode, owner, link target and (for files) checksum.
tree_listing() {
    (cd "$1" && find . -printf '%y %m %u:%g %p -> %l\n' | sort
        find . -type f -exec sha256sum {} + | sort -k2)
}

# --- Record the machine as it is ---------------------------------------------------
section "Recording the machine's state"
apache_before=$(system_apache_pid)
if [[ -n $apache_before ]]; then
    echo "The system Apache is already running (pid $apache_before); it will be reloaded"
else
    echo "Apache is not running; the README's reload step starts it, cleanup stops it"
    busy=$(ss -Hltn '( sport = :80 or sport = :443 )')
    [[ -z $busy ]] || fail "something else listens on port 80 or 443: $busy"
fi
echo "systemd running: $systemd"
ls /etc/apache2/mods-enabled >"$STATE/mods-before"
ls /etc/apache2/conf-enabled >"$STATE/confs-before"
tree_listing /etc/apache2 >"$STATE/etc-before"
tree_listing /etc/ssl >"$STATE/ssl-before"
tree_listing /var/lib/apache2 >"$STATE/varlib-before"
tar -C /var/lib/apache2 -cf "$STATE/varlib.tar" .
find /var/log/apache2 -maxdepth 1 -type f >"$STATE/logs-before"
apt-mark showauto | sort >"$STATE/apt-auto-before"
if [[ -e $SNAKEOIL_CERT || -e $SNAKEOIL_KEY ]]; then snakeoil_before=true; else snakeoil_before=false; fi
recorded=true

# --- The checkout, where the README's git clone would put it -------------------------
section "Copying this checkout's tracked files to $APP_DIR (instead of git clone)"
mkdir -p "$APP_DIR"
git -c safe.directory="$PROJECT" -C "$PROJECT" ls-files -z \
    | (cd "$PROJECT" && while IFS= read -r -d '' path; do
           [[ -e $path || -L $path ]] && printf '%s\0' "$path"
       done) \
    | (cd "$PROJECT" && xargs -0 -r cp -P --parents -t "$APP_DIR")
echo "$(find "$APP_DIR" -type f | wc -l) files"

# --- The README's marked blocks, as one script --------------------------------------
section "Extracting the <!-- deploy:run --> blocks from deploy/apache/README.md"
mkdir "$STATE/blocks"
awk -v dir="$STATE/blocks" '
    /^#+ / { heading = $0; sub(/^#+ +/, "", heading) }
    inblock && /^```[[:space:]]*$/ { inblock = 0; close(file); next }
    inblock { print > file; next }
    /^<!-- deploy:run -->[[:space:]]*$/ { armed = NR; next }
    armed && /^```bash[[:space:]]*$/ {
        n++; armed = 0; inblock = 1
        file = sprintf("%s/%02d.sh", dir, n)
        printf "%s (README line %d)\n", heading, NR > (file ".title")
        next
    }
    armed {
        printf "README line %d: <!-- deploy:run --> is not immediately followed by a ```bash block\n", armed > "/dev/stderr"
        bad = 1; armed = 0
    }
    END {
        if (inblock) { print "README: a marked block is never closed" > "/dev/stderr"; bad = 1 }
        exit bad
    }
' "$README" || fail "the README's markers are broken"
blocks=("$STATE"/blocks/*.sh)
[[ -e ${blocks[0]} ]] || fail "no <!-- deploy:run --> blocks in $README"
for block in "${blocks[@]}"; do echo "  $(basename "$block" .sh): $(cat "$block.title")"; done
for variable in APP_DIR SERVER_NAME SITE; do
    grep -q "^$variable=" "${blocks[0]}" \
        || fail "the first marked block (the settings) does not set $variable"
done

# The runner: each block is printed, then sourced, all in this one bash process.
# The settings block runs first as written; then this check's own values win.
cat >"$STATE/run.sh" <<EOF
set -euo pipefail
for __block in "$STATE"/blocks/*.sh; do
    printf '\n---- README: %s\n' "\$(cat "\$__block.title")"
    sed 's/^/    | /' "\$__block"
    source "\$__block"
    if [[ \$__block == "${blocks[0]}" ]]; then
        APP_DIR=$APP_DIR
        SERVER_NAME=$SERVER_NAME
        SITE=$SITE
        printf '    (CI overrides: APP_DIR=%s SERVER_NAME=%s SITE=%s)\n' "\$APP_DIR" "\$SERVER_NAME" "\$SITE"
    fi
done
EOF

section "Running the README's blocks"
# A clean environment, like a root shell on a server: nothing from CI (FLASK_*,
# DATABASE_URL, ...) reaches the flask commands or the Apache they start.
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
    bash "$STATE/run.sh" || fail "a README block failed (see above)"

# --- Is the site there? ------------------------------------------------------------
section "Checking the site"
health=$(curl -fsSk --retry 10 --retry-connrefused --retry-delay 1 https://localhost/api/health) \
    || fail "https://localhost/api/health did not answer 200"
echo "https://localhost/api/health: $health"
python3 -c 'import json, sys; sys.exit(json.loads(sys.argv[1]).get("status") != "healthy")' "$health" \
    || fail "the health check is not healthy: $health"
code=$(curl -s -o /dev/null -w '%{http_code}' http://localhost/)
echo "http://localhost/: $code"
[[ $code == 301 ]] || fail "http://localhost/ answered $code, not 301"
location=$(curl -s -o /dev/null -w '%{redirect_url}' http://localhost/some/page)
echo "http://localhost/some/page redirects to: $location"
[[ $location == https://localhost/some/page ]] || fail "unexpected redirect to $location"
headers=$(curl -fsSk -D - -o /dev/null https://localhost/)
grep -qi '^strict-transport-security:' <<<"$headers" || fail "no Strict-Transport-Security on https://localhost/"
grep -qi '^x-request-id:' <<<"$headers" || fail "no X-Request-ID on https://localhost/ (not the app?)"
echo "https://localhost/: HSTS and X-Request-ID present"
server=$(grep -i '^server:' <<<"$headers" | tr -d '\r')
echo "https://localhost/ $server"
[[ ${server,,} == "server: apache" ]] || fail "the Server header says more than Apache: $server"
code=$(curl -sk -o /dev/null -w '%{http_code}' -X TRACE https://localhost/)
echo "TRACE https://localhost/: $code"
[[ $code == 405 ]] || fail "TRACE answered $code, not 405"
static=$(sed -n 's|.*href="\(/static/[^"?]*\).*|\1|p' < <(curl -fsSk https://localhost/) | head -n 1)
if [[ -n $static ]]; then
    code=$(curl -sk -o /dev/null -w '%{http_code}' "https://localhost$static")
    echo "https://localhost$static: $code"
    [[ $code == 200 ]] || fail "static file $static answered $code"
fi
pgrep -f "wsgi:$SITE" >/dev/null || fail "no mod_wsgi daemon process named wsgi:$SITE"
owners=$(ps -o user= -p "$(pgrep -d, -f "wsgi:$SITE")" | sort -u | xargs)
echo "mod_wsgi daemon processes run as: $owners"
[[ $owners == www-data ]] || fail "the daemon processes run as $owners, not www-data"
not_www=$(find "$APP_DIR/instance" ! -user www-data)
[[ -z $not_www ]] || fail "files in instance/ not owned by www-data: $not_www"
grep -q "app.request: GET /api/health 200" "/var/log/apache2/$SITE-error.log" \
    || fail "the app's request log is not in /var/log/apache2/$SITE-error.log"
echo "the app's request lines are in /var/log/apache2/$SITE-error.log"

findings=$(cd "$APP_DIR" && runuser -u www-data -- "$APP_DIR/.venv/bin/flask" --app wsgi check-deploy --json) \
    || fail "flask check-deploy reports an error: $findings"
echo "flask check-deploy: $findings"
# What the guide's SQLite setup is expected to note, and nothing else. Its
# Redis password step is not marked to run: here Redis is the machine's shared
# one, which the test suite uses without a password afterwards.
python3 - "$findings" <<'PY' || fail "flask check-deploy reports more than the guide's setup explains"
import json, sys
found = {finding["id"] for finding in json.loads(sys.argv[1])}
sys.exit(not found <= {"config.sqlite", "redis.password"})
PY

echo "all checks passed after $((SECONDS - started_at))s"
