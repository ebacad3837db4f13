//! Only tells cargo to relink oxporter-redis when its link order changes (`link-order.txt`, which
//! scripts/link-order-cc reads at link time; see scripts/build-release).
fn main() {
    println!("cargo:rerun-if-changed=link-order.txt");
}
