//! The in-process HTTP server the tests run against: `mmpk-test-support`'s
//! (GET and HEAD of in-memory files, with `Range`, `If-Match`, ETag and
//! Last-Modified; told to ignore `Range`, answer 404 or 503, or cut bodies
//! short; counting requests and body bytes sent).

pub use mmpk_test_support::http::{Mode, Server};
