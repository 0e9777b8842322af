use crate::flags;

impl flags::Test {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo xtask test` is not implemented yet")
    }
}
