#!/usr/bin/env bash
# Checks the SPIN models of the channel protocol (docs/model/README.md).
# For each check: spin generates the verifier (pan.c) with the check's
# options, gcc compiles it, pan searches the state space. A check of the
# model passes when pan finds no error and searched the whole state space;
# a check of a deliberately broken variant passes when pan REJECTS it with
# the error the variant is there to show. Installs spin (apt-get) if it is
# not on PATH.
#   scripts/test-model.sh            the CI set (about 3.5 minutes on 2 cores)
#   scripts/test-model.sh --full     also the largest configurations (1:1
#                                    with both roles restarted, fan-out
#                                    broadcast with 3 messages, queue,
#                                    queue with many writers and two
#                                    readers, many writers with a restart,
#                                    calls with two calls, two kills or a
#                                    small ring; tens of millions of states
#                                    each, several GB, several minutes)
#   scripts/test-model.sh -j N       N checks at a time (default: 2)
#   scripts/test-model.sh --list     print the checks and exit
# The last line is "model: N passed, F failed"; the exit status is 0 only
# when every check passed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

full=0
jobs=2
list=0
while [ $# -gt 0 ]; do
    case "$1" in
        --full) full=1 ;;
        -j) shift; jobs="${1:-}" ;;
        -j*) jobs="${1#-j}" ;;
        --list) list=1 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "test-model.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$jobs" in
    ''|*[!0-9]*|0) echo "test-model.sh: -j needs a positive number" >&2; exit 2 ;;
esac

# name | expect (pass, or reject:<regex the error must match>) | model |
# spin options | cc options | pan options
# (-O0 where the search is short: gcc -O2 takes longer on pan.c than the
# search it would speed up.)
# Configurations (see docs/model/README.md, "Checks"):
#   W  = -DRESTART_R=0: the writer role is killed and restarted, one reader
#   R  = -DRESTART_W=0: the reader role is killed and restarted, one writer
M=docs/model/channel.pml
checks=(
    "safety-restart-writer|pass|$M|-DRESTART_R=0|-O0 -DSAFETY|-m10000 -w24"
    "safety-restart-reader|pass|$M|-DRESTART_W=0|-O0 -DSAFETY|-m10000 -w24"
    "safety-restart-both|pass|$M|-DLEAVE=0|-O2 -DSAFETY -DCOLLAPSE|-m10000 -w24"
    "no-timeout-restart-writer|pass|$M|-DRESTART_R=0 -DTIMEOUTS=0|-O0 -DSAFETY|-m10000 -w24"
    "no-timeout-restart-reader|pass|$M|-DRESTART_W=0 -DTIMEOUTS=0|-O0 -DSAFETY|-m10000 -w24"
    "progress-restart-writer|pass|$M|-DRESTART_R=0|-O2 -DNP|-l -m10000 -w24"
    "progress-restart-reader|pass|$M|-DRESTART_W=0|-O2 -DNP|-l -m10000 -w24"
    "three-messages|pass|$M|-DRESTART=0 -DNMSG=3|-O0 -DSAFETY|-m10000 -w24"
    "corrupt|pass|$M|-DCORRUPT=1 -DRESTART=0 -DCRASHES=0|-O0 -DSAFETY|-m10000 -w24"
    "corrupt-crash|pass|$M|-DCORRUPT=1 -DRESTART=0|-O0 -DSAFETY|-m10000 -w24"
    "broken-wake-before-store|reject:infutex\[1\]|$M|-DRESTART_R=0 -DBROKEN_WAKE_BEFORE_STORE|-O0 -DSAFETY|-m10000 -w24"
    "broken-wake-before-store-no-timeout|reject:infutex\[1\]|$M|-DRESTART_R=0 -DTIMEOUTS=0 -DBROKEN_WAKE_BEFORE_STORE|-O0 -DSAFETY|-m10000 -w24"
    "broken-announce-after-check|reject:infutex|$M|-DRESTART_R=0 -DBROKEN_ANNOUNCE_AFTER_CHECK|-O0 -DSAFETY|-m10000 -w24"
    "broken-unlock-before-closed|reject:crashed\[o1\]|$M|-DRESTART_W=0 -DBROKEN_UNLOCK_BEFORE_CLOSED|-O0 -DSAFETY|-m10000 -w24"
    "broken-wake-before-unlock|reject:infutex\[0\]|$M|-DRESTART_W=0 -DBROKEN_WAKE_BEFORE_UNLOCK|-O0 -DSAFETY|-m10000 -w24"
    "broken-busy-loop|reject:non-progress cycle|$M|-DRESTART_W=0 -DBROKEN_BUSY_LOOP|-O0 -DNP|-l -m10000 -w24"
    "broken-clear-before-reeval|reject:infutex|$M|-DRESTART_W=0 -DBROKEN_CLEAR_BEFORE_REEVAL|-O0 -DSAFETY|-m10000 -w24"
    "broken-lock-first|reject:crashed\[o1\]|$M|-DRESTART_W=0 -DBROKEN_LOCK_FIRST|-O0 -DSAFETY|-m10000 -w24"
    "broken-no-owner-reload|reject:crashed\[o1\]|$M|-DRESTART_W=0 -DBROKEN_NO_OWNER_RELOAD|-O0 -DSAFETY|-m10000 -w24"
    "broken-no-last-look|reject:consumed>=snap|$M|-DRESTART_W=0 -DBROKEN_NO_LAST_LOOK|-O0 -DSAFETY|-m10000 -w24"
    "broken-owner-trust|reject:lk\[0\]==me|holders|$M|-DRESTART_R=0 -DBROKEN_OWNER_TRUST|-O0 -DSAFETY|-m10000 -w24"
    "broken-start-wake-if-flag|reject:infutex|$M|-DRESTART_R=0 -DBROKEN_START_WAKE_IF_FLAG|-O0 -DSAFETY|-m10000 -w24"
    "broken-no-end-check|reject:rec%4|$M|-DCORRUPT=1 -DRESTART=0 -DCRASHES=0 -DBROKEN_NO_END_CHECK|-O0 -DSAFETY|-m10000 -w24"
)
# fanout.pml (docs/model/README.md, "fanout.pml"). The readers' sleep
# rule with the wake generation (reader_wake) passes without timeouts;
# the old rule (FUTEX_WAIT on reader_sleep itself, flaw F5) and a reader
# that loads the generation after announcing must be rejected.
F=docs/model/fanout.pml
checks+=(
    "fanout-broadcast|pass|$F|-DNMSG=2 -DCAP=1|-O2 -DSAFETY -DCOLLAPSE|-m100000 -w24"
    "fanout-no-timeout|pass|$F|-DTIMEOUTS=0 -DCRASHES=0 -DNMSG=2 -DCAP=1|-O2 -DSAFETY|-m100000 -w24"
    "fanout-broken-wait-on-reader-sleep-F5|reject:invalid end state|$F|-DTIMEOUTS=0 -DCRASHES=0 -DBROKEN_WAIT_ON_READER_SLEEP|-O0 -DSAFETY|-m100000 -w20"
    "fanout-broken-gen-after-announce|reject:invalid end state|$F|-DTIMEOUTS=0 -DCRASHES=0 -DNMSG=2 -DCAP=1 -DBROKEN_GEN_AFTER_ANNOUNCE|-O0 -DSAFETY|-m100000 -w20"
    "fanout-broken-reader-clears|reject:invalid end state|$F|-DTIMEOUTS=0 -DCRASHES=0 -DNMSG=2 -DCAP=1 -DBROKEN_READER_CLEARS|-O0 -DSAFETY|-m100000 -w20"
    "fanout-broken-join-no-reload|reject:ring\\[|$F|-DBROKEN_JOIN_NO_RELOAD -DNMSG=2 -DCAP=1|-O0 -DSAFETY|-m100000 -w24"
    "fanout-broken-min-ignores-slots|reject:ring\\[|$F|-DBROKEN_MIN_IGNORES_SLOTS|-O0 -DSAFETY|-m100000 -w24"
    "fanout-broken-peek-state-after-cas|reject:acked|$F|-DQUEUE -DPEEK=1 -DNMSG=2 -DBROKEN_PEEK_STATE_AFTER_CAS|-O0 -DSAFETY|-m100000 -w24"
    "fanout-queue-take|pass|$F|-DQUEUE -DPEEK=0 -DNMSG=1 -DCAP=1|-O2 -DSAFETY -DCOLLAPSE|-m200000 -w24"
    "fanout-queue-peek|pass|$F|-DQUEUE -DPEEK=1 -DNMSG=1 -DCAP=1|-O2 -DSAFETY -DCOLLAPSE|-m200000 -w24"
    "fanout-queue-close-no-timeout|pass|$F|-DQUEUE -DPEEK=1 -DLEAVE=1 -DNMSG=1 -DCAP=1 -DTIMEOUTS=0 -DCRASHES=0|-O2 -DSAFETY -DCOLLAPSE|-m200000 -w24"
    "fanout-broken-empty-no-wake-F6|reject:invalid end state|$F|-DQUEUE -DPEEK=0 -DNMSG=2 -DCAP=1 -DTIMEOUTS=0 -DCRASHES=0 -DBROKEN_EMPTY_NO_WAKE|-O2 -DSAFETY|-m200000 -w24"
    "fanout-broken-no-orphan-recheck-F7|reject:invalid end state|$F|-DQUEUE -DPEEK=1 -DLEAVE=1 -DNMSG=2 -DCAP=1 -DTIMEOUTS=0 -DCRASHES=0 -DBROKEN_NO_ORPHAN_RECHECK|-O0 -DSAFETY|-m200000 -w24"
    "fanout-broken-start-wp-first-F12|reject:h<=wpc|$F|-DQUEUE -DPEEK=0 -DNMSG=1 -DCAP=1 -DCRASHES=0 -DBROKEN_START_WP_FIRST|-O0 -DSAFETY -DBFS|-m200000 -w24"
)
# fanout.pml -DQUEUE -DWRITERS (docs/model/README.md, "A work queue fed by
# many writers"): two writer slots with a ring each. Q1: one reader
# process (NRP=1), with a dead reader's take (DEAD1=1) or unreleased peek
# (DEAD1=2) of ring 1 left in reader slot 1; Q2: two readers, ring 1
# filled and closed by its writer first (W1FIRST). The writer that counts
# a pos beyond its write_pos as corrupt (flaw F11) and the one that ignores
# the ring bits must be rejected.
Q1="-DQUEUE -DWRITERS -DNRP=1 -DTIMEOUTS=0 -DCRASHES=0"
Q2="-DQUEUE -DWRITERS -DW1FIRST -DCAP=1 -DTIMEOUTS=0 -DCRASHES=0"
checks+=(
    "qw-take-no-timeout|pass|$F|$Q1 -DPEEK=0 -DNMSG=2 -DNMSG1=1 -DCAP=1|-O2 -DSAFETY|-m200000 -w24"
    "qw-dead-take-no-timeout|pass|$F|$Q1 -DDEAD1=1 -DPEEK=0 -DNMSG=1 -DNMSG1=2 -DCAP=1|-O2 -DSAFETY|-m200000 -w24"
    "qw-orphan-no-timeout|pass|$F|$Q1 -DDEAD1=2 -DPEEK=1 -DNMSG=1 -DNMSG1=2 -DCAP=1|-O2 -DSAFETY -DCOLLAPSE|-m200000 -w24"
    "qw-aba-no-timeout|pass|$F|$Q1 -DPEEK=0 -DNMSG=3 -DNMSG1=1 -DCAP=2|-O2 -DSAFETY -DCOLLAPSE|-m200000 -w24"
    "qw-two-readers-no-timeout|pass|$F|$Q2 -DPEEK=1 -DLEAVE=1 -DNMSG=0 -DNMSG1=1|-O2 -DSAFETY -DCOLLAPSE|-m200000 -w24"
    "qw-broken-state-aba-F11|reject:p<=wp|$F|$Q1 -DPEEK=0 -DNMSG=3 -DNMSG1=1 -DCAP=2 -DBROKEN_STATE_ABA|-O0 -DSAFETY|-m200000 -w24"
    "qw-broken-any-ring|reject:invalid end state|$F|$Q1 -DPEEK=0 -DNMSG=1 -DNMSG1=1 -DBROKEN_ANY_RING -DCAP=1|-O0 -DSAFETY|-m200000 -w24"
)
# fanin.pml (docs/model/README.md, "fanin.pml"): two writer slots, one
# reader (fanin-restart*: one writer slot in use and its restart;
# fanin-restart-beside-writer: writer 1 killed and restarted while writer
# 2 holds the other slot; the same with writer 2 sending too is
# fanin-two-writers-restart, --full). fanin-nostall is an LTL check (pan
# -a): once every writer has finished (and no slot looks never held), the
# reader finishes; the shared ring with a claim counter must fail it (a
# writer killed between claim and commit stalls the reader).
I=docs/model/fanin.pml
checks+=(
    "fanin-no-timeout|pass|$I|-DTIMEOUTS=0 -DCRASHES=0 -DNMSG=2 -DRESTART=0|-O2 -DSAFETY -DCOLLAPSE|-m200000 -w24"
    "fanin-restart|pass|$I|-DWRITER2=0 -DNMSG=3 -DCAP=2|-O2 -DSAFETY -DCOLLAPSE|-m200000 -w24"
    "fanin-restart-no-timeout|pass|$I|-DWRITER2=0 -DNMSG=2 -DTIMEOUTS=0|-O2 -DSAFETY|-m200000 -w24"
    "fanin-restart-after-close-no-timeout|pass|$I|-DWRITER2=0 -DNMSG=2 -DRESTART=2 -DTIMEOUTS=0 -DCRASHES=0|-O0 -DSAFETY|-m200000 -w24"
    "fanin-nostall|pass|$I|-DNOSTALL -DNMSG=1 -DRESTART=0|-O2 -DCOLLAPSE|-a -m200000 -w24"
    "fanin-restart-beside-writer|pass|$I|-DNMSG=1 -DNMSG2=0 -DKILL1|-O2 -DSAFETY -DCOLLAPSE|-m200000 -w24"
    "fanin-broken-shared-ring|reject:acceptance cycle|$I|-DNOSTALL -DBROKEN_SHARED_RING|-O2|-a -m200000 -w24"
    "fanin-broken-end-ignores-locks|reject:took|$I|-DCRASHES=0 -DNMSG=1 -DRESTART=0 -DBROKEN_END_IGNORES_LOCKS|-O0 -DSAFETY|-m200000 -w24"
    "fanin-broken-end-any-closed|reject:owned|$I|-DCRASHES=0 -DNMSG=1 -DRESTART=0 -DBROKEN_END_ANY_CLOSED|-O0 -DSAFETY|-m200000 -w24"
)
# calls.pml (docs/model/README.md, "calls.pml"): the calls layer over
# abstract channels. Two clients share one client slot (the second takes
# it when the first closed or died); workers leave or die; the broken
# variants are the rules as they were before the model (owner word before
# reply_kind = 0; the workers' locks tested one by one) and two more.
C=docs/model/calls.pml
checks+=(
    "calls-two-clients|pass|$C|-DRESTART=0|-O2 -DSAFETY -DCOLLAPSE|-m100000 -w24"
    "calls-two-clients-sysv|pass|$C|-DSYSV=1 -DRESTART=0|-O2 -DSAFETY -DCOLLAPSE|-m100000 -w24"
    "calls-worker-restart|pass|$C|-DCLIENT2=0 -DNCALL=2|-O2 -DSAFETY -DCOLLAPSE|-m100000 -w24"
    "calls-slot-reuse-two-kills|pass|$C|-DWORKER4=0 -DNCALL=2 -DCRASHES=2|-O2 -DSAFETY -DCOLLAPSE|-m100000 -w24"
    "calls-broken-owner-before-kind-F8|reject:copen|$C|-DWORKER4=0 -DRESTART=0 -DLEAVE=0 -DBROKEN_OWNER_BEFORE_KIND|-O0 -DSAFETY|-m100000 -w20"
    "calls-broken-owner-before-kind-sysv|reject:copen|$C|-DSYSV=1 -DWORKER4=0 -DRESTART=0 -DLEAVE=0 -DBROKEN_OWNER_BEFORE_KIND|-O0 -DSAFETY|-m100000 -w20"
    "calls-full-ring|pass|$C|-DCLIENT2=0 -DNCALL=2 -DCAPQ=1|-O2 -DSAFETY -DCOLLAPSE|-m100000 -w24"
    "calls-broken-per-slot-test-F9|reject:freeseen|$C|-DCLIENT2=0 -DBROKEN_PER_SLOT_TEST|-O0 -DSAFETY|-m100000 -w22"
    "calls-broken-send-per-slot-test-F10|reject:freeseen|$C|-DCLIENT2=0 -DNCALL=2 -DCAPQ=1 -DBROKEN_SEND_PER_SLOT_TEST|-O0 -DSAFETY|-m100000 -w22"
    "calls-broken-no-owner-check|reject:copen|$C|-DWORKER4=0 -DRESTART=0 -DLEAVE=0 -DBROKEN_NO_OWNER_CHECK|-O0 -DSAFETY|-m100000 -w20"
    "calls-broken-unlock-first|reject:invalid end state|$C|-DWORKER4=0 -DRESTART=0 -DLEAVE=0 -DBROKEN_UNLOCK_FIRST|-O0 -DSAFETY|-m100000 -w20"
)
if [ "$full" = 1 ]; then
    checks+=("calls-two-clients-two-calls|pass|$C|-DRESTART=0 -DNCALL=2|-O2 -DSAFETY -DCOLLAPSE|-m100000 -w26")
    checks+=("calls-two-clients-two-kills|pass|$C|-DRESTART=0 -DCRASHES=2|-O2 -DSAFETY -DCOLLAPSE|-m100000 -w26")
    checks+=("calls-two-clients-small-ring|pass|$C|-DRESTART=0 -DNCALL=2 -DCAPQ=2|-O2 -DSAFETY -DCOLLAPSE|-m100000 -w26")
    checks+=("safety-full|pass|$M||-O2 -DSAFETY -DCOLLAPSE|-m10000 -w26")
    checks+=("fanout-broadcast-full|pass|$F||-O2 -DSAFETY -DCOLLAPSE|-m100000 -w24")
    checks+=("fanout-no-timeout-full|pass|$F|-DTIMEOUTS=0 -DCRASHES=0|-O2 -DSAFETY -DCOLLAPSE|-m100000 -w24")
    checks+=("fanout-queue-take-full|pass|$F|-DQUEUE -DPEEK=0 -DNMSG=2 -DCAP=1 -DTIMEOUTS=0 -DCRASHES=0|-O2 -DSAFETY -DCOLLAPSE|-m200000 -w24")
    checks+=("fanin-two-writers-restart-no-timeout|pass|$I|-DTIMEOUTS=0 -DCRASHES=0 -DNMSG=1 -DRESTART=2|-O2 -DSAFETY -DCOLLAPSE|-m200000 -w26")
    checks+=("fanin-two-writers-restart|pass|$I|-DNMSG=1 -DKILL1|-O2 -DSAFETY -DCOLLAPSE|-m200000 -w26")
    checks+=("qw-two-readers-crash|pass|$F|-DQUEUE -DWRITERS -DW1FIRST -DCAP=1 -DPEEK=1 -DNMSG=0 -DNMSG1=1|-O2 -DSAFETY -DCOLLAPSE|-m200000 -w24")
fi

# The expect field may itself contain '|' (a regex alternative): the last
# four fields are fixed, so split from the right.
parse() {
    local line=$1 rest
    pan_opts=${line##*|}; rest=${line%|*}
    cc_opts=${rest##*|}; rest=${rest%|*}
    spin_opts=${rest##*|}; rest=${rest%|*}
    model=${rest##*|}; rest=${rest%|*}
    name=${rest%%|*}
    expect=${rest#*|}
}

if [ "$list" = 1 ]; then
    for c in "${checks[@]}"; do
        parse "$c"
        printf '%-38s %-8s spin %s; cc %s; pan %s\n' "$name" "${expect%%:*}" \
            "$spin_opts" "$cc_opts" "$pan_opts"
    done
    exit 0
fi

if ! command -v spin >/dev/null 2>&1; then
    echo "test-model.sh: spin is not installed; installing it with apt-get"
    sudo=()
    if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
    ${sudo[@]+"${sudo[@]}"} apt-get update
    ${sudo[@]+"${sudo[@]}"} apt-get install -y spin
fi
command -v gcc >/dev/null 2>&1 || { echo "test-model.sh: gcc is needed" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmlink-model.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Longest a single check may run (seconds) before it counts as failed.
limit=${MODEL_CHECK_TIMEOUT:-600}

# Runs one check in its own directory; writes its verdict to "result".
run_check() {
    local i=$1 dir="$tmp/$1" start end ms status states depth errors detail
    local -a sopts copts popts
    parse "${checks[$i]}"
    read -r -a sopts <<<"$spin_opts"
    read -r -a copts <<<"$cc_opts"
    read -r -a popts <<<"$pan_opts"
    mkdir -p "$dir"
    start=$(date +%s%N)
    (
        cd "$dir"
        spin -a ${sopts[@]+"${sopts[@]}"} "$root/$model" >spin.log 2>&1 || exit 3
        gcc -w ${copts[@]+"${copts[@]}"} -o pan pan.c >cc.log 2>&1 || exit 4
        timeout "$limit" ./pan ${popts[@]+"${popts[@]}"} >pan.log 2>&1 || exit 5
    ) && status=0 || status=$?
    end=$(date +%s%N)
    ms=$(( (end - start) / 1000000 ))
    states=$(awk '/states, stored/ { print $1; exit }' "$dir/pan.log" 2>/dev/null || true)
    depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$dir/pan.log" 2>/dev/null | head -n 1 || true)
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$dir/pan.log" 2>/dev/null | head -n 1 || true)
    verdict=FAIL
    case "$status" in
        3) detail="spin could not generate the verifier: $(tail -n 3 "$dir/spin.log" | tr '\n' ' ')" ;;
        4) detail="gcc could not compile pan.c: $(tail -n 3 "$dir/cc.log" | tr '\n' ' ')" ;;
        5) detail="pan did not finish (timeout after ${limit}s, or it crashed)" ;;
        *)
            if [ "$expect" = pass ]; then
                if [ "${errors:-x}" = 0 ] && ! grep -q 'Search not completed\|max search depth too small\|out of memory' "$dir/pan.log"; then
                    verdict=ok; detail="no error, whole state space"
                else
                    detail="$(grep -m 1 -E 'pan:1:|error|Warning' "$dir/pan.log" || echo "errors: ${errors:-?}")"
                fi
            else
                local want=${expect#reject:} got
                got=$(grep -m 1 -E 'pan:1:' "$dir/pan.log" || true)
                if [ "${errors:-0}" != 0 ] && printf '%s\n' "$got" | grep -qE -- "$want"; then
                    verdict=ok; detail="rejected: ${got#pan:1: }"
                elif [ "${errors:-0}" != 0 ]; then
                    detail="rejected, but not with /$want/: ${got#pan:1: }"
                else
                    detail="NOT rejected: pan found no error"
                fi
            fi
            ;;
    esac
    printf '%s|%s|%s|%s|%s|%s\n' "$verdict" "${states:-?}" "${depth:-?}" \
        "${errors:-?}" "$ms" "$detail" >"$dir/result"
}

echo "model: $(spin -V), ${#checks[@]} checks, $jobs at a time"
total_start=$(date +%s%N)
running=0
for i in "${!checks[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    run_check "$i" &
    running=$((running + 1))
done
wait || true
total_ms=$(( ($(date +%s%N) - total_start) / 1000000 ))

passed=0
failed=0
printf '%-38s %-7s %-6s %11s %6s %6s %8s\n' check expect result states depth errors time
for i in "${!checks[@]}"; do
    parse "${checks[$i]}"
    if [ -f "$tmp/$i/result" ]; then
        IFS='|' read -r verdict states depth errors ms detail <"$tmp/$i/result"
    else
        verdict=FAIL states='?' depth='?' errors='?' ms=0 detail="no result"
    fi
    printf '%-38s %-7s %-6s %11s %6s %6s %7d.%01ds\n' "$name" "${expect%%:*}" \
        "$verdict" "$states" "$depth" "$errors" $((ms / 1000)) $((ms % 1000 / 100))
    printf '    %s\n' "$detail"
    if [ "$verdict" = ok ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        parse "${checks[$i]}"
        printf '    to reproduce: cd %s && spin -a %s %s && gcc %s -o pan pan.c && ./pan %s\n' \
            "\"\$(mktemp -d)\"" "$spin_opts" "$root/$model" "$cc_opts" "$pan_opts"
    fi
done
printf 'model: all checks took %d.%01ds\n' $((total_ms / 1000)) $((total_ms % 1000 / 100))
echo "model: $passed passed, $failed failed"
[ "$failed" = 0 ]
