//! One module per subcommand: an `Args` struct and a `run` function.

pub(crate) mod actors;
pub(crate) mod bridges;
pub(crate) mod cluster;
pub(crate) mod demo;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod ingest;
pub(crate) mod investigate;
pub(crate) mod labels;
pub(crate) mod link;
pub(crate) mod sim;
pub(crate) mod status;
pub(crate) mod trace;
pub(crate) mod transfers;
