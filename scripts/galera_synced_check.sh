#!/bin/sh
# HAProxy's external check of a Galera node (scripts/cluster.sh): up only when the node is
# Synced (wsrep_local_state 4). A node that only accepts logins may still be joining the
# cluster (its SST or IST under way) or desynced, and would answer queries with errors or
# old rows; HAProxy's mysql-check saw it as up. HAProxy calls this with
# <proxy address> <proxy port> <server address> <server port>; exit 0 means up.
# The account haproxy_check has no password and no privilege (SHOW STATUS needs none).
state=$(mariadb --host="$3" --port="$4" --user=haproxy_check --connect-timeout=1 \
    --skip-ssl --batch --skip-column-names \
    --execute="SHOW GLOBAL STATUS LIKE 'wsrep_local_state'" 2>/dev/null | cut -f2)
[ "$state" = 4 ]
