//! Times `create_sandbox` and `remove_sandbox` (median, min and max of N, default 20) on a throw-away bridge
//! (`sk-bench`, 10.251.0.0/24, table `skiff_bench`) with a temporary state dir. Needs root.
//!
//! `cargo run --release -p skiff-net --example sandbox_bench [N]`

use std::time::{Duration, Instant};

use skiff_net::{NetConfig, Network};

fn stats(name: &str, mut d: Vec<Duration>) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    println!(
        "{name}: median {:.2} ms, min {:.2} ms, max {:.2} ms (n={})",
        ms(d[d.len() / 2]),
        ms(d[0]),
        ms(d[d.len() - 1]),
        d.len()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let tmp = tempfile::tempdir()?;
    let mut cfg = NetConfig::new("sk-bench", "10.251.0.0/24".parse()?, tmp.path().join("net"));
    cfg.nft_table = "skiff_bench".into();
    let t0 = Instant::now();
    let net = Network::setup(cfg).await?;
    println!("setup: {:.2} ms", t0.elapsed().as_secs_f64() * 1000.0);

    let ids: Vec<String> = (0..n).map(|i| format!("bench-{i}")).collect();
    let mut creates = Vec::with_capacity(n);
    let mut result = Ok(());
    for id in &ids {
        let t = Instant::now();
        if let Err(e) = net.create_sandbox(id).await {
            result = Err(e);
            break;
        }
        creates.push(t.elapsed());
    }
    let mut removes = Vec::with_capacity(n);
    for id in &ids {
        let t = Instant::now();
        net.remove_sandbox(id).await?;
        removes.push(t.elapsed());
    }
    net.teardown().await?;
    result?;
    stats("create_sandbox", creates);
    stats("remove_sandbox", removes);
    Ok(())
}
