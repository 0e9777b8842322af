use crate::flags;

impl flags::New {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo xtask new` is not implemented yet")
    }
}
