//! Pure analyses of chaintrace over the temporal transfer graph (`chaintrace-graph`).
//!
//! Every analysis takes a graph (and, where needed, label lookups through a trait) and returns values; none
//! does I/O, opens a file, talks to a node or prints. The `cli` crate wires them to the store and the terminal.

#![warn(missing_docs)]

pub mod cluster;
pub mod conversions;
pub mod investigate;
pub mod link;
pub mod trace;
