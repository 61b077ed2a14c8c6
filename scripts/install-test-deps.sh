#!/usr/bin/env bash
# Installs the Debian packages the full test suite uses and starts the services
# it talks to when they are not already answering. Run as root (make test-deps).
set -euo pipefail

packages=(
    python3-venv             # the venv for `make test`
    chromium                 # the real-browser test (driven by Playwright)
    fonts-dejavu-core        # text for Chromium to render
    mariadb-server           # the database tests, again on MariaDB
    mariadb-client
    redis-server             # the shared cache and rate-limit store
    apache2                  # the deployment suite: a private Apache instance
    libapache2-mod-wsgi-py3  # mod_wsgi, embedding Debian's /usr/bin/python3
    openssl                  # the test certificate
)

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "Installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

wait_for() {  # wait_for NAME COMMAND...: retry COMMAND for up to 30 seconds
    local name=$1; shift
    for _ in $(seq 60); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "$name did not start" >&2
    return 1
}

# MariaDB on 127.0.0.1:3306.
if ! mariadb-admin --protocol=tcp -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
    echo "Starting MariaDB"
    if ! service mariadb start >/dev/null 2>&1; then
        install -d -o mysql -g mysql /run/mysqld
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    fi
    wait_for MariaDB mariadb-admin -h 127.0.0.1 -u root ping
fi
# The test database, and root over TCP without a password (Debian's default is
# socket authentication only); this is a throwaway test server.
mariadb -u root <<'SQL'
CREATE DATABASE IF NOT EXISTS test CHARACTER SET utf8mb4;
SQL
if ! mariadb --protocol=tcp -h 127.0.0.1 -u root -e 'SELECT 1' test >/dev/null 2>&1; then
    mariadb -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')"
fi

# Redis on 127.0.0.1:6379, keeping nothing on disk.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "Starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
fi

echo "Test dependencies are ready."
