//! chaintrace-analysis (placeholder, being built).
