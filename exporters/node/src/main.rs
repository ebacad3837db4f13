//! oxporter-node: a drop-in replacement for Prometheus node_exporter.

fn main() -> anyhow::Result<()> {
    oxporter_node::main()
}
