use crate::flags;

impl flags::Package {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo xtask package` is not implemented yet")
    }
}
