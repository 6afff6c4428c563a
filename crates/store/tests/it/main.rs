//! Integration tests of chaintrace-store through its public API.

mod crash;
mod store;
