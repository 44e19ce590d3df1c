"""What the two CI runners share: the host variables a job inherits so that this machine's
toolchain stands in for the runner image's (rustup's home and choice, no auto-install, the
CA bundle, loopback without a proxy)."""

import os

PASSTHROUGH = ("RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "RUSTUP_AUTO_INSTALL", "SSL_CERT_FILE", "NO_PROXY")


def passthrough_env():
    return {var: os.environ[var] for var in PASSTHROUGH if var in os.environ}
