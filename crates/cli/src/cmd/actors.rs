//! `chaintrace actors show ACTOR`: an actor's names, categories and labeled addresses.

use anyhow::Context;
use serde_json::json;

use crate::cmd::labels::{label_json, print_aligned, print_csv, print_table};
use crate::opts::{Format, GlobalOpts};

/// Arguments of `chaintrace actors`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Show an actor (by id, name or alias, any case): aliases, categories and labeled addresses.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// Actor id, name or alias.
    #[arg(value_name = "ACTOR")]
    actor: String,
    /// Output format (csv lists the labeled addresses).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub(crate) fn run(global: &GlobalOpts, args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Show(a) => show(global, a),
    }
}

fn show(global: &GlobalOpts, args: ShowArgs) -> anyhow::Result<()> {
    let store = global.open_store()?;
    let Some(actor) = store.actor(&args.actor).context("reading actors")? else {
        anyhow::bail!(
            "unknown actor '{}': no actor id, name or alias matches ({} actors stored; import an ActorPack \
             with `chaintrace labels import`)",
            args.actor,
            store.actor_count().unwrap_or(0)
        );
    };
    let labels = store
        .addresses_of_actor(&actor.id)
        .context("reading the actor's labels")?;
    match args.format {
        Format::Json => {
            let context = actor
                .context
                .as_deref()
                .map(|c| serde_json::from_str::<serde_json::Value>(c).unwrap_or_else(|_| json!(c)));
            let out = json!({
                "schema_version": 1,
                "actor": {
                    "id": actor.id.as_str(),
                    "name": actor.name,
                    "aliases": actor.aliases,
                    "categories": actor.categories,
                    "jurisdictions": actor.jurisdictions,
                    "uri": actor.uri,
                    "context": context,
                    "source": actor.source,
                },
                "addresses": labels.iter().map(label_json).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Csv => print_csv(&labels)?,
        Format::Table => {
            let list = |v: &[String]| {
                if v.is_empty() {
                    "-".to_string()
                } else {
                    v.join(", ")
                }
            };
            let rows = vec![
                vec!["id".to_string(), actor.id.to_string()],
                vec!["name".to_string(), actor.name.clone()],
                vec!["aliases".to_string(), list(&actor.aliases)],
                vec!["categories".to_string(), list(&actor.categories)],
                vec!["jurisdictions".to_string(), list(&actor.jurisdictions)],
                vec![
                    "uri".to_string(),
                    actor.uri.clone().unwrap_or_else(|| "-".to_string()),
                ],
                vec!["source".to_string(), actor.source.clone()],
                vec!["labeled".to_string(), format!("{} labels", labels.len())],
            ];
            print_aligned(&["FIELD", "VALUE"], &rows);
            if !labels.is_empty() {
                println!();
                print_table(&labels);
            }
        }
    }
    Ok(())
}
