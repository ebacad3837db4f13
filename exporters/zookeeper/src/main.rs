//! oxporter-zookeeper: an ensemble-aware ZooKeeper exporter.

fn main() -> std::process::ExitCode {
    oxporter_core::run::exit_code("oxporter-zookeeper", oxporter_zookeeper::main())
}
