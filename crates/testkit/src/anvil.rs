//! A real anvil dev node on 127.0.0.1, on a port the OS picks, killed when the handle drops.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{DevRpc, TestkitError};

/// Env var naming the anvil binary to use instead of the repo's `.tools/` install.
const ANVIL_ENV: &str = "CHAINTRACE_ANVIL";
/// Where scripts/setup-tools.sh puts anvil, relative to the repo root.
const TOOLS_ANVIL: &str = ".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";
/// How long anvil may take to print its address and answer its first call.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The anvil binary to run: `$CHAINTRACE_ANVIL`, else `.tools/` of this repo.
pub fn anvil_path() -> Result<PathBuf, TestkitError> {
    if let Some(p) = std::env::var_os(ANVIL_ENV) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(TestkitError::AnvilNotFound {
                looked: format!("{ANVIL_ENV}={}", p.display()),
            })
        };
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = repo.join(TOOLS_ANVIL);
    if p.is_file() {
        Ok(p)
    } else {
        Err(TestkitError::AnvilNotFound {
            looked: format!("{ANVIL_ENV} unset, no {}", p.display()),
        })
    }
}

/// For `live_` tests: `true` when anvil is available. Otherwise prints why `test` is skipped and returns
/// `false`, except under CI (env `CI` set), where a missing anvil is a failure, not a skip.
pub fn require_anvil(test: &str) -> bool {
    match anvil_path() {
        Ok(_) => true,
        Err(e) if std::env::var_os("CI").is_some() => panic!("{test}: {e} (CI must not skip live tests)"),
        Err(e) => {
            eprintln!("skipping {test}: {e}");
            false
        }
    }
}

/// A running anvil process. Dropping it kills the node.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    port: u16,
    chain_id: u64,
    url: String,
}

impl Anvil {
    /// Starts anvil with `--chain-id chain_id` on 127.0.0.1 and a free port, and waits until it answers.
    pub fn spawn(chain_id: u64) -> Result<Anvil, TestkitError> {
        Anvil::spawn_with(chain_id, &[])
    }

    /// Like [`Anvil::spawn`], with extra command-line arguments (e.g. `["--gas-limit", "1000000000"]`).
    pub fn spawn_with(chain_id: u64, extra_args: &[&str]) -> Result<Anvil, TestkitError> {
        let path = anvil_path()?;
        let mut child = Command::new(&path)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--chain-id",
                &chain_id.to_string(),
            ])
            // Plenty for the benchmark's gas; dev accounts are unlocked.
            .args(["--balance", "1000000"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| TestkitError::Spawn {
                path: path.clone(),
                source,
            })?;

        let stderr_text = Arc::new(Mutex::new(String::new()));
        if let Some(mut stderr) = child.stderr.take() {
            let sink = Arc::clone(&stderr_text);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stderr.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut s) = sink.lock()
                        && s.len() < 16 * 1024
                    {
                        s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
        }

        // anvil logs every request to stdout: keep draining it after the address line so it never blocks.
        let stdout = child.stdout.take().expect("stdout was piped above");
        let (tx, rx) = mpsc::channel::<u16>();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(port) = listening_port(&line) {
                    sent = tx.send(port).is_ok();
                }
            }
        });

        let mut anvil = Anvil {
            child,
            port: 0,
            chain_id,
            url: String::new(),
        };
        let port = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(port) => port,
            Err(_) => {
                let status = anvil.child.try_wait().ok().flatten();
                let stderr = stderr_text
                    .lock()
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default();
                return Err(TestkitError::Startup {
                    reason: format!("no 'Listening on' line (exit status {status:?}; stderr: {stderr})"),
                });
            }
        };
        anvil.port = port;
        anvil.url = format!("http://127.0.0.1:{port}");

        let rpc = anvil.rpc();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match rpc.chain_id() {
                Ok(id) if id == chain_id => break,
                Ok(id) => {
                    return Err(TestkitError::Startup {
                        reason: format!("asked for chain id {chain_id}, node reports {id}"),
                    });
                }
                Err(e) if Instant::now() > deadline => {
                    return Err(TestkitError::Startup {
                        reason: format!("never answered: {e}"),
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        Ok(anvil)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port anvil listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The chain id anvil was started with.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The process id (for logs).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A dev JSON-RPC client for this node.
    pub fn rpc(&self) -> DevRpc {
        DevRpc::new(&self.url)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port of anvil's `Listening on 127.0.0.1:PORT` line.
fn listening_port(line: &str) -> Option<u16> {
    let rest = line.trim().strip_prefix("Listening on ")?;
    rest.rsplit(':').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_from_anvils_listening_line() {
        assert_eq!(listening_port("Listening on 127.0.0.1:46209"), Some(46209));
        assert_eq!(listening_port("  Listening on 127.0.0.1:8545  "), Some(8545));
        assert_eq!(listening_port("Available Accounts"), None);
        assert_eq!(listening_port("Listening on 127.0.0.1:notaport"), None);
    }

    #[test]
    fn live_anvil_starts_answers_and_dies_on_drop() {
        if !require_anvil("live_anvil_starts_answers_and_dies_on_drop") {
            return;
        }
        let anvil = Anvil::spawn(31337).expect("anvil starts");
        let rpc = anvil.rpc();
        assert_eq!(rpc.chain_id().expect("eth_chainId"), 31337);
        assert_eq!(rpc.accounts().expect("eth_accounts").len(), 10);
        let url = anvil.url().to_string();
        drop(anvil);
        assert!(
            DevRpc::new(&url).chain_id().is_err(),
            "node still answers after drop"
        );
    }
}

#[cfg(test)]
mod state_tests {
    use chaintrace_core::{Chain, U256};

    use super::*;
    use crate::scenario::{self, derived_address};

    #[test]
    fn live_dumped_state_loads_into_a_fresh_node() {
        if !require_anvil("live_dumped_state_loads_into_a_fresh_node") {
            return;
        }
        let a = Anvil::spawn(1).expect("anvil a");
        let outcome = scenario::many_blocks(&a.rpc(), Chain::Ethereum, 2, 2).expect("scenario");
        let receiver = derived_address(1_000_000 + 1);
        let balance = a.rpc().balance(receiver).expect("balance");
        assert_eq!(balance, U256::from(1_001u64));
        let state = a.rpc().dump_state().expect("dump");

        let b = Anvil::spawn(1).expect("anvil b");
        assert_eq!(b.rpc().balance(receiver).expect("balance"), U256::ZERO);
        b.rpc().load_state(&state).expect("load");
        assert_eq!(b.rpc().balance(receiver).expect("balance after load"), balance);
        assert!(b.rpc().block_number().expect("head") >= outcome.last_block);
    }
}
