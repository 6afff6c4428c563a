//! Build the world once, keep it: each node's state is saved with `anvil_dumpState` into a cache folder
//! (with the ground truth and the investigator's inputs), and later runs start anvil with
//! `--load-state` instead of re-sending every transaction. The folder carries a key (hash of the
//! scenario's source and the contract artifacts); a stale or partial folder is rebuilt.

use std::io::Read;
use std::path::{Path, PathBuf};

use chaintrace_core::Chain;
use chaintrace_testkit::Anvil;

use crate::ReplayError;
use crate::contracts::ReplayContract;
use crate::node::Node;
use crate::truth::GroundTruth;
use crate::world::{self, CHAINS, GENESIS_UNIX};

/// Bump when the world changes in a way the key below cannot see.
const WORLD_VERSION: &str = "chaintrace-replay world 1";
/// Arguments every world node runs with: any sender is impersonated, no base fee (zero-fee transactions).
const NODE_ARGS: [&str; 3] = ["--auto-impersonate", "--base-fee", "0"];

/// A built world on disk.
#[derive(Debug, Clone)]
pub struct WorldFiles {
    /// The cache folder.
    pub dir: PathBuf,
    /// The ground truth (also in `truth.json`).
    pub truth: GroundTruth,
}

impl WorldFiles {
    /// anvil state of `chain` (a JSON file `anvil --load-state` reads).
    pub fn state_file(&self, chain: Chain) -> PathBuf {
        self.dir.join(format!("{}.state.json", chain.name()))
    }

    /// Labels CSV for `chaintrace labels import`.
    pub fn labels_csv(&self) -> PathBuf {
        self.dir.join("labels.csv")
    }

    /// Bridges CSV for `chaintrace bridges import`.
    pub fn bridges_csv(&self) -> PathBuf {
        self.dir.join("bridges.csv")
    }

    /// Mixers CSV (`MixerRegistry::parse_csv` layout).
    pub fn mixers_csv(&self) -> PathBuf {
        self.dir.join("mixers.csv")
    }

    /// The incident file for `chaintrace investigate`.
    pub fn incident_toml(&self) -> PathBuf {
        self.dir.join("incident.toml")
    }

    /// The ground truth as JSON.
    pub fn truth_json(&self) -> PathBuf {
        self.dir.join("truth.json")
    }

    /// Starts one anvil per chain from the saved states (killed when dropped) and checks that each node
    /// serves the chain id and head the world was built with.
    pub fn spawn_nodes(&self) -> Result<Vec<(Chain, Anvil)>, ReplayError> {
        let mut nodes = Vec::new();
        for c in &self.truth.chains {
            let state = self.state_file(c.chain);
            let state_arg = state.display().to_string();
            let mut args: Vec<&str> = NODE_ARGS.to_vec();
            args.extend(["--load-state", &state_arg]);
            let anvil = Anvil::spawn_with(c.chain_id, &args).map_err(ReplayError::node(c.chain))?;
            let head = anvil.rpc().block_number().map_err(ReplayError::node(c.chain))?;
            if head != c.head {
                return Err(ReplayError::Cache {
                    path: state,
                    what: format!(
                        "loaded node is at block {head}, the world was built to block {}",
                        c.head
                    ),
                });
            }
            nodes.push((c.chain, anvil));
        }
        Ok(nodes)
    }
}

/// The cache key of the current scenario and contracts.
pub fn cache_key() -> String {
    let mut text = String::from(WORLD_VERSION);
    text.push_str(include_str!("world.rs"));
    text.push_str(include_str!("truth.rs"));
    text.push_str(&NODE_ARGS.join(" "));
    for c in ReplayContract::ALL {
        text.push_str(c.artifact_text());
    }
    format!("{}", alloy_primitives::keccak256(text.as_bytes()))
}

/// The world in `dir`: read when its key matches, else built (five fresh anvil nodes, a few hundred
/// transactions each) and saved there. `progress` receives one line per stage.
pub fn ensure_world(dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<WorldFiles, ReplayError> {
    if let Some(files) = read_cached(dir)? {
        progress(&format!("replay world: using cached world in {}", dir.display()));
        return Ok(files);
    }
    progress(&format!("replay world: building into {}", dir.display()));
    build_into(dir, progress)
}

/// Builds the world afresh into `dir` (replacing what is there).
pub fn build_into(dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<WorldFiles, ReplayError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ReplayError::io(parent))?;
    // Build beside the target and rename at the end: a crash never leaves a half world that looks whole.
    let tmp = parent.join(format!(
        ".{}.building-{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("replay"),
        std::process::id()
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(ReplayError::io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(ReplayError::io(&tmp))?;

    let started = std::time::Instant::now();
    let mut anvils = Vec::new();
    let mut nodes = Vec::new();
    let genesis = GENESIS_UNIX.to_string();
    for chain in CHAINS {
        let mut args: Vec<&str> = NODE_ARGS.to_vec();
        args.extend(["--timestamp", &genesis]);
        let anvil = Anvil::spawn_with(chain.chain_id(), &args).map_err(ReplayError::node(chain))?;
        nodes.push(Node::new(chain, anvil.rpc())?);
        anvils.push((chain, anvil));
    }
    progress("replay world: five nodes up; sending the scenario's transactions");
    let truth = world::build(nodes)?;
    progress(&format!(
        "replay world: built in {:.1} s (heads: {})",
        started.elapsed().as_secs_f64(),
        truth
            .chains
            .iter()
            .map(|c| format!("{} {}", c.chain, c.head))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let files = WorldFiles {
        dir: tmp.clone(),
        truth,
    };
    for (chain, anvil) in &anvils {
        let hex = anvil.rpc().dump_state().map_err(ReplayError::node(*chain))?;
        let json = gunzip_hex(&hex).map_err(|what| ReplayError::Cache {
            path: files.state_file(*chain),
            what,
        })?;
        write(&files.state_file(*chain), &json)?;
    }
    drop(anvils);
    let truth_text = serde_json::to_string_pretty(&files.truth).expect("the ground truth serializes");
    write(&files.truth_json(), truth_text.as_bytes())?;
    write(&files.labels_csv(), files.truth.labels_csv().as_bytes())?;
    write(&files.bridges_csv(), files.truth.bridges_csv().as_bytes())?;
    write(&files.mixers_csv(), files.truth.mixers_csv().as_bytes())?;
    write(&files.incident_toml(), files.truth.incident_toml().as_bytes())?;
    // The key goes last: its presence means the folder is complete.
    write(&tmp.join("key.txt"), cache_key().as_bytes())?;

    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(ReplayError::io(dir))?;
    }
    std::fs::rename(&tmp, dir).map_err(ReplayError::io(dir))?;
    Ok(WorldFiles {
        dir: dir.to_path_buf(),
        truth: files.truth,
    })
}

fn read_cached(dir: &Path) -> Result<Option<WorldFiles>, ReplayError> {
    let key_file = dir.join("key.txt");
    let Ok(key) = std::fs::read_to_string(&key_file) else {
        return Ok(None);
    };
    if key.trim() != cache_key() {
        return Ok(None);
    }
    let path = dir.join("truth.json");
    let text = std::fs::read_to_string(&path).map_err(ReplayError::io(&path))?;
    let truth: GroundTruth = serde_json::from_str(&text).map_err(|e| ReplayError::Cache {
        path: path.clone(),
        what: e.to_string(),
    })?;
    let files = WorldFiles {
        dir: dir.to_path_buf(),
        truth,
    };
    let complete = files
        .truth
        .chains
        .iter()
        .all(|c| files.state_file(c.chain).is_file())
        && files.labels_csv().is_file()
        && files.bridges_csv().is_file()
        && files.incident_toml().is_file();
    Ok(complete.then_some(files))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ReplayError> {
    std::fs::write(path, bytes).map_err(ReplayError::io(path))
}

/// `anvil_dumpState` answers with 0x-hex of a gzipped JSON document; `--load-state` wants the JSON.
fn gunzip_hex(hex: &str) -> Result<Vec<u8>, String> {
    let bytes = alloy_primitives::hex::decode(hex).map_err(|e| format!("state dump is not hex: {e}"))?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        // Older anvils answer with plain JSON bytes.
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| format!("state dump is not valid gzip: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn gunzips_hex_dumps_and_passes_plain_json_through() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"{\"block\":1}").expect("write");
        let gz = enc.finish().expect("finish");
        let hex = format!("0x{}", alloy_primitives::hex::encode(&gz));
        assert_eq!(gunzip_hex(&hex).expect("gzip"), b"{\"block\":1}");
        let plain = format!("0x{}", alloy_primitives::hex::encode(b"{}"));
        assert_eq!(gunzip_hex(&plain).expect("plain"), b"{}");
        assert!(gunzip_hex("0xzz").is_err());
    }

    #[test]
    fn the_cache_key_is_stable_and_a_hash() {
        assert_eq!(cache_key(), cache_key());
        assert_eq!(cache_key().len(), 66);
    }
}
