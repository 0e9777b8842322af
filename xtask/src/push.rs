use crate::flags;

impl flags::Push {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo xtask push` is not implemented yet")
    }
}
