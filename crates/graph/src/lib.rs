//! chaintrace-graph (placeholder, being built).
