//! `bench-ceiling [ADDR]`: the bare hyper reference server (see `opensts_bench::ceiling`).
//! Prints `bench-ceiling listening on http://ADDR` and serves until killed.

use std::net::SocketAddr;

fn main() -> Result<(), opensts_bench::BoxError> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_string())
        .parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = opensts_bench::ceiling::bind(addr).await?;
        opensts_bench::ceiling::serve(listener).await
    })
}
