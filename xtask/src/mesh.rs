//! What each mesh target reads: its versions and resource kinds (`target`), the flags that shape a
//! resource (`options`), which versions read which fields (`fields`), and which image variants its puller
//! accepts (`variant`). `deploy` writes from this; `check` verifies against it.

pub(crate) mod fields;
pub(crate) mod kinds;
pub(crate) mod options;
pub(crate) mod target;
pub(crate) mod variant;

pub(crate) use options::{
    CalloutService, EnvVar, FailPolicy, Label, PluginType, PullPolicy, TargetRef,
};
pub(crate) use target::{Resource, Resources, Target};
