//! Integration tests of chaintrace-defi: decoders on node-format fixtures, matching and detection
//! quality on generated data with ground truth, property tests, and real mainnet blocks.

mod decode;
mod fixtures;
mod props;
mod quality;
mod real_blocks;
mod scenario;
