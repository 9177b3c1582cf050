#!/usr/bin/env bash
# pollwatch against its peers, as BENCHMARKS.md reports them: both builds, every workload.
# About 30 minutes on a 2-core machine. ROUNDS and SERVER_ROUNDS override the round counts.
set -euo pipefail
cd "$(dirname "$0")"
# Tokio's task hooks, poll-time histogram and task spans (dial9, pollwatch's runtime, the
# histogram, console-subscriber) all need it.
export RUSTFLAGS="--cfg tokio_unstable"
cargo build --release
cargo build --release --features console --target-dir target/console
rounds=${ROUNDS:-5}
server_rounds=${SERVER_ROUNDS:-7}
./target/release/pollwatch-peers compare --rounds "$rounds" --workloads yield,work
./target/release/pollwatch-peers compare --rounds "$server_rounds" --workloads server,server-cpu
./target/console/release/pollwatch-peers compare --rounds "$rounds" --workloads yield,work
./target/console/release/pollwatch-peers compare --rounds "$server_rounds" --workloads server,server-cpu
