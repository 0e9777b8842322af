use crate::flags;

impl flags::Build {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo xtask build` is not implemented yet")
    }
}
