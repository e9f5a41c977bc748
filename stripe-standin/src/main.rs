//! `dream-stripe-standin`: runs the stand-in with [`StandInConfig::test_default`] on a
//! free loopback port and prints its base URL on the first line of stdout, for tools
//! outside Rust tests (`scripts/clients-test` points `dream serve` at it). Stops when
//! killed.

use std::io::Write;

use dream_stripe_standin::{StandIn, StandInConfig};

fn main() -> std::io::Result<()> {
    let stand_in = StandIn::start_detached(StandInConfig::test_default())?;
    let mut out = std::io::stdout();
    writeln!(out, "{}", stand_in.base_url())?;
    out.flush()?;
    loop {
        std::thread::park();
    }
}
