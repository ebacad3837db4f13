//! The collectors of oxporter-zookeeper, declared in [`COLLECTORS`].

use oxporter_core::collector::CollectorSpec;

use crate::args::Args;

pub mod mntr;

/// Every collector oxporter-zookeeper has: the one place a collector is registered.
pub const COLLECTORS: &[CollectorSpec<Args>] = &[CollectorSpec {
    name: "mntr",
    default_enabled: true,
    description: "ruok and mntr (or the AdminServer's monitor) of every server, and the ensemble view.",
    build: mntr::build,
}];
