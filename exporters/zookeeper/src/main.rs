//! oxporter-zookeeper: an ensemble-aware ZooKeeper exporter.

fn main() -> anyhow::Result<()> {
    oxporter_zookeeper::main()
}
