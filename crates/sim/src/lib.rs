//! chaintrace-sim (placeholder, being built).
