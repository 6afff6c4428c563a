//! Integration tests of chaintrace-analysis against ground truth: simulated worlds with planted incidents
//! (`ground_truth`) and hand-verified real laundering flows (`real_data`, skipped without /work/shared).

mod ground_truth;
mod real_data;
