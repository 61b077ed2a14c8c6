#!/usr/bin/env bash
# CI only: follow deploy/apache/README.md literally on this machine, then undo it.
#
# Runs the blocks the README marks with <!-- deploy:run PHASE... --> (in one
# bash process, with set -euo pipefail) against the machine's own Apache on
# ports 80 and 443, with a copy of this checkout in place of the git clone.
# A marker names the walk-throughs a block belongs to; no name means "single".
#
#   single     the one-server guide: every block in README order, with APP_DIR,
#              SERVER_NAME and SITE overridden after the settings block.
#   cluster    "More than one server", all on this machine: cluster-settings,
#              cluster-database, cluster-shared, then cluster-node twice (two
#              nodes, one Apache, ports 8081 and 8082, each its own APP_DIR and
#              SITE), cluster-front-files, cluster-front and cluster-check. Each
#              phase's blocks run in README order; the addresses become loopback
#              ones and REDIS_URL the machine's Redis, which stays shared with
#              the test suite (the README's Redis password step is not marked).
#
# Then checks the site answers, and puts the machine back as it was: the sites,
# the modules it enabled, the snakeoil certificate if it made one, the database
# it made, Apache stopped (or reloaded, if it was already running), the copies
# removed.
#
#     CI=true bash scripts/ci-deploy-check.sh [single|cluster]   # as root; or --yes instead of CI=true
set -euo pipefail

PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
README=$PROJECT/deploy/apache/README.md
SERVER_NAME=localhost
SNAKEOIL_CERT=/etc/ssl/certs/ssl-cert-snakeoil.pem
SNAKEOIL_KEY=/etc/ssl/private/ssl-cert-snakeoil.key
HARDENING_CONF=/etc/apache2/conf-available/server-hardening.conf

section() { printf '\n==== %s\n' "$*"; }
fail() { printf 'deploy check FAILED: %s\n' "$*" >&2; exit 1; }

MODE=single
yes=false
for argument in "$@"; do
    case $argument in
        single | cluster) MODE=$argument ;;
        --yes) yes=true ;;
        *) echo "usage: $0 [single|cluster] [--yes]" >&2; exit 2 ;;
    esac
done
if [[ $MODE == single ]]; then
    SITES=(flaskapp-ci)
    APP_DIRS=("/srv/flaskapp-ci-$$")
else
    SITES=(flaskapp-ci-node1 flaskapp-ci-node2 flaskapp-ci-front)
    APP_DIRS=("/srv/flaskapp-ci-$$-node1" "/srv/flaskapp-ci-$$-node2")
    NODE_PORTS=(8081 8082)
    # The names the README's database block uses.
    DB_NAME=flaskapp
    DB_USER=flaskapp
fi

# --- Refuse unless asked for ------------------------------------------------------
if [[ ${CI:-} != true && $yes != true ]]; then
    cat >&2 <<EOF
This script changes the machine: it installs packages, writes to /etc/apache2
and /srv, and starts or reloads the system Apache on ports 80 and 443. It is
meant for CI. Run it with CI=true, or pass --yes if you really mean it here.
EOF
    exit 1
fi
[[ $(id -u) == 0 ]] || fail "run as root (it installs packages and configures the system Apache)"
[[ -f $README ]] || fail "$README is missing"
for site in "${SITES[@]}"; do
    [[ -e /etc/apache2/sites-available/$site.conf ]] \
        && fail "/etc/apache2/sites-available/$site.conf exists (left over from an earlier run?); remove it first"
done
if [[ $MODE == cluster ]]; then
    [[ -z $(mariadb -N -e "SHOW DATABASES LIKE '$DB_NAME'") ]] \
        || fail "MariaDB already has a database $DB_NAME (left over from an earlier run?); drop it first"
    [[ -z $(mariadb -N -e "SELECT 1 FROM mysql.user WHERE user = '$DB_USER'") ]] \
        || fail "MariaDB already has a user $DB_USER (left over from an earlier run?); drop it first"
fi
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
        for log in "${SITES[@]}" error; do
            [[ $log == error ]] && log=/var/log/apache2/error.log || log=/var/log/apache2/$log-error.log
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
        for site in "${SITES[@]}"; do
            [[ -e /etc/apache2/sites-enabled/$site.conf ]] && a2dissite -q "$site"
            rm -f "/etc/apache2/sites-available/$site.conf"
        done
        # Sites the README disabled (000-default, for a node on port 80).
        comm -23 "$STATE/sites-before" <(ls /etc/apache2/sites-enabled) | while read -r link; do
            echo "enabling site link $link again"
            ln -s "../sites-available/$link" "/etc/apache2/sites-enabled/$link"
        done
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
        for site in "${SITES[@]}"; do
            for log in "/var/log/apache2/$site-error.log" "/var/log/apache2/$site-access.log"; do
                grep -qxF "$log" "$STATE/logs-before" || rm -f "$log"*
            done
        done
        if [[ $MODE == cluster ]]; then
            echo "dropping the database $DB_NAME and the user $DB_USER the README made"
            mariadb -N -e "SELECT CONCAT('DROP USER ', QUOTE(user), '@', QUOTE(host), ';') FROM mysql.user WHERE user = '$DB_USER'" \
                | mariadb
            mariadb -e "DROP DATABASE IF EXISTS \`$DB_NAME\`"
        fi
        if ! diff -u "$STATE/etc-before" <(tree_listing /etc/apache2) >"$STATE/etc.diff"; then
            echo "WARNING: /etc/apache2 differs from before the check:"
            cat "$STATE/etc.diff"
        fi
        if ! diff -u "$STATE/ssl-before" <(tree_listing /etc/ssl) >"$STATE/ssl.diff"; then
            echo "WARNING: /etc/ssl differs from before the check:"
            cat "$STATE/ssl.diff"
        fi
    fi
    for app_dir in "${APP_DIRS[@]}"; do
        [[ $app_dir == /srv/flaskapp-ci-* ]] && rm -rf "$app_dir"
    done
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
ls /etc/apache2/sites-enabled >"$STATE/sites-before"
tree_listing /etc/apache2 >"$STATE/etc-before"
tree_listing /etc/ssl >"$STATE/ssl-before"
tree_listing /var/lib/apache2 >"$STATE/varlib-before"
tar -C /var/lib/apache2 -cf "$STATE/varlib.tar" .
find /var/log/apache2 -maxdepth 1 -type f >"$STATE/logs-before"
apt-mark showauto | sort >"$STATE/apt-auto-before"
if [[ -e $SNAKEOIL_CERT || -e $SNAKEOIL_KEY ]]; then snakeoil_before=true; else snakeoil_before=false; fi
recorded=true

# --- The checkout, where the README's git clone would put it -------------------------
for app_dir in "${APP_DIRS[@]}"; do
    section "Copying this checkout's tracked files to $app_dir (instead of git clone)"
    mkdir -p "$app_dir"
    git -c safe.directory="$PROJECT" -C "$PROJECT" ls-files -z \
        | (cd "$PROJECT" && while IFS= read -r -d '' path; do
               [[ -e $path || -L $path ]] && printf '%s\0' "$path"
           done) \
        | (cd "$PROJECT" && xargs -0 -r cp -P --parents -t "$app_dir")
    echo "$(find "$app_dir" -type f | wc -l) files"
done

# --- The README's marked blocks ----------------------------------------------------
section "Extracting the <!-- deploy:run --> blocks from deploy/apache/README.md"
mkdir "$STATE/blocks"
# Each block becomes NN.sh, with NN.sh.title (its heading) and NN.sh.phases.
awk -v dir="$STATE/blocks" '
    /^#+ / { heading = $0; sub(/^#+ +/, "", heading) }
    inblock && /^```[[:space:]]*$/ { inblock = 0; close(file); next }
    inblock { print > file; next }
    /^<!-- deploy:run( [a-z -]+)? -->[[:space:]]*$/ {
        armed = NR
        phases = $0
        sub(/^<!-- deploy:run */, "", phases); sub(/ *-->[[:space:]]*$/, "", phases)
        if (phases == "") phases = "single"
        next
    }
    armed && /^```bash[[:space:]]*$/ {
        n++; armed = 0; inblock = 1
        file = sprintf("%s/%02d.sh", dir, n)
        printf "%s (README line %d)\n", heading, NR > (file ".title")
        printf " %s \n", phases > (file ".phases")
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

# The blocks of one phase, in README order.
blocks_of() {
    local block found=()
    for block in "$STATE"/blocks/*.sh; do
        grep -q " $1 " "$block.phases" && found+=("$block")
    done
    ((${#found[@]})) || fail "no <!-- deploy:run $1 --> blocks in $README"
    printf '%s\n' "${found[@]}"
}
allowed_phases=" single cluster-settings cluster-database cluster-shared cluster-node cluster-front-files cluster-front cluster-check "
for phases in "$STATE"/blocks/*.phases; do
    for phase in $(cat "$phases"); do
        [[ $allowed_phases == *" $phase "* ]] || fail "unknown phase '$phase' in $(cat "${phases%.phases}.title")"
    done
done

# The runner: prints each block, then sources it, all in one bash process.
{
    echo 'set -euo pipefail'
    echo 'run_block() {'
    echo '    printf "\n---- README: %s\n" "$(cat "$1.title")"'
    echo '    sed "s/^/    | /" "$1"'
    echo '    source "$1"'
    echo '}'
    echo 'overrides() { printf "    (CI overrides: %s)\n" "$*"; }'
} >"$STATE/run.sh"
# run_phase PHASE [ASSIGNMENT...]: the phase's blocks, after the assignments.
# A node or the front runs in a subshell: it is another machine, sharing only
# the settings (and the files the README copies between machines).
run_phase() {
    local phase=$1 block; shift
    printf '\necho; echo "==== phase %s %s"\n' "$phase" "$*" >>"$STATE/run.sh"
    (($#)) && printf '%s\n' "$@" "overrides $*" >>"$STATE/run.sh"
    while read -r block; do printf 'run_block %q\n' "$block" >>"$STATE/run.sh"; done < <(blocks_of "$phase")
}
if [[ $MODE == single ]]; then
    while read -r block; do
        printf 'run_block %q\n' "$block" >>"$STATE/run.sh"
        if [[ $block == "$(blocks_of single | head -n 1)" ]]; then
            cat >>"$STATE/run.sh" <<EOF
APP_DIR=${APP_DIRS[0]} SERVER_NAME=$SERVER_NAME SITE=${SITES[0]}
overrides APP_DIR=\$APP_DIR SERVER_NAME=\$SERVER_NAME SITE=\$SITE
EOF
        fi
    done < <(blocks_of single)
else
    # This machine plays every part: loopback addresses, the nodes on their own
    # ports, the machine's MariaDB and Redis (no password: see above).
    run_phase cluster-settings
    cat >>"$STATE/run.sh" <<EOF
SERVER_NAME=$SERVER_NAME FRONT_ADDRESS=127.0.0.1 DB_HOST=127.0.0.1 DB_CLIENTS=127.0.0.1
NODES="127.0.0.1:${NODE_PORTS[0]} 127.0.0.1:${NODE_PORTS[1]}"
SHARED_ENV=$STATE/shared.env FRONT_FILES=$STATE/front
overrides SERVER_NAME FRONT_ADDRESS DB_HOST DB_CLIENTS NODES SHARED_ENV FRONT_FILES
EOF
    run_phase cluster-database
    echo 'REDIS_URL=redis://127.0.0.1:6379/0; overrides REDIS_URL=$REDIS_URL' >>"$STATE/run.sh"
    run_phase cluster-shared
    for i in 0 1; do
        echo '(' >>"$STATE/run.sh"
        run_phase cluster-node "APP_DIR=${APP_DIRS[i]}" "SITE=${SITES[i]}" "NODE_PORT=${NODE_PORTS[i]}"
        echo ')' >>"$STATE/run.sh"
    done
    for phase in cluster-front-files cluster-front cluster-check; do
        echo '(' >>"$STATE/run.sh"
        run_phase "$phase" "APP_DIR=${APP_DIRS[0]}" "SITE=${SITES[2]}"
        echo ')' >>"$STATE/run.sh"
    done
fi

section "Running the README's blocks ($MODE)"
# A clean environment, like a root shell on a server: nothing from CI (FLASK_*,
# DATABASE_URL, ...) reaches the flask commands or the Apache they start.
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
    bash "$STATE/run.sh" || fail "a README block failed (see above)"

# --- Is the site there? ------------------------------------------------------------
# What check-deploy may report on the guide's setups, and nothing else: SQLite
# on the single server; on both, Redis without a password (the README's password
# step is not marked: here Redis is the machine's, used by the test suite after).
expect_findings() {  # expect_findings APP_DIR ALLOWED-ID...
    local app_dir=$1 findings; shift
    findings=$(cd "$app_dir" && runuser -u www-data -- "$app_dir/.venv/bin/flask" --app wsgi check-deploy --json) \
        || fail "flask check-deploy reports an error in $app_dir: $findings"
    echo "flask check-deploy in $app_dir: $findings"
    python3 - "$findings" "$@" <<'PY' || fail "flask check-deploy in $app_dir reports more than the guide's setup explains"
import json, sys
found = {finding["id"] for finding in json.loads(sys.argv[1])}
sys.exit(not found <= set(sys.argv[2:]))
PY
}

# The headers every answer through https://localhost/ carries.
check_https_front() {
    local headers server code
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
    code=$(curl -s -o /dev/null -w '%{http_code}' http://localhost/)
    echo "http://localhost/: $code"
    [[ $code == 301 ]] || fail "http://localhost/ answered $code, not 301"
}

check_single() {
    local health location static code owners not_www request_id site=${SITES[0]} app_dir=${APP_DIRS[0]}
    health=$(curl -fsSk --retry 10 --retry-connrefused --retry-delay 1 https://localhost/api/health) \
        || fail "https://localhost/api/health did not answer 200"
    echo "https://localhost/api/health: $health"
    python3 -c 'import json, sys; sys.exit(json.loads(sys.argv[1]).get("status") != "healthy")' "$health" \
        || fail "the health check is not healthy: $health"
    location=$(curl -s -o /dev/null -w '%{redirect_url}' http://localhost/some/page)
    echo "http://localhost/some/page redirects to: $location"
    [[ $location == https://localhost/some/page ]] || fail "unexpected redirect to $location"
    check_https_front
    static=$(sed -n 's|.*href="\(/static/[^"?]*\).*|\1|p' < <(curl -fsSk https://localhost/) | head -n 1)
    if [[ -n $static ]]; then
        code=$(curl -sk -o /dev/null -w '%{http_code}' "https://localhost$static")
        echo "https://localhost$static: $code"
        [[ $code == 200 ]] || fail "static file $static answered $code"
    fi
    pgrep -f "wsgi:$site" >/dev/null || fail "no mod_wsgi daemon process named wsgi:$site"
    owners=$(ps -o user= -p "$(pgrep -d, -f "wsgi:$site")" | sort -u | xargs)
    echo "mod_wsgi daemon processes run as: $owners"
    [[ $owners == www-data ]] || fail "the daemon processes run as $owners, not www-data"
    not_www=$(find "$app_dir/instance" ! -user www-data)
    [[ -z $not_www ]] || fail "files in instance/ not owned by www-data: $not_www"
    # One line per request in the access log, with its time and X-Request-ID;
    # none from the app in the error log at production's default level.
    request_id=$(curl -fsSk -D - -o /dev/null https://localhost/api/health?logged=1 \
        | sed -n 's/^x-request-id: *//Ip' | tr -d '\r')
    [[ -n $request_id ]] || fail "no X-Request-ID on https://localhost/api/health"
    sleep 1
    grep -E "\"GET /api/health\\?logged=1 HTTP/1.1\" 200 [0-9]+ .* [0-9]+ $request_id\$" \
        "/var/log/apache2/$site-access.log" \
        || fail "no access-log line with the time and request id $request_id in /var/log/apache2/$site-access.log"
    echo "the access log has the request's time and id $request_id"
    ! grep -q "app.request" "/var/log/apache2/$site-error.log" \
        || fail "the app logs every request in /var/log/apache2/$site-error.log at the default level"
    expect_findings "$app_dir" config.sqlite redis.password
}

check_cluster() {
    local ready code i port static served
    ready=$(curl -fsSk --retry 10 --retry-connrefused --retry-delay 1 https://localhost/api/ready) \
        || fail "https://localhost/api/ready (through the front) did not answer 200"
    echo "https://localhost/api/ready: $ready"
    check_https_front
    # Static files come from a node's Apache, through the front.
    static=$(sed -n 's|.*href="\(/static/[^"?]*\).*|\1|p' < <(curl -fsSk https://localhost/) | head -n 1)
    [[ -n $static ]] || fail "the home page through the front links no static file"
    code=$(curl -sk -o /dev/null -w '%{http_code}' "https://localhost$static")
    echo "https://localhost$static: $code"
    [[ $code == 200 ]] || fail "static file $static answered $code through the front"
    # No stickiness: requests spread over both nodes.
    for i in $(seq 10); do curl -fsSk -o /dev/null "https://localhost/api/health?spread=$i"; done
    for i in 0 1; do
        served=$(grep -c 'GET /api/health?spread=' "/var/log/apache2/${SITES[i]}-access.log" || true)
        echo "node ${SITES[i]} answered $served of the 10 requests"
        ((served >= 2)) || fail "node ${SITES[i]} answered $served of 10 requests through the front"
    done
    # A node admits the front only: another address gets 403.
    for port in "${NODE_PORTS[@]}"; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 "http://127.0.0.1:$port/api/ready")
        echo "http://127.0.0.1:$port/api/ready from 127.0.0.2: $code"
        [[ $code == 403 ]] || fail "a node answered $code, not 403, to an address other than the front's"
    done
    for i in 0 1; do expect_findings "${APP_DIRS[i]}" redis.password; done
}

section "Checking the site ($MODE)"
"check_$MODE"
echo "all checks passed after $((SECONDS - started_at))s"
