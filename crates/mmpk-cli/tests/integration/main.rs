//! Integration tests of the mmpk binary.
