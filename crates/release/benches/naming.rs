//! Figures for the pure parts of `tag`: choosing the next free name among
//! many existing tags. Run with `cargo bench -p release`.

use std::time::Instant;

fn main() {
    let base = "v0.9.0-m4";
    for n in [100usize, 10_000, 100_000] {
        let mut tags: Vec<String> = (0..n)
            .map(|i| format!("v0.{}.{}", i / 100, i % 100))
            .collect();
        tags.extend((1..=n / 10).map(|i| format!("{base}.{i}")));
        let rounds = 20;
        let start = Instant::now();
        let mut last = String::new();
        for _ in 0..rounds {
            last = release::naming::next_free(base, tags.iter().map(String::as_str)).0;
        }
        let per = start.elapsed() / rounds;
        println!(
            "next_free over {:>7} tags: {:>10.3?} per call (-> {last})",
            tags.len(),
            per
        );
    }
}
