//! Placeholder: being built.

use crate::opts::GlobalOpts;

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_global: &GlobalOpts, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
