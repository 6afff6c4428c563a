//! chaintrace-ingest (placeholder, being built).
