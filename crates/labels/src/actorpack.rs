//! GraphSense ActorPack YAML: a list of actors with id, label, aliases, uri, categories, jurisdictions
//! and free-form context.

use chaintrace_core::{Actor, ActorId};
use serde::Deserialize;

use crate::tagpack::{Scalar, yaml_error};
use crate::{Format, LabelsError, Parsed, base_name};

#[derive(Debug, Deserialize)]
struct Pack {
    title: Option<Scalar>,
    actors: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    id: Scalar,
    label: Option<Scalar>,
    #[serde(default)]
    aliases: Vec<Scalar>,
    uri: Option<serde_norway::Value>,
    #[serde(default)]
    categories: Vec<Scalar>,
    #[serde(default)]
    jurisdictions: Vec<Scalar>,
    context: Option<serde_norway::Value>,
}

pub(crate) fn parse(file: &str, input: &str) -> Result<Parsed, LabelsError> {
    let pack: Pack = serde_norway::from_str(input).map_err(|e| yaml_error(file, &e))?;
    let mut out = Parsed::new(Format::ActorPack);
    let source = match &pack.title {
        Some(t) if !t.0.is_empty() => format!("{} ({})", t.0, base_name(file)),
        _ => base_name(file).to_string(),
    };
    for entry in pack.actors {
        out.records += 1;
        let id = entry.id.0;
        if id.is_empty() {
            out.skip("actor with an empty id");
            continue;
        }
        let mut aliases: Vec<String> = Vec::new();
        let mut add_alias = |a: &str| {
            let a = a.trim();
            if !a.is_empty() && !aliases.iter().any(|x| x.eq_ignore_ascii_case(a)) {
                aliases.push(a.to_string());
            }
        };
        for a in &entry.aliases {
            add_alias(&a.0);
        }
        if let Some(ctx) = &entry.context {
            for a in context_aliases(ctx) {
                add_alias(&a);
            }
        }
        let name = entry
            .label
            .map(|l| l.0)
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| id.clone());
        aliases.retain(|a| !a.eq_ignore_ascii_case(&id) && !a.eq_ignore_ascii_case(&name));
        let uri = match entry.uri {
            Some(serde_norway::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(serde_norway::Value::Sequence(items)) => {
                items.iter().find_map(|v| v.as_str().map(str::to_string))
            }
            _ => None,
        };
        // Context is informational; a mapping that JSON cannot express (non-text keys) is dropped.
        let context = entry.context.as_ref().and_then(|c| serde_json::to_string(c).ok());
        out.actors.push(Actor {
            id: ActorId(id),
            name,
            aliases,
            categories: entry
                .categories
                .into_iter()
                .map(|c| c.0)
                .filter(|c| !c.is_empty())
                .collect(),
            jurisdictions: entry
                .jurisdictions
                .into_iter()
                .map(|c| c.0)
                .filter(|c| !c.is_empty())
                .collect(),
            uri,
            context,
            source: source.clone(),
        });
    }
    Ok(out)
}

/// Names found in an actor's context: `context.aliases`, and `Monikers: A or B, C` notes (the actor file
/// writes Lazarus Group's other names that way).
fn context_aliases(context: &serde_norway::Value) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(list) = context.get("aliases").and_then(|v| v.as_sequence()) {
        names.extend(list.iter().filter_map(|v| v.as_str().map(str::to_string)));
    }
    if let Some(notes) = context.get("notes").and_then(|v| v.as_sequence()) {
        for note in notes {
            let Some(map) = note.as_mapping() else { continue };
            for (k, v) in map {
                let (Some(k), Some(v)) = (k.as_str(), v.as_str()) else {
                    continue;
                };
                if k.trim().eq_ignore_ascii_case("monikers") {
                    names.extend(
                        v.split(',')
                            .flat_map(|part| part.split(" or "))
                            .map(|s| s.trim().to_string()),
                    );
                }
            }
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACK: &str = "\
%YAML 1.1
---
title: Actors
actors:
- id: lazarusgroup
  label: Lazarus Group
  uri: https://home.treasury.gov/news/press-releases/sm774
  categories:
  - sanction
  context:
    notes:
    - Monikers: Guardians of Peace or Whois Team, Hidden Cobra, Zinc
    - Believed to consist of two units: BlueNorOff and AndAriel
- id: 0x
  label: 0x
  jurisdictions: [KN]
  categories: [defi_dex]
  uri: www.0x.org
  context:
    aliases: [0xapi, 0x_api]
  aliases:
  - 0xapi
  - 0x_api
";

    #[test]
    fn actors_keep_aliases_from_fields_and_monikers() {
        let p = parse("a.actorpack.yaml", PACK).expect("valid pack");
        assert_eq!(p.records, 2);
        let laz = &p.actors[0];
        assert_eq!(laz.id.as_str(), "lazarusgroup");
        assert_eq!(laz.name, "Lazarus Group");
        assert_eq!(
            laz.aliases,
            ["Guardians of Peace", "Whois Team", "Hidden Cobra", "Zinc"]
        );
        assert!(laz.context.as_deref().is_some_and(|c| c.contains("BlueNorOff")));
        let zx = &p.actors[1];
        assert_eq!(zx.aliases, ["0xapi", "0x_api"]);
        assert_eq!(zx.jurisdictions, ["KN"]);
        assert_eq!(zx.uri.as_deref(), Some("www.0x.org"));
    }

    #[test]
    fn actor_without_id_names_file_and_line() {
        let bad = PACK.replace("- id: 0x\n", "- name: 0x\n");
        let err = parse("a.yaml", &bad).expect_err("missing id").to_string();
        assert!(err.starts_with("a.yaml:14:"), "{err}");
        assert!(err.contains("id"), "{err}");
    }
}
