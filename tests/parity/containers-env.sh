# Sourced by the parity scripts: podman and buildah without a daemon, on a machine without
# systemd or a Docker engine. chroot isolation, the host's network (so RUN steps reach the
# loopback server and the package registries), runc, cgroupfs, and one storage root that is
# kept between runs so the base image is built once per machine. Both rlimits are set explicitly:
# podman's defaults exceed what this sandbox may grant, and runc then refuses to start.
PARITY_STATE="${PARITY_STATE:-/var/tmp/buildkit-parity}"
mkdir -p "$PARITY_STATE/storage" "$PARITY_STATE/run"
cat > "$PARITY_STATE/containers.conf" <<CONF
[containers]
netns = "host"
cgroupns = "host"
ipcns = "host"
utsns = "host"
default_ulimits = ["nproc=4096:4096", "nofile=$(ulimit -Hn):$(ulimit -Hn)"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
cat > "$PARITY_STATE/storage.conf" <<CONF
[storage]
driver = "${PARITY_STORAGE_DRIVER:-overlay}"
graphroot = "$PARITY_STATE/storage"
runroot = "$PARITY_STATE/run"
CONF
cat > "$PARITY_STATE/registries.conf" <<CONF
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
CONF
export CONTAINERS_CONF="$PARITY_STATE/containers.conf"
export CONTAINERS_STORAGE_CONF="$PARITY_STATE/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$PARITY_STATE/registries.conf"
export BUILDAH_ISOLATION=chroot
