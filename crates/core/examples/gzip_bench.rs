//! Gzips files N times with the core's `encode::gzip`, to count its instructions under callgrind:
//!
//! ```text
//! cargo build --release -p oxporter-core --example gzip_bench
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/gzip_bench 0 FILE...
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/gzip_bench 50 FILE...
//! ```
//!
//! The difference of the two totals over 50 runs is the instructions of one gzip of the files. Prints each file's
//! size plain and gzipped (checked by decompressing with flate2).
use std::io::Read;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let mut files: Vec<String> = args.collect();
    if files.is_empty() {
        files.push(concat!(env!("CARGO_MANIFEST_DIR"), "/../../exporters/node/tests/fixtures/linux-vm.prom").into());
    }
    for file in &files {
        let body = std::fs::read(file)?;
        let mut z = oxporter_core::encode::gzip(&body)?;
        for _ in 0..runs {
            z = oxporter_core::encode::gzip(std::hint::black_box(&body))?;
        }
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&z[..]).read_to_end(&mut back)?;
        if back != body {
            return Err(std::io::Error::other(format!("{file}: the gzip does not decompress to the input")));
        }
        println!("{file}: {} bytes, gzip {} bytes", body.len(), z.len());
    }
    Ok(())
}
