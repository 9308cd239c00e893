#!/usr/bin/env bash
# Benchmarks of issue 12: hookd-load with its verifier, SQLite and 1-3 replicas on PostgreSQL.
set -u
B=${BENCH_DIR:-/tmp/bench}
cd $B
TOKEN=bench-t0ken
SHA=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | head -1)
COUNT=${COUNT:-20000}
MIX=${MIX:-branch=80,hook=10,redeliver=10}
# REPLICA_PROCS: GOMAXPROCS of each hookd process (unset: Go's default, every core)

repo() { rm -rf $B/models; git init -q -b main $B/models; git -C $B/models -c user.name=b -c user.email=b@x commit -q --allow-empty -m first; }
config() { # $1 database url
cat > $B/hookd.yaml <<YAML
database_url: $1
repositories:
  - github: acme/models
    secret: s3cret
    api_url: http://127.0.0.1:9/
    reconcile_interval: 1h
  - path: $B/models
    secret: s3cret
    reconcile_interval: 1h
tokens:
  - {name: bench, sha256: $SHA, scopes: [{repositories: "*", operations: [read]}]}
actions:
  - name: deploy
    on: {event: [assignment]}
    exec: {command: [sh, -c, 'echo "\$HOOKD_IDEMPOTENCY_KEY" >> "\$1"', deploy, $B/ledger]}
YAML
}
start() { # $1 port
  local i
  env ${REPLICA_PROCS:+GOMAXPROCS=$REPLICA_PROCS} $B/hookd serve --config $B/hookd.yaml --listen 127.0.0.1:$1 --log-format json 2>$B/hookd-$1.log &
  echo $! > $B/pid-$1
  for i in $(seq 100); do curl -fs http://127.0.0.1:$1/readyz >/dev/null && break; sleep 0.2; done
}
stopall() { for f in $B/pid-*; do kill $(cat $f) 2>/dev/null; done; sleep 2; rm -f $B/pid-*; }
measure() { # $1 label, $2.. urls
  local label urls pids
  label=$1; shift
  urls=$(IFS=,; echo "$*")
  pids=$(cat $B/pid-* | paste -sd,)
  (vmstat 1 5 | tail -1 | awk '{print "before: idle " $15 "% steal " $17 "%"}') > $B/$label.vm
  (vmstat 1 25 > $B/$label.vmrun &)
  taskset -c 1 $B/hookd-load -url $urls -secret s3cret -git-dir $B/models -git-secret s3cret -mix $MIX \
     -count $COUNT -concurrency 64 -duration 20s -pid $pids -token $TOKEN -action deploy -ledger $B/ledger -settle 180s > $B/$label.out 2>&1
  echo "exit $?" >> $B/$label.out
  awk 'NR>3{i+=$15;s+=$17;n++} END{printf "during: idle %.0f%% steal %.1f%%\n", i/n, s/n}' $B/$label.vmrun >> $B/$label.vm
}
case "${1:-all}" in
sqlite)
  stopall; repo; rm -f $B/hookd.db* $B/ledger; config $B/hookd.db; start 8081; measure sqlite http://127.0.0.1:8081; stopall ;;
pg)
  n=$2
  $PGBIN/psql -q -h 127.0.0.1 -p 5499 -U postgres -c "DROP DATABASE IF EXISTS load$n WITH (FORCE)" -c "CREATE DATABASE load$n" postgres
  stopall; repo; rm -f $B/ledger; config "postgres://postgres@127.0.0.1:5499/load$n?sslmode=disable"
  urls=""; for i in $(seq $n); do start $((8090+i)); urls="$urls http://127.0.0.1:$((8090+i))"; done
  measure pg$n $urls; stopall ;;
pgstart)
  mkdir -p $B/pgdata && chown postgres $B/pgdata
  su postgres -s /bin/sh -c "$PGBIN/initdb -D $B/pgdata -U postgres --auth=trust -E UTF8 --no-locale >/dev/null && $PGBIN/pg_ctl -D $B/pgdata -o '-p 5499 -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200' -l $B/pgdata/pg.log -w start" ;;
pgstop)
  su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $B/pgdata -m fast -w stop" ;;
esac
