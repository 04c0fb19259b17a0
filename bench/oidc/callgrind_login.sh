#!/usr/bin/env bash
# Instructions per in-process NatID login, counted by callgrind (user space, repeatable):
#
#     bench/oidc/callgrind_login.sh [N]        (from the repository root; N logins, 100)
#
# Runs bench/oidc/profile_natid_login.py's driver (the app of `natid serve` through ASGI, with
# its httpx client) under valgrind with instrumentation off; it is switched on only around N
# logins after the warm-up, so the set-up is not counted. Prints the instructions per login
# (client included: compare two versions of the code, not this figure with a server's).
set -euo pipefail
n=${1:-100}
dir=$(mktemp -d)
out="$dir/callgrind.out"
PYTHONPATH=. valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
    .venv/bin/python bench/oidc/profile_natid_login.py "$n" --handshake "$dir" \
    >"$dir/log" 2>&1 &
pid=$!
until [ -e "$dir/ready" ]; do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$dir/log"; exit 1; }
    sleep 1
done
callgrind_control -i on "$pid" >/dev/null
touch "$dir/go"
until [ -e "$dir/done" ]; do sleep 1; done
callgrind_control -i off "$pid" >/dev/null
touch "$dir/end"
wait "$pid"
total=$(grep -o 'Collected : [0-9]*' "$dir/log" | grep -o '[0-9]*$')
python3 -c "print(f'{$total / $n / 1e6:.3f} M instructions per login ($n logins)')"
