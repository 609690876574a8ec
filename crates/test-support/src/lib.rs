//! Test support for the mmpk workspace: used only as a dev-dependency of
//! its crates, never published. It depends on no workspace crate (std only),
//! so every layer, pickle-ops included, may use it in its tests.
//!
//! - [`alloc`]: [`Counting`](alloc::Counting), a global allocator that
//!   counts the bytes allocated per thread, and [`peak_of`](alloc::peak_of),
//!   the peak heap a closure costs; the hostile-input suites assert memory
//!   bounds with them. A library cannot install a global allocator for its
//!   users, so each test binary declares the static itself:
//!
//!   ```
//!   #[global_allocator]
//!   static ALLOC: mmpk_test_support::alloc::Counting = mmpk_test_support::alloc::Counting;
//!   # fn main() {}
//!   ```
//!
//! - [`fixtures`]: the repository's `fixtures/` folder, or a skip (with a
//!   message) when it is absent, as in a published package
//!   ([`fixtures_or_skip!`]); likewise the text of its `docs/`
//!   ([`doc`](fixtures::doc)).
//! - [`rng`]: the seeded generators the hostile suites and the soak use.
//! - [`http`]: [`Server`](http::Server), a tiny HTTP/1.1 server on
//!   127.0.0.1 serving in-memory files with `Range`, `If-Match`, ETag and
//!   Last-Modified, which can be told to misbehave ([`Mode`](http::Mode)).
//!
//! ```
//! use std::io::{Read, Write};
//!
//! let server = mmpk_test_support::http::Server::start();
//! server.put("f", b"hello".to_vec());
//! let mut c = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
//! write!(c, "GET /f HTTP/1.1\r\nRange: bytes=1-3\r\n\r\n").unwrap();
//! let mut answer = String::new();
//! c.read_to_string(&mut answer).unwrap();
//! assert!(answer.starts_with("HTTP/1.1 206 "));
//! assert!(answer.ends_with("\r\n\r\nell"));
//! ```

pub mod alloc;
pub mod fixtures;
pub mod http;
pub mod rng;
