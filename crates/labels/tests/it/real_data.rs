//! Every real label file in `shared/data` parses, with counts checked against the files themselves.

use std::path::{Path, PathBuf};

use chaintrace_core::{Address, Category, Chain};
use chaintrace_labels::{Format, ParseOptions, Parsed, parse};

fn data_dir(sub: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is absent", dir.display());
        None
    }
}

fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            files_under(&e, ext, out);
        } else if e.extension().is_some_and(|x| x == ext) {
            out.push(e);
        }
    }
}

fn parse_path(path: &Path, options: ParseOptions) -> Result<Parsed, chaintrace_labels::LabelsError> {
    let text = std::fs::read_to_string(path).expect("readable file");
    parse(&path.display().to_string(), &text, options)
}

fn assert_accounted(p: &Parsed, file: &Path) {
    assert_eq!(
        p.records,
        p.labels.len() as u64 + p.actors.len() as u64 + p.skipped_total(),
        "{}: every record is a label, an actor or a counted skip",
        file.display()
    );
}

#[test]
fn every_real_tagpack_parses_with_every_tag_accounted_for() {
    let Some(dir) = data_dir("graphsense-tagpacks/packs") else {
        return;
    };
    let mut files = Vec::new();
    files_under(&dir, "yaml", &mut files);
    assert!(files.len() >= 50, "expected the ~58 packs, found {}", files.len());
    let mut failures = Vec::new();
    let (mut labels, mut skipped) = (0u64, 0u64);
    for file in &files {
        match parse_path(file, ParseOptions::default()) {
            Ok(p) => {
                assert_eq!(p.format, Format::TagPack, "{}", file.display());
                // Independent count of the tags: lines that start a tag's `address:` field.
                let text = std::fs::read_to_string(file).expect("readable");
                let tags = text
                    .lines()
                    .filter(|l| {
                        let t = l.trim_start();
                        t.strip_prefix('-')
                            .map(str::trim_start)
                            .unwrap_or(t)
                            .starts_with("address:")
                    })
                    .count() as u64;
                assert_eq!(p.records, tags, "{}: tags read", file.display());
                assert_accounted(&p, file);
                labels += p.labels.len() as u64;
                skipped += p.skipped_total();
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(failures.is_empty(), "packs that failed: {failures:#?}");
    eprintln!("{} packs: {labels} labels, {skipped} skipped", files.len());
    assert!(labels > 20_000, "most tags are Ethereum ones, got {labels}");
}

#[test]
fn ronin_and_lazarus_packs_give_ethereum_labels_attributed_to_lazarus() {
    let Some(dir) = data_dir("graphsense-tagpacks/packs") else {
        return;
    };
    let ronin = parse_path(&dir.join("ronin_bridge.yaml"), ParseOptions::default()).expect("parses");
    assert_eq!(ronin.labels.len(), 6);
    assert!(
        ronin
            .labels
            .iter()
            .all(|l| l.chain == Some(Chain::Ethereum) && l.confidence.value() == 50)
    );
    assert_eq!(ronin.labels[0].text, "Ronin bridge exploiter");
    assert_eq!(ronin.labels[0].category, Category::Perpetrator);

    let lazarus = parse_path(&dir.join("lazarus.yaml"), ParseOptions::default()).expect("parses");
    assert_eq!(lazarus.records, 21);
    assert_eq!(
        lazarus.skipped.get("currency BTC not a supported chain"),
        Some(&20)
    );
    let exploiter = Address::parse("0x098b716b8aaf21512996dc57eb0615e2383e2f96").expect("hex");
    let l = &lazarus.labels[0];
    assert_eq!((l.address, l.chain), (exploiter, Some(Chain::Ethereum)));
    assert_eq!(l.actor.as_ref().map(|a| a.as_str()), Some("lazarusgroup"));
    assert_eq!(l.category, Category::Sanctioned);
    assert_eq!(l.confidence.value(), 60, "authority_data");

    let tornado = parse_path(&dir.join("tornado_cash.yaml"), ParseOptions::default()).expect("parses");
    // 39 tags, one repeating another's address with a trailing space.
    assert_eq!(tornado.records, 39);
    assert_eq!(tornado.labels.len(), 38, "{:?}", tornado.skipped);
    assert_eq!(tornado.skipped.get("duplicate entry"), Some(&1));
    assert!(
        tornado.labels.iter().all(|l| l.category == Category::Mixer),
        "{:?}",
        tornado.labels[0]
    );
}

#[test]
fn real_actorpack_parses_and_lazarus_carries_its_monikers() {
    let Some(dir) = data_dir("graphsense-tagpacks/actors") else {
        return;
    };
    let file = dir.join("graphsense.actorpack.yaml");
    let p = parse_path(&file, ParseOptions::default()).expect("parses");
    assert_eq!(p.format, Format::ActorPack);
    assert_eq!(p.actors.len(), 3813);
    assert_accounted(&p, &file);
    let lazarus = p
        .actors
        .iter()
        .find(|a| a.id.as_str() == "lazarusgroup")
        .expect("lazarusgroup listed");
    assert_eq!(lazarus.name, "Lazarus Group");
    for alias in ["Hidden Cobra", "Guardians of Peace", "Whois Team", "Zinc"] {
        assert!(
            lazarus.aliases.iter().any(|a| a == alias),
            "{alias} in {:?}",
            lazarus.aliases
        );
    }
    assert!(lazarus.categories.iter().any(|c| c == "sanction"));
    let binance = p
        .actors
        .iter()
        .find(|a| a.id.as_str() == "binance")
        .expect("binance listed");
    assert!(binance.categories.iter().any(|c| c == "exchange"));
}

#[test]
fn real_ofac_lists_import_with_counts_matching_the_files() {
    let Some(dir) = data_dir("ofac-sanctioned-addresses-0xb10c") else {
        return;
    };
    let mut files = Vec::new();
    files_under(&dir, "txt", &mut files);
    assert!(files.len() >= 17, "{files:?}");
    for file in &files {
        let p = parse_path(file, ParseOptions::default()).expect("every list parses");
        let lines = std::fs::read_to_string(file)
            .expect("readable")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count();
        assert_eq!(p.records, lines as u64, "{}", file.display());
        assert_accounted(&p, file);
        // The JSON twin holds the same list.
        let twin =
            parse_path(&file.with_extension("json"), ParseOptions::default()).expect("json twin parses");
        let placed = |p: &Parsed| p.labels.iter().map(|l| (l.chain, l.address)).collect::<Vec<_>>();
        assert_eq!(placed(&twin), placed(&p), "{}", file.display());
        assert_eq!(twin.skipped, p.skipped, "{}", file.display());
    }
    let get = |asset: &str| {
        parse_path(
            &dir.join(format!("sanctioned_addresses_{asset}.txt")),
            ParseOptions::default(),
        )
        .expect("parses")
    };
    let eth = get("ETH");
    assert_eq!(eth.labels.len(), 152);
    assert!(
        eth.labels
            .iter()
            .all(|l| l.chain == Some(Chain::Ethereum) && l.category == Category::Sanctioned)
    );
    let ronin = Address::parse("0x098b716b8aaf21512996dc57eb0615e2383e2f96").expect("hex");
    assert!(eth.labels.iter().any(|l| l.address == ronin));
    assert_eq!(
        get("TRX")
            .labels
            .iter()
            .filter(|l| l.chain == Some(Chain::Tron))
            .count(),
        6
    );
    let usdt = get("USDT");
    // 26 lines: 8 EVM (any EVM chain), 11 Tron, 7 Omni (Bitcoin-form) addresses skipped.
    assert_eq!(usdt.records, 26);
    assert_eq!(
        usdt.labels
            .iter()
            .filter(|l| l.chain == Some(Chain::Tron))
            .count(),
        11
    );
    assert_eq!(usdt.labels.iter().filter(|l| l.chain.is_none()).count(), 8);
    assert_eq!(
        usdt.skipped
            .get("asset USDT address on a chain that is not supported"),
        Some(&7)
    );
    assert_eq!(get("ARB").labels[0].chain, Some(Chain::Arbitrum));
    assert_eq!(get("BSC").labels[0].chain, Some(Chain::Bsc));
    let xbt = get("XBT");
    assert_eq!(
        (
            xbt.labels.len(),
            xbt.skipped.get("asset XBT not a supported chain")
        ),
        (0, Some(&435))
    );
    let etc = get("ETC");
    assert_eq!(etc.skipped_total(), 1, "Ethereum Classic is not Ethereum");
}

#[test]
fn real_etherscan_dumps_import_with_counts_matching_the_files() {
    let Some(dir) = data_dir("etherscan-labels-brianleect") else {
        return;
    };
    // Entry counts from the dataset's SOURCE.md.
    let expected = [
        ("etherscan", 29_945, Some(Chain::Ethereum)),
        ("bscscan", 6_726, Some(Chain::Bsc)),
        ("polygonscan", 4_997, Some(Chain::Polygon)),
        ("optimism", 546, Some(Chain::Optimism)),
        ("arbiscan", 837, Some(Chain::Arbitrum)),
        ("ftmscan", 1_085, None),
        ("avalanche", 1_062, None),
    ];
    for (name, entries, chain) in expected {
        let file = dir.join(format!("{name}_combinedAllLabels.json"));
        let p = parse_path(&file, ParseOptions::default()).expect("parses");
        assert_eq!(p.records, entries, "{name}");
        assert_accounted(&p, &file);
        match chain {
            Some(c) => {
                assert!(p.labels.iter().all(|l| l.chain == Some(c)), "{name}");
                assert!(
                    p.labels.len() as u64 > entries * 9 / 10,
                    "{name}: {} labels",
                    p.labels.len()
                );
            }
            None => assert!(p.labels.is_empty(), "{name} is not a supported chain"),
        }
    }
    let eth = parse_path(
        &dir.join("etherscan_combinedAllLabels.json"),
        ParseOptions::default(),
    )
    .expect("parses");
    // 63 entries carry `tornado-cash`; 38 of them also `ofac-sanctions-lists`, which outranks `mixer`.
    let tornado: Vec<_> = eth
        .labels
        .iter()
        .filter(|l| {
            l.category_raw
                .as_deref()
                .is_some_and(|c| c.contains("tornado-cash"))
        })
        .collect();
    assert!(tornado.len() >= 60, "{}", tornado.len());
    assert!(
        tornado
            .iter()
            .all(|l| matches!(l.category, Category::Mixer | Category::Sanctioned))
    );
    assert!(tornado.iter().filter(|l| l.category == Category::Mixer).count() >= 20);
    let forced = parse_path(
        &dir.join("ftmscan_combinedAllLabels.json"),
        ParseOptions {
            chain: Some(Chain::Bsc),
            ..Default::default()
        },
    )
    .expect("parses");
    assert!(!forced.labels.is_empty(), "--chain overrides the file name");
}
