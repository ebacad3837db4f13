//! oxporter-node: a drop-in replacement for Prometheus node_exporter.

fn main() {}
