//! The envelope of the derived-data caches kept next to the graph snapshot (`conversions.cache`,
//! `balance.index`): an 8-byte magic naming the format and its version, an 8-byte key of what the data was
//! derived from, the payload, and a checksum of all that. Written to a temporary file, synced and renamed
//! into place, so a reader sees the old file or the new one.

use std::fs;
use std::io::Write;
use std::path::Path;

use chaintrace_graph::checksum;

/// Reads the cache at `path` and hands its payload to `parse` when the key matches. `Ok(None)`: no file,
/// or a file made for another key. `Err` says why the file is not usable (unreadable, truncated, bad
/// checksum, another format or version — `what` names the expected one —, or a payload `parse` refuses).
pub(crate) fn read<T>(
    path: &Path,
    magic: &[u8; 8],
    what: &str,
    key: u64,
    parse: impl FnOnce(&[u8]) -> Result<T, String>,
) -> Result<Option<T>, String> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if bytes.len() < 8 + 8 + 8 {
        return Err(format!("{} is truncated", path.display()));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 8);
    if checksum(body).to_le_bytes() != tail {
        return Err(format!("{} fails its checksum", path.display()));
    }
    if &body[..8] != magic {
        return Err(format!("{} is not a {what} of this version", path.display()));
    }
    if body[8..16] != key.to_le_bytes() {
        return Ok(None);
    }
    parse(&body[16..])
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a cache to `path`: `fill` appends the payload (`capacity`: a size hint for it).
pub(crate) fn write(
    path: &Path,
    magic: &[u8; 8],
    key: u64,
    capacity: usize,
    fill: impl FnOnce(&mut Vec<u8>),
) -> std::io::Result<()> {
    let mut w = Vec::with_capacity(capacity + 32);
    w.extend_from_slice(magic);
    w.extend_from_slice(&key.to_le_bytes());
    fill(&mut w);
    let sum = checksum(&w);
    w.extend_from_slice(&sum.to_le_bytes());
    let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&w)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}
