//! End-to-end tests on real binaries.
