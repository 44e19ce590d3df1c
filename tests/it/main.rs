//! The one integration-test binary: runs the real `buildkit` in temporary sandboxes against a
//! loopback HTTP server that serves archives built by the tests. Never touches the internet.

mod doctor;
mod e2e;
mod generate;
mod harness;
mod hostile;
mod safety;
mod setup;
mod team_cache;
mod tune;
mod upstream;
