use crate::flags;

impl flags::Run {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo xtask run` is not implemented yet")
    }
}
