//! Integration tests of pickle-ops.
