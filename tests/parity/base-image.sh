#!/usr/bin/env bash
# Builds a local stand-in for the official `rust:<version>-bookworm` image (Docker Hub is not
# reachable here): a bookworm root filesystem from the machine's own apt sources (mmdebstrap),
# with gcc, libc6-dev, curl and CA certificates, plus the host's Rust toolchain of that version
# laid out as the official image does (RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo).
# Tagged docker.io/library/rust:<version>-bookworm so a Dockerfile's `FROM rust:<version>-bookworm`
# resolves to it with --pull=never. Skipped when the image already exists (kept between runs).
set -euo pipefail
rust="${1:?usage: base-image.sh RUST_VERSION}"
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/containers-env.sh"
image="docker.io/library/rust:$rust-bookworm"
if podman image exists "$image"; then
  echo "base image $image: present"
  exit 0
fi
sysroot="$(rustc "+$rust" --print sysroot)"
rustup_bin="$(command -v rustup)"
[ "$(rustc "+$rust" --version | cut -d' ' -f2)" = "$rust" ] || { echo "the host's $rust toolchain is not rustc $rust" >&2; exit 1; }
work="$(mktemp -d "$PARITY_STATE/base.XXXXXX")"
trap 'rm -rf "$work"' EXIT
toolchain="/usr/local/rustup/toolchains/$rust-x86_64-unknown-linux-gnu"
echo "base image $image: mmdebstrap bookworm + the host's Rust $rust ($sysroot)"
mmdebstrap --quiet --variant=apt --include=gcc,libc6-dev,ca-certificates,curl,git \
  --customize-hook="mkdir -p \"\$1$toolchain\" \"\$1/usr/local/cargo/bin\"" \
  --customize-hook="tar -C '$sysroot' --exclude=./share/doc -cf - . | tar -C \"\$1$toolchain\" -xf -" \
  --customize-hook="cp '$rustup_bin' \"\$1/usr/local/cargo/bin/rustup\"" \
  --customize-hook="for p in cargo rustc rustdoc rustfmt cargo-fmt cargo-clippy clippy-driver rust-gdb; do ln -s rustup \"\$1/usr/local/cargo/bin/\$p\"; done" \
  --customize-hook="printf 'version = \"12\"\ndefault_toolchain = \"$rust-x86_64-unknown-linux-gnu\"\nprofile = \"minimal\"\nauto_self_update = \"disable\"\n' > \"\$1/usr/local/rustup/settings.toml\"" \
  --customize-hook="chmod -R a+w \"\$1/usr/local/rustup\" \"\$1/usr/local/cargo\"" \
  bookworm "$work/rootfs.tar"
podman import \
  --change "ENV RUSTUP_HOME=/usr/local/rustup" \
  --change "ENV CARGO_HOME=/usr/local/cargo" \
  --change "ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV RUST_VERSION=$rust" \
  --change "CMD [\"bash\"]" \
  "$work/rootfs.tar" "$image" >/dev/null
podman run --rm --pull=never "$image" sh -c 'rustc --version && cargo --version && cc --version | head -1'
echo "base image $image: built"
