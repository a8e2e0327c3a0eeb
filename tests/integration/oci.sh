#!/usr/bin/env bash
# Integration test: denali-oci, the OCI runtime (docs/OCI.md): its checks of bundles and ids, the
# life cycle of containers against a private `denali daemon`, and containerd 1.6's runc shim
# driving it through `ctr run --runc-binary`, with a private containerd. OCI_TEST_KEEP=1 keeps
# its temporary directory (the daemon's, containerd's and the bundles' logs) for a look after.
# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"

OCI=$DENALI_ROOT/build/denali-oci
if [ ! -x "$OCI" ]; then
    not_ok "$OCI exists (run make first)"
    finish
fi
tap_tmpdir
api=$TAP_TMP/api.sock
root=$TAP_TMP/oci-root
rootfs=$TAP_TMP/rootfs
daemon_pid=
containerd_pid=
ctr_namespace=denali-oci-test-$$
ctr_sock=$TAP_TMP/containerd/c.sock

# Everything this test started, ended by pid; containers first, so that no shim or stub is left.
cleanup()
{
    if [ -n "$containerd_pid" ]; then
        for c in $(ctr_ c ls -q 2>/dev/null); do
            ctr_ task kill -s SIGKILL "$c" >/dev/null 2>&1
            ctr_ task delete -f "$c" >/dev/null 2>&1
            ctr_ c rm "$c" >/dev/null 2>&1
        done
        ctr_ namespaces rm "$ctr_namespace" >/dev/null 2>&1
        kill "$containerd_pid" 2>/dev/null
        wait "$containerd_pid" 2>/dev/null
        containerd_pid=
        rm -rf "/run/containerd/runc/$ctr_namespace"
    fi
    if [ -d "$root" ]; then
        for dir in "$root"/*/; do
            [ -d "$dir" ] && "$OCI" --root "$root" --api "$api" delete --force \
                "$(basename "$dir")" >/dev/null 2>&1
        done
    fi
    if [ -n "$daemon_pid" ]; then
        kill "$daemon_pid" 2>/dev/null
        wait "$daemon_pid" 2>/dev/null
        daemon_pid=
    fi
    [ -n "${OCI_TEST_KEEP:-}" ] || rm -rf "$TAP_TMP"
}
trap cleanup EXIT
# run-tests.sh's timeout ends a script with SIGTERM: the shims must not outlive it.
trap 'exit 1' INT TERM

# The rootfs: guest images, and two ways out of it that create must refuse.
mkdir -p "$rootfs/sub" "$root"
for guest in guests/hello guests/idle tests/guests/exit_code tests/guests/args; do
    cp "$DENALI_ROOT/build/$guest.elf" "$rootfs/"
done
ln -s /bin/true "$rootfs/outside.elf"
ln -s ../../../../../../../../bin/true "$rootfs/sub/up.elf"

# bundle DIR ARGS_JSON [ANNOTATIONS_JSON] [TERMINAL]: a bundle whose root.path is the rootfs.
bundle()
{
    mkdir -p "$1"
    cat >"$1/config.json" <<EOF
{"ociVersion": "1.0.2",
 "process": {"terminal": ${4:-false}, "cwd": "/", "args": $2, "env": ["PATH=/"]},
 "root": {"path": "$rootfs"},
 "annotations": ${3:-"{}"}}
EOF
}

oci()
{
    "$OCI" --root "$root" --api "$api" "$@"
}

# status ID: the container's OCI status, or nothing.
status()
{
    oci state "$1" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'
}

# wait_status ID STATUS: waits (at most 60 s) for the container to reach STATUS.
wait_status()
{
    for _ in $(seq 600); do
        [ "$(status "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# has_ended PID: the process is gone, or a zombie waiting for its (new) parent to reap it.
has_ended()
{
    local state
    state=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)
    [ -z "$state" ] || [ "$state" = Z ] || [ "$state" = X ]
}

# create ID BUNDLE: runs create with its output (and so the stub's: the console) going to
# $TAP_TMP/ID.out, not to a pipe the test would wait on for as long as the stub lives.
create()
{
    timeout 60 "$OCI" --root "$root" --api "$api" create --bundle "$2" --pid-file "$TAP_TMP/$1.pid" \
        "$1" >"$TAP_TMP/$1.out" 2>&1 </dev/null
}

# --- What the runtime checks on its own, with no daemon.
check_run "--version names the OCI spec" 0 "spec: 1.0.2" "$OCI" --version
check_run "create --help lists the org.denali annotations" 0 "org.denali.memory" \
    "$OCI" create --help
mkdir -p "$TAP_TMP/empty"
check_run "a bundle without config.json is refused" 1 "config.json" \
    oci create --bundle "$TAP_TMP/empty" c-empty
bundle "$TAP_TMP/b-dotdot" '["/../../../../bin/true"]'
check_run "args[0] climbing out of the rootfs with .. is refused" 1 "leads outside the rootfs" \
    oci create --bundle "$TAP_TMP/b-dotdot" c-dotdot
bundle "$TAP_TMP/b-link" '["/outside.elf"]'
check_run "args[0] an absolute symbolic link out of the rootfs is refused" 1 \
    "leads outside the rootfs" oci create --bundle "$TAP_TMP/b-link" c-link
bundle "$TAP_TMP/b-uplink" '["sub/up.elf"]'
check_run "args[0] a relative symbolic link out of the rootfs is refused" 1 \
    "leads outside the rootfs" oci create --bundle "$TAP_TMP/b-uplink" c-uplink
bundle "$TAP_TMP/b-missing" '["/missing.elf"]'
check_run "args[0] missing from the rootfs is refused" 1 "No such file" \
    oci create --bundle "$TAP_TMP/b-missing" c-missing
bundle "$TAP_TMP/b-tty" '["/hello.elf"]' '{}' true
check_run "a terminal is refused: a VM's console is not a TTY" 1 "not a TTY" \
    oci create --bundle "$TAP_TMP/b-tty" c-tty
bundle "$TAP_TMP/b-hello" '["/hello.elf"]'
check_run "--console-socket is refused" 1 "not a TTY" \
    oci create --bundle "$TAP_TMP/b-hello" --console-socket "$TAP_TMP/console.sock" c-console
bundle "$TAP_TMP/b-typo" '["/hello.elf"]' '{"org.denali.memroy": "8M"}'
check_run "an unknown org.denali annotation is refused" 1 "unknown annotation org.denali.memroy" \
    oci create --bundle "$TAP_TMP/b-typo" c-typo
bundle "$TAP_TMP/b-badnum" '["/hello.elf"]' '{"org.denali.quantum-ms": "ten"}'
check_run "an annotation of the wrong form is refused" 1 "not an integer" \
    oci create --bundle "$TAP_TMP/b-badnum" c-badnum
check_run "an id that is a path is refused" 1 "invalid container id" \
    oci create --bundle "$TAP_TMP/b-hello" ../escape
check_run "state of an unknown id: does not exist" 1 "does not exist" oci state nosuch
check_run "kill of an unknown id: does not exist" 1 "does not exist" oci kill nosuch KILL
check_run "delete of an unknown id: does not exist" 1 "does not exist" oci delete nosuch
check_run "delete --force of an unknown id succeeds, as runc's does" 0 "" oci delete --force nosuch
check_run "a signal that does not exist is refused" 1 "unknown signal" oci kill nosuch SIGBOGUS
check_run "exec is refused with a reason" 1 "nothing to exec into" oci exec nosuch
"$OCI" --root "$root" --log "$TAP_TMP/log.json" --log-format json create \
    --bundle "$TAP_TMP/b-link" c-logged >/dev/null 2>&1
if grep -q '"level":"error","msg":"guest image /outside.elf (process.args\[0\]) leads outside' \
    "$TAP_TMP/log.json" 2>/dev/null; then
    ok "--log-format json: the error is a JSON record in the --log file, as containerd reads it"
else
    not_ok "--log-format json: the error is a JSON record in the --log file, as containerd reads it"
    diag "log: $(cat "$TAP_TMP/log.json" 2>&1)"
fi
check_run "create with no daemon fails, naming the socket" 1 "cannot reach the daemon at $api" \
    oci create --bundle "$TAP_TMP/b-hello" c-nodaemon
if [ ! -e "$root/c-nodaemon" ]; then
    ok "a failed create leaves no record behind"
else
    not_ok "a failed create leaves no record behind"
fi

# A Kubernetes pod's sandbox container runs the pause program, not a guest: it gets no VM, and
# its stub stands for it until it is killed.
bundle "$TAP_TMP/b-sandbox" '["/pause"]' '{"io.kubernetes.cri.container-type": "sandbox"}'
if create sandbox "$TAP_TMP/b-sandbox"; then
    ok "create of a pod sandbox needs no VM (nor a daemon)"
else
    not_ok "create of a pod sandbox needs no VM (nor a daemon)"
    diag "$(cat "$TAP_TMP/sandbox.out")"
fi
check_run "start of the pod sandbox" 0 "" oci start sandbox
check_run "the pod sandbox is running" 0 '"status": "running"' oci state sandbox
check_run "kill of the pod sandbox" 0 "" oci kill sandbox TERM
if wait_status sandbox stopped; then
    ok "after kill the pod sandbox is stopped"
else
    not_ok "after kill the pod sandbox is stopped"
fi
check_run "delete of the pod sandbox" 0 "" oci delete sandbox

# --- The daemon: this test's own, on its own socket.
daemon_missing=
mkdir -p "$TAP_TMP/daemon-state"
"$DENALI" daemon --api "$api" --state-dir "$TAP_TMP/daemon-state" >"$TAP_TMP/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
    [ -S "$api" ] && break
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
        wait "$daemon_pid" 2>/dev/null
        daemon_pid=
        daemon_missing="\`denali daemon\` does not run here: $(head -n 1 "$TAP_TMP/daemon.log")"
        break
    fi
    sleep 0.1
done
if [ -z "$daemon_missing" ] && [ ! -S "$api" ]; then
    not_ok "denali daemon serves its socket"
    diag "$(cat "$TAP_TMP/daemon.log")"
    daemon_missing="the daemon did not make its socket"
fi

# vm_field NAME FIELD: a scalar field of the daemon's VM NAME (GET /vms/NAME), or nothing.
vm_field()
{
    curl -s --unix-socket "$api" "http://denali/vms/$1" |
        sed -n "s/.*\"$2\": *\"\{0,1\}\([^,\"}]*\)\"\{0,1\}[,}].*/\1/p"
}

daemon_cases()
{
    # The life cycle of a long-running guest.
    bundle "$TAP_TMP/b-idle" '["/idle.elf", "1000"]' '{"org.denali.memory": "8M"}'
    if create c1 "$TAP_TMP/b-idle"; then
        ok "create: a created VM and its stub"
    else
        not_ok "create: a created VM and its stub"
        diag "$(cat "$TAP_TMP/c1.out")"
    fi
    local pid
    pid=$(cat "$TAP_TMP/c1.pid" 2>/dev/null)
    check_run "state after create: created, with the pid-file's pid" 0 "\"pid\": ${pid:-none}," \
        oci state c1
    check_run "state after create: status created" 0 '"status": "created"' oci state c1
    check_run "ps --format json: the stub's pid" 0 "[$pid]" oci ps --format json c1
    check_run "the VM is created, not started" 0 "created" vm_field c1 state
    check_run "org.denali.memory reaches the VM" 0 "8388608" vm_field c1 memory
    check_run "start" 0 "" oci start c1
    check_run "state after start: running" 0 '"status": "running"' oci state c1
    check_run "the VM runs" 0 "running" vm_field c1 state
    check_run "start again is refused" 1 "cannot start a container that is running" oci start c1
    check_run "delete of a running container without --force is refused" 1 "not stopped" \
        oci delete c1
    check_run "pause" 0 "" oci pause c1
    check_run "state after pause: paused" 0 '"status": "paused"' oci state c1
    check_run "resume" 0 "" oci resume c1
    check_run "state after resume: running" 0 '"status": "running"' oci state c1
    check_run "kill SIGKILL" 0 "" oci kill c1 KILL
    if wait_status c1 stopped; then
        ok "after kill the container is stopped"
    else
        not_ok "after kill the container is stopped"
        diag "state: $(oci state c1 2>&1)"
    fi
    if [ -n "$pid" ] && has_ended "$pid"; then
        ok "the stub has ended with its VM"
    else
        not_ok "the stub has ended with its VM"
    fi
    check_run "state of a stopped container: pid 0" 0 '"pid": 0,' oci state c1
    check_run "kill of a stopped container: container not running" 1 "container not running" \
        oci kill c1 TERM
    check_run "delete of a stopped container" 0 "" oci delete c1
    check_run "after delete the container does not exist" 1 "does not exist" oci state c1
    check_run "after delete the VM is gone from the daemon" 0 "" \
        bash -c "curl -s --unix-socket '$api' http://denali/vms/c1 | grep -q fault_message"

    # A guest's console reaches the stub's standard output; its arguments reach the guest.
    bundle "$TAP_TMP/b-args" '["/args.elf", "one", "two words"]'
    create c2 "$TAP_TMP/b-args" && oci start c2 >/dev/null 2>&1
    wait_status c2 stopped
    check_run "the guest's console reaches the stub's stdout, arguments intact" 0 \
        "arg 2: two words" cat "$TAP_TMP/c2.out"
    check_run "delete after the guest exits" 0 "" oci delete c2

    # A created container that is killed: its stub ends, and delete removes the never-run VM.
    bundle "$TAP_TMP/b-hello2" '["/hello.elf"]'
    create c3 "$TAP_TMP/b-hello2"
    pid=$(cat "$TAP_TMP/c3.pid" 2>/dev/null)
    check_run "kill of a created container" 0 "" oci kill c3 SIGKILL
    wait_status c3 stopped
    check_run "after it the container is stopped" 0 '"status": "stopped"' oci state c3
    check_run "delete of a killed created container" 0 "" oci delete c3
    check_run "... and its VM is gone from the daemon" 0 "" \
        bash -c "curl -s --unix-socket '$api' http://denali/vms/c3 | grep -q fault_message"

    # An id the daemon's names cannot hold is still a container.
    create "c4.with+odd_chars" "$TAP_TMP/b-hello2"
    check_run "an id with . and + gets a VM" 0 '"status": "created"' oci state "c4.with+odd_chars"
    create "c4.with+odd_chars" "$TAP_TMP/b-hello2"
    check_run "create of an id that exists is refused" 0 "container with id exists" \
        cat "$TAP_TMP/c4.with+odd_chars.out"
    check_run "delete --force of a created container" 0 "" oci delete --force "c4.with+odd_chars"

    # An id the daemon would take for a fleet id is still a container.
    create f7 "$TAP_TMP/b-hello2"
    check_run "an id of the form of a fleet id gets a VM" 0 '"status": "created"' oci state f7
    check_run "delete --force of it" 0 "" oci delete --force f7

    # Kubernetes' ids are 64 hex digits, longer than a daemon's name may be.
    local long_id
    long_id=$(printf '%064d' 0 | tr 0 a)
    create "$long_id" "$TAP_TMP/b-hello2"
    check_run "an id longer than a VM name gets a VM" 0 '"status": "created"' oci state "$long_id"
    check_run "delete --force of it" 0 "" oci delete --force "$long_id"
}

if [ -n "$daemon_missing" ]; then
    skip "create, start, state, kill, delete against the daemon" "$daemon_missing"
else
    daemon_cases
fi

# --- containerd 1.6's runc shim driving denali-oci: a private containerd on its own sockets.
# Only this test needs containerd. Debian's package is unpacked under build/tools rather than
# installed: installing it would also enable and start a system containerd on a host running
# systemd. Its binaries need only libc; the runc it depends on stays unused.
containerd_missing=
containerd_tools=$DENALI_ROOT/build/tools/containerd
have_containerd()
{
    command -v containerd >/dev/null && command -v ctr >/dev/null &&
        command -v containerd-shim-runc-v2 >/dev/null
}
PATH=$containerd_tools/usr/bin:$PATH
if ! have_containerd && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    mkdir -p "$containerd_tools"
    (cd "$containerd_tools" && { apt-get download containerd >"$TAP_TMP/apt.log" 2>&1 ||
        { apt-get update -qq >>"$TAP_TMP/apt.log" 2>&1 &&
            apt-get download containerd >>"$TAP_TMP/apt.log" 2>&1; }; }) &&
        dpkg-deb -x "$containerd_tools"/containerd_*.deb "$containerd_tools" >>"$TAP_TMP/apt.log" 2>&1
    rm -f "$containerd_tools"/containerd_*.deb
fi
if ! have_containerd; then
    containerd_missing="no containerd, and Debian's could not be unpacked ($(tail -n 1 "$TAP_TMP/apt.log" 2>/dev/null || echo "not root"))"
fi
if [ -z "$containerd_missing" ] && [ "$(id -u)" != 0 ]; then
    containerd_missing="containerd needs root"
fi

ctr_()
{
    ctr --address "$ctr_sock" --namespace "$ctr_namespace" "$@"
}

if [ -z "$containerd_missing" ]; then
    mkdir -p "$TAP_TMP/containerd"
    cat >"$TAP_TMP/containerd/config.toml" <<EOF
version = 2
root = "$TAP_TMP/containerd/root"
state = "$TAP_TMP/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$ctr_sock"
[ttrpc]
  address = "$ctr_sock.ttrpc"
[debug]
  address = "$TAP_TMP/containerd/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$TAP_TMP/containerd/opt"
EOF
    # The shim, and so denali-oci, inherits containerd's environment: DENALI_API names our daemon.
    # Its own session keeps it out of a signal to this script's process group (run-tests.sh's
    # timeout), so that cleanup can still remove the tasks through it, then end it.
    DENALI_API=$api setsid containerd --config "$TAP_TMP/containerd/config.toml" \
        >"$TAP_TMP/containerd.log" 2>&1 &
    containerd_pid=$!
    for _ in $(seq 200); do
        ctr --address "$ctr_sock" version >/dev/null 2>&1 && break
        if ! kill -0 "$containerd_pid" 2>/dev/null; then
            containerd_missing="containerd does not start here: $(tail -n 1 "$TAP_TMP/containerd.log")"
            containerd_pid=
            break
        fi
        sleep 0.1
    done
    if [ -z "$containerd_missing" ]; then
        check "a private containerd answers on its own socket" ctr --address "$ctr_sock" version
    fi
fi

# crun_ ID ARGS...: `ctr run` of the rootfs with denali-oci as the runtime, in the foreground.
crun_()
{
    local id=$1
    shift
    ctr_ run --rootfs --runc-binary "$OCI" "$rootfs" "$id" "$@"
}

# oci_image_tar DIR IMAGE.ELF: DIR/image.tar, an OCI image layout holding one layer, IMAGE.ELF
# at /guest.elf, and /guest.elf as its entrypoint, named denali.test/guest:1.
oci_image_tar()
{
    local dir=$1 layer config manifest
    mkdir -p "$dir/layer" "$dir/oci/blobs/sha256"
    cp "$2" "$dir/layer/guest.elf"
    tar -C "$dir/layer" -cf "$dir/layer.tar" guest.elf
    # blob FILE: stores FILE by its digest, and prints `DIGEST SIZE`.
    blob()
    {
        local digest
        digest=$(sha256sum "$1" | cut -d' ' -f1)
        cp "$1" "$dir/oci/blobs/sha256/$digest"
        echo "$digest $(stat -c %s "$1")"
    }
    read -r -a layer <<<"$(blob "$dir/layer.tar")"
    printf '{"architecture": "amd64", "os": "linux", "config": {"Entrypoint": ["/guest.elf"]},
 "rootfs": {"type": "layers", "diff_ids": ["sha256:%s"]}}' "${layer[0]}" >"$dir/config.json"
    read -r -a config <<<"$(blob "$dir/config.json")"
    printf '{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
 "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:%s",
            "size": %s},
 "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:%s",
             "size": %s}]}' "${config[@]}" "${layer[@]}" >"$dir/manifest.json"
    read -r -a manifest <<<"$(blob "$dir/manifest.json")"
    printf '{"schemaVersion": 2, "manifests": [{"mediaType":
 "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:%s", "size": %s,
 "annotations": {"io.containerd.image.name": "denali.test/guest:1"}}]}' "${manifest[@]}" \
        >"$dir/oci/index.json"
    echo '{"imageLayoutVersion": "1.0.0"}' >"$dir/oci/oci-layout"
    tar -C "$dir/oci" -cf "$dir/image.tar" oci-layout index.json blobs
}

containerd_cases()
{
    check_run "ctr run: containerd's shim takes denali-oci's refusal from its log" 1 \
        "leads outside the rootfs" crun_ escape /outside.elf
    ctr_ c rm escape >/dev/null 2>&1
    if [ -n "$daemon_missing" ]; then
        check_run "ctr run with no daemon: the runtime's error reaches ctr" 1 \
            "cannot reach the daemon" crun_ nodaemon /hello.elf
        ctr_ c rm nodaemon >/dev/null 2>&1
        skip "ctr run of guests through the daemon" "$daemon_missing"
        return
    fi
    check_run "ctr run: a guest's output reaches ctr, exit 0" 0 "hello from vm 0" \
        crun_ hello /hello.elf
    check_run "ctr run: the guest's exit status is ctr's" 7 "exiting with 7" \
        crun_ status7 /exit_code.elf 7
    check_run "ctr run: the guest's arguments arrive" 0 "arg 1: a b" crun_ args /args.elf "a b"

    # An image: its layer unpacked by a snapshotter (native: no overlayfs needed), mounted as the
    # bundle's rootfs by the shim, its entrypoint the guest.
    oci_image_tar "$TAP_TMP/image" "$DENALI_ROOT/build/guests/hello.elf"
    check "ctr image import of an OCI image holding a guest" \
        ctr_ image import --snapshotter native "$TAP_TMP/image/image.tar"
    check_run "ctr run of the image: its entrypoint, the guest, runs" 0 "hello from vm 0" \
        ctr_ run --rm --snapshotter native --runc-binary "$OCI" denali.test/guest:1 from-image

    # A long-running guest, killed through containerd: SIGTERM asks it to shut down (ilwaco
    # exits 143), SIGKILL stops it (137).
    local signal expected
    for signal in SIGTERM SIGKILL; do
        [ "$signal" = SIGTERM ] && expected=143 || expected=137
        local id=idle-$signal run_pid run_status
        crun_ "$id" /idle.elf 1000 >"$TAP_TMP/$id.out" 2>&1 </dev/null &
        run_pid=$!
        for _ in $(seq 300); do
            ctr_ task ls 2>/dev/null | grep -q "^$id .*RUNNING" && break
            sleep 0.1
        done
        check_run "ctr task ls: $id is RUNNING" 0 "RUNNING" ctr_ task ls
        if [ "$signal" = SIGTERM ]; then
            check_output_matches "ctr task ps: the stub's pid" "^[0-9]+ " ctr_ task ps "$id"
        fi
        check "ctr task kill -s $signal" ctr_ task kill -s "$signal" "$id"
        run_status=0
        if timeout 60 tail --pid="$run_pid" -f /dev/null; then
            wait "$run_pid" || run_status=$?
        else
            kill "$run_pid" 2>/dev/null
            wait "$run_pid" 2>/dev/null
            run_status="none: ctr run had not ended 60 s after the kill"
            ctr_ task kill -s SIGKILL "$id" >/dev/null 2>&1
            ctr_ task delete -f "$id" >/dev/null 2>&1
        fi
        if [ "$run_status" = "$expected" ]; then
            ok "ctr run of a guest killed with $signal exits $expected"
        else
            not_ok "ctr run of a guest killed with $signal exits $expected"
            diag "exit status $run_status; output: $(cat "$TAP_TMP/$id.out")"
        fi
        ctr_ c rm "$id" >/dev/null 2>&1
    done

    # Detached: the task's life through ctr task, ending with delete cleaning up everywhere.
    check "ctr run -d of a long-running guest" ctr_ run -d --rootfs --runc-binary "$OCI" \
        --annotation org.denali.memory=8M "$rootfs" detached /idle.elf 1000
    check_run "ctr task ls: RUNNING" 0 "RUNNING" ctr_ task ls
    check_run "ctr run --annotation org.denali.memory reaches the VM" 0 "8388608" \
        vm_field detached memory
    check_run "ctr task delete of a running task is refused" 1 "" ctr_ task delete detached
    check "ctr task kill -s SIGKILL" ctr_ task kill -s SIGKILL detached
    for _ in $(seq 300); do
        ctr_ task ls 2>/dev/null | grep -q "^detached .*STOPPED" && break
        sleep 0.1
    done
    check_run "ctr task ls: STOPPED" 0 "STOPPED" ctr_ task ls
    check_run "ctr task delete reports the exit status" 0 "137" ctr_ task delete detached
    check_run "... and the runtime's record is gone" 1 "does not exist" \
        "$OCI" --root "/run/containerd/runc/$ctr_namespace" state detached
    check_run "... and the VM is gone from the daemon" 0 "" \
        bash -c "curl -s --unix-socket '$api' http://denali/vms/detached | grep -q fault_message"
    check "ctr container rm" ctr_ c rm detached
}

if [ -n "$containerd_missing" ]; then
    skip "containerd's runc shim driving denali-oci" "$containerd_missing"
else
    containerd_cases
fi
finish
