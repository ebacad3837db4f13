//! oxporter-redis: a drop-in replacement for the Prometheus redis_exporter.

fn main() -> anyhow::Result<()> {
    oxporter_redis::main()
}
