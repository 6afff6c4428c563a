//! Integration tests of chaintrace-chain-evm: decoders against ethereum-etl's recorded mainnet
//! responses, and the RPC client against a real loopback HTTP server serving those responses.

mod decode;
mod fixtures;
mod logs;
mod node;
mod rpc;
