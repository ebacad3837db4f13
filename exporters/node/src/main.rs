//! oxporter-node: a drop-in replacement for Prometheus node_exporter.

fn main() -> std::process::ExitCode {
    oxporter_core::run::exit_code("oxporter-node", oxporter_node::main())
}
