//! Integration tests of chaintrace-labels on the real public data in `shared/data`.

mod real_data;
