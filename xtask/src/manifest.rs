use crate::flags;

impl flags::Manifest {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("`cargo xtask manifest` is not implemented yet")
    }
}
