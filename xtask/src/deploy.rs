use crate::flags;

impl flags::Deploy {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo xtask deploy` is not implemented yet")
    }
}
