//! Integration tests of mmpk-remote: one binary.
//!
//! - `reads`, `errors`, `refresh`: against the in-process HTTP server of
//!   `server.rs` (always run);
//! - `real`: against nginx and moto's S3 server, started by the tests
//!   themselves when `MMPK_TEST_NGINX` / `MMPK_TEST_MOTO` name their
//!   binaries (`cargo xtask remote-test` sets them); ignored otherwise.

mod direct;
mod errors;
mod files;
mod hostile;
mod pins;
mod reads;
mod real;
mod refresh;
mod server;

use std::time::Duration;

use mmpk_remote::Options;

/// Options for the tests: quick retries, short timeouts.
pub fn quick() -> Options {
    Options::new()
        .retries(1, Duration::from_millis(10), Duration::from_secs(2))
        .timeouts(Duration::from_secs(20), Duration::from_secs(2))
}
